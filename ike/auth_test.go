package ike

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// testPKI is a CA and end-entity certificates for the certificate tests.
type testPKI struct {
	ca     *x509.Certificate
	caKey  crypto.Signer
	roots  *x509.CertPool
	serial int64
}

func newTestPKI(t testing.TB, name string) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: epoch.Add(-time.Hour), NotAfter: epoch.Add(10 * 365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{ca: ca, caKey: key, roots: pool, serial: 1}
}

// issue returns a certificate for id with key, in a LocalCredential.
func (p *testPKI) issue(t testing.TB, id ID, key crypto.Signer) LocalCredential {
	t.Helper()
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: id.String()},
		NotBefore: epoch.Add(-time.Hour), NotAfter: epoch.Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	switch id.Type {
	case wire.IDFQDN:
		tmpl.DNSNames = []string{id.Data}
	case wire.IDRFC822Addr:
		tmpl.EmailAddresses = []string{id.Data}
	case wire.IDIPv4Addr, wire.IDIPv6Addr:
		a, _ := id.Addr()
		tmpl.IPAddresses = []net.IP{a.AsSlice()}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, key.Public(), p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return LocalCredential{ID: id, Certificates: [][]byte{der}, Signer: key}
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

func testRSAKey(t testing.TB) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			t.Fatal(err)
		}
	})
	return rsaKey
}

func ecKey(t testing.TB, c elliptic.Curve) *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// authMethods returns the AUTH methods of the IKE_AUTH request and response.
func authMethods(t testing.TB, p *pair) (req, resp wire.AuthMethod) {
	t.Helper()
	get := func(msgs [][]byte) wire.AuthMethod {
		if len(msgs) == 0 {
			return 0
		}
		ap, ok := inner(t, p.ha, msgs[0]).First(wire.PayloadAUTH)
		if !ok {
			return 0
		}
		a, _ := wire.ParseAuth(ap.Body)
		return a.Method
	}
	return get(p.messages(wire.ExchangeIKEAuth, false)), get(p.messages(wire.ExchangeIKEAuth, true))
}

// RFC 7296 §2.15, RFC 7427 §3, RFC 4754: certificate authentication with
// ECDSA and RSA keys, by the Digital Signature method when both sides
// announced SIGNATURE_HASH_ALGORITHMS, or by the key's classic method.
func TestIKEAuthCertificates(t *testing.T) {
	pki := newTestPKI(t, "Test CA")
	for _, tc := range []struct {
		name       string
		iKey, rKey crypto.Signer
		iMethod    wire.AuthMethod // forced, 0: automatic
		rsaPSS     bool
		wantI      wire.AuthMethod
		wantR      wire.AuthMethod
	}{
		{"ecdsa-p256-digital-signature", ecKey(t, elliptic.P256()), ecKey(t, elliptic.P256()), 0, false, wire.AuthDigitalSignature, wire.AuthDigitalSignature},
		{"rsa-pkcs1-digital-signature", testRSAKey(t), ecKey(t, elliptic.P384()), 0, false, wire.AuthDigitalSignature, wire.AuthDigitalSignature},
		{"rsa-pss-digital-signature", testRSAKey(t), testRSAKey(t), 0, true, wire.AuthDigitalSignature, wire.AuthDigitalSignature},
		{"ecdsa-classic-method-9", ecKey(t, elliptic.P256()), ecKey(t, elliptic.P256()), wire.AuthECDSASHA256P256, false, wire.AuthECDSASHA256P256, wire.AuthDigitalSignature},
		{"ecdsa-classic-method-10", ecKey(t, elliptic.P384()), ecKey(t, elliptic.P256()), wire.AuthECDSASHA384P384, false, wire.AuthECDSASHA384P384, wire.AuthDigitalSignature},
		{"ecdsa-classic-method-11", ecKey(t, elliptic.P521()), ecKey(t, elliptic.P256()), wire.AuthECDSASHA512P521, false, wire.AuthECDSASHA512P521, wire.AuthDigitalSignature},
		{"rsa-classic-method-1", testRSAKey(t), ecKey(t, elliptic.P256()), wire.AuthRSASignature, false, wire.AuthRSASignature, wire.AuthDigitalSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ic, rc, _ := pairConfig(50)
			il := pki.issue(t, mnID, tc.iKey)
			il.Method, il.RSAPSS = tc.iMethod, tc.rsaPSS
			rl := pki.issue(t, haID, tc.rKey)
			rl.RSAPSS = tc.rsaPSS
			ic.Credentials = &StaticCredentials{Self: il, Roots: pki.roots}
			rc.Credentials = &StaticCredentials{Self: rl, Roots: pki.roots}
			ic.CertReqCAs = []*x509.Certificate{pki.ca}
			rc.CertReqCAs = []*x509.Certificate{pki.ca}
			p := newPair(t, ic, rc)
			p.establish()
			checkOnePair(t, p)
			gotI, gotR := authMethods(t, p)
			if gotI != tc.wantI || gotR != tc.wantR {
				t.Errorf("AUTH methods %v / %v, want %v / %v", gotI, gotR, tc.wantI, tc.wantR)
			}
			// CERTREQ in the IKE_SA_INIT response and the IKE_AUTH request
			// (strongSwan sends its certificate only when asked).
			var m wire.Message
			if err := wire.ParseMessage(p.messages(wire.ExchangeIKESAInit, true)[0], &m); err != nil {
				t.Fatal(err)
			}
			if !hasPayload(m.Payloads, wire.PayloadCERTREQ) {
				t.Error("no CERTREQ in the IKE_SA_INIT response")
			}
			if !hasPayload(inner(t, p.ha, p.messages(wire.ExchangeIKEAuth, false)[0]), wire.PayloadCERTREQ) {
				t.Error("no CERTREQ in the IKE_AUTH request")
			}
		})
	}
}

