package config

import (
	"bytes"
	"crypto/x509"
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
// The runtime's ike.Credentials implementation (homeagent.Credentials) is
// this type with the methods that answer the IKE engine.
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
		chain, err := ReadCertificates(c.IKE.Certificate)
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
		case leaf != nil && !PublicKeyEqual(signer.Public(), leaf.PublicKey):
			p.add("ike.private_key", c.IKE.PrivateKey, "is not the key of ike.certificate %s", c.IKE.Certificate)
		default:
			cr.Self.Signer = signer
		}
	}
	if c.IKE.CA != "" {
		cas, err := ReadCertificates(c.IKE.CA)
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
		cr.Self.ID = CertificateIdentity(leaf)
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
