package dataplane

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Well-known ports (RFC 7296 §2, RFC 3948 §2.1).
const (
	IKEPort  = 500
	NATTPort = 4500
)

// DefaultBatchSize is how many datagrams or packets one system call moves.
const DefaultBatchSize = 128

// DefaultSocketBuffer is the receive and send buffer asked for on every UDP
// socket (SO_RCVBUFFORCE/SO_SNDBUFFORCE as root).
const DefaultSocketBuffer = 4 << 20

// Datagram is an IKE message received or to be sent.
type Datagram struct {
	// Local is our address and port: where a received datagram was sent
	// to, and where a datagram to send leaves from. Its port selects the
	// socket (the IKE or the NAT-T port); an unspecified address lets the
	// kernel choose the source.
	Local netip.AddrPort
	// Remote is the peer's address and port.
	Remote netip.AddrPort
	// Payload is the IKE message, without the non-ESP marker: the marker is
	// stripped on receipt and added when sending from the NAT-T port.
	Payload []byte
}

// Device is the inner side of the dataplane: a TUN device (TUN) or an
// in-memory stand-in for tests (package tuntest).
type Device interface {
	// Read reads up to len(bufs) packets, packet i into bufs[i][offset:],
	// stores its length in sizes[i] and returns the number of packets. It
	// blocks until at least one packet is available and fails once the
	// device is closed.
	Read(bufs [][]byte, sizes []int, offset int) (n int, err error)
	// Write writes every packet of pkts and returns how many were
	// accepted and the last error.
	Write(pkts [][]byte) (int, error)
	// Close releases the device and unblocks Read.
	Close() error
}

// Config configures a Dataplane.
type Config struct {
	// Addrs are the local addresses to bind; each gets a socket on the IKE
	// port and one on the NAT-T port. Unspecified addresses (:: and
	// 0.0.0.0, the default) receive on every address of their family and
	// report each datagram's destination.
	Addrs []netip.Addr
	// IKEPort and NATTPort are the UDP ports: IKEPort (500) and NATTPort
	// (4500) in service; zero binds a free port (tests).
	IKEPort, NATTPort uint16
	// Device is the inner packet device; the dataplane owns it and closes
	// it. Without one the dataplane carries IKE only.
	Device Device
	// IKE receives the IKE datagrams of each received batch, on the
	// goroutine of the socket that read them; one call per socket may be
	// running at a time. The payloads are borrowed: they are valid until
	// IKE returns, so copy what is kept. IKE must not block.
	IKE func(batch []Datagram)
	// Intercept, if set, is offered every inner IPv6 packet that an
	// inbound SA opened and whose Next Header is the Mobility Header (135,
	// RFC 6275 §6.1): a Binding Update a mobile node sends inside its
	// tunnel (RFC 4877 §3). It gets the SA, the outer source address and
	// port of the ESP datagram (the node's care-of address, or its NAT's)
	// and the packet, borrowed until it returns. Returning true consumes
	// the packet (counted in Stats.Intercepted); false delivers it to the
	// device as any other. It runs on the socket's goroutine and must not
	// block.
	Intercept func(sa *SA, remote netip.AddrPort, pkt []byte) bool
	// BatchSize is how many datagrams one system call moves (default
	// DefaultBatchSize).
	BatchSize int
	// SocketBuffer is the UDP socket buffer size (default
	// DefaultSocketBuffer; negative leaves the system default).
	SocketBuffer int
	// Logger receives start-up and shutdown lines, never per-packet ones
	// (default: discard).
	Logger *slog.Logger
}

