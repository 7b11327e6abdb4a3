package mnclient

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/telemetry"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/mip6"
)

// bindingState is what the client knows of its home registration beside
// the binding update list.
type bindingState struct {
	hoa        netip.Addr // from CFG_REPLY
	coa        netip.Addr // our outer address towards the home agent
	registered bool       // the binding update list has our entry
	accepted   bool       // a BA accepted the current registration
	lastCoA    netip.Addr // the care-of address last registered
	started    time.Time  // when the current registration was started
}

// detachState is the goodbye of a client whose Run's context ended:
// deregister, then delete the IKE SA, each bounded by DetachTimeout.
type detachState struct {
	asked         bool
	deregistering bool
	deadline      time.Time
}

func (c *Client) setCareOfAddress(a netip.Addr) {
	c.bind.coa = a
	c.setStatus(func(st *Status) { st.CoA = a })
}

// startBinding registers the binding once the CHILD_SA is up and the home
// address known.
func (c *Client) startBinding(now time.Time) {
	if c.cfg.NoBinding || !c.bind.hoa.IsValid() || !c.haAddr.IsValid() || c.detach.asked {
		return
	}
	if p := c.hand.phase; p == handoverConnecting || p == handoverRegistering {
		return // the move registers with the new home agent itself
	}
	if c.bind.registered && c.bind.lastCoA == c.bind.coa {
		return
	}
	c.register(now)
}

// registration is our home registration with the current care-of address
// in the all-in-tunnel form (RFC 4877 §3). An IPv4 care-of address (a
// node in an IPv4-only network, behind NAT44) does not fit the Alternate
// Care-of Address option: the Binding Update then carries it in the IPv4
// Care-of Address option of RFC 5555 §3.1.2 and no Alternate Care-of
// Address, as the Binding Update of RFC 5555 §4.2; the home agent finds
// the NAT by comparing it with the outer source of the packet.
func (c *Client) registration() mip6.Registration {
	r := mip6.Registration{
		HoA: c.bind.hoa, HA: c.haAddr, CoA: c.bind.coa,
		Lifetime:              c.cfg.Lifetime,
		Identifier:            []byte(c.cfg.ID),
		KeyManagementMobility: true,
		InTunnel:              true,
	}
	if c.bind.coa.Is4() {
		r.CoA, r.IPv4CoA = c.bind.hoa, c.bind.coa
	}
	return r
}

func (c *Client) register(now time.Time) {
	if e, ok := c.bul.Entry(c.bind.hoa, c.haAddr); ok && e.Switching {
		// The home agent sent a Home Agent Switch: the binding there is
		// deregistered (RFC 5142 §6.1), never registered again, which would
		// cancel that and be refused with status 129 (§5.3).
		return
	}
	if err := c.bul.Register(now, c.registration()); err != nil {
		c.emit(Event{Event: EventError, Error: fmt.Sprintf("binding update: %v", err)})
		return
	}
	c.bind.registered, c.bind.accepted = true, false
	c.bind.lastCoA, c.bind.started = c.bind.coa, now
	c.attachRegistering()
}

// driveBindings sends the Binding Updates the binding update list has
// ready into the tunnel and reports its events. It reports whether there
// was anything.
func (c *Client) driveBindings(now time.Time) bool {
	r := c.bul.Ready()
	for _, o := range r.Send {
		if err := c.inject(o.AppendPacket(nil)); err != nil {
			c.log.Warn("binding update not sent", "err", err)
		}
	}
	for _, e := range r.Events {
		c.onBindingEvent(now, e)
	}
	return len(r.Send) > 0 || len(r.Events) > 0
}

// onBindingEvent reacts to an event of the binding update list and
// reports it.
func (c *Client) onBindingEvent(now time.Time, e mip6.MNEvent) {
	if c.onHandoverBinding(now, e) {
		return
	}
	ev := Event{Time: now, Address: e.HoA.String(), HomeAgent: e.HA.String()}
	if entry, ok := c.bul.Entry(e.HoA, e.HA); ok {
		ev.Sequence = int(entry.Sequence)
	}
	if e.HA != c.haAddr && e.Kind != mip6.MNSwitchRequested {
		// An entry with a home agent we have left or not reached yet: its
		// events change nothing of the current binding.
		switch e.Kind {
		case mip6.MNDeregistered:
			ev.Event, ev.StatusCode, ev.Status = EventDeregistered, int(e.Status), e.Status.String()
		case mip6.MNNoResponse:
			ev.Event = EventBindingNoResponse
		default:
			return
		}
		c.emit(ev)
		return
	}
	switch e.Kind {
	case mip6.MNRegistered:
		ev.Event = EventBindingRefreshed
		if !c.bind.accepted {
			ev.Event = EventBindingAccepted
			ev.LatencyMS = float64(now.Sub(c.bind.started).Microseconds()) / 1000
			ev.CoA = c.bind.lastCoA.String()
		}
		c.bind.accepted = true
		if c.attach != nil && c.attach.bu != nil {
			c.attach.bu.SetAttributes(telemetry.KeyStatus.Int64(int64(e.Status)))
			c.endAttach(telemetry.ResultOK, nil)
		}
		ev.Lifetime = int(e.Lifetime / time.Second)
		ev.StatusCode, ev.Status = int(e.Status), e.Status.String()
		ev.KeyManagement = e.KeyManagementMobility
		if e.NAT != nil {
			ev.NATKeepalive = int(e.NAT.RefreshTime)
		}
		c.setStatus(func(st *Status) { st.Bound, st.HomeAgent = true, e.HA })
		c.reattached()
	case mip6.MNRejected:
		ev.Event, ev.StatusCode, ev.Status = EventBindingRejected, int(e.Status), e.Status.String()
		c.setStatus(func(st *Status) { st.Bound = false })
	case mip6.MNNoResponse:
		ev.Event = EventBindingNoResponse
	case mip6.MNExpired:
		ev.Event = EventBindingExpired
		c.setStatus(func(st *Status) { st.Bound = false })
	case mip6.MNDeregistered:
		ev.Event, ev.StatusCode, ev.Status = EventDeregistered, int(e.Status), e.Status.String()
		c.bind.registered = false
		c.setStatus(func(st *Status) { st.Bound = false })
		if c.detach.deregistering {
			c.deleteSessions(now)
		}
	case mip6.MNSwitchRequested:
		ev.Event, ev.From = EventHomeAgentSwitch, e.From.String()
		for _, a := range e.Addresses {
			ev.Addresses = append(ev.Addresses, a.String())
		}
		c.startHandover(now, e, &ev)
	case mip6.MNBindingError:
		ev.Event, ev.From, ev.StatusCode = EventBindingError, e.From.String(), int(e.BEStatus)
	default:
		return
	}
	c.emit(ev)
}

