package interop

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestIssueVerifiesAgainstCA(t *testing.T) {
	for _, kt := range []KeyType{ECDSAP256, ECDSAP384, RSA2048} {
		t.Run(kt.String(), func(t *testing.T) {
			ca := NewCA(t, "mip6ha lab CA", ECDSAP256)
			c := ca.Issue(t, "ha.example", kt, "ha.example", "2001:db8:1::1", "192.0.2.1", "mn@example", "urn://lab/ha")
			roots := x509.NewCertPool()
			roots.AddCert(ca.Cert)
			if _, err := c.Cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "ha.example"}); err != nil {
				t.Fatalf("verify: %v", err)
			}
			other := NewCA(t, "other CA", ECDSAP256)
			others := x509.NewCertPool()
			others.AddCert(other.Cert)
			if _, err := c.Cert.Verify(x509.VerifyOptions{Roots: others}); err == nil {
				t.Fatal("verified against a foreign CA")
			}
			if !reflect.DeepEqual(c.Cert.DNSNames, []string{"ha.example"}) ||
				len(c.Cert.IPAddresses) != 2 || !c.Cert.IPAddresses[0].Equal(net.ParseIP("2001:db8:1::1")) ||
				!reflect.DeepEqual(c.Cert.EmailAddresses, []string{"mn@example"}) ||
				len(c.Cert.URIs) != 1 || c.Cert.URIs[0].String() != "urn://lab/ha" {
				t.Errorf("SANs: %v %v %v %v", c.Cert.DNSNames, c.Cert.IPAddresses, c.Cert.EmailAddresses, c.Cert.URIs)
			}
			if c.Cert.Subject.CommonName != "ha.example" || c.Cert.IsCA || !ca.Cert.IsCA {
				t.Errorf("subject %v, IsCA %v/%v", c.Cert.Subject, c.Cert.IsCA, ca.Cert.IsCA)
			}
			if got := c.Chain(); len(got) != 2 || got[1] != ca.Cert {
				t.Errorf("chain %v", got)
			}
		})
	}
}

func TestWriteSwanctlLayout(t *testing.T) {
	ca := NewCA(t, "lab CA", ECDSAP256)
	dir := t.TempDir()
	for _, c := range []*Cert{ca.Issue(t, "ec.example", ECDSAP384, "ec.example"), ca.Issue(t, "rsa.example", RSA2048, "rsa.example")} {
		if err := c.WriteSwanctl(dir); err != nil {
			t.Fatal(err)
		}
		certPEM, err := os.ReadFile(filepath.Join(dir, "x509", c.Name+".pem"))
		if err != nil {
			t.Fatal(err)
		}
		blk, _ := pem.Decode(certPEM)
		if blk == nil || blk.Type != "CERTIFICATE" || string(blk.Bytes) != string(c.Cert.Raw) {
			t.Errorf("%s: x509/%s.pem is not the certificate", c.Name, c.Name)
		}
		keyPEM, err := os.ReadFile(filepath.Join(dir, c.keyDir(), c.Name+".pem"))
		if err != nil {
			t.Fatal(err)
		}
		blk, _ = pem.Decode(keyPEM)
		switch k := c.Key.(type) {
		case *ecdsa.PrivateKey:
			got, err := x509.ParseECPrivateKey(blk.Bytes)
			if err != nil || blk.Type != "EC PRIVATE KEY" || !got.Equal(k) || k.Curve != elliptic.P384() || c.keyDir() != "ecdsa" {
				t.Errorf("ECDSA key: %s %v", blk.Type, err)
			}
		case *rsa.PrivateKey:
			got, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
			if err != nil || blk.Type != "RSA PRIVATE KEY" || !got.Equal(k) || c.keyDir() != "rsa" {
				t.Errorf("RSA key: %s %v", blk.Type, err)
			}
		}
		if fi, err := os.Stat(filepath.Join(dir, c.keyDir(), c.Name+".pem")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("key file mode: %v %v", fi.Mode(), err)
		}
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "x509ca", ca.Name+".pem"))
	if err != nil {
		t.Fatal(err)
	}
	if blk, _ := pem.Decode(caPEM); blk == nil || string(blk.Bytes) != string(ca.Cert.Raw) {
		t.Error("x509ca holds something else than the CA")
	}
}
