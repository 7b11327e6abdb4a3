package wire

import (
	"encoding/binary"
	"iter"
)

// Auth is the Authentication payload (RFC 7296 §3.8). The signed octets
// include the IDi/IDr payload body as received (RESERVED octets included), so
// the AUTH computation should take RawPayload.Body rather than re-encode an ID.
type Auth struct {
	Method AuthMethod
	// Data is the Authentication Data; for AuthDigitalSignature its layout is
	// DigitalSignature.
	Data []byte
}

// ParseAuth parses the body of an AUTH payload.
func ParseAuth(b []byte) (Auth, error) {
	if len(b) < 4 {
		return Auth{}, syntaxError(PayloadAUTH, 0, "AUTH payload shorter than 4 octets")
	}
	return Auth{Method: AuthMethod(b[0]), Data: orNil(b[4:])}, nil
}

// PayloadType returns PayloadAUTH.
func (Auth) PayloadType() PayloadType { return PayloadAUTH }

// Len returns the length of the AUTH payload body.
func (a Auth) Len() int { return 4 + len(a.Data) }

// Append appends the AUTH payload body to b.
func (a Auth) Append(b []byte) []byte {
	b = append(b, byte(a.Method), 0, 0, 0)
	return append(b, a.Data...)
}

// AuthMethod is the Auth Method of an AUTH payload (RFC 7296 §3.8).
type AuthMethod uint8

// Authentication methods (RFC 7296 §3.8, RFC 4754, RFC 7427 §3).
const (
	AuthRSASignature     AuthMethod = 1  // RSA Digital Signature (PKCS#1 v1.5)
	AuthSharedKeyMIC     AuthMethod = 2  // Shared Key Message Integrity Code
	AuthDSSSignature     AuthMethod = 3  // DSS Digital Signature
	AuthECDSASHA256P256  AuthMethod = 9  // ECDSA with SHA-256 on the P-256 curve
	AuthECDSASHA384P384  AuthMethod = 10 // ECDSA with SHA-384 on the P-384 curve
	AuthECDSASHA512P521  AuthMethod = 11 // ECDSA with SHA-512 on the P-521 curve
	AuthDigitalSignature AuthMethod = 14 // Digital Signature (RFC 7427)
)

var authNames = map[AuthMethod]string{
	AuthRSASignature:     "RSA Digital Signature",
	AuthSharedKeyMIC:     "Shared Key Message Integrity Code",
	AuthDSSSignature:     "DSS Digital Signature",
	AuthECDSASHA256P256:  "ECDSA with SHA-256 on the P-256 curve",
	AuthECDSASHA384P384:  "ECDSA with SHA-384 on the P-384 curve",
	AuthECDSASHA512P521:  "ECDSA with SHA-512 on the P-521 curve",
	AuthDigitalSignature: "Digital Signature",
}

// String returns the IANA name of the method.
func (m AuthMethod) String() string { return name(authNames, m, "AuthMethod") }

// DigitalSignature is the Authentication Data of method 14 (RFC 7427 §3): a
// one-octet ASN.1 Length, the DER AlgorithmIdentifier of that length, and the
// signature value.
type DigitalSignature struct {
	AlgorithmIdentifier []byte
	Signature           []byte
}

// ParseDigitalSignature parses the Authentication Data of an AUTH payload
// with method AuthDigitalSignature. The AlgorithmIdentifier is returned as
// received; matching it against known algorithms is the signer's business.
func ParseDigitalSignature(data []byte) (DigitalSignature, error) {
	if len(data) < 1 {
		return DigitalSignature{}, syntaxError(PayloadAUTH, 4, "Digital Signature data without ASN.1 Length")
	}
	n := int(data[0])
	if 1+n > len(data) {
		return DigitalSignature{}, syntaxError(PayloadAUTH, 4, "ASN.1 Length exceeds the Authentication Data")
	}
	return DigitalSignature{AlgorithmIdentifier: orNil(data[1 : 1+n : 1+n]), Signature: orNil(data[1+n:])}, nil
}

// Len returns the length of the Authentication Data.
func (s DigitalSignature) Len() int { return 1 + len(s.AlgorithmIdentifier) + len(s.Signature) }

// Append appends the Authentication Data to b. The one-octet ASN.1 Length
// limits the AlgorithmIdentifier to 255 octets; a longer one is an error.
func (s DigitalSignature) Append(b []byte) ([]byte, error) {
	if len(s.AlgorithmIdentifier) > 255 {
		return b, valueError("AlgorithmIdentifier of %d octets", len(s.AlgorithmIdentifier))
	}
	b = append(b, byte(len(s.AlgorithmIdentifier)))
	b = append(b, s.AlgorithmIdentifier...)
	return append(b, s.Signature...), nil
}

// HashAlgorithm is a hash algorithm identifier of the
// SIGNATURE_HASH_ALGORITHMS notify (RFC 7427 §4, §7).
type HashAlgorithm uint16

// Hash algorithm identifiers (RFC 7427 §7, RFC 8420).
const (
	HashSHA1     HashAlgorithm = 1
	HashSHA2_256 HashAlgorithm = 2
	HashSHA2_384 HashAlgorithm = 3
	HashSHA2_512 HashAlgorithm = 4
	HashIdentity HashAlgorithm = 5 // RFC 8420, for EdDSA
)

var hashNames = map[HashAlgorithm]string{
	HashSHA1: "SHA1", HashSHA2_256: "SHA2-256", HashSHA2_384: "SHA2-384", HashSHA2_512: "SHA2-512",
	HashIdentity: "Identity",
}

// String returns the IANA name of the hash algorithm.
func (h HashAlgorithm) String() string { return name(hashNames, h, "HashAlgorithm") }

// HashAlgorithms is a view of the data of a SIGNATURE_HASH_ALGORITHMS notify:
// 2-octet identifiers back to back.
type HashAlgorithms []byte

// ParseHashAlgorithms checks SIGNATURE_HASH_ALGORITHMS data: a whole number of
// 2-octet identifiers.
func ParseHashAlgorithms(data []byte) (HashAlgorithms, error) {
	if len(data)%2 != 0 {
		return nil, syntaxError(PayloadNotify, len(data)-1, "SIGNATURE_HASH_ALGORITHMS data is not a list of 2-octet identifiers")
	}
	return HashAlgorithms(data), nil
}

// AppendHashAlgorithms appends the 2-octet identifiers hs to b.
func AppendHashAlgorithms(b []byte, hs ...HashAlgorithm) []byte {
	for _, h := range hs {
		b = binary.BigEndian.AppendUint16(b, uint16(h))
	}
	return b
}

// Count returns the number of identifiers.
func (l HashAlgorithms) Count() int { return len(l) / 2 }

// At returns the i-th identifier.
func (l HashAlgorithms) At(i int) HashAlgorithm {
	return HashAlgorithm(binary.BigEndian.Uint16(l[2*i:]))
}

// Contains reports whether h is listed.
func (l HashAlgorithms) Contains(h HashAlgorithm) bool {
	for i := range l.Count() {
		if l.At(i) == h {
			return true
		}
	}
	return false
}

// All returns the identifiers in order.
func (l HashAlgorithms) All() iter.Seq[HashAlgorithm] {
	return func(yield func(HashAlgorithm) bool) {
		for i := range l.Count() {
			if !yield(l.At(i)) {
				return
			}
		}
	}
}
