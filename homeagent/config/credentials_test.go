package config

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/ike"
)

// testPKI is a CA and a home agent certificate signed by it, in files.
type testPKI struct {
	ca, cert, key string // PEM files
	leaf          *x509.Certificate
	signer        crypto.Signer
}

func pemBlock(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// newTestPKI makes a CA and a certificate for the DNS name dns (valid now),
// with the key in a file of mode 0600.
func newTestPKI(t *testing.T, dns string) *testPKI {
	t.Helper()
	return newTestPKIValid(t, dns, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
}

func newTestPKIValid(t *testing.T, dns string, notBefore, notAfter time.Time) *testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: notBefore, NotAfter: notAfter.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: dns},
		NotBefore: notBefore, NotAfter: notAfter,
		DNSNames: []string{dns}, IPAddresses: []net.IP{net.ParseIP("2001:db8::1")},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{
		ca:     writeFile(t, "ca.crt", pemBlock("CERTIFICATE", caDER), 0o644),
		cert:   writeFile(t, "ha.crt", pemBlock("CERTIFICATE", der)+pemBlock("CERTIFICATE", caDER), 0o644),
		key:    writeFile(t, "ha.key", pemBlock("PRIVATE KEY", pkcs8), 0o600),
		leaf:   leaf,
		signer: key,
	}
}

func TestCredentialsPSK(t *testing.T) {
	c := testDefault(t)
	c.IKE.Identity = "ha.example.net"
	c.IKE.PSKs = []PSK{{Identity: "mn1@example.net", Secret: "inline one"}, {Identity: "*", Secret: `"  any  "`}}
	c.IKE.SecretsFile = writeFile(t, "secrets", `# mobile nodes
mn2@example.net 0x00ff10
2001:db8::7	text with blanks
keyid:0a0b "quoted "
`, 0o600)
	cr, err := c.Credentials()
	if err != nil {
		t.Fatal(err)
	}
	want := map[ike.ID]string{
		ike.RFC822("mn1@example.net"):       "inline one",
		ike.RFC822("mn2@example.net"):       "\x00\xff\x10",
		ike.AddrID(mustAddr("2001:db8::7")): "text with blanks",
		ike.KeyID([]byte{0x0a, 0x0b}):       "quoted ",
	}
	if len(cr.PSKs) != len(want) {
		t.Errorf("%d PSKs, want %d", len(cr.PSKs), len(want))
	}
	for id, secret := range want {
		if got := string(cr.PSKs[id]); got != secret {
			t.Errorf("PSK of %v: %q, want %q", id, got, secret)
		}
	}
	if string(cr.AnyPSK) != "  any  " {
		t.Errorf("AnyPSK %q", cr.AnyPSK)
	}
	if cr.Self.ID != ike.FQDN("ha.example.net") || cr.Self.Signer != nil {
		t.Errorf("Self %+v, want FQDN ha.example.net without a signer", cr.Self)
	}
}

func TestCredentialsPSKErrors(t *testing.T) {
	c := testDefault(t)
	c.IKE.PSKs = []PSK{{Identity: "mn1@example.net", Secret: "s3cret-a"}}
	c.IKE.SecretsFile = writeFile(t, "secrets", "@example.net s3cret-b\nmn1@example.net s3cret-c\n", 0o600)
	_, err := c.Credentials()
	kes := wantKeys(t, err, "ike.secrets_file")
	if len(kes) == 1 && (!strings.Contains(kes[0].Reason, "ike.psks[0]") || !strings.Contains(kes[0].Reason, ":2")) {
		t.Errorf("duplicate across inline and file: %v, want both places named", kes[0])
	}
	for _, secret := range []string{"s3cret-a", "s3cret-b", "s3cret-c"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error shows a secret: %v", err)
		}
	}
}

// TestSecretFilePermissions: a secrets file or key others can read or that
// the group can write is refused; the group may read.
func TestSecretFilePermissions(t *testing.T) {
	for _, tc := range []struct {
		perm uint32
		ok   bool
	}{
		{0o600, true}, {0o640, true}, {0o400, true},
		{0o644, false}, {0o604, false}, {0o660, false}, {0o602, false},
	} {
		c := testDefault(t)
		c.IKE.SecretsFile = writeFile(t, "secrets", "mn1@example.net key\n", fsMode(tc.perm))
		_, err := c.Credentials()
		if tc.ok != (err == nil) {
			t.Errorf("mode %04o: %v, want ok=%v", tc.perm, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "chmod 0600") {
			t.Errorf("mode %04o: %v, want the fix named", tc.perm, err)
		}
	}
}

func TestConfigFileWithSecretsMustBePrivate(t *testing.T) {
	content := "ike:\n  psks:\n    - {identity: mn1@example.net, secret: s3cret}\n"
	path := writeFile(t, "ha.yaml", content, 0o644)
	_, err := Load(LoadOptions{File: path, Env: []string{}})
	kes := wantKeys(t, err, "ike.psks")
	if len(kes) == 1 && !strings.Contains(kes[0].Error(), "accessible to others") {
		t.Errorf("%v", kes[0])
	}
	if err != nil && strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error shows the secret: %v", err)
	}
	// Without secrets, a world-readable file is fine.
	path = writeFile(t, "ha.yaml", "home: {mtu: 1300}\n", 0o644)
	if _, err := Load(LoadOptions{File: path, Env: []string{}}); err != nil {
		t.Errorf("file without secrets: %v", err)
	}
}

