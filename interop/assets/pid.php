<?php
// pid.php — answers the worker's process id, getmypid(), as decimal digits with no newline:
// counting distinct answers counts workers, a new id after pm.max_requests shows recycling.
header('Content-Type: text/plain');
echo getmypid();
