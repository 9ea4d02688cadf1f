#!/usr/bin/env bash
# End-to-end comparison: wrk -> nginx -> a hello-world application server, one row per
# server and connection mode, all on 127.0.0.1; and wrk -> our reverse_proxy example
# (fastcgi-uwsgi's FastCgiClient / UwsgiClient) -> php-fpm and uWSGI next to nginx in front
# of the same backends. Prints a Markdown table of requests/s, p50/p99 latency, and the CPU
# time per request of the server the row is about (the application server behind nginx;
# the proxy in the nginx vs reverse_proxy rows), with its child processes, read from /proc
# before and after the measured run, next to the whole machine's CPU time per request.
#
#   benches/e2e/run.sh                  # wrk -t2 -c64 -d10s --latency, 3 s warm-up per row
#   E2E_DURATION=30s E2E_CONNECTIONS=128 benches/e2e/run.sh
#   E2E_ONLY='php-fpm static [0-9]+ children, keep|WSGI:' benches/e2e/run.sh  # rows matching
#
# Needs nginx, php-fpm, uwsgi with its python3 plugin, wrk, go and curl (Debian packages
# nginx-light php-fpm uwsgi-core uwsgi-plugin-python3 wrk golang-go curl). wrk and go are
# installed with apt-get when missing and the script runs as root.
set -euo pipefail

THREADS=${E2E_THREADS:-2}
CONNECTIONS=${E2E_CONNECTIONS:-64}
DURATION=${E2E_DURATION:-10s}
WARMUP=${E2E_WARMUP:-3s}
CORES=$(nproc)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

# shellcheck source=common.sh
source "$HERE/common.sh"

# --- tools ---------------------------------------------------------------------------
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v go >/dev/null || missing+=(golang-go)
if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]]; then
        log "installing ${missing[*]}"
        apt-get install -y "${missing[@]}" >&2
    else
        die "missing ${missing[*]} (apt-get install ${missing[*]})"
    fi
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
PHP_FPM=$(command -v php-fpm || ls /usr/sbin/php-fpm* 2>/dev/null | sort -V | tail -1 || true)
UWSGI=$(command -v uwsgi || true)
for tool in "$NGINX" "$PHP_FPM" "$UWSGI" curl wrk go cargo python3; do
    [[ -n $tool ]] && command -v "$tool" >/dev/null || die "missing tool: ${tool:-php-fpm or uwsgi}"
done

make_tmp e2e-bench

# --- build -------------------------------------------------------------------------------
log "building the Rust servers (release)"
(cd "$ROOT" && cargo build --release --quiet -p benches --example e2e_fastcgi_uwsgi \
    --example e2e_tokio_fastcgi --example e2e_cegla_fcgi --example e2e_floor) >&2
(cd "$ROOT" && cargo build --release --quiet -p fastcgi-uwsgi --example reverse_proxy) >&2
TARGET=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
EXAMPLES=$TARGET/release/examples

log "building the Go server"
(cd "$HERE" && GO111MODULE=off GOCACHE="$TMP/go-cache" GOPATH="$TMP/go" GOFLAGS= \
    go build -o "$TMP/go_fcgi" go_fcgi.go) >&2

cp "$HERE/app.py" "$HERE/hello.php" "$TMP/"
chmod 644 "$TMP/app.py" "$TMP/hello.php"

# --- application servers -------------------------------------------------------------
P_OURS_FCGI=$(free_port)
P_OURS_UWSGI=$(free_port)
P_GO=$(free_port)
P_TOKIO=$(free_port)
P_CEGLA=$(free_port)
P_UWSGI_PY=$(free_port)
P_PHP=$(free_port)
P_PHP_KEEP=$(free_port)
P_PHP_KEEP_PROXY=$(free_port)
P_PROXY_PHP=$(free_port)
P_PROXY_UWSGI=$(free_port)

