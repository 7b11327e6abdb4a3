package labcheck

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/lab"
)

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// TestLabTopologyPing builds the project topology and pings every other
// host from mn over IPv6 and IPv4.
func TestLabTopologyPing(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{})
	ctx := ctxFor(t, 30*time.Second)
	for _, a := range []lab.Addrs{tp.HAAddrs[0], tp.HAAddrs[1], tp.CNAddr} {
		for _, dst := range []netip.Addr{a.V6, a.V4} {
			if err := tp.MN.Ping(ctx, dst.String(), "", 2); err != nil {
				t.Error(err)
			}
		}
	}
}

// peerSeenBy opens a TCP listener on host at addr, connects to it from
// client, and returns the remote address the listener saw.
func peerSeenBy(ctx context.Context, t *testing.T, host *lab.Host, addr netip.Addr, client *lab.Host) netip.Addr {
	t.Helper()
	ln, err := host.Listen("tcp", netip.AddrPortFrom(addr, 0).String())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	if _, err := client.Dial(ctx, "tcp", "", ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	select {
	case c := <-accepted:
		defer c.Close()
		return c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
	case <-ctx.Done():
		t.Fatalf("%s: no connection accepted on %s: %v", host, ln.Addr(), ctx.Err())
	}
	return netip.Addr{}
}

// TestLabNAT checks the source address cn sees for connections from mn:
// r's own address on the cn link with NAT44/NAT66, mn's address without.
func TestLabNAT(t *testing.T) {
	t.Parallel()
	for _, nat := range []bool{false, true} {
		t.Run(fmt.Sprintf("nat=%v", nat), func(t *testing.T) {
			t.Parallel()
			tp := lab.NewTopology(t, lab.TopologyConfig{NAT44: nat, NAT66: nat})
			ctx := ctxFor(t, 30*time.Second)
			want := tp.MNAddrs()
			if nat {
				want = tp.CNRouter
			}
			if got := peerSeenBy(ctx, t, tp.CN, tp.CNAddr.V6, tp.MN); got != want.V6 {
				t.Errorf("IPv6: cn sees mn as %s, want %s", got, want.V6)
			}
			if got := peerSeenBy(ctx, t, tp.CN, tp.CNAddr.V4, tp.MN); got != want.V4 {
				t.Errorf("IPv4: cn sees mn as %s, want %s", got, want.V4)
			}
			// Inside the visited link nothing is translated.
			if got := peerSeenBy(ctx, t, tp.R, tp.West.Router.V4, tp.MN); got != tp.West.MN.V4 {
				t.Errorf("IPv4 on the visited link: r sees mn as %s, want %s", got, tp.West.MN.V4)
			}
		})
	}
}

// TestLabMoveMN moves mn from the west visited link (behind NAT44) to the
// east one (no NAT) and back; cn sees mn's address change, and the old
// address is gone from mn.
func TestLabMoveMN(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{East: true, NAT44: true, NATSites: []string{"west"}})
	ctx := ctxFor(t, 40*time.Second)
	for _, site := range []*lab.Site{tp.West, tp.East, tp.West} {
		if tp.Site() != site {
			tp.MoveMN(site)
		}
		if tp.Site() != site || tp.MNAddrs() != site.MN {
			t.Fatalf("after moving to %s: site %v, addresses %v", site.Name, tp.Site(), tp.MNAddrs())
		}
		seen4 := site.MN.V4
		if site == tp.West {
			seen4 = tp.CNRouter.V4
		}
		for _, pair := range [][2]netip.Addr{{tp.CNAddr.V6, site.MN.V6}, {tp.CNAddr.V4, seen4}} {
			if got := peerSeenBy(ctx, t, tp.CN, pair[0], tp.MN); got != pair[1] {
				t.Errorf("on %s: cn sees mn as %s, want %s", site.Name, got, pair[1])
			}
		}
		addrs, err := tp.MNLink.A.Addrs(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			if a.Scope == "global" && a.Prefix.Addr() != site.MN.V6 && a.Prefix.Addr() != site.MN.V4 {
				t.Errorf("on %s: mn still has %s", site.Name, a.Prefix)
			}
		}
	}
}