// RFC 7296 §2.15: a responder authenticating with a certificate and an
// initiator with a pre-shared key.
func TestIKEAuthMixedMethods(t *testing.T) {
	pki := newTestPKI(t, "Test CA")
	ic, rc, _ := pairConfig(51)
	ic.Credentials = &StaticCredentials{Self: LocalCredential{ID: mnID, PSK: psk}, Roots: pki.roots}
	rc.Credentials = &StaticCredentials{Self: pki.issue(t, haID, ecKey(t, elliptic.P256())), PSKs: map[ID][]byte{mnID: psk}}
	p := newPair(t, ic, rc)
	p.establish()
	if i, r := authMethods(t, p); i != wire.AuthSharedKeyMIC || r != wire.AuthDigitalSignature {
		t.Fatalf("methods %v / %v", i, r)
	}
}

// RFC 7296 §2.21.2, §3.5, RFC 4945 §3.1: authentication failures end the
// IKE SA with AUTHENTICATION_FAILED and no CHILD_SA.
func TestIKEAuthFailures(t *testing.T) {
	pki := newTestPKI(t, "Test CA")
	other := newTestPKI(t, "Other CA")
	for _, tc := range []struct {
		name      string
		setup     func(ic, rc *Config)
		rejectsBy string // "ha": the responder rejects the initiator; "mn": the initiator rejects the responder
	}{
		{"wrong-psk", func(ic, rc *Config) {
			ic.Credentials = &StaticCredentials{Self: LocalCredential{ID: mnID, PSK: []byte("another key, long enough to be fine")}, PSKs: map[ID][]byte{haID: psk}}
		}, "ha"},
		{"unknown-identity", func(ic, rc *Config) {
			ic.Credentials = &StaticCredentials{Self: LocalCredential{ID: FQDN("stranger.example.net"), PSK: psk}, PSKs: map[ID][]byte{haID: psk}}
		}, "ha"},
		{"certificate-from-untrusted-ca", func(ic, rc *Config) {
			ic.Credentials = &StaticCredentials{Self: other.issue(t, mnID, ecKey(t, elliptic.P256())), Roots: pki.roots}
			rc.Credentials = &StaticCredentials{Self: pki.issue(t, haID, ecKey(t, elliptic.P256())), Roots: pki.roots}
		}, "ha"},
		{"certificate-for-another-identity", func(ic, rc *Config) {
			c := pki.issue(t, FQDN("somebody.example.net"), ecKey(t, elliptic.P256()))
			c.ID = mnID
			ic.Credentials = &StaticCredentials{Self: c, Roots: pki.roots}
			rc.Credentials = &StaticCredentials{Self: pki.issue(t, haID, ecKey(t, elliptic.P256())), Roots: pki.roots}
		}, "ha"},
		{"responder-not-the-expected-peer", func(ic, rc *Config) {
			ic.PeerID = FQDN("other-ha.example.net")
			ic.Credentials = &StaticCredentials{Self: LocalCredential{ID: mnID, PSK: psk}, PSKs: map[ID][]byte{haID: psk, ic.PeerID: psk}}
		}, "mn"},
		{"responder-with-wrong-psk", func(ic, rc *Config) {
			rc.Credentials = &StaticCredentials{Self: LocalCredential{ID: haID, PSK: []byte("the responder's own key, long enough")}, PSKs: map[ID][]byte{mnID: psk}}
		}, "mn"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ic, rc, pool := pairConfig(52)
			tc.setup(ic, rc)
			p := newPair(t, ic, rc)
			p.start()
			p.runUntil(time.Minute, p.i.Done)
			rejecter, rejected := p.ha, p.mn
			if tc.rejectsBy == "mn" {
				rejecter, rejected = p.mn, p.ha
			}
			af := eventsOf[AuthFailed](rejecter)
			if len(af) != 1 || af[0].ByPeer || !errors.Is(af[0].Err, ErrAuthentication) {
				t.Fatalf("%s AuthFailed %+v", rejecter.name, af)
			}
			if tc.rejectsBy == "ha" {
				var ne *NotifyError
				if d := eventsOf[IKEDown](p.mn); len(d) != 1 || d[0].Reason != DownAuthFailed || !errors.As(d[0].Err, &ne) || ne.Type != wire.NotifyAuthenticationFailed {
					t.Fatalf("mn IKEDown %+v", d)
				}
			}
			// RFC 7296 §2.21.2: either way the other side learns of it.
			if af := eventsOf[AuthFailed](rejected); len(af) != 1 || !af[0].ByPeer {
				t.Fatalf("%s AuthFailed %+v", rejected.name, af)
			}
			if len(p.ha.sas) != 0 {
				t.Fatal("responder kept the SA")
			}
			if len(pool.requests) != 0 && tc.rejectsBy == "ha" {
				t.Error("address assigned to an unauthenticated peer")
			}
			if len(rejecter.inbound)+len(rejected.inbound) != 0 && tc.rejectsBy == "ha" {
				t.Error("CHILD_SA installed")
			}
			if len(p.mn.inbound) != 0 {
				t.Error("initiator installed a CHILD_SA")
			}
		})
	}
}

