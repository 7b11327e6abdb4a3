package wire

import (
	"encoding/binary"
	"strconv"
)

// SA is the Security Association payload: proposals in order of preference
// (RFC 7296 §3.3).
type SA struct {
	Proposals []Proposal
}

// Proposal is a Proposal Substructure (RFC 7296 §3.3.1). The transforms of
// one type are alternatives (OR); the types are combined (AND).
type Proposal struct {
	// Number is the Proposal Num: 1, 2, ... in an offer; the number of the
	// accepted proposal in an answer.
	Number uint8
	// ProtocolID is IKE, AH or ESP.
	ProtocolID ProtocolID
	// SPI is the sender's SPI: empty in IKE_SA_INIT, 8 octets for an IKE SA
	// rekey, 4 octets for AH and ESP.
	SPI []byte
	// Transforms are the proposal's transforms in order.
	Transforms []Transform
}

// Transform is a Transform Substructure (RFC 7296 §3.3.2).
type Transform struct {
	// Type is the Transform Type.
	Type TransformType
	// ID is the Transform ID; its meaning depends on Type (EncrID, PRFID,
	// IntegID, DHGroup, ESN).
	ID uint16
	// KeyLength is the value, in bits, of a Key Length attribute (RFC 7296
	// §3.3.5) that is the transform's first attribute; 0 when absent.
	KeyLength uint16
	// Attributes holds the transform's other attributes, encoded as on the
	// wire. This package interprets none of them, and RFC 7296 §3.3.6 makes a
	// transform with attributes the receiver does not understand
	// unacceptable. A transform whose Key Length attribute is not first, is
	// zero or is repeated therefore keeps all its attributes here.
	Attributes []byte
}

// EncrTransform returns an encryption transform; keyBits is the Key Length
// attribute, 0 for fixed-key ciphers such as ChaCha20-Poly1305.
func EncrTransform(id EncrID, keyBits uint16) Transform {
	return Transform{Type: TransformEncr, ID: uint16(id), KeyLength: keyBits}
}

// PRFTransform returns a pseudorandom function transform.
func PRFTransform(id PRFID) Transform { return Transform{Type: TransformPRF, ID: uint16(id)} }

// IntegTransform returns an integrity algorithm transform.
func IntegTransform(id IntegID) Transform { return Transform{Type: TransformInteg, ID: uint16(id)} }

// DHTransform returns a Diffie-Hellman group transform.
func DHTransform(g DHGroup) Transform { return Transform{Type: TransformDH, ID: uint16(g)} }

// ESNTransform returns an Extended Sequence Numbers transform.
func ESNTransform(e ESN) Transform { return Transform{Type: TransformESN, ID: uint16(e)} }

// ParseSA parses the body of an SA payload into dst, reusing the storage of
// dst.Proposals and of their Transforms. It checks that the Proposal and
// Transform Lengths, the Last Substruc values, the SPI Size and the Num
// Transforms agree with each other and with the payload length, and that
// there is at least one proposal and each has at least one transform
// (RFC 7296 §3.3). SPIs and attributes are views of b.
func ParseSA(b []byte, dst *SA) error {
	return parseSA(b, dst)
}

// parseSA parses into dst, or only checks the syntax when dst is nil.
func parseSA(b []byte, dst *SA) error {
	if dst != nil {
		dst.Proposals = dst.Proposals[:0]
	}
	off := 0
	for off < len(b) {
		if len(b)-off < 8 {
			return syntaxError(PayloadSA, off, "truncated Proposal Substructure")
		}
		n := int(binary.BigEndian.Uint16(b[off+2:]))
		if n < 8 || n > len(b)-off {
			return syntaxError(PayloadSA, off+2, "Proposal Length outside the SA payload")
		}
		if last := off+n == len(b); b[off] != lastSubstruc(last, 2) {
			return syntaxError(PayloadSA, off, "Last Substruc is not 0 on the last proposal and 2 on the others")
		}
		if err := parseProposal(b[off:off+n:off+n], off, dst); err != nil {
			return err
		}
		off += n
	}
	if off == 0 {
		return syntaxError(PayloadSA, 0, "SA payload without proposals")
	}
	return nil
}

