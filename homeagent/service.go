package homeagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/mip6ha/mip6ha/homeagent/admin"
	"github.com/mip6ha/mip6ha/homeagent/config"
	"github.com/mip6ha/mip6ha/homeagent/dataplane"
	"github.com/mip6ha/mip6ha/homeagent/homelink"
	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/storetrace"
	"github.com/mip6ha/mip6ha/homeagent/telemetry"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/mip6"
)

// isResponderDrop reports whether a first-packet outcome dropped the
// datagram (rather than answering it).
func isResponderDrop(o ike.Outcome) bool {
	switch o {
	case ike.DroppedSyntax, ike.DroppedNotInit, ike.DroppedKeyExchange, ike.DroppedInternal:
		return true
	}
	return false
}

// ServiceOptions is the wiring of a Service that is not configuration.
// The zero value is the daemon's: telemetry that records nothing, the TUN
// device of home.tun, the store of store.backend.
type ServiceOptions struct {
	// Telemetry supplies the logger, the tracer provider and the metrics
	// (the program sets it up from the configuration, telemetry.Setup);
	// nil: telemetry.Nop().
	Telemetry *telemetry.Telemetry
	// Version is the program's version for the admin API's status.
	Version string
	// Device replaces the TUN device (tests: an in-memory device). With
	// it, no kernel routes are made and home.interface must be empty.
	Device dataplane.Device
	// Store replaces the store the configuration opens (tests). The
	// service closes it.
	Store store.Store
	// VPNGrace is how long a peer's CHILD_SA may go without a Mobility
	// Header message before the peer counts as VPN-only and its address is
	// defended on the home link without a binding; 0 means
	// DefaultVPNGrace.
	VPNGrace time.Duration
	// Redirect replaces the RFC 5685 settings the configuration gives
	// (ike.redirect.*: anycast addresses, grace period, placement on the
	// store's members, cluster.ticket_key), for programs that bring their
	// own view.
	Redirect *RedirectOptions
	// HomeLink replaces the home link home.interface opens (tests: a
	// recording one beside an in-memory Device).
	HomeLink HomeLink
}

// HomeLink is the home link as the Service uses it: the defence of home
// addresses (route, proxy neighbour entry, unsolicited Neighbor
// Advertisements) and Duplicate Address Detection. *homelink.Defender
// implements it.
type HomeLink interface {
	Defend(ctx context.Context, a netip.Addr) error
	Release(ctx context.Context, a netip.Addr) error
	DAD(ctx context.Context, a netip.Addr) error
	ReleaseAll(ctx context.Context) error
	Prefixes() ([]netip.Prefix, error)
	Reconcile(ctx context.Context) ([]netip.Addr, error)
	Close() error
}

// DefaultVPNGrace is the default ServiceOptions.VPNGrace: a mobile node
// sends its first Binding Update as soon as its CHILD_SA is up (RFC 4877
// §3), well within it.
const DefaultVPNGrace = 3 * time.Second

