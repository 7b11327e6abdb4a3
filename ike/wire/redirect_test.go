package wire

import (
	"bytes"
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

// redirectNotify returns a REDIRECT notify with the given SPI and data.
func redirectNotify(t *testing.T, spi []byte, data string) Notify {
	return Notify{Type: NotifyRedirect, SPI: spi, Data: unhex(t, data)}
}

// The receive rules of spec/ike.md §1.3 (RFC 5685 §3, §5, §9).
func TestRedirectReceiveRules(t *testing.T) {
	ni := unhex(t, ni32)
	v6 := "0210 20010db8000100000000000000000002"
	tests := []struct {
		name     string
		n        Notify
		exchange ExchangeType
		want     error
	}{
		{"rule 1: SPI present", redirectNotify(t, []byte{1, 2, 3, 4}, v6), ExchangeIKEAuth, ErrSyntax},
		{"rule 1: Protocol ID ignored", Notify{ProtocolID: ProtocolESP, Type: NotifyRedirect, Data: unhex(t, v6)}, ExchangeIKEAuth, nil},
		{"rule 2: no type and length", redirectNotify(t, nil, "02"), ExchangeIKEAuth, ErrSyntax},
		{"rule 2: length beyond data", redirectNotify(t, nil, "0211 20010db8000100000000000000000002"), ExchangeIKEAuth, ErrSyntax},
		{"rule 3: IPv4 with 16 octets", redirectNotify(t, nil, "0110 20010db8000100000000000000000002"), ExchangeIKEAuth, ErrSyntax},
		{"rule 3: IPv6 with 4 octets", redirectNotify(t, nil, "0204 c0000201"), ExchangeIKEAuth, ErrSyntax},
		{"rule 3: empty FQDN", redirectNotify(t, nil, "0300"), ExchangeIKEAuth, ErrSyntax},
		{"rule 3: FQDN with NUL", redirectNotify(t, nil, "0304 68613200"), ExchangeIKEAuth, ErrSyntax},
		{"rule 3: FQDN with space", redirectNotify(t, nil, "0304 68612032"), ExchangeIKEAuth, ErrSyntax},
		{"rule 3: unknown type 4", redirectNotify(t, nil, "0404 c0000201"), ExchangeIKEAuth, ErrUnknownGatewayIdentityType},
		{"rule 3: reserved type 0", redirectNotify(t, nil, "0000"), ExchangeIKEAuth, ErrUnknownGatewayIdentityType},
		{"rule 4: matching Ni", redirectNotify(t, nil, v6+ni32), ExchangeIKESAInit, nil},
		{"rule 4: missing nonce", redirectNotify(t, nil, v6), ExchangeIKESAInit, ErrNonceMismatch},
		{"rule 4: other nonce", redirectNotify(t, nil, v6+ni32[:62]+"ff"), ExchangeIKESAInit, ErrNonceMismatch},
		{"rule 4: truncated nonce", redirectNotify(t, nil, v6+ni32[:60]), ExchangeIKESAInit, ErrNonceMismatch},
		{"rule 4: longer nonce", redirectNotify(t, nil, v6+ni32+"00"), ExchangeIKESAInit, ErrNonceMismatch},
		{"rule 5: nonce in IKE_AUTH", redirectNotify(t, nil, v6+ni32), ExchangeIKEAuth, ErrSyntax},
		{"rule 5: nonce in INFORMATIONAL", redirectNotify(t, nil, v6+"00"), ExchangeInformational, ErrSyntax},
		{"not a REDIRECT", Notify{Type: NotifyRedirectedFrom, Data: unhex(t, v6)}, ExchangeIKEAuth, ErrSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tt.n.Redirect(tt.exchange, ni)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if err == nil && r.Gateway != GatewayAddr(netip.MustParseAddr("2001:db8:1::2")) {
				t.Errorf("gateway %v", r.Gateway)
			}
		})
	}
}

func TestRedirectedFromReceiveRules(t *testing.T) {
	tests := []struct {
		name string
		n    Notify
		want error
		gw   GatewayIdentity
	}{
		{"IPv4", Notify{Type: NotifyRedirectedFrom, Data: unhex(t, "0104 c0000201")}, nil,
			GatewayAddr(netip.MustParseAddr("192.0.2.1"))},
		{"rule 6: FQDN accepted", Notify{Type: NotifyRedirectedFrom, Data: unhex(t, "0303 686131")}, nil,
			GatewayFQDN("ha1")},
		{"rule 1: SPI present", Notify{Type: NotifyRedirectedFrom, SPI: []byte{1}, Data: unhex(t, "0104 c0000201")}, ErrSyntax, GatewayIdentity{}},
		{"octets after the identity", Notify{Type: NotifyRedirectedFrom, Data: unhex(t, "0104 c0000201 00")}, ErrSyntax, GatewayIdentity{}},
		{"unknown type", Notify{Type: NotifyRedirectedFrom, Data: unhex(t, "0904 c0000201")}, ErrUnknownGatewayIdentityType, GatewayIdentity{}},
		{"not a REDIRECTED_FROM", Notify{Type: NotifyRedirect, Data: unhex(t, "0104 c0000201")}, ErrSyntax, GatewayIdentity{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := tt.n.RedirectedFrom()
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("error %v, want %v", err, tt.want)
			}
			if r.Gateway != tt.gw {
				t.Errorf("gateway %+v, want %+v", r.Gateway, tt.gw)
			}
		})
	}
}

