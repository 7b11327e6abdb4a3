package homeagent

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/mip6ha/mip6ha/homeagent/admin"
	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/telemetry"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
	"github.com/mip6ha/mip6ha/mip6"
	"github.com/mip6ha/mip6ha/mip6/mh"
	"github.com/mip6ha/mip6ha/policy"
)

// Make-before-break moves of a node from this home agent (the old one) to
// another member (docs/cluster.md has the protocol step by step):
//
//  1. the lease of each of the node's home addresses is marked moving to
//     the target, with a deadline (mip6.grace_period), the move's trace
//     context and the hash of a handover ticket (store.Leases.MarkMoving,
//     a compare-and-swap);
//  2. the node is told: a Home Agent Switch (RFC 5142) naming the target,
//     with a Binding Refresh Advice of the grace period and the handover
//     option (ticket, trace context, the target's IKE endpoint), for a node
//     with a binding; an INFORMATIONAL REDIRECT (RFC 5685 §5) with the
//     ticket for a VPN-only peer;
//  3. the node sets up its IKE SA with the target, which transfers the
//     lease (store.Leases.Transfer, a compare-and-swap) and defends the home
//     address once its Binding Acknowledgement goes out;
//  4. this home agent sees the lease change in its lease watch: the move is
//     done. It keeps forwarding into the node's old tunnel until the node
//     deregisters, deletes its old IKE SA or ike.redirect.grace passes;
//  5. a move the node does not complete by the deadline is called off
//     (store.Leases.CancelMove): the lease is this member's again.
//
// The mover keeps the moves under way, paces the moves it starts on its own
// (policy.Limiter at cluster.move_rate), and answers the lease watch.

// Move reasons besides the policy's reason names.
const (
	moveReasonCommand = "command" // an operator's move
	moveReasonDrain   = "drain"   // a drain
)

// errCannotTell is wrapped by the errors of moves no attempt can start:
// the node cannot be told to move to that member at all.
var errCannotTell = errors.New("the node cannot be told to move there")

// ticketHash is the hash of a handover ticket that the lease records
// (store.Move.TicketHash): the new home agent compares the ticket a node
// presents with it.
func ticketHash(t []byte) []byte {
	h := sha256.Sum256(t)
	return h[:]
}

// servedNode is a node served here: the IKE SA that holds its home addresses and,
// for a Mobile IPv6 node, its binding.
type servedNode struct {
	peer    peer
	binding mip6.Binding
	// bound: the node has a valid binding (it is told to move with a Home
	// Agent Switch); otherwise it is a VPN-only peer (an INFORMATIONAL
	// REDIRECT).
	bound bool
}

// identity returns the node's identity as the store records it.
func (n servedNode) identity() string { return IdentityOf(n.peer.identity) }

// hoa returns the node's first home address (IPv6 before IPv4).
func (n servedNode) hoa() netip.Addr {
	if hs := n.peer.homeAddresses(); len(hs) > 0 {
		return hs[0]
	}
	return netip.Addr{}
}

// target is where a node is moved.
type target struct {
	member string
	// gateway is the member's IKE endpoint for the node (port 0: the
	// standard ports).
	gateway netip.AddrPort
	// has is the member's IPv6 address a Home Agent Switch names (its
	// address on the home link, where the node sends its Binding Updates).
	has netip.Addr
}

// targetOf turns a policy decision into a target, with the member's IPv6
// address for the Home Agent Switch from its record.
func moveTargetOf(d policy.Decision, m policy.Member) target {
	t := target{member: d.Target, gateway: netip.AddrPortFrom(d.Addr, d.Port)}
	if d.Addr.Is6() {
		t.has = d.Addr
	} else {
		t.has = firstIPv6(m.Addrs)
	}
	return t
}

// memberTarget is the target member m for a node whose outer address is
// remote: its first address of remote's family on the standard ports,
// else, for a node that can follow a port, its first NAT address of that
// family, else (cluster.cross_family) its first address.
func memberTarget(m policy.Member, remote netip.Addr, portCapable, crossFamily bool) (target, bool) {
	t := target{member: m.ID, has: firstIPv6(m.Addrs)}
	for _, a := range m.Addrs {
		if a.Is4() == remote.Is4() {
			t.gateway = netip.AddrPortFrom(a, 0)
			return t, true
		}
	}
	if portCapable {
		for _, ap := range m.NATAddrs {
			if ap.Addr().Is4() == remote.Is4() {
				t.gateway = ap
				return t, true
			}
		}
	}
	if crossFamily && len(m.Addrs) > 0 {
		t.gateway = netip.AddrPortFrom(m.Addrs[0], 0)
		return t, true
	}
	return t, false
}