// Service is the home agent daemon: the IKE runtime (Runtime) as the
// responder mobile nodes attach to, their home addresses leased from the
// store (LeasePool), their Binding Updates inside the tunnel answered by
// the binding cache (mip6.HomeAgent, RFC 4877 all-in-tunnel form), their
// home addresses defended on the home link once bound (homelink), the admin
// API (it implements admin.Backend) and the telemetry, all built from one
// configuration (package homeagent/config).
//
//	svc, err := homeagent.NewService(cfg, homeagent.ServiceOptions{Telemetry: tel})
//	err = svc.Run(ctx) // until ctx ends, then a graceful shutdown
//
// A peer that never sends a Mobility Header message (a stock IKEv2 client
// such as strongSwan) is served as a VPN-only peer: its address comes from
// the same pool and is defended on the home link once its CHILD_SA has been
// up for ServiceOptions.VPNGrace without a Binding Update.
type Service struct {
	cfg      *config.Config
	opts     ServiceOptions
	log      *slog.Logger
	tracer   trace.Tracer
	metrics  *telemetry.Metrics
	store    store.Store
	pool     *LeasePool
	ha       *mip6.HomeAgent
	rt       *Runtime
	defender HomeLink     // nil without a home link
	adminLn  net.Listener // nil without an admin API
	esp      dataplane.KernelESP
	peers    *peerTable
	local    localAddrs
	vpnGrace time.Duration

	memberCtx    context.Context // the membership's life: until shutdown
	memberCancel context.CancelFunc
	observed     metric.Registration

	mobility *mobility
	careOf   *careOfRecorder // care-of endpoints into the leases, off the mobility goroutine
	view     *storeView      // the Redirector's view with ike.redirect.enable, else nil
	cluster  *cluster        // membership and the live view of the cluster
	mover    *mover          // moves to other members

	// Background work (drains, deletes of IKE SAs of nodes that moved
	// away) runs under bgCtx and is waited for at shutdown.
	bgCtx    context.Context
	bgCancel context.CancelFunc
	bg       sync.WaitGroup
	drainMu  sync.Mutex
	drain    *drainRun // the latest drain, nil before the first

	mu      sync.Mutex
	started time.Time
	running bool
}

