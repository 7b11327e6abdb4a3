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
	bypass *netlink.Route // the host route to the home agent
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
// path the kernel uses now.
func (r *router) addBypassLocked() error {
	rs, err := netlink.RouteGet(net.IP(r.ha.AsSlice()))
	if err != nil || len(rs) == 0 {
		return fmt.Errorf("route to the home agent %v: %v", r.ha, err)
	}
	bits := r.ha.BitLen()
	route := &netlink.Route{
		Dst:       &net.IPNet{IP: net.IP(r.ha.AsSlice()), Mask: net.CIDRMask(bits, bits)},
		Gw:        rs[0].Gw,
		LinkIndex: rs[0].LinkIndex,
	}
	if err := netlink.RouteReplace(route); err != nil {
		return fmt.Errorf("host route to the home agent %v: %w", r.ha, err)
	}
	r.bypass = route
	r.log.Info("host route keeps the home agent outside the tunnel", "ha", r.ha.String(), "gw", rs[0].Gw, "ifindex", rs[0].LinkIndex)
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
