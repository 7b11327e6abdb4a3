package mh

import "time"

// LifetimeUnit is the unit of Binding Update and Binding Acknowledgement
// lifetimes and of the Binding Refresh Advice interval (RFC 6275 §6.1.7).
const LifetimeUnit = 4 * time.Second

// MaxLifetime is the longest lifetime a Binding Update can carry:
// 65535 units, 262140 s (about 72.8 hours).
const MaxLifetime = Lifetime(0xffff)

// Lifetime is a binding lifetime or refresh interval in units of 4 seconds.
type Lifetime uint16

// Duration returns the lifetime as a time.Duration.
func (l Lifetime) Duration() time.Duration { return time.Duration(l) * LifetimeUnit }

// LifetimeOf converts d to 4-second units, rounding down (a binding never
// lives longer than asked) and saturating at [MaxLifetime]; a negative d
// gives 0.
func LifetimeOf(d time.Duration) Lifetime {
	if d <= 0 {
		return 0
	}
	u := d / LifetimeUnit
	if u > time.Duration(MaxLifetime) {
		return MaxLifetime
	}
	return Lifetime(u)
}
