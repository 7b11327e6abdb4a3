package ike

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// initRequests returns the payload chains of the captured IKE_SA_INIT
// requests.
func initRequests(t testing.TB, nw *network) []wire.Payloads {
	t.Helper()
	var r []wire.Payloads
	for _, b := range nw.messages(wire.ExchangeIKESAInit, false) {
		var m wire.Message
		if err := wire.ParseMessage(b, &m); err != nil {
			t.Fatal(err)
		}
		r = append(r, slices.Clone(m.Payloads))
	}
	return r
}

// RFC 7296 §2.6: under load the responder answers IKE_SA_INIT with a
// stateless COOKIE; the initiator repeats its request with the COOKIE as
// the first payload and everything else unchanged.
func TestCookieExchange(t *testing.T) {
	ic, rc, _ := pairConfig(60)
	p := newPair(t, ic, rc)
	p.ha.responder.DemandCookies(true)
	p.establish()
	reqs := initRequests(t, p.network)
	if len(reqs) != 2 {
		t.Fatalf("%d IKE_SA_INIT requests, want 2", len(reqs))
	}
	first := reqs[1][0]
	n, err := wire.ParseNotify(first.Body)
	if first.Type != wire.PayloadNotify || err != nil || n.Type != wire.NotifyCookie {
		t.Fatalf("retry does not start with COOKIE: %v", first.Type)
	}
	// Everything after the COOKIE is the first request, unchanged.
	raw := p.messages(wire.ExchangeIKESAInit, false)
	if string(raw[1][len(raw[1])-len(raw[0])+28:]) != string(raw[0][28:]) {
		t.Error("the retry changed more than the COOKIE")
	}
	c := p.ha.responder.Counters()
	if c[AnsweredCookie] != 1 || c[Created] != 1 {
		t.Errorf("counters %v", c)
	}
	checkOnePair(t, p)
}

