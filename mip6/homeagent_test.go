package mip6

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/mip6/mh"
)

func newHomeAgent(t testing.TB, edit func(*HomeAgentConfig)) *HomeAgent {
	t.Helper()
	cfg := testConfig()
	if edit != nil {
		edit(&cfg)
	}
	ha, err := NewHomeAgent(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	return ha
}

// TestHomeAgentBindingUpdatePacket: a Binding Update arriving inside the
// tunnel as an IPv6 packet (HoA → HA, NH 135, Alternate CoA, MN
// Identifier) is accepted and answered with a BA packet HA → HoA whose
// checksum verifies.
func TestHomeAgentBindingUpdatePacket(t *testing.T) {
	ha := newHomeAgent(t, nil)
	opts := mh.MobileNodeIdentifier{Subtype: mh.MNIdentifierNAI, Identifier: []byte("mn@example.net")}.Append(nil)
	opts = mh.AlternateCoA{Addr: coa1}.Append(opts)
	pkt := mh.AppendPacket(nil, fromHoA(hoa1), mh.BindingUpdate{Sequence: 7, Flags: flagsAHK, Lifetime: 100, Options: opts})
	res := ha.Receive(t0, tunnelCtx(hoa1), pkt)
	if res.Type != mh.TypeBindingUpdate || res.Drop != DropNone || res.Decision.Verdict != Accepted {
		t.Fatalf("result %+v", res)
	}
	ip, h, err := mh.ParsePacket(res.Decision.AppendBA(nil))
	if err != nil {
		t.Fatal(err)
	}
	ba, err := mh.ParseBindingAck(h)
	if err != nil || ip.Src != haAddr || ip.Dst != hoa1 || ba.Sequence != 7 || ba.Lifetime != 100 || ba.Flags != mh.BAFlagK {
		t.Errorf("BA %+v from %v to %v: %v", ba, ip.Src, ip.Dst, err)
	}
	st := ha.Stats()
	if st.Received[mh.TypeBindingUpdate] != 1 || st.BAStatus[0] != 1 || st.Bindings != 1 {
		t.Errorf("stats %+v", st.Received[:8])
	}
}

// TestHomeAgentReceiveRules: RFC 6275 §9.2 at the packet level: a bad
// checksum is dropped silently, an unknown type answered with a Binding
// Error status 2 (rate limited, with the Home Address option's address),
// a bad Payload Proto or Header Len gives the ICMP pointer, and messages a
// home agent does not act on are counted.
func TestHomeAgentReceiveRules(t *testing.T) {
	ha := newHomeAgent(t, func(c *HomeAgentConfig) { c.BindingErrorRate = 2 })
	ctx := tunnelCtx(hoa1)
	good := func() []byte {
		return mh.AppendPacket(nil, fromHoA(hoa1), tunnelBU(1, flagsAH, 10, coa1))
	}
	withType := func(ip mh.IPv6, typ mh.Type) []byte {
		p := mh.AppendPacket(nil, ip, mh.BindingRefreshRequest{})
		off := ip.HeadersLen()
		p[off+2] = byte(typ)
		src, dst := ip.PseudoHeader()
		mh.SetChecksum(p[off:], src, dst)
		return p
	}

	p := good()
	p[len(p)-1] ^= 1
	if res := ha.Receive(t0, ctx, p); res.Drop != DropChecksum || res.Send.Message != nil || res.ParamProblem != -1 {
		t.Errorf("bad checksum: %+v", res)
	}

	native := mh.IPv6{Src: coa1, Dst: haAddr, HAO: hoa1}
	res := ha.Receive(t0, ctx, withType(native, 16))
	if res.Drop != DropUnknownType || res.Type != 16 {
		t.Fatalf("unknown type: %+v", res)
	}
	ip, h, err := mh.ParsePacket(res.Send.AppendPacket(nil))
	if err != nil {
		t.Fatal(err)
	}
	be, err := mh.ParseBindingError(h)
	if err != nil || be.Status != mh.BEUnrecognizedType || be.HoA != hoa1 || ip.Dst != coa1 || ip.Src != haAddr || ip.RH2.IsValid() {
		t.Errorf("Binding Error %+v to %+v: %v", be, ip, err)
	}
	res = ha.Receive(t0, ctx, withType(fromHoA(hoa1), 99))
	if m, ok := res.Send.Message.(mh.BindingError); !ok || m.HoA != netip.IPv6Unspecified() {
		t.Errorf("without HAO the Binding Error carries ::, got %+v", res.Send.Message)
	}
	if res := ha.Receive(t0, ctx, withType(fromHoA(hoa1), 99)); res.Send.Message != nil {
		t.Error("third Binding Error in the same instant: the rate (2/s) allows two")
	}
	if res := ha.Receive(t0.Add(time.Second), ctx, withType(fromHoA(hoa1), 99)); res.Send.Message == nil {
		t.Error("no Binding Error a second later")
	}
	multicast := withType(mh.IPv6{Src: netip.MustParseAddr("ff02::1"), Dst: haAddr}, 99)
	if res := ha.Receive(t0.Add(5*time.Second), ctx, multicast); res.Send.Message != nil {
		t.Error("Binding Error to a multicast source")
	}

	p = good()
	p[40] = 6 // Payload Proto
	mh.SetChecksum(p[40:], hoa1, haAddr)
	res = ha.Receive(t0.Add(10*time.Second), ctx, p)
	if res.Drop != DropParameterProblem || res.ParamProblem != 40 {
		t.Errorf("Payload Proto: %+v", res)
	}
	// RFC 6275 §9.2: an ICMPv6 Parameter Problem, code 0, pointing at the
	// Payload Proto field, to the packet's source, from its destination.
	if pp := res.ICMP; len(pp) != 40+8+len(p) || pp[6] != mh.ProtoICMPv6 || pp[40] != mh.ICMPv6TypeParameterProblem || pp[41] != 0 ||
		binary.BigEndian.Uint32(pp[44:48]) != 40 || !bytes.Equal(pp[48:], p) ||
		netip.AddrFrom16([16]byte(pp[8:24])) != haAddr || netip.AddrFrom16([16]byte(pp[24:40])) != hoa1 {
		t.Errorf("Parameter Problem for the Payload Proto: %x", pp)
	}
	p = mh.AppendPacket(nil, fromHoA(hoa1), mh.BindingRefreshRequest{}) // 8 octets
	p[42] = byte(mh.TypeBindingUpdate)
	mh.SetChecksum(p[40:], hoa1, haAddr)
	res = ha.Receive(t0.Add(10*time.Second), ctx, p)
	if res.Drop != DropParameterProblem || res.ParamProblem != 41 || len(res.ICMP) < 48 || binary.BigEndian.Uint32(res.ICMP[44:48]) != 41 {
		t.Errorf("Header Len: %+v", res)
	}
	// The rate (2/s) is shared with Binding Errors: no third answer in the
	// same instant, of either kind; the packets are still dropped.
	res = ha.Receive(t0.Add(10*time.Second), ctx, p)
	if res.Drop != DropParameterProblem || res.ICMP != nil {
		t.Errorf("third Parameter Problem in an instant: %+v", res)
	}
	if res := ha.Receive(t0.Add(10*time.Second), ctx, withType(fromHoA(hoa1), 99)); res.Send.Message != nil {
		t.Errorf("Binding Error after two Parameter Problems in the same instant: %+v", res)
	}
	multicastSrc := mh.AppendPacket(nil, mh.IPv6{Src: netip.MustParseAddr("ff02::1"), Dst: haAddr}, mh.BindingRefreshRequest{})
	multicastSrc[42] = byte(mh.TypeBindingUpdate)
	mh.SetChecksum(multicastSrc[40:], netip.MustParseAddr("ff02::1"), haAddr)
	if res := ha.Receive(t0.Add(20*time.Second), ctx, multicastSrc); res.Drop != DropParameterProblem || res.ICMP != nil {
		t.Errorf("Parameter Problem to a multicast source: %+v", res)
	}
	p = mh.AppendPacket(nil, fromHoA(hoa1), mh.BindingRefreshRequest{})
	if res := ha.Receive(t0, ctx, p); res.Drop != DropNotForHomeAgent || res.Type != mh.TypeBindingRefreshRequest {
		t.Errorf("BRR at the home agent: %+v", res)
	}
	if res := ha.Receive(t0, ctx, p[:30]); res.Drop != DropMalformed {
		t.Errorf("truncated: %+v", res)
	}
	st := ha.Stats()
	if st.BindingErrorsSent != 3 || st.ParameterProblemsSent != 2 || st.Drops[DropUnknownType] != 6 || st.Drops[DropChecksum] != 1 || st.Drops[DropParameterProblem] != 4 {
		t.Errorf("stats: BE %d, Parameter Problems %d, drops %v", st.BindingErrorsSent, st.ParameterProblemsSent, st.Drops)
	}
}

// TestDSMIPv6Registration: RFC 5555 at the home agent: an IPv4 home
// address is granted only if the identity owns it (0.0.0.0 asks for it),
// the BA carries the IPv4 Address Acknowledgement, and a UDP-encapsulated
// BU gets a NAT Detection option saying whether the outer source differs
// from the IPv4 care-of address.
func TestDSMIPv6Registration(t *testing.T) {
	own := netip.MustParseAddr("192.0.2.10")
	v4CoA := netip.MustParseAddr("198.51.100.5")
	nat := netip.MustParseAddrPort("203.0.113.9:4191")
	build := func(seq uint16, lifetime mh.Lifetime, v4 mh.IPv4HomeAddress) mh.BindingUpdate {
		o := mh.IPv4HomeAddress(v4).Append(nil)
		o = mh.IPv4CoA{Addr: v4CoA}.Append(o)
		return mh.BindingUpdate{Sequence: seq, Flags: flagsAH, Lifetime: lifetime, Options: o}
	}
	cases := []struct {
		name    string
		req     mh.IPv4HomeAddress
		owned   netip.Addr
		udp     netip.AddrPort
		ack     mh.IPv4AddressAck
		refresh uint32 // NAT Detection refresh time; 0: no option
		defend  bool
	}{
		{"dynamic, behind a NAT", mh.IPv4HomeAddress{PrefixLen: 32, Addr: netip.IPv4Unspecified()}, own, nat,
			mh.IPv4AddressAck{Status: 0, PrefixLen: 32, Addr: own}, 110, true},
		{"static, no NAT", mh.IPv4HomeAddress{PrefixLen: 32, Addr: own}, own, netip.AddrPortFrom(v4CoA, 4191),
			mh.IPv4AddressAck{Status: 0, PrefixLen: 32, Addr: own}, mh.NATNoKeepalives, true},
		{"someone else's address", mh.IPv4HomeAddress{PrefixLen: 32, Addr: netip.MustParseAddr("192.0.2.99")}, own, netip.AddrPort{},
			mh.IPv4AddressAck{Status: mh.IPv4AckIncorrectHoA, Addr: netip.MustParseAddr("192.0.2.99")}, 0, false},
		{"dynamic, none to give", mh.IPv4HomeAddress{PrefixLen: 32, Addr: netip.IPv4Unspecified()}, netip.Addr{}, netip.AddrPort{},
			mh.IPv4AddressAck{Status: mh.IPv4AckDynamicNotAvailable, Addr: netip.IPv4Unspecified()}, 0, false},
		{"prefix requested", mh.IPv4HomeAddress{PrefixLen: 24, P: true, Addr: netip.IPv4Unspecified()}, own, netip.AddrPort{},
			mh.IPv4AddressAck{Status: mh.IPv4AckPrefixUnauthorized, Addr: netip.IPv4Unspecified()}, 0, false},
		{"prefix length 0 is an error", mh.IPv4HomeAddress{Addr: own}, own, netip.AddrPort{},
			mh.IPv4AddressAck{Status: mh.IPv4AckUnspecified, Addr: own}, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(t, nil)
			ctx := Context{AuthorizedHoA: hoa1, AuthorizedIPv4HoA: tc.owned, InTunnel: true, UDPSource: tc.udp}
			d := c.Update(t0, ctx, fromHoA(hoa1), build(1, 10, tc.req))
			if d.Verdict != Accepted || d.Binding.CoA != v4CoA {
				t.Fatalf("decision %v, care-of address %v", d.Verdict, d.Binding.CoA)
			}
			ba := d.BindingAck()
			if ack, ok := ba.Options.IPv4AddressAck(); !ok || ack != tc.ack {
				t.Errorf("IPv4 ack %+v (%v), want %+v", ack, ok, tc.ack)
			}
			natOpt, ok := ba.Options.NATDetection()
			if ok != (tc.refresh != 0) || natOpt.RefreshTime != tc.refresh {
				t.Errorf("NAT detection %+v (%v), want refresh %d", natOpt, ok, tc.refresh)
			}
			if got := d.Actions&ActionDefendIPv4HoA != 0; got != tc.defend || d.Binding.IPv4HoA.IsValid() != tc.defend {
				t.Errorf("defend IPv4 %v, binding %v", got, d.Binding.IPv4HoA)
			}
			if d.Binding.UDPSource != tc.udp {
				t.Errorf("UDP source %v", d.Binding.UDPSource)
			}
			d = c.Update(t0, ctx, fromHoA(hoa1), build(2, 0, tc.req))
			if got := d.Actions&ActionStopDefendingIPv4HoA != 0; got != tc.defend {
				t.Errorf("deregistration stops IPv4 defence: %v", got)
			}
		})
	}
}

