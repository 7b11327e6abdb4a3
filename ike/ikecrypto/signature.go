package ikecrypto

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	cryptorand "crypto/rand"
	"crypto/rsa"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"slices"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// SignatureScheme is a signature algorithm of the Digital Signature
// authentication method (RFC 7427): key type, padding and hash, named on the
// wire by a DER AlgorithmIdentifier (RFC 7427 App. A).
type SignatureScheme uint8

// Signature schemes implemented by this package. SHA-1 schemes are not
// offered: RFC 8247 §3.2 says MUST NOT.
const (
	ECDSAWithSHA256  SignatureScheme = iota + 1 // ecdsa-with-SHA256 (RFC 7427 A.3.2)
	ECDSAWithSHA384                             // ecdsa-with-SHA384 (A.3.3)
	ECDSAWithSHA512                             // ecdsa-with-SHA512 (A.3.4)
	SHA256WithRSA                               // sha256WithRSAEncryption, PKCS #1 v1.5 (A.1.2)
	SHA384WithRSA                               // sha384WithRSAEncryption (A.1.3)
	SHA512WithRSA                               // sha512WithRSAEncryption (A.1.4)
	RSAPSSWithSHA256                            // RSASSA-PSS, SHA-256, MGF1 with SHA-256, salt 32 (A.4.3)
	RSAPSSWithSHA384                            // RSASSA-PSS, SHA-384, MGF1 with SHA-384, salt 48
	RSAPSSWithSHA512                            // RSASSA-PSS, SHA-512, MGF1 with SHA-512, salt 64
)

// Object identifiers of the AlgorithmIdentifiers (RFC 7427 App. A,
// RFC 4055 §2.1, §3.1).
var (
	oidSHA256WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidRSAPSS          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidECDSAWithSHA256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithSHA384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithSHA512 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidSHA256          = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384          = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512          = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
)

// schemeSpec is one row of the signature scheme table.
type schemeSpec struct {
	scheme SignatureScheme
	name   string
	hash   HashAlgorithm
	ecdsa  bool // ECDSA key; otherwise RSA
	pss    bool
	oid    asn1.ObjectIdentifier // signature OID (RSASSA-PSS for all PSS rows)
	// algID is the AlgorithmIdentifier sent in AUTH data. The PKCS #1 v1.5
	// ones carry NULL parameters and the ECDSA ones none (RFC 7427 A.1, A.3).
	// The PSS ones spell out every parameter including trailerField 1, as
	// the RFC 7427 A.4.3 blob does.
	algID []byte
}

var schemeTable = [...]schemeSpec{
	{ECDSAWithSHA256, "ecdsa-with-SHA256", HashSHA2_256, true, false, oidECDSAWithSHA256,
		mustUnhex("300a06082a8648ce3d040302")},
	{ECDSAWithSHA384, "ecdsa-with-SHA384", HashSHA2_384, true, false, oidECDSAWithSHA384,
		mustUnhex("300a06082a8648ce3d040303")},
	{ECDSAWithSHA512, "ecdsa-with-SHA512", HashSHA2_512, true, false, oidECDSAWithSHA512,
		mustUnhex("300a06082a8648ce3d040304")},
	{SHA256WithRSA, "sha256WithRSAEncryption", HashSHA2_256, false, false, oidSHA256WithRSA,
		mustUnhex("300d06092a864886f70d01010b0500")},
	{SHA384WithRSA, "sha384WithRSAEncryption", HashSHA2_384, false, false, oidSHA384WithRSA,
		mustUnhex("300d06092a864886f70d01010c0500")},
	{SHA512WithRSA, "sha512WithRSAEncryption", HashSHA2_512, false, false, oidSHA512WithRSA,
		mustUnhex("300d06092a864886f70d01010d0500")},
	{RSAPSSWithSHA256, "RSASSA-PSS with SHA-256", HashSHA2_256, false, true, oidRSAPSS,
		pssAlgorithmIdentifier(oidSHA256, 32)},
	{RSAPSSWithSHA384, "RSASSA-PSS with SHA-384", HashSHA2_384, false, true, oidRSAPSS,
		pssAlgorithmIdentifier(oidSHA384, 48)},
	{RSAPSSWithSHA512, "RSASSA-PSS with SHA-512", HashSHA2_512, false, true, oidRSAPSS,
		pssAlgorithmIdentifier(oidSHA512, 64)},
}

func mustUnhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic("ikecrypto: bad hex constant")
	}
	return b
}

func (s SignatureScheme) spec() *schemeSpec {
	if s == 0 || int(s) > len(schemeTable) {
		return nil
	}
	return &schemeTable[s-1]
}

// String returns the name of the AlgorithmIdentifier.
func (s SignatureScheme) String() string {
	if p := s.spec(); p != nil {
		return p.name
	}
	return fmt.Sprintf("SignatureScheme(%d)", uint8(s))
}

// Hash returns the scheme's hash as announced in SIGNATURE_HASH_ALGORITHMS,
// or 0 for an unknown scheme.
func (s SignatureScheme) Hash() HashAlgorithm {
	if p := s.spec(); p != nil {
		return p.hash
	}
	return 0
}

// AlgorithmIdentifier returns the DER AlgorithmIdentifier that names the
// scheme in Digital Signature Authentication Data, or nil for an unknown
// scheme. The slice is shared and must not be modified.
func (s SignatureScheme) AlgorithmIdentifier() []byte {
	if p := s.spec(); p != nil {
		return p.algID
	}
	return nil
}

// pssAlgorithmIdentifier encodes an id-RSASSA-PSS AlgorithmIdentifier with
// every parameter present (RFC 4055 §3.1, shaped like RFC 7427 A.4.3).
func pssAlgorithmIdentifier(hash asn1.ObjectIdentifier, saltLength int64) []byte {
	var b cryptobyte.Builder
	hashAlgID := func(b *cryptobyte.Builder) {
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1ObjectIdentifier(hash)
			b.AddASN1NULL()
		})
	}
	b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oidRSAPSS)
		b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
			b.AddASN1(cbasn1.Tag(0).Constructed().ContextSpecific(), hashAlgID)
			b.AddASN1(cbasn1.Tag(1).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1(cbasn1.SEQUENCE, func(b *cryptobyte.Builder) {
					b.AddASN1ObjectIdentifier(oidMGF1)
					hashAlgID(b)
				})
			})
			b.AddASN1(cbasn1.Tag(2).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1Int64(saltLength)
			})
			b.AddASN1(cbasn1.Tag(3).Constructed().ContextSpecific(), func(b *cryptobyte.Builder) {
				b.AddASN1Int64(1) // trailerFieldBC
			})
		})
	})
	return b.BytesOrPanic()
}

// cryptoHash maps a SIGNATURE_HASH_ALGORITHMS identifier to its hash.
func cryptoHash(h HashAlgorithm) crypto.Hash {
	switch h {
	case HashSHA1:
		return crypto.SHA1
	case HashSHA2_256:
		return crypto.SHA256
	case HashSHA2_384:
		return crypto.SHA384
	case HashSHA2_512:
		return crypto.SHA512
	}
	return 0
}

func digest(h crypto.Hash, msg []byte) []byte {
	d := h.New()
	d.Write(msg)
	return d.Sum(nil)
}

// ecdsaMethod describes AUTH methods 9, 10 and 11 (RFC 4754): a fixed curve
// and hash, and a signature that is r | s, each left-padded to the curve's
// size. RFC 4754 is not among the design references; the encoding is the one
// strongSwan sends and accepts.
type ecdsaMethod struct {
	curve elliptic.Curve
	hash  crypto.Hash
}

func ecdsaMethodOf(m AuthMethod) (ecdsaMethod, bool) {
	switch m {
	case AuthECDSASHA256P256:
		return ecdsaMethod{elliptic.P256(), crypto.SHA256}, true
	case AuthECDSASHA384P384:
		return ecdsaMethod{elliptic.P384(), crypto.SHA384}, true
	case AuthECDSASHA512P521:
		return ecdsaMethod{elliptic.P521(), crypto.SHA512}, true
	}
	return ecdsaMethod{}, false
}

func (e ecdsaMethod) size() int { return (e.curve.Params().BitSize + 7) / 8 }

