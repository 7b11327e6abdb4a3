package homelink_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"golang.org/x/net/ipv6"

	"github.com/mip6ha/mip6ha/homeagent/dataplane"
	"github.com/mip6ha/mip6ha/homeagent/homelink"
	"github.com/mip6ha/mip6ha/test/lab"
)

// TestDefendProxiesAndRoutesIntoTUN: once an agent defends a home address,
// a neighbour's address resolution for it is answered with the agent's
// link-layer address (the kernel's proxy NDP) and the neighbour's packets
// for it come out of the agent's TUN device (RFC 6275 §10.4.1).
func TestDefendProxiesAndRoutesIntoTUN(t *testing.T) {
	hl := newHomeLink(t, 1)
	ha := hl.agents[0]
	d := ha.defender(t, homelink.Options{RetransTimer: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	// The lab's agents start without forwarding: New turns on what the
	// kernel needs and says so.
	var names []string
	for _, c := range d.Sysctls() {
		names = append(names, c.Name)
	}
	for _, want := range []string{"net.ipv6.conf.all.forwarding", "net.ipv6.conf.all.proxy_ndp"} {
		if !slices.Contains(names, want) {
			t.Errorf("Sysctls() = %v, missing %s", d.Sysctls(), want)
		}
		if v, err := ha.host.ReadSysctl(ctx, want); err != nil || v != "1" {
			t.Errorf("%s = %q (%v) in the agent, want 1", want, v, err)
		}
	}

	// The home link's prefix: where home addresses must lie.
	if got, err := d.Prefixes(); err != nil || !slices.Equal(got, []netip.Prefix{homePrefix}) {
		t.Errorf("Prefixes() = %v, %v; want [%s]", got, err, homePrefix)
	}

	if err := d.Defend(ctx, hoa); err != nil {
		t.Fatal(err)
	}
	if got := d.List(); !slices.Equal(got, []netip.Addr{hoa}) {
		t.Errorf("List() = %v", got)
	}
	// r has no entry for the address yet: it resolves it with a multicast
	// solicitation, which the agent's kernel answers.
	hl.send(t, ctx, hoa, "first")
	ha.await(t, ctx, hoa, "first")
	if ll, st := hl.neighbour(t, hoa); ll != d.LinkAddr().String() {
		t.Errorf("r resolved %s to %q (%s), want the agent's %s", hoa, ll, st, d.LinkAddr())
	}
}

// TestUnicastSolicitationAnswered: the Neighbor Unreachability Detection
// probe a neighbour sends to the home address itself (a unicast
// solicitation) is answered by the agent's proxy, R and O clear
// (RFC 4861 §7.2.8, RFC 6275 §10.4.1), rather than being forwarded into
// the TUN device. This is what net.ipv6.conf.all.proxy_ndp is for.
func TestUnicastSolicitationAnswered(t *testing.T) {
	hl := newHomeLink(t, 1)
	ha := hl.agents[0]
	d := ha.defender(t, homelink.Options{Advertisements: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := d.Defend(ctx, hoa); err != nil {
		t.Fatal(err)
	}
	mac, err := net.ParseMAC(strings.TrimSpace(hl.r.MustRun("cat", "/sys/class/net/br-home/address")))
	if err != nil {
		t.Fatal(err)
	}
	var pc net.PacketConn
	inNamespace(t, hl.r, func() (err error) {
		pc, err = net.ListenPacket("ip6:ipv6-icmp", routerV6.String())
		return err
	})
	defer pc.Close()
	p := ipv6.NewPacketConn(pc)
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeNeighborAdvertisement)
	if err := errors.Join(p.SetICMPFilter(&f), p.SetHopLimit(255), p.SetControlMessage(ipv6.FlagHopLimit, true)); err != nil {
		t.Fatal(err)
	}
	ns := homelink.NeighborSolicitation{Target: hoa, SourceLinkLayerAddress: mac}
	if _, err := p.WriteTo(ns.Append(nil), nil, &net.IPAddr{IP: hoa.AsSlice()}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1500)
	for {
		if err := p.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
			t.Fatal(err)
		}
		n, cm, src, err := p.ReadFrom(buf)
		if err != nil {
			t.Fatalf("no answer to a unicast solicitation for %s: %v", hoa, err)
		}
		na, err := homelink.ParseNeighborAdvertisement(buf[:n])
		if err != nil || na.Target != hoa {
			continue
		}
		if cm == nil || cm.HopLimit != 255 {
			t.Errorf("answer with control message %v, want hop limit 255", cm)
		}
		if !na.Solicited || na.Override || na.Router {
			t.Errorf("answer from %v has S=%v O=%v R=%v, want a solicited proxy advertisement (S=1 O=0 R=0)",
				src, na.Solicited, na.Override, na.Router)
		}
		return
	}
}

// TestUnsolicitedAdvertisements: Defend multicasts Advertisements
// unsolicited Neighbor Advertisements, RetransTimer apart, laid out as
// RFC 6275 §10.4.1 wants: to all-nodes from the agent's address on the
// link, Hop Limit 255, R=0 S=0 O=1, Target the home address, Target
// Link-Layer Address the agent's. Wireshark decodes the capture.
func TestUnsolicitedAdvertisements(t *testing.T) {
	hl := newHomeLink(t, 1)
	ha := hl.agents[0]
	const retrans = 150 * time.Millisecond
	d := ha.defender(t, homelink.Options{RetransTimer: retrans})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	capture := hl.r.Capture("br-home", "icmp6 and ip6[40] == 136 and ip6 dst ff02::1")
	if err := d.Defend(ctx, hoa); err != nil {
		t.Fatal(err)
	}
	if err := capture.WaitPackets(ctx, homelink.MaxNeighborAdvertisement); err != nil {
		t.Fatal(err)
	}
	nas := advertisements(t, capture)
	// r never talked to the address: the advertisements update existing
	// entries only (RFC 4861 §7.2.5).
	if ll, st := hl.neighbour(t, hoa); ll != "" || st != "" {
		t.Errorf("r has an entry for %s after the advertisements: %s %s", hoa, ll, st)
	}
	if len(nas) != homelink.MaxNeighborAdvertisement {
		t.Fatalf("%d advertisements, want %d", len(nas), homelink.MaxNeighborAdvertisement)
	}
	for i, c := range nas {
		if i > 0 {
			// RFC 4861 §7.2.6: "separated by at least RetransTimer"; the
			// capture's clock may run a little early.
			if gap := c.at.Sub(nas[i-1].at); gap < retrans-5*time.Millisecond {
				t.Errorf("advertisement %d came %v after the one before, want at least %v", i, gap, retrans)
			}
		}
		if !c.ipSrc.IsLinkLocalUnicast() || !bytesEqual(c.ethSrc, d.LinkAddr()) {
			t.Errorf("advertisement %d from %s (%s), want the agent's link-local address and MAC %s", i, c.ipSrc, c.ethSrc, d.LinkAddr())
		}
	}

	rows, err := lab.TsharkFields(ctx, capture.Stop(), "", []string{
		"ipv6.hlim", "icmpv6.checksum.status", "icmpv6.nd.na.flag.r", "icmpv6.nd.na.flag.s", "icmpv6.nd.na.flag.o",
		"icmpv6.nd.na.target_address", "icmpv6.opt.target_linkaddr",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"255", "1", "0", "0", "1", hoa.String(), d.LinkAddr().String()}
	for i, row := range rows {
		if !slices.Equal(row, want) {
			t.Errorf("advertisement %d decoded as %q, want %q", i, row, want)
		}
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }

// TestReleaseStopsAdvertisements: after Release returns, no advertisement
// for the address leaves any more; otherwise a late one could pull the
// neighbours back after another agent has taken the address over.
func TestReleaseStopsAdvertisements(t *testing.T) {
	hl := newHomeLink(t, 1)
	ha := hl.agents[0]
	d := ha.defender(t, homelink.Options{RetransTimer: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	other := netip.MustParseAddr("2001:db8:1::51")

	capture := hl.r.Capture("br-home", "icmp6 and ip6[40] == 136 and ip6 dst ff02::1")
	if err := d.Defend(ctx, hoa); err != nil {
		t.Fatal(err)
	}
	if err := d.Release(ctx, hoa); err != nil {
		t.Fatal(err)
	}
	// The other address's advertisements span the time in which hoa's
	// would have been repeated.
	if err := d.Defend(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := capture.WaitPackets(ctx, 1+homelink.MaxNeighborAdvertisement); err != nil {
		t.Fatal(err)
	}
	count := map[netip.Addr]int{}
	for _, c := range advertisements(t, capture) {
		count[c.na.Target]++
	}
	if count[hoa] != 1 || count[other] != homelink.MaxNeighborAdvertisement {
		t.Errorf("advertisements per target %v, want 1 for the released %s and %d for %s",
			count, hoa, homelink.MaxNeighborAdvertisement, other)
	}
}

// TestTakeover is the make-before-break move of a home address between two
// agents on one home link: ha2 defends the address while ha1 still does,
// its unsolicited advertisement (gratuitous ARP for IPv4) moves r's cache
// entry to ha2 at once, without waiting for Neighbor Unreachability
// Detection, then ha1 releases, and r's packets reach ha2's TUN device.
func TestTakeover(t *testing.T) {
	hl := newHomeLink(t, 2)
	ha1, ha2 := hl.agents[0], hl.agents[1]
	opt := homelink.Options{IPv4: true, RetransTimer: 100 * time.Millisecond}
	d1, d2 := ha1.defender(t, opt), ha2.defender(t, opt)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if got, err := d1.Prefixes(); err != nil || !slices.Equal(got, []netip.Prefix{homeNet4, homePrefix}) {
		t.Errorf("Prefixes() = %v, %v; want [%s %s]", got, err, homeNet4, homePrefix)
	}

	nas := hl.r.Capture("br-home", "icmp6 and ip6[40] == 136 and ip6 dst ff02::1")
	garps := hl.r.Capture("br-home", "arp and arp[6:2] = 1 and arp[14:4] = arp[24:4]")
	for _, a := range []netip.Addr{hoa, hoa4} {
		if err := d1.Defend(ctx, a); err != nil {
			t.Fatal(err)
		}
		hl.send(t, ctx, a, "before")
		ha1.await(t, ctx, a, "before")
		if ll, st := hl.neighbour(t, a); ll != d1.LinkAddr().String() {
			t.Fatalf("r's entry for %s: %s %s, want ha1's %s", a, ll, st, d1.LinkAddr())
		}
	}
	// ha1's own repetitions are over before the move (they would pull r
	// back otherwise, which the lease store's single owner prevents).
	if err := errors.Join(nas.WaitPackets(ctx, 3), garps.WaitPackets(ctx, 3)); err != nil {
		t.Fatal(err)
	}

	for _, a := range []netip.Addr{hoa, hoa4} {
		start := time.Now()
		if err := d2.Defend(ctx, a); err != nil {
			t.Fatal(err)
		}
		hl.awaitNeighbour(t, ctx, a, d2.LinkAddr())
		// Without the advertisement r would keep ha1's address until NUD
		// (DELAY_FIRST_PROBE_TIME is 5 s, then probes) found ha1 gone; the
		// advertisement takes microseconds, the bound leaves room for a
		// loaded machine.
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("r's entry for %s moved to ha2 after %v", a, took)
		}
	}
	for _, a := range []netip.Addr{hoa, hoa4} {
		if err := d1.Release(ctx, a); err != nil {
			t.Fatal(err)
		}
		hl.send(t, ctx, a, "after")
		ha2.await(t, ctx, a, "after")
	}
	for {
		select {
		case p := <-ha1.pkts:
			if _, body, ok := udpTo(p); ok && string(body) == "after" {
				t.Errorf("a packet sent after the move reached ha1")
			}
			continue
		default:
		}
		break
	}
}

// TestReleaseLeavesNoTrace: Release removes the proxy entry and the route
// of one address and is idempotent; ReleaseAll removes them all; Close
// restores the sysctls. Checked with `ip`, as an operator would.
func TestReleaseLeavesNoTrace(t *testing.T) {
	hl := newHomeLink(t, 1)
	ha := hl.agents[0]
	d := ha.defender(t, homelink.Options{IPv4: true, Advertisements: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	hoa2 := netip.MustParseAddr("2001:db8:1::51")
	linkLocal := netip.MustParseAddr("fe80::50") // the L flag's address: proxied, never routed
	all := []netip.Addr{hoa, hoa2, linkLocal, hoa4}
	for _, a := range all {
		if err := d.Defend(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	proxies := func() string { return ha.host.IP("neigh", "show", "proxy") }
	routes := func() string {
		return ha.host.IP("-6", "route", "show", "proto", "135") + ha.host.IP("-4", "route", "show", "proto", "135")
	}
	for _, a := range all {
		if !strings.Contains(proxies(), a.String()+" dev eth0 proxy proto 135") {
			t.Errorf("no proxy entry for %s:\n%s", a, proxies())
		}
	}
	for _, want := range []string{hoa.String() + " dev tun0 metric 512", hoa2.String() + " dev tun0 metric 512", hoa4.String() + " dev tun0 scope link metric 512"} {
		if !strings.Contains(routes(), want) {
			t.Errorf("no route %q:\n%s", want, routes())
		}
	}
	if strings.Contains(routes(), "fe80") {
		t.Errorf("a route for the link-local address:\n%s", routes())
	}

	for range 2 { // the second time finds nothing to do
		if err := d.Release(ctx, hoa); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(proxies(), hoa.String()+" ") || strings.Contains(routes(), hoa.String()+" ") {
		t.Errorf("%s left after Release:\n%s%s", hoa, proxies(), routes())
	}
	if got := d.List(); !slices.Equal(got, []netip.Addr{hoa4, hoa2, linkLocal}) {
		t.Errorf("List() = %v after releasing %s", got, hoa)
	}

	if err := d.ReleaseAll(ctx); err != nil {
		t.Fatal(err)
	}
	if p, r := proxies(), routes(); p != "" || r != "" {
		t.Errorf("left after ReleaseAll:\n%s%s", p, r)
	}
	// Not under another marker either: nothing in the tables names them.
	everything := ha.host.IP("-6", "route", "show", "table", "all") + ha.host.IP("-4", "route", "show", "table", "all") +
		ha.host.IP("neigh", "show", "proxy")
	for _, a := range all {
		if strings.Contains(everything, a.String()+" ") {
			t.Errorf("%s still in the kernel's tables:\n%s", a, everything)
		}
	}
	if got := d.List(); len(got) != 0 {
		t.Errorf("List() = %v after ReleaseAll", got)
	}

	changed := d.Sysctls()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range changed {
		if v, err := ha.host.ReadSysctl(ctx, c.Name); err != nil || v != c.Old {
			t.Errorf("%s = %q after Close (%v), want %q back", c.Name, v, err, c.Old)
		}
	}
	if err := d.Defend(ctx, hoa); !errors.Is(err, homelink.ErrClosed) {
		t.Errorf("Defend after Close: %v, want ErrClosed", err)
	}
}

// TestCloseReleases: Close withdraws what is still defended.
func TestCloseReleases(t *testing.T) {
	hl := newHomeLink(t, 1)
	ha := hl.agents[0]
	d := ha.defender(t, homelink.Options{Advertisements: 1, KeepSysctls: true})
	if err := d.Defend(t.Context(), hoa); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if p := ha.host.IP("-6", "neigh", "show", "proxy"); p != "" {
		t.Errorf("proxy entries after Close:\n%s", p)
	}
	if r := ha.host.IP("-6", "route", "show", "proto", "135"); r != "" {
		t.Errorf("routes after Close:\n%s", r)
	}
	if v, err := ha.host.ReadSysctl(t.Context(), "net.ipv6.conf.all.proxy_ndp"); err != nil || v != "1" {
		t.Errorf("proxy_ndp = %q (%v) after Close with KeepSysctls, want 1", v, err)
	}
}

// TestReconcileRemovesStaleEntries: entries carrying the marker that no
// Defender defends (a crashed run's) are removed at start-up; entries
// without the marker, and defended ones, stay.
func TestReconcileRemovesStaleEntries(t *testing.T) {
	hl := newHomeLink(t, 1)
	ha := hl.agents[0]
	stale, foreign := "2001:db8:1::77", "2001:db8:1::88"
	ha.host.IP("-6", "route", "add", stale+"/128", "dev", "tun0", "proto", "135", "metric", "512")
	ha.host.IP("-6", "neigh", "add", "proxy", stale, "dev", "eth0", "proto", "135")
	ha.host.IP("-6", "route", "add", foreign+"/128", "dev", "tun0")
	ha.host.IP("-6", "neigh", "add", "proxy", foreign, "dev", "eth0")

	d := ha.defender(t, homelink.Options{Advertisements: 1})
	ctx := t.Context()
	if err := d.Defend(ctx, hoa); err != nil {
		t.Fatal(err)
	}
	removed, err := d.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := []netip.Addr{netip.MustParseAddr(stale)}; !slices.Equal(removed, want) {
		t.Errorf("Reconcile removed %v, want %v", removed, want)
	}
	proxies, routes := ha.host.IP("-6", "neigh", "show", "proxy"), ha.host.IP("-6", "route", "show")
	for _, gone := range []string{stale + " "} {
		if strings.Contains(proxies, gone) || strings.Contains(routes, gone) {
			t.Errorf("stale %s survived:\n%s%s", stale, proxies, routes)
		}
	}
	for _, kept := range []string{foreign + " ", hoa.String() + " "} {
		if !strings.Contains(proxies, kept) || !strings.Contains(routes, kept) {
			t.Errorf("%q removed:\n%s%s", kept, proxies, routes)
		}
	}
}

// TestDAD: Duplicate Address Detection on the home link (RFC 6275
// §10.3.1, RFC 4862 §5.4) finds an address another node uses, an address
// another home agent defends (its proxy answers, within the default
// RetransTimer), another node's DAD for the same address, and reports
// unused addresses unique.
func TestDAD(t *testing.T) {
	hl := newHomeLink(t, 2)
	ha1, ha2 := hl.agents[0], hl.agents[1]
	d1 := ha1.defender(t, homelink.Options{IPv4: true}) // default RetransTimer: 1 s
	d2 := ha2.defender(t, homelink.Options{IPv4: true, RetransTimer: 300 * time.Millisecond, Advertisements: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	rmac, err := net.ParseMAC(strings.TrimSpace(hl.r.MustRun("cat", "/sys/class/net/br-home/address")))
	if err != nil {
		t.Fatal(err)
	}

	duplicate := func(t *testing.T, err error, evidence string, mac net.HardwareAddr) {
		t.Helper()
		var dup *homelink.DuplicateError
		if !errors.Is(err, homelink.ErrDuplicate) || !errors.As(err, &dup) {
			t.Fatalf("DAD: %v, want a duplicate", err)
		}
		if dup.Evidence != evidence || (mac != nil && !bytesEqual(dup.LinkAddr, mac)) {
			t.Errorf("evidence %q with %v, want %q with %v", dup.Evidence, dup.LinkAddr, evidence, mac)
		}
		t.Logf("%v", dup)
		if dup.Status() != homelink.StatusDADFailed {
			t.Errorf("Status() = %d, want 134", dup.Status())
		}
	}

	t.Run("address of another node", func(t *testing.T) {
		duplicate(t, d2.DAD(ctx, routerV6), "Neighbor Advertisement", rmac)
	})
	// ha2 defends hoa and hoa4 from here on. Its unsolicited
	// advertisement and gratuitous ARP, evidence in their own right, reach
	// ha1 before ha1's DAD for the unused address ends, so that what ha1's
	// DADs for hoa and hoa4 find below is the answers to their own
	// solicitations.
	for _, a := range []netip.Addr{hoa, hoa4} {
		if err := d2.Defend(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("unused address", func(t *testing.T) {
		start := time.Now()
		if err := d1.DAD(ctx, netip.MustParseAddr("2001:db8:1::99")); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took < homelink.RetransTimer {
			t.Errorf("unique after %v, before RetransTimer", took)
		}
	})
	t.Run("address another home agent defends", func(t *testing.T) {
		// The kernel delays a proxy answer to a multicast solicitation by
		// up to proxy_delay (0.8 s), within the default RetransTimer.
		duplicate(t, d1.DAD(ctx, hoa), "Neighbor Advertisement", d2.LinkAddr())
		if err := d2.DAD(ctx, hoa); !errors.Is(err, homelink.ErrDefended) {
			t.Errorf("DAD for its own address: %v, want ErrDefended", err)
		}
		if err := d2.Release(ctx, hoa); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("simultaneous DAD", func(t *testing.T) {
		// Both agents test one address at once: each sees the other's
		// solicitation from the unspecified address (RFC 4862 §5.4.3). The
		// one that starts later may miss the first's solicitation, never
		// both.
		a := netip.MustParseAddr("2001:db8:1::aa")
		errs := make(chan error, 2)
		go func() { errs <- d1.DAD(ctx, a) }()
		go func() { errs <- d2.DAD(ctx, a) }()
		found := 0
		for range 2 {
			err := <-errs
			t.Logf("DAD: %v", err)
			var dup *homelink.DuplicateError
			if errors.As(err, &dup) && dup.Evidence == "Neighbor Solicitation" && dup.From.IsUnspecified() {
				found++
			} else if err != nil {
				t.Errorf("DAD: %v", err)
			}
		}
		if found == 0 {
			t.Error("neither agent saw the other's DAD")
		}
	})
	t.Run("IPv4 address of another node", func(t *testing.T) {
		duplicate(t, d2.DAD(ctx, routerV4), "ARP", rmac)
	})
	t.Run("IPv4 address another home agent defends", func(t *testing.T) {
		// Linux answers ARP probes only for its own addresses, never from
		// a proxy entry (arp_process): IPv4 DAD does not see a defender.
		defer d2.Release(ctx, hoa4)
		if err := d1.DAD(ctx, hoa4); err != nil {
			t.Errorf("DAD: %v; the kernel now answers probes for proxied addresses, update the documentation", err)
		}
	})
	t.Run("unused IPv4 address", func(t *testing.T) {
		if err := d2.DAD(ctx, netip.MustParseAddr("198.51.100.99")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if err := d1.DAD(short, netip.MustParseAddr("2001:db8:1::98")); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("DAD past its deadline: %v", err)
		}
	})
}

// TestInputErrors: what New, Defend and DAD refuse.
func TestInputErrors(t *testing.T) {
	hl := newHomeLink(t, 1)
	ha := hl.agents[0]
	for _, tc := range []struct {
		home, tun string
		opt       homelink.Options
		err       error
	}{
		{"nosuch", "tun0", homelink.Options{}, homelink.ErrLink},
		{"eth0", "nosuch", homelink.Options{}, homelink.ErrLink},
		{"tun0", "tun0", homelink.Options{}, homelink.ErrLink}, // no link-layer address
		{"eth0", "tun0", homelink.Options{Advertisements: 4}, nil},
		{"eth0", "tun0", homelink.Options{Source: netip.MustParseAddr("192.0.2.1")}, nil},
	} {
		inNamespace(t, ha.host, func() error {
			d, err := homelink.New(tc.home, tc.tun, tc.opt)
			if err == nil {
				d.Close()
				t.Errorf("New(%q, %q, %+v) succeeded", tc.home, tc.tun, tc.opt)
			} else if tc.err != nil && !errors.Is(err, tc.err) {
				t.Errorf("New(%q, %q): %v, want %v", tc.home, tc.tun, err, tc.err)
			}
			return nil
		})
	}

	d := ha.defender(t, homelink.Options{Advertisements: 1})
	ctx := t.Context()
	for _, tc := range []struct {
		addr netip.Addr
		err  error
	}{
		{netip.Addr{}, homelink.ErrAddress},
		{netip.IPv6Unspecified(), homelink.ErrAddress},
		{netip.MustParseAddr("ff02::1"), homelink.ErrAddress},
		{netip.MustParseAddr("::1"), homelink.ErrAddress},
		{netip.MustParseAddr("::ffff:198.51.100.50"), homelink.ErrAddress},
		{netip.MustParseAddr("fe80::50%eth0"), homelink.ErrAddress},
		{hoa4, homelink.ErrFamily}, // IPv4 not enabled
	} {
		if err := d.Defend(ctx, tc.addr); !errors.Is(err, tc.err) {
			t.Errorf("Defend(%v): %v, want %v", tc.addr, err, tc.err)
		}
		if err := d.DAD(ctx, tc.addr); !errors.Is(err, tc.err) {
			t.Errorf("DAD(%v): %v, want %v", tc.addr, err, tc.err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := d.Defend(cancelled, hoa); !errors.Is(err, context.Canceled) {
		t.Errorf("Defend with a cancelled context: %v", err)
	}
	if got := d.List(); len(got) != 0 {
		t.Errorf("List() = %v after refused Defends", got)
	}
}

// TestCloseStopsGoroutines: every goroutine a Defender starts (the
// listeners for DAD, the advertisement repetitions) has returned when
// Close returns, even with repetitions and a DAD still running.
func TestCloseStopsGoroutines(t *testing.T) {
	hl := newHomeLink(t, 1)
	ha := hl.agents[0]
	existing := goleak.IgnoreCurrent()
	var d *homelink.Defender
	inNamespace(t, ha.host, func() (err error) {
		d, err = homelink.New("eth0", "tun0", homelink.Options{IPv4: true})
		return err
	})
	ctx := t.Context()
	for _, a := range []netip.Addr{hoa, hoa4} {
		if err := d.Defend(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	dad := make(chan error, 1)
	go func() { dad <- d.DAD(ctx, netip.MustParseAddr("2001:db8:1::99")) }()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-dad; err != nil && !errors.Is(err, homelink.ErrClosed) {
		t.Errorf("DAD during Close: %v", err)
	}
	goleak.VerifyNone(t, existing)
}

// BenchmarkDefendRelease is the kernel side of one binding on the home
// link: route, proxy entry and first advertisement, then their removal.
func BenchmarkDefendRelease(b *testing.B) {
	b.ReportAllocs()
	l := lab.New(b)
	ha, peer := l.Host("ha"), l.Host("peer")
	l.Link(ha, "eth0", peer, "eth0")
	var d *homelink.Defender
	benchInNamespace(b, ha, func() error {
		tun, err := dataplane.CreateTUN("tun0", 1400)
		if err != nil {
			return err
		}
		b.Cleanup(func() { tun.Close() })
		d, err = homelink.New("eth0", "tun0", homelink.Options{Advertisements: 1})
		return err
	})
	b.Cleanup(func() { d.Close() })
	ctx := context.Background()
	for b.Loop() {
		if err := d.Defend(ctx, hoa); err != nil {
			b.Fatal(err)
		}
		if err := d.Release(ctx, hoa); err != nil {
			b.Fatal(err)
		}
	}
}

// TestLinkDownUpRestores: setting the home link down makes the kernel drop
// its proxy entries, and the TUN device down its routes; when they come
// back up the Defender installs them again, and the neighbour's packets
// reach the TUN device once more.
func TestLinkDownUpRestores(t *testing.T) {
	hl := newHomeLink(t, 1)
	ha := hl.agents[0]
	d := ha.defender(t, homelink.Options{RetransTimer: 100 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := d.Defend(ctx, hoa); err != nil {
		t.Fatal(err)
	}
	proxied := func() bool { return strings.Contains(ha.host.IP("-6", "neigh", "show", "proxy"), hoa.String()+" ") }
	routed := func() bool {
		return strings.Contains(ha.host.IP("-6", "route", "show", "proto", "135"), hoa.String()+" ")
	}
	await := func(what string, cond func() bool) {
		t.Helper()
		err := lab.Poll(ctx, what, func(context.Context) error {
			if !cond() {
				return lab.ErrNotYet
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		iface string
		lost  func() bool
	}{
		{"eth0", proxied},
		{"tun0", routed},
	} {
		ha.host.IP("link", "set", tc.iface, "down")
		if tc.lost() {
			t.Errorf("%s down: the kernel kept the entry; this test checks nothing", tc.iface)
		}
		ha.host.IP("link", "set", tc.iface, "up")
		await("proxy entry back after "+tc.iface+" up", proxied)
		await("route back after "+tc.iface+" up", routed)
		payload := "after " + tc.iface + " flapped"
		hl.send(t, ctx, hoa, payload)
		ha.await(t, ctx, hoa, payload)
	}
	if got := d.List(); !slices.Equal(got, []netip.Addr{hoa}) {
		t.Errorf("List() = %v", got)
	}
}

// TestAdvertisementSource: with Options.Source the advertisements come
// from that address of the home link (RFC 6275 §10.4.1: "the home agent's
// IP address on the interface used to send the advertisement").
func TestAdvertisementSource(t *testing.T) {
	hl := newHomeLink(t, 1)
	ha := hl.agents[0]
	d := ha.defender(t, homelink.Options{Advertisements: 1, Source: ha.v6})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	capture := hl.r.Capture("br-home", "icmp6 and ip6[40] == 136 and ip6 dst ff02::1")
	if err := d.Defend(ctx, hoa); err != nil {
		t.Fatal(err)
	}
	if err := capture.WaitPackets(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if nas := advertisements(t, capture); len(nas) != 1 || nas[0].ipSrc != ha.v6 {
		t.Errorf("advertisements %+v, want one from %s", nas, ha.v6)
	}
}

// TestConcurrentDefendRelease: Defend, Release, List and DAD from several
// goroutines at once (run with -race) leave consistent state.
func TestConcurrentDefendRelease(t *testing.T) {
	hl := newHomeLink(t, 1)
	ha := hl.agents[0]
	d := ha.defender(t, homelink.Options{RetransTimer: 20 * time.Millisecond, DupAddrDetectTransmits: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	const workers, each = 4, 16
	errs := make(chan error, workers)
	for w := range workers {
		go func() {
			var err error
			for i := range each {
				a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 14: byte(w + 1), 15: byte(i)})
				err = errors.Join(err, d.DAD(ctx, a), d.Defend(ctx, a))
				_ = d.List()
				if i%2 == 1 {
					err = errors.Join(err, d.Release(ctx, a))
				}
			}
			errs <- err
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if n := len(d.List()); n != workers*each/2 {
		t.Errorf("%d addresses defended, want %d", n, workers*each/2)
	}
	proxies := strings.Count(ha.host.IP("-6", "neigh", "show", "proxy"), "proto 135")
	routes := strings.Count(ha.host.IP("-6", "route", "show", "proto", "135"), "tun0")
	if proxies != workers*each/2 || routes != workers*each/2 {
		t.Errorf("%d proxy entries and %d routes, want %d each", proxies, routes, workers*each/2)
	}
	if err := d.ReleaseAll(ctx); err != nil {
		t.Fatal(err)
	}
	if p := ha.host.IP("-6", "neigh", "show", "proxy"); p != "" {
		t.Errorf("left after ReleaseAll:\n%s", p)
	}
}