// TestLabAnycast checks the policy routing of the anycast address: from
// the west link it reaches ha1, from the east link ha2.
func TestLabAnycast(t *testing.T) {
	t.Parallel()
	anycast := netip.MustParseAddr("2001:db8:ff::1")
	tp := lab.NewTopology(t, lab.TopologyConfig{East: true, Anycast: lab.Addrs{V6: anycast}})
	ctx := ctxFor(t, 40*time.Second)

	type hit struct {
		ha   *lab.Host
		peer netip.Addr
	}
	hits := make(chan hit, 4)
	const port = 7000
	for _, ha := range tp.HAs {
		ln, err := ha.Listen("tcp", netip.AddrPortFrom(anycast, port).String())
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				hits <- hit{ha, c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr()}
				c.Close()
			}
		}()
	}
	for _, step := range []struct {
		site *lab.Site
		want *lab.Host
	}{{tp.West, tp.HA1}, {tp.East, tp.HA2}, {tp.West, tp.HA1}} {
		if tp.Site() != step.site {
			tp.MoveMN(step.site)
		}
		if _, err := tp.MN.Dial(ctx, "tcp", "", netip.AddrPortFrom(anycast, port).String()); err != nil {
			t.Fatal(err)
		}
		select {
		case h := <-hits:
			if h.ha != step.want || h.peer != step.site.MN.V6 {
				t.Errorf("from %s: anycast reached %s (peer %s), want %s (peer %s)", step.site.Name, h.ha, h.peer, step.want, step.site.MN.V6)
			}
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
}

// TestLabCapture captures a ping on cn with tcpdump and decodes it with
// tshark and with lab.ParsePcap.
func TestLabCapture(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{})
	ctx := ctxFor(t, 30*time.Second)
	mn, cn := tp.MNAddrs().V6.String(), tp.CNAddr.V6.String()
	// Resolve the neighbours first, so that the capture holds the echoes.
	if err := tp.MN.WaitPing(ctx, cn, ""); err != nil {
		t.Fatal(err)
	}
	capture := tp.CN.Capture("eth0", "icmp6 and (ip6[40] == 128 or ip6[40] == 129)")
	const n = 3
	if err := tp.MN.Ping(ctx, cn, "", n); err != nil {
		t.Fatal(err)
	}
	if err := capture.WaitPackets(ctx, 2*n); err != nil {
		t.Fatal(err)
	}
	pcap := capture.Stop()

	rows, err := lab.TsharkFields(ctx, pcap, "", []string{"icmpv6.type", "ipv6.src", "ipv6.dst", "icmpv6.echo.sequence_number"})
	if err != nil {
		t.Fatal(err)
	}
	// Each echo request from mn and its reply from cn; ping sends more
	// requests than n only if an answer is late.
	requests, replies := map[string]bool{}, map[string]bool{}
	for i, r := range rows {
		switch {
		case r[0] == "128" && r[1] == mn && r[2] == cn:
			requests[r[3]] = true
		case r[0] == "129" && r[1] == cn && r[2] == mn && requests[r[3]]:
			replies[r[3]] = true
		default:
			t.Errorf("packet %d: unexpected %q", i+1, r)
		}
	}
	if len(replies) < n || len(replies) != len(requests) {
		t.Errorf("%d echo requests and %d replies to them, want %d of each: %q", len(requests), len(replies), n, rows)
	}

	// lab.ParsePcap reads the same packets.
	pkts, err := capture.Packets()
	if err != nil {
		t.Fatal(err)
	}
	if len(pkts) != len(rows) {
		t.Fatalf("ParsePcap: %d packets, tshark %d", len(pkts), len(rows))
	}
	for i, p := range pkts {
		// Ethernet (14) + IPv6 (40): the ICMPv6 type follows.
		if len(p.Data) < 55 || p.Data[12] != 0x86 || p.Data[13] != 0xdd {
			t.Fatalf("packet %d: not IPv6 over Ethernet: % x", i+1, p.Data)
		}
		if typ := p.Data[54]; fmt.Sprint(typ) != rows[i][0] {
			t.Errorf("packet %d: ICMPv6 type %d, tshark says %s", i+1, typ, rows[i][0])
		}
	}
}
