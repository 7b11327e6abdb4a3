package mip6wire

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/mip6"
	"github.com/mip6ha/mip6ha/mip6/mh"
	"github.com/mip6ha/mip6ha/test/tshark"
)

var (
	t0      = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	haAddr  = netip.MustParseAddr("2001:db8:1::1")
	hoa1    = netip.MustParseAddr("2001:db8:1::1234")
	hoa2    = netip.MustParseAddr("2001:db8:1::5678")
	coa1    = netip.MustParseAddr("2001:db8:100::10")
	coa2    = netip.MustParseAddr("2001:db8:200::20")
	alt1    = netip.MustParseAddr("2001:db8:2::1")
	alt2    = netip.MustParseAddr("2001:db8:3::1")
	v4HoA   = netip.MustParseAddr("192.0.2.10")
	v4CoA   = netip.MustParseAddr("198.51.100.5")
	natAddr = netip.MustParseAddrPort("203.0.113.9:4191")
	nai1    = "mn1@example.net"
)

// sent is one packet our code produced, with the addressing and message
// value it was built from.
type sent struct {
	name string
	ip   mh.IPv6
	msg  mh.Message
	wire []byte
}

type capture struct {
	t    *testing.T
	pkts []sent
}

func (c *capture) add(name string, ip mh.IPv6, m mh.Message, wire []byte) []byte {
	c.t.Helper()
	if m == nil || len(wire) == 0 {
		c.t.Fatalf("%s: nothing to send", name)
	}
	c.pkts = append(c.pkts, sent{name: name, ip: ip, msg: m, wire: wire})
	return wire
}

func (c *capture) out(name string, o mip6.Outgoing) []byte {
	return c.add(name, o.IP, o.Message, o.AppendPacket(nil))
}

func (c *capture) ba(name string, d mip6.Decision) []byte {
	c.t.Helper()
	if d.Actions&mip6.ActionSendBA == 0 {
		c.t.Fatalf("%s: no Binding Acknowledgement (%v, %v)", name, d.Verdict, d.Drop)
	}
	return c.add(name, d.Reply, d.BindingAck(), d.AppendBA(nil))
}

// only returns the single message a Ready holds.
func only(t *testing.T, r mip6.Ready) mip6.Outgoing {
	t.Helper()
	if len(r.Send) != 1 {
		t.Fatalf("%d messages to send, want 1", len(r.Send))
	}
	return r.Send[0]
}

