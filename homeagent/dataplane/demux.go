package dataplane

import "strconv"

// Kind is what a UDP datagram received on the NAT-T port (4500) carries,
// RFC 3948 §2.
type Kind uint8

// Kinds of datagrams on the NAT-T port.
const (
	// KindInvalid: none of the forms below (too short, or a zero SPI
	// without the full non-ESP marker).
	KindInvalid Kind = iota
	// KindIKE: an IKE message after the 4-octet non-ESP marker (RFC 3948
	// §2.2).
	KindIKE
	// KindKeepalive: a NAT-keepalive packet, one octet 0xFF (RFC 3948 §2.3).
	KindKeepalive
	// KindESP: an ESP packet (non-zero SPI).
	KindESP
)

// String returns the kind as a short label, e.g. "esp".
func (k Kind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindIKE:
		return "ike"
	case KindKeepalive:
		return "keepalive"
	case KindESP:
		return "esp"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// NonESPMarker precedes every IKE message sent on the NAT-T port (RFC 3948
// §2.2): four zero octets where ESP has its SPI.
var NonESPMarker = [4]byte{}

// Keepalive is the payload of a NAT-keepalive packet (RFC 3948 §2.3).
const Keepalive = 0xFF

// Classify tells what a datagram received on the NAT-T port carries. An IKE
// message starts at b[len(NonESPMarker)]. ESP needs a full header, IV and ICV.
func Classify(b []byte) Kind {
	switch {
	case len(b) == 1 && b[0] == Keepalive:
		return KindKeepalive
	case len(b) < 4:
		return KindInvalid
	case b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0:
		if len(b) > len(NonESPMarker) {
			return KindIKE
		}
		return KindInvalid
	case len(b) < minESPLen:
		return KindInvalid
	}
	return KindESP
}
