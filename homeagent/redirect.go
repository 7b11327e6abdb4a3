package homeagent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/dataplane"
	"github.com/mip6ha/mip6ha/homeagent/telemetry"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
	"github.com/mip6ha/mip6ha/policy"
)

// RedirectOptions wire RFC 5685 into a Runtime as a responder: where the
// placement policy comes from, the anycast addresses it answers on, how
// long a redirected IKE SA may linger, and the handover tickets. The
// Service fills them in from its configuration (ike.redirect.*, cluster.*);
// a program may give its own.
type RedirectOptions struct {
	// View gives the placement policy the Redirector consults at
	// IKE_SA_INIT and IKE_AUTH; nil: nobody is redirected for placement
	// (anycast requests still are).
	View ClusterView
	// Redirector, if set, takes the decisions instead of the placement
	// policy on View (a program with rules of its own, a test).
	Redirector ike.Redirector
	// Leases tells where an identity's lease lives, for the decision at
	// IKE_AUTH; nil: no identity has one.
	Leases LeaseLocator
	// Anycast maps each anycast address we answer IKE on to our unicast
	// address of the same family: a redirect-capable client that reaches
	// an anycast address is always redirected to a unicast address, the
	// View's choice or this one (RFC 5685 §4).
	Anycast map[netip.Addr]netip.Addr
	// Grace is how long an IKE SA redirected in IKE_AUTH or by Redirect is
	// kept before we delete it, if the client does not delete it first
	// (RFC 5685 §5); 0: ike.DefaultRedirectGrace.
	Grace time.Duration
	// TicketKey, shared by the home agents of the deployment (at least 16
	// octets), authenticates handover tickets (docs/redirect.md): we give
	// one to a client we redirect with Redirect, and honour the ones
	// clients present. Nil: no tickets.
	TicketKey []byte
	// TicketLifetime is how long a ticket we issue is valid; 0:
	// DefaultTicketLifetime.
	TicketLifetime time.Duration
	// Member is our member ID, named as the issuer in our tickets.
	Member string
}

// DefaultTicketLifetime is how long a handover ticket is valid by default:
// long enough to set up an IKE SA at the new home agent.
const DefaultTicketLifetime = 2 * time.Minute

// ClusterView is where the Redirector takes its placement policy from: the
// static view of the configuration (StaticView) or, with a cluster store,
// a view that follows the members' records. Policy is called for every
// IKE_SA_INIT request of a redirect-capable client, from the goroutines
// that read the sockets and from the shards: it must be cheap and safe for
// concurrent use.
type ClusterView interface {
	// Policy returns the policy on the current view, or nil when there is
	// none (then nobody is redirected, except from anycast addresses).
	Policy() *policy.Policy
}

// StaticView is a ClusterView that never changes.
type StaticView struct{ p *policy.Policy }

// NewStaticView compiles a fixed view of the cluster.
func NewStaticView(cfg policy.Config, v policy.View) (*StaticView, error) {
	p, err := policy.New(cfg, v)
	if err != nil {
		return nil, err
	}
	return &StaticView{p: p}, nil
}

// Policy implements ClusterView.
func (s *StaticView) Policy() *policy.Policy { return s.p }

// LeaseLocator tells where an identity's lease lives: the member that serves
// it and the member it is moving to ("" for none). The Redirector asks it
// at IKE_AUTH (policy.AtAuth).
type LeaseLocator interface {
	Locate(id ike.ID) (owner, moving string)
}

// StaticLeases is a LeaseLocator from configuration: identity to member.
type StaticLeases map[ike.ID]string

// Locate implements LeaseLocator.
func (s StaticLeases) Locate(id ike.ID) (owner, moving string) { return s[id], "" }

// Redirect stages of RedirectCount.
const (
	StageInit          = "init"          // IKE_SA_INIT (RFC 5685 §3, §4)
	StageAuth          = "auth"          // IKE_AUTH (RFC 5685 §6)
	StageInformational = "informational" // an established IKE SA, in an INFORMATIONAL request (RFC 5685 §5)
)

// ReasonCommand is the reason of a redirect of an established IKE SA that
// an operator or a program asked for (Runtime.Redirect).
const ReasonCommand = "command"

// RedirectCount is how many clients were redirected at one stage for one
// reason (a policy.Reason name, or ReasonCommand).
type RedirectCount struct {
	Stage, Reason string
	Count         uint64
}

// redirectCounters count redirects by stage and reason without locks:
// index [stage][reason], reason 0 being ReasonCommand; and, with metrics,
// in mip6ha.ike.redirects.
type redirectCounters struct {
	n       [3][64]atomic.Uint64
	metrics *telemetry.Metrics // nil: none
}