func firstIPv6(as []netip.Addr) netip.Addr {
	for _, a := range as {
		if a.Is6() {
			return a
		}
	}
	return netip.Addr{}
}

// move is one move under way.
type move struct {
	identity string
	peer     ike.ID
	sa       SAID
	method   string // admin.MethodHomeAgentSwitch or admin.MethodRedirect
	reason   string
	hoas     []netip.Addr
	// revs are the revisions MarkMoving wrote; pending the home
	// addresses whose lease has not changed owner yet.
	revs     map[netip.Addr]store.Revision
	pending  map[netip.Addr]bool
	to       target
	started  time.Time
	deadline time.Time
	ticket   []byte
	// ctx carries the move's span (telemetry.SpanMove): everything the
	// move does is below it.
	ctx   context.Context
	span  trace.Span
	timer *time.Timer
	drain *drainRun // the drain that started it, or nil
}

// mover runs the moves this home agent starts.
type mover struct {
	s      *Service
	grace  time.Duration // mip6.grace_period: deadline and Binding Refresh Advice
	linger time.Duration // ike.redirect.grace: how long a node's old IKE SA may stay

	mu      sync.Mutex
	limiter *policy.Limiter // cluster.move_rate: re-evaluations and operator moves
	moves   map[netip.Addr]*move
	// departed holds the revision at which a lease an IKE SA here holds
	// was seen served by another member; it counts (departedLocked) only
	// while it is newer than this member's latest acquisition of the
	// lease, so that a lease that came back, whichever way, is this
	// member's again.
	departed map[netip.Addr]store.Revision
	arrivals map[netip.Addr]arrival
	closed   bool
	timers   sync.WaitGroup // deadline callbacks and moves started in the background
}

// arrival is a lease this member took over from another one (a Transfer
// at the end of a move, or a Takeover after the other's membership
// lapsed): the new agent's side of a move.
type arrival struct {
	from     string
	at       time.Time
	takeover bool
	// trace is the traceparent of the move's span (Transfer only): the
	// node's first Binding Update here joins the move's trace.
	trace string
	// movedAt is when the old member marked the lease moving (the lease's
	// UpdatedAt then: the old member's clock), the start of the handover.
	movedAt time.Time
	// served: this member serves the address now (the node's first
	// Binding Update here was accepted, or a VPN-only peer's address is
	// defended).
	served bool
}

func newMover(s *Service) (*mover, error) {
	lim, err := s.cfg.PolicyConfig().NewLimiter()
	if err != nil {
		return nil, err
	}
	return &mover{s: s, grace: s.cfg.MIP6.GracePeriod, linger: s.cfg.IKE.Redirect.Grace, limiter: lim,
		moves: map[netip.Addr]*move{}, departed: map[netip.Addr]store.Revision{}, arrivals: map[netip.Addr]arrival{}}, nil
}

// wait takes a token of the move rate limit, waiting for it until ctx
// ends.
func (m *mover) wait(ctx context.Context) error {
	for {
		m.mu.Lock()
		now := time.Now()
		if m.limiter.Allow(now) {
			m.mu.Unlock()
			return nil
		}
		next := m.limiter.Next(now)
		m.mu.Unlock()
		t := time.NewTimer(time.Until(next))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w: waiting for the move rate limit (cluster.move_rate): %w", admin.ErrUnavailable, ctx.Err())
		}
	}
}