// produce runs a home agent and two mobile nodes through the exchanges of
// RFC 6275, RFC 5142 and RFC 5555 and records every packet they send; the
// return routability messages and a correspondent registration, which no
// state machine here sends, come from the codec.
func produce(t *testing.T) []sent {
	c := &capture{t: t}
	ha, err := mip6.NewHomeAgent(mip6.HomeAgentConfig{
		HomePrefixes:          []mip6.HomePrefix{{Prefix: netip.MustParsePrefix("2001:db8:1::/64")}},
		KeyManagementMobility: true,
		SkipDAD:               true,
		RefreshAdvice:         300 * time.Second,
		BindingErrorRate:      100,
	}, t0)
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	native := mip6.Context{Identity: nai1, AuthorizedHoA: hoa1, AuthorizedIPv4HoA: v4HoA, UDPSource: natAddr}
	tunnel := mip6.Context{Identity: "mn2@example.net", AuthorizedHoA: hoa2, InTunnel: true}

	// Mobile node 1, native form (HAO, RH2), DSMIPv6 options, L and K.
	mn1 := mip6.NewBindingUpdateList(mip6.MobileNodeConfig{})
	if err := mn1.Register(now, mip6.Registration{HoA: hoa1, HA: haAddr, CoA: coa1, Lifetime: 1200 * time.Second,
		Identifier: []byte(nai1), KeyManagementMobility: true, LinkLocalCompatible: true,
		IPv4HoA: netip.IPv4Unspecified(), IPv4CoA: v4CoA}); err != nil {
		t.Fatal(err)
	}
	bu := c.out("BU native, DSMIPv6", only(t, mn1.Ready()))
	mn1.Receive(now, c.ba("BA with RH2, BRA, IPv4 ack, NAT detection", ha.Receive(now, native, bu).Decision))

	// Mobile node 2, all-in-tunnel form (RFC 4877 §3).
	mn2 := mip6.NewBindingUpdateList(mip6.MobileNodeConfig{})
	mn2.Register(now, mip6.Registration{HoA: hoa2, HA: haAddr, CoA: coa2, Lifetime: 400 * time.Second, InTunnel: true})
	bu2 := c.out("BU in the tunnel", only(t, mn2.Ready()))
	mn2.Receive(now, c.ba("BA in the tunnel", ha.Receive(now, tunnel, bu2).Decision))
	c.ba("BA 135 to a replayed BU", ha.Receive(now, tunnel, bu2).Decision)

	// Binding Refresh Request and the refresh it causes.
	now = now.Add(10 * time.Second)
	brr, err := ha.RefreshRequest(hoa1)
	if err != nil {
		t.Fatal(err)
	}
	mn1.Receive(now, c.out("BRR with RH2", brr))
	refresh := c.out("BU refresh after BRR", only(t, mn1.Ready()))
	mn1.Receive(now, c.ba("BA to the refresh", ha.Receive(now, native, refresh).Decision))

	// Home Agent Switch: two alternates with a grace period, then none.
	if err := ha.Switch(now, hoa2, []netip.Addr{alt1, alt2}, 120*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := ha.Switch(now, hoa1, nil, 0); err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		evs := ha.Tick(now.Add(time.Duration(i)*time.Second), nil)
		if len(evs) != 1 || evs[0].Kind != mip6.EventSendHAS {
			t.Fatalf("tick %d: %+v", i, evs)
		}
		name := "HAS two addresses, BRA, in the tunnel"
		if evs[0].Binding.HoA == hoa1 {
			name = "HAS no address, RH2"
		}
		has := c.out(name, evs[0].Send)
		if evs[0].Binding.HoA == hoa2 {
			mn2.Receive(now, has)
		}
	}
	// Mobile node 2 deregisters at once (make-before-break done).
	mn2.Ready()
	if err := mn2.Deregister(now, hoa2, haAddr); err != nil {
		t.Fatal(err)
	}
	dereg := c.out("BU deregistration", only(t, mn2.Ready()))
	c.ba("BA to the deregistration", ha.Receive(now, tunnel, dereg).Decision)

	// Binding Errors both ways for an unknown MH Type (16).
	unknown := mh.AppendPacket(nil, mh.IPv6{Src: coa1, Dst: haAddr, HAO: hoa1}, mh.BindingRefreshRequest{})
	unknown[64+2] = 16
	mh.SetChecksum(unknown[64:], hoa1, haAddr)
	c.out("BE from the home agent", ha.Receive(now, native, unknown).Send)
	toMN := mh.AppendPacket(nil, mh.IPv6{Src: haAddr, Dst: hoa2}, mh.BindingRefreshRequest{})
	toMN[40+2] = 16
	mh.SetChecksum(toMN[40:], haAddr, hoa2)
	mn2.Receive(now, toMN)
	c.out("BE from the mobile node", only(t, mn2.Ready()))

	// Return routability messages and a correspondent registration.
	rr := mh.IPv6{Src: hoa1, Dst: haAddr}
	for _, m := range []mh.Message{
		mh.HomeTestInit{Cookie: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}},
		mh.CareOfTestInit{Cookie: [8]byte{0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8}},
		mh.HomeTest{NonceIndex: 0x1234, Cookie: [8]byte{1, 2, 3, 4, 5, 6, 7, 8}, KeygenToken: [8]byte{0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7}},
		mh.CareOfTest{NonceIndex: 0x4321, Cookie: [8]byte{0xf1, 0xf2}, KeygenToken: [8]byte{0xb0, 0xb1}},
	} {
		c.add(m.Type().String(), rr, m, mh.AppendPacket(nil, rr, m))
	}
	cnBU := mh.BindingUpdate{Sequence: 77, Flags: mh.BUFlagA, Lifetime: 105,
		Options: mh.BindingAuthorizationData{Authenticator: []byte{0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8}}.Append(
			mh.NonceIndices{Home: 0x0102, CareOf: 0x0304}.Append(nil))}
	cn := c.add("BU correspondent registration", mh.IPv6{Src: coa1, Dst: haAddr, HAO: hoa1}, cnBU,
		mh.AppendPacket(nil, mh.IPv6{Src: coa1, Dst: haAddr, HAO: hoa1}, cnBU))
	c.ba("BA 138: no nonces here", ha.Receive(now, native, cn).Decision)
	return c.pkts
}