// NewService builds the home agent of cfg (a configuration Load accepted):
// it opens the store and joins it as a member, releases the leases a
// previous run left bound, creates the TUN device, binds the IKE sockets,
// opens the home link and the admin socket, and probes kernel ESP. Run
// starts it; a Service that is not to run is released by Run with a
// cancelled context.
func NewService(cfg *config.Config, opts ServiceOptions) (_ *Service, err error) {
	tel := opts.Telemetry
	if tel == nil {
		tel = telemetry.Nop()
	}
	s := &Service{cfg: cfg, opts: opts, log: tel.Logger(), metrics: tel.Metrics(), peers: newPeerTable(),
		tracer: tel.TracerProvider().Tracer(telemetry.ScopeName), vpnGrace: opts.VPNGrace}
	if s.vpnGrace <= 0 {
		s.vpnGrace = DefaultVPNGrace
	}
	var undo []func()
	defer func() {
		if err != nil {
			for i := len(undo) - 1; i >= 0; i-- {
				undo[i]()
			}
		}
	}()

	creds, err := cfg.Credentials()
	if err != nil {
		return nil, err
	}
	rcreds := Credentials(*creds)
	if rcreds.Empty() {
		s.log.Warn("no credentials configured: no peer can authenticate until ike.psks, ike.secrets_file or ike.ca is configured",
			"identity", rcreds.Self.ID.String())
	}

	st := opts.Store
	if st == nil {
		if st, err = cfg.OpenStore(); err != nil {
			return nil, fmt.Errorf("homeagent: lease store: %w", err)
		}
	}
	undo = append(undo, func() { st.Close() })
	s.store = storetrace.Wrap(st, tel.TracerProvider())
	s.memberCtx, s.memberCancel = context.WithCancel(context.Background())
	undo = append(undo, s.memberCancel)
	s.bgCtx, s.bgCancel = context.WithCancel(context.Background())
	undo = append(undo, s.bgCancel)
	if s.cluster, err = newCluster(s.memberCtx, s); err != nil {
		return nil, err
	}
	undo = append(undo, func() {
		ctx, cancel := context.WithTimeout(context.Background(), DefaultStoreTimeout)
		defer cancel()
		s.cluster.leave(ctx)
	})
	if s.mover, err = newMover(s); err != nil {
		return nil, err
	}

	poolCfg := LeasePoolConfig{Store: s.store, Owner: cfg.Cluster.MemberID, Prefix: cfg.HomePrefix(), IPv6: cfg.HomePool(),
		DNS: cfg.DNSServers(), Tracer: tel.TracerProvider(), Metrics: s.metrics, Logger: s.log,
		Arrived: func(_ context.Context, prev, l store.Lease) { s.mover.arrived(prev, l) }}
	if v4, ok := cfg.IPv4Pool(); ok {
		poolCfg.IPv4 = v4
	}
	if s.pool, err = NewLeasePool(poolCfg); err != nil {
		return nil, err
	}
	if stale, err := s.pool.ReleaseStale(context.Background()); err != nil {
		return nil, fmt.Errorf("homeagent: releasing the leases of a previous run: %w", err)
	} else if len(stale) > 0 {
		s.log.Info("released the leases a previous run left bound", "count", len(stale))
	}

	if s.ha, err = mip6.NewHomeAgent(cfg.HomeAgentConfig(), time.Now()); err != nil {
		return nil, err
	}

	dev, router := opts.Device, Router(nil)
	if opts.HomeLink != nil {
		s.defender = opts.HomeLink
		undo = append(undo, func() { s.defender.Close() })
	}
	if dev == nil {
		tun, err := dataplane.CreateTUN(cfg.Home.TUN, cfg.Home.MTU)
		if err != nil {
			return nil, &ConfigError{Key: keyTUN, Value: cfg.Home.TUN, Err: err}
		}
		undo = append(undo, func() { tun.Close() })
		dev, router = tun, tun
		s.log.Info("TUN device created", "name", tun.Name(), "mtu", cfg.Home.MTU)
		if cfg.Home.Interface != "" && s.defender == nil {
			d, err := homelink.New(cfg.Home.Interface, tun.Name(), homelink.Options{
				IPv4: poolCfg.IPv4 != (store.Pool{}), Logger: s.log})
			if err != nil {
				return nil, &ConfigError{Key: "home.interface", Value: cfg.Home.Interface, Err: err}
			}
			s.defender = d
			undo = append(undo, func() { s.defender.Close() })
			s.checkOnLink()
			// Nothing is defended yet: every route and proxy entry with
			// the marker is what a run that was killed left behind.
			if _, err := s.defender.Reconcile(context.Background()); err != nil {
				s.log.Warn("home link entries of a previous run not all removed", "err", err)
			}
		}
	} else if cfg.Home.Interface != "" {
		return nil, &ConfigError{Key: "home.interface", Value: cfg.Home.Interface,
			Err: errors.New("a home link needs the TUN device, not an in-memory one")}
	}

	s.mobility = newMobility(s)
	s.careOf = newCareOfRecorder(s.pool, s.log)
	ro := s.redirectOptions(cfg, opts)
	if opts.Redirect == nil && ro != nil {
		ro.TicketKey = cfg.TicketKey()
	}
	s.rt, err = New(runtimeConfig(cfg), Options{
		Logger:      s.log,
		Device:      dev,
		Router:      router,
		Addresses:   s.pool,
		Credentials: &rcreds,
		Observer:    s.observe,
		Retransmit:  cfg.Retransmit(),
		Intercept:   s.mobility.intercept,
		Tracer:      tel.TracerProvider(),
		Metrics:     s.metrics,
		Redirect:    ro,
	})
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { s.rt.dp.Close(); s.rt.closeKeyLog() })
	// Binding Updates come to our IKE addresses and to the addresses the
	// other members name us by (cluster.addresses: where a Home Agent
	// Switch sends a node).
	s.local.init(s.rt.Listeners(), cfg.SelfMember().Addrs)
	if err := s.cluster.rebuild(); err != nil { // now into the Redirector's view too
		return nil, fmt.Errorf("homeagent: placement view: %w", err)
	}

	s.esp = dataplane.ProbeKernelESP()
	s.log.Info("dataplane: user space (ESP in UDP over the TUN device)", "kernel_esp", s.esp.String())

	if cfg.Admin.Listen != "" {
		if s.adminLn, err = admin.Listen(cfg.Admin.Listen); err != nil {
			return nil, &ConfigError{Key: "admin.listen", Value: cfg.Admin.Listen, Err: err}
		}
		undo = append(undo, func() { s.adminLn.Close() })
	}
	if s.observed, err = s.metrics.ObserveDataplane(s.counters); err != nil {
		return nil, err
	}
	return s, nil
}