var stageNames = [3]string{StageInit, StageAuth, StageInformational}

func (c *redirectCounters) add(stage int, r policy.Reason) {
	if int(r) < len(c.n[stage]) {
		c.n[stage][r].Add(1)
	}
	if c.metrics != nil {
		c.metrics.RecordRedirect(context.Background(), telemetry.RedirectStage(stageNames[stage]), reasonName(r))
	}
}

func reasonName(r policy.Reason) string {
	if r == 0 {
		return ReasonCommand
	}
	return r.String()
}

func (c *redirectCounters) snapshot() []RedirectCount {
	var out []RedirectCount
	for s := range c.n {
		for r := range c.n[s] {
			if n := c.n[s][r].Load(); n > 0 {
				out = append(out, RedirectCount{Stage: stageNames[s], Reason: reasonName(policy.Reason(r)), Count: n})
			}
		}
	}
	return out
}

// Redirector is the home agent's ike.Redirector: it asks the placement
// policy of a ClusterView at IKE_SA_INIT (policy.AtInit, from the client's
// locator) and, after the client's AUTH verified, at IKE_AUTH
// (policy.AtAuth, where the identity's lease decides first). It counts
// every redirect by stage and reason; redirects at IKE_AUTH are logged at
// Info, those at IKE_SA_INIT (unauthenticated, one per request, possibly a
// flood) at Debug. It is safe for concurrent use.
type Redirector struct {
	view   ClusterView
	leases LeaseLocator
	log    *slog.Logger
	counts *redirectCounters
}

// NewRedirector returns a Redirector on view; leases may be nil (no
// identity has a lease) and so may log and metrics (which counts the
// redirects in mip6ha.ike.redirects).
func NewRedirector(view ClusterView, leases LeaseLocator, log *slog.Logger, metrics *telemetry.Metrics) *Redirector {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Redirector{view: view, leases: leases, log: log, counts: &redirectCounters{metrics: metrics}}
}

// Counts returns how many clients were redirected, by stage and reason.
func (r *Redirector) Counts() []RedirectCount { return r.counts.snapshot() }

// AtInit implements ike.Redirector (RFC 5685 §3, §4).
func (r *Redirector) AtInit(req ike.InitInfo) (ike.RedirectTarget, bool) {
	p := r.view.Policy()
	if p == nil {
		return ike.RedirectTarget{}, false
	}
	d := p.AtInit(policy.AtInit{Remote: req.Remote.Addr().Unmap(), Anycast: req.Anycast,
		RedirectedFrom: gatewayAddr(req.RedirectedFrom), PortCapable: req.PortSupported})
	t, ok := targetOf(d, req.PortSupported)
	if !ok {
		return t, false
	}
	r.counts.add(0, d.Reason)
	if r.log.Enabled(context.Background(), slog.LevelDebug) {
		r.log.Debug("redirect", "stage", StageInit, "reason", d.Reason.String(), "remote", req.Remote.String(),
			"local", req.Local.String(), "anycast", req.Anycast, "to", d.Target, "target", t.Gateway.String())
	}
	return t, true
}

// AtAuth implements ike.Redirector (RFC 5685 §6).
func (r *Redirector) AtAuth(req ike.AuthInfo) (ike.RedirectTarget, bool) {
	p := r.view.Policy()
	if p == nil {
		return ike.RedirectTarget{}, false
	}
	q := policy.AtAuth{Remote: req.Remote.Addr().Unmap(), RedirectedFrom: gatewayAddr(req.RedirectedFrom),
		PortCapable: req.PortSupported, Identity: req.Peer.String()}
	if r.leases != nil {
		q.LeaseOwner, q.LeaseMoving = r.leases.Locate(req.Peer)
	}
	d := p.AtAuth(q)
	t, ok := targetOf(d, req.PortSupported)
	if !ok {
		return t, false
	}
	r.counts.add(1, d.Reason)
	r.log.Info("redirect", "stage", StageAuth, "reason", d.Reason.String(), "peer", req.Peer.String(),
		"remote", req.Remote.String(), "to", d.Target, "target", t.Gateway.String())
	return t, true
}

