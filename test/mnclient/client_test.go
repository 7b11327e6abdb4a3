package mnclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
)

func TestResolveHA(t *testing.T) {
	for in, want := range map[string]string{
		"2001:db8:1::1":          "[2001:db8:1::1]:500",
		"[2001:db8:1::1]:4501":   "[2001:db8:1::1]:4501",
		"198.51.100.11":          "198.51.100.11:500",
		"198.51.100.11:600":      "198.51.100.11:600",
		"[::ffff:192.0.2.1]:500": "192.0.2.1:500",
	} {
		got, err := resolveHA(in)
		if err != nil || got.String() != want {
			t.Errorf("resolveHA(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "[2001:db8::1]:port", "no-such-host.invalid"} {
		if got, err := resolveHA(bad); err == nil {
			t.Errorf("resolveHA(%q) = %v, want an error", bad, got)
		}
	}
}

func TestHalves(t *testing.T) {
	for in, want := range map[string]string{
		"::/0":             "[::/1 8000::/1]",
		"0.0.0.0/0":        "[0.0.0.0/1 128.0.0.0/1]",
		"2001:db8:f::/64":  "[2001:db8:f::/64]",
		"198.51.100.0/24":  "[198.51.100.0/24]",
		"2001:db8::1/128":  "[2001:db8::1/128]",
		"2001:db8::/32":    "[2001:db8::/32]",
		"203.0.113.9/32":   "[203.0.113.9/32]",
		"2001:db8:a::/127": "[2001:db8:a::/127]",
	} {
		var got []string
		for _, p := range halves(netip.MustParsePrefix(in)) {
			got = append(got, p.String())
		}
		if s := "[" + strings.Join(got, " ") + "]"; s != want {
			t.Errorf("halves(%s) = %s, want %s", in, s, want)
		}
	}
}

// TestEventLines checks the JSON lines the client prints for the engine's
// events: one object per line, the kind in "event", the facts a test needs.
func TestEventLines(t *testing.T) {
	spis := ike.SPIs{I: 0x0102030405060708, R: 0x1112131415161718}
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	hoa := netip.MustParsePrefix("2001:db8:a::1/64")
	ts := []wire.TrafficSelector{wire.PrefixSelector(netip.MustParsePrefix("2001:db8:f::/64"))}
	var buf bytes.Buffer
	sink := JSONLines(&buf)
	for _, e := range []ike.Event{
		ike.IKEUp{SPIs: spis, NATT: true, PeerID: ike.FQDN("ha.example"), Suite: "AES-GCM-16-256/PRF_HMAC_SHA2_256/CURVE_25519",
			Path: ike.Path{Local: netip.MustParseAddrPort("[2001:db8:2::100]:4500"), Remote: netip.MustParseAddrPort("[2001:db8:1::1]:4500")}},
		ike.AddressAssigned{SPIs: spis, ToUs: true, Assignment: ike.Assignment{IPv6: hoa}},
		ike.AddressAssigned{SPIs: spis, ToUs: false, Assignment: ike.Assignment{IPv6: hoa}}, // not ours: no line
		ike.ChildUp{SPIs: spis, Child: ike.ChildInfo{InSPI: 0xc0ffee01, OutSPI: 0xdecaf002, Encap: true, RemoteTS: ts}},
		ike.NATDetected{SPIs: spis, LocalBehindNAT: true},
		ike.IKEDown{SPIs: spis, Reason: ike.DownDeleted, Err: errors.New("deleted by us")},
	} {
		if ev, ok := translate(e, at); ok {
			sink(ev)
		}
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want 5:\n%s", len(lines), buf.String())
	}
	var got []Event
	for _, l := range lines {
		var e Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, e)
	}
	want := []Event{
		{Event: EventAttached, SPIs: "0102030405060708_1112131415161718", NATT: true, Peer: "ID_FQDN:ha.example",
			Local: "[2001:db8:2::100]:4500", Remote: "[2001:db8:1::1]:4500"},
		{Event: EventHomeAddress, Address: "2001:db8:a::1/64"},
		{Event: EventChildInstalled, InSPI: "c0ffee01", OutSPI: "decaf002", Encap: true},
		{Event: EventNATDetected, LocalBehindNAT: true},
		{Event: EventDetached, Reason: "deleted", Error: "deleted by us"},
	}
	for i, w := range want {
		g := got[i]
		if g.Event != w.Event || w.SPIs != "" && g.SPIs != w.SPIs || g.NATT != w.NATT || g.Peer != w.Peer || g.Local != w.Local ||
			g.Remote != w.Remote || g.Address != w.Address || g.InSPI != w.InSPI || g.OutSPI != w.OutSPI || g.Encap != w.Encap ||
			g.LocalBehindNAT != w.LocalBehindNAT || g.Reason != w.Reason || g.Error != w.Error || !g.Time.Equal(at) {
			t.Errorf("line %d: %+v, want %+v", i, g, w)
		}
	}
	if len(got[2].RemoteTS) != 1 || !strings.Contains(got[2].RemoteTS[0], "2001:db8:f::") {
		t.Errorf("child_installed remote_ts %q", got[2].RemoteTS)
	}
}
