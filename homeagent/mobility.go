package homeagent

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/mip6ha/mip6ha/homeagent/dataplane"
	"github.com/mip6ha/mip6ha/homeagent/homelink"
	"github.com/mip6ha/mip6ha/homeagent/telemetry"
	"github.com/mip6ha/mip6ha/mip6"
	"github.com/mip6ha/mip6ha/mip6/mh"
)

// mobilityQueue bounds the Mobility Header packets waiting for the
// mobility goroutine; more are dropped and counted (mip6-queue-full).
const mobilityQueue = 1024

// mobility is the home agent's Mobile IPv6 half (RFC 6275 §10, RFC 4877):
// one goroutine that owns the binding cache's side effects. Mobility Header
// packets arrive from the dataplane (Config.Intercept) with the CHILD_SA
// they came through; the SA's authenticated identity and the home address
// leased to it decide what it may register (mip6.Context). The goroutine
// carries out each decision in the order of the mip6 actions: Duplicate
// Address Detection, the defence of the home address on the home link
// (route, proxy neighbour entry, unsolicited Neighbor Advertisement), the
// move of the IKE SA and ESP to a new care-of address (K flag), and the
// Binding Acknowledgement last, sent back down the same CHILD_SA. It also
// runs the binding cache's timers (expiry, Home Agent Switch, Binding
// Refresh Request), ends the bindings of IKE SAs that end, and defends the
// addresses of VPN-only peers.
type mobility struct {
	s     *Service
	queue chan mhPacket

	queueDrops atomic.Uint64 // queue full
	noSA       atomic.Uint64 // the CHILD_SA is gone or not established

	mu     sync.Mutex
	jobs   []func(ctx context.Context)
	wake   chan struct{}
	closed bool

	// The goroutine's own state.
	defended  map[netip.Addr]int         // holders of each defended address
	bound     map[netip.Addr]*boundHoA   // bindings in force, by home address
	vpn       map[SAID][]netip.Addr      // addresses defended for VPN-only peers
	vpnTimers map[SAID]*time.Timer       // VPN-only checks pending
	lingers   map[netip.Addr]*time.Timer // moved-away addresses still forwarded
	dads      sync.WaitGroup             // DAD goroutines
	timer     *time.Timer                // the binding cache's next deadline
	armed     time.Time
}

// mhPacket is a Mobility Header packet that came through a CHILD_SA.
type mhPacket struct {
	inSPI  uint32
	remote netip.AddrPort // outer source of the ESP datagram
	pkt    []byte
}

// boundHoA is a binding the home agent serves: which IKE SA registered it
// last, what it defends for it, and the care-of endpoint recorded in its
// lease.
type boundHoA struct {
	sa       SAID
	defended []netip.Addr
	careOf   netip.AddrPort
}

func newMobility(s *Service) *mobility {
	return &mobility{s: s, queue: make(chan mhPacket, mobilityQueue), wake: make(chan struct{}, 1),
		defended: map[netip.Addr]int{}, bound: map[netip.Addr]*boundHoA{}, vpn: map[SAID][]netip.Addr{},
		vpnTimers: map[SAID]*time.Timer{}, lingers: map[netip.Addr]*time.Timer{}}
}

// intercept is the dataplane's Intercept hook: a Mobility Header packet
// addressed to this host is queued for the mobility goroutine (or dropped
// and counted when the queue is full); one for another destination (a Home
// Test Init a node sends to a correspondent) goes its way.
func (m *mobility) intercept(sa *dataplane.SA, remote netip.AddrPort, pkt []byte) bool {
	if !m.s.local.has(netip.AddrFrom16([16]byte(pkt[24:40]))) {
		return false
	}
	select {
	case m.queue <- mhPacket{inSPI: sa.SPI(), remote: remote, pkt: append([]byte(nil), pkt...)}:
	default:
		m.queueDrops.Add(1)
	}
	return true
}