func lastSubstruc(last bool, more byte) byte {
	if last {
		return 0
	}
	return more
}

// parseProposal parses the proposal p found at offset base of the SA body.
func parseProposal(p []byte, base int, dst *SA) error {
	spiSize := int(p[6])
	numTransforms := int(p[7])
	if 8+spiSize > len(p) {
		return syntaxError(PayloadSA, base+6, "SPI Size exceeds the proposal")
	}
	var prop *Proposal
	if dst != nil {
		prop = dst.appendProposal()
		prop.Number = p[4]
		prop.ProtocolID = ProtocolID(p[5])
		prop.SPI = orNil(p[8 : 8+spiSize : 8+spiSize])
	}
	off, count := 8+spiSize, 0
	for off < len(p) {
		if len(p)-off < 8 {
			return syntaxError(PayloadSA, base+off, "truncated Transform Substructure")
		}
		n := int(binary.BigEndian.Uint16(p[off+2:]))
		if n < 8 || n > len(p)-off {
			return syntaxError(PayloadSA, base+off+2, "Transform Length outside the proposal")
		}
		if last := off+n == len(p); p[off] != lastSubstruc(last, 3) {
			return syntaxError(PayloadSA, base+off, "Last Substruc is not 0 on the last transform and 3 on the others")
		}
		t, err := parseTransform(p[off:off+n:off+n], base+off)
		if err != nil {
			return err
		}
		if prop != nil {
			prop.Transforms = append(prop.Transforms, t)
		}
		off += n
		count++
	}
	if count == 0 {
		return syntaxError(PayloadSA, base+7, "proposal without transforms")
	}
	if count != numTransforms {
		return syntaxError(PayloadSA, base+7, "Num Transforms does not match the transforms present")
	}
	return nil
}

// appendProposal extends dst.Proposals by one element, reusing the element's
// old Transforms storage if the slice had capacity.
func (sa *SA) appendProposal() *Proposal {
	if len(sa.Proposals) < cap(sa.Proposals) {
		sa.Proposals = sa.Proposals[:len(sa.Proposals)+1]
	} else {
		sa.Proposals = append(sa.Proposals, Proposal{})
	}
	p := &sa.Proposals[len(sa.Proposals)-1]
	*p = Proposal{Transforms: p.Transforms[:0]}
	return p
}

// parseTransform parses the transform t found at offset base of the SA body.
func parseTransform(t []byte, base int) (Transform, error) {
	tr := Transform{Type: TransformType(t[4]), ID: binary.BigEndian.Uint16(t[6:8])}
	attrs := t[8:]
	if off, reason := checkAttributes(attrs); reason != "" {
		return Transform{}, syntaxError(PayloadSA, base+8+off, reason)
	}
	if len(attrs) >= 4 && binary.BigEndian.Uint16(attrs) == 0x8000|uint16(AttributeKeyLength) {
		if bits := binary.BigEndian.Uint16(attrs[2:]); bits != 0 {
			tr.KeyLength = bits
			attrs = attrs[4:]
		}
	}
	tr.Attributes = orNil(attrs)
	return tr, nil
}

// checkAttributes walks transform attributes (RFC 7296 §3.3.5): AF = 1 is a
// 4-octet Type/Value, AF = 0 a Type/Length/Value. It returns the offset and
// reason of the first malformed attribute, or "" if all fit.
func checkAttributes(attrs []byte) (int, string) {
	for off := 0; off < len(attrs); {
		if len(attrs)-off < 4 {
			return off, "truncated transform attribute"
		}
		n := 4
		if attrs[off]&0x80 == 0 {
			n += int(binary.BigEndian.Uint16(attrs[off+2:]))
			if n > len(attrs)-off {
				return off + 2, "Attribute Length outside the transform"
			}
		}
		off += n
	}
	return 0, ""
}

// Len returns the length of the SA payload body.
func (sa SA) Len() int {
	n := 0
	for i := range sa.Proposals {
		n += sa.Proposals[i].Len()
	}
	return n
}

// Append appends the SA payload body to b. Proposal Numbers are written as
// given; Last Substruc, lengths and counts are computed.
func (sa SA) Append(b []byte) []byte {
	for i := range sa.Proposals {
		b = sa.Proposals[i].append(b, i == len(sa.Proposals)-1)
	}
	return b
}

