package mip6

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/mip6/mh"
)

// pair is a mobile node and a home agent joined by a loss-free tunnel,
// driven by a simulated clock.
type pair struct {
	t   *testing.T
	now time.Time
	mn  *BindingUpdateList
	ha  *HomeAgent
	// lose, if set, decides whether a packet from the mobile node is lost.
	lose func(mh.Message) bool

	events  []MNEvent
	fromMN  []mh.Message // every message the mobile node sent
	fromHA  []mh.Message // every message the home agent sent
	results []Result
}

func newPair(t *testing.T, edit func(*HomeAgentConfig)) *pair {
	return &pair{t: t, now: t0, mn: NewBindingUpdateList(MobileNodeConfig{}), ha: newHomeAgent(t, edit)}
}

func decode(t *testing.T, pkt []byte) (mh.IPv6, mh.Message) {
	t.Helper()
	ip, h, err := mh.ParsePacket(pkt)
	if err != nil {
		t.Fatalf("packet %x: %v", pkt, err)
	}
	m, err := mh.Decode(h)
	if err != nil {
		t.Fatal(err)
	}
	return ip, m
}

// flush delivers what the mobile node has to send, and the answers, until
// nothing is left.
func (p *pair) flush() {
	for range 20 {
		r := p.mn.Ready()
		p.events = append(p.events, r.Events...)
		if len(r.Send) == 0 {
			return
		}
		for _, o := range r.Send {
			pkt := o.AppendPacket(nil)
			_, m := decode(p.t, pkt)
			p.fromMN = append(p.fromMN, m)
			if p.lose != nil && p.lose(m) {
				continue
			}
			res := p.ha.Receive(p.now, tunnelCtx(o.IP.HoA()), pkt)
			p.results = append(p.results, res)
			if res.Decision.Actions&ActionSendBA != 0 {
				p.toMN(res.Decision.AppendBA(nil))
			}
		}
	}
	p.t.Fatal("no quiescence")
}

func (p *pair) toMN(pkt []byte) {
	_, m := decode(p.t, pkt)
	p.fromHA = append(p.fromHA, m)
	p.mn.Receive(p.now, pkt)
}

// advance runs both sides' timers up to now+d, delivering everything.
func (p *pair) advance(d time.Duration) {
	end := p.now.Add(d)
	for range 1000 {
		p.flush()
		next := p.mn.NextDeadline()
		if h := p.ha.NextDeadline(p.now); !h.IsZero() && (next.IsZero() || h.Before(next)) {
			next = h
		}
		if next.IsZero() || next.After(end) {
			break
		}
		if next.After(p.now) {
			p.now = next
		}
		p.mn.Tick(p.now)
		for _, ev := range p.ha.Tick(p.now, nil) {
			if ev.Send.Message != nil {
				p.toMN(ev.Send.AppendPacket(nil))
			}
		}
	}
	p.now = end
	p.flush()
}

func (p *pair) kinds() []MNEventKind {
	var k []MNEventKind
	for _, e := range p.events {
		k = append(k, e.Kind)
	}
	return k
}

func reg(lifetime time.Duration) Registration {
	return Registration{HoA: hoa1, HA: haAddr, CoA: coa1, Lifetime: lifetime, InTunnel: true,
		Identifier: []byte("mn@example.net"), KeyManagementMobility: true}
}

// TestMobileNodeRegistersAndRefreshes: against the home agent, the first
// registration is acknowledged, and the binding is refreshed at three
// quarters of its lifetime, forever.
func TestMobileNodeRegistersAndRefreshes(t *testing.T) {
	p := newPair(t, nil)
	if err := p.mn.Register(p.now, reg(400*time.Second)); err != nil {
		t.Fatal(err)
	}
	p.flush()
	if k := p.kinds(); !slices.Equal(k, []MNEventKind{MNRegistered}) {
		t.Fatalf("events %v", k)
	}
	ev := p.events[0]
	if ev.Lifetime != 400*time.Second || ev.Status != 0 || !ev.KeyManagementMobility || ev.HoA != hoa1 || ev.HA != haAddr {
		t.Errorf("registered %+v", ev)
	}
	bu := p.fromMN[0].(mh.BindingUpdate)
	nai, _ := bu.Options.MobileNodeIdentifier()
	acoa, _ := bu.Options.AlternateCoA()
	if bu.Flags != flagsAHK || bu.Lifetime != 100 || string(nai.Identifier) != "mn@example.net" || acoa.Addr != coa1 {
		t.Errorf("BU %+v", bu)
	}
	p.advance(1000 * time.Second)
	// Refreshes at 300 s, 600 s, 900 s.
	if n := len(p.fromMN); n != 4 {
		t.Errorf("%d Binding Updates in 1000 s, want 4", n)
	}
	e, _ := p.mn.Entry(hoa1, haAddr)
	if !e.Registered || e.Outstanding || !e.Expires.Equal(t0.Add(1300*time.Second)) {
		t.Errorf("entry %+v", e)
	}
	if b, _ := p.ha.Lookup(hoa1); b.Sequence != e.Sequence || b.CoA != coa1 {
		t.Errorf("home agent binding %+v, mobile node sequence %d", b, e.Sequence)
	}
}

