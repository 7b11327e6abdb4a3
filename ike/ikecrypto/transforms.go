package ikecrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/sha512"
	"fmt"
	"hash"
	"io"

	"golang.org/x/crypto/chacha20poly1305"
)

// Transform is one entry of the transform catalog: an Encr, Integ, PRF or
// Group. Its methods name the transform as it appears in an SA payload.
type Transform interface {
	// Type returns the Transform Type (RFC 7296 §3.3.2).
	Type() TransformType
	// TransformID returns the Transform ID within its type.
	TransformID() uint16
	// KeyBits returns the value of the Key Length attribute in bits, or 0
	// for transforms that carry none (RFC 7296 §3.3.5).
	KeyBits() int
	// String returns a human-readable name.
	String() string
}

// The catalog entries are the transforms.
var (
	_ Transform = Encr{}
	_ Transform = Integ{}
	_ Transform = PRF{}
	_ Transform = Group{}
)

// Lookup returns the catalog entry for transform (t, id) with the given Key
// Length attribute in bits (0 when the transform has none). It returns an
// error wrapping ErrUnsupportedTransform for anything this package does not
// implement, including a Key Length on a transform that must not carry one
// (RFC 7296 §3.3.5). Proposal selection asks it about every transform of an
// IKE proposal; the result can be converted with a type switch. D-H group
// NONE (0, no PFS in a CHILD_SA proposal) and ESN transforms are not crypto
// and not in the catalog: the state machine handles them.
func Lookup(t TransformType, id uint16, keyBits int) (Transform, error) {
	if t != TransformTypeENCR && keyBits != 0 {
		return nil, fmt.Errorf("%v transform %d with Key Length %d: %w", t, id, keyBits, ErrUnsupportedTransform)
	}
	switch t {
	case TransformTypeENCR:
		return LookupEncr(EncrID(id), keyBits)
	case TransformTypePRF:
		return LookupPRF(PRFID(id))
	case TransformTypeINTEG:
		return LookupInteg(IntegID(id))
	case TransformTypeDH:
		return LookupGroup(DHGroup(id))
	}
	return nil, fmt.Errorf("%v transform %d: %w", t, id, ErrUnsupportedTransform)
}

// encrSpec is one row of the encryption catalog.
type encrSpec struct {
	id       EncrID
	keyBits  int // Key Length attribute, 0 when the transform has none
	keySize  int // cipher key octets
	saltSize int // salt octets after the key in SK_e / KEYMAT (AEAD only)
	ivSize   int // explicit IV octets in the Encrypted payload
	tagSize  int // AEAD tag octets, 0 for a block cipher
	// blockSize is the alignment of the encrypted data (RFC 7296 §3.14);
	// 1 for AEAD, which needs no padding (RFC 5282 §3, RFC 7634 §3).
	blockSize int
	newAEAD   func(key []byte) (cipher.AEAD, error)
	newBlock  func(key []byte) (cipher.Block, error)
	esp       bool   // the user-space ESP dataplane implements it
	name      string // e.g. "AES-GCM-16-256"
	// keyLogName is the name tshark 4.0's ikev2_decryption_table uses, ""
	// if tshark cannot decrypt with it.
	keyLogName string
}

func newGCM(key []byte) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b) // 16-octet tag, 12-octet nonce: ENCR_AES_GCM_16
}

