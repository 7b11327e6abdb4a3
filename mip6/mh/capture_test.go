package mh

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"testing"
)

// readPcap returns the packets of a little-endian pcap file.
func readPcap(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) < 24 || binary.LittleEndian.Uint32(data) != 0xa1b2c3d4 {
		t.Fatal("not a little-endian pcap file")
	}
	var pkts [][]byte
	for off := 24; off+16 <= len(data); {
		n := int(binary.LittleEndian.Uint32(data[off+8:]))
		off += 16
		if off+n > len(data) {
			t.Fatal("truncated record")
		}
		pkts = append(pkts, data[off:off+n])
		off += n
	}
	return pkts
}

// TestLabCapture decodes the packets that ../shared/lab/mip6/mkpcap.py
// built with its own checksum routine (an independent implementation):
// every checksum verifies over the RFC 6275 §6.1.1 pseudo-header and
// every field has the value the script wrote.
func TestLabCapture(t *testing.T) {
	pkts := readPcap(t, "testdata/lab-mip6-bu-ba-has-be.pcap")
	if len(pkts) != 5 {
		t.Fatalf("%d packets, want 5", len(pkts))
	}
	hoa, coa := netip.MustParseAddr("2001:db8:1::100"), netip.MustParseAddr("2001:db8:2::100")
	ha1, ha2, ha3 := netip.MustParseAddr("2001:db8:1::1"), netip.MustParseAddr("2001:db8:1::2"), netip.MustParseAddr("2001:db8:1::3")
	var msgs []Message
	var ips []IPv6
	for i, p := range pkts {
		ip, h, err := ParsePacket(p)
		if err != nil {
			t.Fatalf("packet %d: %v", i+1, err)
		}
		m, err := Decode(h)
		if err != nil {
			t.Fatalf("packet %d: %v", i+1, err)
		}
		msgs, ips = append(msgs, m), append(ips, ip)
	}
	if ips[0].Src != coa || ips[0].HAO != hoa || ips[1].RH2 != hoa || ips[1].Dst != coa {
		t.Errorf("addressing %+v %+v", ips[0], ips[1])
	}
	bu := msgs[0].(BindingUpdate)
	if acoa, _ := bu.Options.AlternateCoA(); bu.Sequence != 7 || bu.Flags != BUFlagA|BUFlagH|BUFlagK || bu.Lifetime != 100 || acoa.Addr != coa {
		t.Errorf("BU %+v", bu)
	}
	ba := msgs[1].(BindingAck)
	if bra, _ := ba.Options.BindingRefreshAdvice(); ba.Status != 0 || ba.Flags != BAFlagK || ba.Sequence != 7 || ba.Lifetime != 100 || bra.Interval != 50 {
		t.Errorf("BA %+v", ba)
	}
	if rej := msgs[2].(BindingAck); rej.Status != StatusAdministrativelyProhibited || rej.Lifetime != 0 {
		t.Errorf("BA %+v", rej)
	}
	if has := msgs[3].(HomeAgentSwitch); len(has.Addresses) != 2 || has.Addresses[0] != ha2 || has.Addresses[1] != ha3 {
		t.Errorf("HAS %+v", has)
	}
	if be := msgs[4].(BindingError); be.Status != BEUnknownBinding || be.HoA != hoa || ips[4].Src != ha1 {
		t.Errorf("BE %+v", be)
	}
	// The script summed the BU over the home address: over the wire source
	// the checksum fails.
	if _, _, err := ParsePacket(append([]byte(nil), pkts[0][:40]...)); !errors.Is(err, ErrTruncated) {
		t.Errorf("header only: %v", err)
	}
	if VerifyChecksum(pkts[0][64:], coa, ha1) {
		t.Error("BU checksum verifies over the care-of address")
	}
}
