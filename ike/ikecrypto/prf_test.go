package ikecrypto

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"testing"
)

// RFC 4868 §2.7.1 (the RFC 4231 cases), PRF outputs untruncated.
func TestPRFRFC4868Vectors(t *testing.T) {
	jefeData := "7768617420646f2079612077616e7420666f72206e6f7468696e673f"
	tests := []struct {
		name      string
		id        PRFID
		key, data string
		want      string
	}{
		{"PRF-1/256", PRFHMACSHA2_256, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
			"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
		{"PRF-1/384", PRFHMACSHA2_384, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
			"afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6"},
		{"PRF-1/512", PRFHMACSHA2_512, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
			"87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"},
		{"PRF-2/256", PRFHMACSHA2_256, "4a656665", jefeData,
			"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{"PRF-2/384", PRFHMACSHA2_384, "4a656665", jefeData,
			"af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"},
		{"PRF-2/512", PRFHMACSHA2_512, "4a656665", jefeData,
			"164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
		{"PRF-3/384", PRFHMACSHA2_384, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", string(bytes.Repeat([]byte("dd"), 50)),
			"88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b2a5ab39dc13814b94e3ab6e101a34f27"},
		{"PRF-3/512", PRFHMACSHA2_512, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", string(bytes.Repeat([]byte("dd"), 50)),
			"fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb"},
		{"PRF-5/256 key longer than a block", PRFHMACSHA2_256, string(bytes.Repeat([]byte("aa"), 131)),
			"54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a65204b6579202d2048617368204b6579204669727374",
			"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPRF(t, tc.id)
			data := unhex(t, tc.data)
			if got := p.Sum(unhex(t, tc.key), data); !bytes.Equal(got, unhex(t, tc.want)) {
				t.Errorf("prf = %x, want %s", got, tc.want)
			}
			// The data may arrive in pieces: prf(K, a | b) == prf(K, a, b).
			if got := p.Sum(unhex(t, tc.key), data[:3], data[3:]); !bytes.Equal(got, unhex(t, tc.want)) {
				t.Errorf("prf over two pieces = %x, want %s", got, tc.want)
			}
		})
	}
}

// RFC 4868 §2.7.2: the integrity transforms are the same HMACs truncated to
// half the hash length, keyed with a key of the full hash length.
func TestIntegRFC4868Truncation(t *testing.T) {
	tests := []struct {
		id      IntegID
		keySize int
		want    string
	}{
		{IntegHMACSHA2_256_128, 32, "198a607eb44bfbc69903a0f1cf2bbdc5"},
		{IntegHMACSHA2_384_192, 48, "b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee973"},
		{IntegHMACSHA2_512_256, 64, "637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8"},
	}
	for _, tc := range tests {
		a, err := LookupInteg(tc.id)
		if err != nil {
			t.Fatal(err)
		}
		if a.KeySize() != tc.keySize || a.ICVSize() != tc.keySize/2 {
			t.Errorf("%v: key %d ICV %d, want %d and %d", tc.id, a.KeySize(), a.ICVSize(), tc.keySize, tc.keySize/2)
		}
		mac := hmac.New(a.s.newHash, repeat(0x0b, a.KeySize()))
		mac.Write([]byte("Hi There"))
		if got := mac.Sum(nil)[:a.ICVSize()]; !bytes.Equal(got, unhex(t, tc.want)) {
			t.Errorf("%v(AUTH-1) = %x, want %s", tc.id, got, tc.want)
		}
	}
}

// prf+ follows RFC 7296 §2.13 block by block: T1 = prf(K, S | 0x01),
// T2 = prf(K, T1 | S | 0x02), ...; this builds the blocks with crypto/hmac
// directly.
func TestPRFPlusBlocks(t *testing.T) {
	p := mustPRF(t, PRFHMACSHA2_256)
	key, seed := []byte("key"), []byte("seed")
	block := func(prev []byte, n byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(prev)
		m.Write(seed)
		m.Write([]byte{n})
		return m.Sum(nil)
	}
	t1 := block(nil, 1)
	t2 := block(t1, 2)
	t3 := block(t2, 3)
	want := append(append(append([]byte{}, t1...), t2...), t3...)[:70]
	got, err := p.Plus(key, 70, seed[:2], seed[2:])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("prf+ = %x\nwant   %x", got, want)
	}
}

// The counter is one octet: 255 blocks is the most prf+ can give.
func TestPRFPlusLimit(t *testing.T) {
	p := mustPRF(t, PRFHMACSHA2_256)
	if out, err := p.Plus([]byte("k"), 255*32, []byte("s")); err != nil || len(out) != 255*32 {
		t.Fatalf("255 blocks: %d octets, %v", len(out), err)
	}
	if _, err := p.Plus([]byte("k"), 255*32+1, []byte("s")); !errors.Is(err, ErrKeyLength) {
		t.Fatalf("256 blocks: err = %v, want ErrKeyLength", err)
	}
	if _, err := p.Plus([]byte("k"), -1); !errors.Is(err, ErrKeyLength) {
		t.Fatalf("negative length: err = %v, want ErrKeyLength", err)
	}
}
