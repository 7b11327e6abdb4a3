package ikecrypto

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// VerifyPeerCertificate parses the certificates of the peer's CERT payloads
// (X.509 Certificate - Signature, DER), checks that the first one, which
// holds the key that signs AUTH (RFC 7296 §3.6), chains to roots through the
// others at time now, and that it names the peer's identity from its ID
// payload (RFC 4945 §3.1):
//
//   - ID_FQDN: a dNSName subjectAltName, compared without regard to case and
//     without wildcards;
//   - ID_RFC822_ADDR: an rfc822Name subjectAltName, compared without regard
//     to case;
//   - ID_IPV4_ADDR, ID_IPV6_ADDR: an iPAddress subjectAltName of the same
//     family and value;
//   - ID_DER_ASN1_DN: the certificate's subject, not empty, as the same DER
//     or the same distinguished name RDN by RDN (see sameDN).
//
// Other ID types cannot be matched against a certificate. Extended key
// usages are not restricted. It returns the end-entity certificate, whose
// PublicKey goes to VerifyAuthData; any failure wraps ErrCertificate.
func VerifyPeerCertificate(certs [][]byte, roots *x509.CertPool, now time.Time, idType IDType, idData []byte) (*x509.Certificate, error) {
	if len(certs) == 0 {
		return nil, fmt.Errorf("no certificate: %w", ErrCertificate)
	}
	parsed := make([]*x509.Certificate, len(certs))
	for i, der := range certs {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %v: %w", i, err, ErrCertificate)
		}
		parsed[i] = c
	}
	leaf := parsed[0]
	intermediates := x509.NewCertPool()
	for _, c := range parsed[1:] {
		intermediates.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return nil, fmt.Errorf("%v: %w", err, ErrCertificate)
	}
	if err := matchIdentity(leaf, idType, idData); err != nil {
		return nil, err
	}
	return leaf, nil
}

// matchIdentity checks that the certificate names the identity.
func matchIdentity(c *x509.Certificate, idType IDType, idData []byte) error {
	id := string(idData)
	switch idType {
	case IDFQDN:
		want := strings.TrimSuffix(id, ".")
		for _, name := range c.DNSNames {
			if strings.EqualFold(strings.TrimSuffix(name, "."), want) {
				return nil
			}
		}
	case IDRFC822Addr:
		for _, addr := range c.EmailAddresses {
			if strings.EqualFold(addr, id) {
				return nil
			}
		}
	case IDIPv4Addr, IDIPv6Addr:
		want, ok := netip.AddrFromSlice(idData)
		if !ok || want.Is4() != (idType == IDIPv4Addr) {
			return fmt.Errorf("%v of %d octets: %w", idType, len(idData), ErrCertificate)
		}
		for _, ip := range c.IPAddresses {
			if got, ok := netip.AddrFromSlice(ip); ok && got == want {
				return nil
			}
		}
	case IDDERASN1DN:
		if sameDN(c.RawSubject, idData) {
			return nil
		}
	default:
		return fmt.Errorf("%v cannot be matched against a certificate: %w", idType, ErrCertificate)
	}
	return fmt.Errorf("certificate %q does not name %v %q: %w", c.Subject, idType, printableID(idType, idData), ErrCertificate)
}

// sameDN reports whether two DER distinguished names are the same name
// (RFC 4945 §3.1.5 via RFC 5280 §7.1): the same number of RDNs, in the same
// order, each with the same attribute types and values, in any order within
// a multi-valued RDN. A value may be sent as another string type (a
// PrintableString and a UTF8String of the same text match); nothing else is
// normalised, so an attribute that is added, dropped, repeated or moved to
// another RDN makes another name. An empty name names nobody (RFC 4945
// §3.1.5: it must not be used as an identity).
func sameDN(a, b []byte) bool {
	x, okx := parseDN(a)
	y, oky := parseDN(b)
	if !okx || !oky || len(x) == 0 || len(x) != len(y) {
		return false
	}
	if bytes.Equal(a, b) {
		return true
	}
	for i := range x {
		if !sameRDN(x[i], y[i]) {
			return false
		}
	}
	return true
}

// attributeTypeAndValue is one attribute of an RDN, its value undecoded.
type attributeTypeAndValue struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// relativeDistinguishedNameSET is an RDN: a SET OF attributes (the name
// suffix makes encoding/asn1 read a SET).
type relativeDistinguishedNameSET []attributeTypeAndValue

// parseDN parses a DER Name (an RDNSequence) with nothing after it.
func parseDN(der []byte) ([]relativeDistinguishedNameSET, bool) {
	var dn []relativeDistinguishedNameSET
	rest, err := asn1.Unmarshal(der, &dn)
	return dn, err == nil && len(rest) == 0
}

// sameRDN reports whether two RDNs hold the same attributes, as sets.
func sameRDN(a, b relativeDistinguishedNameSET) bool {
	if len(a) != len(b) {
		return false
	}
	used := make([]bool, len(b))
next:
	for _, x := range a {
		for j, y := range b {
			if !used[j] && sameAttribute(x, y) {
				used[j] = true
				continue next
			}
		}
		return false
	}
	return true
}

// sameAttribute compares two attributes: the same type and the same DER
// value, or the same text in two string types.
func sameAttribute(x, y attributeTypeAndValue) bool {
	if !x.Type.Equal(y.Type) {
		return false
	}
	if bytes.Equal(x.Value.FullBytes, y.Value.FullBytes) {
		return true
	}
	sx, okx := directoryString(x.Value)
	sy, oky := directoryString(y.Value)
	return okx && oky && sx == sy
}

// directoryString decodes a value of one of the string types names use.
func directoryString(v asn1.RawValue) (string, bool) {
	if v.Class != asn1.ClassUniversal {
		return "", false
	}
	switch v.Tag {
	case asn1.TagUTF8String, asn1.TagPrintableString, asn1.TagT61String, asn1.TagIA5String, asn1.TagBMPString, asn1.TagNumericString:
	default:
		return "", false
	}
	var s string
	rest, err := asn1.Unmarshal(v.FullBytes, &s)
	return s, err == nil && len(rest) == 0
}

// printableID renders identification data for an error message.
func printableID(t IDType, data []byte) string {
	switch t {
	case IDIPv4Addr, IDIPv6Addr:
		if a, ok := netip.AddrFromSlice(data); ok {
			return a.String()
		}
	case IDFQDN, IDRFC822Addr:
		return string(data)
	}
	return fmt.Sprintf("%x", data)
}
