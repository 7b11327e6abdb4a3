package wire

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
)

// GatewayIdentityType is the GW Ident Type of the REDIRECT and
// REDIRECTED_FROM notifies (RFC 5685 §9.2, §12). Its values are NOT the ID
// payload's IDType numbers: IPv6 is 2 here and 5 there, FQDN 3 here and 2
// there.
type GatewayIdentityType uint8

// Gateway identity types (RFC 5685 §12).
const (
	GatewayIdentityIPv4 GatewayIdentityType = 1 // 4-octet IPv4 address
	GatewayIdentityIPv6 GatewayIdentityType = 2 // 16-octet IPv6 address
	GatewayIdentityFQDN GatewayIdentityType = 3 // 1–255 octets, no terminator
)

// Private-use gateway identity types (RFC 5685 §12 reserves 241–255) of this
// project's "redirect with a port" extension. The identity is the address
// followed by a 2-octet UDP port, the port the new gateway listens on for
// IKE. A gateway sends them only to a client whose IKE_SA_INIT request
// carried NotifyRedirectPortSupported; other clients get types 1–3 and
// targets reachable on ports 500/4500. Both are valid in REDIRECT and
// REDIRECTED_FROM.
const (
	GatewayIdentityIPv4Port GatewayIdentityType = 241 // IPv4 address + UDP port, 6 octets
	GatewayIdentityIPv6Port GatewayIdentityType = 242 // IPv6 address + UDP port, 18 octets
)

var gatewayNames = map[GatewayIdentityType]string{
	GatewayIdentityIPv4: "IPv4", GatewayIdentityIPv6: "IPv6", GatewayIdentityFQDN: "FQDN",
	GatewayIdentityIPv4Port: "IPv4+port", GatewayIdentityIPv6Port: "IPv6+port",
}

// String returns the registry name of the type.
func (t GatewayIdentityType) String() string { return name(gatewayNames, t, "GatewayIdentityType") }

// GatewayIdentity names a gateway in REDIRECT and REDIRECTED_FROM: an address
// (types 1 and 2), an address and port (types 241 and 242) or a fully
// qualified domain name (type 3).
type GatewayIdentity struct {
	Type GatewayIdentityType
	// AddrPort is the address, with the port for types 241 and 242 and port
	// 0 for types 1 and 2.
	AddrPort netip.AddrPort
	// FQDN is the name for type 3, ASCII (IDNA for international names)
	// without terminator.
	FQDN string
}

// GatewayAddr returns a type 1 or 2 identity for a (an IPv4-mapped IPv6
// address becomes type 1).
func GatewayAddr(a netip.Addr) GatewayIdentity {
	a = a.Unmap()
	t := GatewayIdentityIPv6
	if a.Is4() {
		t = GatewayIdentityIPv4
	}
	return GatewayIdentity{Type: t, AddrPort: netip.AddrPortFrom(a, 0)}
}

// GatewayAddrPort returns a private-use type 241 or 242 identity for ap. Send
// it only to clients that sent NotifyRedirectPortSupported.
func GatewayAddrPort(ap netip.AddrPort) GatewayIdentity {
	a := ap.Addr().Unmap()
	t := GatewayIdentityIPv6Port
	if a.Is4() {
		t = GatewayIdentityIPv4Port
	}
	return GatewayIdentity{Type: t, AddrPort: netip.AddrPortFrom(a, ap.Port())}
}

// GatewayFQDN returns a type 3 identity for the domain name fqdn.
func GatewayFQDN(fqdn string) GatewayIdentity {
	return GatewayIdentity{Type: GatewayIdentityFQDN, FQDN: fqdn}
}

// Addr returns the address of an address-typed identity.
func (g GatewayIdentity) Addr() netip.Addr { return g.AddrPort.Addr() }

// String formats the identity: an address, [address]:port or the name.
func (g GatewayIdentity) String() string {
	switch g.Type {
	case GatewayIdentityIPv4, GatewayIdentityIPv6:
		return g.AddrPort.Addr().String()
	case GatewayIdentityIPv4Port, GatewayIdentityIPv6Port:
		return g.AddrPort.String()
	case GatewayIdentityFQDN:
		return g.FQDN
	}
	return g.Type.String()
}

// identityLen returns the GW Ident Len the type requires, or 0 for FQDN and
// unknown types.
func identityLen(t GatewayIdentityType) int {
	switch t {
	case GatewayIdentityIPv4:
		return 4
	case GatewayIdentityIPv6:
		return 16
	case GatewayIdentityIPv4Port:
		return 6
	case GatewayIdentityIPv6Port:
		return 18
	}
	return 0
}

