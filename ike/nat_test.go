package ike

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// RFC 7296 §2.23, RFC 3948: the initiator behind a NAT detects it, moves IKE
// to port 4500, encapsulates ESP in UDP and sends keepalives; the responder
// sees the NAT's address and port.
func TestNATTraversalInitiatorBehindNAT(t *testing.T) {
	ic, rc, _ := pairConfig(70)
	p := newPair(t, ic, rc)
	p.nat = newNAT("2001:db8:1::1", "2001:db8:ff::1")
	p.establish()
	ni, nr := eventsOf[NATDetected](p.mn), eventsOf[NATDetected](p.ha)
	if len(ni) != 1 || !ni[0].LocalBehindNAT || ni[0].PeerBehindNAT || ni[0].Forced {
		t.Fatalf("initiator NATDetected %+v", ni)
	}
	if len(nr) != 1 || nr[0].LocalBehindNAT || !nr[0].PeerBehindNAT {
		t.Fatalf("responder NATDetected %+v", nr)
	}
	// IKE_SA_INIT on 500, everything after on 4500 with the marker.
	for _, dg := range p.trace {
		h, _ := wire.ParseHeader(dg.Payload)
		init := h.ExchangeType() == wire.ExchangeIKESAInit
		if dg.NATT == init || (dg.Local.Port() == 4500) == init {
			t.Errorf("%v from %v NATT %v", h.ExchangeType(), dg.Local, dg.NATT)
		}
	}
	ri := p.r().Path()
	if ri.Remote.Addr() != netip.MustParseAddr("2001:db8:ff::1") || ri.Local.Port() != 4500 {
		t.Errorf("responder path %v", ri)
	}
	for _, n := range []*node{p.mn, p.ha} {
		for _, c := range n.outbound {
			if !c.Encap || c.Local.Port() == 500 || c.Remote.Port() == 500 {
				t.Errorf("%s CHILD_SA not UDP-encapsulated on the NAT-T ports: %v -> %v", n.name, c.Local, c.Remote)
			}
		}
	}
	if c := p.ha.outbound[onlyChild(t, p.r()).OutSPI]; c.Remote != ri.Remote {
		t.Errorf("responder ESP goes to %v, the NAT maps IKE at %v", c.Remote, ri.Remote)
	}
	checkOnePair(t, p)

	// Keepalives only from the side behind the NAT, after 20 s idle.
	p.advance(19 * time.Second)
	if len(p.mn.keepalive) != 0 {
		t.Fatal("keepalive before 20 s")
	}
	p.advance(2 * time.Second)
	if len(p.mn.keepalive) != 1 || len(p.ha.keepalive) != 0 {
		t.Fatalf("keepalives mn %d ha %d", len(p.mn.keepalive), len(p.ha.keepalive))
	}
	if k := p.mn.keepalive[0]; k.Local.Port() != 4500 || k.Remote.Port() != 4500 {
		t.Errorf("keepalive path %v", k)
	}
	p.advance(40 * time.Second)
	if len(p.mn.keepalive) != 3 {
		t.Errorf("%d keepalives after 61 s", len(p.mn.keepalive))
	}

	// RFC 7296 §2.23: the NAT mapping changes; the responder follows the
	// newer authenticated message and moves the CHILD_SA.
	p.nat.rebind()
	if err := p.i.CheckLiveness(p.now); err != nil {
		t.Fatal(err)
	}
	p.run()
	mv := eventsOf[PeerMoved](p.ha)
	if len(mv) != 1 || mv[0].New.Remote == ri.Remote {
		t.Fatalf("PeerMoved %+v", mv)
	}
	if c := p.ha.outbound[onlyChild(t, p.r()).OutSPI]; c.Remote != mv[0].New.Remote {
		t.Errorf("CHILD_SA not moved: %v, IKE at %v", c.Remote, mv[0].New.Remote)
	}
}