// TestMobileNodeRetransmissionBackoff: unanswered, a first registration
// is retransmitted after InitialBindackTimeoutFirstReg, doubling up to
// MAX_BINDACK_TIMEOUT, each time with a new sequence number (RFC 6275
// §11.8); MNNoResponse is reported once the cap is reached. A refresh
// starts from INITIAL_BINDACK_TIMEOUT.
func TestMobileNodeRetransmissionBackoff(t *testing.T) {
	l := NewBindingUpdateList(MobileNodeConfig{})
	now := t0
	l.Register(now, reg(time.Hour))
	var times []time.Duration
	var seqs []uint16
	var noResponse []time.Duration
	for range 8 {
		r := l.Ready()
		for _, o := range r.Send {
			times = append(times, now.Sub(t0))
			seqs = append(seqs, o.Message.(mh.BindingUpdate).Sequence)
		}
		for _, ev := range r.Events {
			if ev.Kind == MNNoResponse {
				noResponse = append(noResponse, now.Sub(t0))
			}
		}
		now = l.NextDeadline()
		l.Tick(now)
	}
	ms := time.Millisecond
	want := []time.Duration{0, 1500 * ms, 4500 * ms, 10500 * ms, 22500 * ms, 46500 * ms, 78500 * ms, 110500 * ms}
	if !slices.Equal(times, want) {
		t.Errorf("sent at %v\nwant    %v", times, want)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("sequence numbers %v", seqs)
		}
	}
	if !slices.Equal(noResponse, []time.Duration{46500 * ms}) {
		t.Errorf("no-response reported at %v", noResponse)
	}

	// A refresh of an existing binding starts at 1 s.
	p := newPair(t, nil)
	p.mn.Register(p.now, reg(40*time.Second))
	p.flush()
	p.lose = func(mh.Message) bool { return true }
	p.advance(30 * time.Second) // refresh at 30 s
	p.advance(time.Second)
	if n := len(p.fromMN); n != 3 || p.now.Sub(t0) != 31*time.Second {
		t.Errorf("%d BUs by %v, want the refresh at 30 s and its retransmission at 31 s", n, p.now.Sub(t0))
	}
}

// TestMobileNodeSequenceResync: a mobile node that lost its sequence
// number gets 135 with the last accepted one, adopts it and is accepted
// with the next (RFC 6275 §11.7.3).
func TestMobileNodeSequenceResync(t *testing.T) {
	p := newPair(t, nil)
	register(t, p.ha.BindingCache, p.now, hoa1, 1000, 100)
	p.mn.Register(p.now, reg(400*time.Second))
	p.flush()
	seqs := []uint16{}
	for _, m := range p.fromMN {
		seqs = append(seqs, m.(mh.BindingUpdate).Sequence)
	}
	if !slices.Equal(seqs, []uint16{1, 1001}) {
		t.Errorf("sequence numbers sent %v, want [1 1001]", seqs)
	}
	if k := p.kinds(); !slices.Equal(k, []MNEventKind{MNRegistered}) {
		t.Errorf("events %v", k)
	}
	if ba := p.fromHA[0].(mh.BindingAck); ba.Status != mh.StatusSequenceOutOfWindow || ba.Sequence != 1000 {
		t.Errorf("first BA %+v", ba)
	}
}

