package homeagent

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/admin"
	"github.com/mip6ha/mip6ha/homeagent/config"
	"github.com/mip6ha/mip6ha/homeagent/dataplane/tuntest"
	"github.com/mip6ha/mip6ha/homeagent/homelink"
	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/etcdstore"
	"github.com/mip6ha/mip6ha/homeagent/store/etcdstore/etcdtest"
	"github.com/mip6ha/mip6ha/homeagent/telemetry"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
	"github.com/mip6ha/mip6ha/mip6/mh"
	"github.com/mip6ha/mip6ha/policy"
)

// The cluster tests run two or three Services in this process against one
// in-process etcd (etcdtest.StartEmbedded), each on its own IPv4 loopback
// address with kernel-chosen ports, an in-memory TUN device and a recording
// home link shared by the members (homeSegment). Mobile nodes are runtimes
// of this package driven by the test as docs/cluster.md describes: Binding
// Updates written into their devices, Home Agent Switch messages read from
// them.

// clusterLab is an etcd and the home link its members share.
type clusterLab struct {
	t       *testing.T
	etcd    *etcdtest.Embedded
	prefix  string
	segment *homeSegment
	otlp    string // OTLP endpoint of the members' traces, "" for none
	// vpnGrace is the members' ServiceOptions.VPNGrace.
	vpnGrace time.Duration
}

var labPrefixes atomic.Int64

func newClusterLab(t *testing.T) *clusterLab {
	t.Helper()
	e, err := etcdtest.StartEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return &clusterLab{t: t, etcd: e, prefix: fmt.Sprintf("/mip6ha-cluster-test/%d", labPrefixes.Add(1)),
		segment: &homeSegment{links: map[string]*fakeLink{}}, vpnGrace: time.Hour}
}

// clusterSites puts every client on the loopback (127.0.0.0/8) in site
// "west": ha2 (west) is nearer them than ha1 (east).
var clusterSites = []config.SitePrefix{{Prefix: "127.0.0.0/8", Site: "west"}}

// westClient is a client address in site west.
var westClient = netip.MustParseAddr("127.0.0.50")

// config is the configuration of member id at 127.0.0.n and 2001:db8:a::n
// in site.
func (l *clusterLab) config(id string, n byte, site string) *config.Config {
	c := config.Default()
	ip := netip.AddrFrom4([4]byte{127, 0, 0, n})
	c.IKE.Listen = []string{ip.String()}
	c.IKE.Port, c.IKE.NATTPort = 0, 0
	c.IKE.Identity = "ha.example"
	c.IKE.PSKs = []config.PSK{{Identity: "*", Secret: testPSK}}
	c.IKE.Shards = 2
	c.Home.Prefix = homePrefix.String()
	c.Store.Backend = config.BackendEtcd
	c.Store.Etcd.Endpoints = l.etcd.Endpoints
	c.Store.Etcd.Prefix = l.prefix
	dir, err := os.MkdirTemp("", "ha-admin-")
	if err != nil {
		l.t.Fatal(err)
	}
	l.t.Cleanup(func() { os.RemoveAll(dir) })
	c.Admin.Listen = filepath.Join(dir, "admin.sock")
	c.Telemetry.PrometheusListen = ""
	c.Cluster.MemberID = id
	c.Cluster.Site = site
	c.Cluster.Addresses = []string{ip.String(), clusterAddr6(n).String()}
	c.Cluster.Sites = clusterSites
	c.Cluster.Distances = []config.Distance{{From: "east", To: "west", Cost: 100}}
	c.Cluster.MembershipTTL = 2 * time.Second
	c.Cluster.TicketKey = "a-test-ticket-key-of-the-cluster"
	c.Cluster.MoveRate = 20
	c.Cluster.DrainRate = 20
	c.MIP6.HASRate = 100
	c.MIP6.GracePeriod = 8 * time.Second
	return c
}

// clusterAddr6 is the IPv6 address of member n: where its Binding Updates
// go and what a Home Agent Switch to it names.
func clusterAddr6(n byte) netip.Addr {
	return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x0a, 15: n})
}

// member is a running home agent of the lab.
type member struct {
	*svcNode
	id    string
	ip    netip.Addr // IKE address (IPv4 loopback)
	addr6 netip.Addr // home agent address for Binding Updates
	link  *fakeLink
	store *etcdstore.Store
	tel   *telemetry.Telemetry
}

