package mh

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

// seedMessages are messages of every type with options, the seeds of the
// fuzz targets beside the golden vectors.
func seedMessages() []Message {
	nai := MobileNodeIdentifier{Subtype: MNIdentifierNAI, Identifier: []byte("mn1@example.net")}
	v4 := netip.MustParseAddr("198.51.100.7")
	ms := []Message{
		BindingRefreshRequest{},
		HomeTestInit{Cookie: [8]byte{1, 2, 3}},
		CareOfTestInit{Cookie: [8]byte{4, 5, 6}},
		HomeTest{NonceIndex: 7, Cookie: [8]byte{1}, KeygenToken: [8]byte{2}},
		CareOfTest{NonceIndex: 8, Cookie: [8]byte{3}, KeygenToken: [8]byte{4}},
		BindingUpdate{Sequence: 65535, Flags: BUFlagA | BUFlagH | BUFlagL | BUFlagK, Lifetime: 150,
			Options: opts(nai, AlternateCoA{Addr: vecCoA}, IPv4HomeAddress{PrefixLen: 32, Addr: v4}, IPv4CoA{Addr: v4})},
		BindingUpdate{Sequence: 1, Options: opts(NonceIndices{1, 2}, BindingAuthorizationData{Authenticator: make([]byte, 12)})},
		BindingAck{Status: StatusAcceptedPrefixDiscovery, Flags: BAFlagK, Sequence: 2, Lifetime: 3,
			Options: opts(BindingRefreshAdvice{Interval: 2}, IPv4AddressAck{PrefixLen: 32, Addr: v4}, NATDetection{RefreshTime: 110})},
		BindingError{Status: BEUnrecognizedType, HoA: vecHoA},
		HomeAgentSwitch{Addresses: []netip.Addr{vecAltHA, vecHA}, Options: opts(BindingRefreshAdvice{Interval: 30})},
	}
	for _, g := range golden {
		ms = append(ms, g.msg)
	}
	return ms
}

// FuzzParse: any bytes given to Parse, Check and Decode never panic; a
// decoded message re-encodes to bytes that decode to the same message and
// re-encode identically (parse → append is stable).
func FuzzParse(f *testing.F) {
	for _, m := range seedMessages() {
		f.Add(withChecksum(m.Append(nil), vecHoA, vecHA))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := Parse(data)
		if err != nil {
			return
		}
		_ = h.Check(vecHoA, vecHA)
		m, err := Decode(h)
		if err != nil {
			return
		}
		if m.Len() > MaxLen {
			return // realigned options no longer fit a Mobility Header
		}
		b := m.Append(nil)
		if len(b) != m.Len() || len(b)%8 != 0 {
			t.Fatalf("%v: Len %d, Append %d", m.Type(), m.Len(), len(b))
		}
		h2, err := Parse(b)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		m2, err := Decode(h2)
		if err != nil {
			t.Fatalf("re-decode of %x: %v", b, err)
		}
		if !equalMessages(m, m2) {
			t.Fatalf("round trip changed the message\n in %x\nout %x", data, b)
		}
		if b2 := m2.Append(nil); !bytes.Equal(b, b2) {
			t.Fatalf("encoding not stable\n%x\n%x", b, b2)
		}
	})
}

// FuzzParsePacket: any bytes given to ParsePacket never panic; a parsed
// packet rebuilt with AppendPacket parses to the same addressing and
// message.
func FuzzParsePacket(f *testing.F) {
	ips := []IPv6{
		{Src: vecHoA, Dst: vecHA},
		{Src: vecCoA, Dst: vecHA, HAO: vecHoA},
		{Src: vecHA, Dst: vecCoA, RH2: vecHoA},
		{Src: vecCoA, Dst: vecCoA, HAO: vecHoA, RH2: vecHA},
	}
	for i, m := range seedMessages() {
		f.Add(AppendPacket(nil, ips[i%len(ips)], m))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ip, h, err := ParsePacket(data)
		if err != nil {
			return
		}
		m, err := Decode(h)
		if err != nil || m.Len() > MaxLen {
			return
		}
		ip.RH2Processed = false // AppendPacket sends the routing header unprocessed
		if ip.HopLimit == 0 {
			ip.HopLimit = DefaultHopLimit
		}
		p := AppendPacket(nil, ip, m)
		ip2, h2, err := ParsePacket(p)
		if err != nil {
			t.Fatalf("re-parse of %x: %v", p, err)
		}
		if ip2 != ip {
			t.Fatalf("addressing changed: %+v, then %+v", ip, ip2)
		}
		m2, err := Decode(h2)
		if err != nil || !equalMessages(m, m2) {
			t.Fatalf("message changed: %v", err)
		}
	})
}