// runtimeConfig is the IKE runtime's part of the configuration.
func runtimeConfig(c *config.Config) Config {
	rc := DefaultConfig()
	rc.Listen = append([]string(nil), c.IKE.Listen...)
	rc.IKEPort, rc.NATTPort = c.IKE.Port, c.IKE.NATTPort
	rc.Identity = c.IKE.Identity
	rc.LocalTS = append([]string(nil), c.IKE.LocalTS...)
	rc.TUN, rc.MTU = c.Home.TUN, c.Home.MTU
	rc.KeyLog = c.IKE.KeyLogFile
	rc.ForceEncap = c.IKE.ForceEncapsulation
	rc.IKEProposals, rc.ESPProposals = c.IKE.Proposals, c.IKE.ESPProposals
	rc.IKERekey, rc.ChildRekey, rc.Liveness = c.IKE.RekeyTime, c.IKE.ChildRekeyTime, c.IKE.LivenessInterval
	rc.HalfOpenTimeout = c.IKE.HalfOpenTimeout
	rc.Shards, rc.InboxDepth = c.IKE.Shards, c.IKE.InboxDepth
	rc.CookieThreshold = c.IKE.CookieThreshold
	rc.ShutdownTimeout = c.IKE.ShutdownTimeout
	rc.LogLevel, rc.LogFormat = c.Telemetry.LogLevel, c.Telemetry.LogFormat
	return rc
}

// checkOnLink warns when the home addresses do not lie in an on-link
// prefix of the home link: its neighbours would not look for them there
// (a home registration for such an address gets status 132, RFC 6275
// §10.3.1).
func (s *Service) checkOnLink() {
	prefixes, err := s.defender.Prefixes()
	if err != nil {
		s.log.Warn("home link prefixes unknown", "interface", s.cfg.Home.Interface, "err", err)
		return
	}
	home := s.pool.Prefix()
	for _, p := range prefixes {
		if p.Bits() <= home.Bits() && p.Contains(home.Addr()) {
			return
		}
	}
	s.log.Warn("home.prefix is not on-link on home.interface: neighbours will not resolve home addresses there",
		"prefix", home.String(), "interface", s.cfg.Home.Interface, "on_link", fmt.Sprint(prefixes))
}

// Runtime returns the IKE runtime (for the program's signal handling:
// RekeyAll).
func (s *Service) Runtime() *Runtime { return s.rt }

// AdminAddr returns the admin API's listening address, nil without one.
func (s *Service) AdminAddr() net.Addr {
	if s.adminLn == nil {
		return nil
	}
	return s.adminLn.Addr()
}

