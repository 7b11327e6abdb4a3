package mnclient

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/mip6ha/mip6ha/homeagent"
	"github.com/mip6ha/mip6ha/homeagent/dataplane"
	"github.com/mip6ha/mip6ha/homeagent/telemetry"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
	"github.com/mip6ha/mip6ha/mip6"
	"github.com/mip6ha/mip6ha/mip6/mh"
)

// A Home Agent Switch (RFC 5142) from the node's home agent asks it to
// move to another home agent. With a Binding Refresh Advice the node may
// keep using the old home agent meanwhile (RFC 5142 §6.1), so it moves
// make-before-break (docs/cluster.md has the home agents' side):
//
//  1. connecting: an IKE SA with the new home agent, at the IKE endpoint
//     of the handover option (homeagent.HandoverOption) or else at the
//     first address of the Home Agent Switch, with REDIRECTED_FROM naming
//     the old home agent (RFC 5685 §3), the home address held in
//     CFG_REQUEST, the handover ticket and no INITIAL_CONTACT. The old IKE
//     SA carries the node's traffic meanwhile.
//  2. registering: the new CHILD_SA is in the dataplane, but only the
//     Binding Updates to the new home agent leave through it (the old SA
//     takes every other route back); a Binding Update registers the
//     binding there.
//  3. leaving: the new home agent accepted the binding: the node's traffic
//     moves to the new SA (one route swap per prefix in the dataplane),
//     the new IKE SA becomes the current one, and the node deregisters at
//     the old home agent (lifetime 0, through the old SA, which keeps a
//     host route for its home agent's address).
//  4. The deregistration acknowledged (or DetachTimeout later), the old IKE
//     SA is deleted and EventSwitched reports the move.
//
// The home address never changes: a new home agent that assigns another
// one, refuses the binding or cannot be reached has failed, and the next
// address of the Home Agent Switch is tried (RFC 5142 §6.2). When none is
// left the node stays where it is, and the binding update list deregisters
// at the old home agent once half of the Binding Refresh Advice has passed,
// as RFC 5142 §6.1 requires. Without a Binding Refresh Advice the binding
// update list deregisters at once (break before make) and the node
// registers with the new home agent as soon as it can.

// ErrHandover is wrapped by the errors of a move to another home agent
// that failed.
var ErrHandover = errors.New("mnclient: home agent switch failed")

// DefaultHandoverRegisterTimeout bounds the registration with the new
// home agent when the Home Agent Switch carries no Binding Refresh Advice.
const DefaultHandoverRegisterTimeout = 30 * time.Second

// handoverPhase is where a move to another home agent is.
type handoverPhase uint8

const (
	handoverIdle        handoverPhase = iota
	handoverConnecting                // IKE SA with the new home agent being set up
	handoverRegistering               // its CHILD_SA installed; Binding Update to it outstanding
	handoverLeaving                   // traffic on the new SA; deregistering at the old home agent
)

func (p handoverPhase) String() string {
	switch p {
	case handoverIdle:
		return "idle"
	case handoverConnecting:
		return "connecting"
	case handoverRegistering:
		return "registering"
	case handoverLeaving:
		return "leaving"
	}
	return fmt.Sprintf("handoverPhase(%d)", uint8(p))
}

// handoverTarget is a home agent a Home Agent Switch names.
type handoverTarget struct {
	gw   netip.AddrPort // where IKE starts
	natt uint16         // its NAT-T port; 0: 4500
	ha   netip.Addr     // its address for Binding Updates
}

// handoverOffer is the handover option of the last Home Agent Switch
// received, kept until the binding update list reports the switch.
type handoverOffer struct {
	from netip.Addr
	opt  homeagent.HandoverOption
}

// handoverState is the move under way; the zero value is none.
type handoverState struct {
	phase    handoverPhase
	from, to *session
	oldHA    netip.Addr
	// oldGW and oldIPv4 are the old home agent's IKE endpoint and the
	// inner IPv4 address it assigned, kept for the targets tried after
	// its IKE SA has ended (from is nil then).
	oldGW    netip.AddrPort
	oldIPv4  netip.Addr
	target   handoverTarget
	rest     []handoverTarget // targets to try after this one
	ticket   []byte
	started  time.Time     // when the Home Agent Switch arrived
	advice   time.Duration // its Binding Refresh Advice
	deadline time.Time     // registering: give the target up; leaving: stop waiting for the deregistration
	regAt    time.Time     // first Binding Update to the new home agent
	coa      netip.Addr    // care-of address registered with it

	ctx       context.Context // carries the move's span
	span      trace.Span
	ike       *ikeSpans
	bu, dereg trace.Span
}

