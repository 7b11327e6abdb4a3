package mip6

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/mip6/mh"
)

// checkHeaps verifies every shard's heap order, indexes and membership.
func checkHeaps(t *testing.T, c *BindingCache) {
	t.Helper()
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		if len(s.h) != len(s.m) {
			t.Fatalf("shard %d: %d in heap, %d in map", i, len(s.h), len(s.m))
		}
		for j, it := range s.h {
			if int(it.e.hidx) != j || s.m[it.e.hoa] != it.e {
				t.Fatalf("shard %d: heap slot %d holds index %d", i, j, it.e.hidx)
			}
			if j > 0 && s.h[(j-1)/2].at > it.at {
				t.Fatalf("shard %d: heap order broken at %d", i, j)
			}
			if it.at != it.e.armed {
				t.Fatalf("entry armed at %d, its timer at %d", it.e.armed, it.at)
			}
			if it.at > c.deadline(it.e) {
				t.Fatalf("timer at %d fires after the deadline %d", it.at, c.deadline(it.e))
			}
		}
		n += len(s.m)
	}
	if n != c.Len() {
		t.Fatalf("Len %d, %d entries", c.Len(), n)
	}
}

// fuzzHoAs are the home addresses the cache fuzzer uses: six on the home
// prefix, one off it.
var fuzzHoAs = []netip.Addr{hoaN(0), hoaN(1), hoaN(2), hoaN(3), hoaN(4), hoaN(5), offLinkHoA}

// FuzzBindingCache feeds the binding cache random Binding Updates,
// timers, switches, DAD results and deletions. Invariants: no panic; no
// more entries than distinct home addresses; the sequence number of an
// entry only moves forward (modulo 2^16) while it lives; verdicts agree
// with statuses and actions; every BA parses with a valid checksum; the
// deadline heaps stay consistent.
func FuzzBindingCache(f *testing.F) {
	op := func(hoa, kind byte, seq uint16, flags byte, lifetime uint16, coa byte) []byte {
		b := []byte{hoa, kind}
		b = binary.BigEndian.AppendUint16(b, seq)
		b = append(b, flags)
		b = binary.BigEndian.AppendUint16(b, lifetime)
		return append(b, coa)
	}
	cat := func(ops ...[]byte) []byte {
		var b []byte
		for _, o := range ops {
			b = append(b, o...)
		}
		return b
	}
	f.Add(cat(op(0, 0, 1, 0xc0, 100, 1), op(0, 0, 2, 0xc0, 100, 2), op(0, 0, 2, 0xc0, 100, 2), op(0, 0, 3, 0xc0, 0, 0)))
	f.Add(cat(op(1, 0, 65535, 0xd0, 10, 1), op(1, 0, 0, 0xe0, 10, 1), op(1, 1, 0, 0, 50, 0), op(1, 0, 1, 0xc0, 10, 1)))
	f.Add(cat(op(2, 0, 9, 0xc0, 900, 1), op(2, 2, 0, 0, 60, 0), op(2, 1, 0, 0, 5, 0), op(2, 0, 10, 0xc0, 900, 1), op(2, 0, 11, 0xc0, 0, 0)))
	f.Add(cat(op(0x83, 0, 1, 0xc0, 10, 1), op(3, 3, 0, 1, 0, 0), op(4, 0, 1, 0x80, 10, 1), op(6, 0, 1, 0xc0, 10, 1)))
	f.Add(cat(op(5, 0, 1, 0xc0, 10, 3), op(5, 4, 0, 0, 0, 0), op(5, 0, 1, 0xc0, 10, 1)))
	f.Fuzz(runCacheOps)
}

