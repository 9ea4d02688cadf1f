<?php
// Every $_SERVER entry as NAME<TAB>hex(value), one per line, so that any byte survives.
header('Content-Type: text/plain');
foreach ($_SERVER as $name => $value) {
    if (is_string($value)) {
        echo $name, "\t", bin2hex($value), "\n";
    }
}
