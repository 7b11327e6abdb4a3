package config

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
)

// Credentials are the home agent's IKE credentials read from the keys and
// files of ike: its identity and, with a certificate, its chain and key; the
// peers' pre-shared keys; the CAs that peers' certificates must chain to.
// They have the shape of the runtime's ike.Credentials implementation.
type Credentials struct {
	// Self is the home agent's identity (ike.identity, or derived) and,
	// with ike.certificate, the chain (DER, end-entity first) and the key
	// that signs. Without a certificate Self has no Signer: the home agent
	// authenticates with the peer's pre-shared key.
	Self ike.LocalCredential
	// PSKs are the peers' pre-shared keys by identity, from ike.psks and
	// ike.secrets_file.
	PSKs map[ike.ID][]byte
	// AnyPSK is the key of every peer without one of its own (identity
	// "*"), or nil.
	AnyPSK []byte
	// Roots holds the CAs of ike.ca, which peers' certificates must chain
	// to; nil when ike.ca is empty. CAs are the same certificates, to name
	// in CERTREQ.
	Roots *x509.CertPool
	CAs   []*x509.Certificate
}

// Credentials reads the credential files of c (ike.secrets_file,
// ike.certificate, ike.private_key, ike.ca) and returns the credentials
// with the inline keys of ike.psks. Files holding secrets must pass the
// permission rules of ike.secrets_file. Errors are *KeyError values naming
// the key whose file is at fault, joined; they never contain a secret.
//
// Without ike.identity the identity is the certificate's first
// subjectAltName (DNS name, then e-mail address, then IP address, else its
// subject), or without a certificate the host name as an FQDN.
func (c *Config) Credentials() (*Credentials, error) {
	var p problems
	cr := &Credentials{PSKs: map[ike.ID][]byte{}}
	first := map[ike.ID]string{}
	addPSK := func(key string, e PSKEntry) {
		if e.Identity == AnyIdentity {
			if cr.AnyPSK != nil {
				p.add(key, e.Identity, "has a second key for every peer (%s)", e.Source)
				return
			}
			cr.AnyPSK = e.Secret
			return
		}
		id, err := ParseIdentity(e.Identity)
		if err != nil {
			p.add(key, e.Identity, "%v (%s)", err, e.Source)
			return
		}
		if at, dup := first[id]; dup {
			p.add(key, e.Identity, "has a key in %s and another in %s", at, e.Source)
			return
		}
		first[id] = e.Source
		cr.PSKs[id] = e.Secret
	}
	for i, e := range c.IKE.PSKs {
		secret, err := ParseSecret(e.Secret)
		key := fmt.Sprintf("ike.psks[%d]", i)
		if err != nil {
			p.add(key+".secret", "", "%v", err)
			continue
		}
		addPSK(key+".identity", PSKEntry{Identity: e.Identity, Secret: secret, Source: key})
	}
	if f := c.IKE.SecretsFile; f != "" {
		data, err := readSecretFile(f)
		if err != nil {
			p.add("ike.secrets_file", f, "cannot be used: %v", unwrapPath(err))
		} else if entries, err := ParseSecrets(f, data); err != nil {
			p.add("ike.secrets_file", f, "is not a secrets file: %v", err)
		} else {
			for _, e := range entries {
				addPSK("ike.secrets_file", e)
			}
		}
	}

	var leaf *x509.Certificate
	if c.IKE.Certificate != "" {
		chain, err := readCertificates(c.IKE.Certificate)
		if err != nil {
			p.add("ike.certificate", c.IKE.Certificate, "%v", err)
		} else {
			leaf = chain[0]
			if now := time.Now(); now.After(leaf.NotAfter) {
				p.add("ike.certificate", c.IKE.Certificate, "expired on %s", leaf.NotAfter.UTC().Format(time.DateOnly))
			}
			for _, cert := range chain {
				cr.Self.Certificates = append(cr.Self.Certificates, cert.Raw)
			}
		}
	}
	if c.IKE.PrivateKey != "" {
		signer, err := readPrivateKey(c.IKE.PrivateKey)
		switch {
		case err != nil:
			p.add("ike.private_key", c.IKE.PrivateKey, "%v", err)
		case leaf != nil && !publicKeyEqual(signer.Public(), leaf.PublicKey):
			p.add("ike.private_key", c.IKE.PrivateKey, "is not the key of ike.certificate %s", c.IKE.Certificate)
		default:
			cr.Self.Signer = signer
		}
	}
	if c.IKE.CA != "" {
		cas, err := readCertificates(c.IKE.CA)
		if err != nil {
			p.add("ike.ca", c.IKE.CA, "%v", err)
		} else {
			cr.Roots = x509.NewCertPool()
			for _, ca := range cas {
				cr.Roots.AddCert(ca)
			}
			cr.CAs = cas
		}
	}

	switch {
	case c.IKE.Identity != "":
		id, err := ParseIdentity(c.IKE.Identity)
		if err != nil {
			p.add("ike.identity", c.IKE.Identity, "%v", err)
			break
		}
		cr.Self.ID = id
		if leaf != nil {
			if why := certificateNames(leaf, id); why != "" {
				p.add("ike.identity", c.IKE.Identity, "is not a name of ike.certificate %s: %s", c.IKE.Certificate, why)
			}
		}
	case leaf != nil:
		cr.Self.ID = certificateIdentity(leaf)
	default:
		h, err := os.Hostname()
		if err != nil || h == "" {
			p.add("ike.identity", "", "is empty and the host name is unknown")
			break
		}
		cr.Self.ID = ike.FQDN(h)
	}
	if err := p.err(); err != nil {
		return nil, err
	}
	return cr, nil
}