// ParseGatewayIdentity parses GW Ident Type, GW Ident Len and the identity at
// the start of b and returns the octets after it (RFC 5685 §9.2, rules 2 and
// 3 of spec/ike.md §1.3): the length must fit in b and match the type (4, 16,
// 6, 18 octets; 1–255 printable ASCII octets for an FQDN), and a port may not
// be 0. An unknown type fails with an error wrapping
// ErrUnknownGatewayIdentityType: the notify is to be ignored.
func ParseGatewayIdentity(b []byte) (g GatewayIdentity, rest []byte, err error) {
	if len(b) < 2 {
		return g, nil, syntaxError(PayloadNotify, 0, "gateway identity shorter than its type and length")
	}
	g.Type = GatewayIdentityType(b[0])
	n := int(b[1])
	if 2+n > len(b) {
		return g, nil, syntaxError(PayloadNotify, 1, "GW Ident Len exceeds the notification data")
	}
	id, rest := b[2:2+n], b[2+n:]
	switch g.Type {
	case GatewayIdentityIPv4, GatewayIdentityIPv6, GatewayIdentityIPv4Port, GatewayIdentityIPv6Port:
		if n != identityLen(g.Type) {
			return g, nil, syntaxError(PayloadNotify, 1, "GW Ident Len does not match GW Ident Type "+g.Type.String())
		}
		alen := n &^ 3 // 4 or 16: the address without the port
		a, _ := netip.AddrFromSlice(id[:alen])
		var port uint16
		if n > alen {
			if port = binary.BigEndian.Uint16(id[alen:]); port == 0 {
				return g, nil, syntaxError(PayloadNotify, 2+alen, "gateway UDP port 0")
			}
		}
		g.AddrPort = netip.AddrPortFrom(a, port)
	case GatewayIdentityFQDN:
		if n == 0 || !printable(id) {
			return g, nil, syntaxError(PayloadNotify, 2, "gateway FQDN empty or not printable ASCII")
		}
		g.FQDN = string(id)
	default:
		return g, nil, fmt.Errorf("%w %d", ErrUnknownGatewayIdentityType, g.Type)
	}
	return g, rest, nil
}

// printable reports whether s is printable ASCII without spaces, the rule
// for gateway FQDNs (spec/ike.md §1.3 rule 3).
func printable[T string | []byte](s T) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

// Len returns the encoded length: type, length and identity.
func (g GatewayIdentity) Len() int {
	if g.Type == GatewayIdentityFQDN {
		return 2 + len(g.FQDN)
	}
	return 2 + identityLen(g.Type)
}

// Append appends GW Ident Type, GW Ident Len and the identity to b.
func (g GatewayIdentity) Append(b []byte) []byte {
	b = append(b, byte(g.Type), byte(g.Len()-2))
	switch g.Type {
	case GatewayIdentityIPv4, GatewayIdentityIPv4Port:
		a := g.AddrPort.Addr().As4()
		b = append(b, a[:]...)
	case GatewayIdentityIPv6, GatewayIdentityIPv6Port:
		a := g.AddrPort.Addr().As16()
		b = append(b, a[:]...)
	case GatewayIdentityFQDN:
		return append(b, g.FQDN...)
	}
	if g.Type == GatewayIdentityIPv4Port || g.Type == GatewayIdentityIPv6Port {
		b = binary.BigEndian.AppendUint16(b, g.AddrPort.Port())
	}
	return b
}

func (g GatewayIdentity) validate() error {
	a := g.AddrPort.Addr()
	switch g.Type {
	case GatewayIdentityIPv4, GatewayIdentityIPv4Port:
		if !a.Is4() {
			return valueError("gateway identity %v with address %v", g.Type, a)
		}
	case GatewayIdentityIPv6, GatewayIdentityIPv6Port:
		if !a.Is6() {
			return valueError("gateway identity %v with address %v", g.Type, a)
		}
	case GatewayIdentityFQDN:
		if len(g.FQDN) == 0 || len(g.FQDN) > 255 || !printable(g.FQDN) {
			return valueError("gateway FQDN %q", g.FQDN)
		}
		return nil
	default:
		return valueError("gateway identity type %v", g.Type)
	}
	if (g.Type == GatewayIdentityIPv4Port || g.Type == GatewayIdentityIPv6Port) && g.AddrPort.Port() == 0 {
		return valueError("gateway identity %v without a port", g.Type)
	}
	return nil
}

// Redirect is the REDIRECT notify (RFC 5685 §9.2). As a Payload it encodes a
// complete Notify body with Protocol ID 0 and no SPI.
type Redirect struct {
	// Gateway is the New Responder GW Identity.
	Gateway GatewayIdentity
	// Nonce is the Nonce Data: a copy of the Ni data of the IKE_SA_INIT
	// request being answered, and empty in IKE_AUTH and INFORMATIONAL
	// (RFC 5685 §5, §9.2).
	Nonce []byte
}

// ParseRedirect parses the Notification Data of a REDIRECT notify: a gateway
// identity (see ParseGatewayIdentity) followed by the Nonce Data, which is
// the rest of the data and may be empty.
func ParseRedirect(data []byte) (Redirect, error) {
	g, rest, err := ParseGatewayIdentity(data)
	if err != nil {
		return Redirect{}, err
	}
	return Redirect{Gateway: g, Nonce: orNil(rest)}, nil
}

// PayloadType returns PayloadNotify.
func (Redirect) PayloadType() PayloadType { return PayloadNotify }

// Len returns the length of the Notify payload body.
func (r Redirect) Len() int { return 4 + r.Gateway.Len() + len(r.Nonce) }

