package cluster

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/mip6ha/mip6ha/test/flow"
	"github.com/mip6ha/mip6ha/test/lab"
)

// FlowPort is the TCP port the nodes' flows are received on.
const FlowPort = 5001

// Flow is a paced TCP transfer from cn to a mobile node's home address,
// run by the test process with its sockets in the two hosts' namespaces
// (package flow: numbered, timestamped chunks; the receiver reports gaps
// and resets).
type Flow struct {
	recv    *meteredConn
	stop    context.CancelFunc
	done    chan struct{}
	report  flow.Report
	sent    flow.SendReport
	started time.Time
}

// StartFlow connects from cn to hoa:FlowPort, where node listens (the
// home address must be on its TUN device), and streams chunks as cfg says
// until Stop (or cfg's end).
func (l *Lab) StartFlow(ctx context.Context, node *lab.Host, hoa netip.Addr, cfg flow.SendConfig) (*Flow, error) {
	addr := netip.AddrPortFrom(hoa, FlowPort).String()
	var ln net.Listener
	err := lab.Poll(ctx, "listening on "+addr, func(context.Context) (err error) {
		ln, err = node.Listen("tcp6", addr) // fails until the address is on the device
		return err
	})
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	out, err := l.Topo.CN.Dial(ctx, "tcp6", "", addr)
	if err != nil {
		return nil, fmt.Errorf("connecting from cn to %s: %w", addr, err)
	}
	var in net.Conn
	select {
	case in = <-accepted:
	case <-ctx.Done():
		out.Close()
		return nil, ctx.Err()
	}
	if in == nil {
		out.Close()
		return nil, fmt.Errorf("accepting on %s failed", addr)
	}
	sctx, stop := context.WithCancel(context.Background())
	f := &Flow{recv: &meteredConn{Conn: in}, stop: stop, done: make(chan struct{}), started: time.Now()}
	recvDone := make(chan struct{})
	go func() {
		f.report = flow.Receive(context.Background(), f.recv, nil)
		in.Close()
		close(recvDone)
	}()
	go func() {
		f.sent = flow.Send(sctx, out, cfg)
		<-recvDone
		out.Close()
		close(f.done)
	}()
	return f, nil
}

// Stop ends the transfer normally (the sender closes with FIN after its
// last whole chunk) and waits for both ends' reports.
func (f *Flow) Stop(ctx context.Context) (flow.Report, flow.SendReport, error) {
	f.stop()
	select {
	case <-f.done:
		return f.report, f.sent, nil
	case <-ctx.Done():
		return flow.Report{}, flow.SendReport{}, fmt.Errorf("flow did not end: %w", ctx.Err())
	}
}

// Done is closed when both ends finished.
func (f *Flow) Done() <-chan struct{} { return f.done }

// FlowProgress is what the receiver has seen so far.
type FlowProgress struct {
	Bytes int64
	// LongestGap is the longest time between two reads that returned data;
	// SinceLast the time since the last one.
	LongestGap, SinceLast time.Duration
}

// Progress returns what the receiver has seen so far.
func (f *Flow) Progress() FlowProgress {
	m := f.recv
	p := FlowProgress{Bytes: m.bytes.Load(), LongestGap: time.Duration(m.longest.Load())}
	if last := m.last.Load(); last != 0 {
		p.SinceLast = time.Since(time.Unix(0, last))
	}
	return p
}

// meteredConn counts what the receiver reads and the longest time between
// two reads, for live progress.
type meteredConn struct {
	net.Conn
	bytes, last, longest atomic.Int64
}

func (c *meteredConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		now := time.Now().UnixNano()
		if prev := c.last.Swap(now); prev != 0 && now-prev > c.longest.Load() {
			c.longest.Store(now - prev)
		}
		c.bytes.Add(int64(n))
	}
	return n, err
}

// CheckFlow returns an error unless the transfer ended normally: no reset,
// closed by the sender, every byte received in order.
func CheckFlow(r flow.Report, s flow.SendReport) error {
	switch {
	case r.Reset || s.Reset:
		return fmt.Errorf("connection reset: receiver %s; sender %+v", r, s)
	case !r.Closed || r.Err != "" || s.Err != "":
		return fmt.Errorf("transfer did not end normally: receiver %s; sender %+v", r, s)
	case r.Bytes != s.Bytes || r.OutOfOrder != 0:
		return fmt.Errorf("received %d bytes (%d chunks out of order), sent %d", r.Bytes, r.OutOfOrder, s.Bytes)
	}
	return nil
}
