package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// maxUnixPath is the longest unix socket path Linux accepts (sun_path is
// 108 octets with its terminating NUL).
const maxUnixPath = 107

// ParseListen splits an admin API address (admin.listen) into a network and
// an address for net.Listen and net.Dial:
//
//   - a path ("/run/mip6ha/admin.sock", "./admin.sock") or "unix:PATH" is a
//     unix socket;
//   - "HOST:PORT" is TCP, and HOST must be a loopback address or
//     "localhost": the admin API has no authentication of its own.
func ParseListen(s string) (network, address string, err error) {
	switch {
	case s == "":
		return "", "", errors.New("is empty")
	case strings.HasPrefix(s, "unix:"):
		return unixPath(strings.TrimPrefix(s, "unix:"))
	case strings.HasPrefix(s, "/") || strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../"):
		return unixPath(s)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", "", errors.New("is neither a unix socket path nor host:port")
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || (port != "0" && n == 0) {
		return "", "", fmt.Errorf("has no port number in 0..65535")
	}
	if host != "localhost" {
		a, err := netip.ParseAddr(host)
		if err != nil || !a.Unmap().IsLoopback() {
			return "", "", errors.New("is not on a loopback address (the admin API has no authentication; use a unix socket or 127.0.0.1:PORT)")
		}
	}
	return "tcp", s, nil
}

func unixPath(p string) (string, string, error) {
	switch {
	case p == "":
		return "", "", errors.New("names no socket path")
	case len(p) > maxUnixPath:
		return "", "", fmt.Errorf("is longer than the %d octets of a unix socket path", maxUnixPath)
	case strings.ContainsRune(p, 0):
		return "", "", errors.New("contains a NUL")
	case strings.HasSuffix(p, "/"):
		return "", "", errors.New("names a directory, not a socket")
	}
	return "unix", p, nil
}
