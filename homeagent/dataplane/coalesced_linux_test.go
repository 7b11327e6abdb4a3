package dataplane

import (
	"bytes"
	"net/netip"
	"testing"
)

// UDP_GRO hands several datagrams of one flow in one buffer. An IKE message
// (non-ESP marker, RFC 3948 §2.2) followed by an ESP packet of the same
// size reaches the IKE handler intact: opening the ESP segment uses the 12
// octets before it as nonce scratch, which are the IKE message's last ones,
// and the IKE handler gets the batch only after every segment is done.
func TestCoalescedIKEMessageSurvivesNextESPSegment(t *testing.T) {
	out, in := saPair(t, transformCases[0])
	d := &Dataplane{inbound: newInboundTable(), outbound: newOutboundTable()}
	if err := d.InstallInbound(in); err != nil {
		t.Fatal(err)
	}
	n := 200
	sb := make([]byte, BufferSize)
	inner := testInner(hoa, cnAddr, n)
	copy(sb[HeadRoom:], inner)
	esp, r := out.Seal(sb, n)
	if r != NotDropped {
		t.Fatal(r)
	}
	g := len(esp)
	ikeSeg := make([]byte, g) // the marker, then the IKE message
	for i := len(NonESPMarker); i < g; i++ {
		ikeSeg[i] = byte(i)
	}
	glued := append(bytes.Clone(ikeSeg), esp...)
	buf := make([]byte, BufferSize)
	copy(buf[ESPOffset:], glued)
	var st batchCounters
	dg := Datagram{Local: netip.MustParseAddrPort("[2001:db8:1::1]:4500"), Remote: netip.MustParseAddrPort("[2001:db8:2::5]:4500"),
		Payload: buf[ESPOffset : ESPOffset+len(glued)]}
	ike, pkts := d.demuxCoalesced(roleNATT, buf, dg, g, 1, &st, nil, nil)
	if len(ike) != 1 || len(pkts) != 1 {
		t.Fatalf("%d IKE messages, %d packets; drops %v", len(ike), len(pkts), st.drops)
	}
	if !bytes.Equal(ike[0].Payload, ikeSeg[len(NonESPMarker):]) {
		t.Errorf("IKE message changed: last 16 octets %x, want %x", ike[0].Payload[len(ike[0].Payload)-16:], ikeSeg[g-16:])
	}
	if !bytes.Equal(pkts[0], inner) {
		t.Error("ESP packet changed")
	}
}
