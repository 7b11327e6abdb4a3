package homeagent

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/mip6ha/mip6ha/homeagent/dataplane/tuntest"
	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/boltstore"
	"github.com/mip6ha/mip6ha/ike"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// eventLog collects a runtime's events for tests to await.
type eventLog struct {
	mu     sync.Mutex
	events []Event
	more   chan struct{} // closed and replaced on every append
}

func newEventLog() *eventLog { return &eventLog{more: make(chan struct{})} }

func (l *eventLog) observe(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	close(l.more)
	l.more = make(chan struct{})
	l.mu.Unlock()
}

// wait returns the first event from index from on for which match holds,
// and the index after it.
func (l *eventLog) wait(ctx context.Context, from int, match func(Event) bool) (Event, int, error) {
	for {
		l.mu.Lock()
		for i := from; i < len(l.events); i++ {
			if match(l.events[i]) {
				e := l.events[i]
				l.mu.Unlock()
				return e, i + 1, nil
			}
		}
		from = len(l.events)
		more := l.more
		l.mu.Unlock()
		select {
		case <-more:
		case <-ctx.Done():
			return Event{}, from, ctx.Err()
		}
	}
}

func (l *eventLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

func (l *eventLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, e := range l.events {
		fmt.Fprintf(&b, "  sa %v %T %+v\n", e.SA, e.IKE, e.IKE)
	}
	return b.String()
}

// waitFor awaits an event of type T for which match (if not nil) holds.
func waitFor[T ike.Event](t *testing.T, ctx context.Context, l *eventLog, from *int, match func(T) bool) T {
	t.Helper()
	e, next, err := l.wait(ctx, *from, func(e Event) bool {
		x, ok := e.IKE.(T)
		return ok && (match == nil || match(x))
	})
	if err != nil {
		var zero T
		t.Fatalf("waiting for %T: %v; events so far:\n%s", zero, err, l)
	}
	*from = next
	return e.IKE.(T)
}

// node is one runtime of an in-process pair, on the loopback.
type node struct {
	rt     *Runtime
	tun    *tuntest.ChannelTUN
	events *eventLog
	logs   *bytes.Buffer
	done   chan error
	cancel context.CancelFunc
}

type syncBuffer struct {
	mu sync.Mutex
	bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.Buffer.Write(p)
}

func startNode(t testing.TB, cfg Config, opts Options) *node {
	t.Helper()
	n := &node{tun: tuntest.New(256), events: newEventLog(), done: make(chan error, 1)}
	var logs syncBuffer
	opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opts.Device = n.tun
	opts.Observer = n.events.observe
	rt, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	n.rt = rt
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { n.done <- rt.Run(ctx) }()
	t.Cleanup(func() {
		n.stop(t)
		if t.Failed() {
			logs.mu.Lock()
			t.Logf("%s log:\n%s", cfg.Identity, logs.String())
			logs.mu.Unlock()
		}
	})
	return n
}

// stop cancels the runtime and waits for Run to return.
func (n *node) stop(t testing.TB) {
	if n.cancel == nil {
		return
	}
	n.cancel()
	n.cancel = nil
	select {
	case err := <-n.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("Run did not return 10 s after cancellation")
	}
}

const testPSK = "in-process test psk"

var (
	homePrefix = netip.MustParsePrefix("2001:db8:1::/64")
	innerNet   = netip.MustParsePrefix("2001:db8:f::/64")
	innerAddr  = netip.MustParseAddr("2001:db8:f::1")
)

func haConfig() Config {
	c := DefaultConfig()
	c.Listen = []string{"::1"}
	c.IKEPort, c.NATTPort = 0, 0
	c.Identity = "ha.example"
	c.LocalTS = []string{innerNet.String()}
	c.Shards = 2
	return c
}

// haOptions is the home agent's wiring: the mobile node's key and a lease
// pool of homePrefix and 198.51.100.0/24 in a fresh embedded store.
func haOptions(t testing.TB) Options {
	return Options{PSKs: []PSK{{Identity: "mn.example", Secret: []byte(testPSK)}}, Addresses: newTestPool(t, homePrefix, "198.51.100.0/24")}
}

// withOptions returns o changed by f.
func withOptions(o Options, f func(*Options)) Options {
	f(&o)
	return o
}

// newTestPool returns a lease pool of prefix (and the IPv4 prefix v4, if
// not empty) in an embedded store in a temporary directory, owned by
// member "ha1"; the store is closed at cleanup.
func newTestPool(t testing.TB, prefix netip.Prefix, v4 string) *LeasePool {
	t.Helper()
	st, err := boltstore.OpenDir(t.TempDir(), boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := LeasePoolConfig{Store: st, Owner: "ha1", Prefix: prefix}
	if v4 != "" {
		if cfg.IPv4, err = store.NewPrefixPool(netip.MustParsePrefix(v4)); err != nil {
			t.Fatal(err)
		}
	}
	p, err := NewLeasePool(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func mnConfig() Config {
	c := DefaultConfig()
	c.Listen = []string{"::1"}
	c.IKEPort, c.NATTPort = 0, 0
	c.Identity = "mn.example"
	c.Shards = 2
	return c
}

// pair starts a home agent and a mobile node runtime and brings up an IKE
// SA with a CHILD_SA between them; it returns the mobile node's SA id and
// its home address.
func pair(t *testing.T, ctx context.Context) (ha, mn *node, id SAID, hoa netip.Addr) {
	t.Helper()
	ha = startNode(t, haConfig(), haOptions(t))
	mn = startNode(t, mnConfig(), Options{PSKs: []PSK{{Identity: "ha.example", Secret: []byte(testPSK)}}})
	ikePort, nattPort := ha.rt.Ports()
	id, err := mn.rt.Initiate(ctx, Peer{
		Remote:         netip.AddrPortFrom(netip.IPv6Loopback(), ikePort),
		NATTPort:       nattPort,
		ID:             "ha.example",
		Request:        ike.CPRequest{IPv6: true},
		RequireAddress: true,
		RemoteTS:       []netip.Prefix{innerNet},
	})
	if err != nil {
		t.Fatal(err)
	}
	var from int
	up := waitFor[ike.IKEUp](t, ctx, mn.events, &from, nil)
	if up.PeerID != ike.FQDN("ha.example") || !up.NATT {
		t.Errorf("mobile node's IKEUp %+v: want peer ha.example on the NAT-T port (forced encapsulation)", up)
	}
	from = 0
	assigned := waitFor[ike.AddressAssigned](t, ctx, mn.events, &from, func(e ike.AddressAssigned) bool { return e.ToUs })
	hoa = assigned.Assignment.IPv6.Addr()
	if !homePrefix.Contains(hoa) {
		t.Fatalf("assigned %v, want an address of %v", assigned.Assignment.IPv6, homePrefix)
	}
	waitFor[ike.ChildUp](t, ctx, mn.events, new(int), nil)
	haFrom := 0
	haUp := waitFor[ike.IKEUp](t, ctx, ha.events, &haFrom, nil)
	if haUp.PeerID != ike.FQDN("mn.example") || haUp.SPIs != up.SPIs {
		t.Errorf("home agent's IKEUp %+v, mobile node's %+v", haUp, up)
	}
	haChild := waitFor[ike.ChildUp](t, ctx, ha.events, new(int), nil)
	if got := haChild.Child.RemoteTS; len(got) != 1 || got[0].StartAddr != hoa || got[0].EndAddr != hoa {
		t.Errorf("home agent's CHILD_SA remote selectors %v, want %v/128", got, hoa)
	}
	return ha, mn, id, hoa
}

// udpPacket builds an IPv6 packet carrying a UDP datagram with payload.
func udpPacket(src, dst netip.Addr, payload string) []byte {
	p := make([]byte, 48+len(payload))
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], uint16(8+len(payload)))
	p[6] = 17
	p[7] = 64
	s, d := src.As16(), dst.As16()
	copy(p[8:], s[:])
	copy(p[24:], d[:])
	binary.BigEndian.PutUint16(p[40:], 4000)
	binary.BigEndian.PutUint16(p[42:], 5000)
	binary.BigEndian.PutUint16(p[44:], uint16(8+len(payload)))
	copy(p[48:], payload)
	return p
}

// through sends an inner packet into from's device and expects it out of
// to's device.
func through(t *testing.T, ctx context.Context, from, to *node, src, dst netip.Addr, payload string) {
	t.Helper()
	pkt := udpPacket(src, dst, payload)
	select {
	case from.tun.Outgoing <- pkt:
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	for {
		select {
		case got := <-to.tun.Incoming:
			if bytes.Equal(got, pkt) {
				return
			}
			t.Logf("unexpected inner packet %x", got)
		case <-ctx.Done():
			t.Fatalf("packet %v -> %v (%q) did not come through: sender %+v, receiver %+v", src, dst, payload,
				from.rt.Stats().Dataplane, to.rt.Stats().Dataplane)
		}
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestPairAttachAndTraffic brings up an IKE SA and a CHILD_SA between two
// runtimes over the loopback (PSK, forced UDP encapsulation, an address
// from the home agent's prefix) and sends inner packets both ways through
// user-space ESP.
func TestPairAttachAndTraffic(t *testing.T) {
	ctx := testContext(t)
	ha, mn, _, hoa := pair(t, ctx)
	through(t, ctx, mn, ha, hoa, innerAddr, "mn to ha")
	through(t, ctx, ha, mn, innerAddr, hoa, "ha to mn")
	st := ha.rt.Stats()
	if st.Responder[ike.Created] != 1 || st.HalfOpen != 0 || st.ChildOpFailures != 0 {
		t.Errorf("home agent stats %+v", st)
	}
	sas, err := ha.rt.SAs(ctx)
	if err != nil || len(sas) != 1 || sas[0].State != ike.StateEstablished || sas[0].Assignment == nil ||
		sas[0].Assignment.IPv6.Addr() != hoa || len(sas[0].Children) != 1 {
		t.Errorf("home agent SAs %+v (%v)", sas, err)
	}
}

// TestPairRekey rekeys the CHILD_SA and the IKE SA from each side and checks
// that traffic flows after each.
func TestPairRekey(t *testing.T) {
	ctx := testContext(t)
	ha, mn, id, hoa := pair(t, ctx)
	haSAs, err := ha.rt.SAs(ctx)
	if err != nil || len(haSAs) != 1 {
		t.Fatalf("home agent SAs %v (%v)", haSAs, err)
	}
	haID := haSAs[0].ID
	mnFrom, haFrom := mn.events.len(), ha.events.len()

	// The mobile node rekeys its CHILD_SA.
	if err := mn.rt.RekeyChild(ctx, id, 0); err != nil {
		t.Fatal(err)
	}
	rk := waitFor[ike.ChildRekeyed](t, ctx, mn.events, &mnFrom, nil)
	waitFor[ike.ChildDown](t, ctx, mn.events, &mnFrom, func(e ike.ChildDown) bool { return e.Child.InSPI == rk.Old.InSPI })
	through(t, ctx, mn, ha, hoa, innerAddr, "after the mobile node's CHILD_SA rekey")
	through(t, ctx, ha, mn, innerAddr, hoa, "back after the mobile node's CHILD_SA rekey")

	// The home agent rekeys the IKE SA, then the CHILD_SA.
	if err := ha.rt.RekeyIKE(ctx, haID); err != nil {
		t.Fatal(err)
	}
	ikeRk := waitFor[ike.IKERekeyed](t, ctx, mn.events, &mnFrom, nil)
	if ikeRk.Initiator {
		t.Error("the mobile node reports the home agent's IKE SA rekey as its own")
	}
	if err := ha.rt.RekeyChild(ctx, haID, 0); err != nil {
		t.Fatal(err)
	}
	// The home agent's CHILD_SA is the one the mobile node's rekey made.
	haRk := waitFor[ike.ChildRekeyed](t, ctx, ha.events, &haFrom, func(e ike.ChildRekeyed) bool { return e.Old.InSPI == rk.New.OutSPI })
	waitFor[ike.ChildDown](t, ctx, ha.events, &haFrom, func(e ike.ChildDown) bool { return e.Child.InSPI == haRk.Old.InSPI })
	// The mobile node answered the rekey (it narrows to its own selectors,
	// not the home agent's rules).
	waitFor[ike.ChildRekeyed](t, ctx, mn.events, &mnFrom, func(e ike.ChildRekeyed) bool { return e.New.InSPI == haRk.New.OutSPI })
	through(t, ctx, mn, ha, hoa, innerAddr, "after the home agent's rekeys")
	through(t, ctx, ha, mn, innerAddr, hoa, "back after the home agent's rekeys")

	// Every message of the rekeyed IKE SA reached its shard.
	if st := ha.rt.Stats(); st.Unroutable != 0 || st.InboxDrops != 0 {
		t.Errorf("home agent stats %+v", st)
	}
	if n := len(ha.rt.dp.InboundSAs()); n != 1 {
		t.Errorf("home agent has %d inbound SAs after the rekeys, want 1", n)
	}
}

// TestPairDeleteReleasesAddress deletes the IKE SA from the mobile node:
// both sides report it down, the dataplane SAs go, and the home address
// is released but stays the identity's on its next attach.
func TestPairDeleteReleasesAddress(t *testing.T) {
	ctx := testContext(t)
	ha, mn, id, hoa := pair(t, ctx)
	haFrom := ha.events.len()
	if err := mn.rt.Delete(ctx, id); err != nil {
		t.Fatal(err)
	}
	down := waitFor[ike.IKEDown](t, ctx, ha.events, &haFrom, nil)
	if down.Reason != ike.DownDeletedByPeer || down.Assignment == nil || down.Assignment.IPv6.Addr() != hoa {
		t.Errorf("home agent's IKEDown %+v", down)
	}
	waitFor[ike.IKEDown](t, ctx, mn.events, new(int), nil)
	if n := len(ha.rt.dp.InboundSAs()) + len(ha.rt.dp.OutboundSAs()); n != 0 {
		t.Errorf("home agent dataplane still holds %d SAs", n)
	}
	if n := len(mn.rt.dp.InboundSAs()) + len(mn.rt.dp.OutboundSAs()); n != 0 {
		t.Errorf("mobile node dataplane still holds %d SAs", n)
	}
	pool := ha.rt.pool.(*LeasePool)
	if l, err := pool.cfg.Store.Lease(ctx, hoa); err != nil || l.State != store.StateReleased || l.Identity != "ID_FQDN:mn.example" {
		t.Errorf("lease after delete: %+v (%v), want %v released and still mn.example's", l, err, hoa)
	}
	if held := pool.Held(); len(held) != 0 {
		t.Errorf("addresses still held after delete: %v", held)
	}
	if err := mn.rt.Delete(ctx, id); !errors.Is(err, ErrNoSA) {
		t.Errorf("second Delete: %v, want ErrNoSA", err)
	}
}

// TestPairShutdownDeletes cancels the home agent while the SA is up: it
// deletes the IKE SA (the mobile node hears of it) before Run returns.
func TestPairShutdownDeletes(t *testing.T) {
	ctx := testContext(t)
	ha, mn, _, _ := pair(t, ctx)
	mnFrom := mn.events.len()
	start := time.Now()
	ha.stop(t)
	if d := time.Since(start); d > DefaultShutdownTimeout {
		t.Errorf("shutdown took %v: the delete was not answered", d)
	}
	down := waitFor[ike.IKEDown](t, ctx, mn.events, &mnFrom, nil)
	if down.Reason != ike.DownDeletedByPeer {
		t.Errorf("mobile node's IKEDown %+v, want deleted by peer", down)
	}
	if _, err := ha.rt.SAs(ctx); !errors.Is(err, ErrStopped) {
		t.Errorf("SAs after Run returned: %v, want ErrStopped", err)
	}
}

// TestPairWrongPSK: an initiator with the wrong key fails authentication and
// the home agent keeps no SA and no address.
func TestPairWrongPSK(t *testing.T) {
	ctx := testContext(t)
	ha := startNode(t, haConfig(), haOptions(t))
	mn := startNode(t, mnConfig(), Options{PSKs: []PSK{{Identity: "*", Secret: []byte("not the key")}}})
	ikePort, nattPort := ha.rt.Ports()
	if _, err := mn.rt.Initiate(ctx, Peer{Remote: netip.AddrPortFrom(netip.IPv6Loopback(), ikePort), NATTPort: nattPort,
		Request: ike.CPRequest{IPv6: true}}); err != nil {
		t.Fatal(err)
	}
	failed := waitFor[ike.AuthFailed](t, ctx, ha.events, new(int), nil)
	if failed.ByPeer || failed.Peer != ike.FQDN("mn.example") {
		t.Errorf("home agent's AuthFailed %+v", failed)
	}
	waitFor[ike.IKEDown](t, ctx, mn.events, new(int), nil)
	waitFor[ike.IKEDown](t, ctx, ha.events, new(int), nil)
	if sas, err := ha.rt.SAs(ctx); err != nil || len(sas) != 0 {
		t.Errorf("home agent SAs %v (%v)", sas, err)
	}
	if ls, err := ha.rt.pool.(*LeasePool).cfg.Store.List(ctx, store.Filter{}); err != nil || len(ls) != 0 {
		t.Errorf("an unauthenticated peer got leases %v (%v)", ls, err)
	}
}

// TestPairKeyLog checks that both runtimes write a tshark key log line for
// the IKE SA, the same one.
func TestPairKeyLog(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	haCfg, mnCfg := haConfig(), mnConfig()
	haCfg.KeyLog, mnCfg.KeyLog = dir+"/ha.keys", dir+"/mn.keys"
	ha := startNode(t, haCfg, haOptions(t))
	mn := startNode(t, mnCfg, Options{PSKs: []PSK{{Identity: "*", Secret: []byte(testPSK)}}})
	ikePort, nattPort := ha.rt.Ports()
	if _, err := mn.rt.Initiate(ctx, Peer{Remote: netip.AddrPortFrom(netip.IPv6Loopback(), ikePort), NATTPort: nattPort,
		Request: ike.CPRequest{IPv6: true}}); err != nil {
		t.Fatal(err)
	}
	up := waitFor[ike.IKEUp](t, ctx, mn.events, new(int), nil)
	waitFor[ike.IKEUp](t, ctx, ha.events, new(int), nil)
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	haKeys, mnKeys := read(haCfg.KeyLog), read(mnCfg.KeyLog)
	prefix := fmt.Sprintf("%016x,%016x,", up.SPIs.I, up.SPIs.R)
	if haKeys != mnKeys || strings.Count(haKeys, "\n") != 1 || !strings.HasPrefix(haKeys, prefix) {
		t.Errorf("key logs differ or lack the SA %s:\nha %q\nmn %q", up.SPIs, haKeys, mnKeys)
	}
}
