// Package mnclient is the mobile node test client: it attaches to a home
// agent (or any IKEv2 gateway, such as strongSwan) as an IKEv2 initiator,
// receives its home address from CFG_REPLY, configures it on a TUN device,
// routes the CHILD_SA's remote traffic selectors into it, registers its
// binding with Binding Updates inside the tunnel (RFC 4877 all-in-tunnel
// form), follows its care-of address when the node moves, and reports what
// happens as a stream of events (one JSON line each in the mnclient
// command). Bulk runs many clients in one process, as a load generator.
//
// # One node, one goroutine
//
// A Client drives the sans-I/O cores itself: the IKE SA (package ike) and
// the binding update list (package mip6), on the one goroutine of Run, over
// the user-space dataplane of homeagent/dataplane (UDP 500/4500, ESP in UDP,
// the TUN device). It does not use the home agent's runtime, because a
// mobile node's outer address is not fixed: every IKE message and every ESP
// packet leaves with the source address the kernel picks towards the home
// agent at that moment, so when the node moves, its traffic follows the new
// care-of address without a new IKE SA, and the home agent follows it (RFC
// 7296 §2.23, as behind a NAT; and the K bit of the Binding Update, RFC
// 6275 §10.3.1).
//
// # Bindings
//
// Once the CHILD_SA is installed and the home address known, the client
// registers: the binding update list builds the Binding Update (source =
// home address, destination = the home agent's address, A, H and K flags,
// Alternate Care-of Address = the current care-of address, Mobile Node
// Identifier = our IKE identity), which is put on the outbound path of the
// dataplane as an inner packet and leaves through the CHILD_SA. Mobility
// Header packets coming out of the tunnel are taken away before they reach
// the TUN device and go to the binding update list, which retransmits,
// refreshes, resynchronises and deregisters (see docs/mnclient.md).
//
// # Hooks
//
// The main loop (Run) reacts to five inputs: IKE datagrams, Mobility Header
// packets, commands, the timer and link changes. IKE events reach
// onIKEEvent and binding events onBindingEvent; a session is one IKE SA
// with one gateway, so following a redirect or a Home Agent Switch means
// starting another session with startSession and making it current.
package mnclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/mip6ha/mip6ha/homeagent/dataplane"
	"github.com/mip6ha/mip6ha/homeagent/telemetry"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
	"github.com/mip6ha/mip6ha/mip6"
)

