package lab

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestNewIDIsUniqueAndShort(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newID()
		if !regexp.MustCompile(`^m6-[0-9a-z]+-[0-9a-z]{4}$`).MatchString(id) {
			t.Fatalf("id %q has the wrong form", id)
		}
		// The longest host name (12) plus the dash must keep namespace
		// names readable; the kernel does not limit them, but ip prints them.
		if len(id) > 20 {
			t.Fatalf("id %q is longer than 20 characters", id)
		}
		seen[id] = true
	}
	// 36^4 = 1.7 million values: 1000 draws collide with probability ~0.03%.
	if len(seen) < 998 {
		t.Fatalf("only %d distinct ids in 1000", len(seen))
	}
}

func TestParseStatStart(t *testing.T) {
	// The command name may hold spaces and parentheses.
	line := "4242 (we(ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10 18446744073709551615\n"
	got, err := parseStatStart(line)
	if err != nil || got != 987654 {
		t.Fatalf("parseStatStart = %d, %v; want 987654", got, err)
	}
	if _, err := parseStatStart("4242 (x) S 1 2"); err == nil {
		t.Fatal("short line: no error")
	}
	if _, err := parseStatStart("no parenthesis"); err == nil {
		t.Fatal("malformed line: no error")
	}
	// Our own process is alive under its own start time, and not under
	// another one (a recycled PID).
	me, err := self()
	if err != nil {
		t.Fatal(err)
	}
	if !me.alive() {
		t.Fatal("own process reported dead")
	}
	if (owner{me.pid, me.start + 1}).alive() {
		t.Fatal("own PID with another start time reported alive")
	}
}

func TestParseOwner(t *testing.T) {
	o, err := parseOwner("123 456\n")
	if err != nil || o != (owner{123, 456}) {
		t.Fatalf("parseOwner = %v, %v", o, err)
	}
	if back, err := parseOwner(o.String()); err != nil || back != o {
		t.Fatalf("round trip: %v, %v", back, err)
	}
	for _, bad := range []string{"", "123", "x 1", "-1 5", "1 -5", "1 2 3"} {
		if _, err := parseOwner(bad); err == nil {
			t.Errorf("parseOwner(%q): no error", bad)
		}
	}
}

func TestAddHost(t *testing.T) {
	for _, c := range []struct {
		prefix string
		n      uint64
		want   string // "" = rejected
	}{
		{"2001:db8:2::/64", 0x100, "2001:db8:2::100"},
		{"2001:db8:1::/64", 0xfe, "2001:db8:1::fe"},
		{"192.0.2.0/25", 100, "192.0.2.100"},
		{"192.0.2.128/25", 100, "192.0.2.228"},
		{"192.0.2.128/25", 1, "192.0.2.129"},
		{"198.51.100.0/24", 0x1ff, ""}, // beyond the prefix
		{"192.0.2.128/25", 200, ""},
		{"10.0.0.0/8", 0x010203, "10.1.2.3"}, // carries across bytes
		{"2001:db8::/64", 0, ""},             // the prefix's own address
	} {
		a, ok := addHost(netip.MustParsePrefix(c.prefix), c.n)
		if c.want == "" {
			if ok {
				t.Errorf("addHost(%s, %#x) = %s, want rejection", c.prefix, c.n, a)
			}
			continue
		}
		if !ok || a != netip.MustParseAddr(c.want) {
			t.Errorf("addHost(%s, %#x) = %s, %v; want %s", c.prefix, c.n, a, ok, c.want)
		}
	}
}

func TestListensOn(t *testing.T) {
	// `ss -Hlnu` and `ss -Hlnt` output of iproute2 6.1.
	ss := `UNCONN 0      0      [2001:db8:1::1]%eth0:500       [::]:*
UNCONN 0      0            0.0.0.0:4500     0.0.0.0:*
LISTEN 0      4096               *:5201           *:*
`
	for port, want := range map[int]bool{500: true, 4500: true, 5201: true, 50: false, 450: false, 1: false} {
		if got := listensOn(ss, port); got != want {
			t.Errorf("listensOn(%d) = %v, want %v", port, got, want)
		}
	}
}

