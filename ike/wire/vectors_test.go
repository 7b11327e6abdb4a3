package wire

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// Known-answer vectors of ../shared/spec/vectors.md (§ numbers below), each
// decoded into fields and rebuilt byte for byte.

// unhex decodes hex that may contain spaces, newlines and "|" separators.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	s = strings.NewReplacer(" ", "", "\n", "", "\t", "", "|", "").Replace(s)
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// chain encodes payloads as a bare chain (Next Payload of the last is 0), the
// form the vectors print.
func chain(t testing.TB, ps ...Payload) []byte {
	t.Helper()
	var b Builder
	b.ResetChain(nil)
	for _, p := range ps {
		b.Add(p)
	}
	out, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// onlyPayload parses a single payload printed with Next Payload 0.
func onlyPayload(t testing.TB, b []byte, typ PayloadType) RawPayload {
	t.Helper()
	ps, err := ParsePayloads(b, typ, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 {
		t.Fatalf("%d payloads, want 1", len(ps))
	}
	return ps[0]
}

const ni32 = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

// Whole protected messages of vectors.md §9.2 (a), §9.2 (b) and §3.2.
const (
	gcmInformationalHex = `010203040506070811121314151617182e2025000000000000000053290000370000000000000001
		5857bf8493e39cb4c8e1289c0aa08300f616c40d2e81ee2290c9693b296bd3699d3447713e43e34aaa5d4e`
	gcmAuthResponseHex = `010203040506070811121314151617182e20232000000001000000d72f0000bb0000000000000002
		503e1e83025c9b2a2d7449717a9625365eb06bfe3a37d047f54ac6b781238bb946f472fe5f00bd729f
		0592c98a38aced8daf6f7c5bc0716ae29dfcc2a56ff692af16a9f360878fc27fa419251abc7a6be739
		93ef10ecc22a1f6684757ca9facc2c3a2b68f35bf24ae1aab9e3366834cfec269969ff52c08ba5721871
		e28801537fb8670ce206208831a3470c0d963ce0d1075bd057d125d955ad8c040c33d22397c1a133caa3
		1b3505bfa7b2e75fd5`
	chachaInformationalHex = `c0c1c2c3c4c5c6c7d0d1d2d3d4d5d6d72e20250000000009000000452900002910111213141516
		17610394701f8d017f7c129248896b71bfe25236efd7cdc67066906315b2`
)

// vectors.md §7.2: RFC 5685 notify payloads.
func TestVectorsRedirectNotifies(t *testing.T) {
	ni := unhex(t, ni32)
	ha2v6 := netip.MustParseAddr("2001:db8:1::2")
	tests := []struct {
		name     string
		hex      string
		exchange ExchangeType
		payload  Payload
	}{
		{"REDIRECT_SUPPORTED", "0000000800004016", ExchangeIKESAInit,
			Notify{Type: NotifyRedirectSupported}},
		{"REDIRECT IPv6 IKE_SA_INIT", "0000003a00004017 0210 20010db8000100000000000000000002" + ni32, ExchangeIKESAInit,
			Redirect{Gateway: GatewayAddr(ha2v6), Nonce: ni}},
		{"REDIRECT IPv4 IKE_SA_INIT", "0000002e00004017 0104 c000020a" + ni32, ExchangeIKESAInit,
			Redirect{Gateway: GatewayAddr(netip.MustParseAddr("192.0.2.10")), Nonce: ni}},
		{"REDIRECT FQDN IKE_SA_INIT", "0000003900004017 030f 6861322e6578616d706c652e6e6574" + ni32, ExchangeIKESAInit,
			Redirect{Gateway: GatewayFQDN("ha2.example.net"), Nonce: ni}},
		{"REDIRECT FQDN IKE_AUTH", "0000001900004017 030f 6861322e6578616d706c652e6e6574", ExchangeIKEAuth,
			Redirect{Gateway: GatewayFQDN("ha2.example.net")}},
		{"REDIRECT IPv6 INFORMATIONAL", "0000001a00004017 0210 20010db8000100000000000000000002", ExchangeInformational,
			Redirect{Gateway: GatewayAddr(ha2v6)}},
		{"REDIRECTED_FROM IPv6", "0000001a00004018 0210 20010db8000100000000000000000001", ExchangeIKESAInit,
			RedirectedFrom{Gateway: GatewayAddr(netip.MustParseAddr("2001:db8:1::1"))}},
		{"REDIRECTED_FROM IPv4", "0000000e00004018 0104 c0000201", ExchangeIKESAInit,
			RedirectedFrom{Gateway: GatewayAddr(netip.MustParseAddr("192.0.2.1"))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.hex)
			if got := chain(t, tt.payload); !bytes.Equal(got, want) {
				t.Errorf("encoded %x, want %x", got, want)
			}
			n, err := ParseNotify(onlyPayload(t, want, PayloadNotify).Body)
			if err != nil {
				t.Fatal(err)
			}
			switch p := tt.payload.(type) {
			case Redirect:
				r, err := n.Redirect(tt.exchange, ni)
				if err != nil {
					t.Fatal(err)
				}
				if r.Gateway != p.Gateway || !bytes.Equal(r.Nonce, p.Nonce) {
					t.Errorf("decoded %+v, want %+v", r, p)
				}
			case RedirectedFrom:
				r, err := n.RedirectedFrom()
				if err != nil {
					t.Fatal(err)
				}
				if r != p {
					t.Errorf("decoded %+v, want %+v", r, p)
				}
			case Notify:
				if n.Type != p.Type || len(n.Data) != 0 || len(n.SPI) != 0 {
					t.Errorf("decoded %+v, want %+v", n, p)
				}
			}
		})
	}
}

// vectors.md §7.2: the complete IKE_SA_INIT response that redirects.
func TestVectorsRedirectResponse(t *testing.T) {
	want := unhex(t, `0102030405060708 0000000000000000 29 20 22 20 00000000 00000056
		0000003a00004017 0210 20010db8000100000000000000000002`+ni32)
	ni := unhex(t, ni32)
	var b Builder
	b.Reset(nil, HeaderFields{SPIi: 0x0102030405060708, ExchangeType: ExchangeIKESAInit, Flags: FlagResponse})
	b.Add(Redirect{Gateway: GatewayAddr(netip.MustParseAddr("2001:db8:1::2")), Nonce: ni})
	got, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("built\n%x\nwant\n%x", got, want)
	}
	var m Message
	if err := ParseMessage(want, &m); err != nil {
		t.Fatal(err)
	}
	if m.Header.SPIr() != 0 || !m.Header.Flags().Response() || m.Header.Flags().Initiator() {
		t.Errorf("header %+v", m.Header.Fields())
	}
	n, ok := m.Payloads.Notify(NotifyRedirect)
	if !ok {
		t.Fatal("no REDIRECT")
	}
	r, err := n.Redirect(ExchangeIKESAInit, ni)
	if err != nil || r.Gateway.Addr() != netip.MustParseAddr("2001:db8:1::2") {
		t.Errorf("Redirect = %+v, %v", r, err)
	}
}

