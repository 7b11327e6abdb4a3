package homelink

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The kernel forgets part of a defence on its own: setting the home link
// down removes every proxy neighbour entry on it (pneigh_ifdown), and
// setting the TUN device down, or deleting it, removes the routes through
// it. A Defender follows link changes (RTNLGRP_LINK) and, when either
// interface comes (back) up, installs the route and proxy entry of every
// defended address again and repeats its advertisements. A TUN device
// created again under the same name gets a new index, which the Defender
// adopts.

// linkState is what the Defender knows of its two interfaces. Guarded by
// Defender.mu.
type linkState struct {
	homeUp, tunUp bool
}

// followLinks subscribes to link changes in the current network namespace
// and starts the goroutine that acts on them; closing d.linksDone ends
// both the subscription and the goroutine.
func (d *Defender) followLinks() error {
	d.links = make(chan netlink.LinkUpdate, 16)
	d.linksDone = make(chan struct{})
	err := netlink.LinkSubscribeWithOptions(d.links, d.linksDone, netlink.LinkSubscribeOptions{
		ErrorCallback: func(err error) {
			select {
			case <-d.quit: // the subscription's socket was closed by Close
			default:
				d.log.Warn("link change subscription", "err", err)
			}
		},
	})
	if err != nil {
		return fmt.Errorf("homelink: subscribe to link changes: %w", err)
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		// Drain until netlink closes the channel: its goroutine must not
		// block on a send after Close.
		for u := range d.links {
			d.linkChanged(u)
		}
	}()
	return nil
}

// linkChanged restores the defences when the home link or the TUN device
// comes up.
func (d *Defender) linkChanged(u netlink.LinkUpdate) {
	if u.Family == unix.AF_BRIDGE {
		return // bridge port state, not the interface itself
	}
	index, name := int(u.Index), u.Link.Attrs().Name
	up := u.Header.Type == unix.RTM_NEWLINK && u.Flags&unix.IFF_UP != 0
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	switch {
	case index == d.home:
		was := d.link.homeUp
		d.link.homeUp = up
		if up && !was {
			d.restore("home link up")
		}
	case name == d.tunName:
		was := d.link.tunUp && index == d.k.tun
		if u.Header.Type == unix.RTM_NEWLINK {
			d.k.tun = index
		}
		d.link.tunUp = up
		if up && !was {
			d.restore("TUN device up")
		}
	}
}

// restore installs every defended address again and restarts its
// advertisements. Called with d.mu held.
func (d *Defender) restore(why string) {
	if len(d.defended) == 0 {
		return
	}
	d.log.Info("restoring home address defences", "reason", why, "addresses", len(d.defended))
	for a, def := range d.defended {
		def.halt()
		if err := d.install(a); err != nil {
			d.log.Error("home address defence not restored", "addr", a, "err", err)
		}
		if err := d.advertise(a); err != nil {
			d.log.Warn("advertisement not sent", "addr", a, "err", err)
		}
		d.startRepeats(a)
	}
}

func isUp(l netlink.Link) bool { return l.Attrs().Flags&net.FlagUp != 0 }
