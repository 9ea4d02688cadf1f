<?php
if (($_GET['kind'] ?? '') === 'redirect') {
    header('Location: /elsewhere?x=1');
    exit;
}
http_response_code(404);
header('Content-Type: text/plain');
header('X-Interop: not-found');
echo "no such thing";
