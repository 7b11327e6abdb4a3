package ike

import (
	"net/netip"
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
