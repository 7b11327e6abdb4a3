package ike

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// The INFORMATIONAL concerns (RFC 7296 §1.4): delete of the IKE SA and of
// CHILD_SAs, liveness checks (§2.4) and the gateway-initiated REDIRECT of
// an established SA (RFC 5685 §5).

// deleteIKEExchange deletes an IKE SA: the current one (ending the SA) or
// a replaced or redundant one (retiring it).
type deleteIKEExchange struct {
	reason DownReason
	err    error
}

func (*deleteIKEExchange) kind() wire.ExchangeType { return wire.ExchangeInformational }

func (*deleteIKEExchange) request(sa *SA, ike *ikeSA, id uint32, now time.Time) ([]byte, error) {
	ike.deleting = true
	return sa.protected(ike, wire.ExchangeInformational, id, false, ptr(wire.DeleteIKESA()))
}

func (x *deleteIKEExchange) response(sa *SA, ike *ikeSA, in *inbound, now time.Time) {
	sa.ikeDeleted(ike, x.reason, x.err)
}

func (x *deleteIKEExchange) timeout(sa *SA, ike *ikeSA, now time.Time) {
	sa.ikeDeleted(ike, x.reason, x.err)
}

// ikeDeleted ends the SA if ike is the current IKE SA, or retires ike.
func (sa *SA) ikeDeleted(ike *ikeSA, reason DownReason, err error) {
	if ike == sa.cur {
		sa.teardown(reason, err)
		return
	}
	sa.retire(ike)
}

// retire forgets a replaced or redundant IKE SA.
func (sa *SA) retire(ike *ikeSA) {
	if ike.retired {
		return
	}
	ike.retired = true
	// A retired IKE SA takes no message (Receive drops it by its SPI) and
	// sends none: its keys are not needed any more.
	ike.forget()
	sa.others = slices.DeleteFunc(sa.others, func(o *ikeSA) bool { return o == ike })
	if sa.peerRekey == ike {
		sa.peerRekey = nil
	}
	sa.emit(IKERetired{SPIs: ike.spis, LocalSPI: ike.localSPI()})
}

// livenessExchange is an empty INFORMATIONAL request (RFC 7296 §2.4).
type livenessExchange struct{}

func (*livenessExchange) kind() wire.ExchangeType { return wire.ExchangeInformational }

func (*livenessExchange) request(sa *SA, ike *ikeSA, id uint32, now time.Time) ([]byte, error) {
	return sa.protected(ike, wire.ExchangeInformational, id, false)
}

func (*livenessExchange) response(sa *SA, ike *ikeSA, in *inbound, now time.Time) {}

func (*livenessExchange) timeout(sa *SA, ike *ikeSA, now time.Time) {
	sa.peerDead(ike, wire.ExchangeInformational)
}

// peerDead ends the SA after a request went unanswered (RFC 7296 §2.4).
func (sa *SA) peerDead(ike *ikeSA, ex wire.ExchangeType) {
	if ike != sa.cur {
		sa.retire(ike)
		return
	}
	sa.emit(LivenessFailed{SPIs: ike.spis})
	sa.teardown(DownTimeout, fmt.Errorf("%w: %v request", ErrTimeout, ex))
}

// deleteChildExchange deletes a CHILD_SA (RFC 7296 §1.4.1). orphanOut, if
// set, is the peer's SPI of a CHILD_SA it created but we refused (never
// installed): we name our inbound SPI of it, which the peer knows.
type deleteChildExchange struct {
	inSPI     uint32
	orphanOut []byte
	orphanIn  uint32
	reason    DownReason
}

func (*deleteChildExchange) kind() wire.ExchangeType { return wire.ExchangeInformational }

func (x *deleteChildExchange) request(sa *SA, ike *ikeSA, id uint32, now time.Time) ([]byte, error) {
	spi := x.inSPI
	if x.orphanOut != nil {
		spi = x.orphanIn
		if spi == 0 {
			return nil, errSkip
		}
	} else {
		c := sa.childByIn(x.inSPI)
		if c == nil {
			return nil, errSkip
		}
		c.state = childDeleting
	}
	return sa.protected(ike, wire.ExchangeInformational, id, false, ptr(wire.DeleteChildSAs(wire.ProtocolESP, spi)))
}

func (x *deleteChildExchange) response(sa *SA, ike *ikeSA, in *inbound, now time.Time) {
	if c := sa.childByIn(x.inSPI); c != nil && x.orphanOut == nil {
		reason := x.reason
		if reason == 0 {
			reason = DownDeleted
		}
		sa.removeChild(c, reason)
	}
}

