<?php
// sleep.php?s=S — sleeps S seconds (decimal, fractions allowed, default 1), then answers
// "slept S\n" (S as given). Keep S below the pool's request_terminate_timeout.
$s = (string)($_GET['s'] ?? '1');
usleep((int)round(max(0.0, (float)$s) * 1e6));
header('Content-Type: text/plain');
echo 'slept ', $s, "\n";
