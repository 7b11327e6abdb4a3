package wire

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// The lab captures (strongSwan 5.9.8 and libreswan 4.10, ../lab/samples)
// are parsed message by message and every field is compared with what
// tshark 4.0.17 decodes from the same frames (testdata/*.tshark, written by
// testdata/tshark-fields.sh). Unencrypted messages are re-encoded byte for
// byte; encrypted ones are decrypted with the capture's keys, their inner
// payloads compared with tshark's decryption, and re-encrypted byte for
// byte through Builder.BeginSK/FinishSK.
func TestCaptures(t *testing.T) {
	for _, name := range []string{"ikev2-redirect-ike-sa-init", "ikev2-redirect-informational"} {
		t.Run(name, func(t *testing.T) {
			golden := readTshark(t, "testdata/"+name+".tshark")
			keys := readUAT(t, "testdata/"+name+".uat")
			seen := 0
			for _, d := range readPcap(t, "testdata/"+name+".pcap") {
				msg, ok := ikeMessage(d)
				if !ok {
					continue
				}
				seen++
				want, ok := golden[strconv.Itoa(d.frame)]
				if !ok {
					t.Errorf("frame %d: IKE message that tshark does not decode", d.frame)
					continue
				}
				t.Run("frame"+strconv.Itoa(d.frame), func(t *testing.T) {
					checkCapturedMessage(t, d, msg, want, keys)
				})
			}
			if seen != len(golden) {
				t.Errorf("found %d IKE messages, tshark decodes %d", seen, len(golden))
			}
		})
	}
}

func checkCapturedMessage(t *testing.T, d datagram, msg []byte, want map[string]string, keys map[uint64]saKeys) {
	var m Message
	if err := ParseMessage(msg, &m); err != nil {
		t.Fatalf("ParseMessage: %v", err)
	}
	var pad = -1
	var padding, plaintext []byte
	e, protected := m.Encrypted()
	k, haveKeys := keys[m.Header.SPIi()]
	if protected && haveKeys {
		plaintext = decryptCBC(t, e, k, m.Header.Flags().Initiator())
		if err := m.ParseDecrypted(plaintext); err != nil {
			t.Fatalf("ParseDecrypted: %v", err)
		}
		pad = int(plaintext[len(plaintext)-1])
		padding = plaintext[len(plaintext)-1-pad : len(plaintext)-1]
	}
	got := describe(t, &m, pad)
	got["udp.srcport"] = strconv.Itoa(int(d.srcPort))
	got["udp.dstport"] = strconv.Itoa(int(d.dstPort))
	got["frame.number"] = strconv.Itoa(d.frame)
	for field, w := range want {
		if g := got[field]; g != w {
			t.Errorf("%s = %q, tshark says %q", field, g, w)
		}
	}

	// Raw payloads re-encode to the same bytes, encrypted or not.
	var b Builder
	b.Reset(nil, m.Header.Fields())
	for i := range m.Payloads {
		b.Add(&m.Payloads[i])
	}
	if out, err := b.Finish(); err != nil || !bytes.Equal(out, msg) {
		t.Errorf("raw re-encoding differs (err %v)\n got %x\nwant %x", err, out, msg)
	}

	switch {
	case !protected:
		// Typed payloads re-encode to the same bytes.
		b.Reset(nil, m.Header.Fields())
		for _, p := range m.Payloads {
			b.Add(typed(t, p))
		}
		if out, err := b.Finish(); err != nil || !bytes.Equal(out, msg) {
			t.Errorf("typed re-encoding differs (err %v)\n got %x\nwant %x", err, out, msg)
		}
	case haveKeys:
		// Rebuild the protected message from typed inner payloads with the
		// captured IV and padding: the ciphertext and ICV must come out the
		// same.
		b.Reset(nil, m.Header.Fields())
		for _, p := range m.Payloads[:len(m.Payloads)-1] {
			b.Add(typed(t, p))
		}
		iv, _, _, _ := e.Split(aes.BlockSize, sha256.Size/2)
		b.BeginSK()
		for _, p := range m.Inner {
			b.Add(typed(t, p))
		}
		out, err := b.FinishSK(len(iv), aes.BlockSize, sha256.Size/2)
		if err != nil {
			t.Fatal(err)
		}
		niv, content, _, err := out.Split(aes.BlockSize, sha256.Size/2)
		if err != nil {
			t.Fatal(err)
		}
		if len(content) != len(plaintext) {
			t.Fatalf("built content of %d octets, captured %d", len(content), len(plaintext))
		}
		copy(niv, iv)
		copy(content[len(content)-1-pad:], padding)
		encryptCBC(out, k, m.Header.Flags().Initiator())
		if !bytes.Equal(b.Bytes(), msg) {
			t.Errorf("re-encrypted message differs\n got %x\nwant %x", b.Bytes(), msg)
		}
	}
}

