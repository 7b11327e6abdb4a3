package wire

import (
	"encoding/binary"
	"net/netip"
)

// CP is the Configuration payload (RFC 7296 §3.15).
type CP struct {
	Type       CFGType
	Attributes []CFGAttribute
}

// CFGAttribute is one Configuration Attribute (RFC 7296 §3.15.1).
//
// The address-valued types are decoded into Addr, PrefixLen and Lifetime;
// an invalid (zero) Addr stands for the empty value a request carries:
//
//	INTERNAL_IP4_ADDRESS, _NETMASK, _DNS, _NBNS, _DHCP   Addr (IPv4)
//	INTERNAL_IP6_ADDRESS, _SUBNET, INTERNAL_IP6_PREFIX   Addr (IPv6), PrefixLen
//	INTERNAL_IP6_DNS, _DHCP                              Addr (IPv6)
//	MIP6_HOME_PREFIX                                     Lifetime, Addr (the Home Prefix), PrefixLen
//
// Every other type keeps its value, as received, in Value.
type CFGAttribute struct {
	Type CFGAttributeType
	// Addr is the address of an address-valued attribute; invalid when the
	// value is empty.
	Addr netip.Addr
	// PrefixLen is the prefix length of INTERNAL_IP6_ADDRESS, _SUBNET,
	// INTERNAL_IP6_PREFIX and MIP6_HOME_PREFIX.
	PrefixLen uint8
	// Lifetime is the Prefix Lifetime of MIP6_HOME_PREFIX (RFC 5026 §8.2;
	// the RFC names no unit, seconds is the natural reading).
	Lifetime uint32
	// Value is the raw value of attributes this package does not decode,
	// and nil for those it does.
	Value []byte
}

// Prefix returns Addr and PrefixLen as a prefix (host bits kept).
func (a CFGAttribute) Prefix() netip.Prefix { return netip.PrefixFrom(a.Addr, int(a.PrefixLen)) }

// cfgLayout describes how an address-valued attribute is encoded.
type cfgLayout struct {
	v6       bool // IPv6 address (16 octets) rather than IPv4
	prefix   bool // followed by a prefix length octet
	lifetime bool // preceded by a 4-octet lifetime (MIP6_HOME_PREFIX)
}

func (l cfgLayout) len() int {
	n := 4
	if l.v6 {
		n = 16
	}
	if l.prefix {
		n++
	}
	if l.lifetime {
		n += 4
	}
	return n
}

// cfgLayoutOf returns the layout of the attribute types this package
// decodes, and false for the others.
func cfgLayoutOf(t CFGAttributeType) (cfgLayout, bool) {
	switch t {
	case CFGInternalIP4Address, CFGInternalIP4Netmask, CFGInternalIP4DNS, CFGInternalIP4NBNS, CFGInternalIP4DHCP:
		return cfgLayout{}, true
	case CFGInternalIP6DNS, CFGInternalIP6DHCP:
		return cfgLayout{v6: true}, true
	case CFGInternalIP6Address, CFGInternalIP6Subnet, CFGInternalIP6Prefix:
		return cfgLayout{v6: true, prefix: true}, true
	case CFGMIP6HomePrefix:
		return cfgLayout{v6: true, prefix: true, lifetime: true}, true
	}
	return cfgLayout{}, false
}

// ParseCP parses the body of a CP payload into dst, reusing
// dst.Attributes. Attributes of the decoded types must have an empty value
// or exactly the RFC's length (4, 16, 17 or 21 octets), and prefix lengths
// must not exceed 128; the Reserved bit is ignored (RFC 7296 §3.15.1,
// RFC 5026 §8.2, RFC 5739 §5).
func ParseCP(b []byte, dst *CP) error { return parseCP(b, dst) }

