package ike

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// initSeeds returns IKE_SA_INIT requests of several initiators: plain,
// following a redirect, with extensions, with another group, with a COOKIE.
func initSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for i, mod := range []func(*Config){
		func(*Config) {},
		func(c *Config) {
			g := wire.GatewayAddr(netip.MustParseAddr("192.0.2.1"))
			c.RedirectedFrom, c.RedirectExtensions = &g, true
		},
		func(c *Config) {
			c.IKEProposals = MustProposals("aes128-sha256-modp2048", "chacha20poly1305-prfsha512-ecp384")
		},
		func(c *Config) { c.ForceEncap, c.DisableRedirect = true, true },
	} {
		ic, _, _ := pairConfig(byte(200 + i))
		mod(ic)
		dg := firstInit(t, ic)
		seeds = append(seeds, dg.Payload, withCookie(t, dg, make([]byte, cookieLen)).Payload)
	}
	return seeds
}

// FuzzResponderHandle feeds arbitrary datagrams to the responder's
// first-packet path: it must never panic, every answer must be a
// well-formed unprotected response, and an SA is created only with a
// response in its Ready.
func FuzzResponderHandle(f *testing.F) {
	for _, s := range initSeeds(f) {
		f.Add(s, false, false)
		f.Add(s, true, true)
	}
	_, rc, _ := pairConfig(210)
	rc.Redirector = &redirector{}
	r, err := NewResponder(ResponderConfig{Config: *rc, Anycast: map[netip.Addr]netip.Addr{netip.MustParseAddr("2001:db8:a::1"): netip.MustParseAddr("2001:db8:2::2")}})
	if err != nil {
		f.Fatal(err)
	}
	rc.Redirector = &alwaysRedirect{RedirectTarget{Gateway: wire.GatewayAddr(netip.MustParseAddr("2001:db8:2::3"))}}
	rr, _ := NewResponder(ResponderConfig{Config: *rc, CookieThreshold: -1})
	f.Fuzz(func(t *testing.T, b []byte, anycast, redirecting bool) {
		local := netip.MustParseAddrPort("[2001:db8:2::2]:500")
		if anycast {
			local = netip.MustParseAddrPort("[2001:db8:a::1]:500")
		}
		resp := r
		if redirecting {
			resp = rr
		}
		dg := Datagram{Local: local, Remote: netip.MustParseAddrPort("[2001:db8:1::1]:500"), Payload: b}
		quick, redirected := resp.Redirect(epoch, dg)
		res := resp.Handle(epoch, dg)
		// The stateless answer is Handle's own, taken the same way.
		if redirected != (res.Outcome == AnsweredRedirect) || redirected && !bytes.Equal(quick.Reply.Payload, res.Reply.Payload) {
			t.Fatalf("Redirect %v (%x), Handle %v (%x)", redirected, quick.Reply.Payload, res.Outcome, res.Reply.Payload)
		}
		if res.Reply.Payload != nil {
			var m wire.Message
			if err := wire.ParseMessage(res.Reply.Payload, &m); err != nil {
				t.Fatalf("%v answer does not parse: %v", res.Outcome, err)
			}
			if !m.Header.Flags().Response() || m.Header.SPIr() != 0 || m.Header.SPIi() != binary.BigEndian.Uint64(b) {
				t.Fatalf("%v answer header %x", res.Outcome, res.Reply.Payload[:28])
			}
		}
		if (res.SA != nil) != (res.Outcome == Created) {
			t.Fatalf("outcome %v with SA %v", res.Outcome, res.SA != nil)
		}
		if res.SA != nil {
			rd := res.SA.Ready()
			if len(rd.Datagrams) != 1 || rd.Deadline.IsZero() || res.SA.LocalSPI() == 0 {
				t.Fatalf("new SA without its response or deadline")
			}
			res.SA.Close(epoch) // keep the half-open count low
		}
	})
}

// sealedSeed encodes a FuzzSAReceive input that is sealed as a message of
// the initiator: exchange type, flags, Message ID offset, first payload
// type, then the inner payload chain.
func sealedSeed(ex wire.ExchangeType, f wire.Flags, first wire.PayloadType, chain []byte) []byte {
	return append([]byte{1, byte(ex), byte(f), 1, byte(first)}, chain...)
}