// TestMobileNodeStaleSequenceOutOfWindow: a status 135 that carries a
// number before the outstanding attempt's first one answers an older
// Binding Update (it was delayed); the node keeps its number instead of
// setting it back for a round trip, and counts the message as ignored.
func TestMobileNodeStaleSequenceOutOfWindow(t *testing.T) {
	l := NewBindingUpdateList(MobileNodeConfig{})
	l.Register(t0, reg(400*time.Second))
	first := l.Ready().Send[0].Message.(mh.BindingUpdate)
	ack := func(at time.Duration, ba mh.BindingAck) []uint16 {
		l.Receive(t0.Add(at), mh.AppendPacket(nil, mh.IPv6{Src: haAddr, Dst: hoa1}, ba))
		var seqs []uint16
		for _, o := range l.Ready().Send {
			seqs = append(seqs, o.Message.(mh.BindingUpdate).Sequence)
		}
		return seqs
	}
	// The home agent last accepted 1000: the node adopts it.
	if seqs := ack(100*time.Millisecond, mh.BindingAck{Status: mh.StatusSequenceOutOfWindow, Sequence: 1000}); !slices.Equal(seqs, []uint16{1001}) {
		t.Fatalf("after the first 135: sent %v, want [1001]", seqs)
	}
	// A 135 naming 900 cannot answer BU 1001: ignored, nothing sent.
	ignored := l.Stats().Ignored
	if seqs := ack(200*time.Millisecond, mh.BindingAck{Status: mh.StatusSequenceOutOfWindow, Sequence: 900}); len(seqs) != 0 {
		t.Errorf("a stale 135 made the node send %v", seqs)
	}
	if l.Stats().Ignored != ignored+1 {
		t.Errorf("ignored %d, want %d", l.Stats().Ignored, ignored+1)
	}
	// 1001 is accepted.
	ack(300*time.Millisecond, mh.BindingAck{Sequence: 1001, Lifetime: 100})
	if e, ok := l.Entry(hoa1, haAddr); !ok || e.Outstanding || e.Sequence != 1001 {
		t.Errorf("entry %+v after the BA for 1001 (first BU %d)", e, first.Sequence)
	}
}

// TestMobileNodeAckAfterLifetime: a Binding Acknowledgement that grants
// a lifetime shorter than its own delay (the lifetime counts from the
// first Binding Update, RFC 6275 §11.7.3) leaves no deadline in the past:
// the binding expires at once and the node registers again.
func TestMobileNodeAckAfterLifetime(t *testing.T) {
	l := NewBindingUpdateList(MobileNodeConfig{})
	l.Register(t0, reg(400*time.Second))
	bu := l.Ready().Send[0].Message.(mh.BindingUpdate)
	late := t0.Add(6 * time.Second)
	l.Receive(late, mh.AppendPacket(nil, mh.IPv6{Src: haAddr, Dst: hoa1}, mh.BindingAck{Sequence: bu.Sequence, Lifetime: 1})) // 4 s
	l.Ready()
	if next := l.NextDeadline(); !next.Equal(late) {
		t.Fatalf("next deadline %v after the acknowledgement at %v", next.Sub(t0), late.Sub(t0))
	}
	l.Tick(late)
	r := l.Ready()
	var kinds []MNEventKind
	for _, e := range r.Events {
		kinds = append(kinds, e.Kind)
	}
	if len(r.Send) != 1 || !slices.Contains(kinds, MNExpired) {
		t.Errorf("at the deadline: %d sent, events %v; want a new Binding Update and the expiry", len(r.Send), kinds)
	}
}

// TestMobileNodeUpdateRate: at most MAX_UPDATE_RATE Binding Updates per
// second go to one home agent; the rest wait (RFC 6275 §11.8).
func TestMobileNodeUpdateRate(t *testing.T) {
	l := NewBindingUpdateList(MobileNodeConfig{})
	r := reg(time.Hour)
	for i := range 5 {
		r.CoA = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, 15: byte(i + 1)})
		l.Register(t0.Add(time.Duration(i)*100*time.Millisecond), r)
	}
	if n := len(l.Ready().Send); n != 3 {
		t.Errorf("%d BUs in the first second, want 3", n)
	}
	if next := l.NextDeadline(); !next.Equal(t0.Add(time.Second)) {
		t.Errorf("deferred to %v", next.Sub(t0))
	}
	l.Tick(t0.Add(time.Second))
	out := l.Ready().Send
	if len(out) != 1 {
		t.Fatalf("%d sent at 1 s", len(out))
	}
	if acoa, _ := out[0].Message.(mh.BindingUpdate).Options.AlternateCoA(); acoa.Addr != r.CoA {
		t.Errorf("the deferred BU carries %v, want the latest care-of address %v", acoa.Addr, r.CoA)
	}
}

