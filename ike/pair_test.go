package ike

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// RFC 7296 §1.2: IKE_SA_INIT and IKE_AUTH set up the IKE SA and the first
// CHILD_SA; RFC 7296 §2.19 and RFC 4877 §9: the responder assigns the inner
// address through CP and narrows TSi to it (§2.9).
func TestInitialExchangesPSKWithAddressAssignment(t *testing.T) {
	ic, rc, pool := pairConfig(1)
	p := newPair(t, ic, rc)
	p.establish()

	iu, ru := eventsOf[IKEUp](p.mn)[0], eventsOf[IKEUp](p.ha)[0]
	if iu.SPIs != ru.SPIs || iu.SPIs.I == 0 || iu.SPIs.R == 0 {
		t.Fatalf("SPIs differ or zero: %v %v", iu.SPIs, ru.SPIs)
	}
	if !iu.Initiator || ru.Initiator {
		t.Errorf("roles: initiator %v responder %v", iu.Initiator, ru.Initiator)
	}
	if iu.PeerID != haID || ru.PeerID != mnID || iu.LocalID != mnID {
		t.Errorf("identities: mn sees %v, ha sees %v", iu.PeerID, ru.PeerID)
	}
	if !ru.RedirectSupported {
		t.Error("responder did not record REDIRECT_SUPPORTED")
	}
	if len(pool.requests) != 1 || !pool.requests[0].IPv6 || !pool.requests[0].DNS6 || pool.requests[0].Peer != mnID {
		t.Fatalf("address requests: %+v", pool.requests)
	}
	ia := eventsOf[AddressAssigned](p.mn)
	ra := eventsOf[AddressAssigned](p.ha)
	if len(ia) != 1 || !ia[0].ToUs || ia[0].Assignment.IPv6 != hoa || len(ia[0].Assignment.DNS) != 1 {
		t.Fatalf("initiator assignment: %+v", ia)
	}
	if len(ra) != 1 || ra[0].ToUs || ra[0].Assignment.IPv6 != hoa {
		t.Fatalf("responder assignment: %+v", ra)
	}

	ic1, rc1 := eventsOf[ChildUp](p.mn), eventsOf[ChildUp](p.ha)
	if len(ic1) != 1 || len(rc1) != 1 {
		t.Fatalf("ChildUp: %d / %d", len(ic1), len(rc1))
	}
	if len(p.mn.inbound) != 1 || len(p.mn.outbound) != 1 || len(p.ha.inbound) != 1 || len(p.ha.outbound) != 1 {
		t.Fatalf("dataplanes: mn %d/%d ha %d/%d", len(p.mn.inbound), len(p.mn.outbound), len(p.ha.inbound), len(p.ha.outbound))
	}
	checkChildrenMatch(t, p.mn, p.ha)
	c := ic1[0].Child
	// TSi narrowed to the home address, TSr to the responder's LocalTS.
	if len(c.LocalTS) != 1 || c.LocalTS[0].StartAddr != hoa.Addr() || c.LocalTS[0].EndAddr != hoa.Addr() {
		t.Errorf("initiator LocalTS = %v, want the HoA", c.LocalTS)
	}
	if len(c.RemoteTS) != 1 || c.RemoteTS[0].StartAddr != netip.MustParseAddr("2001:db8:200::") {
		t.Errorf("initiator RemoteTS = %v", c.RemoteTS)
	}
	if c.Mode != Tunnel || c.Encap {
		t.Errorf("mode %v encap %v, want tunnel without encapsulation", c.Mode, c.Encap)
	}
	if p.r().State() != StateEstablished || p.i.State() != StateEstablished {
		t.Errorf("states %v %v", p.i.State(), p.r().State())
	}
	if p.ha.responder.HalfOpen() != 0 {
		t.Errorf("half-open count %d after IKE_AUTH", p.ha.responder.HalfOpen())
	}
	// IKE_SA_INIT, IKE_AUTH: four messages in all.
	if len(p.trace) != 4 {
		t.Errorf("%d datagrams, want 4", len(p.trace))
	}
}

