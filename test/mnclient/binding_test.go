package mnclient

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"

	"github.com/mip6ha/mip6ha/mip6"
	"github.com/mip6ha/mip6ha/mip6/mh"
)

var testCN = netip.MustParseAddr("2001:db8:3::3")

// ipv6Packet builds an IPv6 packet with payload after a fixed header.
func ipv6Packet(src, dst netip.Addr, next uint8, payload []byte) []byte {
	p := make([]byte, 40, 40+len(payload))
	p[0] = 0x60
	binary.BigEndian.PutUint16(p[4:], uint16(len(payload)))
	p[6], p[7] = next, 64
	s, d := src.As16(), dst.As16()
	copy(p[8:], s[:])
	copy(p[24:], d[:])
	return append(p, payload...)
}

func TestIsMobilityPacket(t *testing.T) {
	hoa := netip.MustParseAddr("2001:db8:1::5")
	ba := mh.AppendPacket(nil, mh.IPv6{Src: testHAAddr, Dst: hoa}, mh.BindingAck{Sequence: 7, Lifetime: 10})
	for _, c := range []struct {
		name string
		pkt  []byte
		want bool
	}{
		{"binding acknowledgement", ba, true},
		{"no next header", ipv6Packet(testCN, hoa, mh.ProtoNone, []byte("data")), false},
		{"IPv4 with protocol 135 where IPv6 has Next Header", append([]byte{0x45, 0, 0, 40, 0, 0, 135}, make([]byte, 33)...), false},
		{"truncated", ba[:39], false},
		{"empty", nil, false},
	} {
		if got := IsMobilityPacket(c.pkt); got != c.want {
			t.Errorf("%s: IsMobilityPacket = %v, want %v", c.name, got, c.want)
		}
	}
}

// TestMobilityDeviceWrite checks that Mobility Header packets are taken
// out of a batch, in order, and the rest reaches the device unchanged.
func TestMobilityDeviceWrite(t *testing.T) {
	hoa := netip.MustParseAddr("2001:db8:1::5")
	var got [][]byte
	inner := newMemDevice(func(p []byte) { got = append(got, p) })
	mob := make(chan []byte, 4)
	d := &mobilityDevice{Device: inner, deliver: mob}
	data1 := ipv6Packet(testCN, hoa, mh.ProtoNone, []byte("one"))
	data2 := ipv6Packet(testCN, hoa, mh.ProtoNone, []byte("two"))
	ba := mh.AppendPacket(nil, mh.IPv6{Src: testHAAddr, Dst: hoa}, mh.BindingAck{Sequence: 1})
	brr := mh.AppendPacket(nil, mh.IPv6{Src: testHAAddr, Dst: hoa}, mh.BindingRefreshRequest{})
	n, err := d.Write([][]byte{ba, data1, brr, data2})
	if n != 4 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if len(got) != 2 || !bytes.Equal(got[0], data1) || !bytes.Equal(got[1], data2) {
		t.Errorf("device got %q", got)
	}
	if len(mob) != 2 || !bytes.Equal(<-mob, ba) || !bytes.Equal(<-mob, brr) {
		t.Errorf("mobility packets not delivered in order")
	}
	// A full queue drops and counts.
	for range 5 {
		d.Write([][]byte{ba})
	}
	if d.dropped.Load() != 1 {
		t.Errorf("dropped = %d, want 1", d.dropped.Load())
	}
}