// post queues f for the mobility goroutine. It never blocks; after the
// goroutine has finished, f is dropped.
func (m *mobility) post(f func(ctx context.Context)) {
	m.mu.Lock()
	if !m.closed {
		m.jobs = append(m.jobs, f)
	}
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

func (m *mobility) runJobs(ctx context.Context) {
	m.mu.Lock()
	jobs := m.jobs
	m.jobs = nil
	m.mu.Unlock()
	for _, f := range jobs {
		f(ctx)
	}
}

// run is the mobility goroutine. When ctx ends it finishes the work
// already posted (the ends of IKE SAs deleted at shutdown), waits for the
// DADs under way and withdraws every defence.
func (m *mobility) run(ctx context.Context) {
	m.timer = time.NewTimer(time.Hour)
	m.timer.Stop()
	defer m.timer.Stop()
	for {
		select {
		case p := <-m.queue:
			m.handle(ctx, p)
		case <-m.wake:
			m.runJobs(ctx)
		case <-m.timer.C:
			m.armed = time.Time{}
			m.tick(ctx, time.Now())
		case <-ctx.Done():
			m.finish()
			return
		}
		m.arm()
	}
}

// finish ends the goroutine's work at shutdown.
func (m *mobility) finish() {
	ctx := context.Background()
	m.runJobs(ctx)
	m.dads.Wait()
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.runJobs(ctx)
	for id, t := range m.vpnTimers {
		t.Stop()
		delete(m.vpnTimers, id)
	}
	for a, t := range m.lingers {
		t.Stop()
		delete(m.lingers, a)
	}
	for id := range m.vpn {
		m.releaseVPN(ctx, id)
	}
	for hoa := range m.bound {
		m.s.ha.Delete(hoa)
		m.unbind(ctx, hoa, "home agent stopping")
	}
}

// arm sets the timer to the binding cache's next deadline.
func (m *mobility) arm() {
	at := m.s.ha.NextDeadline(time.Now())
	if at.IsZero() || at.Equal(m.armed) {
		return
	}
	m.armed = at
	m.timer.Reset(max(time.Until(at), time.Millisecond))
}

// handle processes one Mobility Header packet from a CHILD_SA.
func (m *mobility) handle(ctx context.Context, p mhPacket) {
	s := m.s
	pr, ok := s.peers.byChild(p.inSPI)
	if !ok {
		m.noSA.Add(1)
		return
	}
	m.stopVPNCheck(pr.id)
	now := time.Now()
	// A node whose lease this member took over (the end of a move, or a
	// takeover) holds an address the store guarantees unique: no DAD, which
	// would find the old home agent still defending it. Its first Binding
	// Update here joins the move's trace.
	arr, arrived := s.mover.arrivalOf(pr.assigned.IPv6.Addr())
	var span trace.Span
	if _, h, _ := mh.ParsePacket(p.pkt); h != nil && h.Type() == mh.TypeBindingUpdate {
		spanCtx := ctx
		if arrived && !arr.served && arr.trace != "" {
			spanCtx, _ = telemetry.ContextWithTraceparent(ctx, arr.trace)
		}
		ctx, span = s.tracer.Start(spanCtx, telemetry.SpanBindingUpdate, trace.WithAttributes(
			telemetry.KeyIdentity.String(IdentityOf(pr.identity)), telemetry.KeyCoA.String(p.remote.String())))
		defer span.End()
	}
	res := s.ha.Receive(now, mip6.Context{
		Identity:          IdentityOf(pr.identity),
		AuthorizedHoA:     pr.assigned.IPv6.Addr(),
		AuthorizedIPv4HoA: pr.assigned.IPv4,
		InTunnel:          true,
		AddressUnique:     arrived,
	}, p.pkt)
	if res.Send.Message != nil {
		m.send(res.Send.AppendPacket(nil), "Binding Error")
	}
	if res.ICMP != nil {
		m.send(res.ICMP, "ICMPv6 Parameter Problem")
	}
	if res.SwitchRefused {
		s.mover.refused(pr.assigned.IPv6.Addr())
	}
	if res.Drop != mip6.DropNone && res.Drop != mip6.DropDADInProgress {
		level := s.log.Debug
		if res.Drop == mip6.DropNotAuthorized || res.Drop == mip6.DropChecksum {
			level = s.log.Info
		}
		level("Mobility Header message dropped", "sa", pr.id, "peer", IdentityOf(pr.identity), "type", res.Type.String(),
			"reason", res.Drop.String(), "remote", p.remote.String())
		if span != nil {
			span.SetAttributes(telemetry.KeyResult.String(res.Drop.String()))
			span.SetStatus(codes.Error, res.Drop.String())
		}
		return
	}
	if res.Type != mh.TypeBindingUpdate || res.Drop == mip6.DropDADInProgress {
		return
	}
	m.decided(ctx, &res.Decision, pr, p.remote)
	if span != nil {
		b := res.Decision.Binding
		span.SetAttributes(telemetry.KeyHoA.String(b.HoA.String()), telemetry.KeySequence.Int(int(b.Sequence)),
			telemetry.KeyStatus.Int(int(res.Decision.Status)), telemetry.KeyLifetime.Int64(int64(time.Until(b.Expires)/time.Second)),
			telemetry.KeyResult.String(res.Decision.Verdict.String()))
	}
}

// decided carries out a Binding Update's decision.
func (m *mobility) decided(ctx context.Context, d *mip6.Decision, pr peer, remote netip.AddrPort) {
	switch d.Verdict {
	case mip6.Pending:
		m.startDAD(ctx, d, pr, remote)
		return
	case mip6.Accepted, mip6.Rejected:
		m.s.metrics.RecordBindingUpdate(ctx, uint8(d.Status))
		m.apply(ctx, d, pr, remote)
	}
}

// apply carries out the actions of an accepted or rejected registration,
// in the order of the mip6 action constants: the Binding Acknowledgement
// goes last, once the binding is in place (RFC 6275 §10.3.1).
func (m *mobility) apply(ctx context.Context, d *mip6.Decision, pr peer, remote netip.AddrPort) {
	s, b, a := m.s, d.Binding, d.Actions
	if d.Verdict == mip6.Accepted && b.State == mip6.StateValid {
		bh := m.bound[b.HoA]
		if bh == nil {
			bh = &boundHoA{}
			m.bound[b.HoA] = bh
			s.metrics.AddBindings(ctx, 1)
			s.log.Info("binding created", "hoa", b.HoA.String(), "coa", b.CoA.String(), "peer", b.Identity,
				"sa", pr.id, "remote", remote.String(), "lifetime", time.Until(b.Expires).Round(time.Second).String())
		} else if a&mip6.ActionInstallRoute != 0 {
			s.log.Info("binding moved to a new care-of address", "hoa", b.HoA.String(), "coa", b.CoA.String(),
				"previous_coa", d.PreviousCoA.String(), "remote", remote.String())
		}
		bh.sa = pr.id
		// The lease's owner defends the address: not this member once the
		// lease moved away (a late refresh at the old home agent).
		departed := s.mover.isDeparted(b.HoA)
		if a&mip6.ActionDefendHoA != 0 && !departed {
			m.defendFor(ctx, bh, b.HoA)
		}
		if a&mip6.ActionDefendLinkLocal != 0 && !departed {
			m.defendFor(ctx, bh, linkLocalOf(b.HoA))
		}
		if a&mip6.ActionDefendIPv4HoA != 0 && b.IPv4HoA.IsValid() && !departed {
			m.defendFor(ctx, bh, b.IPv4HoA)
		}
		if arr, first := s.mover.served(ctx, b.HoA); first {
			s.log.Info("node arrived: home address served here", "hoa", b.HoA.String(), "peer", b.Identity,
				"from", arr.from, "takeover", arr.takeover, "after", time.Since(arr.at).Round(time.Millisecond).String())
		}
		if a&mip6.ActionMoveKeyManagement != 0 && remote != pr.path.Remote {
			// RFC 6275 §10.3.1 (K = 1): the IKE SA follows the node to
			// the care-of address its Binding Update came from; the
			// dataplane's ESP SAs follow through UpdateEndpoints.
			if err := s.rt.UpdatePeer(ctx, pr.id, remote); err != nil {
				s.log.Warn("IKE SA not moved to the new care-of address", "sa", pr.id, "remote", remote.String(), "err", err)
			} else {
				s.log.Info("IKE SA moved to the new care-of address", "sa", pr.id, "old", pr.path.Remote.String(), "new", remote.String())
			}
		}
		if a&mip6.ActionDiscardKeyManagement != 0 && d.PreviousCoA != b.HoA && remote != pr.path.Remote {
			// K = 0: RFC 6275 §10.3.1 would drop the IKE SA to the old
			// care-of address, but in the all-in-tunnel form (RFC 4877 §3)
			// that SA carries the binding itself. It stays; the node moves
			// it (MOBIKE, or a new IKE SA).
			s.log.Info("care-of address changed without the K flag: IKE SA left where it was", "sa", pr.id,
				"ike_remote", pr.path.Remote.String(), "bu_remote", remote.String())
		}
		if a&mip6.ActionStopDefendingLinkLocal != 0 {
			m.releaseFor(ctx, bh, linkLocalOf(b.HoA))
		}
		if a&mip6.ActionStopDefendingIPv4HoA != 0 {
			for _, x := range bh.defended {
				if x.Is4() {
					m.releaseFor(ctx, bh, x)
				}
			}
		}
		if bh.careOf != remote {
			bh.careOf = remote
			s.careOf.record(ctx, b.HoA, remote)
		}
		// A node that moved (a new care-of address, or a new outer address)
		// may now be clearly nearer another member (RFC 5142 §4).
		if existing := d.PreviousCoA != b.HoA; existing && !departed && !b.Switching &&
			(d.PreviousCoA != b.CoA || remote != pr.path.Remote) {
			moved := pr
			moved.path.Remote = remote
			s.mover.reevaluate(servedNode{peer: moved, binding: b, bound: true})
		}
	}
	if d.Verdict == mip6.Accepted && a&mip6.ActionRemoveRoute != 0 {
		m.unbind(ctx, b.HoA, "deregistered")
	}
	if a&mip6.ActionSendBA != 0 {
		m.send(d.AppendBA(nil), "Binding Acknowledgement")
	}
}

// startDAD runs Duplicate Address Detection for a new binding on its own
// goroutine (it takes a RetransTimer), then completes the registration on
// the mobility goroutine (RFC 6275 §10.3.1).
func (m *mobility) startDAD(ctx context.Context, d *mip6.Decision, pr peer, remote netip.AddrPort) {
	hoa, linkLocal := d.Binding.HoA, d.Actions&mip6.ActionDADLinkLocal != 0
	spanCtx := trace.ContextWithSpan(context.Background(), trace.SpanFromContext(ctx))
	m.dads.Go(func() {
		unique := m.dad(ctx, hoa)
		if unique && linkLocal {
			unique = m.dad(ctx, linkLocalOf(hoa))
		}
		m.post(func(jobCtx context.Context) {
			d, ok := m.s.ha.CompleteDAD(time.Now(), hoa, unique)
			if !ok {
				return
			}
			if cur, ok := m.s.peers.get(pr.id); ok {
				pr = cur
			} else if d.Verdict == mip6.Accepted {
				m.s.ha.Delete(hoa) // the IKE SA ended during DAD
				return
			}
			m.decided(spanCtx, &d, pr, remote)
		})
	})
}

// dad reports whether a is unused on the home link. Without a home link
// there is nobody to ask; an address this home agent already defends (a
// VPN-only peer that turned out to be a mobile node) is its own.
func (m *mobility) dad(ctx context.Context, a netip.Addr) bool {
	if m.s.defender == nil {
		return true
	}
	err := m.s.defender.DAD(ctx, a)
	switch {
	case err == nil, errors.Is(err, homelink.ErrDefended):
		return true
	case errors.Is(err, homelink.ErrDuplicate):
		m.s.log.Warn("duplicate address detected on the home link", "addr", a.String(), "err", err)
		return false
	}
	m.s.log.Warn("duplicate address detection failed", "addr", a.String(), "err", err)
	return false
}

// unbind forgets the binding of hoa and withdraws what it defended.
func (m *mobility) unbind(ctx context.Context, hoa netip.Addr, why string) {
	bh := m.bound[hoa]
	if bh == nil {
		return
	}
	for _, a := range bh.defended {
		m.release(ctx, a)
	}
	delete(m.bound, hoa)
	m.s.metrics.AddBindings(ctx, -1)
	m.s.log.Info("binding ended", "hoa", hoa.String(), "reason", why)
}

// tick runs the binding cache's timers.
func (m *mobility) tick(ctx context.Context, now time.Time) {
	for _, ev := range m.s.ha.Tick(now, nil) {
		switch ev.Kind {
		case mip6.EventExpired:
			m.unbind(ctx, ev.Binding.HoA, "expired")
		case mip6.EventSendHAS:
			m.s.mover.homeAgentSwitchSent(&ev.Send, ev.Binding)
			m.send(ev.Send.AppendPacket(nil), "Home Agent Switch")
		case mip6.EventSendBRR:
			m.send(ev.Send.AppendPacket(nil), "Binding Refresh Request")
		}
	}
}

// send sends a packet of ours (a Mobility Header message, or an ICMPv6
// error about one) down the CHILD_SA of its destination, the mobile node's
// home address.
func (m *mobility) send(pkt []byte, what string) {
	if len(pkt) == 0 {
		return
	}
	if err := m.s.rt.SendInner(pkt); err != nil {
		m.s.log.Warn(what+" not sent", "err", err)
	}
}

// defendFor defends a for the binding bh.
func (m *mobility) defendFor(ctx context.Context, bh *boundHoA, a netip.Addr) {
	for _, x := range bh.defended {
		if x == a {
			return
		}
	}
	if m.defend(ctx, a) {
		bh.defended = append(bh.defended, a)
	}
}

func (m *mobility) releaseFor(ctx context.Context, bh *boundHoA, a netip.Addr) {
	for i, x := range bh.defended {
		if x == a {
			bh.defended = append(bh.defended[:i], bh.defended[i+1:]...)
			m.release(ctx, a)
			return
		}
	}
}

// defend starts defending a on the home link, unless already defended for
// another holder. It reports whether a is now held.
func (m *mobility) defend(ctx context.Context, a netip.Addr) bool {
	m.defended[a]++
	if m.defended[a] > 1 || m.s.defender == nil {
		return true
	}
	ctx, span := m.s.tracer.Start(ctx, telemetry.SpanDataplaneInstall, trace.WithAttributes(telemetry.KeyHoA.String(a.String())))
	defer span.End()
	if err := m.s.defender.Defend(ctx, a); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		m.s.log.Error("home address not defended on the home link", "addr", a.String(), "err", err)
		delete(m.defended, a)
		return false
	}
	return true
}