// SignAuthData returns the Authentication Data of an AUTH payload signed by
// signer over signedOctets (see SignedOctets):
//
//   - AuthRSASignature: RSASSA-PKCS1-v1_5 with SHA-1 (RFC 7296 §3.8); signer
//     must hold an RSA key.
//   - AuthECDSASHA256P256, AuthECDSASHA384P384, AuthECDSASHA512P521: ECDSA
//     with the method's hash, encoded as r | s each left-padded to the curve
//     size (RFC 4754); signer must hold a key on the method's curve.
//   - AuthDigitalSignature: ASN.1 Length | AlgorithmIdentifier | signature
//     for scheme (RFC 7427 §3), the signature DER Ecdsa-Sig-Value for ECDSA;
//     ChooseSignatureScheme picks a scheme the peer accepts.
//
// scheme is only used with AuthDigitalSignature. rand is handed to
// signer.Sign (nil means crypto/rand.Reader); the standard library's signers
// ignore it since Go 1.26. A key that does not fit returns an error wrapping
// ErrSignatureKey.
func SignAuthData(rand io.Reader, signer crypto.Signer, method AuthMethod, scheme SignatureScheme, signedOctets []byte) ([]byte, error) {
	if rand == nil {
		rand = cryptorand.Reader
	}
	switch method {
	case AuthRSASignature:
		if _, ok := signer.Public().(*rsa.PublicKey); !ok {
			return nil, fmt.Errorf("%v needs an RSA key: %w", method, ErrSignatureKey)
		}
		sig, err := signer.Sign(rand, digest(crypto.SHA1, signedOctets), crypto.SHA1)
		if err != nil {
			return nil, fmt.Errorf("%v: %w: %w", method, ErrSigner, err)
		}
		return sig, nil
	case AuthECDSASHA256P256, AuthECDSASHA384P384, AuthECDSASHA512P521:
		em, _ := ecdsaMethodOf(method)
		if pub, ok := signer.Public().(*ecdsa.PublicKey); !ok || pub.Curve != em.curve {
			return nil, fmt.Errorf("%v needs an ECDSA key on %s: %w", method, em.curve.Params().Name, ErrSignatureKey)
		}
		der, err := signer.Sign(rand, digest(em.hash, signedOctets), em.hash)
		if err != nil {
			return nil, fmt.Errorf("%v: %w: %w", method, ErrSigner, err)
		}
		return ecdsaRawFromDER(der, em.size())
	case AuthDigitalSignature:
		p := scheme.spec()
		if p == nil {
			return nil, fmt.Errorf("%v: %w", scheme, ErrSignatureKey)
		}
		if err := checkSchemeKey(p, signer.Public()); err != nil {
			return nil, fmt.Errorf("%v: %w", err, ErrSignatureKey)
		}
		h := cryptoHash(p.hash)
		var opts crypto.SignerOpts = h
		if p.pss {
			opts = &rsa.PSSOptions{SaltLength: h.Size(), Hash: h}
		}
		sig, err := signer.Sign(rand, digest(h, signedOctets), opts)
		if err != nil {
			return nil, fmt.Errorf("%v: %w: %w", p.name, ErrSigner, err)
		}
		out := make([]byte, 0, 1+len(p.algID)+len(sig))
		out = append(append(append(out, byte(len(p.algID))), p.algID...), sig...)
		return out, nil
	}
	return nil, fmt.Errorf("%v is not a signature method: %w", method, ErrSignatureKey)
}

// checkSchemeKey tells whether pub is the kind of key the scheme needs.
func checkSchemeKey(p *schemeSpec, pub crypto.PublicKey) error {
	switch pub.(type) {
	case *ecdsa.PublicKey:
		if p.ecdsa {
			return nil
		}
	case *rsa.PublicKey:
		if !p.ecdsa {
			return nil
		}
	}
	return fmt.Errorf("%s does not fit a %T", p.name, pub)
}

// ecdsaRawFromDER converts a DER Ecdsa-Sig-Value to r | s, each left-padded
// to size octets.
func ecdsaRawFromDER(der []byte, size int) ([]byte, error) {
	var r, s big.Int
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() ||
		!seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() ||
		r.Sign() <= 0 || s.Sign() <= 0 || r.BitLen() > 8*size || s.BitLen() > 8*size {
		return nil, fmt.Errorf("malformed ECDSA signature: %w", ErrSigner)
	}
	out := make([]byte, 2*size)
	r.FillBytes(out[:size])
	s.FillBytes(out[size:])
	return out, nil
}