// start moves the node n to t, make-before-break, and returns once the
// node has been told (its lease marked moving, the Home Agent Switch
// queued or the REDIRECT sent). ctx is the request's: the move's span is
// its child, but the move outlives it.
func (m *mover) start(ctx context.Context, n servedNode, t target, reason string, dr *drainRun) (admin.Move, error) {
	s := m.s
	self := s.cfg.Cluster.MemberID
	mv := &move{identity: n.identity(), peer: n.peer.identity, sa: n.peer.id, reason: reason, hoas: n.peer.homeAddresses(),
		revs: map[netip.Addr]store.Revision{}, pending: map[netip.Addr]bool{}, to: t, drain: dr,
		method: admin.MethodRedirect}
	if n.bound {
		mv.method = admin.MethodHomeAgentSwitch
	}
	switch {
	case len(mv.hoas) == 0:
		return admin.Move{}, fmt.Errorf("%w: %s holds no home address", admin.ErrNotFound, mv.identity)
	case t.member == self:
		return admin.Move{}, fmt.Errorf("%w: %s is served here already", admin.ErrInvalid, mv.identity)
	case mv.method == admin.MethodRedirect && !n.peer.redirectable:
		return admin.Move{}, fmt.Errorf("%w: %w: %s has no binding and did not announce RFC 5685 support",
			admin.ErrConflict, errCannotTell, mv.identity)
	case mv.method == admin.MethodHomeAgentSwitch && !t.has.IsValid():
		return admin.Move{}, fmt.Errorf("%w: %w: member %s has no IPv6 address to name in a Home Agent Switch",
			admin.ErrConflict, errCannotTell, t.member)
	case !t.gateway.Addr().IsValid():
		return admin.Move{}, fmt.Errorf("%w: %w: member %s has no address %s can reach", admin.ErrConflict, errCannotTell,
			t.member, mv.identity)
	case n.bound && n.binding.Switching:
		// RFC 5142 §5.3: a binding told to switch is not extended; the
		// binding cache sends one switch per binding. The node moves,
		// deregisters, or its binding ends: then it can be moved again.
		return admin.Move{}, fmt.Errorf("%w: %s was sent a Home Agent Switch already", admin.ErrConflict, mv.identity)
	}

	// Reserve the node's addresses: one move at a time.
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return admin.Move{}, fmt.Errorf("%w: the home agent is stopping", admin.ErrUnavailable)
	}
	for _, a := range mv.hoas {
		if other := m.moves[a]; other != nil {
			m.mu.Unlock()
			return admin.Move{}, fmt.Errorf("%w: %s is already moving to %s", admin.ErrConflict, mv.identity, other.to.member)
		}
		if m.departedLocked(a) {
			m.mu.Unlock()
			return admin.Move{}, fmt.Errorf("%w: %s has already moved away", admin.ErrConflict, mv.identity)
		}
	}
	for _, a := range mv.hoas {
		m.moves[a] = mv
		mv.pending[a] = true
	}
	m.mu.Unlock()

	mv.started = time.Now()
	mv.deadline = mv.started.Add(m.grace)
	_, mv.span = s.tracer.Start(ctx, telemetry.SpanMove, trace.WithAttributes(
		telemetry.KeyIdentity.String(mv.identity), telemetry.KeyHoA.String(mv.hoas[0].String()),
		telemetry.KeyMember.String(t.member), telemetry.KeyRedirectTarget.String(t.gateway.String()),
		telemetry.KeyRedirectReason.String(reason), attribute.String("mip6ha.move.method", mv.method)))
	mv.ctx = trace.ContextWithSpan(context.Background(), mv.span)
	if k := s.rt.ticketKey(); k != nil {
		mv.ticket = k.issue(n.peer.identity, n.peer.assigned, self, mv.deadline)
	}

	var err error
	for _, a := range mv.hoas {
		var l store.Lease
		if l, err = m.markMoving(mv, a); err != nil {
			break
		}
		// Under the lock: the lease watch reads the revision (moving)
		// as soon as the move is in m.moves.
		m.mu.Lock()
		mv.revs[a] = l.Revision
		m.mu.Unlock()
	}
	if err == nil {
		err = m.tell(ctx, n, mv)
	}
	if err != nil {
		m.rollback(mv)
		mv.drain = nil // a drain counts the moves it could not start itself
		m.end(mv, telemetry.ResultError, err)
		return admin.Move{}, err
	}

	m.mu.Lock()
	if !m.closed {
		m.timers.Add(1)
		mv.timer = time.AfterFunc(m.grace, func() {
			defer m.timers.Done()
			m.lapse(mv)
		})
	}
	m.mu.Unlock()
	s.log.Info("move started", "identity", mv.identity, "hoa", mv.hoas[0].String(), "to", t.member,
		"gateway", t.gateway.String(), "method", mv.method, "reason", reason, "deadline", mv.deadline.Format(time.RFC3339Nano),
		"ticket", mv.ticket != nil, "trace_id", mv.span.SpanContext().TraceID().String())
	out := admin.Move{Identity: mv.identity, HoA: mv.hoas[0], From: self, To: t.member, Addr: t.gateway.Addr(),
		Method: mv.method, Deadline: mv.deadline}
	if sc := mv.span.SpanContext(); sc.HasTraceID() {
		out.TraceID = sc.TraceID().String()
	}
	return out, nil
}

