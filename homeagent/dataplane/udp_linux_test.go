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

// A segmented send that the path refuses (here: segments larger than the
// socket's MTU, EINVAL) is sent again one datagram at a time, which the
// kernel may fragment; segmentation stays on. Every datagram arrives.
func TestSegmentedSendFallsBack(t *testing.T) {
	rx, err := listenUDP(netip.MustParseAddrPort("[::1]:0"), roleNATT, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.conn.Close()
	tx, err := listenUDP(netip.MustParseAddrPort("[::1]:0"), roleNATT, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.conn.Close()
	if !tx.gso.Load() {
		t.Skip("kernel without UDP_SEGMENT")
	}
	var serr error
	if err := tx.raw.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_MTU, 1280) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	dst := makeSockaddr(rx.local)
	src := makePktinfo(netip.MustParseAddr("::1"))
	sb := newSendBatch(16)
	payloads := make([][]byte, 10)
	for i := range payloads {
		payloads[i] = make([]byte, 1400)
		payloads[i][0] = byte(i)
		sb.addSegment(&dst, &src, payloads[i])
	}
	if sb.n != 1 || sb.segmented() != 10 {
		t.Fatalf("%d messages, %d segmented", sb.n, sb.segmented())
	}
	sent, failed, err := tx.flush(sb)
	if sent != 10 || failed != 0 || err != nil {
		t.Fatalf("sent %d, failed %d, %v", sent, failed, err)
	}
	if len(sb.retry) != 1 {
		t.Fatalf("%d segmented messages retried, want the one refused", len(sb.retry))
	}
	if !tx.gso.Load() {
		t.Fatal("segmentation switched off by a size error")
	}
	rb := newRecvBatch(16)
	got := 0
	for got < 10 {
		n, err := rx.read(rb)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			p, _, _, gro, ok := rb.datagram(i, rx)
			if !ok || gro != 0 || len(p) != 1400 || int(p[0]) != got {
				t.Fatalf("datagram %d: %d octets, gro %d, first octet %d", got, len(p), gro, p[0])
			}
			got++
		}
	}
}