// innerChain returns the first payload type and the bytes of the inner
// chain of a captured protected message.
func innerChain(t testing.TB, n *node, msg []byte) (wire.PayloadType, []byte) {
	ps := inner(t, n, msg)
	var b wire.Builder
	b.ResetChain(nil)
	for _, p := range ps {
		b.Add(p)
	}
	chain, _ := b.Finish()
	return b.First(), chain
}

// The SAs FuzzSAReceive delivers its input to, chosen by bits 1-2 of the
// input's first octet.
const (
	// fuzzEstablished: an established responder SA.
	fuzzEstablished = iota
	// fuzzInitiatorInit: an initiator whose IKE_SA_INIT request is
	// unanswered; it has no keys yet.
	fuzzInitiatorInit
	// fuzzInitiatorAuth: an initiator whose IKE_AUTH request is in flight:
	// it has keys but has not authenticated the responder.
	fuzzInitiatorAuth
	// fuzzResponderAuth: a responder that answered IKE_SA_INIT and waits
	// for IKE_AUTH.
	fuzzResponderAuth
)

// fuzzPair builds the pair of a FuzzSAReceive run and brings the target SA
// to its state. It returns the target and the node that holds it.
func fuzzPair(t testing.TB, target int) (*pair, *SA, *node) {
	ic, rc, _ := pairConfig(221)
	ic.ESPProposals = MustProposals("aes256gcm16-x25519")
	rc.ESPProposals = MustProposals("aes256gcm16-x25519")
	p := newPair(t, ic, rc)
	switch target {
	case fuzzInitiatorInit:
		p.start()
		p.filter = func(Datagram) verdict { return drop }
		p.run()
		p.filter = nil
		return p, p.i, p.mn
	case fuzzInitiatorAuth, fuzzResponderAuth:
		p.start()
		p.filter = func(dg Datagram) verdict {
			if h, err := wire.ParseHeader(dg.Payload); err == nil && h.ExchangeType() == wire.ExchangeIKEAuth {
				return drop
			}
			return deliver
		}
		p.run()
		p.filter = nil
		if target == fuzzInitiatorAuth {
			return p, p.i, p.mn
		}
		return p, p.r(), p.ha
	}
	p.establish()
	return p, p.r(), p.ha
}

