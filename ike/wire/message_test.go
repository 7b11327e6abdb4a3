package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// header returns a 28-octet IKE header for a message of the given total
// length whose first payload is next.
func header(next PayloadType, length int) []byte {
	return HeaderFields{SPIi: 1, NextPayload: next, ExchangeType: ExchangeIKESAInit,
		Flags: FlagInitiator, Length: uint32(length)}.Append(nil)
}

// message prefixes a payload chain with a header of the right length.
func message(next PayloadType, chain []byte) []byte {
	return append(header(next, HeaderLen+len(chain)), chain...)
}

func syntaxAt(t *testing.T, err error, payload PayloadType, offset int) {
	t.Helper()
	var se *SyntaxError
	if !errors.As(err, &se) || !errors.Is(err, ErrSyntax) {
		t.Fatalf("error %v, want a *SyntaxError", err)
	}
	if se.Payload != payload || se.Offset != offset {
		t.Errorf("%v: payload %v offset %d, want %v offset %d", err, se.Payload, se.Offset, payload, offset)
	}
	if n, ok := ErrorNotify(err); !ok || n.Type != NotifyInvalidSyntax {
		t.Errorf("ErrorNotify = %v, %v; want INVALID_SYNTAX", n, ok)
	}
}

func TestParseHeaderRejects(t *testing.T) {
	_, err := ParseHeader(make([]byte, 27))
	syntaxAt(t, err, PayloadNone, 27)

	h := header(PayloadNone, 28)
	h[17] = 0x30 // IKE version 3.0
	got, err := ParseHeader(h)
	var ve *VersionError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalidMajorVersion) || ve.Version != 0x30 {
		t.Fatalf("version 3: %v", err)
	}
	if got.SPIi() != 1 || got.ExchangeType() != ExchangeIKESAInit {
		t.Errorf("header not readable after a version error: %+v", got.Fields())
	}
	if n, ok := ErrorNotify(err); !ok || n.Type != NotifyInvalidMajorVersion {
		t.Errorf("ErrorNotify = %v, %v", n, ok)
	}

	h = header(PayloadNone, 27)
	_, err = ParseHeader(h)
	syntaxAt(t, err, PayloadNone, 24)
}

func TestParseHeaderIgnoresMinorVersionAndReservedFlags(t *testing.T) {
	h := header(PayloadNone, 28)
	h[17] = 0x2f
	h[19] |= 0xc7 // reserved bits
	got, err := ParseHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	if got.MinorVersion() != 0xf || !got.Flags().Initiator() || got.Flags().Response() {
		t.Errorf("header %v %v", got.MinorVersion(), got.Flags())
	}
}

func TestParseMessageRejects(t *testing.T) {
	nonce := Nonce{Data: make([]byte, 16)}
	tests := []struct {
		name    string
		msg     []byte
		payload PayloadType
		offset  int
	}{
		{"Length above size", append(header(PayloadNone, 29), 0, 0), PayloadNone, 24},
		{"Length below size", append(header(PayloadNone, 28), 0), PayloadNone, 24},
		{"octets after last payload", message(PayloadNone, []byte{0}), PayloadNone, 28},
		{"truncated generic header", message(PayloadNonce, []byte{0, 0, 0}), PayloadNonce, 28},
		{"Payload Length below 4", message(PayloadVendorID, []byte{0, 0, 0, 3}), PayloadVendorID, 30},
		{"Payload Length beyond message", message(PayloadVendorID, []byte{0, 0, 0, 5}), PayloadVendorID, 30},
		{"next payload missing", message(PayloadVendorID, []byte{41, 0, 0, 4}), PayloadNotify, 32},
		{"short nonce", message(PayloadNonce, chain(t, RawPayload{Type: PayloadNonce, Body: make([]byte, 15)})), PayloadNonce, 32},
		{"SK not last", message(PayloadSK, append(chain(t, RawPayload{Type: PayloadSK, Body: make([]byte, 8)}), 0)), PayloadSK, 28},
		{"bad SA inside", message(PayloadNonce, chain(t, nonce, RawPayload{Type: PayloadSA, Body: []byte{0, 0, 0, 8, 1, 1, 0, 0}})), PayloadSA, 28 + 20 + 4 + 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Message
			err := ParseMessage(tt.msg, &m)
			syntaxAt(t, err, tt.payload, tt.offset)
		})
	}
}

