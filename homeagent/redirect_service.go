package homeagent

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/config"
	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/policy"
)

// leaseLookupTimeout bounds the store read of an identity's lease at
// IKE_AUTH: the shard that owns the SA waits for it.
const leaseLookupTimeout = 250 * time.Millisecond

// redirectOptions are the Service's RFC 5685 settings from its
// configuration: anycast addresses answered with a redirect to this
// member's own unicast address (ike.redirect.anycast, cluster.addresses),
// the grace period (ike.redirect.grace) and, with ike.redirect.enable, the
// placement policy on the store's live members and the leases it holds.
// opts.Redirect, when a program gives it, replaces them.
func (s *Service) redirectOptions(cfg *config.Config, opts ServiceOptions) *RedirectOptions {
	if opts.Redirect != nil {
		return opts.Redirect
	}
	ro := &RedirectOptions{Anycast: cfg.Anycast(), Grace: cfg.IKE.Redirect.Grace, Member: cfg.Cluster.MemberID}
	if cfg.IKE.Redirect.Enable {
		s.view = &storeView{}
		ro.View = s.view
		ro.Leases = storeLeases{s}
	}
	return ro
}

// storeView is the ClusterView of the Service: the placement policy on the
// live members of the store, rebuilt by the cluster's member watch
// (cluster.go) whenever the member list changes.
// Until the first member list arrives it has no policy: nobody is
// redirected for placement.
type storeView struct{ p atomic.Pointer[policy.Policy] }

// Policy implements ClusterView.
func (v *storeView) Policy() *policy.Policy { return v.p.Load() }

// storeLeases is the Service's LeaseLocator: the identity's lease in the
// store, IPv6 first, then IPv4.
type storeLeases struct{ s *Service }

// Locate implements LeaseLocator. A lease the store cannot tell within
// leaseLookupTimeout counts as none.
func (l storeLeases) Locate(id ike.ID) (owner, moving string) {
	ctx, cancel := context.WithTimeout(context.Background(), leaseLookupTimeout)
	defer cancel()
	for _, f := range []store.Family{store.IPv6, store.IPv4} {
		lease, err := l.s.store.IdentityLease(ctx, IdentityOf(id), f)
		if err == nil && lease.Served() {
			return lease.Owner, lease.MovingTo
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", ""
		}
	}
	return "", ""
}
