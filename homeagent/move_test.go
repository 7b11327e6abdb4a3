package homeagent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/mip6ha/mip6ha/homeagent/admin"
	"github.com/mip6ha/mip6ha/homeagent/config"
	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/telemetry"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
	"github.com/mip6ha/mip6ha/mip6"
	"github.com/mip6ha/mip6ha/mip6/mh"
	"github.com/mip6ha/mip6ha/policy"
	oteltest "github.com/mip6ha/mip6ha/test/otel"
)

// Care-of addresses the mobile nodes of the move tests report.
var (
	coaWest = netip.MustParseAddr("2001:db8:100::10")
	coaEast = netip.MustParseAddr("2001:db8:200::10")
)

// eastSites puts every client on the loopback in site east, near ha1:
// nodes attach there and stay until something moves them.
var eastSites = []config.SitePrefix{{Prefix: "127.0.0.0/8", Site: "east"}}

// twoMembers starts ha1 (east) and ha2 (west) with cfg changed by edit
// (for both), and waits until each sees the other.
func twoMembers(t *testing.T, ctx context.Context, lab *clusterLab, edit func(*config.Config)) (ha1, ha2 *member) {
	t.Helper()
	c1, c2 := lab.config("ha1", 1, "east"), lab.config("ha2", 2, "west")
	if edit != nil {
		edit(c1)
		edit(c2)
	}
	ha1, ha2 = lab.start(c1), lab.start(c2)
	ha1.awaitMembers(t, ctx, "ha1", "ha2")
	ha2.awaitMembers(t, ctx, "ha1", "ha2")
	return ha1, ha2
}

// attachBound attaches mn to ha and registers its binding there (care-of
// address coa); it returns the IKE SA and the home address.
func attachBound(t *testing.T, ctx context.Context, mn *testMN, ha *member, coa netip.Addr) (SAID, netip.Addr) {
	t.Helper()
	sa, hoa := mn.attach(t, ctx, ha.peer(t), netip.Addr{}, innerNet, netip.PrefixFrom(ha.addr6, 128))
	if ba := mn.bind(t, ctx, hoa, ha.addr6, coa, 1, time.Minute); ba.Status != mh.StatusAccepted {
		t.Fatalf("BA at %s: status %v", ha.id, ba.Status)
	}
	return sa, hoa
}

// follow is the mobile node's side of a Home Agent Switch
// (docs/cluster.md): an IKE SA with the new home agent first (REDIRECTED_FROM
// naming the old one, its current home address in CFG_REQUEST, the ticket),
// then a Binding Update there, then the deregistration at the old home agent
// through the old IKE SA, then the old IKE SA's deletion. It returns the
// IKE SA with the new home agent.
func (mn *testMN) follow(t *testing.T, ctx context.Context, old, next *member, oldSA SAID, hoa netip.Addr, opt HandoverOption, seq uint16) SAID {
	t.Helper()
	p := next.peer(t)
	p.RedirectedFrom, p.Ticket = gatewayOf(old), opt.Ticket
	sa, got := mn.attach(t, ctx, p, hoa, innerNet, netip.PrefixFrom(next.addr6, 128))
	if got != hoa {
		t.Fatalf("%s assigned %v, the node held %v", next.id, got, hoa)
	}
	if ba := mn.bind(t, ctx, hoa, next.addr6, coaWest, seq, time.Minute); ba.Status != mh.StatusAccepted {
		t.Fatalf("BA at %s: status %v", next.id, ba.Status)
	}
	if ba := mn.bind(t, ctx, hoa, old.addr6, coaWest, seq, 0); ba.Status != mh.StatusAccepted {
		t.Fatalf("deregistration at %s: status %v", old.id, ba.Status)
	}
	if err := mn.rt.Delete(ctx, oldSA); err != nil {
		t.Fatal(err)
	}
	return sa
}

