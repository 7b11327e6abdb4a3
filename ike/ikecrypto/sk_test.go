package ikecrypto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

// vectors.md §9.1: frame 9 of lab/samples/ikev2-redirect-informational.pcap,
// an INFORMATIONAL REDIRECT from strongSwan 5.9.8 (AES-CBC-128 with
// HMAC-SHA2-256-128), keys from the capture's .uat file.
var capturedCBC = struct {
	sker, skar, msg, inner string
}{
	sker: "eb016fe88e5a39801cd7e20e84f536a1",
	skar: "3b6b7db72f5873ec105338748dfa3feab2d204daeef1573c660516e5742bbae3",
	msg: `613145f75678a967 231f60ca33246156 2e 20 25 00 00000000 00000060
	      29 00 0044 | 84af81839eb12e46786374f378566943
	      | 5e1143bb5ca5d0d5fedfc6469834d325e7898d18feb0ebf338583e01c66a11a1
	      | 7ad517fdfdebd7bda52807ccd04f2557`,
	inner: "0000001a000040170210fd000001000000000000000000000003",
}

func TestOpenCapturedCBC(t *testing.T) {
	s := mustSuite(t, EncrAESCBC, 128, IntegHMACSHA2_256_128, PRFHMACSHA2_256)
	sk, err := s.NewSK(unhex(t, capturedCBC.sker), unhex(t, capturedCBC.skar), nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := unhex(t, capturedCBC.msg)
	got, err := sk.Open(msg, ikeHeaderLen+4)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if want := unhex(t, capturedCBC.inner); !bytes.Equal(got, want) {
		t.Errorf("inner payloads = %x, want %x", got, want)
	}
}

// vectors.md §9.2 (AES-GCM-16, 128-bit key), constructed and checked by
// tshark 4.0.17: the HA's two messages carry IVs 1 and 2, which is what a
// fresh SK produces.
var gcmVectors = struct {
	ske             string
	prefixA, innerA string
	msgA            string
	prefixB, innerB string
	msgB            string
}{
	ske:     "101112131415161718191a1b1c1d1e1f b0b1b2b3",
	prefixA: "010203040506070811121314151617182e202500000000000000005329000037",
	innerA:  "0000001a00004017021020010db8000100000000000000000002",
	msgA: `010203040506070811121314151617182e2025000000000000000053290000370000000000000001
	       5857bf8493e39cb4c8e1289c0aa08300f616c40d2e81ee2290c9693b296bd3699d3447713e43e34aaa5d4e`,
	prefixB: "010203040506070811121314151617182e20232000000001000000d72f0000bb",
	innerB: `2900003602000000000800112001 0db8000100000000000000001234 40
	         0010001500015180 20010db8000100000000000000000000 40
	         2c00000800004007
	         2d00003001000000 0887002805000600 20010db8000100000000000000001234 20010db8000100000000000000001234
	         0000003001000000 0887002805000600 20010db8000100000000000000000001 20010db8000100000000000000000001`,
	msgB: `010203040506070811121314151617182e20232000000001000000d72f0000bb0000000000000002
	       503e1e83025c9b2a2d7449717a9625365eb06bfe3a37d047f54ac6b781238bb946f472fe5f00bd729f
	       0592c98a38aced8daf6f7c5bc0716ae29dfcc2a56ff692af16a9f360878fc27fa419251abc7a6be739
	       93ef10ecc22a1f6684757ca9facc2c3a2b68f35bf24ae1aab9e3366834cfec269969ff52c08ba5721871
	       e28801537fb8670ce206208831a3470c0d963ce0d1075bd057d125d955ad8c040c33d22397c1a133caa3
	       1b3505bfa7b2e75fd5`,
}

func TestSealGCMVectors(t *testing.T) {
	s := mustSuite(t, EncrAESGCM16, 128, IntegNone, PRFHMACSHA2_256)
	sk, err := s.NewSK(unhex(t, gcmVectors.ske), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct{ name, prefix, inner, msg string }{
		{"(a) INFORMATIONAL REDIRECT", gcmVectors.prefixA, gcmVectors.innerA, gcmVectors.msgA},
		{"(b) IKE_AUTH response", gcmVectors.prefixB, gcmVectors.innerB, gcmVectors.msgB},
	} {
		inner := unhex(t, v.inner)
		prefix := unhex(t, v.prefix)
		if got, want := len(prefix)+len(inner)+sk.Overhead(len(inner)), len(unhex(t, v.msg)); got != want {
			t.Fatalf("%s: Overhead gives %d octets, the vector has %d", v.name, got, want)
		}
		got, err := sk.Seal(prefix, inner)
		if err != nil {
			t.Fatalf("%s: Seal: %v", v.name, err)
		}
		if want := unhex(t, v.msg); !bytes.Equal(got, want) {
			t.Errorf("%s: sealed\n%x\nwant\n%x", v.name, got, want)
		}
	}
}

func TestOpenGCMVectors(t *testing.T) {
	s := mustSuite(t, EncrAESGCM16, 128, IntegNone, PRFHMACSHA2_256)
	sk, err := s.NewSK(unhex(t, gcmVectors.ske), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []struct{ inner, msg string }{{gcmVectors.innerA, gcmVectors.msgA}, {gcmVectors.innerB, gcmVectors.msgB}} {
		got, err := sk.Open(unhex(t, v.msg), ikeHeaderLen+4)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if want := unhex(t, v.inner); !bytes.Equal(got, want) {
			t.Errorf("inner = %x\nwant    %x", got, want)
		}
	}
}

// RFC 7634 App. B (vectors.md §3.2): INFORMATIONAL with N(SET_WINDOW_SIZE)
// under ChaCha20-Poly1305, IV 1011121314151617.
var chachaVector = struct {
	ske, prefix, inner, msg string
}{
	ske:    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f a0a1a2a3",
	prefix: "c0c1c2c3c4c5c6c7d0d1d2d3d4d5d6d72e20250000000009000000452900 0029",
	inner:  "0000000c000040010000000a",
	msg: `c0c1c2c3c4c5c6c7d0d1d2d3d4d5d6d72e20250000000009000000452900002910111213141516
	      17610394701f8d017f7c129248896b71bfe25236efd7cdc67066906315b2`,
}

func TestChaCha20Poly1305RFC7634AppendixB(t *testing.T) {
	s := mustSuite(t, EncrChaCha20Poly1305, 0, IntegNone, PRFHMACSHA2_256)
	sk, err := s.NewSK(unhex(t, chachaVector.ske), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err := sk.Open(unhex(t, chachaVector.msg), ikeHeaderLen+4)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if want := unhex(t, chachaVector.inner); !bytes.Equal(got, want) {
		t.Errorf("inner = %x, want %x", got, want)
	}

	// Sealing reproduces the message when the counter sits just before
	// the RFC's IV.
	sk.seq = 0x1011121314151617 - 1
	sealed, err := sk.Seal(unhex(t, chachaVector.prefix), unhex(t, chachaVector.inner))
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, chachaVector.msg); !bytes.Equal(sealed, want) {
		t.Errorf("sealed %x\nwant   %x", sealed, want)
	}
}

// header builds an IKE header and SK generic header whose lengths are final
// for n octets of inner payloads under sk.
func header(sk *SK, n int) []byte {
	h := make([]byte, ikeHeaderLen+4)
	copy(h, "\x01\x02\x03\x04\x05\x06\x07\x08\x11\x12\x13\x14\x15\x16\x17\x18")
	h[16], h[17], h[18], h[19] = 46, 0x20, 37, 0x08
	body := n + sk.Overhead(n)
	binary.BigEndian.PutUint32(h[24:], uint32(ikeHeaderLen+4+body))
	h[28] = 41
	binary.BigEndian.PutUint16(h[30:], uint16(4+body))
	return h
}

// newSKPair builds the two ends of one direction for a suite.
func newSKPair(t testing.TB, s Suite) (sealer, opener *SK) {
	t.Helper()
	k, err := s.DeriveKeys(repeat(7, 32), repeat(1, 32), repeat(2, 32), 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	initOut, _, err := s.NewSKPair(k, true, &countingReader{})
	if err != nil {
		t.Fatal(err)
	}
	_, respIn, err := s.NewSKPair(k, false, &countingReader{})
	if err != nil {
		t.Fatal(err)
	}
	return initOut, respIn
}

func TestSealOpenRoundTrip(t *testing.T) {
	for _, s := range allSuites(t) {
		t.Run(s.String(), func(t *testing.T) {
			sealer, opener := newSKPair(t, s)
			for n := 0; n <= 70; n++ {
				inner := bytes.Repeat([]byte{byte(n)}, n)
				msg, err := sealer.Seal(header(sealer, n), inner)
				if err != nil {
					t.Fatalf("n=%d: Seal: %v", n, err)
				}
				if len(msg) != ikeHeaderLen+4+n+sealer.Overhead(n) {
					t.Fatalf("n=%d: sealed %d octets, Overhead predicts %d", n, len(msg), ikeHeaderLen+4+n+sealer.Overhead(n))
				}
				if !s.Encr().AEAD() && (len(msg)-ikeHeaderLen-4-s.Encr().IVSize()-s.Integ().ICVSize())%16 != 0 {
					t.Fatalf("n=%d: CBC ciphertext not block aligned", n)
				}
				got, err := opener.Open(msg, ikeHeaderLen+4)
				if err != nil {
					t.Fatalf("n=%d: Open: %v", n, err)
				}
				if !bytes.Equal(got, inner) {
					t.Fatalf("n=%d: opened %x, want %x", n, got, inner)
				}
			}
		})
	}
}

// The initiator's outbound SK pairs with the responder's inbound SK and vice
// versa; the same direction's keys never open the other direction.
func TestNewSKPairDirections(t *testing.T) {
	s := mustSuite(t, EncrAESGCM16, 256, IntegNone, PRFHMACSHA2_256)
	k, err := s.DeriveKeys(repeat(7, 32), repeat(1, 32), repeat(2, 32), 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	iOut, iIn, err := s.NewSKPair(k, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	rOut, rIn, err := s.NewSKPair(k, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name           string
		sealer, opener *SK
		ok             bool
	}{{"I->R", iOut, rIn, true}, {"R->I", rOut, iIn, true}, {"I->I", iOut, iIn, false}, {"R->R", rOut, rIn, false}} {
		msg, err := c.sealer.Seal(header(c.sealer, 5), []byte("hello"))
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.opener.Open(msg, ikeHeaderLen+4)
		if (err == nil) != c.ok {
			t.Errorf("%s: Open err = %v, want success %v", c.name, err, c.ok)
		}
	}
}

// One flipped bit anywhere in a protected message, header included, fails
// the integrity check (RFC 7296 §3.14, RFC 5282 §5.1).
func TestOpenTamperedBit(t *testing.T) {
	for _, s := range allSuites(t) {
		t.Run(s.String(), func(t *testing.T) {
			sealer, opener := newSKPair(t, s)
			inner := []byte("twenty-one octets....")
			msg, err := sealer.Seal(header(sealer, len(inner)), inner)
			if err != nil {
				t.Fatal(err)
			}
			for bit := 0; bit < 8*len(msg); bit++ {
				m := bytes.Clone(msg)
				m[bit/8] ^= 1 << (bit % 8)
				if _, err := opener.Open(m, ikeHeaderLen+4); !errors.Is(err, ErrIntegrity) {
					t.Fatalf("bit %d flipped: err = %v, want ErrIntegrity", bit, err)
				}
			}
			if _, err := opener.Open(bytes.Clone(msg), ikeHeaderLen+4); err != nil {
				t.Fatalf("untouched message: %v", err)
			}
		})
	}
}

func TestOpenTruncated(t *testing.T) {
	for _, s := range allSuites(t) {
		sealer, opener := newSKPair(t, s)
		msg, err := sealer.Seal(header(sealer, 0), nil)
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < len(msg); n++ {
			_, err := opener.Open(bytes.Clone(msg[:n]), min(n, ikeHeaderLen+4))
			var e *Error
			if !errors.Is(err, ErrIntegrity) || !errors.As(err, &e) || e.NotifyType() != 0 {
				t.Fatalf("%v: %d of %d octets: err = %v, want ErrIntegrity without notify", s, n, len(msg), err)
			}
		}
		if _, err := opener.Open(msg, len(msg)+1); !errors.Is(err, ErrIntegrity) {
			t.Fatalf("%v: body past the end: err = %v", s, err)
		}
	}
}

// A Pad Length larger than the decrypted data is a syntax error once the
// message authenticated (RFC 7296 §3.14).
func TestOpenBadPadLength(t *testing.T) {
	s := mustSuite(t, EncrAESGCM16, 128, IntegNone, PRFHMACSHA2_256)
	sealer, opener := newSKPair(t, s)
	// Seal "payload | 0x09" as if it were the whole plaintext: the cipher
	// adds Pad Length 0, so replace the AEAD step by hand.
	inner := []byte{1, 2, 3, 9}
	msg := header(sealer, len(inner)-1)
	iv := []byte{0, 0, 0, 0, 0, 0, 0, 1}
	nonce := append(append([]byte{}, sealer.nonce[:4]...), iv...)
	msg = sealer.aead.Seal(append(msg, iv...), nonce, inner, msg)
	_, err := opener.Open(msg, ikeHeaderLen+4)
	var e *Error
	if !errors.Is(err, ErrPadding) || !errors.As(err, &e) || e.NotifyType() != 7 {
		t.Fatalf("err = %v, want ErrPadding with INVALID_SYNTAX", err)
	}
}

// Receivers accept any padding up to 255 octets (RFC 5282 §3, RFC 7634 §3).
func TestOpenAcceptsPadding(t *testing.T) {
	s := mustSuite(t, EncrChaCha20Poly1305, 0, IntegNone, PRFHMACSHA2_256)
	sealer, opener := newSKPair(t, s)
	inner := []byte("payload")
	pt := append(append(bytes.Clone(inner), repeat(0xee, 255)...), 255)
	msg := header(sealer, len(pt)-1)
	iv := []byte{0, 0, 0, 0, 0, 0, 0, 9}
	nonce := append(append([]byte{}, sealer.nonce[:4]...), iv...)
	msg = sealer.aead.Seal(append(msg, iv...), nonce, pt, msg)
	got, err := opener.Open(msg, ikeHeaderLen+4)
	if err != nil || !bytes.Equal(got, inner) {
		t.Fatalf("Open = %q, %v; want %q", got, err, inner)
	}
}

func TestSealChecksHeaderLength(t *testing.T) {
	for _, s := range allSuites(t) {
		sealer, _ := newSKPair(t, s)
		h := header(sealer, 10)
		if _, err := sealer.Seal(h, make([]byte, 10+16)); !errors.Is(err, ErrLength) {
			t.Errorf("%v: length for 10 octets, sealing 26: err = %v, want ErrLength", s, err)
		}
		if _, err := sealer.Seal(h[:20], make([]byte, 10)); !errors.Is(err, ErrLength) {
			t.Errorf("%v: short prefix: err = %v, want ErrLength", s, err)
		}
	}
}

// The AEAD IV is a counter: every message under a key gets a new one, and
// the SK refuses to wrap around (RFC 5282 §3.1).
func TestAEADIVCounter(t *testing.T) {
	s := mustSuite(t, EncrAESGCM16, 128, IntegNone, PRFHMACSHA2_256)
	sealer, _ := newSKPair(t, s)
	seen := map[uint64]bool{}
	for i := 0; i < 100; i++ {
		msg, err := sealer.Seal(header(sealer, 1), []byte{1})
		if err != nil {
			t.Fatal(err)
		}
		iv := binary.BigEndian.Uint64(msg[ikeHeaderLen+4:])
		if seen[iv] {
			t.Fatalf("IV %d repeated", iv)
		}
		seen[iv] = true
	}
	sealer.seq = math.MaxUint64 - 1
	if _, err := sealer.Seal(header(sealer, 1), []byte{1}); err != nil {
		t.Fatalf("last IV: %v", err)
	}
	if _, err := sealer.Seal(header(sealer, 1), []byte{1}); !errors.Is(err, ErrIVExhausted) {
		t.Fatalf("after the last IV: err = %v, want ErrIVExhausted", err)
	}
}

// AES-CBC IVs come from the injected reader (RFC 7296 §3.14: fresh and
// unpredictable), never from the previous ciphertext.
func TestCBCIVFromReader(t *testing.T) {
	s := mustSuite(t, EncrAESCBC, 256, IntegHMACSHA2_256_128, PRFHMACSHA2_256)
	sk, err := s.NewSK(repeat(1, 32), repeat(2, 32), &countingReader{next: 0x40})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		msg, err := sk.Seal(header(sk, 3), []byte{1, 2, 3})
		if err != nil {
			t.Fatal(err)
		}
		want := make([]byte, 16)
		for j := range want {
			want[j] = byte(0x40 + 16*i + j)
		}
		if iv := msg[ikeHeaderLen+4 : ikeHeaderLen+4+16]; !bytes.Equal(iv, want) {
			t.Errorf("message %d: IV %x, want %x", i, iv, want)
		}
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestCBCIVReaderFailure(t *testing.T) {
	s := mustSuite(t, EncrAESCBC, 128, IntegHMACSHA2_256_128, PRFHMACSHA2_256)
	sk, err := s.NewSK(repeat(1, 16), repeat(2, 32), failingReader{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sk.Seal(header(sk, 1), []byte{1}); !errors.Is(err, ErrRandomSource) {
		t.Fatalf("Seal without an IV: err = %v, want ErrRandomSource", err)
	}
}

// The wire builder may encode the inner payloads right after the SK header
// in the same buffer; Seal then moves them behind the IV.
func TestSealInPlacePlaintext(t *testing.T) {
	for _, s := range allSuites(t) {
		sealer, opener := newSKPair(t, s)
		inner := []byte("inner payloads encoded in place, longer than one block")
		h := header(sealer, len(inner))
		buf := make([]byte, len(h), len(h)+len(inner)+sealer.Overhead(len(inner)))
		copy(buf, h)
		pt := append(buf[len(buf):], inner...) // shares buf's array
		msg, err := sealer.Seal(buf, pt)
		if err != nil {
			t.Fatal(err)
		}
		got, err := opener.Open(msg, ikeHeaderLen+4)
		if err != nil || !bytes.Equal(got, inner) {
			t.Fatalf("%v: Open = %q, %v", s, got, err)
		}
	}
}

func TestNewSKKeyLength(t *testing.T) {
	gcm := mustSuite(t, EncrAESGCM16, 128, IntegNone, PRFHMACSHA2_256)
	cbc := mustSuite(t, EncrAESCBC, 128, IntegHMACSHA2_256_128, PRFHMACSHA2_256)
	for _, c := range []struct {
		s          Suite
		enc, integ int
	}{{gcm, 16, 0}, {gcm, 20, 1}, {cbc, 16, 16}, {cbc, 20, 32}} {
		if _, err := c.s.NewSK(make([]byte, c.enc), make([]byte, c.integ), nil); !errors.Is(err, ErrKeyLength) {
			t.Errorf("%v with %d/%d octets: err = %v, want ErrKeyLength", c.s, c.enc, c.integ, err)
		}
	}
}

// More of the strongSwan capture (lab/samples/ikev2-redirect-informational.pcap,
// first IKE SA of the .uat file, UDP payloads without the non-ESP marker):
// both IKE_AUTH messages and the Delete exchange decrypt, and their inner
// payloads form a well-formed payload chain (RFC 7296 §3.2).
func TestOpenCapturedExchange(t *testing.T) {
	s := mustSuite(t, EncrAESCBC, 128, IntegHMACSHA2_256_128, PRFHMACSHA2_256)
	k := &Keys{
		SKei: unhex(t, "5022ae1cdabd18345c18e75e98cd4823"),
		SKer: unhex(t, capturedCBC.sker),
		SKai: unhex(t, "68a96a33d4def2f1c955d32aaa087ad55560423ce22903dcbb860fbef105246f"),
		SKar: unhex(t, capturedCBC.skar),
	}
	_, fromInitiator, err := s.NewSKPair(k, false, nil) // the responder's inbound SK
	if err != nil {
		t.Fatal(err)
	}
	_, fromResponder, err := s.NewSKPair(k, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	frames := []struct {
		frame  int
		sk     *SK
		msg    string
		prefix string // expected start of the inner payloads
		exact  bool
	}{
		{3, fromInitiator, `613145f75678a967231f60ca332461562e2023080000000100000130230001141a359c00118db05c72c0cae4c0713389df6d45fbbabe82db314ecabd6d4c61a57eaf2e1b2345dcfde7b44c5e9a634acc5dfcb63423ffe3b3d9d017b657a391308f3f5bf3632b3bcca1b0547105db43b10829684355d6a4adf49d82d50f40efcb43adad2ca8f6944f556b2f6a5136778742c0de12019aba1134223129678b6b3e449e70392e8382ebec98472c14c2fdab63c961be0321c4f07fc3f8970665d9347ae617d7db35d7d3d62e4f9f9cc232d772470c3d631c3da4ba97e8246c4e6aea90022c5e72cc8d499cbda1f25e9a3140d4d3be279258dc591c2caae3f32747ee5ed2c7db799a512366315ccbe6ebd438b9dbfa59b620c1b6ad18d4fec1c1497410d6e1c9921d6a5c28e6b8a522c276b2`,
			"27000012 02000000 6d6e2e6578616d706c65", false}, // IDi: ID_FQDN mn.example
		{4, fromResponder, `613145f75678a967231f60ca332461562e2023200000000100000110240000f473733abadf09b019277bf8ea8513f90c9defe7935b6539f951ba0db72a67a052a594096ddb48870988a6f4f7aca5e179dac30bc8a9bd79dadcbf2c6a0280bd6e0e4e610f64b106e5602661174cc43fc4fa1c7c8e3ccdce413f78f8586a3d08b7245fe6c1fd63e65504d62daded765027132bfb37085273e749e672f214754925c83f65aa6cbf302e0188e0c55ed0bcc4ac08c83baef7e6834a0be3e46eda7d580f199dad68609360bfb2cbb9367a90f017ab12c5f562461a92fcb5a8c7ea48cd0d59314917013b7e48e32d2466b130250ee65805fe6df8dd94d7b22c6389d1173811abd3559cf4a9287c0326cf46768c`,
			"", false},
		{15, fromInitiator, `613145f75678a967231f60ca332461562e20250800000002000000502a0000342523066bee6eae9de1ebe7c2e4a441aff9202a03ee564c83ca7011f5c800c192438922a5d831b9c14f8a4b7d019f09b9`,
			"0000000801000000", true}, // Delete of the IKE SA
		{16, fromResponder, `613145f75678a967231f60ca332461562e20252000000002000000500000003498e9041d9faae62d1bc7eeecc14b98a9c1fcb66dfd6dab4ac9ef49b5989802229582484db131ce03da92fb410a29e7ed`,
			"", true}, // the empty answer
	}
	for _, f := range frames {
		msg := unhex(t, f.msg)
		first := msg[ikeHeaderLen] // the SK payload's Next Payload
		pt, err := f.sk.Open(msg, ikeHeaderLen+4)
		if err != nil {
			t.Fatalf("frame %d: %v", f.frame, err)
		}
		want := unhex(t, f.prefix)
		if f.exact && !bytes.Equal(pt, want) || !bytes.HasPrefix(pt, want) {
			t.Errorf("frame %d: inner payloads %x, want %x", f.frame, pt, want)
		}
		// Walk the generic payload headers: they must end exactly at the
		// end of the plaintext, with Next Payload 0 last.
		next, off := first, 0
		for next != 0 {
			if off+4 > len(pt) {
				t.Fatalf("frame %d: payload header at %d beyond %d octets", f.frame, off, len(pt))
			}
			n := int(binary.BigEndian.Uint16(pt[off+2:]))
			if n < 4 {
				t.Fatalf("frame %d: payload length %d at %d", f.frame, n, off)
			}
			next, off = pt[off], off+n
		}
		if off != len(pt) {
			t.Errorf("frame %d: payload chain ends at %d of %d octets", f.frame, off, len(pt))
		}
	}
}
