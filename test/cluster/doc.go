// Package cluster builds the lab of the home agent cluster (issue 6) and
// holds its acceptance tests (go test ./test/cluster -run Cluster, as root).
// The demo (test/demo) runs in the same lab.
//
// The lab is the project topology of package lab with both visited links,
// and around it:
//
//		mn ── west (2001:db8:2::/64, site "west") ─┐
//		                                            r ── home link ── ha1 (site east), ha2 (site west), ops
//		mn ┄┄ east (2001:db8:4::/64, site "east") ─┘ └── cn
//
//	  - the anycast address 2001:db8:ffff::1 on both home agents, which r
//	    routes (policy routing by source) to the nearer member: from west to
//	    ha2, from east to ha1;
//	  - ops, a host on the home link with a 3-member etcd cluster (Debian's
//	    etcd-server, one process per member, each killable) and, when a test
//	    asks for it, Jaeger (test/jaegercheck);
//	  - our home agents (cmd/homeagent) as members of one cluster: the same
//	    identity, sites, distances, ticket key and etcd prefix, one
//	    configuration file each;
//	  - mobile nodes (cmd/mnclient), in mn or in hosts of their own on a
//	    visited link, and TCP flows from cn to their home addresses, run by
//	    the test process itself with sockets in the namespaces (package flow).
//
// Everything is removed when the test ends. The tests await events (log
// lines, client events, the admin API, etcd) and never sleep a fixed time;
// their deadlines are generous for a loaded 2-core machine.
package cluster
