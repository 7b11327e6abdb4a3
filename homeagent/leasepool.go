package homeagent

import (
	"context"
	"crypto/hmac"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/storetrace"
	"github.com/mip6ha/mip6ha/homeagent/telemetry"
	"github.com/mip6ha/mip6ha/ike"
)

// AddressPool assigns inner addresses to authenticated peers through the
// Configuration payload (RFC 7296 §2.19, RFC 4877 §6.1, RFC 5026) and
// takes them back. Assign is called on the goroutine of the shard that owns
// the IKE SA, with the context of the IKE_AUTH exchange (its span), so it
// must be safe for concurrent use and should not block for long. An error
// becomes INTERNAL_ADDRESS_FAILURE (RFC 7296 §3.15.4).
//
// The runtime releases every assignment when its IKE SA ends (IKEDown).
// LeasePool is the implementation: leases in the store.
type AddressPool interface {
	Assign(ctx context.Context, req ike.AddressRequest) (ike.Assignment, error)
	Release(ctx context.Context, peer ike.ID, a ike.Assignment)
}

// ErrPoolExhausted reports that no address could be assigned: none is
// left, or the pool of the family asked for is not configured.
var ErrPoolExhausted = errors.New("homeagent: no address to assign")

// IdentityOf is the form of an authenticated IKE identity that the lease
// store, the binding cache and the admin API record: the ID type and its
// data, "ID_FQDN:mn.example", "ID_RFC822_ADDR:mn1@example.net",
// "ID_IPV6_ADDR:2001:db8::7", "ID_KEY_ID:0a0b" (hex). Two identities of
// different types never share a form, so neither can take the other's home
// address.
func IdentityOf(id ike.ID) string { return id.String() }

// LeasePoolConfig configures a LeasePool.
type LeasePoolConfig struct {
	// Store holds the leases; required.
	Store store.Leases
	// Owner is this home agent's member ID, the owner of the leases it
	// acquires; required.
	Owner string
	// Prefix is the home prefix (home.prefix): IPv6 home addresses are
	// given with its length (INTERNAL_IP6_ADDRESS, RFC 4877 §6.1) and it
	// answers MIP6_HOME_PREFIX (RFC 5026 §8.2). Invalid: no IPv6
	// addresses.
	Prefix netip.Prefix
	// IPv6 is where IPv6 home addresses come from (home.host_range);
	// zero: every host address of Prefix (store.NewPrefixPool).
	IPv6 store.Pool
	// IPv4 is the pool of IPv4 home addresses (home.ipv4_pool,
	// INTERNAL_IP4_ADDRESS); zero: none.
	IPv4 store.Pool
	// DNS are offered as INTERNAL_IP6_DNS and INTERNAL_IP4_DNS.
	DNS []netip.Addr
	// PrefixLifetime is the lifetime given with MIP6_HOME_PREFIX, in
	// seconds; 0 means DefaultPrefixLifetime.
	PrefixLifetime uint32
	// Timeout bounds each store call; 0 means DefaultStoreTimeout.
	Timeout time.Duration
	// Tracer records a span per lease operation (telemetry span names);
	// nil: none.
	Tracer trace.TracerProvider
	// Metrics counts lease operations; nil: none.
	Metrics *telemetry.Metrics
	// Logger receives a line per lease acquired and released; nil:
	// discard.
	Logger *slog.Logger
	// Arrived, if set, is called after the pool took a lease over from
	// another member: a Transfer of a lease that was moving here, or a
	// Takeover from a member whose membership lapsed. prev is the record
	// before, l after. It runs on the IKE_AUTH's shard: it must not block.
	Arrived func(ctx context.Context, prev, l store.Lease)
}

// Defaults of LeasePoolConfig.
const (
	DefaultPrefixLifetime = 86400
	DefaultStoreTimeout   = 5 * time.Second
)

