package homeagent

import (
	"bytes"
	"errors"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/mip6ha/mip6ha/homeagent/dataplane/tuntest"
	"github.com/mip6ha/mip6ha/homeagent/telemetry"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
	"github.com/mip6ha/mip6ha/policy"
)

// TestRedirectOptionsChecked: a ticket key too short to be a key stops
// the runtime from being built.
func TestRedirectOptionsChecked(t *testing.T) {
	_, err := New(haConfig(), withOptions(haOptions(t), func(o *Options) {
		o.Device = tuntest.New(8)
		o.Redirect = &RedirectOptions{TicketKey: []byte("short")}
	}))
	if err == nil {
		t.Fatal("a 5-octet ticket key accepted")
	}
}

// staticView is the view of member self in a cluster of the given members
// (ID to address or address:port), each healthy with room to spare.
func staticView(t *testing.T, self string, draining bool, members map[string][]string) ClusterView {
	t.Helper()
	v := policy.View{Self: self}
	for id, addrs := range members {
		m := policy.Member{ID: id, Site: "s", Capacity: 100, Healthy: true, Draining: draining && id == self}
		for _, a := range addrs {
			if ap, err := netip.ParseAddrPort(a); err == nil {
				m.NATAddrs = append(m.NATAddrs, ap)
			} else {
				m.Addrs = append(m.Addrs, netip.MustParseAddr(a))
			}
		}
		v.Members = append(v.Members, m)
	}
	view, err := NewStaticView(policy.DefaultConfig(), v)
	if err != nil {
		t.Fatal(err)
	}
	return view
}

// staticRedirector returns a Redirector for member self of a cluster of two:
// ha1 (2001:db8:1::1, 192.0.2.1) and ha2 (2001:db8:1::2, and a forwarded
// port [2001:db8:99::2]:4501).
func staticRedirector(t *testing.T, self string, draining bool, leases StaticLeases) *Redirector {
	t.Helper()
	v := policy.View{Self: self, Members: []policy.Member{
		{ID: "ha1", Site: "s", Addrs: []netip.Addr{netip.MustParseAddr("2001:db8:1::1"), netip.MustParseAddr("192.0.2.1")}, Capacity: 10, Healthy: true},
		{ID: "ha2", Site: "s", Addrs: []netip.Addr{netip.MustParseAddr("2001:db8:1::2")}, NATAddrs: []netip.AddrPort{netip.MustParseAddrPort("[2001:db8:99::2]:4501")}, Capacity: 10, Healthy: true},
	}}
	for i := range v.Members {
		v.Members[i].Draining = draining && v.Members[i].ID == self
	}
	view, err := NewStaticView(policy.DefaultConfig(), v)
	if err != nil {
		t.Fatal(err)
	}
	return NewRedirector(view, leases, nil, nil)
}

var (
	client6 = netip.MustParseAddrPort("[2001:db8:2::100]:500")
	client4 = netip.MustParseAddrPort("192.0.2.100:500")
	ha1Addr = netip.MustParseAddr("2001:db8:1::1")
	ha2Addr = netip.MustParseAddr("2001:db8:1::2")
)

// TestRedirectorAtInit: the Redirector asks the placement policy; a
// draining member sends redirect-capable clients to the other member, at
// its standard address or, only for clients that announced the port
// extension, at its forwarded port; a serving member keeps them; a client
// redirected here stays.
func TestRedirectorAtInit(t *testing.T) {
	draining := staticRedirector(t, "ha1", true, nil)
	tg, ok := draining.AtInit(ike.InitInfo{Remote: client6})
	if !ok || tg.Gateway != wire.GatewayAddr(ha2Addr) {
		t.Fatalf("draining ha1: redirect %v to %+v, want ha2 %v", ok, tg, ha2Addr)
	}
	tg, ok = draining.AtInit(ike.InitInfo{Remote: client6, PortSupported: true})
	if !ok || tg.Gateway.Type != wire.GatewayIdentityIPv6 {
		t.Fatalf("port-capable client: %+v: a standard address is preferred to a forwarded port", tg)
	}
	// An IPv4 client: ha2 has no IPv4 address, only an IPv6 forwarded port.
	if tg, ok := draining.AtInit(ike.InitInfo{Remote: client4}); ok {
		t.Fatalf("IPv4 client redirected to %+v, where it cannot go", tg)
	}
	serving := staticRedirector(t, "ha1", false, nil)
	if tg, ok := serving.AtInit(ike.InitInfo{Remote: client6}); ok {
		t.Fatalf("serving member redirected to %+v", tg)
	}
	from := wire.GatewayAddr(ha1Addr)
	if tg, ok := staticRedirector(t, "ha2", false, nil).AtInit(ike.InitInfo{Remote: client6, RedirectedFrom: &from}); ok {
		t.Fatalf("client redirected here sent on to %+v", tg)
	}
	if got := draining.Counts(); !slices.Equal(got, []RedirectCount{{StageInit, "draining", 2}}) {
		t.Errorf("counts %+v", got)
	}
	if got := serving.Counts(); len(got) != 0 {
		t.Errorf("a member that redirected nobody counts %+v", got)
	}
}