// release drops one holder of a and stops defending it after the last.
func (m *mobility) release(ctx context.Context, a netip.Addr) {
	if m.defended[a] == 0 {
		return
	}
	if m.defended[a]--; m.defended[a] > 0 {
		return
	}
	delete(m.defended, a)
	if m.s.defender == nil {
		return
	}
	ctx, span := m.s.tracer.Start(ctx, telemetry.SpanDataplaneRemove, trace.WithAttributes(telemetry.KeyHoA.String(a.String())))
	defer span.End()
	if err := m.s.defender.Release(context.WithoutCancel(ctx), a); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		m.s.log.Warn("home address defence not withdrawn", "addr", a.String(), "err", err)
	}
}

// watchVPN starts the VPN-only check of an IKE SA whose CHILD_SA came up
// (called on a shard's goroutine): after grace without a Mobility Header
// message, its addresses are defended on the home link.
func (m *mobility) watchVPN(id SAID, grace time.Duration) {
	m.post(func(ctx context.Context) {
		if _, done := m.vpn[id]; done || m.vpnTimers[id] != nil {
			return
		}
		if grace <= 0 {
			m.checkVPN(ctx, id)
			return
		}
		m.vpnTimers[id] = time.AfterFunc(grace, func() {
			m.post(func(ctx context.Context) { m.checkVPN(ctx, id) })
		})
	})
}