// followCareOfAddress re-evaluates our care-of address (the kernel's
// source address towards the home agent) and, when it changed (or force),
// tells the home agent without a new IKE SA:
//
//  1. a Binding Update with the new care-of address, K bit set: the home
//     agent updates the binding and moves its IKE and ESP endpoints to
//     where the BU came from (RFC 6275 §10.3.1, RFC 4877 §5);
//  2. an empty INFORMATIONAL request from the new address, as RFC 5555
//     §5.1 asks of a node behind a NAT: the home agent's IKE SA follows an
//     authenticated message from a new address when it sees a NAT or
//     forced encapsulation (RFC 7296 §2.23), and the answer tells us the
//     home agent is still there.
//
// RFC 5555 §5.1 sends the INFORMATIONAL after the BU/BA exchange; we send
// it right after the BU, because the BA itself can only reach the new
// address once the home agent's ESP endpoint has moved, and a home agent
// that moves it only on IKE messages would otherwise send the BA to the
// old address until the BU is retransmitted.
func (c *Client) followCareOfAddress(now time.Time, force bool) error {
	gw := c.ha
	if c.cur != nil {
		gw = c.cur.gw
	}
	if c.router != nil {
		if err := c.router.repin(); err != nil {
			c.log.Debug("no route to the home agent outside the tunnel", "err", err)
		}
	}
	coa, err := careOfAddress(gw.Addr())
	if err != nil {
		return err // no route now (between links): the next change tries again
	}
	old := c.bind.coa
	if coa == old && !force {
		return nil
	}
	if coa != old {
		c.setCareOfAddress(coa)
		c.log.Info("care-of address changed", "coa", coa.String(), "old", old.String())
		c.emit(Event{Time: now, Event: EventCareOfAddressChanged, CoA: coa.String(), OldCoA: addrString(old)})
	}
	if p := c.hand.phase; (p == handoverConnecting || p == handoverRegistering) && !c.detach.asked {
		return c.handoverMoved(now)
	}
	s := c.cur
	if s == nil || s.sa.State() != ike.StateEstablished || c.detach.asked {
		return nil
	}
	if c.bind.registered {
		c.register(now)
	}
	return s.sa.CheckLiveness(now)
}

// resendAfterMove sends the Binding Update of a move again once the home
// agent's IKE SA has followed us (its answer reached our new address): a
// home agent that moves its ESP endpoint on IKE messages only sent the
// first BA to our old address. It waits for no retransmission timer.
func (c *Client) resendAfterMove(now time.Time) {
	if !c.bind.registered || c.bind.accepted || c.detach.asked {
		return
	}
	if e, ok := c.bul.Entry(c.bind.hoa, c.haAddr); ok && e.Outstanding && !e.Registration.CoA.IsUnspecified() {
		c.register(now)
	}
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// startDetach begins the goodbye: a deregistration if we have a binding,
// else (or once it is acknowledged, or after DetachTimeout) the IKE Delete.
func (c *Client) startDetach(now time.Time) {
	c.detach.asked = true
	c.re.at = time.Time{}
	c.abandonHandover(now, errors.New("detaching"), true)
	c.detach.deadline = now.Add(c.cfg.DetachTimeout)
	if c.bind.registered && c.cur != nil && c.cur.sa.State() == ike.StateEstablished {
		if err := c.bul.Deregister(now, c.bind.hoa, c.haAddr); err == nil {
			c.detach.deregistering = true
			return
		}
	}
	c.deleteSessions(now)
}

// deleteSessions deletes every IKE SA (telling the peers).
func (c *Client) deleteSessions(now time.Time) {
	c.detach.deregistering = false
	c.detach.deadline = now.Add(c.cfg.DetachTimeout)
	for _, s := range c.sessions {
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
}

// detachTick moves the goodbye on when the peer does not answer.
func (c *Client) detachTick(now time.Time) {
	if !c.detach.asked || c.detach.deadline.IsZero() || now.Before(c.detach.deadline) {
		return
	}
	if c.detach.deregistering {
		c.log.Warn("no answer to the deregistration; deleting the IKE SA")
		c.deleteSessions(now)
		return
	}
	for _, s := range c.sessions {
		c.log.Info("closing the IKE SA without an answer from the home agent", "spis", s.sa.SPIs().String())
		s.sa.Close(now)
	}
	c.detach.deadline = time.Time{}
}