// LeasePool is the AddressPool of a home agent: every address it assigns
// is a lease in the store, owned by this home agent, so an identity gets its
// address back after it reconnects, after a restart of the home agent, or
// from another member of a cluster (store.Leases.Acquire: stickiness, a
// suggested address when it is free or already the identity's, the lowest
// never-leased address, then the one released longest ago).
//
// A node may hold several IKE SAs at once (a reconnection that overlaps the
// old IKE SA, a handover): the pool counts the holders of each address and
// releases the lease when the last one lets go. A released lease stays
// reserved for its identity until another identity needs the address.
//
// The store calls of one identity are serialised (an assignment waits for
// the release of the identity's previous IKE SA, and the other way round):
// a release decides from the holders' count and then writes, and an
// assignment that slipped in between would be given a lease the release
// then takes back (Acquire returns the identity's own lease unchanged, so
// the release's compare-and-swap still succeeds), leaving the node with an
// address the store counts as free.
type LeasePool struct {
	cfg    LeasePoolConfig
	v6, v4 store.Pool
	tracer trace.Tracer
	log    *slog.Logger

	mu    sync.Mutex
	held  map[netip.Addr]*holding
	locks map[string]*identityLock // identities with a store call under way
}

// identityLock serialises the store calls of one identity: a semaphore,
// and how many calls hold or wait for it (the entry goes with the last).
type identityLock struct {
	sem  chan struct{}
	refs int
}

// holding counts the IKE SAs that hold one leased address, and the
// revision of the lease when this member last acquired it.
type holding struct {
	identity string
	count    int
	rev      store.Revision
}

// NewLeasePool returns a pool over cfg.Store.
func NewLeasePool(cfg LeasePoolConfig) (*LeasePool, error) {
	if cfg.Store == nil || cfg.Owner == "" {
		return nil, errors.New("homeagent: lease pool without a store or owner")
	}
	p := &LeasePool{cfg: cfg, held: map[netip.Addr]*holding{}, locks: map[string]*identityLock{}, log: cfg.Logger}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if cfg.Tracer == nil {
		cfg.Tracer = noop.NewTracerProvider()
	}
	p.tracer = cfg.Tracer.Tracer(telemetry.ScopeName)
	if p.cfg.Timeout <= 0 {
		p.cfg.Timeout = DefaultStoreTimeout
	}
	if p.cfg.PrefixLifetime == 0 {
		p.cfg.PrefixLifetime = DefaultPrefixLifetime
	}
	if cfg.Prefix.IsValid() {
		if !cfg.Prefix.Addr().Is6() {
			return nil, fmt.Errorf("homeagent: home prefix %v is not IPv6", cfg.Prefix)
		}
		p.cfg.Prefix = cfg.Prefix.Masked()
		p.v6 = cfg.IPv6
		if p.v6 == (store.Pool{}) {
			var err error
			if p.v6, err = store.NewPrefixPool(cfg.Prefix); err != nil {
				return nil, fmt.Errorf("homeagent: home prefix: %w", err)
			}
		}
		if err := p.v6.Validate(); err != nil || p.v6.Family() != store.IPv6 ||
			!p.cfg.Prefix.Contains(p.v6.First) || !p.cfg.Prefix.Contains(p.v6.Last) {
			return nil, fmt.Errorf("homeagent: IPv6 pool %v is not inside the home prefix %v", p.v6, p.cfg.Prefix)
		}
	}
	if cfg.IPv4 != (store.Pool{}) {
		if err := cfg.IPv4.Validate(); err != nil || cfg.IPv4.Family() != store.IPv4 {
			return nil, fmt.Errorf("homeagent: IPv4 pool %v is not a range of IPv4 addresses", cfg.IPv4)
		}
		p.v4 = cfg.IPv4
	}
	return p, nil
}

