package ike

import (
	"fmt"
	"time"
)

// RFC 5685 §7 defaults: a client SHOULD NOT follow more than MAX_REDIRECTS
// redirects within REDIRECT_LOOP_DETECT_PERIOD.
const (
	DefaultMaxRedirects             = 5
	DefaultRedirectLoopDetectPeriod = 300 * time.Second
)

// RedirectGuard is a client's loop guard (RFC 5685 §7): it counts the
// redirects of one attachment attempt, all hops included, in a sliding
// window. The zero value uses the RFC's defaults. It is not safe for
// concurrent use.
type RedirectGuard struct {
	// Max is MAX_REDIRECTS (default 5) and Period
	// REDIRECT_LOOP_DETECT_PERIOD (default 300 s).
	Max    int
	Period time.Duration
	times  []time.Time
}

// Follow records a redirect at now and reports whether it may be followed:
// an error wrapping ErrRedirectLoop once more than Max redirects fall in the
// last Period.
func (g *RedirectGuard) Follow(now time.Time) error {
	max, period := g.Max, g.Period
	if max <= 0 {
		max = DefaultMaxRedirects
	}
	if period <= 0 {
		period = DefaultRedirectLoopDetectPeriod
	}
	kept := g.times[:0]
	for _, t := range g.times {
		if now.Sub(t) < period {
			kept = append(kept, t)
		}
	}
	g.times = append(kept, now)
	if len(g.times) > max {
		return fmt.Errorf("%w: %d redirects within %v (at most %d)", ErrRedirectLoop, len(g.times), period, max)
	}
	return nil
}

// Count returns the redirects recorded in the window as of the last Follow.
func (g *RedirectGuard) Count() int { return len(g.times) }

// FollowRedirect returns the configuration of the IKE SA a client sets up
// after e: the same configuration — the same expected peer identity (PeerID)
// and PAD, which a redirect must not change (RFC 5685 §3) — with
// REDIRECTED_FROM naming the gateway that redirected it (§9.3) and the
// handover ticket, if the redirect carried one. Resolving an FQDN target
// and choosing the path are the caller's: ike does no I/O.
func FollowRedirect(cfg *Config, e RedirectReceived) *Config {
	next := *cfg
	from := e.From
	next.RedirectedFrom = &from
	next.Ticket = e.Target.Ticket
	next.DisableRedirect = false
	return &next
}
