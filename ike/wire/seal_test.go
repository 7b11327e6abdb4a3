package wire

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"testing"
)

// gcmSK follows the contract of the crypto layer's SK type (Sealer and
// Opener) with AES-GCM-16: an 8-octet counter IV, Pad Length 0, a 16-octet
// tag, nonce = salt ‖ IV (RFC 5282 §3–§5).
type gcmSK struct {
	aead  cipher.AEAD
	nonce [12]byte // salt ‖ IV
	seq   uint64
}

func newGCMSK(t testing.TB, skE []byte) *gcmSK {
	block, err := aes.NewCipher(skE[:16])
	if err != nil {
		t.Fatal(err)
	}
	aead, _ := cipher.NewGCM(block)
	s := &gcmSK{aead: aead}
	copy(s.nonce[:4], skE[16:])
	return s
}

func (s *gcmSK) Overhead(n int) int { return 8 + 1 + 16 }

func (s *gcmSK) Seal(msg, plaintext []byte) ([]byte, error) {
	n := len(msg)
	total := n + len(plaintext) + s.Overhead(len(plaintext))
	if int(binary.BigEndian.Uint32(msg[24:])) != total {
		return nil, errors.New("Length is not final")
	}
	out := slices.Grow(msg, total-n)[:n+8+len(plaintext)+1]
	copy(out[n+8:], plaintext) // the plaintext may start where the IV goes
	out[len(out)-1] = 0        // Pad Length
	s.seq++
	iv := out[n : n+8]
	binary.BigEndian.PutUint64(iv, s.seq)
	copy(s.nonce[4:], iv)
	return s.aead.Seal(out[:n+8], s.nonce[:], out[n+8:], out[:n]), nil
}

func (s *gcmSK) Open(msg []byte, body int) ([]byte, error) {
	iv, ct := msg[body:body+8], msg[body+8:]
	copy(s.nonce[4:], iv)
	pt, err := s.aead.Open(ct[:0], s.nonce[:], ct, msg[:body])
	if err != nil {
		return nil, err
	}
	return TrimPadding(pt)
}

var (
	_ Sealer = (*gcmSK)(nil)
	_ Opener = (*gcmSK)(nil)
)

// Builder.Seal with a Sealer produces the vectors.md §9.2 messages (the
// first two IVs of a fresh SK are 1 and 2), and Message.Open reads them back.
func TestSealAndOpen(t *testing.T) {
	sk := newGCMSK(t, unhex(t, gcmKeys.er))
	hdr := HeaderFields{SPIi: 0x0102030405060708, SPIr: 0x1112131415161718, ExchangeType: ExchangeInformational}
	gw := GatewayAddr(netip.MustParseAddr("2001:db8:1::2"))
	buf := make([]byte, 0, 512)

	var b Builder
	b.Reset(buf, hdr)
	b.BeginSK()
	b.Add(Redirect{Gateway: gw})
	got, err := b.Seal(sk)
	if err != nil {
		t.Fatal(err)
	}
	wantA := unhex(t, gcmInformationalHex)
	if !bytes.Equal(got, wantA) {
		t.Fatalf("sealed\n%x\nwant\n%x", got, wantA)
	}
	if &got[0] != &buf[:1][0] {
		t.Error("Seal did not encode in the caller's buffer")
	}

	hdr.ExchangeType, hdr.Flags, hdr.MessageID = ExchangeIKEAuth, FlagResponse, 1
	b.Reset(buf, hdr)
	b.BeginSK()
	b.Add(CP{Type: CFGReply, Attributes: []CFGAttribute{
		{Type: CFGInternalIP6Address, Addr: netip.MustParseAddr("2001:db8:1::1234"), PrefixLen: 64},
		{Type: CFGMIP6HomePrefix, Lifetime: 86400, Addr: netip.MustParseAddr("2001:db8:1::"), PrefixLen: 64},
	}})
	b.Add(Notify{Type: NotifyUseTransportMode})
	start, end := MHTypeRange(5, 6)
	for _, a := range []string{"2001:db8:1::1234", "2001:db8:1::1"} {
		s := AddrSelector(netip.MustParseAddr(a))
		s.IPProtocol, s.StartPort, s.EndPort = IPProtocolMH, start, end
		if a == "2001:db8:1::1234" {
			b.Add(TSi{Selectors: []TrafficSelector{s}})
		} else {
			b.Add(TSr{Selectors: []TrafficSelector{s}})
		}
	}
	got, err = b.Seal(sk)
	if err != nil {
		t.Fatal(err)
	}
	wantB := unhex(t, gcmAuthResponseHex)
	if !bytes.Equal(got, wantB) {
		t.Fatalf("sealed\n%x\nwant\n%x", got, wantB)
	}

	var m Message
	msg := append([]byte{}, wantA...)
	if err := ParseMessage(msg, &m); err != nil {
		t.Fatal(err)
	}
	if err := m.Open(newGCMSK(t, unhex(t, gcmKeys.er))); err != nil {
		t.Fatal(err)
	}
	n, ok := m.Inner.Notify(NotifyRedirect)
	if !ok {
		t.Fatal("no REDIRECT inside SK")
	}
	if r, err := n.Redirect(ExchangeInformational, nil); err != nil || r.Gateway != gw {
		t.Errorf("Redirect = %+v, %v", r, err)
	}
	// A message that does not authenticate is reported as the opener's error.
	msg = append([]byte{}, wantA...)
	msg[len(msg)-1] ^= 1
	ParseMessage(msg, &m)
	if err := m.Open(newGCMSK(t, unhex(t, gcmKeys.er))); err == nil {
		t.Error("Open accepted a corrupted tag")
	}
}

