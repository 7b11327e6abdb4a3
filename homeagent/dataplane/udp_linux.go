package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Batched UDP I/O with recvmmsg(2) and sendmmsg(2).
//
// This is what golang.org/x/net/ipv{4,6}.PacketConn.ReadBatch/WriteBatch do,
// minus their address conversion: x/net turns every received source address
// into a new *net.UDPAddr (two allocations per datagram, see
// BenchmarkReadBatch in udp_linux_test.go), which the ESP hot path cannot
// afford. Here addresses stay raw sockaddr bytes and become netip values, the
// mmsghdr arrays are built once per goroutine, and the closures handed to
// syscall.RawConn are created once, so a batch costs no allocation.

// role is what a socket serves: IKE on port 500, or IKE, ESP and keepalives
// on the NAT-T port 4500.
type role uint8

const (
	roleIKE role = iota
	roleNATT
)

func (r role) String() string {
	if r == roleNATT {
		return "nat-t"
	}
	return "ike"
}

// udpConn is one bound UDP socket.
type udpConn struct {
	conn  *net.UDPConn
	raw   syscall.RawConn
	role  role
	is6   bool
	local netip.AddrPort // as bound, port resolved

	// gso: the kernel takes several equal-size datagrams in one sendmsg
	// (UDP_SEGMENT); cleared if a segmented send fails with EIO.
	gso atomic.Bool
}

// listenUDP binds a UDP socket that reports the destination address of every
// datagram (IPV6_RECVPKTINFO / IP_PKTINFO) and has the given buffer sizes.
func listenUDP(addr netip.AddrPort, r role, sockBuf int) (*udpConn, error) {
	addr = unmapAddrPort(addr)
	network := "udp4"
	if addr.Addr().Is6() {
		network = "udp6" // Go sets IPV6_V6ONLY for "udp6"
	}
	conn, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, err
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, err
	}
	c := &udpConn{conn: conn, raw: raw, role: r, is6: addr.Addr().Is6()}
	c.local = unmapAddrPort(conn.LocalAddr().(*net.UDPAddr).AddrPort())
	var serr error
	err = raw.Control(func(fd uintptr) {
		if c.is6 {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1)
		} else {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_PKTINFO, 1)
		}
		if serr != nil {
			return
		}
		if r == roleNATT {
			// Generic segmentation offload for ESP bursts, and the
			// receive-side counterpart (coalesced datagrams, UDP_GRO).
			if _, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_SEGMENT); err == nil {
				c.gso.Store(true)
			}
			_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_UDP, unix.UDP_GRO, 1)
		}
		if sockBuf <= 0 {
			return
		}
		// Root may exceed net.core.rmem_max; others get what the limit allows.
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, sockBuf) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, sockBuf)
		}
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, sockBuf) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, sockBuf)
		}
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("dataplane: socket options on %v: %w", addr, err)
	}
	return c, nil
}

// sockaddr is a raw sockaddr_in or sockaddr_in6 ready for sendmmsg.
type sockaddr struct {
	raw [unix.SizeofSockaddrInet6]byte
	len uint32
}

func makeSockaddr(ap netip.AddrPort) sockaddr {
	var s sockaddr
	a := ap.Addr().Unmap()
	binary.BigEndian.PutUint16(s.raw[2:4], ap.Port())
	if a.Is4() {
		binary.NativeEndian.PutUint16(s.raw[0:2], unix.AF_INET)
		ip := a.As4()
		copy(s.raw[4:8], ip[:])
		s.len = unix.SizeofSockaddrInet4
		return s
	}
	binary.NativeEndian.PutUint16(s.raw[0:2], unix.AF_INET6)
	ip := a.As16()
	copy(s.raw[8:24], ip[:])
	if z := a.Zone(); z != "" {
		if ifi, err := net.InterfaceByName(z); err == nil {
			binary.NativeEndian.PutUint32(s.raw[24:28], uint32(ifi.Index))
		}
	}
	s.len = unix.SizeofSockaddrInet6
	return s
}