// RFC 7296 §1.4.1: deleting the IKE SA deletes its CHILD_SAs on both sides.
func TestDeleteIKESAByEitherSide(t *testing.T) {
	for _, byInitiator := range []bool{true, false} {
		ic, rc, _ := pairConfig(2)
		p := newPair(t, ic, rc)
		p.establish()
		by, other := p.i, p.r()
		byNode, otherNode := p.mn, p.ha
		if !byInitiator {
			by, other, byNode, otherNode = other, by, otherNode, byNode
		}
		if err := by.Delete(p.now); err != nil {
			t.Fatal(err)
		}
		p.run()
		if !by.Done() || !other.Done() {
			t.Fatalf("done: %v %v", by.Done(), other.Done())
		}
		d1, d2 := eventsOf[IKEDown](byNode), eventsOf[IKEDown](otherNode)
		if len(d1) != 1 || d1[0].Reason != DownDeleted || len(d2) != 1 || d2[0].Reason != DownDeletedByPeer {
			t.Fatalf("IKEDown: %+v / %+v", d1, d2)
		}
		if !errors.Is(d2[0].Err, ErrDeleted) {
			t.Errorf("IKEDown error %v", d2[0].Err)
		}
		if !byInitiator && (d1[0].Assignment == nil || d1[0].Assignment.IPv6 != hoa) {
			t.Errorf("responder's IKEDown does not give back the assignment: %+v", d1[0].Assignment)
		}
		for _, n := range []*node{p.mn, p.ha} {
			if len(n.inbound) != 0 || len(n.outbound) != 0 {
				t.Errorf("%s dataplane not empty: %d/%d", n.name, len(n.inbound), len(n.outbound))
			}
			if len(eventsOf[ChildDown](n)) != 1 {
				t.Errorf("%s: %d ChildDown", n.name, len(eventsOf[ChildDown](n)))
			}
		}
	}
}

// RFC 7296 §1.4.1: a CHILD_SA is deleted with a Delete payload naming the
// sender's inbound SPI; the answer names the responder's.
func TestDeleteChildSA(t *testing.T) {
	ic, rc, _ := pairConfig(3)
	p := newPair(t, ic, rc)
	p.establish()
	spi := p.i.Children()[0].InSPI
	if err := p.r().DeleteChild(p.now, p.r().Children()[0].InSPI); err != nil {
		t.Fatal(err)
	}
	p.run()
	if len(p.mn.inbound)+len(p.mn.outbound)+len(p.ha.inbound)+len(p.ha.outbound) != 0 {
		t.Fatal("CHILD_SA still installed")
	}
	if len(p.i.Children()) != 0 || len(p.r().Children()) != 0 {
		t.Fatal("CHILD_SA still listed")
	}
	if d := eventsOf[ChildDown](p.mn); len(d) != 1 || d[0].Child.InSPI != spi || d[0].Reason != DownDeletedByPeer {
		t.Fatalf("mn ChildDown %+v", d)
	}
	if p.i.State() != StateEstablished {
		t.Fatal("IKE SA went down with its CHILD_SA")
	}
	if err := p.i.DeleteChild(p.now, spi); !errors.Is(err, ErrNoChild) {
		t.Fatalf("DeleteChild of a deleted CHILD_SA: %v", err)
	}
}

// RFC 7296 §2.1: the initiator retransmits a lost request; the responder
// answers a retransmitted request from its cache without processing it again.
func TestRetransmissionAndDuplicateRequestAnsweredFromCache(t *testing.T) {
	ic, rc, pool := pairConfig(4)
	p := newPair(t, ic, rc)
	lost := 0
	p.filter = func(dg Datagram) verdict {
		h, _ := wire.ParseHeader(dg.Payload)
		// Lose the first IKE_AUTH response: the responder has processed the
		// request, the initiator must retransmit it.
		if h.ExchangeType() == wire.ExchangeIKEAuth && h.Flags().Response() && lost == 0 {
			lost++
			return drop
		}
		return deliver
	}
	p.establish()
	if lost != 1 {
		t.Fatal("response not lost")
	}
	if len(pool.requests) != 1 {
		t.Fatalf("IKE_AUTH processed %d times", len(pool.requests))
	}
	// Retransmission after the first interval (4 s by default).
	if got := p.now.Sub(epoch); got != 4*time.Second {
		t.Errorf("established after %v, want 4s", got)
	}
	var auths, authResps [][]byte
	for _, dg := range p.trace {
		h, _ := wire.ParseHeader(dg.Payload)
		if h.ExchangeType() == wire.ExchangeIKEAuth {
			if h.Flags().Response() {
				authResps = append(authResps, dg.Payload)
			} else {
				auths = append(auths, dg.Payload)
			}
		}
	}
	if len(auths) != 2 || string(auths[0]) != string(auths[1]) {
		t.Errorf("retransmission not bit-identical (%d requests)", len(auths))
	}
	if len(authResps) != 2 || string(authResps[0]) != string(authResps[1]) {
		t.Errorf("cached response not replayed bit for bit (%d responses)", len(authResps))
	}
	if s := p.i.Stats(); s.Retransmitted != 1 {
		t.Errorf("initiator stats %+v", s)
	}
	if s := p.r().Stats(); s.Replayed != 1 || s.Answered != 1 {
		t.Errorf("responder stats %+v", s)
	}
	checkChildrenMatch(t, p.mn, p.ha)
}