// targetOf turns a redirect decision into the REDIRECT's gateway: the
// address on the standard ports, or the forwarded port for a client that
// can follow one.
func targetOf(d policy.Decision, portCapable bool) (ike.RedirectTarget, bool) {
	if d.Action != policy.ActionRedirect || !d.Addr.IsValid() {
		return ike.RedirectTarget{}, false
	}
	if d.Port != 0 {
		if !portCapable {
			return ike.RedirectTarget{}, false
		}
		return ike.RedirectTarget{Gateway: wire.GatewayAddrPort(netip.AddrPortFrom(d.Addr, d.Port))}, true
	}
	return ike.RedirectTarget{Gateway: wire.GatewayAddr(d.Addr)}, true
}

// gatewayAddr returns the address of a REDIRECTED_FROM identity, the zero
// Addr for none or an FQDN.
func gatewayAddr(g *wire.GatewayIdentity) netip.Addr {
	if g == nil {
		return netip.Addr{}
	}
	return g.AddrPort.Addr().Unmap()
}

// ParseGateway parses a redirect target as an operator writes it: an
// address (GW Ident Type 1 or 2), "ADDRESS:PORT" or "[IPv6]:PORT" (the
// private-use types 241 and 242, only for clients that announced the port
// extension), or a domain name (type 3).
func ParseGateway(s string) (wire.GatewayIdentity, error) {
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return wire.GatewayAddr(a), nil
	}
	if ap, err := netip.ParseAddrPort(s); err == nil && ap.Addr().Zone() == "" {
		if ap.Port() == 0 {
			return wire.GatewayIdentity{}, fmt.Errorf("homeagent: redirect target %q: port 0", s)
		}
		return wire.GatewayAddrPort(ap), nil
	}
	name := strings.TrimSuffix(s, ".")
	if name == "" || len(name) > 255 || strings.ContainsAny(name, ":[] \t") {
		return wire.GatewayIdentity{}, fmt.Errorf("homeagent: redirect target %q: not an address, address:port or domain name", s)
	}
	for i := 0; i < len(name); i++ {
		if name[i] <= ' ' || name[i] > '~' {
			return wire.GatewayIdentity{}, fmt.Errorf("homeagent: redirect target %q: not printable ASCII", s)
		}
	}
	return wire.GatewayFQDN(name), nil
}

// redirectRuntime is what the runtime keeps for RFC 5685: the Redirector
// consulted by its shards, the anycast addresses, the ticket key and the
// counts of established-SA redirects.
type redirectRuntime struct {
	redirector ike.Redirector // nil: no placement view
	anycast    map[netip.Addr]netip.Addr
	grace      time.Duration
	tickets    *ticketKey // nil: no tickets
	lifetime   time.Duration
	member     string
	counts     *redirectCounters
}

// setupRedirect builds the runtime's redirect machinery from o: the
// Redirector on o.View and, with a ticket key, the address pool that
// honours tickets.
func (rt *Runtime) setupRedirect(o *RedirectOptions) error {
	if o == nil {
		return nil
	}
	rr := &redirectRuntime{grace: o.Grace, lifetime: o.TicketLifetime, member: o.Member,
		counts: &redirectCounters{metrics: rt.opts.Metrics}}
	if rr.lifetime <= 0 {
		rr.lifetime = DefaultTicketLifetime
	}
	if len(o.Anycast) > 0 {
		rr.anycast = make(map[netip.Addr]netip.Addr, len(o.Anycast))
		for a, u := range o.Anycast {
			rr.anycast[a.Unmap()] = u.Unmap()
		}
		rt.log.Info("answering on anycast addresses: redirect-capable clients are sent to a unicast address",
			"anycast", fmt.Sprint(rr.anycast))
	}
	switch {
	case o.Redirector != nil:
		rr.redirector = o.Redirector
	case o.View != nil:
		r := NewRedirector(o.View, o.Leases, rt.log, rt.opts.Metrics)
		rr.redirector, rr.counts = r, r.counts
	}
	if o.TicketKey != nil {
		k, err := newTicketKey(o.TicketKey)
		if err != nil {
			return fmt.Errorf("homeagent: handover tickets: %w", err)
		}
		rr.tickets = k
		if rt.pool != nil {
			rt.pool = &ticketPool{AddressPool: rt.pool, key: k, log: rt.log}
		}
	}
	rt.redirect = rr
	return nil
}

// configure sets the redirect parts of a shard's SA template and Responder.
func (rr *redirectRuntime) configure(cfg *ike.Config, rc *ike.ResponderConfig) {
	if rr == nil {
		return
	}
	if rr.redirector != nil {
		cfg.Redirector = rr.redirector
	}
	cfg.RedirectGrace = rr.grace
	rc.Anycast = rr.anycast
}

