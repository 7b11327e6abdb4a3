package mh

import (
	"bytes"
	"errors"
	"testing"
)

// TestParsePacketErrors: the failures of ParsePacket and what it still
// returns for a reply.
func TestParsePacketErrors(t *testing.T) {
	native := IPv6{Src: vecCoA, Dst: vecHA, HAO: vecHoA}
	bu := AppendPacket(nil, native, BindingUpdate{Sequence: 9, Flags: BUFlagA | BUFlagH, Lifetime: 10})

	t.Run("unknown type keeps ip and header for the Binding Error", func(t *testing.T) {
		p := bytes.Clone(bu)
		p[64+2] = 42
		SetChecksum(p[64:], vecHoA, vecHA)
		ip, h, err := ParsePacket(p)
		if !errors.Is(err, ErrUnknownType) || ip.HAO != vecHoA || ip.Src != vecCoA || h == nil {
			t.Errorf("ip %+v, h %x, err %v", ip, []byte(h), err)
		}
	})
	t.Run("Payload Proto pointer is the offset in the packet", func(t *testing.T) {
		p := bytes.Clone(bu)
		p[64] = 6
		SetChecksum(p[64:], vecHoA, vecHA)
		_, _, err := ParsePacket(p)
		if !errors.Is(err, ErrPayloadProto) || offsetOf(err) != 64 {
			t.Errorf("err %v offset %d, want 64", err, offsetOf(err))
		}
	})
	t.Run("checksum over the wire source fails", func(t *testing.T) {
		p := bytes.Clone(bu)
		SetChecksum(p[64:], vecCoA, vecHA)
		if _, _, err := ParsePacket(p); !errors.Is(err, ErrChecksum) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("truncated payload", func(t *testing.T) {
		if _, _, err := ParsePacket(bu[:len(bu)-1]); !errors.Is(err, ErrTruncated) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("not version 6", func(t *testing.T) {
		p := bytes.Clone(bu)
		p[0] = 0x45
		if _, _, err := ParsePacket(p); !errors.Is(err, ErrIPv6) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("UDP is not a Mobility Header", func(t *testing.T) {
		p := bytes.Clone(bu)
		p[6] = 17
		if _, _, err := ParsePacket(p); !errors.Is(err, ErrNotMH) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("fragment", func(t *testing.T) {
		p := bytes.Clone(bu)
		p[40] = 44 // the Destination Options header's Next Header
		if _, _, err := ParsePacket(p); !errors.Is(err, ErrIPv6) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("two Home Address options", func(t *testing.T) {
		hdr := HomeAddressOption{NextHeader: protoDstOpts, HoA: vecHoA}.Append(nil)
		p := append(append(bytes.Clone(bu[:40]), hdr...), bu[40:]...)
		p[6], p[5] = protoDstOpts, p[5]+24
		if _, _, err := ParsePacket(p); !errors.Is(err, ErrIPv6) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("unknown destination option that demands discarding", func(t *testing.T) {
		p := bytes.Clone(bu)
		p[42] = 0x81 // PadN becomes type 0x81: action 10
		if _, _, err := ParsePacket(p); !errors.Is(err, ErrIPv6) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("routing type 0 with segments left 0 is skipped", func(t *testing.T) {
		ba := AppendPacket(nil, IPv6{Src: vecHA, Dst: vecHoA}, BindingAck{Sequence: 9})
		rh := []byte{ProtoMH, 0, 0, 0, 0, 0, 0, 0}
		p := append(append(bytes.Clone(ba[:40]), rh...), ba[40:]...)
		p[6], p[5] = protoRouting, p[5]+8
		ip, h, err := ParsePacket(p)
		if err != nil || ip.RH2.IsValid() || h.Type() != TypeBindingAck {
			t.Errorf("ip %+v err %v", ip, err)
		}
		p[43] = 1 // segments left 1 of a type 0 header
		if _, _, err := ParsePacket(p); !errors.Is(err, ErrIPv6) {
			t.Errorf("segments left 1: err %v", err)
		}
	})
	t.Run("processed type 2 routing header", func(t *testing.T) {
		ip := IPv6{Src: vecHA, Dst: vecCoA, RH2: vecHoA}
		p := AppendPacket(nil, ip, BindingAck{Sequence: 1})
		// A node that processed the RH2 swapped the addresses.
		copy(p[24:40], vecHoA.AsSlice())
		copy(p[48:64], vecCoA.AsSlice())
		p[43] = 0
		got, _, err := ParsePacket(p)
		if err != nil || !got.RH2Processed || got.RH2 != vecCoA {
			t.Errorf("ip %+v err %v", got, err)
		}
	})
}

// TestPacketHopLimitAndLengths: AppendPacket writes the payload length and
// hop limit, in-tunnel packets have no extension headers.
func TestPacketHopLimitAndLengths(t *testing.T) {
	ip := IPv6{Src: vecHoA, Dst: vecHA, HopLimit: 255}
	m := BindingUpdate{Sequence: 3, Flags: BUFlagA | BUFlagH, Lifetime: 5, Options: AlternateCoA{Addr: vecCoA}.Append(nil)}
	p := AppendPacket(nil, ip, m)
	if len(p) != ip.HeadersLen()+m.Len() || p[7] != 255 || p[6] != ProtoMH || int(p[4])<<8|int(p[5]) != m.Len() {
		t.Errorf("packet %x", p)
	}
	got, h, err := ParsePacket(p)
	if err != nil || got != ip {
		t.Fatalf("ip %+v, %v", got, err)
	}
	bu, err := ParseBindingUpdate(h)
	if err != nil || !equalMessages(bu, m) {
		t.Errorf("bu %+v %v", bu, err)
	}
	if hoa := got.HoA(); hoa != vecHoA {
		t.Errorf("HoA() = %v", hoa)
	}
}
