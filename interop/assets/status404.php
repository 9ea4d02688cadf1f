<?php
// status404.php — answers "Status: 404 Not Found", Content-Type text/plain, body "not found\n".
header('Status: 404 Not Found');
header('Content-Type: text/plain');
echo "not found\n";
