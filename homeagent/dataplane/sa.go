package dataplane

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// Sequence number limits for SAs without Extended Sequence Numbers
// (RFC 4303 §2.2, §3.3.3).
const (
	// MaxSeq is the last sequence number an outbound SA sends; the counter
	// must never cycle, so the SA refuses to send after it.
	MaxSeq = 1<<32 - 1
	// DefaultSoftSeqLimit is the sequence number at which an outbound SA
	// asks for a rekey when SAConfig.SoftSeqLimit is zero: 65 536 packets
	// before the hard limit.
	DefaultSoftSeqLimit = 1<<32 - 1<<16
)

// SAConfig describes one ESP SA in tunnel mode with UDP encapsulation
// (RFC 4303, RFC 3948), as negotiated by IKEv2. The IKE runtime builds it
// from the CHILD_SA parameters; this package knows nothing about IKE.
type SAConfig struct {
	// SPI is the Security Parameters Index: for an inbound SA the one we
	// chose, for an outbound SA the one the peer chose. Values 0..255 are
	// reserved (RFC 4303 §2.1).
	SPI       uint32
	Direction Direction
	Transform Transform
	// KeyMaterial is the KEYMAT slice for this direction: the cipher key
	// followed by the 4-octet salt (RFC 4106 §8.1, RFC 7634 §2). It is
	// copied into the cipher; the caller may wipe it once NewSA returns
	// (see "Key material" in the package documentation for what the SA
	// keeps).
	KeyMaterial []byte

	// Local and Remote are the encapsulation endpoints: our address and
	// NAT-T port, and the peer's (after NAT) address and port. An outbound
	// SA sends from Local to Remote; Local's address may be unspecified to
	// let the kernel choose the source.
	Local, Remote netip.AddrPort

	// LocalTS and RemoteTS are the inner traffic selectors as prefixes:
	// inner packets protected by the SA go from an address in LocalTS to an
	// address in RemoteTS (outbound) or the reverse (inbound). An outbound
	// SA is installed as the route for each RemoteTS prefix. An IKE address
	// range that is not a prefix is given as its covering prefixes
	// (PrefixesOfRange). Protocol and port selectors are not enforced here.
	LocalTS, RemoteTS []netip.Prefix

	// SoftSeqLimit is the outbound sequence number at which the SA reports
	// that it needs a rekey; zero means DefaultSoftSeqLimit.
	SoftSeqLimit uint32
	// OnSoftLimit, if set, is called once, on the goroutine sending the
	// packet, when an outbound SA reaches SoftSeqLimit. It must not block.
	OnSoftLimit func(*SA)
}

// SA is an installed or installable ESP security association. Sealing and
// opening are safe for concurrent use; the parameters never change after
// NewSA, so rekeying means a new SA.
type SA struct {
	spi       uint32
	dir       Direction
	transform Transform
	keyBits   int
	aead      cipher.AEAD
	salt      [saltLen]byte

	local, remote     netip.AddrPort
	localTS, remoteTS []netip.Prefix
	softLimit         uint64
	onSoftLimit       func(*SA)

	// Outbound: the last sequence number handed out. It counts on past
	// MaxSeq (a 64-bit counter never wraps) so exhaustion is sticky.
	seq         atomic.Uint64
	rekeyNeeded atomic.Bool

	// Inbound: the anti-replay window, checked before and updated after
	// the ICV is verified.
	mu     sync.Mutex
	replay replayWindow

	// Outbound: where the dataplane that installed the SA sends it.
	out atomic.Pointer[outboundRoute]

	packets  atomic.Uint64
	bytes    atomic.Uint64
	lastUsed atomic.Int64 // Unix nanoseconds, 0 = never
	drops    [NumDropReasons]atomic.Uint64
}

