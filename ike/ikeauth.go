package ike

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// authExchange is the initiator's IKE_AUTH (RFC 7296 §1.2): identity,
// AUTH, the configuration request and the first CHILD_SA, composed from the
// auth, config and child concerns.
type authExchange struct {
	inSPI   uint32
	offered []wire.Proposal
	tsi     []wire.TrafficSelector
	tsr     []wire.TrafficSelector
	mode    Mode
	cpReq   *wire.CP
}

func (*authExchange) kind() wire.ExchangeType { return wire.ExchangeIKEAuth }

func (x *authExchange) request(sa *SA, ike *ikeSA, id uint32, now time.Time) ([]byte, error) {
	lc, err := sa.cfg.Credentials.Local(nil)
	if err != nil {
		return nil, sa.authAbort(fmt.Errorf("%w: local credential: %w", ErrConfig, err))
	}
	sa.local = lc
	var peer *PeerCredential
	if lc.PSK == nil && lc.Signer == nil && !sa.cfg.PeerID.IsZero() {
		if peer, err = sa.cfg.Credentials.Peer(sa.cfg.PeerID); err != nil {
			return nil, sa.authAbort(fmt.Errorf("%w: %w", ErrConfig, err))
		}
	}
	auth, certs, err := sa.buildAuth(ike, idBody(lc.ID), peer)
	if err != nil {
		return nil, sa.authAbort(err)
	}
	if x.inSPI, err = sa.newChildSPI(); err != nil {
		return nil, sa.authAbort(err)
	}
	x.offered = offerSA(sa.cfg.espProposals, wire.ProtocolESP, spiBytes(x.inSPI), false, 0).Proposals
	x.tsi, x.tsr = sa.initiatorTS()
	x.mode = sa.cfg.Mode
	x.cpReq = cpRequest(sa.cfg.Request)

	ps := []wire.Payload{ptr(wire.IDi(lc.ID.payload()))}
	ps = append(ps, certs...)
	if sa.cfg.InitialContact {
		ps = append(ps, &wire.Notify{Type: wire.NotifyInitialContact})
	}
	if len(sa.cfg.certReq) > 0 {
		ps = append(ps, &wire.CertReq{Encoding: wire.CertX509Signature, Authorities: sa.cfg.certReq})
	}
	if !sa.cfg.PeerID.IsZero() {
		ps = append(ps, ptr(wire.IDr(sa.cfg.PeerID.payload())))
	}
	ps = append(ps, auth)
	if x.cpReq != nil {
		ps = append(ps, x.cpReq) // CP before SA (RFC 7296 §2.19)
	}
	if x.mode == Transport {
		ps = append(ps, &wire.Notify{Type: wire.NotifyUseTransportMode})
	}
	if sa.redirect.gatewayExtensions {
		// Private use: only to a gateway that answered our announcement.
		if sa.cfg.Ticket != nil {
			ps = append(ps, &wire.Notify{Type: wire.NotifyHandoverTicket, Data: sa.cfg.Ticket})
		}
		if sa.cfg.TraceContext != nil {
			ps = append(ps, &wire.Notify{Type: wire.NotifyTraceContext, Data: sa.cfg.TraceContext})
		}
	}
	ps = append(ps, &wire.SA{Proposals: x.offered}, ptr(wire.TSi{Selectors: x.tsi}), ptr(wire.TSr{Selectors: x.tsr}))
	return sa.protected(ike, wire.ExchangeIKEAuth, id, false, ps...)
}

// authAbort ends an SA that cannot build its IKE_AUTH request.
func (sa *SA) authAbort(err error) error {
	sa.teardown(DownAuthFailed, err)
	return errSkip
}

