package ikecrypto

import (
	"bytes"
	"testing"
)

// The ESP key material of a CHILD_SA is the cipher key followed by the salt
// (RFC 7634 §2, RFC 4106 §8.1), and the nonce is salt | IV. RFC 7634 App. A
// (vectors.md §3.1) checks that layout with the catalog's AEAD constructor:
// the first 36 octets of KEYMAT are the RFC's key | salt.
func TestESPChaCha20Poly1305RFC7634AppendixA(t *testing.T) {
	esp, err := LookupESP(EncrChaCha20Poly1305, 0, IntegNone)
	if err != nil {
		t.Fatal(err)
	}
	keymat := append(unhex(t, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f a0a1a2a3"), make([]byte, 36)...)
	k, err := esp.SplitKEYMAT(keymat)
	if err != nil {
		t.Fatal(err)
	}
	keyLen := esp.EncrKeySize() - esp.SaltSize()
	aead, err := esp.encr.newAEAD(k.EncrI[:keyLen])
	if err != nil {
		t.Fatal(err)
	}
	nonce := append(bytes.Clone(k.EncrI[keyLen:]), unhex(t, "1011121314151617")...)
	aad := unhex(t, "01020304 00000005") // SPI | sequence number
	plaintext := unhex(t, `45000054a6f200004001e778c6336405c000020508005b7a3a080000553bec10
		0007362708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223
		2425262728292a2b2c2d2e2f303132333435363701020204`)
	want := unhex(t, `24039428b97f417e3c13753a4f05087b67c352e6a7fab1b982d466ef407ae5c6
		14ee8099d52844eb61aa95dfab4c02f72aa71e7c4c4f64c9befe2facc638e8f3
		cbec163fac469b502773f6fb94e664da9165b82829f641e0
		76aaa8266b7fb0f7b11b369907e1ad43`)
	if got := aead.Seal(nil, nonce, plaintext, aad); !bytes.Equal(got, want) {
		t.Errorf("ESP ciphertext | tag\n%x\nwant\n%x", got, want)
	}
}

// RFC 8439 §2.8.2 (vectors.md §3.3): the AEAD_CHACHA20_POLY1305 reference
// vector through the catalog's constructor.
func TestChaCha20Poly1305RFC8439(t *testing.T) {
	e, err := LookupEncr(EncrChaCha20Poly1305, 0)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := e.s.newAEAD(unhex(t, "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"))
	if err != nil {
		t.Fatal(err)
	}
	plaintext := []byte("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.")
	want := unhex(t, `d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
		3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
		92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
		3ff4def08e4b7a9de576d26586cec64b6116
		1ae10b594f09e26a7e902ecbd0600691`)
	got := aead.Seal(nil, unhex(t, "070000004041424344454647"), plaintext, unhex(t, "50515253c0c1c2c3c4c5c6c7"))
	if !bytes.Equal(got, want) {
		t.Errorf("ciphertext | tag\n%x\nwant\n%x", got, want)
	}
}
