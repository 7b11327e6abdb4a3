package homelink

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// kernel programs the routes and proxy neighbour entries of defended
// addresses through rtnetlink, in the network namespace its sockets were
// opened in. Every route and proxy entry it creates carries the protocol
// marker (rtm_protocol for routes, NDA_PROTOCOL for neighbours), which is
// how Reconcile recognises what an earlier run left behind. It is not safe
// for concurrent use: the Defender serialises calls.
type kernel struct {
	h      *netlink.Handle  // routes
	sock   *nl.SocketHandle // neighbour requests with NDA_PROTOCOL, which netlink.Neigh lacks
	home   int              // home link interface index
	tun    int              // TUN interface index
	proto  uint8
	table  int
	metric int
}

// openKernel opens the rtnetlink sockets in the current network namespace.
func openKernel() (*kernel, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("homelink: netlink: %w", err)
	}
	s, err := nl.Subscribe(unix.NETLINK_ROUTE) // no groups: a plain request socket
	if err != nil {
		h.Close()
		return nil, fmt.Errorf("homelink: netlink: %w", err)
	}
	return &kernel{h: h, sock: &nl.SocketHandle{Socket: s}}, nil
}

func (k *kernel) close() {
	k.h.Close()
	k.sock.Close()
}

// hostRoute is the route of one defended address into the TUN device.
func (k *kernel) hostRoute(a netip.Addr) *netlink.Route {
	r := &netlink.Route{
		LinkIndex: k.tun,
		Dst:       &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(a.BitLen(), a.BitLen())},
		Protocol:  netlink.RouteProtocol(k.proto),
		Table:     k.table,
		Priority:  k.metric,
		Family:    family(a),
	}
	if a.Is4() {
		r.Scope = netlink.SCOPE_LINK
	}
	return r
}

// addRoute adds or replaces the host route of a into the TUN device.
func (k *kernel) addRoute(a netip.Addr) error {
	if err := k.h.RouteReplace(k.hostRoute(a)); err != nil {
		return fmt.Errorf("homelink: route %s into ifindex %d: %w", a, k.tun, err)
	}
	return nil
}

// delRoute removes the host route of a if it carries the marker (the
// kernel matches protocol, table and metric on deletion). A missing route
// is not an error.
func (k *kernel) delRoute(a netip.Addr) error {
	r := k.hostRoute(a)
	r.LinkIndex = 0 // whatever device it points to now
	if err := k.h.RouteDel(r); err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("homelink: delete route %s: %w", a, err)
	}
	return nil
}

// markedRoutes lists the routes of family fam in the table that carry the
// marker, on any device.
func (k *kernel) markedRoutes(fam int) ([]netlink.Route, error) {
	filter := &netlink.Route{Table: k.table, Protocol: netlink.RouteProtocol(k.proto)}
	rs, err := k.h.RouteListFiltered(fam, filter, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return nil, fmt.Errorf("homelink: list routes: %w", err)
	}
	return rs, nil
}

// proxyEntry is a proxy neighbour entry as the kernel lists it.
type proxyEntry struct {
	addr     netip.Addr
	ifindex  int
	protocol uint8
}

func (k *kernel) request(typ, flags int) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(typ, flags)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: k.sock}
	return req
}

func proxyMsg(a netip.Addr, ifindex int) *netlink.Ndmsg {
	return &netlink.Ndmsg{
		Family: uint8(family(a)),
		Index:  uint32(ifindex),
		State:  netlink.NUD_PERMANENT,
		Flags:  netlink.NTF_PROXY,
	}
}

// addProxy adds (or marks again) the proxy neighbour entry for a on the
// home link: `ip neigh replace proxy A dev HOME proto P`. The kernel then
// answers Neighbor Solicitations (IPv6) or ARP requests (IPv4) for a with
// the home link's own link-layer address, and an IPv6 entry joins a's
// solicited-node multicast group.
func (k *kernel) addProxy(a netip.Addr) error {
	req := k.request(unix.RTM_NEWNEIGH, unix.NLM_F_CREATE|unix.NLM_F_REPLACE|unix.NLM_F_ACK)
	req.AddData(proxyMsg(a, k.home))
	req.AddData(nl.NewRtAttr(netlink.NDA_DST, a.AsSlice()))
	req.AddData(nl.NewRtAttr(netlink.NDA_PROTOCOL, nl.Uint8Attr(k.proto)))
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil {
		return fmt.Errorf("homelink: proxy neighbour %s on ifindex %d: %w", a, k.home, err)
	}
	return nil
}

// delProxy removes the proxy neighbour entry for a on interface ifindex.
// A missing entry is not an error.
func (k *kernel) delProxy(a netip.Addr, ifindex int) error {
	req := k.request(unix.RTM_DELNEIGH, unix.NLM_F_ACK)
	req.AddData(proxyMsg(a, ifindex))
	req.AddData(nl.NewRtAttr(netlink.NDA_DST, a.AsSlice()))
	if _, err := req.Execute(unix.NETLINK_ROUTE, 0); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("homelink: delete proxy neighbour %s on ifindex %d: %w", a, ifindex, err)
	}
	return nil
}

// proxies lists the proxy neighbour entries of family fam on every
// interface (`ip neigh show proxy`).
func (k *kernel) proxies(fam int) ([]proxyEntry, error) {
	req := k.request(unix.RTM_GETNEIGH, unix.NLM_F_DUMP)
	req.AddData(&netlink.Ndmsg{Family: uint8(fam), Flags: netlink.NTF_PROXY})
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWNEIGH)
	if err != nil {
		return nil, fmt.Errorf("homelink: list proxy neighbours: %w", err)
	}
	var out []proxyEntry
	for _, m := range msgs {
		e, ok := parseProxyEntry(m)
		if ok {
			out = append(out, e)
		}
	}
	return out, nil
}

// ndmsgLen is sizeof(struct ndmsg): family, two pad octets, ifindex, state,
// flags, type.
const ndmsgLen = 12

// parseProxyEntry reads one RTM_NEWNEIGH message of a proxy dump.
func parseProxyEntry(m []byte) (proxyEntry, bool) {
	if len(m) < ndmsgLen || m[10]&netlink.NTF_PROXY == 0 {
		return proxyEntry{}, false
	}
	e := proxyEntry{ifindex: int(int32(nl.NativeEndian().Uint32(m[4:8])))}
	attrs, err := nl.ParseRouteAttr(m[ndmsgLen:])
	if err != nil {
		return proxyEntry{}, false
	}
	for _, at := range attrs {
		switch at.Attr.Type {
		case netlink.NDA_DST:
			e.addr, _ = netip.AddrFromSlice(at.Value)
		case netlink.NDA_PROTOCOL:
			if len(at.Value) > 0 {
				e.protocol = at.Value[0]
			}
		}
	}
	return e, e.addr.IsValid()
}

// markedProxy reports whether the home link has a proxy entry for a that
// carries the marker.
func (k *kernel) markedProxy(a netip.Addr) (bool, error) {
	es, err := k.proxies(family(a))
	if err != nil {
		return false, err
	}
	for _, e := range es {
		if e.addr == a && e.ifindex == k.home && e.protocol == k.proto {
			return true, nil
		}
	}
	return false, nil
}

func family(a netip.Addr) int {
	if a.Is4() {
		return unix.AF_INET
	}
	return unix.AF_INET6
}
