package ike

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// onlyChild returns the single installed CHILD_SA of an SA.
func onlyChild(t testing.TB, sa *SA) ChildInfo {
	t.Helper()
	cs := sa.Children()
	if len(cs) != 1 {
		t.Fatalf("%d CHILD_SAs, want 1: %+v", len(cs), cs)
	}
	return cs[0]
}

// checkOnePair checks that each dataplane holds exactly one CHILD_SA pair
// and that they mirror each other.
func checkOnePair(t testing.TB, p *pair) {
	t.Helper()
	for _, n := range []*node{p.mn, p.ha} {
		if len(n.inbound) != 1 || len(n.outbound) != 1 {
			t.Fatalf("%s dataplane holds %d inbound, %d outbound SAs", n.name, len(n.inbound), len(n.outbound))
		}
	}
	checkChildrenMatch(t, p.mn, p.ha)
}

// hasPayload reports whether a payload chain holds a payload of type pt.
func hasPayload(ps wire.Payloads, pt wire.PayloadType) bool {
	_, ok := ps.First(pt)
	return ok
}

// RFC 7296 §1.3.3, §2.8: a CHILD_SA is rekeyed by CREATE_CHILD_SA with
// REKEY_SA; the new SA replaces the old, which is then deleted. Initiated by
// either side, with and without PFS.
func TestRekeyChildSA(t *testing.T) {
	for _, tc := range []struct {
		name        string
		byResponder bool
		pfs         bool
	}{{"initiator", false, false}, {"responder", true, false}, {"initiator-pfs", false, true}, {"responder-pfs", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			ic, rc, _ := pairConfig(10)
			if tc.pfs {
				ic.ESPProposals = MustProposals("aes256gcm16-x25519")
				rc.ESPProposals = MustProposals("aes256gcm16-aes128gcm16-x25519-ecp256")
			}
			p := newPair(t, ic, rc)
			p.establish()
			by, byNode, other := p.i, p.mn, p.ha
			if tc.byResponder {
				by, byNode, other = p.r(), p.ha, p.mn
			}
			old := onlyChild(t, by)
			oldKeys := byNode.outbound[old.OutSPI].OutKey
			if err := by.RekeyChild(p.now, old.InSPI); err != nil {
				t.Fatal(err)
			}
			p.run()
			checkOnePair(t, p)
			now := onlyChild(t, by)
			if now.InSPI == old.InSPI || now.OutSPI == old.OutSPI {
				t.Fatalf("SPIs not renewed: %+v -> %+v", old, now)
			}
			if string(byNode.outbound[now.OutSPI].OutKey) == string(oldKeys) {
				t.Fatal("keys not renewed")
			}
			for _, n := range []*node{byNode, other} {
				if r := eventsOf[ChildRekeyed](n); len(r) != 1 {
					t.Errorf("%s: %d ChildRekeyed", n.name, len(r))
				}
				if d := eventsOf[ChildDown](n); len(d) != 1 || d[0].Reason != DownRekeyed {
					t.Errorf("%s: ChildDown %+v", n.name, d)
				}
			}
			reqs := p.messages(wire.ExchangeCreateChildSA, false)
			if len(reqs) != 1 {
				t.Fatalf("%d CREATE_CHILD_SA requests", len(reqs))
			}
			ps := inner(t, byNode, reqs[0])
			if hasPayload(ps, wire.PayloadKE) != tc.pfs {
				t.Errorf("KE payload present %v, want %v (PFS)", !tc.pfs, tc.pfs)
			}
			if n, ok := ps.Notify(wire.NotifyRekeySA); !ok {
				t.Error("no REKEY_SA")
			} else if spi, _ := n.ChildSPI(); spi != old.InSPI {
				t.Errorf("REKEY_SA names %08x, want the rekeyer's inbound SPI %08x", spi, old.InSPI)
			}
			// The new CHILD_SA works for a further exchange: delete it.
			if err := by.DeleteChild(p.now, now.InSPI); err != nil {
				t.Fatal(err)
			}
			p.run()
			if len(p.mn.inbound)+len(p.ha.inbound) != 0 {
				t.Fatal("delete after rekey failed")
			}
		})
	}
}

