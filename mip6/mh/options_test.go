package mh

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// TestOptionEncodings: each option's bytes, field by field, against the
// layouts of RFC 6275 §6.2, RFC 4283 §3 and RFC 5555 §3, and back.
func TestOptionEncodings(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.7")
	cases := []struct {
		name string
		opt  interface {
			Append([]byte) []byte
			Len() int
		}
		hex   string
		check func(Options) bool
	}{
		{"Binding Refresh Advice", BindingRefreshAdvice{Interval: 0x1234}, "02021234",
			func(o Options) bool { v, ok := o.BindingRefreshAdvice(); return ok && v.Interval == 0x1234 }},
		{"Alternate CoA", AlternateCoA{Addr: vecCoA}, "031020010db8010000000000000000000010",
			func(o Options) bool { v, ok := o.AlternateCoA(); return ok && v.Addr == vecCoA }},
		{"Nonce Indices", NonceIndices{Home: 0x0102, CareOf: 0x0304}, "040401020304",
			func(o Options) bool { v, ok := o.NonceIndices(); return ok && v == NonceIndices{0x0102, 0x0304} }},
		{"Binding Authorization Data", BindingAuthorizationData{Authenticator: []byte{1, 2, 3}}, "0503010203",
			func(o Options) bool {
				v, ok := o.BindingAuthorizationData()
				return ok && bytes.Equal(v.Authenticator, []byte{1, 2, 3})
			}},
		{"MN Identifier NAI", MobileNodeIdentifier{Subtype: MNIdentifierNAI, Identifier: []byte("a@b")}, "080401614062",
			func(o Options) bool {
				v, ok := o.MobileNodeIdentifier()
				return ok && v.Subtype == MNIdentifierNAI && string(v.Identifier) == "a@b"
			}},
		{"IPv4 Home Address /32 P", IPv4HomeAddress{PrefixLen: 32, P: true, Addr: v4}, "1d068200c0000207",
			func(o Options) bool { v, ok := o.IPv4HomeAddress(); return ok && v == IPv4HomeAddress{32, true, v4} }},
		{"IPv4 Home Address request", IPv4HomeAddress{PrefixLen: 32, Addr: netip.IPv4Unspecified()}, "1d06800000000000",
			func(o Options) bool {
				v, ok := o.IPv4HomeAddress()
				return ok && v.PrefixLen == 32 && !v.P && v.Addr == netip.IPv4Unspecified()
			}},
		{"IPv4 Address Ack", IPv4AddressAck{Status: IPv4AckSuccess, PrefixLen: 24, Addr: v4}, "1e060060c0000207",
			func(o Options) bool { v, ok := o.IPv4AddressAck(); return ok && v == IPv4AddressAck{0, 24, v4} }},
		{"NAT Detection", NATDetection{F: true, RefreshTime: 110}, "1f068000" + "0000006e",
			func(o Options) bool { v, ok := o.NATDetection(); return ok && v == NATDetection{true, 110} }},
		{"IPv4 CoA", IPv4CoA{Addr: v4}, "20060000c0000207",
			func(o Options) bool { v, ok := o.IPv4CoA(); return ok && v.Addr == v4 }},
		{"unknown", Option{Type: 200, Data: []byte{9}}, "c80109",
			func(o Options) bool { v, ok := o.Find(200); return ok && bytes.Equal(v.Data, []byte{9}) }},
	}
	for _, c := range cases {
		got := c.opt.Append(nil)
		if want := unhex(t, c.hex); !bytes.Equal(got, want) {
			t.Errorf("%s: got %x, want %x", c.name, got, want)
		}
		if len(got) != c.opt.Len() {
			t.Errorf("%s: Len %d, wrote %d", c.name, c.opt.Len(), len(got))
		}
		if err := Options(got).Check(); err != nil {
			t.Errorf("%s: Check: %v", c.name, err)
		}
		// Behind padding, as a receiver sees it.
		padded := append(Options{0, 1, 1, 0}, got...)
		if !c.check(padded) {
			t.Errorf("%s: accessor did not return the value", c.name)
		}
	}
}

// TestOptionAccessorsAbsent: accessors report absence, and a known option
// of the wrong length is neither returned nor accepted by Check.
func TestOptionAccessorsAbsent(t *testing.T) {
	var o Options
	if _, ok := o.AlternateCoA(); ok {
		t.Error("AlternateCoA in an empty area")
	}
	bad := Options(unhex(t, "0308"+"0000000000000000")) // ACoA with 8 octets
	if _, ok := bad.AlternateCoA(); ok {
		t.Error("AlternateCoA of length 8 returned")
	}
	if err := bad.Check(); !errors.Is(err, ErrOption) {
		t.Errorf("Check of an 8-octet ACoA = %v, want ErrOption", err)
	}
	overrun := Options{2, 4, 0}
	if err := overrun.Check(); !errors.Is(err, ErrOption) {
		t.Errorf("Check of an overrunning option = %v, want ErrOption", err)
	}
	if _, ok := overrun.Find(2); ok {
		t.Error("Find returned an overrunning option")
	}
}

