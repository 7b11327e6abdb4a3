package homeagent

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/mip6ha/mip6ha/ike"
)

// Handover tickets (the project's private-use extension, docs/redirect.md):
// a home agent that redirects a client which announced the extensions gives
// it a ticket naming the inner addresses it holds; the client presents the
// ticket in IKE_AUTH at the new home agent (ike carries the octets), which
// checks it with the key the home agents of the deployment share and grants
// the same addresses. The ticket travels only inside SK payloads (an
// INFORMATIONAL or IKE_AUTH REDIRECT, then IKE_AUTH), so it is never seen
// in clear; it binds the client's authenticated identity through its MAC
// without carrying it.
//
//	offset  size  field
//	0       1     version, 1
//	1       8     expiry, Unix seconds, big endian
//	9       1     flags: 0x01 IPv6 present, 0x02 IPv4 present
//	10      16    IPv6 address (zero if absent)
//	26      1     IPv6 prefix length
//	27      4     IPv4 address (zero if absent)
//	31      1     issuer length n (at most 64)
//	32      n     issuer: the member ID of the home agent that issued it
//	32+n    16    MAC: HMAC-SHA-256(key, label | 0 | ID Type | len(ID Data) (2) | ID Data | octets 0..31+n), first 16 octets
const (
	ticketVersion  = 1
	ticketFixedLen = 32
	ticketMACLen   = 16
	ticketLabel    = "mip6ha handover ticket"
	ticketFlagIPv6 = 0x01
	ticketFlagIPv4 = 0x02
	minTicketKey   = 16
)

// ErrTicket is wrapped by the errors of a handover ticket that cannot be
// accepted: malformed, for another identity, forged or expired.
var ErrTicket = errors.New("homeagent: handover ticket refused")

// Ticket is what a valid handover ticket says.
type Ticket struct {
	// IPv6 and IPv4 are the inner addresses the client held (invalid when
	// none).
	IPv6 netip.Prefix
	IPv4 netip.Addr
	// Issuer is the member ID of the home agent that issued the ticket.
	Issuer string
	// Expires is when the ticket stops being valid.
	Expires time.Time
}

// ticketKey issues and checks tickets with a key shared by the home agents.
type ticketKey struct{ key []byte }

func newTicketKey(key []byte) (*ticketKey, error) {
	if len(key) < minTicketKey {
		return nil, fmt.Errorf("ticket key of %d octets, want at least %d", len(key), minTicketKey)
	}
	return &ticketKey{key: append([]byte(nil), key...)}, nil
}

// issue returns a ticket for the addresses a the peer holds.
func (k *ticketKey) issue(peer ike.ID, a ike.Assignment, issuer string, expires time.Time) []byte {
	if len(issuer) > 64 {
		issuer = issuer[:64]
	}
	b := make([]byte, ticketFixedLen, ticketFixedLen+len(issuer)+ticketMACLen)
	b[0] = ticketVersion
	binary.BigEndian.PutUint64(b[1:9], uint64(expires.Unix()))
	if a.IPv6.IsValid() && a.IPv6.Addr().Is6() {
		b[9] |= ticketFlagIPv6
		a16 := a.IPv6.Addr().As16()
		copy(b[10:26], a16[:])
		b[26] = byte(a.IPv6.Bits())
	}
	if a.IPv4.IsValid() && a.IPv4.Is4() {
		b[9] |= ticketFlagIPv4
		a4 := a.IPv4.As4()
		copy(b[27:31], a4[:])
	}
	b[31] = byte(len(issuer))
	b = append(b, issuer...)
	return append(b, k.mac(peer, b)...)
}

// mac computes the ticket's MAC over body for the identity peer.
func (k *ticketKey) mac(peer ike.ID, body []byte) []byte {
	h := hmac.New(sha256.New, k.key)
	h.Write([]byte(ticketLabel))
	var hdr [4]byte
	hdr[1] = byte(peer.Type)
	binary.BigEndian.PutUint16(hdr[2:], uint16(len(peer.Data)))
	h.Write(hdr[:])
	h.Write([]byte(peer.Data))
	h.Write(body)
	return h.Sum(nil)[:ticketMACLen]
}

