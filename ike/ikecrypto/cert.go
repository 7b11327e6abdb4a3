package ikecrypto

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
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
//   - ID_DER_ASN1_DN: the certificate's subject, as the same DER or the same
//     distinguished name once parsed.
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
		if bytes.Equal(c.RawSubject, idData) {
			return nil
		}
		var dn pkix.RDNSequence
		if rest, err := asn1.Unmarshal(idData, &dn); err == nil && len(rest) == 0 {
			var name pkix.Name
			name.FillFromRDNSequence(&dn)
			if name.String() == c.Subject.String() {
				return nil
			}
		}
	default:
		return fmt.Errorf("%v cannot be matched against a certificate: %w", idType, ErrCertificate)
	}
	return fmt.Errorf("certificate %q does not name %v %q: %w", c.Subject, idType, printableID(idType, idData), ErrCertificate)
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