// parseSockaddr decodes a sockaddr_in or sockaddr_in6 written by the kernel.
func parseSockaddr(b []byte) netip.AddrPort {
	if len(b) < 2 {
		return netip.AddrPort{}
	}
	port := func() uint16 { return binary.BigEndian.Uint16(b[2:4]) }
	switch binary.NativeEndian.Uint16(b[0:2]) {
	case unix.AF_INET:
		if len(b) >= unix.SizeofSockaddrInet4 {
			return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port())
		}
	case unix.AF_INET6:
		if len(b) >= unix.SizeofSockaddrInet6 {
			return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[8:24])).Unmap(), port())
		}
	}
	return netip.AddrPort{}
}

// Control messages. The header is struct cmsghdr: a size_t length, then
// level and type as ints; the data starts at the aligned header length.
var (
	cmsgLenSize = int(unsafe.Sizeof(unix.Cmsghdr{}.Len))
	cmsgDataOff = unix.CmsgLen(0)
)

const oobSize = 64 // room for one in6_pktinfo or in_pktinfo and then some

// pktinfo is an IPV6_PKTINFO or IP_PKTINFO control message that selects the
// source address of a datagram; len 0 lets the kernel choose.
type pktinfo struct {
	raw [oobSize]byte
	len int
}

func makePktinfo(src netip.Addr) pktinfo {
	var p pktinfo
	src = src.Unmap()
	if !src.IsValid() || src.IsUnspecified() {
		return p
	}
	if src.Is4() {
		// struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }
		p.len = putCmsgHeader(p.raw[:], unix.IPPROTO_IP, unix.IP_PKTINFO, unix.SizeofInet4Pktinfo)
		ip := src.As4()
		copy(p.raw[cmsgDataOff+4:], ip[:])
		return p
	}
	// struct in6_pktinfo { in6_addr ipi6_addr; unsigned ipi6_ifindex; }
	p.len = putCmsgHeader(p.raw[:], unix.IPPROTO_IPV6, unix.IPV6_PKTINFO, unix.SizeofInet6Pktinfo)
	ip := src.As16()
	copy(p.raw[cmsgDataOff:], ip[:])
	return p
}

func putCmsgHeader(b []byte, level, typ int32, dataLen int) int {
	n := unix.CmsgLen(dataLen)
	if cmsgLenSize == 8 {
		binary.NativeEndian.PutUint64(b[0:8], uint64(n))
	} else {
		binary.NativeEndian.PutUint32(b[0:4], uint32(n))
	}
	binary.NativeEndian.PutUint32(b[cmsgLenSize:], uint32(level))
	binary.NativeEndian.PutUint32(b[cmsgLenSize+4:], uint32(typ))
	return unix.CmsgSpace(dataLen)
}

// parsePktinfo returns the destination address carried by an IPV6_PKTINFO or
// IP_PKTINFO control message in oob, or the zero Addr if there is none.
func parsePktinfo(oob []byte) netip.Addr {
	dst, _ := parseControl(oob)
	return dst
}

// parseControl returns the destination address (IPV6_PKTINFO, IP_PKTINFO)
// and the segment size of a coalesced datagram (UDP_GRO, 0 if none) from the
// control messages of a received datagram.
func parseControl(oob []byte) (dst netip.Addr, gro int) {
	for len(oob) >= cmsgDataOff {
		var n int
		if cmsgLenSize == 8 {
			n = int(min(binary.NativeEndian.Uint64(oob[0:8]), uint64(len(oob))+1))
		} else {
			n = int(binary.NativeEndian.Uint32(oob[0:4]))
		}
		if n < cmsgDataOff || n > len(oob) {
			return dst, gro
		}
		level := int32(binary.NativeEndian.Uint32(oob[cmsgLenSize:]))
		typ := int32(binary.NativeEndian.Uint32(oob[cmsgLenSize+4:]))
		data := oob[cmsgDataOff:n]
		switch {
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			dst = netip.AddrFrom16([16]byte(data[0:16])).Unmap()
		case level == unix.IPPROTO_IP && typ == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			dst = netip.AddrFrom4([4]byte(data[8:12])) // ipi_addr: the header destination
		case level == unix.SOL_UDP && typ == unix.UDP_GRO && len(data) >= 4:
			gro = int(int32(binary.NativeEndian.Uint32(data)))
		}
		next := (n + cmsgLenSize - 1) &^ (cmsgLenSize - 1)
		if next >= len(oob) {
			break
		}
		oob = oob[next:]
	}
	return dst, gro
}