// PayloadType returns PayloadSA.
func (SA) PayloadType() PayloadType { return PayloadSA }

func (sa SA) validate() error {
	if len(sa.Proposals) == 0 {
		return valueError("SA payload without proposals")
	}
	for i := range sa.Proposals {
		p := &sa.Proposals[i]
		switch {
		case len(p.Transforms) == 0 || len(p.Transforms) > 255:
			return valueError("proposal %d has %d transforms", p.Number, len(p.Transforms))
		case len(p.SPI) > 255:
			return valueError("proposal %d SPI of %d octets", p.Number, len(p.SPI))
		case p.Len() > 0xffff:
			return valueError("proposal %d of %d octets", p.Number, p.Len())
		}
		for _, t := range p.Transforms {
			if t.Len() > 0xffff {
				return valueError("transform of %d octets", t.Len())
			}
			if _, reason := checkAttributes(t.Attributes); reason != "" {
				return valueError("transform %v: raw attributes: %s", t, reason)
			}
		}
	}
	return nil
}

// Len returns the length of the Proposal Substructure.
func (p Proposal) Len() int {
	n := 8 + len(p.SPI)
	for i := range p.Transforms {
		n += p.Transforms[i].Len()
	}
	return n
}

func (p Proposal) append(b []byte, last bool) []byte {
	b = append(b, lastSubstruc(last, 2), 0)
	b = binary.BigEndian.AppendUint16(b, uint16(p.Len()))
	b = append(b, p.Number, byte(p.ProtocolID), byte(len(p.SPI)), byte(len(p.Transforms)))
	b = append(b, p.SPI...)
	for i := range p.Transforms {
		b = p.Transforms[i].append(b, i == len(p.Transforms)-1)
	}
	return b
}

// Len returns the length of the Transform Substructure.
func (t Transform) Len() int {
	n := 8 + len(t.Attributes)
	if t.KeyLength != 0 {
		n += 4
	}
	return n
}

func (t Transform) append(b []byte, last bool) []byte {
	b = append(b, lastSubstruc(last, 3), 0)
	b = binary.BigEndian.AppendUint16(b, uint16(t.Len()))
	b = append(b, byte(t.Type), 0)
	b = binary.BigEndian.AppendUint16(b, t.ID)
	if t.KeyLength != 0 {
		b = binary.BigEndian.AppendUint16(b, 0x8000|uint16(AttributeKeyLength))
		b = binary.BigEndian.AppendUint16(b, t.KeyLength)
	}
	return append(b, t.Attributes...)
}

// String names the transform, as in "ENCR_AES_GCM_16/256".
func (t Transform) String() string {
	var s string
	switch t.Type {
	case TransformEncr:
		s = EncrID(t.ID).String()
	case TransformPRF:
		s = PRFID(t.ID).String()
	case TransformInteg:
		s = IntegID(t.ID).String()
	case TransformDH:
		s = DHGroup(t.ID).String()
	case TransformESN:
		s = ESN(t.ID).String()
	default:
		s = t.Type.String() + ":" + strconv.Itoa(int(t.ID))
	}
	if t.KeyLength != 0 {
		s += "/" + strconv.Itoa(int(t.KeyLength))
	}
	if len(t.Attributes) != 0 {
		s += "+attributes"
	}
	return s
}

// ProtocolID identifies the IPsec protocol of a proposal, a Notify or a
// Delete payload (RFC 7296 §3.3.1).
type ProtocolID uint8

// Protocol IDs (RFC 7296 §3.3.1).
const (
	ProtocolIKE ProtocolID = 1
	ProtocolAH  ProtocolID = 2
	ProtocolESP ProtocolID = 3
)

var protocolNames = map[ProtocolID]string{0: "NONE", ProtocolIKE: "IKE", ProtocolAH: "AH", ProtocolESP: "ESP"}

// String returns the protocol name.
func (p ProtocolID) String() string { return name(protocolNames, p, "ProtocolID") }

// TransformType is the Transform Type of a transform (RFC 7296 §3.3.2).
type TransformType uint8

