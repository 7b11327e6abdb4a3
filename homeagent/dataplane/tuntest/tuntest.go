// Package tuntest provides an in-memory inner device for the dataplane, so
// that tests can move packets through ESP without root or a TUN device
// (after wireguard-go's tun/tuntest).
package tuntest

import (
	"errors"
	"sync"
)

// ErrClosed is returned by Read and Write after Close.
var ErrClosed = errors.New("tuntest: device closed")

// ChannelTUN is an inner device backed by channels. It satisfies the
// dataplane's Device interface.
type ChannelTUN struct {
	// Outgoing carries packets into the tunnel: the test sends an inner IP
	// packet, the dataplane reads it, seals it and sends it to the peer.
	Outgoing chan []byte
	// Incoming carries packets out of the tunnel: the dataplane opens an
	// ESP packet and writes the inner packet here (a copy).
	Incoming chan []byte

	closed    chan struct{}
	closeOnce sync.Once
}

// New returns a ChannelTUN whose channels hold up to depth packets.
func New(depth int) *ChannelTUN {
	return &ChannelTUN{
		Outgoing: make(chan []byte, depth),
		Incoming: make(chan []byte, depth),
		closed:   make(chan struct{}),
	}
}

// Read waits for one packet from Outgoing, then takes whatever else is
// already queued, up to len(bufs) packets.
func (c *ChannelTUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	var n int
	select {
	case p := <-c.Outgoing:
		sizes[0] = copy(bufs[0][offset:], p)
		n = 1
	case <-c.closed:
		return 0, ErrClosed
	}
	for n < len(bufs) {
		select {
		case p := <-c.Outgoing:
			sizes[n] = copy(bufs[n][offset:], p)
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

// Write copies every packet to Incoming, waiting for room.
func (c *ChannelTUN) Write(pkts [][]byte) (int, error) {
	for i, p := range pkts {
		select {
		case c.Incoming <- append([]byte(nil), p...):
		case <-c.closed:
			return i, ErrClosed
		}
	}
	return len(pkts), nil
}

// Close makes Read and Write fail. It is safe to call more than once.
func (c *ChannelTUN) Close() error {
	c.closeOnce.Do(func() { close(c.closed) })
	return nil
}
