package ikecrypto

import (
	"encoding/hex"
	"net/netip"
	"testing"
)

// vectors.md §8: NAT_DETECTION_DESTINATION_IP from the lab and scapy
// captures.
func TestNATDetectionHash(t *testing.T) {
	tests := []struct {
		spii, spir uint64
		addr       string
		want       string
	}{
		{0x9e3a6d2d2ec72262, 0, "[fd00:1::4]:500", "970ca9954535e02255df66fef29c8b8793e3f47d"},
		{0x4334c9d92b93b63c, 0x7f6c71ba4b47cfc5, "[fd00:1::1]:500", "f059d633b5d3b65d68f62c87755988bb20784bdf"},
		{0x88694881497528ad, 0, "10.5.2.52:500", "509b01b43dc28c9df849fd765c648a512959ac50"},
		// The same IPv4 address seen through a dual-stack socket.
		{0x88694881497528ad, 0, "[::ffff:10.5.2.52]:500", "509b01b43dc28c9df849fd765c648a512959ac50"},
	}
	for _, tc := range tests {
		h := NATDetectionHash(tc.spii, tc.spir, netip.MustParseAddrPort(tc.addr))
		if got := hex.EncodeToString(h[:]); got != tc.want {
			t.Errorf("%016x %016x %s: %s, want %s", tc.spii, tc.spir, tc.addr, got, tc.want)
		}
	}
	a := NATDetectionHash(1, 2, netip.MustParseAddrPort("192.0.2.1:500"))
	b := NATDetectionHash(1, 2, netip.MustParseAddrPort("192.0.2.1:4500"))
	if a == b {
		t.Error("the port is not hashed")
	}
}