func (x *authExchange) response(sa *SA, ike *ikeSA, in *inbound, now time.Time) {
	if in.ps == nil {
		sa.teardown(DownProtocolError, fmt.Errorf("%w: malformed IKE_AUTH response", ErrProtocol))
		return
	}
	idp, okID := in.first(wire.PayloadIDr)
	if _, okAuth := in.first(wire.PayloadAUTH); !okID || !okAuth {
		t := wire.NotifyAuthenticationFailed
		if n, ok := in.errorNotify(); ok {
			t = n.Type
		}
		err := notifyErr(ErrAuthentication, t, true, "")
		sa.emit(AuthFailed{SPIs: ike.spis, ByPeer: true, Err: err})
		sa.teardown(DownAuthFailed, err)
		return
	}
	wid, err := wire.ParseID(idp.Body)
	if err != nil {
		sa.teardown(DownProtocolError, fmt.Errorf("%w: %w", ErrProtocol, err))
		return
	}
	id := idFromWire(wid)
	peer, err := sa.checkPeerID(id)
	if err == nil {
		err = sa.verifyAuth(ike, in, wid, idp.Body, peer, now)
	}
	if err != nil {
		sa.emit(AuthFailed{SPIs: ike.spis, Peer: id, Err: err})
		// RFC 7296 §2.21.2: tell the responder in a separate INFORMATIONAL
		// (sent once: nobody waits for its answer).
		if msg, e := sa.protected(ike, wire.ExchangeInformational, ike.nextID, false, &wire.Notify{Type: wire.NotifyAuthenticationFailed}); e == nil {
			sa.send(msg)
		}
		sa.teardown(DownAuthFailed, err)
		return
	}
	sa.peerID, sa.peerAuthenticated = id, true

	// RFC 5685 §6: a REDIRECT counts only once the gateway's AUTH verified;
	// then the IKE SA is deleted.
	if n, ok := in.notify(wire.NotifyRedirect); ok && sa.redirect.supported {
		r, err := n.Redirect(wire.ExchangeIKEAuth, nil)
		if t, ok := sa.redirectTarget(r, in); err == nil && ok {
			sa.established(now)
			sa.emit(RedirectReceived{SPIs: ike.spis, Exchange: wire.ExchangeIKEAuth, Target: t, From: sa.gatewayIdentity()})
			sa.deleteIKE(now, DownRedirected, fmt.Errorf("%w to %v in IKE_AUTH", ErrRedirected, r.Gateway))
			return
		}
	}
	sa.established(now)

	if x.cpReq != nil {
		if a := parseCPReply(in); a != nil && !a.Empty() {
			sa.assignment = a
			sa.emit(AddressAssigned{SPIs: ike.spis, Peer: id, Assignment: *a, ToUs: true})
		}
	}
	if err := x.acceptChild(sa, ike, in, now); err != nil {
		t, _ := notifyOf(err)
		var ne *NotifyError
		byPeer := errors.As(err, &ne) && ne.Received
		if byPeer {
			t = ne.Type
		}
		sa.emit(ChildFailed{SPIs: ike.spis, Notify: t, ByPeer: byPeer, Err: err})
	}
	if sa.cfg.RequireAddress && x.cpReq != nil && (sa.assignment == nil || !assignmentAnswers(cpAsked(sa.cfg.Request), *sa.assignment)) {
		sa.deleteIKE(now, DownNegotiationFailed, notifyErr(ErrNegotiation, wire.NotifyInternalAddressFailure, true, "no address assigned"))
	}
}

func (*authExchange) timeout(sa *SA, ike *ikeSA, now time.Time) {
	sa.teardown(DownTimeout, fmt.Errorf("%w: IKE_AUTH", ErrTimeout))
}

// cpAsked turns our CPRequest into the AddressRequest the responder sees.
func cpAsked(r CPRequest) *AddressRequest {
	return &AddressRequest{IPv6: r.IPv6 || r.SuggestIPv6.IsValid(), IPv4: r.IPv4 || r.SuggestIPv4.IsValid(), HomePrefix: r.HomePrefix}
}

