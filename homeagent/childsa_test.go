package homeagent

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"testing"

	"github.com/mip6ha/mip6ha/homeagent/dataplane"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
)

// childPair returns one CHILD_SA as the mobile node holds it and as its
// home agent holds it: the same keys and SPIs, each side's inbound being
// the other's outbound.
func childPair(encr wire.EncrID, keyLen int) (mn, ha ike.ChildSA) {
	key := func(b byte) []byte { return bytes.Repeat([]byte{b}, keyLen+4) } // key ‖ salt
	hoa := wire.AddrSelector(netip.MustParseAddr("2001:db8:1::10"))
	anyV6 := wire.PrefixSelector(netip.MustParsePrefix("::/0"))
	mn = ike.ChildSA{
		InSPI: 0x1000, OutSPI: 0x2000, Protocol: wire.ProtocolESP, Mode: ike.Tunnel, Encap: true,
		Local: netip.MustParseAddrPort("[2001:db8:2::5]:4500"), Remote: netip.MustParseAddrPort("[2001:db8:1::1]:4500"),
		Encr: encr, InKey: key(0xa1), OutKey: key(0xb2),
		LocalTS: []wire.TrafficSelector{hoa}, RemoteTS: []wire.TrafficSelector{anyV6},
	}
	ha = mn
	ha.InSPI, ha.OutSPI = mn.OutSPI, mn.InSPI
	ha.InKey, ha.OutKey = mn.OutKey, mn.InKey
	ha.Local, ha.Remote = mn.Remote, mn.Local
	ha.LocalTS, ha.RemoteTS = mn.RemoteTS, mn.LocalTS
	return mn, ha
}

// ipv6Packet is an IPv6 packet without payload (Next Header 59).
func ipv6Packet(src, dst netip.Addr) []byte {
	p := make([]byte, 40)
	p[0] = 6 << 4 // payload length 0
	p[6] = 59
	p[7] = 64
	copy(p[8:24], src.AsSlice())
	copy(p[24:40], dst.AsSlice())
	return p
}

// TestChildSAConfigCarriesPackets: the outbound half of one side's
// CHILD_SA and the inbound half of the other's become dataplane SAs that
// agree on SPI, key and selectors, so a packet sealed by one opens at the
// other, in both directions.
func TestChildSAConfigCarriesPackets(t *testing.T) {
	for _, tc := range []struct {
		name   string
		encr   wire.EncrID
		keyLen int
		want   dataplane.Transform
	}{
		{"AES-GCM-16-128", wire.EncrAESGCM16, 16, dataplane.EncrAESGCM16},
		{"AES-GCM-16-256", wire.EncrAESGCM16, 32, dataplane.EncrAESGCM16},
		{"ChaCha20-Poly1305", wire.EncrChaCha20Poly1305, 32, dataplane.EncrChaCha20Poly1305},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mn, ha := childPair(tc.encr, tc.keyLen)
			for _, dir := range []struct {
				name     string
				from, to ike.ChildSA
				src, dst netip.Addr
			}{
				{"mobile node to home agent", mn, ha, netip.MustParseAddr("2001:db8:1::10"), netip.MustParseAddr("2001:db8:9::1")},
				{"home agent to mobile node", ha, mn, netip.MustParseAddr("2001:db8:9::1"), netip.MustParseAddr("2001:db8:1::10")},
			} {
				outCfg, err := ChildSAConfig(dir.from, dataplane.Outbound)
				if err != nil {
					t.Fatalf("%s: outbound: %v", dir.name, err)
				}
				inCfg, err := ChildSAConfig(dir.to, dataplane.Inbound)
				if err != nil {
					t.Fatalf("%s: inbound: %v", dir.name, err)
				}
				if outCfg.SPI != dir.from.OutSPI || inCfg.SPI != dir.to.InSPI || outCfg.SPI != inCfg.SPI {
					t.Fatalf("%s: SPIs %#x out, %#x in", dir.name, outCfg.SPI, inCfg.SPI)
				}
				if outCfg.Transform != tc.want || inCfg.Transform != tc.want {
					t.Fatalf("%s: transforms %v, %v; want %v", dir.name, outCfg.Transform, inCfg.Transform, tc.want)
				}
				if outCfg.Local != dir.from.Local || outCfg.Remote != dir.from.Remote || inCfg.Local != dir.to.Local || inCfg.Remote != dir.to.Remote {
					t.Fatalf("%s: endpoints %v->%v out, %v<-%v in", dir.name, outCfg.Local, outCfg.Remote, inCfg.Local, inCfg.Remote)
				}
				out, err := dataplane.NewSA(outCfg)
				if err != nil {
					t.Fatalf("%s: outbound SA: %v", dir.name, err)
				}
				in, err := dataplane.NewSA(inCfg)
				if err != nil {
					t.Fatalf("%s: inbound SA: %v", dir.name, err)
				}
				inner := ipv6Packet(dir.src, dir.dst)
				buf := make([]byte, dataplane.BufferSize)
				copy(buf[dataplane.HeadRoom:], inner)
				esp, r := out.Seal(buf, len(inner))
				if r != dataplane.NotDropped {
					t.Fatalf("%s: Seal: %v", dir.name, r)
				}
				rx := make([]byte, dataplane.BufferSize)
				copy(rx[dataplane.ESPOffset:], esp)
				got, r := in.Open(rx, len(esp))
				if r != dataplane.NotDropped || !bytes.Equal(got, inner) {
					t.Fatalf("%s: Open = %x, %v; want %x", dir.name, got, r, inner)
				}
			}
		})
	}
}

