package homelink

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DefaultRouteProtocol marks the routes and proxy neighbour entries a
// Defender creates (rtm_protocol and NDA_PROTOCOL, `proto 135` in `ip route`
// and `ip neigh show proxy`). 135 is the IPv6 Next Header of the Mobility
// Header; it is not among the protocol numbers iproute2 reserves
// (/etc/iproute2/rt_protos). Two Defenders in one network namespace need
// different markers, or each reconciles the other's entries away.
const DefaultRouteProtocol uint8 = 135

// DefaultRouteMetric is the metric of host routes into the TUN device. It
// differs from the kernel's defaults (0 for IPv4, 1024 for IPv6), so a
// route for the same address that someone else installs (the runtime's
// CHILD_SA routes through dataplane.TUN.AddRoute) coexists with ours rather
// than being replaced by it: deleting either leaves the other.
const DefaultRouteMetric = 512

// Options tune a Defender. The zero value is the RFC defaults: three
// advertisements one second apart, one DAD solicitation, IPv6 only.
type Options struct {
	// IPv4 enables IPv4 home addresses (DSMIPv6, RFC 5555 §4.5): proxy
	// ARP, gratuitous ARP and ARP probes on the home link.
	IPv4 bool
	// Advertisements is the number of unsolicited Neighbor Advertisements
	// (gratuitous ARPs for IPv4) Defend sends, 1 to
	// MaxNeighborAdvertisement; 0 means MaxNeighborAdvertisement
	// (RFC 6275 §10.4.1, RFC 4861 §7.2.6).
	Advertisements int
	// RetransTimer spaces the advertisements and is how long DAD waits
	// after each solicitation; 0 means RetransTimer (1 s). Tests use less.
	RetransTimer time.Duration
	// DupAddrDetectTransmits is the number of solicitations (ARP probes)
	// DAD sends; 0 means DupAddrDetectTransmits (1).
	DupAddrDetectTransmits int
	// RouteProtocol marks routes and proxy entries; 0 means
	// DefaultRouteProtocol.
	RouteProtocol uint8
	// RouteTable is the routing table of the host routes; 0 means main.
	RouteTable int
	// RouteMetric is the metric of the host routes; 0 means
	// DefaultRouteMetric.
	RouteMetric int
	// Source is the IPv6 source of the advertisements, an address of the
	// home link interface (RFC 6275 §10.4.1); invalid means the kernel's
	// choice, the interface's link-local address.
	Source netip.Addr
	// KeepSysctls leaves the sysctls New changed as they are at Close
	// instead of restoring them.
	KeepSysctls bool
	// Logger receives Info lines when an address starts or stops being
	// defended, on sysctl changes and on reconciliation, and Debug lines
	// per message. Default: discard.
	Logger *slog.Logger
}

