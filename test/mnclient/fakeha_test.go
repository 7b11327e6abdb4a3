package mnclient

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent"
	"github.com/mip6ha/mip6ha/homeagent/dataplane/tuntest"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/mip6"
	"github.com/mip6ha/mip6ha/mip6/mh"
)

const testPSK = "mobile node test key"

var testHomePrefix = netip.MustParsePrefix("2001:db8:1::/64")

// fakeHA is a home agent built from the project's pieces in this process:
// the IKE runtime as responder over an in-memory inner device, and the
// Mobility Header endpoint of package mip6 answering the Binding Updates
// that come out of the tunnel, with the identity and home address the IKE
// SA assigned as their authorization (RFC 4877 §4.2). It is the home
// agent daemon's binding path without the home link.
type fakeHA struct {
	t    testing.TB
	rt   *homeagent.Runtime
	dev  *tuntest.ChannelTUN
	mip  *mip6.HomeAgent
	ike  netip.AddrPort
	natt uint16

	mu       sync.Mutex
	assigned map[netip.Addr]string // HoA -> identity
	results  []mip6.Result

	// ikeEvents receives the runtime's IKE events (full: dropped).
	ikeEvents chan ike.Event

	// mute drops this many Binding Updates before answering.
	mute atomic.Int32
	data chan []byte // inner packets that are not Mobility Header
	quit chan struct{}
	done chan struct{}
	// stop ends the home agent (its runtime deletes its IKE SAs, telling
	// the peers); the test's cleanup calls it too.
	stop func()
}

type fakeHAConfig struct {
	homePrefixes []netip.Prefix // default: the pool's prefix
	// addr is the home agent's address (default testHAAddr); inNetns, if
	// set, runs the creation of its sockets in another network namespace.
	addr    netip.Addr
	inNetns func(func() error) error
	// standardPorts listens on the ports 500 and 4500 of addr (added to
	// the test link), where a Home Agent Switch or a standard REDIRECT
	// reaches it, instead of kernel-chosen ones.
	standardPorts bool
	// pool assigns the home addresses (default: a testPool of its own).
	pool homeagent.AddressPool
	// logger receives the runtime's log lines (default: none).
	logger *slog.Logger
}

func startFakeHA(t testing.TB, cfg fakeHAConfig) *fakeHA {
	t.Helper()
	if cfg.homePrefixes == nil {
		cfg.homePrefixes = []netip.Prefix{testHomePrefix}
	}
	if !cfg.addr.IsValid() {
		cfg.addr = testHAAddr
	}
	if cfg.inNetns == nil {
		cfg.inNetns = func(f func() error) error { return f() }
	}
	if cfg.pool == nil {
		cfg.pool = &testPool{byID: map[string]netip.Addr{}}
	}
	h := &fakeHA{t: t, dev: tuntest.New(1024), assigned: map[netip.Addr]string{}, ikeEvents: make(chan ike.Event, 256),
		data: make(chan []byte, 1024), quit: make(chan struct{}), done: make(chan struct{})}
	var hp []mip6.HomePrefix
	for _, p := range cfg.homePrefixes {
		hp = append(hp, mip6.HomePrefix{Prefix: p})
	}
	var err error
	// HASRate: a test sends its Home Agent Switch messages back to back.
	h.mip, err = mip6.NewHomeAgent(mip6.HomeAgentConfig{HomePrefixes: hp, SkipDAD: true, KeyManagementMobility: true, HASRate: 1000}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	rc := homeagent.DefaultConfig()
	rc.Listen = []string{cfg.addr.String()}
	rc.IKEPort, rc.NATTPort = 0, 0
	if cfg.standardPorts {
		addHAAddress(t, cfg.addr)
		rc.IKEPort, rc.NATTPort = 500, 4500
	}
	rc.Identity = "ha.example.net"
	rc.Shards = 1
	err = cfg.inNetns(func() (err error) {
		h.rt, err = homeagent.New(rc, homeagent.Options{
			Device:    h.dev,
			Addresses: cfg.pool,
			PSKs:      []homeagent.PSK{{Identity: "*", Secret: []byte(testPSK)}},
			Observer:  h.observe,
			Logger:    cfg.logger,
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ikePort, nattPort := h.rt.Ports()
	h.ike, h.natt = netip.AddrPortFrom(cfg.addr, ikePort), nattPort
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- h.rt.Run(ctx) }()
	go h.serve()
	var once sync.Once
	h.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-runDone; err != nil {
				t.Errorf("home agent runtime: %v", err)
			}
			close(h.quit)
			<-h.done
			h.dev.Close()
		})
	}
	t.Cleanup(h.stop)
	return h
}

func (h *fakeHA) observe(e homeagent.Event) {
	select {
	case h.ikeEvents <- e.IKE:
	default:
	}
	if a, ok := e.IKE.(ike.AddressAssigned); ok && !a.ToUs && a.Assignment.IPv6.IsValid() {
		h.mu.Lock()
		h.assigned[a.Assignment.IPv6.Addr()] = a.Peer.String()
		h.mu.Unlock()
	}
}

// serve answers the Mobility Header packets that come out of the tunnel.
func (h *fakeHA) serve() {
	defer close(h.done)
	for {
		var pkt []byte
		select {
		case pkt = <-h.dev.Incoming:
		case <-h.quit:
			return
		}
		if !IsMobilityPacket(pkt) {
			select {
			case h.data <- pkt:
			default:
			}
			continue
		}
		if h.mute.Load() > 0 {
			h.mute.Add(-1)
			continue
		}
		src, _ := netip.AddrFromSlice(pkt[8:24])
		h.mu.Lock()
		id, ok := h.assigned[src]
		h.mu.Unlock()
		mctx := mip6.Context{Identity: id, InTunnel: true, AddressUnique: true}
		if ok {
			mctx.AuthorizedHoA = src
		}
		res := h.mip.Receive(time.Now(), mctx, pkt)
		h.mu.Lock()
		h.results = append(h.results, res)
		h.mu.Unlock()
		var reply []byte
		if res.Decision.Actions&mip6.ActionSendBA != 0 {
			reply = res.Decision.AppendBA(nil)
		} else if res.Send.Message != nil {
			reply = res.Send.AppendPacket(nil)
		}
		if reply != nil {
			h.dev.Outgoing <- reply
		}
	}
}

// binding returns the binding cache entry of hoa.
func (h *fakeHA) binding(hoa netip.Addr) (mip6.Binding, bool) { return h.mip.Lookup(hoa) }

// statuses returns the BA statuses sent so far.
func (h *fakeHA) statuses() []mh.Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	var s []mh.Status
	for _, r := range h.results {
		if r.Decision.Actions&mip6.ActionSendBA != 0 {
			s = append(s, r.Decision.Status)
		}
	}
	return s
}