// Assign implements AddressPool: it acquires the lease of each family the
// peer asked for and that the pool serves. It succeeds when at least one
// address was assigned (RFC 7296 §3.15.4 lets a responder answer part of
// a request) and fails with ErrPoolExhausted, the store's error wrapped,
// when none was.
func (p *LeasePool) Assign(ctx context.Context, req ike.AddressRequest) (ike.Assignment, error) {
	var a ike.Assignment
	var errs []error
	identity := IdentityOf(req.Peer)
	unlock, err := p.lockIdentity(ctx, identity)
	if err != nil {
		return ike.Assignment{}, fmt.Errorf("homeagent: waiting for the lease operation of %s under way: %w", identity, err)
	}
	defer unlock()
	attrs := store.Attributes{CareOf: req.Remote}
	if req.IPv6 {
		if p.v6 == (store.Pool{}) {
			errs = append(errs, errors.New("no IPv6 home prefix configured"))
		} else if l, err := p.acquire(ctx, identity, p.v6, req.SuggestedIPv6.Addr(), attrs, req.Ticket); err != nil {
			errs = append(errs, err)
		} else {
			a.IPv6 = netip.PrefixFrom(l.HoA, p.cfg.Prefix.Bits())
		}
	}
	if req.IPv4 {
		if p.v4 == (store.Pool{}) {
			errs = append(errs, errors.New("no IPv4 pool configured"))
		} else if l, err := p.acquire(ctx, identity, p.v4, req.SuggestedIPv4, attrs, req.Ticket); err != nil {
			errs = append(errs, err)
		} else {
			a.IPv4 = l.HoA
		}
	}
	if !a.IPv6.IsValid() && !a.IPv4.IsValid() {
		if len(errs) == 0 {
			errs = append(errs, errors.New("no address requested"))
		}
		return ike.Assignment{}, fmt.Errorf("%w: %w", ErrPoolExhausted, errors.Join(errs...))
	}
	for _, err := range errs {
		p.log.Warn("address family not assigned", "peer", identity, "err", err)
	}
	for _, d := range p.cfg.DNS {
		if d.Is6() && req.DNS6 || d.Is4() && req.DNS4 {
			a.DNS = append(a.DNS, d)
		}
	}
	if req.HomePrefix && p.cfg.Prefix.IsValid() {
		a.HomePrefix, a.HomePrefixLifetime = p.cfg.Prefix, p.cfg.PrefixLifetime
	}
	return a, nil
}

// conflictAttempts bounds how often acquire reads a lease held elsewhere
// again after its Transfer or Takeover lost a compare-and-swap.
const conflictAttempts = 3

// acquire takes the lease of identity in pool: the store's Acquire, then,
// for a lease another member holds, a Transfer when the lease is moving
// here (a make-before-break move, docs/cluster.md) or a Takeover when its
// owner is no longer a member (also of a lease whose move here lapsed). ticket is the handover ticket the node
// presented, nil for none.
func (p *LeasePool) acquire(ctx context.Context, identity string, pool store.Pool, suggested netip.Addr, attrs store.Attributes, ticket []byte) (l store.Lease, err error) {
	ctx, span := p.tracer.Start(ctx, telemetry.LeaseAcquire.SpanName(), trace.WithAttributes(
		telemetry.KeyLeaseOperation.String(string(telemetry.LeaseAcquire)), telemetry.KeyIdentity.String(identity),
		telemetry.KeyMember.String(p.cfg.Owner)))
	defer func() { p.finish(ctx, span, telemetry.LeaseAcquire, l, err) }()
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	req := store.AcquireRequest{Identity: identity, Owner: p.cfg.Owner, Pool: pool, Attributes: attrs}
	if pool.Contains(suggested) {
		req.Suggested = suggested
	}
	for attempt := 1; ; attempt++ {
		l, err = p.cfg.Store.Acquire(ctx, req)
		var le *store.LeaseError
		if !errors.Is(err, store.ErrOwnedElsewhere) || !errors.As(err, &le) {
			break
		}
		cur := le.Lease
		moving := cur.State == store.StateMoving && cur.MovingTo == p.cfg.Owner
		if moving {
			l, err = p.transfer(ctx, cur, ticket)
		}
		// A lease not moving here, or one whose move here lapsed (its
		// deadline passed, nobody has called it off: its owner may be
		// gone), is taken over if its owner is no member.
		if !moving || errors.Is(err, store.ErrState) {
			l, err = p.cfg.Store.Takeover(ctx, cur.HoA, cur.Revision, p.cfg.Owner)
			if err == nil {
				p.log.Info("lease taken over from a member that is gone", "hoa", l.HoA.String(), "identity", identity,
					"from", cur.Owner, "revision", int64(l.Revision))
			}
		}
		if errors.Is(err, store.ErrConflict) && attempt < conflictAttempts {
			// The record changed between the read and the compare-and-swap
			// (e.g. its owner noted the node's care-of address): read it
			// again and decide anew.
			continue
		}
		if err == nil && p.cfg.Arrived != nil {
			p.cfg.Arrived(ctx, cur, l)
		}
		break
	}
	if err != nil {
		return store.Lease{}, err
	}
	p.mu.Lock()
	h := p.held[l.HoA]
	if h == nil || h.identity != identity {
		h = &holding{identity: identity}
		p.held[l.HoA] = h
	}
	h.count++
	h.rev = l.Revision
	p.mu.Unlock()
	p.log.Info("lease acquired", "hoa", l.HoA.String(), "identity", identity, "revision", int64(l.Revision))
	return l, nil
}

