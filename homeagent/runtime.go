package homeagent

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/mip6ha/mip6ha/homeagent/dataplane"
	"github.com/mip6ha/mip6ha/homeagent/telemetry"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
)

// Errors of the runtime's API.
var (
	// ErrNoSA reports a command for an IKE SA the runtime does not hold
	// (never created, or gone).
	ErrNoSA = errors.New("homeagent: no such IKE SA")
	// ErrStopped reports a command given after Run returned (or before it
	// could be carried out).
	ErrStopped = errors.New("homeagent: runtime stopped")
)

// Router puts the inner routes of CHILD_SAs into the kernel, so that
// packets for a peer's traffic selectors enter the dataplane's device.
// *dataplane.TUN implements it.
type Router interface {
	// AddRoute routes dst into the device, preferring src (if valid) as the
	// source of locally originated packets.
	AddRoute(dst netip.Prefix, src netip.Addr) error
	// DelRoute removes a route added with AddRoute.
	DelRoute(dst netip.Prefix) error
}

// Options is the runtime's wiring: what is not an operator setting.
// The zero value is usable.
type Options struct {
	// Logger receives the runtime's log lines: Info for what an operator
	// cares about (IKE SA up and down, addresses, CHILD_SAs), Debug for every
	// IKE message. Default: discard.
	Logger *slog.Logger
	// Device is the inner packet device. Nil: the runtime creates the TUN
	// device Config.TUN (root needed) and routes through it.
	Device dataplane.Device
	// Router installs inner routes; nil with a Device of ours means the TUN
	// device, nil with a Device given here means no kernel routes.
	Router Router
	// Addresses assigns inner addresses to peers that ask for them (the
	// home agent's LeasePool); nil: CFG_REQUESTs are not answered, and a
	// responder gives no CHILD_SA (its traffic selectors are narrowed to
	// assigned addresses).
	Addresses AddressPool
	// PSKs are pre-shared keys in addition to Config.PSKFile.
	PSKs []PSK
	// Credentials replaces the credentials Config describes.
	Credentials ike.Credentials
	// KeyLog receives the key log lines in addition to (or instead of) the
	// file Config.KeyLog. It must be safe for concurrent use.
	KeyLog io.Writer
	// Observer, if set, is called with every event of every IKE SA, on the
	// goroutine of the shard that owns the SA, after the runtime has applied
	// it. It must not block: hand the event to another goroutine.
	Observer func(Event)
	// Retransmit replaces the engine's retransmission schedule.
	Retransmit ike.Retransmit
	// RedirectExtensions makes our initiators announce the project's
	// private redirect extensions (for our own gateways only);
	// DisableRedirect stops them from announcing RFC 5685 support at all.
	RedirectExtensions, DisableRedirect bool
	// SoftSeqLimit is the outbound ESP sequence number at which a CHILD_SA
	// is rekeyed (RFC 4303 §3.3.3); 0: dataplane.DefaultSoftSeqLimit. Tests
	// lower it to see the rekey happen.
	SoftSeqLimit uint32
	// Intercept is offered the inner Mobility Header packets that arrive
	// through a CHILD_SA (dataplane.Config.Intercept): the home agent's
	// Binding Updates (RFC 4877 §3). Send answers with SendInner.
	Intercept func(sa *dataplane.SA, remote netip.AddrPort, pkt []byte) bool
	// Tracer records a span per IKE exchange the runtime answers, named
	// after the exchange (IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA,
	// INFORMATIONAL); the address pool's spans are its children. Nil: no
	// spans.
	Tracer trace.TracerProvider
	// Metrics counts the IKE exchanges answered and the IKE and CHILD SAs
	// up; nil: none.
	Metrics *telemetry.Metrics
	// Redirect wires in RFC 5685 as a responder: placement, anycast,
	// handover tickets. Nil: nobody is redirected.
	Redirect *RedirectOptions
}

// SAID names an IKE SA in the runtime for its whole life, across IKE SA
// rekeys (which change its SPIs). Its low octet is the shard that owns it.
type SAID uint64

func (id SAID) shard() int { return int(id & 0xff) }