func TestParseAddrJSON(t *testing.T) {
	// `ip -j addr show dev eth0` right after adding an address (iproute2 6.1).
	js := `[{"ifindex":3,"link":"eth1","ifname":"eth0","flags":["BROADCAST","MULTICAST","UP","LOWER_UP"],"mtu":1500,"addr_info":[` +
		`{"family":"inet","local":"192.0.2.100","prefixlen":25,"scope":"global","label":"eth0","valid_life_time":4294967295},` +
		`{"family":"inet6","local":"2001:db8::1","prefixlen":64,"scope":"global","tentative":true,"valid_life_time":4294967295},` +
		`{"family":"inet6","local":"fe80::ec84:46ff:fe9d:471c","prefixlen":64,"scope":"link","dadfailed":true,"tentative":true}]}]`
	got, err := parseAddrJSON(js)
	if err != nil {
		t.Fatal(err)
	}
	want := []AddrInfo{
		{Prefix: netip.MustParsePrefix("192.0.2.100/25"), Scope: "global"},
		{Prefix: netip.MustParsePrefix("2001:db8::1/64"), Scope: "global", Tentative: true},
		{Prefix: netip.MustParsePrefix("fe80::ec84:46ff:fe9d:471c/64"), Scope: "link", Tentative: true, DADFailed: true},
	}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("address %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if !got[0].Usable() || got[1].Usable() || got[2].Usable() {
		t.Errorf("Usable: %v %v %v, want true false false", got[0].Usable(), got[1].Usable(), got[2].Usable())
	}
	for _, bad := range []string{"", "{}", `[{"addr_info":[{"local":"x","prefixlen":1}]}]`, `[{"addr_info":[{"local":"10.0.0.1","prefixlen":33}]}]`} {
		if _, err := parseAddrJSON(bad); err == nil {
			t.Errorf("parseAddrJSON(%q): no error", bad)
		}
	}
}

func TestRouteArgs(t *testing.T) {
	r := Route{Dst: "2001:db8:ff::1/128", Via: "2001:db8:1::2", Table: 101, Metric: 5, Dev: "br-home", Src: "2001:db8:1::fe"}
	if got, want := strings.Join(r.args(), " "), "2001:db8:ff::1/128 via 2001:db8:1::2 dev br-home src 2001:db8:1::fe table 101 metric 5"; got != want {
		t.Errorf("args = %q, want %q", got, want)
	}
	if got := strings.Join(Route{Via: "192.0.2.1"}.args(), " "); got != "default via 192.0.2.1" {
		t.Errorf("empty Dst: %q", got)
	}
	for s, want := range map[string]Family{"default": AnyFamily, "": AnyFamily, "192.0.2.0/24": IPv4, "2001:db8::1": IPv6, "10.0.0.1": IPv4} {
		if got := familyOf(s); got != want {
			t.Errorf("familyOf(%q) = %v, want %v", s, got, want)
		}
	}
	if f := firstFamily(AnyFamily, "default", "", "2001:db8::1"); f != IPv6 {
		t.Errorf("firstFamily = %v, want IPv6", f)
	}
}

func TestParsePcapSamples(t *testing.T) {
	// Lengths and times as tshark 4.0 reads them (frame.len, frame.time_epoch).
	for _, c := range []struct {
		file     string
		linkType uint32
		lens     []int
		first    time.Time
	}{
		{"ikev2-redirect-ike-sa-init.pcap", 1, []int{302, 148, 320, 310, 370, 354}, time.Unix(1795752924, 460108000)},
		{"mip6-bu-ba-has-be.pcap", 229, []int{96, 80, 80, 104, 64}, time.Unix(1700000000, 0)},
	} {
		b, err := os.ReadFile("testdata/" + c.file)
		if err != nil {
			t.Fatal(err)
		}
		pc, err := ParsePcap(b)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		if pc.LinkType != c.linkType {
			t.Errorf("%s: link type %d, want %d", c.file, pc.LinkType, c.linkType)
		}
		if len(pc.Packets) != len(c.lens) {
			t.Fatalf("%s: %d packets, want %d", c.file, len(pc.Packets), len(c.lens))
		}
		for i, p := range pc.Packets {
			if p.OrigLen != c.lens[i] || len(p.Data) != c.lens[i] {
				t.Errorf("%s packet %d: length %d/%d, want %d", c.file, i+1, len(p.Data), p.OrigLen, c.lens[i])
			}
		}
		if !pc.Packets[0].Time.Equal(c.first) {
			t.Errorf("%s: first packet at %v, want %v", c.file, pc.Packets[0].Time, c.first)
		}
		// Every cut inside the last record is reported as truncation,
		// with the complete records kept.
		for cut := len(b) - c.lens[len(c.lens)-1] - 16 + 1; cut < len(b); cut++ {
			pc, err := ParsePcap(b[:cut])
			if !errors.Is(err, ErrPcapTruncated) || len(pc.Packets) != len(c.lens)-1 {
				t.Fatalf("%s cut at %d: %d packets, %v", c.file, cut, len(pc.Packets), err)
			}
		}
	}
}

