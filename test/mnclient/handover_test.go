package mnclient

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/mip6ha/mip6ha/homeagent"
	"github.com/mip6ha/mip6ha/homeagent/telemetry"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
	"github.com/mip6ha/mip6ha/mip6"
	"github.com/mip6ha/mip6ha/mip6/mh"
)

// recordingPool is a testPool that keeps every address request.
type recordingPool struct {
	testPool
	mu   sync.Mutex
	reqs []ike.AddressRequest
}

func newRecordingPool() *recordingPool {
	return &recordingPool{testPool: testPool{byID: map[string]netip.Addr{}}}
}

func (p *recordingPool) Assign(ctx context.Context, req ike.AddressRequest) (ike.Assignment, error) {
	p.mu.Lock()
	p.reqs = append(p.reqs, req)
	p.mu.Unlock()
	return p.testPool.Assign(ctx, req)
}

func (p *recordingPool) requests() []ike.AddressRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.reqs)
}

// otherAddressPool assigns every node the same address, whatever it asks
// for: a home agent that does not know the node's lease.
type otherAddressPool struct{ a netip.Addr }

func (p otherAddressPool) Assign(context.Context, ike.AddressRequest) (ike.Assignment, error) {
	return ike.Assignment{IPv6: netip.PrefixFrom(p.a, testHomePrefix.Bits())}, nil
}

func (otherAddressPool) Release(context.Context, ike.ID, ike.Assignment) {}

