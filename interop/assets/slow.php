<?php
// Sends part of a response, then outlives request_terminate_timeout: php-fpm kills the
// worker and the connection closes mid-response.
header('Content-Type: text/plain');
echo str_repeat('partial ', 1024);
flush();
sleep(30);
echo "never sent";