// acceptChild takes the first CHILD_SA from an IKE_AUTH response.
func (x *authExchange) acceptChild(sa *SA, ike *ikeSA, in *inbound, now time.Time) error {
	for _, n := range in.notifies() {
		if slices.Contains(childErrors, n.Type) || n.Type.IsError() {
			return notifyErr(ErrNegotiation, n.Type, true, "")
		}
	}
	p, ok := in.first(wire.PayloadSA)
	if !ok {
		return fmt.Errorf("%w: no CHILD_SA in the IKE_AUTH response", ErrNegotiation)
	}
	var sar wire.SA
	if err := wire.ParseSA(p.Body, &sar); err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	c, err := accepted(x.offered, &sar, wire.ProtocolESP, dhIgnore)
	if err != nil {
		return sa.refuseChild(ike, c, x.inSPI, err)
	}
	tsi, ok1 := parseTS(in, wire.PayloadTSi)
	tsr, ok2 := parseTS(in, wire.PayloadTSr)
	if !ok1 || !ok2 || len(tsi) == 0 || len(tsr) == 0 || !subset(tsi, x.tsi) || !subset(tsr, x.tsr) {
		return sa.refuseChild(ike, c, x.inSPI, fmt.Errorf("%w: traffic selectors outside those proposed", ErrProtocol))
	}
	mode := Tunnel
	if _, ok := in.notify(wire.NotifyUseTransportMode); ok && x.mode == Transport {
		mode = Transport
	}
	if mode != x.mode {
		// RFC 7296 §1.3.1: the initiator deletes a CHILD_SA in a mode it cannot use.
		return sa.refuseChild(ike, c, x.inSPI, fmt.Errorf("%w: responder chose %v mode", ErrNegotiation, mode))
	}
	ch, err := sa.makeChild(ike, c, x.inSPI, nil, ike.ni, ike.nr, true, tsi, tsr, mode, now)
	if err != nil {
		return sa.refuseChild(ike, c, x.inSPI, err)
	}
	sa.installChild(ch)
	return nil
}

// refuseChild deletes a CHILD_SA the responder created but we cannot accept.
func (sa *SA) refuseChild(ike *ikeSA, c chosen, inSPI uint32, err error) error {
	if len(c.SPI) == 4 {
		// The peer installed it: tell it to remove its half. The Delete
		// names our inbound SPI, which we never installed.
		sa.enqueue(ike, &deleteChildExchange{orphanOut: c.SPI, orphanIn: inSPI}, sa.clock)
	}
	return err
}

// checkPeerID returns the PAD entry of the identity the gateway proved and
// checks it is the one we expect (RFC 5685 §3: the same across redirects).
func (sa *SA) checkPeerID(id ID) (*PeerCredential, error) {
	if !sa.cfg.PeerID.IsZero() && id != sa.cfg.PeerID {
		return nil, notifyErr(ErrAuthentication, wire.NotifyAuthenticationFailed, false, "peer is %v, expected %v", id, sa.cfg.PeerID)
	}
	peer, err := sa.cfg.Credentials.Peer(id)
	if err != nil {
		return nil, notifyErr(ErrAuthentication, wire.NotifyAuthenticationFailed, false, "%v", err)
	}
	return peer, nil
}

// established marks the IKE SA up and reports it.
func (sa *SA) established(now time.Time) {
	if sa.state >= StateEstablished {
		return
	}
	sa.state = StateEstablished
	sa.releaseHalfOpen()
	// Both AUTHs are done: the IKE_SA_INIT messages and the ephemeral D-H
	// key are not needed any more.
	sa.init = nil
	if sa.cfg.IKERekeyTime > 0 {
		sa.ikeRekeyAt = now.Add(time.Duration(sa.jitter(int64(sa.cfg.IKERekeyTime))))
	}
	sa.emit(IKEUp{
		SPIs: sa.cur.spis, Initiator: sa.initiatorRole, Path: sa.path, NATT: sa.natt,
		LocalID: sa.local.ID, PeerID: sa.peerID, Suite: suiteName(sa.cur),
		RedirectSupported: sa.redirect.supported && !sa.initiatorRole, RedirectExtensions: sa.redirect.extensions && !sa.initiatorRole,
		RedirectedFrom: sa.redirect.from, TraceContext: slices.Clone(sa.redirect.traceContext),
	})
}

func suiteName(ike *ikeSA) string {
	return fmt.Sprintf("%v/%v", ike.suite, ike.prop.DH)
}