// TestChildSAConfigUnsupported: what the user-space dataplane cannot carry
// is refused with ErrUnsupportedChild, in either direction.
func TestChildSAConfigUnsupported(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*ike.ChildSA)
	}{
		{"plain ESP", func(c *ike.ChildSA) { c.Encap = false }},
		{"transport mode", func(c *ike.ChildSA) { c.Mode = ike.Transport }},
		{"extended sequence numbers", func(c *ike.ChildSA) { c.ESN = true }},
		{"AES-CBC", func(c *ike.ChildSA) { c.Encr, c.Integ = wire.EncrAESCBC, wire.IntegHMACSHA2_256_128 }},
	} {
		c, _ := childPair(wire.EncrAESGCM16, 16)
		tc.mod(&c)
		for _, dir := range []dataplane.Direction{dataplane.Inbound, dataplane.Outbound} {
			if _, err := ChildSAConfig(c, dir); !errors.Is(err, ErrUnsupportedChild) {
				t.Errorf("%s, %v: ChildSAConfig = %v, want ErrUnsupportedChild", tc.name, dir, err)
			}
		}
	}
}

func TestSelectorPrefixes(t *testing.T) {
	prefixes := func(ss ...string) []netip.Prefix {
		var ps []netip.Prefix
		for _, s := range ss {
			ps = append(ps, netip.MustParsePrefix(s))
		}
		return ps
	}
	rng := func(first, last string) wire.TrafficSelector {
		a, b := netip.MustParseAddr(first), netip.MustParseAddr(last)
		ts := wire.TrafficSelector{Type: wire.TSIPv4AddrRange, EndPort: 0xffff, StartAddr: a, EndAddr: b}
		if a.Is6() {
			ts.Type = wire.TSIPv6AddrRange
		}
		return ts
	}
	bu := rng("2001:db8:1::10", "2001:db8:1::10")
	bu.IPProtocol = wire.IPProtocolMH
	for _, tc := range []struct {
		name string
		ts   []wire.TrafficSelector
		want []netip.Prefix
	}{
		{"none", nil, nil},
		{"a prefix", []wire.TrafficSelector{wire.PrefixSelector(netip.MustParsePrefix("2001:db8::/32"))}, prefixes("2001:db8::/32")},
		{"a range that is no prefix", []wire.TrafficSelector{rng("192.0.2.0", "192.0.2.5")}, prefixes("192.0.2.0/30", "192.0.2.4/31")},
		{"both families, in order", []wire.TrafficSelector{rng("192.0.2.7", "192.0.2.7"), rng("::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")},
			prefixes("192.0.2.7/32", "::/0")},
		{"the same addresses twice, protocol dropped", []wire.TrafficSelector{bu, rng("2001:db8:1::10", "2001:db8:1::10"), rng("2001:db8:1::10", "2001:db8:1::11")},
			prefixes("2001:db8:1::10/128", "2001:db8:1::10/127")},
		{"a selector of an unknown type", []wire.TrafficSelector{{Type: 13, Raw: []byte{13, 0, 0, 4}}, rng("10.0.0.0", "10.255.255.255")},
			prefixes("10.0.0.0/8")},
	} {
		if got := SelectorPrefixes(tc.ts); !slices.Equal(got, tc.want) {
			t.Errorf("%s: SelectorPrefixes = %v, want %v", tc.name, got, tc.want)
		}
	}
}
