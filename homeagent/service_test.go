package homeagent

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/admin"
	"github.com/mip6ha/mip6ha/homeagent/config"
	"github.com/mip6ha/mip6ha/homeagent/dataplane/tuntest"
	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/boltstore"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/mip6/mh"
)

// haAddr is where the in-process home agent listens, and where mobile
// nodes send their Binding Updates.
var haAddr = netip.IPv6Loopback()

// careOf is the mobile node's care-of address in its Binding Updates (the
// outer address is the loopback; a care-of address must be routable).
var careOf = netip.MustParseAddr("2001:db8:2::100")

// serviceConfig is a home agent on the loopback with kernel-chosen ports,
// the mobile node's key, the home prefix homePrefix, its store and admin
// socket in dir, no metrics listener.
func serviceConfig(t testing.TB, dir string) *config.Config {
	t.Helper()
	c := config.Default()
	c.IKE.Listen = []string{haAddr.String()}
	c.IKE.Port, c.IKE.NATTPort = 0, 0
	c.IKE.Identity = "ha.example"
	c.IKE.PSKs = []config.PSK{{Identity: "mn.example", Secret: testPSK}, {Identity: "other.example", Secret: testPSK}}
	c.IKE.Shards = 2
	c.Home.Prefix = homePrefix.String()
	c.Store.DataDir = dir
	c.Admin.Listen = filepath.Join(dir, "admin.sock")
	c.Telemetry.PrometheusListen = ""
	c.Cluster.MemberID = "ha1"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	return c
}

// svcNode is a running Service.
type svcNode struct {
	svc    *Service
	tun    *tuntest.ChannelTUN
	cancel context.CancelFunc
	done   chan error
}