func (x *deleteChildExchange) timeout(sa *SA, ike *ikeSA, now time.Time) {
	sa.peerDead(ike, wire.ExchangeInformational)
}

// redirectExchange is the gateway-initiated REDIRECT of an established SA
// (RFC 5685 §5), retransmitted until answered.
type redirectExchange struct {
	target RedirectTarget
}

func (*redirectExchange) kind() wire.ExchangeType { return wire.ExchangeInformational }

func (x *redirectExchange) request(sa *SA, ike *ikeSA, id uint32, now time.Time) ([]byte, error) {
	sa.emit(RedirectSent{SPIs: ike.spis, Exchange: wire.ExchangeInformational, Target: x.target, Peer: sa.PeerID()})
	return sa.protected(ike, wire.ExchangeInformational, id, false, sa.redirectPayloads(x.target, nil)...)
}

func (x *redirectExchange) response(sa *SA, ike *ikeSA, in *inbound, now time.Time) {
	// The client builds its new SA, then deletes this one; if it does not,
	// we do after the grace period (RFC 5685 §5).
	sa.graceDeleteAt = now.Add(sa.cfg.RedirectGrace)
}

func (x *redirectExchange) timeout(sa *SA, ike *ikeSA, now time.Time) {
	sa.peerDead(ike, wire.ExchangeInformational)
}

// respondInformational answers an INFORMATIONAL request.
func (sa *SA) respondInformational(ike *ikeSA, in *inbound, now time.Time) ([]wire.Payload, func()) {
	var resp []wire.Payload
	var after func()
	var ours []uint32 // our inbound SPIs of the CHILD_SAs the peer deletes
	for _, p := range in.ps {
		if p.Type != wire.PayloadDelete {
			continue
		}
		d, err := wire.ParseDelete(p.Body)
		if err != nil {
			continue
		}
		switch d.ProtocolID {
		case wire.ProtocolIKE:
			// RFC 7296 §1.4.1: answer with an empty INFORMATIONAL, then
			// the IKE SA and its CHILD_SAs are gone.
			ike.deleting = true
			return nil, func() {
				switch {
				case ike == sa.cur && sa.peerRekey != nil:
					// RFC 7296 §2.8.2: the peer finished its rekey without
					// seeing ours: forget ours, move to its new IKE SA.
					next := sa.peerRekey
					sa.peerRekey = nil
					sa.switchIKE(next, false, now)
					sa.retire(ike)
				case ike == sa.cur:
					sa.teardown(DownDeletedByPeer, fmt.Errorf("%w by the peer", ErrDeleted))
				default:
					sa.retire(ike)
				}
			}
		case wire.ProtocolESP, wire.ProtocolAH:
			if d.SPISize != 4 {
				continue
			}
			for i := range d.Count() {
				c := sa.childByOut(binary.BigEndian.Uint32(d.SPI(i)))
				if c == nil {
					continue // RFC 7296 §2.25.1: no Delete for an unknown SA
				}
				if c.state != childDeleting {
					ours = append(ours, c.sa.InSPI)
				}
				reason := DownDeletedByPeer
				if c.state == childRekeyed || slices.ContainsFunc(sa.children, func(s *child) bool { return s.pred == c }) {
					reason = DownRekeyed
				}
				sa.removeChild(c, reason)
			}
		}
	}
	if len(ours) > 0 {
		resp = append(resp, ptr(wire.DeleteChildSAs(wire.ProtocolESP, ours...)))
	}
	if n, ok := in.notify(wire.NotifyRedirect); ok {
		sa.receiveRedirect(ike, n, in)
	}
	if _, ok := in.notify(wire.NotifyAuthenticationFailed); ok && !sa.initiatorRole {
		// RFC 7296 §2.21.2: the initiator did not accept our AUTH.
		err := notifyErr(ErrAuthentication, wire.NotifyAuthenticationFailed, true, "")
		return resp, func() {
			sa.emit(AuthFailed{SPIs: ike.spis, Peer: sa.PeerID(), ByPeer: true, Err: err})
			sa.teardown(DownAuthFailed, err)
		}
	}
	return resp, after
}

// receiveRedirect handles a gateway-initiated REDIRECT (RFC 5685 §5): only
// from the original responder, once its AUTH verified, to a client that
// announced support. The SA stays up: the caller builds the new SA first,
// then deletes this one.
func (sa *SA) receiveRedirect(ike *ikeSA, n wire.Notify, in *inbound) {
	if !sa.initiatorRole || !sa.redirect.supported || !sa.peerAuthenticated {
		return
	}
	r, err := n.Redirect(wire.ExchangeInformational, nil)
	if err != nil {
		return
	}
	t, ok := sa.redirectTarget(r, in)
	if !ok {
		return
	}
	sa.emit(RedirectReceived{SPIs: ike.spis, Exchange: wire.ExchangeInformational, Target: t, From: sa.gatewayIdentity()})
}