// TestBindingInTunnel attaches a mobile node to a home agent, registers
// its binding with a Binding Update inside the tunnel (RFC 4877 §3), moves
// data both ways, and deregisters on detach.
func TestBindingInTunnel(t *testing.T) {
	needNetns(t)
	ha := startFakeHA(t, fakeHAConfig{})
	events := newEventLog()
	received := make(chan []byte, 16)
	cfg := ha.clientConfig("mn1@example.net", events)
	cfg.Received = func(p []byte) { received <- p }
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := runClient(t, c)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	home := events.wait(t, ctx, EventHomeAddress, 1)
	hoa := netip.MustParsePrefix(home.Address).Addr()
	acc := events.wait(t, ctx, EventBindingAccepted, 1)
	if acc.Address != hoa.String() || acc.HomeAgent != testHAAddr.String() || acc.Lifetime != 60 || acc.Sequence == 0 ||
		!acc.KeyManagement || acc.StatusCode != 0 || acc.LatencyMS <= 0 || acc.CoA != c.Status().CoA.String() {
		t.Errorf("binding_accepted %+v (home address %v, care-of address %v)", acc, hoa, c.Status().CoA)
	}
	b, ok := ha.binding(hoa)
	if !ok || b.State != mip6.StateValid || b.CoA != c.Status().CoA || b.Identity != "ID_RFC822_ADDR:mn1@example.net" || !b.InTunnel ||
		b.Flags&mh.BUFlagK == 0 || b.Sequence != uint16(acc.Sequence) {
		t.Errorf("home agent's binding %+v, %v", b, ok)
	}
	if st := c.Status(); !st.Attached || !st.Bound || st.HoA != hoa {
		t.Errorf("status %+v", st)
	}

	// Data from a correspondent node reaches the node, and back.
	down := ipv6Packet(testCN, hoa, mh.ProtoNone, []byte("to the home address"))
	ha.dev.Outgoing <- down
	select {
	case p := <-received:
		if !bytes.Equal(p, down) {
			t.Errorf("received %x, want %x", p, down)
		}
	case <-ctx.Done():
		t.Fatal("no packet from the tunnel")
	}
	up := ipv6Packet(hoa, testCN, mh.ProtoNone, []byte("from the home address"))
	if err := c.Send(up); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-ha.data:
		if !bytes.Equal(p, up) {
			t.Errorf("home agent got %x, want %x", p, up)
		}
	case <-ctx.Done():
		t.Fatal("no packet at the home agent")
	}

	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	kinds := kindsOf(events.all())
	dereg, detached := slices.Index(kinds, EventDeregistered), slices.Index(kinds, EventDetached)
	if dereg < 0 || detached < dereg {
		t.Errorf("events %v: want deregistered, then detached", kinds)
	}
	if b, ok := ha.binding(hoa); ok && b.State == mip6.StateValid {
		t.Errorf("binding still valid after detach: %+v", b)
	}
}

func kindsOf(es []Event) []string {
	var k []string
	for _, e := range es {
		k = append(k, e.Event)
	}
	return k
}

// TestBindingRetransmission: unanswered Binding Updates are sent again
// (RFC 6275 §11.8), each with a new sequence number.
func TestBindingRetransmission(t *testing.T) {
	needNetns(t)
	ha := startFakeHA(t, fakeHAConfig{})
	ha.mute.Store(2)
	events := newEventLog()
	cfg := ha.clientConfig("mn2@example.net", events)
	cfg.MobileNode = mip6.MobileNodeConfig{InitialBindackTimeoutFirstReg: 100 * time.Millisecond, InitialBindackTimeout: 100 * time.Millisecond}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	acc := events.wait(t, ctx, EventBindingAccepted, 1)
	if acc.Sequence != 3 {
		t.Errorf("accepted sequence %d, want 3 (two Binding Updates unanswered)", acc.Sequence)
	}
}

// TestBindingResynchronises: a node that lost its sequence number (a new
// process for the same identity and home address) gets status 135 with
// the home agent's last number and registers with the next one (RFC 6275
// §11.7.3).
func TestBindingResynchronises(t *testing.T) {
	needNetns(t)
	ha := startFakeHA(t, fakeHAConfig{})
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	first := newEventLog()
	cfg := ha.clientConfig("mn3@example.net", first)
	cfg.MobileNode.InitialBindackTimeout = 100 * time.Millisecond
	c1, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop1 := runClient(t, c1)
	acc1 := first.wait(t, ctx, EventBindingAccepted, 1)
	// Two more registrations raise the home agent's sequence number.
	for i := 2; i <= 3; i++ {
		if err := c1.Move(ctx, true); err != nil {
			t.Fatal(err)
		}
		first.wait(t, ctx, EventBindingAccepted, i)
	}
	hoa := c1.Status().HoA
	before, _ := ha.binding(hoa)
	// Leave without deregistering: the home agent keeps the binding.
	if err := c1.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	first.wait(t, ctx, EventDetached, 1)
	if err := stop1(); !errors.Is(err, ErrDetached) {
		t.Fatalf("Run after Delete: %v, want ErrDetached", err)
	}

	second := newEventLog()
	cfg = ha.clientConfig("mn3@example.net", second)
	cfg.HoA = hoa
	cfg.MobileNode.InitialBindackTimeout = 100 * time.Millisecond
	c2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c2)
	acc2 := second.wait(t, ctx, EventBindingAccepted, 1)
	if !mip6.SequenceGreater(uint16(acc2.Sequence), before.Sequence) || acc2.Address != hoa.String() {
		t.Errorf("second node accepted with sequence %d for %s; home agent had %d for %v (first node started at %d)",
			acc2.Sequence, acc2.Address, before.Sequence, hoa, acc1.Sequence)
	}
	if !slices.Contains(ha.statuses(), mh.StatusSequenceOutOfWindow) {
		t.Errorf("home agent statuses %v: no 135", ha.statuses())
	}
	if second.count(EventBindingRejected) != 0 {
		t.Errorf("135 reported as a rejection: %v", kindsOf(second.all()))
	}
}