// pcapFile builds a pcap file in byte order bo from records.
func pcapFile(bo binary.AppendByteOrder, nanos bool, linkType uint32, recs ...[]byte) []byte {
	magic := uint32(0xa1b2c3d4)
	if nanos {
		magic = 0xa1b23c4d
	}
	b := bo.AppendUint32(nil, magic)
	b = bo.AppendUint16(b, 2)
	b = bo.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = bo.AppendUint32(b, 262144)
	b = bo.AppendUint32(b, linkType)
	for i, r := range recs {
		b = bo.AppendUint32(b, uint32(1000+i))
		b = bo.AppendUint32(b, 999)
		b = bo.AppendUint32(b, uint32(len(r)))
		b = bo.AppendUint32(b, uint32(len(r)+10))
		b = append(b, r...)
	}
	return b
}

func TestParsePcapByteOrderAndResolution(t *testing.T) {
	for _, bo := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
		for _, nanos := range []bool{false, true} {
			b := pcapFile(bo, nanos, 113, []byte("abc"), nil, []byte("defg"))
			pc, err := ParsePcap(b)
			if err != nil {
				t.Fatalf("%v nanos=%v: %v", bo, nanos, err)
			}
			if pc.LinkType != 113 || pc.Nanos != nanos || len(pc.Packets) != 3 {
				t.Fatalf("%v nanos=%v: %+v", bo, nanos, pc)
			}
			wantNs := int64(999)
			if !nanos {
				wantNs *= 1000
			}
			p := pc.Packets[2]
			if string(p.Data) != "defg" || p.OrigLen != 14 || !p.Time.Equal(time.Unix(1002, wantNs)) {
				t.Errorf("%v nanos=%v: third packet %+v", bo, nanos, p)
			}
		}
	}
	if _, err := ParsePcap(bytes.Repeat([]byte{0}, 24)); !errors.Is(err, ErrPcapMagic) {
		t.Errorf("zero magic: %v", err)
	}
	b := pcapFile(binary.LittleEndian, false, 1)
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint32(b, maxPcapRecord+1)
	b = binary.LittleEndian.AppendUint32(b, 0)
	if _, err := ParsePcap(b); !errors.Is(err, ErrPcapRecord) {
		t.Errorf("oversized record: %v", err)
	}
}

// FuzzParsePcap checks that ParsePcap never panics, that its packets are
// views inside the input, and that re-encoding what it parsed gives back
// the input's prefix it consumed.
func FuzzParsePcap(f *testing.F) {
	for _, name := range []string{"ikev2-redirect-ike-sa-init.pcap", "mip6-bu-ba-has-be.pcap"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(pcapFile(binary.BigEndian, true, 276, []byte{1, 2, 3}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		pc, err := ParsePcap(b)
		if err != nil && !errors.Is(err, ErrPcapMagic) && !errors.Is(err, ErrPcapTruncated) && !errors.Is(err, ErrPcapRecord) {
			t.Fatalf("unexpected error %v", err)
		}
		if errors.Is(err, ErrPcapMagic) {
			return
		}
		if len(b) < 24 {
			return
		}
		off := 24
		for i, p := range pc.Packets {
			if len(p.Data) > maxPcapRecord || off+16+len(p.Data) > len(b) {
				t.Fatalf("packet %d overruns the input", i)
			}
			if !bytes.Equal(b[off+16:off+16+len(p.Data)], p.Data) {
				t.Fatalf("packet %d is not the input's bytes", i)
			}
			off += 16 + len(p.Data)
		}
		if err == nil && off != len(b) {
			t.Fatalf("parsed %d of %d bytes without error", off, len(b))
		}
	})
}

func TestQuoteArgs(t *testing.T) {
	got := quoteArgs([]string{"nft", "-f", "-", "a b", "", `x"y`})
	if want := `nft -f - "a b" "" "x\"y"`; got != want {
		t.Errorf("quoteArgs = %s, want %s", got, want)
	}
}

func BenchmarkParsePcap(b *testing.B) {
	data, err := os.ReadFile("testdata/ikev2-redirect-ike-sa-init.pcap")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParsePcap(data); err != nil {
			b.Fatal(err)
		}
	}
}
