package ikecrypto

import (
	"bytes"
	"errors"
	"math/big"
	"testing"
)

// RFC 5903 §8 (vectors.md §4): the private values i and r fed through the
// random source give g^i and g^r as x | y, and both sides reach x of g^ir.
var ecpVectors = []struct {
	group       DHGroup
	i, gix, giy string
	r, grx, gry string
	gir         string
}{
	{ECP256,
		"c88f01f510d9ac3f70a292daa2316de544e9aab8afe84049c62a9c57862d1433",
		"dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180",
		"5271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3",
		"c6ef9c5d78ae012a011164acb397ce2088685d8f06bf9be0b283ab46476bee53",
		"d12dfb5289c8d4f81208b70270398c342296970a0bccb74c736fc7554494bf63",
		"56fbf3ca366cc23e8157854c13c58d6aac23f046ada30f8353e74f33039872ab",
		"d6840f6b42f6edafd13116e0e12565202fef8e9ece7dce03812464d04b9442de"},
	{ECP384,
		"099f3c7034d4a2c699884d73a375a67f7624ef7c6b3c0f160647b67414dce655e35b538041e649ee3faef896783ab194",
		"667842d7d180ac2cde6f74f37551f55755c7645c20ef73e31634fe72b4c55ee6de3ac808acb4bdb4c88732aee95f41aa",
		"9482ed1fc0eeb9cafc4984625ccfc23f65032149e0e144ada024181535a0f38eeb9fcff3c2c947dae69b4c634573a81c",
		"41cb0779b4bdb85d47846725fbec3c9430fab46cc8dc5060855cc9bda0aa2942e0308312916b8ed2960e4bd55a7448fc",
		"e558dbef53eecde3d3fccfc1aea08a89a987475d12fd950d83cfa41732bc509d0d1ac43a0336def96fda41d0774a3571",
		"dcfbec7aacf3196472169e838430367f66eebe3c6e70c416dd5f0c68759dd1fff83fa40142209dff5eaad96db9e6386c",
		"11187331c279962d93d604243fd592cb9d0a926f422e47187521287e7156c5c4d603135569b9e9d09cf5d4a270f59746"},
	{ECP521,
		"0037ade9319a89f4dabdb3ef411aaccca5123c61acab57b5393dce47608172a095aa85a30fe1c2952c6771d937ba9777f5957b2639bab072462f68c27a57382d4a52",
		"0015417e84dbf28c0ad3c278713349dc7df153c897a1891bd98bab4357c9ecbee1e3bf42e00b8e380aeae57c2d107564941885942af5a7f4601723c4195d176ced3e",
		"017cae20b6641d2eeb695786d8c946146239d099e18e1d5a514c739d7cb4a10ad8a788015ac405d7799dc75e7b7d5b6cf2261a6a7f1507438bf01beb6ca3926f9582",
		"0145ba99a847af43793fdd0e872e7cdfa16be30fdc780f97bccc3f078380201e9c677d600b343757a3bdbf2a3163e4c2f869cca7458aa4a4effc311f5cb151685eb9",
		"00d0b3975ac4b799f5bea16d5e13e9af971d5e9b984c9f39728b5e5739735a219b97c356436adc6e95bb0352f6be64a6c2912d4ef2d0433ced2b6171640012d9460f",
		"015c68226383956e3bd066e797b623c27ce0eac2f551a10c2c724d9852077b87220b6536c5c408a1d2aebb8e86d678ae49cb57091f4732296579ab44fcd17f0fc56a",
		"01144c7d79ae6956bc8edb8e7c787c4521cb086fa64407f97894e5e6b2d79b04d1427e73ca4baa240a34786859810c06b3c715a3a8cc3151f2bee417996d19f3ddea"},
}