// describe renders a parsed message as the tshark fields of
// testdata/tshark-fields.sh. pad is the decrypted Pad Length, -1 if the SK
// payload was not decrypted.
func describe(t *testing.T, m *Message, pad int) map[string]string {
	f := fields{}
	h := m.Header
	f.add("isakmp.ispi", fmt.Sprintf("%016x", h.SPIi()))
	f.add("isakmp.rspi", fmt.Sprintf("%016x", h.SPIr()))
	f.add("isakmp.nextpayload", strconv.Itoa(int(h.NextPayload())))
	f.add("isakmp.exchangetype", strconv.Itoa(int(h.ExchangeType())))
	f.add("isakmp.flags", fmt.Sprintf("0x%02x", uint8(h.Flags())))
	f.add("isakmp.messageid", fmt.Sprintf("0x%08x", h.MessageID()))
	f.add("isakmp.length", strconv.Itoa(int(h.Length())))
	for _, p := range m.Payloads {
		f.describePayload(t, p)
		if p.Type == PayloadSK {
			if pad >= 0 {
				f.add("isakmp.enc.pad_length", strconv.Itoa(pad))
			}
			for _, q := range m.Inner {
				f.describePayload(t, q)
			}
		}
	}
	return f.m
}

// fields accumulates repeated tshark fields, joined with ",".
type fields struct{ m map[string]string }

func (f *fields) add(name, value string) {
	if f.m == nil {
		f.m = map[string]string{}
	}
	if v, ok := f.m[name]; ok {
		f.m[name] = v + "," + value
	} else {
		f.m[name] = value
	}
}

