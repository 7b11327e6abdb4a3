package mnclient

import (
	"fmt"
	"log/slog"

	"github.com/vishvananda/netlink"
)

// watchLinks subscribes to the kernel's address and route changes and
// signals each one on changed (without blocking: one pending signal is
// enough, the client re-evaluates its care-of address from scratch). The
// returned function ends the subscriptions.
func watchLinks(changed chan<- struct{}, log *slog.Logger) (stop func(), err error) {
	done := make(chan struct{})
	addrs := make(chan netlink.AddrUpdate, 16)
	routes := make(chan netlink.RouteUpdate, 16)
	onErr := func(err error) { log.Warn("netlink subscription", "err", err) }
	if err := netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{ErrorCallback: onErr}); err != nil {
		close(done)
		return nil, fmt.Errorf("mnclient: watching addresses: %w", err)
	}
	if err := netlink.RouteSubscribeWithOptions(routes, done, netlink.RouteSubscribeOptions{ErrorCallback: onErr}); err != nil {
		close(done)
		return nil, fmt.Errorf("mnclient: watching routes: %w", err)
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
		for addrs != nil || routes != nil {
			select {
			case _, ok := <-addrs:
				if !ok {
					addrs = nil
					continue
				}
				signal()
			case _, ok := <-routes:
				if !ok {
					routes = nil
					continue
				}
				signal()
			}
		}
	}()
	return func() {
		close(done)
		<-finished
	}, nil
}