// RFC 7296 §3.5: the identity types FQDN, RFC822, IPv4, IPv6 and KEY_ID.
func TestIKEAuthIdentityTypes(t *testing.T) {
	for _, id := range []ID{
		FQDN("mn.example.net"), RFC822("mn@example.net"),
		AddrID(netip.MustParseAddr("192.0.2.7")), AddrID(netip.MustParseAddr("2001:db8::7")),
		KeyID([]byte{0xde, 0xad, 0xbe, 0xef}),
	} {
		t.Run(id.Type.String(), func(t *testing.T) {
			ic, rc, _ := pairConfig(53)
			ic.Credentials = &StaticCredentials{Self: LocalCredential{ID: id, PSK: psk}, PSKs: map[ID][]byte{haID: psk}}
			rc.Credentials = &StaticCredentials{Self: LocalCredential{ID: haID, PSK: psk}, PSKs: map[ID][]byte{id: psk}}
			p := newPair(t, ic, rc)
			p.establish()
			if got := eventsOf[IKEUp](p.ha)[0].PeerID; got != id {
				t.Fatalf("peer identity %v, want %v", got, id)
			}
		})
	}
}

// RFC 7427 §4: without SIGNATURE_HASH_ALGORITHMS from the peer the Digital
// Signature method may not be used: both sides fall back to their keys'
// classic methods (RFC 4754, RFC 7296 §3.8).
func TestIKEAuthClassicMethodsWithoutSignatureHashAlgorithms(t *testing.T) {
	pki := newTestPKI(t, "Test CA")
	ic, rc, _ := pairConfig(54)
	ic.Credentials = &StaticCredentials{Self: pki.issue(t, mnID, testRSAKey(t)), Roots: pki.roots}
	rc.Credentials = &StaticCredentials{Self: pki.issue(t, haID, ecKey(t, elliptic.P384())), Roots: pki.roots}
	p := newPair(t, ic, rc)
	p.i.cfg.hashes = nil // an initiator that announces no hashes
	p.establish()
	if i, r := authMethods(t, p); i != wire.AuthRSASignature || r != wire.AuthECDSASHA384P384 {
		t.Fatalf("methods %v / %v, want RSA (1) and ECDSA P-384 (10)", i, r)
	}
	var m wire.Message
	_ = wire.ParseMessage(p.messages(wire.ExchangeIKESAInit, true)[0], &m)
	if _, ok := m.Payloads.Notify(wire.NotifySignatureHashAlgorithms); ok {
		t.Error("responder announced hashes unasked")
	}
}