// String formats the id for logs.
func (id SAID) String() string { return fmt.Sprintf("%d", uint64(id)) }

// Event is an engine event of one IKE SA, as the Observer sees it.
type Event struct {
	SA   SAID
	Time time.Time
	// IKE is the engine's event: ike.IKEUp, ike.ChildUp, ...
	IKE ike.Event
}

// Peer is a gateway to initiate an IKE SA with (the mobile node's role).
type Peer struct {
	// Remote is the gateway's address and IKE port (port 0: 500).
	Remote netip.AddrPort
	// NATTPort is the gateway's NAT-T port (0: 4500).
	NATTPort uint16
	// ID is the identity the gateway must prove (ParseID syntax); empty
	// accepts any identity our credentials accept.
	ID string
	// Request is our CFG_REQUEST; RequireAddress ends the IKE SA if the
	// gateway assigns none of the addresses asked for.
	Request        ike.CPRequest
	RequireAddress bool
	// LocalTS and RemoteTS are the CHILD_SA's selectors (empty: any; with an
	// address requested, our TSi is narrowed by the gateway).
	LocalTS, RemoteTS []netip.Prefix
	// InitialContact sends INITIAL_CONTACT: the gateway drops our older IKE
	// SAs.
	InitialContact bool
	// RedirectedFrom, when following a redirect (RFC 5685 §3), names the
	// gateway that sent us here (REDIRECTED_FROM); Ticket is the handover
	// ticket it gave us, presented in IKE_AUTH.
	RedirectedFrom *wire.GatewayIdentity
	Ticket         []byte
	// TraceContext is a W3C traceparent (telemetry.Traceparent) presented
	// in IKE_AUTH, e.g. of the move that sent us to this gateway: the
	// gateway's IKE_AUTH span becomes its child, so the move is one trace.
	// Like Ticket it is sent only with Options.RedirectExtensions and to a
	// gateway that answers them (ours); empty: none.
	TraceContext string
}

// SAInfo is a snapshot of an IKE SA.
type SAInfo struct {
	ID         SAID
	SPIs       ike.SPIs
	State      ike.State
	Initiator  bool
	Path       ike.Path
	Peer       ike.ID
	Assignment *ike.Assignment
	Children   []ike.ChildInfo
}

// Stats are the runtime's counters.
type Stats struct {
	// InboxDrops counts IKE messages dropped because a shard's inbox was
	// full; Unroutable those for no SA of ours.
	InboxDrops, Unroutable uint64
	// Responder counts the first-packet outcomes of every shard.
	Responder map[ike.Outcome]uint64
	// HalfOpen is the number of half-open responder IKE SAs.
	HalfOpen int
	// ChildOpFailures counts CHILD_SA operations the dataplane refused.
	ChildOpFailures uint64
	// BytesIn and BytesOut count the inner octets the CHILD_SAs carried
	// (opened and sealed), those of SAs since removed included.
	BytesIn, BytesOut uint64
	Dataplane         dataplane.Stats
}

// Runtime drives IKE SAs over the dataplane: it owns the UDP sockets, the
// ESP path and the TUN device (through homeagent/dataplane), and the SAs,
// sharded by SPI over goroutines that each own theirs without locks. It
// answers new IKE_SA_INIT requests as a responder (the home agent) and
// initiates IKE SAs (the mobile node client), turns CHILD_SA operations into
// dataplane SAs and kernel routes, assigns inner addresses, and logs the
// events.
type Runtime struct {
	set      *settings
	log      *slog.Logger
	opts     Options
	dp       *dataplane.Dataplane
	router   Router
	pool     AddressPool
	tracer   trace.Tracer
	creds    ike.Credentials
	keylog   io.Writer
	closeLog func() error
	shards   []*shard
	ikePort  uint16
	nattPort uint16
	localIPs []netip.Addr // bound addresses

	routes   routeTable
	redirect *redirectRuntime

	nextID          atomic.Uint64
	unroutable      atomic.Uint64
	childOpFailures atomic.Uint64
	retiredIn       atomic.Uint64 // bytes of removed inbound SAs
	retiredOut      atomic.Uint64 // bytes of removed outbound SAs
	running         atomic.Bool
}