func (m *mobility) stopVPNCheck(id SAID) {
	if t := m.vpnTimers[id]; t != nil {
		t.Stop()
		delete(m.vpnTimers, id)
	}
}

// checkVPN defends the addresses of a peer that sent no Mobility Header
// message within the grace period: a VPN-only peer, reachable on the home
// link without a binding.
func (m *mobility) checkVPN(ctx context.Context, id SAID) {
	delete(m.vpnTimers, id)
	pr, ok := m.s.peers.get(id)
	if !ok || !pr.up || pr.mobile || len(pr.children) == 0 {
		return
	}
	if _, done := m.vpn[id]; done {
		return
	}
	var held []netip.Addr
	for _, a := range pr.homeAddresses() {
		if m.defend(ctx, a) {
			held = append(held, a)
		}
	}
	m.vpn[id] = held
	if len(held) > 0 {
		m.s.log.Info("VPN-only peer (no Binding Update): its addresses are defended on the home link", "sa", id,
			"peer", IdentityOf(pr.identity), "addrs", held)
		if arr, first := m.s.mover.served(ctx, held[0]); first {
			m.s.log.Info("node arrived: home address served here", "hoa", held[0].String(), "peer", IdentityOf(pr.identity),
				"from", arr.from, "takeover", arr.takeover, "after", time.Since(arr.at).Round(time.Millisecond).String())
		}
	}
}

