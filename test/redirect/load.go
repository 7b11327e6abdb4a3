// Package redirect holds the acceptance tests of RFC 5685 redirect (issue
// 3): our responder against strongSwan initiators, our initiator against
// libreswan and strongSwan gateways, both of ours together with the
// private-use extensions, checked on the wire with tshark; and Load, an
// IKE_SA_INIT load generator that measures how many requests a responder
// answers with REDIRECT.
//
// The tests build network-namespace labs (test/lab) and skip when not root;
// `go test ./test/redirect -run Redirect` runs them.
package redirect

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// IKE numbers the generator writes and reads. They are spelled out here
// rather than taken from ike/wire, so that the generator checks the
// responder against an encoding of its own.
const (
	payloadSA     = 33
	payloadKE     = 34
	payloadNonce  = 40
	payloadNotify = 41

	exchangeIKESAInit = 34
	flagInitiator     = 0x08
	flagResponse      = 0x20

	notifyCookie            = 16390
	notifyRedirectSupported = 16406
	notifyRedirect          = 16407

	nonceLen = 32
)

// Load sends well-formed IKE_SA_INIT requests with REDIRECT_SUPPORTED (RFC
// 5685 §9.1) to a responder and counts the answers that are a REDIRECT whose
// Nonce Data is the request's Ni (RFC 5685 §3). It keeps Window requests in
// flight (a closed loop: the rate is what the responder sustains) and uses
// batched socket I/O so that the generator costs little next to the
// responder.
//
// Every request is
//
//	HDR(SPIi = sequence number ‖ 4 random octets, SPIr 0, IKE_SA_INIT, I)
//	SA{proposal 1: ENCR_AES_GCM_16 (128), PRF_HMAC_SHA2_256, D-H 31}
//	KE{group 31, 32 random octets}, Ni{32 random octets}, N(REDIRECT_SUPPORTED)
//
// The responder redirects before any D-H work, so the KE data need not be a
// real public value.
type Load struct {
	// Conn is a UDP socket connected to the responder's IKE port.
	Conn *net.UDPConn
	// Requests is how many requests to send.
	Requests int
	// Window is how many requests may await their answer (default 256).
	Window int
	// Timeout is how long an unanswered request holds its place in the
	// window before it counts as lost (default 1 s).
	Timeout time.Duration
	// Rate, if positive, paces the requests to that many per second (the
	// window still bounds them); zero sends as fast as answers come back.
	Rate float64
}

// LoadResult counts what a Load run saw.
type LoadResult struct {
	Sent int
	// Redirects are answers with REDIRECT whose Nonce Data equals the
	// request's Ni; WrongNonce those whose nonce differs.
	Redirects, WrongNonce int
	// Cookies are COOKIE answers; Other any other answer to one of our
	// requests; Unmatched answers to no request of ours (or duplicates).
	Cookies, Other, Unmatched int
	// Lost requests got no answer within Timeout.
	Lost int
	// Elapsed is from the first request to the last answer or loss.
	Elapsed time.Duration
}

// Rate returns the redirects per second.
func (r LoadResult) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Redirects) / r.Elapsed.Seconds()
}

// String summarises the result.
func (r LoadResult) String() string {
	return fmt.Sprintf("%d sent, %d redirects (%.0f/s), %d wrong nonce, %d cookies, %d other, %d unmatched, %d lost in %v",
		r.Sent, r.Redirects, r.Rate(), r.WrongNonce, r.Cookies, r.Other, r.Unmatched, r.Lost, r.Elapsed.Round(time.Millisecond))
}

// loadSlot is one request in the window: its sequence number, Ni and send
// time. state is 0 free, 1 waiting, 2 answered.
type loadSlot struct {
	seq   atomic.Uint32
	state atomic.Uint32
	sent  atomic.Int64
	nonce [nonceLen]byte
}

const batch = 64

// batchConn is the part of x/net's ipv4 and ipv6 PacketConn the generator
// uses: sendmmsg and recvmmsg.
type batchConn interface {
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
}

