package wire

import (
	"encoding/hex"
	"net/netip"
)

// ID is the body of an Identification payload (RFC 7296 §3.5). The IDi and
// IDr payload types wrap it.
type ID struct {
	Type IDType
	// Data is the Identification Data, in the format of Type: a raw address
	// for IPv4/IPv6, ASCII for FQDN and RFC 822 names, DER for DNs, opaque
	// octets for KEY_ID, empty for NULL.
	Data []byte
}

// IDi is the Identification - Initiator payload.
type IDi ID

// IDr is the Identification - Responder payload.
type IDr ID

// ParseID parses the body of an IDi or IDr payload (its errors name IDi).
// The RESERVED octets are ignored; AUTH computations must use the received
// body (RawPayload.Body), which includes them.
func ParseID(b []byte) (ID, error) { return parseID(PayloadIDi, b) }

func parseID(t PayloadType, b []byte) (ID, error) {
	if len(b) < 4 {
		return ID{}, syntaxError(t, 0, "ID payload shorter than 4 octets")
	}
	return ID{Type: IDType(b[0]), Data: orNil(b[4:])}, nil
}

// IDFromAddr returns an ID_IPV4_ADDR or ID_IPV6_ADDR identity for a (an
// IPv4-mapped IPv6 address becomes ID_IPV4_ADDR).
func IDFromAddr(a netip.Addr) ID {
	a = a.Unmap()
	if a.Is4() {
		return ID{Type: IDIPv4Addr, Data: a.AsSlice()}
	}
	return ID{Type: IDIPv6Addr, Data: a.AsSlice()}
}

// Addr returns the address of an ID_IPV4_ADDR or ID_IPV6_ADDR identity.
func (id ID) Addr() (netip.Addr, bool) {
	switch {
	case id.Type == IDIPv4Addr && len(id.Data) == 4:
		return netip.AddrFrom4([4]byte(id.Data)), true
	case id.Type == IDIPv6Addr && len(id.Data) == 16:
		return netip.AddrFrom16([16]byte(id.Data)), true
	}
	return netip.Addr{}, false
}

// String formats the identity for logs: addresses and names as text, other
// types as hex.
func (id ID) String() string {
	if a, ok := id.Addr(); ok {
		return id.Type.String() + ":" + a.String()
	}
	switch id.Type {
	case IDFQDN, IDRFC822Addr:
		return id.Type.String() + ":" + string(id.Data)
	}
	return id.Type.String() + ":" + hex.EncodeToString(id.Data)
}

// Len returns the length of the ID payload body.
func (id ID) Len() int { return 4 + len(id.Data) }

// Append appends the ID payload body to b.
func (id ID) Append(b []byte) []byte {
	b = append(b, byte(id.Type), 0, 0, 0)
	return append(b, id.Data...)
}

// PayloadType returns PayloadIDi.
func (IDi) PayloadType() PayloadType { return PayloadIDi }

// Len returns the length of the payload body.
func (id IDi) Len() int { return ID(id).Len() }

// Append appends the payload body to b.
func (id IDi) Append(b []byte) []byte { return ID(id).Append(b) }

// PayloadType returns PayloadIDr.
func (IDr) PayloadType() PayloadType { return PayloadIDr }

// Len returns the length of the payload body.
func (id IDr) Len() int { return ID(id).Len() }

// Append appends the payload body to b.
func (id IDr) Append(b []byte) []byte { return ID(id).Append(b) }

// IDType is the ID Type of an Identification payload (RFC 7296 §3.5). These
// are not the Gateway Identity Types of RFC 5685 (see GatewayIdentityType).
type IDType uint8

// Identification types (RFC 7296 §3.5, RFC 7619 for ID_NULL).
const (
	IDIPv4Addr   IDType = 1  // ID_IPV4_ADDR, 4 octets
	IDFQDN       IDType = 2  // ID_FQDN
	IDRFC822Addr IDType = 3  // ID_RFC822_ADDR, e.g. an NAI with realm
	IDIPv6Addr   IDType = 5  // ID_IPV6_ADDR, 16 octets
	IDDERASN1DN  IDType = 9  // ID_DER_ASN1_DN
	IDDERASN1GN  IDType = 10 // ID_DER_ASN1_GN
	IDKeyID      IDType = 11 // ID_KEY_ID
	IDNull       IDType = 13 // ID_NULL (RFC 7619)
)

var idNames = map[IDType]string{
	IDIPv4Addr: "ID_IPV4_ADDR", IDFQDN: "ID_FQDN", IDRFC822Addr: "ID_RFC822_ADDR", IDIPv6Addr: "ID_IPV6_ADDR",
	IDDERASN1DN: "ID_DER_ASN1_DN", IDDERASN1GN: "ID_DER_ASN1_GN", IDKeyID: "ID_KEY_ID", IDNull: "ID_NULL",
}

// String returns the RFC name of the ID type.
func (t IDType) String() string { return name(idNames, t, "IDType") }
