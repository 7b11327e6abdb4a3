package mnclient

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/mip6ha/mip6ha/homeagent"
	"github.com/mip6ha/mip6ha/homeagent/config"
	"github.com/mip6ha/mip6ha/ike"
)

// credentials is a mobile node's ike.Credentials: our identity with a
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
	id, err := homeagent.ParseID(cfg.ID)
	if err != nil {
		return nil, fmt.Errorf("mnclient: identity: %w", err)
	}
	c := &credentials{self: ike.LocalCredential{ID: id}, psk: cfg.PSK}
	if cfg.HAID != "" {
		if c.haID, err = homeagent.ParseID(cfg.HAID); err != nil {
			return nil, fmt.Errorf("mnclient: home agent identity: %w", err)
		}
	}
	if cfg.CA != "" {
		if c.cas, err = config.ReadCertificates(cfg.CA); err != nil {
			return nil, fmt.Errorf("mnclient: CA file %s %w", cfg.CA, err)
		}
		c.roots = x509.NewCertPool()
		for _, ca := range c.cas {
			c.roots.AddCert(ca)
		}
	}
	if cfg.Cert != "" {
		chain, err := config.ReadCertificates(cfg.Cert)
		if err != nil {
			return nil, fmt.Errorf("mnclient: certificate file %s %w", cfg.Cert, err)
		}
		if c.self.Signer, err = config.ReadPrivateKey(cfg.Key); err != nil {
			return nil, fmt.Errorf("mnclient: key file %s %w", cfg.Key, err)
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

// ReadPSKFile reads a pre-shared key file: its whole content is the key,
// in the syntax of the home agent's pre-shared keys (config.ParseSecret):
// "0x" and hexadecimal octets, a string in double quotes, or the text
// itself (surrounding blanks removed). The caller names the file's flag or
// key in its error.
func ReadPSKFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := config.ParseSecret(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: the key %w", path, err)
	}
	return k, nil
}