// receiveMobility hands a Mobility Header packet from the tunnel to the
// binding update list, keeping the handover option of a Home Agent Switch
// for the switch it reports.
func (c *Client) receiveMobility(now time.Time, pkt []byte) {
	if ip, h, err := mh.ParsePacket(pkt); err == nil && h.Type() == mh.TypeHomeAgentSwitch {
		if has, err := mh.ParseHomeAgentSwitch(h); err == nil {
			opt, found, err := homeagent.ParseHandoverOption(has.Options)
			switch {
			case err != nil:
				c.log.Warn("handover option of a Home Agent Switch ignored", "from", ip.Src.String(), "err", err)
				c.offer = handoverOffer{}
			case found:
				opt.Ticket = slices.Clone(opt.Ticket)
				c.offer = handoverOffer{from: ip.Src, opt: opt}
			default:
				c.offer = handoverOffer{}
			}
		}
	}
	c.bul.Receive(now, pkt)
}

// startHandover acts on a Home Agent Switch the binding update list
// reported (ev is its event, to which the move's target and trace are
// added).
func (c *Client) startHandover(now time.Time, e mip6.MNEvent, ev *Event) {
	offer := c.offer
	c.offer = handoverOffer{}
	if offer.from != e.From {
		offer = handoverOffer{}
	}
	switch {
	case !e.FromCurrentHA || e.HA != c.haAddr:
		c.log.Warn("Home Agent Switch from a home agent we are not registered with ignored", "from", e.From.String())
		return
	case c.detach.asked || c.cur == nil:
		return
	case c.hand.phase != handoverIdle:
		c.log.Info("Home Agent Switch while moving already", "from", e.From.String(), "phase", c.hand.phase.String())
		return
	case c.redir.to != nil:
		c.log.Info("Home Agent Switch while following a redirect", "from", e.From.String())
		return
	}
	targets := c.handoverTargets(e.Addresses, offer.opt)
	if len(targets) == 0 {
		err := fmt.Errorf("%w: the Home Agent Switch names no home agent the node may use %v; deregistering (RFC 5142 §6.1)",
			ErrHandover, e.Addresses)
		c.emit(Event{Time: now, Event: EventError, From: e.From.String(), Error: err.Error()})
		return
	}
	parent := context.Background()
	if offer.opt.TraceContext != "" {
		pctx, err := telemetry.ContextWithTraceparent(parent, offer.opt.TraceContext)
		if err != nil {
			c.log.Debug("trace context of the handover option not continued", "err", err)
		} else {
			parent = pctx
		}
	}
	c.hand = handoverState{phase: handoverConnecting, from: c.cur, oldHA: c.haAddr, oldGW: c.cur.gw, rest: targets,
		ticket: offer.opt.Ticket, started: now, advice: e.RefreshAdvice}
	h := &c.hand
	if a := c.cur.sa.Assignment(); a != nil {
		h.oldIPv4 = a.IPv4
	}
	h.ctx, h.span = c.tracer().Start(parent, telemetry.SpanMove, trace.WithTimestamp(now), trace.WithAttributes(
		telemetry.KeyIdentity.String(c.cfg.ID), telemetry.KeyHoA.String(c.bind.hoa.String()),
		keyHomeAgent.String(e.From.String()), telemetry.KeyRedirectTarget.String(targets[0].gw.String()),
		keyTicket.Bool(h.ticket != nil)))
	var addrs []string
	for _, a := range e.Addresses {
		addrs = append(addrs, a.String())
	}
	_, has := c.tracer().Start(h.ctx, telemetry.SpanHomeAgentSwitch, trace.WithTimestamp(now), trace.WithAttributes(
		keyHomeAgent.String(e.From.String()), attribute.StringSlice("mip6.home_agent_switch.addresses", addrs),
		attribute.Int64("mip6.refresh_advice", int64(e.RefreshAdvice/time.Second))))
	has.End(trace.WithTimestamp(now))
	ev.To = targets[0].gw.String()
	if sc := h.span.SpanContext(); sc.HasTraceID() {
		ev.TraceID = sc.TraceID().String()
	}
	c.dev.gaps.start(now)
	c.log.Info("home agent switch: moving make-before-break", "from", e.From.String(), "to", targets[0].gw.String(),
		"refresh_advice", e.RefreshAdvice.String(), "ticket", h.ticket != nil, "trace_id", ev.TraceID)
	c.connectNext(now)
}

