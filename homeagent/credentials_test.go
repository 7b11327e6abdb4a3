package homeagent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/ike"
)

// credentialFiles writes a CA, a certificate for dns signed by it (chain
// file: the certificate then the CA) and the certificate's key, and
// returns the paths and the certificate.
func credentialFiles(t *testing.T, dns string) (ca, chain, key string, leaf *x509.Certificate) {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, blocks ...*pem.Block) string {
		var b []byte
		for _, blk := range blocks {
			b = append(b, pem.EncodeToMemory(blk)...)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: dns}, DNSNames: []string{dns},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, k.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	if leaf, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	sec1, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return write("ca.pem", &pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		write("chain.pem", &pem.Block{Type: "CERTIFICATE", Bytes: der}, &pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		write("key.pem", &pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}),
		leaf
}

// TestLoadCredentialsCertificate: with a certificate and no identity, the
// runtime authenticates as the certificate's DNS name, with the whole
// chain and the key; peers' certificates chain to the CA file.
func TestLoadCredentialsCertificate(t *testing.T) {
	ca, chain, key, leaf := credentialFiles(t, "ha.example")
	c := DefaultConfig()
	c.Cert, c.Key, c.CA = chain, key, ca
	set, err := c.parse()
	if err != nil {
		t.Fatal(err)
	}
	cr, err := loadCredentials(set, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cr.Self.ID != ike.FQDN("ha.example") {
		t.Errorf("identity %v, want the certificate's DNS name", cr.Self.ID)
	}
	if len(cr.Self.Certificates) != 2 || string(cr.Self.Certificates[0]) != string(leaf.Raw) {
		t.Errorf("%d certificates, want the chain with the end-entity first", len(cr.Self.Certificates))
	}
	if cr.Self.Signer == nil || !leaf.PublicKey.(*ecdsa.PublicKey).Equal(cr.Self.Signer.Public()) {
		t.Error("the signer is not the certificate's key")
	}
	if len(cr.CAs) != 1 || cr.Roots == nil {
		t.Fatalf("CAs %d, roots %v", len(cr.CAs), cr.Roots)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: cr.Roots}); err != nil {
		t.Errorf("the certificate does not chain to the loaded CA: %v", err)
	}
	c.Identity = "keyid:0102"
	if set, err = c.parse(); err != nil {
		t.Fatal(err)
	}
	if cr, err = loadCredentials(set, nil); err != nil || cr.Self.ID != ike.KeyID([]byte{1, 2}) {
		t.Errorf("with ike.identity: %v, %v; want the configured identity", cr.Self.ID, err)
	}
}

// TestLoadCredentialsErrors: an unusable file is a ConfigError naming the
// key that names it.
func TestLoadCredentialsErrors(t *testing.T) {
	ca, chain, key, _ := credentialFiles(t, "ha.example")
	_, _, otherKey, _ := credentialFiles(t, "other.example")
	psks := filepath.Join(t.TempDir(), "psks")
	if err := os.WriteFile(psks, []byte("mn.example a\nmn.example b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		psks []PSK
		key  string
	}{
		{"missing CA", func(c *Config) { c.CA = ca + ".missing" }, nil, "ike.ca"},
		{"CA file of a key", func(c *Config) { c.CA = key }, nil, "ike.ca"},
		{"certificate file of a key", func(c *Config) { c.Cert, c.Key = key, key }, nil, "ike.certificate"},
		{"key file of a certificate", func(c *Config) { c.Cert, c.Key = chain, chain }, nil, "ike.private_key"},
		{"key of another certificate", func(c *Config) { c.Cert, c.Key = chain, otherKey }, nil, "ike.private_key"},
		{"an identity twice in the PSK file", func(c *Config) { c.PSKFile = psks }, nil, "ike.secrets_file"},
		{"a PSK of a bad identity", func(c *Config) {}, []PSK{{Identity: "a b", Secret: []byte("k")}}, "ike.secrets_file"},
		{"an empty PSK", func(c *Config) {}, []PSK{{Identity: "mn.example"}}, "ike.secrets_file"},
	} {
		c := DefaultConfig()
		c.Identity = "ha.example"
		tc.mod(&c)
		set, err := c.parse()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		_, err = loadCredentials(set, tc.psks)
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key || !errors.Is(err, ErrConfig) {
			t.Errorf("%s: loadCredentials = %v, want a ConfigError for %q", tc.name, err, tc.key)
		}
	}
}

// TestLoadCredentialsPSKs: keys given in code come after the PSK file's
// and replace a key the file gives the same identity.
func TestLoadCredentialsPSKs(t *testing.T) {
	p := filepath.Join(t.TempDir(), "psks")
	if err := os.WriteFile(p, []byte("mn1@example.net one\n@mn2.example 0x02\n* any\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.Identity, c.PSKFile = "ha.example", p
	set, err := c.parse()
	if err != nil {
		t.Fatal(err)
	}
	cr, err := loadCredentials(set, []PSK{{Identity: " mn2.example ", Secret: []byte("code")}})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(cr.PSKs[ike.RFC822("mn1@example.net")]); got != "one" {
		t.Errorf("mn1: %q", got)
	}
	if got := string(cr.PSKs[ike.FQDN("mn2.example")]); got != "code" {
		t.Errorf("mn2: %q, want the key given in code", got)
	}
	if string(cr.AnyPSK) != "any" || len(cr.PSKs) != 2 {
		t.Errorf("AnyPSK %q, %d keys", cr.AnyPSK, len(cr.PSKs))
	}
}
