package homelink

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"time"

	"golang.org/x/net/ipv6"
)

// Protocol constants (RFC 4861 §10, RFC 4862 §5.1).
const (
	// MaxNeighborAdvertisement is MAX_NEIGHBOR_ADVERTISEMENT: a node sends
	// at most this many unsolicited Neighbor Advertisements for one change
	// (RFC 4861 §7.2.6, §10; RFC 6275 §10.4.1).
	MaxNeighborAdvertisement = 3
	// RetransTimer is the default RetransTimer (RETRANS_TIMER, 1 000 ms):
	// the spacing of unsolicited advertisements and how long Duplicate
	// Address Detection waits after its last solicitation (RFC 4861 §6.3.2,
	// §10; RFC 4862 §5.4).
	RetransTimer = time.Second
	// DupAddrDetectTransmits is the default number of Neighbor
	// Solicitations Duplicate Address Detection sends (RFC 4862 §5.1).
	DupAddrDetectTransmits = 1
	// HopLimit is the IPv6 Hop Limit of every Neighbor Discovery message;
	// a receiver discards one that arrives with any other value, which
	// proves it was not forwarded (RFC 4861 §7.1).
	HopLimit = 255
)

// Lengths of the fixed parts of the messages (RFC 4861 §4.3, §4.4).
const (
	// NeighborSolicitationLen is the length of a Neighbor Solicitation
	// without options: ICMPv6 header, Reserved, Target Address.
	NeighborSolicitationLen = 24
	// NeighborAdvertisementLen is the length of a Neighbor Advertisement
	// without options: ICMPv6 header, flags and Reserved, Target Address.
	NeighborAdvertisementLen = 24
	// ipv6HeaderLen is the length of the fixed IPv6 header (RFC 8200 §3).
	ipv6HeaderLen = 40
	// protocolICMPv6 is ICMPv6's Next Header value.
	protocolICMPv6 = 58
)

// Flags of a Neighbor Advertisement, in the octet after the checksum
// (RFC 4861 §4.4).
const (
	flagRouter    = 0x80
	flagSolicited = 0x40
	flagOverride  = 0x20
)

// OptionType is the Type of a Neighbor Discovery option (RFC 4861 §4.6,
// IANA "IPv6 Neighbor Discovery Option Formats").
type OptionType uint8

// Neighbor Discovery option types this package reads and writes.
const (
	OptionSourceLinkLayerAddress OptionType = 1 // RFC 4861 §4.6.1
	OptionTargetLinkLayerAddress OptionType = 2 // RFC 4861 §4.6.1
)

// String names the option as RFC 4861 does.
func (t OptionType) String() string {
	switch t {
	case OptionSourceLinkLayerAddress:
		return "Source Link-Layer Address"
	case OptionTargetLinkLayerAddress:
		return "Target Link-Layer Address"
	}
	return "ND option " + strconv.Itoa(int(t))
}

// maxLinkLayerAddress is the longest link-layer address one option holds:
// the Length octet counts 8-octet units, the Type and Length octets
// included.
const maxLinkLayerAddress = 255*8 - 2

// NeighborSolicitation is an ICMPv6 Neighbor Solicitation (RFC 4861 §4.3).
//
// A parsed value's slices are views into the parsed buffer.
type NeighborSolicitation struct {
	// Target is the address whose link-layer address is sought. It MUST
	// NOT be multicast.
	Target netip.Addr
	// SourceLinkLayerAddress is the Source Link-Layer Address option, nil
	// when absent. It MUST be absent when the IPv6 source is the
	// unspecified address (Duplicate Address Detection).
	SourceLinkLayerAddress net.HardwareAddr
	// Options holds every other option, raw, in the order received
	// (further link-layer address options included); Append writes them
	// after the link-layer address option.
	Options []byte
}

// Len returns the encoded length of the message.
func (m *NeighborSolicitation) Len() int {
	return NeighborSolicitationLen + linkLayerOptionLen(m.SourceLinkLayerAddress) + len(m.Options)
}

// Append appends the message to b with a zero checksum: on an ICMPv6 raw
// socket the kernel computes it (RFC 3542 §3.1); elsewhere use
// the ICMPv6 pseudo-header sum (RFC 4443 §2.3).
func (m *NeighborSolicitation) Append(b []byte) []byte {
	b = append(b, byte(ipv6.ICMPTypeNeighborSolicitation), 0, 0, 0, 0, 0, 0, 0)
	b = appendAddr16(b, m.Target)
	b = appendLinkLayerOption(b, OptionSourceLinkLayerAddress, m.SourceLinkLayerAddress)
	return append(b, m.Options...)
}