// RFC 7296 §2.5: an unknown payload with the critical bit set rejects the
// message with UNSUPPORTED_CRITICAL_PAYLOAD naming the type; without it the
// payload is skipped (kept raw), and the critical bit of known payloads is
// ignored.
func TestCriticalBit(t *testing.T) {
	unknown := RawPayload{Type: 99, Critical: true, Body: []byte("x")}
	msg := message(PayloadNonce, chain(t, Nonce{Data: make([]byte, 16)}, unknown))
	var m Message
	err := ParseMessage(msg, &m)
	var ce *CriticalPayloadError
	if !errors.As(err, &ce) || !errors.Is(err, ErrUnsupportedCriticalPayload) || ce.Type != 99 || ce.Offset != 48 {
		t.Fatalf("critical unknown payload: %v", err)
	}
	if n, ok := ErrorNotify(err); !ok || n.Type != NotifyUnsupportedCriticalPayload || !bytes.Equal(n.Data, []byte{99}) {
		t.Errorf("ErrorNotify = %+v, %v", n, ok)
	}

	unknown.Critical = false
	known := RawPayload{Type: PayloadVendorID, Critical: true, Body: []byte("vendor")}
	msg = message(PayloadNonce, chain(t, Nonce{Data: make([]byte, 16)}, unknown, known))
	if err := ParseMessage(msg, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Payloads) != 3 || m.Payloads[1].Type != 99 || m.Payloads[1].Critical || !m.Payloads[2].Critical {
		t.Fatalf("payloads %+v", m.Payloads)
	}
	var b Builder
	b.Reset(nil, m.Header.Fields())
	for _, p := range m.Payloads {
		b.Add(p)
	}
	if out, err := b.Finish(); err != nil || !bytes.Equal(out, msg) {
		t.Errorf("round trip: %v\n%x\n%x", err, out, msg)
	}
}

// RFC 7296 §3.1: an Encrypted payload must not contain another one.
func TestParsePayloadsRejectsNestedSK(t *testing.T) {
	inner := chain(t, Notify{Type: NotifyInitialContact}, RawPayload{Type: PayloadSK, Body: make([]byte, 4)})
	_, err := ParsePayloads(inner, PayloadNotify, nil)
	syntaxAt(t, err, PayloadSK, 8)
}

