// Package record encodes lease and member records and the keys they are
// stored under, the same way for every backend: JSON values (readable with
// etcdctl or bbolt's tools) and keys that sort in address order.
//
// Decoders never panic; they check every field and fail with
// store.ErrCorrupt.
package record

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
)

// Version is the record format version written in every value.
const Version = 1

type lease struct {
	V            int              `json:"v"`
	HoA          netip.Addr       `json:"hoa"`
	Identity     string           `json:"identity"`
	Owner        string           `json:"owner,omitempty"`
	State        store.LeaseState `json:"state"`
	MovingTo     string           `json:"moving_to,omitempty"`
	Deadline     *time.Time       `json:"deadline,omitempty"`
	TraceContext string           `json:"trace_context,omitempty"`
	CareOf       netip.AddrPort   `json:"care_of,omitzero"`
	TicketHash   []byte           `json:"ticket_hash,omitempty"`
	CreatedAt    time.Time        `json:"created_at"`
	UpdatedAt    time.Time        `json:"updated_at"`
	Revision     store.Revision   `json:"revision,omitempty"`
}

// EncodeLease returns the stored form of l. withRevision keeps l.Revision
// in the value (the embedded store, which has no per-key revisions); etcd
// leaves it out and uses the key's ModRevision. It fails with
// store.ErrInvalid for a lease it could not decode again (an invalid
// state, a time outside the years 0-9999).
func EncodeLease(l store.Lease, withRevision bool) ([]byte, error) {
	r := lease{
		V: Version, HoA: l.HoA, Identity: l.Identity, Owner: l.Owner, State: l.State,
		MovingTo: l.MovingTo, TraceContext: l.TraceContext, CareOf: l.CareOf,
		TicketHash: l.TicketHash, CreatedAt: l.CreatedAt.UTC(), UpdatedAt: l.UpdatedAt.UTC(),
	}
	if !l.Deadline.IsZero() {
		d := l.Deadline.UTC()
		r.Deadline = &d
	}
	if withRevision {
		r.Revision = l.Revision
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("%w: lease %v: %v", store.ErrInvalid, l.HoA, err)
	}
	return b, nil
}

// DecodeLease parses a stored lease and checks it is well formed.
func DecodeLease(b []byte) (store.Lease, error) {
	var r lease
	if err := json.Unmarshal(b, &r); err != nil {
		return store.Lease{}, fmt.Errorf("%w: lease: %v", store.ErrCorrupt, err)
	}
	if r.V != Version {
		return store.Lease{}, fmt.Errorf("%w: lease record version %d", store.ErrCorrupt, r.V)
	}
	l := store.Lease{
		HoA: r.HoA, Identity: r.Identity, Owner: r.Owner, State: r.State, MovingTo: r.MovingTo,
		TraceContext: r.TraceContext, Attributes: store.Attributes{CareOf: r.CareOf, TicketHash: r.TicketHash},
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, Revision: r.Revision,
	}
	if r.Deadline != nil {
		l.Deadline = *r.Deadline
	}
	if len(l.TicketHash) == 0 {
		l.TicketHash = nil
	}
	if err := checkLease(l); err != nil {
		return store.Lease{}, err
	}
	return l, nil
}

func checkLease(l store.Lease) error {
	switch {
	case store.FamilyOf(l.HoA) == 0:
		return fmt.Errorf("%w: lease home address %v", store.ErrCorrupt, l.HoA)
	case l.Identity == "":
		return fmt.Errorf("%w: lease %v without identity", store.ErrCorrupt, l.HoA)
	case l.Revision < 0:
		return fmt.Errorf("%w: lease %v revision %d", store.ErrCorrupt, l.HoA, l.Revision)
	}
	switch l.State {
	case store.StateBound:
		if l.Owner == "" || l.MovingTo != "" {
			return fmt.Errorf("%w: bound lease %v needs an owner and no move", store.ErrCorrupt, l.HoA)
		}
	case store.StateMoving:
		if l.Owner == "" || l.MovingTo == "" || l.Deadline.IsZero() {
			return fmt.Errorf("%w: moving lease %v needs owner, target and deadline", store.ErrCorrupt, l.HoA)
		}
	case store.StateReleased:
		if l.Owner != "" || l.MovingTo != "" {
			return fmt.Errorf("%w: released lease %v has an owner", store.ErrCorrupt, l.HoA)
		}
	default:
		return fmt.Errorf("%w: lease %v state %v", store.ErrCorrupt, l.HoA, l.State)
	}
	return nil
}