// Run serves until ctx ends, then shuts down gracefully: every IKE SA is
// deleted (the peers are told) and its lease released, every binding ends,
// the home link's routes and proxy entries are withdrawn, the member leaves
// the store and the store is closed. It returns once every goroutine it
// started has ended: nil after a cancellation, else the error that stopped
// the runtime.
func (s *Service) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.running {
		s.mu.Unlock()
		return errors.New("homeagent: Run called twice")
	}
	s.running, s.started = true, time.Now()
	s.mu.Unlock()

	var wg sync.WaitGroup
	adminCtx, stopAdmin := context.WithCancel(context.Background())
	defer stopAdmin()
	if s.adminLn != nil {
		srv := admin.NewServer(s, admin.ServerOptions{Logger: s.log})
		wg.Go(func() {
			if err := srv.Serve(adminCtx, s.adminLn); err != nil {
				s.log.Error("admin API stopped", "err", err)
			}
		})
		s.log.Info("admin API listening", "listen", s.cfg.Admin.Listen)
	}
	mobilityDone := make(chan struct{})
	mobilityCtx, stopMobility := context.WithCancel(context.Background())
	defer stopMobility()
	go func() {
		defer close(mobilityDone)
		s.mobility.run(mobilityCtx)
	}()
	careOfCtx, stopCareOf := context.WithCancel(context.Background())
	defer stopCareOf()
	careOfDone := make(chan struct{})
	go func() {
		defer close(careOfDone)
		s.careOf.run(careOfCtx)
	}()
	clusterCtx, stopCluster := context.WithCancel(context.Background())
	defer stopCluster()
	clusterDone := make(chan struct{})
	go func() {
		defer close(clusterDone)
		s.cluster.run(clusterCtx)
	}()
	stopBackground := context.AfterFunc(ctx, s.bgCancel) // drains stop when shutdown begins
	defer stopBackground()

	s.log.Info("home agent started", "member", s.cfg.Cluster.MemberID, "site", s.cfg.Cluster.Site,
		"addresses", fmt.Sprint(s.cfg.Cluster.Addresses), "home_prefix", s.pool.Prefix().String(),
		"home_link", s.cfg.Home.Interface, "store", s.cfg.Store.Backend, "admin", s.cfg.Admin.Listen)
	err := s.rt.Run(ctx) // deletes every IKE SA when ctx ends
	s.log.Info("home agent stopping: ending bindings, withdrawing the home link's entries")
	s.drainMu.Lock() // a Drain that started background work did so before s.bg.Wait; later ones see bgCtx ended
	s.bgCancel()
	s.drainMu.Unlock()
	stopMobility()
	<-mobilityDone
	stopCareOf()
	<-careOfDone
	s.mover.close()
	s.bg.Wait()
	stopCluster()
	<-clusterDone
	s.shutdown()
	stopAdmin()
	wg.Wait()
	s.log.Info("home agent stopped", "err", err)
	return err
}

// shutdown releases what the runtime does not: the home link, the
// membership and the store.
func (s *Service) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultStoreTimeout)
	defer cancel()
	if s.defender != nil {
		if err := s.defender.ReleaseAll(ctx); err != nil {
			s.log.Warn("home link entries not all withdrawn", "err", err)
		}
		if err := s.defender.Close(); err != nil {
			s.log.Warn("home link not closed cleanly", "err", err)
		}
	}
	if s.observed != nil {
		s.observed.Unregister()
	}
	if err := s.cluster.leave(ctx); err != nil && !errors.Is(err, store.ErrClosed) {
		s.log.Warn("leaving the store", "err", err)
	}
	s.memberCancel()
	if err := s.store.Close(); err != nil {
		s.log.Warn("closing the store", "err", err)
	}
}

// observe is the runtime's Observer: it keeps the peer table and tells the
// Mobility Header path about CHILD_SAs that came up and IKE SAs that ended.
// It runs on a shard's goroutine and does not block.
func (s *Service) observe(e Event) {
	p, gone := s.peers.apply(e)
	if _, ok := e.IKE.(ike.ChildUp); ok && !p.mobile {
		s.mobility.watchVPN(p.id, s.vpnGraceOf(p))
	}
	if gone {
		s.mobility.saGone(p)
		for _, a := range p.homeAddresses() {
			if len(s.peers.holding(a)) == 0 {
				s.mover.forget(a)
			}
		}
	}
}

// vpnGraceOf is how long the CHILD_SA of p may stay without a Mobility
// Header message before p counts as VPN-only: ServiceOptions.VPNGrace, but
// no time at all for a stock client (no private-use extensions) whose
// lease this member just took over (moved here, or from a member that is
// gone), so that the new home agent defends its address as soon as it can
// carry its traffic. A node of ours sends a Binding Update instead, and is
// defended once it is accepted.
func (s *Service) vpnGraceOf(p peer) time.Duration {
	if hs := p.homeAddresses(); len(hs) > 0 && !p.extensions {
		if _, ok := s.mover.arrivalOf(hs[0]); ok {
			return 0
		}
	}
	return s.vpnGrace
}

