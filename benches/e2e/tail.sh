#!/usr/bin/env bash
# Tail latency of our reverse_proxy example (fastcgi-uwsgi's pooled FastCgiClient /
# UwsgiClient) next to nginx, in front of the same backends, all on 127.0.0.1:
#
# Every row has its own php-fpm pool or uWSGI:
#
#   php-fpm pm=static with 4 children (fewer children than client connections: the
#     proxies' extra backend connections wait in php-fpm's listen backlog), keep-conn;
#   php-fpm pm=static with 128 children, keep-conn;
#   uWSGI 2 processes (--master), uwsgi protocol, a new connection per request.
#
# Each row runs TAIL_RUNS times (wrk -t2 -c200 -d10s --latency after a 2 s warm-up), in
# rounds: every row once, then every row again, so that a slower minute of the machine
# falls on nginx's rows and the proxy's alike. The table gives the median requests/s, p50
# and p99 of the runs and the errors summed.
#
#   benches/e2e/tail.sh
#   TAIL_RUNS=5 TAIL_CONNECTIONS=200 TAIL_DURATION=10s TAIL_ONLY='uWSGI' benches/e2e/tail.sh
#
# Needs nginx, php-fpm, uwsgi with its python3 plugin, wrk, curl, python3 and cargo; the
# reverse_proxy example is built (release) into the cargo target directory.
set -euo pipefail

THREADS=${TAIL_THREADS:-2}
CONNECTIONS=${TAIL_CONNECTIONS:-200}
DURATION=${TAIL_DURATION:-10s}
WARMUP=${TAIL_WARMUP:-2s}
RUNS=${TAIL_RUNS:-3}
FEW=${TAIL_FEW_CHILDREN:-4}
MANY=${TAIL_MANY_CHILDREN:-128}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

# shellcheck source=common.sh
source "$HERE/common.sh"

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
PHP_FPM=$(command -v php-fpm || ls /usr/sbin/php-fpm* 2>/dev/null | sort -V | tail -1 || true)
UWSGI=$(command -v uwsgi || true)
for tool in "$NGINX" "$PHP_FPM" "$UWSGI" curl wrk cargo python3; do
    [[ -n $tool ]] && command -v "$tool" >/dev/null || die "missing tool: ${tool:-php-fpm or uwsgi}"
done

make_tmp e2e-tail

log "building reverse_proxy (release)"
(cd "$ROOT" && cargo build --release --quiet -p fastcgi-uwsgi --example reverse_proxy) >&2
TARGET=$(cd "$ROOT" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
PROXY=$TARGET/release/examples/reverse_proxy
cp "$HERE/app.py" "$HERE/hello.php" "$TMP/"
chmod 644 "$TMP/app.py" "$TMP/hello.php"

# Every row has backends of its own: a php-fpm child serves one kept connection until it
# closes, so the idle connections one proxy keeps would hold the children of the other.
php_user=""
php_flags=()
if [[ $(id -u) == 0 ]]; then
    php_user=$'user = nobody\ngroup = nogroup'
    php_flags=(-R)
fi
PHP_CONF="[global]
pid = $TMP/php-fpm.pid
error_log = $TMP/php-fpm-error.log
daemonize = no
"
php_pool() { # php_pool NAME CHILDREN: sets PORT to the new pool's
    PORT=$(free_port)
    PHP_CONF+="
[$1]
$php_user
listen = 127.0.0.1:$PORT
listen.backlog = 1024
pm = static
pm.max_children = $2
pm.max_requests = 0
"
}
uwsgi_app() { # uwsgi_app NAME: sets PORT to the new uWSGI's
    PORT=$(free_port)
    start "$1" "$UWSGI" --plugin python3 --socket "127.0.0.1:$PORT" \
        --wsgi-file "$TMP/app.py" --processes 2 --master --disable-logging \
        --die-on-term --listen 1024
}

# ROWS: label|port|path
ROWS=()
NGINX_SERVERS=""
nginx_row() { # nginx_row LABEL PROTOCOL BACKEND_PORT KEEP(yes|no) PATH EXTRA
    local label=$1 protocol=$2 backend=$3 keep=$4 path=$5 extra=$6
    local port keepalive="" keep_conn=""
    port=$(free_port)
    if [[ $keep == yes ]]; then
        keepalive="keepalive $((CONNECTIONS * 2));"
        keep_conn="fastcgi_keep_conn on;"
    fi
    NGINX_SERVERS+="
    upstream b$port {
        server 127.0.0.1:$backend;
        $keepalive
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            include /etc/nginx/${protocol}_params;
            $extra
            ${protocol}_pass b$port;
            $keep_conn
        }
    }"
    ROWS+=("$label|$port|$path")
}
proxy_row() { # proxy_row LABEL PATH ARGS...
    local label=$1 path=$2 port
    shift 2
    port=$(free_port)
    start "proxy-$port" "$PROXY" --listen "127.0.0.1:$port" "$@"
    ROWS+=("$label|$port|$path")
}