// markMoving marks the lease of a moving to the move's target (a
// compare-and-swap, read again after a lost one). The lease must be the
// node's and served here.
func (m *mover) markMoving(mv *move, a netip.Addr) (l store.Lease, err error) {
	s := m.s
	ctx, span := s.tracer.Start(mv.ctx, telemetry.LeaseMarkMoving.SpanName(), trace.WithAttributes(
		telemetry.KeyLeaseOperation.String(string(telemetry.LeaseMarkMoving)), telemetry.KeyHoA.String(a.String()),
		telemetry.KeyMember.String(mv.to.member)))
	defer func() {
		result := telemetry.ResultOK
		switch {
		case errors.Is(err, store.ErrConflict):
			result = telemetry.ResultConflict
		case err != nil:
			result = telemetry.ResultError
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
		}
		span.SetAttributes(telemetry.KeyResult.String(result), telemetry.KeyLeaseRevision.Int64(int64(l.Revision)))
		span.End()
		s.metrics.RecordLeaseOperation(ctx, telemetry.LeaseMarkMoving, result)
	}()
	ctx, cancel := context.WithTimeout(ctx, DefaultStoreTimeout)
	defer cancel()
	self := s.cfg.Cluster.MemberID
	for range 3 {
		cur, err := s.store.Lease(ctx, a)
		if err != nil {
			return store.Lease{}, err
		}
		switch {
		case cur.Identity != mv.identity || cur.Owner != self || !cur.Served():
			return store.Lease{}, fmt.Errorf("%w: the lease of %v is not %s's here (owner %q, %v)", admin.ErrConflict, a,
				mv.identity, cur.Owner, cur.State)
		case cur.State == store.StateMoving:
			return store.Lease{}, fmt.Errorf("%w: the lease of %v is already moving to %s", admin.ErrConflict, a, cur.MovingTo)
		}
		l, err = s.store.MarkMoving(ctx, a, cur.Revision, store.Move{From: self, To: mv.to.member, Deadline: mv.deadline,
			TicketHash: hashOrNil(mv.ticket)})
		if !errors.Is(err, store.ErrConflict) {
			return l, err
		}
	}
	return store.Lease{}, err
}

func hashOrNil(t []byte) []byte {
	if t == nil {
		return nil
	}
	return ticketHash(t)
}

// tell tells the node to move: a Home Agent Switch for a node with a
// binding (sent by the binding cache's timer, at mip6.has_rate, with the
// handover option added on the way out), an INFORMATIONAL REDIRECT for a
// VPN-only peer.
func (m *mover) tell(ctx context.Context, n servedNode, mv *move) error {
	s := m.s
	if mv.method == admin.MethodHomeAgentSwitch {
		if err := s.ha.Switch(time.Now(), n.binding.HoA, []netip.Addr{mv.to.has}, m.grace); err != nil {
			return fmt.Errorf("%w: %w", admin.ErrConflict, err)
		}
		s.mobility.post(func(context.Context) {}) // the mobility goroutine re-arms its timer for the switch
		return nil
	}
	gw := wire.GatewayAddr(mv.to.gateway.Addr())
	if mv.to.gateway.Port() != 0 {
		gw = wire.GatewayAddrPort(mv.to.gateway)
	}
	if err := s.rt.Redirect(ctx, mv.sa, ike.RedirectTarget{Gateway: gw, Ticket: mv.ticket}); err != nil {
		if errors.Is(err, ErrNoRedirect) || errors.Is(err, ErrNoSA) {
			return fmt.Errorf("%w: %w", admin.ErrConflict, err)
		}
		return err
	}
	return nil
}

