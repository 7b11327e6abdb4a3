package ikecrypto

import "strconv"

// TransformType is the Transform Type of an SA payload transform substructure
// (RFC 7296 §3.3.2).
type TransformType uint8

// Transform types (RFC 7296 §3.3.2).
const (
	TransformTypeENCR  TransformType = 1 // Encryption Algorithm
	TransformTypePRF   TransformType = 2 // Pseudorandom Function
	TransformTypeINTEG TransformType = 3 // Integrity Algorithm
	TransformTypeDH    TransformType = 4 // Diffie-Hellman Group
	TransformTypeESN   TransformType = 5 // Extended Sequence Numbers
)

// String returns the RFC 7296 abbreviation of the transform type.
func (t TransformType) String() string {
	switch t {
	case TransformTypeENCR:
		return "ENCR"
	case TransformTypePRF:
		return "PRF"
	case TransformTypeINTEG:
		return "INTEG"
	case TransformTypeDH:
		return "D-H"
	case TransformTypeESN:
		return "ESN"
	}
	return "TransformType(" + strconv.Itoa(int(t)) + ")"
}

// EncrID is a Transform Type 1 (encryption algorithm) transform ID.
type EncrID uint16

// Encryption algorithm transform IDs implemented by this package
// (RFC 7296 §3.3.2, RFC 5282 §7, RFC 7634 §4).
const (
	EncrAESCBC           EncrID = 12 // ENCR_AES_CBC, Key Length 128/192/256
	EncrAESGCM16         EncrID = 20 // ENCR_AES_GCM_16, Key Length 128/256
	EncrChaCha20Poly1305 EncrID = 28 // ENCR_CHACHA20_POLY1305, no Key Length
)

// String returns the IANA name of the transform.
func (id EncrID) String() string {
	switch id {
	case EncrAESCBC:
		return "ENCR_AES_CBC"
	case EncrAESGCM16:
		return "ENCR_AES_GCM_16"
	case EncrChaCha20Poly1305:
		return "ENCR_CHACHA20_POLY1305"
	}
	return "ENCR(" + strconv.Itoa(int(id)) + ")"
}

// PRFID is a Transform Type 2 (pseudorandom function) transform ID.
type PRFID uint16

// Pseudorandom function transform IDs implemented by this package
// (RFC 7296 §3.3.2, RFC 4868 §4).
const (
	PRFHMACSHA1     PRFID = 2 // PRF_HMAC_SHA1
	PRFHMACSHA2_256 PRFID = 5 // PRF_HMAC_SHA2_256
	PRFHMACSHA2_384 PRFID = 6 // PRF_HMAC_SHA2_384
	PRFHMACSHA2_512 PRFID = 7 // PRF_HMAC_SHA2_512
)

// String returns the IANA name of the transform.
func (id PRFID) String() string {
	switch id {
	case PRFHMACSHA1:
		return "PRF_HMAC_SHA1"
	case PRFHMACSHA2_256:
		return "PRF_HMAC_SHA2_256"
	case PRFHMACSHA2_384:
		return "PRF_HMAC_SHA2_384"
	case PRFHMACSHA2_512:
		return "PRF_HMAC_SHA2_512"
	}
	return "PRF(" + strconv.Itoa(int(id)) + ")"
}

// IntegID is a Transform Type 3 (integrity algorithm) transform ID.
type IntegID uint16

// Integrity algorithm transform IDs implemented by this package
// (RFC 7296 §3.3.2, RFC 4868 §2).
const (
	IntegNone             IntegID = 0  // NONE, the only value allowed beside an AEAD cipher
	IntegHMACSHA2_256_128 IntegID = 12 // AUTH_HMAC_SHA2_256_128
	IntegHMACSHA2_384_192 IntegID = 13 // AUTH_HMAC_SHA2_384_192
	IntegHMACSHA2_512_256 IntegID = 14 // AUTH_HMAC_SHA2_512_256
)

// String returns the IANA name of the transform.
func (id IntegID) String() string {
	switch id {
	case IntegNone:
		return "NONE"
	case IntegHMACSHA2_256_128:
		return "AUTH_HMAC_SHA2_256_128"
	case IntegHMACSHA2_384_192:
		return "AUTH_HMAC_SHA2_384_192"
	case IntegHMACSHA2_512_256:
		return "AUTH_HMAC_SHA2_512_256"
	}
	return "INTEG(" + strconv.Itoa(int(id)) + ")"
}

// DHGroup is a Transform Type 4 (Diffie-Hellman group) transform ID, also the
// D-H Group Num of a KE payload (RFC 7296 §3.4).
type DHGroup uint16