// start runs a member with cfg; it is stopped at cleanup.
func (l *clusterLab) start(cfg *config.Config) *member {
	t := l.t
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	client, err := etcdtest.NewClient(l.etcd.Endpoints)
	if err != nil {
		t.Fatal(err)
	}
	st, err := etcdstore.New(client, etcdstore.Options{Prefix: cfg.Store.Etcd.Prefix})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	tel, err := telemetry.Setup(context.Background(), telemetry.Config{ServiceName: "mip6ha-homeagent",
		ServiceInstance: cfg.Cluster.MemberID, LogOutput: &logs, LogLevel: "debug", OTLPEndpoint: l.otlp,
		Insecure: true, ExportDelay: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	addrs := cfg.SelfMember().Addrs
	m := &member{id: cfg.Cluster.MemberID, ip: addrs[0], addr6: addrs[1], link: l.segment.link(cfg.Cluster.MemberID), store: st, tel: tel,
		svcNode: &svcNode{tun: tuntest.New(256), done: make(chan error, 1)}}
	m.svc, err = NewService(cfg, ServiceOptions{Telemetry: tel, Device: m.tun, Store: st, VPNGrace: l.vpnGrace, HomeLink: m.link})
	if err != nil {
		client.Close()
		t.Fatal(err)
	}
	stopDrain := make(chan struct{})
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		drain(m.tun.Incoming, stopDrain)
	}()
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go func() { m.done <- m.svc.Run(ctx) }()
	t.Cleanup(func() {
		m.stop(t)
		close(stopDrain)
		<-drained
		tel.Shutdown(context.Background())
		client.Close()
		if t.Failed() {
			t.Logf("%s log:\n%s", m.id, logs.String())
		}
	})
	return m
}

// drain discards what a member's device receives until stop is closed.
func drain(ch <-chan []byte, stop <-chan struct{}) {
	for {
		select {
		case <-ch:
		case <-stop:
			return
		}
	}
}

// peer returns the member as a gateway to initiate an IKE SA with.
func (m *member) peer(t *testing.T) Peer {
	ikePort, nattPort := m.svc.rt.Ports()
	return Peer{Remote: netip.AddrPortFrom(m.ip, ikePort), NATTPort: nattPort, ID: "ha.example"}
}

// metric returns the value of the Prometheus sample of m whose line
// starts with name and contains every one of labels, or -1.
func (m *member) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	m.tel.MetricsHandler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for line := range strings.Lines(rec.Body.String()) {
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		if !slices.ContainsFunc(labels, func(l string) bool { return !strings.Contains(line, l) }) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatalf("metric line %q", line)
			}
			return v
		}
	}
	return -1
}

// awaitMetric waits until the sample of m named name with labels is want
// (a metric recorded just after the store shows what the test awaited:
// polled, as no event tells when).
func (m *member) awaitMetric(t *testing.T, ctx context.Context, want float64, name string, labels ...string) {
	t.Helper()
	for m.metric(t, name, labels...) != want {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %s %v never reached %v (now %v)", m.id, name, labels, want, m.metric(t, name, labels...))
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// awaitMembers waits until m's view holds exactly the members ids.
func (m *member) awaitMembers(t *testing.T, ctx context.Context, ids ...string) {
	t.Helper()
	for {
		ch := m.svc.cluster.changes()
		var got []string
		for _, mem := range m.svc.cluster.policy().Explain(policy.AtInit{Remote: westClient}).Scores {
			got = append(got, mem.Member)
		}
		slices.Sort(got)
		if slices.Equal(got, ids) {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("%s's view has members %v, want %v", m.id, got, ids)
		}
	}
}

// homeSegment is the home link the members share: a Duplicate Address
// Detection finds an address another member defends.
type homeSegment struct {
	mu     sync.Mutex
	links  map[string]*fakeLink
	events []linkEvent
	more   chan struct{}
}

// linkEvent is one change of a defence on the home link.
type linkEvent struct {
	member string
	defend bool // false: release
	addr   netip.Addr
	at     time.Time
}

func (h *homeSegment) link(id string) *fakeLink {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.more == nil {
		h.more = make(chan struct{})
	}
	l := &fakeLink{seg: h, id: id, defended: map[netip.Addr]bool{}}
	h.links[id] = l
	return l
}

func (h *homeSegment) record(e linkEvent) {
	h.mu.Lock()
	h.events = append(h.events, e)
	close(h.more)
	h.more = make(chan struct{})
	h.mu.Unlock()
}

// await waits for a defence event of member for addr.
func (h *homeSegment) await(t *testing.T, ctx context.Context, member string, defend bool, addr netip.Addr) linkEvent {
	t.Helper()
	for {
		h.mu.Lock()
		for _, e := range h.events {
			if e.member == member && e.defend == defend && e.addr == addr {
				h.mu.Unlock()
				return e
			}
		}
		more := h.more
		h.mu.Unlock()
		select {
		case <-more:
		case <-ctx.Done():
			t.Fatalf("%s never %s %v on the home link; events: %+v", member, map[bool]string{true: "defended", false: "released"}[defend], addr, h.snapshot())
		}
	}
}

func (h *homeSegment) snapshot() []linkEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.events)
}