// TestBindingRejected: a home address off the home agent's prefixes gets
// status 132 (RFC 6275 §10.3.1), reported as binding_rejected, not as an
// error; the IKE SA stays.
func TestBindingRejected(t *testing.T) {
	needNetns(t)
	ha := startFakeHA(t, fakeHAConfig{homePrefixes: []netip.Prefix{netip.MustParsePrefix("2001:db8:99::/64")}})
	events := newEventLog()
	c, err := New(ha.clientConfig("mn4@example.net", events))
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	rej := events.wait(t, ctx, EventBindingRejected, 1)
	if rej.StatusCode != int(mh.StatusNotHomeSubnet) || rej.Status == "" {
		t.Errorf("binding_rejected %+v, want status 132", rej)
	}
	if st := c.Status(); !st.Attached || st.Bound {
		t.Errorf("status %+v: want attached, not bound", st)
	}
}

// TestTUNBinding runs the node with its TUN device: the Binding Update
// enters the device through a packet socket, the Binding Acknowledgement
// is taken out before the kernel sees it, and the node's own stack
// answers a ping that comes through the tunnel, from its home address.
func TestTUNBinding(t *testing.T) {
	needNetns(t)
	ha := startFakeHA(t, fakeHAConfig{})
	events := newEventLog()
	cfg := ha.clientConfig("mn5@example.net", events)
	cfg.InMemory, cfg.TUN = false, "mntest0"
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	events.wait(t, ctx, EventBindingAccepted, 1)
	hoa := c.Status().HoA

	echo, err := (&icmp.Message{Type: ipv6.ICMPTypeEchoRequest, Body: &icmp.Echo{ID: 7, Seq: 1, Data: []byte("ping")}}).
		Marshal(icmp.IPv6PseudoHeader(testCN.AsSlice(), hoa.AsSlice()))
	if err != nil {
		t.Fatal(err)
	}
	request := ipv6Packet(testCN, hoa, 58, echo)
	ha.dev.Outgoing <- request
	again := time.NewTicker(200 * time.Millisecond) // like ping: a lost request is sent again
	defer again.Stop()
	for {
		select {
		case p := <-ha.data:
			if len(p) > 40 && p[6] == 58 && p[40] == byte(ipv6.ICMPTypeEchoReply) {
				src, _ := netip.AddrFromSlice(p[8:24])
				if src != hoa {
					t.Errorf("echo reply from %v, want the home address %v", src, hoa)
				}
				return
			}
		case <-again.C:
			ha.dev.Outgoing <- request
		case <-ctx.Done():
			t.Fatalf("no echo reply through the tunnel; events %v; node's dataplane %+v; home agent's %+v",
				kindsOf(events.all()), c.dp.Stats(), ha.rt.Stats().Dataplane)
		}
	}
}

// TestBindingRefresh: the node refreshes its binding before it expires
// (here after a tenth of the lifetime) and when the home agent asks with a
// Binding Refresh Request (RFC 6275 §11.7.4); both are binding_refreshed.
func TestBindingRefresh(t *testing.T) {
	needNetns(t)
	ha := startFakeHA(t, fakeHAConfig{})
	events := newEventLog()
	cfg := ha.clientConfig("mn6@example.net", events)
	cfg.Lifetime = 8 * time.Second
	cfg.MobileNode.RefreshFraction = 0.1
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	acc := events.wait(t, ctx, EventBindingAccepted, 1)
	ref := events.wait(t, ctx, EventBindingRefreshed, 1)
	if ref.Lifetime != 8 || !mip6.SequenceGreater(uint16(ref.Sequence), uint16(acc.Sequence)) || ref.LatencyMS != 0 {
		t.Errorf("binding_refreshed %+v after %+v", ref, acc)
	}

	// A Binding Refresh Request is answered at once with a Binding Update.
	hoa := c.Status().HoA
	brr, err := ha.mip.RefreshRequest(hoa)
	if err != nil {
		t.Fatal(err)
	}
	before := events.count(EventBindingRefreshed)
	ha.dev.Outgoing <- brr.AppendPacket(nil)
	events.wait(t, ctx, EventBindingRefreshed, before+1)
}

