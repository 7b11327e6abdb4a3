package mnclient

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/mip6ha/mip6ha/ike"
)

// EventReattaching reports that the client lost its home agent (its IKE
// SA ended without our asking: the home agent deleted it, stopped
// answering, or the liveness check failed) and attaches again: From is
// the home agent lost, To the one tried now, Address the home address the
// client asks to keep, Reason why the SA ended.
const EventReattaching = "reattaching"

// ReattachConfig says what a client does when it loses its home agent
// after it held a home address. The zero value gives up (Run returns
// ErrDetached).
type ReattachConfig struct {
	// Enable makes the client attach again, asking for the home address it
	// held (CFG_REQUEST), at the next home agent of the list: Config.HA,
	// then HAs, round and round, starting after the one it lost. A home
	// agent of the cluster that takes the node over keeps its address (the
	// lease is taken over once the dead member's record lapses); one that
	// redirects it is followed as at any attachment.
	Enable bool
	// HAs are more home agents to try, "HOST[:PORT]" as Config.HA.
	HAs []string
	// Backoff is the pause before the first attempt (0: 500 ms); it
	// doubles after each attempt that fails, up to MaxBackoff (0: 8 s).
	Backoff, MaxBackoff time.Duration
}

// Defaults of ReattachConfig.
const (
	DefaultReattachBackoff    = 500 * time.Millisecond
	DefaultReattachMaxBackoff = 8 * time.Second
)

// reattachState is the client's memory of its home agents for
// re-attachment.
type reattachState struct {
	list     []netip.AddrPort // Config.HA, then ReattachConfig.HAs
	next     int              // index of the next to try
	at       time.Time        // next attempt; zero: none pending
	backoff  time.Duration    // pause before the next attempt after this one
	lost     netip.AddrPort   // the home agent lost
	attempts int              // attempts since the home agent was lost
}

// configureReattach resolves the re-attachment list.
func (c *Client) configureReattach() error {
	r := &c.cfg.Reattach
	if r.Backoff < 0 || r.MaxBackoff < 0 {
		return errors.New("mnclient: negative re-attachment backoff")
	}
	if r.Backoff == 0 {
		r.Backoff = DefaultReattachBackoff
	}
	if r.MaxBackoff == 0 {
		r.MaxBackoff = DefaultReattachMaxBackoff
	}
	c.re.list = []netip.AddrPort{c.ha}
	for _, s := range r.HAs {
		a, err := resolveHA(s)
		if err != nil {
			return fmt.Errorf("mnclient: re-attachment home agent: %w", err)
		}
		c.re.list = append(c.re.list, a)
	}
	c.re.backoff = r.Backoff
	return nil
}

// reattachPending reports whether an attempt to attach again is due.
func (c *Client) reattachPending() bool { return !c.re.at.IsZero() }

// lostHomeAgent is told that the current IKE SA ended without our asking.
// It schedules an attempt to attach again and reports whether it did (no:
// re-attachment is off, the client is detaching, or it never held a home
// address).
func (c *Client) lostHomeAgent(now time.Time, s *session, down ike.IKEDown) bool {
	if !c.cfg.Reattach.Enable || c.detach.asked || !c.bind.hoa.IsValid() {
		return false
	}
	if c.re.attempts == 0 {
		c.re.lost = s.gw
		c.re.next = 0
		for i, a := range c.re.list {
			if a == s.gw {
				c.re.next = i + 1
			}
		}
	}
	c.bul.Remove(c.bind.hoa, c.haAddr)
	c.bind.registered, c.bind.accepted = false, false
	c.setStatus(func(st *Status) { st.Attached, st.Bound = false, false })
	c.re.at = now.Add(c.re.backoff)
	c.re.backoff = min(2*c.re.backoff, c.cfg.Reattach.MaxBackoff)
	c.result = nil // a redirect that failed on the way ends this attempt only
	c.log.Warn("home agent lost; attaching again", "ha", s.gw.String(), "reason", down.Reason.String(), "err", down.Err,
		"in", c.re.at.Sub(now).String())
	return true
}

// reattachTick starts the attempt that is due.
func (c *Client) reattachTick(now time.Time) {
	if c.re.at.IsZero() || now.Before(c.re.at) || c.cur != nil {
		return
	}
	c.re.at = time.Time{}
	c.re.attempts++
	gw := c.re.list[c.re.next%len(c.re.list)]
	c.re.next++
	cfg := c.ikeCfg
	cfg.Request.SuggestIPv6 = netip.PrefixFrom(c.bind.hoa, 128)
	ev := Event{Time: now, Event: EventReattaching, From: c.re.lost.String(), To: gw.String(), Address: c.bind.hoa.String()}
	if c.router != nil {
		if err := c.router.switchGateway(gw.Addr()); err != nil {
			c.log.Warn("home agent not kept outside the tunnel", "ha", gw.String(), "err", err)
		}
	}
	s, err := c.startSession(now, gw, &cfg)
	if err != nil {
		ev.Error = err.Error()
		c.emit(ev)
		c.re.at = now.Add(c.re.backoff)
		c.re.backoff = min(2*c.re.backoff, c.cfg.Reattach.MaxBackoff)
		return
	}
	c.cur, c.ha = s, gw
	if !c.cfg.HAAddr.IsValid() && gw.Addr().Is6() {
		c.haAddr = gw.Addr()
	}
	c.emit(ev)
}

// reattached notes that the client is bound again: the next loss starts
// from the first pause.
func (c *Client) reattached() {
	if c.re.attempts == 0 {
		return
	}
	c.log.Info("attached again", "lost", c.re.lost.String(), "ha", c.ha.String(), "attempts", c.re.attempts)
	c.re.attempts, c.re.backoff = 0, c.cfg.Reattach.Backoff
}