// leaseChanged is told of every lease change the store's watch reports. A
// lease an IKE SA here holds that another member now serves (revisions
// after the one this member acquired or marked moving, so that stale
// events of a lease moving here are not mistaken for one moving away) has
// departed: the move that sent it completes, and the mobility goroutine
// stops serving the address (see mobility.leaseGone).
func (s *Service) leaseChanged(l store.Lease) {
	if !l.Served() || l.Owner == s.cfg.Cluster.MemberID {
		return
	}
	rev, held := s.pool.heldRevision(l.HoA)
	mrev, moving := s.mover.moving(l.HoA)
	// mrev is 0 until the move has recorded what MarkMoving wrote: no
	// event counts as the move's until then.
	if !(held && l.Revision > rev) && !(moving && mrev != 0 && l.Revision > mrev) {
		return
	}
	isNew, ours := s.mover.departedLease(l)
	if !isNew || !held {
		return
	}
	s.mobility.post(func(ctx context.Context) { s.mobility.leaseGone(ctx, l.HoA, l.Owner, ours) })
}

// counters is the dataplane snapshot the metrics read at scrape time.
func (s *Service) counters() telemetry.DataplaneCounters {
	st := s.rt.Stats()
	c := telemetry.DataplaneCounters{
		PacketsIn: st.Dataplane.ESPIn, PacketsOut: st.Dataplane.ESPOut,
		BytesIn: st.BytesIn, BytesOut: st.BytesOut,
		Drops: map[string]uint64{},
	}
	for r, n := range st.Dataplane.Drops {
		if n > 0 {
			c.Drops[dataplane.DropReason(r).String()] = n
		}
	}
	if st.InboxDrops > 0 {
		c.Drops["ike-inbox-full"] = st.InboxDrops
	}
	if st.Unroutable > 0 {
		c.Drops["ike-unroutable"] = st.Unroutable
	}
	for o, n := range st.Responder {
		if n > 0 && isResponderDrop(o) {
			c.Drops["ike-"+o.String()] = n
		}
	}
	for r, n := range s.ha.Stats().Drops {
		if n > 0 && r != int(mip6.DropNone) {
			c.Drops["mip6-"+mip6.DropReason(r).String()] = n
		}
	}
	if n := s.mobility.queueDrops.Load(); n > 0 {
		c.Drops["mip6-queue-full"] = n
	}
	if n := s.mobility.noSA.Load(); n > 0 {
		c.Drops["mip6-no-sa"] = n
	}
	return c
}

// localAddrs is the set of this host's addresses, for telling a Mobility
// Header message to us from one we forward.
type localAddrs struct {
	mu      sync.Mutex
	set     map[netip.Addr]bool
	fetched time.Time
}

func (l *localAddrs) init(ls []dataplane.Listener, extra []netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.set = map[netip.Addr]bool{}
	for _, x := range ls {
		if a := x.Addr.Addr(); !a.IsUnspecified() {
			l.set[a.Unmap()] = true
		}
	}
	for _, a := range extra {
		l.set[a.Unmap()] = true
	}
	l.refresh()
}

// refresh reads the interfaces' addresses; l.mu is held.
func (l *localAddrs) refresh() {
	l.fetched = time.Now()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			l.set[p.Addr().Unmap()] = true
		}
	}
}

// has reports whether a is an address of this host, reading the
// interfaces again (at most once a second) when it is not known.
func (l *localAddrs) has(a netip.Addr) bool {
	a = a.Unmap()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.set[a] {
		return true
	}
	if time.Since(l.fetched) >= time.Second {
		l.refresh()
	}
	return l.set[a]
}