// redirectTarget returns the target of a received REDIRECT, with the
// handover ticket beside it if we announced the extensions. A gateway
// identity type with a port is unknown to a client that did not announce
// them: such a REDIRECT is ignored (spec/ike.md §1.3 rule 3).
func (sa *SA) redirectTarget(r wire.Redirect, in *inbound) (RedirectTarget, bool) {
	t := RedirectTarget{Gateway: r.Gateway}
	if !targetAllowed(t, sa.redirect.extensions) {
		return RedirectTarget{}, false
	}
	if n, ok := in.notify(wire.NotifyHandoverTicket); ok && sa.redirect.extensions {
		t.Ticket = slices.Clone(n.Data)
	}
	return t, true
}

// redirectPayloads returns the REDIRECT notify for t (no nonce: IKE_AUTH and
// INFORMATIONAL, RFC 5685 §5, §6; ni for IKE_SA_INIT) and, for clients that
// announced the extensions, the handover ticket.
func (sa *SA) redirectPayloads(t RedirectTarget, ni []byte) []wire.Payload {
	ps := []wire.Payload{&wire.Redirect{Gateway: t.Gateway, Nonce: ni}}
	if t.Ticket != nil && sa.redirect.extensions {
		ps = append(ps, &wire.Notify{Type: wire.NotifyHandoverTicket, Data: t.Ticket})
	}
	return ps
}

// askRedirectAtAuth consults the Redirector after the client's AUTH
// verified (RFC 5685 §6).
func (sa *SA) askRedirectAtAuth(ike *ikeSA, req *AddressRequest) (RedirectTarget, bool) {
	r := sa.cfg.Redirector
	if r == nil || !sa.redirect.supported {
		return RedirectTarget{}, false
	}
	t, ok := r.AtAuth(AuthInfo{InitInfo: sa.redirect.info, SPIs: ike.spis, Peer: sa.peerID, Addresses: req,
		Ticket: sa.redirect.ticket, TraceContext: sa.redirect.traceContext})
	if !ok || !targetAllowed(t, sa.redirect.extensions) {
		return RedirectTarget{}, false
	}
	return t, true
}

// targetAllowed checks that a target can be sent: standard gateway types
// for every client, the port types only to clients that announced the
// extension.
func targetAllowed(t RedirectTarget, extensions bool) bool {
	switch t.Gateway.Type {
	case wire.GatewayIdentityIPv4, wire.GatewayIdentityIPv6:
		return t.Gateway.AddrPort.Addr().IsValid()
	case wire.GatewayIdentityFQDN:
		return t.Gateway.FQDN != ""
	case wire.GatewayIdentityIPv4Port, wire.GatewayIdentityIPv6Port:
		return extensions && t.Gateway.AddrPort.IsValid()
	}
	return false
}

// Redirect sends the peer to another gateway (RFC 5685 §5): an INFORMATIONAL
// request with REDIRECT, retransmitted until answered; the IKE SA is then
// deleted after Config.RedirectGrace unless the client deletes it first.
// Only the original responder may redirect (RFC 5685 §10), and only a peer
// that announced support.
func (sa *SA) Redirect(now time.Time, target RedirectTarget) error {
	if err := sa.requireEstablished(); err != nil {
		return err
	}
	if sa.initiatorRole || !sa.redirect.supported {
		return fmt.Errorf("%w: %v", ErrRedirectNotSupported, sa.peerID)
	}
	if !targetAllowed(target, sa.redirect.extensions) {
		return fmt.Errorf("%w: target %v not allowed for this client", ErrRedirectNotSupported, target.Gateway)
	}
	sa.touch(now)
	sa.redirect.redirected = true
	sa.enqueue(sa.cur, &redirectExchange{target: target}, now)
	return nil
}

// DeleteChild deletes the CHILD_SA whose inbound SPI is inSPI (RFC 7296
// §1.4.1). ChildDown follows the answer.
func (sa *SA) DeleteChild(now time.Time, inSPI uint32) error {
	if err := sa.requireEstablished(); err != nil {
		return err
	}
	c := sa.childByIn(inSPI)
	if c == nil {
		return fmt.Errorf("%w: inbound SPI %08x", ErrNoChild, inSPI)
	}
	sa.touch(now)
	sa.enqueue(sa.cur, &deleteChildExchange{inSPI: inSPI}, now)
	return nil
}