// TestMoveBoundNode: an operator moves a node with a binding from ha1 to
// ha2, make-before-break (docs/cluster.md): ha1 marks the lease moving and
// sends a Home Agent Switch naming ha2 with the grace period and the
// handover option; the node sets up its IKE SA with ha2 first, presenting
// the ticket, and gets its home address; ha2 transfers the lease by CAS,
// skips DAD (ha1 still defends the address) and defends it when it
// accepts the Binding Update; ha1 answers the deregistration and only then
// stops defending. The lease is served by exactly one member at every
// revision, traffic flows through ha2, and the move is one trace with spans
// of both members.
func TestMoveBoundNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	lab := newClusterLab(t)
	rcv := oteltest.NewReceiver(t)
	lab.otlp = rcv.HTTPEndpoint()
	hist := watchHistory(t, lab)
	ha1, ha2 := twoMembers(t, ctx, lab, func(c *config.Config) { c.Cluster.Sites = eastSites })

	mn := mobileNode(t, "mn1.example", "127.0.0.50", Options{RedirectExtensions: true})
	sa1, hoa := attachBound(t, ctx, mn, ha1, coaWest)
	lab.segment.await(t, ctx, "ha1", true, hoa)
	awaitMember(t, ctx, ha2, "ha1", func(m policy.Member) bool { return m.Load == 1 })

	client, err := admin.NewClient(ha1.svc.cfg.Admin.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	from := mn.inbox.len()
	mv, err := client.Move(ctx, admin.MoveRequest{Identity: "mn1.example", To: "ha2"})
	if err != nil {
		t.Fatal(err)
	}
	if mv.Method != admin.MethodHomeAgentSwitch || mv.From != "ha1" || mv.To != "ha2" || mv.HoA != hoa ||
		mv.Addr != ha2.ip || mv.TraceID == "" || time.Until(mv.Deadline) <= 0 {
		t.Errorf("move %+v", mv)
	}
	if _, err := client.Move(ctx, admin.MoveRequest{HoA: hoa, To: "ha2"}); err == nil {
		t.Error("a second move of the same node was accepted")
	}

	// The Home Agent Switch (RFC 5142): ha2's home agent address, the grace
	// period as Binding Refresh Advice, and the handover option.
	has, opt := mn.awaitSwitch(t, ctx, from)
	if !slices.Equal(has.Addresses, []netip.Addr{ha2.addr6}) {
		t.Errorf("Home Agent Switch names %v, want %v", has.Addresses, ha2.addr6)
	}
	// The advice counts whole units of 4 s of what is left of the 8 s grace
	// period when the switch goes out.
	if bra, ok := has.Options.BindingRefreshAdvice(); !ok || bra.Interval.Duration() < 4*time.Second || bra.Interval.Duration() > 8*time.Second {
		t.Errorf("Binding Refresh Advice %v (%v), want the 8 s grace period", bra.Interval.Duration(), ok)
	}
	sc, err := telemetry.ParseTraceparent(opt.TraceContext)
	if err != nil || sc.TraceID().String() != mv.TraceID {
		t.Errorf("trace context %q (%v), want the move's trace %s", opt.TraceContext, err, mv.TraceID)
	}
	if opt.Gateway != netip.AddrPortFrom(ha2.ip, 0) || len(opt.Ticket) == 0 {
		t.Errorf("handover option %+v: want gateway %v and a ticket", opt, ha2.ip)
	}
	moving := hist.await(t, ctx, hoa, func(l store.Lease) bool { return l.State == store.StateMoving })
	if moving.Owner != "ha1" || moving.MovingTo != "ha2" || !bytes.Equal(moving.TicketHash, ticketHash(opt.Ticket)) ||
		moving.TraceContext == "" {
		t.Errorf("lease while moving: %v (ticket hash %x)", moving, moving.TicketHash)
	}

	// The node follows, make-before-break.
	mn.follow(t, ctx, ha1, ha2, sa1, hoa, opt, 2)
	defended := lab.segment.await(t, ctx, "ha2", true, hoa)
	released := lab.segment.await(t, ctx, "ha1", false, hoa)
	if released.at.Before(defended.at) {
		t.Errorf("ha1 stopped defending %v at %v, before ha2 started at %v", hoa, released.at, defended.at)
	}
	if down := waitFor[ike.IKEDown](t, ctx, mn.events, new(int), nil); down.Reason != ike.DownDeleted {
		t.Errorf("old IKE SA ended %+v", down)
	}
	hist.await(t, ctx, hoa, func(l store.Lease) bool { return l.Owner == "ha2" && l.State == store.StateBound })
	checkSingleOwner(t, hist.of(hoa), false)
	// The handover's duration is recorded once, by the member that serves
	// the address now.
	if n := ha2.metric(t, "mip6ha_handover_duration_seconds_count", `result="ok"`); n != 1 {
		t.Errorf("ha2 recorded %v handovers, want 1", n)
	}
	if n := ha1.metric(t, "mip6ha_handover_duration_seconds_count"); n > 0 {
		t.Errorf("ha1 recorded %v handovers, want none", n)
	}

	// Traffic for the home address goes through ha2 now.
	ha2.tun.Outgoing <- udpPacket(innerAddr, hoa, "through ha2")
	mn.inbox.awaitData(t, ctx, innerAddr)

	// One trace: the move at ha1, the lease transfer and the Binding
	// Update at ha2.
	tid, _ := trace.TraceIDFromHex(mv.TraceID)
	spans, err := rcv.AwaitTrace(ctx, func(spans []oteltest.Span) bool {
		if len(spans) == 0 || spans[0].TraceID != tid {
			return false
		}
		_, move := oteltest.Find(spans, oteltest.All(oteltest.Named(telemetry.SpanMove), oteltest.From("mip6ha-homeagent", "ha1")))
		_, transfer := oteltest.Find(spans, oteltest.All(oteltest.Named("lease.transfer"), oteltest.From("mip6ha-homeagent", "ha2")))
		_, bu := oteltest.Find(spans, oteltest.All(oteltest.Named(telemetry.SpanBindingUpdate), oteltest.From("mip6ha-homeagent", "ha2")))
		_, has := oteltest.Find(spans, oteltest.All(oteltest.Named(telemetry.SpanHomeAgentSwitch), oteltest.From("mip6ha-homeagent", "ha1")))
		return move && transfer && bu && has
	})
	if err != nil {
		t.Fatalf("the move's trace %s: %v; spans received: %d", mv.TraceID, err, len(rcv.Spans()))
	}
	if err := oteltest.CheckTrace(spans); err != nil {
		t.Error(err)
	}
	if svcs := oteltest.Services(spans); len(svcs) == 0 {
		t.Error("no services in the trace")
	}
}