// NewSA checks the configuration and keys the cipher. Errors wrap
// ErrInvalidSA.
func NewSA(c SAConfig) (*SA, error) {
	if c.SPI < 256 {
		return nil, fmt.Errorf("%w: SPI %#x is reserved (RFC 4303 §2.1)", ErrInvalidSA, c.SPI)
	}
	if c.Direction != Inbound && c.Direction != Outbound {
		return nil, fmt.Errorf("%w: SPI %#x: %v", ErrInvalidSA, c.SPI, c.Direction)
	}
	if !c.Remote.Addr().IsValid() || c.Remote.Port() == 0 || c.Remote.Addr().IsUnspecified() {
		return nil, fmt.Errorf("%w: SPI %#x: remote endpoint %v", ErrInvalidSA, c.SPI, c.Remote)
	}
	if !c.Local.Addr().IsValid() {
		return nil, fmt.Errorf("%w: SPI %#x: local endpoint %v", ErrInvalidSA, c.SPI, c.Local)
	}
	if c.Local.Addr().Unmap().Is4() != c.Remote.Addr().Unmap().Is4() {
		return nil, fmt.Errorf("%w: SPI %#x: endpoints %v and %v differ in family", ErrInvalidSA, c.SPI, c.Local, c.Remote)
	}
	if len(c.LocalTS) == 0 || len(c.RemoteTS) == 0 {
		return nil, fmt.Errorf("%w: SPI %#x: traffic selectors missing", ErrInvalidSA, c.SPI)
	}
	for _, p := range append(append([]netip.Prefix(nil), c.LocalTS...), c.RemoteTS...) {
		if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() {
			return nil, fmt.Errorf("%w: SPI %#x: traffic selector %v is not a canonical prefix", ErrInvalidSA, c.SPI, p)
		}
	}
	aead, keyBits, err := newAEAD(c.Transform, c.KeyMaterial)
	if err != nil {
		return nil, fmt.Errorf("%w: SPI %#x: %w", ErrInvalidSA, c.SPI, err)
	}
	sa := &SA{
		spi:       c.SPI,
		dir:       c.Direction,
		transform: c.Transform,
		keyBits:   keyBits,
		aead:      aead,
		local:     unmapAddrPort(c.Local),
		remote:    unmapAddrPort(c.Remote),
		localTS:   append([]netip.Prefix(nil), c.LocalTS...),
		remoteTS:  append([]netip.Prefix(nil), c.RemoteTS...),
		softLimit: DefaultSoftSeqLimit,
	}
	if c.SoftSeqLimit != 0 {
		sa.softLimit = uint64(c.SoftSeqLimit)
	}
	sa.onSoftLimit = c.OnSoftLimit
	copy(sa.salt[:], c.KeyMaterial[len(c.KeyMaterial)-saltLen:])
	return sa, nil
}

// newAEAD keys the cipher of a transform from key ‖ salt.
func newAEAD(t Transform, keymat []byte) (cipher.AEAD, int, error) {
	keyLen := len(keymat) - saltLen
	switch t {
	case EncrAESGCM16:
		if keyLen != 16 && keyLen != 24 && keyLen != 32 {
			return nil, 0, fmt.Errorf("%v needs 20, 28 or 36 octets of keying material, got %d", t, len(keymat))
		}
		block, err := aes.NewCipher(keymat[:keyLen])
		if err != nil {
			return nil, 0, err
		}
		aead, err := cipher.NewGCM(block) // 12-octet nonce, 16-octet tag
		return aead, keyLen * 8, err
	case EncrChaCha20Poly1305:
		if keyLen != chacha20poly1305.KeySize {
			return nil, 0, fmt.Errorf("%v needs 36 octets of keying material, got %d", t, len(keymat))
		}
		aead, err := chacha20poly1305.New(keymat[:keyLen])
		return aead, 256, err
	}
	return nil, 0, fmt.Errorf("unsupported transform %v", t)
}

func unmapAddrPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// SPI returns the SA's Security Parameters Index.
func (sa *SA) SPI() uint32 { return sa.spi }

// Direction returns whether the SA is inbound or outbound.
func (sa *SA) Direction() Direction { return sa.dir }

// Transform returns the encryption transform and its key size in bits.
func (sa *SA) Transform() (Transform, int) { return sa.transform, sa.keyBits }

// Local returns our encapsulation endpoint.
func (sa *SA) Local() netip.AddrPort { return sa.local }

// Remote returns the peer's encapsulation endpoint: for an installed
// outbound SA, where it sends now (after any SetRemote).
func (sa *SA) Remote() netip.AddrPort {
	if r := sa.out.Load(); r != nil {
		return r.remote
	}
	return sa.remote
}

// LocalTS returns the local traffic selectors (a copy).
func (sa *SA) LocalTS() []netip.Prefix { return append([]netip.Prefix(nil), sa.localTS...) }

// RemoteTS returns the remote traffic selectors (a copy).
func (sa *SA) RemoteTS() []netip.Prefix { return append([]netip.Prefix(nil), sa.remoteTS...) }

// RekeyNeeded reports whether an outbound SA has reached its soft sequence
// number limit.
func (sa *SA) RekeyNeeded() bool { return sa.rekeyNeeded.Load() }

