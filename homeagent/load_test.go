package homeagent

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/ike"
)

// TestPairInitialContact: a mobile node that attaches again with
// INITIAL_CONTACT (RFC 7296 §2.4) makes the home agent close its older IKE
// SA; the node keeps its home address.
func TestPairInitialContact(t *testing.T) {
	ctx := testContext(t)
	ha, mn, first, hoa := pair(t, ctx)
	ikePort, nattPort := ha.rt.Ports()
	haFrom, mnFrom := ha.events.len(), mn.events.len()
	second, err := mn.rt.Initiate(ctx, Peer{Remote: netip.AddrPortFrom(netip.IPv6Loopback(), ikePort), NATTPort: nattPort,
		ID: "ha.example", Request: ike.CPRequest{IPv6: true}, RemoteTS: []netip.Prefix{innerNet}, InitialContact: true})
	if err != nil {
		t.Fatal(err)
	}
	closed := waitFor[ike.IKEDown](t, ctx, ha.events, &haFrom, nil)
	if closed.Reason != ike.DownClosed {
		t.Errorf("home agent's older SA ended with %v, want closed", closed.Reason)
	}
	got := waitFor[ike.AddressAssigned](t, ctx, mn.events, &mnFrom, func(e ike.AddressAssigned) bool { return e.ToUs })
	if got.Assignment.IPv6.Addr() != hoa {
		t.Errorf("second attach got %v, want %v again", got.Assignment.IPv6, hoa)
	}
	waitFor[ike.ChildUp](t, ctx, mn.events, &mnFrom, nil)
	sas, err := ha.rt.SAs(ctx)
	if err != nil || len(sas) != 1 || sas[0].State != ike.StateEstablished {
		t.Fatalf("home agent SAs %+v (%v): want only the new one", sas, err)
	}
	// The home agent closed the old SA silently; the node deletes it.
	if err := mn.rt.Delete(ctx, first); err != nil {
		t.Fatal(err)
	}
	through(t, ctx, mn, ha, hoa, innerAddr, "on the second IKE SA")
	through(t, ctx, ha, mn, innerAddr, hoa, "back on the second IKE SA")
	if held := ha.rt.pool.(*LeasePool).Held(); len(held) != 1 || held[0] != hoa {
		t.Errorf("held addresses %v, want %v (the old SA's hold ended with it)", held, hoa)
	}
	_ = second
}

// TestCookiesUnderLoad: with half-open IKE SAs at the threshold, the home
// agent answers new IKE_SA_INIT requests with a COOKIE (RFC 7296 §2.6);
// an initiator that returns it still gets its IKE SA.
func TestCookiesUnderLoad(t *testing.T) {
	ctx := testContext(t)
	cfg := haConfig()
	cfg.CookieThreshold = 1
	ha := startNode(t, cfg, haOptions(t))
	ikePort, nattPort := ha.rt.Ports()
	haAddr := netip.AddrPortFrom(netip.IPv6Loopback(), ikePort)

	// A client that sends IKE_SA_INIT and never comes back leaves an IKE
	// SA half-open.
	lone, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Fatal(err)
	}
	defer lone.Close()
	local := lone.LocalAddr().(*net.UDPAddr).AddrPort()
	init, err := ike.NewInitiator(&ike.Config{Credentials: &Credentials{Self: ike.LocalCredential{ID: ike.FQDN("lone.example")}}},
		ike.Path{Local: local, Remote: haAddr})
	if err != nil {
		t.Fatal(err)
	}
	if err := init.Initiate(time.Now()); err != nil {
		t.Fatal(err)
	}
	req := init.Ready().Datagrams[0]
	if _, err := lone.WriteToUDPAddrPort(req.Payload, haAddr); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2048)
	lone.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := lone.ReadFromUDPAddrPort(buf); err != nil {
		t.Fatalf("no IKE_SA_INIT response: %v", err)
	}
	if h := ha.rt.Stats().HalfOpen; h != 1 {
		t.Fatalf("half-open IKE SAs %d, want 1", h)
	}

	mn := startNode(t, mnConfig(), Options{PSKs: []PSK{{Identity: "*", Secret: []byte(testPSK)}}})
	if _, err := mn.rt.Initiate(ctx, Peer{Remote: haAddr, NATTPort: nattPort, Request: ike.CPRequest{IPv6: true},
		RemoteTS: []netip.Prefix{innerNet}}); err != nil {
		t.Fatal(err)
	}
	waitFor[ike.ChildUp](t, ctx, mn.events, new(int), nil)
	st := ha.rt.Stats()
	if st.Responder[ike.AnsweredCookie] != 1 || st.Responder[ike.Created] != 2 {
		t.Errorf("responder outcomes %v: want one COOKIE, then the SA", st.Responder)
	}
}