// Config configures a Client.
type Config struct {
	// HA is the home agent: "HOST", "HOST:PORT" or "[IPv6]:PORT" (port
	// 500 by default). HANATTPort is its NAT-T port (0: 4500).
	HA         string
	HANATTPort uint16
	// HAID is the identity the home agent must prove; empty accepts any
	// identity our credentials accept (with a PSK: any gateway knowing it).
	HAID string
	// ID is our identity (ParseID syntax). Required. It is also
	// the NAI of the Mobile Node Identifier option (RFC 4283).
	ID string
	// PSK is the pre-shared key; or Cert, Key and CA (PEM files) for
	// certificates.
	PSK           []byte
	Cert, Key, CA string
	// HoA is a home address to ask for (a node keeping its address);
	// invalid: any. IPv4 also asks for an inner IPv4 address.
	HoA  netip.Addr
	IPv4 bool
	// RemoteTS are the prefixes to reach through the home agent (default:
	// every IPv6 address, and every IPv4 address with IPv4); the gateway
	// may narrow them.
	RemoteTS []netip.Prefix
	// TUN names the TUN device ("" lets the kernel name it) and MTU sets
	// its MTU (0: DefaultMTU).
	TUN string
	MTU int
	// InMemory runs the node without a TUN device, kernel addresses or
	// routes: it only signals (bulk mode) and tests give it packets with
	// Send and take them with Received.
	InMemory bool
	// Received, with InMemory, is called with each inner packet that comes
	// out of the tunnel (a copy), on a dataplane goroutine.
	Received func(pkt []byte)
	// Listen are the local addresses of our sockets (default "::" and
	// "0.0.0.0"). IKEPort and NATTPort are our ports: 0 means 500 and
	// 4500, negative lets the kernel choose (with one Listen address).
	Listen            []string
	IKEPort, NATTPort int
	// KeyLog appends the IKE SA keys for tshark to this file.
	KeyLog string
	// ForceEncap forces UDP encapsulation of ESP (the user-space dataplane
	// only carries ESP in UDP).
	ForceEncap bool
	// IKEProposals and ESPProposals override the defaults.
	IKEProposals, ESPProposals []string
	// Retransmit replaces the IKE retransmission schedule.
	Retransmit ike.Retransmit

	// NoBinding attaches without registering a binding (a plain IPsec
	// client, e.g. against a gateway without Mobile IPv6).
	NoBinding bool
	// HAAddr is the home agent address Binding Updates go to. Invalid: the
	// home agent's IKE address when it is IPv6 (our home agents sit on the
	// home link with that address); when the IKE address is IPv4 (a node in
	// an IPv4-only network) it must be given, else the node attaches
	// without a binding (and logs a warning).
	HAAddr netip.Addr
	// Lifetime is the binding lifetime to request (0:
	// mip6.DefaultRequestedLifetime); MobileNode tunes the binding update
	// list's timers.
	Lifetime   time.Duration
	MobileNode mip6.MobileNodeConfig
	// FollowLinks watches the node's addresses and routes through netlink
	// and moves to a new care-of address when the source address towards
	// the home agent changes.
	FollowLinks bool
	// DetachTimeout bounds the deregistration and the IKE Delete when Run's
	// context ends (0: 3 s).
	DetachTimeout time.Duration
	// Redirect says how RFC 5685 redirects are announced and followed.
	Redirect RedirectConfig
	// Reattach says whether and where the client attaches again when it
	// loses its home agent.
	Reattach ReattachConfig
	// LivenessInterval is how long the IKE SA may go without a message
	// from the home agent before the client checks that it is alive with
	// an empty INFORMATIONAL (RFC 7296 §2.4); Retransmit bounds the wait
	// for the answer. 0: no checks (a dead home agent is noticed by the
	// Binding Updates it leaves unanswered only).
	LivenessInterval time.Duration

	// TracerProvider receives the client's spans (telemetry.go): one per
	// attachment and one per move to another home agent, joined to the
	// home agents' trace of the move (default: none recorded).
	TracerProvider trace.TracerProvider
	// Logger receives the client's log lines (default: discard).
	Logger *slog.Logger
	// Events receives the client's events, on Run's goroutine; it must
	// not block for long.
	Events func(Event)
}

// DefaultMTU is the TUN device's MTU when Config.MTU is zero: room for
// the ESP, UDP and outer IPv6 headers within a 1500-octet path.
const DefaultMTU = 1400

// DefaultDetachTimeout bounds the goodbye of a client whose Run ends.
const DefaultDetachTimeout = 3 * time.Second

// Client is one mobile node: one IKE SA towards its home agent at a time
// (a session), its CHILD_SAs in a user-space dataplane, and its binding.
type Client struct {
	cfg    Config
	ha     netip.AddrPort // the home agent's IKE endpoint
	haAddr netip.Addr     // where Binding Updates go (invalid: not known yet)
	ikeCfg ike.Config
	log    *slog.Logger

	dp       *dataplane.Dataplane
	dev      *mobilityDevice
	tun      *dataplane.TUN  // nil with InMemory
	router   *router         // nil with InMemory
	injector *packetInjector // nil with InMemory
	mem      *memDevice      // nil without InMemory
	ikePort  uint16
	nattPort uint16

	ikeIn    chan ike.Datagram
	mobility chan []byte
	cmds     chan func(time.Time)
	links    chan struct{}
	stopped  chan struct{} // closed when Run returns
	keylog   io.Closer     // the key log file, closed when Run ends

	// Owned by Run's goroutine.
	cur      *session
	sessions []*session
	routes   map[netip.Prefix]int
	bul      *mip6.BindingUpdateList
	bind     bindingState
	out      []dataplane.Datagram
	timer    *time.Timer
	detach   detachState
	redir    redirectState
	offer    handoverOffer // of the last Home Agent Switch
	hand     handoverState // the move to another home agent under way
	attach   *attachTrace  // the first attachment's spans, until it ends
	retiring []*session    // IKE SAs to end after the current round (retireLater)
	re       reattachState
	result   error

	mu   sync.Mutex // guards what the getters read
	snap Status
}