// vectors.md §7.3: the scapy capture's REDIRECT carries Protocol ID 1, which
// receivers must ignore when there is no SPI (RFC 7296 §3.10).
func TestVectorsScapyRedirect(t *testing.T) {
	ni := unhex(t, "4bf3ea6cd0c6afe702c567fe7db3ff973424bb5e9de6af12 3a41975a6ffb266e9c5b4c915795132b")
	p := onlyPayload(t, append(unhex(t, "0000004e 01 00 4017 03 1c 6d6f6e657962696e2e6475636b627572672e6469736e65792e636f6d"), ni...), PayloadNotify)
	n, err := ParseNotify(p.Body)
	if err != nil {
		t.Fatal(err)
	}
	if n.ProtocolID != ProtocolIKE {
		t.Fatalf("Protocol ID %v, the capture has 1", n.ProtocolID)
	}
	r, err := n.Redirect(ExchangeIKESAInit, ni)
	if err != nil {
		t.Fatal(err)
	}
	if r.Gateway != GatewayFQDN("moneybin.duckburg.disney.com") {
		t.Errorf("gateway %v", r.Gateway)
	}
	// Frame 3: REDIRECTED_FROM 10.5.2.52, followed by another Notify.
	body := unhex(t, "2900000e0000401801040a050234")[4:]
	n, err = ParseNotify(body)
	if err != nil {
		t.Fatal(err)
	}
	rf, err := n.RedirectedFrom()
	if err != nil || rf.Gateway != GatewayAddr(netip.MustParseAddr("10.5.2.52")) {
		t.Errorf("RedirectedFrom = %v, %v", rf, err)
	}
}

