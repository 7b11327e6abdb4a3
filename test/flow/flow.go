// Package flow measures the continuity of a TCP transfer: a sender
// streams numbered, timestamped chunks at a steady pace, a receiver notes
// when each arrives, and the report gives the bytes, the longest gap
// between two chunks (and the 99th percentile of the gaps), the largest
// one-way delay, and whether the connection was reset. The end-to-end
// tests use it (through cmd/flowprobe, run inside lab hosts) to show that
// a mobile node's TCP connection survives a handover and how long the
// handover interrupted it.
//
// The one-way delay compares the sender's clock with the receiver's: it
// is meaningful when both run on one machine (network namespaces share the
// clock), as in the lab.
package flow

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"syscall"
	"time"
)

// HeaderLen is the size of a chunk header: "FLOW", the sequence number,
// the send time (Unix nanoseconds) and the payload length, big-endian.
const HeaderLen = 4 + 8 + 8 + 4

// MaxPayload bounds a chunk's payload.
const MaxPayload = 1 << 20

var magic = [4]byte{'F', 'L', 'O', 'W'}

// Errors of ParseHeader and Receive.
var (
	ErrShort    = errors.New("flow: chunk header truncated")
	ErrMagic    = errors.New("flow: not a chunk header")
	ErrTooLarge = errors.New("flow: chunk payload too large")
)

// Header is the header of one chunk.
type Header struct {
	Seq     uint64
	Sent    time.Time
	Payload int
}

// AppendChunk appends a chunk (header and payload octets of zero) to b.
func AppendChunk(b []byte, h Header) []byte {
	b = append(b, magic[:]...)
	b = binary.BigEndian.AppendUint64(b, h.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Sent.UnixNano()))
	b = binary.BigEndian.AppendUint32(b, uint32(h.Payload))
	return append(b, make([]byte, h.Payload)...)
}

// ParseHeader parses a chunk header at the start of b.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, ErrShort
	}
	if [4]byte(b[:4]) != magic {
		return Header{}, ErrMagic
	}
	n := binary.BigEndian.Uint32(b[20:24])
	if n > MaxPayload {
		return Header{}, fmt.Errorf("%w: %d octets", ErrTooLarge, n)
	}
	return Header{
		Seq:     binary.BigEndian.Uint64(b[4:12]),
		Sent:    time.Unix(0, int64(binary.BigEndian.Uint64(b[12:20]))),
		Payload: int(n),
	}, nil
}

// Report is what the receiving side saw.
type Report struct {
	Bytes  int64 `json:"bytes"`
	Chunks int64 `json:"chunks"`
	// First and Last are when the first and the last chunk arrived.
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
	// LongestGap is the longest time between two consecutive chunks and
	// LongestGapEnd when it ended; GapP99 is the 99th percentile of the
	// gaps, MedianGap their median (the pace, on a healthy path).
	LongestGap    time.Duration `json:"longest_gap_ns"`
	LongestGapEnd time.Time     `json:"longest_gap_end"`
	GapP99        time.Duration `json:"gap_p99_ns"`
	MedianGap     time.Duration `json:"median_gap_ns"`
	// LongGaps lists the gaps of at least LongGap, in order (at most
	// MaxLongGaps of them), so a test can find the one around an event.
	LongGaps []Gap `json:"long_gaps,omitempty"`
	// MaxDelay is the largest one-way delay (arrival minus send time).
	MaxDelay time.Duration `json:"max_delay_ns"`
	// OutOfOrder counts chunks whose sequence number was not the next one
	// (TCP delivers in order: any is a bug in the path or the sender).
	OutOfOrder int64 `json:"out_of_order"`
	// Reset says the connection was reset (RST); Closed that the sender
	// closed it normally (FIN after a whole chunk). Err is any other end.
	Reset  bool   `json:"reset"`
	Closed bool   `json:"closed"`
	Err    string `json:"error,omitempty"`
}

// LongGap is the shortest gap Report.LongGaps lists; MaxLongGaps bounds
// the list.
const (
	LongGap     = 100 * time.Millisecond
	MaxLongGaps = 256
)

// Gap is a time without chunks: Length long, ended by a chunk at End.
type Gap struct {
	End    time.Time     `json:"end"`
	Length time.Duration `json:"length_ns"`
}

// Start is when the gap began: the arrival of the chunk before it.
func (g Gap) Start() time.Time { return g.End.Add(-g.Length) }

// LongestGapIn returns the longest of the long gaps that overlap the
// interval [from, to], and false if none does.
func (r Report) LongestGapIn(from, to time.Time) (Gap, bool) {
	var best Gap
	found := false
	for _, g := range r.LongGaps {
		if g.End.Before(from) || g.Start().After(to) {
			continue
		}
		if !found || g.Length > best.Length {
			best, found = g, true
		}
	}
	return best, found
}