// TestRedirectorPortTarget: a member reachable only at a forwarded port is
// named with the private-use type, and only to clients that announced the
// extension.
func TestRedirectorPortTarget(t *testing.T) {
	v := policy.View{Self: "ha1", Members: []policy.Member{
		{ID: "ha1", Site: "s", Addrs: []netip.Addr{ha1Addr}, Capacity: 10, Healthy: true, Draining: true},
		{ID: "ha2", Site: "s", NATAddrs: []netip.AddrPort{netip.MustParseAddrPort("[2001:db8:99::2]:4501")}, Capacity: 10, Healthy: true},
	}}
	view, err := NewStaticView(policy.DefaultConfig(), v)
	if err != nil {
		t.Fatal(err)
	}
	r := NewRedirector(view, nil, nil, nil)
	if tg, ok := r.AtInit(ike.InitInfo{Remote: client6}); ok {
		t.Fatalf("standard client sent to %+v", tg)
	}
	tg, ok := r.AtInit(ike.InitInfo{Remote: client6, PortSupported: true})
	if !ok || tg.Gateway != wire.GatewayAddrPort(netip.MustParseAddrPort("[2001:db8:99::2]:4501")) {
		t.Fatalf("port-capable client: %v %+v", ok, tg)
	}
}

// TestRedirectorAnycast: a request to the anycast address is redirected to
// a unicast address, this member's own when it is the best (RFC 5685 §4).
func TestRedirectorAnycast(t *testing.T) {
	r := staticRedirector(t, "ha1", false, nil)
	tg, ok := r.AtInit(ike.InitInfo{Remote: client6, Anycast: true})
	if !ok || tg.Gateway != wire.GatewayAddr(ha1Addr) {
		t.Fatalf("anycast: %v %+v, want our own %v", ok, tg, ha1Addr)
	}
	if got := r.Counts(); !slices.Equal(got, []RedirectCount{{StageInit, "anycast-must-redirect", 1}}) {
		t.Errorf("counts %+v", got)
	}
}

// TestRedirectorAtAuth: after AUTH, the identity's lease decides (RFC 5685
// §6): served elsewhere means redirect there, served here means stay.
func TestRedirectorAtAuth(t *testing.T) {
	leases := StaticLeases{ike.FQDN("mn1.example"): "ha2", ike.FQDN("mn2.example"): "ha1"}
	r := staticRedirector(t, "ha1", false, leases)
	info := ike.InitInfo{Remote: client6}
	tg, ok := r.AtAuth(ike.AuthInfo{InitInfo: info, Peer: ike.FQDN("mn1.example")})
	if !ok || tg.Gateway != wire.GatewayAddr(ha2Addr) {
		t.Fatalf("mn1 (served by ha2): %v %+v", ok, tg)
	}
	for _, id := range []ike.ID{ike.FQDN("mn2.example"), ike.FQDN("unknown.example")} {
		if tg, ok := r.AtAuth(ike.AuthInfo{InitInfo: info, Peer: id}); ok {
			t.Errorf("%v redirected to %+v", id, tg)
		}
	}
	if got := r.Counts(); !slices.Equal(got, []RedirectCount{{StageAuth, "lease-elsewhere", 1}}) {
		t.Errorf("counts %+v", got)
	}
}

