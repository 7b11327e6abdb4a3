package dataplane

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/dataplane/tuntest"
)

// node is one end of an in-process pair: a Dataplane on loopback with
// kernel-chosen ports and an in-memory inner device.
type node struct {
	dp   *Dataplane
	tun  *tuntest.ChannelTUN
	ike  chan Datagram
	ikeA netip.AddrPort // IKE socket
	natt netip.AddrPort // NAT-T socket
	done chan error
}

func startNode(t *testing.T, addr netip.Addr) *node {
	t.Helper()
	n := &node{tun: tuntest.New(1024), ike: make(chan Datagram, 64), done: make(chan error, 1)}
	dp, err := New(Config{
		Addrs:     []netip.Addr{addr},
		Device:    n.tun,
		BatchSize: 32,
		IKE: func(batch []Datagram) {
			for _, d := range batch {
				d.Payload = bytes.Clone(d.Payload) // borrowed until we return
				n.ike <- d
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	n.dp = dp
	for _, l := range dp.Listeners() {
		if l.NATT {
			n.natt = l.Addr
		} else {
			n.ikeA = l.Addr
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { n.done <- dp.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-n.done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return n
}

// tunnel installs a CHILD_SA pair between a mobile node and a home agent:
// the MN sends from its HoA to anywhere, the HA routes the HoA to the MN.
func tunnel(t *testing.T, mn, ha *node, tc transformCase, spiMN, spiHA uint32, homeAddrs ...netip.Addr) (mnOut, mnIn, haOut, haIn *SA) {
	t.Helper()
	key := func(seed byte) []byte {
		k := make([]byte, tc.keyLen+saltLen)
		for i := range k {
			k[i] = seed + byte(i)
		}
		return k
	}
	var hoas []netip.Prefix
	for _, a := range homeAddrs {
		hoas = append(hoas, netip.PrefixFrom(a, a.BitLen()))
	}
	any := []netip.Prefix{netip.MustParsePrefix("::/0"), netip.MustParsePrefix("0.0.0.0/0")}
	mk := func(spi uint32, dir Direction, k []byte, local, remote netip.AddrPort, lts, rts []netip.Prefix) *SA {
		sa, err := NewSA(SAConfig{SPI: spi, Direction: dir, Transform: tc.transform, KeyMaterial: k,
			Local: local, Remote: remote, LocalTS: lts, RemoteTS: rts})
		if err != nil {
			t.Fatal(err)
		}
		return sa
	}
	// spiHA is the SPI the HA chose (the MN sends with it), spiMN the MN's.
	mnOut = mk(spiHA, Outbound, key(1), mn.natt, ha.natt, hoas, any)
	haIn = mk(spiHA, Inbound, key(1), ha.natt, mn.natt, any, hoas)
	haOut = mk(spiMN, Outbound, key(2), ha.natt, mn.natt, any, hoas)
	mnIn = mk(spiMN, Inbound, key(2), mn.natt, ha.natt, hoas, any)
	for _, step := range []func() error{
		func() error { return ha.dp.InstallInbound(haIn) },
		func() error { return mn.dp.InstallInbound(mnIn) },
		func() error { return ha.dp.InstallOutbound(haOut) },
		func() error { return mn.dp.InstallOutbound(mnOut) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	return mnOut, mnIn, haOut, haIn
}

func receive(t *testing.T, ch chan []byte, what string) []byte {
	t.Helper()
	select {
	case p := <-ch:
		return p
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s within 5 s", what)
		return nil
	}
}

// eventually waits for cond, which reads counters that settle after an
// asynchronous event without any notification of their own.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
}

func TestPairMovesPacketsBothWays(t *testing.T) {
	for _, tc := range transformCases {
		for _, outer := range []string{"::1", "127.0.0.1"} {
			t.Run(tc.name+"/"+outer, func(t *testing.T) {
				ha := startNode(t, netip.MustParseAddr(outer))
				mn := startNode(t, netip.MustParseAddr(outer))
				mnOut, mnIn, haOut, haIn := tunnel(t, mn, ha, tc, 0x1111, 0x2222, hoa, hoa4)

				sizes := []int{40, 41, 60, 1280, 1400, 8000}
				for i, size := range sizes {
					up := testInner(hoa, cnAddr, size)
					up[7] = byte(i) // hop limit: tell packets apart
					mn.tun.Outgoing <- up
					if got := receive(t, ha.tun.Incoming, "packet at the HA"); !bytes.Equal(got, up) {
						t.Fatalf("MN->HA %d octets: packet changed", size)
					}
					down := testInner(cnAddr4, hoa4, size)
					ha.tun.Outgoing <- down
					if got := receive(t, mn.tun.Incoming, "packet at the MN"); !bytes.Equal(got, down) {
						t.Fatalf("HA->MN %d octets: packet changed", size)
					}
				}
				n := uint64(len(sizes))
				for _, sa := range []*SA{mnOut, mnIn, haOut, haIn} {
					if s := sa.Stats(); s.Packets != n || s.Seq != n || s.LastUsed.IsZero() {
						t.Errorf("%v SA %#x: %+v", sa.Direction(), sa.SPI(), s)
					}
				}
				// Global counters are added after each batch is delivered.
				eventually(t, "HA counters", func() bool { s := ha.dp.Stats(); return s.ESPIn == n && s.ESPOut == n })
			})
		}
	}
}

func TestPairDropsAndCounts(t *testing.T) {
	ha := startNode(t, netip.MustParseAddr("::1"))
	mn := startNode(t, netip.MustParseAddr("::1"))
	_, _, _, haIn := tunnel(t, mn, ha, transformCases[0], 0x1111, 0x2222, hoa)

	// No SA for the inner destination at the HA.
	ha.tun.Outgoing <- testInner(cnAddr, netip.MustParseAddr("2001:db8:1::99"), 60)
	// Not from the MN's home address: outside the MN's selectors.
	mn.tun.Outgoing <- testInner(netip.MustParseAddr("fe80::1"), cnAddr, 60)
	// Garbage from the device.
	mn.tun.Outgoing <- []byte{0x50, 0, 0, 0}
	eventually(t, "drops counted", func() bool {
		hs, ms := ha.dp.Stats(), mn.dp.Stats()
		return hs.Drops[DropNoSA] == 1 && ms.Drops[DropSelector] == 1 && ms.Drops[DropMalformed] == 1
	})

	// Unknown SPI and a forged packet for a known SPI, sent raw to the HA.
	forged := make([]byte, 100)
	copy(forged, []byte{0, 0, 0x22, 0x22, 0, 0, 0, 9})
	unknown := bytes.Clone(forged)
	unknown[3] = 0x33
	if _, err := mn.dp.write([]Datagram{
		{Local: mn.natt, Remote: ha.natt, Payload: forged},
		{Local: mn.natt, Remote: ha.natt, Payload: unknown},
		{Local: mn.natt, Remote: ha.natt, Payload: []byte{0, 0, 0, 0}}, // marker without IKE
	}, true); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ESP drops counted", func() bool {
		s := ha.dp.Stats()
		return s.Drops[DropAuthFail] == 1 && s.Drops[DropBadSPI] == 1 && s.Drops[DropMalformed] == 1
	})
	if s := haIn.Stats(); s.Drops[DropAuthFail] != 1 || s.Packets != 0 {
		t.Fatalf("inbound SA stats %+v", s)
	}
	select {
	case p := <-ha.tun.Incoming:
		t.Fatalf("a dropped packet reached the device: %x", p)
	default:
	}
}

func TestPairIKEAndKeepalives(t *testing.T) {
	ha := startNode(t, netip.MustParseAddr("::1"))
	mn := startNode(t, netip.MustParseAddr("::1"))
	msg := func(b byte) []byte { return bytes.Repeat([]byte{b}, 60) }

	// Port 500 carries IKE as is; the NAT-T port with the non-ESP marker.
	n, err := mn.dp.WriteIKE([]Datagram{
		{Local: mn.ikeA, Remote: ha.ikeA, Payload: msg(1)},
		{Local: mn.natt, Remote: ha.natt, Payload: msg(2)},
		{Local: netip.AddrPortFrom(netip.IPv6Unspecified(), mn.natt.Port()), Remote: ha.natt, Payload: msg(3)},
	})
	if n != 3 || err != nil {
		t.Fatalf("WriteIKE: %d, %v", n, err)
	}
	var got []Datagram
	for range 3 {
		select {
		case d := <-ha.ike:
			got = append(got, d)
		case <-time.After(5 * time.Second):
			t.Fatal("IKE datagram not delivered")
		}
	}
	slices.SortFunc(got, func(a, b Datagram) int { return int(a.Payload[0]) - int(b.Payload[0]) })
	want := []Datagram{
		{Local: ha.ikeA, Remote: mn.ikeA, Payload: msg(1)},
		{Local: ha.natt, Remote: mn.natt, Payload: msg(2)},
		{Local: ha.natt, Remote: mn.natt, Payload: msg(3)},
	}
	for i := range want {
		if got[i].Local != want[i].Local || got[i].Remote != want[i].Remote || !bytes.Equal(got[i].Payload, want[i].Payload) {
			t.Errorf("datagram %d: got %v -> %v %x, want %v -> %v %x", i,
				got[i].Remote, got[i].Local, got[i].Payload, want[i].Remote, want[i].Local, want[i].Payload)
		}
	}

	// A datagram whose local port matches no socket is refused, the rest go.
	n, err = mn.dp.WriteIKE([]Datagram{
		{Local: netip.MustParseAddrPort("[::1]:1"), Remote: ha.ikeA, Payload: msg(4)},
		{Local: mn.ikeA, Remote: ha.ikeA, Payload: msg(5)},
	})
	if n != 1 || !errors.Is(err, ErrNoSocket) {
		t.Fatalf("WriteIKE with a bad local port: %d, %v", n, err)
	}
	if d := <-ha.ike; d.Payload[0] != 5 {
		t.Fatalf("got message %d", d.Payload[0])
	}

	for range 3 {
		if err := mn.dp.SendKeepalive(mn.natt, ha.natt); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "keepalives counted", func() bool { return ha.dp.Stats().KeepalivesIn == 3 })
	if s := mn.dp.Stats(); s.KeepalivesOut != 3 || s.IKEOut != 4 {
		t.Fatalf("MN stats %+v", s)
	}
	eventually(t, "IKE counted", func() bool { return ha.dp.Stats().IKEIn == 4 })
}

// Make-before-break rekey while packets flow: install the new inbound SA,
// switch the outbound route, remove the old inbound SA. No packet may be
// lost or dropped for want of an SA.
func TestPairRekeyUnderTraffic(t *testing.T) {
	ha := startNode(t, netip.MustParseAddr("::1"))
	mn := startNode(t, netip.MustParseAddr("::1"))
	mnOut, _, _, haIn := tunnel(t, mn, ha, transformCases[3], 0x1111, 0x2222, hoa)

	const total = 3000
	var wg sync.WaitGroup
	rekeyAt := make(chan struct{})
	wg.Go(func() {
		for i := range total {
			if i == total/3 {
				close(rekeyAt)
			}
			p := testInner(hoa, cnAddr, 100)
			p[40], p[41] = byte(i>>8), byte(i)
			mn.tun.Outgoing <- p
			// Keep the socket buffers from overflowing: wait for the HA
			// to catch up every 64 packets.
			for deadline := time.Now().Add(5 * time.Second); i%64 == 63 && time.Now().Before(deadline); {
				if ha.dp.Stats().ESPIn+64 >= uint64(i) {
					break
				}
				time.Sleep(100 * time.Microsecond)
			}
		}
	})
	<-rekeyAt
	newIn, err := NewSA(SAConfig{SPI: 0x3333, Direction: Inbound, Transform: EncrChaCha20Poly1305,
		KeyMaterial: bytes.Repeat([]byte{9}, 36), Local: ha.natt, Remote: mn.natt,
		LocalTS: haIn.LocalTS(), RemoteTS: haIn.RemoteTS()})
	if err != nil {
		t.Fatal(err)
	}
	newOut, err := NewSA(SAConfig{SPI: 0x3333, Direction: Outbound, Transform: EncrChaCha20Poly1305,
		KeyMaterial: bytes.Repeat([]byte{9}, 36), Local: mn.natt, Remote: ha.natt,
		LocalTS: mnOut.LocalTS(), RemoteTS: mnOut.RemoteTS()})
	if err != nil {
		t.Fatal(err)
	}
	if err := ha.dp.InstallInbound(newIn); err != nil {
		t.Fatal(err)
	}
	if err := mn.dp.InstallOutbound(newOut); err != nil {
		t.Fatal(err)
	}
	if mn.dp.RemoveOutbound(mnOut) {
		t.Fatal("the old outbound SA still had routes")
	}
	var seen [total]bool
	for range total {
		p := receive(t, ha.tun.Incoming, "packet during rekey")
		seen[int(p[40])<<8|int(p[41])] = true
	}
	wg.Wait()
	// Everything of the old SA has arrived: it can go.
	if !ha.dp.RemoveInbound(haIn) {
		t.Fatal("old inbound SA was not installed")
	}
	for i, ok := range seen {
		if !ok {
			t.Fatalf("packet %d lost", i)
		}
	}
	old, cur := haIn.Stats().Packets, newIn.Stats().Packets
	if old == 0 || cur == 0 || old+cur != total {
		t.Fatalf("old SA carried %d, new SA %d of %d", old, cur, total)
	}
	if s := ha.dp.Stats(); s.Drops != [NumDropReasons]uint64{} {
		t.Fatalf("drops during rekey: %v", s.Drops)
	}
}

func TestInstallErrors(t *testing.T) {
	a := startNode(t, netip.MustParseAddr("::1"))
	b := startNode(t, netip.MustParseAddr("::1"))
	in := testSA(t, Inbound, 0x500)
	if err := a.dp.InstallOutbound(in); !errors.Is(err, ErrInvalidSA) {
		t.Fatalf("inbound SA as outbound: %v", err)
	}
	out := testSA(t, Outbound, 0x501)
	if err := a.dp.InstallInbound(out); !errors.Is(err, ErrInvalidSA) {
		t.Fatalf("outbound SA as inbound: %v", err)
	}
	if err := a.dp.InstallOutbound(out); err != nil {
		t.Fatal(err)
	}
	if err := b.dp.InstallOutbound(out); !errors.Is(err, ErrInvalidSA) {
		t.Fatalf("outbound SA in a second dataplane: %v", err)
	}
	v4, err := NewSA(SAConfig{SPI: 0x502, Direction: Outbound, Transform: EncrAESGCM16, KeyMaterial: make([]byte, 20),
		Local: netip.MustParseAddrPort("127.0.0.1:0"), Remote: netip.MustParseAddrPort("127.0.0.1:4500"),
		LocalTS: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}, RemoteTS: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.dp.InstallOutbound(v4); !errors.Is(err, ErrNoSocket) {
		t.Fatalf("IPv4 SA on an IPv6-only dataplane: %v", err)
	}
}

func TestRunEndsOnClose(t *testing.T) {
	tun := tuntest.New(1)
	dp, err := New(Config{Addrs: []netip.Addr{netip.MustParseAddr("::1")}, Device: tun})
	if err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	done := make(chan error, 1)
	go func() { done <- dp.Run(context.Background()) }()
	eventually(t, "Run started", dp.running.Load)
	if err := dp.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Close")
	}
	eventually(t, "goroutines ended", func() bool { return runtime.NumGoroutine() <= before })
	if _, err := tun.Read(make([][]byte, 1), make([]int, 1), 0); err == nil {
		t.Fatal("device still open after Close")
	}
	if err := dp.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := dp.WriteIKE(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("WriteIKE after Close: %v", err)
	}
}

// A burst of equal-size packets leaves in segmented sends (UDP_SEGMENT) and
// may arrive coalesced (UDP_GRO); either way every packet arrives intact and
// in order, and the last, shorter one ends a segmented message correctly.
func TestPairBurstSegmentation(t *testing.T) {
	ha := startNode(t, netip.MustParseAddr("::1"))
	mn := startNode(t, netip.MustParseAddr("::1"))
	tunnel(t, mn, ha, transformCases[0], 0x1111, 0x2222, hoa)
	if !mn.dp.natt[0].gso.Load() {
		t.Skip("kernel without UDP_SEGMENT")
	}
	const total = 500
	sent := make([][]byte, total)
	for i := range sent {
		size := 1000
		if i%50 == 49 {
			size = 700 // ends a segment run
		}
		sent[i] = testInner(hoa, cnAddr, size)
		sent[i][40], sent[i][41] = byte(i>>8), byte(i)
		mn.tun.Outgoing <- sent[i] // the channel holds all: one burst
	}
	for i := range total {
		if got := receive(t, ha.tun.Incoming, "burst packet"); !bytes.Equal(got, sent[i]) {
			t.Fatalf("packet %d: got %d octets, number %d", i, len(got), int(got[40])<<8|int(got[41]))
		}
	}
	eventually(t, "counters", func() bool { return mn.dp.Stats().ESPOut == total && ha.dp.Stats().ESPIn == total })
	ms, hs := mn.dp.Stats(), ha.dp.Stats()
	t.Logf("segmented out %d of %d, coalesced in %d", ms.SegmentedOut, ms.ESPOut, hs.CoalescedIn)
	if ms.SegmentedOut == 0 || ms.ESPOut != total || hs.ESPIn != total {
		t.Fatalf("MN %+v HA %+v", ms, hs)
	}
}

// SetRemote moves an outbound SA to the peer's new NAT mapping: the next
// packet goes to the new endpoint with the same SPI and sequence space.
func TestPairSetRemote(t *testing.T) {
	ha := startNode(t, netip.MustParseAddr("::1"))
	mn := startNode(t, netip.MustParseAddr("::1"))
	moved := startNode(t, netip.MustParseAddr("::1")) // the HA behind its new mapping
	mnOut, _, _, _ := tunnel(t, mn, ha, transformCases[0], 0x1111, 0x2222, hoa)

	mn.tun.Outgoing <- testInner(hoa, cnAddr, 80)
	receive(t, ha.tun.Incoming, "packet before the move")
	if err := mn.dp.SetRemote(mnOut, moved.natt); err != nil {
		t.Fatal(err)
	}
	mn.tun.Outgoing <- testInner(hoa, cnAddr, 80)
	// The new endpoint has no SA with the HA's SPI: it counts a bad SPI.
	eventually(t, "packet at the new endpoint", func() bool { return moved.dp.Stats().Drops[DropBadSPI] == 1 })
	if s := mnOut.Stats(); s.Seq != 2 {
		t.Fatalf("sequence %d after two packets", s.Seq)
	}
	if err := ha.dp.SetRemote(mnOut, moved.natt); !errors.Is(err, ErrInvalidSA) {
		t.Fatalf("SetRemote through another dataplane: %v", err)
	}
}