// parseCP parses into dst, or only checks the syntax when dst is nil.
func parseCP(b []byte, dst *CP) error {
	if dst != nil {
		dst.Attributes = dst.Attributes[:0]
	}
	if len(b) < 4 {
		return syntaxError(PayloadCP, 0, "CP payload shorter than 4 octets")
	}
	if dst != nil {
		dst.Type = CFGType(b[0])
	}
	for off := 4; off < len(b); {
		if len(b)-off < 4 {
			return syntaxError(PayloadCP, off, "truncated Configuration Attribute")
		}
		t := CFGAttributeType(binary.BigEndian.Uint16(b[off:]) & 0x7fff)
		n := int(binary.BigEndian.Uint16(b[off+2:]))
		if n > len(b)-off-4 {
			return syntaxError(PayloadCP, off+2, "attribute Length outside the CP payload")
		}
		a, err := parseCFGAttribute(t, b[off+4:off+4+n:off+4+n])
		if err != nil {
			return relocate(err, off)
		}
		if dst != nil {
			dst.Attributes = append(dst.Attributes, a)
		}
		off += 4 + n
	}
	return nil
}

// parseCFGAttribute decodes the value v of an attribute of type t; error
// offsets are relative to the attribute header.
func parseCFGAttribute(t CFGAttributeType, v []byte) (CFGAttribute, error) {
	a := CFGAttribute{Type: t}
	l, ok := cfgLayoutOf(t)
	if !ok {
		a.Value = orNil(v)
		return a, nil
	}
	if len(v) == 0 {
		return a, nil
	}
	if len(v) != l.len() {
		return a, syntaxError(PayloadCP, 2, "attribute Length is neither 0 nor the length of "+t.String())
	}
	if l.lifetime {
		a.Lifetime = binary.BigEndian.Uint32(v)
		v = v[4:]
	}
	if l.v6 {
		a.Addr = netip.AddrFrom16([16]byte(v[:16]))
		v = v[16:]
	} else {
		a.Addr = netip.AddrFrom4([4]byte(v[:4]))
		v = v[4:]
	}
	if l.prefix {
		if v[0] > 128 {
			return a, syntaxError(PayloadCP, 4+l.len()-1, "prefix length above 128")
		}
		a.PrefixLen = v[0]
	}
	return a, nil
}

// Len returns the length of the attribute, header included.
func (a CFGAttribute) Len() int { return 4 + a.valueLen() }

func (a CFGAttribute) valueLen() int {
	l, ok := cfgLayoutOf(a.Type)
	switch {
	case !ok:
		return len(a.Value)
	case !a.Addr.IsValid():
		return 0
	}
	return l.len()
}

// Append appends the attribute, header included, to b.
func (a CFGAttribute) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(a.Type)&0x7fff)
	b = binary.BigEndian.AppendUint16(b, uint16(a.valueLen()))
	l, ok := cfgLayoutOf(a.Type)
	if !ok {
		return append(b, a.Value...)
	}
	if !a.Addr.IsValid() {
		return b
	}
	if l.lifetime {
		b = binary.BigEndian.AppendUint32(b, a.Lifetime)
	}
	if l.v6 {
		s := a.Addr.As16()
		b = append(b, s[:]...)
	} else {
		s := a.Addr.As4()
		b = append(b, s[:]...)
	}
	if l.prefix {
		b = append(b, a.PrefixLen)
	}
	return b
}

func (a CFGAttribute) validate() error {
	l, ok := cfgLayoutOf(a.Type)
	switch {
	case a.Type > 0x7fff:
		return valueError("configuration attribute type %d", a.Type)
	case !ok:
		if len(a.Value) > 0xffff {
			return valueError("%v value of %d octets", a.Type, len(a.Value))
		}
	case !a.Addr.IsValid():
	case l.v6 != a.Addr.Is6():
		return valueError("%v with address %v", a.Type, a.Addr)
	case l.prefix && a.PrefixLen > 128:
		return valueError("%v with prefix length %d", a.Type, a.PrefixLen)
	}
	return nil
}

// PayloadType returns PayloadCP.
func (CP) PayloadType() PayloadType { return PayloadCP }

// Len returns the length of the CP payload body.
func (c CP) Len() int {
	n := 4
	for i := range c.Attributes {
		n += c.Attributes[i].Len()
	}
	return n
}