// Diffie-Hellman groups implemented by this package (RFC 3526 via
// RFC 7296 §3.3.2, RFC 5903 §3, RFC 8031 §4).
const (
	MODP2048   DHGroup = 14 // 2048-bit MODP Group
	ECP256     DHGroup = 19 // 256-bit random ECP group (NIST P-256)
	ECP384     DHGroup = 20 // 384-bit random ECP group (NIST P-384)
	ECP521     DHGroup = 21 // 521-bit random ECP group (NIST P-521)
	Curve25519 DHGroup = 31 // Curve25519 (X25519)
)

// String returns the group's usual short name.
func (g DHGroup) String() string {
	switch g {
	case MODP2048:
		return "MODP_2048"
	case ECP256:
		return "ECP_256"
	case ECP384:
		return "ECP_384"
	case ECP521:
		return "ECP_521"
	case Curve25519:
		return "CURVE_25519"
	}
	return "DH(" + strconv.Itoa(int(g)) + ")"
}

// AuthMethod is the Auth Method of an AUTH payload (RFC 7296 §3.8).
type AuthMethod uint8

// Authentication methods implemented by this package (RFC 7296 §3.8,
// RFC 4754, RFC 7427 §3).
const (
	AuthRSASignature     AuthMethod = 1  // RSA Digital Signature (PKCS#1 v1.5, SHA-1)
	AuthSharedKeyMIC     AuthMethod = 2  // Shared Key Message Integrity Code
	AuthECDSASHA256P256  AuthMethod = 9  // ECDSA with SHA-256 on the P-256 curve
	AuthECDSASHA384P384  AuthMethod = 10 // ECDSA with SHA-384 on the P-384 curve
	AuthECDSASHA512P521  AuthMethod = 11 // ECDSA with SHA-512 on the P-521 curve
	AuthDigitalSignature AuthMethod = 14 // Digital Signature (RFC 7427)
)

// String returns the IANA name of the method.
func (m AuthMethod) String() string {
	switch m {
	case AuthRSASignature:
		return "RSA Digital Signature"
	case AuthSharedKeyMIC:
		return "Shared Key Message Integrity Code"
	case AuthECDSASHA256P256:
		return "ECDSA with SHA-256 on the P-256 curve"
	case AuthECDSASHA384P384:
		return "ECDSA with SHA-384 on the P-384 curve"
	case AuthECDSASHA512P521:
		return "ECDSA with SHA-512 on the P-521 curve"
	case AuthDigitalSignature:
		return "Digital Signature"
	}
	return "AuthMethod(" + strconv.Itoa(int(m)) + ")"
}

// HashAlgorithm is a hash algorithm identifier carried in the
// SIGNATURE_HASH_ALGORITHMS notify (RFC 7427 §4, §7).
type HashAlgorithm uint16

// Hash algorithm identifiers (RFC 7427 §7).
const (
	HashSHA1     HashAlgorithm = 1 // SHA1 (never used for signing here, RFC 8247 §3.2)
	HashSHA2_256 HashAlgorithm = 2 // SHA2-256
	HashSHA2_384 HashAlgorithm = 3 // SHA2-384
	HashSHA2_512 HashAlgorithm = 4 // SHA2-512
)

// String returns the IANA name of the hash algorithm.
func (h HashAlgorithm) String() string {
	switch h {
	case HashSHA1:
		return "SHA1"
	case HashSHA2_256:
		return "SHA2-256"
	case HashSHA2_384:
		return "SHA2-384"
	case HashSHA2_512:
		return "SHA2-512"
	}
	return "HashAlgorithm(" + strconv.Itoa(int(h)) + ")"
}

// IDType is the ID Type of an Identification payload (RFC 7296 §3.5). Only the
// types a certificate can be matched against are named here.
type IDType uint8

// Identification types (RFC 7296 §3.5).
const (
	IDIPv4Addr   IDType = 1  // ID_IPV4_ADDR
	IDFQDN       IDType = 2  // ID_FQDN
	IDRFC822Addr IDType = 3  // ID_RFC822_ADDR
	IDIPv6Addr   IDType = 5  // ID_IPV6_ADDR
	IDDERASN1DN  IDType = 9  // ID_DER_ASN1_DN
	IDDERASN1GN  IDType = 10 // ID_DER_ASN1_GN
	IDKeyID      IDType = 11 // ID_KEY_ID
)

// String returns the RFC 7296 name of the ID type.
func (t IDType) String() string {
	switch t {
	case IDIPv4Addr:
		return "ID_IPV4_ADDR"
	case IDFQDN:
		return "ID_FQDN"
	case IDRFC822Addr:
		return "ID_RFC822_ADDR"
	case IDIPv6Addr:
		return "ID_IPV6_ADDR"
	case IDDERASN1DN:
		return "ID_DER_ASN1_DN"
	case IDDERASN1GN:
		return "ID_DER_ASN1_GN"
	case IDKeyID:
		return "ID_KEY_ID"
	}
	return "IDType(" + strconv.Itoa(int(t)) + ")"
}
