package ikecrypto

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"math/big"
	"net"
	"slices"
	"testing"
	"time"
)

var certEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

type testCert struct {
	der  []byte
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func makeCert(t testing.TB, tmpl *x509.Certificate, parent *testCert) *testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = certEpoch, certEpoch.AddDate(1, 0, 0)
	}
	parentCert, signer := tmpl, key
	if parent != nil {
		parentCert, signer = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCert{der, c, key}
}

func caTemplate(name string) *x509.Certificate {
	return &x509.Certificate{
		Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign,
	}
}

func TestVerifyPeerCertificate(t *testing.T) {
	root := makeCert(t, caTemplate("mip6ha test root"), nil)
	inter := makeCert(t, caTemplate("mip6ha test intermediate"), root)
	leaf := makeCert(t, &x509.Certificate{
		Subject:        pkix.Name{CommonName: "ha.example.net", Organization: []string{"mip6ha"}},
		DNSNames:       []string{"ha.example.net"},
		EmailAddresses: []string{"mn1@example.net"},
		IPAddresses:    []net.IP{net.ParseIP("2001:db8:1::1"), net.ParseIP("192.0.2.1").To4()},
		KeyUsage:       x509.KeyUsageDigitalSignature,
	}, inter)
	roots := x509.NewCertPool()
	roots.AddCert(root.cert)
	now := certEpoch.AddDate(0, 6, 0)
	chain := [][]byte{leaf.der, inter.der}

	good := []struct {
		name string
		typ  IDType
		data []byte
	}{
		{"FQDN", IDFQDN, []byte("ha.example.net")},
		{"FQDN other case, trailing dot", IDFQDN, []byte("HA.Example.NET.")},
		{"RFC822", IDRFC822Addr, []byte("MN1@example.net")},
		{"IPv6", IDIPv6Addr, net.ParseIP("2001:db8:1::1")},
		{"IPv4", IDIPv4Addr, net.ParseIP("192.0.2.1").To4()},
		{"DN as DER", IDDERASN1DN, leaf.cert.RawSubject},
	}
	for _, g := range good {
		c, err := VerifyPeerCertificate(chain, roots, now, g.typ, g.data)
		if err != nil {
			t.Errorf("%s: %v", g.name, err)
		} else if !c.Equal(leaf.cert) {
			t.Errorf("%s: returned another certificate", g.name)
		}
	}

	otherDNDER, err := asn1.Marshal((&pkix.Name{CommonName: "ha2.example.net"}).ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	otherRoot := makeCert(t, caTemplate("someone else"), nil)
	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(otherRoot.cert)
	bad := []struct {
		name  string
		chain [][]byte
		roots *x509.CertPool
		now   time.Time
		typ   IDType
		data  []byte
	}{
		{"other FQDN", chain, roots, now, IDFQDN, []byte("ha2.example.net")},
		{"wildcard-looking FQDN", chain, roots, now, IDFQDN, []byte("*.example.net")},
		{"other email", chain, roots, now, IDRFC822Addr, []byte("mn2@example.net")},
		{"other IPv6", chain, roots, now, IDIPv6Addr, net.ParseIP("2001:db8:1::2")},
		{"IPv4 as IPv4-mapped IPv6", chain, roots, now, IDIPv6Addr, net.ParseIP("192.0.2.1").To16()},
		{"IPv4 of 16 octets", chain, roots, now, IDIPv4Addr, net.ParseIP("192.0.2.1").To16()},
		{"other DN", chain, roots, now, IDDERASN1DN, otherDNDER},
		{"DN garbage", chain, roots, now, IDDERASN1DN, []byte{0x30, 0x01}},
		{"KEY_ID", chain, roots, now, IDKeyID, []byte("mn1")},
		{"untrusted root", chain, otherRoots, now, IDFQDN, []byte("ha.example.net")},
		{"missing intermediate", chain[:1], roots, now, IDFQDN, []byte("ha.example.net")},
		{"expired", chain, roots, certEpoch.AddDate(2, 0, 0), IDFQDN, []byte("ha.example.net")},
		{"not yet valid", chain, roots, certEpoch.AddDate(0, 0, -1), IDFQDN, []byte("ha.example.net")},
		{"no certificate", nil, roots, now, IDFQDN, []byte("ha.example.net")},
		{"garbage certificate", [][]byte{{0x30, 0x03, 0x02, 0x01, 0x01}}, roots, now, IDFQDN, []byte("ha.example.net")},
	}
	for _, b := range bad {
		_, err := VerifyPeerCertificate(b.chain, b.roots, b.now, b.typ, b.data)
		var e *Error
		if !errors.Is(err, ErrCertificate) || !errors.As(err, &e) || e.NotifyType() != 24 {
			t.Errorf("%s: err = %v, want ErrCertificate (AUTHENTICATION_FAILED)", b.name, err)
		}
	}
}

// A DN sent with other string types than the certificate's still matches
// once both are parsed.
func TestVerifyPeerCertificateDNParsed(t *testing.T) {
	root := makeCert(t, caTemplate("root"), nil)
	leaf := makeCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "mn.example.net", Country: []string{"DE"}}}, root)
	roots := x509.NewCertPool()
	roots.AddCert(root.cert)
	// CN as UTF8String (0x0c) instead of the PrintableString (0x13) Go writes.
	dn := unhex(t, "3026 310b 3009 0603550406 1302 4445 3117 3015 0603550403 0c0e 6d6e2e6578616d706c652e6e6574")
	if _, err := VerifyPeerCertificate([][]byte{leaf.der}, roots, certEpoch.AddDate(0, 1, 0), IDDERASN1DN, dn); err != nil {
		t.Fatal(err)
	}
}