// recvBatch is the state of one reader goroutine: buffers, mmsghdrs and the
// closure that calls recvmmsg, all built once.
type recvBatch struct {
	bufs  []*buffer
	msgs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names [][unix.SizeofSockaddrInet6]byte
	oobs  [][oobSize]byte

	n      int
	errno  unix.Errno
	readFn func(fd uintptr) bool
}

func newRecvBatch(size int) *recvBatch {
	b := &recvBatch{
		bufs:  make([]*buffer, size),
		msgs:  make([]unix.Mmsghdr, size),
		iovs:  make([]unix.Iovec, size),
		names: make([][unix.SizeofSockaddrInet6]byte, size),
		oobs:  make([][oobSize]byte, size),
	}
	for i := range size {
		b.bufs[i] = new(buffer)
		b.iovs[i].Base = &b.bufs[i][ESPOffset]
		b.iovs[i].SetLen(BufferSize - ESPOffset)
		h := &b.msgs[i].Hdr
		h.Name = &b.names[i][0]
		h.Iov = &b.iovs[i]
		h.Iovlen = 1
		h.Control = &b.oobs[i][0]
	}
	b.readFn = b.recvmmsg
	return b
}

func (b *recvBatch) recvmmsg(fd uintptr) bool {
	for i := range b.msgs {
		h := &b.msgs[i].Hdr
		h.Namelen = unix.SizeofSockaddrInet6
		h.SetControllen(oobSize)
		h.Flags = 0
	}
	for {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.msgs[0])), uintptr(len(b.msgs)), 0, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // wait until readable
		}
		b.n, b.errno = int(r), e
		return true
	}
}

// read fills the batch with up to len(b.msgs) datagrams.
func (c *udpConn) read(b *recvBatch) (int, error) {
	if err := c.raw.Read(b.readFn); err != nil {
		return 0, err
	}
	if b.errno != 0 {
		return 0, b.errno
	}
	return b.n, nil
}

// datagram returns the i-th received datagram: its payload (a slice of the
// buffer at ESPOffset), source and destination, and the segment size if the
// kernel coalesced several datagrams of one flow into it (UDP_GRO). ok is
// false if it was truncated.
func (b *recvBatch) datagram(i int, c *udpConn) (payload []byte, remote, local netip.AddrPort, gro int, ok bool) {
	m := &b.msgs[i]
	if m.Hdr.Flags&unix.MSG_TRUNC != 0 || int(m.Len) > BufferSize-ESPOffset {
		return nil, remote, local, 0, false
	}
	remote = parseSockaddr(b.names[i][:min(int(m.Hdr.Namelen), len(b.names[i]))])
	dst := c.local.Addr()
	if m.Hdr.Flags&unix.MSG_CTRUNC == 0 {
		var a netip.Addr
		if a, gro = parseControl(b.oobs[i][:min(int(m.Hdr.Controllen), oobSize)]); a.IsValid() {
			dst = a
		}
	}
	return b.bufs[i][ESPOffset : ESPOffset+int(m.Len)], remote, netip.AddrPortFrom(dst, c.local.Port()), gro, true
}

// Limits of one segmented (UDP_SEGMENT) send: the kernel accepts at most 64
// segments (UDP_MAX_SEGMENTS on older kernels), and the whole must fit one
// IP datagram.
const (
	gsoMaxSegments = 64
	gsoMaxBytes    = 65507 - 8
)