// fakeLink is one member's HomeLink on the shared segment.
type fakeLink struct {
	seg      *homeSegment
	id       string
	mu       sync.Mutex
	defended map[netip.Addr]bool
}

func (l *fakeLink) Defend(_ context.Context, a netip.Addr) error {
	l.mu.Lock()
	l.defended[a] = true
	l.mu.Unlock()
	l.seg.record(linkEvent{member: l.id, defend: true, addr: a, at: time.Now()})
	return nil
}

func (l *fakeLink) Release(_ context.Context, a netip.Addr) error {
	l.mu.Lock()
	was := l.defended[a]
	delete(l.defended, a)
	l.mu.Unlock()
	if was {
		l.seg.record(linkEvent{member: l.id, addr: a, at: time.Now()})
	}
	return nil
}

func (l *fakeLink) isDefending(a netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.defended[a]
}

// DAD finds an address another member of the segment defends.
func (l *fakeLink) DAD(_ context.Context, a netip.Addr) error {
	l.seg.mu.Lock()
	defer l.seg.mu.Unlock()
	for id, o := range l.seg.links {
		if id != l.id && o.isDefending(a) {
			return fmt.Errorf("%w: %v is defended by %s", homelink.ErrDuplicate, a, id)
		}
	}
	return nil
}

func (l *fakeLink) ReleaseAll(ctx context.Context) error {
	l.mu.Lock()
	var all []netip.Addr
	for a := range l.defended {
		all = append(all, a)
	}
	l.mu.Unlock()
	for _, a := range all {
		l.Release(ctx, a)
	}
	return nil
}

func (l *fakeLink) Prefixes() ([]netip.Prefix, error)               { return []netip.Prefix{homePrefix}, nil }
func (l *fakeLink) Reconcile(context.Context) ([]netip.Addr, error) { return nil, nil }
func (l *fakeLink) Close() error                                    { return nil }

// testMN is a mobile node: an IKE runtime of its own on a loopback
// address, and what its device receives.
type testMN struct {
	*node
	id    string
	inbox *mhInbox
}

// mobileNode starts a mobile node with identity id (an FQDN) on ip.
func mobileNode(t *testing.T, id, ip string, opts Options) *testMN {
	t.Helper()
	cfg := loopbackConfig(mnConfig(), ip)
	cfg.Identity = id
	opts.PSKs = []PSK{{Identity: "ha.example", Secret: []byte(testPSK)}}
	mn := &testMN{id: id, inbox: newMHInbox()}
	stop, stopped := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(stop); <-stopped }) // after the runtime stopped (cleanups run last first)
	mn.node = startNode(t, cfg, opts)
	go func() {
		defer close(stopped)
		mn.inbox.read(mn.tun.Incoming, stop)
	}()
	return mn
}

