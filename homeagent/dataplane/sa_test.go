package dataplane

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 7634 Appendix A (spec/vectors.md §3.1): ESP, tunnel mode, SPI 01020304,
// sequence number 5, ChaCha20-Poly1305.
const (
	rfc7634Key   = "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
	rfc7634Salt  = "a0a1a2a3"
	rfc7634IV    = "1011121314151617"
	rfc7634Inner = `45000054a6f200004001e778c6336405c000020508005b7a3a080000553bec10
		0007362708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223
		2425262728292a2b2c2d2e2f3031323334353637`
	rfc7634Trailer    = "01020204"
	rfc7634Ciphertext = `24039428b97f417e3c13753a4f05087b67c352e6a7fab1b982d466ef407ae5c6
		14ee8099d52844eb61aa95dfab4c02f72aa71e7c4c4f64c9befe2facc638e8f3
		cbec163fac469b502773f6fb94e664da9165b82829f641e0`
	rfc7634Tag = "76aaa8266b7fb0f7b11b369907e1ad43"
)

func rfc7634SA(t testing.TB, dir Direction) *SA {
	t.Helper()
	// The inner packet goes 198.51.100.5 -> 192.0.2.5.
	from, to := []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
	if dir == Inbound {
		from, to = to, from
	}
	sa, err := NewSA(SAConfig{
		SPI:         0x01020304,
		Direction:   dir,
		Transform:   EncrChaCha20Poly1305,
		KeyMaterial: unhex(t, rfc7634Key+rfc7634Salt),
		Local:       netip.MustParseAddrPort("203.0.113.1:4500"),
		Remote:      netip.MustParseAddrPort("203.0.113.2:4500"),
		LocalTS:     from,
		RemoteTS:    to,
	})
	if err != nil {
		t.Fatal(err)
	}
	return sa
}

func TestRFC7634AppendixASeal(t *testing.T) {
	sa := rfc7634SA(t, Outbound)
	inner := unhex(t, rfc7634Inner)
	buf := make([]byte, BufferSize)
	copy(buf[HeadRoom:], inner)
	got := sealESP(sa.aead, buf, len(inner), 0x01020304, 5, [8]byte(unhex(t, rfc7634IV)), sa.salt, nextHeaderIPv4)
	want := unhex(t, "01020304 00000005"+rfc7634IV+rfc7634Ciphertext+rfc7634Tag)
	if !bytes.Equal(got, want) {
		t.Fatalf("ESP packet\n got %x\nwant %x", got, want)
	}
}

func TestRFC7634AppendixAOpen(t *testing.T) {
	sa := rfc7634SA(t, Inbound)
	esp := unhex(t, "01020304 00000005"+rfc7634IV+rfc7634Ciphertext+rfc7634Tag)
	buf := make([]byte, BufferSize)
	copy(buf[ESPOffset:], esp)
	inner, r := sa.Open(buf, len(esp))
	if r != NotDropped {
		t.Fatalf("Open dropped the RFC 7634 vector: %v", r)
	}
	if want := unhex(t, rfc7634Inner); !bytes.Equal(inner, want) {
		t.Fatalf("inner packet\n got %x\nwant %x", inner, want)
	}
	if s := sa.Stats(); s.Packets != 1 || s.Bytes != 84 || s.Seq != 5 || s.LastUsed.IsZero() {
		t.Fatalf("stats after one packet: %+v", s)
	}
	// The same packet again is a replay (RFC 4303 §3.4.3).
	copy(buf[ESPOffset:], esp)
	if _, r := sa.Open(buf, len(esp)); r != DropReplay {
		t.Fatalf("second Open: %v, want %v", r, DropReplay)
	}
}

// The ESP trailer of the vector as the RFC prints it: pad 01 02, pad length
// 2, next header 4. Decrypting the ciphertext must give inner ‖ trailer.
func TestRFC7634AppendixAPlaintext(t *testing.T) {
	sa := rfc7634SA(t, Inbound)
	nonce := unhex(t, rfc7634Salt+rfc7634IV)
	pt, err := sa.aead.Open(nil, nonce, unhex(t, rfc7634Ciphertext+rfc7634Tag), unhex(t, "0102030400000005"))
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, rfc7634Inner+rfc7634Trailer); !bytes.Equal(pt, want) {
		t.Fatalf("plaintext\n got %x\nwant %x", pt, want)
	}
}