// ticketKey returns the runtime's handover ticket key (RedirectOptions.TicketKey,
// cluster.ticket_key), nil without one.
func (rt *Runtime) ticketKey() *ticketKey {
	if rt.redirect == nil {
		return nil
	}
	return rt.redirect.tickets
}

// handoverOption returns the handover option for a Home Agent Switch to
// the node of hoa, and the move's context; ok is false when no move of
// hoa is under way.
func (m *mover) handoverOption(hoa netip.Addr) (HandoverOption, context.Context, bool) {
	m.mu.Lock()
	mv := m.moves[hoa]
	m.mu.Unlock()
	if mv == nil {
		return HandoverOption{}, nil, false
	}
	return HandoverOption{Ticket: mv.ticket, TraceContext: telemetry.Traceparent(mv.ctx), Gateway: mv.to.gateway}, mv.ctx, true
}

// rollback calls a move off before the node was told (or when telling it
// failed): each lease marked moving is returned to bound.
func (m *mover) rollback(mv *move) {
	m.mu.Lock()
	for _, a := range mv.hoas {
		if m.moves[a] == mv {
			delete(m.moves, a)
		}
	}
	m.mu.Unlock()
	for a := range mv.revs {
		if err := m.cancelLease(mv, a); err != nil {
			m.s.log.Warn("move not called off in the store", "hoa", a.String(), "err", err)
		}
	}
}

// cancelLease returns the lease of a to bound here if it is still moving
// to the move's target (store.Leases.CancelMove, a compare-and-swap). It
// reports store.ErrOwnedElsewhere when the target took it meanwhile.
func (m *mover) cancelLease(mv *move, a netip.Addr) error {
	s := m.s
	ctx, cancel := context.WithTimeout(mv.ctx, DefaultStoreTimeout)
	defer cancel()
	for range 3 {
		cur, err := s.store.Lease(ctx, a)
		if err != nil {
			return err
		}
		switch {
		case cur.Owner != s.cfg.Cluster.MemberID:
			return fmt.Errorf("%w: %s took it", store.ErrOwnedElsewhere, cur.Owner)
		case cur.State != store.StateMoving || cur.MovingTo != mv.to.member:
			return nil
		}
		if _, err = s.store.CancelMove(ctx, a, cur.Revision); !errors.Is(err, store.ErrConflict) {
			return err
		}
	}
	return fmt.Errorf("lease of %v: %w", a, store.ErrConflict)
}

// lapse calls off a move whose deadline passed: the leases not taken over
// are bound here again.
func (m *mover) lapse(mv *move) {
	m.callOff(mv, telemetry.ResultTimeout, errors.New("deadline passed"),
		"move lapsed: the node did not reach the new home agent before the deadline; it stays here")
}

// refused calls off at once the move of a whose node answered the Home
// Agent Switch with a Binding Error (status 2: it does not know the
// message, RFC 5142 §5.3) rather than wait for the deadline, so that an
// operator's move or a drain learns it failed. The binding here is not
// extended (RFC 5142 §5.3): the node registers anew once it has expired.
// A move whose deadline timer is not set yet, or has fired, is left to
// lapse.
func (m *mover) refused(a netip.Addr) {
	m.mu.Lock()
	mv := m.moves[a]
	stopped := mv != nil && mv.method == admin.MethodHomeAgentSwitch && mv.timer != nil && mv.timer.Stop()
	m.mu.Unlock()
	if !stopped {
		return
	}
	// In the background, as the stopped timer would have (its count in
	// m.timers passes on): the store calls must not hold up the caller,
	// the mobility goroutine.
	go func() {
		defer m.timers.Done()
		m.callOff(mv, telemetry.ResultError, errors.New("the node refused the Home Agent Switch (Binding Error status 2)"),
			"move called off: the node refused the Home Agent Switch; it stays here")
	}()
}