// RFC 7296 §2.8: the responder of a CHILD_SA rekey is ready to receive on
// the new SA before it answers, but keeps sending on the old one until the
// initiator deletes it.
func TestRekeyChildSAResponderDefersOutbound(t *testing.T) {
	ic, rc, _ := pairConfig(11)
	p := newPair(t, ic, rc)
	p.establish()
	old := onlyChild(t, p.i)
	// Hold back the initiator's Delete of the old CHILD_SA.
	held := false
	p.filter = func(dg Datagram) verdict {
		h, _ := wire.ParseHeader(dg.Payload)
		if dg.Local.Addr() == p.mn.addr && h.ExchangeType() == wire.ExchangeInformational && !h.Flags().Response() && !held {
			held = true
			return drop
		}
		return deliver
	}
	if err := p.i.RekeyChild(p.now, old.InSPI); err != nil {
		t.Fatal(err)
	}
	p.run()
	if len(p.ha.inbound) != 2 || len(p.ha.outbound) != 1 {
		t.Fatalf("responder before the Delete: %d inbound, %d outbound", len(p.ha.inbound), len(p.ha.outbound))
	}
	if _, ok := p.ha.outbound[old.InSPI]; !ok {
		t.Fatal("responder switched its outbound SA before the Delete of the old one")
	}
	p.advance(10 * time.Second) // the Delete is retransmitted
	checkOnePair(t, p)
}

// RFC 7296 §2.8.1: both ends rekey the same CHILD_SA at once. Each answers
// the other; the CHILD_SA made by the exchange with the lowest nonce is
// deleted by its creator, the old one by the creator of the survivor.
func TestSimultaneousChildSARekey(t *testing.T) {
	for seed := byte(20); seed < 28; seed++ {
		ic, rc, _ := pairConfig(seed)
		p := newPair(t, ic, rc)
		p.establish()
		a, b := onlyChild(t, p.i), onlyChild(t, p.r())
		if err := p.i.RekeyChild(p.now, a.InSPI); err != nil {
			t.Fatal(err)
		}
		if err := p.r().RekeyChild(p.now, b.InSPI); err != nil {
			t.Fatal(err)
		}
		p.run()
		checkOnePair(t, p)
		ci, cr := onlyChild(t, p.i), onlyChild(t, p.r())
		if ci.InSPI == a.InSPI || ci.OutSPI != cr.InSPI || cr.OutSPI != ci.InSPI {
			t.Fatalf("seed %d: survivors do not pair up: %+v / %+v", seed, ci, cr)
		}
		if got := len(p.messages(wire.ExchangeCreateChildSA, false)); got != 2 {
			t.Errorf("seed %d: %d CREATE_CHILD_SA requests", seed, got)
		}
		// Both sides delete one CHILD_SA: the old one and a redundant one.
		if got := len(p.messages(wire.ExchangeInformational, false)); got != 2 {
			t.Errorf("seed %d: %d deletes, want 2", seed, got)
		}
		if p.i.State() != StateEstablished || p.r().State() != StateEstablished {
			t.Fatalf("seed %d: IKE SA lost", seed)
		}
	}
}

// RFC 7296 §2.8.1, second case: one side's rekey request is lost, the other
// completes its rekey and deletes the old SA; the late request then finds no
// CHILD_SA (CHILD_SA_NOT_FOUND), which the first side ignores.
func TestChildSARekeyCollisionWithLostRequest(t *testing.T) {
	ic, rc, _ := pairConfig(12)
	p := newPair(t, ic, rc)
	p.establish()
	a, b := onlyChild(t, p.i), onlyChild(t, p.r())
	lost := false
	p.filter = func(dg Datagram) verdict {
		h, _ := wire.ParseHeader(dg.Payload)
		if dg.Local.Addr() == p.mn.addr && h.ExchangeType() == wire.ExchangeCreateChildSA && !lost {
			lost = true
			return drop
		}
		return deliver
	}
	if err := p.i.RekeyChild(p.now, a.InSPI); err != nil {
		t.Fatal(err)
	}
	if err := p.r().RekeyChild(p.now, b.InSPI); err != nil {
		t.Fatal(err)
	}
	p.advance(30 * time.Second)
	checkOnePair(t, p)
	if p.i.State() != StateEstablished {
		t.Fatal("IKE SA lost")
	}
	var notFound bool
	for _, m := range p.messages(wire.ExchangeCreateChildSA, true) {
		if _, ok := inner(t, p.ha, m).Notify(wire.NotifyChildSANotFound); ok {
			notFound = true
		}
	}
	if !notFound {
		t.Error("the late request was not answered with CHILD_SA_NOT_FOUND")
	}
}

