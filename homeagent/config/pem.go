package config

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/mip6ha/mip6ha/ike"
)

// The certificate and key files of the IKE credentials, shared by the home
// agent's configuration (Config.Credentials), the runtime's own settings
// (package homeagent) and the mobile node client. Errors are phrased to
// follow the file's name or the key that names it ("holds no PEM
// CERTIFICATE"); the caller adds that name, as a *KeyError or its own
// flag, and never sees a secret in them.

// ReadCertificates reads the CERTIFICATE blocks of a PEM file in their
// order (for a chain: end-entity first), skipping blocks of other types.
// A file without one is an error.
func ReadCertificates(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot be read: %w", unwrapPath(err))
	}
	return parseCertificates(data)
}

// parseCertificates returns the certificates of PEM data (see
// ReadCertificates).
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
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
			return nil, fmt.Errorf("holds a certificate that does not parse: %w", err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("holds no PEM CERTIFICATE")
	}
	return certs, nil
}

// ReadPrivateKey reads the first private key of a PEM file: PKCS #8
// ("PRIVATE KEY"), SEC 1 ("EC PRIVATE KEY") or PKCS #1 ("RSA PRIVATE KEY"),
// in the clear, of a type that signs (ECDSA, RSA, Ed25519). It applies no
// permission rules; Config.Credentials reads ike.private_key with those of
// files holding secrets.
func ReadPrivateKey(path string) (crypto.Signer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot be read: %w", unwrapPath(err))
	}
	return parsePrivateKey(data)
}

// readPrivateKey is ReadPrivateKey for a file that must pass the rules of
// files holding secrets.
func readPrivateKey(path string) (crypto.Signer, error) {
	data, err := readSecretFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot be used: %w", unwrapPath(err))
	}
	return parsePrivateKey(data)
}

// parsePrivateKey returns the first private key of PEM data (see
// ReadPrivateKey).
func parsePrivateKey(data []byte) (crypto.Signer, error) {
	for len(data) > 0 {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if _, encrypted := b.Headers["Proc-Type"]; encrypted || b.Type == "ENCRYPTED PRIVATE KEY" {
			return nil, errors.New("is encrypted: the key is needed in the clear")
		}
		var key any
		var err error
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
			return nil, fmt.Errorf("holds a %s that does not parse: %w", b.Type, err)
		}
		switch k := key.(type) {
		case *ecdsa.PrivateKey, *rsa.PrivateKey, ed25519.PrivateKey:
			return k.(crypto.Signer), nil
		}
		return nil, fmt.Errorf("holds a %T, which cannot sign", key)
	}
	return nil, errors.New("holds no PEM private key")
}

// PublicKeyEqual reports whether a and b are the same public key: with the
// key of a certificate, whether a private key (its Public()) belongs to it.
func PublicKeyEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}

// CertificateIdentity returns the identity a certificate names first: its
// first DNS name (ID_FQDN), else e-mail address (ID_RFC822_ADDR), else IP
// address, else its subject (ID_DER_ASN1_DN). It is the identity of a home
// agent or node that authenticates with the certificate and names none.
func CertificateIdentity(cert *x509.Certificate) ike.ID {
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

// unwrapPath removes the path from an *os.PathError: the caller's message
// (a KeyError, a flag) already shows it.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
