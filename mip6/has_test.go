package mip6

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/mip6/mh"
)

func register(t *testing.T, c *BindingCache, now time.Time, hoa netip.Addr, seq uint16, lifetime mh.Lifetime) {
	t.Helper()
	if d := c.Update(now, tunnelCtx(hoa), fromHoA(hoa), tunnelBU(seq, flagsAH, lifetime, coa1)); d.Verdict != Accepted {
		t.Fatalf("registration of %v: %v %v", hoa, d.Verdict, d.Status)
	}
}

// hoaN is the i-th home address on the home prefix.
func hoaN(i int) netip.Addr {
	a := homeNet.Addr().As16()
	binary.BigEndian.PutUint32(a[12:], uint32(i)+0x10000)
	return netip.AddrFrom16(a)
}

// decodeHAS checks an EventSendHAS and returns its message.
func decodeHAS(t *testing.T, ev Event) mh.HomeAgentSwitch {
	t.Helper()
	if ev.Kind != EventSendHAS {
		t.Fatalf("event %v, want send-has", ev.Kind)
	}
	pkt := ev.Send.AppendPacket(nil)
	ip, h, err := mh.ParsePacket(pkt)
	if err != nil {
		t.Fatal(err)
	}
	if ip.Src != haAddr || ip.Dst != ev.Binding.HoA {
		t.Errorf("HAS addressed %v → %v, want %v → %v", ip.Src, ip.Dst, haAddr, ev.Binding.HoA)
	}
	has, err := mh.ParseHomeAgentSwitch(h)
	if err != nil {
		t.Fatal(err)
	}
	return has
}

// TestSwitchGlobalRate: mobile nodes are told to switch at the configured
// global rate, 1 per second by default (RFC 5142 §7-§8), each with the
// alternate home agent list.
func TestSwitchGlobalRate(t *testing.T) {
	c := newCache(t, nil)
	for i := range 3 {
		register(t, c, t0, hoaN(i), 1, 900)
		if err := c.Switch(t0, hoaN(i), []netip.Addr{altHA, haAddr}, 0); err != nil {
			t.Fatal(err)
		}
	}
	var told []netip.Addr
	for _, step := range []struct {
		at   time.Duration
		want int
	}{{0, 1}, {500 * time.Millisecond, 0}, {time.Second, 1}, {1500 * time.Millisecond, 0}, {2 * time.Second, 1}, {3 * time.Second, 0}} {
		evs := c.Tick(t0.Add(step.at), nil)
		if len(evs) != step.want {
			t.Fatalf("at %v: %d events, want %d", step.at, len(evs), step.want)
		}
		for _, ev := range evs {
			has := decodeHAS(t, ev)
			if !slices.Equal(has.Addresses, []netip.Addr{altHA, haAddr}) {
				t.Errorf("addresses %v", has.Addresses)
			}
			if !ev.Binding.Switching {
				t.Error("binding not marked switching")
			}
			told = append(told, ev.Binding.HoA)
		}
	}
	slices.SortFunc(told, netip.Addr.Compare)
	if !slices.Equal(told, []netip.Addr{hoaN(0), hoaN(1), hoaN(2)}) {
		t.Errorf("told %v", told)
	}
	if st := c.Config(); st.HASRate != MaxHASwitchTransmitRate {
		t.Errorf("default rate %v", st.HASRate)
	}
}

// hasTimes follows NextDeadline and returns when HAS messages went out
// (offsets from t0), until end.
func hasTimes(t *testing.T, c *BindingCache, end time.Duration) ([]time.Duration, []mh.HomeAgentSwitch, []Event) {
	t.Helper()
	var times []time.Duration
	var msgs []mh.HomeAgentSwitch
	var others []Event
	now := t0
	for range 100 {
		for _, ev := range c.Tick(now, nil) {
			if ev.Kind == EventSendHAS {
				times = append(times, now.Sub(t0))
				msgs = append(msgs, decodeHAS(t, ev))
			} else {
				others = append(others, ev)
			}
		}
		next := c.NextDeadline(now)
		if next.IsZero() || next.Sub(t0) > end {
			break
		}
		now = next
	}
	return times, msgs, others
}

