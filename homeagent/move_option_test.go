package homeagent

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/mip6/mh"
)

const testTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// TestHandoverOptionGolden: the option's data, octet by octet, as
// docs/cluster.md describes it.
func TestHandoverOptionGolden(t *testing.T) {
	o := HandoverOption{
		Ticket:       []byte{0xaa, 0xbb, 0xcc},
		TraceContext: testTraceparent,
		Gateway:      netip.AddrPortFrom(netip.MustParseAddr("192.0.2.7"), 4501),
	}
	want := "4d364841" + "01" + // "M6HA", version 1
		"0103" + "aabbcc" + // HANDOVER_TICKET
		"0237" + hex.EncodeToString([]byte(testTraceparent)) + // TRACE_CONTEXT, 55 octets
		"0306" + "c0000207" + "1195" // GATEWAY 192.0.2.7, port 4501
	got := hex.EncodeToString(o.AppendData(nil))
	if got != want {
		t.Fatalf("data\n got %s\nwant %s", got, want)
	}
	if o.Len() != len(want)/2 {
		t.Errorf("Len %d, encoded %d", o.Len(), len(want)/2)
	}
	opts := o.Append(nil)
	if opts[0] != byte(OptExperimentalMobility) || int(opts[1]) != len(want)/2 {
		t.Errorf("option header % x", opts[:2])
	}
	// A gateway on the standard ports has no port octets.
	std := HandoverOption{Gateway: netip.AddrPortFrom(netip.MustParseAddr("2001:db8::2"), 0)}
	if got := hex.EncodeToString(std.AppendData(nil)); got != "4d36484101"+"0310"+"20010db8000000000000000000000002" {
		t.Errorf("standard-port gateway: %s", got)
	}
}

// TestHandoverOptionInHomeAgentSwitch: the option rides in a Home Agent
// Switch beside the Binding Refresh Advice (RFC 5142 §5.1); the message
// parses with the option kept and the advice still found, and the option
// comes back unchanged.
func TestHandoverOptionInHomeAgentSwitch(t *testing.T) {
	o := HandoverOption{Ticket: bytes.Repeat([]byte{7}, 100), TraceContext: testTraceparent,
		Gateway: netip.AddrPortFrom(netip.MustParseAddr("2001:db8:a::2"), 0)}
	opts := mh.BindingRefreshAdvice{Interval: mh.LifetimeOf(32 * time.Second)}.Append(nil)
	opts = o.Append(opts)
	has := mh.HomeAgentSwitch{Addresses: []netip.Addr{netip.MustParseAddr("2001:db8:a::2")}, Options: opts}
	pkt := mh.AppendPacket(nil, mh.IPv6{Src: netip.MustParseAddr("2001:db8:a::1"), Dst: netip.MustParseAddr("2001:db8:1::1000")}, has)
	_, h, err := mh.ParsePacket(pkt)
	if err != nil {
		t.Fatal(err)
	}
	got, err := mh.ParseHomeAgentSwitch(h)
	if err != nil {
		t.Fatal(err)
	}
	if bra, ok := got.Options.BindingRefreshAdvice(); !ok || bra.Interval.Duration() != 32*time.Second {
		t.Errorf("Binding Refresh Advice %+v, %v", bra, ok)
	}
	back, found, err := ParseHandoverOption(got.Options)
	if err != nil || !found {
		t.Fatalf("option found %v, %v", found, err)
	}
	if !bytes.Equal(back.Ticket, o.Ticket) || back.TraceContext != o.TraceContext || back.Gateway != o.Gateway {
		t.Errorf("option %+v, want %+v", back, o)
	}
	// A Home Agent Switch without it: not found, no error.
	if _, found, err := ParseHandoverOption(mh.BindingRefreshAdvice{Interval: 1}.Append(nil)); found || err != nil {
		t.Errorf("no option: found %v, %v", found, err)
	}
	// Another experiment's option 18 is not ours.
	other := mh.Option{Type: OptExperimentalMobility, Data: []byte("XYZW\x01")}.Append(nil)
	if _, found, err := ParseHandoverOption(other); found || err != nil {
		t.Errorf("foreign experimental option: found %v, %v", found, err)
	}
}

