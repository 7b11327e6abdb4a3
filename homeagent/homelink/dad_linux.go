package homelink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// DAD runs Duplicate Address Detection for a on the home link, as a home
// agent must before it accepts a new home registration (RFC 6275 §10.3.1,
// RFC 4862 §5.4): it joins a's solicited-node multicast group, sends
// DupAddrDetectTransmits Neighbor Solicitations from the unspecified
// address to that group, RetransTimer apart, and waits RetransTimer after
// the last. It returns nil if nobody claimed a, a *DuplicateError
// (errors.Is ErrDuplicate; the BA status is StatusDADFailed) if a node
// advertised a or ran DAD for it meanwhile, ctx's error if ctx ended first,
// ErrClosed if the Defender was closed.
//
// For an IPv4 address it sends ARP probes instead (RFC 5227 §2.1.1), with
// the same count and spacing rather than RFC 5227's PROBE_NUM and timers.
// Linux does not answer probes for addresses it merely proxies, so this
// finds hosts that use the address, not another agent defending it.
//
// An address this Defender defends gives ErrDefended: its own kernel would
// answer. Another home agent on the link that defends a answers after the
// kernel's proxy delay (net.ipv6.neigh.IFACE.proxy_delay, up to 0.8 s by
// default), so DAD with a RetransTimer shorter than that can miss it.
func (d *Defender) DAD(ctx context.Context, a netip.Addr) error {
	if err := d.checkAddr(a); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	closed, defended := d.closed, d.defended[a] != nil
	d.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if defended {
		return fmt.Errorf("%w: %s", ErrDefended, a)
	}
	c := d.watch(a)
	defer d.unwatch(a, c)
	if a.Is6() {
		group := SolicitedNodeMulticast(a)
		if err := d.joinGroup(group); err != nil {
			return fmt.Errorf("homelink: DAD for %s: join %s: %w", a, group, err)
		}
		defer d.leaveGroup(group)
	}
	var t *time.Timer
	for range d.opt.DupAddrDetectTransmits {
		if err := d.solicit(a); err != nil {
			return err
		}
		if t == nil {
			t = time.NewTimer(d.opt.RetransTimer)
			defer t.Stop()
		} else {
			t.Reset(d.opt.RetransTimer)
		}
		select {
		case dup := <-c:
			return d.duplicate(dup)
		case <-t.C:
			select { // evidence that came with the timer still counts
			case dup := <-c:
				return d.duplicate(dup)
			default:
			}
		case <-ctx.Done():
			return ctx.Err()
		case <-d.quit:
			return ErrClosed
		}
	}
	d.log.Debug("address unique on the home link", "addr", a)
	return nil
}

func (d *Defender) duplicate(dup *DuplicateError) error {
	d.log.Info("duplicate address detected", "addr", dup.Addr, "evidence", dup.Evidence, "from", dup.From, "lladdr", dup.LinkAddr)
	return dup
}

// solicit sends one DAD solicitation (IPv6) or ARP probe (IPv4) for a.
func (d *Defender) solicit(a netip.Addr) error {
	if a.Is4() {
		p := arpProbe(d.mac, a)
		if err := d.arp.broadcast(p.Append(make([]byte, 0, ARPLen))); err != nil {
			return fmt.Errorf("homelink: ARP probe for %s: %w", a, err)
		}
		return nil
	}
	pkt := appendDADSolicitation(make([]byte, 0, ipv6HeaderLen+NeighborSolicitationLen), a)
	to := SolicitedNodeMulticast(a).As16()
	if err := d.dad.sendto(pkt, sockaddrInet6(to, d.home)); err != nil {
		return fmt.Errorf("homelink: DAD Neighbor Solicitation for %s: %w", a, err)
	}
	d.log.Debug("DAD Neighbor Solicitation sent", "target", a)
	return nil
}

// watch registers interest in duplicates of a; the channel receives at
// most one report.
func (d *Defender) watch(a netip.Addr) chan *DuplicateError {
	c := make(chan *DuplicateError, 1)
	d.wmu.Lock()
	d.watches[a] = append(d.watches[a], c)
	d.wmu.Unlock()
	return c
}

func (d *Defender) unwatch(a netip.Addr, c chan *DuplicateError) {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	cs := d.watches[a]
	for i, x := range cs {
		if x == c {
			cs = append(cs[:i], cs[i+1:]...)
			break
		}
	}
	if len(cs) == 0 {
		delete(d.watches, a)
	} else {
		d.watches[a] = cs
	}
}

// report hands a duplicate to whoever watches its address.
func (d *Defender) report(dup *DuplicateError) {
	if dup == nil {
		return
	}
	d.wmu.Lock()
	defer d.wmu.Unlock()
	for _, c := range d.watches[dup.Addr] {
		select {
		case c <- dup:
		default: // already has one
		}
	}
}

// joinGroup joins a solicited-node group on the ND socket; concurrent DADs
// for addresses sharing the group share the membership.
func (d *Defender) joinGroup(g netip.Addr) error {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.groups[g] == 0 {
		if err := d.nd.join(g); err != nil {
			return err
		}
	}
	d.groups[g]++
	return nil
}

func (d *Defender) leaveGroup(g netip.Addr) {
	d.wmu.Lock()
	defer d.wmu.Unlock()
	if d.groups[g]--; d.groups[g] > 0 {
		return
	}
	delete(d.groups, g)
	if err := d.nd.leave(g); err != nil && !errors.Is(err, net.ErrClosed) {
		d.log.Debug("leaving solicited-node group", "group", g, "err", err)
	}
}

// readND receives Neighbor Advertisements and Solicitations on the home
// link until the socket is closed, and reports the duplicates they reveal.
func (d *Defender) readND() {
	defer d.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, cm, src, err := d.nd.p.ReadFrom(buf)
		if err != nil {
			if d.receiveFailed("ICMPv6", err) {
				return
			}
			continue
		}
		if cm == nil {
			continue
		}
		var from netip.Addr
		if ip, ok := src.(*net.IPAddr); ok {
			from, _ = netip.AddrFromSlice(ip.IP)
		}
		to, _ := netip.AddrFromSlice(cm.Dst)
		d.report(duplicateFromND(buf[:n], cm.HopLimit, from, to))
	}
}

// readARP receives ARP packets on the home link until the socket is
// closed, and reports the duplicates they reveal.
func (d *Defender) readARP() {
	defer d.wg.Done()
	buf := make([]byte, 128)
	for {
		n, outgoing, err := d.arp.recv(buf)
		if err != nil {
			if d.receiveFailed("ARP", err) {
				return
			}
			continue
		}
		if !outgoing {
			d.report(duplicateFromARP(buf[:n], d.mac))
		}
	}
}

// receiveFailed handles a receive error of a reader: true when the
// Defender is closing (the socket was closed under the reader), otherwise
// it logs the error and pauses briefly so that a persistent error does not
// spin.
func (d *Defender) receiveFailed(what string, err error) bool {
	select {
	case <-d.quit:
		return true
	default:
	}
	d.log.Debug("receive failed", "socket", what, "err", err)
	t := time.NewTimer(10 * time.Millisecond)
	defer t.Stop()
	select {
	case <-d.quit:
		return true
	case <-t.C:
		return false
	}
}