// TestRedirectParseGateway: targets as an operator writes them.
func TestRedirectParseGateway(t *testing.T) {
	for in, want := range map[string]wire.GatewayIdentity{
		"2001:db8::1":        wire.GatewayAddr(netip.MustParseAddr("2001:db8::1")),
		"192.0.2.1":          wire.GatewayAddr(netip.MustParseAddr("192.0.2.1")),
		"::ffff:192.0.2.1":   {Type: wire.GatewayIdentityIPv4, AddrPort: netip.MustParseAddrPort("192.0.2.1:0")},
		"[2001:db8::1]:4501": wire.GatewayAddrPort(netip.MustParseAddrPort("[2001:db8::1]:4501")),
		"192.0.2.1:4501":     wire.GatewayAddrPort(netip.MustParseAddrPort("192.0.2.1:4501")),
		"ha2.example.net":    wire.GatewayFQDN("ha2.example.net"),
		"ha2.example.net.":   wire.GatewayFQDN("ha2.example.net"),
	} {
		got, err := ParseGateway(in)
		if err != nil || got != want {
			t.Errorf("ParseGateway(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "192.0.2.1:0", "ha 2", "fe80::1%eth0", strings.Repeat("a", 256), "ha2.exämple"} {
		if g, err := ParseGateway(bad); err == nil {
			t.Errorf("ParseGateway(%q) = %+v, want an error", bad, g)
		}
	}
}

var ticketTestKey = []byte("0123456789abcdef0123456789abcdef")

// TestRedirectTicket: a ticket verifies for the identity it was issued to,
// until it expires, and not once altered or under another key.
func TestRedirectTicket(t *testing.T) {
	k, err := newTicketKey(ticketTestKey)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	mn := ike.RFC822("mn@example.net")
	a := ike.Assignment{IPv6: netip.MustParsePrefix("2001:db8:1::2/128"), IPv4: netip.MustParseAddr("198.51.100.7")}
	tk := k.issue(mn, a, "ha1", now.Add(time.Minute))
	got, err := k.verify(mn, tk, now)
	if err != nil {
		t.Fatal(err)
	}
	if got.IPv6 != a.IPv6 || got.IPv4 != a.IPv4 || got.Issuer != "ha1" || !got.Expires.Equal(now.Add(time.Minute)) {
		t.Fatalf("ticket says %+v", got)
	}
	other, _ := newTicketKey(bytes.Repeat([]byte{7}, 32))
	for name, check := range map[string]func() error{
		"another identity": func() error { _, err := k.verify(ike.RFC822("eve@example.net"), tk, now); return err },
		"expired":          func() error { _, err := k.verify(mn, tk, now.Add(time.Minute)); return err },
		"another key":      func() error { _, err := other.verify(mn, tk, now); return err },
		"altered address": func() error {
			b := slices.Clone(tk)
			b[25] ^= 1
			_, err := k.verify(mn, b, now)
			return err
		},
		"truncated": func() error { _, err := k.verify(mn, tk[:len(tk)-1], now); return err },
	} {
		if err := check(); !errors.Is(err, ErrTicket) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := newTicketKey([]byte("short")); err == nil {
		t.Error("a 5-octet ticket key accepted")
	}
}

// TestRedirectTicketPool: a client presenting a valid ticket gets the
// addresses it names, whatever it suggested; an invalid ticket is ignored.
func TestRedirectTicketPool(t *testing.T) {
	k, _ := newTicketKey(ticketTestKey)
	pool := newTestPool(t, homePrefix, "")
	var logs syncBuffer
	tp := &ticketPool{AddressPool: pool, key: k, log: slog.New(slog.NewTextHandler(&logs, nil))}
	mn := ike.FQDN("mn.example")
	held := netip.PrefixFrom(homePrefix.Addr().Next().Next().Next(), 64)
	tk := k.issue(mn, ike.Assignment{IPv6: held}, "ha1", time.Now().Add(time.Minute))

	ctx := t.Context()
	a, err := tp.Assign(ctx, ike.AddressRequest{Peer: mn, IPv6: true, Ticket: tk})
	if err != nil || a.IPv6.Addr() != held.Addr() {
		t.Fatalf("with the ticket: %v (%v), want %v", a.IPv6, err, held)
	}
	if !strings.Contains(logs.String(), "handover ticket accepted") {
		t.Errorf("no log line:\n%s", logs.String())
	}
	eve := ike.FQDN("eve.example")
	a, err = tp.Assign(ctx, ike.AddressRequest{Peer: eve, IPv6: true, Ticket: tk})
	if err != nil || a.IPv6.Addr() == held.Addr() {
		t.Fatalf("someone else's ticket gave %v (%v)", a.IPv6, err)
	}
	if !strings.Contains(logs.String(), "handover ticket refused") {
		t.Errorf("no refusal logged:\n%s", logs.String())
	}
}

// FuzzRedirectTicket: parsing never panics; whatever parses re-issues to
// the same octets under the key, so the MAC covers every field.
func FuzzRedirectTicket(f *testing.F) {
	k, _ := newTicketKey(ticketTestKey)
	mn := ike.FQDN("mn.example")
	f.Add(k.issue(mn, ike.Assignment{IPv6: netip.MustParsePrefix("2001:db8:1::2/128")}, "ha1", time.Unix(1e9, 0)))
	f.Add(k.issue(mn, ike.Assignment{IPv4: netip.MustParseAddr("198.51.100.1")}, "", time.Unix(0, 0)))
	f.Add(k.issue(mn, ike.Assignment{}, strings.Repeat("m", 64), time.Unix(1<<40, 0)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		tk, _, _, err := parseTicket(b)
		if err != nil {
			if !errors.Is(err, ErrTicket) {
				t.Fatalf("error %v does not wrap ErrTicket", err)
			}
			return
		}
		if _, err := k.verify(mn, b, time.Unix(0, 0)); err == nil {
			// Only tickets we issued verify: issue again and compare.
			again := k.issue(mn, ike.Assignment{IPv6: tk.IPv6, IPv4: tk.IPv4}, tk.Issuer, tk.Expires)
			if !bytes.Equal(again, b) {
				t.Fatalf("verified ticket %x re-issues as %x", b, again)
			}
		}
	})
}

// loopbackConfig is a runtime's configuration on one IPv4 loopback address
// with kernel-chosen ports.
func loopbackConfig(base Config, addr string) Config {
	base.Listen = []string{addr}
	base.IKEPort, base.NATTPort = 0, 0
	return base
}

var mnPSK = []PSK{{Identity: "ha.example", Secret: []byte(testPSK)}}

// TestRedirectPairAtInitToForwardedPort: a draining home agent redirects a
// client that announced the port extension, at IKE_SA_INIT, to a member
// reachable only at a forwarded port (private-use GW Ident Type 241); the
// client follows to that port with REDIRECTED_FROM and attaches there. A
// standard client is never sent there: it stays.
func TestRedirectPairAtInitToForwardedPort(t *testing.T) {
	ctx := testContext(t)
	ha2 := startNode(t, loopbackConfig(haConfig(), "127.0.0.2"), withOptions(haOptions(t), func(o *Options) {
		o.Redirect = &RedirectOptions{View: staticView(t, "ha2", false, map[string][]string{"ha1": {"127.0.0.1"}, "ha2": {"127.0.0.2"}})}
	}))
	_, natt2 := ha2.rt.Ports()
	target := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), natt2)
	ha1 := startNode(t, loopbackConfig(haConfig(), "127.0.0.1"), withOptions(haOptions(t), func(o *Options) {
		o.Redirect = &RedirectOptions{View: staticView(t, "ha1", true, map[string][]string{"ha1": {"127.0.0.1"}, "ha2": {target.String()}})}
	}))
	ike1, natt1 := ha1.rt.Ports()
	ha1Addr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), ike1)
	mn := startNode(t, loopbackConfig(mnConfig(), "127.0.0.3"), Options{PSKs: mnPSK, RedirectExtensions: true})

	first, err := mn.rt.Initiate(ctx, Peer{Remote: ha1Addr, NATTPort: natt1, ID: "ha.example",
		Request: ike.CPRequest{IPv6: true}, RemoteTS: []netip.Prefix{innerNet}})
	if err != nil {
		t.Fatal(err)
	}
	var from int
	rd := waitFor[ike.RedirectReceived](t, ctx, mn.events, &from, nil)
	if rd.Exchange != wire.ExchangeIKESAInit || rd.Target.Gateway != wire.GatewayAddrPort(target) ||
		rd.From != wire.GatewayAddr(ha1Addr.Addr()) {
		t.Fatalf("RedirectReceived %+v, want IKE_SA_INIT to %v from %v", rd, target, ha1Addr.Addr())
	}
	if down := waitFor[ike.IKEDown](t, ctx, mn.events, &from, nil); down.Reason != ike.DownRedirected {
		t.Fatalf("first SA down: %+v", down)
	}
	if st := ha1.rt.Stats(); st.Responder[ike.AnsweredRedirect] != 1 || st.Responder[ike.Created] != 0 || st.HalfOpen != 0 {
		t.Errorf("ha1 kept state for the redirect: %+v", st.Responder)
	}
	if got := ha1.rt.RedirectCounts(); !slices.Equal(got, []RedirectCount{{StageInit, "draining", 1}}) {
		t.Errorf("ha1 counts %+v", got)
	}

	second, err := mn.rt.Initiate(ctx, Peer{Remote: target, NATTPort: target.Port(), ID: "ha.example",
		Request: ike.CPRequest{IPv6: true}, RemoteTS: []netip.Prefix{innerNet}, RedirectedFrom: &rd.From})
	if err != nil {
		t.Fatal(err)
	}
	if up := waitFor[ike.IKEUp](t, ctx, mn.events, &from, nil); up.Path.Remote != target || !up.NATT {
		t.Fatalf("second SA up on %+v, want %v from the first message", up.Path, target)
	}
	haUp := waitFor[ike.IKEUp](t, ctx, ha2.events, new(int), nil)
	if haUp.RedirectedFrom == nil || *haUp.RedirectedFrom != rd.From || !haUp.RedirectExtensions {
		t.Errorf("ha2's IKEUp %+v: want REDIRECTED_FROM %v", haUp, rd.From)
	}
	if first == second {
		t.Error("the same SA id for the second SA")
	}
	if got := ha2.rt.RedirectCounts(); len(got) != 0 {
		t.Errorf("ha2 redirected the client on: %+v", got)
	}

	// A client without the extension cannot reach ha2: it stays on ha1.
	std := startNode(t, loopbackConfig(mnConfig(), "127.0.0.4"), Options{PSKs: mnPSK})
	if _, err := std.rt.Initiate(ctx, Peer{Remote: ha1Addr, NATTPort: natt1, ID: "ha.example",
		Request: ike.CPRequest{IPv6: true}, RemoteTS: []netip.Prefix{innerNet}}); err != nil {
		t.Fatal(err)
	}
	waitFor[ike.IKEUp](t, ctx, std.events, new(int), nil)
	if n := len(eventsOf[ike.RedirectReceived](std.events)); n != 0 {
		t.Errorf("standard client got %d redirects", n)
	}
}