var encrCatalog = [...]encrSpec{
	{id: EncrAESGCM16, keyBits: 128, keySize: 16, saltSize: 4, ivSize: 8, tagSize: 16, blockSize: 1,
		newAEAD: newGCM, esp: true, name: "AES-GCM-16-128", keyLogName: "AES-GCM-128 with 16 octet ICV [RFC5282]"},
	{id: EncrAESGCM16, keyBits: 256, keySize: 32, saltSize: 4, ivSize: 8, tagSize: 16, blockSize: 1,
		newAEAD: newGCM, esp: true, name: "AES-GCM-16-256", keyLogName: "AES-GCM-256 with 16 octet ICV [RFC5282]"},
	// tshark 4.0 has no ChaCha20-Poly1305 in its IKEv2 decryption table.
	{id: EncrChaCha20Poly1305, keySize: chacha20poly1305.KeySize, saltSize: 4, ivSize: 8, tagSize: 16, blockSize: 1,
		newAEAD: chacha20poly1305.New, esp: true, name: "CHACHA20-POLY1305"},
	{id: EncrAESCBC, keyBits: 128, keySize: 16, ivSize: aes.BlockSize, blockSize: aes.BlockSize,
		newBlock: aes.NewCipher, name: "AES-CBC-128", keyLogName: "AES-CBC-128 [RFC3602]"},
	{id: EncrAESCBC, keyBits: 192, keySize: 24, ivSize: aes.BlockSize, blockSize: aes.BlockSize,
		newBlock: aes.NewCipher, name: "AES-CBC-192", keyLogName: "AES-CBC-192 [RFC3602]"},
	{id: EncrAESCBC, keyBits: 256, keySize: 32, ivSize: aes.BlockSize, blockSize: aes.BlockSize,
		newBlock: aes.NewCipher, name: "AES-CBC-256", keyLogName: "AES-CBC-256 [RFC3602]"},
}

// Encr is an encryption transform with its key length (RFC 7296 §3.3.2): an
// AEAD (AES-GCM with a 16-octet ICV, ChaCha20-Poly1305) or AES-CBC, which
// needs a separate Integ. An Encr is an immutable catalog entry; obtain one
// from LookupEncr. The zero Encr is not usable.
type Encr struct{ s *encrSpec }

// LookupEncr returns the encryption transform with the given ID and Key
// Length attribute in bits: 128, 192 or 256 for ENCR_AES_CBC, 128 or 256 for
// ENCR_AES_GCM_16, and 0 (no attribute, RFC 7296 §3.3.5) for
// ENCR_CHACHA20_POLY1305. Anything else returns an error wrapping
// ErrUnsupportedTransform.
func LookupEncr(id EncrID, keyBits int) (Encr, error) {
	for i := range encrCatalog {
		if encrCatalog[i].id == id && encrCatalog[i].keyBits == keyBits {
			return Encr{&encrCatalog[i]}, nil
		}
	}
	return Encr{}, fmt.Errorf("%v with Key Length %d: %w", id, keyBits, ErrUnsupportedTransform)
}

// ID returns the encryption transform ID.
func (e Encr) ID() EncrID { return e.s.id }

// Type returns TransformTypeENCR.
func (e Encr) Type() TransformType { return TransformTypeENCR }

// TransformID returns the transform ID as it appears in an SA payload.
func (e Encr) TransformID() uint16 { return uint16(e.s.id) }

// KeyBits returns the Key Length attribute in bits, 0 for ChaCha20-Poly1305.
func (e Encr) KeyBits() int { return e.s.keyBits }

// String returns a short name such as "AES-GCM-16-256".
func (e Encr) String() string { return e.s.name }

// AEAD reports whether the transform is an authenticated encryption algorithm,
// which is negotiated without an integrity transform (RFC 5282 §8).
func (e Encr) AEAD() bool { return e.s.newAEAD != nil }

// KeySize returns the length of SK_ei and SK_er in octets: the cipher key,
// followed for AEAD by the 4-octet salt (RFC 5282 §7.1, RFC 7634 §3).
func (e Encr) KeySize() int { return e.s.keySize + e.s.saltSize }

// SaltSize returns the octets of salt at the end of the key material (4 for
// AEAD, 0 for AES-CBC).
func (e Encr) SaltSize() int { return e.s.saltSize }

// IVSize returns the length of the IV carried in the Encrypted payload.
func (e Encr) IVSize() int { return e.s.ivSize }

// integSpec is one row of the integrity catalog.
type integSpec struct {
	id         IntegID
	newHash    func() hash.Hash
	keySize    int // SK_a octets (RFC 4868 §2.1.1: the hash output size)
	icvSize    int // truncated ICV octets (RFC 4868 §2.6)
	keyLogName string
}

