// Package lab builds network-namespace labs for end-to-end tests: hosts
// (one network namespace each), veth links, bridges, addresses, routes and
// policy rules, NAT44/NAT66 through nftables, background processes, packet
// captures, and the project topology (mobile node, router, home agents,
// correspondent node) with helpers that move the mobile node between
// visited links.
//
// Everything a lab creates is named after a prefix unique to the lab
// (Lab.ID), so parallel tests and parallel test processes never collide,
// and is removed when the test ends, whether it passed, failed or
// panicked. Labs whose owning process died (a timeout, a kill) are
// removed by the next test process that creates a lab; their processes die
// with the test process (PR_SET_PDEATHSIG). The lab needs root: New skips
// the test otherwise.
//
// Waiting is done on events or on polled state (Poll, Host.WaitAddr,
// Host.WaitListening, Proc.WaitOutput, Capture.WaitPackets), never by
// sleeping a fixed time.
//
// A test that pings across the project topology and watches the wire:
//
//	func TestPingHome(t *testing.T) {
//		tp := lab.NewTopology(t, lab.TopologyConfig{NAT44: true})
//		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
//		defer cancel()
//
//		capture := tp.HA1.Capture("eth0", "icmp6")
//		if err := tp.MN.Ping(ctx, tp.HAAddrs[0].V6.String(), "", 3); err != nil {
//			t.Fatal(err)
//		}
//		if err := capture.WaitPackets(ctx, 6); err != nil {
//			t.Fatal(err)
//		}
//		rows, err := lab.TsharkFields(ctx, capture.Stop(), "icmpv6.type == 128",
//			[]string{"ipv6.src"})
//		...
//	}
//
// Building blocks, for topologies of one's own:
//
//	l := lab.New(t)
//	a, b := l.Host("a"), l.Host("b")
//	link := l.Link(a, "eth0", b, "eth0")
//	link.A.AddAddr("2001:db8::1/64")
//	link.B.AddAddr("2001:db8::2/64")
//	srv := b.Start("iperf3", "-s", "-B", "2001:db8::2")
//	err := b.WaitListening(ctx, "tcp", 5201)
//	...
//	srv.Stop()
//
// Daemons under test are built once per test process with Binary:
//
//	ha := tp.HA1.Start(lab.Binary(t, "./cmd/homeagent"), "run")
package lab