// AES-GCM keying material is key ‖ salt and the nonce salt ‖ IV (RFC 4106
// §4, §8.1). spec/vectors.md §9.2(a) uses the same construction for an IKE SK
// payload, decrypted and tag-checked by tshark.
func TestAESGCMKeyMaterialSplit(t *testing.T) {
	// SK_er: the message is sent by the original responder.
	aead, bits, err := newAEAD(EncrAESGCM16, unhex(t, "101112131415161718191a1b1c1d1e1f b0b1b2b3"))
	if err != nil || bits != 128 {
		t.Fatalf("newAEAD: %v, %d bits", err, bits)
	}
	aad := unhex(t, "010203040506070811121314151617182e202500000000000000005329000037")
	pt := unhex(t, "0000001a00004017021020010db8000100000000000000000002 00")
	got := aead.Seal(nil, unhex(t, "b0b1b2b3 0000000000000001"), pt, aad)
	want := unhex(t, "5857bf8493e39cb4c8e1289c0aa08300f616c40d2e81ee2290c969 3b296bd3699d3447713e43e34aaa5d4e")
	if !bytes.Equal(got, want) {
		t.Fatalf("AES-GCM-128\n got %x\nwant %x", got, want)
	}
}

// testInner builds an IPv6 or IPv4 packet of total length n from src to dst.
func testInner(src, dst netip.Addr, n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i * 7)
	}
	if src.Is4() {
		p[0] = 0x45
		binary.BigEndian.PutUint16(p[2:4], uint16(n))
		p[9] = 17
		copy(p[12:16], src.AsSlice())
		copy(p[16:20], dst.AsSlice())
		return p
	}
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:6], uint16(n-40))
	p[6] = 59
	copy(p[8:24], src.AsSlice())
	copy(p[24:40], dst.AsSlice())
	return p
}

var (
	hoa     = netip.MustParseAddr("2001:db8:1::1234")
	cnAddr  = netip.MustParseAddr("2001:db8:3::1")
	hoa4    = netip.MustParseAddr("192.0.2.10")
	cnAddr4 = netip.MustParseAddr("198.51.100.1")
)

type transformCase struct {
	name      string
	transform Transform
	keyLen    int
}

var transformCases = []transformCase{
	{"AES-GCM-128", EncrAESGCM16, 16},
	{"AES-GCM-192", EncrAESGCM16, 24},
	{"AES-GCM-256", EncrAESGCM16, 32},
	{"ChaCha20-Poly1305", EncrChaCha20Poly1305, 32},
}

// saPair returns the mobile node's outbound SA and the home agent's matching
// inbound SA (same SPI and keys): the MN sends from its HoA to anyone.
func saPair(t testing.TB, tc transformCase) (out, in *SA) {
	t.Helper()
	key := make([]byte, tc.keyLen+saltLen)
	for i := range key {
		key[i] = byte(i + 1)
	}
	mk := func(dir Direction, local, remote string, lts, rts []netip.Prefix) *SA {
		sa, err := NewSA(SAConfig{
			SPI: 0xc0ffee01, Direction: dir, Transform: tc.transform, KeyMaterial: key,
			Local: netip.MustParseAddrPort(local), Remote: netip.MustParseAddrPort(remote),
			LocalTS: lts, RemoteTS: rts,
		})
		if err != nil {
			t.Fatal(err)
		}
		return sa
	}
	mnTS := []netip.Prefix{netip.PrefixFrom(hoa, 128), netip.PrefixFrom(hoa4, 32)}
	any := []netip.Prefix{netip.MustParsePrefix("::/0"), netip.MustParsePrefix("0.0.0.0/0")}
	out = mk(Outbound, "[2001:db8:2::5]:4500", "[2001:db8:1::1]:4500", mnTS, any)
	in = mk(Inbound, "[2001:db8:1::1]:4500", "[2001:db8:2::5]:4500", any, mnTS)
	return out, in
}

