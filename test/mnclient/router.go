package mnclient

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/mip6ha/mip6ha/homeagent/dataplane"
)

// router is the mobile node's homeagent.Router: it routes the CHILD_SA's
// remote selectors into the TUN device from the home address, without
// taking over the path to the home agent itself.
//
//   - A default route (::/0, 0.0.0.0/0) becomes its two halves, which win
//     over the existing default route without replacing it.
//   - When a routed prefix covers the home agent's outer address, a host
//     route keeps that address on the path it had (as charon's "throw"
//     route does), or IKE and ESP would loop into the tunnel.
//   - The source address must exist on the device before a route can
//     prefer it, so it is added first (the engine installs the CHILD_SA
//     before it reports the address).
type router struct {
	tun *dataplane.TUN
	ha  netip.Addr
	log *slog.Logger

	mu     sync.Mutex
	addrs  map[netip.Addr]bool
	routes map[netip.Prefix]bool
	bypass *netlink.Route   // the host route to the home agent
	left   []*netlink.Route // host routes of gateways we were redirected away from
}

// AddRoute implements homeagent.Router.
func (r *router) AddRoute(dst netip.Prefix, src netip.Addr) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if src.IsValid() {
		if err := r.addAddressLocked(src); err != nil {
			return err
		}
	}
	if dst.Contains(r.ha) && r.bypass == nil {
		if err := r.addBypassLocked(); err != nil {
			return err
		}
	}
	var errs []error
	for _, p := range halves(dst) {
		if err := r.tun.AddRoute(p, src); err != nil {
			errs = append(errs, fmt.Errorf("route %v: %w", p, err))
			continue
		}
		if r.routes == nil {
			r.routes = map[netip.Prefix]bool{}
		}
		r.routes[p] = true
	}
	return errors.Join(errs...)
}

// DelRoute implements homeagent.Router.
func (r *router) DelRoute(dst netip.Prefix) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, p := range halves(dst) {
		if r.routes[p] {
			delete(r.routes, p)
			errs = append(errs, r.tun.DelRoute(p))
		}
	}
	return errors.Join(errs...)
}

// ensureAddress configures a on the device (once).
func (r *router) ensureAddress(a netip.Addr) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.addAddressLocked(a)
}

func (r *router) addAddressLocked(a netip.Addr) error {
	if r.addrs[a] {
		return nil
	}
	if err := r.tun.AddAddress(netip.PrefixFrom(a, a.BitLen())); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("address %v: %w", a, err)
	}
	if r.addrs == nil {
		r.addrs = map[netip.Addr]bool{}
	}
	r.addrs[a] = true
	return nil
}

// addBypassLocked pins the route to the home agent's outer address to the
// best route the kernel has for it outside the TUN device.
func (r *router) addBypassLocked() error {
	route, err := r.bypassRoute()
	if err != nil {
		return err
	}
	if err := netlink.RouteReplace(route); err != nil {
		return fmt.Errorf("host route to the home agent %v: %w", r.ha, err)
	}
	r.bypass = route
	r.log.Info("host route keeps the home agent outside the tunnel", "ha", r.ha.String(), "gw", route.Gw,
		"ifindex", route.LinkIndex, "type", route.Type)
	return nil
}

// bypassRoute is the host route to the home agent through the best route
// of the main table that does not lead into the TUN device (the longest
// prefix, then the lowest metric); with none (the node is between links),
// an unreachable route, so that packets to the home agent fail at once
// instead of looping into the tunnel.
func (r *router) bypassRoute() (*netlink.Route, error) {
	family := netlink.FAMILY_V6
	if r.ha.Is4() {
		family = netlink.FAMILY_V4
	}
	routes, err := netlink.RouteListFiltered(family, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("routes: %w", err)
	}
	bits := r.ha.BitLen()
	host := &net.IPNet{IP: net.IP(r.ha.AsSlice()), Mask: net.CIDRMask(bits, bits)}
	var best *netlink.Route
	bestLen := -1
	for i := range routes {
		rt := &routes[i]
		if rt.LinkIndex == r.tun.Index() || rt.Type != unix.RTN_UNICAST || rt.LinkIndex == 0 && len(rt.MultiPath) == 0 {
			continue
		}
		n := 0
		if rt.Dst != nil {
			if !rt.Dst.Contains(host.IP) {
				continue
			}
			n, _ = rt.Dst.Mask.Size()
		}
		if n == bits && rt.Dst.IP.Equal(host.IP) {
			continue // our own host route
		}
		if n > bestLen || n == bestLen && rt.Priority < best.Priority {
			best, bestLen = rt, n
		}
	}
	if best == nil {
		return &netlink.Route{Dst: host, Type: unix.RTN_UNREACHABLE, Table: unix.RT_TABLE_MAIN}, nil
	}
	return &netlink.Route{Dst: host, Gw: best.Gw, LinkIndex: best.LinkIndex, MultiPath: best.MultiPath}, nil
}

// repin moves the host route to the home agent to the route the kernel
// has now (after a move), if the tunnel's routes cover the home agent.
// It changes nothing when the route is already right, so that its own
// route change does not trigger another.
func (r *router) repin() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bypass == nil {
		return nil
	}
	route, err := r.bypassRoute()
	if err != nil {
		return err
	}
	if route.Type == r.bypass.Type && route.LinkIndex == r.bypass.LinkIndex && route.Gw.Equal(r.bypass.Gw) {
		return nil
	}
	if err := netlink.RouteReplace(route); err != nil {
		return fmt.Errorf("host route to the home agent %v: %w", r.ha, err)
	}
	r.bypass = route
	r.log.Info("host route to the home agent moved", "ha", r.ha.String(), "gw", route.Gw, "ifindex", route.LinkIndex,
		"unreachable", route.Type == unix.RTN_UNREACHABLE)
	return nil
}

// clear removes the host route to the home agent (the TUN device takes its
// own routes and addresses with it when it closes).
func (r *router) clear() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.bypass != nil {
		if err := netlink.RouteDel(r.bypass); err != nil {
			r.log.Warn("host route to the home agent not removed", "err", err)
		}
		r.bypass = nil
	}
	r.clearLeft()
}

// halves splits a default route into its two halves.
func halves(p netip.Prefix) []netip.Prefix {
	if p.Bits() != 0 {
		return []netip.Prefix{p}
	}
	if p.Addr().Is4() {
		return []netip.Prefix{netip.MustParsePrefix("0.0.0.0/1"), netip.MustParsePrefix("128.0.0.0/1")}
	}
	return []netip.Prefix{netip.MustParsePrefix("::/1"), netip.MustParsePrefix("8000::/1")}
}
