<?php
echo "finished early";
fastcgi_finish_request();
sleep(1);
touch($_GET['marker']);