// Run sends l.Requests requests and returns what came back.
func (l *Load) Run(ctx context.Context) (LoadResult, error) {
	window := l.Window
	if window <= 0 {
		window = 256
	}
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = time.Second
	}
	var bc batchConn = ipv4.NewPacketConn(l.Conn)
	if ra, ok := l.Conn.RemoteAddr().(*net.UDPAddr); ok && ra.IP.To4() == nil {
		bc = ipv6.NewPacketConn(l.Conn)
	}
	_ = l.Conn.SetReadDeadline(time.Time{}) // a previous Run ended its reader with a deadline
	_ = l.Conn.SetReadBuffer(8 << 20)
	_ = l.Conn.SetWriteBuffer(8 << 20)

	// The ring is larger than the window, so that an answer that comes
	// late, or a request that gets none, rarely holds up the slot of a new
	// request: paced, it holds every request of two timeouts.
	ring := 4 * window
	if l.Rate > 0 {
		ring += int(2 * l.Rate * timeout.Seconds())
	}
	slots := make([]loadSlot, ring)
	template, keOff, nonceOff := requestTemplate()
	var (
		res       LoadResult
		mu        sync.Mutex // res counters written by the reader
		inflight  atomic.Int64
		room      = make(chan struct{}, 1)
		readerErr = make(chan error, 1)
		stop      = make(chan struct{})
		lastDone  atomic.Int64
	)
	signal := func() {
		select {
		case room <- struct{}{}:
		default:
		}
	}
	// reclaim counts the requests unanswered for longer than timeout as
	// lost and frees their slots.
	reclaim := func() {
		if lost := expire(slots, time.Now().Add(-timeout).UnixNano()); lost > 0 {
			inflight.Add(-int64(lost))
			mu.Lock()
			res.Lost += lost
			mu.Unlock()
			lastDone.Store(time.Now().UnixNano())
		}
	}
	start := time.Now()
	go func() { readerErr <- l.read(bc, slots, &res, &mu, &inflight, &lastDone, signal, stop) }()

	rng := rand.NewChaCha8([32]byte{byte(time.Now().UnixNano())})
	bufs := make([][]byte, batch)
	for i := range bufs {
		bufs[i] = append([]byte(nil), template...)
	}
	msgs := make([]ipv4.Message, batch)
	var seq uint32
	deadline := time.NewTicker(timeout / 4)
	defer deadline.Stop()
	var pace <-chan time.Time
	if l.Rate > 0 {
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		pace = t.C
	}
	for int(seq) < l.Requests {
		if err := ctx.Err(); err != nil {
			close(stop)
			return res, err
		}
		free := window - int(inflight.Load())
		if l.Rate > 0 {
			// Open loop: no more than Rate per second since the start.
			due := int(l.Rate*time.Since(start).Seconds()) + 1 - int(seq)
			if due <= 0 {
				select {
				case <-pace:
				case <-ctx.Done():
				}
				continue
			}
			free = min(free, due)
		}
		if free <= 0 {
			select {
			case <-room:
			case <-deadline.C:
				reclaim()
			case <-ctx.Done():
			}
			continue
		}
		n := min(free, batch, l.Requests-int(seq))
		k := 0
		now := time.Now().UnixNano()
		for k < n {
			s := &slots[int(seq)%len(slots)]
			if s.state.Load() != 0 {
				break // an older request still holds the slot
			}
			b := bufs[k]
			binary.BigEndian.PutUint32(b[0:4], seq)
			binary.BigEndian.PutUint32(b[4:8], uint32(rng.Uint64()))
			fill(rng, b[keOff:keOff+32])
			fill(rng, b[nonceOff:nonceOff+nonceLen])
			copy(s.nonce[:], b[nonceOff:nonceOff+nonceLen])
			s.seq.Store(seq)
			s.sent.Store(now)
			s.state.Store(1)
			msgs[k].Buffers = [][]byte{b}
			msgs[k].Addr = nil
			seq++
			k++
		}
		if k == 0 {
			// The next slot is held by an older request: wait for its
			// answer or its expiry.
			select {
			case <-room:
			case <-deadline.C:
				reclaim()
			case <-ctx.Done():
			}
			continue
		}
		inflight.Add(int64(k))
		for sent := 0; sent < k; {
			m, err := bc.WriteBatch(msgs[sent:k], 0)
			if err != nil {
				close(stop)
				return res, fmt.Errorf("sending requests: %w", err)
			}
			sent += m
		}
		mu.Lock()
		res.Sent += k
		mu.Unlock()
	}
	// Wait for the last answers, or for them to expire.
	for inflight.Load() > 0 {
		select {
		case <-room:
		case <-deadline.C:
			reclaim()
		case <-ctx.Done():
			close(stop)
			return res, ctx.Err()
		}
	}
	close(stop)
	_ = l.Conn.SetReadDeadline(time.Now())
	err := <-readerErr
	mu.Lock()
	defer mu.Unlock()
	res.Elapsed = time.Duration(lastDone.Load() - start.UnixNano())
	return res, err
}

// expire frees the slots waiting since before cutoff and returns how many.
func expire(slots []loadSlot, cutoff int64) int {
	n := 0
	for i := range slots {
		s := &slots[i]
		if s.state.Load() == 1 && s.sent.Load() < cutoff && s.state.CompareAndSwap(1, 0) {
			n++
		}
	}
	return n
}