func (m *mobility) releaseVPN(ctx context.Context, id SAID) {
	for _, a := range m.vpn[id] {
		m.release(ctx, a)
	}
	delete(m.vpn, id)
}

// saGone ends what an IKE SA that ended had: its VPN-only defence and the
// bindings it registered last (the SA protected them, RFC 4877 §4;
// a node that re-attached meanwhile registered on its new SA and keeps its
// binding). Called on a shard's goroutine.
func (m *mobility) saGone(p peer) {
	m.post(func(ctx context.Context) {
		m.stopVPNCheck(p.id)
		m.releaseVPN(ctx, p.id)
		for hoa, bh := range m.bound {
			if bh.sa == p.id {
				m.s.ha.Delete(hoa)
				m.unbind(ctx, hoa, "IKE SA ended")
			}
		}
	})
}

// leaseGone is told that the lease of hoa, which an IKE SA here holds, is
// now served by owner. After a move of ours (ours) this member keeps the
// binding, its defence on the home link and the route into the node's old
// tunnel, so that nothing in flight is lost and a neighbour resolving the
// address finds a home agent that forwards (RFC 4861 §7.2.8: several
// proxies may answer; only the lease's owner advertised), until the node
// deregisters here or deletes its old IKE SA, or for ike.redirect.grace at
// most; then it withdraws them and deletes the old IKE SA, unless the
// address is no longer departed by then (no IKE SA here holds it any more,
// or the lease came back: a node moved there and back must keep the IKE SA
// and binding it has here now). A lease taken over by another member (this
// member's membership lapsed, the node attached elsewhere) is stale here at
// once: withdrawn now.
func (m *mobility) leaseGone(ctx context.Context, hoa netip.Addr, owner string, ours bool) {
	if !ours {
		m.withdraw(ctx, hoa, "taken over by "+owner)
		return
	}
	if t := m.lingers[hoa]; t != nil {
		t.Stop() // an earlier departure's: the grace period starts again
	}
	var t *time.Timer
	t = time.AfterFunc(m.s.mover.linger, func() {
		m.post(func(ctx context.Context) {
			if m.lingers[hoa] != t {
				return // withdrawn or started again meanwhile
			}
			delete(m.lingers, hoa)
			if m.s.mover.isDeparted(hoa) {
				m.withdraw(ctx, hoa, "moved to "+owner)
			}
		})
	})
	m.lingers[hoa] = t
}