func (o Options) withDefaults() (Options, error) {
	if o.Advertisements == 0 {
		o.Advertisements = MaxNeighborAdvertisement
	}
	if o.Advertisements < 1 || o.Advertisements > MaxNeighborAdvertisement {
		return o, fmt.Errorf("homelink: Advertisements %d not in 1..%d", o.Advertisements, MaxNeighborAdvertisement)
	}
	if o.RetransTimer == 0 {
		o.RetransTimer = RetransTimer
	}
	if o.RetransTimer < 0 {
		return o, fmt.Errorf("homelink: negative RetransTimer %v", o.RetransTimer)
	}
	if o.DupAddrDetectTransmits == 0 {
		o.DupAddrDetectTransmits = DupAddrDetectTransmits
	}
	if o.DupAddrDetectTransmits < 0 {
		return o, fmt.Errorf("homelink: negative DupAddrDetectTransmits %d", o.DupAddrDetectTransmits)
	}
	if o.RouteProtocol == 0 {
		o.RouteProtocol = DefaultRouteProtocol
	}
	if o.RouteTable == 0 {
		o.RouteTable = unix.RT_TABLE_MAIN
	}
	if o.RouteMetric == 0 {
		o.RouteMetric = DefaultRouteMetric
	}
	if o.Source.IsValid() && (!o.Source.Is6() || o.Source.Is4In6() || o.Source.IsMulticast() || o.Source.IsUnspecified()) {
		return o, fmt.Errorf("homelink: Source %s is not a unicast IPv6 address", o.Source)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Defender defends home addresses on the home link for a home agent while
// their mobile nodes are away (RFC 6275 §10.4.1): for each address it
// routes the address into the TUN device, makes the kernel answer
// Neighbor Solicitations (ARP requests for IPv4) for it with the home
// link's link-layer address, and multicasts unsolicited Neighbor
// Advertisements with the Override flag (gratuitous ARP) so that the
// neighbours' caches move to this agent at once. It also runs Duplicate
// Address Detection on the home link (RFC 6275 §10.3.1).
//
// A Defender works in the network namespace of the thread that called New,
// whichever goroutine later calls its methods. Its methods are safe for
// concurrent use. See the package documentation for the model.
type Defender struct {
	opt      Options
	log      *slog.Logger
	homeName string
	home     int              // home link ifindex
	mac      net.HardwareAddr // home link's link-layer address
	tunName  string

	k    *kernel
	nd   *ndSocket
	dad  *rawSocket
	arp  *arpSocket // nil unless IPv4
	sysc []sysctlFile

	mu       sync.Mutex // serialises kernel changes; guards defended, link, closed
	defended map[netip.Addr]*defence
	link     linkState
	closed   bool

	links     chan netlink.LinkUpdate // link changes, closed by netlink after linksDone
	linksDone chan struct{}

	wmu     sync.Mutex // guards watches and groups
	watches map[netip.Addr][]chan *DuplicateError
	groups  map[netip.Addr]int // solicited-node groups joined for DAD, counted

	quit chan struct{} // closed by Close
	wg   sync.WaitGroup
}

// defence is one defended address: the goroutine repeating its
// advertisements, if still running.
type defence struct {
	stop chan struct{} // closed to stop the repetitions
	done chan struct{} // closed when the goroutine has returned
}

// New makes a Defender for the home link interface homeLink and the TUN
// device tun (both must exist; the home link must have an Ethernet-style
// link-layer address). It opens its sockets in the current network
// namespace and turns on, where they are off, the sysctls the home link
// needs: net.ipv6.conf.all.forwarding, net.ipv6.conf.HOME.forwarding,
// net.ipv6.conf.all.proxy_ndp, and with Options.IPv4
// net.ipv4.conf.HOME.forwarding (the package documentation says why;
// Sysctls reports what changed). It starts the goroutines that listen for
// Duplicate Address Detection and follow link changes (to restore what the
// kernel drops when an interface goes down); Close stops them.
func New(homeLink, tun string, opts Options) (*Defender, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Defender{
		opt:      o,
		log:      o.Logger.With("link", homeLink),
		homeName: homeLink,
		tunName:  tun,
		defended: map[netip.Addr]*defence{},
		watches:  map[netip.Addr][]chan *DuplicateError{},
		groups:   map[netip.Addr]int{},
		quit:     make(chan struct{}),
	}
	ok := false
	defer func() {
		if !ok {
			d.closeSockets()
		}
	}()
	if d.k, err = openKernel(); err != nil {
		return nil, err
	}
	d.k.proto, d.k.table, d.k.metric = o.RouteProtocol, o.RouteTable, o.RouteMetric
	hl, err := d.k.h.LinkByName(homeLink)
	if err != nil {
		return nil, fmt.Errorf("%w: home link %q: %w", ErrLink, homeLink, err)
	}
	if d.mac = hl.Attrs().HardwareAddr; len(d.mac) != 6 || hl.Attrs().EncapType != "ether" {
		return nil, fmt.Errorf("%w: home link %q is of type %q with link-layer address %q, want Ethernet", ErrLink, homeLink, hl.Attrs().EncapType, d.mac)
	}
	d.home, d.k.home = hl.Attrs().Index, hl.Attrs().Index
	tl, err := d.k.h.LinkByName(tun)
	if err != nil {
		return nil, fmt.Errorf("%w: TUN device %q: %w", ErrLink, tun, err)
	}
	d.k.tun = tl.Attrs().Index
	d.link = linkState{homeUp: isUp(hl), tunUp: isUp(tl)}
	if d.nd, err = openND(d.home, homeLink); err != nil {
		return nil, err
	}
	if d.dad, err = openDAD(homeLink); err != nil {
		return nil, err
	}
	if o.IPv4 {
		if d.arp, err = openARP(d.home); err != nil {
			return nil, err
		}
	}
	if d.sysc, err = applySysctls(requiredSysctls(homeLink, o.IPv4)); err != nil {
		return nil, err
	}
	if err := d.followLinks(); err != nil {
		restoreSysctls(d.sysc)
		return nil, err
	}
	for _, c := range d.sysc {
		d.log.Info("sysctl changed for the home link", "sysctl", c.change.Name, "old", c.change.Old, "new", c.change.New)
	}
	ok = true
	d.wg.Add(1)
	go d.readND()
	if d.arp != nil {
		d.wg.Add(1)
		go d.readARP()
	}
	return d, nil
}

// Sysctls lists the kernel settings New changed.
func (d *Defender) Sysctls() []SysctlChange {
	out := make([]SysctlChange, len(d.sysc))
	for i, c := range d.sysc {
		out[i] = c.change
	}
	return out
}

// LinkAddr is the home link's link-layer address, the one the Defender
// advertises for every defended address.
func (d *Defender) LinkAddr() net.HardwareAddr { return slices.Clone(d.mac) }

// checkAddr rejects addresses that cannot be home addresses on the link.
func (d *Defender) checkAddr(a netip.Addr) error {
	switch {
	case !a.IsValid(), a.Zone() != "", a.Is4In6(), a.IsUnspecified(), a.IsMulticast(), a.IsLoopback(),
		a.Is4() && (a.IsLinkLocalUnicast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255})):
		return fmt.Errorf("%w: %s", ErrAddress, a)
	case a.Is4() && !d.opt.IPv4:
		return fmt.Errorf("%w: %s", ErrFamily, a)
	}
	return nil
}