// attach sets up an IKE SA with p, asking for a home address (suggest, if
// valid), and returns the SA and the home address assigned. remoteTS are
// the CHILD_SA's remote selectors.
func (mn *testMN) attach(t *testing.T, ctx context.Context, p Peer, suggest netip.Addr, remoteTS ...netip.Prefix) (SAID, netip.Addr) {
	t.Helper()
	p.Request = ike.CPRequest{IPv6: true}
	if suggest.IsValid() {
		p.Request.SuggestIPv6 = netip.PrefixFrom(suggest, 64)
	}
	p.RequireAddress = true
	p.RemoteTS = remoteTS
	from := mn.events.len()
	id, err := mn.rt.Initiate(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	got := waitFor[ike.AddressAssigned](t, ctx, mn.events, &from, func(e ike.AddressAssigned) bool { return e.ToUs })
	waitFor[ike.ChildUp](t, ctx, mn.events, &from, nil)
	return id, got.Assignment.IPv6.Addr()
}

// bind sends a home registration of hoa with care-of address coa to the
// home agent address ha (through the CHILD_SA routed to it) and returns
// the Binding Acknowledgement.
func (mn *testMN) bind(t *testing.T, ctx context.Context, hoa, ha, coa netip.Addr, seq uint16, lifetime time.Duration) mh.BindingAck {
	t.Helper()
	opts := mh.AlternateCoA{Addr: coa}.Append(nil)
	bu := mh.BindingUpdate{Sequence: seq, Flags: mh.BUFlagA | mh.BUFlagH | mh.BUFlagK, Lifetime: mh.LifetimeOf(lifetime), Options: opts}
	from := mn.inbox.len()
	mn.tun.Outgoing <- mh.AppendPacket(nil, mh.IPv6{Src: hoa, Dst: ha}, &bu)
	msg := mn.inbox.await(t, ctx, from, func(m mhMessage) bool {
		return m.ip.Src == ha && m.header.Type() == mh.TypeBindingAck
	})
	ba, err := mh.ParseBindingAck(msg.header)
	if err != nil {
		t.Fatal(err)
	}
	if ba.Sequence != seq {
		t.Fatalf("BA from %v for sequence %d, want %d", ha, ba.Sequence, seq)
	}
	return ba
}

// mhMessage is a Mobility Header packet a mobile node received.
type mhMessage struct {
	ip     mh.IPv6
	header mh.Header
	at     time.Time
}

// mhInbox collects the Mobility Header packets a node's device receives
// (and counts the others), so that nothing the dataplane writes blocks.
type mhInbox struct {
	mu    sync.Mutex
	msgs  []mhMessage
	data  []netip.Addr // sources of the other packets
	more  chan struct{}
	bytes atomic.Int64
}

func newMHInbox() *mhInbox { return &mhInbox{more: make(chan struct{})} }

func (b *mhInbox) read(ch <-chan []byte, stop <-chan struct{}) {
	for {
		var pkt []byte
		select {
		case pkt = <-ch:
		case <-stop:
			return
		}
		ip, h, err := mh.ParsePacket(pkt)
		b.mu.Lock()
		if err == nil {
			b.msgs = append(b.msgs, mhMessage{ip: ip, header: h, at: time.Now()})
		} else if len(pkt) >= 40 {
			b.data = append(b.data, netip.AddrFrom16([16]byte(pkt[8:24])))
		}
		close(b.more)
		b.more = make(chan struct{})
		b.mu.Unlock()
	}
}

func (b *mhInbox) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs)
}

// await returns the first message from index from on that match accepts.
func (b *mhInbox) await(t *testing.T, ctx context.Context, from int, match func(mhMessage) bool) mhMessage {
	t.Helper()
	for {
		b.mu.Lock()
		for i := from; i < len(b.msgs); i++ {
			if match(b.msgs[i]) {
				m := b.msgs[i]
				b.mu.Unlock()
				return m
			}
		}
		from = len(b.msgs)
		more := b.more
		b.mu.Unlock()
		select {
		case <-more:
		case <-ctx.Done():
			t.Fatalf("Mobility Header message not received: %v", ctx.Err())
		}
	}
}

// awaitData waits for a packet that is not a Mobility Header message from
// src.
func (b *mhInbox) awaitData(t *testing.T, ctx context.Context, src netip.Addr) {
	t.Helper()
	for {
		b.mu.Lock()
		found := slices.Contains(b.data, src)
		more := b.more
		b.mu.Unlock()
		if found {
			return
		}
		select {
		case <-more:
		case <-ctx.Done():
			t.Fatalf("no packet from %v came through", src)
		}
	}
}

