package interop

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// KeyType is the kind of key a certificate is issued for.
type KeyType int

// Key types for NewCA and CA.Issue.
const (
	ECDSAP256 KeyType = iota
	ECDSAP384
	RSA2048
	RSA3072
)

// String names the key type ("ECDSA P-256").
func (k KeyType) String() string {
	switch k {
	case ECDSAP256:
		return "ECDSA P-256"
	case ECDSAP384:
		return "ECDSA P-384"
	case RSA2048:
		return "RSA 2048"
	case RSA3072:
		return "RSA 3072"
	}
	return fmt.Sprintf("KeyType(%d)", int(k))
}

func (k KeyType) generate() (crypto.Signer, error) {
	switch k {
	case ECDSAP256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case ECDSAP384:
		return ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case RSA2048:
		return rsa.GenerateKey(rand.Reader, 2048)
	case RSA3072:
		return rsa.GenerateKey(rand.Reader, 3072)
	}
	return nil, fmt.Errorf("interop: unknown key type %d", int(k))
}

// CA is a certificate authority for tests: a self-signed certificate and
// its key.
type CA struct {
	Name string // file name stem in x509ca/
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Cert is an end-entity certificate with its private key, issued by a CA.
// The same values serve strongSwan (written in swanctl's layout) and the
// project's own IKE code (Cert, Key, Chain).
type Cert struct {
	Name string // file name stem in x509/ and the key folder
	Cert *x509.Certificate
	Key  crypto.Signer
	CA   *CA
}

// certValidity: valid from an hour ago (clock skew between namespaces is
// nil, but certificates made at the top of a test must not be "not yet
// valid" for a peer) for a day.
const certBackdate, certLifetime = time.Hour, 24 * time.Hour

var stem = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

// NewCA creates a self-signed CA named cn (also its subject's CN).
func NewCA(t testing.TB, cn string, kt KeyType) *CA {
	t.Helper()
	key, err := kt.generate()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"mip6ha lab"}},
		NotBefore:             now.Add(-certBackdate),
		NotAfter:              now.Add(certLifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("interop: creating CA %s: %v", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Name: stem.ReplaceAllString(cn, "_"), Cert: cert, Key: key}
}

// Issue creates an end-entity certificate for cn (its subject's CN) with
// the subject alternative names sans: an IP address ("2001:db8:1::1"),
// an email-style name with '@' ("mn@example", an RFC822 IKE ID), a URI
// with "://", or else a DNS name ("ha.example", an FQDN IKE ID).
// strongSwan matches an IKE ID against these names.
func (ca *CA) Issue(t testing.TB, cn string, kt KeyType, sans ...string) *Cert {
	t.Helper()
	key, err := kt.generate()
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(t),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"mip6ha lab"}},
		NotBefore:    now.Add(-certBackdate),
		NotAfter:     now.Add(certLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	for _, s := range sans {
		switch a, err := netip.ParseAddr(s); {
		case err == nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.IP(a.AsSlice()))
		case strings.Contains(s, "://"):
			u, err := url.Parse(s)
			if err != nil {
				t.Fatalf("interop: SAN %q: %v", s, err)
			}
			tmpl.URIs = append(tmpl.URIs, u)
		case strings.Contains(s, "@"):
			tmpl.EmailAddresses = append(tmpl.EmailAddresses, s)
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, s)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatalf("interop: issuing %s: %v", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &Cert{Name: stem.ReplaceAllString(cn, "_"), Cert: cert, Key: key, CA: ca}
}

func serial(t testing.TB) *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		t.Fatal(err)
	}
	return n.Add(n, big.NewInt(1))
}

// Chain is the certificate followed by its CA's.
func (c *Cert) Chain() []*x509.Certificate { return []*x509.Certificate{c.Cert, c.CA.Cert} }

// CertPEM is the certificate in PEM.
func (c *Cert) CertPEM() []byte { return certPEM(c.Cert) }

// KeyPEM is the private key in PEM: SEC 1 "EC PRIVATE KEY" for ECDSA,
// PKCS #1 "RSA PRIVATE KEY" for RSA, the forms swanctl reads from ecdsa/
// and rsa/.
func (c *Cert) KeyPEM() ([]byte, error) {
	switch k := c.Key.(type) {
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
	case *rsa.PrivateKey:
		return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)}), nil
	}
	return nil, fmt.Errorf("interop: key type %T", c.Key)
}

// CertPEM is the CA certificate in PEM.
func (ca *CA) CertPEM() []byte { return certPEM(ca.Cert) }

func certPEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

func (c *Cert) fileName() string { return c.Name + ".pem" }

func (ca *CA) fileName() string { return ca.Name + ".pem" }

// keyDir is the swanctl folder for the key's type.
func (c *Cert) keyDir() string {
	if _, ok := c.Key.(*rsa.PrivateKey); ok {
		return "rsa"
	}
	return "ecdsa"
}

// WriteSwanctl writes the certificate to dir/x509/NAME.pem, its key to
// dir/ecdsa/NAME.pem or dir/rsa/NAME.pem, and its CA to
// dir/x509ca/CA.pem: the layout `swanctl --load-all` reads beside its
// swanctl.conf.
func (c *Cert) WriteSwanctl(dir string) error {
	key, err := c.KeyPEM()
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "x509", c.fileName()), c.CertPEM(), 0o644); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, c.keyDir(), c.fileName()), key, 0o600); err != nil {
		return err
	}
	return c.CA.writeSwanctl(dir)
}

func (ca *CA) writeSwanctl(dir string) error {
	return writeFile(filepath.Join(dir, "x509ca", ca.fileName()), ca.CertPEM(), 0o644)
}

func writeFile(path string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return os.WriteFile(path, b, mode)
}