// RFC 7296 §2.23 and strongSwan's encap=yes: a side that forces UDP
// encapsulation fakes its NAT_DETECTION_SOURCE_IP; both sides then
// encapsulate without a NAT, and nobody sends keepalives.
func TestForceEncapsulation(t *testing.T) {
	for _, forcedBy := range []string{"initiator", "responder"} {
		ic, rc, _ := pairConfig(71)
		if forcedBy == "initiator" {
			ic.ForceEncap = true
		} else {
			rc.ForceEncap = true
		}
		p := newPair(t, ic, rc)
		p.ha.responder.DemandCookies(true) // the fake hash must survive the COOKIE retry
		p.establish()
		for _, n := range []*node{p.mn, p.ha} {
			for _, c := range n.outbound {
				if !c.Encap || c.Remote.Port() != 4500 {
					t.Errorf("%s: forced by %s: CHILD_SA encap %v to %v", n.name, forcedBy, c.Encap, c.Remote)
				}
			}
		}
		if !p.i.Path().Local.IsValid() || p.i.Path().Remote.Port() != 4500 {
			t.Errorf("initiator did not move to 4500: %v", p.i.Path())
		}
		reqs := initRequests(t, p.network)
		s0, _ := reqs[0].Notify(wire.NotifyNATDetectionSourceIP)
		s1, _ := reqs[1].Notify(wire.NotifyNATDetectionSourceIP)
		if string(s0.Data) != string(s1.Data) {
			t.Error("NAT_DETECTION_SOURCE_IP changed in the COOKIE retry")
		}
		p.advance(time.Minute)
		if len(p.mn.keepalive)+len(p.ha.keepalive) != 0 {
			t.Errorf("keepalives without a NAT")
		}
	}
}

// RFC 7296 §2.23: without a NAT and without forcing, IKE stays on port 500
// and ESP is not encapsulated.
func TestNoNATNoEncapsulation(t *testing.T) {
	ic, rc, _ := pairConfig(72)
	p := newPair(t, ic, rc)
	p.establish()
	if len(eventsOf[NATDetected](p.mn))+len(eventsOf[NATDetected](p.ha)) != 0 {
		t.Fatal("NAT detected without a NAT")
	}
	for _, dg := range p.trace {
		if dg.NATT || dg.Local.Port() != 500 {
			t.Fatalf("datagram on %v NATT %v", dg.Local, dg.NATT)
		}
	}
}

// RFC 7296 §2.23 over IPv4: the IPv4 NAT case, addresses hashed as 4
// octets.
func TestNATTraversalIPv4(t *testing.T) {
	ic, rc, _ := pairConfig(73)
	mn := newNode(t, "mn", "10.0.0.2")
	ha := newNode(t, "ha", "198.51.100.1")
	r, err := NewResponder(ResponderConfig{Config: *rc})
	if err != nil {
		t.Fatal(err)
	}
	ha.responder = r
	ic.Request = CPRequest{IPv4: true}
	rc.Addresses.(*staticPool).a = Assignment{IPv4: netip.MustParseAddr("192.0.2.77")}
	rc.LocalTS = nil
	i, err := NewInitiator(ic, Path{Local: netip.MustParseAddrPort("10.0.0.2:500"), Remote: netip.MustParseAddrPort("198.51.100.1:500")})
	if err != nil {
		t.Fatal(err)
	}
	p := &pair{network: newNetwork(t, mn, ha), mn: mn, ha: ha, i: i}
	p.nat = newNAT("10.0.0.2", "203.0.113.9")
	p.establish()
	if n := eventsOf[NATDetected](p.mn); len(n) != 1 || !n[0].LocalBehindNAT {
		t.Fatalf("NATDetected %+v", n)
	}
	c := onlyChild(t, p.i)
	if len(c.LocalTS) != 1 || c.LocalTS[0].Type != wire.TSIPv4AddrRange || c.LocalTS[0].StartAddr != netip.MustParseAddr("192.0.2.77") {
		t.Errorf("TSi %v", c.LocalTS)
	}
	checkOnePair(t, p)
}
