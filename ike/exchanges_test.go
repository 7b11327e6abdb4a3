package ike

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// RFC 7296 §2.4: after LivenessInterval of silence an empty INFORMATIONAL
// checks the peer; a peer that answers none of the retransmissions is dead.
func TestLivenessCheckAndFailure(t *testing.T) {
	ic, rc, _ := pairConfig(80)
	ic.LivenessInterval = 30 * time.Second
	ic.Retransmit = Retransmit{Timeout: time.Second, Base: 2, Tries: 2}
	p := newPair(t, ic, rc)
	p.establish()
	p.advance(31 * time.Second)
	if n := len(p.messages(wire.ExchangeInformational, false)); n != 1 {
		t.Fatalf("%d liveness checks after 31 s", n)
	}
	if p.i.Done() {
		t.Fatal("live peer declared dead")
	}
	p.filter = func(Datagram) verdict { return drop } // the responder vanishes
	p.advance(30*time.Second + 7*time.Second)
	if len(eventsOf[LivenessFailed](p.mn)) != 1 {
		t.Fatal("no LivenessFailed")
	}
	d := eventsOf[IKEDown](p.mn)
	if len(d) != 1 || d[0].Reason != DownTimeout || !errors.Is(d[0].Err, ErrTimeout) {
		t.Fatalf("IKEDown %+v", d)
	}
	if len(p.mn.inbound)+len(p.mn.outbound) != 0 {
		t.Fatal("CHILD_SA left installed")
	}
}

// The key log has one line per IKE SA, new or rekeyed, in the format of
// tshark's ikev2_decryption_table, and its keys decrypt the exchange.
func TestKeyLog(t *testing.T) {
	ic, rc, _ := pairConfig(81)
	var ilog, rlog bytes.Buffer
	ic.KeyLog, rc.KeyLog = &ilog, &rlog
	ic.IKEProposals = MustProposals("aes128-sha256-x25519")
	p := newPair(t, ic, rc)
	p.establish()
	if err := p.i.RekeyIKE(p.now); err != nil {
		t.Fatal(err)
	}
	p.run()
	lines := strings.Split(strings.TrimSpace(ilog.String()), "\n")
	if len(lines) != 2 || ilog.String() != rlog.String() {
		t.Fatalf("key logs:\n%s\n%s", ilog.String(), rlog.String())
	}
	for i, spis := range []SPIs{eventsOf[IKERekeyed](p.mn)[0].Old, p.i.SPIs()} {
		f := strings.Split(lines[i], ",")
		if len(f) != 8 || f[0] != fmt.Sprintf("%016x", spis.I) || f[1] != fmt.Sprintf("%016x", spis.R) ||
			f[4] != `"AES-CBC-128 [RFC3602]"` || f[7] != `"HMAC_SHA2_256_128 [RFC4868]"` {
			t.Errorf("line %d: %s", i, lines[i])
		}
		if f[2] != fmt.Sprintf("%x", p.mn.known[spis].keys.SKei) {
			t.Errorf("line %d: SK_ei differs from the IKE SA's", i)
		}
	}
}

// RFC 7296 §1.3.1: USE_TRANSPORT_MODE in request and response gives a
// transport mode CHILD_SA; a responder that wants tunnel mode answers
// without it and the initiator refuses the CHILD_SA.
func TestTransportMode(t *testing.T) {
	for _, responderAllows := range []bool{true, false} {
		ic, rc, _ := pairConfig(82)
		ic.Mode = Transport
		ic.Request = CPRequest{}
		ic.LocalTS = []wire.TrafficSelector{wire.AddrSelector(netip.MustParseAddr("2001:db8:1::1"))}
		ic.RemoteTS = []wire.TrafficSelector{wire.AddrSelector(netip.MustParseAddr("2001:db8:2::2"))}
		if responderAllows {
			rc.Mode = Transport
		}
		rc.LocalTS = nil
		p := newPair(t, ic, rc)
		p.establish()
		p.run()
		if !responderAllows {
			f := eventsOf[ChildFailed](p.mn)
			if len(f) != 1 || len(p.mn.inbound) != 0 || len(p.ha.inbound) != 0 {
				t.Fatalf("tunnel answer to a transport request: ChildFailed %+v, mn %d ha %d inbound", f, len(p.mn.inbound), len(p.ha.inbound))
			}
			continue
		}
		checkOnePair(t, p)
		for _, n := range []*node{p.mn, p.ha} {
			for _, c := range n.inbound {
				if c.Mode != Transport {
					t.Errorf("%s: %v mode", n.name, c.Mode)
				}
			}
		}
		// A rekey keeps the mode.
		if err := p.i.RekeyChild(p.now, onlyChild(t, p.i).InSPI); err != nil {
			t.Fatal(err)
		}
		p.run()
		checkOnePair(t, p)
		if onlyChild(t, p.r()).Mode != Transport {
			t.Error("mode lost in the rekey")
		}
	}
}