start ours-fcgi "$EXAMPLES/e2e_fastcgi_uwsgi" fastcgi "127.0.0.1:$P_OURS_FCGI"
start ours-uwsgi "$EXAMPLES/e2e_fastcgi_uwsgi" uwsgi "127.0.0.1:$P_OURS_UWSGI"
# The same server on one thread (ServeConfig::with_threads(1)): with nginx and wrk on the
# same cores, one thread is woken less often per request than one per core.
P_OURS1_FCGI=$(free_port)
P_OURS1_UWSGI=$(free_port)
start ours1-fcgi "$EXAMPLES/e2e_fastcgi_uwsgi" fastcgi "127.0.0.1:$P_OURS1_FCGI" 1
start ours1-uwsgi "$EXAMPLES/e2e_fastcgi_uwsgi" uwsgi "127.0.0.1:$P_OURS1_UWSGI" 1
P_FLOOR_FCGI=$(free_port)
P_FLOOR_UWSGI=$(free_port)
start floor-fcgi "$EXAMPLES/e2e_floor" fastcgi "127.0.0.1:$P_FLOOR_FCGI"
start floor-uwsgi "$EXAMPLES/e2e_floor" uwsgi "127.0.0.1:$P_FLOOR_UWSGI"
start go env GOMAXPROCS="$CORES" "$TMP/go_fcgi" "127.0.0.1:$P_GO"
start tokio-fastcgi "$EXAMPLES/e2e_tokio_fastcgi" "127.0.0.1:$P_TOKIO"
start cegla-fcgi "$EXAMPLES/e2e_cegla_fcgi" "127.0.0.1:$P_CEGLA"
start uwsgi-python "$UWSGI" --plugin python3 --socket "127.0.0.1:$P_UWSGI_PY" \
    --wsgi-file "$TMP/app.py" --processes "$CORES" --master --disable-logging \
    --die-on-term --listen 1024

php_user=""
if [[ $(id -u) == 0 ]]; then
    php_user=$'user = nobody\ngroup = nogroup'
fi
kept_pool() { # kept_pool NAME PORT: a pool with a child for every connection kept open
    printf '[%s]\n%s\nlisten = 127.0.0.1:%s\nlisten.backlog = 1024\npm = static\n' \
        "$1" "$php_user" "$2"
    printf 'pm.max_children = %s\npm.max_requests = 0\n' $((CONNECTIONS * 2))
}
cat >"$TMP/php-fpm.conf" <<EOF
[global]
pid = $TMP/php-fpm.pid
error_log = $TMP/php-fpm-error.log
daemonize = no

[hello]
$php_user
listen = 127.0.0.1:$P_PHP
listen.backlog = 1024
pm = static
pm.max_children = $CORES
pm.max_requests = 0

; For the kept-connection rows (nginx keep-conn and reverse_proxy, both pooling): a child
; serves one connection until it closes, so there is a child for every connection either
; proxy can keep open (nginx: up to the requests in flight plus its idle cache per worker).
; One pool for each: the connections nginx keeps idle after its row would otherwise hold
; children through the reverse_proxy row.
$(kept_pool kept "$P_PHP_KEEP")

$(kept_pool kept-proxy "$P_PHP_KEEP_PROXY")
EOF
start php-fpm "$PHP_FPM" --nodaemonize --fpm-config "$TMP/php-fpm.conf"