// TestHandoverOptionMalformed: each fault is refused with the sentinel and
// the offset; unknown sub-options are skipped.
func TestHandoverOptionMalformed(t *testing.T) {
	for _, tc := range []struct {
		name, hex, says string
	}{
		{"no marker", "4d3648", "marker"},
		{"too long", "4d36484101" + strings.Repeat("09", 251), "longer than"},
		{"version", "4d36484102", "version 2"},
		{"truncated header", "4d3648410101", "offset 5"},
		{"overrun", "4d364841010105aabb", "overruns"},
		{"empty ticket", "4d364841010100", "empty ticket"},
		{"repeated", "4d3648410101010101010102", "repeated"},
		{"gateway length", "4d364841010305c000020700", "gateway of 5"},
		{"gateway port 0", "4d364841010306c00002070000", "port 0"},
		{"mapped gateway", "4d36484101031000000000000000000000ffffc0000207", "IPv4-mapped"},
	} {
		b, _ := hex.DecodeString(tc.hex)
		_, err := ParseHandoverData(b)
		if !errors.Is(err, ErrHandoverOption) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.says)
		}
	}
	b, _ := hex.DecodeString("4d36484101" + "0902ffff" + "0101aa")
	o, err := ParseHandoverData(b)
	if err != nil || !bytes.Equal(o.Ticket, []byte{0xaa}) {
		t.Errorf("unknown sub-option not skipped: %+v, %v", o, err)
	}
}

// TestHandoverOptionFits: a ticket that would overflow the 255 octets of
// an option is left out rather than truncated.
func TestHandoverOptionFits(t *testing.T) {
	o := HandoverOption{TraceContext: testTraceparent, Ticket: bytes.Repeat([]byte{1}, 200)}
	data := o.AppendData(nil)
	if len(data) != o.Len() || len(data) > 255 {
		t.Fatalf("data of %d octets, Len %d", len(data), o.Len())
	}
	back, err := ParseHandoverData(data)
	if err != nil || !bytes.Equal(back.Ticket, o.Ticket) || back.TraceContext != "" {
		t.Errorf("got %+v, %v: want the ticket only", back, err)
	}
}

// FuzzHandoverOption: the parser never panics, and what it accepts encodes
// back to data that parses to the same option.
func FuzzHandoverOption(f *testing.F) {
	f.Add(HandoverOption{Ticket: []byte{1, 2, 3}, TraceContext: testTraceparent,
		Gateway: netip.AddrPortFrom(netip.MustParseAddr("2001:db8::2"), 4500)}.AppendData(nil))
	f.Add(HandoverOption{Gateway: netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), 0)}.AppendData(nil))
	f.Add(HandoverOption{}.AppendData(nil))
	f.Add([]byte("M6HA\x01\x09\x00\x01\x01x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := ParseHandoverData(data)
		if len(data) > 255 && err == nil {
			t.Fatalf("data of %d octets accepted", len(data))
		}
		if err != nil {
			return
		}
		again, err := ParseHandoverData(o.AppendData(nil))
		if err != nil {
			t.Fatalf("re-encoded option does not parse: %v", err)
		}
		if !bytes.Equal(again.Ticket, o.Ticket) || again.TraceContext != o.TraceContext || again.Gateway != o.Gateway {
			t.Fatalf("round trip %+v -> %+v", o, again)
		}
		if _, _, err := ParseHandoverOption(mh.Option{Type: OptExperimentalMobility, Data: data}.Append(nil)); err != nil {
			t.Fatalf("option parsed alone but not in an option area: %v", err)
		}
	})
}

// BenchmarkHandoverOption: encoding the option into a Home Agent Switch's
// option area and parsing it back, as the old home agent and the mobile
// node do once per move.
func BenchmarkHandoverOption(b *testing.B) {
	o := HandoverOption{Ticket: bytes.Repeat([]byte{7}, 112), TraceContext: testTraceparent,
		Gateway: netip.AddrPortFrom(netip.MustParseAddr("2001:db8:a::2"), 0)}
	buf := make(mh.Options, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		opts := o.Append(buf[:0])
		if _, found, err := ParseHandoverOption(opts); !found || err != nil {
			b.Fatal(found, err)
		}
	}
}