// RFC 7296 §1.3.2, §2.18: rekeying the IKE SA gives new SPIs and keys; the
// CHILD_SAs move to the new IKE SA unchanged; the old IKE SA is deleted.
func TestRekeyIKESA(t *testing.T) {
	for _, byResponder := range []bool{false, true} {
		ic, rc, _ := pairConfig(30)
		p := newPair(t, ic, rc)
		p.establish()
		by, byNode, other := p.i, p.mn, p.ha
		if byResponder {
			by, byNode, other = p.r(), p.ha, p.mn
		}
		old := by.SPIs()
		child := onlyChild(t, p.i)
		if err := by.RekeyIKE(p.now); err != nil {
			t.Fatal(err)
		}
		p.run()
		now := by.SPIs()
		if now == old || now != p.mn.sas[0].SPIs() || now != p.ha.sas[0].SPIs() {
			t.Fatalf("SPIs %v -> %v (peer %v)", old, now, p.ha.sas[0].SPIs())
		}
		if now.I == old.I || now.R == old.R {
			t.Errorf("an SPI was kept: %v -> %v", old, now)
		}
		// The rekey initiator is the original initiator of the new SA.
		if p.i.cur.initiator == byResponder || p.r().cur.initiator != byResponder {
			t.Error("I flag roles not moved to the rekey initiator")
		}
		for _, n := range []*node{byNode, other} {
			if r := eventsOf[IKERekeyed](n); len(r) != 1 || r[0].Old != old || r[0].New != now {
				t.Errorf("%s IKERekeyed %+v", n.name, r)
			}
			if r := eventsOf[IKERetired](n); len(r) != 1 || r[0].SPIs != old {
				t.Errorf("%s IKERetired %+v", n.name, r)
			}
			if len(n.bySPI) != 1 {
				t.Errorf("%s routes %d SPIs after the rekey", n.name, len(n.bySPI))
			}
		}
		if onlyChild(t, p.i).InSPI != child.InSPI {
			t.Error("CHILD_SA changed with the IKE SA rekey")
		}
		// The new IKE SA carries further exchanges: rekey the CHILD_SA, then
		// delete everything.
		if err := p.r().RekeyChild(p.now, onlyChild(t, p.r()).InSPI); err != nil {
			t.Fatal(err)
		}
		p.run()
		checkOnePair(t, p)
		if err := p.i.Delete(p.now); err != nil {
			t.Fatal(err)
		}
		p.run()
		if !p.i.Done() || len(p.ha.sas) != 0 {
			t.Fatal("delete over the rekeyed IKE SA failed")
		}
	}
}

