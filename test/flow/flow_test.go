package flow

import (
	"bytes"
	"context"
	"errors"
	"net"
	"testing"
	"time"
)

func TestChunkRoundTrip(t *testing.T) {
	sent := time.Unix(1700000000, 123456789)
	b := AppendChunk(nil, Header{Seq: 42, Sent: sent, Payload: 5})
	if len(b) != HeaderLen+5 {
		t.Fatalf("chunk of %d octets", len(b))
	}
	h, err := ParseHeader(b)
	if err != nil || h.Seq != 42 || !h.Sent.Equal(sent) || h.Payload != 5 {
		t.Fatalf("ParseHeader = %+v, %v", h, err)
	}
	for _, c := range []struct {
		b    []byte
		want error
	}{
		{b[:HeaderLen-1], ErrShort},
		{append([]byte("WOLF"), b[4:]...), ErrMagic},
		{append(append([]byte(nil), b[:20]...), 0x00, 0x10, 0x00, 0x01), ErrTooLarge},
	} {
		if _, err := ParseHeader(c.b); !errors.Is(err, c.want) {
			t.Errorf("ParseHeader(%x) = %v, want %v", c.b, err, c.want)
		}
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add(AppendChunk(nil, Header{Seq: 1, Sent: time.Unix(0, 1), Payload: 0}))
	f.Add(AppendChunk(nil, Header{Seq: 1 << 60, Sent: time.Unix(1700000000, 0), Payload: 16})[:HeaderLen])
	f.Add([]byte("FLOW"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		if h.Payload < 0 || h.Payload > MaxPayload {
			t.Fatalf("payload %d accepted", h.Payload)
		}
		again := AppendChunk(nil, h)[:HeaderLen]
		if !bytes.Equal(again, b[:HeaderLen]) {
			t.Fatalf("header %x re-encodes as %x", b[:HeaderLen], again)
		}
	})
}

// pair returns the two ends of a TCP connection over the loopback.
func pair(t *testing.T) (client, server *net.TCPConn) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		acc <- c
	}()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-acc
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func TestSendReceive(t *testing.T) {
	c, s := pair(t)
	done := make(chan Report, 1)
	go func() { done <- Receive(t.Context(), s, nil) }()
	sr := Send(t.Context(), c, SendConfig{Payload: 100, Chunks: 50})
	r := <-done
	if sr.Chunks != 50 || sr.Err != "" || r.Chunks != 50 || r.Bytes != sr.Bytes || !r.Closed || r.Reset || r.OutOfOrder != 0 {
		t.Errorf("sender %+v, receiver %+v", sr, r)
	}
}

// TestGap feeds the receiver chunks with a pause in the middle, with a
// clock the test controls: the longest gap is the pause.
func TestGap(t *testing.T) {
	c, s := pair(t)
	clock := make(chan time.Time, 8)
	done := make(chan Report, 1)
	go func() { done <- Receive(t.Context(), s, func() time.Time { return <-clock }) }()
	base := time.Unix(1000, 0)
	arrivals := []time.Duration{0, 10, 20, 30, 530, 540, 550} // ms: a 500 ms hole
	for i, at := range arrivals {
		c.Write(AppendChunk(nil, Header{Seq: uint64(i), Sent: base, Payload: 10}))
		clock <- base.Add(at * time.Millisecond)
	}
	c.CloseWrite()
	r := <-done
	if r.LongestGap != 500*time.Millisecond || !r.LongestGapEnd.Equal(base.Add(530*time.Millisecond)) ||
		r.MedianGap != 10*time.Millisecond || r.GapP99 != 500*time.Millisecond || r.MaxDelay != 550*time.Millisecond || r.Chunks != 7 {
		t.Errorf("report %+v", r)
	}
	hole := Gap{End: base.Add(530 * time.Millisecond), Length: 500 * time.Millisecond}
	if len(r.LongGaps) != 1 || r.LongGaps[0] != hole {
		t.Errorf("long gaps %+v, want %+v", r.LongGaps, hole)
	}
	for _, c := range []struct {
		from, to time.Duration
		found    bool
	}{
		{0, 20, false}, {20, 40, true}, {100, 200, true}, {520, 600, true}, {531, 600, false},
	} {
		g, ok := r.LongestGapIn(base.Add(c.from*time.Millisecond), base.Add(c.to*time.Millisecond))
		if ok != c.found || ok && g != hole {
			t.Errorf("LongestGapIn(%d ms, %d ms) = %+v, %v; want found %v", c.from, c.to, g, ok, c.found)
		}
	}
}

func TestReset(t *testing.T) {
	c, s := pair(t)
	done := make(chan Report, 1)
	go func() { done <- Receive(t.Context(), s, nil) }()
	c.Write(AppendChunk(nil, Header{Seq: 0, Sent: time.Now(), Payload: 10}))
	c.SetLinger(0)
	c.Close() // RST
	r := <-done
	if !r.Reset || r.Closed || r.Chunks != 1 {
		t.Errorf("report %+v, want a reset after one chunk", r)
	}
}

func TestOutOfOrder(t *testing.T) {
	c, s := pair(t)
	done := make(chan Report, 1)
	go func() { done <- Receive(t.Context(), s, nil) }()
	for _, seq := range []uint64{0, 1, 3, 4} {
		c.Write(AppendChunk(nil, Header{Seq: seq, Sent: time.Now()}))
	}
	c.CloseWrite()
	if r := <-done; r.OutOfOrder != 1 {
		t.Errorf("out of order %d, want 1", r.OutOfOrder)
	}
}

func TestReceiveCancelled(t *testing.T) {
	_, s := pair(t)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan Report, 1)
	go func() { done <- Receive(ctx, s, nil) }()
	cancel()
	if r := <-done; r.Err == "" || r.Closed || r.Reset {
		t.Errorf("report %+v, want an error", r)
	}
}

func TestPacedSendDuration(t *testing.T) {
	c, s := pair(t)
	done := make(chan Report, 1)
	go func() { done <- Receive(t.Context(), s, nil) }()
	sr := Send(t.Context(), c, SendConfig{Interval: 5 * time.Millisecond, Duration: 100 * time.Millisecond})
	r := <-done
	if sr.Chunks < 5 || sr.Chunks > 25 || r.Chunks != sr.Chunks || !r.Closed || r.MedianGap < 2*time.Millisecond {
		t.Errorf("sender %+v, receiver %+v", sr, r)
	}
}

func BenchmarkReceive(b *testing.B) {
	chunk := AppendChunk(nil, Header{Seq: 0, Sent: time.Now(), Payload: 1024})
	stream := bytes.Repeat(chunk, 64)
	b.ReportAllocs()
	b.SetBytes(int64(len(stream)))
	for b.Loop() {
		c1, c2 := net.Pipe()
		go func() {
			c1.Write(stream)
			c1.Close()
		}()
		Receive(context.Background(), c2, nil)
		c2.Close()
	}
}