// TestMobileNodeLifetimeAccounting: the binding counts down from the
// granted lifetime starting when the Binding Update was sent; a Binding
// Refresh Advice brings the refresh forward (RFC 6275 §11.7.3).
func TestMobileNodeLifetimeAccounting(t *testing.T) {
	l := NewBindingUpdateList(MobileNodeConfig{})
	l.Register(t0, reg(400*time.Second))
	bu := l.Ready().Send[0].Message.(mh.BindingUpdate)
	ba := mh.BindingAck{Sequence: bu.Sequence, Lifetime: 50, Options: mh.BindingRefreshAdvice{Interval: 10}.Append(nil)}
	l.Receive(t0.Add(time.Second), mh.AppendPacket(nil, mh.IPv6{Src: haAddr, Dst: hoa1}, ba))
	e, _ := l.Entry(hoa1, haAddr)
	if !e.Registered || !e.Expires.Equal(t0.Add(200*time.Second)) {
		t.Errorf("expires %v, want 200 s after the BU", e.Expires.Sub(t0))
	}
	evs := l.Ready().Events
	if len(evs) != 1 || evs[0].RefreshAdvice != 40*time.Second || evs[0].Lifetime != 200*time.Second {
		t.Errorf("events %+v", evs)
	}
	if next := l.NextDeadline(); !next.Equal(t0.Add(40 * time.Second)) {
		t.Errorf("refresh at %v, want 40 s (the advice)", next.Sub(t0))
	}
	// Unanswered refreshes: the binding expires at 200 s.
	now := t0.Add(40 * time.Second)
	for now.Before(t0.Add(200 * time.Second)) {
		l.Tick(now)
		now = l.NextDeadline()
	}
	l.Tick(now)
	var expired bool
	for _, ev := range l.Ready().Events {
		expired = expired || ev.Kind == MNExpired
	}
	if e, _ := l.Entry(hoa1, haAddr); !expired || e.Registered {
		t.Errorf("expired %v, entry %+v", expired, e)
	}
}

// TestMobileNodeIgnoresForeignAcks: a BA that does not match an
// outstanding Binding Update, or comes from another address, is ignored.
func TestMobileNodeIgnoresForeignAcks(t *testing.T) {
	l := NewBindingUpdateList(MobileNodeConfig{})
	l.Register(t0, reg(400*time.Second))
	seq := l.Ready().Send[0].Message.(mh.BindingUpdate).Sequence
	for _, c := range []struct {
		ip mh.IPv6
		ba mh.BindingAck
	}{
		{mh.IPv6{Src: haAddr, Dst: hoa1}, mh.BindingAck{Sequence: seq + 1, Lifetime: 10}},
		{mh.IPv6{Src: altHA, Dst: hoa1}, mh.BindingAck{Sequence: seq, Lifetime: 10}},
		{mh.IPv6{Src: haAddr, Dst: hoa2}, mh.BindingAck{Sequence: seq, Lifetime: 10}},
	} {
		l.Receive(t0, mh.AppendPacket(nil, c.ip, c.ba))
	}
	if e, _ := l.Entry(hoa1, haAddr); e.Registered || !e.Outstanding || len(l.Ready().Events) != 0 {
		t.Errorf("entry %+v", e)
	}
	l.Receive(t0, []byte{0x60, 1, 2})
	if st := l.Stats(); st.Ignored != 3 || st.Received[mh.TypeBindingAck] != 3 || st.Malformed != 1 {
		t.Errorf("stats: ignored %d, BAs %d, malformed %d", st.Ignored, st.Received[mh.TypeBindingAck], st.Malformed)
	}
}

// TestMobileNodeRejection: a refused registration is reported, and no
// further Binding Updates go to that home agent until Register again.
func TestMobileNodeRejection(t *testing.T) {
	p := newPair(t, nil)
	r := reg(400 * time.Second)
	r.HoA = offLinkHoA // 132 from the home agent
	p.mn.Register(p.now, r)
	p.flush()
	if len(p.events) != 1 || p.events[0].Kind != MNRejected || p.events[0].Status != mh.StatusNotHomeSubnet {
		t.Fatalf("events %+v", p.events)
	}
	if !p.mn.NextDeadline().IsZero() {
		t.Error("timers after a rejection")
	}
	p.advance(time.Hour)
	if len(p.fromMN) != 1 {
		t.Errorf("%d BUs after the rejection", len(p.fromMN)-1)
	}
}

