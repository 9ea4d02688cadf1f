<?php
// redirect.php — header('Location: /elsewhere'): PHP turns it into "Status: 302 Found" with
// "Location: /elsewhere"; body "redirecting\n".
header('Location: /elsewhere');
header('Content-Type: text/plain');
echo "redirecting\n";
