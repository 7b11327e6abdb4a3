package dataplane

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// struct in_pktinfo: the source to use goes in ipi_spec_dst when sending;
// the kernel reports the header destination in ipi_addr when receiving.
func TestPktinfoIPv4(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.7")
	p := makePktinfo(a)
	if p.len != unix.CmsgSpace(unix.SizeofInet4Pktinfo) {
		t.Fatalf("length %d", p.len)
	}
	if lvl, typ := binary.NativeEndian.Uint32(p.raw[cmsgLenSize:]), binary.NativeEndian.Uint32(p.raw[cmsgLenSize+4:]); lvl != unix.IPPROTO_IP || typ != unix.IP_PKTINFO {
		t.Fatalf("level %d type %d", lvl, typ)
	}
	data := p.raw[cmsgDataOff:]
	if got := netip.AddrFrom4([4]byte(data[4:8])); got != a {
		t.Fatalf("ipi_spec_dst %v", got)
	}
	// As received: ipi_addr set.
	copy(data[8:12], a.AsSlice())
	copy(data[4:8], []byte{0, 0, 0, 0})
	if got := parsePktinfo(p.raw[:p.len]); got != a {
		t.Fatalf("parsed %v", got)
	}
	if p := makePktinfo(netip.IPv4Unspecified()); p.len != 0 {
		t.Fatal("unspecified source must leave the choice to the kernel")
	}
}

func TestPktinfoIPv6(t *testing.T) {
	a := netip.MustParseAddr("2001:db8::7")
	p := makePktinfo(a)
	if got := parsePktinfo(p.raw[:p.len]); got != a {
		t.Fatalf("parsed %v", got)
	}
	// A second, unrelated control message before it is skipped.
	var both [2 * oobSize]byte
	n := putCmsgHeader(both[:], unix.SOL_SOCKET, unix.SO_TIMESTAMP, 16)
	copy(both[n:], p.raw[:p.len])
	if got := parsePktinfo(both[:n+p.len]); got != a {
		t.Fatalf("parsed %v after another message", got)
	}
}

func TestSockaddr(t *testing.T) {
	for _, s := range []string{"[2001:db8::1]:4500", "192.0.2.1:500", "[::ffff:192.0.2.1]:4500"} {
		ap := netip.MustParseAddrPort(s)
		sa := makeSockaddr(ap)
		if got := parseSockaddr(sa.raw[:sa.len]); got != unmapAddrPort(ap) {
			t.Errorf("%s: %v", s, got)
		}
	}
	if got := parseSockaddr([]byte{1}); got.IsValid() {
		t.Errorf("short sockaddr parsed as %v", got)
	}
}