// Defend starts defending a on the home link: a host route into the TUN
// device (none for an IPv6 link-local address, which is never forwarded;
// RFC 6275 §10.4.2), a proxy neighbour entry on the home link, and the
// first unsolicited Neighbor Advertisement (Override set, Solicited and
// Router clear, Target a, Target Link-Layer Address the home link's; to
// all-nodes, Hop Limit 255) — or, for IPv4, a gratuitous ARP. The other
// Options.Advertisements-1 follow in the background, RetransTimer apart,
// until Release.
//
// Call it when the agent starts serving the address: a new binding after
// DAD, or a takeover from another agent. Calling it again for a defended
// address reinstalls the route and proxy entry and restarts the
// advertisements (what a takeover back to this agent needs); do not call it
// on every binding refresh. If it fails, nothing it installed for a
// previously undefended address is left behind.
func (d *Defender) Defend(ctx context.Context, a netip.Addr) error {
	if err := d.checkAddr(a); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return ErrClosed
	}
	prev, was := d.defended[a]
	if was {
		prev.halt()
	}
	err := d.install(a)
	if err == nil {
		err = d.advertise(a)
	}
	if err != nil {
		if was {
			d.defended[a] = &defence{} // still installed: Release must remove it
		} else if uerr := d.uninstall(a); uerr != nil {
			d.log.Error("partial defence not removed", "addr", a, "err", uerr)
		}
		return err
	}
	d.startRepeats(a)
	d.log.Info("home address defended", "addr", a, "tun", d.tunName, "advertisements", d.opt.Advertisements)
	return nil
}

// install adds the host route, then the proxy entry: the route first, so
// that a neighbour that resolves a to this agent never sends into nothing.
func (d *Defender) install(a netip.Addr) error {
	if !a.IsLinkLocalUnicast() {
		if err := d.k.addRoute(a); err != nil {
			return err
		}
	}
	return d.k.addProxy(a)
}