// RFC 4945 §3.1.5 (with RFC 5280 §7.1): an ID_DER_ASN1_DN must be the
// end-entity certificate's subject. Names that only look the same once
// flattened into a pkix.Name — an attribute repeated, the RDNs reordered,
// two RDNs merged into one — name someone else; so do names differing in
// case, and the empty name names nobody. A value sent as another string
// type still matches.
func TestRFC4945DNMustBeTheCertificateSubject(t *testing.T) {
	var (
		oidO  = asn1.ObjectIdentifier{2, 5, 4, 10}
		oidCN = asn1.ObjectIdentifier{2, 5, 4, 3}
	)
	at := func(oid asn1.ObjectIdentifier, v any) pkix.AttributeTypeAndValue {
		return pkix.AttributeTypeAndValue{Type: oid, Value: v}
	}
	dn := func(rdns ...pkix.RelativeDistinguishedNameSET) []byte {
		b, err := asn1.Marshal(pkix.RDNSequence(rdns))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rdn := func(ats ...pkix.AttributeTypeAndValue) pkix.RelativeDistinguishedNameSET { return ats }
	utf8 := func(s string) asn1.RawValue { return asn1.RawValue{Tag: asn1.TagUTF8String, Bytes: []byte(s)} }

	root := makeCert(t, caTemplate("root"), nil)
	roots := x509.NewCertPool()
	roots.AddCert(root.cert)
	leaf := makeCert(t, &x509.Certificate{Subject: pkix.Name{Organization: []string{"Example"}, CommonName: "mallory"}}, root)
	anonymous := makeCert(t, &x509.Certificate{DNSNames: []string{"anonymous.example.net"}}, root)
	now := certEpoch.AddDate(0, 1, 0)
	for _, tc := range []struct {
		name string
		cert *testCert
		id   []byte
		ok   bool
	}{
		{"subject", leaf, leaf.cert.RawSubject, true},
		{"same name rebuilt", leaf, dn(rdn(at(oidO, "Example")), rdn(at(oidCN, "mallory"))), true},
		{"other string type", leaf, dn(rdn(at(oidO, utf8("Example"))), rdn(at(oidCN, utf8("mallory")))), true},
		{"repeated attribute", leaf, dn(rdn(at(oidO, "Example")), rdn(at(oidCN, "victim")), rdn(at(oidCN, "mallory"))), false},
		{"reordered RDNs", leaf, dn(rdn(at(oidCN, "mallory")), rdn(at(oidO, "Example"))), false},
		{"merged RDNs", leaf, dn(rdn(at(oidO, "Example"), at(oidCN, "mallory"))), false},
		{"other case", leaf, dn(rdn(at(oidO, "Example")), rdn(at(oidCN, "Mallory"))), false},
		{"prefix", leaf, dn(rdn(at(oidO, "Example"))), false},
		{"trailing octets", leaf, append(slices.Clone(leaf.cert.RawSubject), 0), false},
		{"empty name", anonymous, anonymous.cert.RawSubject, false},
	} {
		_, err := VerifyPeerCertificate([][]byte{tc.cert.der}, roots, now, IDDERASN1DN, tc.id)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %x accepted %v, want %v (%v)", tc.name, tc.id, err == nil, tc.ok, err)
		}
		if err != nil && !errors.Is(err, ErrCertificate) {
			t.Errorf("%s: error %v does not wrap ErrCertificate", tc.name, err)
		}
	}
}