// clientConfig is a mobile node configuration for this home agent.
func (h *fakeHA) clientConfig(id string, events *eventLog) Config {
	return Config{
		HA:         h.ike.String(),
		HANATTPort: h.natt,
		ID:         id,
		PSK:        []byte(testPSK),
		InMemory:   true,
		Listen:     []string{"::"},
		IKEPort:    -1,
		NATTPort:   -1,
		ForceEncap: true,
		Lifetime:   time.Minute,
		Events:     events.addFunc(),
	}
}

// failureLog returns a logger whose lines the test prints only if it
// fails. Lines written after the test's cleanups have run are discarded.
func failureLog(t testing.TB) *slog.Logger {
	var (
		mu   sync.Mutex
		buf  bytes.Buffer
		done bool
	)
	w := writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			buf.Write(p)
		}
		return len(p), nil
	})
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		done = true
		if t.Failed() && buf.Len() > 0 {
			t.Logf("log:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// eventLog collects a client's events for a test to await.
type eventLog struct {
	mu     sync.Mutex
	events []Event
	more   chan struct{} // closed and replaced on every event
}

func newEventLog() *eventLog { return &eventLog{more: make(chan struct{})} }

// addFunc returns the sink of l (nil for a nil log).
func (l *eventLog) addFunc() func(Event) {
	if l == nil {
		return nil
	}
	return l.add
}

func (l *eventLog) add(e Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	close(l.more)
	l.more = make(chan struct{})
	l.mu.Unlock()
}

// wait returns the n-th event of kind (n from 1); an error event fails
// the test unless it is the kind awaited.
func (l *eventLog) wait(t testing.TB, ctx context.Context, kind string, n int) Event {
	t.Helper()
	for {
		l.mu.Lock()
		k := 0
		for _, e := range l.events {
			if e.Event == EventError && kind != EventError {
				l.mu.Unlock()
				t.Fatalf("error event while waiting for %s: %s", kind, e.Error)
			}
			if e.Event == kind {
				if k++; k == n {
					l.mu.Unlock()
					return e
				}
			}
		}
		more := l.more
		l.mu.Unlock()
		select {
		case <-more:
		case <-ctx.Done():
			t.Fatalf("waiting for %s #%d: %v; events: %+v", kind, n, ctx.Err(), l.all())
		}
	}
}

func (l *eventLog) all() []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Event(nil), l.events...)
}

func (l *eventLog) count(kind string) int {
	n := 0
	for _, e := range l.all() {
		if e.Event == kind {
			n++
		}
	}
	return n
}

// runClient starts c.Run and returns a function that ends it and returns
// its error.
func runClient(t testing.TB, c *Client) (stop func() error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// testPool hands out home addresses of testHomePrefix: the one an
// identity had before, the suggested one when free, else the next.
type testPool struct {
	mu   sync.Mutex
	byID map[string]netip.Addr
	next netip.Addr
}

func (p *testPool) Assign(_ context.Context, req ike.AddressRequest) (ike.Assignment, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	id := req.Peer.String()
	a, ok := p.byID[id]
	if !ok && req.SuggestedIPv6.IsValid() && testHomePrefix.Contains(req.SuggestedIPv6.Addr()) {
		a, ok = req.SuggestedIPv6.Addr(), true
		for other, x := range p.byID {
			if x == a && other != id {
				ok = false
			}
		}
	}
	if !ok {
		if !p.next.IsValid() {
			p.next = testHomePrefix.Addr().Next()
		}
		p.next = p.next.Next()
		a = p.next
	}
	p.byID[id] = a
	return ike.Assignment{IPv6: netip.PrefixFrom(a, testHomePrefix.Bits())}, nil
}

func (p *testPool) Release(context.Context, ike.ID, ike.Assignment) {}

// resultsCopy returns what the home agent decided on every Mobility
// Header packet so far.
func (h *fakeHA) resultsCopy() []mip6.Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]mip6.Result(nil), h.results...)
}