// ChooseSignatureScheme picks the Digital Signature scheme for a local key
// pub, given the hashes the peer announced in SIGNATURE_HASH_ALGORITHMS
// (RFC 7427 §4: a signer MUST use one the peer sent). ECDSA keys prefer the
// hash that matches the curve size, then SHA2-256, SHA2-384, SHA2-512. RSA
// keys use PKCS #1 v1.5, or RSASSA-PSS when rsaPSS is set, with SHA2-256,
// SHA2-384 or SHA2-512 in that order. No common hash returns an error
// wrapping ErrSignatureKey.
func ChooseSignatureScheme(pub crypto.PublicKey, peerHashes []HashAlgorithm, rsaPSS bool) (SignatureScheme, error) {
	var order []SignatureScheme
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P384():
			order = []SignatureScheme{ECDSAWithSHA384, ECDSAWithSHA256, ECDSAWithSHA512}
		case elliptic.P521():
			order = []SignatureScheme{ECDSAWithSHA512, ECDSAWithSHA256, ECDSAWithSHA384}
		default:
			order = []SignatureScheme{ECDSAWithSHA256, ECDSAWithSHA384, ECDSAWithSHA512}
		}
	case *rsa.PublicKey:
		order = []SignatureScheme{SHA256WithRSA, SHA384WithRSA, SHA512WithRSA}
		if rsaPSS {
			order = []SignatureScheme{RSAPSSWithSHA256, RSAPSSWithSHA384, RSAPSSWithSHA512}
		}
	default:
		return 0, fmt.Errorf("no signature scheme for a %T: %w", pub, ErrSignatureKey)
	}
	for _, s := range order {
		if slices.Contains(peerHashes, s.Hash()) {
			return s, nil
		}
	}
	return 0, fmt.Errorf("peer hashes %v share none with a %T: %w", peerHashes, pub, ErrSignatureKey)
}

// DigitalSignature is parsed Authentication Data of the Digital Signature
// method (RFC 7427 §3).
type DigitalSignature struct {
	// Scheme is the signature algorithm named by the AlgorithmIdentifier.
	Scheme SignatureScheme
	// SaltLength is the RSASSA-PSS salt length from the AlgorithmIdentifier
	// parameters (0 for other schemes).
	SaltLength int
	// Signature is the signature value; it aliases the parsed data.
	Signature []byte
}

// ParseDigitalSignature splits Digital Signature Authentication Data into
// its AlgorithmIdentifier and signature value and identifies the scheme
// (RFC 7427 §3). Data that is not well-formed returns an error wrapping
// ErrMalformedAuthData; a well-formed AlgorithmIdentifier this package does
// not accept (SHA-1, DSA, PSS with differing MGF1 hash, ...) returns one
// wrapping ErrAuthenticationFailed.
func ParseDigitalSignature(authData []byte) (DigitalSignature, error) {
	if len(authData) < 1 || len(authData) < 1+int(authData[0]) {
		return DigitalSignature{}, fmt.Errorf("ASN.1 Length beyond %d octets of data: %w", len(authData), ErrMalformedAuthData)
	}
	n := int(authData[0])
	algID, sig := authData[1:1+n], authData[1+n:]
	if len(sig) == 0 {
		return DigitalSignature{}, fmt.Errorf("no signature value: %w", ErrMalformedAuthData)
	}
	scheme, salt, err := parseAlgorithmIdentifier(algID)
	if err != nil {
		return DigitalSignature{}, err
	}
	return DigitalSignature{Scheme: scheme, SaltLength: salt, Signature: sig}, nil
}

// parseAlgorithmIdentifier identifies a signature AlgorithmIdentifier. The
// parameters are matched as the algorithm specification says, tolerating
// the other of the "absent"/NULL encodings RFC 7427 §3 mentions.
func parseAlgorithmIdentifier(der []byte) (SignatureScheme, int, error) {
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !in.ReadASN1(&seq, cbasn1.SEQUENCE) || !in.Empty() || !seq.ReadASN1ObjectIdentifier(&oid) {
		return 0, 0, fmt.Errorf("AlgorithmIdentifier: %w", ErrMalformedAuthData)
	}
	if oid.Equal(oidRSAPSS) {
		return parsePSSParams(seq)
	}
	if !seq.Empty() && (!seq.SkipASN1(cbasn1.NULL) || !seq.Empty()) {
		return 0, 0, fmt.Errorf("AlgorithmIdentifier %v parameters: %w", oid, ErrMalformedAuthData)
	}
	for i := range schemeTable {
		if p := &schemeTable[i]; !p.pss && p.oid.Equal(oid) {
			return p.scheme, 0, nil
		}
	}
	return 0, 0, fmt.Errorf("signature algorithm %v not accepted: %w", oid, ErrAuthenticationFailed)
}