func (f *fields) describePayload(t *testing.T, p RawPayload) {
	f.add("isakmp.typepayload", strconv.Itoa(int(p.Type)))
	f.add("isakmp.nextpayload", strconv.Itoa(int(p.Next)))
	switch p.Type {
	case PayloadSA:
		var sa SA
		if err := ParseSA(p.Body, &sa); err != nil {
			t.Fatal(err)
		}
		for i, prop := range sa.Proposals {
			f.add("isakmp.typepayload", "2")
			f.add("isakmp.nextpayload", strconv.Itoa(int(lastSubstruc(i == len(sa.Proposals)-1, 2))))
			f.add("isakmp.prop.number", strconv.Itoa(int(prop.Number)))
			f.add("isakmp.prop.protoid", strconv.Itoa(int(prop.ProtocolID)))
			for j, tr := range prop.Transforms {
				f.add("isakmp.typepayload", "3")
				f.add("isakmp.nextpayload", strconv.Itoa(int(lastSubstruc(j == len(prop.Transforms)-1, 3))))
				f.add("isakmp.tf.type", strconv.Itoa(int(tr.Type)))
				id := map[TransformType]string{TransformEncr: "encr", TransformPRF: "prf", TransformInteg: "integ", TransformDH: "dh", TransformESN: "esn"}[tr.Type]
				f.add("isakmp.tf.id."+id, strconv.Itoa(int(tr.ID)))
				if tr.KeyLength != 0 {
					f.add("isakmp.ike2.attr.key_length", strconv.Itoa(int(tr.KeyLength)))
				}
			}
		}
	case PayloadKE:
		ke, _ := ParseKE(p.Body)
		f.add("isakmp.key_exchange.dh_group", strconv.Itoa(int(ke.Group)))
		f.add("isakmp.key_exchange.data", hex.EncodeToString(ke.Data))
	case PayloadNonce:
		n, _ := ParseNonce(p.Body)
		f.add("isakmp.nonce", hex.EncodeToString(n.Data))
	case PayloadIDi, PayloadIDr:
		id, _ := ParseID(p.Body)
		f.add("isakmp.id.type", strconv.Itoa(int(id.Type)))
		if id.Type == IDFQDN {
			f.add("isakmp.id.data.fqdn", string(id.Data))
		}
	case PayloadAUTH:
		a, _ := ParseAuth(p.Body)
		f.add("isakmp.auth.method", strconv.Itoa(int(a.Method)))
		f.add("isakmp.auth.data", hex.EncodeToString(a.Data))
	case PayloadTSi, PayloadTSr:
		var ts TS
		if err := ParseTS(p.Body, &ts); err != nil {
			t.Fatal(err)
		}
		for _, s := range ts.Selectors {
			f.add("isakmp.ts.type", strconv.Itoa(int(s.Type)))
			f.add("isakmp.ts.protoid", strconv.Itoa(int(s.IPProtocol)))
			f.add("isakmp.ts.start_port", strconv.Itoa(int(s.StartPort)))
			f.add("isakmp.ts.end_port", strconv.Itoa(int(s.EndPort)))
			f.add("isakmp.ts.start_ipv6", s.StartAddr.String())
			f.add("isakmp.ts.end_ipv6", s.EndAddr.String())
		}
	case PayloadDelete:
		d, _ := ParseDelete(p.Body)
		f.add("isakmp.delete.protoid", strconv.Itoa(int(d.ProtocolID)))
	case PayloadNotify:
		n, _ := ParseNotify(p.Body)
		f.add("isakmp.notify.msgtype", strconv.Itoa(int(n.Type)))
		if len(n.Data) == 0 {
			f.add("isakmp.notify.data", "<MISSING>")
		} else {
			f.add("isakmp.notify.data", hex.EncodeToString(n.Data))
		}
		switch n.Type {
		case NotifyRedirect:
			r, err := ParseRedirect(n.Data)
			if err != nil {
				t.Fatal(err)
			}
			f.add("isakmp.notify.data.redirect.gw_ident.type", strconv.Itoa(int(r.Gateway.Type)))
			f.add("isakmp.notify.data.redirect.new_resp_gw_ident.ipv6", r.Gateway.Addr().String())
			if len(r.Nonce) != 0 {
				f.add("isakmp.notify.data.redirect.nonce_data", hex.EncodeToString(r.Nonce))
			}
		case NotifyRedirectedFrom:
			r, err := n.RedirectedFrom()
			if err != nil {
				t.Fatal(err)
			}
			f.add("isakmp.notify.data.redirect.gw_ident.type", strconv.Itoa(int(r.Gateway.Type)))
			f.add("isakmp.notify.data.redirect.org_resp_gw_ident.ipv6", r.Gateway.Addr().String())
		case NotifySignatureHashAlgorithms:
			hs, err := n.HashAlgorithms()
			if err != nil {
				t.Fatal(err)
			}
			var s []string
			for h := range hs.All() {
				s = append(s, strconv.Itoa(int(h)))
			}
			f.add("isakmp.notify.data.signature_hash_algorithms", strings.Join(s, ","))
		}
	}
}