// sendBatch collects datagrams for one sendmmsg call on one socket. The
// sockaddr, pktinfo and payload memory must stay untouched until flush.
//
// With segmentation offload, consecutive equal-size datagrams to the same
// destination from the same source become one message whose iovecs are the
// segments and whose control data adds UDP_SEGMENT: the kernel runs its
// stack once for the burst and splits it as late as it can.
type sendBatch struct {
	msgs []unix.Mmsghdr
	iovs []unix.Iovec
	oobs [][oobSize]byte
	segs []int // datagrams in each message
	n    int   // messages
	niov int   // iovecs used

	// The last message while it can take more segments.
	open     bool
	openDst  *sockaddr
	openSrc  *pktinfo
	openSize int // segment size
	openLen  int // octets so far

	next    int   // first message not yet sent by the current flush
	sent    int   // datagrams sent
	failed  int   // datagrams refused
	retry   []int // segmented messages refused, to send one by one
	gsoErr  bool
	single  *sendBatch // for retries, made on first use
	writeFn func(fd uintptr) bool
}

func newSendBatch(size int) *sendBatch {
	b := &sendBatch{
		msgs: make([]unix.Mmsghdr, size),
		iovs: make([]unix.Iovec, 2*size),
		oobs: make([][oobSize]byte, size),
		segs: make([]int, size),
	}
	b.writeFn = b.sendmmsg
	return b
}

// full reports whether another datagram may not fit.
func (b *sendBatch) full() bool { return b.n == len(b.msgs) || b.niov+2 > len(b.iovs) }

// add queues a datagram made of prefix ‖ payload (prefix may be empty: it is
// the non-ESP marker for IKE on the NAT-T port).
func (b *sendBatch) add(dst *sockaddr, src *pktinfo, prefix, payload []byte) {
	b.open = false
	h := b.start(dst, src)
	if len(prefix) > 0 {
		b.addIov(prefix)
		h.Iovlen++
	}
	b.addIov(payload)
	h.Iovlen++
	b.segs[b.n] = 1
	b.n++
}

// addSegment queues a datagram that may share a segmented message with the
// previous one (same dst and src, same size, the last may be shorter).
func (b *sendBatch) addSegment(dst *sockaddr, src *pktinfo, payload []byte) {
	if b.open && b.openDst == dst && b.openSrc == src && len(payload) <= b.openSize &&
		b.segs[b.n-1] < gsoMaxSegments && b.openLen+len(payload) <= gsoMaxBytes {
		b.addIov(payload)
		b.msgs[b.n-1].Hdr.Iovlen++
		b.segs[b.n-1]++
		b.openLen += len(payload)
		b.open = len(payload) == b.openSize // a shorter segment ends the message
		return
	}
	h := b.start(dst, src)
	b.addIov(payload)
	h.Iovlen = 1
	b.segs[b.n] = 1
	b.n++
	b.open, b.openDst, b.openSrc, b.openSize, b.openLen = true, dst, src, len(payload), len(payload)
}

func (b *sendBatch) start(dst *sockaddr, src *pktinfo) *unix.Msghdr {
	h := &b.msgs[b.n].Hdr
	h.Name = &dst.raw[0]
	h.Namelen = dst.len
	h.Iov = &b.iovs[b.niov]
	h.Iovlen = 0
	h.Control = nil
	h.SetControllen(0)
	if src != nil && src.len > 0 {
		h.Control = &src.raw[0]
		h.SetControllen(src.len)
	}
	return h
}

func (b *sendBatch) addIov(p []byte) {
	iov := &b.iovs[b.niov]
	iov.Base = nil
	if len(p) > 0 {
		iov.Base = &p[0]
	}
	iov.SetLen(len(p))
	b.niov++
}

// segmented returns how many queued datagrams share a message with others.
func (b *sendBatch) segmented() int {
	n := 0
	for _, k := range b.segs[:b.n] {
		if k > 1 {
			n += k
		}
	}
	return n
}

