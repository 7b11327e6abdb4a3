package ikecrypto

import (
	"crypto/ecdh"
	cryptorand "crypto/rand"
	"fmt"
	"io"
	"math/big"
)

// groupKind tells the arithmetic of a group apart.
type groupKind uint8

const (
	kindMODP groupKind = iota + 1
	kindECP
	kindX25519
)

// groupSpec is one row of the D-H catalog.
type groupSpec struct {
	id   DHGroup
	kind groupKind
	// publicSize is the length of the Key Exchange Data: x | y for ECP
	// (RFC 5903 §7), the u-coordinate for Curve25519 (RFC 8031 §3.1), the
	// modulus length for MODP (RFC 7296 §3.4).
	publicSize int
	// secretSize is the length of g^ir: x only for ECP, the modulus length
	// for MODP.
	secretSize int
	curve      ecdh.Curve // ECP and Curve25519
	scalarSize int        // octets read for a private scalar
	scalarMask byte       // mask on the first scalar octet (P-521 has 521 bits)
	p          *big.Int   // MODP prime
	pMinus1    *big.Int
}

// modp2048 is the 2048-bit MODP group prime of RFC 3526 §3 (group 14); the
// generator is 2.
var modp2048 = mustHex("FFFFFFFFFFFFFFFFC90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B139B22514A08798E3404DDEF9519B3CD3A431B302B0A6DF25F14374FE1356D6D51C245E485B576625E7EC6F44C42E9A637ED6B0BFF5CB6F406B7EDEE386BFB5A899FA5AE9F24117C4B1FE649286651ECE45B3DC2007CB8A163BF0598DA48361C55D39A69163FA8FD24CF5F83655D23DCA3AD961C62F356208552BB9ED529077096966D670C354E4ABC9804F1746C08CA18217C32905E462E36CE3BE39E772C180E86039B2783A2EC07A28FB5C55DF06F4C52C9DE2BCBF6955817183995497CEA956AE515D2261898FA051015728E5A8AACAA68FFFFFFFFFFFFFFFF")

func mustHex(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("ikecrypto: bad prime constant")
	}
	return n
}

// modpExponentSize is the length of a MODP private exponent: 256 bits, twice
// the 112-bit strength of a 2048-bit safe-prime group (NIST SP 800-56A rev. 3
// §5.6.1.1.1; RFC 3526 §8 estimates 110-160 bits), which keeps the
// exponentiation four times cheaper than a full-size exponent.
const modpExponentSize = 32

var groupCatalog = [...]groupSpec{
	{id: MODP2048, kind: kindMODP, publicSize: 256, secretSize: 256, scalarSize: modpExponentSize, scalarMask: 0xff,
		p: modp2048, pMinus1: new(big.Int).Sub(modp2048, big.NewInt(1))},
	{id: ECP256, kind: kindECP, publicSize: 64, secretSize: 32, curve: ecdh.P256(), scalarSize: 32, scalarMask: 0xff},
	{id: ECP384, kind: kindECP, publicSize: 96, secretSize: 48, curve: ecdh.P384(), scalarSize: 48, scalarMask: 0xff},
	{id: ECP521, kind: kindECP, publicSize: 132, secretSize: 66, curve: ecdh.P521(), scalarSize: 66, scalarMask: 0x01},
	{id: Curve25519, kind: kindX25519, publicSize: 32, secretSize: 32, curve: ecdh.X25519(), scalarSize: 32, scalarMask: 0xff},
}

// Group is a Diffie-Hellman group (RFC 7296 §3.3.2): MODP-2048, the NIST
// curves P-256, P-384 and P-521 as ECP groups (RFC 5903) or Curve25519
// (RFC 8031). A Group is an immutable catalog entry; obtain one from
// LookupGroup. The zero Group is not usable.
//
// The elliptic-curve groups run on crypto/ecdh, which is constant time. The
// MODP group uses math/big, which is not: its exponentiation time depends on
// the (ephemeral) exponent. Prefer the curve groups; MODP-2048 is there
// because RFC 8247 §2.4 makes it a MUST.
type Group struct{ s *groupSpec }

// LookupGroup returns the D-H group with the given number, or an error
// wrapping ErrUnsupportedTransform.
func LookupGroup(id DHGroup) (Group, error) {
	for i := range groupCatalog {
		if groupCatalog[i].id == id {
			return Group{&groupCatalog[i]}, nil
		}
	}
	return Group{}, fmt.Errorf("%v: %w", id, ErrUnsupportedTransform)
}

