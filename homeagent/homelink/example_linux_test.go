package homelink_test

import (
	"context"
	"errors"
	"log"
	"net/netip"

	"github.com/mip6ha/mip6ha/homeagent/homelink"
)

// The life of a home agent's home link: start-up after a restart, a new
// registration, a takeover by another agent, shutdown.
func Example() {
	ctx := context.Background()
	// In the agent's network namespace, once the dataplane's TUN device
	// exists.
	d, err := homelink.New("eth0", "mip6ha0", homelink.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer d.Close() // releases everything, restores the sysctls
	for _, c := range d.Sysctls() {
		log.Printf("changed %s", c)
	}

	// Start-up: defend what the lease store says this agent still serves,
	// then remove what a crashed run left behind.
	served := []netip.Addr{netip.MustParseAddr("2001:db8:1::50")}
	for _, hoa := range served {
		if err := d.Defend(ctx, hoa); err != nil {
			log.Print(err)
		}
	}
	if stale, err := d.Reconcile(ctx); err == nil && len(stale) > 0 {
		log.Printf("removed leftovers for %v", stale)
	}

	// A new home registration (RFC 6275 §10.3.1): DAD, then defend.
	hoa := netip.MustParseAddr("2001:db8:1::51")
	var dup *homelink.DuplicateError
	switch err := d.DAD(ctx, hoa); {
	case errors.As(err, &dup):
		log.Printf("refuse with BA status %d: %v", dup.Status(), dup)
	case err != nil:
		log.Print(err)
	default:
		if err := d.Defend(ctx, hoa); err != nil {
			log.Print(err)
		}
	}

	// The lease moved to another agent, which has sent its own
	// advertisements: stop defending.
	if err := d.Release(ctx, hoa); err != nil {
		log.Print(err)
	}
}
