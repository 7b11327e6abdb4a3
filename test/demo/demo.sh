#!/usr/bin/env bash
# The demo of mip6ha (docs/demo.md): two home agents as one cluster, a mobile
# node, a TCP flow from cn to the node's home address, and the node moved
# between the home agents while the flow goes on, make-before-break.
#
# It builds everything in network namespaces (test/cluster's lab: a router,
# two visited links, a home link, cn, a 3-member etcd) and removes it all
# when it ends or on Ctrl-C. Needs root, Go, iproute2 and Debian's
# etcd-server (test/run-all.sh's deps stage installs them); with Jaeger
# cached (test/deps.d/jaeger.sh) it also shows the move's trace.
#
# Usage: sudo test/demo/demo.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH=$PATH:/usr/local/go/bin:/usr/sbin:/sbin

if [ "$(id -u)" != 0 ]; then
	echo "demo: run as root (it creates network namespaces): sudo $0" >&2
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "demo: building (go test -c ./test/demo, cmd/homeagent, cmd/mnclient) ..."
go test -c -o "$work/demo.test" ./test/demo
# Ctrl-C reaches the demo, which stops and removes the lab before it exits.
MIP6HA_DEMO=1 "$work/demo.test" -test.run '^TestDemo$' -test.count 1 "$@"
