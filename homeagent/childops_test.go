package homeagent

import (
	"bytes"
	"log/slog"
	"net/netip"
	"slices"
	"testing"

	"github.com/mip6ha/mip6ha/homeagent/dataplane"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
)

// cloneChildKeys returns c with keys of its own.
func cloneChildKeys(c ike.ChildSA) ike.ChildSA {
	c.InKey, c.OutKey = slices.Clone(c.InKey), slices.Clone(c.OutKey)
	c.InIntegKey, c.OutIntegKey = slices.Clone(c.InIntegKey), slices.Clone(c.OutIntegKey)
	return c
}

// TestApplyWipesChildOpKeys: the runtime wipes the keys a ChildOp hands it
// once the operation is applied, install and remove alike; the dataplane
// SAs it installed keep their own copy and carry packets to and from the
// peer.
func TestApplyWipesChildOpKeys(t *testing.T) {
	dp, err := dataplane.New(dataplane.Config{Addrs: []netip.Addr{netip.IPv6Loopback()}})
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	rt := &Runtime{dp: dp, log: slog.New(slog.DiscardHandler)}
	s := &shard{rt: rt, inSA: map[uint32]*dataplane.SA{}, outSA: map[uint32]*dataplane.SA{}}
	sa, err := ike.NewInitiator(&ike.Config{Credentials: &ike.StaticCredentials{Self: ike.LocalCredential{ID: ike.FQDN("ha.example.net"), PSK: []byte("0123456789abcdef")}}},
		ike.Path{Remote: netip.MustParseAddrPort("[::1]:500")})
	if err != nil {
		t.Fatal(err)
	}
	e := &entry{id: 1, sa: sa}

	mn, ha := childPair(wire.EncrAESGCM16, 16)
	mn, ha = cloneChildKeys(mn), cloneChildKeys(ha)
	ha.Local = netip.AddrPortFrom(netip.IPv6Loopback(), 0) // any NAT-T socket of the dataplane
	peerOut, peerIn := espPair(t, mn)

	for _, kind := range []ike.ChildOpKind{ike.InstallInbound, ike.InstallOutbound, ike.RemoveInbound, ike.RemoveOutbound} {
		op := ike.ChildOp{Kind: kind, Child: cloneChildKeys(ha)}
		s.apply(e, op)
		if !isZero(op.Child.InKey) || !isZero(op.Child.OutKey) {
			t.Errorf("%v: the ChildOp's keys are not wiped", kind)
		}
		if kind != ike.InstallOutbound {
			continue
		}
		// Both halves installed: packets go both ways with the peer's SAs.
		in, out := s.inSA[ha.InSPI], s.outSA[ha.OutSPI]
		if in == nil || out == nil {
			t.Fatalf("SAs not installed: inbound %v, outbound %v", in, out)
		}
		carry(t, peerOut, in, netip.MustParseAddr("2001:db8:1::10"), netip.MustParseAddr("2001:db8:9::1"))
		carry(t, out, peerIn, netip.MustParseAddr("2001:db8:9::1"), netip.MustParseAddr("2001:db8:1::10"))
	}
	if len(s.inSA)+len(s.outSA) != 0 || rt.childOpFailures.Load() != 0 {
		t.Fatalf("after removal: %d inbound, %d outbound SAs, %d failures", len(s.inSA), len(s.outSA), rt.childOpFailures.Load())
	}
}

func isZero(b []byte) bool { return len(b) > 0 && bytes.Count(b, []byte{0}) == len(b) }

// espPair returns the dataplane SAs of both halves of c.
func espPair(t *testing.T, c ike.ChildSA) (out, in *dataplane.SA) {
	t.Helper()
	for _, dir := range []dataplane.Direction{dataplane.Outbound, dataplane.Inbound} {
		cfg, err := ChildSAConfig(c, dir)
		if err != nil {
			t.Fatal(err)
		}
		sa, err := dataplane.NewSA(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if dir == dataplane.Outbound {
			out = sa
		} else {
			in = sa
		}
	}
	return out, in
}

// carry seals a packet from src to dst with out and opens it with in.
func carry(t *testing.T, out, in *dataplane.SA, src, dst netip.Addr) {
	t.Helper()
	inner := ipv6Packet(src, dst)
	buf := make([]byte, dataplane.BufferSize)
	copy(buf[dataplane.HeadRoom:], inner)
	esp, r := out.Seal(buf, len(inner))
	if r != dataplane.NotDropped {
		t.Fatalf("Seal with SPI %#x: %v", out.SPI(), r)
	}
	rx := make([]byte, dataplane.BufferSize)
	copy(rx[dataplane.ESPOffset:], esp)
	if got, r := in.Open(rx, len(esp)); r != dataplane.NotDropped || !bytes.Equal(got, inner) {
		t.Fatalf("Open with SPI %#x: %x, %v", in.SPI(), got, r)
	}
}