// transfer takes over cur, a lease that is moving here (store.Transfer,
// a compare-and-swap on the revision read). The node may present the
// handover ticket of the move: when it does and the lease records the
// ticket's hash, they must match (a ticket of another move is refused);
// without a ticket, the authenticated identity (Acquire found the lease by
// it) and the lease moving here suffice, so stock IKEv2 clients can be
// moved too. The transfer's span joins the move's trace, whose context
// the lease records (storetrace.ContextWithMove), and links to the
// IKE_AUTH exchange that caused it.
func (p *LeasePool) transfer(ctx context.Context, cur store.Lease, ticket []byte) (l store.Lease, err error) {
	if len(ticket) > 0 && len(cur.TicketHash) > 0 && !hmac.Equal(ticketHash(ticket), cur.TicketHash) {
		return store.Lease{}, fmt.Errorf("%w: the ticket presented is not the one of the move of %v to %s",
			ErrTicket, cur.HoA, p.cfg.Owner)
	}
	mctx := storetrace.ContextWithMove(ctx, cur)
	mctx, span := p.tracer.Start(mctx, telemetry.LeaseTransfer.SpanName(), trace.WithLinks(trace.LinkFromContext(ctx)),
		trace.WithAttributes(telemetry.KeyLeaseOperation.String(string(telemetry.LeaseTransfer)),
			telemetry.KeyHoA.String(cur.HoA.String()), telemetry.KeyIdentity.String(cur.Identity),
			telemetry.KeyMember.String(cur.Owner), telemetry.KeyLeaseRevision.Int64(int64(cur.Revision))))
	defer func() { p.finish(mctx, span, telemetry.LeaseTransfer, l, err) }()
	l, err = p.cfg.Store.Transfer(mctx, cur.HoA, cur.Revision, p.cfg.Owner)
	if err == nil {
		p.log.Info("lease transferred here", "hoa", l.HoA.String(), "identity", l.Identity, "from", cur.Owner,
			"revision", int64(l.Revision), "ticket", len(ticket) > 0)
	}
	return l, err
}

// heldRevision returns the revision of the lease of a when this member
// last acquired it, and whether an IKE SA holds a.
func (p *LeasePool) heldRevision(a netip.Addr) (store.Revision, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.held[a]
	if h == nil {
		return 0, false
	}
	return h.rev, true
}

// Release implements AddressPool: each address goes back to the store
// once no IKE SA holds it any more.
func (p *LeasePool) Release(ctx context.Context, peer ike.ID, a ike.Assignment) {
	identity := IdentityOf(peer)
	unlock, _ := p.lockIdentity(context.WithoutCancel(ctx), identity) // waits: a release is never given up
	defer unlock()
	for _, addr := range []netip.Addr{a.IPv6.Addr(), a.IPv4} {
		if !addr.IsValid() || !p.let(addr, identity) {
			continue
		}
		if _, err := p.release(ctx, addr, identity); err != nil {
			p.log.Warn("lease not released", "hoa", addr.String(), "identity", identity, "err", err)
		}
	}
}

// lockIdentity waits until no other store call of identity is under way
// (or ctx ends) and returns the function that ends this one.
func (p *LeasePool) lockIdentity(ctx context.Context, identity string) (unlock func(), err error) {
	p.mu.Lock()
	l := p.locks[identity]
	if l == nil {
		l = &identityLock{sem: make(chan struct{}, 1)}
		p.locks[identity] = l
	}
	l.refs++
	p.mu.Unlock()
	done := func() {
		p.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(p.locks, identity)
		}
		p.mu.Unlock()
	}
	unlock = func() { <-l.sem; done() }
	if ctx.Done() == nil {
		l.sem <- struct{}{}
		return unlock, nil
	}
	select {
	case l.sem <- struct{}{}:
		return unlock, nil
	case <-ctx.Done():
		done()
		return nil, ctx.Err()
	}
}

// let drops one holder of addr and reports whether it was the last.
func (p *LeasePool) let(addr netip.Addr, identity string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	h := p.held[addr]
	if h == nil || h.identity != identity {
		return false
	}
	if h.count--; h.count > 0 {
		return false
	}
	delete(p.held, addr)
	return true
}