// handoverTargets lists where the node may go, in order: the handover
// option's IKE endpoint (for the first home agent of the switch), then each
// address of the Home Agent Switch on the standard ports (RFC 5142 §6.2),
// as the redirect allow-list lets it.
func (c *Client) handoverTargets(addrs []netip.Addr, opt homeagent.HandoverOption) []handoverTarget {
	var ts []handoverTarget
	add := func(t handoverTarget) {
		if !t.ha.Is6() || !c.cfg.Redirect.allowedAddr(t.gw.Addr()) {
			return
		}
		if !slices.ContainsFunc(ts, func(x handoverTarget) bool { return x.gw == t.gw }) {
			ts = append(ts, t)
		}
	}
	if gw := opt.Gateway; gw.Addr().IsValid() && len(addrs) > 0 {
		t := handoverTarget{gw: netip.AddrPortFrom(gw.Addr().Unmap(), dataplane.IKEPort), ha: addrs[0]}
		if gw.Port() != 0 {
			t.gw, t.natt = netip.AddrPortFrom(gw.Addr().Unmap(), gw.Port()), gw.Port() // the NAT-T port: IKE starts there
		}
		add(t)
	}
	for _, a := range addrs {
		add(handoverTarget{gw: netip.AddrPortFrom(a, dataplane.IKEPort), ha: a})
	}
	return ts
}

// connectNext starts the IKE SA with the next target, or gives the move
// up when none is left.
func (c *Client) connectNext(now time.Time) {
	h := &c.hand
	for len(h.rest) > 0 {
		t := h.rest[0]
		h.rest = h.rest[1:]
		cfg := c.ikeCfg
		from := wire.GatewayAddr(h.oldGW.Addr())
		cfg.RedirectedFrom = &from
		cfg.Ticket = h.ticket
		cfg.PeerNATTPort = t.natt
		cfg.InitialContact = false // the old IKE SA is still ours
		cfg.TraceContext = traceparent(h.ctx)
		cfg.Request.SuggestIPv6 = netip.PrefixFrom(c.bind.hoa, 128)
		if h.oldIPv4.IsValid() {
			cfg.Request.SuggestIPv4 = h.oldIPv4
		}
		if c.router != nil {
			if err := c.router.switchGateway(t.gw.Addr()); err != nil {
				c.log.Warn("new home agent not kept outside the tunnel", "gateway", t.gw.String(), "err", err)
				continue
			}
		}
		s, err := c.startSession(now, t.gw, &cfg)
		if err != nil {
			c.log.Warn("IKE SA with the new home agent not started", "gateway", t.gw.String(), "err", err)
			continue
		}
		s.bu = t.ha
		h.to, h.target, h.phase = s, t, handoverConnecting
		h.ike = c.startIKESpans(h.ctx, t.gw)
		if h.from == nil {
			// The old home agent's IKE SA is gone: the SA being set up is
			// the node's only one (onHandoverIKE).
			c.cur, c.ha = s, t.gw
		}
		return
	}
	c.abandonHandover(now, fmt.Errorf("%w: no home agent of the Home Agent Switch took the node; staying with %v",
		ErrHandover, h.oldHA), false)
}

// onHandoverIKE follows the move with an event of one of its IKE SAs. It
// runs before the client's own handling of the event.
func (c *Client) onHandoverIKE(now time.Time, s *session, e ike.Event) {
	h := &c.hand
	if h.phase == handoverIdle {
		return
	}
	switch s {
	case h.to:
		h.ike.event(c, e)
		switch x := e.(type) {
		case ike.AddressAssigned:
			if x.ToUs && (!x.Assignment.IPv6.IsValid() || x.Assignment.IPv6.Addr() != c.bind.hoa) {
				c.targetFailed(now, fmt.Errorf("%w: %v assigned %v; the node holds %v", ErrHandover, h.target.gw,
					x.Assignment.IPv6, c.bind.hoa))
			}
		case ike.ChildUp:
			if h.phase == handoverConnecting {
				c.handoverRegister(now)
			}
		case ike.IKEDown:
			if h.phase != handoverLeaving {
				c.targetFailed(now, fmt.Errorf("%w: IKE SA with %v %v: %v", ErrHandover, h.target.gw, x.Reason, x.Err))
			}
		}
	case h.from:
		if _, ok := e.(ike.IKEDown); ok && h.from != nil {
			// The old home agent ended our SA first (deleted it, or stopped
			// answering): nothing is left to deregister there.
			h.from = nil
			if h.phase != handoverLeaving && h.to != nil {
				c.cur, c.ha = h.to, h.to.gw
			}
		}
	}
}