// vectors.md §4.1 and §5: KE payloads for P-256 and Curve25519.
func TestVectorsKE(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		ke   KE
	}{
		{"P-256 KEi", "00000048 00130000" +
			"dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180" +
			"5271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3",
			KE{Group: DHECP256, Data: unhex(t, "dad0b65394221cf9b051e1feca5787d098dfe637fc90b9ef945d0c3772581180"+
				"5271a0461cdb8252d61f1c456fa3e59ab1f45b33accf5f58389e0577b8990bb3")}},
		{"X25519", "00000028 001f0000 48d5ddd4061257ba166fa3f9bbdb74f1a4e81c089384fa77f790709f0dfbc766",
			KE{Group: DHCurve25519, Data: unhex(t, "48d5ddd4061257ba166fa3f9bbdb74f1a4e81c089384fa77f790709f0dfbc766")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := unhex(t, tt.hex)
			if got := chain(t, tt.ke); !bytes.Equal(got, want) {
				t.Errorf("encoded %x, want %x", got, want)
			}
			ke, err := ParseKE(onlyPayload(t, want, PayloadKE).Body)
			if err != nil || ke.Group != tt.ke.Group || !bytes.Equal(ke.Data, tt.ke.Data) {
				t.Errorf("ParseKE = %v, %v", ke, err)
			}
		})
	}
}

// vectors.md §6: RFC 7427 AUTH data for method 14.
func TestVectorsDigitalSignature(t *testing.T) {
	algs := []string{
		"300d06092a864886f70d01010b0500", // sha256WithRSAEncryption
		"300a06082a8648ce3d040302",       // ecdsa-with-sha256
		"3046 06092a864886f70d01010a 3039 a00f 300d 0609608648016503040201 0500" +
			"a11c 301a 06092a864886f70d010108 300d 0609608648016503040201 0500 a203 020120 a303 020101", // RSASSA-PSS
	}
	lengths := []byte{0x0f, 0x0c, 0x48}
	sig := []byte("signature value")
	for i, a := range algs {
		alg := unhex(t, a)
		data, err := DigitalSignature{AlgorithmIdentifier: alg, Signature: sig}.Append(nil)
		if err != nil {
			t.Fatal(err)
		}
		if data[0] != lengths[i] || !bytes.Equal(data[1:1+len(alg)], alg) || !bytes.Equal(data[1+len(alg):], sig) {
			t.Errorf("AUTH data %x", data)
		}
		ds, err := ParseDigitalSignature(data)
		if err != nil || !bytes.Equal(ds.AlgorithmIdentifier, alg) || !bytes.Equal(ds.Signature, sig) {
			t.Errorf("ParseDigitalSignature = %x, %v", ds, err)
		}
	}
	if _, err := (DigitalSignature{AlgorithmIdentifier: make([]byte, 256)}).Append(nil); !errors.Is(err, ErrInvalidValue) {
		t.Errorf("256-octet AlgorithmIdentifier: %v, want ErrInvalidValue", err)
	}
	if _, err := ParseDigitalSignature([]byte{0x0f, 1, 2}); !errors.Is(err, ErrSyntax) {
		t.Errorf("short AlgorithmIdentifier: %v, want ErrSyntax", err)
	}
}