// release releases the lease of addr if it is identity's and ours,
// reading it again after a lost compare-and-swap.
func (p *LeasePool) release(ctx context.Context, addr netip.Addr, identity string) (l store.Lease, err error) {
	ctx, span := p.tracer.Start(ctx, telemetry.LeaseRelease.SpanName(), trace.WithAttributes(
		telemetry.KeyLeaseOperation.String(string(telemetry.LeaseRelease)), telemetry.KeyHoA.String(addr.String()),
		telemetry.KeyIdentity.String(identity)))
	defer func() { p.finish(ctx, span, telemetry.LeaseRelease, l, err) }()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.cfg.Timeout)
	defer cancel()
	for range 3 {
		cur, err := p.cfg.Store.Lease(ctx, addr)
		if err != nil {
			return store.Lease{}, err
		}
		if cur.Identity != identity || cur.Owner != p.cfg.Owner || !cur.Served() {
			return cur, nil // moved on: another identity, another member, or released
		}
		l, err = p.cfg.Store.Release(ctx, addr, cur.Revision)
		if !errors.Is(err, store.ErrConflict) {
			if err == nil {
				p.log.Info("lease released", "hoa", addr.String(), "identity", identity, "revision", int64(l.Revision))
			}
			return l, err
		}
	}
	return store.Lease{}, fmt.Errorf("lease of %v: %w", addr, store.ErrConflict)
}

// finish ends a lease operation's span and counts it.
func (p *LeasePool) finish(ctx context.Context, span trace.Span, op telemetry.LeaseOperation, l store.Lease, err error) {
	result := telemetry.ResultOK
	switch {
	case errors.Is(err, store.ErrConflict):
		result = telemetry.ResultConflict
	case err != nil:
		result = telemetry.ResultError
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	} else {
		span.SetAttributes(telemetry.KeyHoA.String(l.HoA.String()), telemetry.KeyLeaseRevision.Int64(int64(l.Revision)))
	}
	span.SetAttributes(attribute.String(string(telemetry.KeyResult), result))
	span.End()
	if p.cfg.Metrics != nil {
		p.cfg.Metrics.RecordLeaseOperation(ctx, op, result)
	}
}

// ReleaseStale releases the leases the store says this home agent serves
// but that no IKE SA holds: what a home agent that stopped without
// releasing (a crash, a kill) left bound. A home agent calls it at start-up,
// before it serves; the leases stay reserved for their identities. It
// returns the addresses released.
func (p *LeasePool) ReleaseStale(ctx context.Context) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	ls, err := p.cfg.Store.List(ctx, store.Filter{Owner: p.cfg.Owner})
	if err != nil {
		return nil, err
	}
	var released []netip.Addr
	var errs []error
	for _, l := range ls {
		p.mu.Lock()
		_, held := p.held[l.HoA]
		p.mu.Unlock()
		if held || !l.Served() {
			continue
		}
		if _, err := p.release(ctx, l.HoA, l.Identity); err != nil {
			errs = append(errs, err)
			continue
		}
		released = append(released, l.HoA)
	}
	return released, errors.Join(errs...)
}

// SetCareOf records the node's care-of address and port with the lease of
// hoa (store.Attributes.CareOf), keeping its other attributes; a lease that
// is not this home agent's is left alone.
func (p *LeasePool) SetCareOf(ctx context.Context, hoa netip.Addr, careOf netip.AddrPort) error {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	for range 3 {
		cur, err := p.cfg.Store.Lease(ctx, hoa)
		if err != nil {
			return err
		}
		if cur.Owner != p.cfg.Owner || cur.CareOf == careOf {
			return nil
		}
		a := cur.Attributes
		a.CareOf = careOf
		a.TicketHash = slices.Clone(a.TicketHash)
		if _, err = p.cfg.Store.SetAttributes(ctx, hoa, cur.Revision, a); !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("lease of %v: %w", hoa, store.ErrConflict)
}

// Held returns the addresses IKE SAs hold now, sorted.
func (p *LeasePool) Held() []netip.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]netip.Addr, 0, len(p.held))
	for a := range p.held {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// Prefix returns the home prefix (invalid without IPv6 addresses).
func (p *LeasePool) Prefix() netip.Prefix { return p.cfg.Prefix }