// TestSequenceLimitRekeys: an outbound CHILD_SA that reaches its soft
// sequence number limit is rekeyed (RFC 4303 §3.3.3), and traffic goes on
// over the new one.
func TestSequenceLimitRekeys(t *testing.T) {
	ctx := testContext(t)
	ha := startNode(t, haConfig(), haOptions(t))
	mn := startNode(t, mnConfig(), Options{PSKs: []PSK{{Identity: "*", Secret: []byte(testPSK)}}, SoftSeqLimit: 5})
	ikePort, nattPort := ha.rt.Ports()
	if _, err := mn.rt.Initiate(ctx, Peer{Remote: netip.AddrPortFrom(netip.IPv6Loopback(), ikePort), NATTPort: nattPort,
		Request: ike.CPRequest{IPv6: true}, RemoteTS: []netip.Prefix{innerNet}}); err != nil {
		t.Fatal(err)
	}
	from := 0
	assigned := waitFor[ike.AddressAssigned](t, ctx, mn.events, &from, func(e ike.AddressAssigned) bool { return e.ToUs })
	up := waitFor[ike.ChildUp](t, ctx, mn.events, &from, nil)
	hoa := assigned.Assignment.IPv6.Addr()
	for i := range 4 {
		through(t, ctx, mn, ha, hoa, innerAddr, fmt.Sprintf("packet %d", i))
	}
	if n := mn.events.len(); n != from {
		t.Fatalf("events before the limit: %s", mn.events)
	}
	through(t, ctx, mn, ha, hoa, innerAddr, "packet at the limit")
	rk := waitFor[ike.ChildRekeyed](t, ctx, mn.events, &from, nil)
	if rk.Old.InSPI != up.Child.InSPI {
		t.Errorf("rekeyed %08x, want the CHILD_SA %08x that hit the limit", rk.Old.InSPI, up.Child.InSPI)
	}
	through(t, ctx, mn, ha, hoa, innerAddr, "after the rekey")
}

// TestInboxDropsWhenFull: a shard's inbox is bounded; what does not fit is
// dropped and counted, and the queued messages are copies (the sockets'
// buffers are reused).
func TestInboxDropsWhenFull(t *testing.T) {
	rt := &Runtime{}
	s := &shard{rt: rt, inbox: make(chan inboundMsg, 2)}
	rt.shards = []*shard{s}
	payload := []byte("IKE message bytes, 28 octets")
	for range 5 {
		s.enqueue(ike.Datagram{Payload: payload})
	}
	payload[0] = 'X'
	if got := s.drops.Load(); got != 3 {
		t.Errorf("drops %d, want 3", got)
	}
	m := <-s.inbox
	if m.dg.Payload[0] != 'I' {
		t.Errorf("queued payload aliases the socket buffer: %q", m.dg.Payload)
	}
}

// udpPacket4 builds an IPv4 packet carrying a UDP datagram with payload.
func udpPacket4(src, dst netip.Addr, payload string) []byte {
	p := make([]byte, 28+len(payload))
	p[0] = 0x45
	binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
	p[8], p[9] = 64, 17
	s, d := src.As4(), dst.As4()
	copy(p[12:], s[:])
	copy(p[16:], d[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(p[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(p[10:], ^uint16(sum))
	binary.BigEndian.PutUint16(p[20:], 4000)
	binary.BigEndian.PutUint16(p[22:], 5000)
	binary.BigEndian.PutUint16(p[24:], uint16(8+len(payload)))
	copy(p[28:], payload)
	return p
}

// TestPairDualStack asks for an inner IPv6 and an inner IPv4 address: the
// home agent assigns both from its prefixes, narrows the mobile node's
// selectors to the two addresses, and carries both families in one
// CHILD_SA.
func TestPairDualStack(t *testing.T) {
	ctx := testContext(t)
	cfg := haConfig()
	cfg.LocalTS = append(cfg.LocalTS, "203.0.113.0/24")
	ha := startNode(t, cfg, haOptions(t))
	mn := startNode(t, mnConfig(), Options{PSKs: []PSK{{Identity: "*", Secret: []byte(testPSK)}}})
	ikePort, nattPort := ha.rt.Ports()
	if _, err := mn.rt.Initiate(ctx, Peer{Remote: netip.AddrPortFrom(netip.IPv6Loopback(), ikePort), NATTPort: nattPort,
		Request: ike.CPRequest{IPv6: true, IPv4: true}}); err != nil {
		t.Fatal(err)
	}
	from := 0
	a := waitFor[ike.AddressAssigned](t, ctx, mn.events, &from, func(e ike.AddressAssigned) bool { return e.ToUs }).Assignment
	if !homePrefix.Contains(a.IPv6.Addr()) || a.IPv4 != netip.MustParseAddr("198.51.100.1") {
		t.Fatalf("assigned %+v", a)
	}
	child := waitFor[ike.ChildUp](t, ctx, ha.events, new(int), nil).Child
	if len(child.RemoteTS) != 2 {
		t.Errorf("home agent's remote selectors %v, want the two addresses", child.RemoteTS)
	}
	through(t, ctx, mn, ha, a.IPv6.Addr(), innerAddr, "IPv6")
	cn4 := netip.MustParseAddr("203.0.113.3")
	pkt := udpPacket4(a.IPv4, cn4, "IPv4 through the tunnel")
	mn.tun.Outgoing <- pkt
	select {
	case got := <-ha.tun.Incoming:
		if !bytes.Equal(got, pkt) {
			t.Errorf("IPv4 packet arrived as %x", got)
		}
	case <-ctx.Done():
		t.Fatalf("IPv4 packet did not come through: %+v", ha.rt.Stats().Dataplane)
	}
	back := udpPacket4(cn4, a.IPv4, "IPv4 back")
	ha.tun.Outgoing <- back
	select {
	case got := <-mn.tun.Incoming:
		if !bytes.Equal(got, back) {
			t.Errorf("IPv4 packet arrived as %x", got)
		}
	case <-ctx.Done():
		t.Fatal("IPv4 packet did not come back")
	}
}
