package homeagent

import (
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/mip6ha/mip6ha/homeagent/config"
	"github.com/mip6ha/mip6ha/ike"
)

// ParseID parses an IKE identity as the home agent's configuration does
// (config.ParseIdentity: an IP address, "keyid:HEX", a name with '@' as
// ID_RFC822_ADDR, "@name" or any other name as ID_FQDN), after removing
// surrounding blanks. The error names the identity.
func ParseID(s string) (ike.ID, error) {
	id, err := config.ParseIdentity(strings.TrimSpace(s))
	if err != nil {
		return ike.ID{}, fmt.Errorf("identity %q %w", s, err)
	}
	return id, nil
}

// PSK is the pre-shared key of one peer identity.
type PSK struct {
	// Identity is the peer's identity (ParseID syntax), or "*" for a key that
	// any identity may use (a mobile node that knows one gateway).
	Identity string
	Secret   []byte
}

// LoadPSKFile reads pre-shared keys in the syntax of the home agent's
// secrets file (config.ParseSecrets): one per line, "IDENTITY SECRET",
// where SECRET is the rest of the line, "0x" followed by hexadecimal
// octets, or a string in double quotes. Blank lines and lines starting
// with '#' are skipped. IDENTITY "*" matches any peer; an identity may
// appear once. Errors are *ConfigError values for "ike.secrets_file".
func LoadPSKFile(path string) ([]PSK, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &ConfigError{Key: keySecretsFile, Value: path, Err: err}
	}
	entries, err := config.ParseSecrets(path, b)
	if err != nil {
		return nil, &ConfigError{Key: keySecretsFile, Value: path, Err: err}
	}
	psks := make([]PSK, len(entries))
	for i, e := range entries {
		psks[i] = PSK{Identity: e.Identity, Secret: e.Secret}
	}
	return psks, nil
}

// ParseSecret decodes a pre-shared key as the home agent's configuration
// writes it (config.ParseSecret): "0x" and hexadecimal octets, a string in
// double quotes, or the text itself (surrounding blanks removed).
func ParseSecret(s string) ([]byte, error) {
	b, err := config.ParseSecret(s)
	if err != nil {
		return nil, fmt.Errorf("secret %w", err)
	}
	return b, nil
}

// Credentials is the runtime's ike.Credentials: our identity with a
// certificate or a pre-shared key, and the peer authorization database of
// pre-shared keys by identity and trusted CAs (the fields of
// config.Credentials, which the home agent's configuration reads). Without
// Self.Signer we authenticate with the peer's pre-shared key; AnyPSK, if
// set, is the key of every identity without one in PSKs. It is read-only
// once built, so every shard may use it at once.
type Credentials config.Credentials

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
		if p.Identity == config.AnyIdentity {
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
		cas, err := config.ReadCertificates(s.cfg.CA)
		if err != nil {
			return nil, &ConfigError{Key: keyCA, Value: s.cfg.CA, Err: err}
		}
		c.Roots = x509.NewCertPool()
		for _, ca := range cas {
			c.Roots.AddCert(ca)
		}
		c.CAs = cas
	}
	c.Self.ID = s.identity
	if s.cfg.Cert != "" {
		chain, err := config.ReadCertificates(s.cfg.Cert)
		if err != nil {
			return nil, &ConfigError{Key: keyCert, Value: s.cfg.Cert, Err: err}
		}
		key, err := config.ReadPrivateKey(s.cfg.Key)
		if err != nil {
			return nil, &ConfigError{Key: keyKey, Value: s.cfg.Key, Err: err}
		}
		if !config.PublicKeyEqual(key.Public(), chain[0].PublicKey) {
			return nil, badKey(keyKey, s.cfg.Key, "does not match the certificate %s", s.cfg.Cert)
		}
		for _, cert := range chain {
			c.Self.Certificates = append(c.Self.Certificates, cert.Raw)
		}
		c.Self.Signer = key
		if c.Self.ID.IsZero() {
			c.Self.ID = config.CertificateIdentity(chain[0])
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