PHP_EXTRA="fastcgi_param SCRIPT_FILENAME $TMP\$fastcgi_script_name;"
php_pool few-nginx "$FEW"
nginx_row "php-fpm static $FEW children, keep-conn: nginx" fastcgi "$PORT" yes /hello.php "$PHP_EXTRA"
php_pool few-proxy "$FEW"
proxy_row "php-fpm static $FEW children, keep-conn: reverse_proxy" /hello.php \
    --fastcgi "127.0.0.1:$PORT" --document-root "$TMP"
php_pool many-nginx "$MANY"
nginx_row "php-fpm static $MANY children, keep-conn: nginx" fastcgi "$PORT" yes /hello.php "$PHP_EXTRA"
php_pool many-proxy "$MANY"
proxy_row "php-fpm static $MANY children, keep-conn: reverse_proxy" /hello.php \
    --fastcgi "127.0.0.1:$PORT" --document-root "$TMP"
echo "$PHP_CONF" >"$TMP/php-fpm.conf"
start php-fpm "$PHP_FPM" "${php_flags[@]}" --nodaemonize --fpm-config "$TMP/php-fpm.conf"
uwsgi_app uwsgi-nginx
nginx_row "uWSGI 2 processes: nginx" uwsgi "$PORT" no / ""
uwsgi_app uwsgi-proxy
proxy_row "uWSGI 2 processes: reverse_proxy" / --uwsgi "127.0.0.1:$PORT"

start_nginx "$NGINX_SERVERS"

row_url() { # row_url ROW
    local rest=${1#*|}
    echo "http://127.0.0.1:${rest%%|*}${rest#*|}"
}
for row in "${ROWS[@]}"; do
    wait_hello "${row%%|*}" "$(row_url "$row")"
done

MEDIAN='
import statistics, sys
runs = [line.split() for line in sys.stdin if line.strip()]
med = lambda i: statistics.median(float(r[i]) for r in runs)
print("%.0f | %.2f | %.2f | %d | %s" % (med(0), med(1), med(2), sum(int(r[3]) for r in runs),
      "; ".join("%s/%s/%s" % (r[0], r[1], r[2]) for r in runs)))
'

SELECTED=()
for row in "${ROWS[@]}"; do
    label=${row%%|*}
    [[ -n ${TAIL_ONLY:-} && ! $label =~ $TAIL_ONLY ]] && continue
    SELECTED+=("$row")
done
declare -A RUNS_OF
for run in $(seq "$RUNS"); do
    for row in "${SELECTED[@]}"; do
        label=${row%%|*}
        url=$(row_url "$row")
        log "run $run/$RUNS: $label"
        wrk -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" "$url" >/dev/null
        out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$url")
        parsed=$(python3 -c "$WRK_PARSE" <<<"$out" 2>/dev/null || echo "0 0 0 0 0")
        log "  $parsed"
        RUNS_OF[$label]+="$parsed"$'\n'
    done
done

TABLE="| Row | Requests/s | p50 (ms) | p99 (ms) | Errors | Runs (req/s / p50 / p99) |
|---|---:|---:|---:|---:|---|"
for row in "${SELECTED[@]}"; do
    label=${row%%|*}
    TABLE+="
| $label | $(python3 -c "$MEDIAN" <<<"${RUNS_OF[$label]}") |"
done

echo
echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency (each after a $WARMUP warm-up), median of $RUNS runs in rounds, nginx $(nproc) workers, $(nproc) cores"
echo
echo "$TABLE"