// TestDetachWithoutDeregistrationAnswer: a home agent that does not
// answer the deregistration does not keep a detaching node: after
// DetachTimeout it deletes the IKE SA anyway, and Run returns.
func TestDetachWithoutDeregistrationAnswer(t *testing.T) {
	needNetns(t)
	ha := startFakeHA(t, fakeHAConfig{})
	events := newEventLog()
	cfg := ha.clientConfig("mn7@example.net", events)
	cfg.DetachTimeout = 200 * time.Millisecond
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stop := runClient(t, c)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	events.wait(t, ctx, EventBindingAccepted, 1)
	ha.mute.Store(1 << 30) // Binding Updates unanswered from now on
	start := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("detach took %v", d)
	}
	if events.count(EventDeregistered) != 0 || events.count(EventDetached) != 1 {
		t.Errorf("events %v", kindsOf(events.all()))
	}
}

// TestHomeAgentSwitchEvent: a Home Agent Switch (RFC 5142) from the
// node's home agent is reported with the home agents it names, and the
// binding update list deregisters (no Binding Refresh Advice: at once,
// while the node is still setting up its IKE SA with the new home agent,
// which here never answers).
func TestHomeAgentSwitchEvent(t *testing.T) {
	needNetns(t)
	ha := startFakeHA(t, fakeHAConfig{})
	events := newEventLog()
	c, err := New(ha.clientConfig("mn8@example.net", events))
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	events.wait(t, ctx, EventBindingAccepted, 1)
	other := netip.MustParseAddr("2001:db8:ff::3") // on the test link, silent
	now := time.Now()
	if err := ha.mip.Switch(now, c.Status().HoA, []netip.Addr{other}, 0); err != nil {
		t.Fatal(err)
	}
	sent := 0
	for _, e := range ha.mip.Tick(now, nil) {
		if e.Kind == mip6.EventSendHAS {
			ha.dev.Outgoing <- e.Send.AppendPacket(nil)
			sent++
		}
	}
	if sent != 1 {
		t.Fatalf("home agent sent %d Home Agent Switch messages", sent)
	}
	has := events.wait(t, ctx, EventHomeAgentSwitch, 1)
	if has.From != testHAAddr.String() || len(has.Addresses) != 1 || has.Addresses[0] != other.String() {
		t.Errorf("home_agent_switch %+v", has)
	}
	events.wait(t, ctx, EventDeregistered, 1)
	if st := c.Status(); st.Bound || !st.Attached {
		t.Errorf("status after the switch %+v", st)
	}
}

// TestCommandAfterRun: commands to a client whose Run has returned fail
// at once.
func TestCommandAfterRun(t *testing.T) {
	needNetns(t)
	ha := startFakeHA(t, fakeHAConfig{})
	events := newEventLog()
	c, err := New(ha.clientConfig("mn9@example.net", events))
	if err != nil {
		t.Fatal(err)
	}
	stop := runClient(t, c)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	events.wait(t, ctx, EventChildInstalled, 1)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if err := c.CheckLiveness(ctx); !errors.Is(err, ErrStopped) {
		t.Errorf("CheckLiveness after Run: %v, want ErrStopped", err)
	}
}

// TestCareOfAddressAfterHomeAgentSwitch: the node's home agent sent a
// Home Agent Switch with a Binding Refresh Advice that names no home agent
// the node can use, so it stays until the binding update list deregisters
// half-way through the advice (RFC 5142 §6.1). A care-of address signalled
// meanwhile (Move with force, as SIGHUP) must not re-register: the home
// agent refuses extensions after a switch with status 129 (RFC 5142 §5.3),
// and the deregistration the switch asked for must still happen.
func TestCareOfAddressAfterHomeAgentSwitch(t *testing.T) {
	needNetns(t)
	ha := startFakeHA(t, fakeHAConfig{})
	events := newEventLog()
	c, err := New(ha.clientConfig("mn10@example.net", events))
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	hoa := netip.MustParseAddr(events.wait(t, ctx, EventBindingAccepted, 1).Address)
	homeAgentSwitch(t, ha, hoa, nil, 8*time.Second, nil) // no address: the node does no home agent discovery
	events.wait(t, ctx, EventError, 1)                   // no home agent to go to
	if err := c.Move(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := pollUntil(ctx, func() bool { return events.count(EventDeregistered) > 0 }); err != nil {
		t.Fatalf("no deregistration after the switch: %v; events %v, statuses %v", err, kindsOf(events.all()), ha.statuses())
	}
	for _, st := range ha.statuses() {
		if st == mh.StatusAdministrativelyProhibited {
			t.Errorf("the node tried to extend its binding after the switch: statuses %v", ha.statuses())
		}
	}
	if n := events.count(EventBindingRejected); n != 0 {
		t.Errorf("%d bindings rejected: %v", n, kindsOf(events.all()))
	}
}
