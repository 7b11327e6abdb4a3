package wire

import (
	"testing"
)

// A seedChain is a payload chain with the type of its first payload.
type seedChain struct {
	first PayloadType
	b     []byte
}

// seedMessages returns real and constructed IKE messages for fuzz seeds: the
// lab captures, the spec vectors and our own IKE_SA_INIT request.
func seedMessages(tb testing.TB) [][]byte {
	msgs := [][]byte{initRequest(tb)}
	for _, name := range []string{"ikev2-redirect-ike-sa-init", "ikev2-redirect-informational"} {
		for _, d := range readPcap(tb, "testdata/"+name+".pcap") {
			if m, ok := ikeMessage(d); ok {
				msgs = append(msgs, m)
			}
		}
	}
	msgs = append(msgs, unhex(tb, gcmInformationalHex), unhex(tb, gcmAuthResponseHex), unhex(tb, chachaInformationalHex))
	return msgs
}

// seedChains returns payload chains: the unencrypted chains of the seed
// messages, the decrypted SK contents of the informational capture and the
// plaintexts of the spec vectors.
func seedChains(tb testing.TB) []seedChain {
	var chains []seedChain
	keys := readUAT(tb, "testdata/ikev2-redirect-informational.uat")
	for _, msg := range seedMessages(tb) {
		h, err := ParseHeader(msg)
		if err != nil {
			tb.Fatal(err)
		}
		chains = append(chains, seedChain{h.NextPayload(), msg[HeaderLen:]})
		var m Message
		if err := ParseMessage(msg, &m); err != nil {
			tb.Fatal(err)
		}
		e, ok := m.Encrypted()
		k, haveKeys := keys[h.SPIi()]
		if !ok || !haveKeys {
			continue
		}
		inner, err := TrimPadding(decryptCBC(tb, e, k, h.Flags().Initiator()))
		if err != nil {
			tb.Fatal(err)
		}
		chains = append(chains, seedChain{e.Next, inner})
	}
	chains = append(chains,
		seedChain{PayloadCP, unhex(tb, `2900003602000000 0008001120010db800010000000000000000123440
		0010001500015180 20010db8000100000000000000000000 40
		2c00000800004007
		2d00003001000000 08870028 05000600 20010db8000100000000000000001234 20010db8000100000000000000001234
		0000003001000000 08870028 05000600 20010db8000100000000000000000001 20010db8000100000000000000000001`)},
		seedChain{PayloadNotify, unhex(tb, "0000000c000040010000000a")})
	return chains
}

// seedBodies returns the bodies of every payload of type t in the seed
// chains, plus extra encoded values.
func seedBodies(tb testing.TB, t PayloadType, extra ...Payload) [][]byte {
	var bodies [][]byte
	for _, c := range seedChains(tb) {
		ps, err := ParsePayloads(c.b, c.first, nil)
		if err != nil {
			// Unencrypted chains that end in SK are not inner chains.
			ps, err = parseChain(c.b, 0, c.first, nil, false)
			if err != nil {
				tb.Fatal(err)
			}
		}
		for _, p := range ps {
			if p.Type == t {
				bodies = append(bodies, p.Body)
			}
		}
	}
	for _, p := range extra {
		bodies = append(bodies, p.Append(nil))
	}
	return bodies
}

// checkStable is the property every body parser is fuzzed with: no panic;
// if parse accepts data, the value encodes to Len() octets that parse back
// to an equal value and encode to the same octets again; and the Builder
// accepts every value the parser produced.
func checkStable[T any](t *testing.T, data []byte, parse func([]byte) (T, error), length func(T) int, enc func(T, []byte) []byte, equal func(a, b T) bool) {
	v1, err := parse(data)
	if err != nil {
		return
	}
	if v, ok := any(v1).(validator); ok {
		if err := v.validate(); err != nil {
			t.Fatalf("parsed value %+v is not encodable: %v", v1, err)
		}
	}
	b1 := enc(v1, nil)
	if len(b1) != length(v1) {
		t.Fatalf("Len %d, Append wrote %d octets", length(v1), len(b1))
	}
	v2, err := parse(b1)
	if err != nil {
		t.Fatalf("re-encoded %x does not parse: %v", b1, err)
	}
	if !equal(v1, v2) {
		t.Fatalf("parse(append(v)) = %+v, want %+v", v2, v1)
	}
	if b2 := enc(v2, nil); string(b2) != string(b1) {
		t.Fatalf("encoding not stable:\n%x\n%x", b1, b2)
	}
}