func TestCredentialsCertificate(t *testing.T) {
	pki := newTestPKI(t, "ha.example.net")
	c := testDefault(t)
	c.IKE.Certificate, c.IKE.PrivateKey, c.IKE.CA = pki.cert, pki.key, pki.ca
	cr, err := c.Credentials()
	if err != nil {
		t.Fatal(err)
	}
	if cr.Self.ID != ike.FQDN("ha.example.net") {
		t.Errorf("derived identity %v, want the certificate's DNS name", cr.Self.ID)
	}
	if len(cr.Self.Certificates) != 2 || !bytes.Equal(cr.Self.Certificates[0], pki.leaf.Raw) {
		t.Errorf("chain of %d certificates, want leaf then CA", len(cr.Self.Certificates))
	}
	if !PublicKeyEqual(cr.Self.Signer.Public(), pki.signer.Public()) {
		t.Error("signer is not the key")
	}
	if len(cr.CAs) != 1 || cr.Roots == nil {
		t.Fatalf("CAs %d, roots %v", len(cr.CAs), cr.Roots)
	}
	if _, err := pki.leaf.Verify(x509.VerifyOptions{Roots: cr.Roots}); err != nil {
		t.Errorf("leaf does not verify against the loaded roots: %v", err)
	}
	for _, id := range []string{"ha.example.net", "2001:db8::1"} {
		c.IKE.Identity = id
		if _, err := c.Credentials(); err != nil {
			t.Errorf("identity %s in the certificate: %v", id, err)
		}
	}
}

func TestCredentialsCertificateErrors(t *testing.T) {
	pki := newTestPKI(t, "ha.example.net")
	other := newTestPKI(t, "other.example.net")
	expired := newTestPKIValid(t, "ha.example.net", time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	for _, tc := range []struct {
		name string
		set  func(c *Config)
		key  string
		says string
	}{
		{"identity not in certificate", func(c *Config) { c.IKE.Identity = "ha.example.org" }, "ike.identity", "DNS names"},
		{"key of another certificate", func(c *Config) { c.IKE.PrivateKey = other.key }, "ike.private_key", "not the key"},
		{"expired", func(c *Config) { c.IKE.Certificate, c.IKE.PrivateKey = expired.cert, expired.key }, "ike.certificate", "expired"},
		{"key is a certificate", func(c *Config) { c.IKE.PrivateKey = writeFile(t, "k", pemBlock("CERTIFICATE", pki.leaf.Raw), 0o600) }, "ike.private_key", "no PEM private key"},
		{"encrypted key", func(c *Config) {
			c.IKE.PrivateKey = writeFile(t, "k", pemBlock("ENCRYPTED PRIVATE KEY", []byte{1}), 0o600)
		}, "ike.private_key", "encrypted"},
		{"readable key", func(c *Config) {
			c.IKE.PrivateKey = writeFile(t, "k", mustRead(t, pki.key), 0o644)
		}, "ike.private_key", "accessible to others"},
		{"CA file without certificate", func(c *Config) { c.IKE.CA = writeFile(t, "ca", "nothing\n", 0o644) }, "ike.ca", "no PEM CERTIFICATE"},
		{"missing certificate", func(c *Config) { c.IKE.Certificate = "/nonexistent/ha.crt" }, "ike.certificate", "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testDefault(t)
			c.IKE.Certificate, c.IKE.PrivateKey, c.IKE.CA = pki.cert, pki.key, pki.ca
			tc.set(c)
			_, err := c.Credentials()
			kes := wantKeys(t, err, tc.key)
			if len(kes) == 1 && !strings.Contains(kes[0].Error(), tc.says) {
				t.Errorf("%v, want it to say %q", kes[0], tc.says)
			}
		})
	}
}

func TestParseIdentity(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ike.ID
	}{
		{"ha.example.net", ike.FQDN("ha.example.net")},
		{"@ha.example.net", ike.FQDN("ha.example.net")},
		{"mn1@example.net", ike.RFC822("mn1@example.net")},
		{"192.0.2.1", ike.AddrID(mustAddr("192.0.2.1"))},
		{"::ffff:192.0.2.1", ike.AddrID(mustAddr("192.0.2.1"))},
		{"2001:db8::1", ike.AddrID(mustAddr("2001:db8::1"))},
		{"keyid:00ff", ike.KeyID([]byte{0, 0xff})},
	} {
		got, err := ParseIdentity(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseIdentity(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"", "@", "keyid:", "keyid:xy", "a b", " a", "fe80::1%eth0", "naïve", strings.Repeat("a", 256)} {
		if id, err := ParseIdentity(bad); err == nil {
			t.Errorf("ParseIdentity(%q) = %v, want an error", bad, id)
		}
	}
}

func TestParseSecrets(t *testing.T) {
	for _, bad := range []string{"lonely\n", "a@b 0xzz\n", "a@b \"\"\n", "a@b x\na@b y\n", "keyid:zz x\n"} {
		if _, err := ParseSecrets("s", []byte(bad)); err == nil {
			t.Errorf("ParseSecrets(%q) accepted", bad)
		}
	}
	got, err := ParseSecrets("s", []byte("\n# c\n  a@b   k  \n*\t0x01\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Identity != "a@b" || string(got[0].Secret) != "k" || got[0].Source != "s:3" ||
		got[1].Identity != "*" || !bytes.Equal(got[1].Secret, []byte{1}) {
		t.Errorf("ParseSecrets = %+v", got)
	}
}

func TestErrorsNeverShowSecrets(t *testing.T) {
	_, err := loadYAML(t, "ike:\n  psks:\n    - {identity: a@b, secret: [not, a, string, s3cret]}\n")
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error %v, want one without the secret", err)
	}
	wantKeys(t, err, "ike.psks[0].secret")
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := readSecretFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
