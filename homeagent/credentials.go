package homeagent

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/mip6ha/mip6ha/ike"
)

// ParseID parses an IKE identity written as strongSwan writes them: an IP
// address (ID_IPV4_ADDR, ID_IPV6_ADDR), "keyid:HEX" (ID_KEY_ID), a name with
// '@' (ID_RFC822_ADDR, e.g. an NAI "mn1@example.net"), "@name" or any other
// name (ID_FQDN).
func ParseID(s string) (ike.ID, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return ike.ID{}, errors.New("empty identity")
	case strings.HasPrefix(s, "keyid:"):
		b, err := hex.DecodeString(strings.TrimPrefix(s, "keyid:"))
		if err != nil || len(b) == 0 {
			return ike.ID{}, fmt.Errorf("identity %q: keyid: wants hexadecimal octets", s)
		}
		return ike.KeyID(b), nil
	case strings.HasPrefix(s, "@"):
		if len(s) == 1 {
			return ike.ID{}, errors.New("identity \"@\": empty name")
		}
		return ike.FQDN(s[1:]), nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return ike.ID{}, fmt.Errorf("identity %q: an address with a zone", s)
		}
		return ike.AddrID(a), nil
	}
	if strings.ContainsAny(s, " \t") {
		return ike.ID{}, fmt.Errorf("identity %q: blanks in a name", s)
	}
	if strings.Contains(s, "@") {
		return ike.RFC822(s), nil
	}
	return ike.FQDN(s), nil
}

// PSK is the pre-shared key of one peer identity.
type PSK struct {
	// Identity is the peer's identity (ParseID syntax), or "*" for a key that
	// any identity may use (a mobile node that knows one gateway).
	Identity string
	Secret   []byte
}

// anyIdentity in a PSK file or PSK.Identity matches every peer.
const anyIdentity = "*"

// LoadPSKFile reads pre-shared keys: one per line, "IDENTITY SECRET", where
// SECRET is the rest of the line, "0x" followed by hexadecimal octets, or a
// string in double quotes. Blank lines and lines starting with '#' are
// skipped. IDENTITY "*" matches any peer.
func LoadPSKFile(path string) ([]PSK, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &ConfigError{Key: keySecretsFile, Value: path, Err: err}
	}
	var psks []PSK
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		id, secret, ok := strings.Cut(line, " ")
		if !ok {
			id, secret, ok = strings.Cut(line, "\t")
		}
		if !ok {
			return nil, badKey(keySecretsFile, path, "line %d: want \"IDENTITY SECRET\"", n)
		}
		if id != anyIdentity {
			if _, err := ParseID(id); err != nil {
				return nil, badKey(keySecretsFile, path, "line %d: %v", n, err)
			}
		}
		key, err := ParseSecret(secret)
		if err != nil {
			return nil, badKey(keySecretsFile, path, "line %d: %v", n, err)
		}
		psks = append(psks, PSK{Identity: id, Secret: key})
	}
	return psks, sc.Err()
}

// ParseSecret decodes a pre-shared key as written in a PSK file: "0x" and
// hexadecimal octets, a string in double quotes, or the text itself
// (surrounding blanks removed).
func ParseSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "0x"):
		b, err := hex.DecodeString(s[2:])
		if err != nil {
			return nil, fmt.Errorf("secret: bad hexadecimal: %w", err)
		}
		s = string(b)
	case len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"':
		s = s[1 : len(s)-1]
	}
	if s == "" {
		return nil, errors.New("empty secret")
	}
	return []byte(s), nil
}

// Credentials is the runtime's ike.Credentials: our identity with a
// certificate or a pre-shared key, and the peer authorization database of
// pre-shared keys by identity and trusted CAs. It is read-only once built,
// so every shard may use it at once.
type Credentials struct {
	// Self is our identity and, with a certificate, its chain and key.
	// Without Signer we authenticate with the peer's pre-shared key.
	Self ike.LocalCredential
	// PSKs are the peers' pre-shared keys by identity; AnyPSK, if set, is
	// the key of every other identity.
	PSKs   map[ike.ID][]byte
	AnyPSK []byte
	// Roots lets peers authenticate with a certificate chaining to them;
	// CAs are the same certificates, named in our CERTREQ.
	Roots *x509.CertPool
	CAs   []*x509.Certificate
}

