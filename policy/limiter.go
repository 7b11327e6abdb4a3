package policy

import (
	"strconv"
	"time"
)

// Limiter paces the moves one home agent starts (Home Agent Switch
// messages, RFC 5142 §7, which REQUIRES a rate limit or a capacity
// feedback loop; default 1 per second). It is a token bucket holding up to
// burst tokens that refills one token per interval, written as the
// equivalent generic cell rate algorithm: one timestamp of state, exact
// integer arithmetic.
//
// Time is an input: the Limiter reads no clock and starts no goroutine.
// Pass monotonic times (time.Now values); a time earlier than a previous
// one is treated as no time having passed. A Limiter is not safe for
// concurrent use; the goroutine that executes moves owns it. The zero
// Limiter has the defaults: one move per second, burst 1.
type Limiter struct {
	interval  time.Duration
	tolerance time.Duration // (burst-1) * interval
	tat       time.Time     // theoretical arrival time of the next move
	last      time.Time     // latest time seen
}

// NewLimiter returns a Limiter allowing one move per interval on average
// and up to burst back to back. Invalid arguments give a *ConfigError
// naming SwitchInterval or SwitchBurst.
func NewLimiter(interval time.Duration, burst int) (*Limiter, error) {
	if interval <= 0 {
		return nil, &ConfigError{"SwitchInterval", "must be > 0, not " + interval.String()}
	}
	if burst < 1 {
		return nil, &ConfigError{"SwitchBurst", "must be >= 1, not " + strconv.Itoa(burst)}
	}
	tol := time.Duration(burst-1) * interval
	if tol/interval != time.Duration(burst-1) {
		return nil, &ConfigError{"SwitchBurst", "burst times interval overflows"}
	}
	return &Limiter{interval: interval, tolerance: tol}, nil
}

// NewLimiter returns the Limiter configured by c.SwitchInterval and
// c.SwitchBurst.
func (c Config) NewLimiter() (*Limiter, error) {
	return NewLimiter(c.SwitchInterval, c.SwitchBurst)
}

// Allow reports whether a move may start at now, and if so takes a token.
func (l *Limiter) Allow(now time.Time) bool {
	l.defaults()
	now = l.clamp(now)
	tat := l.tat
	if tat.Before(now) {
		tat = now
	}
	if tat.Sub(now) > l.tolerance {
		return false
	}
	l.tat = tat.Add(l.interval)
	return true
}

// Next returns the earliest time at or after now at which Allow will
// succeed: now itself when a token is available.
func (l *Limiter) Next(now time.Time) time.Time {
	l.defaults()
	if now.Before(l.last) {
		now = l.last
	}
	t := l.tat.Add(-l.tolerance)
	if t.Before(now) {
		return now
	}
	return t
}

// clamp returns now, or the latest time seen if now is earlier, and
// records it.
func (l *Limiter) clamp(now time.Time) time.Time {
	if now.Before(l.last) {
		return l.last
	}
	l.last = now
	return now
}

// defaults gives the zero Limiter DefaultSwitchInterval and burst 1.
func (l *Limiter) defaults() {
	if l.interval == 0 {
		l.interval = DefaultSwitchInterval
	}
}