// TestRedirectPairEstablishedWithTicket: a home agent redirects an
// established IKE SA (RFC 5685 §5) with a handover ticket; the client sets
// up its new SA first, presenting the ticket, and gets the inner address it
// held although it did not ask for it; then it deletes the old SA. Traffic
// flows through the new one.
func TestRedirectPairEstablishedWithTicket(t *testing.T) {
	ctx := testContext(t)
	b := startNode(t, loopbackConfig(haConfig(), "127.0.0.5"), withOptions(haOptions(t), func(o *Options) {
		o.Redirect = &RedirectOptions{TicketKey: ticketTestKey, Member: "b"}
	}))
	_, nattB := b.rt.Ports()
	target := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.5"), nattB)

	// a's pool has handed out the first address to someone else, so the
	// client's address there is not the one b would pick.
	poolA := newTestPool(t, homePrefix, "")
	if _, err := poolA.Assign(ctx, ike.AddressRequest{Peer: ike.FQDN("other.example"), IPv6: true}); err != nil {
		t.Fatal(err)
	}
	a := startNode(t, loopbackConfig(haConfig(), "127.0.0.4"), withOptions(haOptions(t), func(o *Options) {
		o.Addresses = poolA
		o.Redirect = &RedirectOptions{TicketKey: ticketTestKey, Member: "a", Grace: time.Minute}
	}))
	ikeA, nattA := a.rt.Ports()
	mn := startNode(t, loopbackConfig(mnConfig(), "127.0.0.6"), Options{PSKs: mnPSK, RedirectExtensions: true})
	old, err := mn.rt.Initiate(ctx, Peer{Remote: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.4"), ikeA), NATTPort: nattA,
		ID: "ha.example", Request: ike.CPRequest{IPv6: true}, RemoteTS: []netip.Prefix{innerNet}})
	if err != nil {
		t.Fatal(err)
	}
	var from int
	held := waitFor[ike.AddressAssigned](t, ctx, mn.events, &from, func(e ike.AddressAssigned) bool { return e.ToUs }).Assignment.IPv6
	waitFor[ike.ChildUp](t, ctx, mn.events, &from, nil)
	haSAs, err := a.rt.SAs(ctx)
	if err != nil || len(haSAs) != 1 {
		t.Fatalf("a's SAs %+v (%v)", haSAs, err)
	}
	if err := a.rt.Redirect(ctx, haSAs[0].ID, ike.RedirectTarget{Gateway: wire.GatewayAddrPort(target)}); err != nil {
		t.Fatal(err)
	}
	rd := waitFor[ike.RedirectReceived](t, ctx, mn.events, &from, nil)
	if rd.Exchange != wire.ExchangeInformational || rd.Target.Gateway != wire.GatewayAddrPort(target) || len(rd.Target.Ticket) == 0 {
		t.Fatalf("RedirectReceived %+v", rd)
	}
	// Make before break: the new SA first, asking for any address.
	if _, err := mn.rt.Initiate(ctx, Peer{Remote: target, NATTPort: target.Port(), ID: "ha.example",
		Request: ike.CPRequest{IPv6: true}, RemoteTS: []netip.Prefix{innerNet}, RedirectedFrom: &rd.From, Ticket: rd.Target.Ticket}); err != nil {
		t.Fatal(err)
	}
	got := waitFor[ike.AddressAssigned](t, ctx, mn.events, &from, func(e ike.AddressAssigned) bool { return e.ToUs }).Assignment.IPv6
	if got.Addr() != held.Addr() {
		t.Fatalf("b assigned %v, the client held %v", got, held)
	}
	waitFor[ike.ChildUp](t, ctx, mn.events, &from, nil)
	if err := mn.rt.Delete(ctx, old); err != nil {
		t.Fatal(err)
	}
	if aDown := waitFor[ike.IKEDown](t, ctx, a.events, new(int), nil); aDown.Reason != ike.DownDeletedByPeer {
		t.Errorf("a's SA ended %+v, want deleted by the client", aDown)
	}
	through(t, ctx, mn, b, held.Addr(), innerAddr, "through the new SA")
	through(t, ctx, b, mn, innerAddr, held.Addr(), "back through the new SA")
	if got := a.rt.RedirectCounts(); !slices.Equal(got, []RedirectCount{{StageInformational, ReasonCommand, 1}}) {
		t.Errorf("a's counts %+v", got)
	}
	// A client that did not announce support cannot be redirected.
	std := startNode(t, loopbackConfig(mnConfig(), "127.0.0.7"), Options{PSKs: mnPSK, DisableRedirect: true})
	if _, err := std.rt.Initiate(ctx, Peer{Remote: netip.AddrPortFrom(netip.MustParseAddr("127.0.0.4"), ikeA), NATTPort: nattA,
		ID: "ha.example", Request: ike.CPRequest{IPv6: true}, RemoteTS: []netip.Prefix{innerNet}}); err != nil {
		t.Fatal(err)
	}
	waitFor[ike.ChildUp](t, ctx, std.events, new(int), nil)
	n, err := a.rt.RedirectPeer(ctx, ike.FQDN("mn.example"), ike.RedirectTarget{Gateway: wire.GatewayAddr(target.Addr())})
	if n != 0 || !errors.Is(err, ErrNoRedirect) {
		t.Errorf("RedirectPeer of a client without support: %d, %v", n, err)
	}
}

