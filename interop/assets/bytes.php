<?php
$n = (int)($_GET['n'] ?? 0);
$block = '';
for ($i = 0; $i < 65536; $i++) { $block .= chr($i % 251); }
header('Content-Type: application/octet-stream');
error_log('sending ' . $n . ' bytes');
$left = $n;
while ($left > 0) {
    $take = min($left, strlen($block));
    echo substr($block, 0, $take);
    $left -= $take;
}
