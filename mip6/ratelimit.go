package mip6

import "time"

// tokenBucket allows rate events per second with a burst of one second's
// worth (at least one). Time is given, not read.
type tokenBucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func newTokenBucket(rate float64) tokenBucket {
	burst := max(rate, 1)
	return tokenBucket{rate: rate, burst: burst, tokens: burst}
}

func (b *tokenBucket) refill(now time.Time) {
	if !b.last.IsZero() {
		if d := now.Sub(b.last); d > 0 {
			b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		}
	}
	if b.last.IsZero() || now.After(b.last) {
		b.last = now
	}
}

// allow takes a token if one is available at now.
func (b *tokenBucket) allow(now time.Time) bool {
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return true
	}
	return false
}

// next is the earliest time a token is available.
func (b *tokenBucket) next(now time.Time) time.Time {
	b.refill(now)
	if b.tokens >= 1 {
		return now
	}
	return now.Add(time.Duration((1 - b.tokens) / b.rate * float64(time.Second)))
}