func TestSealOpenRoundTrip(t *testing.T) {
	for _, tc := range transformCases {
		t.Run(tc.name, func(t *testing.T) {
			out, in := saPair(t, tc)
			seq := uint64(0)
			for _, n := range []int{20, 21, 22, 23, 40, 41, 42, 43, 100, 1280, 1400, 9000, MaxInnerPacket} {
				for _, v4 := range []bool{false, true} {
					if v4 && n > 65535 {
						continue
					}
					src, dst := hoa, cnAddr
					if v4 {
						src, dst = hoa4, cnAddr4
					} else if n < 40 {
						continue
					}
					inner := testInner(src, dst, n)
					buf := make([]byte, BufferSize)
					copy(buf[HeadRoom:], inner)
					esp, r := out.Seal(buf, n)
					if r != NotDropped {
						t.Fatalf("Seal %d octets: %v", n, r)
					}
					seq++
					// ESP header, IV = sequence number, 4-octet aligned trailer.
					if got := binary.BigEndian.Uint32(esp[0:4]); got != out.SPI() {
						t.Fatalf("SPI %#x", got)
					}
					if got := binary.BigEndian.Uint32(esp[4:8]); uint64(got) != seq {
						t.Fatalf("sequence number %d, want %d", got, seq)
					}
					if got := binary.BigEndian.Uint64(esp[8:16]); got != seq {
						t.Fatalf("IV %d, want the sequence number %d", got, seq)
					}
					if ctLen := len(esp) - espHeaderLen - ivLen - icvLen; ctLen%4 != 0 || ctLen < n+2 || ctLen > n+5 {
						t.Fatalf("ciphertext of %d octets for %d inner octets", ctLen, n)
					}
					if bytes.Equal(esp[HeadRoom-ESPOffset:][:n], inner) {
						t.Fatal("inner packet sent in clear")
					}
					rx := make([]byte, BufferSize)
					copy(rx[ESPOffset:], esp)
					got, r := in.Open(rx, len(esp))
					if r != NotDropped {
						t.Fatalf("Open %d octets: %v", n, r)
					}
					if !bytes.Equal(got, inner) {
						t.Fatalf("inner packet of %d octets changed", n)
					}
				}
			}
			if s := in.Stats(); s.Packets != seq || s.Seq != seq {
				t.Fatalf("inbound stats %+v after %d packets", s, seq)
			}
			if s := out.Stats(); s.Packets != seq || s.Seq != seq {
				t.Fatalf("outbound stats %+v after %d packets", s, seq)
			}
		})
	}
}

// NewSA keeps none of SAConfig.KeyMaterial: the caller wipes its buffer
// right after, and what one SA seals its peer, keyed from another copy of
// the same KEYMAT, still opens (in both directions, so that the salt is
// covered too).
func TestNewSAKeepsNoKeyMaterial(t *testing.T) {
	mnTS := []netip.Prefix{netip.PrefixFrom(hoa, 128)}
	anyTS := []netip.Prefix{netip.MustParsePrefix("::/0")}
	for _, tc := range transformCases {
		for _, wipeOut := range []bool{true, false} {
			key := make([]byte, tc.keyLen+saltLen)
			for i := range key {
				key[i] = byte(0x40 + i)
			}
			mk := func(dir Direction, km []byte, lts, rts []netip.Prefix) *SA {
				sa, err := NewSA(SAConfig{
					SPI: 0xc0ffee02, Direction: dir, Transform: tc.transform, KeyMaterial: km,
					Local: netip.MustParseAddrPort("[2001:db8:2::5]:4500"), Remote: netip.MustParseAddrPort("[2001:db8:1::1]:4500"),
					LocalTS: lts, RemoteTS: rts,
				})
				if err != nil {
					t.Fatal(err)
				}
				return sa
			}
			wiped, kept := key, bytes.Clone(key)
			outKey, inKey := kept, wiped
			if wipeOut {
				outKey, inKey = wiped, kept
			}
			out := mk(Outbound, outKey, mnTS, anyTS)
			in := mk(Inbound, inKey, anyTS, mnTS)
			clear(wiped)

			inner := testInner(hoa, cnAddr, 100)
			buf := make([]byte, BufferSize)
			copy(buf[HeadRoom:], inner)
			esp, r := out.Seal(buf, len(inner))
			if r != NotDropped {
				t.Fatalf("%s: Seal: %v", tc.name, r)
			}
			rx := make([]byte, BufferSize)
			copy(rx[ESPOffset:], esp)
			if got, r := in.Open(rx, len(esp)); r != NotDropped || !bytes.Equal(got, inner) {
				t.Errorf("%s, outbound key wiped %v: Open: %v", tc.name, wipeOut, r)
			}
		}
	}
}