# --- nginx: one server (port) per row ------------------------------------------------
# ROWS: label|port[|path] (path default /)
ROWS=()
# MEASURED[label]: the name (as given to start) of the process whose CPU the row reports.
declare -A MEASURED
NGINX_SERVERS=""
add_row() { # add_row LABEL PROTOCOL(fastcgi|uwsgi) BACKEND_PORT KEEP(yes|no) [EXTRA [MEASURED]]
    local label=$1 protocol=$2 backend=$3 keep=$4 extra=${5:-}
    MEASURED[$label]=${6:-}
    local port upstream keepalive="" keep_conn=""
    port=$(free_port)
    upstream="b$port"
    if [[ $keep == yes ]]; then
        keepalive="keepalive $((CONNECTIONS * 2));"
        keep_conn="fastcgi_keep_conn on;"
    fi
    NGINX_SERVERS+="
    upstream $upstream {
        server 127.0.0.1:$backend;
        $keepalive
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            include /etc/nginx/${protocol}_params;
            $extra
            ${protocol}_pass $upstream;
            $keep_conn
        }
    }"
    ROWS+=("$label|$port")
}
# No keep-conn row for this php-fpm pool: each child serves one connection until it
# closes, so nginx's idle kept connections (more than $CORES under -c$CONNECTIONS) hold
# every child and the other connections wait in the backlog until fastcgi_read_timeout.
# The kept-connection php-fpm rows below use the [kept] pool, a child per connection.
PHP_EXTRA="fastcgi_param SCRIPT_FILENAME $TMP/hello.php; fastcgi_param SCRIPT_NAME /hello.php;"
add_row "fastcgi-uwsgi, FastCGI, keep-conn" fastcgi "$P_OURS_FCGI" yes "" ours-fcgi
add_row "fastcgi-uwsgi, FastCGI, new connection per request" fastcgi "$P_OURS_FCGI" no "" ours-fcgi
add_row "fastcgi-uwsgi, uwsgi" uwsgi "$P_OURS_UWSGI" no "" ours-uwsgi
add_row "fastcgi-uwsgi, one thread, FastCGI, keep-conn" fastcgi "$P_OURS1_FCGI" yes "" ours1-fcgi
add_row "fastcgi-uwsgi, one thread, FastCGI, new connection per request" fastcgi \
    "$P_OURS1_FCGI" no "" ours1-fcgi
add_row "fastcgi-uwsgi, one thread, uwsgi" uwsgi "$P_OURS1_UWSGI" no "" ours1-uwsgi
# The least a server can spend per request here (e2e/floor.rs: one epoll loop answering
# every read with fixed bytes, nothing parsed): what the rows above spend beyond it is
# their own work.
add_row "floor: epoll loop, fixed answer, FastCGI, keep-conn" fastcgi "$P_FLOOR_FCGI" yes "" floor-fcgi
add_row "floor: epoll loop, fixed answer, FastCGI, new connection per request" fastcgi "$P_FLOOR_FCGI" no "" floor-fcgi
add_row "floor: epoll loop, fixed answer, uwsgi" uwsgi "$P_FLOOR_UWSGI" no "" floor-uwsgi
add_row "Go net/http/fcgi, keep-conn" fastcgi "$P_GO" yes "" go
add_row "Go net/http/fcgi, new connection per request" fastcgi "$P_GO" no "" go
add_row "tokio-fastcgi 1.3, keep-conn" fastcgi "$P_TOKIO" yes "" tokio-fastcgi
add_row "tokio-fastcgi 1.3, new connection per request" fastcgi "$P_TOKIO" no "" tokio-fastcgi
add_row "cegla-fcgi 0.2, keep-conn" fastcgi "$P_CEGLA" yes "" cegla-fcgi
add_row "cegla-fcgi 0.2, new connection per request" fastcgi "$P_CEGLA" no "" cegla-fcgi
add_row "uWSGI $CORES processes + Python WSGI (uwsgi protocol)" uwsgi "$P_UWSGI_PY" no "" uwsgi-python
add_row "php-fpm static $CORES children, new connection per request" fastcgi "$P_PHP" no "$PHP_EXTRA" php-fpm

# nginx vs our reverse_proxy example in front of the same backends, the same URL.
PHP_KEEP=$((CONNECTIONS * 2))
add_row "php-fpm static $PHP_KEEP children, keep-conn: nginx" fastcgi "$P_PHP_KEEP" yes \
    "fastcgi_param SCRIPT_FILENAME $TMP\$fastcgi_script_name;" nginx
ROWS[-1]+="|/hello.php"
start proxy-php "$EXAMPLES/reverse_proxy" --listen "127.0.0.1:$P_PROXY_PHP" \
    --fastcgi "127.0.0.1:$P_PHP_KEEP_PROXY" --document-root "$TMP"