// vectors.md §3.2 (RFC 7634 App. B): the ChaCha20-Poly1305 INFORMATIONAL.
// The builder lays out the message; the RFC's ciphertext and tag, written
// where the cipher would write them, must complete it byte for byte.
func TestVectorsChaCha20Layout(t *testing.T) {
	var b Builder
	b.Reset(nil, HeaderFields{SPIi: 0xc0c1c2c3c4c5c6c7, SPIr: 0xd0d1d2d3d4d5d6d7,
		ExchangeType: ExchangeInformational, MessageID: 9})
	b.BeginSK()
	b.Add(Notify{Type: NotifySetWindowSize, Data: []byte{0, 0, 0, 0x0a}})
	e, err := b.FinishSK(8, 1, 16)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "c0c1c2c3c4c5c6c7 d0d1d2d3d4d5d6d7 2e 20 25 00 00000009 00000045 | 29 00 0029"); !bytes.Equal(e.AssociatedData(), want) {
		t.Errorf("AAD %x, want %x", e.AssociatedData(), want)
	}
	iv, content, icv, err := e.Split(8, 16)
	if err != nil {
		t.Fatal(err)
	}
	if want := unhex(t, "0000000c000040010000000a 00"); !bytes.Equal(content, want) {
		t.Errorf("plaintext %x, want %x", content, want)
	}
	copy(iv, unhex(t, "1011121314151617"))
	copy(content, unhex(t, "610394701f8d017f7c12924889"))
	copy(icv, unhex(t, "6b71bfe25236efd7cdc67066906315b2"))
	want := unhex(t, chachaInformationalHex)
	if !bytes.Equal(b.Bytes(), want) {
		t.Errorf("message\n%x\nwant\n%x", b.Bytes(), want)
	}
}

// gcmKeys are the vectors.md §9.2 keys: SK_e = 16-octet key ‖ 4-octet salt.
var gcmKeys = struct{ ei, er string }{
	ei: "000102030405060708090a0b0c0d0e0f a0a1a2a3",
	er: "101112131415161718191a1b1c1d1e1f b0b1b2b3",
}

// sealGCM encrypts a laid-out message in place with AES-GCM-16
// (RFC 5282: nonce = salt ‖ IV, AAD = header through the SK header).
func sealGCM(t *testing.T, e Encrypted, skE, iv []byte) {
	t.Helper()
	block, err := aes.NewCipher(skE[:16])
	if err != nil {
		t.Fatal(err)
	}
	aead, _ := cipher.NewGCM(block)
	eiv, content, icv, err := e.Split(8, 16)
	if err != nil {
		t.Fatal(err)
	}
	copy(eiv, iv)
	nonce := append(append([]byte{}, skE[16:]...), iv...)
	sealed := aead.Seal(content[:0], nonce, content, e.AssociatedData())
	if &sealed[0] != &content[0] || len(sealed) != len(content)+len(icv) {
		t.Fatal("Seal did not write in place over content and ICV")
	}
}

// openGCM verifies and decrypts a received message's SK payload.
func openGCM(t *testing.T, e Encrypted, skE []byte) []byte {
	t.Helper()
	block, _ := aes.NewCipher(skE[:16])
	aead, _ := cipher.NewGCM(block)
	iv, _, _, err := e.Split(8, 16)
	if err != nil {
		t.Fatal(err)
	}
	nonce := append(append([]byte{}, skE[16:]...), iv...)
	plain, err := aead.Open(nil, nonce, e.Body()[8:], e.AssociatedData())
	if err != nil {
		t.Fatal(err)
	}
	return plain
}