// finish adds UDP_SEGMENT to every message that carries several segments.
func (b *sendBatch) finish() {
	for i := range b.n {
		if b.segs[i] < 2 {
			continue
		}
		h := &b.msgs[i].Hdr
		oob := b.oobs[i][:]
		n := 0
		if h.Control != nil {
			n = copy(oob, unsafe.Slice(h.Control, h.Controllen))
		}
		n += putCmsgHeader(oob[n:], unix.SOL_UDP, unix.UDP_SEGMENT, 2)
		binary.NativeEndian.PutUint16(oob[n-unix.CmsgSpace(2)+cmsgDataOff:], uint16(unsafe.Slice(h.Iov, 1)[0].Len))
		h.Control = &oob[0]
		h.SetControllen(n)
	}
}

func (b *sendBatch) sendmmsg(fd uintptr) bool {
	for b.next < b.n {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.msgs[b.next])), uintptr(b.n-b.next), 0, 0, 0)
		switch e {
		case 0:
			for _, k := range b.segs[b.next : b.next+int(r)] {
				b.sent += k
			}
			b.next += int(r)
		case unix.EINTR:
		case unix.EAGAIN:
			return false // wait until writable
		default:
			// The first unsent message was refused. A segmented one is
			// sent again one datagram at a time (the path may not take
			// its segment size, or cannot segment at all: EIO); a
			// single datagram is counted as failed (no route, bad
			// source address, too big).
			if b.segs[b.next] > 1 {
				b.retry = append(b.retry, b.next)
				b.gsoErr = b.gsoErr || e == unix.EIO
			} else {
				b.failed++
			}
			b.next++
		}
	}
	return true
}

// flush sends the queued datagrams and empties the batch. It returns how
// many datagrams were sent and how many the kernel refused.
func (c *udpConn) flush(b *sendBatch) (sent, failed int, err error) {
	if b.n == 0 {
		return 0, 0, nil
	}
	b.finish()
	b.next, b.sent, b.failed, b.gsoErr, b.retry = 0, 0, 0, false, b.retry[:0]
	err = c.raw.Write(b.writeFn)
	sent, failed = b.sent, b.failed
	for _, i := range b.retry {
		s, f := c.resend(b, i)
		sent, failed = sent+s, failed+f
	}
	if err != nil {
		failed = 0
		for _, k := range b.segs[:b.n] {
			failed += k
		}
		failed -= sent
	}
	if b.gsoErr {
		c.gso.Store(false)
	}
	for i := range b.n { // drop references to payloads and SAs
		b.msgs[i].Hdr.Name, b.msgs[i].Hdr.Control, b.msgs[i].Hdr.Iov = nil, nil, nil
	}
	clear(b.iovs[:b.niov])
	b.n, b.niov, b.open = 0, 0, false
	return sent, failed, err
}

// resend sends the segments of message i of b one datagram each, with the
// message's control data minus UDP_SEGMENT.
func (c *udpConn) resend(b *sendBatch, i int) (sent, failed int) {
	if b.single == nil {
		b.single = newSendBatch(gsoMaxSegments)
	}
	h := &b.msgs[i].Hdr
	control := b.oobs[i][:int(h.Controllen)-unix.CmsgSpace(2)]
	for _, iov := range unsafe.Slice(h.Iov, h.Iovlen) {
		m := &b.single.msgs[b.single.n].Hdr
		m.Name, m.Namelen = h.Name, h.Namelen
		m.Control = nil
		m.SetControllen(0)
		if len(control) > 0 {
			m.Control = &control[0]
			m.SetControllen(len(control))
		}
		m.Iov = &b.single.iovs[b.single.niov]
		m.Iovlen = 1
		b.single.iovs[b.single.niov] = iov
		b.single.niov++
		b.single.segs[b.single.n] = 1
		b.single.n++
	}
	sent, failed, err := c.flush(b.single)
	if err != nil {
		failed = int(h.Iovlen) - sent
	}
	return sent, failed
}

// isClosed reports whether err means the socket or device was closed.
func isClosed(err error) bool {
	return errors.Is(err, net.ErrClosed) || errors.Is(err, unix.EBADF)
}