// runCacheOps is the body of FuzzBindingCache.
func runCacheOps(t *testing.T, data []byte) {
	dad := len(data) > 0 && data[0]&0x80 != 0
	c := newCache(t, func(c *HomeAgentConfig) {
		c.SkipDAD = !dad
		c.RefreshAdvice = 60 * time.Second
		c.RefreshRequestBefore = 20 * time.Second
		c.Shards = 4
	})
	now := t0
	last := map[netip.Addr]uint16{}
	coas := []netip.Addr{hoa1, coa1, coa2, netip.MustParseAddr("fe80::1")}
	used := map[netip.Addr]bool{}
	for ; len(data) >= 8; data = data[8:] {
		hoa := fuzzHoAs[int(data[0]&0x7f)%len(fuzzHoAs)]
		seq := binary.BigEndian.Uint16(data[2:])
		flags, lifetime := data[4], binary.BigEndian.Uint16(data[5:])
		switch data[1] % 5 {
		case 0: // a Binding Update
			used[hoa] = true
			bu := mh.BindingUpdate{Sequence: seq, Flags: mh.BUFlags(flags&0xf0) << 8, Lifetime: mh.Lifetime(lifetime)}
			if coa := coas[int(data[7])%len(coas)]; data[7] != 0 {
				bu.Options = mh.AlternateCoA{Addr: coa}.Append(bu.Options)
			}
			if flags&1 != 0 {
				bu.Options = mh.NonceIndices{}.Append(bu.Options)
			}
			if flags&2 != 0 {
				bu.Options = mh.BindingAuthorizationData{Authenticator: make([]byte, 12)}.Append(bu.Options)
			}
			ctx := tunnelCtx(hoa)
			if flags&4 != 0 {
				ctx.AuthorizedHoA = hoa2
			}
			d := c.Update(now, ctx, fromHoA(hoa), bu)
			checkDecision(t, d)
			if d.Verdict == Accepted {
				if prev, ok := last[hoa]; ok && !SequenceGreater(seq, prev) {
					t.Fatalf("%v accepted %d after %d", hoa, seq, prev)
				}
			}
		case 1: // time passes
			now = now.Add(time.Duration(lifetime%600) * time.Second)
			for _, ev := range c.Tick(now, nil) {
				if ev.Send.Message != nil {
					if _, _, err := mh.ParsePacket(ev.Send.AppendPacket(nil)); err != nil {
						t.Fatalf("%v: %v", ev.Kind, err)
					}
				}
			}
		case 2:
			c.Switch(now, hoa, []netip.Addr{altHA}, time.Duration(lifetime%120)*time.Second)
		case 3:
			if d, ok := c.CompleteDAD(now, hoa, flags&1 != 0); ok {
				checkDecision(t, d)
			}
		case 4:
			c.Delete(hoa)
		}
		for _, hoa := range fuzzHoAs {
			if b, ok := c.Lookup(hoa); ok && b.State != StateDADPending {
				if prev, had := last[hoa]; had && prev != b.Sequence && !SequenceGreater(b.Sequence, prev) {
					t.Fatalf("%v: stored sequence went from %d back to %d", hoa, prev, b.Sequence)
				}
				last[hoa] = b.Sequence
			} else if !ok {
				delete(last, hoa)
			}
		}
		if c.Len() > len(used) {
			t.Fatalf("%d entries for %d home addresses", c.Len(), len(used))
		}
		if c.Len() > 0 && c.NextDeadline(now).IsZero() {
			t.Fatal("entries without a deadline")
		}
		checkHeaps(t, c)
	}
}

func checkDecision(t *testing.T, d Decision) {
	t.Helper()
	switch d.Verdict {
	case Accepted:
		if !d.Status.Accepted() || d.Actions&ActionSendBA == 0 {
			t.Fatalf("accepted with status %v, actions %v", d.Status, d.Actions)
		}
	case Rejected:
		if d.Status.Accepted() || d.Actions != ActionSendBA {
			t.Fatalf("rejected with status %v, actions %v", d.Status, d.Actions)
		}
	case Dropped, Pending:
		if d.Actions&ActionSendBA != 0 {
			t.Fatalf("%v with a BA", d.Verdict)
		}
	}
	if d.Actions&ActionSendBA != 0 {
		_, h, err := mh.ParsePacket(d.AppendBA(nil))
		if err != nil {
			t.Fatalf("BA: %v", err)
		}
		if ba, err := mh.ParseBindingAck(h); err != nil || ba.Status != d.Status {
			t.Fatalf("BA %+v: %v", ba, err)
		}
	}
}