// awaitSwitch waits for a Home Agent Switch and returns it with its
// handover option.
func (mn *testMN) awaitSwitch(t *testing.T, ctx context.Context, from int) (mh.HomeAgentSwitch, HandoverOption) {
	t.Helper()
	msg := mn.inbox.await(t, ctx, from, func(m mhMessage) bool { return m.header.Type() == mh.TypeHomeAgentSwitch })
	has, err := mh.ParseHomeAgentSwitch(msg.header)
	if err != nil {
		t.Fatal(err)
	}
	opt, found, err := ParseHandoverOption(has.Options)
	if err != nil || !found {
		t.Fatalf("Home Agent Switch without a handover option (%v): % x", err, []byte(msg.header))
	}
	return has, opt
}

// leaseHistory records every version of the leases of a store, from a
// watch of its own, for checks of ownership over time.
type leaseHistory struct {
	mu     sync.Mutex
	events []store.Lease
	more   chan struct{}
}

func watchHistory(t *testing.T, l *clusterLab) *leaseHistory {
	t.Helper()
	client, err := etcdtest.NewClient(l.etcd.Endpoints)
	if err != nil {
		t.Fatal(err)
	}
	st, err := etcdstore.New(client, etcdstore.Options{Prefix: l.prefix})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w, err := st.WatchLeases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h := &leaseHistory{events: slices.Clone(w.Current), more: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.Events {
			h.mu.Lock()
			h.events = append(h.events, ev.Value)
			close(h.more)
			h.more = make(chan struct{})
			h.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		st.Close()
		client.Close()
	})
	return h
}

// of returns the versions of the lease of hoa, in order.
func (h *leaseHistory) of(hoa netip.Addr) []store.Lease {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []store.Lease
	for _, l := range h.events {
		if l.HoA == hoa {
			out = append(out, l)
		}
	}
	return out
}

// await waits for a version of the lease of hoa that match accepts.
func (h *leaseHistory) await(t *testing.T, ctx context.Context, hoa netip.Addr, match func(store.Lease) bool) store.Lease {
	t.Helper()
	for {
		h.mu.Lock()
		more := h.more
		h.mu.Unlock()
		for _, l := range h.of(hoa) {
			if match(l) {
				return l
			}
		}
		select {
		case <-more:
		case <-ctx.Done():
			t.Fatalf("lease of %v never reached the state awaited; history:\n%s", hoa, historyString(h.of(hoa)))
		}
	}
}

func historyString(ls []store.Lease) string {
	var s string
	for _, l := range ls {
		s += "  " + l.String() + "\n"
	}
	return s
}

// checkSingleOwner checks a lease's history: once served, it is served by
// exactly one member at every revision (never released between two
// owners), and its owner changes only from a version moving to the new
// owner (Transfer) or, with takeover, from any served version.
func checkSingleOwner(t *testing.T, hist []store.Lease, takeover bool) {
	t.Helper()
	for i := 1; i < len(hist); i++ {
		prev, cur := hist[i-1], hist[i]
		if cur.Revision <= prev.Revision {
			t.Errorf("revision %d after %d", cur.Revision, prev.Revision)
		}
		if prev.Served() && !cur.Served() {
			t.Errorf("lease released between owners:\n%s", historyString(hist))
		}
		if prev.Served() && cur.Owner != prev.Owner && !takeover &&
			(prev.State != store.StateMoving || prev.MovingTo != cur.Owner) {
			t.Errorf("owner changed from %s to %s without a move to it:\n%s", prev.Owner, cur.Owner, historyString(hist))
		}
	}
}

// gatewayOf is the REDIRECTED_FROM a node names after leaving m.
func gatewayOf(m *member) *wire.GatewayIdentity {
	g := wire.GatewayAddr(m.ip)
	return &g
}

