package mh

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"
)

func withChecksum(b []byte, src, dst netip.Addr) []byte {
	SetChecksum(b, src, dst)
	return b
}

func offsetOf(err error) int {
	var pe *ParseError
	if errors.As(err, &pe) {
		return pe.Offset
	}
	return -1
}

// TestReceiveChecksOrder walks the four tests of RFC 6275 §9.2 in their
// order: each case breaks the named rule and all those after it, and must
// be reported as the first.
func TestReceiveChecksOrder(t *testing.T) {
	bu := func() []byte { return BindingUpdate{Sequence: 1}.Append(nil) } // 16 octets
	cases := []struct {
		name   string
		b      []byte
		sum    bool // compute a correct checksum after the edit
		err    error
		offset int
	}{
		{"bad checksum, unknown type, bad proto", func() []byte { b := bu(); b[2], b[0] = 99, 6; return b }(), false, ErrChecksum, 4},
		{"unknown type, bad proto", func() []byte { b := bu(); b[2], b[0] = 99, 6; return b }(), true, ErrUnknownType, 2},
		{"Binding Revocation is unknown here", func() []byte { b := bu(); b[2] = 16; return b }(), true, ErrUnknownType, 2},
		{"bad proto, short Header Len", func() []byte {
			b := BindingUpdate{}.Append(nil)[:8]
			b[1], b[0] = 0, 6
			return b
		}(), true, ErrPayloadProto, 0},
		{"BU of 8 octets", func() []byte { b := bu()[:8]; b[1] = 0; return b }(), true, ErrHeaderLen, 1},
		{"BE of 16 octets", func() []byte { b := BindingError{}.Append(nil)[:16]; b[1] = 1; return b }(), true, ErrHeaderLen, 1},
		{"HAS announcing 2 addresses, carrying 1", func() []byte {
			b := HomeAgentSwitch{Addresses: []netip.Addr{vecAltHA}}.Append(nil)
			b[6] = 2
			return b
		}(), true, ErrHeaderLen, 1},
		{"valid BRR", BindingRefreshRequest{}.Append(nil), true, nil, -1},
	}
	for _, c := range cases {
		b := c.b
		if c.sum {
			SetChecksum(b, vecHoA, vecHA)
		}
		h, err := Parse(b)
		if err != nil {
			t.Fatalf("%s: Parse: %v", c.name, err)
		}
		err = h.Check(vecHoA, vecHA)
		if !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("%s: Check = %v, want %v", c.name, err, c.err)
			continue
		}
		if err != nil && offsetOf(err) != c.offset {
			t.Errorf("%s: offset %d, want %d", c.name, offsetOf(err), c.offset)
		}
	}
}

// TestParseFraming: Parse needs 8 octets and the announced length, and
// returns exactly the header.
func TestParseFraming(t *testing.T) {
	if _, err := Parse([]byte{59, 0, 0, 0, 0, 0, 0}); !errors.Is(err, ErrTruncated) {
		t.Errorf("7 octets: %v", err)
	}
	b := BindingUpdate{}.Append(nil)
	if _, err := Parse(b[:15]); !errors.Is(err, ErrTruncated) {
		t.Errorf("15 of 16 octets: %v", err)
	}
	h, err := Parse(append(b, 0xaa, 0xbb))
	if err != nil || len(h) != 16 {
		t.Errorf("trailing octets: len %d, %v", len(h), err)
	}
	if err := Header(b[:6]).Check(vecHoA, vecHA); !errors.Is(err, ErrTruncated) {
		t.Errorf("Check of 6 octets: %v", err)
	}
}

// TestTypedParsers: a typed parser refuses another type, and a message
// whose options overrun it reports ErrOption at the option's offset.
func TestTypedParsers(t *testing.T) {
	h, _ := Parse(BindingAck{}.Append(nil))
	if _, err := ParseBindingUpdate(h); !errors.Is(err, ErrWrongType) {
		t.Errorf("ParseBindingUpdate(BA) = %v", err)
	}
	b := BindingUpdate{}.Append(nil)
	copy(b[12:], []byte{3, 16}) // ACoA claiming 16 octets in a 4-octet area
	if _, err := ParseBindingUpdate(Header(b)); !errors.Is(err, ErrOption) || offsetOf(err) != 12 {
		t.Errorf("overrunning ACoA: %v (offset %d)", err, offsetOf(err))
	}
	if _, err := Decode(Header(b)); !errors.Is(err, ErrOption) {
		t.Errorf("Decode: %v", err)
	}
	b[2] = 42
	if m, err := Decode(Header(b)); !errors.Is(err, ErrUnknownType) || m != nil {
		t.Errorf("Decode of type 42: %v, %v", m, err)
	}
}