func flag(set bool) string {
	if set {
		return "1"
	}
	return "0"
}

func num[T ~uint8 | ~uint16 | ~uint32](v T) string { return strconv.FormatUint(uint64(v), 10) }

// expected lists the tshark fields (tshark 4.0.17 names, mip6.md §10) and
// the values each should have, from the value our code built the packet
// from.
func expected(s sent) map[string][]string {
	e := map[string][]string{}
	set := func(field string, vals ...string) { e[field] = append(e[field], vals...) }
	set("ipv6.src", s.ip.Src.String())
	set("ipv6.dst", s.ip.Dst.String())
	if s.ip.HAO.IsValid() {
		set("ipv6.opt.mipv6.home_address", s.ip.HAO.String())
	}
	if s.ip.RH2.IsValid() {
		set("ipv6.routing.type", "2")
		set("ipv6.routing.segleft", "1")
		set("ipv6.routing.mipv6.home_address", s.ip.RH2.String())
	}
	mhStart := s.ip.HeadersLen()
	set("mip6.proto", "59")
	set("mip6.hlen", strconv.Itoa(s.msg.Len()/8-1))
	set("mip6.mhtype", num(uint8(s.msg.Type())))
	set("mip6.csum", fmt.Sprintf("0x%04x", binary.BigEndian.Uint16(s.wire[mhStart+4:])))

	var opts mh.Options
	switch m := s.msg.(type) {
	case mh.BindingUpdate:
		set("mip6.bu.seqnr", num(m.Sequence))
		set("mip6.bu.a_flag", flag(m.Flags&mh.BUFlagA != 0))
		set("mip6.bu.h_flag", flag(m.Flags&mh.BUFlagH != 0))
		set("mip6.bu.l_flag", flag(m.Flags&mh.BUFlagL != 0))
		set("mip6.bu.k_flag", flag(m.Flags&mh.BUFlagK != 0))
		set("mip6.bu.lifetime", num(uint16(m.Lifetime)))
		opts = m.Options
	case mh.BindingAck:
		set("mip6.ba.status", num(uint8(m.Status)))
		set("mip6.ba.k_flag", flag(m.Flags&mh.BAFlagK != 0))
		set("mip6.ba.seqnr", num(m.Sequence))
		set("mip6.ba.lifetime", num(uint16(m.Lifetime)))
		opts = m.Options
	case mh.BindingError:
		set("mip6.be.status", num(uint8(m.Status)))
		set("mip6.be.haddr", m.HoA.String())
		opts = m.Options
	case mh.HomeAgentSwitch:
		set("mip6.has.num_addrs", strconv.Itoa(len(m.Addresses)))
		for _, a := range m.Addresses {
			set("mip6.has.address", a.String())
		}
		// tshark 4.0.17 mis-parses options after the address list
		// (mip6.md trap 2): they are checked from our own bytes.
	case mh.BindingRefreshRequest:
		opts = m.Options
	case mh.HomeTestInit:
		set("mip6.hoti.cookie", fmt.Sprintf("0x%x", m.Cookie))
	case mh.CareOfTestInit:
		set("mip6.coti.cookie", fmt.Sprintf("0x%x", m.Cookie))
	case mh.HomeTest:
		set("mip6.hot.nindex", num(m.NonceIndex))
		set("mip6.hot.cookie", fmt.Sprintf("0x%x", m.Cookie))
		set("mip6.hot.token", fmt.Sprintf("0x%x", m.KeygenToken))
	case mh.CareOfTest:
		set("mip6.cot.nindex", num(m.NonceIndex))
		set("mip6.cot.cookie", fmt.Sprintf("0x%x", m.Cookie))
		set("mip6.hot.token", fmt.Sprintf("0x%x", m.KeygenToken)) // tshark 4.0.17 has no mip6.cot.token
	}
	for o := range opts.All() {
		switch o.Type {
		case mh.OptBindingRefreshAdvice:
			v, _ := opts.BindingRefreshAdvice()
			set("mip6.bra.interval", num(uint16(v.Interval)))
		case mh.OptAlternateCoA:
			v, _ := opts.AlternateCoA()
			set("mip6.acoa.acoa", v.Addr.String())
		case mh.OptNonceIndices:
			v, _ := opts.NonceIndices()
			set("mip6.ni.hni", num(v.Home))
			set("mip6.ni.cni", num(v.CareOf))
		case mh.OptBindingAuthorizationData:
			v, _ := opts.BindingAuthorizationData()
			set("mip6.bad.auth", hex.EncodeToString(v.Authenticator))
		case mh.OptMobileNodeIdentifier:
			v, _ := opts.MobileNodeIdentifier()
			set("mip6.mnid.subtype", num(uint8(v.Subtype)))
			set("mip6.mnid.identifier", string(v.Identifier))
		case mh.OptIPv4HomeAddress:
			v, _ := opts.IPv4HomeAddress()
			set("mip6.ipv4ha.preflen", num(v.PrefixLen))
			set("mip6.ipv4ha.p_flag", flag(v.P))
			set("mip6.ipv4ha.ha", v.Addr.String())
		case mh.OptIPv4AddressAck: // tshark reuses the IPv4 Home Address fields
			v, _ := opts.IPv4AddressAck()
			set("mip6.ipv4aa.sts", num(uint8(v.Status)))
			set("mip6.ipv4ha.preflen", num(v.PrefixLen))
			set("mip6.ipv4ha.ha", v.Addr.String())
		case mh.OptNATDetection:
			v, _ := opts.NATDetection()
			set("mip6.natd.f_flag", flag(v.F))
			set("mip6.natd.refresh_t", num(v.RefreshTime))
		case mh.OptIPv4CoA:
			v, _ := opts.IPv4CoA()
			set("mip6.ipv4coa.addr", v.Addr.String())
		}
	}
	return e
}