// uninstall removes the proxy entry, then the host route, ignoring what is
// already gone.
func (d *Defender) uninstall(a netip.Addr) error {
	err := d.k.delProxy(a, d.home)
	if !a.IsLinkLocalUnicast() {
		err = errors.Join(err, d.k.delRoute(a))
	}
	return err
}

// advertise sends one unsolicited advertisement for a.
func (d *Defender) advertise(a netip.Addr) error {
	if a.Is4() {
		p := gratuitousARP(d.mac, a)
		if err := d.arp.broadcast(p.Append(make([]byte, 0, ARPLen))); err != nil {
			return fmt.Errorf("homelink: gratuitous ARP for %s: %w", a, err)
		}
		d.log.Debug("gratuitous ARP sent", "addr", a)
		return nil
	}
	na := NeighborAdvertisement{Override: true, Target: a, TargetLinkLayerAddress: d.mac}
	if err := d.nd.send(na.Append(make([]byte, 0, na.Len())), d.opt.Source, allNodes); err != nil {
		return fmt.Errorf("homelink: unsolicited Neighbor Advertisement for %s: %w", a, err)
	}
	d.log.Debug("unsolicited Neighbor Advertisement sent", "target", a)
	return nil
}

// startRepeats records a as defended and starts the goroutine that sends
// its remaining advertisements. Called with d.mu held.
func (d *Defender) startRepeats(a netip.Addr) {
	def := &defence{stop: make(chan struct{}), done: make(chan struct{})}
	d.defended[a] = def
	d.wg.Add(1)
	go d.repeat(a, def)
}

// repeat sends the remaining advertisements for a, RetransTimer apart,
// until def is halted.
func (d *Defender) repeat(a netip.Addr, def *defence) {
	defer d.wg.Done()
	defer close(def.done)
	t := time.NewTimer(d.opt.RetransTimer)
	defer t.Stop()
	for range d.opt.Advertisements - 1 {
		select {
		case <-def.stop:
			return
		case <-t.C:
		}
		if err := d.advertise(a); err != nil {
			d.log.Warn("advertisement not sent", "addr", a, "err", err)
		}
		t.Reset(d.opt.RetransTimer)
	}
}

// halt stops the repetitions and waits until the goroutine has returned,
// so that no advertisement leaves after it.
func (def *defence) halt() {
	if def.stop == nil {
		return
	}
	select {
	case <-def.stop:
	default:
		close(def.stop)
	}
	<-def.done
}

// Release stops defending a: it stops the advertisements (none is sent
// after Release returns), then removes the proxy entry and the host route.
// Releasing an address that is not defended is not an error; it still
// removes a proxy entry and route for it that carry this Defender's marker
// (left by an earlier run), and nothing else. Release does not give up
// when ctx is done: a stale proxy entry would keep attracting the
// address's traffic.
func (d *Defender) Release(ctx context.Context, a netip.Addr) error {
	if err := d.checkAddr(a); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil // Close released everything
	}
	return d.release(a)
}

func (d *Defender) release(a netip.Addr) error {
	def, ok := d.defended[a]
	if ok {
		def.halt()
		delete(d.defended, a)
		if err := d.uninstall(a); err != nil {
			return err
		}
		d.log.Info("home address released", "addr", a)
		return nil
	}
	marked, err := d.k.markedProxy(a)
	if err != nil {
		return err
	}
	if marked {
		err = d.k.delProxy(a, d.home)
	}
	if !a.IsLinkLocalUnicast() {
		err = errors.Join(err, d.k.delRoute(a))
	}
	return err
}

// ReleaseAll releases every defended address (on shutdown).
func (d *Defender) ReleaseAll(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.releaseAll()
}

func (d *Defender) releaseAll() error {
	var errs []error
	for a := range d.defended {
		errs = append(errs, d.release(a))
	}
	return errors.Join(errs...)
}