// TestSwitchRetransmissions: a HAS is retransmitted after 5 s, doubling to
// 20 s, until the binding ends (RFC 5142 §5.2, §8); with a Binding Refresh
// Advice the first retransmission waits the smaller of half its period and
// 5 s, the advice counts down, and the binding ends when it said.
func TestSwitchRetransmissions(t *testing.T) {
	s := time.Second
	cases := []struct {
		name   string
		grace  time.Duration
		times  []time.Duration
		advice []mh.Lifetime // BRA in each HAS; nil: none
		expiry time.Duration
	}{
		{"no advice", 0, []time.Duration{0, 5 * s, 15 * s, 35 * s, 55 * s, 75 * s}, nil, 3600 * s},
		{"60 s grace", 60 * s, []time.Duration{0, 5 * s, 15 * s, 35 * s, 55 * s}, []mh.Lifetime{15, 13, 11, 6, 1}, 60 * s},
		{"6 s grace", 6 * s, []time.Duration{0, 3 * s}, []mh.Lifetime{1, 0}, 6 * s},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(t, nil)
			register(t, c, t0, hoa1, 1, 900)
			if err := c.Switch(t0, hoa1, []netip.Addr{altHA}, tc.grace); err != nil {
				t.Fatal(err)
			}
			if b, _ := c.Lookup(hoa1); !b.Expires.Equal(t0.Add(tc.expiry)) {
				t.Errorf("binding expires %v, want %v", b.Expires.Sub(t0), tc.expiry)
			}
			times, msgs, others := hasTimes(t, c, 80*s)
			if !slices.Equal(times, tc.times) {
				t.Errorf("HAS at %v, want %v", times, tc.times)
			}
			for i, m := range msgs {
				bra, ok := m.Options.BindingRefreshAdvice()
				if ok != (tc.advice != nil) || (ok && i < len(tc.advice) && bra.Interval != tc.advice[i]) {
					t.Errorf("HAS %d: advice %d (%v), want %v", i, bra.Interval, ok, tc.advice)
				}
			}
			if tc.grace > 0 && (len(others) != 1 || others[0].Kind != EventExpired) {
				t.Errorf("after the grace: %+v", others)
			}
		})
	}
}

// TestSwitchRefusedByBindingError: a mobile node that does not understand
// the HAS answers with a Binding Error status 2; retransmissions stop but
// extensions stay refused until the binding expires (RFC 5142 §5.3).
func TestSwitchRefusedByBindingError(t *testing.T) {
	ha, err := NewHomeAgent(testConfig(), t0)
	if err != nil {
		t.Fatal(err)
	}
	register(t, ha.BindingCache, t0, hoa1, 1, 900)
	ha.Switch(t0, hoa1, []netip.Addr{altHA}, 0)
	if evs := ha.Tick(t0, nil); len(evs) != 1 {
		t.Fatalf("events %+v", evs)
	}
	be := mh.AppendPacket(nil, mh.IPv6{Src: hoa1, Dst: haAddr}, mh.BindingError{Status: mh.BEUnrecognizedType, HoA: netip.IPv6Unspecified()})
	res := ha.Receive(t0.Add(time.Second), tunnelCtx(hoa1), be)
	if !res.SwitchRefused || res.Drop != DropNone || res.Type != mh.TypeBindingError {
		t.Fatalf("result %+v", res)
	}
	if times, _, _ := hasTimes(t, ha.BindingCache, 100*time.Second); len(times) != 0 {
		t.Errorf("retransmissions after the refusal at %v", times)
	}
	d := ha.Update(t0.Add(2*time.Second), tunnelCtx(hoa1), fromHoA(hoa1), tunnelBU(2, flagsAH, 900, coa1))
	if d.Status != mh.StatusAdministrativelyProhibited {
		t.Errorf("extension after a refused switch: %v", d.Status)
	}
	if res := ha.Receive(t0.Add(3*time.Second), tunnelCtx(hoa1), be); res.SwitchRefused {
		t.Error("refused twice")
	}
}

// TestSwitchEndsWithDeregistration: the deregistration BU stops the
// retransmissions (RFC 5142 §5.2).
func TestSwitchEndsWithDeregistration(t *testing.T) {
	c := newCache(t, nil)
	register(t, c, t0, hoa1, 1, 900)
	c.Switch(t0, hoa1, []netip.Addr{altHA}, 0)
	c.Tick(t0, nil)
	d := c.Update(t0.Add(2*time.Second), tunnelCtx(hoa1), fromHoA(hoa1), tunnelBU(2, flagsAH, 0, netip.Addr{}))
	if !d.SwitchAcknowledged {
		t.Fatal("not acknowledged")
	}
	if times, _, _ := hasTimes(t, c, 100*time.Second); len(times) != 0 {
		t.Errorf("HAS after deregistration at %v", times)
	}
}