// Status is a snapshot of a client's state.
type Status struct {
	HoA netip.Addr // from CFG_REPLY
	CoA netip.Addr // our outer address towards the home agent
	// HomeAgent is the home agent that last accepted our binding.
	HomeAgent netip.Addr
	Attached  bool // the IKE SA is established
	Bound     bool // the home agent accepted our binding
	// IKEDrops counts IKE datagrams dropped because Run's queue was full.
	IKEDrops uint64
}

// ErrDetached reports that the IKE SA ended without our asking.
var ErrDetached = errors.New("mnclient: detached")

// ErrStopped reports a command given to a client whose Run has returned.
var ErrStopped = errors.New("mnclient: client stopped")

// New checks cfg and creates the TUN device (unless InMemory) and the
// dataplane (binding the sockets). Run attaches.
func New(cfg Config) (*Client, error) {
	if cfg.ID == "" {
		return nil, errors.New("mnclient: no identity (--id)")
	}
	ha, err := resolveHA(cfg.HA)
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Events == nil {
		cfg.Events = func(Event) {}
	}
	if cfg.DetachTimeout == 0 {
		cfg.DetachTimeout = DefaultDetachTimeout
	}
	if len(cfg.RemoteTS) == 0 {
		cfg.RemoteTS = []netip.Prefix{netip.MustParsePrefix("::/0")}
		if cfg.IPv4 {
			cfg.RemoteTS = append(cfg.RemoteTS, netip.MustParsePrefix("0.0.0.0/0"))
		}
	}
	c := &Client{
		cfg: cfg, ha: ha, log: cfg.Logger,
		ikeIn:    make(chan ike.Datagram, 256),
		mobility: make(chan []byte, 64),
		cmds:     make(chan func(time.Time), 16),
		links:    make(chan struct{}, 1),
		stopped:  make(chan struct{}),
		routes:   map[netip.Prefix]int{},
		bul:      mip6.NewBindingUpdateList(cfg.MobileNode),
	}
	c.haAddr = cfg.HAAddr
	if !c.haAddr.IsValid() && ha.Addr().Is6() {
		c.haAddr = ha.Addr()
	}
	if !cfg.NoBinding && !c.haAddr.IsValid() {
		// A gateway reached over IPv4 (strongSwan behind NAT44, say): without
		// its IPv6 address there is nowhere to send Binding Updates.
		cfg.Logger.Warn("no IPv6 home agent address for Binding Updates (--ha-addr): attaching without a binding", "ha", ha.Addr().String())
		c.cfg.NoBinding = true
	}
	if err := c.configureIKE(); err != nil {
		return nil, err
	}
	if err := c.configureRedirect(); err != nil {
		return nil, err
	}
	if err := c.configureReattach(); err != nil {
		return nil, err
	}
	if err := c.openDataplane(); err != nil {
		if c.keylog != nil {
			c.keylog.Close()
		}
		return nil, err
	}
	return c, nil
}

// configureIKE builds the initiator's IKE configuration.
func (c *Client) configureIKE() error {
	creds, err := newCredentials(&c.cfg)
	if err != nil {
		return err
	}
	ikeProps, err := proposals(c.cfg.IKEProposals)
	if err != nil {
		return fmt.Errorf("mnclient: IKE proposals: %w", err)
	}
	espProps, err := proposals(c.cfg.ESPProposals)
	if err != nil {
		return fmt.Errorf("mnclient: ESP proposals: %w", err)
	}
	req := ike.CPRequest{IPv6: true, IPv4: c.cfg.IPv4}
	if c.cfg.HoA.IsValid() {
		req.SuggestIPv6 = netip.PrefixFrom(c.cfg.HoA, 128)
	}
	var keylog io.Writer
	if c.cfg.KeyLog != "" {
		f, err := os.OpenFile(c.cfg.KeyLog, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("mnclient: key log: %w", err)
		}
		keylog, c.keylog = f, f
	}
	var remoteTS []wire.TrafficSelector
	for _, p := range c.cfg.RemoteTS {
		remoteTS = append(remoteTS, wire.PrefixSelector(p))
	}
	c.ikeCfg = ike.Config{
		Credentials:      creds,
		PeerID:           creds.haID,
		IKEProposals:     ikeProps,
		ESPProposals:     espProps,
		RemoteTS:         remoteTS,
		Mode:             ike.Tunnel,
		Request:          req,
		RequireAddress:   true,
		ForceEncap:       c.cfg.ForceEncap,
		PeerNATTPort:     c.cfg.HANATTPort,
		InitialContact:   true,
		CertReqCAs:       creds.cas,
		Retransmit:       c.cfg.Retransmit,
		LivenessInterval: c.cfg.LivenessInterval,
		KeyLog:           keylog,
	}
	return nil
}

