#!/bin/sh
# Installs what sios needs, from Debian and npm only.
#
#   tools/deps.sh demo    what `make demo` needs: the build dependencies and
#                         the socket.io-client the chat page loads
#   tools/deps.sh         everything `make check` needs (also: check)
#   tools/deps.sh fuzz    what `make fuzz` needs: the build dependencies and
#                         clang with libFuzzer
#
# Without root it prints the apt-get command to run instead, and fails.
set -eu
cd "$(dirname "$0")/.."

BUILD_DEBS="build-essential pkg-config libwebsockets-dev libwebsockets-evlib-uv libuv1-dev
libcjson-dev libhiredis-dev libmsgpack-dev libssl-dev"
# npm installs the pinned client packages
NPM_DEBS="nodejs npm"
TEST_DEBS="python3 python3-socketio python3-websocket python3-requests redis-server mandoc
openssl chromium"
FUZZ_DEBS="clang libclang-rt-14-dev"

mode=${1:-check}
case $mode in
demo) DEBS="$BUILD_DEBS $NPM_DEBS" ;;
check) DEBS="$BUILD_DEBS $NPM_DEBS $TEST_DEBS" ;;
fuzz) DEBS="$BUILD_DEBS $FUZZ_DEBS" ;;
*)
	echo "usage: tools/deps.sh [demo|check|fuzz]" >&2
	exit 2
	;;
esac

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

# npm packages exactly as locked in tests/: the demo needs the dependencies
# (socket.io-client), the tests the devDependencies too. A stamp inside
# node_modules, which npm ci replaces, says which set is installed; the full
# set serves the demo as well.
[ "$mode" = fuzz ] && exit 0 # no npm packages for the fuzzers
stamp=tests/node_modules/.sios-deps
fresh() {
	[ -f "$stamp-$1" ] && [ ! tests/package-lock.json -nt "$stamp-$1" ] &&
		[ ! tests/package.json -nt "$stamp-$1" ]
}
if ! fresh check && ! { [ "$mode" = demo ] && fresh demo; }; then
	if [ "$mode" = demo ]; then
		(cd tests && npm ci --omit=dev --no-audit --no-fund --loglevel=error)
	else
		(cd tests && npm ci --include=dev --no-audit --no-fund --loglevel=error)
	fi
	touch "$stamp-$mode"
fi