// TestRefreshRequests: with RefreshRequestBefore the home agent sends one
// Binding Refresh Request per lifetime (RFC 6275 §6.1.2), to the home
// address through the tunnel or natively to the care-of address with a
// type 2 routing header.
func TestRefreshRequests(t *testing.T) {
	c := newCache(t, func(c *HomeAgentConfig) { c.RefreshRequestBefore = 20 * time.Second })
	register(t, c, t0, hoa1, 1, 25) // 100 s
	if d := c.Update(t0, Context{AuthorizedHoA: hoa2}, mh.IPv6{Src: coa2, Dst: haAddr, HAO: hoa2},
		tunnelBU(1, flagsAH, 25, coa2)); d.Verdict != Accepted {
		t.Fatal(d.Verdict)
	}
	if got := c.NextDeadline(t0); !got.Equal(t0.Add(80 * time.Second)) {
		t.Fatalf("deadline %v", got.Sub(t0))
	}
	evs := c.Tick(t0.Add(80*time.Second), nil)
	if len(evs) != 2 {
		t.Fatalf("events %+v", evs)
	}
	for _, ev := range evs {
		ip, h, err := mh.ParsePacket(ev.Send.AppendPacket(nil))
		if ev.Kind != EventSendBRR || err != nil || h.Type() != mh.TypeBindingRefreshRequest {
			t.Fatalf("event %v: %v", ev.Kind, err)
		}
		want := mh.IPv6{Src: haAddr, Dst: hoa1, HopLimit: mh.DefaultHopLimit}
		if ev.Binding.HoA == hoa2 {
			want = mh.IPv6{Src: haAddr, Dst: coa2, RH2: hoa2, HopLimit: mh.DefaultHopLimit}
		}
		if ip != want {
			t.Errorf("BRR addressed %+v, want %+v", ip, want)
		}
	}
	if evs := c.Tick(t0.Add(90*time.Second), nil); len(evs) != 0 {
		t.Errorf("second BRR: %+v", evs)
	}
	register(t, c, t0.Add(95*time.Second), hoa1, 2, 25)
	if got := c.NextDeadline(t0.Add(95 * time.Second)); !got.Equal(t0.Add(100 * time.Second)) {
		t.Errorf("next deadline %v (the other binding's expiry)", got.Sub(t0))
	}
	if out, err := c.RefreshRequest(hoa1); err != nil || out.Message.Type() != mh.TypeBindingRefreshRequest {
		t.Errorf("RefreshRequest: %v", err)
	}
	if _, err := c.RefreshRequest(offLinkHoA); err == nil {
		t.Error("RefreshRequest without binding")
	}
}

// TestNoRefreshRequestForShortBindings: a binding granted no longer than
// RefreshRequestBefore gets no Binding Refresh Request. It would go out
// with the Binding Acknowledgement, the mobile node would answer it with a
// Binding Update, whose acceptance would start a lifetime as short, and
// so on: signalling at the mobile node's rate limit for as long as it
// keeps the binding, instead of one refresh per lifetime.
func TestNoRefreshRequestForShortBindings(t *testing.T) {
	c := newCache(t, func(c *HomeAgentConfig) { c.RefreshRequestBefore = 20 * time.Second })
	var now time.Time
	for seq := uint16(1); seq <= 3; seq++ {
		now = t0.Add(time.Duration(seq) * time.Second)
		register(t, c, now, hoa1, seq, 5) // 20 s
		if evs := c.Tick(now, nil); len(evs) != 0 {
			t.Fatalf("registration %d: events %+v right after the BA", seq, evs)
		}
	}
	if evs := c.Tick(now.Add(20*time.Second), nil); len(evs) != 1 || evs[0].Kind != EventExpired {
		t.Errorf("events at the end of the lifetime %+v, want the expiry only", evs)
	}
	register(t, c, now, hoa2, 1, 6) // 24 s: one request, 4 s on
	if evs := c.Tick(now.Add(3*time.Second), nil); len(evs) != 0 {
		t.Errorf("events %+v before the refresh request is due", evs)
	}
	if evs := c.Tick(now.Add(4*time.Second), nil); len(evs) != 1 || evs[0].Kind != EventSendBRR {
		t.Errorf("events %+v, want one refresh request 20 s before the end", evs)
	}
}