// handoverRegister registers the binding with the new home agent once the
// new CHILD_SA is in the dataplane.
func (c *Client) handoverRegister(now time.Time) {
	h := &c.hand
	h.phase = handoverRegistering
	reg := c.registration()
	reg.HA = h.target.ha
	if err := c.bul.Register(now, reg); err != nil {
		c.targetFailed(now, fmt.Errorf("%w: binding update to %v: %w", ErrHandover, h.target.ha, err))
		return
	}
	h.coa, h.regAt = c.bind.coa, now
	timeout := h.advice
	if timeout <= 0 {
		timeout = DefaultHandoverRegisterTimeout
	}
	// Counted from this target's first Binding Update: a target tried
	// after another failed gets as long as the first (RFC 5142 §6.2).
	h.deadline = now.Add(timeout)
	h.bu = c.bindingSpan(h.ctx, h.target.ha, c.bind.hoa, c.bind.coa, c.cfg.Lifetime)
}

// keepTraffic runs after an outbound SA of session s was installed in the
// dataplane, which made it the route of each of its prefixes: when s is
// the new home agent's session of a move that has not switched yet, the
// old session's outbound SAs take the routes back at once, but for the
// new home agent's address (its host route, pin), so that the node's
// traffic stays with the old home agent until the new one accepted the
// binding.
func (c *Client) keepTraffic(s *session) {
	h := &c.hand
	if s != h.to || h.from == nil || (h.phase != handoverConnecting && h.phase != handoverRegistering) {
		return
	}
	for _, sa := range h.from.out {
		if err := c.dp.InstallOutbound(sa); err != nil {
			c.log.Warn("old outbound SA not restored", "spi", spiHex(sa.SPI()), "err", err)
		}
	}
}

// onHandoverBinding follows the move with an event of the binding update
// list. It reports whether it handled the event; if not, the client's own
// handling goes on.
func (c *Client) onHandoverBinding(now time.Time, e mip6.MNEvent) bool {
	h := &c.hand
	if h.phase == handoverIdle || e.HoA != c.bind.hoa {
		return false
	}
	switch {
	case h.phase == handoverRegistering && e.HA == h.target.ha:
		switch e.Kind {
		case mip6.MNRegistered:
			c.switchTraffic(now, e)
			return false // reported as binding_accepted, now for the current home agent
		case mip6.MNRejected:
			c.emit(Event{Time: now, Event: EventBindingRejected, Address: e.HoA.String(), HomeAgent: e.HA.String(),
				StatusCode: int(e.Status), Status: e.Status.String()})
			c.targetFailed(now, fmt.Errorf("%w: %v refused the binding: status %d (%v)", ErrHandover, e.HA, e.Status, e.Status))
			return true
		}
	case h.phase == handoverLeaving && e.HA == h.oldHA:
		switch e.Kind {
		case mip6.MNDeregistered:
			endSpan(h.dereg, telemetry.ResultOK, nil)
			h.dereg = nil
			c.emit(Event{Time: now, Event: EventDeregistered, Address: e.HoA.String(), HomeAgent: e.HA.String(),
				StatusCode: int(e.Status), Status: e.Status.String()})
			c.finishHandover(now)
			return true
		case mip6.MNRejected:
			c.log.Warn("the old home agent refused the deregistration", "ha", e.HA.String(), "status", e.Status.String())
			endSpan(h.dereg, telemetry.ResultError, fmt.Errorf("status %d", e.Status))
			h.dereg = nil
			c.finishHandover(now)
			return true
		}
	}
	return false
}