func startService(t testing.TB, cfg *config.Config) *svcNode {
	t.Helper()
	st, err := boltstore.OpenDir(cfg.Store.DataDir, boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	return startServiceOn(t, cfg, st)
}

// startServiceOn runs a Service on st, which it closes when it stops.
func startServiceOn(t testing.TB, cfg *config.Config, st store.Store) *svcNode {
	t.Helper()
	var err error
	n := &svcNode{tun: tuntest.New(256), done: make(chan error, 1)}
	n.svc, err = NewService(cfg, ServiceOptions{Device: n.tun, Store: st, VPNGrace: time.Hour})
	if err != nil {
		st.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { n.done <- n.svc.Run(ctx) }()
	t.Cleanup(func() { n.stop(t) })
	return n
}

func (n *svcNode) stop(t testing.TB) {
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

// attachTo brings up an IKE SA from a mobile node runtime with identity id
// to the service, and returns the node and its home address.
func attachTo(t *testing.T, ctx context.Context, ha *svcNode, id string) (*node, SAID, netip.Addr) {
	t.Helper()
	cfg := mnConfig()
	cfg.Identity = id
	mn := startNode(t, cfg, Options{PSKs: []PSK{{Identity: "ha.example", Secret: []byte(testPSK)}}})
	ikePort, nattPort := ha.svc.rt.Ports()
	sa, err := mn.rt.Initiate(ctx, Peer{Remote: netip.AddrPortFrom(haAddr, ikePort), NATTPort: nattPort, ID: "ha.example",
		Request: ike.CPRequest{IPv6: true}, RequireAddress: true})
	if err != nil {
		t.Fatal(err)
	}
	var from int
	got := waitFor[ike.AddressAssigned](t, ctx, mn.events, &from, func(e ike.AddressAssigned) bool { return e.ToUs })
	waitFor[ike.ChildUp](t, ctx, mn.events, &from, nil)
	return mn, sa, got.Assignment.IPv6.Addr()
}

// bindingUpdate returns the Binding Update packet of a home registration
// of hoa, the all-in-tunnel form a mobile node sends (RFC 4877 §3).
func bindingUpdate(t testing.TB, hoa netip.Addr, seq uint16, lifetime time.Duration) []byte {
	t.Helper()
	opts := mh.AlternateCoA{Addr: careOf}.Append(nil)
	bu := mh.BindingUpdate{Sequence: seq, Flags: mh.BUFlagA | mh.BUFlagH | mh.BUFlagK, Lifetime: mh.LifetimeOf(lifetime), Options: opts}
	return mh.AppendPacket(nil, mh.IPv6{Src: hoa, Dst: haAddr}, &bu)
}

// awaitBA waits for a Binding Acknowledgement on the mobile node's device.
func awaitBA(t *testing.T, ctx context.Context, mn *node) mh.BindingAck {
	t.Helper()
	for {
		select {
		case pkt := <-mn.tun.Incoming:
			_, h, err := mh.ParsePacket(pkt)
			if err != nil || h.Type() != mh.TypeBindingAck {
				continue
			}
			ba, err := mh.ParseBindingAck(h)
			if err != nil {
				t.Fatal(err)
			}
			return ba
		case <-ctx.Done():
			t.Fatal("no Binding Acknowledgement")
		}
	}
}

// TestServiceBindingUpdateInTunnel: a Binding Update inside the CHILD_SA
// is answered with a Binding Acknowledgement down the same CHILD_SA, the
// binding shows in the admin API with the SA's identity, SPIs and the
// care-of address, and a deregistration ends it (RFC 4877 §3, RFC 6275
// §10.3.1, §10.3.2).
func TestServiceBindingUpdateInTunnel(t *testing.T) {
	ctx := testContext(t)
	ha := startService(t, serviceConfig(t, t.TempDir()))
	mn, _, hoa := attachTo(t, ctx, ha, "mn.example")
	client, err := admin.NewClient(ha.svc.cfg.Admin.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	// Before the Binding Update the node is a peer without a binding.
	bs, err := client.Bindings(ctx)
	if err != nil || len(bs) != 1 || bs[0].HoA != hoa || bs[0].State != "" {
		t.Fatalf("bindings before the BU: %+v (%v)", bs, err)
	}

	mn.tun.Outgoing <- bindingUpdate(t, hoa, 1, time.Minute)
	ba := awaitBA(t, ctx, mn)
	if ba.Status != mh.StatusAccepted || ba.Sequence != 1 || ba.Flags&mh.BAFlagK == 0 || ba.Lifetime != mh.LifetimeOf(time.Minute) {
		t.Errorf("BA %+v: want accepted, sequence 1, K, 60 s", ba)
	}
	bs, err = client.Bindings(ctx)
	if err != nil || len(bs) != 1 {
		t.Fatalf("bindings: %+v (%v)", bs, err)
	}
	b := bs[0]
	if b.Identity != "ID_FQDN:mn.example" || b.HoA != hoa || b.CoA != careOf || b.State != "valid" ||
		b.Lifetime <= 0 || time.Duration(b.Lifetime) > time.Minute || len(b.ChildSAs) != 1 || b.IKESPI.Initiator == 0 {
		t.Errorf("binding %+v", b)
	}
	st, err := client.Status(ctx)
	if err != nil || st.Bindings != 1 || st.IKESAs != 1 || st.ChildSAs != 1 || st.Leases != 1 || st.Members != 1 {
		t.Errorf("status %+v (%v)", st, err)
	}
	l, err := ha.svc.store.Lease(ctx, hoa)
	if err != nil || l.CareOf.Addr() != netip.IPv6Loopback() {
		t.Errorf("lease %+v (%v): want the care-of endpoint recorded", l, err)
	}

	// Deregistration (lifetime 0): accepted, the binding ends.
	mn.tun.Outgoing <- bindingUpdate(t, hoa, 2, 0)
	if ba := awaitBA(t, ctx, mn); ba.Status != mh.StatusAccepted || ba.Lifetime != 0 {
		t.Errorf("deregistration BA %+v", ba)
	}
	bs, _ = client.Bindings(ctx)
	if len(bs) != 1 || bs[0].State == "valid" {
		t.Errorf("after deregistration: %+v", bs)
	}
}

// TestServiceDropsForeignAndCorruptBU: a Binding Update for a home address
// the SA's identity does not own is dropped silently (RFC 6275 §5.1,
// §9.5.1), as is one with a bad checksum (§9.2); both are counted, neither
// gets an answer, the binding table does not change.
func TestServiceDropsForeignAndCorruptBU(t *testing.T) {
	ctx := testContext(t)
	ha := startService(t, serviceConfig(t, t.TempDir()))
	mn, _, hoa := attachTo(t, ctx, ha, "mn.example")
	_, _, otherHoA := attachTo(t, ctx, ha, "other.example")

	mn.tun.Outgoing <- bindingUpdateFrom(t, hoa, otherHoA)
	corrupt := bindingUpdate(t, hoa, 1, time.Minute)
	corrupt[len(corrupt)-1] ^= 0xff
	mn.tun.Outgoing <- corrupt
	// A valid one afterwards proves the two went through the same path
	// first (the mobility goroutine handles them in order).
	mn.tun.Outgoing <- bindingUpdate(t, hoa, 1, time.Minute)
	if ba := awaitBA(t, ctx, mn); ba.Status != mh.StatusAccepted || ba.Sequence != 1 {
		t.Errorf("BA %+v: want the valid BU's", ba)
	}
	select {
	case pkt := <-mn.tun.Incoming:
		t.Errorf("a second answer: % x", pkt)
	default:
	}
	drops := ha.svc.counters().Drops
	if drops["mip6-not-authorized"] != 1 || drops["mip6-checksum"] != 1 {
		t.Errorf("drop counters %v: want one not-authorized and one checksum", drops)
	}
	if _, ok := ha.svc.ha.Lookup(otherHoA); ok {
		t.Error("a binding was created for another identity's home address")
	}
	if n := ha.svc.ha.Len(); n != 1 {
		t.Errorf("binding cache holds %d entries, want 1", n)
	}
}

// TestServiceAnswersBadMobilityHeaders: a Mobility Header with a wrong
// Payload Proto or a Header Len too short for its type is dropped and
// answered down the node's CHILD_SA with an ICMPv6 Parameter Problem, code
// 0, pointing at the field, from the address it was sent to (RFC 6275
// §9.2); an unknown MH Type gets a Binding Error with status 2 (§9.3.3).
// Each is counted.
func TestServiceAnswersBadMobilityHeaders(t *testing.T) {
	ctx := testContext(t)
	ha := startService(t, serviceConfig(t, t.TempDir()))
	mn, _, hoa := attachTo(t, ctx, ha, "mn.example")
	next := func() []byte {
		t.Helper()
		select {
		case pkt := <-mn.tun.Incoming:
			return pkt
		case <-ctx.Done():
			t.Fatal("no answer")
			return nil
		}
	}
	fix := func(p []byte) []byte {
		mh.SetChecksum(p[40:], hoa, haAddr)
		return p
	}

	badProto := bindingUpdate(t, hoa, 1, time.Minute)
	badProto[40] = 6 // Payload Proto: TCP
	shortLen := mh.AppendPacket(nil, mh.IPv6{Src: hoa, Dst: haAddr}, mh.BindingRefreshRequest{})
	shortLen[42] = byte(mh.TypeBindingUpdate) // 8 octets cannot hold a Binding Update
	for _, c := range []struct {
		name    string
		pkt     []byte
		pointer uint32
	}{{"Payload Proto", fix(badProto), 40}, {"Header Len", fix(shortLen), 41}} {
		mn.tun.Outgoing <- c.pkt
		pp := next()
		if len(pp) < 48 || pp[6] != mh.ProtoICMPv6 || pp[40] != mh.ICMPv6TypeParameterProblem || pp[41] != 0 ||
			binary.BigEndian.Uint32(pp[44:48]) != c.pointer || !bytes.Equal(pp[48:], c.pkt) {
			t.Errorf("%s: answer % x, want a Parameter Problem with pointer %d and the packet", c.name, pp, c.pointer)
			continue
		}
		if src, dst := netip.AddrFrom16([16]byte(pp[8:24])), netip.AddrFrom16([16]byte(pp[24:40])); src != haAddr || dst != hoa {
			t.Errorf("%s: Parameter Problem from %v to %v, want from %v to %v", c.name, src, dst, haAddr, hoa)
		}
	}

	unknown := mh.AppendPacket(nil, mh.IPv6{Src: hoa, Dst: haAddr}, mh.BindingRefreshRequest{})
	unknown[42] = 99
	mn.tun.Outgoing <- fix(unknown)
	_, h, err := mh.ParsePacket(next())
	if err != nil || h.Type() != mh.TypeBindingError {
		t.Fatalf("answer to MH Type 99: %v %v", h, err)
	}
	if be, err := mh.ParseBindingError(h); err != nil || be.Status != mh.BEUnrecognizedType {
		t.Errorf("Binding Error %+v (%v), want status 2", be, err)
	}
	drops := ha.svc.counters().Drops
	if drops["mip6-parameter-problem"] != 2 || drops["mip6-unknown-type"] != 1 {
		t.Errorf("drop counters %v: want two parameter-problem and one unknown-type", drops)
	}
	if n := ha.svc.ha.Len(); n != 0 {
		t.Errorf("binding cache holds %d entries, want none", n)
	}
}

// bindingUpdateFrom is a Binding Update sent from src (the SA's own home
// address, as the dataplane's selectors require) that registers hoa
// through a Home Address option: the way a node would try to bind another
// node's home address.
func bindingUpdateFrom(t *testing.T, src, hoa netip.Addr) []byte {
	t.Helper()
	opts := mh.AlternateCoA{Addr: careOf}.Append(nil)
	bu := mh.BindingUpdate{Sequence: 1, Flags: mh.BUFlagA | mh.BUFlagH, Lifetime: mh.LifetimeOf(time.Minute), Options: opts}
	return mh.AppendPacket(nil, mh.IPv6{Src: src, Dst: haAddr, HAO: hoa}, &bu)
}

// hangingAttributes is a store whose SetAttributes hangs, as a call to an
// unreachable etcd does until its timeout, until release is closed; done
// is closed when the first call has returned.
type hangingAttributes struct {
	store.Store
	once    sync.Once
	release chan struct{}
	done    chan struct{}
}

func (h *hangingAttributes) SetAttributes(ctx context.Context, hoa netip.Addr, expected store.Revision, a store.Attributes) (store.Lease, error) {
	defer h.once.Do(func() { close(h.done) })
	select {
	case <-h.release:
	case <-ctx.Done():
		return store.Lease{}, ctx.Err()
	}
	return h.Store.SetAttributes(ctx, hoa, expected, a)
}

// TestServiceBindingUpdateWhileStoreHangs: recording a node's care-of
// endpoint in its lease, a store write, does not hold up Binding Updates:
// while the store does not answer, a node's registration is answered
// (RFC 6275 §10.3.1 asks for the binding, not the lease's note, before the
// Binding Acknowledgement), and the care-of endpoint is recorded once the
// store answers.
func TestServiceBindingUpdateWhileStoreHangs(t *testing.T) {
	ctx := testContext(t)
	cfg := serviceConfig(t, t.TempDir())
	st, err := boltstore.OpenDir(cfg.Store.DataDir, boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	hang := &hangingAttributes{Store: st, release: make(chan struct{}), done: make(chan struct{})}
	ha := startServiceOn(t, cfg, hang)

	mn, _, hoa := attachTo(t, ctx, ha, "mn.example")
	// The lease says the node was elsewhere (IKE_AUTH recorded where it
	// attached from): the Binding Update brings a new care-of endpoint.
	l, err := st.Lease(ctx, hoa)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetAttributes(ctx, hoa, l.Revision, store.Attributes{CareOf: netip.MustParseAddrPort("[2001:db8:9::1]:4500")}); err != nil {
		t.Fatal(err)
	}
	mn.tun.Outgoing <- bindingUpdate(t, hoa, 1, time.Minute)
	baCtx, cancelBA := context.WithTimeout(ctx, 2*time.Second) // the store's calls take 5 s to time out
	defer cancelBA()
	if ba := awaitBA(t, baCtx, mn); ba.Status != mh.StatusAccepted {
		t.Fatalf("BA %+v", ba)
	}
	close(hang.release)
	select {
	case <-hang.done:
	case <-ctx.Done():
		t.Fatal("the care-of endpoint was never recorded")
	}
	if l, err := st.Lease(ctx, hoa); err != nil || l.CareOf.Addr() != netip.IPv6Loopback() {
		t.Errorf("lease %+v (%v): want the care-of endpoint recorded", l, err)
	}
}

// TestServiceDrainWhenStopping: a drain asked of a home agent that is
// stopping (its admin API answers until the end of the shutdown) is
// refused as unavailable and starts nothing: its moves would run while
// the runtime, the store and the wait for background work end.
func TestServiceDrainWhenStopping(t *testing.T) {
	ha := startService(t, serviceConfig(t, t.TempDir()))
	ha.stop(t)
	c := ha.svc.cluster
	c.mu.Lock()
	c.members["ha2"] = store.Member{ID: "ha2", Site: "west", Capacity: 10, Healthy: true} // someone to drain to
	c.mu.Unlock()
	st, err := ha.svc.Drain(context.Background())
	if !errors.Is(err, admin.ErrUnavailable) {
		t.Errorf("Drain while stopping: %+v, %v; want ErrUnavailable", st, err)
	}
	if ha.svc.drain != nil {
		t.Error("a drain was started")
	}
}

// TestServiceIKEDownEndsBinding: when the IKE SA that registered a binding
// ends, the binding ends and the lease is released, kept for the identity.
func TestServiceIKEDownEndsBinding(t *testing.T) {
	ctx := testContext(t)
	ha := startService(t, serviceConfig(t, t.TempDir()))
	mn, sa, hoa := attachTo(t, ctx, ha, "mn.example")
	mn.tun.Outgoing <- bindingUpdate(t, hoa, 1, time.Minute)
	awaitBA(t, ctx, mn)
	if err := mn.rt.Delete(ctx, sa); err != nil {
		t.Fatal(err)
	}
	waitFor[ike.IKEDown](t, ctx, mn.events, new(int), nil)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, bound := ha.svc.ha.Lookup(hoa)
		l, err := ha.svc.store.Lease(ctx, hoa)
		if !bound && err == nil && l.State == store.StateReleased && l.Identity == "ID_FQDN:mn.example" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the IKE SA ended: bound=%v lease %+v (%v)", bound, l, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestServiceRestartKeepsLease: the lease survives a restart of the home
// agent in its embedded store, and the identity gets the same home address
// back (stickiness).
func TestServiceRestartKeepsLease(t *testing.T) {
	ctx := testContext(t)
	dir := t.TempDir()
	cfg := serviceConfig(t, dir)
	ha := startService(t, cfg)
	_, _, other := attachTo(t, ctx, ha, "other.example")
	mn, _, hoa := attachTo(t, ctx, ha, "mn.example")
	ha.stop(t)
	mn.stop(t)

	ha = startService(t, cfg)
	_, _, again := attachTo(t, ctx, ha, "mn.example")
	if again != hoa || again == other {
		t.Errorf("after a restart mn.example got %v, want %v again", again, hoa)
	}
}

// TestServiceUpdatePeer: moving an IKE SA to a new peer endpoint (what a
// K-flag Binding Update from a new care-of address does) moves the ESP SA
// that carries the home address too, without a new IKE SA.
func TestServiceUpdatePeer(t *testing.T) {
	ctx := testContext(t)
	ha := startService(t, serviceConfig(t, t.TempDir()))
	_, _, hoa := attachTo(t, ctx, ha, "mn.example")
	peers := ha.svc.peers.list()
	if len(peers) != 1 {
		t.Fatalf("peers %+v", peers)
	}
	moved := netip.AddrPortFrom(haAddr, 9) // anywhere else
	if err := ha.svc.rt.UpdatePeer(ctx, peers[0].id, moved); err != nil {
		t.Fatal(err)
	}
	if p, _ := ha.svc.peers.get(peers[0].id); p.path.Remote != moved || p.spis != peers[0].spis {
		t.Errorf("IKE SA at %v (SPIs %v), want moved to %v with the same SPIs %v", p.path.Remote, p.spis, moved, peers[0].spis)
	}
	if sa := ha.svc.rt.dp.LookupOutbound(hoa); sa == nil || sa.Remote() != moved {
		t.Errorf("ESP SA for %v: %v, want it sending to %v", hoa, sa, moved)
	}
	if err := ha.svc.rt.UpdatePeer(ctx, peers[0].id, moved); err != nil {
		t.Errorf("moving to where the SA is: %v", err)
	}
}

// BenchmarkServiceBindingUpdate measures a Binding Update refresh through
// the tunnel: ESP in, the binding cache, the Binding Acknowledgement back
// down the CHILD_SA, ESP out, over the loopback between two in-process
// dataplanes (the mobile node's work included).
func BenchmarkServiceBindingUpdate(b *testing.B) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ha := startService(b, serviceConfig(b, b.TempDir()))
	cfg := mnConfig()
	mn := startNode(b, cfg, Options{PSKs: []PSK{{Identity: "ha.example", Secret: []byte(testPSK)}}})
	ikePort, nattPort := ha.svc.rt.Ports()
	if _, err := mn.rt.Initiate(ctx, Peer{Remote: netip.AddrPortFrom(haAddr, ikePort), NATTPort: nattPort, ID: "ha.example",
		Request: ike.CPRequest{IPv6: true}, RequireAddress: true}); err != nil {
		b.Fatal(err)
	}
	e, _, err := mn.events.wait(ctx, 0, func(e Event) bool { x, ok := e.IKE.(ike.AddressAssigned); return ok && x.ToUs })
	if err != nil {
		b.Fatal(err)
	}
	hoa := e.IKE.(ike.AddressAssigned).Assignment.IPv6.Addr()
	if _, _, err := mn.events.wait(ctx, 0, func(e Event) bool { _, ok := e.IKE.(ike.ChildUp); return ok }); err != nil {
		b.Fatal(err)
	}
	seq := uint16(0)
	roundTrip := func() {
		seq++
		mn.tun.Outgoing <- bindingUpdate(b, hoa, seq, time.Hour)
		for {
			select {
			case pkt := <-mn.tun.Incoming:
				if _, h, err := mh.ParsePacket(pkt); err == nil && h.Type() == mh.TypeBindingAck {
					return
				}
			case <-ctx.Done():
				b.Fatal("no Binding Acknowledgement")
			}
		}
	}
	roundTrip() // the first registration
	b.ReportAllocs()
	for b.Loop() {
		roundTrip()
	}
}
