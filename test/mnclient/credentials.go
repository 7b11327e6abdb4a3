package mnclient

import (
	"crypto"
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

// Credentials is a mobile node's ike.Credentials: our identity with a
// pre-shared key or a certificate, and how the home agent proves itself:
// the same pre-shared key (under HAID, or any identity when HAID is not
// set), or a certificate chaining to CA. The client keeps its own small
// type rather than the home agent's, whose PAD serves many peers.
type credentials struct {
	self  ike.LocalCredential
	haID  ike.ID // zero: any
	psk   []byte
	roots *x509.CertPool
	cas   []*x509.Certificate
}

// Local implements ike.Credentials.
func (c *credentials) Local(*ike.ID) (*ike.LocalCredential, error) {
	self := c.self
	if self.Signer == nil {
		self.PSK = c.psk
	}
	return &self, nil
}

// Peer implements ike.Credentials.
func (c *credentials) Peer(id ike.ID) (*ike.PeerCredential, error) {
	if !c.haID.IsZero() && id != c.haID {
		return nil, fmt.Errorf("%w: the home agent is %v, not %v", ike.ErrAuthentication, c.haID, id)
	}
	return &ike.PeerCredential{PSK: c.psk, Roots: c.roots}, nil
}

// newCredentials builds the IKE credentials of cfg.
func newCredentials(cfg *Config) (*credentials, error) {
	id, err := ParseID(cfg.ID)
	if err != nil {
		return nil, fmt.Errorf("mnclient: identity: %w", err)
	}
	c := &credentials{self: ike.LocalCredential{ID: id}, psk: cfg.PSK}
	if cfg.HAID != "" {
		if c.haID, err = ParseID(cfg.HAID); err != nil {
			return nil, fmt.Errorf("mnclient: home agent identity: %w", err)
		}
	}
	if cfg.CA != "" {
		if c.cas, err = readCertificates(cfg.CA); err != nil {
			return nil, err
		}
		c.roots = x509.NewCertPool()
		for _, ca := range c.cas {
			c.roots.AddCert(ca)
		}
	}
	if cfg.Cert != "" {
		chain, err := readCertificates(cfg.Cert)
		if err != nil {
			return nil, err
		}
		if c.self.Signer, err = readKey(cfg.Key); err != nil {
			return nil, err
		}
		for _, cert := range chain {
			c.self.Certificates = append(c.self.Certificates, cert.Raw)
		}
	}
	if c.psk == nil && (c.self.Signer == nil || c.roots == nil) {
		return nil, errors.New("mnclient: no credentials: a pre-shared key, or a certificate, its key and a CA")
	}
	return c, nil
}

// ParseID parses an IKE identity as strongSwan writes them (and as the
// home agent's configuration does): an IP address, "keyid:HEX", a name
// with '@' (ID_RFC822_ADDR, an NAI such as "mn1@example.net"), "@name" or
// any other name (ID_FQDN).
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
			return ike.ID{}, errors.New(`identity "@": empty name`)
		}
		return ike.FQDN(s[1:]), nil
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return ike.AddrID(a), nil
	}
	if strings.ContainsAny(s, " \t%") {
		return ike.ID{}, fmt.Errorf("identity %q: blanks or a zone in a name", s)
	}
	if strings.Contains(s, "@") {
		return ike.RFC822(s), nil
	}
	return ike.FQDN(s), nil
}

// ReadPSKFile reads a pre-shared key file: its whole content is the key,
// "0x" and hexadecimal octets, a string in double quotes, or the text
// itself (surrounding blanks removed).
func ReadPSKFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := strings.TrimSpace(string(b))
	switch {
	case strings.HasPrefix(s, "0x"):
		k, err := hex.DecodeString(s[2:])
		if err != nil {
			return nil, fmt.Errorf("%s: bad hexadecimal: %w", path, err)
		}
		s = string(k)
	case len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"':
		s = s[1 : len(s)-1]
	}
	if s == "" {
		return nil, fmt.Errorf("%s: empty key", path)
	}
	return []byte(s), nil
}

// readCertificates reads every CERTIFICATE block of a PEM file.
func readCertificates(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mnclient: %w", err)
	}
	var certs []*x509.Certificate
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("mnclient: %s: %w", path, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("mnclient: %s: no certificate", path)
	}
	return certs, nil
}

// readKey reads a private key in PEM: PKCS #8, SEC 1 (EC) or PKCS #1 (RSA).
func readKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mnclient: %w", err)
	}
	for {
		var blk *pem.Block
		if blk, b = pem.Decode(b); blk == nil {
			return nil, fmt.Errorf("mnclient: %s: no private key", path)
		}
		var k any
		switch blk.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(blk.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("mnclient: %s: %w", path, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("mnclient: %s: key cannot sign", path)
		}
		return s, nil
	}
}
