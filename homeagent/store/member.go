package store

import (
	"context"
	"net/netip"
	"slices"
	"time"
)

// Member is a home agent of the deployment as it announces itself to the
// others. The fields mirror policy.Member so the runtime can build its
// cluster view from Members without further lookups.
type Member struct {
	// ID names the member uniquely; leases name it as their Owner.
	ID string
	// Site is where the member is.
	Site string
	// Addrs are the member's unicast addresses that clients reach on the
	// standard IKE ports, most preferred first.
	Addrs []netip.Addr
	// NATAddrs are public address:port pairs of a port-forwarding NAT in
	// front of the member.
	NATAddrs []netip.AddrPort
	// Capacity is how many nodes the member serves at most; Load how many
	// it serves now.
	Capacity, Load int
	// Healthy is the member's own verdict on its dataplane.
	Healthy bool
	// Draining is set while the member moves its nodes away.
	Draining bool
	// Heartbeat is when the member last wrote its record (Join or
	// Update), by the store's clock. The store fills it in.
	Heartbeat time.Time
}

// Equal reports whether m and n are the same record.
func (m Member) Equal(n Member) bool {
	return m.ID == n.ID && m.Site == n.Site && slices.Equal(m.Addrs, n.Addrs) &&
		slices.Equal(m.NATAddrs, n.NATAddrs) && m.Capacity == n.Capacity && m.Load == n.Load &&
		m.Healthy == n.Healthy && m.Draining == n.Draining && m.Heartbeat.Equal(n.Heartbeat)
}

// Membership is a member's published record, kept alive by the store
// until Leave, until the context given to Join ends, or until the store
// closes. When the keep-alive stops without Leave, the record lapses after
// its TTL, as it does when the process dies.
type Membership interface {
	// Update replaces the published record (load, health, draining). Its
	// ID must not change. It fails with ErrNotFound once the membership
	// has lapsed.
	Update(ctx context.Context, m Member) error
	// Leave withdraws the record at once.
	Leave(ctx context.Context) error
	// Done is closed when the membership ends: Leave, the keep-alive's
	// context ended and the TTL lapsed, the store could not renew it in
	// time, or the store closed. A home agent whose membership ended must
	// assume that others may take its leases over (Takeover).
	Done() <-chan struct{}
}