// respondAuth answers an IKE_AUTH request (RFC 7296 §1.2, §2.15, §2.19;
// RFC 5685 §6).
func (sa *SA) respondAuth(ike *ikeSA, in *inbound, now time.Time) ([]wire.Payload, func()) {
	if sa.state != StateAuth || ike != sa.cur {
		// A second IKE_AUTH round (EAP, multiple authentication) is not
		// supported.
		return []wire.Payload{&wire.Notify{Type: wire.NotifyAuthenticationFailed}}, nil
	}
	idp, _ := in.first(wire.PayloadIDi)
	wid, err := wire.ParseID(idp.Body)
	if err != nil {
		return []wire.Payload{&wire.Notify{Type: wire.NotifyInvalidSyntax}}, nil
	}
	id := idFromWire(wid)
	fail := func(err error) ([]wire.Payload, func()) {
		return []wire.Payload{&wire.Notify{Type: wire.NotifyAuthenticationFailed}}, func() {
			sa.emit(AuthFailed{SPIs: ike.spis, Peer: id, Err: err})
			sa.teardown(DownAuthFailed, err)
		}
	}
	var requested *ID
	if p, ok := in.first(wire.PayloadIDr); ok {
		if w, err := wire.ParseID(p.Body); err == nil {
			requested = ptr(idFromWire(w))
		}
	}
	lc, err := sa.cfg.Credentials.Local(requested)
	if err != nil {
		return fail(fmt.Errorf("%w: local credential: %w", ErrAuthentication, err))
	}
	sa.local = lc
	peer, err := sa.cfg.Credentials.Peer(id)
	if err != nil {
		return fail(notifyErr(ErrAuthentication, wire.NotifyAuthenticationFailed, false, "%v", err))
	}
	if err := sa.verifyAuth(ike, in, wid, idp.Body, peer, now); err != nil {
		return fail(err)
	}
	sa.peerID, sa.peerAuthenticated = id, true
	if sa.redirect.extensions {
		if n, ok := in.notify(wire.NotifyHandoverTicket); ok {
			sa.redirect.ticket = slices.Clone(n.Data)
		}
		if n, ok := in.notify(wire.NotifyTraceContext); ok {
			sa.redirect.traceContext = slices.Clone(n.Data)
		}
	}
	req := parseCPRequest(in)
	if req != nil {
		req.Peer, req.SPIs, req.Remote = id, ike.spis, in.dg.Remote
		req.Ticket, req.RedirectedFrom = sa.redirect.ticket, sa.redirect.from
		req.TraceContext = sa.redirect.traceContext
	}

	auth, certs, err := sa.buildAuth(ike, idBody(lc.ID), peer)
	if err != nil {
		return fail(err)
	}
	resp := []wire.Payload{ptr(wire.IDr(lc.ID.payload()))}
	resp = append(resp, certs...)
	resp = append(resp, auth)

	// RFC 5685 §6: redirect after the client's AUTH verified, without a
	// CHILD_SA.
	if t, ok := sa.askRedirectAtAuth(ike, req); ok {
		resp = append(resp, sa.redirectPayloads(t, nil)...)
		return resp, func() {
			sa.established(now)
			sa.redirect.redirected = true
			sa.graceDeleteAt = now.Add(sa.cfg.RedirectGrace)
			sa.emit(RedirectSent{SPIs: ike.spis, Exchange: wire.ExchangeIKEAuth, Target: t, Peer: id})
		}
	}
	// The SA is kept: INITIAL_CONTACT may end the peer's others (RFC 7296
	// §2.4). Not for a redirected SA, which the client leaves.
	if _, ok := in.notify(wire.NotifyInitialContact); ok {
		sa.emit(InitialContact{SPIs: ike.spis, Peer: id})
	}

	var events []Event
	var a Assignment
	if req != nil && sa.cfg.Addresses != nil {
		got, err := sa.cfg.Addresses.Assign(*req)
		if err != nil || !assignmentAnswers(req, got) {
			// RFC 7296 §3.15.4: the IKE SA stands, no CHILD_SA.
			resp = append(resp, &wire.Notify{Type: wire.NotifyInternalAddressFailure})
			return resp, func() {
				sa.established(now)
				sa.emit(ChildFailed{SPIs: ike.spis, Notify: wire.NotifyInternalAddressFailure, Err: notifyErr(ErrNegotiation, wire.NotifyInternalAddressFailure, false, "%v", err)})
			}
		}
		a = got
		sa.assignment = &a
		resp = append(resp, cpReply(req, a))
		events = append(events, AddressAssigned{SPIs: ike.spis, Peer: id, Assignment: a})
	}

	// The first CHILD_SA. Its failure leaves the IKE SA standing (RFC
	// 7296 §1.2).
	var ch *child
	var childErr error
	if in.has(wire.PayloadSA) {
		var cps []wire.Payload
		ch, cps, childErr = sa.respondChild(ike, in, a, dhIgnore, nil, ike.ni, ike.nr, now)
		resp = append(resp, cps...)
	}
	sa.established(now)
	for _, e := range events {
		sa.emit(e)
	}
	if ch != nil {
		sa.installChild(ch)
	} else if childErr != nil {
		t, _ := notifyOf(childErr)
		sa.emit(ChildFailed{SPIs: ike.spis, Notify: t, Err: childErr})
	}
	return resp, nil
}

