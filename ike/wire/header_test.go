package wire

import (
	"bytes"
	"testing"
)

// RFC 7296 §3.1 layout.
func TestHeaderFields(t *testing.T) {
	f := HeaderFields{SPIi: 0x613145f75678a967, SPIr: 0x231f60ca33246156, NextPayload: PayloadSK,
		ExchangeType: ExchangeInformational, Flags: FlagInitiator | FlagResponse, MessageID: 2, Length: 80}
	want := unhex(t, "613145f75678a967 231f60ca33246156 2e 20 25 28 00000002 00000050")
	b := f.Append(nil)
	if !bytes.Equal(b, want) {
		t.Fatalf("encoded %x, want %x", b, want)
	}
	h, err := ParseHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	if h.Fields() != f || h.Version() != Version || h.MajorVersion() != 2 || h.MinorVersion() != 0 {
		t.Errorf("parsed %+v", h.Fields())
	}
	if s := h.Flags().String(); s != "I|R" {
		t.Errorf("flags %q", s)
	}
	if h.Flags().Version() || !Flags(0x10).Version() || Flags(0x10).String() != "V" {
		t.Error("V flag")
	}
	if s := Flags(0).String(); s != "0" {
		t.Errorf("no flags %q", s)
	}
	if ExchangeIKESAInit.String() != "IKE_SA_INIT" || ExchangeType(99).String() != "ExchangeType(99)" {
		t.Error("exchange type names")
	}
}

func FuzzParseHeader(f *testing.F) {
	for _, m := range seedMessages(f) {
		f.Add(m[:HeaderLen])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseHeader(data)
		if h == nil {
			if err == nil {
				t.Fatal("nil header without error")
			}
			return
		}
		if len(h) != HeaderLen {
			t.Fatalf("header view of %d octets", len(h))
		}
		out := h.Fields().Append(nil)
		if out[17] != Version {
			t.Fatalf("version octet %#x", out[17])
		}
		// The encoding normalises only the version octet.
		out[17] = data[17]
		if !bytes.Equal(out, data[:HeaderLen]) {
			t.Fatalf("re-encoded %x, want %x", out, data[:HeaderLen])
		}
	})
}