func TestParseDecrypted(t *testing.T) {
	var b Builder
	b.Reset(nil, HeaderFields{SPIi: 1, SPIr: 2, ExchangeType: ExchangeInformational})
	b.BeginSK()
	b.Add(DeleteIKESA())
	e, err := b.FinishSK(4, 8, 4)
	if err != nil {
		t.Fatal(err)
	}
	_, content, _, _ := e.Split(4, 4)
	// content = Delete (8 octets) | 7 octets of padding | Pad Length 7
	if len(content) != 16 || content[15] != 7 {
		t.Fatalf("content %x", content)
	}
	var m Message
	if err := ParseMessage(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	plain := append([]byte{}, content...)
	if err := m.ParseDecrypted(plain); err != nil {
		t.Fatal(err)
	}
	p, ok := m.Inner.First(PayloadDelete)
	if !ok || len(m.Inner) != 1 {
		t.Fatalf("inner %+v", m.Inner)
	}
	if d, err := ParseDelete(p.Body); err != nil || d.ProtocolID != ProtocolIKE || d.Count() != 0 {
		t.Errorf("Delete %+v, %v", d, err)
	}
	// A Pad Length beyond the content is malformed.
	plain[15] = 16
	syntaxAt(t, m.ParseDecrypted(plain), PayloadSK, 15)
}

// An empty INFORMATIONAL (liveness check) has an SK payload with no inner
// payloads: its Next Payload is 0.
func TestEmptySK(t *testing.T) {
	var b Builder
	b.Reset(nil, HeaderFields{SPIi: 1, SPIr: 2, ExchangeType: ExchangeInformational, Flags: FlagResponse, MessageID: 7})
	b.BeginSK()
	e, err := b.FinishSK(8, 1, 16)
	if err != nil {
		t.Fatal(err)
	}
	if e.Next != PayloadNone || len(e.Message) != 28+4+8+1+16 {
		t.Fatalf("layout %+v, %d octets", e, len(e.Message))
	}
	var m Message
	if err := ParseMessage(b.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if err := m.ParseDecrypted([]byte{0}); err != nil || len(m.Inner) != 0 {
		t.Errorf("ParseDecrypted: %v, %d payloads", err, len(m.Inner))
	}
}

func TestParseMessageReusesStorage(t *testing.T) {
	msg := initRequest(t)
	var m Message
	if err := ParseMessage(msg, &m); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := ParseMessage(msg, &m); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ParseMessage into a reused Message: %v allocations, want 0", allocs)
	}
}

func TestBuilderPrefix(t *testing.T) {
	// The non-ESP marker for port 4500 can precede the message in the buffer.
	var b Builder
	b.Reset([]byte{0, 0, 0, 0}, HeaderFields{SPIi: 9, ExchangeType: ExchangeIKEAuth})
	b.BeginSK()
	b.Add(Nonce{Data: make([]byte, 32)})
	e, err := b.FinishSK(8, 1, 16)
	if err != nil {
		t.Fatal(err)
	}
	out := b.Bytes()
	if !bytes.Equal(out[:4], []byte{0, 0, 0, 0}) || !bytes.Equal(out[4:], e.Message) {
		t.Fatalf("prefix lost: %x", out[:8])
	}
	var m Message
	if err := ParseMessage(out[4:], &m); err != nil {
		t.Fatal(err)
	}
	got, _ := m.Encrypted()
	if !bytes.Equal(got.AssociatedData(), e.AssociatedData()) || got.Next != PayloadNonce {
		t.Errorf("received layout differs from built layout")
	}
}

func TestBuilderErrors(t *testing.T) {
	hdr := HeaderFields{SPIi: 1}
	tests := []struct {
		name  string
		build func(b *Builder) error
	}{
		{"short nonce", func(b *Builder) error { b.Add(Nonce{Data: make([]byte, 15)}); return b.Err() }},
		{"empty SA", func(b *Builder) error { b.Add(SA{}); return b.Err() }},
		{"proposal without transforms", func(b *Builder) error {
			b.Add(SA{Proposals: []Proposal{{Number: 1, ProtocolID: ProtocolIKE}}})
			return b.Err()
		}},
		{"IPv4 address in IPv6 selector", func(b *Builder) error {
			s := AddrSelector(netip.MustParseAddr("2001:db8::1"))
			s.EndAddr = netip.MustParseAddr("192.0.2.1")
			b.Add(TSi{Selectors: []TrafficSelector{s}})
			return b.Err()
		}},
		{"IPv4 address in IPv6 CP attribute", func(b *Builder) error {
			b.Add(CP{Type: CFGReply, Attributes: []CFGAttribute{{Type: CFGInternalIP6Address, Addr: netip.MustParseAddr("192.0.2.1")}}})
			return b.Err()
		}},
		{"FQDN too long", func(b *Builder) error {
			b.Add(Redirect{Gateway: GatewayFQDN(string(bytes.Repeat([]byte("a"), 256)))})
			return b.Err()
		}},
		{"port type without port", func(b *Builder) error {
			b.Add(Redirect{Gateway: GatewayAddrPort(netip.MustParseAddrPort("[2001:db8::2]:0"))})
			return b.Err()
		}},
		{"payload type 0", func(b *Builder) error { b.Add(RawPayload{}); return b.Err() }},
		{"notify SPI too long", func(b *Builder) error { b.Add(Notify{SPI: make([]byte, 256)}); return b.Err() }},
		{"body too long", func(b *Builder) error { b.Add(VendorID{Data: make([]byte, 65532)}); return b.Err() }},
		{"payload after SK", func(b *Builder) error {
			b.BeginSK()
			if _, err := b.FinishSK(8, 1, 16); err != nil {
				return nil
			}
			b.Add(VendorID{})
			return b.Err()
		}},
		{"SK as a typed payload", func(b *Builder) error { b.Add(RawPayload{Type: PayloadSK}); b.Add(VendorID{}); return b.Err() }},
		{"FinishSK without BeginSK", func(b *Builder) error { _, err := b.FinishSK(8, 1, 16); return err }},
		{"Finish inside SK", func(b *Builder) error { b.BeginSK(); _, err := b.Finish(); return err }},
		{"second SK", func(b *Builder) error { b.BeginSK(); b.BeginSK(); return b.Err() }},
		{"fragment 0", func(b *Builder) error { b.BeginSKF(Fragment{Number: 0, Total: 1}); return b.Err() }},
		{"fragment beyond total", func(b *Builder) error { b.BeginSKF(Fragment{Number: 3, Total: 2}); return b.Err() }},
		{"Next on fragment 2", func(b *Builder) error {
			b.BeginSKF(Fragment{Next: PayloadIDi, Number: 2, Total: 2})
			return b.Err()
		}},
		{"SK payload over 65535", func(b *Builder) error {
			b.BeginSK()
			b.Add(VendorID{Data: make([]byte, 65000)})
			b.Add(VendorID{Data: make([]byte, 1000)})
			_, err := b.FinishSK(16, 16, 16)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b Builder
			b.Reset(nil, hdr)
			err := tt.build(&b)
			if !errors.Is(err, ErrInvalidValue) {
				t.Fatalf("error %v, want ErrInvalidValue", err)
			}
			if _, ferr := b.Finish(); !errors.Is(ferr, ErrInvalidValue) {
				t.Errorf("Finish after an error: %v, want the sticky error", ferr)
			}
		})
	}
}

// RFC 7383 §2.5: fragments keep the original header, carry the first inner
// payload type in fragment 1 only, and number themselves.
func TestFragments(t *testing.T) {
	var inner Builder
	inner.ResetChain(nil)
	inner.Add(IDi(ID{Type: IDFQDN, Data: []byte("mn.example")}))
	inner.Add(Auth{Method: AuthSharedKeyMIC, Data: make([]byte, 32)})
	content, err := inner.Finish()
	if err != nil {
		t.Fatal(err)
	}
	hdr := HeaderFields{SPIi: 1, SPIr: 2, ExchangeType: ExchangeIKEAuth, Flags: FlagInitiator, MessageID: 1}
	chunks := [][]byte{content[:20], content[20:]}
	var reassembled []byte
	for i, c := range chunks {
		f := Fragment{Number: uint16(i + 1), Total: 2, Content: c}
		if i == 0 {
			f.Next = inner.First()
		}
		var b Builder
		b.Reset(nil, hdr)
		b.BeginSKF(f)
		e, err := b.FinishSK(16, 16, 16)
		if err != nil {
			t.Fatal(err)
		}
		if len(e.AssociatedData()) != HeaderLen+8 {
			t.Errorf("SKF associated data of %d octets, want header + 8", len(e.AssociatedData()))
		}
		var m Message
		if err := ParseMessage(b.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		got, ok := m.Encrypted()
		if !ok || got.FragmentNumber != f.Number || got.TotalFragments != 2 || got.Next != f.Next {
			t.Fatalf("fragment %d: %+v", i+1, got)
		}
		if m.Header.NextPayload() != PayloadSKF || m.Header.MessageID() != 1 {
			t.Errorf("fragment header %+v", m.Header.Fields())
		}
		_, plain, _, err := got.Split(16, 16)
		if err != nil {
			t.Fatal(err)
		}
		if len(plain)%16 != 0 {
			t.Errorf("fragment content of %d octets is not block aligned", len(plain))
		}
		chunk, err := TrimPadding(plain)
		if err != nil {
			t.Fatal(err)
		}
		reassembled = append(reassembled, chunk...)
	}
	ps, err := ParsePayloads(reassembled, PayloadIDi, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 || ps[0].Type != PayloadIDi || ps[1].Type != PayloadAUTH {
		t.Errorf("reassembled %+v", ps)
	}
}

func TestParseSKFRejects(t *testing.T) {
	for _, fields := range [][]byte{{0, 0, 0, 1}, {0, 2, 0, 1}, {0, 1, 0, 0}, {0, 1}} {
		msg := message(PayloadSKF, chain(t, RawPayload{Type: PayloadSKF, Body: fields}))
		var m Message
		syntaxAt(t, ParseMessage(msg, &m), PayloadSKF, 32)
	}
}

func TestEncryptedSplitRejectsShortBody(t *testing.T) {
	msg := message(PayloadSK, chain(t, RawPayload{Type: PayloadSK, Next: PayloadNotify, Body: make([]byte, 25)}))
	var m Message
	if err := ParseMessage(msg, &m); err != nil {
		t.Fatal(err)
	}
	e, _ := m.Encrypted()
	if _, _, _, err := e.Split(8, 16); err != nil {
		t.Errorf("25 octets hold an 8-octet IV, the Pad Length and a 16-octet ICV: %v", err)
	}
	_, _, _, err := e.Split(8, 17)
	syntaxAt(t, err, PayloadSK, 32)
}

// checkChainTyped decodes every payload of a checked chain with its typed
// parser, which must succeed (ParseMessage and ParsePayloads check the
// bodies), and re-encodes the chain from the typed values; the result must
// parse to the same types.
func checkChainTyped(t *testing.T, ps Payloads) {
	var b Builder
	b.ResetChain(nil)
	for _, p := range ps {
		b.Add(typed(t, p))
	}
	out, err := b.Finish()
	if err != nil {
		t.Fatalf("typed re-encoding: %v", err)
	}
	if len(ps) == 0 {
		return
	}
	again, err := parseChain(out, 0, b.First(), nil, false)
	if err != nil {
		t.Fatalf("typed re-encoding %x does not parse: %v", out, err)
	}
	if len(again) != len(ps) {
		t.Fatalf("%d payloads after re-encoding, want %d", len(again), len(ps))
	}
	for i := range ps {
		if again[i].Type != ps[i].Type {
			t.Fatalf("payload %d: %v after re-encoding, want %v", i, again[i].Type, ps[i].Type)
		}
	}
}

func FuzzParseMessage(f *testing.F) {
	for _, m := range seedMessages(f) {
		f.Add(m)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Message
		if err := ParseMessage(data, &m); err != nil {
			return
		}
		// Raw payloads re-encode the message exactly.
		var b Builder
		b.Reset(nil, m.Header.Fields())
		for i := range m.Payloads {
			b.Add(&m.Payloads[i])
		}
		out, err := b.Finish()
		want := normalized(data, m.Payloads)
		want[17] = Version // the minor version is not kept
		if err != nil || string(out) != string(want) {
			t.Fatalf("raw re-encoding differs (%v)\n%x\n%x", err, out, want)
		}
		checkChainTyped(t, m.Payloads)
		if e, ok := m.Encrypted(); ok {
			for _, sizes := range [][2]int{{0, 0}, {8, 16}, {16, 16}, {16, 32}} {
				if _, content, _, err := e.Split(sizes[0], sizes[1]); err == nil {
					if inner, err := TrimPadding(content); err == nil {
						ParsePayloads(inner, e.Next, nil)
					}
				}
			}
		}
	})
}

func FuzzParsePayloads(f *testing.F) {
	for _, c := range seedChains(f) {
		f.Add(byte(c.first), c.b)
	}
	f.Fuzz(func(t *testing.T, first byte, data []byte) {
		ps, err := ParsePayloads(data, PayloadType(first), nil)
		if err != nil {
			return
		}
		var b Builder
		b.ResetChain(nil)
		for _, p := range ps {
			b.Add(p)
		}
		out, err := b.Finish()
		if want := normalized(data, ps); err != nil || string(out) != string(want) || (len(ps) > 0 && b.First() != PayloadType(first)) {
			t.Fatalf("raw re-encoding differs (%v)\n%x\n%x", err, out, want)
		}
		checkChainTyped(t, ps)
	})
}

// normalized returns a copy of the parsed input with the RESERVED bits of
// every generic payload header cleared: they are ignored on receipt and sent
// as zero (RFC 7296 §3.2).
func normalized(data []byte, ps Payloads) []byte {
	out := append([]byte{}, data...)
	for _, p := range ps {
		out[p.Offset+1] &= 0x80
	}
	return out
}

// Notification data is checked by the accessors, not by ParseMessage: a
// malformed status notify is ignored rather than fatal (RFC 7296 §3.10.1),
// so it must not make the whole message INVALID_SYNTAX.
func TestMalformedNotifyDataIsNotAMessageError(t *testing.T) {
	bad := Notify{Type: NotifyRedirect, Data: unhex(t, "0211 2001")} // GW Ident Len beyond the data
	nat := Notify{Type: NotifyNATDetectionSourceIP, Data: make([]byte, 19)}
	msg := message(PayloadNotify, chain(t, bad, nat, Notify{Type: NotifyNATDetectionSourceIP, Data: make([]byte, 20)}))
	var m Message
	if err := ParseMessage(msg, &m); err != nil {
		t.Fatal(err)
	}
	n, _ := m.Payloads.Notify(NotifyRedirect)
	if _, err := n.Redirect(ExchangeIKEAuth, nil); !errors.Is(err, ErrSyntax) {
		t.Errorf("Redirect on malformed data: %v", err)
	}
	var valid, invalid int
	for n := range m.Payloads.Notifies() {
		if n.Type != NotifyNATDetectionSourceIP {
			continue
		}
		if _, err := n.NATDetectionHash(); err != nil {
			invalid++
		} else {
			valid++
		}
	}
	if valid != 1 || invalid != 1 {
		t.Errorf("NAT_DETECTION_SOURCE_IP: %d valid, %d invalid; want 1 and 1", valid, invalid)
	}
	// Regression (found by FuzzParseMessage): a malformed REDIRECT re-encodes
	// as the plain Notify it was parsed as.
	checkChainTyped(t, m.Payloads)
}
