package ike

import (
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// Regression tests of review findings, each named after the RFC rule it
// checks.

// halfOpen runs IKE_SA_INIT by hand and returns the initiator, whose
// IKE_AUTH request is sent (and lost), and the responder SA, both in
// StateAuth.
func halfOpen(t *testing.T, seed byte) (i, r *SA, mn, ha netip.AddrPort, now time.Time) {
	t.Helper()
	ic, rc, _ := pairConfig(seed)
	now = epoch
	mn = netip.MustParseAddrPort("[2001:db8:1::1]:500")
	ha = netip.MustParseAddrPort("[2001:db8:2::2]:500")
	resp, err := NewResponder(ResponderConfig{Config: *rc})
	if err != nil {
		t.Fatal(err)
	}
	if i, err = NewInitiator(ic, Path{Local: mn, Remote: ha}); err != nil {
		t.Fatal(err)
	}
	if err := i.Initiate(now); err != nil {
		t.Fatal(err)
	}
	req := i.Ready().Datagrams[0]
	i.Advance()
	res := resp.Handle(now, Datagram{Local: ha, Remote: mn, Payload: req.Payload})
	if res.SA == nil {
		t.Fatalf("responder: %v %v", res.Outcome, res.Err)
	}
	r = res.SA
	answer := r.Ready().Datagrams[0]
	r.Advance()
	i.Receive(now, Datagram{Local: mn, Remote: ha, Payload: answer.Payload})
	out := i.Ready()
	i.Advance()
	if len(out.Datagrams) != 1 || i.State() != StateAuth || r.State() != StateAuth {
		t.Fatalf("initiator %v with %d datagrams, responder %v", i.State(), len(out.Datagrams), r.State())
	}
	return i, r, mn, ha, now
}

// RFC 7296 §2.2, §3.14: before the IKE_SA_INIT response the initiator has
// no keys, so nothing protected can be for it. A request with its SPIi and
// a zero SPIr (anyone who saw the cleartext IKE_SA_INIT request can forge
// one) is dropped and counted, and the SA goes on to complete IKE_SA_INIT.
func TestRFC7296RequestBeforeKeysDropped(t *testing.T) {
	ic, rc, _ := pairConfig(6)
	p := newPair(t, ic, rc)
	p.start()
	var b wire.Builder
	b.Reset(nil, wire.HeaderFields{SPIi: p.i.SPIs().I, ExchangeType: wire.ExchangeInformational})
	b.Add(wire.RawPayload{Type: wire.PayloadSK, Next: wire.PayloadNone, Body: make([]byte, 40)})
	forged, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	p.i.Receive(p.now, Datagram{Local: p.i.Path().Local, Remote: p.i.Path().Remote, Payload: forged})
	if got := p.i.Stats().DroppedNotEstablished; got != 1 {
		t.Errorf("DroppedNotEstablished = %d, want 1", got)
	}
	if p.i.Done() || p.i.State() != StateInit {
		t.Fatalf("initiator %v (done %v) after a forged request", p.i.State(), p.i.Done())
	}
	p.runUntil(time.Minute, func() bool {
		return len(eventsOf[IKEUp](p.mn)) == 1 && len(eventsOf[IKEUp](p.ha)) == 1
	})
}

// deliverTo delivers msg to sa on the path from peer to us and returns what sa
// made of it.
func deliverTo(sa *SA, now time.Time, us, peer netip.AddrPort, msg []byte) Ready {
	sa.Receive(now, Datagram{Local: us, Remote: peer, Payload: msg})
	r := sa.Ready()
	sa.Advance()
	return r
}

// RFC 5685 §5, §6 and §11: a client acts on a REDIRECT after IKE_SA_INIT
// only once the gateway's AUTH has verified. While IKE_AUTH is in flight an
// INFORMATIONAL REDIRECT (protected with keys any D-H partner has) is
// neither answered nor reported.
func TestRFC5685InformationalRedirectNeedsAuthenticatedPeer(t *testing.T) {
	i, r, mn, ha, now := halfOpen(t, 3)
	evil := netip.MustParseAddr("2001:db8:666::1")
	msg, err := r.protected(r.cur, wire.ExchangeInformational, 0, false, &wire.Redirect{Gateway: wire.GatewayAddr(evil)})
	if err != nil {
		t.Fatal(err)
	}
	out := deliverTo(i, now, mn, ha, msg)
	for _, e := range out.Events {
		t.Errorf("event %T %+v before the gateway authenticated", e, e)
	}
	if len(out.Datagrams) != 0 {
		t.Errorf("%d datagrams answer a request before IKE_AUTH completed", len(out.Datagrams))
	}
	if got := i.Stats().DroppedNotEstablished; got != 1 {
		t.Errorf("DroppedNotEstablished = %d, want 1", got)
	}
}

// RFC 7296 §1.2, §2.2: IKE_SA_INIT and IKE_AUTH come first; no other
// exchange may run before IKE_AUTH completes. The initiator takes no request
// of a responder that has not authenticated: a Delete does not end its SA,
// a CREATE_CHILD_SA or liveness check is not answered.
func TestRFC7296InitiatorIgnoresRequestsBeforeIKEAuthCompletes(t *testing.T) {
	for _, tc := range []struct {
		name string
		ex   wire.ExchangeType
		ps   []wire.Payload
	}{
		{"delete", wire.ExchangeInformational, []wire.Payload{ptr(wire.DeleteIKESA())}},
		{"liveness", wire.ExchangeInformational, nil},
		{"create-child", wire.ExchangeCreateChildSA, []wire.Payload{offerSA(DefaultESPProposals(), wire.ProtocolESP, spiBytes(0x1234), false, 0),
			&wire.Nonce{Data: make([]byte, 32)}, ptr(wire.TSi{Selectors: AnyTS()}), ptr(wire.TSr{Selectors: AnyTS()})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			i, r, mn, ha, now := halfOpen(t, 4)
			msg, err := r.protected(r.cur, tc.ex, 0, false, tc.ps...)
			if err != nil {
				t.Fatal(err)
			}
			out := deliverTo(i, now, mn, ha, msg)
			if len(out.Events) != 0 || len(out.Datagrams) != 0 || len(out.ChildOps) != 0 {
				t.Errorf("initiator acted on a request before IKE_AUTH completed: %+v", out)
			}
			if i.Done() || i.State() != StateAuth || i.cur.peerNext != 0 {
				t.Errorf("initiator %v (done %v, peer Message ID %d)", i.State(), i.Done(), i.cur.peerNext)
			}
		})
	}
}

// RFC 7296 §1.2, §2.2: the responder takes nothing but IKE_AUTH before the
// IKE SA is established. An INFORMATIONAL request with the Message ID the
// IKE_AUTH request will carry is dropped, so it cannot use that ID up: the
// IKE_AUTH that follows completes.
func TestRFC7296ResponderTakesOnlyIKEAuthBeforeEstablished(t *testing.T) {
	i, r, mn, ha, now := halfOpen(t, 8)
	msg, err := i.protected(i.cur, wire.ExchangeInformational, 1, false)
	if err != nil {
		t.Fatal(err)
	}
	if out := deliverTo(r, now, ha, mn, msg); len(out.Datagrams) != 0 || len(out.Events) != 0 {
		t.Errorf("responder acted on an INFORMATIONAL before IKE_AUTH: %+v", out)
	}
	if got := r.Stats().DroppedNotEstablished; got != 1 {
		t.Errorf("DroppedNotEstablished = %d, want 1", got)
	}
	// The initiator sends its IKE_AUTH request again (the first was lost).
	now = now.Add(4 * time.Second)
	i.Tick(now)
	again := i.Ready()
	i.Advance()
	if len(again.Datagrams) != 1 {
		t.Fatalf("initiator sent %d datagrams, want its IKE_AUTH request", len(again.Datagrams))
	}
	out := deliverTo(r, now, ha, mn, again.Datagrams[0].Payload)
	if len(out.Datagrams) != 1 || r.State() != StateEstablished {
		t.Fatalf("responder %v after IKE_AUTH, %d datagrams", r.State(), len(out.Datagrams))
	}
	deliverTo(i, now, mn, ha, out.Datagrams[0].Payload)
	if i.State() != StateEstablished {
		t.Errorf("initiator %v after the IKE_AUTH response", i.State())
	}
}

// RFC 7296 §1.3 and §3.10.1 (NO_ADDITIONAL_SAS): an authenticated peer
// cannot make us hold CHILD_SAs without bound. Beyond Config.MaxChildren a
// CREATE_CHILD_SA is refused with NO_ADDITIONAL_SAS; the IKE SA stays up
// and a rekey, which replaces a CHILD_SA, still works at the limit.
func TestRFC7296NoAdditionalSAsAboveMaxChildren(t *testing.T) {
	ic, rc, _ := pairConfig(7)
	p := newPair(t, ic, rc)
	p.establish()
	const asked = 40
	for range asked {
		if err := p.i.CreateChild(p.now, ChildRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	p.run()
	r := p.r()
	if n := len(r.Children()); n != DefaultMaxChildren || len(p.ha.inbound) != DefaultMaxChildren {
		t.Fatalf("responder holds %d CHILD_SAs (%d inbound), want %d", n, len(p.ha.inbound), DefaultMaxChildren)
	}
	refused := 0
	for _, f := range eventsOf[ChildFailed](p.mn) {
		if f.Notify != wire.NotifyNoAdditionalSAs || !f.ByPeer {
			t.Errorf("CHILD_SA refused with %v (by peer %v), want NO_ADDITIONAL_SAS", f.Notify, f.ByPeer)
		}
		refused++
	}
	if want := asked - (DefaultMaxChildren - 1); refused != want {
		t.Errorf("%d CHILD_SAs refused, want %d", refused, want)
	}
	checkChildrenMatch(t, p.mn, p.ha)
	if err := p.i.RekeyChild(p.now, p.i.Children()[0].InSPI); err != nil {
		t.Fatal(err)
	}
	p.run()
	if len(eventsOf[ChildRekeyed](p.mn)) != 1 || len(r.Children()) != DefaultMaxChildren || r.State() != StateEstablished {
		t.Errorf("rekey at the limit: %d rekeyed, %d CHILD_SAs, responder %v", len(eventsOf[ChildRekeyed](p.mn)), len(r.Children()), r.State())
	}
	checkChildrenMatch(t, p.mn, p.ha)
}

// RFC 7296 §2.18, §2.25: the initiator of an IKE SA rekey deletes the old
// IKE SA. A peer that rekeys and never deletes cannot make us keep old IKE
// SAs (keys, routed SPIs) without bound: while two wait for their Delete a
// further rekey is refused with TEMPORARY_FAILURE, and each is retired
// Config.HalfOpenTimeout after it was replaced.
func TestRFC7296OldIKESAsBoundedWhenPeerNeverDeletes(t *testing.T) {
	ic, rc, _ := pairConfig(9)
	p := newPair(t, ic, rc)
	p.establish()
	r := p.r()
	// The peer's INFORMATIONAL requests (its Deletes) never arrive.
	p.filter = func(dg Datagram) verdict {
		h, err := wire.ParseHeader(dg.Payload)
		if err == nil && dg.Local.Addr() == p.mn.addr && h.ExchangeType() == wire.ExchangeInformational && !h.Flags().Response() {
			return drop
		}
		return deliver
	}
	for range 4 {
		if err := p.i.RekeyIKE(p.now); err != nil {
			t.Fatal(err)
		}
		p.run()
		if len(r.others) > maxOldIKESAs {
			t.Fatalf("responder holds %d old IKE SAs", len(r.others))
		}
	}
	rekeyed := eventsOf[IKERekeyed](p.ha)
	if len(rekeyed) != maxOldIKESAs {
		t.Fatalf("responder took %d IKE SA rekeys, want %d", len(rekeyed), maxOldIKESAs)
	}
	var refused int
	for _, f := range eventsOf[ExchangeFailed](p.mn) {
		if f.Exchange == wire.ExchangeCreateChildSA && f.Notify == wire.NotifyTemporaryFailure {
			refused++
		}
	}
	if refused != 2 {
		t.Errorf("%d IKE SA rekeys refused with TEMPORARY_FAILURE, want 2", refused)
	}
	p.advance(DefaultHalfOpenTimeout + time.Second)
	retired := map[SPIs]bool{}
	for _, e := range eventsOf[IKERetired](p.ha) {
		retired[e.SPIs] = true
	}
	for _, e := range rekeyed {
		if !retired[e.Old] {
			t.Errorf("old IKE SA %v still held after %v", e.Old, DefaultHalfOpenTimeout)
		}
	}
	if r.State() != StateEstablished || len(r.others) > maxOldIKESAs {
		t.Errorf("responder %v holding %d old IKE SAs", r.State(), len(r.others))
	}
}

// zeroKE returns the payloads of a decrypted message with the Key Exchange
// Data of its KE payload zeroed: an X25519 value that fails the checks of
// RFC 6989 (RFC 8031 §2.3).
func zeroKE(t *testing.T, ps wire.Payloads) []wire.Payload {
	t.Helper()
	var out []wire.Payload
	found := false
	for _, q := range ps {
		if q.Type == wire.PayloadKE {
			q.Body = slices.Clone(q.Body)
			clear(q.Body[4:])
			found = true
		}
		out = append(out, q)
	}
	if !found {
		t.Fatal("no KE payload to spoil")
	}
	return out
}

// RFC 6989 §2.5: an invalid KE payload in a request after the IKE SA is
// established (CREATE_CHILD_SA for a CHILD_SA with PFS, or for a rekey of
// the IKE SA) is answered with INVALID_SYNTAX and the IKE SA is dropped.
func TestRFC6989InvalidKEInRequestDropsIKESA(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(p *pair) error
	}{
		{"create-child", func(p *pair) error { return p.i.CreateChild(p.now, ChildRequest{}) }},
		{"rekey-child", func(p *pair) error { return p.i.RekeyChild(p.now, onlyChild(p.t, p.i).InSPI) }},
		{"rekey-ike", func(p *pair) error { return p.i.RekeyIKE(p.now) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ic, rc, _ := pairConfig(10)
			ic.ESPProposals = MustProposals("aes256gcm16-x25519")
			rc.ESPProposals = MustProposals("aes256gcm16-x25519")
			p := newPair(t, ic, rc)
			p.establish()
			r := p.r()
			id := p.i.cur.nextID
			if err := tc.start(p); err != nil {
				t.Fatal(err)
			}
			sent := p.i.Ready().Datagrams
			p.i.Advance()
			if len(sent) != 1 {
				t.Fatalf("%d datagrams sent", len(sent))
			}
			spoilt, err := p.i.protected(p.i.cur, wire.ExchangeCreateChildSA, id, false, zeroKE(t, inner(t, p.mn, sent[0].Payload))...)
			if err != nil {
				t.Fatal(err)
			}
			r.Receive(p.now, Datagram{Local: r.Path().Local, Remote: r.Path().Remote, Payload: spoilt})
			out := r.Ready()
			r.Advance()
			if len(out.Datagrams) != 1 {
				t.Fatalf("%d answers", len(out.Datagrams))
			}
			if n, ok := inner(t, p.ha, out.Datagrams[0].Payload).Notify(wire.NotifyInvalidSyntax); !ok {
				t.Errorf("answer is not INVALID_SYNTAX: %+v", n)
			}
			var down []IKEDown
			for _, e := range out.Events {
				if d, ok := e.(IKEDown); ok {
					down = append(down, d)
				}
			}
			if !r.Done() || len(down) != 1 || down[0].Reason != DownProtocolError {
				t.Errorf("responder done %v, IKEDown %+v", r.Done(), down)
			}
		})
	}
}

// RFC 6989 §2.5: an invalid KE payload in a CREATE_CHILD_SA response makes
// the initiator delete the IKE SA at once, with a Delete in a new exchange.
// After an IKE SA rekey the responder cannot tell that Delete from the one
// that completes a rekey: it retires the old IKE SA and keeps the new one,
// which the initiator never adopted, until liveness checks find it dead.
func TestRFC6989InvalidKEInResponseDeletesIKESA(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(p *pair) error
	}{
		{"create-child", func(p *pair) error { return p.i.CreateChild(p.now, ChildRequest{}) }},
		{"rekey-child", func(p *pair) error { return p.i.RekeyChild(p.now, onlyChild(p.t, p.i).InSPI) }},
		{"rekey-ike", func(p *pair) error { return p.i.RekeyIKE(p.now) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ic, rc, _ := pairConfig(11)
			ic.ESPProposals = MustProposals("aes256gcm16-x25519")
			rc.ESPProposals = MustProposals("aes256gcm16-x25519")
			p := newPair(t, ic, rc)
			p.establish()
			var answer []byte
			p.filter = func(dg Datagram) verdict {
				h, err := wire.ParseHeader(dg.Payload)
				if err == nil && h.ExchangeType() == wire.ExchangeCreateChildSA && h.Flags().Response() && answer == nil {
					answer = dg.Payload
					return drop
				}
				return deliver
			}
			if err := tc.start(p); err != nil {
				t.Fatal(err)
			}
			p.run()
			if answer == nil {
				t.Fatal("no CREATE_CHILD_SA response")
			}
			h, _ := wire.ParseHeader(answer)
			var rike *ikeSA
			for _, ike := range p.r().ikes() {
				if ike.spis == (SPIs{I: h.SPIi(), R: h.SPIr()}) {
					rike = ike
				}
			}
			spoilt, err := p.r().protected(rike, wire.ExchangeCreateChildSA, h.MessageID(), true, zeroKE(t, inner(t, p.ha, answer))...)
			if err != nil {
				t.Fatal(err)
			}
			p.mn.receive(p.now, Datagram{Local: p.i.Path().Local, Remote: p.i.Path().Remote, Payload: spoilt}, nil)
			p.runUntil(time.Minute, func() bool { return p.i.Done() })
			down := eventsOf[IKEDown](p.mn)
			if len(down) != 1 || down[0].Reason != DownProtocolError {
				t.Errorf("initiator IKEDown %+v, want one for a protocol error", down)
			}
			if tc.name == "rekey-ike" {
				if d := eventsOf[IKERetired](p.ha); len(d) != 1 || d[0].SPIs != down[0].SPIs {
					t.Errorf("responder retired %+v, want the IKE SA the initiator deleted (%v)", d, down[0].SPIs)
				}
				return
			}
			if d := eventsOf[IKEDown](p.ha); len(d) != 1 || d[0].Reason != DownDeletedByPeer {
				t.Errorf("responder IKEDown %+v, want the initiator's Delete", d)
			}
		})
	}
}

// RFC 7296 §3.10.1: a request of an exchange type we do not implement
// (IKE_SESSION_RESUME, IKE_INTERMEDIATE, an unassigned one) is answered
// with INVALID_SYNTAX, the catch-all error, never with a Notify of type 0
// (RESERVED); the IKE SA stays up.
func TestRFC7296UnknownExchangeAnsweredInvalidSyntax(t *testing.T) {
	ic, rc, _ := pairConfig(5)
	p := newPair(t, ic, rc)
	p.establish()
	r := p.r()
	for _, ex := range []wire.ExchangeType{wire.ExchangeIKESessionResume, wire.ExchangeIKEIntermediate, 40} {
		id := r.cur.peerNext
		msg, err := p.i.protected(p.i.cur, ex, id, false, &wire.Notify{Type: wire.NotifyRedirectSupported})
		if err != nil {
			t.Fatal(err)
		}
		r.Receive(p.now, Datagram{Local: r.Path().Local, Remote: r.Path().Remote, Payload: msg})
		out := r.Ready()
		r.Advance()
		if len(out.Datagrams) != 1 {
			t.Fatalf("%v: %d answers", ex, len(out.Datagrams))
		}
		ps := inner(t, p.ha, out.Datagrams[0].Payload)
		if len(ps) != 1 || ps[0].Type != wire.PayloadNotify {
			t.Fatalf("%v answered with %v", ex, ps)
		}
		if n, _ := wire.ParseNotify(ps[0].Body); n.Type != wire.NotifyInvalidSyntax {
			t.Errorf("%v answered with notify %v, want INVALID_SYNTAX", ex, n.Type)
		}
	}
	if r.State() != StateEstablished {
		t.Errorf("responder %v", r.State())
	}
}

// RFC 7296 §2.4 with RFC 5685 §6: INITIAL_CONTACT tells the responder to
// drop the peer's other IKE SAs in favour of this one. A responder that
// redirects the client at IKE_AUTH keeps nothing of it, so it reports no
// InitialContact then: the client's other SAs (and a binding) stay until
// it has attached elsewhere. When the SA is kept, the event comes first,
// before IKEUp.
func TestRFC7296InitialContactOnlyWhenSAKept(t *testing.T) {
	for _, redirected := range []bool{false, true} {
		ic, rc, _ := pairConfig(13)
		ic.InitialContact = true
		rd := &redirector{}
		if redirected {
			rd.auth = &RedirectTarget{Gateway: wire.GatewayAddr(ha2)}
		}
		rc.Redirector = rd
		p := newPair(t, ic, rc)
		p.start()
		p.run()
		got := eventsOf[InitialContact](p.ha)
		if redirected {
			if len(eventsOf[RedirectSent](p.ha)) != 1 || len(got) != 0 {
				t.Errorf("redirected at IKE_AUTH: InitialContact %+v", got)
			}
			continue
		}
		if len(got) != 1 || got[0].Peer != mnID {
			t.Fatalf("kept: InitialContact %+v", got)
		}
		for _, e := range p.ha.events {
			if _, up := e.(IKEUp); up {
				t.Error("IKEUp before InitialContact")
			}
			if _, ic := e.(InitialContact); ic {
				break
			}
		}
	}
}

// initAnswer returns an unprotected IKE_SA_INIT answer to the request req
// carrying ps, as anyone who saw the request can forge it.
func initAnswer(t *testing.T, req []byte, ps ...wire.Payload) []byte {
	t.Helper()
	h, err := wire.ParseHeader(req)
	if err != nil {
		t.Fatal(err)
	}
	var b wire.Builder
	b.Reset(nil, wire.HeaderFields{SPIi: h.SPIi(), ExchangeType: wire.ExchangeIKESAInit, Flags: wire.FlagResponse})
	for _, p := range ps {
		b.Add(p)
	}
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// RFC 7296 §2.21.1: error notifies in IKE_SA_INIT are unauthenticated; the
// initiator does not act on one at once (COOKIE and INVALID_KE_PAYLOAD,
// whose corrections are defined, aside) but keeps waiting. A forged
// NO_PROPOSAL_CHOSEN that beats the real answer is noted, counted and
// ignored: the real answer sets the IKE SA up.
func TestRFC7296InitiatorKeepsWaitingAfterUnauthenticatedInitError(t *testing.T) {
	ic, rc, _ := pairConfig(14)
	p := newPair(t, ic, rc)
	p.start()
	req := p.i.Ready().Datagrams[0]
	forged := initAnswer(t, req.Payload, &wire.Notify{Type: wire.NotifyNoProposalChosen})
	p.i.Receive(p.now, Datagram{Local: req.Local, Remote: req.Remote, Payload: forged})
	if p.i.Done() || p.i.State() != StateInit {
		t.Fatalf("initiator %v (done %v) after a forged error notify", p.i.State(), p.i.Done())
	}
	if got := p.i.Stats().DroppedUnauthenticated; got != 1 {
		t.Errorf("DroppedUnauthenticated = %d, want 1", got)
	}
	p.runUntil(time.Minute, func() bool {
		return len(eventsOf[IKEUp](p.mn)) == 1 && len(eventsOf[IKEUp](p.ha)) == 1
	})
}

// RFC 7296 §2.21.1: when nothing but error notifies answer, the initiator
// fails once it has waited its set-up time (Config.HalfOpenTimeout), with
// the notify it received as the reason.
func TestRFC7296InitiatorFailsWithNotedInitErrorAfterWaiting(t *testing.T) {
	ic, rc, _ := pairConfig(15)
	ic.IKEProposals = MustProposals("chacha20poly1305-prfsha512-ecp384")
	rc.IKEProposals = MustProposals("aes128gcm16-prfsha256-x25519")
	p := newPair(t, ic, rc)
	p.start()
	p.run()
	if p.i.Done() {
		t.Fatal("initiator gave up at the first unauthenticated NO_PROPOSAL_CHOSEN")
	}
	p.runUntil(2*DefaultHalfOpenTimeout, p.i.Done)
	if waited := p.now.Sub(epoch); waited < DefaultHalfOpenTimeout {
		t.Errorf("gave up after %v, want %v", waited, DefaultHalfOpenTimeout)
	}
	d := eventsOf[IKEDown](p.mn)
	var ne *NotifyError
	if len(d) != 1 || d[0].Reason != DownNegotiationFailed || !errors.As(d[0].Err, &ne) || ne.Type != wire.NotifyNoProposalChosen || !ne.Received {
		t.Fatalf("IKEDown %+v", d)
	}
	if n := p.ha.responder.Counters()[AnsweredNoProposal]; n < 2 {
		t.Errorf("responder answered %d requests: the initiator did not try again", n)
	}
}