// Append appends the CP payload body to b.
func (c CP) Append(b []byte) []byte {
	b = append(b, byte(c.Type), 0, 0, 0)
	for i := range c.Attributes {
		b = c.Attributes[i].Append(b)
	}
	return b
}

func (c CP) validate() error {
	for i := range c.Attributes {
		if err := c.Attributes[i].validate(); err != nil {
			return err
		}
	}
	return nil
}

// CFGType is the CFG Type of a CP payload (RFC 7296 §3.15).
type CFGType uint8

// Configuration payload types (RFC 7296 §3.15).
const (
	CFGRequest CFGType = 1 // CFG_REQUEST
	CFGReply   CFGType = 2 // CFG_REPLY
	CFGSet     CFGType = 3 // CFG_SET
	CFGAck     CFGType = 4 // CFG_ACK
)

var cfgTypeNames = map[CFGType]string{CFGRequest: "CFG_REQUEST", CFGReply: "CFG_REPLY", CFGSet: "CFG_SET", CFGAck: "CFG_ACK"}

// String returns the RFC name of the type.
func (t CFGType) String() string { return name(cfgTypeNames, t, "CFGType") }

// CFGAttributeType is the Attribute Type of a Configuration Attribute
// (RFC 7296 §3.15.1), 15 bits.
type CFGAttributeType uint16

// Configuration attribute types (RFC 7296 §3.15.1, RFC 5026 §8.2,
// RFC 5739 §5; 19 from 3GPP TS 24.302).
const (
	CFGInternalIP4Address  CFGAttributeType = 1
	CFGInternalIP4Netmask  CFGAttributeType = 2
	CFGInternalIP4DNS      CFGAttributeType = 3
	CFGInternalIP4NBNS     CFGAttributeType = 4
	CFGInternalIP4DHCP     CFGAttributeType = 6
	CFGApplicationVersion  CFGAttributeType = 7
	CFGInternalIP6Address  CFGAttributeType = 8
	CFGInternalIP6DNS      CFGAttributeType = 10
	CFGInternalIP6DHCP     CFGAttributeType = 12
	CFGInternalIP4Subnet   CFGAttributeType = 13
	CFGSupportedAttributes CFGAttributeType = 14
	CFGInternalIP6Subnet   CFGAttributeType = 15
	CFGMIP6HomePrefix      CFGAttributeType = 16
	CFGInternalIP6Link     CFGAttributeType = 17
	CFGInternalIP6Prefix   CFGAttributeType = 18
	CFGHomeAgentAddress    CFGAttributeType = 19
)

var cfgAttributeNames = map[CFGAttributeType]string{
	CFGInternalIP4Address: "INTERNAL_IP4_ADDRESS", CFGInternalIP4Netmask: "INTERNAL_IP4_NETMASK",
	CFGInternalIP4DNS: "INTERNAL_IP4_DNS", CFGInternalIP4NBNS: "INTERNAL_IP4_NBNS",
	CFGInternalIP4DHCP: "INTERNAL_IP4_DHCP", CFGApplicationVersion: "APPLICATION_VERSION",
	CFGInternalIP6Address: "INTERNAL_IP6_ADDRESS", CFGInternalIP6DNS: "INTERNAL_IP6_DNS",
	CFGInternalIP6DHCP: "INTERNAL_IP6_DHCP", CFGInternalIP4Subnet: "INTERNAL_IP4_SUBNET",
	CFGSupportedAttributes: "SUPPORTED_ATTRIBUTES", CFGInternalIP6Subnet: "INTERNAL_IP6_SUBNET",
	CFGMIP6HomePrefix: "MIP6_HOME_PREFIX", CFGInternalIP6Link: "INTERNAL_IP6_LINK",
	CFGInternalIP6Prefix: "INTERNAL_IP6_PREFIX", CFGHomeAgentAddress: "HOME_AGENT_ADDRESS",
}

// String returns the RFC name of the attribute type.
func (t CFGAttributeType) String() string { return name(cfgAttributeNames, t, "CFGAttributeType") }
