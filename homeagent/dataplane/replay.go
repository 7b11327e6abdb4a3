package dataplane

// ReplayWindow is the size of the anti-replay window in packets: a sequence
// number is accepted when it is new and greater than the highest one received
// minus ReplayWindow. RFC 4303 §3.4.3 asks for at least 32 (64 by default); a
// wide window keeps a fast path with reordering (several reader goroutines,
// multipath) from dropping good packets.
const ReplayWindow = (replayRingBlocks - 1) * replayBlockBits

const (
	replayBlockBits  = 64
	replayRingBlocks = 64 // a power of two
	replayBlockMask  = replayRingBlocks - 1
	replayBitMask    = replayBlockBits - 1
)

// replayWindow is the receiver's sliding window (RFC 4303 §3.4.3, Appendix A2
// style bitmap in a ring of 64-bit blocks, as wireguard-go's replay filter).
// The zero value is an empty window. It is not safe for concurrent use.
//
// Block i of the ring holds the bits of sequence numbers [64k, 64k+63] for
// the k with k mod replayRingBlocks == i. Moving the right edge forward clears
// the blocks it enters; one block is always being cleared or partially valid,
// which is why the window is one block less than the ring.
type replayWindow struct {
	last uint64 // highest sequence number accepted so far (0: none)
	ring [replayRingBlocks]uint64
}

// check reports whether seq would be accepted, without recording it.
func (w *replayWindow) check(seq uint64) bool {
	if seq == 0 { // never sent: the first packet has sequence number 1
		return false
	}
	if seq > w.last {
		return true
	}
	if w.last-seq >= ReplayWindow {
		return false
	}
	block := (seq / replayBlockBits) & replayBlockMask
	return w.ring[block]&(1<<(seq&replayBitMask)) == 0
}

// update records seq as received and reports whether it was acceptable. Call
// it only after the packet's ICV has been verified (RFC 4303 §3.4.3).
func (w *replayWindow) update(seq uint64) bool {
	if seq == 0 {
		return false
	}
	index := seq / replayBlockBits
	if seq > w.last {
		current := w.last / replayBlockBits
		diff := index - current
		if diff > replayRingBlocks {
			diff = replayRingBlocks
		}
		for i := current + 1; i <= current+diff; i++ {
			w.ring[i&replayBlockMask] = 0
		}
		w.last = seq
	} else if w.last-seq >= ReplayWindow {
		return false
	}
	block := index & replayBlockMask
	bit := uint64(1) << (seq & replayBitMask)
	if w.ring[block]&bit != 0 {
		return false
	}
	w.ring[block] |= bit
	return true
}