ROWS+=("php-fpm static $PHP_KEEP children, keep-conn: reverse_proxy|$P_PROXY_PHP|/hello.php")
MEASURED["php-fpm static $PHP_KEEP children, keep-conn: reverse_proxy"]=proxy-php
add_row "uWSGI $CORES processes + Python WSGI: nginx" uwsgi "$P_UWSGI_PY" no "" nginx
start proxy-uwsgi "$EXAMPLES/reverse_proxy" --listen "127.0.0.1:$P_PROXY_UWSGI" \
    --uwsgi "127.0.0.1:$P_UWSGI_PY"
ROWS+=("uWSGI $CORES processes + Python WSGI: reverse_proxy|$P_PROXY_UWSGI")
MEASURED["uWSGI $CORES processes + Python WSGI: reverse_proxy"]=proxy-uwsgi
# nginx answering by itself: the floor of every row behind it.
P_NGINX_SELF=$(free_port)
NGINX_SERVERS+="
    server {
        listen 127.0.0.1:$P_NGINX_SELF;
        location / { return 200 'hello\n'; }
    }"
ROWS+=("nginx answering itself (return 200)|$P_NGINX_SELF")
MEASURED["nginx answering itself (return 200)"]=nginx

start_nginx "$NGINX_SERVERS"

# --- readiness: every row answers "hello" ---------------------------------------------
row_url() { # row_url ROW: the URL wrk and the readiness check ask
    local rest=${1#*|}
    local port=${rest%%|*} path=/
    [[ $rest == *"|"* ]] && path=${rest#*|}
    echo "http://127.0.0.1:$port$path"
}
for row in "${ROWS[@]}"; do
    wait_hello "${row%%|*}" "$(row_url "$row")"
done

# --- measure -------------------------------------------------------------------------

# cpu_ticks [PID]: the CPU time (clock ticks) of PID and every process below it, with what
# its ended children used; without PID, of the whole machine (all but idle and iowait).
CPU='
import os, sys
if len(sys.argv) < 2:
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    print(sum(f) - f[3] - f[4])
    sys.exit()
root, stats = int(sys.argv[1]), {}
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        fields = open("/proc/%s/stat" % pid).read().rsplit(")", 1)[1].split()
    except OSError:
        continue
    stats[int(pid)] = (int(fields[1]), [int(x) for x in fields[11:15]])
def tree(pid):
    ppid, (utime, stime, cutime, cstime) = stats[pid]
    own = utime + stime + (cutime + cstime if pid == root else 0)
    return own + sum(tree(c) for c, (p, _) in stats.items() if p == pid)
print(tree(root) if root in stats else 0)
'
cpu_ticks() { python3 -c "$CPU" "$@"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
TABLE="| Server (behind nginx unless named) | Requests/s | p50 (ms) | p99 (ms) | Errors | Server CPU (µs/request) | Machine CPU (µs/request) |
|---|---:|---:|---:|---:|---:|---:|"
for row in "${ROWS[@]}"; do
    label=${row%%|*}
    url=$(row_url "$row")
    [[ -n ${E2E_ONLY:-} && ! $label =~ $E2E_ONLY ]] && continue
    log "warm-up: $label"
    wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null
    log "measure: $label"
    measured=${PID_OF[${MEASURED[$label]:-}]:-}
    [[ -n $measured ]] || die "no measured process for $label"
    server_before=$(cpu_ticks "$measured")
    machine_before=$(cpu_ticks)
    out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url")
    server_after=$(cpu_ticks "$measured")
    machine_after=$(cpu_ticks)
    parsed=$(python3 -c "$WRK_PARSE" <<<"$out" 2>/dev/null || echo "0 n/a n/a n/a 0")
    read -r rps p50 p99 errors requests <<<"$parsed"
    server_us=n/a
    machine_us=n/a
    if ((requests > 0)); then
        server_us=$(python3 -c "print('%.1f' % (($server_after - $server_before) * $TICK_US / $requests))")
        machine_us=$(python3 -c "print('%.1f' % (($machine_after - $machine_before) * $TICK_US / $requests))")
    fi
    TABLE+="
| $label | $rps | $p50 | $p99 | $errors | $server_us | $machine_us |"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (after a $WARMUP warm-up), nginx $CORES workers, $CORES cores"
echo "load average before: $LOAD_BEFORE; after: $LOAD_AFTER"
echo
echo "$TABLE"
