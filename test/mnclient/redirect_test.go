package mnclient

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/mip6ha/mip6ha/homeagent"
	"github.com/mip6ha/mip6ha/homeagent/dataplane/tuntest"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
	"github.com/mip6ha/mip6ha/policy"
)

// gateway is one of our IKE responders in this process, on its own address
// of the test namespace with the standard ports 500 and 4500, so that a
// standard REDIRECT (an address without a port) reaches it.
type gateway struct {
	rt     *homeagent.Runtime
	dev    *tuntest.ChannelTUN
	addr   netip.Addr
	events chan homeagent.Event
}

// redirectTicketKey is the key our gateways share for handover tickets.
var redirectTicketKey = []byte("redirect test ticket key, shared")

// addHAAddress gives the home agent's end of the test veth another
// address (once).
func addHAAddress(t testing.TB, a netip.Addr) {
	t.Helper()
	l, err := netlink.LinkByName("ha0")
	if err != nil {
		t.Fatal(err)
	}
	ipnet := &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(128, 128)}
	if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: ipnet, Flags: unix.IFA_F_NODAD}); err != nil && !errors.Is(err, unix.EEXIST) {
		t.Fatal(err)
	}
}

// startGateway runs our runtime as a responder at addr:500 with the
// redirect options ro and a pool of testHomePrefix.
func startGateway(t *testing.T, addr netip.Addr, pool homeagent.AddressPool, ro *homeagent.RedirectOptions) *gateway {
	t.Helper()
	addHAAddress(t, addr)
	rc := homeagent.DefaultConfig()
	rc.Listen = []string{addr.String()}
	rc.Identity = "ha.example.net"
	rc.Shards = 1
	g := &gateway{dev: tuntest.New(1024), addr: addr, events: make(chan homeagent.Event, 256)}
	if pool == nil {
		pool = &testPool{byID: map[string]netip.Addr{}}
	}
	var err error
	g.rt, err = homeagent.New(rc, homeagent.Options{
		Device:    g.dev,
		Addresses: pool,
		PSKs:      []homeagent.PSK{{Identity: "*", Secret: []byte(testPSK)}},
		Redirect:  ro,
		Observer: func(e homeagent.Event) {
			select {
			case g.events <- e:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.rt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("gateway %v: %v", addr, err)
		}
		g.dev.Close()
	})
	return g
}

// waitEvent awaits an event of type T of the gateway.
func waitEvent[T ike.Event](t *testing.T, ctx context.Context, g *gateway) T {
	t.Helper()
	for {
		select {
		case e := <-g.events:
			if x, ok := e.IKE.(T); ok {
				return x
			}
		case <-ctx.Done():
			var zero T
			t.Fatalf("gateway %v: no %T: %v", g.addr, zero, ctx.Err())
		}
	}
}

// drainingView is the view of member self, draining, in a cluster where
// other (at addr) takes new nodes.
func drainingView(t *testing.T, self netip.Addr, other netip.Addr) homeagent.ClusterView {
	t.Helper()
	v, err := homeagent.NewStaticView(policy.DefaultConfig(), policy.View{Self: "a", Members: []policy.Member{
		{ID: "a", Site: "s", Addrs: []netip.Addr{self}, Capacity: 10, Healthy: true, Draining: true},
		{ID: "b", Site: "s", Addrs: []netip.Addr{other}, Capacity: 10, Healthy: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// redirectClient is a mobile node for the gateway at ha (ports 500/4500),
// without a binding (the gateways are plain IKE responders).
func redirectClient(t *testing.T, ha netip.Addr, events *eventLog, rc RedirectConfig) *Client {
	t.Helper()
	c, err := New(Config{HA: netip.AddrPortFrom(ha, 500).String(), HAID: "ha.example.net", ID: "mn@example.net",
		PSK: []byte(testPSK), InMemory: true, Listen: []string{"::"}, IKEPort: -1, NATTPort: -1, ForceEncap: true,
		NoBinding: true, Redirect: rc, Events: events.addFunc()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func redirectCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// TestRedirectFollowedAtInit: a draining gateway redirects the client at
// IKE_SA_INIT; the client follows with REDIRECTED_FROM naming it, keeps the
// expected gateway identity, attaches at the target and reports the
// redirect (RFC 5685 §3).
func TestRedirectFollowedAtInit(t *testing.T) {
	needNetns(t)
	ctx := redirectCtx(t)
	aAddr, bAddr := netip.MustParseAddr("2001:db8:ff::11"), netip.MustParseAddr("2001:db8:ff::12")
	b := startGateway(t, bAddr, nil, nil)
	startGateway(t, aAddr, nil, &homeagent.RedirectOptions{View: drainingView(t, aAddr, bAddr)})
	events := newEventLog()
	runClient(t, redirectClient(t, aAddr, events, RedirectConfig{}))
	rd := events.wait(t, ctx, EventRedirected, 1)
	if rd.Stage != "IKE_SA_INIT" || rd.From != aAddr.String() || rd.To != netip.AddrPortFrom(bAddr, 500).String() {
		t.Fatalf("redirected event %+v", rd)
	}
	up := events.wait(t, ctx, EventAttached, 1)
	if up.Remote != netip.AddrPortFrom(bAddr, 4500).String() || up.Peer != "ID_FQDN:ha.example.net" {
		t.Fatalf("attached %+v, want to %v", up, bAddr)
	}
	events.wait(t, ctx, EventChildInstalled, 1)
	bUp := waitEvent[ike.IKEUp](t, ctx, b)
	if bUp.RedirectedFrom == nil || *bUp.RedirectedFrom != wire.GatewayAddr(aAddr) {
		t.Errorf("the target saw REDIRECTED_FROM %v, want %v", bUp.RedirectedFrom, aAddr)
	}
}

// TestRedirectFollowedAtAuth: the gateway redirects the authenticated
// client at IKE_AUTH because its identity is served elsewhere; the client
// deletes that IKE SA and attaches at the target (RFC 5685 §6).
func TestRedirectFollowedAtAuth(t *testing.T) {
	needNetns(t)
	ctx := redirectCtx(t)
	aAddr, bAddr := netip.MustParseAddr("2001:db8:ff::13"), netip.MustParseAddr("2001:db8:ff::14")
	startGateway(t, bAddr, nil, nil)
	v, err := homeagent.NewStaticView(policy.DefaultConfig(), policy.View{Self: "a", Members: []policy.Member{
		{ID: "a", Site: "s", Addrs: []netip.Addr{aAddr}, Capacity: 10, Healthy: true},
		{ID: "b", Site: "s", Addrs: []netip.Addr{bAddr}, Capacity: 10, Healthy: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	a := startGateway(t, aAddr, nil, &homeagent.RedirectOptions{View: v,
		Leases: homeagent.StaticLeases{ike.RFC822("mn@example.net"): "b"}})
	events := newEventLog()
	runClient(t, redirectClient(t, aAddr, events, RedirectConfig{}))
	rd := events.wait(t, ctx, EventRedirected, 1)
	if rd.Stage != "IKE_AUTH" || rd.From != aAddr.String() || rd.To != netip.AddrPortFrom(bAddr, 500).String() {
		t.Fatalf("redirected event %+v", rd)
	}
	if up := events.wait(t, ctx, EventAttached, 2); up.Remote != netip.AddrPortFrom(bAddr, 4500).String() {
		t.Fatalf("second attachment %+v, want to %v", up, bAddr)
	}
	events.wait(t, ctx, EventChildInstalled, 1)
	if down := waitEvent[ike.IKEDown](t, ctx, a); down.Reason != ike.DownDeletedByPeer {
		t.Errorf("the redirecting gateway's SA ended %+v, want deleted by the client", down)
	}
}

// TestRedirectEstablishedMakeBeforeBreak: a gateway redirects the
// established SA (RFC 5685 §5) to a target with a port, with a handover
// ticket; the client brings up the new SA and its CHILD_SA first, asking
// for the inner address it holds, then deletes the old SA; its traffic
// leaves through the new SA.
func TestRedirectEstablishedMakeBeforeBreak(t *testing.T) {
	needNetns(t)
	ctx := redirectCtx(t)
	aAddr, bAddr := netip.MustParseAddr("2001:db8:ff::15"), netip.MustParseAddr("2001:db8:ff::16")
	b := startGateway(t, bAddr, nil, &homeagent.RedirectOptions{TicketKey: redirectTicketKey, Member: "b"})
	a := startGateway(t, aAddr, nil, &homeagent.RedirectOptions{TicketKey: redirectTicketKey, Member: "a"})
	events := newEventLog()
	c := redirectClient(t, aAddr, events, RedirectConfig{Extensions: true})
	runClient(t, c)
	hoa := events.wait(t, ctx, EventHomeAddress, 1).Address
	events.wait(t, ctx, EventChildInstalled, 1)
	_, bNATT := b.rt.Ports()
	target := netip.AddrPortFrom(bAddr, bNATT)
	if n, err := a.rt.RedirectPeer(ctx, ike.RFC822("mn@example.net"), ike.RedirectTarget{Gateway: wire.GatewayAddrPort(target)}); n != 1 || err != nil {
		t.Fatalf("RedirectPeer: %d, %v", n, err)
	}
	rd := events.wait(t, ctx, EventRedirected, 1)
	if rd.Stage != "INFORMATIONAL" || rd.To != target.String() || rd.Target != target.String() {
		t.Fatalf("redirected event %+v", rd)
	}
	// The new SA and its CHILD_SA come up before the old SA goes.
	child := events.wait(t, ctx, EventChildInstalled, 2)
	if got := events.wait(t, ctx, EventHomeAddress, 2).Address; got != hoa {
		t.Errorf("home address at the new gateway %s, held %s", got, hoa)
	}
	detached := events.wait(t, ctx, EventDetached, 1)
	if detached.Reason != "deleted" || !detached.Time.After(child.Time) && !detached.Time.Equal(child.Time) {
		t.Errorf("old SA %+v ended before the new CHILD_SA %+v", detached, child)
	}
	kinds := kindsOf(events.all())
	if i, j := indexOf(kinds, EventChildInstalled, 2), indexOf(kinds, EventDetached, 1); i < 0 || j < 0 || i > j {
		t.Errorf("events in the wrong order (make-before-break): %v", kinds)
	}
	if down := waitEvent[ike.IKEDown](t, ctx, a); down.Reason != ike.DownDeletedByPeer {
		t.Errorf("old gateway's SA ended %+v", down)
	}
	// Traffic now goes to b.
	innerDst := netip.MustParseAddr("2001:db8:f::1")
	pkt := ipv6Packet(netip.MustParsePrefix(hoa).Addr(), innerDst, 59, []byte("after the redirect"))
	if err := c.Send(pkt); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-b.dev.Incoming:
		if string(got) != string(pkt) {
			t.Errorf("b received %x", got)
		}
	case <-ctx.Done():
		t.Fatal("the inner packet did not reach the new gateway")
	}
}

// loopRedirector sends every client to a fixed gateway: two gateways
// configured to send clients to each other make a loop.
type loopRedirector struct{ to netip.Addr }

func (r loopRedirector) AtInit(ike.InitInfo) (ike.RedirectTarget, bool) {
	return ike.RedirectTarget{Gateway: wire.GatewayAddr(r.to)}, true
}
func (r loopRedirector) AtAuth(ike.AuthInfo) (ike.RedirectTarget, bool) {
	return ike.RedirectTarget{}, false
}

// TestRedirectLoopStops: two gateways redirect to each other; the client
// follows MAX_REDIRECTS redirects, then stops with ike.ErrRedirectLoop and
// says so (RFC 5685 §7).
func TestRedirectLoopStops(t *testing.T) {
	needNetns(t)
	ctx := redirectCtx(t)
	aAddr, bAddr := netip.MustParseAddr("2001:db8:ff::17"), netip.MustParseAddr("2001:db8:ff::18")
	startGateway(t, aAddr, nil, &homeagent.RedirectOptions{Redirector: loopRedirector{bAddr}})
	startGateway(t, bAddr, nil, &homeagent.RedirectOptions{Redirector: loopRedirector{aAddr}})
	events := newEventLog()
	c := redirectClient(t, aAddr, events, RedirectConfig{MaxRedirects: 3})
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		t.Fatal("the client kept following the loop")
	}
	if !errors.Is(err, ike.ErrRedirectLoop) {
		t.Fatalf("Run: %v, want a redirect loop", err)
	}
	if n := events.count(EventRedirected); n != 3 {
		t.Errorf("%d redirects followed, want 3", n)
	}
	var loopEvent *Event
	for _, e := range events.all() {
		if e.Event == EventError && strings.Contains(e.Error, "redirect loop") {
			loopEvent = &e
		}
	}
	if loopEvent == nil || loopEvent.Stage != "IKE_SA_INIT" {
		t.Errorf("no error event for the loop: %+v", events.all())
	}
}

// TestRedirectAllowList: a redirect to a gateway outside the allow-list is
// not followed: the attachment fails with ErrRedirectRefused. A name in
// the list is resolved and followed.
func TestRedirectAllowList(t *testing.T) {
	needNetns(t)
	ctx := redirectCtx(t)
	aAddr, bAddr := netip.MustParseAddr("2001:db8:ff::19"), netip.MustParseAddr("2001:db8:ff::1a")
	startGateway(t, bAddr, nil, nil)
	startGateway(t, aAddr, nil, &homeagent.RedirectOptions{View: drainingView(t, aAddr, bAddr)})
	events := newEventLog()
	c := redirectClient(t, aAddr, events, RedirectConfig{Allow: []string{"2001:db8:ff::19/128", ".example.net"}})
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	if err := <-done; !errors.Is(err, ErrRedirectRefused) {
		t.Fatalf("Run: %v, want the redirect refused", err)
	}

	// The same gateway named by a domain name in the allow-list.
	cAddr := netip.MustParseAddr("2001:db8:ff::1b")
	startGateway(t, cAddr, nil, &homeagent.RedirectOptions{Redirector: fqdnRedirector{"ha-b.example.net"}})
	events = newEventLog()
	var mu sync.Mutex
	var looked []string
	c = redirectClient(t, cAddr, events, RedirectConfig{Allow: []string{".example.net"},
		Resolve: func(_ context.Context, name string) ([]netip.Addr, error) {
			mu.Lock()
			looked = append(looked, name)
			mu.Unlock()
			return []netip.Addr{netip.MustParseAddr("192.0.2.1"), bAddr}, nil
		}})
	runClient(t, c)
	rd := events.wait(t, ctx, EventRedirected, 1)
	if rd.Target != "ha-b.example.net" || rd.To != netip.AddrPortFrom(bAddr, 500).String() {
		t.Fatalf("redirected event %+v: want ha-b.example.net resolved to %v (the family we use)", rd, bAddr)
	}
	events.wait(t, ctx, EventChildInstalled, 1)
	mu.Lock()
	defer mu.Unlock()
	if len(looked) != 1 || looked[0] != "ha-b.example.net" {
		t.Errorf("resolved %q", looked)
	}
}

// fqdnRedirector redirects every client at IKE_SA_INIT to a domain name.
type fqdnRedirector struct{ name string }

func (r fqdnRedirector) AtInit(ike.InitInfo) (ike.RedirectTarget, bool) {
	return ike.RedirectTarget{Gateway: wire.GatewayFQDN(r.name)}, true
}
func (r fqdnRedirector) AtAuth(ike.AuthInfo) (ike.RedirectTarget, bool) {
	return ike.RedirectTarget{}, false
}

// indexOf returns the index of the n-th kind in kinds, or -1.
func indexOf(kinds []string, kind string, n int) int {
	for i, k := range kinds {
		if k == kind {
			if n--; n == 0 {
				return i
			}
		}
	}
	return -1
}

// TestRedirectConfigChecked: unusable redirect settings are refused.
func TestRedirectConfigChecked(t *testing.T) {
	for _, rc := range []RedirectConfig{{MaxRedirects: -1}, {LoopDetectPeriod: -time.Second}, {Allow: []string{"ha 2"}}} {
		_, err := New(Config{HA: "2001:db8::1", ID: "mn@example.net", PSK: []byte(testPSK), InMemory: true,
			Listen: []string{"::1"}, IKEPort: -1, NATTPort: -1, Redirect: rc})
		if err == nil {
			t.Errorf("%+v accepted", rc)
		}
	}
}

// TestRedirectMoveRedirectedAgain: while the client moves its established
// SA to b, b redirects it at IKE_SA_INIT to c; the client keeps moving,
// still holding its SA with a, and ends with c, with its home address, and
// a's SA deleted.
func TestRedirectMoveRedirectedAgain(t *testing.T) {
	needNetns(t)
	ctx := redirectCtx(t)
	aAddr, bAddr, cAddr := netip.MustParseAddr("2001:db8:ff::1c"), netip.MustParseAddr("2001:db8:ff::1d"), netip.MustParseAddr("2001:db8:ff::1e")
	c := startGateway(t, cAddr, nil, nil)
	startGateway(t, bAddr, nil, &homeagent.RedirectOptions{View: drainingView(t, bAddr, cAddr)})
	a := startGateway(t, aAddr, nil, nil)
	events := newEventLog()
	runClient(t, redirectClient(t, aAddr, events, RedirectConfig{}))
	hoa := events.wait(t, ctx, EventHomeAddress, 1).Address
	events.wait(t, ctx, EventChildInstalled, 1)
	if n, err := a.rt.RedirectPeer(ctx, ike.RFC822("mn@example.net"), ike.RedirectTarget{Gateway: wire.GatewayAddr(bAddr)}); n != 1 || err != nil {
		t.Fatalf("RedirectPeer: %d, %v", n, err)
	}
	if rd := events.wait(t, ctx, EventRedirected, 2); rd.Stage != "IKE_SA_INIT" || rd.From != bAddr.String() ||
		rd.To != netip.AddrPortFrom(cAddr, 500).String() {
		t.Fatalf("second redirect %+v", rd)
	}
	events.wait(t, ctx, EventChildInstalled, 2)
	if got := events.wait(t, ctx, EventHomeAddress, 2).Address; got != hoa {
		t.Errorf("home address at c %s, held %s", got, hoa)
	}
	if up := events.wait(t, ctx, EventAttached, 2); up.Remote != netip.AddrPortFrom(cAddr, 4500).String() {
		t.Errorf("attached %+v, want c", up)
	}
	if down := waitEvent[ike.IKEDown](t, ctx, a); down.Reason != ike.DownDeletedByPeer {
		t.Errorf("a's SA ended %+v", down)
	}
	waitEvent[ike.ChildUp](t, ctx, c)
}
