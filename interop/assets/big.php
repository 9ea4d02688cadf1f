<?php
// big.php?bytes=N — answers exactly N bytes of the test pattern, byte i being
// (i % 65536) % 251 (65536-byte blocks of 0, 1, ..., 250, 0, 1, ...), as
// interop::checksum::pattern and the uWSGI app's /big. Content-Type application/octet-stream,
// no Content-Length, nothing on stderr (unlike bytes.php, which logs a line).
$n = max(0, (int)($_GET['bytes'] ?? 0));
$block = '';
for ($i = 0; $i < 65536; $i++) {
    $block .= chr($i % 251);
}
header('Content-Type: application/octet-stream');
$left = $n;
while ($left > 0) {
    $take = min($left, strlen($block));
    echo $take === strlen($block) ? $block : substr($block, 0, $take);
    $left -= $take;
}