// Dataplane moves packets between the inner device and ESP-in-UDP, and IKE
// datagrams between the sockets and the IKE runtime.
type Dataplane struct {
	cfg      Config
	log      *slog.Logger
	conns    []*udpConn // every socket
	natt     []*udpConn // the NAT-T sockets; an outbound SA names one by index
	dev      Device
	batch    int
	inbound  *inboundTable
	outbound *outboundTable
	senders  sync.Pool // *ikeSender
	stats    counters

	running   atomic.Bool
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// outboundRoute is where an installed outbound SA sends: the NAT-T socket,
// the peer's sockaddr and the source address control message.
type outboundRoute struct {
	owner  *Dataplane
	remote netip.AddrPort // the peer's endpoint dst encodes
	conn   int            // index into owner.natt
	dst    sockaddr
	src    pktinfo
}

// New binds the sockets. It starts nothing: Run does.
func New(cfg Config) (*Dataplane, error) {
	if len(cfg.Addrs) == 0 {
		cfg.Addrs = []netip.Addr{netip.IPv6Unspecified(), netip.IPv4Unspecified()}
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.SocketBuffer == 0 {
		cfg.SocketBuffer = DefaultSocketBuffer
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	d := &Dataplane{
		cfg:      cfg,
		log:      cfg.Logger,
		dev:      cfg.Device,
		batch:    cfg.BatchSize,
		inbound:  newInboundTable(),
		outbound: newOutboundTable(),
	}
	d.senders.New = func() any { return newIKESender(d.batch) }
	for _, a := range cfg.Addrs {
		for _, r := range []role{roleIKE, roleNATT} {
			port := cfg.IKEPort
			if r == roleNATT {
				port = cfg.NATTPort
			}
			c, err := listenUDP(netip.AddrPortFrom(a, port), r, cfg.SocketBuffer)
			if err != nil {
				d.closeSockets()
				return nil, fmt.Errorf("dataplane: listen %v port %d (%v): %w", a, port, r, err)
			}
			d.conns = append(d.conns, c)
			if r == roleNATT {
				d.natt = append(d.natt, c)
			}
		}
	}
	return d, nil
}

// Listener is one bound socket.
type Listener struct {
	// Addr is the bound address and port.
	Addr netip.AddrPort
	// NATT is true for a NAT-T socket (IKE with the non-ESP marker, ESP and
	// keepalives) and false for an IKE socket.
	NATT bool
}

// Listeners returns the bound sockets (useful when ports were chosen by the
// kernel).
func (d *Dataplane) Listeners() []Listener {
	out := make([]Listener, len(d.conns))
	for i, c := range d.conns {
		out[i] = Listener{Addr: c.local, NATT: c.role == roleNATT}
	}
	return out
}

// Run moves packets until ctx is done or a socket or the device fails, then
// closes the dataplane and returns after every goroutine it started has
// ended. It returns nil on cancellation or Close.
func (d *Dataplane) Run(ctx context.Context) error {
	if !d.running.CompareAndSwap(false, true) {
		return errors.New("dataplane: Run called twice")
	}
	if d.closed.Load() {
		return nil
	}
	n := len(d.conns)
	if d.dev != nil {
		n++
	}
	errc := make(chan error, n)
	var wg sync.WaitGroup
	for _, c := range d.conns {
		wg.Go(func() { errc <- d.receive(c) })
	}
	if d.dev != nil {
		wg.Go(func() { errc <- d.transmit() })
	}
	d.log.Info("dataplane running", "sockets", len(d.conns), "device", d.dev != nil, "batch", d.batch)

	var first error
	select {
	case <-ctx.Done():
	case first = <-errc:
		n--
	}
	d.Close()
	wg.Wait()
	for range n {
		if err := <-errc; first == nil {
			first = err
		}
	}
	d.log.Info("dataplane stopped", "error", first)
	return first
}

// Close closes the sockets and the device, which ends Run. It is safe to
// call more than once.
func (d *Dataplane) Close() error {
	d.closeOnce.Do(func() {
		d.closed.Store(true)
		d.closeErr = d.closeSockets()
		if d.dev != nil {
			d.closeErr = errors.Join(d.closeErr, d.dev.Close())
		}
	})
	return d.closeErr
}

func (d *Dataplane) closeSockets() error {
	var errs []error
	for _, c := range d.conns {
		errs = append(errs, c.conn.Close())
	}
	return errors.Join(errs...)
}

// InstallInbound makes sa receive packets with its SPI. Install the inbound
// SA of a new CHILD_SA before the peer can use it (before sending the IKE
// response that completes the exchange).
func (d *Dataplane) InstallInbound(sa *SA) error {
	if sa.dir != Inbound {
		return fmt.Errorf("%w: SPI %#x is %v", ErrInvalidSA, sa.spi, sa.dir)
	}
	return d.inbound.insert(sa)
}

// RemoveInbound stops sa from receiving. It reports whether sa was installed.
func (d *Dataplane) RemoveInbound(sa *SA) bool {
	return d.inbound.remove(sa)
}

// InstallOutbound makes sa the route for each of its RemoteTS prefixes,
// replacing atomically whatever SA each prefix had (a rekey installs the new
// outbound SA this way, then removes the old one). The SA's Local endpoint
// selects the NAT-T socket: a socket bound to that address or, failing that,
// the wildcard socket of its family; port zero means the NAT-T port.
func (d *Dataplane) InstallOutbound(sa *SA) error {
	if sa.dir != Outbound {
		return fmt.Errorf("%w: SPI %#x is %v", ErrInvalidSA, sa.spi, sa.dir)
	}
	if sa.out.Load() == nil {
		r, err := d.route(sa.local, sa.remote)
		if err != nil {
			return fmt.Errorf("SPI %#x: %w", sa.spi, err)
		}
		sa.out.CompareAndSwap(nil, r)
	}
	if sa.out.Load().owner != d {
		return fmt.Errorf("%w: SPI %#x is installed in another dataplane", ErrInvalidSA, sa.spi)
	}
	d.outbound.insert(sa)
	return nil
}

// outboundRoute returns sa's route if it belongs to one of d's sockets.
func (d *Dataplane) outboundRoute(sa *SA) *outboundRoute {
	if r := sa.out.Load(); r != nil && r.owner == d {
		return r
	}
	return nil
}

// route finds the NAT-T socket for local and prepares the addresses.
func (d *Dataplane) route(local, remote netip.AddrPort) (*outboundRoute, error) {
	i, err := d.socketFor(d.natt, local, remote)
	if err != nil {
		return nil, err
	}
	return &outboundRoute{conn: i, dst: makeSockaddr(remote), src: makePktinfo(local.Addr()), owner: d, remote: remote}, nil
}

// socketFor picks the socket among conns that sends from local to remote:
// the one bound to local's address, else the wildcard one of the family; an
// unspecified local address takes the first socket of the family. Local port
// zero matches any port.
func (d *Dataplane) socketFor(conns []*udpConn, local, remote netip.AddrPort) (int, error) {
	la, ra := local.Addr().Unmap(), remote.Addr().Unmap()
	wildcard := -1
	for i, c := range conns {
		if c.is6 != ra.Is6() || (local.Port() != 0 && local.Port() != c.local.Port()) {
			continue
		}
		if c.local.Addr() == la || !la.IsValid() || la.IsUnspecified() {
			return i, nil
		}
		if c.local.Addr().IsUnspecified() && wildcard < 0 {
			wildcard = i
		}
	}
	if wildcard < 0 {
		return 0, fmt.Errorf("%w: %v towards %v", ErrNoSocket, local, remote)
	}
	return wildcard, nil
}

// SetRemote changes where an installed outbound SA sends, when the peer's
// NAT mapping or address changed (RFC 7296 §2.23); packets in flight keep
// the old address.
func (d *Dataplane) SetRemote(sa *SA, remote netip.AddrPort) error {
	if d.outboundRoute(sa) == nil {
		return fmt.Errorf("%w: SPI %#x is not an outbound SA of this dataplane", ErrInvalidSA, sa.spi)
	}
	r, err := d.route(sa.local, remote)
	if err != nil {
		return fmt.Errorf("SPI %#x: %w", sa.spi, err)
	}
	sa.out.Store(r)
	return nil
}

// RemoveOutbound removes the routes that still lead to sa. It reports
// whether any did.
func (d *Dataplane) RemoveOutbound(sa *SA) bool {
	return d.outbound.remove(sa)
}

// InboundSAs returns the installed inbound SAs.
func (d *Dataplane) InboundSAs() []*SA { return d.inbound.all() }

// OutboundSAs returns the outbound SAs that carry at least one route.
func (d *Dataplane) OutboundSAs() []*SA { return d.outbound.all() }

// LookupOutbound returns the outbound SA that carries packets to dst, or nil.
func (d *Dataplane) LookupOutbound(dst netip.Addr) *SA { return d.outbound.lookup(dst.Unmap()) }

// LookupInbound returns the inbound SA with the SPI, or nil.
func (d *Dataplane) LookupInbound(spi uint32) *SA { return d.inbound.lookup(spi) }

// receive is the loop of one socket: IKE to the handler, keepalives counted,
// ESP opened and written to the device.
func (d *Dataplane) receive(c *udpConn) error {
	b := newRecvBatch(d.batch)
	ike := make([]Datagram, 0, d.batch)
	pkts := make([][]byte, 0, d.batch)
	for {
		n, err := c.read(b)
		if err != nil {
			if d.closed.Load() || isClosed(err) {
				return nil
			}
			return fmt.Errorf("dataplane: read %v: %w", c.local, err)
		}
		now := time.Now().UnixNano()
		var st batchCounters
		for i := range n {
			payload, remote, local, gro, ok := b.datagram(i, c)
			if !ok {
				st.drop(DropTooBig)
				continue
			}
			ike, pkts = d.demuxCoalesced(c.role, b.bufs[i][:], Datagram{Local: local, Remote: remote, Payload: payload}, gro, now, &st, ike, pkts)
		}
		if len(ike) > 0 {
			st.ikeIn += uint64(len(ike))
			if d.cfg.IKE != nil {
				d.cfg.IKE(ike)
			}
			clear(ike)
			ike = ike[:0]
		}
		if len(pkts) > 0 {
			if d.dev == nil {
				st.drops[DropWriteFailed] += uint64(len(pkts))
			} else {
				written, _ := d.dev.Write(pkts)
				st.espIn += uint64(written)
				st.drops[DropWriteFailed] += uint64(len(pkts) - written)
			}
			clear(pkts)
			pkts = pkts[:0]
		}
		d.stats.add(&st)
	}
}

// demuxCoalesced splits a datagram that the kernel coalesced from several
// of one flow (UDP_GRO, segment size gro) and demultiplexes each. Segment k
// starts at ESPOffset+k*gro, so the buffer shifted by k*gro has it at
// ESPOffset; its nonce scratch overlaps the last octets of segment k-1: the
// ICV of an ESP packet, used by then, but part of an IKE message, which the
// IKE handler reads only after the batch. An IKE message followed by
// another segment is therefore copied out first (IKE is rare among ESP).
func (d *Dataplane) demuxCoalesced(r role, buf []byte, dg Datagram, gro int, now int64, st *batchCounters, ike []Datagram, pkts [][]byte) ([]Datagram, [][]byte) {
	if gro <= 0 || gro >= len(dg.Payload) {
		return d.demux(r, buf, dg, now, st, ike, pkts)
	}
	payload := dg.Payload
	st.coalescedIn += uint64((len(payload) + gro - 1) / gro)
	for off := 0; off < len(payload); off += gro {
		dg.Payload = payload[off:min(off+gro, len(payload))]
		n := len(ike)
		ike, pkts = d.demux(r, buf[off:], dg, now, st, ike, pkts)
		if len(ike) > n && off+gro < len(payload) {
			ike[n].Payload = bytes.Clone(ike[n].Payload)
		}
	}
	return ike, pkts
}

// demux handles one datagram received on a socket of role r: dg.Payload is
// buf[ESPOffset:]. IKE messages are appended to ike (marker stripped), ESP
// is opened in place and the inner packet appended to pkts, keepalives and
// drops are counted in st.
func (d *Dataplane) demux(r role, buf []byte, dg Datagram, now int64, st *batchCounters, ike []Datagram, pkts [][]byte) ([]Datagram, [][]byte) {
	if r == roleIKE {
		return append(ike, dg), pkts
	}
	switch Classify(dg.Payload) {
	case KindIKE:
		dg.Payload = dg.Payload[len(NonESPMarker):]
		ike = append(ike, dg)
	case KindKeepalive:
		st.keepalivesIn++
	case KindESP:
		sa, inner, reason := d.openESP(buf, len(dg.Payload), now)
		if reason != NotDropped {
			st.drop(reason)
			break
		}
		if d.cfg.Intercept != nil && isMobilityHeader(inner) && d.cfg.Intercept(sa, dg.Remote, inner) {
			st.intercepted++
			break
		}
		pkts = append(pkts, inner)
	default:
		st.drop(DropMalformed)
	}
	return ike, pkts
}

// openESP finds the inbound SA of an ESP packet at buf[ESPOffset:] and opens it.
func (d *Dataplane) openESP(buf []byte, n int, now int64) (*SA, []byte, DropReason) {
	spi := binary.BigEndian.Uint32(buf[ESPOffset:])
	if spi < 256 {
		return nil, nil, DropBadSPI
	}
	sa := d.inbound.lookup(spi)
	if sa == nil {
		return nil, nil, DropBadSPI
	}
	inner, r := sa.open(buf, n, now)
	return sa, inner, r
}

// isMobilityHeader reports whether an inner packet is IPv6 carrying a
// Mobility Header, directly or after Hop-by-Hop Options, Routing and
// Destination Options headers (a Home Address option, RFC 6275 §6.3).
func isMobilityHeader(p []byte) bool {
	if len(p) < 40 || p[0]>>4 != 6 {
		return false
	}
	nh, off := p[6], 40
	for range maxExtensionHeaders {
		switch nh {
		case protoMobilityHeader:
			return true
		case 0, 43, 60: // Hop-by-Hop Options, Routing, Destination Options
			if off+2 > len(p) {
				return false
			}
			nh, off = p[off], off+8*(int(p[off+1])+1)
		default:
			return false
		}
	}
	return false
}

// maxExtensionHeaders bounds the walk of isMobilityHeader.
const maxExtensionHeaders = 4

// protoMobilityHeader is the IPv6 Next Header of the Mobility Header.
const protoMobilityHeader = 135

// SendInner seals one inner IP packet with the outbound SA routed for its
// destination and sends it, as if it had been read from the device: the
// way a home agent answers a Binding Update inside the mobile node's tunnel
// (RFC 4877 §3) without handing its own packet to the kernel. It is not
// for the packet path: it allocates and makes one system call per packet.
func (d *Dataplane) SendInner(pkt []byte) error {
	if d.closed.Load() {
		return ErrClosed
	}
	if len(pkt) == 0 || len(pkt) > MaxInnerPacket {
		return fmt.Errorf("%w: inner packet of %d octets", ErrInvalidSA, len(pkt))
	}
	_, dst, _, nh := ipHeader(pkt)
	if nh == 0 {
		return fmt.Errorf("%w: not an IP packet", ErrInvalidSA)
	}
	sa := d.outbound.lookup(dst)
	if sa == nil {
		return fmt.Errorf("%w: no outbound SA for %v", ErrNoSocket, dst)
	}
	buf := make([]byte, HeadRoom+len(pkt)+TailRoom)
	copy(buf[HeadRoom:], pkt)
	var st batchCounters
	defer d.stats.add(&st)
	esp, r := sa.seal(buf, len(pkt), time.Now().UnixNano())
	if r != NotDropped {
		st.drop(r)
		return fmt.Errorf("dataplane: SPI %#x: packet dropped: %v", sa.spi, r)
	}
	route := sa.out.Load()
	sb := newSendBatch(1)
	sb.add(&route.dst, &route.src, nil, esp)
	sent, failed, err := d.natt[route.conn].flush(sb)
	st.espOut += uint64(sent)
	st.drops[DropSendFailed] += uint64(failed)
	if err != nil {
		return fmt.Errorf("dataplane: send on %v: %w", d.natt[route.conn].local, err)
	}
	if failed > 0 {
		return fmt.Errorf("dataplane: SPI %#x: datagram refused by the kernel", sa.spi)
	}
	return nil
}

// transmit is the device loop: read a batch of inner packets, seal each with
// the outbound SA routed for its destination, send them in one sendmmsg per
// socket.
func (d *Dataplane) transmit() error {
	bufs := make([]*buffer, d.batch)
	reads := make([][]byte, d.batch)
	sizes := make([]int, d.batch)
	for i := range bufs {
		bufs[i] = new(buffer)
		reads[i] = bufs[i][:BufferSize-TailRoom]
	}
	sends := make([]*sendBatch, len(d.natt))
	for i := range sends {
		sends[i] = newSendBatch(d.batch)
	}
	for {
		n, err := d.dev.Read(reads, sizes, HeadRoom)
		if err != nil {
			if d.closed.Load() || isClosed(err) {
				return nil
			}
			return fmt.Errorf("dataplane: device read: %w", err)
		}
		now := time.Now().UnixNano()
		var st batchCounters
		for i := range n {
			buf := bufs[i][:]
			size := sizes[i]
			if size <= 0 || size > MaxInnerPacket {
				st.drop(DropMalformed)
				continue
			}
			_, dst, _, nh := ipHeader(buf[HeadRoom : HeadRoom+size])
			if nh == 0 {
				st.drop(DropMalformed)
				continue
			}
			sa := d.outbound.lookup(dst)
			if sa == nil {
				st.drop(DropNoSA)
				continue
			}
			esp, r := sa.seal(buf, size, now)
			if r != NotDropped {
				st.drop(r)
				continue
			}
			route := sa.out.Load()
			sb := sends[route.conn]
			if sb.full() {
				d.flush(route.conn, sb, &st)
			}
			if d.natt[route.conn].gso.Load() {
				sb.addSegment(&route.dst, &route.src, esp)
			} else {
				sb.add(&route.dst, &route.src, nil, esp)
			}
		}
		for i, sb := range sends {
			d.flush(i, sb, &st)
		}
		d.stats.add(&st)
	}
}

func (d *Dataplane) flush(conn int, sb *sendBatch, st *batchCounters) {
	st.segmentedOut += uint64(sb.segmented())
	sent, failed, _ := d.natt[conn].flush(sb)
	st.espOut += uint64(sent)
	st.drops[DropSendFailed] += uint64(failed)
}

// WriteIKE sends IKE datagrams, batched per socket, each from its Local
// address and port; the non-ESP marker is added on the NAT-T port. It
// returns how many were sent; the error names those that were not.
func (d *Dataplane) WriteIKE(dgs []Datagram) (int, error) {
	return d.write(dgs, false)
}

// SendKeepalive sends one NAT-keepalive (RFC 3948 §2.3) from our NAT-T
// endpoint local to remote. The runtime calls it on a timer (20 s by
// default) for peers whose NAT it is behind.
func (d *Dataplane) SendKeepalive(local, remote netip.AddrPort) error {
	_, err := d.write([]Datagram{{Local: local, Remote: remote, Payload: keepalivePayload[:]}}, true)
	return err
}

var keepalivePayload = [1]byte{Keepalive}

// ikeSender is the scratch space of one WriteIKE call.
type ikeSender struct {
	batch *sendBatch
	dst   []sockaddr
	src   []pktinfo
	idx   []int // socket of each datagram
}

func newIKESender(size int) *ikeSender {
	return &ikeSender{batch: newSendBatch(size), dst: make([]sockaddr, size), src: make([]pktinfo, size)}
}

func (d *Dataplane) write(dgs []Datagram, keepalive bool) (int, error) {
	if d.closed.Load() {
		return 0, ErrClosed
	}
	s := d.senders.Get().(*ikeSender)
	defer d.senders.Put(s)
	conns := d.conns
	if keepalive {
		conns = d.natt
	}
	var errs []error
	sent := 0
	if cap(s.idx) < len(dgs) {
		s.idx = make([]int, len(dgs))
	}
	idx := s.idx[:len(dgs)]
	for i, dg := range dgs {
		idx[i], errs = d.pick(conns, dg, errs)
	}
	var st batchCounters
	for ci, c := range conns {
		for i, dg := range dgs {
			if idx[i] != ci {
				continue
			}
			if s.batch.full() {
				n, errs2 := d.flushIKE(c, s, errs)
				sent, errs = sent+n, errs2
			}
			k := s.batch.n
			s.dst[k] = makeSockaddr(dg.Remote)
			s.src[k] = makePktinfo(dg.Local.Addr())
			var prefix []byte
			if c.role == roleNATT && !keepalive {
				prefix = NonESPMarker[:]
			}
			s.batch.add(&s.dst[k], &s.src[k], prefix, dg.Payload)
		}
		n, errs2 := d.flushIKE(c, s, errs)
		sent, errs = sent+n, errs2
	}
	if keepalive {
		st.keepalivesOut = uint64(sent)
	} else {
		st.ikeOut = uint64(sent)
	}
	d.stats.add(&st)
	return sent, errors.Join(errs...)
}

func (d *Dataplane) pick(conns []*udpConn, dg Datagram, errs []error) (int, []error) {
	if !dg.Remote.Addr().IsValid() || dg.Remote.Port() == 0 {
		return -1, append(errs, fmt.Errorf("%w: no remote address %v", ErrNoSocket, dg.Remote))
	}
	if dg.Local.Port() == 0 {
		return -1, append(errs, fmt.Errorf("%w: local port missing in %v", ErrNoSocket, dg.Local))
	}
	i, err := d.socketFor(conns, dg.Local, dg.Remote)
	if err != nil {
		return -1, append(errs, err)
	}
	return i, errs
}

func (d *Dataplane) flushIKE(c *udpConn, s *ikeSender, errs []error) (int, []error) {
	n := s.batch.n
	sent, failed, err := c.flush(s.batch)
	if err != nil {
		errs = append(errs, fmt.Errorf("dataplane: send on %v: %w", c.local, err))
	} else if failed > 0 {
		errs = append(errs, fmt.Errorf("dataplane: %d of %d datagrams refused on %v", failed, n, c.local))
	}
	return sent, errs
}

// Stats are the dataplane's global counters.
type Stats struct {
	// ESPIn and ESPOut count inner packets delivered to the device and ESP
	// packets sent.
	ESPIn, ESPOut uint64
	// IKEIn and IKEOut count IKE datagrams handed to the runtime and sent.
	IKEIn, IKEOut uint64
	// KeepalivesIn and KeepalivesOut count NAT-keepalives.
	KeepalivesIn, KeepalivesOut uint64
	// SegmentedOut counts ESP packets handed to the kernel in segmented
	// sends (UDP_SEGMENT), several per system call and stack traversal.
	SegmentedOut uint64
	// CoalescedIn counts datagrams that the kernel delivered coalesced
	// (UDP_GRO), several per buffer.
	CoalescedIn uint64
	// Intercepted counts inner packets Config.Intercept consumed.
	Intercepted uint64
	// Drops counts discarded packets by reason, in both directions.
	Drops [NumDropReasons]uint64
}

// Stats returns a snapshot of the global counters.
func (d *Dataplane) Stats() Stats { return d.stats.snapshot() }

// counters are the global counters; packet loops add a batch at a time.
type counters struct {
	espIn, espOut, ikeIn, ikeOut, kaIn, kaOut atomic.Uint64
	segmentedOut, coalescedIn, intercepted    atomic.Uint64
	drops                                     [NumDropReasons]atomic.Uint64
}

type batchCounters struct {
	espIn, espOut, ikeIn, ikeOut, keepalivesIn, keepalivesOut uint64
	segmentedOut, coalescedIn, intercepted                    uint64
	drops                                                     [NumDropReasons]uint64
}

func (st *batchCounters) drop(r DropReason) { st.drops[r]++ }

func (c *counters) add(st *batchCounters) {
	addNonZero(&c.espIn, st.espIn)
	addNonZero(&c.espOut, st.espOut)
	addNonZero(&c.ikeIn, st.ikeIn)
	addNonZero(&c.ikeOut, st.ikeOut)
	addNonZero(&c.kaIn, st.keepalivesIn)
	addNonZero(&c.kaOut, st.keepalivesOut)
	addNonZero(&c.segmentedOut, st.segmentedOut)
	addNonZero(&c.coalescedIn, st.coalescedIn)
	addNonZero(&c.intercepted, st.intercepted)
	for i, v := range st.drops {
		addNonZero(&c.drops[i], v)
	}
}

func addNonZero(c *atomic.Uint64, v uint64) {
	if v != 0 {
		c.Add(v)
	}
}

func (c *counters) snapshot() Stats {
	s := Stats{
		ESPIn: c.espIn.Load(), ESPOut: c.espOut.Load(),
		IKEIn: c.ikeIn.Load(), IKEOut: c.ikeOut.Load(),
		KeepalivesIn: c.kaIn.Load(), KeepalivesOut: c.kaOut.Load(),
		SegmentedOut: c.segmentedOut.Load(), CoalescedIn: c.coalescedIn.Load(),
		Intercepted: c.intercepted.Load(),
	}
	for i := range c.drops {
		s.Drops[i] = c.drops[i].Load()
	}
	return s
}