// RFC 7296 §2.8.2: both ends rekey the IKE SA at once; one new IKE SA
// survives on both sides and inherits the CHILD_SAs.
func TestSimultaneousIKESARekey(t *testing.T) {
	for seed := byte(40); seed < 48; seed++ {
		ic, rc, _ := pairConfig(seed)
		p := newPair(t, ic, rc)
		p.establish()
		if err := p.i.RekeyIKE(p.now); err != nil {
			t.Fatal(err)
		}
		if err := p.r().RekeyIKE(p.now); err != nil {
			t.Fatal(err)
		}
		p.run()
		si, sr := p.i.SPIs(), p.r().SPIs()
		if si != sr {
			t.Fatalf("seed %d: the sides kept different IKE SAs: %v / %v", seed, si, sr)
		}
		if len(p.i.others) != 0 || len(p.r().others) != 0 || p.i.peerRekey != nil || p.r().peerRekey != nil {
			t.Fatalf("seed %d: IKE SAs left over: %d / %d", seed, len(p.i.others), len(p.r().others))
		}
		if len(p.mn.bySPI) != 1 || len(p.ha.bySPI) != 1 {
			t.Fatalf("seed %d: routes %d / %d", seed, len(p.mn.bySPI), len(p.ha.bySPI))
		}
		checkOnePair(t, p)
		// The survivor works.
		if err := p.i.CheckLiveness(p.now); err != nil {
			t.Fatal(err)
		}
		p.advance(time.Minute)
		if p.i.Done() || p.r().Done() {
			t.Fatalf("seed %d: the surviving IKE SA does not work", seed)
		}
	}
}

// RFC 7296 §2.25.1: a request to rekey the IKE SA while the peer is busy
// with a CHILD_SA exchange gets TEMPORARY_FAILURE; the rekey is retried
// later and succeeds.
func TestIKESARekeyDuringChildExchangeGetsTemporaryFailure(t *testing.T) {
	ic, rc, _ := pairConfig(31)
	p := newPair(t, ic, rc)
	p.establish()
	// The responder's CHILD_SA rekey is in flight (its request delayed)
	// when the initiator's IKE SA rekey arrives.
	p.delay = 10 * time.Millisecond
	if err := p.r().RekeyChild(p.now, onlyChild(t, p.r()).InSPI); err != nil {
		t.Fatal(err)
	}
	if err := p.i.RekeyIKE(p.now); err != nil {
		t.Fatal(err)
	}
	p.run()
	var tf bool
	for _, e := range eventsOf[ExchangeFailed](p.mn) {
		tf = tf || e.Notify == wire.NotifyTemporaryFailure
	}
	if !tf {
		t.Fatalf("no TEMPORARY_FAILURE; events %+v", p.mn.events)
	}
	checkOnePair(t, p)
}

// RFC 7296 §2.8: lifetimes make each side rekey by itself.
func TestRekeyOnLifetime(t *testing.T) {
	ic, rc, _ := pairConfig(32)
	ic.ChildRekeyTime = time.Hour
	ic.IKERekeyTime = 4 * time.Hour
	ic.RekeyJitter = time.Minute
	p := newPair(t, ic, rc)
	p.establish()
	p.advance(58 * time.Minute)
	if len(eventsOf[ChildRekeyed](p.mn)) != 0 {
		t.Fatal("rekeyed before the lifetime less the jitter")
	}
	p.advance(3 * time.Minute)
	if len(eventsOf[ChildRekeyed](p.mn)) != 1 {
		t.Fatal("CHILD_SA not rekeyed after its lifetime")
	}
	p.advance(4 * time.Hour)
	if len(eventsOf[IKERekeyed](p.mn)) == 0 {
		t.Fatal("IKE SA not rekeyed after its lifetime")
	}
	checkOnePair(t, p)
}