// respondChild negotiates a CHILD_SA the peer asks for in IKE_AUTH or
// CREATE_CHILD_SA: proposal, mode and traffic selectors. It returns the new
// CHILD_SA (not yet installed) and the payloads of the answer, or the error
// Notify to answer with. gir is the D-H secret of a PFS exchange.
func (sa *SA) respondChild(ike *ikeSA, in *inbound, a Assignment, dh dhMode, gir, ni, nr []byte, now time.Time) (*child, []wire.Payload, error) {
	refuse := func(err error) (*child, []wire.Payload, error) {
		t, ok := notifyOf(err)
		if !ok {
			t = wire.NotifyNoProposalChosen
		}
		return nil, []wire.Payload{&wire.Notify{Type: t}}, err
	}
	p, _ := in.first(wire.PayloadSA)
	var sai wire.SA
	if err := wire.ParseSA(p.Body, &sai); err != nil {
		return refuse(notifyErr(ErrProtocol, wire.NotifyInvalidSyntax, false, "%v", err))
	}
	var want wire.DHGroup
	if dh == dhPFS && gir != nil {
		want = keGroup(in)
	}
	c, ok := selectProposal(sa.cfg.espProposals, sai.Proposals, wire.ProtocolESP, dh, want, 0)
	if !ok {
		return refuse(notifyErr(ErrNegotiation, wire.NotifyNoProposalChosen, false, "no acceptable ESP proposal"))
	}
	tsi, ok1 := parseTS(in, wire.PayloadTSi)
	tsr, ok2 := parseTS(in, wire.PayloadTSr)
	if !ok1 || !ok2 {
		return refuse(notifyErr(ErrProtocol, wire.NotifyInvalidSyntax, false, "traffic selectors missing"))
	}
	mode := sa.childMode(in)
	ntsi, ntsr, err := sa.narrow(tsi, tsr, a, mode)
	if err != nil {
		return refuse(err)
	}
	inSPI, err := sa.newChildSPI()
	if err != nil {
		return refuse(err)
	}
	ch, err := sa.makeChild(ike, c, inSPI, gir, ni, nr, false, ntsr, ntsi, mode, now)
	if err != nil {
		return refuse(notifyErr(ErrNegotiation, wire.NotifyNoProposalChosen, false, "%v", err))
	}
	var ps []wire.Payload
	if mode == Transport {
		ps = append(ps, &wire.Notify{Type: wire.NotifyUseTransportMode})
	}
	ps = append(ps, &wire.SA{Proposals: []wire.Proposal{c.answer(wire.ProtocolESP, spiBytes(inSPI))}},
		ptr(wire.TSi{Selectors: ntsi}), ptr(wire.TSr{Selectors: ntsr}))
	return ch, ps, nil
}

// keGroup returns the group of the KE payload of a CREATE_CHILD_SA request.
func keGroup(in *inbound) wire.DHGroup {
	kp, ok := in.first(wire.PayloadKE)
	if !ok {
		return 0
	}
	ke, err := wire.ParseKE(kp.Body)
	if err != nil {
		return 0
	}
	return ke.Group
}
