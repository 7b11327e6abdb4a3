package homelink

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
)

// ARP over Ethernet for IPv4 (RFC 826), the IPv4 side of the home link for
// DSMIPv6 IPv4 home addresses: the home agent proxies ARP for them
// (RFC 5555 §4.5) and announces them with gratuitous ARP (RFC 5227 §2.3).

// ARPLen is the length of an Ethernet/IPv4 ARP packet (RFC 826). Frames
// on the wire are padded to the Ethernet minimum; the padding is not part
// of the packet.
const ARPLen = 28

// ARP header constants for Ethernet and IPv4 (RFC 826, IANA "Address
// Resolution Protocol (ARP) Parameters").
const (
	arpHardwareEthernet = 1
	arpProtocolIPv4     = 0x0800
)

// ARPOperation is the opcode of an ARP packet (RFC 826, IANA "Operation
// Codes (op)").
type ARPOperation uint16

// ARP operations.
const (
	ARPRequest ARPOperation = 1
	ARPReply   ARPOperation = 2
)

// String names the operation.
func (op ARPOperation) String() string {
	switch op {
	case ARPRequest:
		return "request"
	case ARPReply:
		return "reply"
	}
	return "ARP operation " + strconv.Itoa(int(op))
}

// ARP is an Ethernet/IPv4 ARP packet (RFC 826).
//
// A parsed value's hardware addresses are views into the parsed buffer.
type ARP struct {
	Operation          ARPOperation
	SenderHardwareAddr net.HardwareAddr // 6 octets
	SenderProtocolAddr netip.Addr       // IPv4
	TargetHardwareAddr net.HardwareAddr // 6 octets
	TargetProtocolAddr netip.Addr       // IPv4
}

// Len returns the encoded length, ARPLen.
func (*ARP) Len() int { return ARPLen }

// Append appends the packet to b. Hardware addresses are written as 6
// octets (cut or padded with zeros), protocol addresses as 4 (zero when
// not IPv4).
func (p *ARP) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, arpHardwareEthernet)
	b = binary.BigEndian.AppendUint16(b, arpProtocolIPv4)
	b = append(b, 6, 4)
	b = binary.BigEndian.AppendUint16(b, uint16(p.Operation))
	b = appendHardware6(b, p.SenderHardwareAddr)
	b = appendAddr4(b, p.SenderProtocolAddr)
	b = appendHardware6(b, p.TargetHardwareAddr)
	return appendAddr4(b, p.TargetProtocolAddr)
}

// ParseARP parses an ARP packet. Only Ethernet/IPv4 packets are accepted;
// octets after the 28 of the packet (Ethernet padding) are ignored.
func ParseARP(b []byte) (ARP, error) {
	const what = "ARP"
	if len(b) < ARPLen {
		return ARP{}, parseError(ErrTruncated, len(b), what)
	}
	switch {
	case binary.BigEndian.Uint16(b[0:2]) != arpHardwareEthernet:
		return ARP{}, parseError(ErrARPFormat, 0, what)
	case binary.BigEndian.Uint16(b[2:4]) != arpProtocolIPv4:
		return ARP{}, parseError(ErrARPFormat, 2, what)
	case b[4] != 6:
		return ARP{}, parseError(ErrARPFormat, 4, what)
	case b[5] != 4:
		return ARP{}, parseError(ErrARPFormat, 5, what)
	}
	return ARP{
		Operation:          ARPOperation(binary.BigEndian.Uint16(b[6:8])),
		SenderHardwareAddr: net.HardwareAddr(b[8:14:14]),
		SenderProtocolAddr: netip.AddrFrom4([4]byte(b[14:18])),
		TargetHardwareAddr: net.HardwareAddr(b[18:24:24]),
		TargetProtocolAddr: netip.AddrFrom4([4]byte(b[24:28])),
	}, nil
}

// gratuitousARP is the ARP Announcement a home agent broadcasts when it
// starts defending an IPv4 home address: a request whose sender and target
// protocol addresses are both the address, with the agent's hardware
// address as sender and a zero target hardware address (RFC 5227 §2.3).
// Receivers that hold an entry for the address replace its link-layer
// address.
func gratuitousARP(mac net.HardwareAddr, addr netip.Addr) ARP {
	return ARP{
		Operation:          ARPRequest,
		SenderHardwareAddr: mac,
		SenderProtocolAddr: addr,
		TargetHardwareAddr: make(net.HardwareAddr, 6),
		TargetProtocolAddr: addr,
	}
}

// arpProbe is the ARP Probe of IPv4 address conflict detection: a request
// for addr with the unspecified sender protocol address, so that no
// receiver updates its cache (RFC 5227 §2.1.1).
func arpProbe(mac net.HardwareAddr, addr netip.Addr) ARP {
	return ARP{
		Operation:          ARPRequest,
		SenderHardwareAddr: mac,
		SenderProtocolAddr: netip.IPv4Unspecified(),
		TargetHardwareAddr: make(net.HardwareAddr, 6),
		TargetProtocolAddr: addr,
	}
}

func appendHardware6(b []byte, a net.HardwareAddr) []byte {
	var x [6]byte
	copy(x[:], a)
	return append(b, x[:]...)
}

func appendAddr4(b []byte, a netip.Addr) []byte {
	var x [4]byte
	if a.Is4() {
		x = a.As4()
	}
	return append(b, x[:]...)
}