// Append appends the Notify payload body: Protocol ID 0, SPI Size 0, type
// REDIRECT, then the gateway identity and the Nonce Data.
func (r Redirect) Append(b []byte) []byte {
	b = append(b, 0, 0, byte(NotifyRedirect>>8), byte(NotifyRedirect&0xff))
	return append(r.Gateway.Append(b), r.Nonce...)
}

func (r Redirect) validate() error { return r.Gateway.validate() }

// RedirectedFrom is the REDIRECTED_FROM notify (RFC 5685 §9.3). As a Payload
// it encodes a complete Notify body with Protocol ID 0 and no SPI.
type RedirectedFrom struct {
	// Gateway is the Original Responder GW Identity: the address of the
	// gateway that redirected the client, or the anycast address the
	// redirected IKE_SA_INIT went to.
	Gateway GatewayIdentity
}

// ParseRedirectedFrom parses the Notification Data of a REDIRECTED_FROM
// notify: exactly one gateway identity. RFC 5685 §9.3 lists only types 1
// and 2; a type 3 (FQDN) identity is returned too, for the caller to log
// while still treating the client as redirect-capable (spec/ike.md §1.3
// rule 6).
func ParseRedirectedFrom(data []byte) (RedirectedFrom, error) {
	g, rest, err := ParseGatewayIdentity(data)
	if err != nil {
		return RedirectedFrom{}, err
	}
	if len(rest) != 0 {
		return RedirectedFrom{}, syntaxError(PayloadNotify, len(data)-len(rest), "octets after the REDIRECTED_FROM gateway identity")
	}
	return RedirectedFrom{Gateway: g}, nil
}

// PayloadType returns PayloadNotify.
func (RedirectedFrom) PayloadType() PayloadType { return PayloadNotify }

// Len returns the length of the Notify payload body.
func (r RedirectedFrom) Len() int { return 4 + r.Gateway.Len() }

// Append appends the Notify payload body: Protocol ID 0, SPI Size 0, type
// REDIRECTED_FROM, then the gateway identity.
func (r RedirectedFrom) Append(b []byte) []byte {
	b = append(b, 0, 0, byte(NotifyRedirectedFrom>>8), byte(NotifyRedirectedFrom&0xff))
	return r.Gateway.Append(b)
}

func (r RedirectedFrom) validate() error { return r.Gateway.validate() }

// Redirect applies the receive rules of RFC 5685 to a REDIRECT notify found
// in a message of the given exchange (spec/ike.md §1.3 rules 1–5):
//
//  1. the SPI must be empty (the Protocol ID is ignored);
//  2. and 3. the data must hold a valid gateway identity (see
//     ParseGatewayIdentity; an unknown type yields
//     ErrUnknownGatewayIdentityType: ignore the notify and log);
//  4. in an IKE_SA_INIT response the Nonce Data must equal ni, the Nonce
//     Data of our request, byte for byte; otherwise ErrNonceMismatch, and
//     the client drops the response silently and keeps waiting (RFC 5685
//     §3);
//  5. in IKE_AUTH and INFORMATIONAL messages no Nonce Data may follow
//     (RFC 5685 §5, §9.2).
//
// Malformed notifies fail with a *SyntaxError.
func (n Notify) Redirect(exchange ExchangeType, ni []byte) (Redirect, error) {
	if n.Type != NotifyRedirect {
		return Redirect{}, syntaxError(PayloadNotify, 2, "not a REDIRECT notify: "+n.Type.String())
	}
	if len(n.SPI) != 0 {
		return Redirect{}, syntaxError(PayloadNotify, 1, "REDIRECT with a non-zero SPI Size")
	}
	r, err := ParseRedirect(n.Data)
	if err != nil {
		return Redirect{}, relocate(err, 4)
	}
	if exchange == ExchangeIKESAInit {
		if !bytes.Equal(r.Nonce, ni) {
			return Redirect{}, ErrNonceMismatch
		}
	} else if len(r.Nonce) != 0 {
		return Redirect{}, syntaxError(PayloadNotify, 4+r.Gateway.Len(),
			"Nonce Data in a REDIRECT outside IKE_SA_INIT ("+strconv.Itoa(len(r.Nonce))+" octets)")
	}
	return r, nil
}

// RedirectedFrom applies the receive rules of RFC 5685 to a REDIRECTED_FROM
// notify (spec/ike.md §1.3 rules 1, 2, 3 and 6): empty SPI, Protocol ID
// ignored, exactly one valid gateway identity. A type 3 (FQDN) identity is
// accepted; the caller logs it.
func (n Notify) RedirectedFrom() (RedirectedFrom, error) {
	if n.Type != NotifyRedirectedFrom {
		return RedirectedFrom{}, syntaxError(PayloadNotify, 2, "not a REDIRECTED_FROM notify: "+n.Type.String())
	}
	if len(n.SPI) != 0 {
		return RedirectedFrom{}, syntaxError(PayloadNotify, 1, "REDIRECTED_FROM with a non-zero SPI Size")
	}
	r, err := ParseRedirectedFrom(n.Data)
	if err != nil {
		return RedirectedFrom{}, relocate(err, 4)
	}
	return r, nil
}
