package mip6

import (
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/mip6/mh"
)

// modelEntry is the naive model's view of one home address.
type modelEntry struct {
	valid bool
	seq   uint16
	until time.Time // valid: expiry; deregistered: removal
}

// TestBindingCacheAgainstModel compares the binding cache with a naive
// model of RFC 6275 §9.5.1, §10.3.1 and §10.3.2 (sequence window,
// registration, deregistration, lifetime cap, expiry, the
// MAX_DELETE_BCE_TIMEOUT wait) on random Binding Updates and time steps.
func TestBindingCacheAgainstModel(t *testing.T) {
	c := newCache(t, func(c *HomeAgentConfig) { c.MaxLifetime = 400 * time.Second; c.Shards = 2 })
	model := map[netip.Addr]*modelEntry{}
	hoas := []netip.Addr{hoaN(0), hoaN(1), hoaN(2), hoaN(3)}
	rng := rand.New(rand.NewPCG(11, 12))
	now := t0
	cases := map[string]int{}
	for step := range 20000 {
		if rng.IntN(4) == 0 {
			now = now.Add(time.Duration(rng.IntN(200)) * time.Second)
			c.Tick(now, nil)
			for hoa, e := range model {
				if !now.Before(e.until) {
					delete(model, hoa)
				}
			}
		}
		hoa := hoas[rng.IntN(len(hoas))]
		e := model[hoa]
		seq := uint16(rng.Uint32())
		if e != nil && rng.IntN(2) == 0 {
			seq = e.seq + uint16(rng.IntN(5)) - 2 // near the window's edge
		}
		lifetime := mh.Lifetime(0)
		if rng.IntN(3) != 0 {
			lifetime = mh.Lifetime(1 + rng.IntN(200))
		}

		// The model.
		var verdict Verdict
		var status mh.Status
		baSeq, baLifetime := seq, mh.Lifetime(0)
		switch {
		case e != nil && !SequenceGreater(seq, e.seq):
			verdict, status, baSeq = Rejected, mh.StatusSequenceOutOfWindow, e.seq
			cases["135"]++
		case lifetime == 0 && (e == nil || !e.valid):
			verdict, status = Rejected, mh.StatusNotHomeAgentForThisMN
			if e != nil {
				e.seq = seq
			}
			cases["133"]++
		case lifetime == 0:
			verdict = Accepted
			*e = modelEntry{seq: seq, until: now.Add(MaxDeleteBCETimeout)}
			cases["deregistration"]++
		default:
			verdict, baLifetime = Accepted, min(lifetime, 100)
			model[hoa] = &modelEntry{valid: true, seq: seq, until: now.Add(baLifetime.Duration())}
			cases["registration"]++
			if lifetime > 100 {
				cases["capped"]++
			}
		}

		d := c.Update(now, tunnelCtx(hoa), fromHoA(hoa), tunnelBU(seq, flagsAH, lifetime, coa1))
		ba := d.BindingAck()
		if d.Verdict != verdict || ba.Status != status || ba.Sequence != baSeq || (verdict == Accepted && ba.Lifetime != baLifetime) {
			t.Fatalf("step %d, %v seq %d lifetime %d: got %v %v seq %d lifetime %d, model %v %v seq %d lifetime %d",
				step, hoa, seq, lifetime, d.Verdict, ba.Status, ba.Sequence, ba.Lifetime, verdict, status, baSeq, baLifetime)
		}
		if c.Len() != len(model) {
			t.Fatalf("step %d: %d entries, model %d", step, c.Len(), len(model))
		}
		for hoa, m := range model {
			b, ok := c.Lookup(hoa)
			if !ok || (b.State == StateValid) != m.valid || b.Sequence != m.seq || !b.Expires.Equal(m.until) {
				t.Fatalf("step %d: %v is %+v, model %+v", step, hoa, b, *m)
			}
		}
	}
	for _, k := range []string{"135", "133", "deregistration", "registration", "capped"} {
		if cases[k] < 500 {
			t.Errorf("only %d steps of kind %s: %v", cases[k], k, cases)
		}
	}
}