// eventsOf returns the engine events of type T a runtime reported so far.
func eventsOf[T ike.Event](l *eventLog) []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	var r []T
	for _, e := range l.events {
		if x, ok := e.IKE.(T); ok {
			r = append(r, x)
		}
	}
	return r
}

// TestRedirectServiceAnycastFromConfig: the home agent service answers on
// its anycast address (ike.redirect.anycast) with a REDIRECT to its own
// unicast address (cluster.addresses), from the anycast address, without
// state (RFC 5685 §4); with ike.redirect.enable its placement view follows
// the store's members.
func TestRedirectServiceAnycastFromConfig(t *testing.T) {
	ctx := testContext(t)
	cfg := serviceConfig(t, t.TempDir())
	anycast, unicast := netip.MustParseAddr("127.0.0.9"), netip.MustParseAddr("127.0.0.8")
	cfg.IKE.Listen = []string{anycast.String()}
	cfg.IKE.Redirect.Enable = true
	cfg.IKE.Redirect.Anycast = []string{anycast.String()}
	cfg.Cluster.Addresses = []string{unicast.String()}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ha := startService(t, cfg)
	mn := startNode(t, loopbackConfig(mnConfig(), "127.0.0.10"), Options{PSKs: mnPSK})
	ikePort, nattPort := ha.svc.rt.Ports()
	if _, err := mn.rt.Initiate(ctx, Peer{Remote: netip.AddrPortFrom(anycast, ikePort), NATTPort: nattPort, ID: "ha.example",
		Request: ike.CPRequest{IPv6: true}}); err != nil {
		t.Fatal(err)
	}
	rd := waitFor[ike.RedirectReceived](t, ctx, mn.events, new(int), nil)
	if rd.Exchange != wire.ExchangeIKESAInit || rd.Target.Gateway != wire.GatewayAddr(unicast) || rd.From != wire.GatewayAddr(anycast) {
		t.Fatalf("RedirectReceived %+v: want IKE_SA_INIT to %v from the anycast %v", rd, unicast, anycast)
	}
	if st := ha.svc.rt.Stats(); st.Responder[ike.AnsweredRedirect] != 1 || st.HalfOpen != 0 {
		t.Errorf("responder %+v", st.Responder)
	}
	for ha.svc.view.Policy() == nil {
		select {
		case <-ctx.Done():
			t.Fatal("placement view never built from the store's members")
		case <-time.After(10 * time.Millisecond):
		}
	}
	if self := ha.svc.view.Policy().Self(); self != "ha1" {
		t.Errorf("view of member %q", self)
	}
}