// vectors.md §9.2 (a): an INFORMATIONAL REDIRECT under AES-GCM-16, built and
// sealed, then parsed and opened.
func TestVectorsGCMInformationalRedirect(t *testing.T) {
	skEr := unhex(t, gcmKeys.er)
	want := unhex(t, gcmInformationalHex)
	gw := GatewayAddr(netip.MustParseAddr("2001:db8:1::2"))

	var b Builder
	b.Reset(nil, HeaderFields{SPIi: 0x0102030405060708, SPIr: 0x1112131415161718, ExchangeType: ExchangeInformational})
	b.BeginSK()
	b.Add(Redirect{Gateway: gw})
	e, err := b.FinishSK(8, 1, 16)
	if err != nil {
		t.Fatal(err)
	}
	if aad := unhex(t, "010203040506070811121314151617182e202500000000000000005329000037"); !bytes.Equal(e.AssociatedData(), aad) {
		t.Errorf("AAD %x, want %x", e.AssociatedData(), aad)
	}
	sealGCM(t, e, skEr, unhex(t, "0000000000000001"))
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("message\n%x\nwant\n%x", b.Bytes(), want)
	}

	var m Message
	if err := ParseMessage(want, &m); err != nil {
		t.Fatal(err)
	}
	re, ok := m.Encrypted()
	if !ok || re.Next != PayloadNotify || re.FragmentNumber != 0 {
		t.Fatalf("Encrypted() = %+v, %v", re, ok)
	}
	if err := m.ParseDecrypted(openGCM(t, re, skEr)); err != nil {
		t.Fatal(err)
	}
	n, ok := m.Inner.Notify(NotifyRedirect)
	if !ok {
		t.Fatal("no REDIRECT inside SK")
	}
	r, err := n.Redirect(ExchangeInformational, nil)
	if err != nil || r.Gateway != gw {
		t.Errorf("Redirect = %+v, %v", r, err)
	}
}

// vectors.md §9.2 (b): the MIPv6 pieces of an IKE_AUTH response (CP with
// INTERNAL_IP6_ADDRESS and MIP6_HOME_PREFIX, USE_TRANSPORT_MODE, MH-type
// selectors) under AES-GCM-16.
func TestVectorsGCMAuthResponse(t *testing.T) {
	skEr := unhex(t, gcmKeys.er)
	want := unhex(t, gcmAuthResponseHex)
	hoa := netip.MustParseAddr("2001:db8:1::1234")
	ha := netip.MustParseAddr("2001:db8:1::1")
	start, end := MHTypeRange(5, 6) // BU..BA
	sel := func(a netip.Addr) TrafficSelector {
		s := AddrSelector(a)
		s.IPProtocol, s.StartPort, s.EndPort = IPProtocolMH, start, end
		return s
	}
	cp := CP{Type: CFGReply, Attributes: []CFGAttribute{
		{Type: CFGInternalIP6Address, Addr: hoa, PrefixLen: 64},
		{Type: CFGMIP6HomePrefix, Lifetime: 86400, Addr: netip.MustParseAddr("2001:db8:1::"), PrefixLen: 64},
	}}
	tsi, tsr := TSi{Selectors: []TrafficSelector{sel(hoa)}}, TSr{Selectors: []TrafficSelector{sel(ha)}}

	var b Builder
	b.Reset(nil, HeaderFields{SPIi: 0x0102030405060708, SPIr: 0x1112131415161718,
		ExchangeType: ExchangeIKEAuth, Flags: FlagResponse, MessageID: 1})
	b.BeginSK()
	b.Add(cp)
	b.Add(Notify{Type: NotifyUseTransportMode})
	b.Add(tsi)
	b.Add(tsr)
	e, err := b.FinishSK(8, 1, 16)
	if err != nil {
		t.Fatal(err)
	}
	_, content, _, _ := e.Split(8, 16)
	plain := unhex(t, `2900003602000000 0008001120010db800010000000000000000123440
		0010001500015180 20010db8000100000000000000000000 40
		2c00000800004007
		2d00003001000000 08870028 05000600 20010db8000100000000000000001234 20010db8000100000000000000001234
		0000003001000000 08870028 05000600 20010db8000100000000000000000001 20010db8000100000000000000000001
		00`)
	if !bytes.Equal(content, plain) {
		t.Errorf("plaintext\n%x\nwant\n%x", content, plain)
	}
	sealGCM(t, e, skEr, unhex(t, "0000000000000002"))
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("message\n%x\nwant\n%x", b.Bytes(), want)
	}

	var m Message
	if err := ParseMessage(want, &m); err != nil {
		t.Fatal(err)
	}
	re, _ := m.Encrypted()
	if err := m.ParseDecrypted(openGCM(t, re, skEr)); err != nil {
		t.Fatal(err)
	}
	var gotCP CP
	p, _ := m.Inner.First(PayloadCP)
	if err := ParseCP(p.Body, &gotCP); err != nil {
		t.Fatal(err)
	}
	if gotCP.Type != CFGReply || len(gotCP.Attributes) != 2 {
		t.Fatalf("CP %+v", gotCP)
	}
	if a := gotCP.Attributes[0]; a.Type != CFGInternalIP6Address || a.Prefix() != netip.MustParsePrefix("2001:db8:1::1234/64") {
		t.Errorf("INTERNAL_IP6_ADDRESS %+v", a)
	}
	if a := gotCP.Attributes[1]; a.Type != CFGMIP6HomePrefix || a.Lifetime != 86400 || a.Prefix() != netip.MustParsePrefix("2001:db8:1::/64") {
		t.Errorf("MIP6_HOME_PREFIX %+v", a)
	}
	var ts TS
	p, _ = m.Inner.First(PayloadTSi)
	if err := ParseTS(p.Body, &ts); err != nil {
		t.Fatal(err)
	}
	if first, last, ok := ts.Selectors[0].MHTypes(); !ok || first != 5 || last != 6 || ts.Selectors[0].StartAddr != hoa {
		t.Errorf("TSi %v", ts.Selectors[0])
	}
	if _, ok := m.Inner.Notify(NotifyUseTransportMode); !ok {
		t.Error("no USE_TRANSPORT_MODE")
	}
}

