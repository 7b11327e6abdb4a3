package tshark

import (
	"bytes"
	"context"
	"encoding/binary"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sum16 is the Internet checksum of b.
func sum16(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// ipv4UDP builds an IPv4/UDP packet; checksum says whether the IPv4
// header checksum is right.
func ipv4UDP(src, dst string, sport, dport uint16, payload []byte, checksum bool) []byte {
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	p := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0}
	binary.BigEndian.PutUint16(p[2:], uint16(20+8+len(payload)))
	p = append(append(p, s[:]...), d[:]...)
	c := sum16(p)
	if !checksum {
		c ^= 0x0101
	}
	binary.BigEndian.PutUint16(p[10:], c)
	p = binary.BigEndian.AppendUint16(p, sport)
	p = binary.BigEndian.AppendUint16(p, dport)
	p = binary.BigEndian.AppendUint16(p, uint16(8+len(payload)))
	p = append(p, 0, 0) // no UDP checksum (allowed over IPv4)
	return append(p, payload...)
}

// ipv6NoNext builds an IPv6 packet with no upper layer (Next Header 59).
func ipv6NoNext(src, dst string) []byte {
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	p := []byte{0x60, 0, 0, 0, 0, 0, 59, 64}
	return append(append(p, s[:]...), d[:]...)
}

// TestWriterLayout: the file header and record headers of a classic
// little-endian pcap file with microsecond timestamps.
func TestWriterLayout(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, LinkTypeRaw)
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1700000000, 123456789)
	if err := w.WritePacket(ts, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	le := binary.LittleEndian
	if len(b) != 24+16+3 || le.Uint32(b) != 0xa1b2c3d4 || le.Uint16(b[4:]) != 2 || le.Uint16(b[6:]) != 4 ||
		le.Uint32(b[16:]) != MaxPacket || le.Uint32(b[20:]) != 101 {
		t.Fatalf("header %x", b[:24])
	}
	r := b[24:]
	if le.Uint32(r) != 1700000000 || le.Uint32(r[4:]) != 123456 || le.Uint32(r[8:]) != 3 || le.Uint32(r[12:]) != 3 || !bytes.Equal(r[16:], []byte{1, 2, 3}) {
		t.Fatalf("record %x", r)
	}
	if err := w.WritePacket(ts, make([]byte, MaxPacket+1)); err == nil {
		t.Error("oversized packet accepted")
	}
}

func writeTemp(t *testing.T, link LinkType, pkts ...[]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "test.pcap")
	if err := WriteFile(path, link, pkts...); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFieldsRawIPv4AndIPv6: with LINKTYPE_RAW tshark decodes IPv4 and
// IPv6 packets of one file; fields come back per packet, absent ones
// empty, the display filter selects packets, and timestamps are Epoch
// plus a second per packet.
func TestFieldsRawIPv4AndIPv6(t *testing.T) {
	Require(t)
	path := writeTemp(t, LinkTypeRaw,
		ipv4UDP("192.0.2.1", "198.51.100.2", 500, 4500, []byte("x"), true),
		ipv6NoNext("2001:db8::1", "2001:db8::2"),
	)
	ctx := context.Background()
	pkts, err := Fields(ctx, path, []string{"ip.src", "udp.dstport", "ipv6.src", "ipv6.dst", "frame.time_epoch"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) != 2 {
		t.Fatalf("%d packets", len(pkts))
	}
	if pkts[0].Value("ip.src") != "192.0.2.1" || pkts[0].Value("udp.dstport") != "4500" || pkts[0].Has("ipv6.src") {
		t.Errorf("packet 1: %v", pkts[0])
	}
	if pkts[1].Value("ipv6.src") != "2001:db8::1" || pkts[1].Value("ipv6.dst") != "2001:db8::2" || pkts[1].Has("ip.src") {
		t.Errorf("packet 2: %v", pkts[1])
	}
	if !strings.HasPrefix(pkts[1].Value("frame.time_epoch"), "1767225601") {
		t.Errorf("second packet at %s, want Epoch+1s", pkts[1].Value("frame.time_epoch"))
	}
	only, err := Fields(ctx, path, []string{"ipv6.src"}, Options{Filter: "ipv6"})
	if err != nil || len(only) != 1 || only[0].Value("ipv6.src") != "2001:db8::1" {
		t.Errorf("filtered: %v %v", only, err)
	}
	v6 := writeTemp(t, LinkTypeIPv6, ipv6NoNext("2001:db8::3", "2001:db8::4"))
	if p, err := Fields(ctx, v6, []string{"ipv6.src"}, Options{}); err != nil || p[0].Value("ipv6.src") != "2001:db8::3" {
		t.Errorf("LINKTYPE_IPV6: %v %v", p, err)
	}
}

// TestDecodeAsAndPrefs: a decode-as rule makes tshark dissect UDP 4191
// (DSMIPv6) as IPv6, and a preference turns on IPv4 checksum validation.
func TestDecodeAsAndPrefs(t *testing.T) {
	Require(t)
	inner := ipv6NoNext("2001:db8:1::1234", "2001:db8:1::1")
	path := writeTemp(t, LinkTypeRaw, ipv4UDP("192.0.2.1", "198.51.100.2", 40000, 4191, inner, false))
	ctx := context.Background()
	fields := []string{"ipv6.src", "ip.checksum.status"}
	plain, err := Fields(ctx, path, fields, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if plain[0].Has("ipv6.src") || plain[0].Value("ip.checksum.status") != "2" {
		t.Errorf("without options: %v", plain[0])
	}
	set, err := Fields(ctx, path, fields, Options{DecodeAs: []string{"udp.port==4191,ipv6"}, Prefs: []string{"ip.check_checksum:TRUE"}})
	if err != nil {
		t.Fatal(err)
	}
	if set[0].Value("ipv6.src") != "2001:db8:1::1234" || set[0].Value("ip.checksum.status") != "0" {
		t.Errorf("with options: %v", set[0])
	}
}

// TestJSONTree: the dissection tree has a layer per protocol.
func TestJSONTree(t *testing.T) {
	Require(t)
	path := writeTemp(t, LinkTypeRaw, ipv6NoNext("2001:db8::1", "2001:db8::2"))
	trees, err := JSON(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	layer, ok := trees[0]["ipv6"].(map[string]any)
	if !ok || layer["ipv6.src"] != "2001:db8::1" {
		t.Errorf("ipv6 layer %v", trees[0]["ipv6"])
	}
}

// TestRunReportsTsharkErrors: a bad display filter fails with tshark's
// own message.
func TestRunReportsTsharkErrors(t *testing.T) {
	Require(t)
	path := writeTemp(t, LinkTypeRaw, ipv6NoNext("2001:db8::1", "2001:db8::2"))
	_, err := Fields(context.Background(), path, []string{"ipv6.src"}, Options{Filter: "ipv6.nosuchfield == 1"})
	if err == nil || !strings.Contains(err.Error(), "nosuchfield") {
		t.Errorf("error %v", err)
	}
	if _, err := Fields(context.Background(), path, nil, Options{}); err == nil {
		t.Error("no fields accepted")
	}
}
