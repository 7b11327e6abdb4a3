package homelink

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
)

// Sentinel errors of the message codecs. Parsers return them wrapped in a
// *[ParseError] that records where the problem is; test with errors.Is.
var (
	// ErrTruncated: the buffer ends before the message or option it
	// announces.
	ErrTruncated = errors.New("truncated")
	// ErrWrongType: a typed parser was handed another ICMPv6 message type.
	ErrWrongType = errors.New("wrong message type for this parser")
	// ErrCode: the ICMPv6 Code of a Neighbor Discovery message is not 0
	// (RFC 4861 §7.1.1, §7.1.2: the message is silently discarded).
	ErrCode = errors.New("ICMP Code is not 0")
	// ErrTarget: the Target Address is a multicast address (RFC 4861
	// §7.1.1, §7.1.2).
	ErrTarget = errors.New("multicast Target Address")
	// ErrOption: a Neighbor Discovery option has length 0 or overruns the
	// message (RFC 4861 §4.6, §7.1).
	ErrOption = errors.New("malformed Neighbor Discovery option")
	// ErrARPFormat: an ARP packet is not Ethernet/IPv4 (hardware type 1,
	// protocol 0x0800, address lengths 6 and 4).
	ErrARPFormat = errors.New("not an Ethernet/IPv4 ARP packet")
)

// Sentinel errors of the Defender.
var (
	// ErrAddress: the address cannot be a home address on the home link
	// (unspecified, multicast, loopback, IPv4-mapped, zoned, or IPv4
	// link-local).
	ErrAddress = errors.New("homelink: not a unicast home address")
	// ErrFamily: an IPv4 home address given to a Defender made without
	// Options.IPv4.
	ErrFamily = errors.New("homelink: IPv4 home addresses not enabled")
	// ErrLink: the home link or the TUN device is missing or unsuitable
	// (the home link must have a 6-octet, Ethernet-style, link-layer
	// address).
	ErrLink = errors.New("homelink: unsuitable interface")
	// ErrClosed: the Defender has been closed.
	ErrClosed = errors.New("homelink: defender closed")
	// ErrDefended: Duplicate Address Detection asked for an address this
	// Defender defends (it would find itself).
	ErrDefended = errors.New("homelink: address defended by this home agent")
	// ErrDuplicate: Duplicate Address Detection found the address in use.
	// The error is a *[DuplicateError] carrying the evidence.
	ErrDuplicate = errors.New("homelink: duplicate address")
)

// ParseError is a parse failure: which rule failed (Err, one of the
// sentinels above), where (Offset, in octets from the start of the buffer
// given to the parser) and in what.
type ParseError struct {
	Err    error  // the sentinel
	Offset int    // offset of the offending field
	What   string // the element being parsed, e.g. "Neighbor Advertisement"
}

// Error describes the failure: "homelink: <what>: <rule> at offset <n>".
func (e *ParseError) Error() string {
	return "homelink: " + e.What + ": " + e.Err.Error() + " at offset " + strconv.Itoa(e.Offset)
}

// Unwrap returns the sentinel.
func (e *ParseError) Unwrap() error { return e.Err }

func parseError(err error, off int, what string) error {
	return &ParseError{Err: err, Offset: off, What: what}
}

// StatusDADFailed is the Binding Acknowledgement status a home agent sends
// when Duplicate Address Detection for the home address fails: 134,
// "Duplicate Address Detection failed" (RFC 6275 §6.1.8, §10.3.1).
const StatusDADFailed uint8 = 134

// DuplicateError reports that Duplicate Address Detection found Addr in use
// on the home link, and what gave it away. It wraps ErrDuplicate.
type DuplicateError struct {
	// Addr is the address tested.
	Addr netip.Addr
	// Evidence names the message that revealed the duplicate: "Neighbor
	// Advertisement" (a node owns or defends the address), "Neighbor
	// Solicitation" (another node runs DAD for it at the same time), "ARP"
	// (an IPv4 node uses it) or "ARP probe" (an IPv4 node probes for it).
	Evidence string
	// From is the IP source of that message (the unspecified address for
	// a DAD solicitation or an ARP probe).
	From netip.Addr
	// LinkAddr is the link-layer address the message carried, if any (the
	// Target Link-Layer Address of an advertisement, the sender hardware
	// address of an ARP packet).
	LinkAddr net.HardwareAddr
}

// Error describes the duplicate and its evidence.
func (e *DuplicateError) Error() string {
	s := fmt.Sprintf("homelink: duplicate address %s: %s from %s", e.Addr, e.Evidence, e.From)
	if len(e.LinkAddr) > 0 {
		s += " (" + e.LinkAddr.String() + ")"
	}
	return s
}

// Unwrap returns ErrDuplicate.
func (e *DuplicateError) Unwrap() error { return ErrDuplicate }

// Status is the Binding Acknowledgement status for a registration refused
// because of this duplicate: StatusDADFailed (134).
func (e *DuplicateError) Status() uint8 { return StatusDADFailed }