// TestBindingCacheConcurrent: many goroutines updating shared and own home
// addresses, with Tick and Lookup running beside them; every home address
// ends with the highest sequence number it sent.
func TestBindingCacheConcurrent(t *testing.T) {
	c := newCache(t, func(c *HomeAgentConfig) { c.Shards = 8 })
	const workers, perWorker, rounds = 8, 200, 5
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for r := range rounds {
				for i := range perWorker {
					hoa := hoaN(w*perWorker + i)
					d := c.Update(t0, tunnelCtx(hoa), fromHoA(hoa), tunnelBU(uint16(r+1), flagsAH, 100, coa1))
					if d.Verdict != Accepted {
						t.Errorf("%v round %d: %v %v", hoa, r, d.Verdict, d.Status)
						return
					}
					// A shared address, raced by everyone.
					shared := hoaN(100000)
					c.Update(t0, tunnelCtx(shared), fromHoA(shared), tunnelBU(uint16(w*rounds+r), flagsAH, 100, coa1))
				}
			}
		})
	}
	wg.Go(func() {
		for range 50 {
			c.Tick(t0.Add(time.Second), nil)
			c.Lookup(hoaN(3))
			c.Stats()
		}
	})
	wg.Wait()
	if c.Len() != workers*perWorker+1 {
		t.Fatalf("%d entries", c.Len())
	}
	for i := range workers * perWorker {
		if b, ok := c.Lookup(hoaN(i)); !ok || b.Sequence != rounds {
			t.Fatalf("%v: %+v", hoaN(i), b)
		}
	}
}