// tsPolicy narrows to fixed selectors.
type tsPolicy struct {
	tsi, tsr []wire.TrafficSelector
	err      error
	got      []TSRequest
}

func (p *tsPolicy) Narrow(req TSRequest) ([]wire.TrafficSelector, []wire.TrafficSelector, error) {
	p.got = append(p.got, req)
	return p.tsi, p.tsr, p.err
}

// RFC 7296 §2.9: the responder narrows the traffic selectors, through its
// TSPolicy or its configured selectors; nothing in common is
// TS_UNACCEPTABLE, which leaves the IKE SA up.
func TestTrafficSelectorNarrowing(t *testing.T) {
	mh := wire.TrafficSelector{Type: wire.TSIPv6AddrRange, IPProtocol: wire.IPProtocolMH, StartAddr: hoa.Addr(), EndAddr: hoa.Addr()}
	mh.StartPort, mh.EndPort = wire.MHTypeRange(5, 6)
	t.Run("policy", func(t *testing.T) {
		ic, rc, _ := pairConfig(83)
		pol := &tsPolicy{tsi: []wire.TrafficSelector{mh}, tsr: []wire.TrafficSelector{wire.AddrSelector(netip.MustParseAddr("2001:db8:2::2"))}}
		rc.TSPolicy = pol
		p := newPair(t, ic, rc)
		p.establish()
		if len(pol.got) != 1 || pol.got[0].Assignment.IPv6 != hoa || pol.got[0].Peer != mnID {
			t.Fatalf("TSPolicy asked %+v", pol.got)
		}
		c := onlyChild(t, p.i)
		if len(c.LocalTS) != 1 || c.LocalTS[0].IPProtocol != wire.IPProtocolMH || c.LocalTS[0].StartPort != 0x0500 {
			t.Errorf("TSi %v", c.LocalTS)
		}
	})
	t.Run("widening-policy-refused", func(t *testing.T) {
		ic, rc, _ := pairConfig(84)
		ic.LocalTS = []wire.TrafficSelector{wire.AddrSelector(hoa.Addr())}
		rc.TSPolicy = &tsPolicy{tsi: []wire.TrafficSelector{anyIPv6}, tsr: []wire.TrafficSelector{anyIPv6}}
		p := newPair(t, ic, rc)
		p.establish()
		if f := eventsOf[ChildFailed](p.mn); len(f) != 1 || f[0].Notify != wire.NotifyTSUnacceptable || !f[0].ByPeer {
			t.Fatalf("ChildFailed %+v", f)
		}
		if p.i.State() != StateEstablished {
			t.Fatal("IKE SA down after TS_UNACCEPTABLE")
		}
	})
	t.Run("configured-selectors", func(t *testing.T) {
		ic, rc, _ := pairConfig(85)
		ic.Request = CPRequest{}
		ic.LocalTS = []wire.TrafficSelector{wire.PrefixSelector(netip.MustParsePrefix("2001:db8:1::/64"))}
		rc.RemoteTS = []wire.TrafficSelector{wire.PrefixSelector(netip.MustParsePrefix("2001:db8:1::/112"))}
		p := newPair(t, ic, rc)
		p.establish()
		c := onlyChild(t, p.r())
		if len(c.RemoteTS) != 1 || c.RemoteTS[0].EndAddr != netip.MustParseAddr("2001:db8:1::ffff") {
			t.Errorf("narrowed TSi %v", c.RemoteTS)
		}
	})
	t.Run("disjoint", func(t *testing.T) {
		ic, rc, _ := pairConfig(86)
		ic.RemoteTS = []wire.TrafficSelector{wire.PrefixSelector(netip.MustParsePrefix("2001:db8:300::/48"))}
		p := newPair(t, ic, rc)
		p.establish()
		if f := eventsOf[ChildFailed](p.ha); len(f) != 1 || f[0].Notify != wire.NotifyTSUnacceptable || f[0].ByPeer {
			t.Fatalf("responder ChildFailed %+v", f)
		}
	})
}

