package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func TestNotifyDataAccessors(t *testing.T) {
	ok := func(err error) bool { return err == nil }
	bad := func(err error) bool { return errors.Is(err, ErrSyntax) }
	check := func(name string, err error, want func(error) bool) {
		t.Helper()
		if !want(err) {
			t.Errorf("%s: unexpected error %v", name, err)
		}
	}
	nat := func(n int) Notify { return Notify{Type: NotifyNATDetectionSourceIP, Data: make([]byte, n)} }
	_, err := nat(20).NATDetectionHash()
	check("NAT-D 20", err, ok)
	_, err = nat(19).NATDetectionHash()
	check("NAT-D 19", err, bad)
	_, err = nat(21).NATDetectionHash()
	check("NAT-D 21", err, bad)

	cookie := func(n int) Notify { return Notify{Type: NotifyCookie, Data: make([]byte, n)} }
	for _, n := range []int{1, 64} {
		_, err = cookie(n).Cookie()
		check("COOKIE", err, ok)
	}
	for _, n := range []int{0, 65} {
		_, err = cookie(n).Cookie()
		check("COOKIE", err, bad)
	}

	g, err := InvalidKEPayload(DHECP256).AcceptedDHGroup()
	if err != nil || g != DHECP256 {
		t.Errorf("AcceptedDHGroup = %v, %v", g, err)
	}
	_, err = Notify{Type: NotifyInvalidKEPayload, Data: []byte{0, 19, 0}}.AcceptedDHGroup()
	check("INVALID_KE 3 octets", err, bad)

	spi, err := RekeySA(ProtocolESP, 0x01020304).ChildSPI()
	if err != nil || spi != 0x01020304 {
		t.Errorf("ChildSPI = %x, %v", spi, err)
	}
	_, err = Notify{Type: NotifyRekeySA, ProtocolID: ProtocolIKE, SPI: make([]byte, 4)}.ChildSPI()
	check("REKEY_SA for IKE", err, bad)
	_, err = Notify{Type: NotifyRekeySA, ProtocolID: ProtocolESP, SPI: make([]byte, 8)}.ChildSPI()
	check("REKEY_SA with 8-octet SPI", err, bad)

	hs, err := SignatureHashAlgorithms(HashSHA2_256, HashSHA2_512).HashAlgorithms()
	if err != nil || hs.Count() != 2 || !hs.Contains(HashSHA2_512) || hs.Contains(HashSHA1) || hs.At(0) != HashSHA2_256 {
		t.Errorf("HashAlgorithms = %v, %v", hs, err)
	}
	_, err = Notify{Type: NotifySignatureHashAlgorithms, Data: []byte{0, 2, 0}}.HashAlgorithms()
	check("odd SIGNATURE_HASH_ALGORITHMS", err, bad)
}

// RFC 7296 §3.10 layouts of the constructed notifies.
func TestNotifyConstructors(t *testing.T) {
	tests := []struct {
		n   Notify
		hex string
	}{
		{InvalidKEPayload(DHCurve25519), "00 00 0011 001f"},
		{RekeySA(ProtocolESP, 0xc0ffee01), "03 04 4009 c0ffee01"},
		{SignatureHashAlgorithms(HashSHA2_256, HashSHA2_384, HashSHA2_512, HashIdentity), "00 00 402f 0002000300040005"},
	}
	for _, tt := range tests {
		if got := tt.n.Append(nil); !bytes.Equal(got, unhex(t, tt.hex)) {
			t.Errorf("%v: %x, want %s", tt.n.Type, got, tt.hex)
		}
	}
}

func TestParseNotifyRejects(t *testing.T) {
	_, err := ParseNotify([]byte{0, 0, 0x40})
	syntaxAt(t, err, PayloadNotify, 0)
	_, err = ParseNotify([]byte{3, 4, 0x40, 0x09, 1, 2, 3})
	syntaxAt(t, err, PayloadNotify, 1)
}

func TestNotifyTypeNames(t *testing.T) {
	for _, tt := range []struct {
		n       NotifyType
		s       string
		isError bool
		private bool
	}{
		{NotifyRedirect, "REDIRECT", false, false},
		{NotifyInvalidSyntax, "INVALID_SYNTAX", true, false},
		{NotifyRedirectPortSupported, "REDIRECT_PORT_SUPPORTED", false, true},
		{NotifyType(9000), "NotifyType(9000)", true, true},
		{NotifyType(20000), "NotifyType(20000)", false, false},
	} {
		if tt.n.String() != tt.s || tt.n.IsError() != tt.isError || tt.n.IsPrivateUse() != tt.private {
			t.Errorf("%d: %q error=%v private=%v", uint16(tt.n), tt.n, tt.n.IsError(), tt.n.IsPrivateUse())
		}
	}
}

func FuzzParseNotify(f *testing.F) {
	for _, b := range seedBodies(f, PayloadNotify, RekeySA(ProtocolESP, 1), InvalidKEPayload(DHECP256)) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkStable(t, data, ParseNotify, Notify.Len, Notify.Append, func(a, b Notify) bool { return reflect.DeepEqual(a, b) })
		n, err := ParseNotify(data)
		if err != nil {
			return
		}
		// The data accessors must not panic on any notify.
		n.NATDetectionHash()
		n.Cookie()
		n.AcceptedDHGroup()
		n.ChildSPI()
		if hs, err := n.HashAlgorithms(); err == nil {
			for range hs.All() {
			}
		}
		n.Redirect(ExchangeIKESAInit, nil)
		n.Redirect(ExchangeIKEAuth, nil)
		n.RedirectedFrom()
	})
}