// ParseNeighborSolicitation parses an ICMPv6 Neighbor Solicitation (the
// ICMPv6 message, no IPv6 header). It checks what the message alone can
// show (RFC 4861 §7.1.1): Type, Code 0, length at least 24, a non-multicast
// Target, options of non-zero length that fit. It does not verify the
// checksum (the kernel does, on a raw ICMPv6 socket), nor the Hop Limit
// and addresses, which come with the IPv6 header.
func ParseNeighborSolicitation(b []byte) (NeighborSolicitation, error) {
	const what = "Neighbor Solicitation"
	var m NeighborSolicitation
	target, err := parseNDHeader(b, ipv6.ICMPTypeNeighborSolicitation, NeighborSolicitationLen, what)
	if err != nil {
		return m, err
	}
	m.Target = target
	m.SourceLinkLayerAddress, m.Options, err = parseNDOptions(b, NeighborSolicitationLen, OptionSourceLinkLayerAddress, what)
	return m, err
}

// NeighborAdvertisement is an ICMPv6 Neighbor Advertisement (RFC 4861
// §4.4).
//
// A parsed value's slices are views into the parsed buffer.
type NeighborAdvertisement struct {
	// Router (R) says the sender is a router. A home agent advertising a
	// mobile node's address sets it to zero (RFC 6275 §10.4.1).
	Router bool
	// Solicited (S) says the advertisement answers a solicitation from
	// the destination. It MUST be zero in multicast and unsolicited
	// advertisements (RFC 4861 §4.4).
	Solicited bool
	// Override (O) asks receivers to replace the link-layer address they
	// have cached for Target (RFC 4861 §7.2.5).
	Override bool
	// Target is the address advertised. It MUST NOT be multicast.
	Target netip.Addr
	// TargetLinkLayerAddress is the Target Link-Layer Address option, nil
	// when absent.
	TargetLinkLayerAddress net.HardwareAddr
	// Options holds every other option, raw, in the order received
	// (further link-layer address options included); Append writes them
	// after the link-layer address option.
	Options []byte
}

// Len returns the encoded length of the message.
func (m *NeighborAdvertisement) Len() int {
	return NeighborAdvertisementLen + linkLayerOptionLen(m.TargetLinkLayerAddress) + len(m.Options)
}

// Append appends the message to b with a zero checksum (see
// NeighborSolicitation.Append).
func (m *NeighborAdvertisement) Append(b []byte) []byte {
	var flags byte
	if m.Router {
		flags |= flagRouter
	}
	if m.Solicited {
		flags |= flagSolicited
	}
	if m.Override {
		flags |= flagOverride
	}
	b = append(b, byte(ipv6.ICMPTypeNeighborAdvertisement), 0, 0, 0, flags, 0, 0, 0)
	b = appendAddr16(b, m.Target)
	b = appendLinkLayerOption(b, OptionTargetLinkLayerAddress, m.TargetLinkLayerAddress)
	return append(b, m.Options...)
}

// ParseNeighborAdvertisement parses an ICMPv6 Neighbor Advertisement (the
// ICMPv6 message, no IPv6 header), with the checks a message alone allows
// (RFC 4861 §7.1.2; see ParseNeighborSolicitation). Reserved bits are
// ignored.
func ParseNeighborAdvertisement(b []byte) (NeighborAdvertisement, error) {
	const what = "Neighbor Advertisement"
	var m NeighborAdvertisement
	target, err := parseNDHeader(b, ipv6.ICMPTypeNeighborAdvertisement, NeighborAdvertisementLen, what)
	if err != nil {
		return m, err
	}
	m.Router = b[4]&flagRouter != 0
	m.Solicited = b[4]&flagSolicited != 0
	m.Override = b[4]&flagOverride != 0
	m.Target = target
	m.TargetLinkLayerAddress, m.Options, err = parseNDOptions(b, NeighborAdvertisementLen, OptionTargetLinkLayerAddress, what)
	return m, err
}

// parseNDHeader checks the fixed part shared by solicitations and
// advertisements and returns the Target Address.
func parseNDHeader(b []byte, typ ipv6.ICMPType, fixed int, what string) (netip.Addr, error) {
	if len(b) < fixed {
		return netip.Addr{}, parseError(ErrTruncated, len(b), what)
	}
	if b[0] != byte(typ) {
		return netip.Addr{}, parseError(ErrWrongType, 0, what)
	}
	if b[1] != 0 {
		return netip.Addr{}, parseError(ErrCode, 1, what)
	}
	target := netip.AddrFrom16([16]byte(b[8:24]))
	if target.IsMulticast() {
		return netip.Addr{}, parseError(ErrTarget, 8, what)
	}
	return target, nil
}