// TestAlignmentRules: whatever the options and their order, Append puts
// every option at its xn+y alignment counted from the start of the
// Mobility Header (RFC 6275 §6.2.1), ends the header on a multiple of 8,
// and parsing gives the options back in order.
func TestAlignmentRules(t *testing.T) {
	all := []interface{ Append([]byte) []byte }{
		BindingRefreshAdvice{Interval: 3}, AlternateCoA{Addr: vecCoA}, NonceIndices{1, 2},
		MobileNodeIdentifier{Subtype: MNIdentifierNAI, Identifier: []byte("mn@example")},
		IPv4HomeAddress{PrefixLen: 32}, IPv4AddressAck{}, NATDetection{}, IPv4CoA{},
		Option{Type: 77, Data: []byte{1, 2, 3}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 500 {
		var o Options
		for range rng.IntN(6) {
			o = all[rng.IntN(len(all))].Append(o)
		}
		if rng.IntN(3) == 0 {
			o = BindingAuthorizationData{Authenticator: make([]byte, 12)}.Append(o)
		}
		msgs := []Message{
			BindingUpdate{Options: o}, BindingAck{Options: o}, BindingError{HoA: netip.IPv6Unspecified(), Options: o},
			BindingRefreshRequest{Options: o}, HomeAgentSwitch{Addresses: unspecified(rng.IntN(3)), Options: o},
			HomeTestInit{Options: o}, HomeTest{Options: o},
		}
		for _, m := range msgs {
			b := m.Append(nil)
			if len(b)%8 != 0 || len(b) != m.Len() {
				t.Fatalf("%v: length %d, Len %d", m.Type(), len(b), m.Len())
			}
			h, err := Parse(b)
			if err != nil {
				t.Fatal(err)
			}
			d, err := Decode(h)
			if err != nil {
				t.Fatalf("%v: %v", m.Type(), err)
			}
			if !equalMessages(d, m) {
				t.Fatalf("%v: options changed\n in %x\nout %x", m.Type(), []byte(o), b)
			}
			start := len(b) - len(optionsOf(d))
			for i := start; i < len(b); {
				opt, n, ok := nextOption(b, i)
				if !ok {
					t.Fatalf("%v: bad option at %d in %x", m.Type(), i, b)
				}
				x, y := alignment(opt.Type)
				if i%x != y {
					t.Fatalf("%v: %v at offset %d, want %dn+%d (%x)", m.Type(), opt.Type, i, x, y, b)
				}
				i += n
			}
		}
	}
}

func optionsOf(m Message) Options {
	switch x := m.(type) {
	case BindingUpdate:
		return x.Options
	case BindingAck:
		return x.Options
	case BindingError:
		return x.Options
	case BindingRefreshRequest:
		return x.Options
	case HomeAgentSwitch:
		return x.Options
	case HomeTestInit:
		return x.Options
	case CareOfTestInit:
		return x.Options
	case HomeTest:
		return x.Options
	case CareOfTest:
		return x.Options
	}
	return nil
}

// TestDSMIPv6Layout: the worked layout of mip6.md §1.6: a Binding Update
// with an IPv4 Care-of Address option puts it at 12 (4n), pads 4 octets,
// and ends at 24, Header Len 2.
func TestDSMIPv6Layout(t *testing.T) {
	v4 := netip.MustParseAddr("192.0.2.1")
	b := BindingUpdate{Sequence: 1, Options: IPv4CoA{Addr: v4}.Append(nil)}.Append(nil)
	want := unhex(t, "3b020500000000010000000020060000c000020101020000")
	if !bytes.Equal(b, want) {
		t.Errorf("got %x\nwant %x", b, want)
	}
}

// TestPaddingChoice: one octet of padding is Pad1, more is one PadN
// (RFC 6275 §6.2.2, §6.2.3).
func TestPaddingChoice(t *testing.T) {
	// BRR: options at 8; a 3-octet unknown option ends at 11: 5 octets of PadN.
	b := BindingRefreshRequest{Options: Option{Type: 99, Data: []byte{7}}.Append(nil)}.Append(nil)
	if want := unhex(t, "3b010000000000006301070103000000"); !bytes.Equal(b, want) {
		t.Errorf("got %x want %x", b, want)
	}
	// BRR + 7-octet option ends at 15: one Pad1.
	b = BindingRefreshRequest{Options: Option{Type: 99, Data: make([]byte, 5)}.Append(nil)}.Append(nil)
	if b[15] != byte(OptPad1) || len(b) != 16 {
		t.Errorf("got %x, want a Pad1 at 15", b)
	}
}

func unspecified(n int) []netip.Addr {
	var a []netip.Addr
	for range n {
		a = append(a, netip.IPv6Unspecified())
	}
	return a
}