// New builds a runtime from cfg: it checks the settings, loads the
// credentials, creates the TUN device (unless opts gives a Device) and binds
// the sockets. Run starts it and, when it returns, has released all of
// this; a runtime that is not to serve after all is released by Run with a
// cancelled context.
func New(cfg Config, opts Options) (*Runtime, error) {
	set, err := cfg.parse()
	if err != nil {
		return nil, err
	}
	rt := &Runtime{set: set, opts: opts, log: opts.Logger}
	if rt.log == nil {
		rt.log = slog.New(slog.DiscardHandler)
	}
	if rt.creds = opts.Credentials; rt.creds == nil {
		c, err := loadCredentials(set, opts.PSKs)
		if err != nil {
			return nil, err
		}
		if c.Empty() {
			rt.log.Warn("no credentials configured: no peer can authenticate until a PSK file or a CA is configured",
				"identity", c.Self.ID.String())
		}
		rt.creds = c
	}
	rt.pool = opts.Addresses
	tp := opts.Tracer
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	rt.tracer = tp.Tracer(telemetry.ScopeName)
	if err := rt.setupRedirect(opts.Redirect); err != nil {
		return nil, err
	}
	var writers []io.Writer
	if cfg.KeyLog != "" {
		f, err := os.OpenFile(cfg.KeyLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return nil, &ConfigError{Key: keyKeyLog, Value: cfg.KeyLog, Err: err}
		}
		writers = append(writers, f)
		rt.closeLog = f.Close
	}
	if opts.KeyLog != nil {
		writers = append(writers, opts.KeyLog)
	}
	if len(writers) > 0 {
		rt.keylog = &lockedWriter{w: io.MultiWriter(writers...)}
	}

	dev, router := opts.Device, opts.Router
	if dev == nil {
		tun, err := dataplane.CreateTUN(cfg.TUN, cmp(cfg.MTU, DefaultMTU))
		if err != nil {
			rt.closeKeyLog()
			return nil, &ConfigError{Key: keyTUN, Value: cfg.TUN, Err: err}
		}
		dev = tun
		if router == nil {
			router = tun
		}
		rt.log.Info("TUN device created", "name", tun.Name(), "mtu", cmp(cfg.MTU, DefaultMTU))
	}
	rt.router = router
	rt.dp, err = dataplane.New(dataplane.Config{
		Addrs:     set.listen,
		IKEPort:   set.ikePort,
		NATTPort:  set.nattPort,
		Device:    dev,
		IKE:       rt.dispatch,
		Intercept: opts.Intercept,
		Logger:    rt.log,
	})
	if err != nil {
		dev.Close()
		rt.closeKeyLog()
		return nil, fmt.Errorf("homeagent: %w", err)
	}
	for _, l := range rt.dp.Listeners() {
		if l.NATT {
			rt.nattPort = l.Addr.Port()
		} else {
			rt.ikePort = l.Addr.Port()
		}
		if !l.NATT {
			rt.localIPs = append(rt.localIPs, l.Addr.Addr())
		}
	}
	rt.shards = make([]*shard, set.shards)
	for i := range rt.shards {
		s, err := newShard(rt, i)
		if err != nil {
			rt.dp.Close()
			rt.closeKeyLog()
			return nil, err
		}
		rt.shards[i] = s
	}
	return rt, nil
}

func cmp(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}

func (rt *Runtime) closeKeyLog() {
	if rt.closeLog != nil {
		rt.closeLog()
	}
}

// Listeners returns the bound sockets: the IKE and NAT-T ports actually used.
func (rt *Runtime) Listeners() []dataplane.Listener { return rt.dp.Listeners() }

// Ports returns the IKE and NAT-T ports the runtime listens on.
func (rt *Runtime) Ports() (ikePort, nattPort uint16) { return rt.ikePort, rt.nattPort }