// readCertificates reads the CERTIFICATE blocks of a PEM file.
func readCertificates(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot be read: %v", unwrapPath(err))
	}
	var certs []*x509.Certificate
	for len(data) > 0 {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("holds a certificate that does not parse: %v", err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("holds no PEM CERTIFICATE")
	}
	return certs, nil
}

// readPrivateKey reads an unencrypted PEM private key from a file that
// passes the rules of files holding secrets.
func readPrivateKey(path string) (crypto.Signer, error) {
	data, err := readSecretFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot be used: %v", unwrapPath(err))
	}
	for len(data) > 0 {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if _, encrypted := b.Headers["Proc-Type"]; encrypted || b.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, errors.New("is encrypted: the home agent needs it in the clear")
		}
		var key any
		switch b.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(b.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(b.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("holds a %s that does not parse: %v", b.Type, err)
		}
		switch k := key.(type) {
		case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
			return k.(crypto.Signer), nil
		}
		return nil, fmt.Errorf("holds a %T, which cannot sign", key)
	}
	return nil, errors.New("holds no PEM private key")
}

// publicKeyEqual reports whether a and b are the same public key.
func publicKeyEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// certificateNames returns why id is not a name of cert, or "". A key ID
// names no certificate field and always passes.
func certificateNames(cert *x509.Certificate, id ike.ID) string {
	switch id.Type {
	case wire.IDFQDN:
		if cert.VerifyHostname(id.Data) == nil {
			return ""
		}
		return fmt.Sprintf("its DNS names are %v", cert.DNSNames)
	case wire.IDRFC822Addr:
		if slices.ContainsFunc(cert.EmailAddresses, func(e string) bool { return strings.EqualFold(e, id.Data) }) {
			return ""
		}
		return fmt.Sprintf("its e-mail addresses are %v", cert.EmailAddresses)
	case wire.IDDERASN1DN:
		if bytes.Equal(cert.RawSubject, []byte(id.Data)) {
			return ""
		}
		return "its subject differs"
	}
	if a, ok := id.Addr(); ok {
		for _, ip := range cert.IPAddresses {
			if ip.Equal(a.AsSlice()) {
				return ""
			}
		}
		return fmt.Sprintf("its IP addresses are %v", cert.IPAddresses)
	}
	return ""
}

// certificateIdentity returns the identity a certificate names first.
func certificateIdentity(cert *x509.Certificate) ike.ID {
	switch {
	case len(cert.DNSNames) > 0:
		return ike.FQDN(cert.DNSNames[0])
	case len(cert.EmailAddresses) > 0:
		return ike.RFC822(cert.EmailAddresses[0])
	case len(cert.IPAddresses) > 0:
		if a, ok := netipFromIP(cert.IPAddresses[0]); ok {
			return ike.AddrID(a)
		}
	}
	return ike.DN(cert.RawSubject)
}

// unwrapPath removes the path from an *os.PathError: the KeyError already
// shows it.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