// parsePSSParams reads RSASSA-PSS-params (RFC 4055 §3.1). The defaults
// (SHA-1, MGF1 with SHA-1) are refused, so the hash must be present.
func parsePSSParams(seq cryptobyte.String) (SignatureScheme, int, error) {
	var params cryptobyte.String
	if !seq.ReadASN1(&params, cbasn1.SEQUENCE) || !seq.Empty() {
		return 0, 0, fmt.Errorf("RSASSA-PSS parameters: %w", ErrMalformedAuthData)
	}
	var hashField, mgfField, saltField, trailerField cryptobyte.String
	var hasHash, hasMGF, hasSalt, hasTrailer bool
	if !params.ReadOptionalASN1(&hashField, &hasHash, cbasn1.Tag(0).Constructed().ContextSpecific()) ||
		!params.ReadOptionalASN1(&mgfField, &hasMGF, cbasn1.Tag(1).Constructed().ContextSpecific()) ||
		!params.ReadOptionalASN1(&saltField, &hasSalt, cbasn1.Tag(2).Constructed().ContextSpecific()) ||
		!params.ReadOptionalASN1(&trailerField, &hasTrailer, cbasn1.Tag(3).Constructed().ContextSpecific()) ||
		!params.Empty() {
		return 0, 0, fmt.Errorf("RSASSA-PSS parameters: %w", ErrMalformedAuthData)
	}
	if !hasHash || !hasMGF {
		return 0, 0, fmt.Errorf("RSASSA-PSS with default SHA-1 parameters not accepted: %w", ErrAuthenticationFailed)
	}
	hash, err := parseHashAlgorithm(&hashField)
	if err != nil || !hashField.Empty() {
		return 0, 0, fmt.Errorf("RSASSA-PSS hashAlgorithm: %w", ErrMalformedAuthData)
	}
	var mgf cryptobyte.String
	var mgfOID asn1.ObjectIdentifier
	if !mgfField.ReadASN1(&mgf, cbasn1.SEQUENCE) || !mgfField.Empty() || !mgf.ReadASN1ObjectIdentifier(&mgfOID) {
		return 0, 0, fmt.Errorf("RSASSA-PSS maskGenAlgorithm: %w", ErrMalformedAuthData)
	}
	mgfHash, err := parseHashAlgorithm(&mgf)
	if err != nil || !mgf.Empty() {
		return 0, 0, fmt.Errorf("RSASSA-PSS MGF1 hash: %w", ErrMalformedAuthData)
	}
	if !mgfOID.Equal(oidMGF1) || !mgfHash.Equal(hash) {
		return 0, 0, fmt.Errorf("RSASSA-PSS mask generation %v with %v: %w", mgfOID, mgfHash, ErrAuthenticationFailed)
	}
	salt := int64(20) // DEFAULT 20
	if hasSalt && (!saltField.ReadASN1Int64WithTag(&salt, cbasn1.INTEGER) || !saltField.Empty() || salt < 0 || salt > 1<<16) {
		return 0, 0, fmt.Errorf("RSASSA-PSS saltLength: %w", ErrMalformedAuthData)
	}
	if hasTrailer {
		var trailer int64
		if !trailerField.ReadASN1Int64WithTag(&trailer, cbasn1.INTEGER) || !trailerField.Empty() || trailer != 1 {
			return 0, 0, fmt.Errorf("RSASSA-PSS trailerField: %w", ErrMalformedAuthData)
		}
	}
	var scheme SignatureScheme
	switch {
	case hash.Equal(oidSHA256):
		scheme = RSAPSSWithSHA256
	case hash.Equal(oidSHA384):
		scheme = RSAPSSWithSHA384
	case hash.Equal(oidSHA512):
		scheme = RSAPSSWithSHA512
	default:
		return 0, 0, fmt.Errorf("RSASSA-PSS with hash %v not accepted: %w", hash, ErrAuthenticationFailed)
	}
	return scheme, int(salt), nil
}

