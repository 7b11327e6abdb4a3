package mnclient

import (
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/mip6ha/mip6ha/homeagent"
	"github.com/mip6ha/mip6ha/homeagent/dataplane"
	"github.com/mip6ha/mip6ha/ike"
)

// session is one IKE SA with one gateway and the dataplane SAs of its
// CHILD_SAs.
type session struct {
	sa *ike.SA
	gw netip.AddrPort
	// bu is where the Binding Updates to this session's home agent go,
	// when it is not the client's current home agent (a move's new one):
	// its outbound SAs keep a host route for it (pin).
	bu  netip.Addr
	in  map[uint32]*dataplane.SA // by InSPI
	out map[uint32]*dataplane.SA // by OutSPI
}

// startSession initiates an IKE SA with the gateway gw from our current
// care-of address.
func (c *Client) startSession(now time.Time, gw netip.AddrPort, cfg *ike.Config) (*session, error) {
	coa, err := careOfAddress(gw.Addr())
	if err != nil {
		return nil, err
	}
	c.setCareOfAddress(coa)
	sa, err := ike.NewInitiator(cfg, ike.Path{Local: netip.AddrPortFrom(coa, c.ikePort), Remote: gw})
	if err != nil {
		return nil, err
	}
	if err := sa.Initiate(now); err != nil {
		return nil, err
	}
	s := &session{sa: sa, gw: gw, in: map[uint32]*dataplane.SA{}, out: map[uint32]*dataplane.SA{}}
	c.sessions = append(c.sessions, s)
	c.log.Info("initiating IKE SA", "remote", gw.String(), "local", netip.AddrPortFrom(coa, c.ikePort).String())
	return s, nil
}

// endSession forgets a session whose IKE SA is done, with whatever
// dataplane state it still holds.
func (c *Client) endSession(s *session) {
	for spi := range s.out {
		c.removeOutbound(s, spi)
	}
	for spi, sa := range s.in {
		c.dp.RemoveInbound(sa)
		delete(s.in, spi)
	}
	c.sessions = slices.DeleteFunc(c.sessions, func(x *session) bool { return x == s })
	if c.cur == s {
		c.cur = nil
		c.setStatus(func(st *Status) { st.Attached, st.Bound = false, false })
	}
}

// drive carries out what the session's IKE SA has ready, in the order
// ike.Ready prescribes.
func (c *Client) drive(s *session, now time.Time) {
	r := s.sa.Ready()
	for _, op := range r.ChildOps {
		if err := c.apply(s, op); err != nil {
			c.log.Error("CHILD_SA operation failed", "op", op.Kind.String(), "in_spi", spiHex(op.Child.InSPI),
				"out_spi", spiHex(op.Child.OutSPI), "err", err)
			c.emit(Event{Event: EventError, Error: fmt.Sprintf("CHILD_SA %v: %v", op.Kind, err)})
		}
		// The operation's keys are our copy; the dataplane SA keeps its
		// own in its cipher.
		op.Child.ZeroKeys()
	}
	for _, e := range r.Events {
		c.onIKEEvent(now, s, e)
	}
	for _, d := range r.Datagrams {
		port := c.ikePort
		if d.NATT {
			port = c.nattPort
		}
		c.out = append(c.out, dataplane.Datagram{Local: unpinned(d.Local, port), Remote: d.Remote, Payload: d.Payload})
	}
	for _, k := range r.Keepalives {
		if err := c.dp.SendKeepalive(unpinned(k.Local, c.nattPort), k.Remote); err != nil {
			c.log.Debug("NAT keepalive not sent", "err", err)
		}
	}
	s.sa.Advance()
}

// onIKEEvent reacts to an event of a session's IKE SA and reports it.
func (c *Client) onIKEEvent(now time.Time, s *session, e ike.Event) {
	c.attachEvent(now, s, e)
	c.onHandoverIKE(now, s, e)
	cur := c.cur
	c.onRedirectEvent(now, s, e)
	if c.cur != cur && c.cur != nil && c.attach != nil {
		c.attachSession(c.cur) // a redirect at IKE_SA_INIT or IKE_AUTH: the attachment goes on there
	}
	switch x := e.(type) {
	case ike.IKEUp:
		if s == c.cur {
			c.setStatus(func(st *Status) { st.Attached = true })
		}
	case ike.AddressAssigned:
		if x.ToUs && s == c.cur && x.Assignment.IPv6.IsValid() {
			c.bind.hoa = x.Assignment.IPv6.Addr()
			c.setStatus(func(st *Status) { st.HoA = c.bind.hoa })
		}
		if x.ToUs && c.router != nil {
			for _, a := range []netip.Addr{x.Assignment.IPv6.Addr(), x.Assignment.IPv4} {
				if a.IsValid() {
					if err := c.router.ensureAddress(a); err != nil {
						c.emit(Event{Event: EventError, Error: fmt.Sprintf("configuring %v on %s: %v", a, c.tun.Name(), err)})
					}
				}
			}
		}
	case ike.ChildUp:
		if s == c.cur {
			c.startBinding(now)
		}
	case ike.PeerMoved:
		if s == c.cur {
			c.resendAfterMove(now)
		}
	case ike.IKEDown:
		if s == c.cur && !c.lostHomeAgent(now, s, x) && !c.detach.asked && c.result == nil {
			c.result = fmt.Errorf("%w: %v: %v", ErrDetached, x.Reason, x.Err)
		}
	}
	if ev, ok := translate(e, now); ok {
		c.emit(ev)
	}
}