// vectors.md §9.1: the captured INFORMATIONAL REDIRECT under AES-CBC-128 and
// HMAC-SHA2-256-128, rebuilt with the captured IV and random padding.
func TestVectorsCBCInformationalRedirect(t *testing.T) {
	skEr := unhex(t, "eb016fe88e5a39801cd7e20e84f536a1")
	skAr := unhex(t, "3b6b7db72f5873ec105338748dfa3feab2d204daeef1573c660516e5742bbae3")
	want := unhex(t, `613145f75678a967 231f60ca33246156 2e 20 25 00 00000000 00000060
		29 00 0044 | 84af81839eb12e46786374f378566943
		| 5e1143bb5ca5d0d5fedfc6469834d325e7898d18feb0ebf338583e01c66a11a1
		| 7ad517fdfdebd7bda52807ccd04f2557`)
	var b Builder
	b.Reset(nil, HeaderFields{SPIi: 0x613145f75678a967, SPIr: 0x231f60ca33246156, ExchangeType: ExchangeInformational})
	b.BeginSK()
	b.Add(Redirect{Gateway: GatewayAddr(netip.MustParseAddr("fd00:1::3"))})
	e, err := b.FinishSK(aes.BlockSize, aes.BlockSize, 16)
	if err != nil {
		t.Fatal(err)
	}
	iv, content, icv, _ := e.Split(aes.BlockSize, 16)
	if want := unhex(t, "0000001a000040170210fd000001000000000000000000000003 0000000000 05"); !bytes.Equal(content, want) {
		t.Fatalf("plaintext %x, want %x", content, want)
	}
	copy(iv, want[32:48])
	copy(content[26:31], unhex(t, "3a82602239")) // the capture's random padding
	block, _ := aes.NewCipher(skEr)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(content, content)
	mac := hmac.New(sha256.New, skAr)
	mac.Write(e.Message[:len(e.Message)-len(icv)])
	copy(icv, mac.Sum(nil))
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("message\n%x\nwant\n%x", b.Bytes(), want)
	}
}