// parseHashAlgorithm reads a hash AlgorithmIdentifier whose parameters are
// NULL or absent.
func parseHashAlgorithm(s *cryptobyte.String) (asn1.ObjectIdentifier, error) {
	var seq cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !s.ReadASN1(&seq, cbasn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&oid) {
		return nil, ErrMalformedAuthData
	}
	if !seq.Empty() && (!seq.SkipASN1(cbasn1.NULL) || !seq.Empty()) {
		return nil, ErrMalformedAuthData
	}
	return oid, nil
}

// VerifyAuthData checks a signature AUTH payload against the peer's public
// key pub (from its end-entity certificate) and the signed octets:
//
//   - AuthRSASignature: RSASSA-PKCS1-v1_5 with SHA-1 (RFC 7296 §3.8).
//   - AuthECDSASHA256P256, AuthECDSASHA384P384, AuthECDSASHA512P521: r | s
//     with the method's curve and hash (RFC 4754).
//   - AuthDigitalSignature: the scheme named by the AlgorithmIdentifier
//     (RFC 7427 §3), whose hash must be one of announced, the hashes this
//     side sent in SIGNATURE_HASH_ALGORITHMS; the method is not allowed at
//     all when announced is empty (RFC 7427 §3).
//
// Every failure returns an error wrapping ErrAuthenticationFailed or
// ErrMalformedAuthData, both AUTHENTICATION_FAILED towards the peer.
func VerifyAuthData(pub crypto.PublicKey, method AuthMethod, authData, signedOctets []byte, announced []HashAlgorithm) error {
	switch method {
	case AuthRSASignature:
		k, ok := pub.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("%v with a %T: %w", method, pub, ErrAuthenticationFailed)
		}
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA1, digest(crypto.SHA1, signedOctets), authData); err != nil {
			return fmt.Errorf("%v: %w", method, ErrAuthenticationFailed)
		}
		return nil
	case AuthECDSASHA256P256, AuthECDSASHA384P384, AuthECDSASHA512P521:
		em, _ := ecdsaMethodOf(method)
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || k.Curve != em.curve {
			return fmt.Errorf("%v with a %T: %w", method, pub, ErrAuthenticationFailed)
		}
		n := em.size()
		if len(authData) != 2*n {
			return fmt.Errorf("%v signature of %d octets, want %d: %w", method, len(authData), 2*n, ErrMalformedAuthData)
		}
		r := new(big.Int).SetBytes(authData[:n])
		s := new(big.Int).SetBytes(authData[n:])
		if !ecdsa.Verify(k, digest(em.hash, signedOctets), r, s) {
			return fmt.Errorf("%v: %w", method, ErrAuthenticationFailed)
		}
		return nil
	case AuthDigitalSignature:
		return verifyDigitalSignature(pub, authData, signedOctets, announced)
	}
	return fmt.Errorf("%v is not a signature method: %w", method, ErrAuthenticationFailed)
}

func verifyDigitalSignature(pub crypto.PublicKey, authData, signedOctets []byte, announced []HashAlgorithm) error {
	ds, err := ParseDigitalSignature(authData)
	if err != nil {
		return err
	}
	p := ds.Scheme.spec()
	if !slices.Contains(announced, p.hash) {
		return fmt.Errorf("%v uses %v, not announced in SIGNATURE_HASH_ALGORITHMS %v: %w", p.name, p.hash, announced, ErrAuthenticationFailed)
	}
	if err := checkSchemeKey(p, pub); err != nil {
		return fmt.Errorf("%v: %w", err, ErrAuthenticationFailed)
	}
	h := cryptoHash(p.hash)
	d := digest(h, signedOctets)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, d, ds.Signature) {
			err = ErrAuthenticationFailed
		}
	case *rsa.PublicKey:
		if p.pss {
			// A saltLength of 0 turns into rsa.PSSSaltLengthAuto, which
			// accepts a salt of any length, 0 included.
			err = rsa.VerifyPSS(k, h, d, ds.Signature, &rsa.PSSOptions{SaltLength: ds.SaltLength, Hash: h})
		} else {
			err = rsa.VerifyPKCS1v15(k, h, d, ds.Signature)
		}
	}
	if err != nil {
		return fmt.Errorf("%v: %w", p.name, ErrAuthenticationFailed)
	}
	return nil
}
