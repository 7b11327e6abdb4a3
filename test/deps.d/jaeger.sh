#!/usr/bin/env bash
# Builds the Jaeger all-in-one binary (v2, github.com/jaegertracing/jaeger
# cmd/jaeger) from the Go module proxy once and caches it outside the
# repository, for the trace tests (test/jaegercheck and the cluster suites).
#
# The binary lands in $MIP6HA_CACHE/jaeger-$VERSION/jaeger, where MIP6HA_CACHE
# defaults to /var/cache/mip6ha (root) or ${XDG_CACHE_HOME:-$HOME/.cache}/mip6ha
# (anyone else). test/jaegercheck looks in the same places, or at $JAEGER_BIN.
# The cache survives between CI runs on one machine; a fresh machine rebuilds
# (about 7 minutes on 2 cores, a 116 MiB binary).
#
# Idempotent: when the cached binary exists and `jaeger version` names
# $VERSION, it does nothing. Concurrent runs serialise on a lock file.
set -euo pipefail
export PATH=$PATH:/usr/local/go/bin

VERSION=v1.76.0
MODULE=github.com/jaegertracing/jaeger
PKG=$MODULE/cmd/jaeger

if [ -z "${MIP6HA_CACHE:-}" ]; then
	if [ "$(id -u)" = 0 ]; then
		MIP6HA_CACHE=/var/cache/mip6ha
	else
		MIP6HA_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/mip6ha
	fi
fi
DIR=$MIP6HA_CACHE/jaeger-$VERSION
BIN=$DIR/jaeger

log() { printf 'jaeger.sh: %s\n' "$*"; }

# `jaeger version` prints {"gitCommit":"","gitVersion":"v1.76.0",...}; the
# version is stamped in at build time below.
usable() { [ -x "$BIN" ] && "$BIN" version 2>/dev/null | grep -q "\"gitVersion\":\"$VERSION\""; }

if usable; then
	log "cached $BIN ($("$BIN" version 2>/dev/null))"
	exit 0
fi

mkdir -p "$DIR"
exec 9>"$DIR/.lock"
log "waiting for the build lock $DIR/.lock"
flock 9
if usable; then # another run built it while we waited
	log "cached $BIN (built by a concurrent run)"
	exit 0
fi

# The tool module lives in the cache directory, never in the repository, so
# Jaeger's dependencies stay out of mip6ha's go.mod.
SRC=$DIR/src
rm -rf "$SRC"
mkdir -p "$SRC"
cd "$SRC"
export GOFLAGS=-mod=mod
export GOWORK=off
start=$(date +%s)
log "resolving $PKG@$VERSION in a tool module at $SRC"
go mod init mip6ha.local/jaegertool >/dev/null 2>&1
go get -tool "$PKG@$VERSION"
log "building $PKG@$VERSION (several minutes cold on 2 cores)"
# Progress: go build is silent for minutes, so report every 30 s.
(
	while sleep 30; do log "still building ($(($(date +%s) - start)) s)"; done
) &
ticker=$!
trap 'kill "$ticker" 2>/dev/null || true' EXIT
go build -trimpath -ldflags "-X $MODULE/internal/version.latestVersion=$VERSION" -o "$BIN.tmp" "$PKG"
kill "$ticker" 2>/dev/null || true
mv -f "$BIN.tmp" "$BIN"
rm -rf "$SRC"
if ! usable; then
	log "built $BIN but \`jaeger version\` does not name $VERSION" >&2
	exit 1
fi
log "built $BIN in $(($(date +%s) - start)) s: $("$BIN" version 2>/dev/null), $(du -h "$BIN" | cut -f1)"