// callOff ends a move that did not complete: the leases not taken over are
// bound here again, and the move ends with result (logging msg) unless the
// target took every lease meanwhile.
func (m *mover) callOff(mv *move, result string, cause error, msg string) {
	m.mu.Lock()
	var pending []netip.Addr
	for a := range mv.pending {
		pending = append(pending, a)
	}
	m.mu.Unlock()
	if len(pending) == 0 {
		return
	}
	var moved []store.Lease
	for _, a := range pending {
		err := m.cancelLease(mv, a)
		if errors.Is(err, store.ErrOwnedElsewhere) {
			if l, rerr := m.s.store.Lease(mv.ctx, a); rerr == nil {
				moved = append(moved, l)
			}
			continue
		}
		if err != nil {
			m.s.log.Warn("lapsed move not called off in the store", "hoa", a.String(), "err", err)
		}
	}
	for _, l := range moved { // the target won the race with the deadline
		m.s.leaseChanged(l)
	}
	m.mu.Lock()
	still := false
	for _, a := range mv.hoas {
		if m.moves[a] == mv {
			still = true
			delete(m.moves, a)
		}
	}
	m.mu.Unlock()
	if still {
		m.s.log.Warn(msg, "identity", mv.identity, "hoa", mv.hoas[0].String(), "to", mv.to.member, "method", mv.method)
		m.end(mv, result, cause)
	}
}

// departedLease records that the lease l, which an IKE SA here holds,
// is now served by another member, and completes the move that sent it
// there. It reports whether the lease was new to the departed set, and
// whether a move of ours sent it away.
func (m *mover) departedLease(l store.Lease) (isNew, ours bool) {
	m.mu.Lock()
	if m.departedLocked(l.HoA) {
		m.mu.Unlock()
		return false, false
	}
	m.departed[l.HoA] = l.Revision
	mv := m.moves[l.HoA]
	done := false
	if mv != nil {
		delete(mv.pending, l.HoA)
		delete(m.moves, l.HoA)
		done = len(mv.pending) == 0
		if done && mv.timer != nil {
			if mv.timer.Stop() {
				m.timers.Done()
			}
		}
	}
	m.mu.Unlock()
	if done {
		m.s.log.Info("node moved", "identity", mv.identity, "hoa", mv.hoas[0].String(), "to", l.Owner,
			"method", mv.method, "duration", time.Since(mv.started).String())
		m.end(mv, telemetry.ResultOK, nil)
	}
	return true, mv != nil
}

// moving returns the revision MarkMoving wrote for a, and whether a move
// of a is under way.
func (m *mover) moving(a netip.Addr) (store.Revision, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	mv := m.moves[a]
	if mv == nil {
		return 0, false
	}
	return mv.revs[a], true
}

// isDeparted reports whether the lease of a moved away.
func (m *mover) isDeparted(a netip.Addr) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.departedLocked(a)
}

// departedLocked reports whether the lease of a, which an IKE SA here
// holds, is served by another member: it was seen there after this member
// last acquired it. m.mu is held (it is taken before the pool's lock).
func (m *mover) departedLocked(a netip.Addr) bool {
	rev, ok := m.departed[a]
	if !ok {
		return false
	}
	acquired, held := m.s.pool.heldRevision(a)
	return held && rev > acquired
}

// forget drops what the mover knows of a once no IKE SA here holds it.
func (m *mover) forget(a netip.Addr) {
	m.mu.Lock()
	delete(m.departed, a)
	delete(m.arrivals, a)
	m.mu.Unlock()
}

// arrived records a lease this member took over: a Transfer of a lease
// moving here (before its deadline, store.Leases.Transfer), else a
// Takeover.
func (m *mover) arrived(prev, l store.Lease) {
	transfer := prev.State == store.StateMoving && prev.MovingTo == l.Owner && !l.UpdatedAt.After(prev.Deadline)
	a := arrival{from: prev.Owner, at: time.Now(), takeover: !transfer}
	if !a.takeover {
		a.trace, a.movedAt = l.TraceContext, prev.UpdatedAt
	}
	m.mu.Lock()
	m.arrivals[l.HoA] = a
	delete(m.departed, l.HoA)
	m.mu.Unlock()
}

// arrivalOf returns the arrival record of hoa.
func (m *mover) arrivalOf(hoa netip.Addr) (arrival, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.arrivals[hoa]
	return a, ok
}