// FuzzSAReceive delivers an arbitrary datagram to an SA: an established
// responder, or an initiator or responder still setting up (see
// fuzzEstablished and the others). The datagram is either raw (mostly
// dropped by the integrity check; an SA still setting up gets its SPIs
// patched in) or, to reach the exchange handlers, an arbitrary inner payload
// chain sealed with the peer's real keys. It must never panic; an SA still
// setting up must neither answer nor act on a request other than IKE_AUTH
// (an initiator not even on that); an established
// responder must still answer the initiator afterwards (unless the input
// legitimately deleted it), with a consistent dataplane.
func FuzzSAReceive(f *testing.F) {
	// Seeds: every protected request of a scripted conversation.
	ic, rc, _ := pairConfig(220)
	ic.ESPProposals = MustProposals("aes256gcm16-x25519")
	rc.ESPProposals = MustProposals("aes256gcm16-x25519")
	p := newPair(f, ic, rc)
	p.establish()
	_ = p.i.RekeyChild(p.now, onlyChild(f, p.i).InSPI)
	p.run()
	_ = p.r().Redirect(p.now, RedirectTarget{Gateway: wire.GatewayAddr(ha2)})
	p.run()
	_ = p.i.RekeyIKE(p.now)
	p.run()
	_ = p.i.Delete(p.now)
	p.run()
	for _, ex := range []wire.ExchangeType{wire.ExchangeIKEAuth, wire.ExchangeCreateChildSA, wire.ExchangeInformational} {
		for _, resp := range []bool{false, true} {
			for _, m := range p.messages(ex, resp) {
				first, chain := innerChain(f, p.ha, m)
				fl := wire.FlagInitiator
				if resp {
					fl |= wire.FlagResponse
				}
				f.Add(sealedSeed(ex, fl, first, chain))
				f.Add(append([]byte{0}, m...))
				// The same content as the other side would send it, to
				// the SAs still setting up.
				h, _ := wire.ParseHeader(m)
				for _, target := range []byte{fuzzInitiatorAuth, fuzzResponderAuth} {
					s := sealedSeed(ex, h.Flags(), first, chain)
					s[0] = target<<1 | 1
					f.Add(s)
				}
				f.Add(append([]byte{fuzzInitiatorInit << 1}, m...))
			}
		}
	}
	for _, m := range p.messages(wire.ExchangeIKESAInit, true) {
		f.Add(append([]byte{fuzzInitiatorInit << 1}, m...))
	}
	// A protected-looking request with SPIr zero, which only the SPIi
	// names: before IKE_SA_INIT completes it reaches the initiator.
	var b wire.Builder
	b.Reset(nil, wire.HeaderFields{SPIi: 1, ExchangeType: wire.ExchangeInformational})
	b.Add(wire.RawPayload{Type: wire.PayloadSK, Next: wire.PayloadNone, Body: make([]byte, 40)})
	if forged, err := b.Finish(); err == nil {
		f.Add(append([]byte{fuzzInitiatorInit << 1}, forged...))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 1 {
			return
		}
		target := int(in[0]>>1) % 4
		p, sa, n := fuzzPair(t, target)
		spis := sa.SPIs()
		var msg []byte
		switch {
		case in[0]%2 == 0 || len(in) < 5 || target == fuzzInitiatorInit:
			msg = in[1:]
			if target != fuzzEstablished && len(msg) >= 16 {
				msg = slices.Clone(msg)
				binary.BigEndian.PutUint64(msg, spis.I)
				if target != fuzzInitiatorInit {
					binary.BigEndian.PutUint64(msg[8:], spis.R)
				}
			}
		default:
			sealer := p.i.cur // the peer's IKE SA
			if sa.Initiator() {
				sealer = p.r().cur
			}
			id := sa.cur.peerNext + uint32(in[3]%3) - 1
			var err error
			msg, err = sealer.protect(wire.HeaderFields{SPIi: spis.I, SPIr: spis.R, ExchangeType: wire.ExchangeType(in[1]), Flags: wire.Flags(in[2]), MessageID: id},
				wire.PayloadType(in[4]), in[5:])
			if err != nil {
				return
			}
		}
		request := len(msg) >= wire.HeaderLen && !wire.Flags(msg[19]).Response()
		rike := sa.cur
		before := rike.peerNext
		var replies []Datagram
		n.receive(p.now, Datagram{Local: sa.Path().Local, Remote: sa.Path().Remote, Payload: msg}, &replies)
		// RFC 7296 §1.2, §2.2: before IKE_AUTH completes an initiator takes
		// no request, a responder none but IKE_AUTH.
		takes := request && target == fuzzResponderAuth && wire.ExchangeType(msg[18]) == wire.ExchangeIKEAuth
		if target != fuzzEstablished && request && !takes && sa.HasReady() {
			t.Fatalf("%v SA in %v acted on a request: %+v", map[bool]string{true: "initiator", false: "responder"}[sa.Initiator()], sa.State(), sa.Ready())
		}
		p.send(replies)
		if target != fuzzEstablished {
			// What follows must not panic either.
			p.advance(5 * time.Minute)
			return
		}
		p.run()
		if sa.Done() || p.i.Done() {
			return
		}
		// The initiator's next request must follow whatever the input
		// consumed of the Message ID space.
		if rike.peerNext > before && p.i.cur.spis == rike.spis {
			p.i.cur.nextID = rike.peerNext
		}
		if err := p.i.CheckLiveness(p.now); err != nil {
			return // the initiator is busy with an exchange the input began
		}
		p.advance(5 * time.Minute)
		if p.i.Done() && !sa.Done() {
			t.Fatalf("responder stopped answering after the input; events %+v", p.mn.events)
		}
	})
}