// FuzzOptions: any option area can be checked, iterated and read with
// every accessor; re-encoding it in a message keeps the options and puts
// each at its alignment.
func FuzzOptions(f *testing.F) {
	for _, m := range seedMessages() {
		f.Add([]byte(optionsOf(m)))
	}
	f.Add([]byte{0, 1, 0, 1, 3, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		o := Options(data)
		_ = o.Check()
		o.BindingRefreshAdvice()
		o.AlternateCoA()
		o.NonceIndices()
		o.BindingAuthorizationData()
		o.MobileNodeIdentifier()
		o.IPv4HomeAddress()
		o.IPv4AddressAck()
		o.NATDetection()
		o.IPv4CoA()
		m := BindingUpdate{Options: o}
		if m.Len() > MaxLen {
			return
		}
		b := m.Append(nil)
		bu, err := ParseBindingUpdate(Header(b))
		if o.Check() == nil && err != nil {
			t.Fatalf("valid options re-encoded to an invalid message: %v", err)
		}
		if err == nil && !equalOptions(bu.Options, o) {
			t.Fatalf("options changed\n in %x\nout %x", data, b)
		}
		for i := buFixed; i < len(b); {
			opt, n, ok := nextOption(b, i)
			if !ok {
				t.Fatalf("bad option at %d of %x", i, b)
			}
			if x, y := alignment(opt.Type); i%x != y {
				t.Fatalf("%v at %d of %x", opt.Type, i, b)
			}
			i += n
		}
	})
}

// naiveChecksum is the reference: 16-bit words, one at a time (RFC 1071).
func naiveChecksum(m []byte, src, dst netip.Addr) uint16 {
	var buf []byte
	buf = append(buf, src.AsSlice()...)
	buf = append(buf, dst.AsSlice()...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(m)))
	buf = append(buf, 0, 0, 0, ProtoMH)
	buf = append(buf, m[:4]...)
	buf = append(buf, 0, 0)
	buf = append(buf, m[6:]...)
	if len(buf)%2 == 1 {
		buf = append(buf, 0)
	}
	var sum uint32
	for i := 0; i < len(buf); i += 2 {
		sum += uint32(buf[i])<<8 | uint32(buf[i+1])
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// FuzzChecksum compares the word-at-a-time checksum with the naive one,
// and checks that a checksum written by SetChecksum verifies.
func FuzzChecksum(f *testing.F) {
	for _, g := range golden {
		f.Add(append(append(g.src.AsSlice(), g.dst.AsSlice()...), unhex(f, g.hex)...))
	}
	f.Add(make([]byte, 39))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 32+6 {
			return
		}
		src := netip.AddrFrom16([16]byte(data[:16]))
		dst := netip.AddrFrom16([16]byte(data[16:32]))
		m := bytes.Clone(data[32:])
		if got, want := Checksum(m, src, dst), naiveChecksum(m, src, dst); got != want {
			t.Fatalf("Checksum %04x, naive %04x", got, want)
		}
		SetChecksum(m, src, dst)
		if !VerifyChecksum(m, src, dst) {
			t.Fatal("SetChecksum result does not verify")
		}
	})
}

// FuzzExtensionHeaders: the Home Address option and type 2 routing header
// parsers never panic, and what they accept re-encodes to what they read.
func FuzzExtensionHeaders(f *testing.F) {
	f.Add(HomeAddressOption{NextHeader: ProtoMH, HoA: vecHoA}.Append(nil))
	f.Add(Type2RoutingHeader{NextHeader: ProtoMH, SegmentsLeft: 1, HoA: vecHoA}.Append(nil))
	f.Add([]byte{ProtoMH, 0, 0, 4, 1, 0, 5, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		if o, n, err := ParseHomeAddressOption(data); err == nil {
			if n > len(data) || n%8 != 0 {
				t.Fatalf("consumed %d of %d", n, len(data))
			}
			if o.HoA.IsValid() {
				o2, _, err := ParseHomeAddressOption(o.Append(nil))
				if err != nil || o2 != o {
					t.Fatalf("HAO round trip: %+v %+v %v", o, o2, err)
				}
			}
		}
		if r, n, err := ParseType2RoutingHeader(data); err == nil {
			if n != 24 {
				t.Fatalf("type 2 routing header of %d octets", n)
			}
			r2, _, err := ParseType2RoutingHeader(r.Append(nil))
			if err != nil || r2 != r {
				t.Fatalf("RH2 round trip: %+v %+v %v", r, r2, err)
			}
		}
	})
}