// LocalID returns our IKE identity (zero with foreign Credentials that do
// not tell it).
func (rt *Runtime) LocalID() ike.ID {
	if c, ok := rt.creds.(*Credentials); ok {
		return c.Self.ID
	}
	return ike.ID{}
}

// Run serves until ctx ends, then deletes every IKE SA (sending Delete and
// waiting up to Config.ShutdownTimeout for the answers), removes the
// dataplane state and kernel routes, closes the sockets and the TUN device,
// and returns once every goroutine it started has ended. It returns nil
// after a cancellation, or the error that stopped the dataplane.
func (rt *Runtime) Run(ctx context.Context) error {
	if !rt.running.CompareAndSwap(false, true) {
		return errors.New("homeagent: Run called twice")
	}
	defer rt.closeKeyLog()
	dpCtx, stopDataplane := context.WithCancel(context.Background())
	defer stopDataplane()
	var dpErr error
	dpDone := make(chan struct{})
	go func() {
		defer close(dpDone)
		dpErr = rt.dp.Run(dpCtx)
	}()
	shardCtx, stopShards := context.WithCancel(ctx)
	defer stopShards()
	var wg sync.WaitGroup
	for _, s := range rt.shards {
		wg.Go(func() { s.run(shardCtx) })
	}
	var listen []string
	for _, l := range rt.dp.Listeners() {
		listen = append(listen, l.Addr.String())
	}
	rt.log.Info("home agent runtime started", "listen", listen, "identity", rt.LocalID().String(), "shards", len(rt.shards))
	select {
	case <-ctx.Done():
	case <-dpDone:
		stopShards()
	}
	wg.Wait()
	stopDataplane()
	<-dpDone
	rt.routes.clear(rt.router, rt.log)
	rt.log.Info("home agent runtime stopped", "error", dpErr)
	return dpErr
}

// dispatch hands received IKE datagrams to the shards that own them: by our
// SPI (which encodes the shard), or, for a first IKE_SA_INIT request, by a
// hash of the initiator's SPI, so that its retransmissions and its retry
// with a COOKIE reach the same shard. A full inbox drops the datagram.
func (rt *Runtime) dispatch(batch []dataplane.Datagram) {
	var redirects []dataplane.Datagram
	for _, d := range batch {
		spi, ok := ike.LocalSPI(d.Payload)
		if !ok {
			rt.unroutable.Add(1)
			continue
		}
		dg := ike.Datagram{Local: d.Local, Remote: d.Remote, NATT: d.Local.Port() == rt.nattPort, Payload: d.Payload}
		var s *shard
		if spi != 0 {
			s = rt.shards[spi%uint64(len(rt.shards))]
		} else {
			s = rt.shards[mix(spiI(d.Payload))%uint64(len(rt.shards))]
			if reply, ok := rt.redirectAtOnce(s, dg); ok {
				redirects = append(redirects, reply)
				continue
			}
		}
		s.enqueue(dg)
	}
	rt.sendRedirects(redirects)
}

func spiI(msg []byte) uint64 {
	var v uint64
	for _, b := range msg[:8] {
		v = v<<8 | uint64(b)
	}
	return v
}