// served notes that this member now serves the arrived address hoa: the
// handover that brought it here is complete. The first time, it records
// the handover's duration, from the moment the old member marked the lease
// moving (its clock: the members' clocks must agree) until now. It
// returns the arrival and whether this was the first time.
func (m *mover) served(ctx context.Context, hoa netip.Addr) (arrival, bool) {
	m.mu.Lock()
	a, ok := m.arrivals[hoa]
	first := ok && !a.served
	if first {
		a.served = true
		m.arrivals[hoa] = a
	}
	m.mu.Unlock()
	if first && !a.movedAt.IsZero() {
		m.s.metrics.RecordHandover(ctx, max(time.Since(a.movedAt), 0), telemetry.ResultOK)
	}
	return a, first
}

// end finishes a move's span. The duration of a move that succeeded is
// recorded by the new member, when it serves the address (served); one
// that failed or lapsed is recorded here.
func (m *mover) end(mv *move, result string, err error) {
	if err != nil {
		mv.span.RecordError(err)
		mv.span.SetStatus(codes.Error, err.Error())
	}
	mv.span.SetAttributes(telemetry.KeyResult.String(result))
	mv.span.End()
	if result != telemetry.ResultOK {
		m.s.metrics.RecordHandover(mv.ctx, time.Since(mv.started), result)
	}
	if mv.drain != nil {
		mv.drain.finished(mv.identity, result == telemetry.ResultOK)
	}
}

// reevaluate asks the placement policy whether the node n, whose care-of
// address just changed, should move (policy.Reevaluate: only distance
// moves a bound node, with hysteresis and the loop guard), and starts the
// move in the background if so and the move rate allows. It does not block.
func (m *mover) reevaluate(n servedNode) {
	s := m.s
	d := s.cluster.policy().Reevaluate(policy.Reevaluate{Binding: s.policyBinding(n), Now: time.Now()})
	if d.Action != policy.ActionRedirect {
		return
	}
	mem, ok := s.cluster.member(d.Target)
	if !ok {
		return
	}
	m.mu.Lock()
	_, busy := m.moves[n.hoa()]
	allowed := !busy && !m.closed && !m.departedLocked(n.hoa()) && m.limiter.Allow(time.Now())
	if allowed {
		m.timers.Add(1)
	}
	m.mu.Unlock()
	if !allowed {
		if !busy {
			s.log.Debug("re-evaluation would move the node; held back by the move rate", "identity", n.identity(), "to", d.Target)
		}
		return
	}
	go func() {
		defer m.timers.Done()
		if _, err := m.start(context.Background(), n, moveTargetOf(d, mem), d.Reason.String(), nil); err != nil {
			s.log.Warn("move after re-evaluation not started", "identity", n.identity(), "to", d.Target, "err", err)
		}
	}()
}

// close stops the mover: no move starts any more, the moves under way are
// abandoned (their leases are released with the IKE SAs at shutdown), and
// close returns once no deadline callback or background start runs.
func (m *mover) close() {
	m.mu.Lock()
	m.closed = true
	var open []*move
	for _, mv := range m.moves {
		if !slices.Contains(open, mv) {
			open = append(open, mv)
		}
	}
	for _, mv := range open {
		if mv.timer != nil && mv.timer.Stop() {
			m.timers.Done()
		}
	}
	m.moves = map[netip.Addr]*move{}
	m.mu.Unlock()
	m.timers.Wait()
	for _, mv := range open {
		m.end(mv, telemetry.ResultError, errors.New("home agent stopping"))
	}
}

// homeAgentSwitchSent adds the handover option to a Home Agent Switch the
// binding cache is about to send, and records the switch in the move's
// trace.
func (m *mover) homeAgentSwitchSent(out *mip6.Outgoing, b mip6.Binding) {
	has, ok := out.Message.(mh.HomeAgentSwitch)
	if !ok {
		return
	}
	opt, ctx, ok := m.handoverOption(b.HoA)
	if !ok {
		return
	}
	has.Options = opt.Append(slices.Clone(has.Options))
	out.Message = has
	_, span := m.s.tracer.Start(ctx, telemetry.SpanHomeAgentSwitch, trace.WithAttributes(
		telemetry.KeyHoA.String(b.HoA.String()), telemetry.KeyCoA.String(b.CoA.String()),
		telemetry.KeyMember.String(opt.Gateway.String()), attribute.Bool("mip6ha.ticket", opt.Ticket != nil)))
	span.End()
}