// RFC 7296 §1.3.1, RFC 4877 §7.2: an additional CHILD_SA beside the first,
// here the transport-mode SA for Binding Updates and Acknowledgements
// (Mobility Header types 5 and 6 from the home address to the home agent),
// with PFS.
func TestCreateAdditionalChildSA(t *testing.T) {
	ic, rc, _ := pairConfig(33)
	ic.ESPProposals = MustProposals("aes256gcm16-x25519")
	rc.ESPProposals = MustProposals("aes256gcm16-x25519")
	rc.Mode = Transport
	rc.LocalTS = nil
	p := newPair(t, ic, rc)
	p.establish()
	mh := func(a netip.Addr) wire.TrafficSelector {
		s := wire.AddrSelector(a)
		s.IPProtocol = wire.IPProtocolMH
		s.StartPort, s.EndPort = wire.MHTypeRange(5, 6)
		return s
	}
	req := ChildRequest{LocalTS: []wire.TrafficSelector{mh(hoa.Addr())}, RemoteTS: []wire.TrafficSelector{mh(p.ha.addr)}, Mode: Transport}
	if err := p.i.CreateChild(p.now, req); err != nil {
		t.Fatal(err)
	}
	p.run()
	if len(p.i.Children()) != 2 || len(p.r().Children()) != 2 {
		t.Fatalf("%d / %d CHILD_SAs", len(p.i.Children()), len(p.r().Children()))
	}
	checkChildrenMatch(t, p.mn, p.ha)
	up := eventsOf[ChildUp](p.mn)
	c := up[len(up)-1].Child
	if c.Mode != Transport || len(c.LocalTS) != 1 || c.LocalTS[0].IPProtocol != wire.IPProtocolMH || c.LocalTS[0].StartPort != 0x0500 {
		t.Fatalf("new CHILD_SA %+v", c)
	}
	if !hasPayload(inner(t, p.mn, p.messages(wire.ExchangeCreateChildSA, false)[0]), wire.PayloadKE) {
		t.Error("no KE: PFS not used")
	}
	// A responder that does not do transport mode refuses it.
	ic, rc, _ = pairConfig(34)
	rc.LocalTS = nil
	p = newPair(t, ic, rc)
	p.establish()
	if err := p.i.CreateChild(p.now, req); err != nil {
		t.Fatal(err)
	}
	p.run()
	if len(p.i.Children()) != 1 || len(eventsOf[ChildFailed](p.mn)) != 1 || len(p.ha.inbound) != 1 {
		t.Fatalf("tunnel answer to a transport CHILD_SA: %d children, failures %+v", len(p.i.Children()), eventsOf[ChildFailed](p.mn))
	}
}

// RFC 7296 §2.8.2, second case: both sides start an IKE SA rekey, but one
// side's request is lost; the other completes its rekey and deletes the old
// IKE SA. The side that noticed the collision answers the Delete, forgets
// its own rekey and moves to the new IKE SA.
func TestSimultaneousIKESARekeyNoticedByOneSide(t *testing.T) {
	ic, rc, _ := pairConfig(35)
	p := newPair(t, ic, rc)
	p.establish()
	lost := false
	p.filter = func(dg Datagram) verdict {
		h, _ := wire.ParseHeader(dg.Payload)
		if dg.Local.Addr() == p.ha.addr && h.ExchangeType() == wire.ExchangeCreateChildSA && !h.Flags().Response() && !lost {
			lost = true
			return drop
		}
		return deliver
	}
	if err := p.i.RekeyIKE(p.now); err != nil {
		t.Fatal(err)
	}
	if err := p.r().RekeyIKE(p.now); err != nil {
		t.Fatal(err)
	}
	p.advance(time.Minute)
	if !lost {
		t.Fatal("nothing lost")
	}
	if p.i.SPIs() != p.r().SPIs() || len(p.i.others)+len(p.r().others) != 0 || p.r().peerRekey != nil {
		t.Fatalf("IKE SAs %v / %v, left over %d / %d", p.i.SPIs(), p.r().SPIs(), len(p.i.others), len(p.r().others))
	}
	if r := eventsOf[IKERekeyed](p.ha); len(r) != 1 || r[0].Initiator {
		t.Fatalf("responder IKERekeyed %+v", r)
	}
	checkOnePair(t, p)
	if err := p.r().CheckLiveness(p.now); err != nil {
		t.Fatal(err)
	}
	p.advance(time.Minute)
	if p.r().Done() {
		t.Fatal("the surviving IKE SA does not work")
	}
}