type member struct {
	V         int              `json:"v"`
	ID        string           `json:"id"`
	Site      string           `json:"site,omitempty"`
	Addrs     []netip.Addr     `json:"addrs,omitempty"`
	NATAddrs  []netip.AddrPort `json:"nat_addrs,omitempty"`
	Capacity  int              `json:"capacity"`
	Load      int              `json:"load"`
	Healthy   bool             `json:"healthy"`
	Draining  bool             `json:"draining,omitempty"`
	Heartbeat time.Time        `json:"heartbeat"`
}

// EncodeMember returns the stored form of m.
func EncodeMember(m store.Member) ([]byte, error) {
	b, err := json.Marshal(member{
		V: Version, ID: m.ID, Site: m.Site, Addrs: m.Addrs, NATAddrs: m.NATAddrs,
		Capacity: m.Capacity, Load: m.Load, Healthy: m.Healthy, Draining: m.Draining,
		Heartbeat: m.Heartbeat.UTC(),
	})
	if err != nil {
		return nil, fmt.Errorf("%w: member %q: %v", store.ErrInvalid, m.ID, err)
	}
	return b, nil
}

// DecodeMember parses a stored member record.
func DecodeMember(b []byte) (store.Member, error) {
	var r member
	if err := json.Unmarshal(b, &r); err != nil {
		return store.Member{}, fmt.Errorf("%w: member: %v", store.ErrCorrupt, err)
	}
	if r.V != Version || r.ID == "" {
		return store.Member{}, fmt.Errorf("%w: member record version %d id %q", store.ErrCorrupt, r.V, r.ID)
	}
	return store.Member{
		ID: r.ID, Site: r.Site, Addrs: r.Addrs, NATAddrs: r.NATAddrs, Capacity: r.Capacity,
		Load: r.Load, Healthy: r.Healthy, Draining: r.Draining, Heartbeat: r.Heartbeat,
	}, nil
}

// CheckMember validates a member record given to Join or Update.
func CheckMember(m store.Member) error {
	if m.ID == "" {
		return fmt.Errorf("%w: member without ID", store.ErrInvalid)
	}
	if strings.ContainsAny(m.ID, "\x00") {
		return fmt.Errorf("%w: member ID %q", store.ErrInvalid, m.ID)
	}
	for _, a := range m.Addrs {
		if !a.IsValid() {
			return fmt.Errorf("%w: member %q has an invalid address", store.ErrInvalid, m.ID)
		}
	}
	if slices.ContainsFunc(m.NATAddrs, func(a netip.AddrPort) bool { return !a.IsValid() }) {
		return fmt.Errorf("%w: member %q has an invalid NAT address", store.ErrInvalid, m.ID)
	}
	if m.Capacity < 0 || m.Load < 0 {
		return fmt.Errorf("%w: member %q capacity and load must not be negative", store.ErrInvalid, m.ID)
	}
	return nil
}

// AddrKey is the sort key of a home address: the family (4 or 6) as one
// octet, then the address octets. Keys sort IPv4 first, then by address.
func AddrKey(a netip.Addr) []byte {
	return append([]byte{byte(store.FamilyOf(a))}, a.AsSlice()...)
}

// ParseAddrKey is the inverse of AddrKey.
func ParseAddrKey(k []byte) (netip.Addr, error) {
	if len(k) == 0 {
		return netip.Addr{}, fmt.Errorf("%w: empty address key", store.ErrCorrupt)
	}
	a, ok := netip.AddrFromSlice(k[1:])
	if !ok || byte(store.FamilyOf(a)) != k[0] {
		return netip.Addr{}, fmt.Errorf("%w: address key %x", store.ErrCorrupt, k)
	}
	return a, nil
}

// AddrText is the text form of AddrKey, used in etcd keys: "4/c0000201",
// "6/20010db8000000000000000000000001". It sorts like AddrKey.
func AddrText(a netip.Addr) string {
	return fmt.Sprintf("%d/%s", store.FamilyOf(a), hex.EncodeToString(a.AsSlice()))
}

// ParseAddrText is the inverse of AddrText.
func ParseAddrText(s string) (netip.Addr, error) {
	fam, h, ok := strings.Cut(s, "/")
	if !ok || (fam != "4" && fam != "6") {
		return netip.Addr{}, fmt.Errorf("%w: address key %q", store.ErrCorrupt, s)
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: address key %q", store.ErrCorrupt, s)
	}
	a, ok := netip.AddrFromSlice(b)
	if !ok || AddrText(a) != s {
		return netip.Addr{}, fmt.Errorf("%w: address key %q is not canonical", store.ErrCorrupt, s)
	}
	return a, nil
}
