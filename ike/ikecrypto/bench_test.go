package ikecrypto

import (
	"crypto/rand"
	"testing"
)

// benchmarkDH measures one side of a key exchange: a fresh key pair and the
// shared secret with the peer's public value, the D-H cost of one IKE_SA_INIT.
func benchmarkDH(b *testing.B, id DHGroup) {
	g := mustGroup(b, id)
	peer, err := g.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		k, err := g.GenerateKey(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := k.SharedSecret(peer.PublicValue()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDHCurve25519(b *testing.B) { benchmarkDH(b, Curve25519) }
func BenchmarkDHECP256(b *testing.B)     { benchmarkDH(b, ECP256) }
func BenchmarkDHECP384(b *testing.B)     { benchmarkDH(b, ECP384) }
func BenchmarkDHMODP2048(b *testing.B)   { benchmarkDH(b, MODP2048) }

// BenchmarkKeySchedule is SKEYSEED and the seven SK_* keys of a new IKE SA
// with AES-GCM-16-256 and PRF_HMAC_SHA2_256, 32-octet nonces.
func BenchmarkKeySchedule(b *testing.B) {
	s := mustSuite(b, EncrAESGCM16, 256, IntegNone, PRFHMACSHA2_256)
	ni, nr, gir := repeat(1, 32), repeat(2, 32), repeat(3, 32)
	b.ReportAllocs()
	for b.Loop() {
		seed := SKEYSEED(s.PRF(), ni, nr, gir)
		if _, err := s.DeriveKeys(seed, ni, nr, 1, 2); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSharedKeyMIC is the PSK AUTH of one side: signed octets over a
// 400-octet IKE_SA_INIT message, then the MIC.
func BenchmarkSharedKeyMIC(b *testing.B) {
	prf := mustPRF(b, PRFHMACSHA2_256)
	real, nonce, skp := repeat(0x21, 400), repeat(0x40, 32), repeat(0x5a, 32)
	id := append([]byte{2, 0, 0, 0}, "mn.example.net"...)
	secret := []byte("a pre-shared key of reasonable length")
	b.ReportAllocs()
	for b.Loop() {
		SharedKeyMIC(prf, secret, SignedOctets(prf, skp, real, nonce, id))
	}
}

// benchmarkSK seals, or opens, an IKE_AUTH message with 200 octets of inner
// payloads. Seal appends into a reused buffer; Open decrypts in place, so
// each iteration first copies the sealed message into the work buffer.
func benchmarkSK(b *testing.B, s Suite, open bool) {
	sealer, opener := newSKPair(b, s)
	inner := repeat(0x24, 200)
	hdr := header(sealer, len(inner))
	buf := make([]byte, 0, len(hdr)+len(inner)+sealer.Overhead(len(inner)))
	sealed, err := sealer.Seal(append(buf, hdr...), inner)
	if err != nil {
		b.Fatal(err)
	}
	sealed = append([]byte(nil), sealed...)
	b.SetBytes(int64(len(inner)))
	b.ReportAllocs()
	for b.Loop() {
		if open {
			msg := append(buf[:0], sealed...)
			if _, err := opener.Open(msg, ikeHeaderLen+4); err != nil {
				b.Fatal(err)
			}
			continue
		}
		if _, err := sealer.Seal(append(buf[:0], hdr...), inner); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSKSealAESGCM128(b *testing.B) {
	benchmarkSK(b, mustSuite(b, EncrAESGCM16, 128, IntegNone, PRFHMACSHA2_256), false)
}

func BenchmarkSKOpenAESGCM128(b *testing.B) {
	benchmarkSK(b, mustSuite(b, EncrAESGCM16, 128, IntegNone, PRFHMACSHA2_256), true)
}

func BenchmarkSKSealAESCBCHMACSHA256(b *testing.B) {
	benchmarkSK(b, mustSuite(b, EncrAESCBC, 128, IntegHMACSHA2_256_128, PRFHMACSHA2_256), false)
}

func BenchmarkSKOpenAESCBCHMACSHA256(b *testing.B) {
	benchmarkSK(b, mustSuite(b, EncrAESCBC, 128, IntegHMACSHA2_256_128, PRFHMACSHA2_256), true)
}

func BenchmarkSKSealChaCha20Poly1305(b *testing.B) {
	benchmarkSK(b, mustSuite(b, EncrChaCha20Poly1305, 0, IntegNone, PRFHMACSHA2_256), false)
}