// Transform types (RFC 7296 §3.3.2).
const (
	TransformEncr  TransformType = 1 // Encryption Algorithm (ENCR)
	TransformPRF   TransformType = 2 // Pseudorandom Function (PRF)
	TransformInteg TransformType = 3 // Integrity Algorithm (INTEG)
	TransformDH    TransformType = 4 // Diffie-Hellman Group (D-H)
	TransformESN   TransformType = 5 // Extended Sequence Numbers (ESN)
)

var transformTypeNames = map[TransformType]string{
	TransformEncr: "ENCR", TransformPRF: "PRF", TransformInteg: "INTEG", TransformDH: "D-H", TransformESN: "ESN",
}

// String returns the RFC 7296 abbreviation of the transform type.
func (t TransformType) String() string { return name(transformTypeNames, t, "TransformType") }

// EncrID is a Transform Type 1 (encryption algorithm) transform ID.
type EncrID uint16

// Encryption algorithm transform IDs (RFC 7296 §3.3.2, RFC 5282 §7,
// RFC 7634 §4).
const (
	EncrDES              EncrID = 2
	Encr3DES             EncrID = 3
	EncrNull             EncrID = 11
	EncrAESCBC           EncrID = 12 // Key Length 128/192/256
	EncrAESCTR           EncrID = 13
	EncrAESCCM8          EncrID = 14
	EncrAESCCM12         EncrID = 15
	EncrAESCCM16         EncrID = 16
	EncrAESGCM8          EncrID = 18
	EncrAESGCM12         EncrID = 19
	EncrAESGCM16         EncrID = 20 // Key Length 128/256
	EncrChaCha20Poly1305 EncrID = 28 // no Key Length
)

var encrNames = map[EncrID]string{
	EncrDES: "ENCR_DES", Encr3DES: "ENCR_3DES", EncrNull: "ENCR_NULL", EncrAESCBC: "ENCR_AES_CBC",
	EncrAESCTR: "ENCR_AES_CTR", EncrAESCCM8: "ENCR_AES_CCM_8", EncrAESCCM12: "ENCR_AES_CCM_12",
	EncrAESCCM16: "ENCR_AES_CCM_16", EncrAESGCM8: "ENCR_AES_GCM_8", EncrAESGCM12: "ENCR_AES_GCM_12",
	EncrAESGCM16: "ENCR_AES_GCM_16", EncrChaCha20Poly1305: "ENCR_CHACHA20_POLY1305",
}

// String returns the IANA name of the transform.
func (id EncrID) String() string { return name(encrNames, id, "ENCR") }

// PRFID is a Transform Type 2 (pseudorandom function) transform ID.
type PRFID uint16

// Pseudorandom function transform IDs (RFC 7296 §3.3.2, RFC 4868 §4).
const (
	PRFHMACMD5      PRFID = 1
	PRFHMACSHA1     PRFID = 2
	PRFAES128XCBC   PRFID = 4
	PRFHMACSHA2_256 PRFID = 5
	PRFHMACSHA2_384 PRFID = 6
	PRFHMACSHA2_512 PRFID = 7
	PRFAES128CMAC   PRFID = 8
)

var prfNames = map[PRFID]string{
	PRFHMACMD5: "PRF_HMAC_MD5", PRFHMACSHA1: "PRF_HMAC_SHA1", PRFAES128XCBC: "PRF_AES128_XCBC",
	PRFHMACSHA2_256: "PRF_HMAC_SHA2_256", PRFHMACSHA2_384: "PRF_HMAC_SHA2_384",
	PRFHMACSHA2_512: "PRF_HMAC_SHA2_512", PRFAES128CMAC: "PRF_AES128_CMAC",
}

// String returns the IANA name of the transform.
func (id PRFID) String() string { return name(prfNames, id, "PRF") }

// IntegID is a Transform Type 3 (integrity algorithm) transform ID.
type IntegID uint16

