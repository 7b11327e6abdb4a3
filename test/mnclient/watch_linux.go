package mnclient

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/vishvananda/netlink"
)

// watchLinks subscribes to the kernel's address and route changes and
// signals each one on changed (without blocking: one pending signal is
// enough, the client re-evaluates its care-of address from scratch). A
// subscription that the kernel ends (a receive error such as ENOBUFS when
// the socket overflowed, after which changes may have been missed) is
// renewed, with a signal for what it may have missed. The returned
// function ends the subscriptions.
func watchLinks(changed chan<- struct{}, log *slog.Logger) (stop func(), err error) {
	done := make(chan struct{})
	stopping := func() bool {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	onErr := func(err error) {
		if !stopping() {
			log.Warn("netlink subscription failed", "err", err)
		}
	}
	subscribeAddrs := func() (chan netlink.AddrUpdate, error) {
		ch := make(chan netlink.AddrUpdate, 16)
		if err := netlink.AddrSubscribeWithOptions(ch, done, netlink.AddrSubscribeOptions{ErrorCallback: onErr}); err != nil {
			return nil, fmt.Errorf("mnclient: watching addresses: %w", err)
		}
		return ch, nil
	}
	subscribeRoutes := func() (chan netlink.RouteUpdate, error) {
		ch := make(chan netlink.RouteUpdate, 16)
		if err := netlink.RouteSubscribeWithOptions(ch, done, netlink.RouteSubscribeOptions{ErrorCallback: onErr}); err != nil {
			return nil, fmt.Errorf("mnclient: watching routes: %w", err)
		}
		return ch, nil
	}
	addrs, err := subscribeAddrs()
	if err != nil {
		close(done)
		return nil, err
	}
	routes, err := subscribeRoutes()
	if err != nil {
		close(done)
		return nil, err
	}
	signal := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		// retry renews ended subscriptions, at most once a second.
		var retry <-chan time.Time
		quit := done
		for quit != nil || addrs != nil || routes != nil {
			select {
			case _, ok := <-addrs:
				if !ok {
					addrs = nil
				}
				signal()
			case _, ok := <-routes:
				if !ok {
					routes = nil
				}
				signal()
			case <-retry:
				retry = nil
			case <-quit:
				// Drain until the subscriptions have closed their
				// channels, so that none stays blocked on a send.
				quit, retry = nil, nil
			}
			if (addrs == nil || routes == nil) && retry == nil && !stopping() {
				var err error
				if addrs == nil {
					if addrs, err = subscribeAddrs(); err != nil {
						addrs = nil
					}
				}
				if routes == nil && err == nil {
					if routes, err = subscribeRoutes(); err != nil {
						routes = nil
					}
				}
				if err != nil {
					log.Warn("netlink subscription not renewed; trying again in a second", "err", err)
					retry = time.After(time.Second)
				} else {
					log.Info("netlink subscription renewed")
				}
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}, nil
}