// withdraw ends what this member still does for hoa after its lease went
// to another member: the binding and its defence, a VPN-only peer's
// defence, and the IKE SAs that hold hoa (deleted, the peers told).
func (m *mobility) withdraw(ctx context.Context, hoa netip.Addr, why string) {
	s := m.s
	if t := m.lingers[hoa]; t != nil {
		t.Stop()
		delete(m.lingers, hoa)
	}
	if _, ok := m.bound[hoa]; ok {
		s.ha.Delete(hoa)
		m.unbind(ctx, hoa, why)
	}
	for id, addrs := range m.vpn {
		if i := slices.Index(addrs, hoa); i >= 0 {
			m.release(ctx, hoa)
			m.vpn[id] = slices.Delete(addrs, i, i+1)
		}
	}
	for _, p := range s.peers.holding(hoa) {
		s.bg.Go(func() {
			dctx, cancel := context.WithTimeout(context.Background(), DefaultStoreTimeout)
			defer cancel()
			if err := s.rt.Delete(dctx, p.id); err != nil && !errors.Is(err, ErrNoSA) && !errors.Is(err, ErrStopped) {
				s.log.Warn("IKE SA of a node that moved away not deleted", "sa", p.id, "err", err)
			} else if err == nil {
				s.log.Info("IKE SA of a node that moved away deleted", "sa", p.id, "hoa", hoa.String(), "reason", why)
			}
		})
	}
}