// Every single-bit change of an ESP packet is rejected: in the SPI as a bad
// SPI, anywhere else by the ICV (RFC 4303 §3.4.4), and nothing is delivered.
func TestOpenTamper(t *testing.T) {
	for _, tc := range transformCases {
		t.Run(tc.name, func(t *testing.T) {
			out, in := saPair(t, tc)
			inner := testInner(hoa, cnAddr, 120)
			buf := make([]byte, BufferSize)
			copy(buf[HeadRoom:], inner)
			esp, _ := out.Seal(buf, len(inner))
			esp = bytes.Clone(esp)
			for i := range esp {
				for bit := range 8 {
					rx := make([]byte, BufferSize)
					copy(rx[ESPOffset:], esp)
					rx[ESPOffset+i] ^= 1 << bit
					want := DropAuthFail
					if i < 4 {
						want = DropBadSPI
					}
					if i >= 4 && i < 8 && binary.BigEndian.Uint32(rx[ESPOffset+4:]) == 0 {
						want = DropReplay // sequence number 0 is never valid
					}
					if _, r := in.Open(rx, len(esp)); r != want {
						t.Fatalf("octet %d bit %d flipped: %v, want %v", i, bit, r, want)
					}
				}
			}
			// Truncation.
			for _, n := range []int{0, 1, minESPLen - 1, len(esp) - 1} {
				rx := make([]byte, BufferSize)
				copy(rx[ESPOffset:], esp[:n])
				if _, r := in.Open(rx, n); r == NotDropped {
					t.Fatalf("truncated to %d octets: accepted", n)
				}
			}
			if s := in.Stats(); s.Packets != 0 || s.Drops[DropAuthFail] == 0 {
				t.Fatalf("stats %+v", s)
			}
			// The untouched packet still opens: failures did not move the window.
			rx := make([]byte, BufferSize)
			copy(rx[ESPOffset:], esp)
			if _, r := in.Open(rx, len(esp)); r != NotDropped {
				t.Fatalf("original after tampering: %v", r)
			}
		})
	}
}

// sealRaw encrypts an arbitrary ESP payload (inner ‖ padding ‖ trailer as
// given) so that tests can reach the checks behind the ICV.
func sealRaw(t testing.TB, sa *SA, seq uint32, payload []byte) ([]byte, int) {
	buf := make([]byte, BufferSize)
	binary.BigEndian.PutUint32(buf[ESPOffset:], sa.spi)
	binary.BigEndian.PutUint32(buf[ESPOffset+4:], seq)
	binary.BigEndian.PutUint64(buf[ESPOffset+8:], uint64(seq))
	nonce := append(sa.salt[:], buf[ESPOffset+8:HeadRoom]...)
	ct := sa.aead.Seal(nil, nonce, payload, buf[ESPOffset:ESPOffset+8])
	n := copy(buf[HeadRoom:], ct)
	return buf, espHeaderLen + ivLen + n
}