// TestMembershipLiveView: each member publishes its record and sees the
// others' through the store's watch; the view drives the Redirector at
// IKE_SA_INIT (a client in the west sent from ha1 to the nearer ha2) and
// the explain command; a member whose record lapses (its keep-alive
// stopped, as when it dies) leaves every view after its TTL, and then no
// client is sent there.
func TestMembershipLiveView(t *testing.T) {
	ctx := testContext(t)
	lab := newClusterLab(t)
	ha1 := lab.start(lab.config("ha1", 1, "east"))
	ha2 := lab.start(lab.config("ha2", 2, "west"))
	ha1.awaitMembers(t, ctx, "ha1", "ha2")
	ha2.awaitMembers(t, ctx, "ha1", "ha2")

	// The view drives the Redirector: ha1 sends a western client to ha2.
	mn := mobileNode(t, "mn1.example", westClient.String(), Options{})
	if _, err := mn.rt.Initiate(ctx, ha1.peer(t)); err != nil {
		t.Fatal(err)
	}
	rd := waitFor[ike.RedirectReceived](t, ctx, mn.events, new(int), nil)
	if rd.Exchange != wire.ExchangeIKESAInit || rd.Target.Gateway != wire.GatewayAddr(ha2.ip) {
		t.Errorf("redirect %+v, want IKE_SA_INIT to %v", rd, ha2.ip)
	}
	// explain on the live view says why.
	client, err := admin.NewClient(ha1.svc.cfg.Admin.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ex, err := client.Explain(ctx, admin.ExplainRequest{Locator: westClient})
	if err != nil || ex.Action != policy.ActionRedirect || ex.Target != "ha2" || ex.Reason != policy.ReasonNearer || len(ex.Scores) != 2 {
		t.Errorf("explain %+v (%v): want redirect to ha2, nearer, two scores", ex.Decision, err)
	}
	members, err := client.Members(ctx)
	if err != nil || len(members) != 2 || !members[0].Self || members[1].ID != "ha2" || members[1].Site != "west" {
		t.Errorf("members %+v (%v)", members, err)
	}

	// A member that joins and then stops renewing its record (no Leave)
	// appears, then lapses out of the view after its TTL.
	client3, err := etcdtest.NewClient(lab.etcd.Endpoints)
	if err != nil {
		t.Fatal(err)
	}
	defer client3.Close()
	st3, err := etcdstore.New(client3, etcdstore.Options{Prefix: lab.prefix})
	if err != nil {
		t.Fatal(err)
	}
	defer st3.Close()
	keepAlive, stop := context.WithCancel(ctx)
	ha3 := store.Member{ID: "ha3", Site: "west", Addrs: []netip.Addr{netip.MustParseAddr("127.0.0.3")}, Capacity: 10, Healthy: true}
	if _, err := st3.Join(keepAlive, ha3, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	ha1.awaitMembers(t, ctx, "ha1", "ha2", "ha3")
	stop()
	lapsed := time.Now()
	ha1.awaitMembers(t, ctx, "ha1", "ha2")
	if d := time.Since(lapsed); d < time.Second {
		t.Errorf("ha3 left the view %v after its keep-alive stopped, before its 2 s TTL", d)
	}
	if _, ok := ha1.svc.cluster.member("ha3"); ok {
		t.Error("ha3 still a member after its record lapsed")
	}
}

// TestMembershipPublishesLoadAndDraining: the member record carries the
// live load (nodes served) and the draining flag, and the other members'
// views follow it.
func TestMembershipPublishesLoadAndDraining(t *testing.T) {
	ctx := testContext(t)
	lab := newClusterLab(t)
	ha1 := lab.start(lab.config("ha1", 1, "east"))
	ha2 := lab.start(lab.config("ha2", 2, "west"))
	ha2.awaitMembers(t, ctx, "ha1", "ha2")
	mn := mobileNode(t, "mn1.example", "127.0.0.51", Options{DisableRedirect: true})
	mn.attach(t, ctx, ha1.peer(t), netip.Addr{}, innerNet)
	awaitMember(t, ctx, ha2, "ha1", func(m policy.Member) bool { return m.Load == 1 && !m.Draining })

	ha1.svc.cluster.setDraining(true)
	awaitMember(t, ctx, ha2, "ha1", func(m policy.Member) bool { return m.Draining })
	// Every member now sends new clients away from ha1, even an eastern one.
	d := ha2.svc.cluster.policy().AtInit(policy.AtInit{Remote: netip.MustParseAddr("192.0.2.1")})
	if d.Action != policy.ActionStay {
		t.Errorf("ha2's decision for a new client: %v, want stay (ha1 is draining)", d)
	}
	d = ha1.svc.cluster.policy().AtInit(policy.AtInit{Remote: netip.MustParseAddr("192.0.2.1")})
	if d.Action != policy.ActionRedirect || d.Target != "ha2" || d.Reason != policy.ReasonDraining {
		t.Errorf("ha1's decision for a new client: %v, want redirect to ha2 (draining)", d)
	}
}

// awaitMember waits until m's view holds member id in a state ok accepts.
func awaitMember(t *testing.T, ctx context.Context, m *member, id string, ok func(policy.Member) bool) {
	t.Helper()
	for {
		ch := m.svc.cluster.changes()
		got, found := m.svc.cluster.member(id)
		if found && ok(got) {
			return
		}
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("%s's view of %s: %+v (found %v)", m.id, id, got, found)
		}
	}
}

// BenchmarkClusterRebuild: compiling the placement view after a member
// record changed, for clusters of 3 and 64 members (every member
// rebuilds on every change of another's load, at most once a second each).
func BenchmarkClusterRebuild(b *testing.B) {
	for _, n := range []int{3, 64} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			cfg := config.Default()
			cfg.Cluster.MemberID, cfg.Cluster.Site = "ha0", "east"
			cfg.Cluster.Addresses = []string{"2001:db8:a::"}
			cfg.Cluster.Sites = clusterSites
			cfg.Cluster.Distances = []config.Distance{{From: "east", To: "west", Cost: 100}}
			s := &Service{cfg: cfg, peers: newPeerTable(), log: slog.New(slog.DiscardHandler)}
			c := &cluster{s: s, self: "ha0", cfg: cfg.PolicyConfig(), members: map[string]store.Member{},
				refused: map[string]string{}, healthy: true}
			ch := make(chan struct{})
			c.viewChanged.Store(&ch)
			for i := 1; i < n; i++ {
				id := fmt.Sprintf("ha%d", i)
				c.members[id] = store.Member{ID: id, Site: "west", Capacity: 1000, Load: i, Healthy: true,
					Addrs: []netip.Addr{netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0x0a, 14: byte(i >> 8), 15: byte(i)})}}
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := c.rebuild(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestRedirectAtAuthToLeaseOwner: the Redirector at IKE_AUTH asks the
// store where the authenticated identity's lease lives (RFC 5685 §6): a
// node that holds its home address at ha2 and contacts ha1 (nearer by its
// locator, so kept at IKE_SA_INIT) is sent to ha2 once its AUTH verified,
// and gets its address there.
func TestRedirectAtAuthToLeaseOwner(t *testing.T) {
	ctx := testContext(t)
	lab := newClusterLab(t)
	c1, c2 := lab.config("ha1", 1, "east"), lab.config("ha2", 2, "west")
	for _, c := range []*config.Config{c1, c2} {
		c.Cluster.Sites = []config.SitePrefix{{Prefix: "127.0.0.0/8", Site: "east"}}
	}
	ha1, ha2 := lab.start(c1), lab.start(c2)
	ha1.awaitMembers(t, ctx, "ha1", "ha2")
	// The node's first IKE SA, at ha2, from a client that does not
	// announce redirect support (ha2 would send it to the nearer ha1).
	first := mobileNode(t, "mn1.example", "127.0.0.58", Options{DisableRedirect: true})
	_, hoa := first.attach(t, ctx, ha2.peer(t), netip.Addr{}, innerNet)

	second := mobileNode(t, "mn1.example", "127.0.0.59", Options{})
	if _, err := second.rt.Initiate(ctx, withRequest(ha1.peer(t))); err != nil {
		t.Fatal(err)
	}
	var from int
	rd := waitFor[ike.RedirectReceived](t, ctx, second.events, &from, nil)
	if rd.Exchange != wire.ExchangeIKEAuth || rd.Target.Gateway != wire.GatewayAddr(ha2.ip) {
		t.Fatalf("redirect %+v, want IKE_AUTH to %v", rd, ha2.ip)
	}
	if got := ha1.svc.rt.RedirectCounts(); !slices.Equal(got, []RedirectCount{{StageAuth, "lease-elsewhere", 1}}) {
		t.Errorf("ha1's redirects %+v", got)
	}
	p := ha2.peer(t)
	p.RedirectedFrom = &rd.From
	if _, got := second.attach(t, ctx, p, netip.Addr{}, innerNet); got != hoa {
		t.Errorf("ha2 assigned %v, the identity holds %v", got, hoa)
	}
}

// withRequest returns p asking for an IPv6 home address.
func withRequest(p Peer) Peer {
	p.Request = ike.CPRequest{IPv6: true}
	return p
}