func mustGroup(t testing.TB, id DHGroup) Group {
	t.Helper()
	g, err := LookupGroup(id)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func TestECPRFC5903(t *testing.T) {
	for _, v := range ecpVectors {
		t.Run(v.group.String(), func(t *testing.T) {
			g := mustGroup(t, v.group)
			ki, err := g.GenerateKey(bytes.NewReader(unhex(t, v.i)))
			if err != nil {
				t.Fatal(err)
			}
			kr, err := g.GenerateKey(bytes.NewReader(unhex(t, v.r)))
			if err != nil {
				t.Fatal(err)
			}
			gi, gr := unhex(t, v.gix+v.giy), unhex(t, v.grx+v.gry)
			if !bytes.Equal(ki.PublicValue(), gi) || len(gi) != g.PublicValueSize() {
				t.Errorf("g^i = %x\nwant  %x", ki.PublicValue(), gi)
			}
			if !bytes.Equal(kr.PublicValue(), gr) {
				t.Errorf("g^r = %x\nwant  %x", kr.PublicValue(), gr)
			}
			want := unhex(t, v.gir)
			for _, c := range []struct {
				k    *PrivateKey
				peer []byte
			}{{ki, gr}, {kr, gi}} {
				z, err := c.k.SharedSecret(c.peer)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(z, want) || len(z) != g.SharedSecretSize() {
					t.Errorf("g^ir = %x\nwant   %x", z, want)
				}
			}
		})
	}
}

// RFC 8031 App. A (vectors.md §5).
func TestCurve25519RFC8031(t *testing.T) {
	g := mustGroup(t, Curve25519)
	ki, err := g.GenerateKey(bytes.NewReader(unhex(t, "751fb4308655b476b6789b7325f9ea8cddd16a58533ff6d9e60009464a5f9d94")))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := g.GenerateKey(bytes.NewReader(unhex(t, "0a54645253290d60ddadd0e030bacd9e5501efdc220755a1e978f1b839a05688")))
	if err != nil {
		t.Fatal(err)
	}
	pubI := unhex(t, "48d5ddd4061257ba166fa3f9bbdb74f1a4e81c089384fa77f790709f0dfbc766")
	pubR := unhex(t, "0be7c1f5aad87d7e448662673298a443478b859745179eaf564c79c0ef6eee25")
	shared := unhex(t, "c74950607a12327f3204d94b6825bfb068b7f8319a9e3708ed3d43ce8130c950")
	if !bytes.Equal(ki.PublicValue(), pubI) || !bytes.Equal(kr.PublicValue(), pubR) {
		t.Errorf("public values %x %x", ki.PublicValue(), kr.PublicValue())
	}
	for _, c := range []struct {
		k    *PrivateKey
		peer []byte
	}{{ki, pubR}, {kr, pubI}} {
		z, err := c.k.SharedSecret(c.peer)
		if err != nil || !bytes.Equal(z, shared) {
			t.Errorf("shared = %x, %v; want %x", z, err, shared)
		}
	}
	// RFC 8031 §3.2: the most significant bit of the last octet is masked.
	high := bytes.Clone(pubR)
	high[31] |= 0x80
	if z, err := ki.SharedSecret(high); err != nil || !bytes.Equal(z, shared) {
		t.Errorf("with the top bit set: %x, %v; want %x", z, err, shared)
	}
}

// The 2048-bit MODP prime must be the safe prime of RFC 3526: a typo would
// make p or (p-1)/2 composite.
func TestMODP2048Prime(t *testing.T) {
	p := mustGroup(t, MODP2048).s.p
	if p.BitLen() != 2048 || !p.ProbablyPrime(20) {
		t.Fatal("p is not a 2048-bit prime")
	}
	q := new(big.Int).Rsh(p, 1)
	if !q.ProbablyPrime(20) {
		t.Fatal("(p-1)/2 is not prime")
	}
}

func TestMODP2048Agreement(t *testing.T) {
	g := mustGroup(t, MODP2048)
	ki, err := g.GenerateKey(&countingReader{})
	if err != nil {
		t.Fatal(err)
	}
	kr, err := g.GenerateKey(&countingReader{next: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(ki.PublicValue()) != 256 || len(kr.PublicValue()) != 256 {
		t.Fatalf("public values of %d and %d octets", len(ki.PublicValue()), len(kr.PublicValue()))
	}
	zi, err := ki.SharedSecret(kr.PublicValue())
	if err != nil {
		t.Fatal(err)
	}
	zr, err := kr.SharedSecret(ki.PublicValue())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(zi, zr) || len(zi) != 256 {
		t.Fatalf("secrets differ or are not 256 octets: %x / %x", zi, zr)
	}
	// The exponent 0x0001..1f read from the counting reader gives
	// g^x = 2^x mod p, left-padded.
	x := new(big.Int).SetBytes((&countingReader{}).take(32))
	want := new(big.Int).Exp(big.NewInt(2), x, g.s.p).FillBytes(make([]byte, 256))
	if !bytes.Equal(ki.PublicValue(), want) {
		t.Errorf("public value is not 2^x mod p for the exponent read from rand")
	}
}

func (r *countingReader) take(n int) []byte {
	b := make([]byte, n)
	r.Read(b)
	return b
}

// Left padding: a public value whose top octets are zero keeps the modulus
// length (RFC 7296 §3.4).
func TestMODPLeftPadding(t *testing.T) {
	g := mustGroup(t, MODP2048)
	k, err := g.GenerateKey(&countingReader{})
	if err != nil {
		t.Fatal(err)
	}
	small := make([]byte, 256)
	small[255] = 2 // y = 2 is in range
	z, err := k.SharedSecret(small)
	if err != nil {
		t.Fatal(err)
	}
	if len(z) != 256 {
		t.Fatalf("secret of %d octets", len(z))
	}
}

// RFC 6989 §2 checks; each failure is ErrInvalidKeyExchange, which maps to
// INVALID_SYNTAX in CREATE_CHILD_SA (RFC 6989 §2.5).
func TestPublicValueChecks(t *testing.T) {
	p := mustGroup(t, MODP2048).s.p
	modp := func(y *big.Int) []byte { return y.FillBytes(make([]byte, 256)) }
	pMinus1 := new(big.Int).Sub(p, big.NewInt(1))
	offCurve := unhex(t, ecpVectors[0].grx+ecpVectors[0].gry)
	offCurve[63] ^= 1
	tests := []struct {
		name  string
		group DHGroup
		peer  []byte
	}{
		{"MODP y = 0", MODP2048, modp(big.NewInt(0))},
		{"MODP y = 1", MODP2048, modp(big.NewInt(1))},
		{"MODP y = p-1", MODP2048, modp(pMinus1)},
		{"MODP y = p", MODP2048, modp(p)},
		{"MODP all ones", MODP2048, repeat(0xff, 256)},
		{"MODP short", MODP2048, make([]byte, 255)},
		{"P-256 off the curve", ECP256, offCurve},
		{"P-256 (0,0)", ECP256, make([]byte, 64)},
		{"P-256 with 0x04 prefix", ECP256, append([]byte{4}, unhex(t, ecpVectors[0].grx+ecpVectors[0].gry)...)},
		{"P-256 x only", ECP256, unhex(t, ecpVectors[0].grx)},
		{"P-384 short", ECP384, make([]byte, 95)},
		{"P-521 coordinates of 65 octets", ECP521, make([]byte, 130)},
		{"X25519 u = 0 (low order)", Curve25519, make([]byte, 32)},
		{"X25519 u = 1 (low order)", Curve25519, append([]byte{1}, make([]byte, 31)...)},
		{"X25519 33 octets", Curve25519, make([]byte, 33)},
		{"X25519 empty", Curve25519, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g := mustGroup(t, tc.group)
			k, err := g.GenerateKey(&countingReader{next: 1})
			if err != nil {
				t.Fatal(err)
			}
			_, err = k.SharedSecret(tc.peer)
			var e *Error
			if !errors.Is(err, ErrInvalidKeyExchange) || !errors.As(err, &e) || e.NotifyType() != 7 {
				t.Fatalf("SharedSecret err = %v, want ErrInvalidKeyExchange (INVALID_SYNTAX)", err)
			}
		})
	}
}

// The same random bytes give the same key, so transcripts replay.
func TestGenerateKeyDeterministic(t *testing.T) {
	for _, id := range []DHGroup{MODP2048, ECP256, ECP384, ECP521, Curve25519} {
		g := mustGroup(t, id)
		a, err := g.GenerateKey(&countingReader{next: 9})
		if err != nil {
			t.Fatal(err)
		}
		b, err := g.GenerateKey(&countingReader{next: 9})
		if err != nil {
			t.Fatal(err)
		}
		c, err := g.GenerateKey(&countingReader{next: 10})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a.PublicValue(), b.PublicValue()) || bytes.Equal(a.PublicValue(), c.PublicValue()) {
			t.Errorf("%v: public values not a function of the random bytes", id)
		}
		if len(a.PublicValue()) != g.PublicValueSize() || a.Group().ID() != id {
			t.Errorf("%v: public value of %d octets", id, len(a.PublicValue()))
		}
	}
}

// A scalar at or above the group order is drawn again (rejection sampling).
func TestGenerateKeyRejectsScalarAboveOrder(t *testing.T) {
	g := mustGroup(t, ECP256)
	good := unhex(t, ecpVectors[0].i)
	r := bytes.NewReader(append(repeat(0xff, 32), good...))
	k, err := g.GenerateKey(r)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, ecpVectors[0].gix+ecpVectors[0].giy); !bytes.Equal(k.PublicValue(), want) {
		t.Errorf("did not skip the out-of-range scalar")
	}
	if _, err := g.GenerateKey(bytes.NewReader(make([]byte, 32*maxScalarTries))); !errors.Is(err, ErrRandomSource) {
		t.Errorf("an all-zero random source: err = %v, want ErrRandomSource", err)
	}
	if _, err := g.GenerateKey(failingReader{}); !errors.Is(err, ErrRandomSource) {
		t.Errorf("a failing random source: err = %v, want ErrRandomSource", err)
	}
}

func TestCheckPublicValue(t *testing.T) {
	g := mustGroup(t, ECP256)
	if err := g.CheckPublicValue(unhex(t, ecpVectors[0].grx+ecpVectors[0].gry)); err != nil {
		t.Errorf("valid point: %v", err)
	}
	if err := g.CheckPublicValue(make([]byte, 64)); !errors.Is(err, ErrInvalidKeyExchange) {
		t.Errorf("(0,0): err = %v", err)
	}
}