// TestReturnRoutabilityMessages: HoTI, CoTI, HoT and CoT round-trip with
// their fields at the RFC 6275 §6.1.3-§6.1.6 offsets.
func TestReturnRoutabilityMessages(t *testing.T) {
	cookie := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	token := [8]byte{9, 10, 11, 12, 13, 14, 15, 16}
	for _, m := range []Message{
		HomeTestInit{Cookie: cookie}, CareOfTestInit{Cookie: cookie},
		HomeTest{NonceIndex: 0x0a0b, Cookie: cookie, KeygenToken: token},
		CareOfTest{NonceIndex: 0x0a0b, Cookie: cookie, KeygenToken: token},
	} {
		b := m.Append(nil)
		if !bytes.Equal(b[8:16], cookie[:]) {
			t.Errorf("%v: cookie at 8..16: %x", m.Type(), b)
		}
		if m.Type() == TypeHomeTest || m.Type() == TypeCareOfTest {
			if b[6] != 0x0a || b[7] != 0x0b || !bytes.Equal(b[16:24], token[:]) || len(b) != 24 {
				t.Errorf("%v: %x", m.Type(), b)
			}
		} else if len(b) != 16 {
			t.Errorf("%v: length %d", m.Type(), len(b))
		}
		d, err := Decode(Header(b))
		if err != nil || !equalMessages(d, m) {
			t.Errorf("%v: decoded %#v, %v", m.Type(), d, err)
		}
	}
}

// TestHomeAgentSwitchAddressLimit: a Home Agent Switch holds at most 127
// addresses in a 2048-octet header; more are not encoded.
func TestHomeAgentSwitchAddressLimit(t *testing.T) {
	m := HomeAgentSwitch{Addresses: unspecified(200)}
	b := m.Append(nil)
	if len(b) != 8+16*127 || b[6] != MaxHomeAgentSwitchAddresses || b[1] != 254 {
		t.Fatalf("len %d, # of addresses %d, Header Len %d", len(b), b[6], b[1])
	}
	d, err := ParseHomeAgentSwitch(Header(b))
	if err != nil || len(d.Addresses) != MaxHomeAgentSwitchAddresses {
		t.Fatalf("%d addresses, %v", len(d.Addresses), err)
	}
}

// TestLifetimeUnits: lifetimes count 4-second units, round down, and
// saturate (RFC 6275 §6.1.7).
func TestLifetimeUnits(t *testing.T) {
	cases := []struct {
		d    time.Duration
		want Lifetime
	}{
		{-time.Second, 0}, {0, 0}, {3 * time.Second, 0}, {4 * time.Second, 1},
		{400 * time.Second, 100}, {403 * time.Second, 100}, {262140 * time.Second, 65535},
		{1000 * time.Hour, MaxLifetime},
	}
	for _, c := range cases {
		if got := LifetimeOf(c.d); got != c.want {
			t.Errorf("LifetimeOf(%v) = %d, want %d", c.d, got, c.want)
		}
	}
	if Lifetime(100).Duration() != 400*time.Second {
		t.Error("Lifetime(100) is not 400 s")
	}
}

// TestNames: the String methods give the registry names.
func TestNames(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{TypeHomeAgentSwitch.String(), "Home Agent Switch"},
		{Type(99).String(), "MH Type(99)"},
		{StatusSequenceOutOfWindow.String(), "Sequence number out of window"},
		{Status(200).String(), "Status(200)"},
		{BEUnrecognizedType.String(), "Unrecognized MH Type value"},
		{OptAlternateCoA.String(), "Alternate Care-of Address"},
		{OptionType(250).String(), "Option(250)"},
		{IPv4AckDynamicNotAvailable.String(), "Dynamic IPv4 home address assignment not available"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if !Status(1).Accepted() || Status(128).Accepted() {
		t.Error("Accepted threshold is 128")
	}
}