var integCatalog = [...]integSpec{
	{IntegNone, nil, 0, 0, "NONE [RFC4306]"},
	{IntegHMACSHA2_256_128, sha256.New, 32, 16, "HMAC_SHA2_256_128 [RFC4868]"},
	{IntegHMACSHA2_384_192, sha512.New384, 48, 24, "HMAC_SHA2_384_192 [RFC4868]"},
	{IntegHMACSHA2_512_256, sha512.New, 64, 32, "HMAC_SHA2_512_256 [RFC4868]"},
}

// Integ is an integrity transform (RFC 7296 §3.3.2, RFC 4868 §2): truncated
// HMAC-SHA2, or NONE beside an AEAD cipher. An Integ is an immutable catalog
// entry; obtain one from LookupInteg. The zero Integ is not usable.
type Integ struct{ s *integSpec }

// LookupInteg returns the integrity transform with the given ID (IntegNone
// included), or an error wrapping ErrUnsupportedTransform.
func LookupInteg(id IntegID) (Integ, error) {
	for i := range integCatalog {
		if integCatalog[i].id == id {
			return Integ{&integCatalog[i]}, nil
		}
	}
	return Integ{}, fmt.Errorf("%v: %w", id, ErrUnsupportedTransform)
}

// ID returns the integrity transform ID.
func (a Integ) ID() IntegID { return a.s.id }

// Type returns TransformTypeINTEG.
func (a Integ) Type() TransformType { return TransformTypeINTEG }

// TransformID returns the transform ID as it appears in an SA payload.
func (a Integ) TransformID() uint16 { return uint16(a.s.id) }

// KeyBits returns 0: integrity transforms carry no Key Length attribute.
func (a Integ) KeyBits() int { return 0 }

// String returns the IANA name of the transform.
func (a Integ) String() string { return a.s.id.String() }

// KeySize returns the length of SK_ai and SK_ar in octets (0 for NONE).
func (a Integ) KeySize() int { return a.s.keySize }

// ICVSize returns the length of the truncated Integrity Checksum Data.
func (a Integ) ICVSize() int { return a.s.icvSize }

// Suite is the set of transforms that protects an IKE SA: encryption,
// integrity (NONE with an AEAD cipher) and the PRF (RFC 7296 §3.3.3). The D-H
// group is negotiated in the same proposal but takes no part in protection;
// see LookupGroup. A Suite is an immutable value.
type Suite struct {
	encr  Encr
	integ Integ
	prf   PRF
}

// NewSuite returns the suite for a selected IKE proposal. encrKeyBits is the
// Key Length attribute of the ENCR transform (0 when absent). An AEAD cipher
// must come with IntegNone (RFC 5282 §8, RFC 7634 §4) and AES-CBC with a real
// integrity transform; other combinations return an error wrapping
// ErrUnsupportedTransform.
func NewSuite(encr EncrID, encrKeyBits int, integ IntegID, prf PRFID) (Suite, error) {
	e, err := LookupEncr(encr, encrKeyBits)
	if err != nil {
		return Suite{}, err
	}
	a, err := LookupInteg(integ)
	if err != nil {
		return Suite{}, err
	}
	p, err := LookupPRF(prf)
	if err != nil {
		return Suite{}, err
	}
	if e.AEAD() != (integ == IntegNone) {
		return Suite{}, fmt.Errorf("%v with %v: %w", e, a, ErrUnsupportedTransform)
	}
	return Suite{e, a, p}, nil
}

// Encr returns the suite's encryption transform.
func (s Suite) Encr() Encr { return s.encr }

// Integ returns the suite's integrity transform (NONE for AEAD).
func (s Suite) Integ() Integ { return s.integ }

// PRF returns the suite's pseudorandom function.
func (s Suite) PRF() PRF { return s.prf }

// String returns the suite in the usual "ENCR/INTEG/PRF" form.
func (s Suite) String() string {
	if s.encr.AEAD() {
		return s.encr.String() + "/" + s.prf.String()
	}
	return s.encr.String() + "/" + s.integ.String() + "/" + s.prf.String()
}