// typed decodes a parsed payload into its typed value, so that encoding it
// exercises that type's Append.
func typed(t *testing.T, p RawPayload) Payload {
	t.Helper()
	var (
		v   Payload
		err error
	)
	switch p.Type {
	case PayloadSA:
		var sa SA
		err, v = ParseSA(p.Body, &sa), sa
	case PayloadKE:
		v, err = ParseKE(p.Body)
	case PayloadIDi:
		var id ID
		id, err = ParseID(p.Body)
		v = IDi(id)
	case PayloadIDr:
		var id ID
		id, err = ParseID(p.Body)
		v = IDr(id)
	case PayloadCERT:
		v, err = ParseCert(p.Body)
	case PayloadCERTREQ:
		v, err = ParseCertReq(p.Body)
	case PayloadAUTH:
		v, err = ParseAuth(p.Body)
	case PayloadNonce:
		v, err = ParseNonce(p.Body)
	case PayloadNotify:
		var n Notify
		n, err = ParseNotify(p.Body)
		v = n
		// Well-formed redirect notifies are re-encoded through their own
		// types; malformed ones stay plain notifies.
		if err == nil && len(n.SPI) == 0 && n.ProtocolID == 0 {
			switch n.Type {
			case NotifyRedirect:
				if r, err := ParseRedirect(n.Data); err == nil {
					v = r
				}
			case NotifyRedirectedFrom:
				if r, err := ParseRedirectedFrom(n.Data); err == nil {
					v = r
				}
			}
		}
	case PayloadDelete:
		v, err = ParseDelete(p.Body)
	case PayloadVendorID:
		v = VendorID{Data: p.Body}
	case PayloadTSi:
		var ts TS
		err, v = ParseTS(p.Body, &ts), TSi(ts)
	case PayloadTSr:
		var ts TS
		err, v = ParseTS(p.Body, &ts), TSr(ts)
	case PayloadCP:
		var cp CP
		err, v = ParseCP(p.Body, &cp), cp
	case PayloadEAP:
		v = EAP{Message: p.Body}
	default:
		v = p
	}
	if err != nil {
		t.Fatalf("%v payload: %v", p.Type, err)
	}
	return v
}

// saKeys are the keys of one IKE SA from a tshark ikev2_decryption_table.
type saKeys struct{ ei, er, ai, ar []byte }

// readUAT reads AES-CBC + HMAC-SHA2-256-128 keys from a tshark
// ikev2_decryption_table file; a missing file means no keys.
func readUAT(t testing.TB, path string) map[uint64]saKeys {
	keys := map[uint64]saKeys{}
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return keys
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		c := strings.Split(line, ",")
		if len(c) != 8 || c[4] != `"AES-CBC-128 [RFC3602]"` || c[7] != `"HMAC_SHA2_256_128 [RFC4868]"` {
			t.Fatalf("%s: unexpected line %q", path, line)
		}
		spi, _ := strconv.ParseUint(c[0], 16, 64)
		dec := func(s string) []byte {
			v, err := hex.DecodeString(s)
			if err != nil {
				t.Fatal(err)
			}
			return v
		}
		keys[spi] = saKeys{ei: dec(c[2]), er: dec(c[3]), ai: dec(c[5]), ar: dec(c[6])}
	}
	return keys
}

// decryptCBC verifies the ICV of a protected message and decrypts its SK
// content with AES-CBC-128 and HMAC-SHA2-256-128 (RFC 7296 §3.14).
func decryptCBC(t testing.TB, e Encrypted, k saKeys, fromInitiator bool) []byte {
	ke, ka := k.er, k.ar
	if fromInitiator {
		ke, ka = k.ei, k.ai
	}
	iv, content, icv, err := e.Split(aes.BlockSize, sha256.Size/2)
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, ka)
	mac.Write(e.Message[:len(e.Message)-len(icv)])
	if !hmac.Equal(mac.Sum(nil)[:len(icv)], icv) {
		t.Fatalf("ICV does not verify")
	}
	block, err := aes.NewCipher(ke)
	if err != nil {
		t.Fatal(err)
	}
	plain := make([]byte, len(content))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(plain, content)
	return plain
}

// encryptCBC encrypts the content of a message laid out by FinishSK in place
// and writes its ICV.
func encryptCBC(e Encrypted, k saKeys, fromInitiator bool) {
	ke, ka := k.er, k.ar
	if fromInitiator {
		ke, ka = k.ei, k.ai
	}
	iv, content, icv, _ := e.Split(aes.BlockSize, sha256.Size/2)
	block, _ := aes.NewCipher(ke)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(content, content)
	mac := hmac.New(sha256.New, ka)
	mac.Write(e.Message[:len(e.Message)-len(icv)])
	copy(icv, mac.Sum(nil))
}