// RFC 7296 §2.4: a peer that stops answering during a rekey is dead: the
// CREATE_CHILD_SA request times out and the whole IKE SA goes.
func TestRekeyTimeoutEndsIKESA(t *testing.T) {
	for _, ike := range []bool{false, true} {
		ic, rc, _ := pairConfig(36)
		ic.Retransmit = Retransmit{Timeout: time.Second, Base: 2, Tries: 2}
		p := newPair(t, ic, rc)
		p.establish()
		p.filter = func(Datagram) verdict { return drop }
		var err error
		if ike {
			err = p.i.RekeyIKE(p.now)
		} else {
			err = p.i.RekeyChild(p.now, onlyChild(t, p.i).InSPI)
		}
		if err != nil {
			t.Fatal(err)
		}
		p.advance(time.Minute)
		if d := eventsOf[IKEDown](p.mn); len(d) != 1 || d[0].Reason != DownTimeout || len(eventsOf[LivenessFailed](p.mn)) != 1 {
			t.Fatalf("IKE rekey %v: IKEDown %+v", ike, d)
		}
		if len(p.mn.inbound)+len(p.mn.outbound) != 0 {
			t.Fatal("CHILD_SAs left installed")
		}
	}
}

// A responder configured without PFS still accepts a CHILD_SA rekey whose
// initiator insists on PFS (as strongSwan does with esp_proposals =
// aes128gcm16-x25519), in a group it implements.
func TestRekeyChildSAResponderAcceptsPeerPFS(t *testing.T) {
	ic, rc, _ := pairConfig(37)
	ic.ESPProposals = MustProposals("aes128gcm16-x25519")
	rc.ESPProposals = MustProposals("aes256gcm16-aes128gcm16")
	p := newPair(t, ic, rc)
	p.establish()
	if err := p.i.RekeyChild(p.now, onlyChild(t, p.i).InSPI); err != nil {
		t.Fatal(err)
	}
	p.run()
	checkOnePair(t, p)
	if len(eventsOf[ChildRekeyed](p.mn)) != 1 {
		t.Fatalf("rekey failed: %+v", eventsOf[ChildFailed](p.mn))
	}
	resp := inner(t, p.ha, p.messages(wire.ExchangeCreateChildSA, true)[0])
	if !hasPayload(resp, wire.PayloadKE) {
		t.Error("no KEr: PFS not done")
	}
}

// RFC 7296 §2.8.2: both sides rekey the IKE SA at once and the peer answers
// ours with INVALID_KE_PAYLOAD (its policy now wants another group). The
// peer's rekey, which we answered, stands alone: the initiator moves to it
// instead of retrying its own (a retry would leave the peer's new IKE SA
// behind, and the peer's Delete of the old one would end everything).
func TestSimultaneousIKESARekeyAnsweredInvalidKE(t *testing.T) {
	ic, rc, _ := pairConfig(37)
	p := newPair(t, ic, rc)
	p.establish()
	r := p.r()
	r.cfg.ikeProposals = MustProposals("aes256gcm16-aes128gcm16-chacha20poly1305-prfsha256-prfsha384-prfsha512-ecp256")
	if err := p.i.RekeyIKE(p.now); err != nil {
		t.Fatal(err)
	}
	if err := r.RekeyIKE(p.now); err != nil {
		t.Fatal(err)
	}
	p.advance(time.Minute)
	var invalidKE bool
	for _, e := range eventsOf[ExchangeFailed](p.mn) {
		invalidKE = invalidKE || e.Notify == wire.NotifyInvalidKEPayload
	}
	if !invalidKE {
		t.Fatalf("the initiator's rekey was not answered INVALID_KE_PAYLOAD; events %+v", p.mn.events)
	}
	if p.i.Done() || r.Done() {
		t.Fatalf("IKE SA ended: initiator %v, responder %v", p.i.Done(), r.Done())
	}
	if p.i.SPIs() != r.SPIs() || len(p.i.others)+len(r.others) != 0 || p.i.peerRekey != nil || r.peerRekey != nil {
		t.Fatalf("IKE SAs %v / %v, left over %d / %d", p.i.SPIs(), r.SPIs(), len(p.i.others), len(r.others))
	}
	if len(p.mn.bySPI) != 1 || len(p.ha.bySPI) != 1 {
		t.Fatalf("routes %d / %d", len(p.mn.bySPI), len(p.ha.bySPI))
	}
	checkOnePair(t, p)
	if err := p.i.CheckLiveness(p.now); err != nil {
		t.Fatal(err)
	}
	p.advance(time.Minute)
	if p.i.Done() || r.Done() {
		t.Fatal("the surviving IKE SA does not work")
	}
}
