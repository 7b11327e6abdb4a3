package dataplane

import (
	"bytes"
	"net/netip"
	"sync/atomic"
	"testing"
)

// interceptedPacket is what an Intercept hook saw.
type interceptedPacket struct {
	sa     *SA
	remote netip.AddrPort
	pkt    []byte
}

// TestPairIntercept checks that Config.Intercept sees exactly the inner
// IPv6 packets whose Next Header is the Mobility Header, with the inbound
// SA and the outer source of the datagram, that a consumed packet never
// reaches the device, and that one the hook declines does.
func TestPairIntercept(t *testing.T) {
	got := make(chan interceptedPacket, 8)
	var consume atomic.Bool
	consume.Store(true)
	ha := startNode(t, netip.MustParseAddr("::1"))
	ha.dp.cfg.Intercept = func(sa *SA, remote netip.AddrPort, pkt []byte) bool {
		got <- interceptedPacket{sa: sa, remote: remote, pkt: bytes.Clone(pkt)}
		return consume.Load()
	}
	mn := startNode(t, netip.MustParseAddr("::1"))
	_, _, _, haIn := tunnel(t, mn, ha, transformCases[0], 0x1111, 0x2222, hoa)

	mobility := testInner(hoa, cnAddr, 64)
	mobility[6] = protoMobilityHeader
	mn.tun.Outgoing <- mobility
	p := <-got
	if p.sa != haIn || p.remote != mn.natt || !bytes.Equal(p.pkt, mobility) {
		t.Errorf("intercepted SA %#x from %v, want SA %#x from %v (packet equal: %v)",
			p.sa.SPI(), p.remote, haIn.SPI(), mn.natt, bytes.Equal(p.pkt, mobility))
	}

	// Any other packet goes to the device, past the hook.
	plain := testInner(hoa, cnAddr, 64)
	mn.tun.Outgoing <- plain
	if d := receive(t, ha.tun.Incoming, "plain packet at the HA"); !bytes.Equal(d, plain) {
		t.Error("plain packet changed")
	}
	if len(got) != 0 {
		t.Error("the hook saw a packet without a Mobility Header")
	}

	// A Mobility Header packet the hook declines reaches the device too.
	consume.Store(false)
	mobility = bytes.Clone(mobility)
	mobility[7] = 1 // tell it apart
	mn.tun.Outgoing <- mobility
	<-got
	if d := receive(t, ha.tun.Incoming, "declined packet at the HA"); !bytes.Equal(d, mobility) {
		t.Error("declined packet changed")
	}
	eventually(t, "intercept counter", func() bool { return ha.dp.Stats().Intercepted == 1 })
}

// TestIsMobilityHeader checks the Next Header walk: the Mobility Header
// directly or after extension headers, nothing else, nothing past the end.
func TestIsMobilityHeader(t *testing.T) {
	pkt := func(nh byte, ext ...[]byte) []byte {
		p := testInner(hoa, cnAddr, 40)
		p[6] = nh
		for _, e := range ext {
			p = append(p, e...)
		}
		return p
	}
	hao := []byte{protoMobilityHeader, 2, 0xc9, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	for _, tc := range []struct {
		name string
		p    []byte
		want bool
	}{
		{"mobility header", pkt(protoMobilityHeader), true},
		{"after destination options", pkt(60, hao), true},
		{"udp", pkt(17), false},
		{"truncated extension header", pkt(60), false},
		{"ipv4", testInner(hoa4, cnAddr4, 40), false},
		{"short", []byte{0x60, 0, 0}, false},
	} {
		if got := isMobilityHeader(tc.p); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestSendInner checks that SendInner seals a packet with the outbound SA
// routed for its destination, like a packet read from the device, and
// refuses one that no SA routes or that is not an IP packet.
func TestSendInner(t *testing.T) {
	ha := startNode(t, netip.MustParseAddr("::1"))
	mn := startNode(t, netip.MustParseAddr("::1"))
	_, mnIn, haOut, _ := tunnel(t, mn, ha, transformCases[0], 0x1111, 0x2222, hoa)

	down := testInner(cnAddr, hoa, 100)
	if err := ha.dp.SendInner(down); err != nil {
		t.Fatal(err)
	}
	if d := receive(t, mn.tun.Incoming, "packet at the MN"); !bytes.Equal(d, down) {
		t.Error("packet changed")
	}
	if s := haOut.Stats(); s.Packets != 1 {
		t.Errorf("outbound SA counted %d packets, want 1", s.Packets)
	}
	if s := mnIn.Stats(); s.Packets != 1 {
		t.Errorf("inbound SA counted %d packets, want 1", s.Packets)
	}
	if err := ha.dp.SendInner(testInner(cnAddr, cnAddr, 100)); err == nil {
		t.Error("a packet for an address no SA routes was sent")
	}
	if err := ha.dp.SendInner([]byte{0x45, 0, 0}); err == nil {
		t.Error("a truncated packet was sent")
	}
}

// FuzzIsMobilityHeader: the Next Header walk never panics nor reads past
// the packet, and says yes only for an IPv6 packet with a full header.
func FuzzIsMobilityHeader(f *testing.F) {
	mobility := testInner(hoa, cnAddr, 64)
	mobility[6] = protoMobilityHeader
	f.Add(mobility)
	hao := testInner(hoa, cnAddr, 40)
	hao[6] = 60
	f.Add(append(hao, protoMobilityHeader, 2, 0xc9, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
	f.Add(testInner(hoa4, cnAddr4, 40))
	f.Fuzz(func(t *testing.T, p []byte) {
		if isMobilityHeader(p) && (len(p) < 40 || p[0]>>4 != 6) {
			t.Errorf("% x: a Mobility Header in what is no IPv6 packet", p)
		}
	})
}

// TestSetRemoteReported: Remote reports where an installed outbound SA
// sends after SetRemote, so the runtime can tell whether a move is needed.
func TestSetRemoteReported(t *testing.T) {
	ha := startNode(t, netip.MustParseAddr("::1"))
	mn := startNode(t, netip.MustParseAddr("::1"))
	_, _, haOut, _ := tunnel(t, mn, ha, transformCases[0], 0x1111, 0x2222, hoa)
	moved := netip.AddrPortFrom(netip.IPv6Loopback(), 9)
	if err := ha.dp.SetRemote(haOut, moved); err != nil {
		t.Fatal(err)
	}
	if got := haOut.Remote(); got != moved {
		t.Errorf("Remote() = %v after SetRemote(%v)", got, moved)
	}
}
