package wire

import (
	"bufio"
	"encoding/binary"
	"os"
	"strings"
	"testing"
)

// A datagram is the UDP payload of one captured frame.
type datagram struct {
	frame            int
	srcPort, dstPort uint16
	payload          []byte
}

// readPcap returns the UDP datagrams of a classic pcap file (either byte
// order, microsecond or nanosecond stamps) with Ethernet, Linux cooked or raw
// IP link layers. Frames that are not UDP over IPv4 or IPv6 are skipped.
func readPcap(t testing.TB, path string) []datagram {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 24 {
		t.Fatalf("%s: no pcap header", path)
	}
	var order binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		order = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		order = binary.BigEndian
	default:
		t.Fatalf("%s: not a pcap file", path)
	}
	link := order.Uint32(b[20:])
	var out []datagram
	for off, frame := 24, 1; off+16 <= len(b); frame++ {
		n := int(order.Uint32(b[off+8:]))
		if off+16+n > len(b) {
			t.Fatalf("%s: frame %d truncated", path, frame)
		}
		pkt := b[off+16 : off+16+n]
		off += 16 + n
		var ip []byte
		switch link {
		case 1: // Ethernet
			if len(pkt) < 14 {
				continue
			}
			etype, rest := binary.BigEndian.Uint16(pkt[12:]), pkt[14:]
			for etype == 0x8100 && len(rest) >= 4 { // 802.1Q
				etype, rest = binary.BigEndian.Uint16(rest[2:]), rest[4:]
			}
			ip = rest
		case 113: // Linux cooked
			if len(pkt) < 16 {
				continue
			}
			ip = pkt[16:]
		case 101: // raw IP
			ip = pkt
		default:
			t.Fatalf("%s: link type %d not supported", path, link)
		}
		if udp := udpOf(ip); udp != nil {
			out = append(out, datagram{
				frame:   frame,
				srcPort: binary.BigEndian.Uint16(udp[0:]),
				dstPort: binary.BigEndian.Uint16(udp[2:]),
				payload: udp[8:],
			})
		}
	}
	return out
}

// udpOf returns the UDP header and payload inside an IPv4 or IPv6 packet.
func udpOf(ip []byte) []byte {
	if len(ip) < 1 {
		return nil
	}
	var udp []byte
	switch ip[0] >> 4 {
	case 4:
		if len(ip) < 20 || ip[9] != 17 {
			return nil
		}
		total := int(binary.BigEndian.Uint16(ip[2:]))
		hl := int(ip[0]&0x0f) * 4
		if total > len(ip) || hl > total {
			return nil
		}
		udp = ip[hl:total]
	case 6:
		if len(ip) < 40 || ip[6] != 17 {
			return nil
		}
		plen := int(binary.BigEndian.Uint16(ip[4:]))
		if 40+plen > len(ip) {
			return nil
		}
		udp = ip[40 : 40+plen]
	default:
		return nil
	}
	if len(udp) < 8 || int(binary.BigEndian.Uint16(udp[4:])) != len(udp) {
		return nil
	}
	return udp
}

// ikeMessage strips the non-ESP marker from a datagram on port 4500 and
// reports whether the datagram is an IKE message (RFC 7296 §2.23, RFC 3948
// §2): on 4500, ESP (non-zero SPI) and NAT keepalives (one 0xff octet) are
// not.
func ikeMessage(d datagram) ([]byte, bool) {
	switch {
	case d.srcPort == 500 || d.dstPort == 500:
		return d.payload, true
	case d.srcPort == 4500 || d.dstPort == 4500:
		if len(d.payload) >= 4 && binary.BigEndian.Uint32(d.payload) == 0 {
			return d.payload[4:], true
		}
	}
	return nil, false
}

// readTshark reads a golden file written by testdata/tshark-fields.sh: a
// header row of field names, then one row per IKE frame, keyed by frame
// number.
func readTshark(t testing.TB, path string) map[string]map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	var names []string
	rows := map[string]map[string]string{}
	for s.Scan() {
		cols := strings.Split(s.Text(), "\t")
		if names == nil {
			names = cols
			continue
		}
		row := map[string]string{}
		for i, c := range cols {
			row[names[i]] = c
		}
		rows[row["frame.number"]] = row
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return rows
}
