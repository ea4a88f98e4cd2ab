#!/bin/sh
# Installs what sios needs to build and test, from Debian and npm only.
set -eu
cd "$(dirname "$0")/.."

DEBS="build-essential pkg-config libwebsockets-dev libwebsockets-evlib-uv libuv1-dev
libcjson-dev libhiredis-dev libssl-dev nodejs npm python3 python3-socketio python3-websocket
python3-requests redis-server mandoc openssl chromium"

missing=""
for p in $DEBS; do
	# nodejs/npm may come from another Debian-compatible source: accept the commands
	case $p in
	nodejs) command -v node >/dev/null 2>&1 && continue ;;
	npm) command -v npm >/dev/null 2>&1 && continue ;;
	esac
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done

if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ]; then
		echo "deps: installing:$missing"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends $missing >/dev/null
	else
		echo "deps: missing Debian packages:$missing"
		echo "deps: run: sudo apt-get install -y$missing"
		exit 1
	fi
fi

# Node clients for the interop tests, exactly as locked.
if [ ! -d tests/node_modules ] || [ tests/package-lock.json -nt tests/node_modules/.package-lock.json ]; then
	(cd tests && npm ci --no-audit --no-fund --loglevel=error)
fi