// ID returns the group number.
func (g Group) ID() DHGroup { return g.s.id }

// Type returns TransformTypeDH.
func (g Group) Type() TransformType { return TransformTypeDH }

// TransformID returns the group number as it appears in an SA payload.
func (g Group) TransformID() uint16 { return uint16(g.s.id) }

// KeyBits returns 0: D-H transforms carry no Key Length attribute.
func (g Group) KeyBits() int { return 0 }

// String returns the group's short name.
func (g Group) String() string { return g.s.id.String() }

// PublicValueSize returns the length of the Key Exchange Data in a KE payload
// of this group.
func (g Group) PublicValueSize() int { return g.s.publicSize }

// SharedSecretSize returns the length of g^ir.
func (g Group) SharedSecretSize() int { return g.s.secretSize }

// maxScalarTries bounds the rejection sampling of private scalars. A good
// random source needs more than one try with probability below 2^-32 for
// every group here; a source that keeps failing is broken.
const maxScalarTries = 64

// GenerateKey returns a fresh private key read from rand (nil means
// crypto/rand.Reader). The scalar is read from rand by this package, not by
// crypto/ecdh, so a deterministic reader gives a deterministic key: for the
// ECP groups a big-endian scalar below the group order (bits above 521
// masked for P-521, retried when out of range), for Curve25519 the 32 octets
// as the X25519 private key (clamped by X25519), for MODP a 256-bit exponent.
func (g Group) GenerateKey(rand io.Reader) (*PrivateKey, error) {
	if rand == nil {
		rand = cryptorand.Reader
	}
	s := g.s
	buf := make([]byte, s.scalarSize)
	// The key keeps its own copy of the scalar (math/big and crypto/ecdh
	// copy it): wipe the one read.
	defer clear(buf)
	for range maxScalarTries {
		if _, err := io.ReadFull(rand, buf); err != nil {
			return nil, fmt.Errorf("%v private key: %w: %w", s.id, ErrRandomSource, err)
		}
		buf[0] &= s.scalarMask
		if s.kind == kindMODP {
			x := new(big.Int).SetBytes(buf)
			if x.Cmp(big.NewInt(1)) <= 0 {
				continue
			}
			y := new(big.Int).Exp(big.NewInt(2), x, s.p)
			return &PrivateKey{group: g, x: x, public: y.FillBytes(make([]byte, s.publicSize))}, nil
		}
		priv, err := s.curve.NewPrivateKey(buf)
		if err != nil {
			continue // zero or not below the order: draw again
		}
		pub := priv.PublicKey().Bytes()
		if s.kind == kindECP {
			pub = pub[1:] // drop the SEC1 0x04 prefix (RFC 5903 §7)
		}
		return &PrivateKey{group: g, ecdh: priv, public: pub}, nil
	}
	return nil, fmt.Errorf("%v private key: no valid scalar in %d tries: %w", s.id, maxScalarTries, ErrRandomSource)
}

// PrivateKey is an ephemeral D-H private key with its public value. Once the
// shared secret is computed, Zero destroys the private part.
type PrivateKey struct {
	group  Group
	ecdh   *ecdh.PrivateKey // ECP and Curve25519
	x      *big.Int         // MODP exponent
	public []byte
}

// Zero destroys the private part of the key once the shared secret has been
// computed: the MODP exponent is overwritten with zeros; an elliptic-curve
// key is only dropped, because crypto/ecdh keeps its scalar in memory it
// gives no way to overwrite (the garbage collector reclaims it). The public
// value stays readable; SharedSecret fails with ErrKeyZeroed afterwards.
// Temporaries of the math/big exponentiations that used the exponent are
// out of reach too.
func (k *PrivateKey) Zero() {
	if k == nil {
		return
	}
	if k.x != nil {
		w := k.x.Bits()
		clear(w[:cap(w)])
		k.x.SetInt64(0)
		k.x = nil
	}
	k.ecdh = nil
}

// Group returns the key's group.
func (k *PrivateKey) Group() Group { return k.group }