// RedirectCounts returns how many clients this runtime redirected, by
// stage (StageInit, StageAuth, StageInformational) and reason: the decisions
// of the placement Redirector, and Redirect's. (A RedirectOptions.Redirector
// of a program's own counts its decisions itself; Stats().Responder counts
// every REDIRECT answered at IKE_SA_INIT.)
func (rt *Runtime) RedirectCounts() []RedirectCount {
	if rt.redirect == nil {
		return nil
	}
	return rt.redirect.counts.snapshot()
}

// ErrNoRedirect reports a redirect of an IKE SA whose peer cannot be
// redirected (it did not announce RFC 5685 support, or we are its
// initiator) or to a target it cannot follow.
var ErrNoRedirect = errors.New("homeagent: peer cannot be redirected")

// Redirect sends the peer of the established IKE SA id to target (RFC 5685
// §5): an INFORMATIONAL request with REDIRECT, retransmitted until
// answered; the IKE SA is deleted after the grace period (redirect-grace)
// unless the client deletes it first. A client that announced the
// extensions also gets a handover ticket for the addresses it holds, when
// a ticket key is configured and target carries none. It returns once the
// request is queued.
func (rt *Runtime) Redirect(ctx context.Context, id SAID, target ike.RedirectTarget) error {
	return rt.onSA(ctx, id, func(now time.Time, sa *ike.SA) error {
		t := target
		if rr := rt.redirect; rr != nil && rr.tickets != nil && t.Ticket == nil {
			if a := sa.Assignment(); a != nil {
				t.Ticket = rr.tickets.issue(sa.PeerID(), *a, rr.member, now.Add(rr.lifetime))
			}
		}
		if err := sa.Redirect(now, t); err != nil {
			if errors.Is(err, ike.ErrRedirectNotSupported) {
				return fmt.Errorf("%w: %w", ErrNoRedirect, err)
			}
			return err
		}
		if rt.redirect != nil {
			rt.redirect.counts.add(2, 0)
		}
		rt.log.Info("redirect", "stage", StageInformational, "reason", ReasonCommand, "sa", id,
			"peer", sa.PeerID().String(), "target", t.Gateway.String(), "ticket", t.Ticket != nil)
		return nil
	})
}

// RedirectPeer redirects every established IKE SA of the peer identity
// (see Redirect) and returns how many were redirected.
func (rt *Runtime) RedirectPeer(ctx context.Context, peer ike.ID, target ike.RedirectTarget) (int, error) {
	sas, err := rt.SAs(ctx)
	if err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, sa := range sas {
		if sa.Peer != peer || sa.State != ike.StateEstablished || sa.Initiator {
			continue
		}
		err := rt.Redirect(ctx, sa.ID, target)
		if err == nil {
			n++
		}
		errs = append(errs, err)
	}
	if n == 0 && len(errs) == 0 {
		return 0, fmt.Errorf("%w: no established IKE SA of %v", ErrNoSA, peer)
	}
	return n, errors.Join(errs...)
}

// redirectAtOnce answers a first IKE_SA_INIT request with REDIRECT on the
// socket goroutine that read it, when the Redirector (or an anycast
// address) sends the client elsewhere: the answer is stateless (RFC 5685
// §3), so it needs no shard, and the whole batch of answers leaves in one
// write. Other requests, and every request of a runtime that redirects
// nobody, go to their shard.
func (rt *Runtime) redirectAtOnce(s *shard, dg ike.Datagram) (dataplane.Datagram, bool) {
	rr := rt.redirect
	if rr == nil || rr.redirector == nil && len(rr.anycast) == 0 {
		return dataplane.Datagram{}, false
	}
	res, ok := s.responder.Redirect(time.Now(), dg)
	if !ok {
		return dataplane.Datagram{}, false
	}
	if rt.log.Enabled(context.Background(), slog.LevelDebug) {
		s.logMessage("IKE message received", dg)
		s.logMessage("IKE message sent", res.Reply)
	}
	local := res.Reply.Local
	if res.Reply.NATT {
		local = netip.AddrPortFrom(local.Addr(), rt.nattPort)
	}
	return dataplane.Datagram{Local: local, Remote: res.Reply.Remote, Payload: res.Reply.Payload}, true
}

// sendRedirects writes the REDIRECT answers of one batch.
func (rt *Runtime) sendRedirects(ds []dataplane.Datagram) {
	if len(ds) == 0 {
		return
	}
	if n, err := rt.dp.WriteIKE(ds); err != nil {
		rt.log.Warn("REDIRECT answers not sent", "sent", n, "queued", len(ds), "err", err)
	}
}
