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
// sleeping a fixed time. A daemon's JSON output is read with JSONLines and
// LogRecords, and awaited record by record with AwaitNth and
// AwaitLogRecord.
//
// A test that pings across the project topology and checks on the wire
// that the home agent saw the mobile node's address:
//
//	func TestPingHome(t *testing.T) {
//		tp := lab.NewTopology(t, lab.TopologyConfig{})
//		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
//		defer cancel()
//
//		// ICMPv6 echo requests only (type 128 after the 40-byte header).
//		capture := tp.HA1.Capture("eth0", "icmp6 and ip6[40] == 128")
//		if err := tp.MN.Ping(ctx, tp.HAAddrs[0].V6.String(), "", 3); err != nil {
//			t.Fatal(err)
//		}
//		if err := capture.WaitPackets(ctx, 3); err != nil {
//			t.Fatal(err)
//		}
//		rows, err := lab.TsharkFields(ctx, capture.Stop(), "", []string{"ipv6.src"})
//		if err != nil {
//			t.Fatal(err)
//		}
//		if rows[0][0] != tp.MNAddrs().V6.String() { ... }
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
// The test process itself can own sockets inside a host (Host.Listen,
// Host.ListenPacket, Host.Dial with literal addresses), for instance to
// keep a TCP transfer running from mn to cn while Topology.MoveMN moves
// mn between visited links.
//
// Daemons under test are built once per test process with Binary:
//
//	ha := tp.HA1.Start(lab.Binary(t, "./cmd/homeagent"), "run")
package lab