// SAStats is a snapshot of an SA's counters.
type SAStats struct {
	// Packets and Bytes count the packets sealed (outbound) or opened and
	// accepted (inbound), and their inner IP octets.
	Packets, Bytes uint64
	// Drops counts discarded packets by reason.
	Drops [NumDropReasons]uint64
	// Seq is the last sequence number sent (outbound) or the highest one
	// accepted (inbound).
	Seq uint64
	// LastUsed is when the SA last carried a packet (zero: never).
	LastUsed time.Time
}

// Stats returns a snapshot of the SA's counters.
func (sa *SA) Stats() SAStats {
	s := SAStats{Packets: sa.packets.Load(), Bytes: sa.bytes.Load()}
	for i := range sa.drops {
		s.Drops[i] = sa.drops[i].Load()
	}
	if sa.dir == Outbound {
		s.Seq = min(sa.seq.Load(), MaxSeq)
	} else {
		sa.mu.Lock()
		s.Seq = sa.replay.last
		sa.mu.Unlock()
	}
	if t := sa.lastUsed.Load(); t != 0 {
		s.LastUsed = time.Unix(0, t)
	}
	return s
}

func (sa *SA) drop(r DropReason) DropReason {
	sa.drops[r].Add(1)
	return r
}

func (sa *SA) used(n int, now int64) {
	sa.packets.Add(1)
	sa.bytes.Add(uint64(n))
	if sa.lastUsed.Load() != now { // one store per batch, not per packet
		sa.lastUsed.Store(now)
	}
}

// Seal encapsulates the inner IP packet buf[HeadRoom:HeadRoom+n] in ESP, in
// place, and returns the ESP packet (the UDP payload to send), a slice of buf
// starting at buf[ESPOffset]. buf needs n+TailRoom octets after the inner
// packet. The sequence number is the next of the SA and is also the IV.
func (sa *SA) Seal(buf []byte, n int) ([]byte, DropReason) {
	return sa.seal(buf, n, time.Now().UnixNano())
}

func (sa *SA) seal(buf []byte, n int, now int64) ([]byte, DropReason) {
	if sa.dir != Outbound {
		return nil, sa.drop(DropNoSA)
	}
	if n <= 0 || n > MaxInnerPacket || len(buf)-HeadRoom-TailRoom < n {
		return nil, sa.drop(DropTooBig)
	}
	inner := buf[HeadRoom : HeadRoom+n]
	src, dst, length, nh := ipHeader(inner)
	if nh == 0 || length != n {
		return nil, sa.drop(DropMalformed)
	}
	if !containsAddr(sa.localTS, src) || !containsAddr(sa.remoteTS, dst) {
		return nil, sa.drop(DropSelector)
	}
	seq := sa.seq.Add(1)
	if seq > MaxSeq {
		return nil, sa.drop(DropSeqExhausted)
	}
	if seq == sa.softLimit {
		sa.rekeyNeeded.Store(true)
		if sa.onSoftLimit != nil {
			sa.onSoftLimit(sa)
		}
	}
	var iv [ivLen]byte
	binary.BigEndian.PutUint64(iv[:], seq)
	esp := sealESP(sa.aead, buf, n, sa.spi, uint32(seq), iv, sa.salt, nh)
	sa.used(n, now)
	return esp, NotDropped
}

// sealESP writes padding, trailer, ESP header and IV around the inner packet
// at buf[HeadRoom:HeadRoom+n] and encrypts it in place.
func sealESP(aead cipher.AEAD, buf []byte, n int, spi, seq uint32, iv [ivLen]byte, salt [saltLen]byte, nextHeader byte) []byte {
	padLen := (4 - (n+espTrailerLen)%4) % 4
	trailer := buf[HeadRoom+n : HeadRoom+n+padLen+espTrailerLen]
	for i := range padLen {
		trailer[i] = byte(i + 1) // RFC 4303 §2.4 default padding 1, 2, 3
	}
	trailer[padLen] = byte(padLen)
	trailer[padLen+1] = nextHeader
	plaintext := buf[HeadRoom : HeadRoom+n+padLen+espTrailerLen]

	hdr := buf[ESPOffset : ESPOffset+espHeaderLen]
	binary.BigEndian.PutUint32(hdr[0:4], spi)
	binary.BigEndian.PutUint32(hdr[4:8], seq)
	copy(buf[ESPOffset+espHeaderLen:HeadRoom], iv[:])

	nonce := buf[:nonceLen]
	copy(nonce, salt[:])
	copy(nonce[saltLen:], iv[:])
	// AAD is SPI ‖ Sequence Number without ESN (RFC 4106 §5, RFC 7634 §2.1).
	ct := aead.Seal(plaintext[:0], nonce, plaintext, hdr)
	return buf[ESPOffset : HeadRoom+len(ct)]
}