// handoverClient is a mobile node of ha that follows Home Agent Switch
// messages with the project's extensions (tickets), recording its spans in
// rec.
func handoverClient(t *testing.T, ha *fakeHA, id string, events *eventLog, rec *tracetest.SpanRecorder) *Client {
	t.Helper()
	cfg := ha.clientConfig(id, events)
	cfg.HA = netip.AddrPortFrom(ha.ike.Addr(), 500).String()
	cfg.HANATTPort = 0
	cfg.HAID = "ha.example.net"
	cfg.Redirect = RedirectConfig{Extensions: true}
	cfg.MobileNode = mip6.MobileNodeConfig{InitialBindackTimeoutFirstReg: 500 * time.Millisecond}
	if rec != nil {
		cfg.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// homeAgentSwitch makes ha send a Home Agent Switch to the node of hoa
// naming to, with a Binding Refresh Advice of grace and, unless opt is
// nil, the handover option.
func homeAgentSwitch(t *testing.T, ha *fakeHA, hoa netip.Addr, to []netip.Addr, grace time.Duration, opt *homeagent.HandoverOption) {
	t.Helper()
	now := time.Now()
	if err := ha.mip.Switch(now, hoa, to, grace); err != nil {
		t.Fatal(err)
	}
	sent := 0
	for _, e := range ha.mip.Tick(now, nil) {
		if e.Kind != mip6.EventSendHAS {
			continue
		}
		if opt != nil {
			has := e.Send.Message.(mh.HomeAgentSwitch)
			has.Options = opt.Append(slices.Clone(has.Options))
			e.Send.Message = has
		}
		ha.dev.Outgoing <- e.Send.AppendPacket(nil)
		sent++
	}
	if sent != 1 {
		t.Fatalf("home agent sent %d Home Agent Switch messages", sent)
	}
}

// awaitIKE returns the next IKE event of type T of ha.
func awaitIKE[T ike.Event](t *testing.T, ctx context.Context, ha *fakeHA) T {
	t.Helper()
	for {
		select {
		case e := <-ha.ikeEvents:
			if x, ok := e.(T); ok {
				return x
			}
		case <-ctx.Done():
			var zero T
			t.Fatalf("home agent %v: no %T: %v", ha.ike.Addr(), zero, ctx.Err())
		}
	}
}

// awaitData returns the next inner data packet ha received from the node,
// or fails.
func awaitData(t *testing.T, ctx context.Context, ha *fakeHA, what string) []byte {
	t.Helper()
	select {
	case p := <-ha.data:
		return p
	case <-ctx.Done():
		t.Fatalf("%s: no inner packet at %v: %v", what, ha.ike.Addr(), ctx.Err())
		return nil
	}
}

// feed sends an inner packet to hoa from both home agents every 5 ms until
// ctx ends, as cn's traffic reaches the node through whichever home agent
// serves it (a home agent without an SA for hoa drops it).
func feed(ctx context.Context, hoa netip.Addr, has ...*fakeHA) {
	pkt := ipv6Packet(netip.MustParseAddr("2001:db8:3::3"), hoa, 59, []byte("from cn"))
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, h := range has {
			select {
			case h.dev.Outgoing <- slices.Clone(pkt):
			default:
			}
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

// TestHomeAgentSwitchMakeBeforeBreak: the node's home agent sends a Home
// Agent Switch (RFC 5142) with a Binding Refresh Advice and the handover
// option (ticket, trace context, the new home agent's IKE endpoint). The
// node sets up its IKE SA with the new home agent first, with
// REDIRECTED_FROM, its home address in CFG_REQUEST and the ticket; its
// traffic stays with the old home agent until the new one accepted the
// binding, then moves; only then does it deregister at the old home agent
// and delete the old IKE SA. The home address never changes, the data
// flowing to the node is not interrupted for long, and the node's spans
// join the home agent's trace of the move.
func TestHomeAgentSwitchMakeBeforeBreak(t *testing.T) {
	needNetns(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	a1, a2 := netip.MustParseAddr("2001:db8:ff::21"), netip.MustParseAddr("2001:db8:ff::22")
	pool := newRecordingPool()
	ha1 := startFakeHA(t, fakeHAConfig{addr: a1, standardPorts: true, pool: pool})
	ha2 := startFakeHA(t, fakeHAConfig{addr: a2, standardPorts: true, pool: pool})
	events := newEventLog()
	rec := tracetest.NewSpanRecorder()
	c := handoverClient(t, ha1, "mn-switch@example.net", events, rec)
	runClient(t, c)
	first := events.wait(t, ctx, EventBindingAccepted, 1)
	hoa := netip.MustParseAddr(first.Address)
	if first.HomeAgent != a1.String() {
		t.Fatalf("first binding with %s, want %v", first.HomeAgent, a1)
	}
	awaitIKE[ike.IKEUp](t, ctx, ha1)

	feedCtx, stopFeed := context.WithCancel(ctx)
	defer stopFeed()
	go feed(feedCtx, hoa, ha1, ha2)

	// The home agent's move span, which the handover option carries.
	moveSC := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, 3, 4}, SpanID: trace.SpanID{5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled, Remote: true})
	ticket := []byte("a handover ticket of ha1")
	ha2.mute.Store(1) // the first Binding Update to ha2 goes unanswered: the node waits between CHILD_SA and BA
	homeAgentSwitch(t, ha1, hoa, []netip.Addr{a2}, 30*time.Second, &homeagent.HandoverOption{Ticket: ticket,
		TraceContext: string(telemetry.AppendTraceparent(nil, moveSC)), Gateway: netip.AddrPortFrom(a2, 0)})

	has := events.wait(t, ctx, EventHomeAgentSwitch, 1)
	if has.From != a1.String() || has.To != netip.AddrPortFrom(a2, 500).String() || has.TraceID != moveSC.TraceID().String() {
		t.Fatalf("home_agent_switch %+v", has)
	}
	up2 := awaitIKE[ike.IKEUp](t, ctx, ha2)
	if up2.RedirectedFrom == nil || *up2.RedirectedFrom != wire.GatewayAddr(a1) {
		t.Errorf("new home agent saw REDIRECTED_FROM %v, want %v", up2.RedirectedFrom, a1)
	}
	reqs := pool.requests()
	last := reqs[len(reqs)-1]
	if last.SuggestedIPv6.Addr() != hoa || string(last.Ticket) != string(ticket) {
		t.Errorf("new home agent was asked for %v with ticket %q, want %v with %q", last.SuggestedIPv6, last.Ticket, hoa, ticket)
	}

	// Registering: the new CHILD_SA is up and the Binding Update to ha2 was
	// sent (and dropped), but the node's traffic still leaves through ha1.
	if err := pollUntil(ctx, func() bool { return ha2.mute.Load() == 0 }); err != nil {
		t.Fatalf("no Binding Update reached the new home agent: %v", err)
	}
	innerDst := netip.MustParseAddr("2001:db8:3::3")
	if err := c.Send(ipv6Packet(hoa, innerDst, 59, []byte("before the new BA"))); err != nil {
		t.Fatal(err)
	}
	awaitData(t, ctx, ha1, "traffic before the new home agent accepted the binding")
	if n := events.count(EventBindingAccepted); n != 1 {
		t.Fatalf("%d bindings accepted before ha2 answered", n)
	}

	second := events.wait(t, ctx, EventBindingAccepted, 2)
	dereg := events.wait(t, ctx, EventDeregistered, 1)
	sw := events.wait(t, ctx, EventSwitched, 1)
	if second.HomeAgent != a2.String() || second.Address != hoa.String() {
		t.Errorf("binding after the switch %+v", second)
	}
	if dereg.HomeAgent != a1.String() || dereg.Address != hoa.String() {
		t.Errorf("deregistration %+v, want at %v", dereg, a1)
	}
	if sw.From != a1.String() || sw.To != a2.String() || sw.Address != hoa.String() || sw.TraceID != moveSC.TraceID().String() ||
		sw.DurationMS <= 0 {
		t.Errorf("switched %+v", sw)
	}
	// ha1 kept delivering until the switch: the node never went without
	// packets for the whole switch (which lasted a retransmission of the
	// Binding Update, 500 ms or more).
	if sw.GapMS <= 0 || sw.GapMS >= sw.DurationMS || sw.GapMS > 400 {
		t.Errorf("longest gap %.1f ms during a switch of %.1f ms", sw.GapMS, sw.DurationMS)
	}
	kinds := kindsOf(events.all())
	if i, j, k := indexOf(kinds, EventBindingAccepted, 2), indexOf(kinds, EventDeregistered, 1), indexOf(kinds, EventSwitched, 1); !(i < j && j < k) {
		t.Errorf("events out of make-before-break order: %v", kinds)
	}
	if down := awaitIKE[ike.IKEDown](t, ctx, ha1); down.Reason != ike.DownDeletedByPeer {
		t.Errorf("old home agent's IKE SA ended %+v, want deleted by the node", down)
	}
	if b, ok := ha1.binding(hoa); ok && b.State == mip6.StateValid {
		t.Errorf("old home agent still has the binding %+v", b)
	}
	if b, ok := ha2.binding(hoa); !ok || b.State != mip6.StateValid {
		t.Errorf("new home agent's binding %+v %v", b, ok)
	}
	st := c.Status()
	if st.HoA != hoa || st.HomeAgent != a2 || !st.Bound || !st.Attached {
		t.Errorf("status after the switch %+v", st)
	}
	// Traffic now leaves through ha2.
	if err := c.Send(ipv6Packet(hoa, innerDst, 59, []byte("after the switch"))); err != nil {
		t.Fatal(err)
	}
	for {
		p := awaitData(t, ctx, ha2, "traffic after the switch")
		if string(p[40:]) == "after the switch" {
			break
		}
	}

	// The node's move span is a child of the home agent's, with the IKE
	// exchanges and both Binding Updates below it.
	var move sdktrace.ReadOnlySpan
	names := map[string]int{}
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID() != moveSC.TraceID() {
			continue
		}
		names[s.Name()]++
		if s.Name() == telemetry.SpanMove {
			move = s
		}
	}
	if move == nil || move.Parent().SpanID() != moveSC.SpanID() {
		t.Fatalf("no move span under the home agent's (spans of the trace: %v)", names)
	}
	for _, n := range []string{"IKE_SA_INIT", "IKE_AUTH", telemetry.SpanHomeAgentSwitch} {
		if names[n] != 1 {
			t.Errorf("%d %s spans in the move's trace, want 1 (%v)", names[n], n, names)
		}
	}
	if names[telemetry.SpanBindingUpdate] != 2 {
		t.Errorf("%d binding update spans in the move's trace, want 2 (registration, deregistration): %v", names[telemetry.SpanBindingUpdate], names)
	}

	// The attachment is a trace of its own: the attach span, with the
	// IKE exchanges and the first Binding Update below it.
	var attach sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == SpanAttach {
			attach = s
		}
	}
	if attach == nil || attach.Parent().IsValid() {
		t.Fatalf("no root attach span: %v", attach)
	}
	below := map[string]int{}
	for _, s := range rec.Ended() {
		if s.Parent().SpanID() == attach.SpanContext().SpanID() {
			below[s.Name()]++
		}
	}
	if below["IKE_SA_INIT"] != 1 || below["IKE_AUTH"] != 1 || below[telemetry.SpanBindingUpdate] != 1 {
		t.Errorf("spans below the attachment: %v, want IKE_SA_INIT, IKE_AUTH and one Binding Update", below)
	}
}

// TestHomeAgentSwitchAddressRefused: the new home agent assigns another
// home address than the one the node holds. The node gives it up, stays
// with its home agent and says why; its traffic keeps going there.
func TestHomeAgentSwitchAddressRefused(t *testing.T) {
	needNetns(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	a1, a2 := netip.MustParseAddr("2001:db8:ff::23"), netip.MustParseAddr("2001:db8:ff::24")
	ha1 := startFakeHA(t, fakeHAConfig{addr: a1, standardPorts: true})
	ha2 := startFakeHA(t, fakeHAConfig{addr: a2, standardPorts: true, pool: otherAddressPool{netip.MustParseAddr("2001:db8:1::8000")}})
	events := newEventLog()
	c := handoverClient(t, ha1, "mn-refused@example.net", events, nil)
	runClient(t, c)
	hoa := netip.MustParseAddr(events.wait(t, ctx, EventBindingAccepted, 1).Address)
	homeAgentSwitch(t, ha1, hoa, []netip.Addr{a2}, 30*time.Second, nil)

	failed := events.wait(t, ctx, EventError, 1)
	abandoned := events.wait(t, ctx, EventError, 2)
	t.Logf("failure: %s; then: %s", failed.Error, abandoned.Error)
	if failed.To != netip.AddrPortFrom(a2, 500).String() || abandoned.From != a1.String() {
		t.Errorf("errors %+v, %+v", failed, abandoned)
	}
	if down := awaitIKE[ike.IKEDown](t, ctx, ha2); down.Reason != ike.DownDeletedByPeer {
		t.Errorf("new home agent's IKE SA ended %+v, want deleted by the node", down)
	}
	if st := c.Status(); st.HoA != hoa || st.HomeAgent != a1 || !st.Attached {
		t.Errorf("status %+v, want still with %v", st, a1)
	}
	if events.count(EventSwitched) != 0 {
		t.Errorf("switched although the new home agent refused the address: %v", kindsOf(events.all()))
	}
	if err := c.Send(ipv6Packet(hoa, netip.MustParseAddr("2001:db8:3::3"), 59, []byte("still here"))); err != nil {
		t.Fatal(err)
	}
	awaitData(t, ctx, ha1, "traffic after the failed switch")
}

// TestHomeAgentSwitchNextAddress: the first home agent a Home Agent Switch
// names cannot be reached; the node tries the next one in the list (RFC
// 5142 §6.2) and moves there.
func TestHomeAgentSwitchNextAddress(t *testing.T) {
	needNetns(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	a1, a2 := netip.MustParseAddr("2001:db8:ff::25"), netip.MustParseAddr("2001:db8:ff::26")
	unrouted := netip.MustParseAddr("2001:db8:dead::1") // no route in the test namespace
	pool := newRecordingPool()
	ha1 := startFakeHA(t, fakeHAConfig{addr: a1, standardPorts: true, pool: pool})
	startFakeHA(t, fakeHAConfig{addr: a2, standardPorts: true, pool: pool})
	events := newEventLog()
	c := handoverClient(t, ha1, "mn-next@example.net", events, nil)
	runClient(t, c)
	hoa := netip.MustParseAddr(events.wait(t, ctx, EventBindingAccepted, 1).Address)
	homeAgentSwitch(t, ha1, hoa, []netip.Addr{unrouted, a2}, 30*time.Second, nil)
	sw := events.wait(t, ctx, EventSwitched, 1)
	if sw.To != a2.String() || sw.Address != hoa.String() {
		t.Errorf("switched %+v, want to %v keeping %v", sw, a2, hoa)
	}
	if st := c.Status(); st.HomeAgent != a2 || st.HoA != hoa {
		t.Errorf("status %+v", st)
	}
}

// pollUntil calls cond every few milliseconds until it holds or ctx ends.
func pollUntil(ctx context.Context, cond func() bool) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for !cond() {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// TestHandoverTargets: the handover option's IKE endpoint comes first (a
// port in it is the NAT-T port IKE starts at), then every address of the
// Home Agent Switch on the standard ports, without repeats, and only those
// the allow-list lets the node go to.
func TestHandoverTargets(t *testing.T) {
	a, b := netip.MustParseAddr("2001:db8:1::2"), netip.MustParseAddr("2001:db8:1::3")
	v4 := netip.MustParseAddr("198.51.100.12")
	for _, tc := range []struct {
		name  string
		allow []string
		addrs []netip.Addr
		opt   homeagent.HandoverOption
		want  []handoverTarget
	}{
		{"switch only", nil, []netip.Addr{a, b}, homeagent.HandoverOption{},
			[]handoverTarget{{gw: netip.AddrPortFrom(a, 500), ha: a}, {gw: netip.AddrPortFrom(b, 500), ha: b}}},
		{"option on the standard ports", nil, []netip.Addr{a, b}, homeagent.HandoverOption{Gateway: netip.AddrPortFrom(a, 0)},
			[]handoverTarget{{gw: netip.AddrPortFrom(a, 500), ha: a}, {gw: netip.AddrPortFrom(b, 500), ha: b}}},
		{"option with an IPv4 endpoint and a port", nil, []netip.Addr{a}, homeagent.HandoverOption{Gateway: netip.AddrPortFrom(v4, 14500)},
			[]handoverTarget{{gw: netip.AddrPortFrom(v4, 14500), natt: 14500, ha: a}, {gw: netip.AddrPortFrom(a, 500), ha: a}}},
		{"allow-list", []string{"2001:db8:1::3"}, []netip.Addr{a, b}, homeagent.HandoverOption{},
			[]handoverTarget{{gw: netip.AddrPortFrom(b, 500), ha: b}}},
		{"no address: discovery, which the node does not do", nil, nil, homeagent.HandoverOption{Gateway: netip.AddrPortFrom(a, 0)}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Client{cfg: Config{Redirect: RedirectConfig{Allow: tc.allow}}}
			if got := c.handoverTargets(tc.addrs, tc.opt); !slices.Equal(got, tc.want) {
				t.Errorf("targets %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestGapMeter: the meter reports the longest time between deliveries
// while armed, counted from when it was armed, and nothing when no packet
// came.
func TestGapMeter(t *testing.T) {
	var m gapMeter
	m.delivered() // unarmed: not counted
	if _, ok := m.stop(); ok {
		t.Fatal("a delivery counted while unarmed")
	}
	start := time.Now()
	m.start(start.Add(-50 * time.Millisecond)) // armed 50 ms ago: the first gap is at least that
	m.delivered()
	m.delivered()
	gap, ok := m.stop()
	if !ok || gap < 50*time.Millisecond || gap > time.Since(start)+50*time.Millisecond {
		t.Errorf("gap %v (measured %v), want about 50 ms", gap, ok)
	}
	m.start(time.Now())
	if _, ok := m.stop(); ok {
		t.Error("no delivery, yet a gap was measured")
	}
}

// TestReattachKeepsHomeAddress: the node's home agent goes away (it
// deletes the node's IKE SA as it stops); the node attaches again at the
// next home agent of its list, asking for its home address, and registers
// its binding there.
func TestReattachKeepsHomeAddress(t *testing.T) {
	needNetns(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	a1, a2 := netip.MustParseAddr("2001:db8:ff::27"), netip.MustParseAddr("2001:db8:ff::28")
	pool := newRecordingPool()
	ha1 := startFakeHA(t, fakeHAConfig{addr: a1, standardPorts: true, pool: pool})
	startFakeHA(t, fakeHAConfig{addr: a2, standardPorts: true, pool: pool})
	events := newEventLog()
	cfg := ha1.clientConfig("mn-reattach@example.net", events)
	cfg.HA, cfg.HANATTPort = netip.AddrPortFrom(a1, 500).String(), 0
	cfg.Reattach = ReattachConfig{Enable: true, HAs: []string{netip.AddrPortFrom(a2, 500).String()}, Backoff: 50 * time.Millisecond}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	first := events.wait(t, ctx, EventBindingAccepted, 1)
	ha1.stop()
	re := events.wait(t, ctx, EventReattaching, 1)
	if re.From != netip.AddrPortFrom(a1, 500).String() || re.To != netip.AddrPortFrom(a2, 500).String() || re.Address != first.Address {
		t.Errorf("reattaching %+v", re)
	}
	second := events.wait(t, ctx, EventBindingAccepted, 2)
	if second.HomeAgent != a2.String() || second.Address != first.Address {
		t.Errorf("binding after re-attaching %+v, first %+v", second, first)
	}
	reqs := pool.requests()
	if last := reqs[len(reqs)-1]; last.SuggestedIPv6.Addr().String() != first.Address {
		t.Errorf("re-attachment asked for %v, want %s", last.SuggestedIPv6, first.Address)
	}
	if st := c.Status(); !st.Bound || st.HomeAgent != a2 {
		t.Errorf("status %+v", st)
	}
}

// FuzzReceiveMobility feeds any packet to the client's Mobility Header
// input: nothing panics, and a handover option is kept only from a Home
// Agent Switch that carries a well-formed one, as sent (its encoding
// parses back to the same option).
func FuzzReceiveMobility(f *testing.F) {
	hoa, ha := netip.MustParseAddr("2001:db8:1::1000"), netip.MustParseAddr("2001:db8:1::1")
	opt := homeagent.HandoverOption{Ticket: []byte("ticket"), Gateway: netip.MustParseAddrPort("[2001:db8:1::2]:0"),
		TraceContext: "00-0102030405060708090a0b0c0d0e0f10-0102030405060708-01"}
	has := mh.HomeAgentSwitch{Addresses: []netip.Addr{netip.MustParseAddr("2001:db8:1::2")}}
	has.Options = mh.BindingRefreshAdvice{Interval: 5}.Append(has.Options)
	f.Add(mh.AppendPacket(nil, mh.IPv6{Src: ha, Dst: hoa}, has))
	has.Options = opt.Append(has.Options)
	f.Add(mh.AppendPacket(nil, mh.IPv6{Src: ha, Dst: hoa}, has))
	withOption := mh.AppendPacket(nil, mh.IPv6{Src: ha, Dst: hoa}, has)
	f.Add(withOption[:len(withOption)-3]) // the option cut short
	bad := append([]byte(nil), withOption...)
	bad[len(bad)-1] ^= 0xff // a checksum that fails
	f.Add(bad)
	has.Options = mh.Option{Type: homeagent.OptExperimentalMobility, Data: []byte("M6HA\x01\x01\x09ticket")}.Append(nil)
	f.Add(mh.AppendPacket(nil, mh.IPv6{Src: ha, Dst: hoa}, has)) // a sub-option overrunning the option
	f.Add(mh.AppendPacket(nil, mh.IPv6{Src: ha, Dst: hoa}, mh.BindingAck{Sequence: 1, Lifetime: 15}))
	f.Add([]byte{0x60, 0, 0, 0, 0, 8, 135, 64})
	f.Fuzz(func(t *testing.T, pkt []byte) {
		c := &Client{log: slog.New(slog.DiscardHandler), bul: mip6.NewBindingUpdateList(mip6.MobileNodeConfig{})}
		c.receiveMobility(time.Now(), pkt)
		if !c.offer.from.IsValid() {
			return
		}
		ip, h, err := mh.ParsePacket(pkt)
		if err != nil || h.Type() != mh.TypeHomeAgentSwitch || ip.Src != c.offer.from {
			t.Fatalf("offer from %v kept from a packet that is not a Home Agent Switch from it (%v, %v)", c.offer.from, err, ip.Src)
		}
		back, found, err := homeagent.ParseHandoverOption(c.offer.opt.Append(nil))
		if !found || err != nil || string(back.Ticket) != string(c.offer.opt.Ticket) ||
			back.TraceContext != c.offer.opt.TraceContext || back.Gateway != c.offer.opt.Gateway {
			t.Fatalf("kept option %+v does not round-trip: %+v, %v, %v", c.offer.opt, back, found, err)
		}
	})
}

// BenchmarkHomeAgentSwitch moves a node back and forth between two home
// agents in this process, one Home Agent Switch per iteration: from the
// switch sent to the node's report that it moved (an IKE SA with the new
// home agent, a binding there, the deregistration at the old one). The
// node's limit of Binding Updates per home agent (RFC 6275 §11.8, 3 per
// second) is lifted: back-to-back moves would otherwise wait for it.
func BenchmarkHomeAgentSwitch(b *testing.B) {
	needNetns(b)
	ctx, cancel := context.WithTimeout(b.Context(), 10*time.Minute)
	defer cancel()
	a1, a2 := netip.MustParseAddr("2001:db8:ff::31"), netip.MustParseAddr("2001:db8:ff::32")
	pool := newRecordingPool()
	has := []*fakeHA{startFakeHA(b, fakeHAConfig{addr: a1, standardPorts: true, pool: pool}),
		startFakeHA(b, fakeHAConfig{addr: a2, standardPorts: true, pool: pool})}
	// The benchmark runs again with a larger b.N, on the same addresses and
	// ports: everything ends with each run, not with the benchmark.
	defer has[0].stop()
	defer has[1].stop()
	events := newEventLog()
	cfg := has[0].clientConfig("mn-bench@example.net", events)
	cfg.HA, cfg.HANATTPort = netip.AddrPortFrom(a1, 500).String(), 0
	cfg.Redirect = RedirectConfig{Extensions: true}
	cfg.MobileNode = mip6.MobileNodeConfig{MaxUpdateRate: 1000}
	c, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer runClient(b, c)()
	hoa := netip.MustParseAddr(events.wait(b, ctx, EventBindingAccepted, 1).Address)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		from, to := has[i%2], has[(i+1)%2]
		now := time.Now()
		if err := from.mip.Switch(now, hoa, []netip.Addr{to.ike.Addr()}, 30*time.Second); err != nil {
			b.Fatal(err)
		}
		for _, e := range from.mip.Tick(now, nil) {
			if e.Kind == mip6.EventSendHAS {
				from.dev.Outgoing <- e.Send.AppendPacket(nil)
			}
		}
		if sw := events.wait(b, ctx, EventSwitched, i+1); sw.To != to.ike.Addr().String() {
			b.Fatalf("switched %+v", sw)
		}
	}
}

// TestHomeAgentSwitchOldHomeAgentGone: while the node registers with the
// first home agent of a Home Agent Switch, its old home agent ends the
// node's IKE SA (it stops). The new home agent never answers the Binding
// Update, so the node gives it up when the Binding Refresh Advice runs out
// and tries the next address of the switch (RFC 5142 §6.2), naming the old
// home agent in REDIRECTED_FROM still, and moves there.
func TestHomeAgentSwitchOldHomeAgentGone(t *testing.T) {
	needNetns(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	a1, a2, a3 := netip.MustParseAddr("2001:db8:ff::33"), netip.MustParseAddr("2001:db8:ff::34"), netip.MustParseAddr("2001:db8:ff::35")
	pool := newRecordingPool()
	ha1 := startFakeHA(t, fakeHAConfig{addr: a1, standardPorts: true, pool: pool})
	ha2 := startFakeHA(t, fakeHAConfig{addr: a2, standardPorts: true, pool: pool})
	ha3 := startFakeHA(t, fakeHAConfig{addr: a3, standardPorts: true, pool: pool})
	events := newEventLog()
	c := handoverClient(t, ha1, "mn-old-gone@example.net", events, nil)
	stop := runClient(t, c)
	hoa := netip.MustParseAddr(events.wait(t, ctx, EventBindingAccepted, 1).Address)

	ha2.mute.Store(1 << 20) // ha2 sets up the IKE SA but never answers a Binding Update
	homeAgentSwitch(t, ha1, hoa, []netip.Addr{a2, a3}, 4*time.Second, nil)
	awaitIKE[ike.IKEUp](t, ctx, ha2)
	if err := pollUntil(ctx, func() bool { return ha2.mute.Load() < 1<<20 }); err != nil {
		t.Fatalf("no Binding Update reached ha2: %v", err)
	}
	ha1.stop() // deletes the node's IKE SA with the old home agent

	up3 := awaitIKE[ike.IKEUp](t, ctx, ha3)
	if up3.RedirectedFrom == nil || *up3.RedirectedFrom != wire.GatewayAddr(a1) {
		t.Errorf("ha3 saw REDIRECTED_FROM %v, want %v", up3.RedirectedFrom, a1)
	}
	if err := pollUntil(ctx, func() bool { return events.count(EventSwitched) > 0 }); err != nil {
		t.Fatalf("no switch to ha3: %v; events %v", err, kindsOf(events.all()))
	}
	for _, e := range events.all() {
		if e.Event == EventSwitched && (e.To != a3.String() || e.Address != hoa.String()) {
			t.Errorf("switched %+v, want to %v keeping %v", e, a3, hoa)
		}
	}
	if st := c.Status(); st.HomeAgent != a3 || st.HoA != hoa || !st.Bound {
		t.Errorf("status %+v, want bound at %v", st, a3)
	}
	if b, ok := ha3.binding(hoa); !ok || b.State != mip6.StateValid {
		t.Errorf("ha3's binding %+v %v", b, ok)
	}
	if err := stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestHomeAgentSwitchNextAddressAfterSilence: the first home agent a Home
// Agent Switch names sets up the IKE SA but never answers the Binding
// Update. Once the Binding Refresh Advice has run out for it, the node
// tries the next address (RFC 5142 §6.2), which gets as long to answer
// (it answers only the retransmitted Binding Update), and moves there.
func TestHomeAgentSwitchNextAddressAfterSilence(t *testing.T) {
	needNetns(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	a1, a2, a3 := netip.MustParseAddr("2001:db8:ff::36"), netip.MustParseAddr("2001:db8:ff::37"), netip.MustParseAddr("2001:db8:ff::38")
	pool := newRecordingPool()
	ha1 := startFakeHA(t, fakeHAConfig{addr: a1, standardPorts: true, pool: pool})
	ha2 := startFakeHA(t, fakeHAConfig{addr: a2, standardPorts: true, pool: pool})
	ha3 := startFakeHA(t, fakeHAConfig{addr: a3, standardPorts: true, pool: pool})
	ha2.mute.Store(1 << 20)
	ha3.mute.Store(1) // ha3 answers the retransmission only
	events := newEventLog()
	c := handoverClient(t, ha1, "mn-silent@example.net", events, nil)
	runClient(t, c)
	hoa := netip.MustParseAddr(events.wait(t, ctx, EventBindingAccepted, 1).Address)
	homeAgentSwitch(t, ha1, hoa, []netip.Addr{a2, a3}, 4*time.Second, nil)

	failed := events.wait(t, ctx, EventError, 1)
	if failed.To != netip.AddrPortFrom(a2, 500).String() {
		t.Fatalf("first failure %+v, want ha2's", failed)
	}
	if err := pollUntil(ctx, func() bool { return events.count(EventSwitched) > 0 || events.count(EventError) > 1 }); err != nil {
		t.Fatal(err)
	}
	if n := events.count(EventError); n != 1 {
		t.Fatalf("%d errors: %v", n, kindsOf(events.all()))
	}
	for _, sw := range events.all() {
		if sw.Event == EventSwitched && (sw.To != a3.String() || sw.Address != hoa.String()) {
			t.Errorf("switched %+v, want to %v keeping %v", sw, a3, hoa)
		}
	}
	if b, ok := ha3.binding(hoa); !ok || b.State != mip6.StateValid {
		t.Errorf("ha3's binding %+v %v", b, ok)
	}
}
