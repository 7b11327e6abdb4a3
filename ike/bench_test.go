package ike

import (
	"crypto/rand"
	"net/netip"
	"testing"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// Parse and encode of a full IKE_SA_INIT are measured in ike/wire
// (BenchmarkParseInitRequest, BenchmarkEncodeInitRequest); the crypto
// floors (X25519, key schedule, SK) in ike/ikecrypto.

// benchConfigs returns the set-up the benchmarks measure: PSK, X25519,
// AES-GCM-16-256 for IKE and ESP, one CHILD_SA, an IPv6 address by CP.
func benchConfigs() (ic, rc *Config) {
	ic, rc, _ = pairConfig(1)
	ic.IKEProposals = MustProposals("aes256gcm16-prfsha256-x25519")
	rc.IKEProposals = ic.IKEProposals
	ic.ESPProposals = MustProposals("aes256gcm16")
	rc.ESPProposals = ic.ESPProposals
	ic.Rand, rc.Rand = rand.Reader, rand.Reader
	return ic, rc
}

var (
	benchMN = netip.MustParseAddrPort("[2001:db8:1::1]:500")
	benchHA = netip.MustParseAddrPort("[2001:db8:2::2]:500")
)

// reverse turns a datagram sent by one side into the one the other
// receives.
func reverse(d Datagram) Datagram {
	return Datagram{Local: d.Remote, Remote: d.Local, NATT: d.NATT, Payload: d.Payload}
}

// onlyDatagram takes the single datagram of an SA's Ready.
func onlyDatagram(b *testing.B, sa *SA) Datagram {
	r := sa.Ready()
	sa.Advance()
	if len(r.Datagrams) != 1 {
		b.Fatalf("%d datagrams; events %+v", len(r.Datagrams), r.Events)
	}
	return r.Datagrams[0]
}

// BenchmarkResponderFullIKESA measures the responder's CPU per full IKE SA:
// IKE_SA_INIT and IKE_AUTH (PSK, X25519, AES-GCM-16-256) with one CHILD_SA
// and a CP address, timing only the responder's calls (Responder.Handle,
// SA.Receive, Ready).
func BenchmarkResponderFullIKESA(b *testing.B) {
	ic, rc := benchConfigs()
	r, err := NewResponder(ResponderConfig{Config: *rc})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	b.StopTimer()
	for range b.N {
		i, err := NewInitiator(ic, Path{Local: benchMN, Remote: benchHA})
		if err != nil {
			b.Fatal(err)
		}
		_ = i.Initiate(epoch)
		init := reverse(onlyDatagram(b, i))

		b.StartTimer()
		res := r.Handle(epoch, init)
		resp := onlyDatagram(b, res.SA)
		b.StopTimer()

		i.Receive(epoch, reverse(resp))
		auth := reverse(onlyDatagram(b, i))

		b.StartTimer()
		res.SA.Receive(epoch, auth)
		rd := res.SA.Ready()
		res.SA.Advance()
		b.StopTimer()

		if len(rd.ChildOps) != 2 || len(rd.Datagrams) != 1 {
			b.Fatalf("IKE_AUTH: %d ops, %d datagrams", len(rd.ChildOps), len(rd.Datagrams))
		}
	}
}

// BenchmarkPairFullIKESA measures both sides of a full IKE SA set-up, as
// BenchmarkResponderFullIKESA, plus the initiator's handling of the IKE_AUTH
// response.
func BenchmarkPairFullIKESA(b *testing.B) {
	ic, rc := benchConfigs()
	r, err := NewResponder(ResponderConfig{Config: *rc})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		i, _ := NewInitiator(ic, Path{Local: benchMN, Remote: benchHA})
		_ = i.Initiate(epoch)
		res := r.Handle(epoch, reverse(onlyDatagram(b, i)))
		i.Receive(epoch, reverse(onlyDatagram(b, res.SA)))
		res.SA.Receive(epoch, reverse(onlyDatagram(b, i)))
		i.Receive(epoch, reverse(onlyDatagram(b, res.SA)))
		if i.State() != StateEstablished {
			b.Fatal("not established")
		}
		i.Advance()
	}
}

// BenchmarkRedirectAtInit measures the responder answering an IKE_SA_INIT
// request with REDIRECT (RFC 5685 §3): parse, Redirector, encode; no D-H,
// no state. Requests per second per core = 1e9 / ns/op.
func BenchmarkRedirectAtInit(b *testing.B) {
	ic, rc := benchConfigs()
	rc.Redirector = &alwaysRedirect{RedirectTarget{Gateway: wire.GatewayAddr(netip.MustParseAddr("2001:db8:2::3"))}}
	r, err := NewResponder(ResponderConfig{Config: *rc})
	if err != nil {
		b.Fatal(err)
	}
	i, _ := NewInitiator(ic, Path{Local: benchMN, Remote: benchHA})
	_ = i.Initiate(epoch)
	req := reverse(onlyDatagram(b, i))
	b.SetBytes(int64(len(req.Payload)))
	b.ReportAllocs()
	for b.Loop() {
		if res := r.Handle(epoch, req); res.Outcome != AnsweredRedirect {
			b.Fatal(res.Outcome)
		}
	}
}

// alwaysRedirect redirects every client; it is safe for concurrent use.
type alwaysRedirect struct{ t RedirectTarget }

func (a *alwaysRedirect) AtInit(InitInfo) (RedirectTarget, bool) { return a.t, true }
func (a *alwaysRedirect) AtAuth(AuthInfo) (RedirectTarget, bool) { return a.t, true }

// BenchmarkResponderInformational measures an established responder SA
// answering an empty INFORMATIONAL request (a liveness check): open,
// dispatch, seal.
func BenchmarkResponderInformational(b *testing.B) {
	ic, rc := benchConfigs()
	p := newPair(b, ic, rc)
	p.establish()
	r := p.r()
	ike := p.i.cur
	b.ReportAllocs()
	for b.Loop() {
		msg, err := p.i.protected(ike, wire.ExchangeInformational, ike.nextID, false)
		if err != nil {
			b.Fatal(err)
		}
		ike.nextID++
		r.Receive(p.now, Datagram{Local: r.Path().Local, Remote: r.Path().Remote, Payload: msg})
		if len(r.Ready().Datagrams) != 1 {
			b.Fatal("no answer")
		}
		r.Advance()
	}
}

// BenchmarkRedirectStateless measures Responder.Redirect, the stateless
// answer a runtime gives on its socket goroutines: parse (into recycled
// storage), Redirector, encode.
func BenchmarkRedirectStateless(b *testing.B) {
	ic, rc := benchConfigs()
	rc.Redirector = &alwaysRedirect{RedirectTarget{Gateway: wire.GatewayAddr(netip.MustParseAddr("2001:db8:2::3"))}}
	r, err := NewResponder(ResponderConfig{Config: *rc})
	if err != nil {
		b.Fatal(err)
	}
	i, _ := NewInitiator(ic, Path{Local: benchMN, Remote: benchHA})
	_ = i.Initiate(epoch)
	req := reverse(onlyDatagram(b, i))
	b.SetBytes(int64(len(req.Payload)))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := r.Redirect(epoch, req); !ok {
			b.Fatal("not redirected")
		}
	}
}
