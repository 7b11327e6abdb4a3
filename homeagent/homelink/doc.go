// Package homelink makes a home agent the owner, on the home link, of the
// home addresses of its mobile nodes while they are away (RFC 6275
// §10.4.1), and checks that a new home address is unused there before the
// agent accepts its registration (Duplicate Address Detection, RFC 6275
// §10.3.1). It is the home link half of "install the route for the HoA
// towards the tunnel and defend the HoA on the home link"; the dataplane
// owns the tunnel.
//
// # Model
//
// A Defender works on one home link interface and one TUN device. For
// each address it defends it keeps three things in place:
//
//   - a host route, `HoA/128 dev TUN proto 135 metric 512` (/32 for IPv4),
//     so that packets the home link hands to the agent for the address are
//     forwarded into the TUN device, where the dataplane sends them down
//     the mobile node's tunnel;
//   - a proxy neighbour entry, `HoA dev HOME proxy proto 135`, so that the
//     kernel answers Neighbor Solicitations for the address (ARP requests
//     for IPv4) with the home link's link-layer address, with Router and
//     Override clear as RFC 6275 §10.4.1 and RFC 4861 §7.2.8 want;
//   - unsolicited Neighbor Advertisements for it, sent once when the
//     defence starts: Override set, Solicited and Router clear, Target the
//     address, a Target Link-Layer Address option with the home link's
//     address, to all-nodes (ff02::1) with Hop Limit 255, from the
//     interface's link-local address unless Options.Source names another
//     address of the interface. Options.Advertisements of them (at most
//     MAX_NEIGHBOR_ADVERTISEMENT, 3), RetransTimer apart (RFC 4861
//     §7.2.6); the first before Defend returns, the others in the
//     background until Release. An IPv4 address (DSMIPv6, RFC 5555 §4.5)
//     gets gratuitous ARP instead: RFC 5227 §2.3 ARP Announcements.
//
// An IPv6 link-local address (the mobile node's, when its Binding Update
// has the L flag) gets the proxy entry and the advertisements but no
// route: RFC 6275 §10.4.2 forbids tunnelling packets for it.
//
// Defend installs the route before the proxy entry, and both before the
// first advertisement, so a neighbour that turns to this agent never finds
// it unready. Release undoes it in reverse: it stops the advertisements
// (and waits, so none leaves after Release returns), then removes the
// proxy entry, then the route.
//
// The kernel forgets part of a defence by itself: setting the home link
// down removes its proxy entries, setting the TUN device down (or deleting
// it) removes the routes through it. A Defender follows link changes and,
// when either interface comes back up (the TUN device possibly under a new
// index), installs every defended address again and repeats its
// advertisements.
//
// # Moving an address between agents (make-before-break)
//
// The new agent calls Defend when it sends its Binding Acknowledgement.
// Its advertisements, Override set, move every neighbour that holds an
// entry for the address to the new agent at once (the entry turns STALE
// with the new link-layer address, RFC 4861 §7.2.5), without waiting for
// Neighbor Unreachability Detection. The old agent keeps its route and
// proxy entry until it learns that the lease moved, so packets still in
// flight to it reach its TUN device and the mobile node's old tunnel; then
// it calls Release. Meanwhile both kernels answer solicitations, with
// Override clear, so a neighbour resolving the address afresh may pick
// either: both forward. Only the lease's owner advertises (the lease store
// has one owner per address): that is the "mechanism that prevents
// multiple proxies from multicasting advertisements for any one address"
// RFC 4861 §7.2.6 asks of protocols that proxy.
//
// # Duplicate Address Detection
//
// DAD sends DupAddrDetectTransmits Neighbor Solicitations from the
// unspecified address to the address's solicited-node multicast group,
// RetransTimer apart, and waits RetransTimer after the last (RFC 4862
// §5.4.2). Any valid Neighbor Advertisement for the address, or a DAD
// solicitation for it from another node, makes it a duplicate (§5.4.3,
// §5.4.4): a *DuplicateError, whose Status is the Binding Acknowledgement
// status 134. A home agent may skip DAD for an address it leased from its
// own store. For IPv4, ARP probes (RFC 5227 §2.1.1) with the same count and
// spacing.
//
// # Sockets
//
// A raw ICMPv6 socket bound to the home link sends the advertisements (the
// kernel computes the checksum; Hop Limit 255 goes in each message's
// control data) and receives, filtered to Neighbor Solicitations and
// Advertisements, what DAD listens for. The DAD solicitation itself goes
// through a raw socket that includes the IPv6 header (IPPROTO_RAW), with a
// checksum computed here: an ICMPv6 socket cannot send from the
// unspecified address (an unspecified IPV6_PKTINFO source means "the
// kernel's choice"). Multicast loopback is off on both, so the agent never
// hears its own messages. IPv4 uses a packet socket for ARP. The sockets,
// the rtnetlink sockets and the sysctl files are opened by New in the
// network namespace of the calling thread and used from any goroutine
// afterwards.
//
// # Start-up and shutdown
//
// A home agent creates its TUN device (package dataplane), then the
// Defender; checks that its home address pool lies in the home link's
// Prefixes; Defends the addresses it still serves (a restart with leases
// kept in the store); then calls Reconcile, which removes what an earlier
// run left behind and keeps what is defended, so a restart leaves no gap.
// At shutdown Close releases every address (ReleaseAll) and restores the
// sysctls.
//
// # Leftovers and the marker
//
// Every route and proxy entry a Defender makes carries the protocol number
// Options.RouteProtocol (default 135, the Mobility Header's Next Header;
// free in iproute2's rt_protos): rtm_protocol on routes, NDA_PROTOCOL on
// proxy entries. Reconcile removes marked entries that are not defended
// now (what a crashed run left), and nothing unmarked; Release of an
// address this Defender does not know removes only marked entries. The
// host routes use their own metric (DefaultRouteMetric), so a route for
// the same address added by someone else (the runtime's CHILD_SA routes)
// coexists with ours instead of being replaced.
//
// # Linux facts this relies on (verified on Linux 6.18)
//
// Where a test is named, it checks the fact; the others were observed
// with tcpdump in a two-namespace lab while this package was written.
//
//   - The kernel answers solicitations for a proxy entry only on an
//     interface with forwarding on, and forwards to the TUN device only
//     with net.ipv6.conf.all.forwarding on: New sets both.
//   - net.ipv6.conf.IFACE.proxy_ndp alone is not enough. The kernel then
//     answers multicast solicitations, but a unicast solicitation to the
//     address (the reachability probe every neighbour sends after its entry
//     goes stale) takes the forwarding path like any packet for the
//     address, into the TUN device, or is refused ("beyond scope") when its
//     source is link-local; the neighbour's entry fails. The forwarding
//     path looks only at net.ipv6.conf.all.proxy_ndp, which New sets
//     (TestUnicastSolicitationAnswered).
//   - A proxy answer to a multicast solicitation comes after a random delay
//     below net.ipv6.neigh.IFACE.proxy_delay (80 centiseconds by default);
//     answers to unicast ones come at once. The kernel's proxy
//     advertisements have Override and Router clear; a Target Link-Layer
//     Address option only answers a multicast solicitation.
//   - Because the delay stays below the default RetransTimer (1 s), DAD
//     with the default timer finds an address another home agent defends;
//     with a shorter timer it may not (TestDAD).
//   - A proxy entry joins the address's solicited-node group (`ip -6 maddr`),
//     as RFC 4861 §7.2.8 requires of a proxy.
//   - An unsolicited advertisement with Override moves an existing
//     neighbour entry to the advertised link-layer address at once; a
//     gratuitous ARP request does the same for an ARP entry (TestTakeover).
//     An advertisement creates no entry where there is none
//     (TestUnsolicitedAdvertisements; net.ipv6.conf.*.accept_untracked_na
//     is off by default).
//   - An IPv4 proxy entry answers ARP requests when the interface forwards
//     (net.ipv4.conf.IFACE.forwarding, which New sets with Options.IPv4) and
//     the route to the address leaves by another interface (the TUN
//     device); proxy_arp is not needed.
//   - Linux answers ARP probes only for its own addresses, never from a
//     proxy entry: IPv4 DAD finds hosts that use an address, not another
//     agent defending it.
//   - Setting an interface down removes its proxy entries; setting it up
//     does not bring them back (TestLinkDownUpRestores).
//   - Proxy entries keep NDA_PROTOCOL, and route deletion with a protocol
//     matches only routes of that protocol (TestReconcileRemovesStaleEntries).
//
// New reports the sysctls it changed (Sysctls, and an Info log line each)
// and Close writes the old values back unless Options.KeepSysctls is set.
// Turning net.ipv6.conf.all.forwarding on makes every interface a router:
// an interface that configured itself from Router Advertisements stops
// doing so unless its accept_ra is 2.
package homelink