// parseNDOptions walks the options from off, returns the first option of
// type lla as a link-layer address and every other option raw. The raw
// options are one view into b when they are contiguous, else a copy.
func parseNDOptions(b []byte, off int, lla OptionType, what string) (net.HardwareAddr, []byte, error) {
	var (
		addr     net.HardwareAddr
		rest     []byte
		restFrom = -1 // start of the contiguous run of other options in b
		restTo   = -1
		copied   bool
	)
	for off < len(b) {
		if len(b)-off < 2 {
			return nil, nil, parseError(ErrTruncated, off, what)
		}
		n := int(b[off+1]) * 8
		if n == 0 {
			return nil, nil, parseError(ErrOption, off+1, what)
		}
		if n > len(b)-off {
			return nil, nil, parseError(ErrTruncated, off+1, what)
		}
		opt := b[off : off+n]
		switch {
		case OptionType(opt[0]) == lla && addr == nil:
			addr = net.HardwareAddr(opt[2:n:n])
		case restFrom < 0:
			restFrom, restTo = off, off+n
		case restTo == off && !copied:
			restTo = off + n
		default:
			if !copied {
				rest = append([]byte(nil), b[restFrom:restTo]...)
				copied = true
			}
			rest = append(rest, opt...)
		}
		off += n
	}
	if restFrom >= 0 && !copied {
		rest = b[restFrom:restTo:restTo]
	}
	return addr, rest, nil
}

// linkLayerOptionLen is the length of a link-layer address option holding
// a (8-octet units, padded with zeros).
func linkLayerOptionLen(a net.HardwareAddr) int {
	if len(a) == 0 {
		return 0
	}
	n := min(len(a), maxLinkLayerAddress)
	return (n + 2 + 7) / 8 * 8
}

// appendLinkLayerOption appends a Source or Target Link-Layer Address
// option (RFC 4861 §4.6.1), nothing for an empty address. An address
// longer than one option holds is cut.
func appendLinkLayerOption(b []byte, typ OptionType, a net.HardwareAddr) []byte {
	n := linkLayerOptionLen(a)
	if n == 0 {
		return b
	}
	a = a[:min(len(a), maxLinkLayerAddress)]
	b = append(b, byte(typ), byte(n/8))
	b = append(b, a...)
	for range n - 2 - len(a) {
		b = append(b, 0)
	}
	return b
}

// appendAddr16 appends the 16 octets of an IPv6 address (IPv4 addresses
// as IPv4-mapped, the zero Addr as the unspecified address).
func appendAddr16(b []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		var zero [16]byte
		return append(b, zero[:]...)
	}
	x := a.As16()
	return append(b, x[:]...)
}

// SolicitedNodeMulticast returns the solicited-node multicast address of
// an IPv6 address: ff02::1:ff00:0/104 with the address's low 24 bits
// (RFC 4291 §2.7.1). Neighbor Solicitations for resolution and Duplicate
// Address Detection go there (RFC 4861 §7.2.2, RFC 4862 §5.4.2).
func SolicitedNodeMulticast(a netip.Addr) netip.Addr {
	x := a.As16()
	return netip.AddrFrom16([16]byte{0xff, 0x02, 10: 0, 11: 0x01, 12: 0xff, 13: x[13], 14: x[14], 15: x[15]})
}

// allNodes is the link-local all-nodes multicast address (RFC 4291 §2.7.1),
// the destination of unsolicited advertisements (RFC 4861 §7.2.6).
var allNodes = netip.MustParseAddr("ff02::1")

// icmpv6Checksum computes the ICMPv6 checksum of msg (with its checksum
// field zero) between src and dst: the one's complement of the one's
// complement sum of the pseudo-header (source, destination, upper-layer
// length, next header 58) and the message (RFC 4443 §2.3, RFC 8200 §8.1).
func icmpv6Checksum(src, dst netip.Addr, msg []byte) uint16 {
	var sum uint32
	add := func(b []byte) {
		for len(b) >= 2 {
			sum += uint32(binary.BigEndian.Uint16(b))
			b = b[2:]
		}
		if len(b) == 1 {
			sum += uint32(b[0]) << 8
		}
	}
	s, d := src.As16(), dst.As16()
	add(s[:])
	add(d[:])
	var ph [8]byte
	binary.BigEndian.PutUint32(ph[:4], uint32(len(msg)))
	ph[7] = protocolICMPv6
	add(ph[:])
	add(msg)
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// appendDADSolicitation appends a whole IPv6 packet carrying the Neighbor
// Solicitation of Duplicate Address Detection for target: source the
// unspecified address, destination the target's solicited-node multicast
// address, Hop Limit 255, no options, checksum computed (RFC 4862 §5.4.2).
// It is sent on a header-including raw socket, because an ICMPv6 socket
// cannot send from the unspecified address.
func appendDADSolicitation(b []byte, target netip.Addr) []byte {
	dst := SolicitedNodeMulticast(target)
	start := len(b)
	b = append(b, 0x60, 0, 0, 0, 0, NeighborSolicitationLen, protocolICMPv6, HopLimit)
	b = appendAddr16(b, netip.IPv6Unspecified())
	b = appendAddr16(b, dst)
	ns := NeighborSolicitation{Target: target}
	b = ns.Append(b)
	msg := b[start+ipv6HeaderLen:]
	binary.BigEndian.PutUint16(msg[2:4], icmpv6Checksum(netip.IPv6Unspecified(), dst, msg))
	return b
}
