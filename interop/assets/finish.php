<?php
// finish.php[?s=S][&marker=PATH] — echoes "finished early", calls fastcgi_finish_request()
// (php-fpm sends END_REQUEST then), then sleeps S seconds (default 2) and, when a marker
// path is given, creates that file: a client sees the whole response at once while the
// worker stays busy for S seconds more.
echo "finished early";
fastcgi_finish_request();
sleep((int)($_GET['s'] ?? 2));
if (isset($_GET['marker'])) {
    touch($_GET['marker']);
}
