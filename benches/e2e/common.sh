# What run.sh and tail.sh share: logging, a temp dir whose processes are stopped on exit,
# free ports, nginx, the readiness check, and the wrk output parser. Sourced, not run.

log() { printf '%s\n' "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# make_tmp NAME: a temp dir in $TMP, removed on exit with every process `start` started.
PIDS=()
declare -A PID_OF
make_tmp() {
    TMP=$(mktemp -d "/tmp/$1.XXXXXX")
    chmod 755 "$TMP" # nginx workers and php-fpm children may run as nobody
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$TMP"
}

start() { # start NAME COMMAND...: runs in the background, logs to $TMP/NAME.log
    local name=$1
    shift
    "$@" >"$TMP/$name.log" 2>&1 &
    PIDS+=($!)
    PID_OF[$name]=$!
}

start_nginx() { # start_nginx SERVERS: nginx ($NGINX) with these server blocks, one worker per CPU
    mkdir -p "$TMP/nginx"
    cat >"$TMP/nginx.conf" <<CONF
worker_processes $(nproc);
daemon off;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/body;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    proxy_temp_path $TMP/nginx/proxy;
    scgi_temp_path $TMP/nginx/scgi;
    keepalive_requests 1000000;
$1
}
CONF
    "$NGINX" -t -q -p "$TMP/nginx" -c "$TMP/nginx.conf" 2>"$TMP/nginx-t.log" ||
        die "nginx -t failed: $(cat "$TMP/nginx-t.log")"
    start nginx "$NGINX" -p "$TMP/nginx" -c "$TMP/nginx.conf"
}

wait_hello() { # wait_hello LABEL URL: until URL answers "hello", or die with the logs
    local body
    for _ in $(seq 100); do
        if body=$(curl -sf "$2" 2>/dev/null) && [[ $body == hello ]]; then
            return
        fi
        sleep 0.1
    done
    tail -n 20 "$TMP"/*.log >&2 || true
    die "$1 does not answer hello on $2"
}

# wrk --latency output on stdin -> "requests/s p50_ms p99_ms errors requests"; errors are
# non-2xx/3xx responses plus socket errors (connect, read, write, timeout).
WRK_PARSE='
import re, sys
out = sys.stdin.read()
unit = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}
def pct(p):
    m = re.search(r"^\s*%d%%\s+([0-9.]+)(us|ms|s|m)\s*$" % p, out, re.M)
    return "%.2f" % (float(m[1]) * unit[m[2]])
rps = float(re.search(r"^Requests/sec:\s+([0-9.]+)", out, re.M)[1])
errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
errors += int(m[1]) if m else 0
requests = int(re.search(r"^\s*(\d+) requests in", out, re.M)[1])
print("%.0f" % rps, pct(50), pct(99), errors, requests)
'