// linkLocalOf is the link-local address with the interface identifier of
// hoa (RFC 6275 §10.3.1, the L flag).
func linkLocalOf(hoa netip.Addr) netip.Addr {
	b := hoa.As16()
	copy(b[:8], []byte{0xfe, 0x80, 0, 0, 0, 0, 0, 0})
	return netip.AddrFrom16(b)
}

// careOfRecorder records the care-of endpoints of nodes in their leases
// (LeasePool.SetCareOf, a store write) on a goroutine of its own, the
// latest endpoint of each home address, so that a slow or unreachable
// store does not hold up the mobility goroutine and the Binding
// Acknowledgements of every node behind it.
type careOfRecorder struct {
	pool *LeasePool
	log  *slog.Logger
	wake chan struct{}

	mu      sync.Mutex
	pending map[netip.Addr]careOfNote
}

// careOfNote is an endpoint to record, with the span context of the
// Binding Update that brought it (the store call is its child).
type careOfNote struct {
	careOf netip.AddrPort
	span   trace.SpanContext
}

func newCareOfRecorder(pool *LeasePool, log *slog.Logger) *careOfRecorder {
	return &careOfRecorder{pool: pool, log: log, wake: make(chan struct{}, 1), pending: map[netip.Addr]careOfNote{}}
}

// record queues careOf for the lease of hoa, replacing an endpoint not yet
// written. It never blocks.
func (r *careOfRecorder) record(ctx context.Context, hoa netip.Addr, careOf netip.AddrPort) {
	r.mu.Lock()
	r.pending[hoa] = careOfNote{careOf: careOf, span: trace.SpanContextFromContext(ctx)}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// run writes the queued endpoints until ctx ends; what is queued then is
// dropped (the leases are released at shutdown).
func (r *careOfRecorder) run(ctx context.Context) {
	for {
		select {
		case <-r.wake:
		case <-ctx.Done():
			return
		}
		r.mu.Lock()
		batch := r.pending
		r.pending = map[netip.Addr]careOfNote{}
		r.mu.Unlock()
		for hoa, n := range batch {
			if err := r.pool.SetCareOf(trace.ContextWithSpanContext(ctx, n.span), hoa, n.careOf); err != nil && ctx.Err() == nil {
				r.log.Warn("care-of address not recorded in the lease", "hoa", hoa.String(), "err", err)
			}
		}
	}
}