func proposals(ss []string) ([]ike.Proposal, error) {
	var ps []ike.Proposal
	for _, s := range ss {
		p, err := ike.ParseProposal(s)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// openDataplane creates the inner device and binds the sockets.
func (c *Client) openDataplane() error {
	var inner dataplane.Device
	if c.cfg.InMemory {
		c.mem = newMemDevice(c.cfg.Received)
		inner = c.mem
	} else {
		mtu := c.cfg.MTU
		if mtu == 0 {
			mtu = DefaultMTU
		}
		tun, err := dataplane.CreateTUN(c.cfg.TUN, mtu)
		if err != nil {
			return fmt.Errorf("mnclient: TUN: %w", err)
		}
		if c.injector, err = newPacketInjector(tun.Index()); err != nil {
			tun.Close()
			return err
		}
		c.tun, inner = tun, tun
		c.router = &router{tun: tun, ha: c.ha.Addr(), log: c.log}
	}
	c.dev = &mobilityDevice{Device: inner, deliver: c.mobility}
	listen := c.cfg.Listen
	if len(listen) == 0 {
		listen = []string{"::", "0.0.0.0"}
	}
	var addrs []netip.Addr
	for _, l := range listen {
		a, err := netip.ParseAddr(l)
		if err != nil {
			c.closeDevice()
			return fmt.Errorf("mnclient: listen address %q: %w", l, err)
		}
		addrs = append(addrs, a)
	}
	port := func(p, def int) uint16 {
		switch {
		case p < 0:
			return 0
		case p == 0:
			return uint16(def)
		}
		return uint16(p)
	}
	var err error
	c.dp, err = dataplane.New(dataplane.Config{
		Addrs:     addrs,
		IKEPort:   port(c.cfg.IKEPort, dataplane.IKEPort),
		NATTPort:  port(c.cfg.NATTPort, dataplane.NATTPort),
		Device:    c.dev,
		IKE:       c.receiveDatagrams,
		BatchSize: c.batchSize(),
		Logger:    c.log,
	})
	if err != nil {
		c.closeDevice()
		return fmt.Errorf("mnclient: %w", err)
	}
	for _, l := range c.dp.Listeners() {
		if l.NATT {
			c.nattPort = l.Addr.Port()
		} else {
			c.ikePort = l.Addr.Port()
		}
	}
	c.ikeCfg.NATTPort = c.nattPort
	return nil
}

// batchSize is small for in-memory nodes: a bulk run holds thousands of
// dataplanes, each goroutine with a batch of 64 KiB buffers.
func (c *Client) batchSize() int {
	if c.cfg.InMemory {
		return 2
	}
	return 0
}

func (c *Client) closeDevice() {
	if c.injector != nil {
		c.injector.close()
	}
	c.dev.Close()
}

// resolveHA parses HOST[:PORT], resolving a name.
func resolveHA(s string) (netip.AddrPort, error) {
	if s == "" {
		return netip.AddrPort{}, errors.New("mnclient: no home agent (--ha)")
	}
	host, port := s, uint16(dataplane.IKEPort)
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("mnclient: home agent %q: bad port", s)
		}
		host, port = h, uint16(n)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a.Unmap(), port), nil
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("mnclient: home agent %q: %v", s, err)
	}
	a, _ := netip.AddrFromSlice(ips[0])
	return netip.AddrPortFrom(a.Unmap(), port), nil
}

// TUN returns the client's TUN device name ("" with InMemory).
func (c *Client) TUN() string {
	if c.tun == nil {
		return ""
	}
	return c.tun.Name()
}

// Status returns a snapshot of the client's state.
func (c *Client) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.snap
}

func (c *Client) setStatus(f func(*Status)) {
	c.mu.Lock()
	f(&c.snap)
	c.mu.Unlock()
}