// hasFields are the fields compared for a Home Agent Switch: the header
// and the address list (mip6.md trap 2).
var hasFields = map[string]bool{
	"ipv6.src": true, "ipv6.dst": true, "ipv6.routing.type": true, "ipv6.routing.segleft": true,
	"ipv6.routing.mipv6.home_address": true, "mip6.proto": true, "mip6.hlen": true, "mip6.mhtype": true,
	"mip6.csum": true, "mip6.has.num_addrs": true, "mip6.has.address": true,
}

// TestMIP6TsharkDecodesOurMessages writes every kind of packet the mip6
// packages send — Binding Update (native with Home Address option and in
// the tunnel, with Alternate CoA, MN Identifier, DSMIPv6, Nonce Indices and
// Binding Authorization Data options), Binding Acknowledgement (with type 2
// routing header, K, Binding Refresh Advice, IPv4 Address Acknowledgement,
// NAT Detection; statuses 0, 135, 138), Binding Error both ways, Binding
// Refresh Request, Home Agent Switch with and without addresses, and the
// four return routability messages — to a pcap file, has tshark decode
// it, and checks that every field we set has the value we set, that no
// field appears we did not set, and that tshark has no complaint (except
// for the Home Agent Switch options it cannot parse).
func TestMIP6TsharkDecodesOurMessages(t *testing.T) {
	tshark.Require(t)
	pkts := produce(t)
	var wires [][]byte
	want := make([]map[string][]string, len(pkts))
	union := map[string]bool{"_ws.expert.message": true}
	types := map[mh.Type]bool{}
	for i, p := range pkts {
		wires = append(wires, p.wire)
		want[i] = expected(p)
		for f := range want[i] {
			union[f] = true
		}
		types[p.msg.Type()] = true
	}
	for _, typ := range []mh.Type{mh.TypeBindingUpdate, mh.TypeBindingAck, mh.TypeBindingError,
		mh.TypeBindingRefreshRequest, mh.TypeHomeAgentSwitch, mh.TypeHomeTestInit, mh.TypeCareOfTestInit,
		mh.TypeHomeTest, mh.TypeCareOfTest} {
		if !types[typ] {
			t.Errorf("no %v in the capture", typ)
		}
	}
	fields := make([]string, 0, len(union))
	for f := range union {
		fields = append(fields, f)
	}
	sort.Strings(fields)

	got := decode(t, "mip6.pcap", wires, fields)
	for i, p := range pkts {
		isHAS := p.msg.Type() == mh.TypeHomeAgentSwitch
		for _, f := range fields {
			if f == "_ws.expert.message" {
				if !isHAS && got[i].Has(f) {
					t.Errorf("packet %d (%s): tshark complains: %q", i+1, p.name, got[i].Values(f))
				}
				continue
			}
			if isHAS && !hasFields[f] {
				continue
			}
			if w, g := want[i][f], got[i].Values(f); !slices.Equal(w, g) {
				t.Errorf("packet %d (%s): %s = %q, we set %q", i+1, p.name, f, g, w)
			}
		}
	}
	// What tshark cannot show of a Home Agent Switch, from our bytes: the
	// Binding Refresh Advice of the one with a grace period.
	for _, p := range pkts {
		if has, ok := p.msg.(mh.HomeAgentSwitch); ok && len(has.Addresses) == 2 {
			_, h, err := mh.ParsePacket(p.wire)
			if err != nil {
				t.Fatal(err)
			}
			m, err := mh.ParseHomeAgentSwitch(h)
			if bra, ok := m.Options.BindingRefreshAdvice(); err != nil || !ok || bra.Interval != 30 {
				t.Errorf("HAS Binding Refresh Advice %+v (%v), want 30 units (120 s)", bra, err)
			}
		}
	}
}