// RFC 7296 §2.6: cookies are demanded once the half-open count reaches the
// threshold, and not before.
func TestCookieThresholdOnHalfOpenSAs(t *testing.T) {
	_, rc, _ := pairConfig(61)
	r, err := NewResponder(ResponderConfig{Config: *rc, CookieThreshold: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		ic, _, _ := pairConfig(byte(62 + i))
		dg := firstInit(t, ic)
		res := r.Handle(epoch, dg)
		want := Created
		if i == 2 {
			want = AnsweredCookie
		}
		if res.Outcome != want {
			t.Fatalf("request %d: %v, want %v", i, res.Outcome, want)
		}
	}
	if r.HalfOpen() != 2 {
		t.Fatalf("half-open %d", r.HalfOpen())
	}
}

// firstInit returns the first IKE_SA_INIT request of a fresh initiator.
func firstInit(t testing.TB, ic *Config) Datagram {
	t.Helper()
	i, err := NewInitiator(ic, Path{Local: netip.MustParseAddrPort("[2001:db8:1::1]:500"), Remote: netip.MustParseAddrPort("[2001:db8:2::2]:500")})
	if err != nil {
		t.Fatal(err)
	}
	if err := i.Initiate(epoch); err != nil {
		t.Fatal(err)
	}
	d := i.Ready().Datagrams[0]
	return Datagram{Local: d.Remote, Remote: d.Local, Payload: d.Payload}
}

// withCookie returns the request dg with a COOKIE as first payload.
func withCookie(t testing.TB, dg Datagram, cookie []byte) Datagram {
	t.Helper()
	var m wire.Message
	if err := wire.ParseMessage(dg.Payload, &m); err != nil {
		t.Fatal(err)
	}
	var b wire.Builder
	b.Reset(nil, m.Header.Fields())
	b.Add(&wire.Notify{Type: wire.NotifyCookie, Data: cookie})
	for _, p := range m.Payloads {
		b.Add(p)
	}
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	dg.Payload = msg
	return dg
}

// RFC 7296 §2.6: a stateless cookie is bound to Ni, the initiator's address
// and SPIi; a wrong one is treated as absent, and the secret rotates with
// time (the previous epoch still accepted).
func TestCookieValidity(t *testing.T) {
	ic, rc, _ := pairConfig(63)
	r, err := NewResponder(ResponderConfig{Config: *rc, CookieThreshold: -1, CookieRotation: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	dg := firstInit(t, ic)
	res := r.Handle(epoch, dg)
	if res.Outcome != AnsweredCookie {
		t.Fatalf("%v", res.Outcome)
	}
	var m wire.Message
	if err := wire.ParseMessage(res.Reply.Payload, &m); err != nil {
		t.Fatal(err)
	}
	if m.Header.SPIr() != 0 || !m.Header.Flags().Response() || len(m.Payloads) != 1 {
		t.Fatal("COOKIE answer: SPIr must be 0, only the COOKIE")
	}
	n, _ := m.Payloads.Notify(wire.NotifyCookie)
	cookie := slices.Clone(n.Data)

	tampered := slices.Clone(cookie)
	tampered[5] ^= 1
	moved := dg
	moved.Remote = netip.MustParseAddrPort("[2001:db8:99::1]:500")
	for _, tc := range []struct {
		name string
		at   time.Time
		dg   Datagram
		want Outcome
	}{
		{"tampered", epoch, withCookie(t, dg, tampered), AnsweredCookie},
		{"other-address", epoch, withCookie(t, moved, cookie), AnsweredCookie},
		{"two-rotations-later", epoch.Add(2 * time.Minute), withCookie(t, dg, cookie), AnsweredCookie},
		{"one-rotation-later", epoch.Add(time.Minute), withCookie(t, dg, cookie), Created},
		{"valid", epoch, withCookie(t, dg, cookie), Created},
	} {
		if got := r.Handle(tc.at, tc.dg).Outcome; got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// RFC 7296 §1.3, §2.6.1: an initiator that guessed the wrong D-H group gets
// INVALID_KE_PAYLOAD and retries with the group asked for; a COOKIE
// received before is kept in the retry.
func TestInvalidKEPayloadRetryKeepsCookie(t *testing.T) {
	ic, rc, _ := pairConfig(64)
	ic.IKEProposals = MustProposals("aes256gcm16-prfsha256-ecp256-x25519")
	rc.IKEProposals = MustProposals("aes256gcm16-prfsha256-x25519")
	p := newPair(t, ic, rc)
	p.ha.responder.DemandCookies(true)
	p.establish()
	reqs := initRequests(t, p.network)
	if len(reqs) != 3 {
		t.Fatalf("%d IKE_SA_INIT requests, want 3 (plain, cookie, new group)", len(reqs))
	}
	kp, _ := reqs[2].First(wire.PayloadKE)
	ke, _ := wire.ParseKE(kp.Body)
	if ke.Group != wire.DHCurve25519 {
		t.Errorf("retry KE group %v", ke.Group)
	}
	if reqs[2][0].Type != wire.PayloadNotify {
		t.Error("COOKIE dropped in the INVALID_KE_PAYLOAD retry")
	}
	c := p.ha.responder.Counters()
	if c[AnsweredCookie] != 1 || c[AnsweredInvalidKE] != 1 || c[Created] != 1 {
		t.Errorf("counters %v", c)
	}
	checkOnePair(t, p)
}

// RFC 7296 §2.7: no common proposal gives NO_PROPOSAL_CHOSEN; the
// initiator gives up once it has waited its set-up time (§2.21.1).
func TestNoProposalChosen(t *testing.T) {
	ic, rc, _ := pairConfig(65)
	ic.IKEProposals = MustProposals("chacha20poly1305-prfsha512-ecp384")
	rc.IKEProposals = MustProposals("aes128gcm16-prfsha256-x25519")
	p := newPair(t, ic, rc)
	p.start()
	p.runUntil(time.Minute, p.i.Done)
	d := eventsOf[IKEDown](p.mn)
	var ne *NotifyError
	if len(d) != 1 || d[0].Reason != DownNegotiationFailed || !errors.As(d[0].Err, &ne) || ne.Type != wire.NotifyNoProposalChosen || !ne.Received {
		t.Fatalf("IKEDown %+v", d)
	}
	if p.ha.responder.Counters()[AnsweredNoProposal] == 0 || p.ha.responder.HalfOpen() != 0 {
		t.Error("responder kept state or did not count")
	}
}

// RFC 7296 §2.5: an unknown payload with the critical bit is answered with
// UNSUPPORTED_CRITICAL_PAYLOAD carrying its type.
func TestUnsupportedCriticalPayloadAnswered(t *testing.T) {
	ic, rc, _ := pairConfig(66)
	r, _ := NewResponder(ResponderConfig{Config: *rc})
	dg := firstInit(t, ic)
	var m wire.Message
	if err := wire.ParseMessage(dg.Payload, &m); err != nil {
		t.Fatal(err)
	}
	var b wire.Builder
	b.Reset(nil, m.Header.Fields())
	for _, p := range m.Payloads {
		b.Add(p)
	}
	b.Add(wire.RawPayload{Type: 200, Critical: true, Body: []byte{1, 2, 3}})
	msg, _ := b.Finish()
	dg.Payload = msg
	res := r.Handle(epoch, dg)
	if res.Outcome != AnsweredCriticalPayload {
		t.Fatalf("%v", res.Outcome)
	}
	var a wire.Message
	if err := wire.ParseMessage(res.Reply.Payload, &a); err != nil {
		t.Fatal(err)
	}
	n, ok := a.Payloads.Notify(wire.NotifyUnsupportedCriticalPayload)
	if !ok || len(n.Data) != 1 || n.Data[0] != 200 {
		t.Fatalf("answer %+v", n)
	}
	// Without the critical bit the payload is skipped.
	b.Reset(nil, m.Header.Fields())
	for _, p := range m.Payloads {
		b.Add(p)
	}
	b.Add(wire.RawPayload{Type: 200, Body: []byte{1, 2, 3}})
	dg.Payload, _ = b.Finish()
	if res := r.Handle(epoch, dg); res.Outcome != Created {
		t.Fatalf("non-critical unknown payload: %v", res.Outcome)
	}
}

// RFC 7296 §2.5: a higher major version is answered with
// INVALID_MAJOR_VERSION naming ours in the header.
func TestInvalidMajorVersionAnswered(t *testing.T) {
	ic, rc, _ := pairConfig(67)
	r, _ := NewResponder(ResponderConfig{Config: *rc})
	dg := firstInit(t, ic)
	dg.Payload = slices.Clone(dg.Payload)
	dg.Payload[17] = 0x30
	res := r.Handle(epoch, dg)
	if res.Outcome != AnsweredMajorVersion {
		t.Fatalf("%v", res.Outcome)
	}
	h, err := wire.ParseHeader(res.Reply.Payload)
	if err != nil || h.Version() != wire.Version || h.SPIi() != binary.BigEndian.Uint64(dg.Payload) {
		t.Fatalf("answer header %x", res.Reply.Payload[:28])
	}
	var m wire.Message
	_ = wire.ParseMessage(res.Reply.Payload, &m)
	if _, ok := m.Payloads.Notify(wire.NotifyInvalidMajorVersion); !ok {
		t.Fatal("no INVALID_MAJOR_VERSION")
	}
}

// RFC 7296 §3.10.1: INVALID_SYNTAX may only be sent encrypted, so malformed
// IKE_SA_INIT requests are dropped and counted; so is anything that is not
// a first IKE_SA_INIT request.
func TestResponderDrops(t *testing.T) {
	ic, rc, _ := pairConfig(68)
	r, _ := NewResponder(ResponderConfig{Config: *rc})
	dg := firstInit(t, ic)
	cut := dg
	cut.Payload = dg.Payload[:len(dg.Payload)-3]
	resp := dg
	resp.Payload = slices.Clone(dg.Payload)
	resp.Payload[19] |= byte(wire.FlagResponse)
	spir := dg
	spir.Payload = slices.Clone(dg.Payload)
	spir.Payload[8] = 1
	badKE := dg
	badKE.Payload = slices.Clone(dg.Payload)
	var m wire.Message
	_ = wire.ParseMessage(badKE.Payload, &m)
	kp, _ := m.Payloads.First(wire.PayloadKE)
	clear(kp.Body[4:]) // an all-zero X25519 value: RFC 6989 / RFC 8031 check
	for _, tc := range []struct {
		name string
		dg   Datagram
		want Outcome
	}{
		{"truncated", cut, DroppedSyntax},
		{"short", Datagram{Payload: []byte{1, 2, 3}}, DroppedSyntax},
		{"response", resp, DroppedNotInit},
		{"spir-set", spir, DroppedNotInit},
		{"invalid-ke", badKE, DroppedKeyExchange},
	} {
		res := r.Handle(epoch, tc.dg)
		if res.Outcome != tc.want || res.Reply.Payload != nil || res.SA != nil {
			t.Errorf("%s: %v (reply %v)", tc.name, res.Outcome, res.Reply.Payload != nil)
		}
	}
	if r.HalfOpen() != 0 {
		t.Fatal("state kept for a dropped request")
	}
}

// RFC 7296 §2.4 (half-open timeout): a responder SA whose IKE_AUTH never
// comes goes away and leaves the half-open count.
func TestHalfOpenTimeout(t *testing.T) {
	ic, rc, _ := pairConfig(69)
	p := newPair(t, ic, rc)
	p.filter = func(dg Datagram) verdict {
		if h, _ := wire.ParseHeader(dg.Payload); h.ExchangeType() == wire.ExchangeIKEAuth {
			return drop
		}
		return deliver
	}
	p.start()
	p.run()
	if p.ha.responder.HalfOpen() != 1 {
		t.Fatal("not half-open")
	}
	p.advance(29 * time.Second)
	if p.ha.responder.HalfOpen() != 1 {
		t.Fatal("gone before the half-open timeout")
	}
	p.advance(2 * time.Second)
	if d := eventsOf[IKEDown](p.ha); len(d) != 1 || d[0].Reason != DownHalfOpenTimeout {
		t.Fatalf("IKEDown %+v", d)
	}
	if p.ha.responder.HalfOpen() != 0 {
		t.Fatal("half-open count not released")
	}
}
