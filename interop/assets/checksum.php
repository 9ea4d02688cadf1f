<?php
// checksum.php[?echo_bytes=N] — streams the request body and answers its size and CRC-32.
//
// With echo_bytes=N it FIRST writes N bytes of the test pattern (byte i is (i % 65536) % 251,
// as interop::checksum::pattern) and flushes them, and only THEN reads php://input: a client
// that sends a large body without reading the response at the same time deadlocks here.
// The response starts before the body is read only when PHP has not read the body before the
// script ran. With php-fpm 8.2 and enable_post_data_reading on (PhpFpm::start), PHP reads a
// POST body whole before the script starts, with or without CONTENT_TYPE (post_max_size,
// 8 MB, applying); a PUT body streams. PhpFpm::start_with with the default
// PhpFpmOptions turns enable_post_data_reading off: then POST streams too.
//
// The body is read in 64 KiB pieces and hashed with hash_init('crc32b')/hash_update, so
// bodies of any size work. After the N pattern bytes the response ends with two lines:
//   bytes=<body length, decimal>\n
//   crc32=<CRC-32 of the body, 8 lowercase hex digits (IEEE, as zlib.crc32)>\n
// Content-Type is application/octet-stream with echo_bytes, text/plain without.
while (ob_get_level() > 0) {
    ob_end_flush();
}
$n = max(0, (int)($_GET['echo_bytes'] ?? 0));
header('Content-Type: ' . ($n > 0 ? 'application/octet-stream' : 'text/plain'));
if ($n > 0) {
    $block = '';
    for ($i = 0; $i < 65536; $i++) {
        $block .= chr($i % 251);
    }
    $left = $n;
    while ($left > 0) {
        $take = min($left, strlen($block));
        echo $take === strlen($block) ? $block : substr($block, 0, $take);
        $left -= $take;
    }
    flush();
}
$ctx = hash_init('crc32b');
$len = 0;
$in = fopen('php://input', 'rb');
while (!feof($in)) {
    $chunk = fread($in, 65536);
    if ($chunk === false || $chunk === '') {
        break;
    }
    $len += strlen($chunk);
    hash_update($ctx, $chunk);
}
fclose($in);
echo 'bytes=', $len, "\n", 'crc32=', hash_final($ctx), "\n";