// TestRedirectorMetrics: every redirect is counted in mip6ha.ike.redirects
// with its stage and reason (docs/telemetry.md).
func TestRedirectorMetrics(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	m, err := telemetry.NewMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)))
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewStaticView(policy.DefaultConfig(), policy.View{Self: "ha1", Members: []policy.Member{
		{ID: "ha1", Site: "s", Addrs: []netip.Addr{ha1Addr}, Capacity: 10, Healthy: true, Draining: true},
		{ID: "ha2", Site: "s", Addrs: []netip.Addr{ha2Addr}, Capacity: 10, Healthy: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := NewRedirector(v, StaticLeases{ike.FQDN("mn.example"): "ha2"}, nil, m)
	r.AtInit(ike.InitInfo{Remote: client6})
	r.AtInit(ike.InitInfo{Remote: client6})
	r.AtAuth(ike.AuthInfo{InitInfo: ike.InitInfo{Remote: client6}, Peer: ike.FQDN("mn.example")})
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(t.Context(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			if s, ok := mt.Data.(metricdata.Sum[int64]); ok && mt.Name == "mip6ha.ike.redirects" {
				for _, dp := range s.DataPoints {
					stage, _ := dp.Attributes.Value(telemetry.KeyRedirectStage)
					reason, _ := dp.Attributes.Value(telemetry.KeyRedirectReason)
					got[stage.AsString()+"/"+reason.AsString()] = dp.Value
				}
			}
		}
	}
	if want := map[string]int64{"init/draining": 2, "auth/lease-elsewhere": 1}; !maps.Equal(got, want) {
		t.Errorf("mip6ha.ike.redirects %v, want %v", got, want)
	}
}
