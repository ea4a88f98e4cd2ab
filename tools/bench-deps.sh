#!/bin/sh
# What make bench needs beyond make deps: gnuplot for the chart, and the
# pinned Node socket.io reference server.
set -eu
cd "$(dirname "$0")/.."
if ! command -v gnuplot >/dev/null 2>&1; then
	if [ "$(id -u)" = 0 ]; then
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null
	else
		echo "bench: run: sudo apt-get install -y gnuplot-nox"
		exit 1
	fi
fi
if [ ! -d bench/node/node_modules ] || [ bench/node/package-lock.json -nt bench/node/node_modules/.package-lock.json ]; then
	(cd bench/node && npm ci --no-audit --no-fund --loglevel=error)
fi