// TestMIP6TsharkDecodesParameterProblem: the ICMPv6 Parameter Problem a
// home agent answers a bad Payload Proto or Header Len with (RFC 6275
// §9.2) decodes in tshark as type 4, code 0, the pointer we set, a good
// checksum, from the home agent to the packet's source, with the invoking
// packet inside.
func TestMIP6TsharkDecodesParameterProblem(t *testing.T) {
	tshark.Require(t)
	ha, err := mip6.NewHomeAgent(mip6.HomeAgentConfig{
		HomePrefixes: []mip6.HomePrefix{{Prefix: netip.MustParsePrefix("2001:db8:1::/64")}},
		SkipDAD:      true,
	}, t0)
	if err != nil {
		t.Fatal(err)
	}
	ip := mh.IPv6{Src: hoa1, Dst: haAddr}
	badProto := mh.AppendPacket(nil, ip, &mh.BindingUpdate{Sequence: 1, Flags: mh.BUFlagA | mh.BUFlagH, Lifetime: 10})
	badProto[40] = 6
	mh.SetChecksum(badProto[40:], hoa1, haAddr)
	shortLen := mh.AppendPacket(nil, ip, mh.BindingRefreshRequest{})
	shortLen[42] = byte(mh.TypeBindingUpdate)
	mh.SetChecksum(shortLen[40:], hoa1, haAddr)
	ctx := mip6.Context{Identity: nai1, AuthorizedHoA: hoa1, InTunnel: true}
	var wires [][]byte
	pointers := []string{}
	for _, p := range [][]byte{badProto, shortLen} {
		res := ha.Receive(t0, ctx, p)
		if res.ICMP == nil {
			t.Fatalf("no Parameter Problem: %+v", res)
		}
		wires = append(wires, res.ICMP)
		pointers = append(pointers, strconv.Itoa(res.ParamProblem))
	}
	fields := []string{"ipv6.src", "ipv6.dst", "icmpv6.type", "icmpv6.code", "icmpv6.pointer", "icmpv6.checksum.status"}
	got := decode(t, "pp.pcap", wires, fields)
	for i, p := range got {
		want := map[string][]string{
			// The outer header, then the invoking packet's.
			"ipv6.src": {haAddr.String(), hoa1.String()}, "ipv6.dst": {hoa1.String(), haAddr.String()},
			"icmpv6.type": {"4"}, "icmpv6.code": {"0"}, "icmpv6.pointer": {pointers[i]},
			"icmpv6.checksum.status": {"1"},
		}
		for f, w := range want {
			if g := p.Values(f); !slices.Equal(g, w) {
				t.Errorf("packet %d: %s = %q, want %q", i+1, f, g, w)
			}
		}
	}
}

// decode writes wires to a pcap file called name and has tshark print
// fields of each packet, one Packet per packet written. The file is kept,
// and named in the log, if the test fails.
func decode(t *testing.T, name string, wires [][]byte, fields []string) []tshark.Packet {
	t.Helper()
	dir, err := os.MkdirTemp("", "mip6wire-")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("capture kept for inspection: %s", path)
			return
		}
		os.RemoveAll(dir)
	})
	if err := tshark.WriteFile(path, tshark.LinkTypeRaw, wires...); err != nil {
		t.Fatal(err)
	}
	got, err := tshark.Fields(context.Background(), path, fields, tshark.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(wires) {
		t.Fatalf("tshark decoded %d packets, we wrote %d", len(got), len(wires))
	}
	return got
}