// List returns the defended addresses, sorted.
func (d *Defender) List() []netip.Addr {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]netip.Addr, 0, len(d.defended))
	for a := range d.defended {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// Reconcile removes the routes (in the Defender's table, on any device)
// and proxy neighbour entries (on any interface) that carry the marker but
// are not defended now: what a run that crashed or was killed left behind.
// It returns the addresses it cleaned up, sorted. To move over a restart
// without a gap, Defend the addresses the agent still serves first, then
// Reconcile.
func (d *Defender) Reconcile(ctx context.Context) ([]netip.Addr, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	families := []int{unix.AF_INET6}
	if d.opt.IPv4 {
		families = append(families, unix.AF_INET)
	}
	removed := map[netip.Addr]bool{}
	var errs []error
	for _, fam := range families {
		if err := ctx.Err(); err != nil {
			return sortedKeys(removed), err
		}
		routes, err := d.k.markedRoutes(fam)
		if err != nil {
			errs = append(errs, err)
		}
		for _, r := range routes {
			p, ok := routePrefix(r)
			if !ok || !p.IsSingleIP() || d.defended[p.Addr()] != nil {
				continue // ours are host routes; a defended one stays
			}
			if err := d.k.h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("homelink: delete stale route %v: %w", r.Dst, err))
				continue
			}
			removed[p.Addr()] = true
			d.log.Info("stale route removed", "dst", p, "ifindex", r.LinkIndex)
		}
		proxies, err := d.k.proxies(fam)
		if err != nil {
			errs = append(errs, err)
		}
		for _, e := range proxies {
			if e.protocol != d.k.proto || (e.ifindex == d.home && d.defended[e.addr] != nil) {
				continue
			}
			if err := d.k.delProxy(e.addr, e.ifindex); err != nil {
				errs = append(errs, err)
				continue
			}
			removed[e.addr] = true
			d.log.Info("stale proxy neighbour removed", "addr", e.addr, "ifindex", e.ifindex)
		}
	}
	return sortedKeys(removed), errors.Join(errs...)
}

func routePrefix(r netlink.Route) (netip.Prefix, bool) {
	if r.Dst == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(r.Dst.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	bits, _ := r.Dst.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), bits), true
}

func sortedKeys(m map[netip.Addr]bool) []netip.Addr {
	out := make([]netip.Addr, 0, len(m))
	for a := range m {
		out = append(out, a)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// Close releases every defended address, restores the sysctls New changed
// (unless Options.KeepSysctls), closes the sockets and waits for every
// goroutine the Defender started. A DAD in progress returns ErrClosed.
// Calling Close again does nothing.
func (d *Defender) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	err := d.releaseAll()
	d.closed = true
	close(d.quit)
	d.mu.Unlock()
	close(d.linksDone)
	if d.opt.KeepSysctls {
		closeSysctls(d.sysc)
	} else {
		err = errors.Join(err, restoreSysctls(d.sysc))
		for _, c := range d.sysc {
			d.log.Info("sysctl restored", "sysctl", c.change.Name, "value", c.change.Old)
		}
	}
	d.closeSockets()
	d.wg.Wait()
	return err
}

func (d *Defender) closeSockets() {
	if d.nd != nil {
		d.nd.c.Close()
	}
	if d.dad != nil {
		d.dad.close()
	}
	if d.arp != nil {
		d.arp.close()
	}
	if d.k != nil {
		d.k.close()
	}
}

// Prefixes returns the on-link prefixes of the home link: those of its
// global IPv6 addresses (and IPv4 addresses with Options.IPv4), masked,
// without duplicates, sorted. A home address must lie in one of them for
// the link's neighbours to resolve it here at all; a home registration for
// an address outside them is refused with BA status 132, "not home subnet"
// (RFC 6275 §10.3.1). A home agent checks its address pool against them at
// start-up.
func (d *Defender) Prefixes() ([]netip.Prefix, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	fam := netlink.FAMILY_V6
	if d.opt.IPv4 {
		fam = netlink.FAMILY_ALL
	}
	addrs, err := d.k.h.AddrList(&netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Index: d.home}}, fam)
	if err != nil {
		return nil, fmt.Errorf("homelink: addresses of %s: %w", d.homeName, err)
	}
	var out []netip.Prefix
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || a.Scope != unix.RT_SCOPE_UNIVERSE {
			continue
		}
		bits, _ := a.Mask.Size()
		p := netip.PrefixFrom(ip.Unmap(), bits).Masked()
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return out, nil
}
