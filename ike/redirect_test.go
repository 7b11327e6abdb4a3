package ike

import (
	"bytes"
	"errors"
	"maps"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// redirector redirects to fixed targets and records what it was asked.
type redirector struct {
	init, auth *RedirectTarget
	inits      []InitInfo
	auths      []AuthInfo
}

func (r *redirector) AtInit(req InitInfo) (RedirectTarget, bool) {
	r.inits = append(r.inits, req)
	if r.init == nil {
		return RedirectTarget{}, false
	}
	return *r.init, true
}

func (r *redirector) AtAuth(req AuthInfo) (RedirectTarget, bool) {
	r.auths = append(r.auths, req)
	if r.auth == nil {
		return RedirectTarget{}, false
	}
	return *r.auth, true
}

var ha2 = netip.MustParseAddr("2001:db8:2::3")

// RFC 5685 §3 and the one-round-trip rule: a redirect-capable
// client is redirected at IKE_SA_INIT before any cookie or D-H group check,
// with its Ni echoed, SPIr zero and nothing else in the answer; the
// responder keeps no state.
func TestRedirectAtInitOneRoundTripUnderCookieDemandAndWrongGroup(t *testing.T) {
	ic, rc, _ := pairConfig(90)
	ic.IKEProposals = MustProposals("aes256gcm16-prfsha256-ecp256-x25519") // guesses ecp256
	rc.IKEProposals = MustProposals("aes256gcm16-prfsha256-x25519")
	rd := &redirector{init: &RedirectTarget{Gateway: wire.GatewayAddr(ha2)}}
	rc.Redirector = rd
	p := newPair(t, ic, rc)
	p.ha.responder.DemandCookies(true)
	p.start()
	p.run()
	reqs, resps := p.messages(wire.ExchangeIKESAInit, false), p.messages(wire.ExchangeIKESAInit, true)
	if len(reqs) != 1 || len(resps) != 1 {
		t.Fatalf("%d requests, %d answers: not one round trip", len(reqs), len(resps))
	}
	var req, ans wire.Message
	_ = wire.ParseMessage(reqs[0], &req)
	if err := wire.ParseMessage(resps[0], &ans); err != nil {
		t.Fatal(err)
	}
	if _, ok := req.Payloads.Notify(wire.NotifyRedirectSupported); !ok {
		t.Fatal("initiator did not send REDIRECT_SUPPORTED")
	}
	if ans.Header.SPIr() != 0 || len(ans.Payloads) != 1 {
		t.Fatalf("answer SPIr %x with %d payloads", ans.Header.SPIr(), len(ans.Payloads))
	}
	np, _ := req.Payloads.First(wire.PayloadNonce)
	n, _ := ans.Payloads.Notify(wire.NotifyRedirect)
	r, err := n.Redirect(wire.ExchangeIKESAInit, np.Body)
	if err != nil || r.Gateway.Type != wire.GatewayIdentityIPv6 || r.Gateway.AddrPort.Addr() != ha2 {
		t.Fatalf("REDIRECT %+v: %v", r, err)
	}
	got := eventsOf[RedirectReceived](p.mn)
	if len(got) != 1 || got[0].Exchange != wire.ExchangeIKESAInit || got[0].Target.Gateway.AddrPort.Addr() != ha2 ||
		got[0].From != wire.GatewayAddr(p.ha.addr) {
		t.Fatalf("RedirectReceived %+v", got)
	}
	if d := eventsOf[IKEDown](p.mn); len(d) != 1 || d[0].Reason != DownRedirected || !errors.Is(d[0].Err, ErrRedirected) {
		t.Fatalf("IKEDown %+v", d)
	}
	c := p.ha.responder.Counters()
	if c[AnsweredRedirect] != 1 || c[AnsweredCookie] != 0 || c[AnsweredInvalidKE] != 0 || p.ha.responder.HalfOpen() != 0 || len(p.ha.sas) != 0 {
		t.Fatalf("counters %v, half-open %d", c, p.ha.responder.HalfOpen())
	}
	if len(rd.inits) != 1 || rd.inits[0].Remote.Addr() != p.mn.addr || rd.inits[0].Anycast {
		t.Fatalf("AtInit asked %+v", rd.inits)
	}
}

// RFC 5685 §3, §9.1: a client that did not announce support is never
// redirected, in any exchange.
func TestRedirectNeverSentToClientWithoutSupport(t *testing.T) {
	ic, rc, _ := pairConfig(91)
	ic.DisableRedirect = true
	rd := &redirector{init: &RedirectTarget{Gateway: wire.GatewayAddr(ha2)}, auth: &RedirectTarget{Gateway: wire.GatewayAddr(ha2)}}
	rc.Redirector = rd
	p := newPair(t, ic, rc)
	p.establish()
	if len(rd.inits)+len(rd.auths) != 0 {
		t.Fatal("Redirector asked about a client without redirect support")
	}
	var req wire.Message
	_ = wire.ParseMessage(p.messages(wire.ExchangeIKESAInit, false)[0], &req)
	if _, ok := req.Payloads.Notify(wire.NotifyRedirectSupported); ok {
		t.Fatal("REDIRECT_SUPPORTED sent although disabled")
	}
	if up := eventsOf[IKEUp](p.ha)[0]; up.RedirectSupported || up.RedirectExtensions {
		t.Error("IKEUp claims redirect support")
	}
	if err := p.r().Redirect(p.now, RedirectTarget{Gateway: wire.GatewayAddr(ha2)}); !errors.Is(err, ErrRedirectNotSupported) {
		t.Fatalf("Redirect: %v", err)
	}
	checkOnePair(t, p)
}

// RFC 5685 §3: a REDIRECT whose nonce is not the client's Ni is dropped
// silently and the client keeps waiting for the real answer; so is one with
// a gateway identity type the client does not know (spec/ike.md §1.3).
func TestRedirectWithForgedNonceIgnored(t *testing.T) {
	ic, rc, _ := pairConfig(92)
	p := newPair(t, ic, rc)
	p.start()
	dgs := p.mn.collect()
	var req wire.Message
	_ = wire.ParseMessage(dgs[0].Payload, &req)
	var b wire.Builder
	b.Reset(nil, wire.HeaderFields{SPIi: req.Header.SPIi(), ExchangeType: wire.ExchangeIKESAInit, Flags: wire.FlagResponse})
	b.Add(&wire.Redirect{Gateway: wire.GatewayAddr(netip.MustParseAddr("2001:db8:bad::1")), Nonce: make([]byte, 32)})
	forged, _ := b.Finish()
	// A REDIRECT with the right nonce but a gateway type this standard
	// client does not know (it announced no extensions).
	np, _ := req.Payloads.First(wire.PayloadNonce)
	b.Reset(nil, wire.HeaderFields{SPIi: req.Header.SPIi(), ExchangeType: wire.ExchangeIKESAInit, Flags: wire.FlagResponse})
	b.Add(&wire.Redirect{Gateway: wire.GatewayAddrPort(netip.MustParseAddrPort("[2001:db8:bad::1]:4501")), Nonce: np.Body})
	unknownType, _ := b.Finish()
	// The forger answers before the gateway does.
	p.send([]Datagram{{Local: dgs[0].Remote, Remote: dgs[0].Local, Payload: forged}})
	p.send([]Datagram{{Local: dgs[0].Remote, Remote: dgs[0].Local, Payload: unknownType}})
	p.send(dgs)
	p.runUntil(time.Minute, func() bool { return len(eventsOf[IKEUp](p.mn)) == 1 })
	if len(eventsOf[RedirectReceived](p.mn)) != 0 {
		t.Fatal("forged REDIRECT accepted")
	}
	checkOnePair(t, p)
}

// RFC 5685 §4: a redirect-capable client that reaches an anycast address is
// always redirected to a unicast address, answered from the anycast
// address; others are served.
func TestRedirectFromAnycastAddress(t *testing.T) {
	_, rc, _ := pairConfig(93)
	anycast := netip.MustParseAddr("2001:db8:a::1")
	unicast := netip.MustParseAddr("2001:db8:2::2")
	r, err := NewResponder(ResponderConfig{Config: *rc, Anycast: map[netip.Addr]netip.Addr{anycast: unicast}})
	if err != nil {
		t.Fatal(err)
	}
	ic, _, _ := pairConfig(94)
	dg := firstInit(t, ic)
	dg.Local = netip.AddrPortFrom(anycast, 500)
	res := r.Handle(epoch, dg)
	if res.Outcome != AnsweredRedirect || res.Reply.Local != dg.Local {
		t.Fatalf("%v from %v", res.Outcome, res.Reply.Local)
	}
	var m wire.Message
	_ = wire.ParseMessage(res.Reply.Payload, &m)
	n, _ := m.Payloads.Notify(wire.NotifyRedirect)
	if rr, err := wire.ParseRedirect(n.Data); err != nil || rr.Gateway.AddrPort.Addr() != unicast {
		t.Fatalf("REDIRECT to %+v", rr)
	}
	ic2, _, _ := pairConfig(95)
	ic2.DisableRedirect = true
	dg2 := firstInit(t, ic2)
	dg2.Local = dg.Local
	if res := r.Handle(epoch, dg2); res.Outcome != Created {
		t.Fatalf("client without support on anycast: %v", res.Outcome)
	}
}

// RFC 5685 §6: after the client's AUTH verified, the gateway may redirect
// it: its response carries IDr, AUTH and REDIRECT and no CHILD_SA; the
// client acts only after verifying the gateway's AUTH, then deletes the IKE
// SA. If it does not, the gateway deletes it after the grace period.
func TestRedirectAtAuth(t *testing.T) {
	for _, clientDeletes := range []bool{true, false} {
		ic, rc, pool := pairConfig(96)
		rd := &redirector{auth: &RedirectTarget{Gateway: wire.GatewayFQDN("ha2.example.net")}}
		rc.Redirector = rd
		rc.RedirectGrace = 10 * time.Second
		p := newPair(t, ic, rc)
		if !clientDeletes {
			p.filter = func(dg Datagram) verdict {
				if h, _ := wire.ParseHeader(dg.Payload); dg.Local.Addr() == p.mn.addr && h.ExchangeType() == wire.ExchangeInformational && !h.Flags().Response() {
					return drop
				}
				return deliver
			}
		}
		p.start()
		p.run()
		resp := inner(t, p.ha, p.messages(wire.ExchangeIKEAuth, true)[0])
		for _, pt := range []wire.PayloadType{wire.PayloadIDr, wire.PayloadAUTH} {
			if !hasPayload(resp, pt) {
				t.Errorf("no %v beside the REDIRECT", pt)
			}
		}
		for _, pt := range []wire.PayloadType{wire.PayloadSA, wire.PayloadTSi, wire.PayloadTSr, wire.PayloadCP} {
			if hasPayload(resp, pt) {
				t.Errorf("%v in a redirecting IKE_AUTH response", pt)
			}
		}
		if n, ok := resp.Notify(wire.NotifyRedirect); !ok || len(n.Data) != 2+len("ha2.example.net") {
			t.Fatalf("REDIRECT %x (no nonce allowed in IKE_AUTH)", n.Data)
		}
		if len(pool.requests) != 0 || len(p.mn.inbound)+len(p.ha.inbound) != 0 {
			t.Fatal("address or CHILD_SA despite the redirect")
		}
		if len(rd.auths) != 1 || rd.auths[0].Peer != mnID || rd.auths[0].Addresses == nil || !rd.auths[0].Addresses.IPv6 {
			t.Fatalf("AtAuth asked %+v", rd.auths)
		}
		if got := eventsOf[RedirectReceived](p.mn); len(got) != 1 || got[0].Exchange != wire.ExchangeIKEAuth || got[0].Target.Gateway.FQDN != "ha2.example.net" {
			t.Fatalf("RedirectReceived %+v", got)
		}
		if s := eventsOf[RedirectSent](p.ha); len(s) != 1 || s[0].Peer != mnID {
			t.Fatalf("RedirectSent %+v", s)
		}
		if clientDeletes {
			if !p.i.Done() || len(p.ha.sas) != 0 {
				t.Fatal("the client did not delete the redirected IKE SA")
			}
			if d := eventsOf[IKEDown](p.mn); d[0].Reason != DownRedirected {
				t.Fatalf("IKEDown %+v", d)
			}
			continue
		}
		p.advance(9 * time.Second)
		if len(p.ha.sas) != 1 {
			t.Fatal("deleted before the grace period")
		}
		p.advance(2 * time.Second)
		if len(p.ha.sas) != 0 {
			t.Fatal("redirected IKE SA not deleted after the grace period")
		}
		if d := eventsOf[IKEDown](p.ha); len(d) != 1 || d[0].Reason != DownDeleted {
			t.Fatalf("responder IKEDown %+v", d)
		}
	}
}

// RFC 5685 §5: the gateway redirects an established SA with an
// INFORMATIONAL request; the client acknowledges and keeps the SA until it
// has connected elsewhere (make-before-break); the gateway deletes it after
// the grace period. Only the original responder may redirect (§10).
func TestRedirectEstablishedSA(t *testing.T) {
	ic, rc, _ := pairConfig(97)
	rc.RedirectGrace = 20 * time.Second
	p := newPair(t, ic, rc)
	p.establish()
	if err := p.i.Redirect(p.now, RedirectTarget{Gateway: wire.GatewayAddr(ha2)}); !errors.Is(err, ErrRedirectNotSupported) {
		t.Fatalf("initiator redirected its gateway: %v", err)
	}
	if err := p.r().Redirect(p.now, RedirectTarget{Gateway: wire.GatewayAddrPort(netip.AddrPortFrom(ha2, 4501))}); !errors.Is(err, ErrRedirectNotSupported) {
		t.Fatalf("port target to a client without the extension: %v", err)
	}
	if err := p.r().Redirect(p.now, RedirectTarget{Gateway: wire.GatewayAddr(ha2)}); err != nil {
		t.Fatal(err)
	}
	p.run()
	got := eventsOf[RedirectReceived](p.mn)
	if len(got) != 1 || got[0].Exchange != wire.ExchangeInformational || got[0].Target.Gateway.AddrPort.Addr() != ha2 {
		t.Fatalf("RedirectReceived %+v", got)
	}
	if p.i.Done() {
		t.Fatal("client dropped the SA before connecting elsewhere")
	}
	p.advance(19 * time.Second)
	if p.r().Done() {
		t.Fatal("deleted before the grace period")
	}
	p.advance(2 * time.Second)
	if !p.i.Done() || len(p.ha.sas) != 0 {
		t.Fatal("not deleted after the grace period")
	}
}

// The project's private-use extensions (docs/ike.md §9): a client that
// announces NotifyRedirectPortSupported may be sent a target with a port and
// a handover ticket; presenting the ticket in IKE_AUTH at the new gateway
// hands it to the AddressAssigner. Standard clients get neither.
func TestRedirectExtensionsPortAndTicket(t *testing.T) {
	target := RedirectTarget{Gateway: wire.GatewayAddrPort(netip.AddrPortFrom(ha2, 4501)), Ticket: []byte("ticket-42")}
	for _, ext := range []bool{true, false} {
		ic, rc, _ := pairConfig(98)
		ic.RedirectExtensions = ext
		rc.Redirector = &redirector{init: &target}
		p := newPair(t, ic, rc)
		p.start()
		p.run()
		got := eventsOf[RedirectReceived](p.mn)
		if !ext {
			// The port target is not allowed for this client: no redirect.
			if len(got) != 0 || len(eventsOf[IKEUp](p.mn)) != 1 {
				t.Fatalf("standard client: RedirectReceived %+v", got)
			}
			continue
		}
		if len(got) != 1 || got[0].Target.Gateway.AddrPort.Port() != 4501 || string(got[0].Target.Ticket) != "ticket-42" {
			t.Fatalf("RedirectReceived %+v", got)
		}
	}
	// At the new gateway the client presents the ticket.
	ic, rc, pool := pairConfig(99)
	ic.RedirectExtensions = true
	ic.Ticket = []byte("ticket-42")
	from := wire.GatewayAddr(netip.MustParseAddr("2001:db8:2::9"))
	ic.RedirectedFrom = &from
	rd := &redirector{}
	rc.Redirector = rd
	p := newPair(t, ic, rc)
	p.establish()
	if len(pool.requests) != 1 || string(pool.requests[0].Ticket) != "ticket-42" || pool.requests[0].RedirectedFrom == nil || *pool.requests[0].RedirectedFrom != from {
		t.Fatalf("address request %+v", pool.requests)
	}
	if len(rd.inits) != 1 || !rd.inits[0].PortSupported || rd.inits[0].RedirectedFrom == nil {
		t.Fatalf("AtInit asked %+v", rd.inits)
	}
	if up := eventsOf[IKEUp](p.ha)[0]; up.RedirectedFrom == nil || *up.RedirectedFrom != from || !up.RedirectSupported || !up.RedirectExtensions {
		t.Fatalf("IKEUp %+v", up)
	}
	// RFC 5685 §3: REDIRECTED_FROM implies support; REDIRECT_SUPPORTED is
	// not repeated.
	var req wire.Message
	_ = wire.ParseMessage(p.messages(wire.ExchangeIKESAInit, false)[0], &req)
	if _, ok := req.Payloads.Notify(wire.NotifyRedirectSupported); ok {
		t.Error("REDIRECT_SUPPORTED beside REDIRECTED_FROM")
	}
	if !slices.ContainsFunc(req.Payloads, func(p wire.RawPayload) bool {
		n, err := wire.ParseNotify(p.Body)
		return p.Type == wire.PayloadNotify && err == nil && n.Type == wire.NotifyRedirectedFrom
	}) {
		t.Error("no REDIRECTED_FROM")
	}
}

// RFC 5685 §7: a client follows at most MAX_REDIRECTS redirects within
// REDIRECT_LOOP_DETECT_PERIOD (defaults 5 and 300 s, configurable).
func TestRedirectLoopGuard(t *testing.T) {
	var g RedirectGuard
	for i := range 5 {
		if err := g.Follow(epoch.Add(time.Duration(i) * time.Second)); err != nil {
			t.Fatalf("redirect %d refused: %v", i+1, err)
		}
	}
	if err := g.Follow(epoch.Add(10 * time.Second)); !errors.Is(err, ErrRedirectLoop) {
		t.Fatalf("sixth redirect within 300 s: %v", err)
	}
	// The window slides: 300 s after the first ones they no longer count.
	if err := g.Follow(epoch.Add(304 * time.Second)); err != nil {
		t.Fatalf("after the window: %v (count %d)", err, g.Count())
	}
	small := RedirectGuard{Max: 1, Period: time.Minute}
	if small.Follow(epoch) != nil || small.Follow(epoch.Add(time.Second)) == nil {
		t.Fatal("configured limits not applied")
	}
}

// RFC 5685 §3, §9.3: following a redirect keeps the expected peer identity,
// names the redirecting gateway in REDIRECTED_FROM and carries the ticket;
// two gateways that redirect to each other are stopped by the guard.
func TestRedirectFollowBetweenTwoGatewaysStopsAtLoop(t *testing.T) {
	ic, rc, _ := pairConfig(100)
	ic.RedirectExtensions = true
	target := RedirectTarget{Gateway: wire.GatewayAddr(netip.MustParseAddr("2001:db8:2::2")), Ticket: []byte("t")}
	rc.Redirector = &redirector{init: &target} // every gateway sends the client on
	guard := RedirectGuard{Max: 3}
	cfg := ic
	var hops int
	for {
		p := newPair(t, cfg, rc)
		p.start()
		p.run()
		got := eventsOf[RedirectReceived](p.mn)
		if len(got) != 1 {
			t.Fatalf("hop %d: %+v", hops, got)
		}
		if err := guard.Follow(p.now.Add(time.Duration(hops) * time.Second)); err != nil {
			if !errors.Is(err, ErrRedirectLoop) || hops != 3 {
				t.Fatalf("stopped after %d hops: %v", hops, err)
			}
			break
		}
		hops++
		cfg = FollowRedirect(cfg, got[0])
		if cfg.PeerID != haID || cfg.RedirectedFrom == nil || *cfg.RedirectedFrom != got[0].From || string(cfg.Ticket) != "t" {
			t.Fatalf("followed configuration %+v", cfg)
		}
	}
}

// RFC 5685 §4: the answer to a request that reached an anycast address is a
// REDIRECT to a unicast address, even when the Redirector names an anycast
// address (its own view may not know which addresses are anycast here).
func TestRedirectFromAnycastNeverNamesAnycast(t *testing.T) {
	_, rc, _ := pairConfig(101)
	anycast := netip.MustParseAddr("2001:db8:a::1")
	unicast := netip.MustParseAddr("2001:db8:2::2")
	rc.Redirector = &redirector{init: &RedirectTarget{Gateway: wire.GatewayAddr(anycast)}}
	r, err := NewResponder(ResponderConfig{Config: *rc, Anycast: map[netip.Addr]netip.Addr{anycast: unicast}})
	if err != nil {
		t.Fatal(err)
	}
	ic, _, _ := pairConfig(102)
	dg := firstInit(t, ic)
	dg.Local = netip.AddrPortFrom(anycast, 500)
	res := r.Handle(epoch, dg)
	if res.Outcome != AnsweredRedirect || res.Reply.Local != dg.Local {
		t.Fatalf("%v from %v", res.Outcome, res.Reply.Local)
	}
	var m wire.Message
	if err := wire.ParseMessage(res.Reply.Payload, &m); err != nil {
		t.Fatal(err)
	}
	n, _ := m.Payloads.Notify(wire.NotifyRedirect)
	if rr, err := wire.ParseRedirect(n.Data); err != nil || rr.Gateway != wire.GatewayAddr(unicast) {
		t.Fatalf("REDIRECT to %+v (%v), want the unicast %v", rr.Gateway, err, unicast)
	}
}

// ResponderConfig.Anycast must map each anycast address to a unicast
// address of its family that is not anycast itself.
func TestRedirectAnycastConfigChecked(t *testing.T) {
	_, rc, _ := pairConfig(103)
	a6, a4 := netip.MustParseAddr("2001:db8:a::1"), netip.MustParseAddr("192.0.2.1")
	u6 := netip.MustParseAddr("2001:db8:2::2")
	for name, m := range map[string]map[netip.Addr]netip.Addr{
		"no unicast":               {a6: {}},
		"other family":             {a4: u6},
		"unspecified":              {netip.IPv6Unspecified(): u6},
		"anycast to other anycast": {a6: netip.MustParseAddr("2001:db8:a::2"), netip.MustParseAddr("2001:db8:a::2"): u6},
	} {
		if _, err := NewResponder(ResponderConfig{Config: *rc, Anycast: m}); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := NewResponder(ResponderConfig{Config: *rc, Anycast: map[netip.Addr]netip.Addr{a6: u6, netip.AddrFrom16(a4.As16()): netip.MustParseAddr("198.51.100.1")}}); err != nil {
		t.Errorf("valid anycast map (an IPv4-mapped key): %v", err)
	}
}

// Responder.Redirect is Handle's stateless redirect answer alone: the same
// REDIRECT for a redirect-capable client, nothing (and nothing counted) for
// a client that stays, for one that did not announce support and for what
// is not a first IKE_SA_INIT request.
func TestRedirectStatelessAnswer(t *testing.T) {
	_, rc, _ := pairConfig(104)
	rd := &redirector{init: &RedirectTarget{Gateway: wire.GatewayAddr(ha2)}}
	rc.Redirector = rd
	r, err := NewResponder(ResponderConfig{Config: *rc})
	if err != nil {
		t.Fatal(err)
	}
	ic, _, _ := pairConfig(105)
	dg := firstInit(t, ic)
	res, ok := r.Redirect(epoch, dg)
	want := r.Handle(epoch, dg)
	if !ok || res.Outcome != AnsweredRedirect || !bytes.Equal(res.Reply.Payload, want.Reply.Payload) || res.Reply.Local != dg.Local || res.Reply.Remote != dg.Remote {
		t.Fatalf("Redirect %v %+v, Handle %+v", ok, res, want)
	}
	if c := r.Counters(); c[AnsweredRedirect] != 2 || r.HalfOpen() != 0 {
		t.Errorf("counters %v, half-open %d", c, r.HalfOpen())
	}
	std, _, _ := pairConfig(106)
	std.DisableRedirect = true
	stays := &redirector{}
	rc2 := *rc
	rc2.Redirector = stays
	r2, _ := NewResponder(ResponderConfig{Config: rc2})
	for name, c := range map[string]struct {
		r  *Responder
		dg Datagram
	}{
		"no support":      {r, firstInit(t, std)},
		"stays":           {r2, firstInit(t, ic)},
		"not IKE_SA_INIT": {r, Datagram{Local: dg.Local, Remote: dg.Remote, Payload: dg.Payload[:27]}},
	} {
		before := c.r.Counters()
		if res, ok := c.r.Redirect(epoch, c.dg); ok || res.Reply.Payload != nil {
			t.Errorf("%s: redirected %+v", name, res)
		}
		if after := c.r.Counters(); !maps.Equal(before, after) {
			t.Errorf("%s: counted %v -> %v", name, before, after)
		}
	}
}
