package ike

import (
	"net/netip"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// ID is an IKE identity as carried in IDi and IDr payloads (RFC 7296 §3.5):
// an ID Type and its Identification Data. It is comparable, so it can key a
// map (a PAD, a lease table).
type ID struct {
	Type wire.IDType
	// Data is the Identification Data: a raw 4- or 16-octet address for
	// ID_IPV4_ADDR and ID_IPV6_ADDR, ASCII for ID_FQDN and ID_RFC822_ADDR,
	// opaque octets for ID_KEY_ID, DER for ID_DER_ASN1_DN.
	Data string
}

// FQDN returns an ID_FQDN identity, e.g. "ha.example.net".
func FQDN(name string) ID { return ID{Type: wire.IDFQDN, Data: name} }

// RFC822 returns an ID_RFC822_ADDR identity, e.g. an NAI with a realm such
// as "mn1@example.net" (RFC 7296 §3.5).
func RFC822(addr string) ID { return ID{Type: wire.IDRFC822Addr, Data: addr} }

// AddrID returns an ID_IPV4_ADDR or ID_IPV6_ADDR identity (an IPv4-mapped
// address becomes ID_IPV4_ADDR).
func AddrID(a netip.Addr) ID {
	w := wire.IDFromAddr(a)
	return ID{Type: w.Type, Data: string(w.Data)}
}

// KeyID returns an ID_KEY_ID identity: opaque octets, e.g. an NAI without a
// realm (RFC 7296 §3.5).
func KeyID(b []byte) ID { return ID{Type: wire.IDKeyID, Data: string(b)} }

// DN returns an ID_DER_ASN1_DN identity from a DER-encoded distinguished name.
func DN(der []byte) ID { return ID{Type: wire.IDDERASN1DN, Data: string(der)} }

// IsZero reports whether id is the zero ID (no identity configured).
func (id ID) IsZero() bool { return id.Type == 0 && id.Data == "" }

// Addr returns the address of an ID_IPV4_ADDR or ID_IPV6_ADDR identity.
func (id ID) Addr() (netip.Addr, bool) { return id.payload().Addr() }

// String formats the identity for logs: addresses and names as text, other
// types as hex.
func (id ID) String() string {
	if id.IsZero() {
		return "%any"
	}
	return id.payload().String()
}

func (id ID) payload() wire.ID { return wire.ID{Type: id.Type, Data: []byte(id.Data)} }

// idFromWire copies a parsed ID payload into an ID.
func idFromWire(w wire.ID) ID { return ID{Type: w.Type, Data: string(w.Data)} }
