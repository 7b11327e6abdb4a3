package mnclient

import (
	"errors"
	"sync"
	"sync/atomic"

	"github.com/mip6ha/mip6ha/homeagent/dataplane"
	"github.com/mip6ha/mip6ha/mip6/mh"
)

// IsMobilityPacket reports whether pkt is an IPv6 packet whose first
// header after the fixed one is a Mobility Header (Next Header 135): the
// all-in-tunnel form of RFC 4877 §3, in which Binding Acknowledgements,
// Binding Refresh Requests, Home Agent Switch messages and Binding Errors
// reach the mobile node inside the ESP tunnel with no extension header
// before them. It only looks at the first 40 octets and never fails.
func IsMobilityPacket(pkt []byte) bool {
	return len(pkt) >= ipv6HeaderLen && pkt[0]>>4 == 6 && pkt[6] == mh.ProtoMH
}

const ipv6HeaderLen = 40

// mobilityDevice is the inner device of a mobile node's dataplane. It
// passes data through to the device it wraps (the TUN device, or an
// in-memory one), but
//
//   - takes the Mobility Header packets that come out of the tunnel away
//     from the stream the dataplane writes, so that they reach the binding
//     update list and never the node's own IPv6 stack (which has no Mobile
//     IPv6 and would answer with ICMPv6 Parameter Problem), and
//   - puts the node's own Binding Updates on the outbound path with
//     inject, as if the node's stack had sent them into the device: the
//     dataplane reads them, routes them by their destination (the home
//     agent) to the CHILD_SA and seals them.
type mobilityDevice struct {
	dataplane.Device
	inject  func(pkt []byte) error
	deliver chan<- []byte // Mobility Header packets, copied; full: dropped
	dropped atomic.Uint64
	gaps    gapMeter // the interruption of a move (handover.go)
}

// Write implements dataplane.Device. The common case, a batch without any
// Mobility Header packet, goes to the wrapped device as it is.
func (d *mobilityDevice) Write(pkts [][]byte) (int, error) {
	n, start := 0, 0
	var last error
	for i, p := range pkts {
		if !IsMobilityPacket(p) {
			continue
		}
		if start < i {
			d.gaps.delivered()
			k, err := d.Device.Write(pkts[start:i])
			n += k
			if err != nil {
				last = err
			}
		}
		select {
		case d.deliver <- append([]byte(nil), p...):
		default:
			d.dropped.Add(1)
		}
		n++
		start = i + 1
	}
	if start == 0 {
		d.gaps.delivered()
		return d.Device.Write(pkts)
	}
	if start < len(pkts) {
		d.gaps.delivered()
		k, err := d.Device.Write(pkts[start:])
		n += k
		if err != nil {
			last = err
		}
	}
	return n, last
}

// memDevice is an inner device without a kernel behind it, for nodes that
// only signal (bulk mode) and for tests: the dataplane reads the packets
// given to Inject and writes into Received (if set; otherwise they are
// counted and dropped).
type memDevice struct {
	out      chan []byte
	closed   chan struct{}
	once     sync.Once
	received func(pkt []byte) // called with a copy; nil: drop
	written  atomic.Uint64
}

var errDeviceClosed = errors.New("mnclient: device closed")

func newMemDevice(received func([]byte)) *memDevice {
	return &memDevice{out: make(chan []byte, 64), closed: make(chan struct{}), received: received}
}

// Inject queues pkt for the dataplane to read.
func (m *memDevice) Inject(pkt []byte) error {
	select {
	case m.out <- pkt:
		return nil
	case <-m.closed:
		return errDeviceClosed
	}
}

// Read implements dataplane.Device.
func (m *memDevice) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	select {
	case p := <-m.out:
		sizes[0] = copy(bufs[0][offset:], p)
	case <-m.closed:
		return 0, errDeviceClosed
	}
	n := 1
	for n < len(bufs) {
		select {
		case p := <-m.out:
			sizes[n] = copy(bufs[n][offset:], p)
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

// Write implements dataplane.Device.
func (m *memDevice) Write(pkts [][]byte) (int, error) {
	select {
	case <-m.closed:
		return 0, errDeviceClosed
	default:
	}
	m.written.Add(uint64(len(pkts)))
	if m.received != nil {
		for _, p := range pkts {
			m.received(append([]byte(nil), p...))
		}
	}
	return len(pkts), nil
}

// Close implements dataplane.Device.
func (m *memDevice) Close() error {
	m.once.Do(func() { close(m.closed) })
	return nil
}
