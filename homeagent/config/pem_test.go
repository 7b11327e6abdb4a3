package config

import (
	"crypto"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io/fs"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/ike"
)

// TestReadPrivateKey reads each PEM form of a signing key, from a file any
// user may read (ReadPrivateKey applies no permission rules), after blocks
// that are no key.
func TestReadPrivateKey(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := func(k any) string {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pemBlock("PRIVATE KEY", der)
	}
	sec1, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	pki := newTestPKI(t, "ha.example.net")
	before := pemBlock("CERTIFICATE", pki.leaf.Raw) + "a comment\n"
	for _, tc := range []struct {
		name, pem string
		want      crypto.Signer
	}{
		{"PKCS #8 ECDSA", pkcs8(ec), ec},
		{"SEC 1", pemBlock("EC PRIVATE KEY", sec1), ec},
		{"PKCS #1", pemBlock("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rk)), rk},
		{"PKCS #8 RSA", pkcs8(rk), rk},
		{"PKCS #8 Ed25519", pkcs8(ed), ed},
	} {
		got, err := ReadPrivateKey(writeFile(t, "key", before+tc.pem, 0o644))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if !PublicKeyEqual(got.Public(), tc.want.Public()) {
			t.Errorf("%s: read another key", tc.name)
		}
	}
}

// TestReadPrivateKeyErrors: what is no usable key says why, phrased to
// follow the file's name, without the path (the caller names the file).
func TestReadPrivateKeyErrors(t *testing.T) {
	x, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	x25519, err := x509.MarshalPKCS8PrivateKey(x)
	if err != nil {
		t.Fatal(err)
	}
	missing := t.TempDir() + "/missing.key"
	for _, tc := range []struct {
		name, path, says string
	}{
		{"missing", missing, "cannot be read"},
		{"no key", writeFile(t, "k", "nothing\n", 0o600), "holds no PEM private key"},
		{"encrypted", writeFile(t, "k", pemBlock("ENCRYPTED PRIVATE KEY", []byte{1}), 0o600), "is encrypted"},
		{"garbage", writeFile(t, "k", pemBlock("EC PRIVATE KEY", []byte{1, 2, 3}), 0o600), "does not parse"},
		{"a key that cannot sign", writeFile(t, "k", pemBlock("PRIVATE KEY", x25519), 0o600), "cannot sign"},
	} {
		_, err := ReadPrivateKey(tc.path)
		if err == nil || !strings.Contains(err.Error(), tc.says) || strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: ReadPrivateKey = %v, want an error saying %q without the path", tc.name, err, tc.says)
		}
	}
	if _, err := ReadPrivateKey(missing); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

// TestReadCertificates keeps a chain's order and skips other blocks.
func TestReadCertificates(t *testing.T) {
	pki := newTestPKI(t, "ha.example.net")
	chain, err := ReadCertificates(pki.cert)
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 2 || !chain[0].Equal(pki.leaf) || !chain[1].IsCA {
		t.Fatalf("chain of %d, want the leaf then its CA", len(chain))
	}
	mixed := writeFile(t, "mixed", "comment\n"+pemBlock("PRIVATE KEY", []byte{1})+pemBlock("CERTIFICATE", pki.leaf.Raw), 0o644)
	if got, err := ReadCertificates(mixed); err != nil || len(got) != 1 || !got[0].Equal(pki.leaf) {
		t.Errorf("ReadCertificates(key then certificate) = %d, %v", len(got), err)
	}
	for _, tc := range []struct{ name, path, says string }{
		{"missing", t.TempDir() + "/none.crt", "cannot be read"},
		{"no certificate", writeFile(t, "c", pemBlock("PRIVATE KEY", []byte{1}), 0o644), "holds no PEM CERTIFICATE"},
		{"garbage", writeFile(t, "c", pemBlock("CERTIFICATE", []byte{1, 2}), 0o644), "does not parse"},
	} {
		if _, err := ReadCertificates(tc.path); err == nil || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: ReadCertificates = %v, want an error saying %q", tc.name, err, tc.says)
		}
	}
}

// TestCertificateIdentity: a DNS name first, then an e-mail address, an IP
// address, else the subject.
func TestCertificateIdentity(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(tmpl *x509.Certificate) *x509.Certificate {
		tmpl.SerialNumber = big.NewInt(1)
		tmpl.Subject = pkix.Name{CommonName: "node"}
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	v4 := net.ParseIP("192.0.2.1") // 16 octets, IPv4-mapped
	subject := issue(&x509.Certificate{})
	for _, tc := range []struct {
		name string
		cert *x509.Certificate
		want ike.ID
	}{
		{"all", issue(&x509.Certificate{DNSNames: []string{"ha.example", "b.example"}, EmailAddresses: []string{"mn@example"}, IPAddresses: []net.IP{v4}}), ike.FQDN("ha.example")},
		{"e-mail and IP", issue(&x509.Certificate{EmailAddresses: []string{"mn@example"}, IPAddresses: []net.IP{v4}}), ike.RFC822("mn@example")},
		{"IPv4", issue(&x509.Certificate{IPAddresses: []net.IP{v4}}), ike.AddrID(mustAddr("192.0.2.1"))},
		{"IPv6", issue(&x509.Certificate{IPAddresses: []net.IP{net.ParseIP("2001:db8::1")}}), ike.AddrID(mustAddr("2001:db8::1"))},
		{"subject only", subject, ike.DN(subject.RawSubject)},
	} {
		if got := CertificateIdentity(tc.cert); got != tc.want {
			t.Errorf("%s: CertificateIdentity = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestPublicKeyEqual(t *testing.T) {
	pki := newTestPKI(t, "ha.example.net")
	other := newTestPKI(t, "ha.example.net")
	if !PublicKeyEqual(pki.signer.Public(), pki.leaf.PublicKey) {
		t.Error("a certificate's own key is not equal to it")
	}
	if PublicKeyEqual(other.signer.Public(), pki.leaf.PublicKey) {
		t.Error("another key is equal")
	}
	if PublicKeyEqual(nil, pki.leaf.PublicKey) {
		t.Error("nil is equal")
	}
}

// FuzzParsePEM: the certificate and key parsers never panic, and what they
// accept is usable: certificates with their DER, a key that signs.
func FuzzParsePEM(f *testing.F) {
	f.Add([]byte(pemBlock("CERTIFICATE", []byte{0x30, 0x03, 0x02, 0x01, 0x01})))
	f.Add([]byte(pemBlock("ENCRYPTED PRIVATE KEY", []byte{1}) + "tail"))
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END EC PRIVATE KEY-----\n"))
	if k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err == nil {
		if der, err := x509.MarshalPKCS8PrivateKey(k); err == nil {
			f.Add([]byte(pemBlock("PRIVATE KEY", der)))
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"ha.example"}}
		if der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k); err == nil {
			f.Add([]byte(pemBlock("CERTIFICATE", der) + pemBlock("CERTIFICATE", der)))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if certs, err := parseCertificates(data); err == nil {
			for _, c := range certs {
				if len(c.Raw) == 0 {
					t.Fatal("a certificate without its DER")
				}
				CertificateIdentity(c)
			}
		}
		if key, err := parsePrivateKey(data); err == nil && (key == nil || key.Public() == nil) {
			t.Fatalf("accepted key %T without a public key", key)
		}
	})
}
