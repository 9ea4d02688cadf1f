<?php
// stderr.php — writes two known lines towards stderr, then answers the body "stderr done".
//   error_log("stderr.php: error_log line")
//   file_put_contents('php://stderr', "stderr.php: php://stderr line\n")
// With php-fpm 8.2 as started here (-n, log_errors=1, display_errors=0, no error_log set,
// catch_workers_output=yes), checked by tests/client_fixtures.rs:
//  - the error_log() line arrives as a FastCGI STDERR record of the request, prefixed by
//    php-fpm: the request's STDERR is exactly "PHP message: stderr.php: error_log line"
//    (no newline), fastcgi.logging being on by default. php-fpm ALSO writes it to its own
//    log (fpm-error.log: `WARNING: [pool pool] child N said into stderr: "NOTICE: PHP
//    message: stderr.php: error_log line"`);
//  - the php://stderr line does NOT reach the client: it goes to the worker's file
//    descriptor 2, which php-fpm catches into fpm-error.log only (`WARNING: [pool pool]
//    child N said into stderr: "stderr.php: php://stderr line"`).
header('Content-Type: text/plain');
error_log('stderr.php: error_log line');
file_put_contents('php://stderr', "stderr.php: php://stderr line\n");
echo 'stderr done';