// PublicValue returns the Key Exchange Data for the KE payload: x | y without
// the SEC1 0x04 prefix for ECP (RFC 5903 §7), the 32-octet u-coordinate for
// Curve25519 (RFC 8031 §3.1), g^x left-padded to the modulus length for MODP
// (RFC 7296 §3.4). The slice belongs to the key and must not be modified.
func (k *PrivateKey) PublicValue() []byte { return k.public }

// SharedSecret checks the peer's Key Exchange Data and returns g^ir
// (RFC 7296 §2.14): the x-coordinate for ECP (RFC 5903 §7), the X25519 output
// for Curve25519 (RFC 8031 §2), and the MODP value left-padded to the modulus
// length. The checks are those of RFC 6989 §2 and RFC 8031 §3.2: exact
// length; for ECP a point on the curve (not the point at infinity); for MODP
// 1 < y < p-1; for Curve25519 the top bit of the last octet is masked and an
// all-zero result (a low-order peer value) is refused. A failed check returns
// an error wrapping ErrInvalidKeyExchange.
func (k *PrivateKey) SharedSecret(peer []byte) ([]byte, error) {
	s := k.group.s
	if k.x == nil && k.ecdh == nil {
		return nil, fmt.Errorf("%v: %w", s.id, ErrKeyZeroed)
	}
	if s.kind == kindMODP {
		y, err := k.group.parseMODP(peer)
		if err != nil {
			return nil, err
		}
		z := new(big.Int).Exp(y, k.x, s.p)
		secret := z.FillBytes(make([]byte, s.secretSize))
		clear(z.Bits()) // the caller owns the only copy of g^ir
		return secret, nil
	}
	pub, err := k.group.parseCurve(peer)
	if err != nil {
		return nil, err
	}
	z, err := k.ecdh.ECDH(pub)
	if err != nil { // X25519: all-zero output from a low-order point
		return nil, fmt.Errorf("%v public value: %v: %w", s.id, err, ErrInvalidKeyExchange)
	}
	return z, nil
}

// CheckPublicValue applies the checks of SharedSecret to a peer's Key
// Exchange Data without computing a secret. The X25519 low-order check needs
// the scalar multiplication and is therefore only done by SharedSecret.
func (g Group) CheckPublicValue(peer []byte) error {
	var err error
	if g.s.kind == kindMODP {
		_, err = g.parseMODP(peer)
	} else {
		_, err = g.parseCurve(peer)
	}
	return err
}

// checkLength refuses Key Exchange Data of the wrong length.
func (g Group) checkLength(peer []byte) error {
	if len(peer) != g.s.publicSize {
		return fmt.Errorf("%v public value of %d octets, want %d: %w", g.s.id, len(peer), g.s.publicSize, ErrInvalidKeyExchange)
	}
	return nil
}

// parseMODP checks a MODP public value: 1 < y < p-1 (RFC 6989 §2.1).
func (g Group) parseMODP(peer []byte) (*big.Int, error) {
	if err := g.checkLength(peer); err != nil {
		return nil, err
	}
	y := new(big.Int).SetBytes(peer)
	if y.Cmp(big.NewInt(1)) <= 0 || y.Cmp(g.s.pMinus1) >= 0 {
		return nil, fmt.Errorf("%v public value outside 1 < y < p-1: %w", g.s.id, ErrInvalidKeyExchange)
	}
	return y, nil
}

// parseCurve decodes an ECP point x | y, checking that it lies on the curve
// (RFC 6989 §2.3), or a Curve25519 u-coordinate with its top bit masked
// (RFC 8031 §3.2, RFC 7748 §5).
func (g Group) parseCurve(peer []byte) (*ecdh.PublicKey, error) {
	if err := g.checkLength(peer); err != nil {
		return nil, err
	}
	s := g.s
	if s.kind == kindX25519 {
		var u [32]byte
		copy(u[:], peer)
		u[31] &= 0x7f
		pub, err := s.curve.NewPublicKey(u[:])
		if err != nil {
			return nil, fmt.Errorf("%v public value: %v: %w", s.id, err, ErrInvalidKeyExchange)
		}
		return pub, nil
	}
	sec1 := make([]byte, 1+len(peer))
	sec1[0] = 4 // uncompressed point (SEC 1 §2.3.3)
	copy(sec1[1:], peer)
	pub, err := s.curve.NewPublicKey(sec1)
	if err != nil {
		return nil, fmt.Errorf("%v public value not on the curve: %w", s.id, ErrInvalidKeyExchange)
	}
	return pub, nil
}