// RFC 7296 §2.19, §3.15.1, RFC 5026 §8.2: IPv6 and IPv4 addresses (empty or
// suggested), DNS and the MIP6 home prefix travel in CP; a refused
// assignment is INTERNAL_ADDRESS_FAILURE, the IKE SA stands unless the
// initiator requires an address (RFC 4877 §9).
func TestConfigurationPayload(t *testing.T) {
	t.Run("suggested-addresses-and-home-prefix", func(t *testing.T) {
		ic, rc, pool := pairConfig(87)
		ic.Request = CPRequest{SuggestIPv6: hoa, SuggestIPv4: netip.MustParseAddr("192.0.2.7"), DNS: true, HomePrefix: true}
		ic.LocalTS = nil
		pool.a = Assignment{IPv6: hoa, IPv4: netip.MustParseAddr("192.0.2.7"), HomePrefix: netip.MustParsePrefix("2001:db8:100::/64"), HomePrefixLifetime: 3600,
			DNS: []netip.Addr{netip.MustParseAddr("2001:db8::53"), netip.MustParseAddr("192.0.2.53")}}
		rc.LocalTS = nil
		p := newPair(t, ic, rc)
		p.establish()
		req := pool.requests[0]
		if req.SuggestedIPv6 != hoa || req.SuggestedIPv4 != netip.MustParseAddr("192.0.2.7") || !req.HomePrefix || !req.DNS6 || !req.DNS4 || !req.IPv4 || !req.IPv6 {
			t.Fatalf("request %+v", req)
		}
		got := eventsOf[AddressAssigned](p.mn)[0].Assignment
		if got.IPv6 != hoa || got.IPv4 != pool.a.IPv4 || got.HomePrefix != pool.a.HomePrefix || got.HomePrefixLifetime != 3600 || len(got.DNS) != 2 {
			t.Fatalf("assignment %+v", got)
		}
		// TSi narrowed to both assigned addresses.
		if c := onlyChild(t, p.i); len(c.LocalTS) != 2 {
			t.Errorf("TSi %v", c.LocalTS)
		}
	})
	for _, require := range []bool{false, true} {
		t.Run(fmt.Sprintf("failure-require-%v", require), func(t *testing.T) {
			ic, rc, pool := pairConfig(88)
			ic.RequireAddress = require
			pool.err = errors.New("pool exhausted")
			p := newPair(t, ic, rc)
			p.establish()
			p.run()
			if f := eventsOf[ChildFailed](p.mn); len(f) != 1 || f[0].Notify != wire.NotifyInternalAddressFailure {
				t.Fatalf("ChildFailed %+v", f)
			}
			if len(p.mn.inbound)+len(p.ha.inbound) != 0 {
				t.Fatal("CHILD_SA without an address")
			}
			if p.i.Done() != require {
				t.Fatalf("IKE SA done %v, RequireAddress %v", p.i.Done(), require)
			}
		})
	}
}

// UpdatePeer moves the IKE SA and the CHILD_SAs to the peer's new address
// (a care-of address change learnt from a Binding Update).
func TestUpdatePeer(t *testing.T) {
	ic, rc, _ := pairConfig(89)
	p := newPair(t, ic, rc)
	p.establish()
	coa := netip.MustParseAddrPort("[2001:db8:1::99]:500")
	if err := p.r().UpdatePeer(p.now, coa); err != nil {
		t.Fatal(err)
	}
	p.run()
	if p.r().Path().Remote != coa {
		t.Fatalf("path %v", p.r().Path())
	}
	if mv := eventsOf[PeerMoved](p.ha); len(mv) != 1 || mv[0].New.Remote != coa {
		t.Fatalf("PeerMoved %+v", mv)
	}
	for _, c := range p.ha.outbound {
		if c.Remote.Addr() != coa.Addr() {
			t.Errorf("CHILD_SA still towards %v", c.Remote)
		}
	}
}

// RFC 7296 §2.21.2, §3.14: a protected message whose integrity check fails
// is dropped without an answer and changes nothing; the genuine message
// that follows is processed.
func TestForgedProtectedMessageDroppedSilently(t *testing.T) {
	ic, rc, _ := pairConfig(90)
	p := newPair(t, ic, rc)
	p.establish()
	r := p.r()
	ike := p.i.cur
	msg, err := p.i.protected(ike, wire.ExchangeInformational, ike.nextID, false, ptr(wire.DeleteIKESA()))
	if err != nil {
		t.Fatal(err)
	}
	forged := append([]byte(nil), msg...)
	forged[len(forged)-1] ^= 1
	sent := len(p.trace)
	p.ha.receive(p.now, Datagram{Local: r.Path().Local, Remote: r.Path().Remote, Payload: forged}, nil)
	p.run()
	if len(p.trace) != sent || r.Done() || r.Stats().DroppedIntegrity != 1 {
		t.Fatalf("forged Delete: answered %v, done %v, stats %+v", len(p.trace) != sent, r.Done(), r.Stats())
	}
	ike.nextID++
	p.ha.receive(p.now, Datagram{Local: r.Path().Local, Remote: r.Path().Remote, Payload: msg}, nil)
	p.run()
	if !r.Done() {
		t.Fatal("genuine Delete not processed after the forged one")
	}
}