// mix is a 64-bit finaliser (splitmix64): peers' SPIs need not be random.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Initiate starts an IKE SA with the gateway p (IKE_SA_INIT, then IKE_AUTH
// with a CHILD_SA) and returns its id; events report how it goes.
func (rt *Runtime) Initiate(ctx context.Context, p Peer) (SAID, error) {
	if p.Remote.Port() == 0 {
		p.Remote = netip.AddrPortFrom(p.Remote.Addr(), dataplane.IKEPort)
	}
	p.Remote = netip.AddrPortFrom(p.Remote.Addr().Unmap(), p.Remote.Port())
	local, err := rt.localAddrFor(p.Remote.Addr())
	if err != nil {
		return 0, err
	}
	var peerID ike.ID
	if p.ID != "" {
		if peerID, err = ParseID(p.ID); err != nil {
			return 0, fmt.Errorf("homeagent: peer identity: %w", err)
		}
	}
	s := rt.shards[int(rt.nextID.Add(1))%len(rt.shards)]
	var id SAID
	err = s.call(ctx, func(now time.Time) error {
		cfg := s.template
		// The home agent's narrowing and address pool are for peers that
		// attach to us; in CREATE_CHILD_SA exchanges the gateway starts,
		// an initiator narrows to its own selectors.
		cfg.TSPolicy, cfg.Addresses = nil, nil
		cfg.PeerID = peerID
		cfg.Request = p.Request
		cfg.RequireAddress = p.RequireAddress
		cfg.LocalTS = selectorsOf(p.LocalTS)
		cfg.RemoteTS = selectorsOf(p.RemoteTS)
		cfg.PeerNATTPort = p.NATTPort
		cfg.InitialContact = p.InitialContact
		cfg.RedirectExtensions = rt.opts.RedirectExtensions
		cfg.DisableRedirect = rt.opts.DisableRedirect
		cfg.RedirectedFrom, cfg.Ticket = p.RedirectedFrom, p.Ticket
		if p.TraceContext != "" {
			cfg.TraceContext = []byte(p.TraceContext)
		}
		sa, err := ike.NewInitiator(&cfg, ike.Path{Local: netip.AddrPortFrom(local, rt.ikePort), Remote: p.Remote})
		if err != nil {
			return err
		}
		if err := sa.Initiate(now); err != nil {
			return err
		}
		e := s.add(sa)
		id = e.id
		rt.log.Info("initiating IKE SA", "sa", id, "remote", p.Remote.String(), "local", netip.AddrPortFrom(local, rt.ikePort).String())
		s.drive(e, now)
		return nil
	})
	return id, err
}

// localAddrFor picks our address towards remote: the bound address of its
// family, or the kernel's choice of source when we listen on a wildcard.
func (rt *Runtime) localAddrFor(remote netip.Addr) (netip.Addr, error) {
	for _, a := range rt.localIPs {
		if a.Is4() == remote.Is4() && !a.IsUnspecified() {
			return a, nil
		}
	}
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(remote, dataplane.IKEPort)))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("homeagent: no route to %v: %w", remote, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// RekeyIKE rekeys the IKE SA id (RFC 7296 §1.3.2).
func (rt *Runtime) RekeyIKE(ctx context.Context, id SAID) error {
	return rt.onSA(ctx, id, func(now time.Time, sa *ike.SA) error { return sa.RekeyIKE(now) })
}

// RekeyChild rekeys the CHILD_SA of id whose inbound SPI is inSPI, or every
// CHILD_SA of id if inSPI is 0 (RFC 7296 §1.3.3).
func (rt *Runtime) RekeyChild(ctx context.Context, id SAID, inSPI uint32) error {
	return rt.onSA(ctx, id, func(now time.Time, sa *ike.SA) error {
		if inSPI != 0 {
			return sa.RekeyChild(now, inSPI)
		}
		var errs []error
		for _, c := range sa.Children() {
			errs = append(errs, sa.RekeyChild(now, c.InSPI))
		}
		return errors.Join(errs...)
	})
}

// Delete deletes the IKE SA id and its CHILD_SAs (RFC 7296 §1.4.1).
func (rt *Runtime) Delete(ctx context.Context, id SAID) error {
	return rt.onSA(ctx, id, func(now time.Time, sa *ike.SA) error { return sa.Delete(now) })
}

// DeleteChild deletes the CHILD_SA of id whose inbound SPI is inSPI.
func (rt *Runtime) DeleteChild(ctx context.Context, id SAID, inSPI uint32) error {
	return rt.onSA(ctx, id, func(now time.Time, sa *ike.SA) error { return sa.DeleteChild(now, inSPI) })
}

// UpdatePeer moves the IKE SA id and its CHILD_SAs to the peer's new
// address and port (ike.SA.UpdatePeer; the dataplane's outbound SAs follow
// through UpdateEndpoints): the home agent's answer to a Binding Update from
// a new care-of address with the K flag (RFC 6275 §10.3.1, RFC 4877 §7.4).
// Moving to where the SA already is does nothing.
func (rt *Runtime) UpdatePeer(ctx context.Context, id SAID, remote netip.AddrPort) error {
	remote = netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port())
	return rt.onSA(ctx, id, func(now time.Time, sa *ike.SA) error {
		if sa.Path().Remote == remote {
			return nil
		}
		return sa.UpdatePeer(now, remote)
	})
}