// switchTraffic ends the registration with the new home agent: its SA
// takes the node's traffic and becomes the current one, and the node
// deregisters at the old home agent.
func (c *Client) switchTraffic(now time.Time, e mip6.MNEvent) {
	h := &c.hand
	for _, sa := range h.to.out {
		if err := c.dp.InstallOutbound(sa); err != nil {
			c.log.Error("new outbound SA not routed", "spi", spiHex(sa.SPI()), "err", err)
		}
	}
	if h.bu != nil {
		h.bu.SetAttributes(telemetry.KeyStatus.Int64(int64(e.Status)))
		endSpan(h.bu, telemetry.ResultOK, nil)
		h.bu = nil
	}
	h.phase = handoverLeaving
	c.cur, c.ha, c.haAddr = h.to, h.to.gw, h.target.ha
	c.bind.registered, c.bind.accepted = true, false
	c.bind.lastCoA, c.bind.started = h.coa, h.regAt
	c.setStatus(func(st *Status) { st.Attached = h.to.sa.State() == ike.StateEstablished })
	c.log.Info("new home agent accepted the binding: traffic switched", "from", h.oldHA.String(), "to", h.target.ha.String(),
		"after", now.Sub(h.started).Round(time.Millisecond).String())
	if h.from != nil {
		if _, ok := c.bul.Entry(c.bind.hoa, h.oldHA); ok {
			if err := c.bul.Deregister(now, c.bind.hoa, h.oldHA); err == nil {
				h.dereg = c.bindingSpan(h.ctx, h.oldHA, c.bind.hoa, c.bind.coa, 0)
				h.deadline = now.Add(c.cfg.DetachTimeout)
				return
			}
		}
	}
	// Nothing to deregister: the old binding is gone already.
	c.finishHandover(now)
}

// finishHandover deletes the old IKE SA and reports the move.
func (c *Client) finishHandover(now time.Time) {
	h := c.hand
	c.hand = handoverState{}
	if h.from != nil {
		c.retireLater(h.from)
	}
	c.bul.Remove(c.bind.hoa, h.oldHA)
	gap, measured := c.dev.gaps.stop()
	ev := Event{Time: now, Event: EventSwitched, From: h.oldHA.String(), To: h.target.ha.String(), Address: c.bind.hoa.String(),
		Remote: h.target.gw.String(), DurationMS: ms(now.Sub(h.started))}
	if measured {
		ev.GapMS = ms(gap)
		h.span.SetAttributes(keyGapMS.Float64(ev.GapMS))
	}
	if sc := h.span.SpanContext(); sc.HasTraceID() {
		ev.TraceID = sc.TraceID().String()
	}
	endSpan(h.dereg, telemetry.ResultTimeout, errors.New("no answer to the deregistration"))
	endSpan(h.span, telemetry.ResultOK, nil)
	c.log.Info("moved to the new home agent; old IKE SA deleted", "from", ev.From, "to", ev.To, "hoa", ev.Address,
		"duration", now.Sub(h.started).Round(time.Millisecond).String(), "gap", gap.Round(time.Millisecond).String())
	c.emit(ev)
}

// targetFailed gives up the home agent being tried and goes on with the
// next one.
func (c *Client) targetFailed(now time.Time, err error) {
	h := &c.hand
	c.log.Warn("new home agent failed", "gateway", h.target.gw.String(), "phase", h.phase.String(), "err", err)
	c.emit(Event{Time: now, Event: EventError, To: h.target.gw.String(), Error: err.Error()})
	h.ike.end(telemetry.ResultError, err)
	endSpan(h.bu, telemetry.ResultError, err)
	h.ike, h.bu = nil, nil
	if h.to != nil {
		c.retireLater(h.to)
		c.bul.Remove(c.bind.hoa, h.target.ha)
		h.to = nil
	}
	h.deadline = time.Time{}
	c.connectNext(now)
}