func TestSealKeepsPrefixWhenTheSealerGrowsTheBuffer(t *testing.T) {
	var b Builder
	b.Reset([]byte{0, 0, 0, 0}, HeaderFields{SPIi: 1, SPIr: 2, ExchangeType: ExchangeInformational})
	b.BeginSK()
	b.Add(DeleteIKESA())
	out, err := b.Seal(newGCMSK(t, unhex(t, gcmKeys.ei)))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out[:4], []byte{0, 0, 0, 0}) || len(out) != 4+28+4+8+8+1+16 || !bytes.Equal(b.Bytes(), out) {
		t.Fatalf("datagram %x", out)
	}
	var m Message
	if err := ParseMessage(out[4:], &m); err != nil {
		t.Fatal(err)
	}
	if err := m.Open(newGCMSK(t, unhex(t, gcmKeys.ei))); err != nil {
		t.Fatal(err)
	}
	if p, ok := m.Inner.First(PayloadDelete); !ok || !bytes.Equal(p.Body, []byte{1, 0, 0, 0}) {
		t.Errorf("inner %+v", m.Inner)
	}
}

// A sealer's error sticks in the Builder.
func TestSealError(t *testing.T) {
	var b Builder
	b.Reset(nil, HeaderFields{SPIi: 1})
	b.BeginSK()
	if _, err := b.Seal(failingSealer{}); !errors.Is(err, errSealer) {
		t.Fatalf("Seal: %v", err)
	}
	if _, err := b.Finish(); !errors.Is(err, errSealer) {
		t.Errorf("Finish after a sealer error: %v", err)
	}
	b.Reset(nil, HeaderFields{SPIi: 1})
	if _, err := b.Seal(failingSealer{}); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("Seal without BeginSK: %v", err)
	}
}

var errSealer = errors.New("sealer failed")

type failingSealer struct{}

func (failingSealer) Overhead(int) int                 { return 0 }
func (failingSealer) Seal(_, _ []byte) ([]byte, error) { return nil, errSealer }

// Fragments go through the same Sealer (RFC 7383 §2.5: each fragment is
// protected like an SK payload, its 8-octet header authenticated).
func TestSealFragment(t *testing.T) {
	var b Builder
	b.Reset(nil, HeaderFields{SPIi: 1, SPIr: 2, ExchangeType: ExchangeIKEAuth, Flags: FlagInitiator, MessageID: 1})
	b.BeginSKF(Fragment{Next: PayloadIDi, Number: 1, Total: 3, Content: []byte("first chunk")})
	out, err := b.Seal(newGCMSK(t, unhex(t, gcmKeys.ei)))
	if err != nil {
		t.Fatal(err)
	}
	var m Message
	if err := ParseMessage(out, &m); err != nil {
		t.Fatal(err)
	}
	e, _ := m.Encrypted()
	if e.FragmentNumber != 1 || e.TotalFragments != 3 || e.Next != PayloadIDi || e.BodyOffset() != HeaderLen+8 {
		t.Fatalf("fragment layout %+v", e)
	}
	chunk, err := newGCMSK(t, unhex(t, gcmKeys.ei)).Open(e.Message, e.BodyOffset())
	if err != nil || string(chunk) != "first chunk" {
		t.Errorf("fragment content %q, %v", chunk, err)
	}
	if err := m.Open(newGCMSK(t, unhex(t, gcmKeys.ei))); err == nil {
		t.Error("Message.Open on a fragment")
	}
}

func BenchmarkSealAuthResponse(b *testing.B) {
	sk := newGCMSK(b, unhex(b, gcmKeys.er))
	buf := make([]byte, 0, 1500)
	hdr := HeaderFields{SPIi: 1, SPIr: 2, ExchangeType: ExchangeIKEAuth, Flags: FlagResponse, MessageID: 1}
	cp := &CP{Type: CFGReply, Attributes: []CFGAttribute{
		{Type: CFGInternalIP6Address, Addr: netip.MustParseAddr("2001:db8:1::1234"), PrefixLen: 64},
	}}
	n := &Notify{Type: NotifyUseTransportMode}
	var bld Builder
	b.ReportAllocs()
	for b.Loop() {
		bld.Reset(buf[:0], hdr)
		bld.BeginSK()
		bld.Add(cp)
		bld.Add(n)
		if _, err := bld.Seal(sk); err != nil {
			b.Fatal(err)
		}
	}
}

// A message that should be protected but has no SK payload is malformed.
func TestOpenWithoutSK(t *testing.T) {
	var m Message
	if err := ParseMessage(initRequest(t), &m); err != nil {
		t.Fatal(err)
	}
	err := m.Open(newGCMSK(t, unhex(t, gcmKeys.ei)))
	syntaxAt(t, err, PayloadSK, len(m.Bytes()))
	syntaxAt(t, m.ParseDecrypted([]byte{0}), PayloadSK, len(m.Bytes()))
}