// SendInner sends an inner packet down the CHILD_SA routed for its
// destination (dataplane.Dataplane.SendInner): a Binding Acknowledgement
// inside the mobile node's tunnel.
func (rt *Runtime) SendInner(pkt []byte) error { return rt.dp.SendInner(pkt) }

// CheckLiveness sends an empty INFORMATIONAL request on id (RFC 7296 §2.4).
func (rt *Runtime) CheckLiveness(ctx context.Context, id SAID) error {
	return rt.onSA(ctx, id, func(now time.Time, sa *ike.SA) error { return sa.CheckLiveness(now) })
}

// onSA runs f on the SA id in its shard and drives the SA afterwards.
func (rt *Runtime) onSA(ctx context.Context, id SAID, f func(time.Time, *ike.SA) error) error {
	if id.shard() >= len(rt.shards) {
		return fmt.Errorf("%w: %v", ErrNoSA, id)
	}
	s := rt.shards[id.shard()]
	return s.call(ctx, func(now time.Time) error {
		e := s.byID[id]
		if e == nil {
			return fmt.Errorf("%w: %v", ErrNoSA, id)
		}
		err := f(now, e.sa)
		s.drive(e, now)
		return err
	})
}

// SAs returns a snapshot of every IKE SA.
func (rt *Runtime) SAs(ctx context.Context) ([]SAInfo, error) {
	var all []SAInfo
	for _, s := range rt.shards {
		var part []SAInfo
		if err := s.call(ctx, func(time.Time) error {
			for _, e := range s.byID {
				part = append(part, e.info())
			}
			return nil
		}); err != nil {
			return nil, err
		}
		all = append(all, part...)
	}
	return all, nil
}

// RekeyAll rekeys every established IKE SA (ikeSAs) or every CHILD_SA
// (!ikeSAs): the operator's command. It returns how many rekeys started.
func (rt *Runtime) RekeyAll(ctx context.Context, ikeSAs bool) (int, error) {
	sas, err := rt.SAs(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, sa := range sas {
		if sa.State != ike.StateEstablished {
			continue
		}
		if ikeSAs {
			err = rt.RekeyIKE(ctx, sa.ID)
		} else {
			err = rt.RekeyChild(ctx, sa.ID, 0)
		}
		if err == nil {
			n++
		}
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}

// Stats returns the runtime's counters.
func (rt *Runtime) Stats() Stats {
	st := Stats{Responder: map[ike.Outcome]uint64{}, Unroutable: rt.unroutable.Load(),
		ChildOpFailures: rt.childOpFailures.Load(), Dataplane: rt.dp.Stats(),
		BytesIn: rt.retiredIn.Load(), BytesOut: rt.retiredOut.Load()}
	for _, sa := range rt.dp.InboundSAs() {
		st.BytesIn += sa.Stats().Bytes
	}
	for _, sa := range rt.dp.OutboundSAs() {
		st.BytesOut += sa.Stats().Bytes
	}
	for _, s := range rt.shards {
		st.InboxDrops += s.drops.Load()
		st.HalfOpen += s.responder.HalfOpen()
		for o, n := range s.responder.Counters() {
			st.Responder[o] += n
		}
	}
	return st
}

// halfOpen sums the shards' half-open IKE SAs.
func (rt *Runtime) halfOpen() int {
	n := 0
	for _, s := range rt.shards {
		n += s.responder.HalfOpen()
	}
	return n
}

// lockedWriter makes a writer safe for the shards' concurrent key log lines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// randomUint64 reads a random number for SPIs.
func randomUint64() (uint64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, err
	}
	return spiI(b[:]), nil
}

// parseHeader parses the header of an IKE message for debug logs.
func parseHeader(msg []byte) (wire.Header, bool) {
	h, err := wire.ParseHeader(msg)
	return h, err == nil
}
