package policy

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func mustLimiter(t *testing.T, interval time.Duration, burst int) *Limiter {
	t.Helper()
	l, err := NewLimiter(interval, burst)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// RFC 5142 §7 default: one Home Agent Switch per second.
func TestLimiterOnePerSecond(t *testing.T) {
	l, err := DefaultConfig().NewLimiter()
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		at    time.Duration
		allow bool
		next  time.Duration // Next(at) after the Allow call
	}{
		{0, true, time.Second},
		{0, false, time.Second},
		{999 * time.Millisecond, false, time.Second},
		{time.Second, true, 2 * time.Second},
		{5 * time.Second, true, 6 * time.Second}, // idle time does not bank more than the burst
		{5 * time.Second, false, 6 * time.Second},
	}
	for _, s := range steps {
		now := t0.Add(s.at)
		if got := l.Allow(now); got != s.allow {
			t.Errorf("Allow(+%v) = %v, want %v", s.at, got, s.allow)
		}
		if got := l.Next(now); !got.Equal(t0.Add(s.next)) {
			t.Errorf("Next(+%v) = +%v, want +%v", s.at, got.Sub(t0), s.next)
		}
	}
}

func TestLimiterBurst(t *testing.T) {
	l := mustLimiter(t, time.Second, 3)
	for i := range 3 {
		if !l.Allow(t0) {
			t.Fatalf("move %d of the burst refused", i+1)
		}
	}
	if l.Allow(t0) {
		t.Fatal("fourth move of a burst of 3 allowed")
	}
	if got := l.Next(t0); !got.Equal(t0.Add(time.Second)) {
		t.Errorf("Next = +%v, want +1s", got.Sub(t0))
	}
	// Polling every millisecond for 10 s: the burst, then one per second.
	allowed := 0
	for ms := 1; ms <= 10000; ms++ {
		if l.Allow(t0.Add(time.Duration(ms) * time.Millisecond)) {
			allowed++
		}
	}
	if allowed != 10 {
		t.Errorf("%d moves in the 10 s after the burst, want 10", allowed)
	}
	// After a long quiet period the full burst is back, no more.
	later := t0.Add(time.Hour)
	n := 0
	for l.Allow(later) {
		n++
	}
	if n != 3 {
		t.Errorf("%d moves after an idle hour, want the burst of 3", n)
	}
}

// Next is exact: Allow fails just before it and succeeds at it, and no
// window of length w ever sees more than burst + w/interval moves.
func TestLimiterNextIsExact(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		interval := time.Duration(1+r.IntN(2000)) * time.Millisecond
		burst := 1 + r.IntN(5)
		l := mustLimiter(t, interval, burst)
		now := t0
		var times []time.Time
		for range 100 {
			now = now.Add(time.Duration(r.IntN(int(2 * interval))))
			next := l.Next(now)
			if next.Before(now) {
				t.Fatalf("Next(%v) = %v, in the past", now, next)
			}
			if next.After(now) {
				probe := *l
				if probe.Allow(next.Add(-time.Nanosecond)) {
					t.Fatalf("interval %v burst %d: allowed 1ns before Next", interval, burst)
				}
			}
			if l.Allow(now) != !next.After(now) {
				t.Fatalf("interval %v burst %d: Allow(now) disagrees with Next(now) = now+%v", interval, burst, next.Sub(now))
			}
			if !next.After(now) {
				times = append(times, now)
			}
		}
		for i := range times {
			for j := i; j < len(times); j++ {
				w := times[j].Sub(times[i])
				if limit := burst + int(w/interval); j-i+1 > limit {
					t.Fatalf("interval %v burst %d: %d moves within %v", interval, burst, j-i+1, w)
				}
			}
		}
	}
}

// A clock that steps back earns no credit and owes no debt.
func TestLimiterClockStepsBack(t *testing.T) {
	l := mustLimiter(t, time.Second, 1)
	if !l.Allow(t0) {
		t.Fatal("first move refused")
	}
	if l.Allow(t0.Add(-time.Hour)) {
		t.Error("allowed after the clock stepped back")
	}
	if got := l.Next(t0.Add(-time.Hour)); !got.Equal(t0.Add(time.Second)) {
		t.Errorf("Next after stepping back = %v, want t0+1s", got.Sub(t0))
	}
	if !l.Allow(t0.Add(time.Second)) {
		t.Error("refused once the interval passed")
	}
}

func TestNewLimiterErrors(t *testing.T) {
	for _, tt := range []struct {
		interval time.Duration
		burst    int
		field    string
	}{
		{0, 1, "SwitchInterval"},
		{-time.Second, 1, "SwitchInterval"},
		{time.Second, 0, "SwitchBurst"},
		{time.Hour, 1 << 40, "SwitchBurst"},
	} {
		_, err := NewLimiter(tt.interval, tt.burst)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Field != tt.field || !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("NewLimiter(%v, %d): %v, want a ConfigError for %s", tt.interval, tt.burst, err, tt.field)
		}
	}
}

func TestLimiterZeroValue(t *testing.T) {
	var l Limiter
	if !l.Allow(t0) || l.Allow(t0.Add(999*time.Millisecond)) || !l.Allow(t0.Add(time.Second)) {
		t.Error("the zero Limiter does not allow one move per second")
	}
	var fresh Limiter
	if got := fresh.Next(t0); !got.Equal(t0) {
		t.Errorf("Next on a fresh zero Limiter = %v, want now", got)
	}
}