// Open verifies and decrypts the ESP packet buf[ESPOffset:ESPOffset+n] in
// place and returns the inner IP packet, a slice of buf starting at
// buf[HeadRoom]. Sequence numbers are checked against the anti-replay window
// before decryption and recorded after the ICV is verified.
func (sa *SA) Open(buf []byte, n int) ([]byte, DropReason) {
	return sa.open(buf, n, time.Now().UnixNano())
}

func (sa *SA) open(buf []byte, n int, now int64) ([]byte, DropReason) {
	if sa.dir != Inbound {
		return nil, sa.drop(DropNoSA)
	}
	if n < minESPLen || n > len(buf)-ESPOffset {
		return nil, sa.drop(DropMalformed)
	}
	esp := buf[ESPOffset : ESPOffset+n]
	if binary.BigEndian.Uint32(esp[0:4]) != sa.spi {
		return nil, sa.drop(DropBadSPI)
	}
	seq := uint64(binary.BigEndian.Uint32(esp[4:8]))
	sa.mu.Lock()
	fresh := sa.replay.check(seq)
	sa.mu.Unlock()
	if !fresh {
		return nil, sa.drop(DropReplay)
	}

	nonce := buf[:nonceLen]
	copy(nonce, sa.salt[:])
	copy(nonce[saltLen:], esp[espHeaderLen:espHeaderLen+ivLen])
	ct := esp[espHeaderLen+ivLen:]
	pt, err := sa.aead.Open(ct[:0], nonce, ct, esp[:espHeaderLen])
	if err != nil {
		return nil, sa.drop(DropAuthFail)
	}
	sa.mu.Lock()
	fresh = sa.replay.update(seq)
	sa.mu.Unlock()
	if !fresh { // a copy that was opened concurrently won
		return nil, sa.drop(DropReplay)
	}

	inner, r := stripTrailer(pt)
	if r != NotDropped {
		return nil, sa.drop(r)
	}
	src, dst, length, _ := ipHeader(inner)
	inner = inner[:length] // drop TFC padding (RFC 4303 §2.7)
	if !containsAddr(sa.remoteTS, src) || !containsAddr(sa.localTS, dst) {
		return nil, sa.drop(DropSelector)
	}
	sa.used(len(inner), now)
	return inner, NotDropped
}

// stripTrailer checks the padding and Next Header of a decrypted ESP payload
// and returns the inner IP packet (with any TFC padding still attached).
func stripTrailer(pt []byte) ([]byte, DropReason) {
	if len(pt) < espTrailerLen {
		return nil, DropMalformed
	}
	nextHeader := pt[len(pt)-1]
	padLen := int(pt[len(pt)-2])
	end := len(pt) - espTrailerLen - padLen
	if end < 0 {
		return nil, DropMalformed
	}
	for i, b := range pt[end : end+padLen] {
		if b != byte(i+1) { // RFC 4303 §2.4: receivers SHOULD check
			return nil, DropMalformed
		}
	}
	inner := pt[:end]
	switch nextHeader {
	case nextHeaderNoNext:
		return nil, DropDummy
	case nextHeaderIPv4, nextHeaderIPv6:
		if _, _, _, nh := ipHeader(inner); nh != nextHeader {
			return nil, DropMalformed
		}
		return inner, NotDropped
	}
	return nil, DropMalformed
}

// ipHeader returns the addresses and total length of an IPv4 or IPv6 packet
// and the ESP Next Header value for it (4 or 41), or nextHeader 0 if p does
// not start with a well-formed IP header whose length fits p.
func ipHeader(p []byte) (src, dst netip.Addr, length int, nextHeader byte) {
	if len(p) == 0 {
		return
	}
	switch p[0] >> 4 {
	case 4:
		if len(p) < 20 {
			return
		}
		ihl := int(p[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(p[2:4]))
		if ihl < 20 || total < ihl || total > len(p) {
			return
		}
		return netip.AddrFrom4([4]byte(p[12:16])), netip.AddrFrom4([4]byte(p[16:20])), total, nextHeaderIPv4
	case 6:
		if len(p) < 40 {
			return
		}
		total := 40 + int(binary.BigEndian.Uint16(p[4:6]))
		if total > len(p) {
			return
		}
		return netip.AddrFrom16([16]byte(p[8:24])), netip.AddrFrom16([16]byte(p[24:40])), total, nextHeaderIPv6
	}
	return
}

func containsAddr(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
