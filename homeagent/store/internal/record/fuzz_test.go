package record

import (
	"testing"

	"github.com/mip6ha/mip6ha/homeagent/store"
)

// FuzzDecodeLease: the decoder never panics, and whatever it accepts
// encodes back to a record that decodes to the same lease.
func FuzzDecodeLease(f *testing.F) {
	for _, l := range sampleLeases() {
		f.Add(must(EncodeLease(l, true)))
		f.Add(must(EncodeLease(l, false)))
	}
	f.Add([]byte(`{"v":1,"hoa":"2001:db8::1","identity":"a","owner":"h","state":"moving","moving_to":"x","deadline":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"v":1,"hoa":"192.0.2.1","identity":"a","state":"released","ticket_hash":"AAEC"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := DecodeLease(b)
		if err != nil {
			return
		}
		b2, err := EncodeLease(l, true)
		if err != nil {
			t.Fatalf("accepted %q as %v, which does not encode: %v", b, l, err)
		}
		again, err := DecodeLease(b2)
		if err != nil || !again.Equal(l) {
			t.Fatalf("accepted %q as %v, re-encoded it decodes to %v, %v", b, l, again, err)
		}
	})
}

// FuzzDecodeMember: the decoder never panics and is stable.
func FuzzDecodeMember(f *testing.F) {
	f.Add(must(EncodeMember(store.Member{ID: "ha1", Site: "west", Capacity: 10, Healthy: true})))
	f.Add([]byte(`{"v":1,"id":"ha2","addrs":["2001:db8::1","192.0.2.1"],"nat_addrs":["203.0.113.1:4500"],"heartbeat":"2026-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeMember(b)
		if err != nil {
			return
		}
		b2, err := EncodeMember(m)
		if err != nil {
			t.Fatalf("accepted %q as %+v, which does not encode: %v", b, m, err)
		}
		again, err := DecodeMember(b2)
		if err != nil || !again.Equal(m) {
			t.Fatalf("accepted %q as %+v, re-encoded it decodes to %+v, %v", b, m, again, err)
		}
	})
}

// FuzzAddrKeys: key parsers never panic and accept only canonical keys.
func FuzzAddrKeys(f *testing.F) {
	f.Add("4/c0000201", []byte{4, 192, 0, 2, 1})
	f.Add("6/20010db8000000000000000000000001", []byte{6, 0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, text string, key []byte) {
		if a, err := ParseAddrText(text); err == nil && AddrText(a) != text {
			t.Fatalf("ParseAddrText(%q) = %v, which prints as %q", text, a, AddrText(a))
		}
		if a, err := ParseAddrKey(key); err == nil && string(AddrKey(a)) != string(key) {
			t.Fatalf("ParseAddrKey(%x) = %v, whose key is %x", key, a, AddrKey(a))
		}
	})
}