func TestOpenTrailer(t *testing.T) {
	_, in := saPair(t, transformCases[0])
	v6 := testInner(hoa, cnAddr, 60)
	v4 := testInner(hoa4, cnAddr4, 60)
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	cases := []struct {
		name    string
		payload []byte
		want    DropReason
		inner   []byte
	}{
		{"ipv6 no padding", cat(v6, []byte{1, 2, 2, 41}), NotDropped, v6},
		{"ipv6 pad 0", cat(v6, []byte{0, 41}), NotDropped, v6},
		{"ipv4", cat(v4, []byte{1, 2, 2, 4}), NotDropped, v4},
		{"TFC padding after the inner packet", cat(v6, make([]byte, 30), []byte{0, 41}), NotDropped, v6},
		{"bad padding octets", cat(v6, []byte{1, 3, 2, 41}), DropMalformed, nil},
		{"pad length beyond payload", cat([]byte{200, 41}), DropMalformed, nil},
		{"next header mismatch", cat(v6, []byte{0, 4}), DropMalformed, nil},
		{"unknown next header", cat(v6, []byte{0, 17}), DropMalformed, nil},
		{"dummy packet", cat([]byte{1, 2, 2, 59}), DropDummy, nil},
		{"empty payload", nil, DropMalformed, nil},
		{"inner shorter than its header says", cat(v6[:50], []byte{0, 41}), DropMalformed, nil},
		{"source outside the selectors", cat(testInner(cnAddr, cnAddr, 60), []byte{0, 41}), DropSelector, nil},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			buf, n := sealRaw(t, in, uint32(i+1), c.payload)
			got, r := in.Open(buf, n)
			if r != c.want {
				t.Fatalf("Open: %v, want %v", r, c.want)
			}
			if c.inner != nil && !bytes.Equal(got, c.inner) {
				t.Fatalf("inner\n got %x\nwant %x", got, c.inner)
			}
		})
	}
}

func TestSealChecks(t *testing.T) {
	out, _ := saPair(t, transformCases[0])
	cases := []struct {
		name  string
		inner []byte
		bufN  int
		want  DropReason
	}{
		{"not IP", []byte{0x50, 1, 2, 3}, BufferSize, DropMalformed},
		{"length field larger than packet", testInner(hoa, cnAddr, 100)[:80], BufferSize, DropMalformed},
		{"source is not the HoA", testInner(cnAddr, cnAddr, 100), BufferSize, DropSelector},
		{"no tail-room", testInner(hoa, cnAddr, 100), HeadRoom + 100 + TailRoom - 1, DropTooBig},
		{"empty", nil, BufferSize, DropTooBig},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			buf := make([]byte, c.bufN)
			copy(buf[HeadRoom:], c.inner)
			if _, r := out.Seal(buf, len(c.inner)); r != c.want {
				t.Fatalf("Seal: %v, want %v", r, c.want)
			}
		})
	}
	if s := out.Stats(); s.Seq != 0 {
		t.Fatalf("refused packets used sequence numbers: %d", s.Seq)
	}
	_, in := saPair(t, transformCases[0])
	if _, r := in.Seal(make([]byte, BufferSize), 40); r != DropNoSA {
		t.Fatalf("Seal on an inbound SA: %v", r)
	}
	if _, r := out.Open(make([]byte, BufferSize), 100); r != DropNoSA {
		t.Fatalf("Open on an outbound SA: %v", r)
	}
}

// RFC 4303 §3.3.3: without ESN the sender must not let the counter cycle; it
// asks for a rekey at the soft limit and refuses to send after 2^32 - 1.
func TestSequenceNumberOverflow(t *testing.T) {
	key := make([]byte, 20)
	var signalled []*SA
	sa, err := NewSA(SAConfig{
		SPI: 0x1000, Direction: Outbound, Transform: EncrAESGCM16, KeyMaterial: key,
		Local: netip.MustParseAddrPort("[::1]:4500"), Remote: netip.MustParseAddrPort("[::2]:4500"),
		LocalTS: []netip.Prefix{netip.MustParsePrefix("::/0")}, RemoteTS: []netip.Prefix{netip.MustParsePrefix("::/0")},
		SoftSeqLimit: MaxSeq - 2,
		OnSoftLimit:  func(sa *SA) { signalled = append(signalled, sa) },
	})
	if err != nil {
		t.Fatal(err)
	}
	sa.seq.Store(MaxSeq - 5)
	inner := testInner(hoa, cnAddr, 60)
	send := func() (uint32, DropReason) {
		buf := make([]byte, BufferSize)
		copy(buf[HeadRoom:], inner)
		esp, r := sa.Seal(buf, len(inner))
		if r != NotDropped {
			return 0, r
		}
		return binary.BigEndian.Uint32(esp[4:8]), r
	}
	for want := uint32(MaxSeq - 4); want != 0; want++ {
		seq, r := send()
		if r != NotDropped || seq != want {
			t.Fatalf("sequence %d: got %d, %v", want, seq, r)
		}
		if got := sa.RekeyNeeded(); got != (want >= MaxSeq-2) {
			t.Fatalf("after sequence %d RekeyNeeded = %v", want, got)
		}
	}
	if len(signalled) != 1 || signalled[0] != sa {
		t.Fatalf("soft limit signalled %d times", len(signalled))
	}
	for range 3 {
		if _, r := send(); r != DropSeqExhausted {
			t.Fatalf("after 2^32-1: %v, want %v", r, DropSeqExhausted)
		}
	}
	if s := sa.Stats(); s.Seq != MaxSeq || s.Drops[DropSeqExhausted] != 3 || s.Packets != 5 {
		t.Fatalf("stats %+v", s)
	}
}