// Integrity algorithm transform IDs (RFC 7296 §3.3.2, RFC 4868 §2).
const (
	IntegNone             IntegID = 0
	IntegHMACMD5_96       IntegID = 1
	IntegHMACSHA1_96      IntegID = 2
	IntegDESMAC           IntegID = 3
	IntegKPDKMD5          IntegID = 4
	IntegAESXCBC96        IntegID = 5
	IntegHMACSHA2_256_128 IntegID = 12
	IntegHMACSHA2_384_192 IntegID = 13
	IntegHMACSHA2_512_256 IntegID = 14
)

var integNames = map[IntegID]string{
	IntegNone: "NONE", IntegHMACMD5_96: "AUTH_HMAC_MD5_96", IntegHMACSHA1_96: "AUTH_HMAC_SHA1_96",
	IntegDESMAC: "AUTH_DES_MAC", IntegKPDKMD5: "AUTH_KPDK_MD5", IntegAESXCBC96: "AUTH_AES_XCBC_96",
	IntegHMACSHA2_256_128: "AUTH_HMAC_SHA2_256_128", IntegHMACSHA2_384_192: "AUTH_HMAC_SHA2_384_192",
	IntegHMACSHA2_512_256: "AUTH_HMAC_SHA2_512_256",
}

// String returns the IANA name of the transform.
func (id IntegID) String() string { return name(integNames, id, "INTEG") }

// DHGroup is a Transform Type 4 (Diffie-Hellman group) transform ID, also the
// D-H Group Num of a KE payload (RFC 7296 §3.4) and the data of
// INVALID_KE_PAYLOAD.
type DHGroup uint16

// Diffie-Hellman groups (RFC 7296 §3.3.2, RFC 5903, RFC 8031, RFC 6989).
const (
	DHNone         DHGroup = 0
	DHMODP768      DHGroup = 1
	DHMODP1024     DHGroup = 2
	DHMODP1536     DHGroup = 5
	DHMODP2048     DHGroup = 14
	DHMODP3072     DHGroup = 15
	DHMODP4096     DHGroup = 16
	DHMODP6144     DHGroup = 17
	DHMODP8192     DHGroup = 18
	DHECP256       DHGroup = 19
	DHECP384       DHGroup = 20
	DHECP521       DHGroup = 21
	DHBrainpool224 DHGroup = 27
	DHBrainpool256 DHGroup = 28
	DHBrainpool384 DHGroup = 29
	DHBrainpool512 DHGroup = 30
	DHCurve25519   DHGroup = 31
	DHCurve448     DHGroup = 32
)

var dhNames = map[DHGroup]string{
	DHNone: "NONE", DHMODP768: "MODP_768", DHMODP1024: "MODP_1024", DHMODP1536: "MODP_1536",
	DHMODP2048: "MODP_2048", DHMODP3072: "MODP_3072", DHMODP4096: "MODP_4096", DHMODP6144: "MODP_6144",
	DHMODP8192: "MODP_8192", DHECP256: "ECP_256", DHECP384: "ECP_384", DHECP521: "ECP_521",
	DHBrainpool224: "ECP_224_BP", DHBrainpool256: "ECP_256_BP", DHBrainpool384: "ECP_384_BP",
	DHBrainpool512: "ECP_512_BP", DHCurve25519: "CURVE_25519", DHCurve448: "CURVE_448",
}

// String returns the group's IANA-style name.
func (g DHGroup) String() string { return name(dhNames, g, "DH") }

// ESN is a Transform Type 5 (Extended Sequence Numbers) transform ID.
type ESN uint16

// ESN transform IDs (RFC 7296 §3.3.2).
const (
	ESNNone ESN = 0 // No Extended Sequence Numbers
	ESNOn   ESN = 1 // Extended Sequence Numbers
)

var esnNames = map[ESN]string{ESNNone: "NO_ESN", ESNOn: "ESN"}

// String returns the transform name.
func (e ESN) String() string { return name(esnNames, e, "ESN") }

// AttributeType is the type of a transform attribute (RFC 7296 §3.3.5).
type AttributeType uint16

// Transform attribute types (RFC 7296 §3.3.5).
const (
	AttributeKeyLength AttributeType = 14 // Key Length in bits, always TV
)

var attributeNames = map[AttributeType]string{AttributeKeyLength: "Key Length"}

// String returns the attribute name.
func (t AttributeType) String() string { return name(attributeNames, t, "AttributeType") }
