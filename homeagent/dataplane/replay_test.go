package dataplane

import (
	"math/rand/v2"
	"testing"
)

// naiveWindow is the reference model of RFC 4303 §3.4.3: remember every
// sequence number ever accepted; accept a new one if it is right of the
// window's left edge.
type naiveWindow struct {
	seen map[uint64]bool
	last uint64
}

func (w *naiveWindow) update(seq uint64) bool {
	if seq == 0 || w.seen[seq] {
		return false
	}
	if seq <= w.last && w.last-seq >= ReplayWindow {
		return false
	}
	w.seen[seq] = true
	w.last = max(w.last, seq)
	return true
}

// The bitmap window must agree with the naive model on random traffic:
// in-order runs, reordering within and beyond the window, duplicates and
// jumps of more than the whole ring.
func TestReplayWindowMatchesReferenceModel(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 7))
		var fast replayWindow
		ref := naiveWindow{seen: map[uint64]bool{}}
		seq := uint64(1)
		for i := range 200_000 {
			switch k := rng.IntN(100); {
			case k < 50: // next in order
				seq++
			case k < 70: // reordered within reach of the window
				seq = max(1, seq-uint64(rng.IntN(ReplayWindow+200)))
			case k < 85: // duplicate of something recent
				seq = max(1, ref.last-uint64(rng.IntN(64)))
			case k < 95: // forward jump within a few blocks
				seq = ref.last + uint64(rng.IntN(5*replayBlockBits))
			case k < 99: // jump beyond the ring
				seq = ref.last + uint64(rng.IntN(3*ReplayWindow))
			default: // very old or zero
				seq = uint64(rng.IntN(2))
			}
			check := fast.check(seq)
			want := ref.update(seq)
			if check != want {
				t.Fatalf("seed %d step %d: check(%d) = %v, model says %v (last %d)", seed, i, seq, check, want, ref.last)
			}
			if got := fast.update(seq); got != want {
				t.Fatalf("seed %d step %d: update(%d) = %v, model says %v (last %d)", seed, i, seq, got, want, ref.last)
			}
			if fast.last != ref.last {
				t.Fatalf("seed %d step %d: right edge %d, model %d", seed, i, fast.last, ref.last)
			}
		}
	}
}

func TestReplayWindowEdges(t *testing.T) {
	var w replayWindow
	steps := []struct {
		seq  uint64
		want bool
	}{
		{0, false}, // never sent
		{1, true},
		{1, false},
		{ReplayWindow + 1, true},
		{2, true},  // last - 2 = ReplayWindow - 1: the left edge, still inside
		{1, false}, // already seen
		{ReplayWindow + 2, true},
		{2, false},
		{3, true}, // left edge again
		{1<<32 - 1, true},
		{1<<32 - ReplayWindow, true},
		{1<<32 - ReplayWindow - 1, false},
	}
	for i, s := range steps {
		if got := w.update(s.seq); got != s.want {
			t.Fatalf("step %d: update(%d) = %v, want %v", i, s.seq, got, s.want)
		}
	}
}