// spec/ike.md trap 1: gateway identity types are not ID types.
func TestGatewayIdentityTypesAreNotIDTypes(t *testing.T) {
	v6 := GatewayAddr(netip.MustParseAddr("2001:db8::1")).Append(nil)
	if v6[0] != 2 || byte(IDIPv6Addr) != 5 {
		t.Errorf("IPv6 gateway identity type %d (must be 2; ID_IPV6_ADDR is 5)", v6[0])
	}
	fqdn := GatewayFQDN("ha.example").Append(nil)
	if fqdn[0] != 3 || byte(IDFQDN) != 2 {
		t.Errorf("FQDN gateway identity type %d (must be 3; ID_FQDN is 2)", fqdn[0])
	}
	if g := GatewayAddr(netip.MustParseAddr("::ffff:192.0.2.1")); g.Type != GatewayIdentityIPv4 {
		t.Errorf("IPv4-mapped address encoded as %v", g.Type)
	}
}

// The private-use "redirect with a port" types 241 and 242: address
// followed by a 2-octet UDP port.
func TestGatewayIdentityWithPort(t *testing.T) {
	tests := []struct {
		ap  string
		hex string
	}{
		{"192.0.2.10:4501", "f106 c000020a 1195"},
		{"[2001:db8:1::2]:500", "f212 20010db8000100000000000000000002 01f4"},
	}
	for _, tt := range tests {
		g := GatewayAddrPort(netip.MustParseAddrPort(tt.ap))
		want := unhex(t, tt.hex)
		if got := g.Append(nil); !bytes.Equal(got, want) {
			t.Errorf("%s: encoded %x, want %x", tt.ap, got, want)
		}
		got, rest, err := ParseGatewayIdentity(want)
		if err != nil || len(rest) != 0 || got != g || got.String() != netip.MustParseAddrPort(tt.ap).String() {
			t.Errorf("%s: parsed %+v %x %v", tt.ap, got, rest, err)
		}
	}
	_, _, err := ParseGatewayIdentity(unhex(t, "f106 c000020a 0000"))
	syntaxAt(t, err, PayloadNotify, 6)
	_, _, err = ParseGatewayIdentity(unhex(t, "f104 c000020a"))
	syntaxAt(t, err, PayloadNotify, 1)
}

func FuzzParseGatewayIdentity(f *testing.F) {
	for _, g := range []GatewayIdentity{
		GatewayAddr(netip.MustParseAddr("192.0.2.1")), GatewayAddr(netip.MustParseAddr("2001:db8::1")),
		GatewayFQDN("ha2.example.net"), GatewayAddrPort(netip.MustParseAddrPort("192.0.2.1:4500")),
		GatewayAddrPort(netip.MustParseAddrPort("[2001:db8::1]:500")),
	} {
		f.Add(g.Append(nil))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		parse := func(b []byte) (GatewayIdentity, error) {
			g, rest, err := ParseGatewayIdentity(b)
			if err == nil && len(rest) != len(b)-g.Len() {
				t.Fatalf("rest of %d octets after a %d-octet identity in %d", len(rest), g.Len(), len(b))
			}
			return g, err
		}
		checkStable(t, data, parse, GatewayIdentity.Len, GatewayIdentity.Append,
			func(a, b GatewayIdentity) bool { return a == b })
	})
}

func FuzzParseRedirect(f *testing.F) {
	for _, b := range seedBodies(f, PayloadNotify) {
		if n, err := ParseNotify(b); err == nil && n.Type == NotifyRedirect {
			f.Add(n.Data)
		}
	}
	f.Add(unhex(f, "030f 6861322e6578616d706c652e6e6574"+ni32))
	f.Fuzz(func(t *testing.T, data []byte) {
		enc := func(r Redirect, b []byte) []byte { return r.Append(b)[4:] } // the notify data only
		length := func(r Redirect) int { return r.Len() - 4 }
		checkStable(t, data, ParseRedirect, length, enc, func(a, b Redirect) bool { return reflect.DeepEqual(a, b) })
	})
}

func FuzzParseRedirectedFrom(f *testing.F) {
	for _, b := range seedBodies(f, PayloadNotify) {
		if n, err := ParseNotify(b); err == nil && n.Type == NotifyRedirectedFrom {
			f.Add(n.Data)
		}
	}
	f.Add(unhex(f, "0104 c0000201"))
	f.Fuzz(func(t *testing.T, data []byte) {
		enc := func(r RedirectedFrom, b []byte) []byte { return r.Append(b)[4:] }
		length := func(r RedirectedFrom) int { return r.Len() - 4 }
		checkStable(t, data, ParseRedirectedFrom, length, enc, func(a, b RedirectedFrom) bool { return a == b })
	})
}