// apply carries out one CHILD_SA operation on the dataplane.
func (c *Client) apply(s *session, op ike.ChildOp) error {
	ch := op.Child
	switch op.Kind {
	case ike.InstallInbound:
		sa, err := espSA(ch, dataplane.Inbound, netip.Addr{})
		if err != nil {
			return err
		}
		if err := c.dp.InstallInbound(sa); err != nil {
			return err
		}
		s.in[ch.InSPI] = sa
	case ike.InstallOutbound:
		sa, err := espSA(ch, dataplane.Outbound, c.pin(s, ch))
		if err != nil {
			return err
		}
		if err := c.dp.InstallOutbound(sa); err != nil {
			return err
		}
		s.out[ch.OutSPI] = sa
		c.keepTraffic(s)
		c.addRoutes(s, homeagent.SelectorPrefixes(ch.RemoteTS))
		if op.Replaces != 0 && op.Replaces != ch.OutSPI {
			c.removeOutbound(s, op.Replaces)
		}
	case ike.RemoveInbound:
		if sa := s.in[ch.InSPI]; sa != nil {
			c.dp.RemoveInbound(sa)
			delete(s.in, ch.InSPI)
		}
	case ike.RemoveOutbound:
		c.removeOutbound(s, ch.OutSPI)
	case ike.UpdateEndpoints:
		if sa := s.out[ch.OutSPI]; sa != nil && sa.Remote() != ch.Remote {
			return c.dp.SetRemote(sa, ch.Remote)
		}
	default:
		return fmt.Errorf("unknown CHILD_SA operation %v", op.Kind)
	}
	return nil
}

func (c *Client) removeOutbound(s *session, outSPI uint32) {
	sa := s.out[outSPI]
	if sa == nil {
		return
	}
	c.dp.RemoveOutbound(sa)
	delete(s.out, outSPI)
	c.delRoutes(sa.RemoteTS())
}

// addRoutes routes prefixes into the TUN device with the inner address as
// source; a rekeyed outbound SA and its successor share their routes, so
// each is counted.
func (c *Client) addRoutes(s *session, ps []netip.Prefix) {
	if c.router == nil {
		return
	}
	a := s.sa.Assignment()
	for _, p := range ps {
		if c.routes[p] > 0 {
			c.routes[p]++
			continue
		}
		var src netip.Addr
		if a != nil && p.Addr().Is6() {
			src = a.IPv6.Addr()
		} else if a != nil {
			src = a.IPv4
		}
		if err := c.router.AddRoute(p, src); err != nil {
			c.log.Error("route into the TUN device not added", "dst", p.String(), "err", err)
			c.emit(Event{Event: EventError, Error: fmt.Sprintf("route %v: %v", p, err)})
			continue
		}
		c.routes[p] = 1
	}
}

func (c *Client) delRoutes(ps []netip.Prefix) {
	if c.router == nil {
		return
	}
	for _, p := range ps {
		if c.routes[p] == 0 {
			continue
		}
		if c.routes[p]--; c.routes[p] == 0 {
			delete(c.routes, p)
			if err := c.router.DelRoute(p); err != nil {
				c.log.Warn("route into the TUN device not removed", "dst", p.String(), "err", err)
			}
		}
	}
}

// pin returns the address an outbound SA of session s must keep a host
// route for in the dataplane (invalid: none): the address of the
// session's home agent, where its Binding Updates go, when the CHILD_SA's
// remote selectors cover it. While a node moves to another home agent it
// has two CHILD_SAs whose selectors cover every address; the host routes
// keep each home agent's Binding Updates on its own SA (RFC 4877 §4: they
// must arrive through the SA with that home agent), whichever SA carries
// the node's other traffic.
func (c *Client) pin(s *session, ch ike.ChildSA) netip.Addr {
	if c.cfg.NoBinding {
		return netip.Addr{}
	}
	a := s.bu
	if !a.IsValid() && s == c.cur {
		a = c.haAddr
	}
	if !a.IsValid() {
		return netip.Addr{}
	}
	for _, p := range homeagent.SelectorPrefixes(ch.RemoteTS) {
		if p.Contains(a) {
			return a
		}
	}
	return netip.Addr{}
}

// espSA makes the dataplane SA of one half of a CHILD_SA
// (homeagent.ChildSAConfig). The outbound half sends from an unspecified
// address (the kernel's choice of source towards the peer), so it follows
// our care-of address; pin, if valid, is an address its routes get as a
// host route (Client.pin).
func espSA(c ike.ChildSA, dir dataplane.Direction, pin netip.Addr) (*dataplane.SA, error) {
	cfg, err := homeagent.ChildSAConfig(c, dir)
	if err != nil {
		return nil, err
	}
	if dir == dataplane.Outbound {
		cfg.Local = unpinned(c.Local, c.Local.Port())
		if host := netip.PrefixFrom(pin, pin.BitLen()); pin.IsValid() && !slices.Contains(cfg.RemoteTS, host) {
			cfg.RemoteTS = append(cfg.RemoteTS, host)
		}
	}
	return dataplane.NewSA(cfg)
}