// TestMobileNodeRefreshRequest: a Binding Refresh Request from the home
// agent makes the mobile node refresh at once; one from a stranger is
// ignored.
func TestMobileNodeRefreshRequest(t *testing.T) {
	p := newPair(t, nil)
	p.mn.Register(p.now, reg(400*time.Second))
	p.flush()
	p.now = p.now.Add(10 * time.Second)
	brr := mh.BindingRefreshRequest{}
	p.toMN(mh.AppendPacket(nil, mh.IPv6{Src: altHA, Dst: hoa1}, brr))
	p.flush()
	if len(p.fromMN) != 1 {
		t.Fatalf("answered a stranger's BRR")
	}
	out, err := p.ha.RefreshRequest(hoa1)
	if err != nil {
		t.Fatal(err)
	}
	p.toMN(out.AppendPacket(nil))
	p.flush()
	if len(p.fromMN) != 2 || len(p.events) != 2 || p.events[1].Kind != MNRegistered {
		t.Errorf("%d BUs, events %v", len(p.fromMN), p.kinds())
	}
	if e, _ := p.mn.Entry(hoa1, haAddr); !e.Expires.Equal(p.now.Add(400 * time.Second)) {
		t.Errorf("expires %v", e.Expires.Sub(p.now))
	}
}

// TestMobileNodeHomeAgentSwitch runs RFC 5142 between the two sides: the
// HAS reaches the mobile node, which reports the new home agents and
// stops refreshing; it deregisters half-way through the Binding Refresh
// Advice period (or at once without one), which stops the retransmissions.
func TestMobileNodeHomeAgentSwitch(t *testing.T) {
	for _, grace := range []time.Duration{0, 60 * time.Second} {
		p := newPair(t, nil)
		p.mn.Register(p.now, reg(400*time.Second))
		p.flush()
		if err := p.ha.Switch(p.now, hoa1, []netip.Addr{altHA}, grace); err != nil {
			t.Fatal(err)
		}
		p.advance(120 * time.Second)
		k := p.kinds()
		if !slices.Equal(k, []MNEventKind{MNRegistered, MNSwitchRequested, MNDeregistered}) {
			t.Fatalf("grace %v: events %v", grace, k)
		}
		sw := p.events[1]
		if !slices.Equal(sw.Addresses, []netip.Addr{altHA}) || !sw.FromCurrentHA || sw.From != haAddr || sw.RefreshAdvice != grace {
			t.Errorf("grace %v: switch event %+v", grace, sw)
		}
		if len(p.fromMN) != 2 {
			t.Errorf("grace %v: %d BUs (refreshes during a switch?)", grace, len(p.fromMN))
		}
		dereg := p.results[len(p.results)-1].Decision
		if dereg.Verdict != Accepted || !dereg.SwitchAcknowledged || dereg.BindingAck().Lifetime != 0 {
			t.Errorf("grace %v: deregistration %+v", grace, dereg)
		}
		// The deregistration went out when the advice said.
		var hasCount int
		for _, m := range p.fromHA {
			if m.Type() == mh.TypeHomeAgentSwitch {
				hasCount++
			}
		}
		wantHAS := map[time.Duration]int{0: 1, 60 * time.Second: 3}[grace] // 0, 5, 15 s; deregistered at 30 s
		if hasCount != wantHAS {
			t.Errorf("grace %v: %d HAS sent, want %d", grace, hasCount, wantHAS)
		}
		if _, ok := p.mn.Entry(hoa1, haAddr); ok {
			t.Errorf("grace %v: entry kept", grace)
		}
	}
}

// TestMobileNodeSwitchFromAnotherHomeAgent: a HAS from a home agent the
// node is not registered with (RFC 5142 §5.1, "register with me") is
// reported without touching the current binding.
func TestMobileNodeSwitchFromAnotherHomeAgent(t *testing.T) {
	p := newPair(t, nil)
	p.mn.Register(p.now, reg(400*time.Second))
	p.flush()
	has := mh.HomeAgentSwitch{Addresses: []netip.Addr{altHA}}
	p.toMN(mh.AppendPacket(nil, mh.IPv6{Src: altHA, Dst: hoa1}, has))
	p.flush()
	ev := p.events[len(p.events)-1]
	if ev.Kind != MNSwitchRequested || ev.FromCurrentHA || ev.From != altHA {
		t.Errorf("event %+v", ev)
	}
	if e, _ := p.mn.Entry(hoa1, haAddr); e.Switching || !e.Registered || len(p.fromMN) != 1 {
		t.Errorf("entry %+v", e)
	}
}