// read takes the answers until stop is closed.
func (l *Load) read(bc batchConn, slots []loadSlot, res *LoadResult, mu *sync.Mutex, inflight, lastDone *atomic.Int64,
	signal func(), stop chan struct{}) error {
	msgs := make([]ipv4.Message, batch)
	for i := range msgs {
		msgs[i].Buffers = [][]byte{make([]byte, 2048)}
	}
	for {
		n, err := bc.ReadBatch(msgs, 0)
		if err != nil {
			select {
			case <-stop:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("reading answers: %w", err)
		}
		var redirects, wrong, cookies, other, unmatched, done int
		for _, m := range msgs[:n] {
			switch classify(m.Buffers[0][:m.N], slots) {
			case answerRedirect:
				redirects++
				done++
			case answerWrongNonce:
				wrong++
				done++
			case answerCookie:
				cookies++
				done++
			case answerOther:
				other++
				done++
			default:
				unmatched++
			}
		}
		if done > 0 {
			inflight.Add(-int64(done))
			lastDone.Store(time.Now().UnixNano())
			signal()
		}
		mu.Lock()
		res.Redirects += redirects
		res.WrongNonce += wrong
		res.Cookies += cookies
		res.Other += other
		res.Unmatched += unmatched
		mu.Unlock()
	}
}

type answer int

const (
	answerUnmatched answer = iota
	answerRedirect
	answerWrongNonce
	answerCookie
	answerOther
)

// classify matches an answer to its request (by SPIi) and looks at it:
// an IKE_SA_INIT response with SPIr 0 whose Notify payloads are walked for
// REDIRECT (RFC 5685 §9.2: GW Ident Type, GW Ident Len, identity, then the
// Nonce Data to the end of the notify) or COOKIE.
func classify(b []byte, slots []loadSlot) answer {
	if len(b) < 28 || b[18] != exchangeIKESAInit || b[19]&flagResponse == 0 {
		return answerUnmatched
	}
	seq := binary.BigEndian.Uint32(b[0:4])
	s := &slots[int(seq)%len(slots)]
	if s.seq.Load() != seq || !s.state.CompareAndSwap(1, 2) {
		return answerUnmatched
	}
	defer s.state.Store(0)
	if binary.BigEndian.Uint64(b[8:16]) != 0 || int(binary.BigEndian.Uint32(b[24:28])) != len(b) {
		return answerOther
	}
	next, off := b[16], 28
	for next != 0 {
		if off+4 > len(b) {
			return answerOther
		}
		typ := next
		next = b[off]
		plen := int(binary.BigEndian.Uint16(b[off+2:]))
		if plen < 4 || off+plen > len(b) {
			return answerOther
		}
		body := b[off+4 : off+plen]
		off += plen
		if typ != payloadNotify || len(body) < 4 {
			continue
		}
		spiSize := int(body[1])
		if 4+spiSize > len(body) {
			return answerOther
		}
		data := body[4+spiSize:]
		switch binary.BigEndian.Uint16(body[2:]) {
		case notifyCookie:
			return answerCookie
		case notifyRedirect:
			if len(data) < 2 || 2+int(data[1]) > len(data) {
				return answerOther
			}
			if string(data[2+int(data[1]):]) == string(s.nonce[:]) {
				return answerRedirect
			}
			return answerWrongNonce
		}
	}
	return answerOther
}

// requestTemplate returns a request with zero SPIi, KE data and Ni, and the
// offsets of the KE data and of the Ni data.
func requestTemplate() (b []byte, keOff, nonceOff int) {
	b = make([]byte, 16, 160)
	b = append(b, payloadSA, 0x20, exchangeIKESAInit, flagInitiator, 0, 0, 0, 0, 0, 0, 0, 0)
	encr := []byte{3, 0, 0, 12, 1, 0, 0, 20, 0x80, 14, 0, 128} // ENCR_AES_GCM_16, Key Length 128
	prf := []byte{3, 0, 0, 8, 2, 0, 0, 5}                      // PRF_HMAC_SHA2_256
	dh := []byte{0, 0, 0, 8, 4, 0, 0, 31}                      // Curve25519
	propLen := 8 + len(encr) + len(prf) + len(dh)
	b = append(b, payloadKE, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(4+propLen))
	b = append(b, 0, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(propLen))
	b = append(b, 1, 1, 0, 3)
	b = append(append(append(b, encr...), prf...), dh...)
	b = append(b, payloadNonce, 0, 0, 40, 0, 31, 0, 0)
	keOff = len(b)
	b = append(b, make([]byte, 32)...)
	b = append(b, payloadNotify, 0, 0, 4+nonceLen)
	nonceOff = len(b)
	b = append(b, make([]byte, nonceLen)...)
	b = append(b, 0, 0, 0, 8, 0, 0)
	b = binary.BigEndian.AppendUint16(b, notifyRedirectSupported)
	binary.BigEndian.PutUint32(b[24:28], uint32(len(b)))
	return b, keOff, nonceOff
}

func fill(r *rand.ChaCha8, b []byte) {
	for i := 0; i < len(b); i += 8 {
		var w [8]byte
		binary.LittleEndian.PutUint64(w[:], r.Uint64())
		copy(b[i:], w[:])
	}
}

// ProcessCPU returns the CPU time (user and system, every thread) process
// pid has used so far, from /proc/PID/stat. The kernel counts it in clock
// ticks (usually 10 ms), so measure windows of a second or more.
func ProcessCPU(pid int) (time.Duration, error) {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 > len(s) {
		return 0, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	const clockTick = 100 // sysconf(_SC_CLK_TCK) on Linux
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// DialUDP connects a UDP socket from local (may be invalid: any) to remote.
func DialUDP(local, remote netip.AddrPort) (*net.UDPConn, error) {
	var la *net.UDPAddr
	if local.IsValid() {
		la = net.UDPAddrFromAddrPort(local)
	}
	return net.DialUDP("udp", la, net.UDPAddrFromAddrPort(remote))
}