// FuzzHomeAgentReceive gives the home agent arbitrary packets: no panic,
// and whatever it answers parses.
func FuzzHomeAgentReceive(f *testing.F) {
	f.Add(mh.AppendPacket(nil, fromHoA(hoa1), tunnelBU(1, flagsAHK, 100, coa1)))
	f.Add(mh.AppendPacket(nil, mh.IPv6{Src: coa1, Dst: haAddr, HAO: hoa1}, tunnelBU(1, flagsAH, 100, coa1)))
	f.Add(mh.AppendPacket(nil, fromHoA(hoa1), mh.BindingError{Status: 2, HoA: netip.IPv6Unspecified()}))
	f.Add(mh.AppendPacket(nil, fromHoA(hoa1), mh.HomeAgentSwitch{Addresses: []netip.Addr{altHA}}))
	badProto := mh.AppendPacket(nil, fromHoA(hoa1), tunnelBU(1, flagsAH, 100, coa1))
	badProto[40] = 6 // Payload Proto: answered with a Parameter Problem
	mh.SetChecksum(badProto[40:], hoa1, haAddr)
	f.Add(badProto)
	f.Fuzz(func(t *testing.T, pkt []byte) {
		ha := newHomeAgent(t, nil)
		for _, ctx := range []Context{tunnelCtx(hoa1), {AuthorizedHoA: hoa1}} {
			res := ha.Receive(t0, ctx, pkt)
			if res.Send.Message != nil {
				if _, _, err := mh.ParsePacket(res.Send.AppendPacket(nil)); err != nil {
					t.Fatalf("answer: %v", err)
				}
			}
			checkDecision(t, res.Decision)
			if res.ParamProblem >= len(pkt) {
				t.Fatalf("pointer %d beyond the packet", res.ParamProblem)
			}
			if pp := res.ICMP; pp != nil {
				if res.ParamProblem < 0 || len(pp) > 1280 || len(pp) < 48 || pp[6] != mh.ProtoICMPv6 ||
					int(binary.BigEndian.Uint16(pp[4:6])) != len(pp)-40 || binary.BigEndian.Uint32(pp[44:48]) != uint32(res.ParamProblem) ||
					!bytes.Equal(pp[24:40], pkt[8:24]) {
					t.Fatalf("Parameter Problem %x for pointer %d", pp, res.ParamProblem)
				}
			}
		}
	})
}

// FuzzBindingUpdateList gives a registered mobile node arbitrary packets
// and timer ticks: no panic, every message it sends parses, and it never
// holds more entries than it registered.
func FuzzBindingUpdateList(f *testing.F) {
	ba := func(st mh.Status, seq uint16, opts mh.Options) []byte {
		return mh.AppendPacket(nil, mh.IPv6{Src: haAddr, Dst: hoa1}, mh.BindingAck{Status: st, Sequence: seq, Lifetime: 100, Options: opts})
	}
	frame := func(pkts ...[]byte) []byte {
		var b []byte
		for _, p := range pkts {
			b = append(b, byte(len(p)>>8), byte(len(p)))
			b = append(b, p...)
		}
		return b
	}
	f.Add(frame(ba(0, 1, mh.BindingRefreshAdvice{Interval: 3}.Append(nil))))
	f.Add(frame(ba(135, 500, nil), ba(0, 501, nil)))
	f.Add(frame(ba(0, 1, nil), mh.AppendPacket(nil, mh.IPv6{Src: haAddr, Dst: hoa1}, mh.HomeAgentSwitch{Addresses: []netip.Addr{altHA}}), ba(0, 2, nil)))
	f.Add(frame(ba(0, 1, nil), mh.AppendPacket(nil, mh.IPv6{Src: haAddr, Dst: hoa1}, mh.BindingRefreshRequest{})))
	f.Add(frame(ba(129, 1, nil), []byte{0}))
	f.Fuzz(func(t *testing.T, data []byte) {
		l := NewBindingUpdateList(MobileNodeConfig{})
		now := t0
		if err := l.Register(now, reg(400*time.Second)); err != nil {
			t.Fatal(err)
		}
		check := func() {
			r := l.Ready()
			for _, o := range r.Send {
				if _, _, err := mh.ParsePacket(o.AppendPacket(nil)); err != nil {
					t.Fatalf("sent: %v", err)
				}
			}
			if len(l.Entries()) > 1 {
				t.Fatalf("%d entries", len(l.Entries()))
			}
		}
		check()
		for len(data) >= 2 {
			n := int(data[0])<<8 | int(data[1])
			data = data[2:]
			if n > len(data) {
				n = len(data)
			}
			if n == 0 {
				if next := l.NextDeadline(); !next.IsZero() {
					if next.Before(now) {
						t.Fatalf("deadline %v in the past (now %v)", next, now)
					}
					now = next
					l.Tick(now)
				}
			} else {
				l.Receive(now, data[:n])
			}
			data = data[n:]
			check()
		}
	})
}