// KeyMaterialSize returns how many octets of prf+ output the seven SK_* keys
// take (RFC 7296 §2.14).
func (s Suite) KeyMaterialSize() int {
	return 3*s.prf.KeySize() + 2*s.integ.KeySize() + 2*s.encr.KeySize()
}

// NewSKPair returns the SK protectors of one end of an IKE SA: outbound seals
// with SK_ei/SK_ai when isInitiator is true (SK_er/SK_ar otherwise) and
// inbound opens with the other pair. isInitiator means the original initiator
// of this IKE SA, which after an IKE SA rekey is the peer that initiated the
// rekey (RFC 7296 §2.18). rand supplies AES-CBC IVs (nil means
// crypto/rand.Reader).
func (s Suite) NewSKPair(k *Keys, isInitiator bool, rand io.Reader) (outbound, inbound *SK, err error) {
	ei, ai, er, ar := k.SKei, k.SKai, k.SKer, k.SKar
	if !isInitiator {
		ei, ai, er, ar = er, ar, ei, ai
	}
	if outbound, err = s.NewSK(ei, ai, rand); err != nil {
		return nil, nil, err
	}
	if inbound, err = s.NewSK(er, ar, rand); err != nil {
		return nil, nil, err
	}
	return outbound, inbound, nil
}

// ESPSuite is a set of ESP transforms for a CHILD_SA as far as key material
// goes (RFC 7296 §2.17). Only the transforms of the user-space dataplane are
// in the catalog: AES-GCM-16 with 128 or 256-bit keys and ChaCha20-Poly1305,
// each with a 4-octet salt after the key (RFC 4106 §8.1, RFC 7634 §2).
type ESPSuite struct {
	encr  *encrSpec
	integ *integSpec
}

// LookupESP returns the ESP suite for the selected CHILD_SA proposal, or an
// error wrapping ErrUnsupportedTransform. The AEAD ciphers of the catalog
// require IntegNone.
func LookupESP(encr EncrID, encrKeyBits int, integ IntegID) (ESPSuite, error) {
	e, err := LookupEncr(encr, encrKeyBits)
	if err != nil {
		return ESPSuite{}, err
	}
	a, err := LookupInteg(integ)
	if err != nil {
		return ESPSuite{}, err
	}
	if !e.s.esp || e.AEAD() != (integ == IntegNone) {
		return ESPSuite{}, fmt.Errorf("ESP %v with %v: %w", e, a, ErrUnsupportedTransform)
	}
	return ESPSuite{e.s, a.s}, nil
}

// Encr returns the ESP encryption transform ID.
func (e ESPSuite) Encr() EncrID { return e.encr.id }

// EncrKeyBits returns the Key Length attribute of the encryption transform.
func (e ESPSuite) EncrKeyBits() int { return e.encr.keyBits }

// Integ returns the ESP integrity transform ID (IntegNone for AEAD).
func (e ESPSuite) Integ() IntegID { return e.integ.id }

// String returns a short name such as "AES-GCM-16-256".
func (e ESPSuite) String() string {
	if e.integ.id == IntegNone {
		return e.encr.name
	}
	return e.encr.name + "/" + e.integ.id.String()
}

// EncrKeySize returns the encryption key material per direction in octets,
// salt included.
func (e ESPSuite) EncrKeySize() int { return e.encr.keySize + e.encr.saltSize }

// SaltSize returns the octets of salt at the end of each encryption key.
func (e ESPSuite) SaltSize() int { return e.encr.saltSize }

// IntegKeySize returns the integrity key material per direction in octets.
func (e ESPSuite) IntegKeySize() int { return e.integ.keySize }

// KEYMATSize returns how many octets of KEYMAT the CHILD_SA pair takes: both
// directions' encryption and integrity keys (RFC 7296 §2.17).
func (e ESPSuite) KEYMATSize() int { return 2 * (e.EncrKeySize() + e.IntegKeySize()) }