func TestNewSAErrors(t *testing.T) {
	good := func() SAConfig {
		return SAConfig{
			SPI: 0x1000, Direction: Inbound, Transform: EncrAESGCM16, KeyMaterial: make([]byte, 20),
			Local: netip.MustParseAddrPort("[::1]:4500"), Remote: netip.MustParseAddrPort("[::2]:4500"),
			LocalTS: []netip.Prefix{netip.MustParsePrefix("::/0")}, RemoteTS: []netip.Prefix{netip.MustParsePrefix("::/0")},
		}
	}
	if _, err := NewSA(good()); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(*SAConfig){
		"reserved SPI":         func(c *SAConfig) { c.SPI = 255 },
		"no direction":         func(c *SAConfig) { c.Direction = 0 },
		"unknown transform":    func(c *SAConfig) { c.Transform = 12 }, // ENCR_AES_CBC
		"AES key 15":           func(c *SAConfig) { c.KeyMaterial = make([]byte, 19) },
		"ChaCha key 16":        func(c *SAConfig) { c.Transform, c.KeyMaterial = EncrChaCha20Poly1305, make([]byte, 20) },
		"no key":               func(c *SAConfig) { c.KeyMaterial = nil },
		"remote port 0":        func(c *SAConfig) { c.Remote = netip.MustParseAddrPort("[::2]:0") },
		"remote unspecified":   func(c *SAConfig) { c.Remote = netip.MustParseAddrPort("[::]:4500") },
		"no local":             func(c *SAConfig) { c.Local = netip.AddrPort{} },
		"family mismatch":      func(c *SAConfig) { c.Local = netip.MustParseAddrPort("192.0.2.1:4500") },
		"no remote selector":   func(c *SAConfig) { c.RemoteTS = nil },
		"non-canonical prefix": func(c *SAConfig) { c.LocalTS = []netip.Prefix{netip.MustParsePrefix("2001:db8::1/64")} },
	}
	for name, mutate := range cases {
		c := good()
		mutate(&c)
		_, err := NewSA(c)
		if !errors.Is(err, ErrInvalidSA) {
			t.Errorf("%s: error %v does not wrap ErrInvalidSA", name, err)
		}
	}
}

func TestStrings(t *testing.T) {
	for r := DropReason(0); r < NumDropReasons; r++ {
		if s := r.String(); s == "" || strings.HasPrefix(s, "DropReason(") {
			t.Errorf("DropReason %d has no name", r)
		}
	}
	checks := map[fmt.Stringer]string{
		EncrAESGCM16: "ENCR_AES_GCM_16", EncrChaCha20Poly1305: "ENCR_CHACHA20_POLY1305", Transform(3): "Transform(3)",
		Inbound: "inbound", Outbound: "outbound", KindESP: "esp", KindIKE: "ike", KindKeepalive: "keepalive",
		DropReason(200): "DropReason(200)",
	}
	for v, want := range checks {
		if got := v.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", v, got, want)
		}
	}
}