// Run attaches to the home agent and stays attached until ctx ends (then
// it deregisters its binding, deletes the IKE SA, waits for the answers
// up to DetachTimeout, and removes its routes and device) or the IKE SA
// ends without our asking (ErrDetached).
func (c *Client) Run(ctx context.Context) error {
	dpCtx, stopDataplane := context.WithCancel(context.Background())
	dpDone := make(chan error, 1)
	go func() { dpDone <- c.dp.Run(dpCtx) }()
	c.timer = time.NewTimer(time.Hour)
	c.timer.Stop()
	defer func() {
		close(c.stopped)
		c.timer.Stop()
		stopDataplane()
		<-dpDone
		if c.router != nil {
			c.router.clear()
		}
		if c.injector != nil {
			c.injector.close()
		}
		if c.keylog != nil {
			c.keylog.Close()
		}
	}()
	if c.tun != nil {
		c.emit(Event{Event: EventTUN, TUN: c.tun.Name()})
	}
	if c.cfg.FollowLinks {
		stopWatch, err := watchLinks(c.links, c.log)
		if err != nil {
			c.emit(Event{Event: EventError, Error: err.Error()})
		} else {
			defer stopWatch()
		}
	}

	now := time.Now()
	c.startAttachSpan()
	defer func() {
		c.endAttach(telemetry.ResultError, errors.New("client stopped before the attachment completed"))
		c.abandonHandover(time.Now(), errors.New("client stopped"), true)
	}()
	cfg := c.ikeCfg
	cfg.TraceContext = traceparent(c.attach.ctx)
	s, err := c.startSession(now, c.ha, &cfg)
	if err != nil {
		c.endAttach(telemetry.ResultError, err)
		c.emit(Event{Event: EventError, Error: err.Error()})
		return err
	}
	c.cur = s
	c.attachSession(s)
	stop := ctx.Done()
	for {
		c.process(time.Now())
		if c.cur == nil && !c.reattachPending() {
			return c.result
		}
		select {
		case <-stop:
			stop = nil
			c.startDetach(time.Now())
		case dg := <-c.ikeIn:
			c.receiveIKE(time.Now(), dg)
		case pkt := <-c.mobility:
			c.receiveMobility(time.Now(), pkt)
		case f := <-c.cmds:
			f(time.Now())
		case <-c.timer.C:
			c.tick(time.Now())
		case <-c.links:
			c.followCareOfAddress(time.Now(), false)
		case err := <-dpDone:
			dpDone <- err // for the deferred wait
			if err == nil {
				err = errors.New("mnclient: dataplane stopped")
			}
			return err
		}
	}
}

// call runs f on Run's goroutine and returns its error.
func (c *Client) call(ctx context.Context, f func(now time.Time) error) error {
	res := make(chan error, 1)
	select {
	case c.cmds <- func(now time.Time) { res <- f(now) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-c.stopped:
		return ErrStopped
	}
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-c.stopped:
		select {
		case err := <-res:
			return err
		default:
			return ErrStopped
		}
	}
}

// onCurrent runs f with the current session's IKE SA.
func (c *Client) onCurrent(ctx context.Context, f func(time.Time, *ike.SA) error) error {
	return c.call(ctx, func(now time.Time) error {
		if c.cur == nil {
			return ErrDetached
		}
		return f(now, c.cur.sa)
	})
}

// RekeyIKE rekeys the IKE SA.
func (c *Client) RekeyIKE(ctx context.Context) error {
	return c.onCurrent(ctx, func(now time.Time, sa *ike.SA) error { return sa.RekeyIKE(now) })
}

// RekeyChild rekeys every CHILD_SA.
func (c *Client) RekeyChild(ctx context.Context) error {
	return c.onCurrent(ctx, func(now time.Time, sa *ike.SA) error {
		var errs []error
		for _, ch := range sa.Children() {
			errs = append(errs, sa.RekeyChild(now, ch.InSPI))
		}
		return errors.Join(errs...)
	})
}

// CheckLiveness sends an empty INFORMATIONAL request.
func (c *Client) CheckLiveness(ctx context.Context) error {
	return c.onCurrent(ctx, func(now time.Time, sa *ike.SA) error { return sa.CheckLiveness(now) })
}

// Delete deletes the IKE SA without deregistering first (Run then returns
// ErrDetached with reason "deleted").
func (c *Client) Delete(ctx context.Context) error {
	return c.onCurrent(ctx, func(now time.Time, sa *ike.SA) error { return sa.Delete(now) })
}

// Move re-evaluates the care-of address now (as a link change would) and,
// if force is set, signals it to the home agent even when it did not
// change: a Binding Update and an empty INFORMATIONAL from the current
// address.
func (c *Client) Move(ctx context.Context, force bool) error {
	return c.call(ctx, func(now time.Time) error { return c.followCareOfAddress(now, force) })
}