// TestMobileNodeAnswersUnknownTypes: an unknown MH Type gets a Binding
// Error with status 2 (RFC 6275 §9.2, RFC 5142 §6.1); a Binding Error
// from the home agent is reported.
func TestMobileNodeAnswersUnknownTypes(t *testing.T) {
	l := NewBindingUpdateList(MobileNodeConfig{})
	l.Register(t0, reg(400*time.Second))
	l.Ready()
	p := mh.AppendPacket(nil, mh.IPv6{Src: haAddr, Dst: hoa1}, mh.BindingRefreshRequest{})
	p[42] = 16
	mh.SetChecksum(p[40:], haAddr, hoa1)
	l.Receive(t0, p)
	out := l.Ready().Send
	if len(out) != 1 {
		t.Fatalf("%d messages", len(out))
	}
	ip, m := decode(t, out[0].AppendPacket(nil))
	if be, ok := m.(mh.BindingError); !ok || be.Status != mh.BEUnrecognizedType || ip.Dst != haAddr || ip.Src != hoa1 {
		t.Errorf("answer %+v to %+v", m, ip)
	}
	l.Receive(t0, mh.AppendPacket(nil, mh.IPv6{Src: haAddr, Dst: hoa1}, mh.BindingError{Status: mh.BEUnknownBinding, HoA: hoa1}))
	evs := l.Ready().Events
	if len(evs) != 1 || evs[0].Kind != MNBindingError || evs[0].BEStatus != mh.BEUnknownBinding {
		t.Errorf("events %+v", evs)
	}
	if st := l.Stats(); st.UnknownType != 1 || st.BindingErrorsSent != 1 || st.Received[mh.TypeBindingError] != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestMobileNodeNativeForm: outside the tunnel the BU goes from the
// care-of address with a Home Address option and an Alternate CoA, and
// the BA comes back with a type 2 routing header (RFC 6275 §11.7.1,
// RFC 4877 §4.2).
func TestMobileNodeNativeForm(t *testing.T) {
	ha := newHomeAgent(t, nil)
	l := NewBindingUpdateList(MobileNodeConfig{})
	r := reg(400 * time.Second)
	r.InTunnel = false
	l.Register(t0, r)
	out := l.Ready().Send[0]
	if out.IP != (mh.IPv6{Src: coa1, Dst: haAddr, HAO: hoa1}) {
		t.Fatalf("BU addressed %+v", out.IP)
	}
	res := ha.Receive(t0, Context{AuthorizedHoA: hoa1}, out.AppendPacket(nil))
	if res.Decision.Verdict != Accepted || res.Decision.Reply.RH2 != hoa1 {
		t.Fatalf("decision %+v", res.Decision)
	}
	l.Receive(t0, res.Decision.AppendBA(nil))
	if e, _ := l.Entry(hoa1, haAddr); !e.Registered {
		t.Errorf("entry %+v", e)
	}
	// Back home: deregistration from the home address, no options needed.
	r.CoA = hoa1
	l.Register(t0.Add(time.Second), r)
	l.Ready()
	l.Deregister(t0.Add(2*time.Second), hoa1, haAddr)
	out = l.Ready().Send[0]
	if out.IP != (mh.IPv6{Src: hoa1, Dst: haAddr}) || len(out.Message.(mh.BindingUpdate).Options) != 0 && !hasOnlyNAI(out.Message.(mh.BindingUpdate).Options) {
		t.Errorf("deregistration from home %+v %+v", out.IP, out.Message)
	}
	if err := l.Deregister(t0, hoa2, haAddr); err == nil {
		t.Error("Deregister of an unknown entry")
	}
	if err := l.Register(t0, Registration{HoA: hoa1, HA: haAddr}); err == nil {
		t.Error("Register without a care-of address")
	}
}

func hasOnlyNAI(o mh.Options) bool {
	n := 0
	for opt := range o.All() {
		if opt.Type != mh.OptMobileNodeIdentifier {
			return false
		}
		n++
	}
	return n == 1
}