// Local returns our identity and key.
func (c *Credentials) Local(*ike.ID) (*ike.LocalCredential, error) {
	if c.Self.ID.IsZero() {
		return nil, fmt.Errorf("%w: no local identity configured", ike.ErrAuthentication)
	}
	self := c.Self
	if self.Signer == nil && self.PSK == nil && len(c.PSKs) == 0 {
		// Every peer shares AnyPSK: an initiator that does not name its
		// gateway's identity still knows which key to prove itself with.
		self.PSK = c.AnyPSK
	}
	return &self, nil
}

// Peer returns how a peer claiming id authenticates: its pre-shared key
// and, if CAs are configured, a certificate.
func (c *Credentials) Peer(id ike.ID) (*ike.PeerCredential, error) {
	psk, ok := c.PSKs[id]
	if !ok {
		psk = c.AnyPSK
	}
	if psk == nil && c.Roots == nil {
		return nil, fmt.Errorf("%w: no credentials for %v", ike.ErrAuthentication, id)
	}
	return &ike.PeerCredential{PSK: psk, Roots: c.Roots}, nil
}

// Empty reports whether no peer can authenticate.
func (c *Credentials) Empty() bool {
	return len(c.PSKs) == 0 && c.AnyPSK == nil && c.Roots == nil
}

// loadCredentials builds the Credentials that s names: the PSK file, psks
// given in code, the certificate, key and CAs.
func loadCredentials(s *settings, psks []PSK) (*Credentials, error) {
	c := &Credentials{PSKs: map[ike.ID][]byte{}}
	if s.cfg.PSKFile != "" {
		fromFile, err := LoadPSKFile(s.cfg.PSKFile)
		if err != nil {
			return nil, err
		}
		psks = append(fromFile, psks...)
	}
	for _, p := range psks {
		if len(p.Secret) == 0 {
			return nil, badKey(keySecretsFile, p.Identity, "empty secret")
		}
		if p.Identity == anyIdentity {
			c.AnyPSK = p.Secret
			continue
		}
		id, err := ParseID(p.Identity)
		if err != nil {
			return nil, badKey(keySecretsFile, p.Identity, "%v", err)
		}
		c.PSKs[id] = p.Secret
	}
	if s.cfg.CA != "" {
		cas, err := readCertificates(s.cfg.CA)
		if err != nil {
			return nil, badKey(keyCA, s.cfg.CA, "%v", err)
		}
		c.Roots = x509.NewCertPool()
		for _, ca := range cas {
			c.Roots.AddCert(ca)
		}
		c.CAs = cas
	}
	c.Self.ID = s.identity
	if s.cfg.Cert != "" {
		chain, err := readCertificates(s.cfg.Cert)
		if err != nil {
			return nil, badKey(keyCert, s.cfg.Cert, "%v", err)
		}
		key, err := readKey(s.cfg.Key)
		if err != nil {
			return nil, badKey(keyKey, s.cfg.Key, "%v", err)
		}
		if !publicKeyMatches(chain[0], key) {
			return nil, badKey(keyKey, s.cfg.Key, "does not match the certificate %s", s.cfg.Cert)
		}
		for _, cert := range chain {
			c.Self.Certificates = append(c.Self.Certificates, cert.Raw)
		}
		c.Self.Signer = key
		if c.Self.ID.IsZero() {
			c.Self.ID = certificateID(chain[0])
		}
	}
	if c.Self.ID.IsZero() {
		host, err := os.Hostname()
		if err != nil || host == "" {
			return nil, badKey(keyIdentity, "", "no identity and no host name")
		}
		c.Self.ID = ike.FQDN(host)
	}
	return c, nil
}

// certificateID is the identity a certificate names first: a DNS name, an
// e-mail address, an IP address, else its subject.
func certificateID(cert *x509.Certificate) ike.ID {
	switch {
	case len(cert.DNSNames) > 0:
		return ike.FQDN(cert.DNSNames[0])
	case len(cert.EmailAddresses) > 0:
		return ike.RFC822(cert.EmailAddresses[0])
	case len(cert.IPAddresses) > 0:
		if a, ok := netip.AddrFromSlice(cert.IPAddresses[0]); ok {
			return ike.AddrID(a.Unmap())
		}
	}
	return ike.DN(cert.RawSubject)
}

func readCertificates(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return certs, nil
}

func readKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return nil, errors.New("no PEM private key block")
		}
		var key any
		switch blk.Type {
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(blk.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, err
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%T is not a signing key", key)
		}
		return signer, nil
	}
}

func publicKeyMatches(cert *x509.Certificate, key crypto.Signer) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	switch pub := cert.PublicKey.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey, ed25519.PublicKey:
		return pub.(equaler).Equal(key.Public())
	}
	return false
}