// abandonHandover ends the move without switching: the node stays with
// the old home agent. quiet suppresses the error event (a detach).
func (c *Client) abandonHandover(now time.Time, err error, quiet bool) {
	h := c.hand
	c.hand = handoverState{}
	if h.phase == handoverIdle {
		return
	}
	c.dev.gaps.stop()
	h.ike.end(telemetry.ResultError, err)
	endSpan(h.bu, telemetry.ResultError, err)
	endSpan(h.dereg, telemetry.ResultError, err)
	endSpan(h.span, telemetry.ResultError, err)
	if h.phase == handoverLeaving {
		return // the switch happened; only the goodbye to the old home agent is cut short
	}
	if c.router != nil && h.from != nil {
		if rerr := c.router.switchGateway(h.from.gw.Addr()); rerr != nil {
			c.log.Warn("old home agent not kept outside the tunnel", "err", rerr)
		}
	}
	if !quiet {
		c.log.Error("home agent switch abandoned", "err", err)
		c.emit(Event{Time: now, Event: EventError, From: h.oldHA.String(), Error: err.Error()})
	}
}

// handoverTick runs the move's deadline.
func (c *Client) handoverTick(now time.Time) {
	h := &c.hand
	if h.phase == handoverIdle || h.deadline.IsZero() || now.Before(h.deadline) {
		return
	}
	switch h.phase {
	case handoverRegistering:
		c.targetFailed(now, fmt.Errorf("%w: no Binding Acknowledgement from %v within %v", ErrHandover, h.target.ha,
			now.Sub(h.started).Round(time.Second)))
	case handoverLeaving:
		c.log.Warn("no answer to the deregistration at the old home agent; deleting its IKE SA", "ha", h.oldHA.String())
		c.finishHandover(now)
	}
}

// handoverMoved tells both home agents of a move where the node is now,
// after its care-of address changed while it connects or registers: not
// with a Binding Update to the old home agent, whose Home Agent Switch
// forbids extending the binding (RFC 5142 §5.3), but an empty
// INFORMATIONAL so that its IKE SA (and its forwarding of what is in
// flight) follows; the registration with the new home agent starts again
// from the new care-of address.
func (c *Client) handoverMoved(now time.Time) error {
	h := &c.hand
	var errs []error
	if h.from != nil && h.from.sa.State() == ike.StateEstablished {
		errs = append(errs, h.from.sa.CheckLiveness(now))
	}
	if h.phase == handoverRegistering && h.to != nil {
		reg := c.registration()
		reg.HA = h.target.ha
		if err := c.bul.Register(now, reg); err != nil {
			errs = append(errs, err)
		} else {
			h.coa = reg.CoA
		}
		if h.to.sa.State() == ike.StateEstablished {
			errs = append(errs, h.to.sa.CheckLiveness(now))
		}
	}
	return errors.Join(errs...)
}

// retireLater ends a session's IKE SA once what its SA has ready now is
// carried out (process): a command given to an SA while its Ready is being
// carried out would lose its datagrams to Advance.
func (c *Client) retireLater(s *session) {
	if !slices.Contains(c.retiring, s) {
		c.retiring = append(c.retiring, s)
	}
}

// retire ends a session's IKE SA: deleted (the peer told) when it is
// established, else closed.
func retire(s *session, now time.Time) {
	switch s.sa.State() {
	case ike.StateEstablished:
		if err := s.sa.Delete(now); err != nil {
			s.sa.Close(now)
		}
	case ike.StateDeleting:
	default:
		s.sa.Close(now)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// gapMeter measures, while armed, the longest time between two deliveries
// of inner data packets to the node (the first interval starts when it is
// armed): the interruption a move causes, as the node's applications see
// it. Unarmed it costs one atomic load per batch.
type gapMeter struct {
	armed   atomic.Bool
	last    atomic.Int64 // Unix ns of the last delivery while armed
	longest atomic.Int64 // ns
	count   atomic.Int64 // deliveries while armed
}

// start arms the meter at now.
func (m *gapMeter) start(now time.Time) {
	m.armed.Store(false)
	m.last.Store(now.UnixNano())
	m.longest.Store(0)
	m.count.Store(0)
	m.armed.Store(true)
}

// delivered notes a batch of data packets delivered to the node.
func (m *gapMeter) delivered() {
	if !m.armed.Load() {
		return
	}
	now := time.Now().UnixNano()
	d := now - m.last.Swap(now)
	for {
		cur := m.longest.Load()
		if d <= cur || m.longest.CompareAndSwap(cur, d) {
			break
		}
	}
	m.count.Add(1)
}

// stop disarms the meter and returns the longest gap, and whether any
// packet was delivered while it was armed.
func (m *gapMeter) stop() (time.Duration, bool) {
	m.armed.Store(false)
	return time.Duration(m.longest.Load()), m.count.Load() > 0
}
