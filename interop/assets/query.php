<?php
// query.php — what the gateway sent about the request, one `NAME<TAB>hex(value)` line per
// variable (the form of server.php, read back by interop::php::decode_server_dump), for
// REQUEST_METHOD, QUERY_STRING, PATH_INFO, CONTENT_LENGTH, CONTENT_TYPE and every HTTP_*
// variable, in that order (HTTP_* sorted by name). A variable the request did not carry has
// no line, so "absent" and "empty" differ. The body is not read.
header('Content-Type: text/plain');
$names = ['REQUEST_METHOD', 'QUERY_STRING', 'PATH_INFO', 'CONTENT_LENGTH', 'CONTENT_TYPE'];
$http = [];
foreach ($_SERVER as $name => $value) {
    if (is_string($name) && strncmp($name, 'HTTP_', 5) === 0) {
        $http[] = $name;
    }
}
sort($http, SORT_STRING);
foreach (array_merge($names, $http) as $name) {
    if (isset($_SERVER[$name]) && is_string($_SERVER[$name])) {
        echo $name, "\t", bin2hex($_SERVER[$name]), "\n";
    }
}