// RFC 7296 §2.1, §2.4: retransmission intervals grow exponentially and the
// initiator gives up eventually.
func TestRetransmissionBackoffAndGiveUp(t *testing.T) {
	ic, rc, _ := pairConfig(5)
	ic.Retransmit = Retransmit{Timeout: time.Second, Base: 2, Tries: 3}
	p := newPair(t, ic, rc)
	p.filter = func(Datagram) verdict { return drop }
	p.start()
	p.runUntil(time.Hour, p.i.Done)
	if len(p.trace) != 4 {
		t.Fatalf("%d transmissions, want 1 + 3 retransmissions", len(p.trace))
	}
	// 0, 1, 1+2, 1+2+4, give up at 1+2+4+8.
	if got := p.now.Sub(epoch); got != 15*time.Second {
		t.Errorf("gave up after %v, want 15s", got)
	}
	d := eventsOf[IKEDown](p.mn)
	if len(d) != 1 || d[0].Reason != DownTimeout || !errors.Is(d[0].Err, ErrTimeout) {
		t.Fatalf("IKEDown %+v", d)
	}
}

// RFC 7296 §2.1: a retransmitted IKE_SA_INIT request is answered with the
// same response and creates no second SA.
func TestIKESAInitRetransmitAnsweredFromCache(t *testing.T) {
	ic, rc, _ := pairConfig(6)
	p := newPair(t, ic, rc)
	p.filter = func(dg Datagram) verdict {
		h, _ := wire.ParseHeader(dg.Payload)
		if h.ExchangeType() == wire.ExchangeIKESAInit && !h.Flags().Response() {
			return duplicate
		}
		return deliver
	}
	p.establish()
	var resps [][]byte
	for _, dg := range p.trace {
		h, _ := wire.ParseHeader(dg.Payload)
		if h.ExchangeType() == wire.ExchangeIKESAInit && h.Flags().Response() {
			resps = append(resps, dg.Payload)
		}
	}
	if len(resps) != 2 || string(resps[0]) != string(resps[1]) {
		t.Fatalf("%d IKE_SA_INIT responses, identical %v", len(resps), len(resps) == 2 && string(resps[0]) == string(resps[1]))
	}
	if c := p.ha.responder.Counters()[Created]; c != 1 {
		t.Errorf("%d SAs created", c)
	}
}

// RFC 7296 §2.1: a retransmitted IKE_SA_INIT request overtaken by the
// IKE_AUTH exchange reaches the established SA through its InitKey and is
// dropped: it creates no second SA.
func TestLateIKESAInitDuplicateAfterEstablishment(t *testing.T) {
	ic, rc, _ := pairConfig(7)
	p := newPair(t, ic, rc)
	p.filter = func(dg Datagram) verdict {
		h, _ := wire.ParseHeader(dg.Payload)
		if h.ExchangeType() == wire.ExchangeIKESAInit && !h.Flags().Response() {
			return lateCopy
		}
		return deliver
	}
	p.establish()
	p.advance(5 * time.Second)
	if c := p.ha.responder.Counters()[Created]; c != 1 || len(p.ha.sas) != 1 {
		t.Fatalf("%d SAs created, %d held", c, len(p.ha.sas))
	}
	if n := len(p.messages(wire.ExchangeIKESAInit, true)); n != 1 {
		t.Errorf("%d IKE_SA_INIT answers", n)
	}
	checkOnePair(t, p)
}

// RFC 7296 §1.4.1: deleting the IKE SA deletes all its CHILD_SAs, however
// many there are, on both sides.
func TestDeleteIKESADeletesEveryChildSA(t *testing.T) {
	for _, byInitiator := range []bool{true, false} {
		ic, rc, _ := pairConfig(12)
		p := newPair(t, ic, rc)
		p.establish()
		for range 2 {
			if err := p.i.CreateChild(p.now, ChildRequest{}); err != nil {
				t.Fatal(err)
			}
		}
		p.run()
		if len(p.i.Children()) != 3 || len(p.r().Children()) != 3 {
			t.Fatalf("%d / %d CHILD_SAs, want 3", len(p.i.Children()), len(p.r().Children()))
		}
		by := p.i
		if !byInitiator {
			by = p.r()
		}
		if err := by.Delete(p.now); err != nil {
			t.Fatal(err)
		}
		p.run()
		for _, n := range []*node{p.mn, p.ha} {
			if len(n.inbound) != 0 || len(n.outbound) != 0 {
				t.Errorf("%s dataplane not empty: %d/%d", n.name, len(n.inbound), len(n.outbound))
			}
			if got := len(eventsOf[ChildDown](n)); got != 3 {
				t.Errorf("%s: %d ChildDown, want 3", n.name, got)
			}
			if got := len(eventsOf[IKEDown](n)); got != 1 {
				t.Errorf("%s: %d IKEDown", n.name, got)
			}
		}
	}
}
