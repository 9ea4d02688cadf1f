#!/usr/bin/env bash
# Installs the real servers the interop suite runs against (Debian packages), when missing.
# Fails loudly when they cannot be installed.
set -euo pipefail

packages=(php-fpm php-cgi nginx-light uwsgi-core uwsgi-plugin-python3 libfcgi-bin haproxy apache2-bin)
need() {
  command -v php-fpm8.2 >/dev/null && command -v php-cgi >/dev/null &&
    command -v nginx >/dev/null && command -v uwsgi >/dev/null &&
    command -v cgi-fcgi >/dev/null && command -v haproxy >/dev/null &&
    [ -x /usr/sbin/apache2 ] && ls /usr/lib/apache2/modules/mod_proxy_uwsgi.so >/dev/null 2>&1 &&
    ls /usr/lib/uwsgi/plugins/python3*_plugin.so >/dev/null 2>&1
}

if need; then
  echo "interop peers present: $(php-fpm8.2 -v | head -n1 | cut -d' ' -f1-2), $(nginx -v 2>&1), uWSGI $(uwsgi --version), $(haproxy -v | head -n1 | cut -d' ' -f1-3), $(/usr/sbin/apache2 -v | head -n1)"
  exit 0
fi

echo "installing interop peers: ${packages[*]}"
sudo_cmd=()
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "error: not root and no sudo: install ${packages[*]} by hand" >&2; exit 1; }
  sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null

if ! need; then
  echo "error: interop peers still missing after apt-get install ${packages[*]}" >&2
  exit 1
fi
echo "interop peers installed"