// Send puts an inner packet into the tunnel, as if the node's stack had
// sent it into the TUN device.
func (c *Client) Send(pkt []byte) error { return c.inject(pkt) }

func (c *Client) inject(pkt []byte) error {
	if c.mem != nil {
		return c.mem.Inject(pkt)
	}
	return c.injector.inject(pkt)
}

// receiveDatagrams hands received IKE datagrams to Run's goroutine. It
// runs on the dataplane's socket goroutines; the payloads are borrowed.
func (c *Client) receiveDatagrams(batch []dataplane.Datagram) {
	for _, d := range batch {
		dg := ike.Datagram{Local: d.Local, Remote: d.Remote, NATT: d.Local.Port() == c.nattPort,
			Payload: append([]byte(nil), d.Payload...)}
		select {
		case c.ikeIn <- dg:
		default:
			c.mu.Lock()
			c.snap.IKEDrops++
			c.mu.Unlock()
		}
	}
}

// receiveIKE routes an IKE datagram to the session whose SPI it carries.
func (c *Client) receiveIKE(now time.Time, dg ike.Datagram) {
	spi, ok := ike.LocalSPI(dg.Payload)
	if !ok {
		return
	}
	for _, s := range c.sessions {
		for _, x := range s.sa.LocalSPIs() {
			if x == spi {
				s.sa.Receive(now, dg)
				return
			}
		}
	}
}

// tick runs the timers that are due.
func (c *Client) tick(now time.Time) {
	for _, s := range c.sessions {
		if d := s.sa.Deadline(); !d.IsZero() && !now.Before(d) {
			s.sa.Tick(now)
		}
	}
	if d := c.bul.NextDeadline(); !d.IsZero() && !now.Before(d) {
		c.bul.Tick(now)
	}
	c.detachTick(now)
	c.handoverTick(now)
	c.reattachTick(now)
}

// process carries out what the sessions and the binding update list have
// ready (each may give the other work: a CHILD_SA starts a registration,
// an acknowledged deregistration deletes the IKE SA), sends the IKE
// datagrams, and arms the timer.
func (c *Client) process(now time.Time) {
	for busy := true; busy; {
		busy = false
		for i := 0; i < len(c.sessions); i++ {
			s := c.sessions[i]
			if s.sa.HasReady() {
				busy = true
				c.drive(s, now)
			}
			if s.sa.Done() {
				c.endSession(s)
				i--
			}
		}
		if c.driveBindings(now) {
			busy = true
		}
		for _, s := range c.retiring {
			if !s.sa.Done() {
				retire(s, now)
				busy = true
			}
		}
		c.retiring = c.retiring[:0]
	}
	c.flush()
	c.arm()
}

// arm sets the timer to the earliest deadline.
func (c *Client) arm() {
	var at time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	for _, s := range c.sessions {
		earliest(s.sa.Deadline())
	}
	earliest(c.bul.NextDeadline())
	earliest(c.detach.deadline)
	earliest(c.hand.deadline)
	earliest(c.re.at)
	c.timer.Stop()
	if !at.IsZero() {
		c.timer.Reset(max(time.Until(at), 0))
	}
}

// flush writes the queued IKE datagrams.
func (c *Client) flush() {
	if len(c.out) == 0 {
		return
	}
	if n, err := c.dp.WriteIKE(c.out); err != nil {
		c.log.Warn("IKE datagrams not sent", "sent", n, "queued", len(c.out), "err", err)
	}
	clear(c.out)
	c.out = c.out[:0]
}

// unpinned returns our endpoint with the address left to the kernel: a
// mobile node sends from whatever address its routes give towards the
// home agent now, which is how it follows its care-of address.
func unpinned(local netip.AddrPort, port uint16) netip.AddrPort {
	if local.Addr().Is4() {
		return netip.AddrPortFrom(netip.IPv4Unspecified(), port)
	}
	return netip.AddrPortFrom(netip.IPv6Unspecified(), port)
}

func (c *Client) emit(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	c.cfg.Events(e)
}

// careOfAddress is the source address the kernel uses towards the home
// agent now (no packet is sent).
func careOfAddress(ha netip.Addr) (netip.Addr, error) {
	conn, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(ha, dataplane.IKEPort)))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("mnclient: no route to the home agent %v: %w", ha, err)
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}
