package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mip6ha/mip6ha/homeagent/store"
)

// LeaseVersion is one version of a lease record in etcd's history.
type LeaseVersion struct {
	Revision int64            `json:"-"`
	HoA      netip.Addr       `json:"hoa"`
	Identity string           `json:"identity"`
	Owner    string           `json:"owner"`
	State    store.LeaseState `json:"state"`
	MovingTo string           `json:"moving_to"`
}

// MemberEvent is a write of a member record: joined or updated, or gone
// (deleted: the member left or its etcd lease expired).
type MemberEvent struct {
	Revision int64
	Member   string
	Gone     bool
}

// History is the lab deployment's history in etcd: every version of every
// lease, oldest first, and every write of the member records.
type History struct {
	Leases  map[netip.Addr][]LeaseVersion
	Members []MemberEvent
}

// ReadHistory reads the deployment's whole history from etcd (a watch from
// revision 1 with the previous values, up to the current revision).
func ReadHistory(ctx context.Context, cl *clientv3.Client) (History, error) {
	h := History{Leases: map[netip.Addr][]LeaseVersion{}}
	cur, err := cl.Get(ctx, EtcdPrefix+"/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return h, err
	}
	latest := cur.Header.Revision
	leases, members := EtcdPrefix+"/leases/", EtcdPrefix+"/members/"
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for resp := range cl.Watch(wctx, EtcdPrefix+"/", clientv3.WithPrefix(), clientv3.WithRev(1), clientv3.WithPrevKV()) {
		if err := resp.Err(); err != nil {
			return h, err
		}
		for _, ev := range resp.Events {
			key := string(ev.Kv.Key)
			switch {
			case strings.HasPrefix(key, members):
				h.Members = append(h.Members, MemberEvent{Revision: ev.Kv.ModRevision, Member: strings.TrimPrefix(key, members),
					Gone: ev.Type == clientv3.EventTypeDelete})
			case strings.HasPrefix(key, leases):
				if ev.Type == clientv3.EventTypeDelete {
					return h, fmt.Errorf("lease key %s deleted at revision %d", key, ev.Kv.ModRevision)
				}
				var v LeaseVersion
				if err := json.Unmarshal(ev.Kv.Value, &v); err != nil {
					return h, fmt.Errorf("lease key %s at revision %d: %w", key, ev.Kv.ModRevision, err)
				}
				v.Revision = ev.Kv.ModRevision
				h.Leases[v.HoA] = append(h.Leases[v.HoA], v)
			}
		}
		if resp.Header.Revision >= latest || len(resp.Events) > 0 && resp.Events[len(resp.Events)-1].Kv.ModRevision >= latest {
			break
		}
	}
	return h, nil
}

// Ownership sums up the owner changes of a History and what is wrong with
// them.
type Ownership struct {
	// Transfers are owner changes that end a move: from "moving to X" to
	// bound at X. Takeovers are owner changes after the old owner's member
	// record was gone. Reacquired are leases taken again after a release.
	Transfers, Takeovers, Reacquired int
	// Violations describe every change outside those rules, and every
	// address leased to two identities or identity holding two addresses.
	Violations []string
}

// CheckOwnership checks that no home address was ever owned by two home
// agents, against the history: each lease key holds one owner at each
// revision (etcd: one value per key), so the rule is on the changes. An
// owner change is allowed only as the end of a move (the lease was moving
// to the new owner) or as a takeover made when the old owner's member
// record was gone (deleted at an earlier revision, not written again
// since); a released lease may be acquired by any member. An address
// belongs to one identity for its whole history, and, for the identities
// given (nil: all), an identity holds one address.
func CheckOwnership(h History, identities []string) Ownership {
	var o Ownership
	bad := func(format string, args ...any) { o.Violations = append(o.Violations, fmt.Sprintf(format, args...)) }
	sort.Slice(h.Members, func(i, j int) bool { return h.Members[i].Revision < h.Members[j].Revision })
	// memberGoneAt reports whether member's record was absent at revision rev.
	memberGoneAt := func(member string, rev int64) bool {
		gone := true // never written: absent
		for _, e := range h.Members {
			if e.Revision >= rev {
				break
			}
			if e.Member == member {
				gone = e.Gone
			}
		}
		return gone
	}
	byIdentity := map[string]map[netip.Addr]bool{}
	for hoa, vs := range h.Leases {
		for i, v := range vs {
			if byIdentity[v.Identity] == nil {
				byIdentity[v.Identity] = map[netip.Addr]bool{}
			}
			byIdentity[v.Identity][hoa] = true
			if i == 0 {
				continue
			}
			prev := vs[i-1]
			if v.Identity != prev.Identity {
				bad("%v: leased to %s at revision %d, then to %s at %d", hoa, prev.Identity, prev.Revision, v.Identity, v.Revision)
			}
			if v.Owner == prev.Owner || v.Owner == "" {
				continue
			}
			switch {
			case prev.State == store.StateReleased:
				o.Reacquired++
			case prev.State == store.StateMoving && prev.MovingTo == v.Owner:
				o.Transfers++
			case memberGoneAt(prev.Owner, v.Revision):
				o.Takeovers++
			default:
				bad("%v: owner %s (%v) became %s at revision %d while %s was a member and the lease was not moving to it",
					hoa, prev.Owner, prev.State, v.Owner, v.Revision, prev.Owner)
			}
		}
	}
	want := map[string]bool{}
	for _, id := range identities {
		want[id] = true
	}
	for id, hoas := range byIdentity {
		if (identities == nil || want[id]) && len(hoas) > 1 {
			bad("%s held %d addresses: %v", id, len(hoas), hoas)
		}
	}
	return o
}
