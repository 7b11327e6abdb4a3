#!/usr/bin/env bash
# Unpacks Debian's libreswan 4.10 (pluto, whack, addconn) into a cache
# directory outside the repository, for the libreswan interop harness
# (test/interop, StartPluto) and its lab checks (test/labcheck).
#
# libreswan conflicts with strongSwan as a Debian package, so it is never
# installed: `apt-get download` + `dpkg -x` put its files under
#   $MIP6HA_CACHE/libreswan-$UPSTREAM/root
# (MIP6HA_CACHE defaults to /var/cache/mip6ha for root, else
# ${XDG_CACHE_HOME:-$HOME/.cache}/mip6ha), and the Debian version lands in
# $MIP6HA_CACHE/libreswan-$UPSTREAM/version. test/interop looks in the same
# places, or at $LIBRESWAN_ROOT. The shared libraries pluto links against
# come from Debian packages that do not conflict, installed normally.
#
# Idempotent: with the libraries installed, the tree unpacked and every
# program resolving its libraries, it does nothing. Concurrent runs
# serialise on a lock file.
set -euo pipefail
export PATH=$PATH:/usr/sbin:/sbin

UPSTREAM=4.10
# What pluto, whack and addconn need besides what every Debian system has
# (libc, libnss3, libnspr4, ...): see `apt-cache depends libreswan`.
LIBS=(libnss3-tools libevent-core-2.1-7 libevent-pthreads-2.1-7 libldns3 libunbound8 libcurl3-nss)

if [ -z "${MIP6HA_CACHE:-}" ]; then
	if [ "$(id -u)" = 0 ]; then
		MIP6HA_CACHE=/var/cache/mip6ha
	else
		MIP6HA_CACHE=${XDG_CACHE_HOME:-$HOME/.cache}/mip6ha
	fi
fi
DIR=$MIP6HA_CACHE/libreswan-$UPSTREAM
ROOT=$DIR/root
PROGRAMS=(usr/libexec/ipsec/pluto usr/libexec/ipsec/whack usr/libexec/ipsec/addconn)

log() { printf 'libreswan.sh: %s\n' "$*"; }

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# unresolved prints the libraries a program cannot find ("" when all resolve).
unresolved() { ldd "$1" 2>/dev/null | awk '/not found/ {print $1}' | sort -u | tr '\n' ' '; }

usable() {
	[ -s "$DIR/version" ] || return 1
	for p in "${PROGRAMS[@]}"; do
		[ -x "$ROOT/$p" ] || return 1
		[ -z "$(unresolved "$ROOT/$p")" ] || return 1
	done
	command -v certutil >/dev/null
}

missing=()
for p in "${LIBS[@]}"; do
	installed "$p" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		log "missing packages ${missing[*]}; run as root to install them" >&2
		exit 1
	fi
	log "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	apt-get install -y -q --no-install-recommends "${missing[@]}"
else
	log "shared libraries present (${LIBS[*]})"
fi

if usable; then
	log "cached $ROOT (libreswan $(cat "$DIR/version"))"
	exit 0
fi

mkdir -p "$DIR"
exec 9>"$DIR/.lock"
log "waiting for the lock $DIR/.lock"
flock 9
if usable; then # a concurrent run unpacked it while we waited
	log "cached $ROOT (libreswan $(cat "$DIR/version"), unpacked by a concurrent run)"
	exit 0
fi

candidate() { apt-cache policy libreswan 2>/dev/null | awk '/Candidate:/ {print $2}'; }
version=$(candidate)
if [ -z "$version" ] || [ "$version" = "(none)" ]; then
	log "no libreswan candidate in the package lists; apt-get update"
	apt-get update -q
	version=$(candidate)
fi
case "$version" in
$UPSTREAM-*) ;;
*)
	log "the package lists offer libreswan '${version:-none}', the harness is written for $UPSTREAM" >&2
	exit 1
	;;
esac

work=$(mktemp -d "$DIR/unpack.XXXXXX")
# apt-get download fetches as user _apt when it may write there (else it warns).
if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$work"; fi
trap 'rm -rf "$work"' EXIT
log "downloading libreswan=$version"
(cd "$work" && apt-get download -q "libreswan=$version")
deb=$(ls "$work"/libreswan_*.deb)
log "unpacking $(basename "$deb") into $ROOT"
dpkg-deb -x "$deb" "$work/root"
rm -rf "$ROOT"
mv "$work/root" "$ROOT"
for p in "${PROGRAMS[@]}"; do
	if [ ! -x "$ROOT/$p" ]; then
		log "$p is not in the package" >&2
		exit 1
	fi
	if libs=$(unresolved "$ROOT/$p") && [ -n "$libs" ]; then
		log "$p cannot find $libs" >&2
		exit 1
	fi
done
if ! command -v certutil >/dev/null; then
	log "certutil (libnss3-tools) is not on PATH" >&2
	exit 1
fi
dpkg-deb -f "$deb" Version >"$DIR/version"
log "unpacked libreswan $(cat "$DIR/version") into $ROOT: $("$ROOT/usr/libexec/ipsec/pluto" --version 2>&1 | head -1)"