// TestMoveThereAndBack: a node moved from ha1 to ha2 and back to ha1
// within ike.redirect.grace keeps its new IKE SA and binding at ha1. When
// the lease went to ha2, ha1 set itself to withdraw what it still did for
// the address once the grace period was over; the node deregistered and
// deleted its old IKE SA meanwhile, and then came back: the address is
// ha1's again, and nothing of the node's new registration is withdrawn.
func TestMoveThereAndBack(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	lab := newClusterLab(t)
	const grace = 2 * time.Second
	ha1, ha2 := twoMembers(t, ctx, lab, func(c *config.Config) {
		c.Cluster.Sites = eastSites
		c.IKE.Redirect.Grace = grace
	})
	mn := mobileNode(t, "mn1.example", "127.0.0.58", Options{RedirectExtensions: true})
	sa1, hoa := attachBound(t, ctx, mn, ha1, coaWest)

	from := mn.inbox.len()
	if _, err := ha1.svc.Move(ctx, admin.MoveRequest{HoA: hoa, To: "ha2"}); err != nil {
		t.Fatal(err)
	}
	_, opt := mn.awaitSwitch(t, ctx, from)
	sa2 := mn.follow(t, ctx, ha1, ha2, sa1, hoa, opt, 2)
	lingerOver := time.Now().Add(grace) // ha1 saw the lease go before the node deregistered there

	from = mn.inbox.len()
	if _, err := ha2.svc.Move(ctx, admin.MoveRequest{HoA: hoa, To: "ha1"}); err != nil {
		t.Fatal(err)
	}
	_, opt = mn.awaitSwitch(t, ctx, from)
	sa3 := mn.follow(t, ctx, ha2, ha1, sa2, hoa, opt, 3)
	if !ha1.link.isDefending(hoa) { // before its Binding Acknowledgement
		t.Fatalf("ha1 did not defend %v again after the node came back", hoa)
	}

	// Past the grace period that began with the first move, and past
	// whatever the mobility goroutine was asked to do until then.
	select {
	case <-time.After(time.Until(lingerOver) + 100*time.Millisecond):
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	synced := make(chan struct{})
	ha1.svc.mobility.post(func(context.Context) { close(synced) })
	<-synced

	if !ha1.link.isDefending(hoa) {
		t.Errorf("ha1 stopped defending %v, the address of a node it serves", hoa)
	}
	if b, ok := ha1.svc.ha.Lookup(hoa); !ok || b.State != mip6.StateValid {
		t.Errorf("binding at ha1: %+v (%v), want valid", b, ok)
	}
	if ps := ha1.svc.peers.holding(hoa); len(ps) != 1 {
		t.Errorf("IKE SAs at ha1 holding %v: %d, want the node's new one", hoa, len(ps))
	}
	mn.events.mu.Lock()
	for _, e := range mn.events.events {
		if down, ok := e.IKE.(ike.IKEDown); ok && e.SA == sa3 {
			t.Errorf("the node's IKE SA with ha1 ended: %+v", down)
		}
	}
	mn.events.mu.Unlock()
}

// TestMoveOldSAWithdrawnAfterGrace: a node that moved to ha2 but neither
// deregisters at ha1 nor deletes its old IKE SA there is served by ha1
// (binding, defence, the old tunnel) until ike.redirect.grace after the
// lease went; then ha1 withdraws them and deletes the old IKE SA.
func TestMoveOldSAWithdrawnAfterGrace(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	lab := newClusterLab(t)
	const grace = time.Second
	ha1, ha2 := twoMembers(t, ctx, lab, func(c *config.Config) {
		c.Cluster.Sites = eastSites
		c.IKE.Redirect.Grace = grace
	})
	mn := mobileNode(t, "mn1.example", "127.0.0.59", Options{RedirectExtensions: true})
	sa1, hoa := attachBound(t, ctx, mn, ha1, coaWest)
	from := mn.inbox.len()
	if _, err := ha1.svc.Move(ctx, admin.MoveRequest{HoA: hoa, To: "ha2"}); err != nil {
		t.Fatal(err)
	}
	_, opt := mn.awaitSwitch(t, ctx, from)
	p := ha2.peer(t)
	p.RedirectedFrom, p.Ticket = gatewayOf(ha1), opt.Ticket
	moved := time.Now() // before ha2 takes the lease
	mn.attach(t, ctx, p, hoa, innerNet, netip.PrefixFrom(ha2.addr6, 128))
	if ba := mn.bind(t, ctx, hoa, ha2.addr6, coaWest, 2, time.Minute); ba.Status != mh.StatusAccepted {
		t.Fatalf("BA at ha2: status %v", ba.Status)
	}
	down := waitFor[ike.IKEDown](t, ctx, mn.events, new(int), nil)
	if down.Reason != ike.DownDeletedByPeer {
		t.Errorf("old IKE SA ended %+v, want deleted by ha1", down)
	}
	if waited := time.Since(moved); waited < grace {
		t.Errorf("ha1 deleted the old IKE SA %v after the move, before the grace period of %v", waited, grace)
	}
	mn.events.mu.Lock()
	for _, e := range mn.events.events {
		if _, ok := e.IKE.(ike.IKEDown); ok && e.SA != sa1 {
			t.Errorf("IKE SA %v ended, want only the old one (%v)", e.SA, sa1)
		}
	}
	mn.events.mu.Unlock()
	lab.segment.await(t, ctx, "ha1", false, hoa)
	if !ha2.link.isDefending(hoa) {
		t.Errorf("ha2 does not defend %v", hoa)
	}
}

// TestMoveBackAfterRelease: ha1 counts a lease as departed while an IKE SA
// there still holds the address after a move (it keeps forwarding, it does
// not defend); once the lease is ha1's again, by any way (here: the node
// left ha2, which released it, and attached at ha1 again while its old IKE
// SA with ha1 was still up), ha1 defends the address of the node's new
// binding.
func TestMoveBackAfterRelease(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	lab := newClusterLab(t)
	hist := watchHistory(t, lab)
	ha1, ha2 := twoMembers(t, ctx, lab, func(c *config.Config) { c.Cluster.Sites = eastSites })
	mn := mobileNode(t, "mn1.example", "127.0.0.60", Options{RedirectExtensions: true})
	_, hoa := attachBound(t, ctx, mn, ha1, coaWest)

	// To ha2; the node deregisters at ha1 but keeps its IKE SA there.
	from := mn.inbox.len()
	if _, err := ha1.svc.Move(ctx, admin.MoveRequest{HoA: hoa, To: "ha2"}); err != nil {
		t.Fatal(err)
	}
	_, opt := mn.awaitSwitch(t, ctx, from)
	p := ha2.peer(t)
	p.RedirectedFrom, p.Ticket = gatewayOf(ha1), opt.Ticket
	sa2, _ := mn.attach(t, ctx, p, hoa, innerNet, netip.PrefixFrom(ha2.addr6, 128))
	if ba := mn.bind(t, ctx, hoa, ha2.addr6, coaWest, 2, time.Minute); ba.Status != mh.StatusAccepted {
		t.Fatalf("BA at ha2: status %v", ba.Status)
	}
	if ba := mn.bind(t, ctx, hoa, ha1.addr6, coaWest, 2, 0); ba.Status != mh.StatusAccepted {
		t.Fatalf("deregistration at ha1: status %v", ba.Status)
	}
	for !ha1.svc.mover.isDeparted(hoa) {
		select { // ha1's lease watch shows the lease at ha2
		case <-ctx.Done():
			t.Fatal("ha1 never saw the lease go to ha2")
		case <-time.After(10 * time.Millisecond):
		}
	}

	// The node leaves ha2 and comes back to ha1.
	if err := mn.rt.Delete(ctx, sa2); err != nil {
		t.Fatal(err)
	}
	hist.await(t, ctx, hoa, func(l store.Lease) bool { return l.State == store.StateReleased })
	lab.segment.await(t, ctx, "ha2", false, hoa)
	if _, got := mn.attach(t, ctx, ha1.peer(t), hoa, innerNet, netip.PrefixFrom(ha1.addr6, 128)); got != hoa {
		t.Fatalf("ha1 assigned %v, the node held %v", got, hoa)
	}
	if ba := mn.bind(t, ctx, hoa, ha1.addr6, coaWest, 3, time.Minute); ba.Status != mh.StatusAccepted {
		t.Fatalf("BA at ha1: status %v", ba.Status)
	}
	if !ha1.link.isDefending(hoa) { // before its Binding Acknowledgement
		t.Errorf("ha1 does not defend %v, whose lease and binding it has", hoa)
	}
	if ha1.svc.mover.isDeparted(hoa) {
		t.Errorf("ha1 still counts %v as moved away", hoa)
	}
}

// TestMoveVPNOnlyPeer: a peer without a binding that announced RFC 5685
// support, as a stock strongSwan client does, is moved with an
// INFORMATIONAL REDIRECT (RFC 5685 §5) without a ticket (it announced no
// extension); it sets up its IKE SA with ha2 asking for any address and
// gets the address it held, which ha2 defends at once; ha1 defends it until
// the client deletes its old IKE SA.
func TestMoveVPNOnlyPeer(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	lab := newClusterLab(t)
	lab.vpnGrace = 50 * time.Millisecond
	hist := watchHistory(t, lab)
	ha1, ha2 := twoMembers(t, ctx, lab, func(c *config.Config) { c.Cluster.Sites = eastSites })
	mn := mobileNode(t, "vpn1.example", "127.0.0.52", Options{})
	sa1, hoa := mn.attach(t, ctx, ha1.peer(t), netip.Addr{}, innerNet)
	lab.segment.await(t, ctx, "ha1", true, hoa)

	mv, err := ha1.svc.Move(ctx, admin.MoveRequest{HoA: hoa, To: "ha2"})
	if err != nil {
		t.Fatal(err)
	}
	if mv.Method != admin.MethodRedirect || mv.Identity != "ID_FQDN:vpn1.example" {
		t.Errorf("move %+v", mv)
	}
	from := 0
	rd := waitFor[ike.RedirectReceived](t, ctx, mn.events, &from, nil)
	if rd.Exchange != wire.ExchangeInformational || rd.Target.Gateway != wire.GatewayAddr(ha2.ip) || rd.Target.Ticket != nil {
		t.Fatalf("redirect %+v: want INFORMATIONAL to %v without a ticket", rd, ha2.ip)
	}
	p := ha2.peer(t)
	p.RedirectedFrom = &rd.From
	_, got := mn.attach(t, ctx, p, netip.Addr{}, innerNet)
	if got != hoa {
		t.Fatalf("ha2 assigned %v to the client that held %v", got, hoa)
	}
	defended := lab.segment.await(t, ctx, "ha2", true, hoa)
	if err := mn.rt.Delete(ctx, sa1); err != nil {
		t.Fatal(err)
	}
	released := lab.segment.await(t, ctx, "ha1", false, hoa)
	if released.at.Before(defended.at) {
		t.Errorf("ha1 released %v before ha2 defended it", hoa)
	}
	hist.await(t, ctx, hoa, func(l store.Lease) bool { return l.Owner == "ha2" })
	checkSingleOwner(t, hist.of(hoa), false)
}

// TestMoveLapses: a node that does not follow its Home Agent Switch by the
// deadline keeps its lease at ha1: the move is called off (CancelMove) and
// its traffic still flows through ha1.
func TestMoveLapses(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	lab := newClusterLab(t)
	hist := watchHistory(t, lab)
	ha1, _ := twoMembers(t, ctx, lab, func(c *config.Config) {
		c.Cluster.Sites = eastSites
		c.MIP6.GracePeriod = 4 * time.Second
	})
	mn := mobileNode(t, "mn1.example", "127.0.0.53", Options{RedirectExtensions: true})
	_, hoa := attachBound(t, ctx, mn, ha1, coaWest)
	from := mn.inbox.len()
	mv, err := ha1.svc.Move(ctx, admin.MoveRequest{Identity: "mn1.example", To: "ha2"})
	if err != nil {
		t.Fatal(err)
	}
	mn.awaitSwitch(t, ctx, from)
	moving := hist.await(t, ctx, hoa, func(l store.Lease) bool { return l.State == store.StateMoving })
	back := hist.await(t, ctx, hoa, func(l store.Lease) bool { return l.Revision > moving.Revision })
	if back.State != store.StateBound || back.Owner != "ha1" || back.MovingTo != "" {
		t.Errorf("after the deadline: %v, want bound at ha1", back)
	}
	if early := mv.Deadline.Sub(back.UpdatedAt); early > 100*time.Millisecond {
		t.Errorf("move called off %v before its deadline", early)
	}
	ha1.awaitMetric(t, ctx, 1, "mip6ha_handover_duration_seconds_count", `result="timeout"`)
	ha1.tun.Outgoing <- udpPacket(innerAddr, hoa, "still through ha1")
	mn.inbox.awaitData(t, ctx, innerAddr)
}

// TestMoveRefusedByBindingError: a node that does not know the Home Agent
// Switch answers it with a Binding Error, status 2 (RFC 5142 §5.3): the
// move is called off at once, long before its deadline, with the lease
// bound here again and the move recorded as failed; traffic still flows
// through ha1.
func TestMoveRefusedByBindingError(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	lab := newClusterLab(t)
	hist := watchHistory(t, lab)
	ha1, _ := twoMembers(t, ctx, lab, func(c *config.Config) {
		c.Cluster.Sites = eastSites
		c.MIP6.GracePeriod = time.Minute
	})
	mn := mobileNode(t, "mn1.example", "127.0.0.54", Options{RedirectExtensions: true})
	_, hoa := attachBound(t, ctx, mn, ha1, coaWest)
	from := mn.inbox.len()
	mv, err := ha1.svc.Move(ctx, admin.MoveRequest{Identity: "mn1.example", To: "ha2"})
	if err != nil {
		t.Fatal(err)
	}
	mn.awaitSwitch(t, ctx, from)
	moving := hist.await(t, ctx, hoa, func(l store.Lease) bool { return l.State == store.StateMoving })
	be := mh.BindingError{Status: mh.BEUnrecognizedType, HoA: netip.IPv6Unspecified()}
	mn.tun.Outgoing <- mh.AppendPacket(nil, mh.IPv6{Src: hoa, Dst: ha1.addr6}, be)
	back := hist.await(t, ctx, hoa, func(l store.Lease) bool { return l.Revision > moving.Revision })
	if back.State != store.StateBound || back.Owner != "ha1" || back.MovingTo != "" {
		t.Errorf("after the Binding Error: %v, want bound at ha1", back)
	}
	if left := mv.Deadline.Sub(back.UpdatedAt); left < 30*time.Second {
		t.Errorf("move called off %v before its deadline, want at once", left)
	}
	ha1.awaitMetric(t, ctx, 1, "mip6ha_handover_duration_seconds_count", `result="error"`)
	// The node is still served here.
	ha1.tun.Outgoing <- udpPacket(innerAddr, hoa, "still through ha1")
	mn.inbox.awaitData(t, ctx, innerAddr)
}

// TestMoveRefusals: moves that cannot be made are refused with the admin
// API's sentinels, and nothing changes.
func TestMoveRefusals(t *testing.T) {
	ctx := testContext(t)
	lab := newClusterLab(t)
	ha1, _ := twoMembers(t, ctx, lab, func(c *config.Config) { c.Cluster.Sites = eastSites })
	mn := mobileNode(t, "mn1.example", "127.0.0.54", Options{DisableRedirect: true})
	_, hoa := mn.attach(t, ctx, ha1.peer(t), netip.Addr{}, innerNet)
	for _, tc := range []struct {
		req  admin.MoveRequest
		want error
	}{
		{admin.MoveRequest{Identity: "nobody.example", To: "ha2"}, admin.ErrNotFound},
		{admin.MoveRequest{HoA: hoa, To: "ha9"}, admin.ErrNotFound},
		{admin.MoveRequest{HoA: hoa, To: "ha1"}, admin.ErrInvalid},
		// No binding and no RFC 5685 support: nothing can tell it to move.
		{admin.MoveRequest{HoA: hoa, To: "ha2"}, admin.ErrConflict},
		{admin.MoveRequest{}, admin.ErrInvalid},
	} {
		if _, err := ha1.svc.Move(ctx, tc.req); !errorsIs(err, tc.want) {
			t.Errorf("Move(%+v): %v, want %v", tc.req, err, tc.want)
		}
	}
	l, err := ha1.svc.store.Lease(ctx, hoa)
	if err != nil || l.State != store.StateBound || l.Owner != "ha1" {
		t.Errorf("lease after refused moves: %v (%v)", l, err)
	}
}

// TestReevaluateOnNewCareOf: a node bound at ha1 that reports a new
// care-of address is re-evaluated (policy.Reevaluate); ha2 being nearer,
// ha1 switches it there. A refresh from the same care-of address, and the
// first registration, do not move it.
func TestReevaluateOnNewCareOf(t *testing.T) {
	ctx := testContext(t)
	lab := newClusterLab(t)
	hist := watchHistory(t, lab)
	ha1, ha2 := twoMembers(t, ctx, lab, nil) // clients in the west: nearer ha2
	// Without REDIRECT_SUPPORTED, ha1 keeps the node at IKE_SA_INIT.
	mn := mobileNode(t, "mn1.example", "127.0.0.55", Options{DisableRedirect: true})
	_, hoa := mn.attach(t, ctx, ha1.peer(t), netip.Addr{}, innerNet, netip.PrefixFrom(ha1.addr6, 128))
	if ba := mn.bind(t, ctx, hoa, ha1.addr6, coaEast, 1, time.Minute); ba.Status != mh.StatusAccepted {
		t.Fatalf("first BA: %v", ba.Status)
	}
	// A refresh is accepted: no Home Agent Switch was sent (it would make
	// ha1 refuse the extension with status 129, RFC 5142 §5.3).
	if ba := mn.bind(t, ctx, hoa, ha1.addr6, coaEast, 2, time.Minute); ba.Status != mh.StatusAccepted {
		t.Fatalf("refresh BA: %v", ba.Status)
	}
	from := mn.inbox.len()
	if ba := mn.bind(t, ctx, hoa, ha1.addr6, coaWest, 3, time.Minute); ba.Status != mh.StatusAccepted {
		t.Fatalf("BA from the new care-of address: %v", ba.Status)
	}
	has, opt := mn.awaitSwitch(t, ctx, from)
	if !slices.Equal(has.Addresses, []netip.Addr{ha2.addr6}) || opt.Gateway.Addr() != ha2.ip {
		t.Errorf("Home Agent Switch to %v (gateway %v), want ha2", has.Addresses, opt.Gateway)
	}
	moving := hist.await(t, ctx, hoa, func(l store.Lease) bool { return l.State == store.StateMoving })
	if moving.MovingTo != "ha2" {
		t.Errorf("lease %v", moving)
	}
}

func errorsIs(err, target error) bool { return err != nil && errors.Is(err, target) }

// TestDrain: draining ha1 marks it draining in every view and moves each
// of its nodes to ha2 with a Home Agent Switch, one per token of
// cluster.drain_rate; each node follows make-before-break and keeps its
// home address; the drain reports done with every node moved.
func TestDrain(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	lab := newClusterLab(t)
	const rate = 10 // moves per second
	ha1, ha2 := twoMembers(t, ctx, lab, func(c *config.Config) {
		c.Cluster.Sites = eastSites
		c.Cluster.DrainRate = rate
	})
	type attached struct {
		mn  *testMN
		sa  SAID
		hoa netip.Addr
	}
	var nodes []attached
	for i := range 4 {
		mn := mobileNode(t, fmt.Sprintf("mn%d.example", i), fmt.Sprintf("127.0.0.%d", 70+i), Options{RedirectExtensions: true})
		sa, hoa := attachBound(t, ctx, mn, ha1, coaWest)
		nodes = append(nodes, attached{mn, sa, hoa})
	}
	client, err := admin.NewClient(ha1.svc.cfg.Admin.Listen)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	st, err := client.Drain(ctx)
	if err != nil || st.State != admin.DrainRunning || st.Rate != rate {
		t.Fatalf("drain %+v (%v)", st, err)
	}
	awaitMember(t, ctx, ha2, "ha1", func(m policy.Member) bool { return m.Draining })

	var switched []time.Time
	for i, n := range nodes {
		has, opt := n.mn.awaitSwitch(t, ctx, 0)
		if !slices.Equal(has.Addresses, []netip.Addr{ha2.addr6}) {
			t.Errorf("node %d switched to %v", i, has.Addresses)
		}
		switched = append(switched, n.mn.inbox.await(t, ctx, 0, func(m mhMessage) bool { return m.header.Type() == mh.TypeHomeAgentSwitch }).at)
		n.mn.follow(t, ctx, ha1, ha2, n.sa, n.hoa, opt, 2)
	}
	slices.SortFunc(switched, time.Time.Compare)
	for i := 1; i < len(switched); i++ {
		if gap := switched[i].Sub(switched[i-1]); gap < time.Second/rate-20*time.Millisecond {
			t.Errorf("switches %v apart, faster than %d per second", gap, rate)
		}
	}
	select {
	case <-ha1.svc.drain.done:
	case <-ctx.Done():
		t.Fatalf("drain not done: %+v", ha1.svc.drain.snapshot())
	}
	st, err = client.DrainStatus(ctx)
	if err != nil || st.State != admin.DrainDone || st.Moved != len(nodes) || st.Failed != 0 || st.Remaining != 0 ||
		st.Total != len(nodes) || st.FinishedAt.IsZero() {
		t.Errorf("drain status %+v (%v)", st, err)
	}
	leases, err := ha2.svc.store.List(ctx, store.Filter{Owner: "ha2"})
	if err != nil || len(leases) != len(nodes) {
		t.Errorf("ha2 owns %d leases (%v), want %d", len(leases), err, len(nodes))
	}
	// Cancelling the drain makes ha1 take new nodes again.
	if st, err := client.CancelDrain(ctx); err != nil || st.State != admin.DrainDone {
		t.Errorf("cancel after done: %+v (%v)", st, err)
	}
	awaitMember(t, ctx, ha2, "ha1", func(m policy.Member) bool { return !m.Draining })
}

// TestTakeoverAfterMembershipLapse: when ha1's membership lapses (it
// died, or lost the store), a node that re-attaches at ha2 gets its home
// address: ha2 takes the lease over (a CAS that also checks ha1 is no
// member), registers the binding without DAD (ha1's stale proxy entry
// would answer) and defends it. While ha1 is a member, a takeover is
// refused.
func TestTakeoverAfterMembershipLapse(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	lab := newClusterLab(t)
	hist := watchHistory(t, lab)
	ha1, ha2 := twoMembers(t, ctx, lab, func(c *config.Config) { c.Cluster.Sites = eastSites })
	mn := mobileNode(t, "mn1.example", "127.0.0.56", Options{RedirectExtensions: true})
	_, hoa := attachBound(t, ctx, mn, ha1, coaWest)
	l, err := ha2.svc.store.Lease(ctx, hoa)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ha2.svc.store.Takeover(ctx, hoa, l.Revision, "ha2"); !errors.Is(err, store.ErrOwnerAlive) {
		t.Fatalf("takeover while ha1 is a member: %v, want ErrOwnerAlive", err)
	}

	// ha1 loses the store: its record lapses after the 2 s TTL.
	ha1.store.Close()
	ha2.awaitMembers(t, ctx, "ha2")

	_, got := mn.attach(t, ctx, ha2.peer(t), hoa, innerNet, netip.PrefixFrom(ha2.addr6, 128))
	if got != hoa {
		t.Fatalf("ha2 assigned %v, the node held %v", got, hoa)
	}
	if ba := mn.bind(t, ctx, hoa, ha2.addr6, coaWest, 2, time.Minute); ba.Status != mh.StatusAccepted {
		t.Fatalf("BA at ha2: status %v (DAD must not run on an address taken over)", ba.Status)
	}
	lab.segment.await(t, ctx, "ha2", true, hoa)
	taken := hist.await(t, ctx, hoa, func(l store.Lease) bool { return l.Owner == "ha2" })
	if taken.State != store.StateBound {
		t.Errorf("lease after the takeover: %v", taken)
	}
	checkSingleOwner(t, hist.of(hoa), true)
}

// TestDrainRetriesLapsedMove: a node that lets its Home Agent Switch
// lapse loses its binding at the end of the grace period; the drain then
// moves it again, as the peer without a binding it has become, with an
// INFORMATIONAL REDIRECT, which it follows; the drain ends with it moved.
func TestDrainRetriesLapsedMove(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	lab := newClusterLab(t)
	ha1, ha2 := twoMembers(t, ctx, lab, func(c *config.Config) {
		c.Cluster.Sites = eastSites
		c.MIP6.GracePeriod = 4 * time.Second
	})
	mn := mobileNode(t, "mn1.example", "127.0.0.57", Options{RedirectExtensions: true})
	sa, hoa := attachBound(t, ctx, mn, ha1, coaWest)
	if _, err := ha1.svc.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	mn.awaitSwitch(t, ctx, 0) // ignored
	rd := waitFor[ike.RedirectReceived](t, ctx, mn.events, new(int), nil)
	if rd.Exchange != wire.ExchangeInformational || rd.Target.Gateway != wire.GatewayAddr(ha2.ip) || len(rd.Target.Ticket) == 0 {
		t.Fatalf("second attempt %+v: want an INFORMATIONAL REDIRECT to %v with a ticket", rd, ha2.ip)
	}
	p := ha2.peer(t)
	p.RedirectedFrom, p.Ticket = &rd.From, rd.Target.Ticket
	if _, got := mn.attach(t, ctx, p, netip.Addr{}, innerNet); got != hoa {
		t.Fatalf("ha2 assigned %v, the node held %v", got, hoa)
	}
	if err := mn.rt.Delete(ctx, sa); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ha1.svc.drain.done:
	case <-ctx.Done():
		t.Fatalf("drain not done: %+v", ha1.svc.drain.snapshot())
	}
	if st := ha1.svc.drain.snapshot(); st.State != admin.DrainDone || st.Moved != 1 || st.Failed != 0 || st.Total != 1 {
		t.Errorf("drain status %+v", st)
	}
}