// TestSequenceGreaterAgainstDefinition compares SequenceGreater with the
// RFC 6275 §9.5.1 wording ("less than or equal if it lies in the range of
// the last received number and the preceding 32768 values").
func TestSequenceGreaterAgainstDefinition(t *testing.T) {
	notGreater := func(n, last uint16) bool {
		for k := range 32769 {
			if n == last-uint16(k) {
				return true
			}
		}
		return false
	}
	if SequenceGreater(0, 15) || SequenceGreater(15, 15) || SequenceGreater(32783, 15) || !SequenceGreater(32782, 15) || !SequenceGreater(16, 15) {
		t.Error("RFC example: after 15, 0..15 and 32783..65535 are not greater")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 300 {
		n, last := uint16(rng.Uint32()), uint16(rng.Uint32())
		if SequenceGreater(n, last) == notGreater(n, last) {
			t.Fatalf("n=%d last=%d", n, last)
		}
	}
}

// TestActionsString names the actions for logs.
func TestActionsString(t *testing.T) {
	if s := (ActionInstallRoute | ActionSendBA).String(); s != "install-route|send-ba" {
		t.Errorf("%q", s)
	}
	if s := Action(0).String(); s != "none" {
		t.Errorf("%q", s)
	}
	if DropNotAuthorized.String() != "not-authorized" || Accepted.String() != "accepted" || StateDeregistered.String() != "deregistered" {
		t.Error("names")
	}
	if !bytes.Equal([]byte(EventSendHAS.String()), []byte("send-has")) {
		t.Error(EventSendHAS.String())
	}
}

// TestCheckHomeAddressOption: RFC 6275 §9.3.1 for packets with a Home
// Address option: IPsec and Mobility Header packets pass, others need the
// binding with that care-of address, else Binding Error status 1 with the
// option's address goes to the source.
func TestCheckHomeAddressOption(t *testing.T) {
	ha := newHomeAgent(t, nil)
	if d := ha.Update(t0, Context{AuthorizedHoA: hoa1}, mh.IPv6{Src: coa1, Dst: haAddr, HAO: hoa1}, tunnelBU(1, flagsAH, 100, coa1)); d.Verdict != Accepted {
		t.Fatal(d.Verdict)
	}
	const udp = 17
	cases := []struct {
		src, hoa netip.Addr
		next     uint8
		ok, be   bool
	}{
		{coa1, hoa1, udp, true, false},
		{coa2, hoa1, udp, false, true},
		{coa2, hoa2, udp, false, true},
		{coa2, hoa2, protoESP, true, false},
		{coa2, hoa2, mh.ProtoMH, true, false},
		{coa2, netip.MustParseAddr("fe80::1"), protoESP, false, false},
	}
	for _, c := range cases {
		ok, out := ha.CheckHomeAddressOption(t0, c.src, haAddr, c.hoa, c.next)
		if ok != c.ok || (out.Message != nil) != c.be {
			t.Errorf("%v from %v (next %d): ok %v, BE %v", c.hoa, c.src, c.next, ok, out.Message)
			continue
		}
		if c.be {
			ip, m := decodeOne(t, out.AppendPacket(nil))
			if be, isBE := m.(mh.BindingError); !isBE || be.Status != mh.BEUnknownBinding || be.HoA != c.hoa || ip.Dst != c.src {
				t.Errorf("Binding Error %+v to %v", m, ip.Dst)
			}
		}
	}
}

func decodeOne(t *testing.T, pkt []byte) (mh.IPv6, mh.Message) {
	t.Helper()
	ip, h, err := mh.ParsePacket(pkt)
	if err != nil {
		t.Fatal(err)
	}
	m, err := mh.Decode(h)
	if err != nil {
		t.Fatal(err)
	}
	return ip, m
}