// String summarises the report on one line.
func (r Report) String() string {
	end := "closed"
	switch {
	case r.Reset:
		end = "RESET"
	case r.Err != "":
		end = "error: " + r.Err
	}
	return fmt.Sprintf("%d bytes in %d chunks over %v, longest gap %v, gap p99 %v, median gap %v, max delay %v, %s",
		r.Bytes, r.Chunks, r.Last.Sub(r.First).Round(time.Millisecond), r.LongestGap.Round(time.Microsecond),
		r.GapP99.Round(time.Microsecond), r.MedianGap.Round(time.Microsecond), r.MaxDelay.Round(time.Microsecond), end)
}

// IsReset reports whether err is a connection reset.
func IsReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// Receive reads chunks from conn until the sender closes it, it fails, or
// ctx ends, and reports. now is the clock (time.Now when nil).
func Receive(ctx context.Context, conn net.Conn, now func() time.Time) Report {
	if now == nil {
		now = time.Now
	}
	stop := context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	var (
		r     Report
		gaps  []time.Duration
		hdr   = make([]byte, HeaderLen)
		rd    = bufio.NewReaderSize(conn, 64<<10)
		next  uint64
		prev  time.Time
		first = true
	)
	for {
		if _, err := io.ReadFull(rd, hdr); err != nil {
			r.finish(err, err == io.EOF, ctx)
			break
		}
		h, err := ParseHeader(hdr)
		if err != nil {
			r.Err = err.Error()
			break
		}
		if _, err := rd.Discard(h.Payload); err != nil {
			r.finish(err, false, ctx)
			break
		}
		at := now()
		r.Chunks++
		r.Bytes += int64(HeaderLen + h.Payload)
		if h.Seq != next {
			r.OutOfOrder++
		}
		next = h.Seq + 1
		if d := at.Sub(h.Sent); d > r.MaxDelay {
			r.MaxDelay = d
		}
		if first {
			r.First, first = at, false
		} else {
			g := at.Sub(prev)
			gaps = append(gaps, g)
			if g > r.LongestGap {
				r.LongestGap, r.LongestGapEnd = g, at
			}
			if g >= LongGap && len(r.LongGaps) < MaxLongGaps {
				r.LongGaps = append(r.LongGaps, Gap{End: at, Length: g})
			}
		}
		prev, r.Last = at, at
	}
	if len(gaps) > 0 {
		slices.Sort(gaps)
		r.GapP99 = gaps[(len(gaps)*99+99)/100-1]
		r.MedianGap = gaps[(len(gaps)-1)/2]
	}
	return r
}

// finish notes how the stream ended: clean is a FIN at a chunk boundary.
func (r *Report) finish(err error, clean bool, ctx context.Context) {
	switch {
	case clean:
		r.Closed = true
	case IsReset(err):
		r.Reset = true
	case ctx.Err() != nil:
		r.Err = ctx.Err().Error()
	default:
		r.Err = err.Error()
	}
}

// SendConfig paces a sender.
type SendConfig struct {
	// Payload is the payload of each chunk (default 1024 octets).
	Payload int
	// Interval is the time between chunks (0: as fast as TCP takes them).
	Interval time.Duration
	// Duration ends the transfer after this long; Chunks after this many
	// chunks. Zero: until ctx ends. Either way the sender then closes the
	// connection normally (FIN).
	Duration time.Duration
	Chunks   int64
}

// SendReport is what the sending side saw.
type SendReport struct {
	Bytes  int64  `json:"bytes"`
	Chunks int64  `json:"chunks"`
	Reset  bool   `json:"reset"`
	Err    string `json:"error,omitempty"`
}

// Send writes chunks to conn as cfg says, then closes its side (FIN) and
// reports. A reset or write error ends it early.
func Send(ctx context.Context, conn net.Conn, cfg SendConfig) SendReport {
	if cfg.Payload <= 0 {
		cfg.Payload = 1024
	}
	cfg.Payload = min(cfg.Payload, MaxPayload)
	var r SendReport
	var end time.Time
	if cfg.Duration > 0 {
		end = time.Now().Add(cfg.Duration)
	}
	// Only a cancelled ctx interrupts a write (one that blocks because the
	// path is down); the planned end comes between two chunks.
	stop := context.AfterFunc(ctx, func() { conn.SetWriteDeadline(time.Unix(1, 0)) })
	defer stop()
	var tick <-chan time.Time
	if cfg.Interval > 0 {
		t := time.NewTicker(cfg.Interval)
		defer t.Stop()
		tick = t.C
	}
	buf := make([]byte, 0, HeaderLen+cfg.Payload)
	for seq := uint64(0); cfg.Chunks == 0 || int64(seq) < cfg.Chunks; seq++ {
		if tick != nil {
			select {
			case <-tick:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil || !end.IsZero() && !time.Now().Before(end) {
			break
		}
		buf = AppendChunk(buf[:0], Header{Seq: seq, Sent: time.Now(), Payload: cfg.Payload})
		if _, err := conn.Write(buf); err != nil {
			if ctx.Err() != nil {
				break // cancelled mid-chunk: the receiver sees an error
			}
			r.Reset, r.Err = IsReset(err), err.Error()
			return r
		}
		r.Chunks++
		r.Bytes += int64(len(buf))
	}
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		if err := cw.CloseWrite(); err != nil && r.Err == "" {
			r.Reset, r.Err = IsReset(err), err.Error()
		}
	}
	return r
}