// verify checks a ticket presented by the authenticated peer at now.
func (k *ticketKey) verify(peer ike.ID, b []byte, now time.Time) (Ticket, error) {
	t, body, mac, err := parseTicket(b)
	if err != nil {
		return Ticket{}, err
	}
	if !hmac.Equal(mac, k.mac(peer, body)) {
		return Ticket{}, fmt.Errorf("%w: not issued to %v by a home agent of this deployment", ErrTicket, peer)
	}
	if !now.Before(t.Expires) {
		return Ticket{}, fmt.Errorf("%w: expired at %v", ErrTicket, t.Expires.UTC().Format(time.RFC3339))
	}
	return t, nil
}

// parseTicket parses a ticket's fields without checking its MAC; it never
// panics, whatever b holds.
func parseTicket(b []byte) (t Ticket, body, mac []byte, err error) {
	if len(b) < ticketFixedLen+ticketMACLen {
		return t, nil, nil, fmt.Errorf("%w: %d octets, shorter than any ticket", ErrTicket, len(b))
	}
	if b[0] != ticketVersion {
		return t, nil, nil, fmt.Errorf("%w: version %d", ErrTicket, b[0])
	}
	n := int(b[31])
	if n > 64 || len(b) != ticketFixedLen+n+ticketMACLen {
		return t, nil, nil, fmt.Errorf("%w: length %d does not match issuer length %d", ErrTicket, len(b), n)
	}
	flags := b[9]
	if flags&^(ticketFlagIPv6|ticketFlagIPv4) != 0 {
		return t, nil, nil, fmt.Errorf("%w: unknown flags %#x", ErrTicket, flags)
	}
	if flags&ticketFlagIPv6 != 0 {
		a := netip.AddrFrom16([16]byte(b[10:26]))
		p, err := a.Prefix(int(b[26]))
		if err != nil || b[26] > 128 || a.Is4In6() {
			return t, nil, nil, fmt.Errorf("%w: IPv6 prefix length %d", ErrTicket, b[26])
		}
		t.IPv6 = netip.PrefixFrom(a, p.Bits())
	}
	if flags&ticketFlagIPv4 != 0 {
		t.IPv4 = netip.AddrFrom4([4]byte(b[27:31]))
	}
	t.Expires = time.Unix(int64(min(binary.BigEndian.Uint64(b[1:9]), 1<<62)), 0)
	t.Issuer = string(b[ticketFixedLen : ticketFixedLen+n])
	return t, b[:ticketFixedLen+n], b[ticketFixedLen+n:], nil
}

// ticketPool is an AddressPool that honours handover tickets: a client that
// presents a valid ticket asks, whatever its CFG_REQUEST suggested, for the
// addresses the ticket names (the ones it held at the home agent that
// redirected it). A ticket that does not verify is logged and ignored: the
// request is served as if it carried none.
type ticketPool struct {
	AddressPool
	key *ticketKey
	log *slog.Logger
	now func() time.Time // nil: time.Now
}

// Assign implements AddressPool.
func (p *ticketPool) Assign(ctx context.Context, req ike.AddressRequest) (ike.Assignment, error) {
	if req.Ticket == nil {
		return p.AddressPool.Assign(ctx, req)
	}
	now := time.Now
	if p.now != nil {
		now = p.now
	}
	t, err := p.key.verify(req.Peer, req.Ticket, now())
	if err != nil {
		p.log.Warn("handover ticket refused", "peer", req.Peer.String(), "remote", req.Remote.String(), "err", err)
		return p.AddressPool.Assign(ctx, req)
	}
	if req.IPv6 && t.IPv6.IsValid() {
		req.SuggestedIPv6 = t.IPv6
	}
	if req.IPv4 && t.IPv4.IsValid() {
		req.SuggestedIPv4 = t.IPv4
	}
	a, err := p.AddressPool.Assign(ctx, req)
	kept := err == nil && (!req.IPv6 || !t.IPv6.IsValid() || a.IPv6.Addr() == t.IPv6.Addr()) &&
		(!req.IPv4 || !t.IPv4.IsValid() || a.IPv4 == t.IPv4)
	level := slog.LevelInfo
	if !kept {
		level = slog.LevelWarn
	}
	p.log.Log(ctx, level, "handover ticket accepted", "peer", req.Peer.String(), "issuer", t.Issuer,
		"ipv6", prefixString(t.IPv6), "ipv4", addrString(t.IPv4), "addresses_kept", kept, "err", err)
	return a, err
}
