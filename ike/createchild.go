package ike

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/mip6ha/mip6ha/ike/ikecrypto"
	"github.com/mip6ha/mip6ha/ike/wire"
)

// The CREATE_CHILD_SA concerns (RFC 7296 §1.3): rekeying a CHILD_SA
// (§1.3.3, with or without PFS), rekeying the IKE SA (§1.3.2, §2.18), a new
// CHILD_SA asked for by the peer (§1.3.1), and the collisions of §2.8.1,
// §2.8.2 and §2.25.

// temporaryFailureBackoff is how long we wait before retrying a rekey the
// peer refused with TEMPORARY_FAILURE (RFC 7296 §2.25: not at once).
const temporaryFailureBackoff = 10 * time.Second

// maxOldIKESAs is how many replaced IKE SAs may wait for their Delete
// before a rekey of the peer is refused with TEMPORARY_FAILURE: a peer
// that rekeys and never deletes cannot make us hold keys and routed SPIs
// without bound.
const maxOldIKESAs = 2

// pfsGroup returns the D-H group for PFS in CREATE_CHILD_SA: the first group
// of the first ESP proposal that has one (0: no PFS).
func (sa *SA) pfsGroup() wire.DHGroup {
	for _, p := range sa.cfg.espProposals {
		if len(p.DH) > 0 {
			return p.DH[0]
		}
	}
	return 0
}

// newDH returns a D-H key in group g.
func (sa *SA) newDH(g wire.DHGroup) (*ikecrypto.PrivateKey, error) {
	group, err := ikecrypto.LookupGroup(ikecrypto.DHGroup(g))
	if err != nil {
		return nil, err
	}
	return group.GenerateKey(sa.cfg.Rand)
}

// lowestNonce reports whether the lowest of the four nonces of two
// colliding exchanges is in the first (a1, a2) rather than the second
// (b1, b2) (RFC 7296 §2.8.1: octet by octet, a prefix is lower).
func lowestNonce(a1, a2, b1, b2 []byte) bool {
	a := a1
	if bytes.Compare(a2, a) < 0 {
		a = a2
	}
	b := b1
	if bytes.Compare(b2, b) < 0 {
		b = b2
	}
	return bytes.Compare(a, b) < 0
}

// RekeyChild rekeys the CHILD_SA whose inbound SPI is inSPI (RFC 7296
// §1.3.3), with PFS if an ESP proposal has a D-H group. ChildRekeyed follows
// the answer; the old CHILD_SA is then deleted (ChildDown, DownRekeyed).
func (sa *SA) RekeyChild(now time.Time, inSPI uint32) error {
	if err := sa.requireEstablished(); err != nil {
		return err
	}
	c := sa.childByIn(inSPI)
	if c == nil {
		return fmt.Errorf("%w: inbound SPI %08x", ErrNoChild, inSPI)
	}
	if c.state != childInstalled {
		return fmt.Errorf("%w: CHILD_SA %08x is already being rekeyed or deleted", ErrState, inSPI)
	}
	sa.touch(now)
	sa.enqueue(sa.cur, &rekeyChildExchange{old: c}, now)
	return nil
}

// rekeyChildExchange is our CREATE_CHILD_SA that rekeys a CHILD_SA.
type rekeyChildExchange struct {
	old     *child
	inSPI   uint32
	ni      []byte
	dh      *ikecrypto.PrivateKey
	group   wire.DHGroup
	offered []wire.Proposal
	retried bool
}

func (*rekeyChildExchange) kind() wire.ExchangeType { return wire.ExchangeCreateChildSA }

func (x *rekeyChildExchange) zeroSecrets() { x.dh.Zero() }

func (x *rekeyChildExchange) request(sa *SA, ike *ikeSA, id uint32, now time.Time) ([]byte, error) {
	c := x.old
	if c.state != childInstalled && c.state != childRekeying || sa.childByIn(c.sa.InSPI) != c {
		return nil, errSkip
	}
	var err error
	if x.inSPI == 0 {
		if x.inSPI, err = sa.newChildSPI(); err != nil {
			return nil, err
		}
		if x.ni, err = sa.newNonce(); err != nil {
			return nil, err
		}
		if x.group == 0 {
			x.group = sa.pfsGroup()
		}
	}
	if x.group != 0 && (x.dh == nil || wire.DHGroup(x.dh.Group().ID()) != x.group) {
		if x.dh, err = sa.newDH(x.group); err != nil {
			return nil, err
		}
	}
	c.state = childRekeying
	c.peerRekey = nil
	x.offered = offerSA(sa.cfg.espProposals, wire.ProtocolESP, spiBytes(x.inSPI), x.group != 0, x.group).Proposals
	ps := []wire.Payload{ptr(wire.RekeySA(wire.ProtocolESP, c.sa.InSPI))}
	if c.sa.Mode == Transport {
		ps = append(ps, &wire.Notify{Type: wire.NotifyUseTransportMode})
	}
	ps = append(ps, &wire.SA{Proposals: x.offered}, &wire.Nonce{Data: x.ni})
	if x.dh != nil {
		ps = append(ps, &wire.KE{Group: x.group, Data: x.dh.PublicValue()})
	}
	ps = append(ps, ptr(wire.TSi{Selectors: c.sa.LocalTS}), ptr(wire.TSr{Selectors: c.sa.RemoteTS}))
	return sa.protected(ike, wire.ExchangeCreateChildSA, id, false, ps...)
}

func (x *rekeyChildExchange) response(sa *SA, ike *ikeSA, in *inbound, now time.Time) {
	c := x.old
	alive := sa.childByIn(c.sa.InSPI) == c
	if alive && c.state == childRekeying {
		c.state = childInstalled
	}
	if in.ps == nil {
		sa.emit(ChildFailed{SPIs: ike.spis, ByPeer: true, Err: fmt.Errorf("%w: malformed CREATE_CHILD_SA response", ErrProtocol)})
		return
	}
	if n, ok := in.errorNotify(); ok {
		err := notifyErr(ErrNegotiation, n.Type, true, "rekey of CHILD_SA %08x", c.sa.InSPI)
		switch n.Type {
		case wire.NotifyInvalidKEPayload:
			if g, e := n.AcceptedDHGroup(); e == nil && !x.retried && alive && g != x.group && slices.ContainsFunc(sa.cfg.espProposals, func(p Proposal) bool { return slices.Contains(p.DH, g) }) {
				x.retried, x.group = true, g
				sa.cur.queue = append([]exchange{x}, sa.cur.queue...)
				return
			}
		case wire.NotifyTemporaryFailure:
			if alive {
				c.rekeyAt = now.Add(temporaryFailureBackoff)
			}
			sa.emit(ExchangeFailed{SPIs: ike.spis, Exchange: wire.ExchangeCreateChildSA, Notify: n.Type, Err: err})
			return
		case wire.NotifyChildSANotFound:
			// RFC 7296 §2.8.1: after a collision the peer may have rekeyed
			// and deleted it already; otherwise it is gone there: remove it.
			if alive && c.peerRekey == nil {
				sa.removeChild(c, DownDeletedByPeer)
			}
			return
		}
		sa.emit(ChildFailed{SPIs: ike.spis, Notify: n.Type, ByPeer: true, Err: err})
		return
	}
	ch, nr, err := x.accept(sa, ike, in, now)
	if err != nil {
		sa.emit(ChildFailed{SPIs: ike.spis, ByPeer: false, Err: err})
		sa.invalidKEAnswer(err, now)
		return
	}
	if !alive || c.state != childInstalled {
		// The old CHILD_SA went away meanwhile: the new one is redundant.
		sa.installRedundant(ch)
		return
	}
	if p := c.peerRekey; p != nil && p.state != childDeleted {
		// RFC 7296 §2.8.1: both sides rekeyed c. The CHILD_SA of the
		// exchange with the lowest nonce is closed by its creator; the
		// creator of the survivor deletes c.
		if lowestNonce(x.ni, nr, c.peerNi, c.peerNr) {
			sa.installRedundant(ch)
			c.state = childRekeyed
			return
		}
		p.pred, p.switchAt, p.redundant = nil, time.Time{}, true
	}
	sa.installRekeyed(ch, c, true, now)
	c.state = childRekeyed
	sa.enqueue(sa.cur, &deleteChildExchange{inSPI: c.sa.InSPI, reason: DownRekeyed}, now)
}

// accept checks the answer to our rekey and derives the new CHILD_SA.
func (x *rekeyChildExchange) accept(sa *SA, ike *ikeSA, in *inbound, now time.Time) (*child, []byte, error) {
	o := x.old
	return sa.acceptChildAnswer(ike, in, childOffer{x.offered, x.dh, x.group, x.inSPI, x.ni, o.sa.LocalTS, o.sa.RemoteTS, o.sa.Mode}, now)
}

// childOffer is what we proposed in a CREATE_CHILD_SA request.
type childOffer struct {
	offered  []wire.Proposal
	dh       *ikecrypto.PrivateKey
	group    wire.DHGroup
	inSPI    uint32
	ni       []byte
	tsi, tsr []wire.TrafficSelector
	mode     Mode
}

// acceptChildAnswer checks the answer to a CREATE_CHILD_SA request of ours
// (RFC 7296 §1.3.1, §1.3.3) and derives the new CHILD_SA, returning it with
// the responder's nonce.
func (sa *SA) acceptChildAnswer(ike *ikeSA, in *inbound, o childOffer, now time.Time) (*child, []byte, error) {
	p, ok1 := in.first(wire.PayloadSA)
	np, ok2 := in.first(wire.PayloadNonce)
	if !ok1 || !ok2 {
		return nil, nil, fmt.Errorf("%w: CREATE_CHILD_SA response lacks SA or Nonce", ErrProtocol)
	}
	var sar wire.SA
	if err := wire.ParseSA(p.Body, &sar); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	c, err := accepted(o.offered, &sar, wire.ProtocolESP, dhPFS)
	if err != nil {
		return nil, nil, err
	}
	nr, err := wire.ParseNonce(np.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	var gir []byte
	if o.dh != nil || c.DH != 0 {
		kp, ok := in.first(wire.PayloadKE)
		if !ok || o.dh == nil || c.DH != o.group {
			return nil, nil, fmt.Errorf("%w: PFS group %v not the one offered (%v)", ErrProtocol, c.DH, o.group)
		}
		ke, err := wire.ParseKE(kp.Body)
		if err != nil || ke.Group != o.group {
			return nil, nil, fmt.Errorf("%w: KEr group", ErrProtocol)
		}
		if gir, err = o.dh.SharedSecret(ke.Data); err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrNegotiation, err)
		}
	}
	tsi, ok1 := parseTS(in, wire.PayloadTSi)
	tsr, ok2 := parseTS(in, wire.PayloadTSr)
	if !ok1 || !ok2 || len(tsi) == 0 || len(tsr) == 0 || !subset(tsi, o.tsi) || !subset(tsr, o.tsr) {
		return nil, nil, fmt.Errorf("%w: traffic selectors outside those proposed", ErrProtocol)
	}
	mode := Tunnel
	if _, ok := in.notify(wire.NotifyUseTransportMode); ok && o.mode == Transport {
		mode = Transport
	}
	if mode != o.mode {
		return nil, nil, fmt.Errorf("%w: responder chose %v mode", ErrNegotiation, mode)
	}
	nrData := slices.Clone(nr.Data)
	ch, err := sa.makeChild(ike, c, o.inSPI, gir, o.ni, nrData, true, tsi, tsr, mode, now)
	clear(gir)
	return ch, nrData, err
}

func (x *rekeyChildExchange) timeout(sa *SA, ike *ikeSA, now time.Time) {
	sa.peerDead(ike, wire.ExchangeCreateChildSA)
}

// installRedundant installs the inbound half of a CHILD_SA the peer created
// but we do not keep, and deletes it (RFC 7296 §2.8.1).
func (sa *SA) installRedundant(c *child) {
	c.redundant = true
	sa.children = append(sa.children, c)
	sa.op(InstallInbound, c.params(), 0)
	sa.enqueue(sa.cur, &deleteChildExchange{inSPI: c.sa.InSPI, reason: DownRekeyed}, sa.clock)
}

// respondCreateChild answers a CREATE_CHILD_SA request.
func (sa *SA) respondCreateChild(ike *ikeSA, in *inbound, now time.Time) ([]wire.Payload, func()) {
	fail := func(t wire.NotifyType) ([]wire.Payload, func()) {
		return []wire.Payload{&wire.Notify{Type: t}}, nil
	}
	if sa.state != StateEstablished || ike.deleting {
		return fail(wire.NotifyTemporaryFailure) // RFC 7296 §2.25.1, §2.25.2
	}
	p, _ := in.first(wire.PayloadSA)
	var sai wire.SA
	if err := wire.ParseSA(p.Body, &sai); err != nil || len(sai.Proposals) == 0 {
		return fail(wire.NotifyInvalidSyntax)
	}
	if sai.Proposals[0].ProtocolID == wire.ProtocolIKE {
		return sa.respondRekeyIKE(ike, in, &sai, now)
	}
	if ike != sa.cur || sa.rekeyingIKE() {
		return fail(wire.NotifyTemporaryFailure) // RFC 7296 §2.25.2
	}
	var old *child
	if n, ok := in.notify(wire.NotifyRekeySA); ok {
		spi, err := n.ChildSPI()
		if err != nil {
			return fail(wire.NotifyInvalidSyntax)
		}
		if old = sa.childByOut(spi); old == nil {
			return []wire.Payload{&wire.Notify{Type: wire.NotifyChildSANotFound, ProtocolID: wire.ProtocolESP, SPI: spiBytes(spi)}}, nil
		}
		if old.state == childDeleting || old.state == childRekeyed || old.redundant {
			return fail(wire.NotifyTemporaryFailure) // RFC 7296 §2.25.1
		}
		if len(sa.children) >= 2*sa.cfg.MaxChildren {
			// Replaced CHILD_SAs the peer does not delete pile up.
			return fail(wire.NotifyTemporaryFailure)
		}
	} else if sa.liveChildren() >= sa.cfg.MaxChildren {
		return fail(wire.NotifyNoAdditionalSAs) // RFC 7296 §1.3
	}
	np, _ := in.first(wire.PayloadNonce)
	ni, err := wire.ParseNonce(np.Body)
	if err != nil {
		return fail(wire.NotifyInvalidSyntax)
	}
	nr, err := sa.newNonce()
	if err != nil {
		return fail(wire.NotifyTemporaryFailure)
	}
	niData := slices.Clone(ni.Data)

	// PFS: the KE payload's group must be the chosen proposal's.
	var gir, kePub []byte
	var group wire.DHGroup
	if kp, ok := in.first(wire.PayloadKE); ok {
		ke, err := wire.ParseKE(kp.Body)
		if err != nil {
			return fail(wire.NotifyInvalidSyntax)
		}
		c, ok := selectProposal(sa.cfg.espProposals, sai.Proposals, wire.ProtocolESP, dhPFS, ke.Group, 0)
		if !ok {
			if c, ok = selectProposal(sa.cfg.espProposals, sai.Proposals, wire.ProtocolESP, dhPFS, 0, 0); ok && c.DH != 0 {
				n := wire.InvalidKEPayload(c.DH)
				return []wire.Payload{&n}, nil
			}
			return fail(wire.NotifyNoProposalChosen)
		}
		dh, err := sa.newDH(ke.Group)
		if err != nil {
			return fail(wire.NotifyNoProposalChosen)
		}
		gir, err = dh.SharedSecret(ke.Data)
		dh.Zero() // its public value stays for the KE payload
		if err != nil {
			return sa.invalidKERequest(err)
		}
		group, kePub = ke.Group, dh.PublicValue()
	} else if c, ok := selectProposal(sa.cfg.espProposals, sai.Proposals, wire.ProtocolESP, dhPFS, 0, 0); ok && c.DH != 0 {
		// We want PFS and the peer offered our group but sent no KE.
		n := wire.InvalidKEPayload(c.DH)
		return []wire.Payload{&n}, nil
	}
	a := Assignment{}
	if sa.assignment != nil && !sa.initiatorRole {
		a = *sa.assignment
	}
	mode := Tunnel
	if old != nil {
		mode = old.sa.Mode
	}
	dh := dhPFS
	ch, cps, err := sa.respondChild(ike, in, a, dh, gir, niData, nr, now)
	clear(gir)
	if err != nil {
		t, _ := notifyOf(err)
		sa.emit(ChildFailed{SPIs: ike.spis, Notify: t, Err: err})
		return cps, nil
	}
	if old != nil && ch.sa.Mode != mode {
		ch.sa.ZeroKeys() // never installed
		t := wire.NotifyNoProposalChosen
		sa.emit(ChildFailed{SPIs: ike.spis, Notify: t, Err: fmt.Errorf("%w: rekey changes the mode", ErrNegotiation)})
		return fail(t)
	}
	resp := make([]wire.Payload, 0, len(cps)+2)
	for _, q := range cps {
		resp = append(resp, q)
		if _, isSA := q.(*wire.SA); isSA {
			resp = append(resp, &wire.Nonce{Data: nr})
			if kePub != nil {
				resp = append(resp, &wire.KE{Group: group, Data: kePub})
			}
		}
	}
	if old == nil {
		sa.installChild(ch)
		return resp, nil
	}
	// RFC 7296 §2.8: ready to receive on the new SA before answering; send
	// on it once the initiator deletes the old one.
	sa.installRekeyed(ch, old, false, now)
	if old.state == childRekeying {
		// Our own rekey of old is in flight: a collision, settled when
		// our answer arrives (RFC 7296 §2.8.1).
		old.peerRekey, old.peerNi, old.peerNr = ch, niData, nr
	}
	return resp, nil
}

// liveChildren counts the CHILD_SAs in use: those not replaced by a
// successor, not being deleted and not redundant.
func (sa *SA) liveChildren() int {
	n := 0
	for _, c := range sa.children {
		if c.state != childRekeyed && c.state != childDeleting && !c.redundant &&
			!slices.ContainsFunc(sa.children, func(s *child) bool { return s.pred == c }) {
			n++
		}
	}
	return n
}

// invalidKERequest answers a request whose KE payload failed the checks of
// RFC 6989 with INVALID_SYNTAX, then drops the IKE SA (RFC 6989 §2.5: its
// peer is malicious or broken).
func (sa *SA) invalidKERequest(err error) ([]wire.Payload, func()) {
	down := notifyErr(ErrProtocol, wire.NotifyInvalidSyntax, false, "KE payload in CREATE_CHILD_SA request: %v", err)
	return []wire.Payload{&wire.Notify{Type: wire.NotifyInvalidSyntax}}, func() { sa.teardown(DownProtocolError, down) }
}

// invalidKEAnswer deletes the IKE SA, at once and with a Delete of its own,
// if err says the KE payload of a CREATE_CHILD_SA response failed the
// checks of RFC 6989 (§2.5), and reports whether it did.
func (sa *SA) invalidKEAnswer(err error, now time.Time) bool {
	if !errors.Is(err, ikecrypto.ErrInvalidKeyExchange) {
		return false
	}
	sa.deleteIKE(now, DownProtocolError, fmt.Errorf("%w: KE payload in CREATE_CHILD_SA response: %w", ErrProtocol, err))
	return true
}

// rekeyingIKE reports whether our IKE SA rekey is in flight.
func (sa *SA) rekeyingIKE() bool {
	if p := sa.cur.pending; p != nil {
		_, ok := p.ex.(*rekeyIKEExchange)
		return ok
	}
	return false
}

// childExchangeInFlight reports whether we are creating, rekeying or
// deleting a CHILD_SA (RFC 7296 §2.25.1: then an IKE SA rekey of the peer
// gets TEMPORARY_FAILURE).
func (sa *SA) childExchangeInFlight() bool {
	if p := sa.cur.pending; p != nil {
		switch p.ex.(type) {
		case *rekeyChildExchange, *createChildExchange, *deleteChildExchange:
			return true
		}
	}
	return false
}

// RekeyIKE rekeys the IKE SA (RFC 7296 §1.3.2, §2.18): a new IKE SA with
// new SPIs and keys inherits the CHILD_SAs; IKERekeyed reports it, and
// IKERetired the old one once deleted. The PRF is kept (see
// ikecrypto.RekeySKEYSEED).
func (sa *SA) RekeyIKE(now time.Time) error {
	if err := sa.requireEstablished(); err != nil {
		return err
	}
	if sa.rekeyingIKE() || slices.ContainsFunc(sa.cur.queue, func(e exchange) bool { _, ok := e.(*rekeyIKEExchange); return ok }) {
		return nil
	}
	sa.touch(now)
	sa.enqueue(sa.cur, &rekeyIKEExchange{}, now)
	return nil
}

// rekeyIKEExchange is our CREATE_CHILD_SA that rekeys the IKE SA.
type rekeyIKEExchange struct {
	spi     uint64
	ni      []byte
	dh      *ikecrypto.PrivateKey
	group   wire.DHGroup
	offered []wire.Proposal
	retried bool
}

func (*rekeyIKEExchange) kind() wire.ExchangeType { return wire.ExchangeCreateChildSA }

func (x *rekeyIKEExchange) zeroSecrets() { x.dh.Zero() }

// rekeyProposals are the IKE proposals of a rekey: the current algorithms
// (the PRF must not change for interoperability, ikecrypto.RekeySKEYSEED)
// with the configured groups, the current one first.
func (sa *SA) rekeyProposals(ike *ikeSA) []Proposal {
	p := Proposal{Encr: []Cipher{ike.prop.Encr}, PRF: []wire.PRFID{ike.prop.PRF}, DH: []wire.DHGroup{ike.prop.DH}}
	if ike.prop.Integ != wire.IntegNone {
		p.Integ = []wire.IntegID{ike.prop.Integ}
	}
	for _, q := range sa.cfg.ikeProposals {
		for _, g := range q.DH {
			if !slices.Contains(p.DH, g) {
				p.DH = append(p.DH, g)
			}
		}
	}
	return []Proposal{p}
}

func (x *rekeyIKEExchange) request(sa *SA, ike *ikeSA, id uint32, now time.Time) ([]byte, error) {
	if ike != sa.cur || ike.deleting || sa.state != StateEstablished {
		return nil, errSkip
	}
	var err error
	if x.spi == 0 {
		if x.spi, err = sa.newIKESPI(); err != nil {
			return nil, err
		}
		if x.ni, err = sa.newNonce(); err != nil {
			return nil, err
		}
		x.group = ike.prop.DH
	}
	if x.dh == nil || wire.DHGroup(x.dh.Group().ID()) != x.group {
		if x.dh, err = sa.newDH(x.group); err != nil {
			return nil, err
		}
	}
	sa.peerRekey = nil
	spi := binary.BigEndian.AppendUint64(nil, x.spi)
	x.offered = offerSA(sa.rekeyProposals(ike), wire.ProtocolIKE, spi, true, x.group).Proposals
	return sa.protected(ike, wire.ExchangeCreateChildSA, id, false,
		&wire.SA{Proposals: x.offered}, &wire.Nonce{Data: x.ni}, &wire.KE{Group: x.group, Data: x.dh.PublicValue()})
}

func (x *rekeyIKEExchange) response(sa *SA, ike *ikeSA, in *inbound, now time.Time) {
	if in.ps == nil {
		sa.emit(ExchangeFailed{SPIs: ike.spis, Exchange: wire.ExchangeCreateChildSA, Err: fmt.Errorf("%w: malformed IKE SA rekey response", ErrProtocol)})
		return
	}
	if n, ok := in.errorNotify(); ok {
		err := notifyErr(ErrNegotiation, n.Type, true, "IKE SA rekey")
		if p := sa.peerRekey; p != nil && ike == sa.cur && !sa.done {
			// RFC 7296 §2.8.2: the peer rekeyed too, and we answered its
			// request, but it refused ours: its new IKE SA stands alone.
			// Move to it now rather than retry (a retry would leave it
			// behind, and the peer's Delete of the old IKE SA, which
			// follows, would end everything); the peer deletes the old one.
			sa.peerRekey = nil
			sa.emit(ExchangeFailed{SPIs: ike.spis, Exchange: wire.ExchangeCreateChildSA, Notify: n.Type, Err: err})
			sa.switchIKE(p, false, now)
			return
		}
		switch n.Type {
		case wire.NotifyInvalidKEPayload:
			if g, e := n.AcceptedDHGroup(); e == nil && !x.retried && g != x.group && slices.ContainsFunc(sa.cfg.ikeProposals, func(p Proposal) bool { return slices.Contains(p.DH, g) }) {
				x.retried, x.group = true, g
				ike.queue = append([]exchange{x}, ike.queue...)
				return
			}
		case wire.NotifyTemporaryFailure:
			sa.ikeRekeyAt = now.Add(temporaryFailureBackoff)
		}
		sa.emit(ExchangeFailed{SPIs: ike.spis, Exchange: wire.ExchangeCreateChildSA, Notify: n.Type, Err: err})
		return
	}
	if ike != sa.cur || sa.done {
		return
	}
	next, nr, err := x.accept(sa, ike, in)
	if err != nil {
		sa.emit(ExchangeFailed{SPIs: ike.spis, Exchange: wire.ExchangeCreateChildSA, Err: err})
		sa.invalidKEAnswer(err, now)
		return
	}
	if p := sa.peerRekey; p != nil {
		// RFC 7296 §2.8.2: both sides rekeyed. The new IKE SA with the
		// lowest nonce is deleted by its creator; the other inherits the
		// CHILD_SAs, and its creator deletes the old one.
		sa.peerRekey = nil
		if lowestNonce(x.ni, nr, p.ni, p.nr) {
			sa.announce(next, ike, true)
			sa.others = append(sa.others, next)
			sa.switchIKE(p, false, now)
			sa.enqueue(next, &deleteIKEExchange{reason: DownRekeyed}, now)
			return
		}
		// Ours wins; the peer deletes p.
		sa.awaitDelete(p, now)
	}
	sa.switchIKE(next, true, now)
	sa.enqueue(ike, &deleteIKEExchange{reason: DownRekeyed}, now)
}

// accept checks the answer to our IKE SA rekey and derives the new IKE SA.
func (x *rekeyIKEExchange) accept(sa *SA, ike *ikeSA, in *inbound) (*ikeSA, []byte, error) {
	p, ok1 := in.first(wire.PayloadSA)
	np, ok2 := in.first(wire.PayloadNonce)
	kp, ok3 := in.first(wire.PayloadKE)
	if !ok1 || !ok2 || !ok3 {
		return nil, nil, fmt.Errorf("%w: IKE SA rekey response lacks SA, Nonce or KE", ErrProtocol)
	}
	var sar wire.SA
	if err := wire.ParseSA(p.Body, &sar); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	c, err := accepted(x.offered, &sar, wire.ProtocolIKE, dhRequired)
	if err != nil {
		return nil, nil, err
	}
	if len(c.SPI) != 8 || c.DH != x.group {
		return nil, nil, fmt.Errorf("%w: IKE SA rekey answer with SPI of %d octets, group %v", ErrProtocol, len(c.SPI), c.DH)
	}
	nr, err := wire.ParseNonce(np.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	ke, err := wire.ParseKE(kp.Body)
	if err != nil || ke.Group != x.group {
		return nil, nil, fmt.Errorf("%w: KEr group", ErrProtocol)
	}
	gir, err := x.dh.SharedSecret(ke.Data)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrNegotiation, err)
	}
	nrData := slices.Clone(nr.Data)
	next := &ikeSA{spis: SPIs{I: x.spi, R: binary.BigEndian.Uint64(c.SPI)}, initiator: true, ni: x.ni, nr: nrData}
	err = sa.rekeyedKeys(ike, next, c, gir)
	clear(gir)
	if err != nil {
		return nil, nil, err
	}
	return next, nrData, nil
}

// rekeyedKeys derives the keys of next, which replaces old (RFC 7296 §2.18).
func (sa *SA) rekeyedKeys(old, next *ikeSA, c chosen, gir []byte) error {
	suite, err := c.suite()
	if err != nil {
		return err
	}
	skeyseed := ikecrypto.RekeySKEYSEED(old.suite.PRF(), old.keys.SKd, gir, next.ni, next.nr)
	keys, err := suite.DeriveKeys(skeyseed, next.ni, next.nr, next.spis.I, next.spis.R)
	clear(skeyseed)
	if err != nil {
		return err
	}
	return next.setKeys(c, keys, sa.cfg)
}

func (x *rekeyIKEExchange) timeout(sa *SA, ike *ikeSA, now time.Time) {
	sa.peerDead(ike, wire.ExchangeCreateChildSA)
}

// switchIKE makes next the current IKE SA; the old one waits in others for
// its Delete: ours if we rekeyed (initiator), else the peer's, which we
// wait for until Config.HalfOpenTimeout. Requests still queued on the old
// one move to next.
func (sa *SA) switchIKE(next *ikeSA, initiator bool, now time.Time) {
	old := sa.cur
	sa.cur = next
	if initiator {
		sa.others = append(sa.others, old) // our Delete of it follows
	} else {
		sa.awaitDelete(old, now)
	}
	next.queue = append(next.queue, old.queue...)
	old.queue = nil
	if sa.cfg.IKERekeyTime > 0 {
		sa.ikeRekeyAt = now.Add(time.Duration(sa.jitter(int64(sa.cfg.IKERekeyTime))))
	}
	sa.announce(next, old, initiator)
	sa.pump(next, now)
}

// awaitDelete keeps a replaced or redundant IKE SA among the others until
// its Delete, or until Config.HalfOpenTimeout if nobody deletes it.
func (sa *SA) awaitDelete(ike *ikeSA, now time.Time) {
	ike.retireAt = now.Add(sa.cfg.HalfOpenTimeout)
	sa.others = append(sa.others, ike)
}

// announce reports a new IKE SA once, so that the runtime routes its local
// SPI (IKERekeyed). In a simultaneous rekey the redundant new IKE SA is
// announced too, and retired soon after.
func (sa *SA) announce(next, old *ikeSA, initiator bool) {
	if next.announced {
		return
	}
	next.announced = true
	sa.emit(IKERekeyed{Old: old.spis, New: next.spis, Initiator: initiator, LocalSPI: next.localSPI()})
}

// respondRekeyIKE answers the peer's rekey of the IKE SA ike (RFC 7296
// §1.3.2).
func (sa *SA) respondRekeyIKE(ike *ikeSA, in *inbound, sai *wire.SA, now time.Time) ([]wire.Payload, func()) {
	fail := func(t wire.NotifyType) ([]wire.Payload, func()) {
		return []wire.Payload{&wire.Notify{Type: t}}, nil
	}
	// RFC 7296 §2.25.1, §2.25.2, §2.8.2: not while we work on a CHILD_SA,
	// and not an IKE SA we have rekeyed or are closing; nor while old IKE
	// SAs the peer has not deleted yet pile up.
	if ike != sa.cur || ike.deleting || sa.childExchangeInFlight() || len(sa.others) >= maxOldIKESAs {
		return fail(wire.NotifyTemporaryFailure)
	}
	kp, okKE := in.first(wire.PayloadKE)
	np, _ := in.first(wire.PayloadNonce)
	if !okKE {
		return fail(wire.NotifyInvalidSyntax)
	}
	ke, err := wire.ParseKE(kp.Body)
	if err != nil {
		return fail(wire.NotifyInvalidSyntax)
	}
	ni, err := wire.ParseNonce(np.Body)
	if err != nil {
		return fail(wire.NotifyInvalidSyntax)
	}
	c, ok := selectProposal(sa.cfg.ikeProposals, sai.Proposals, wire.ProtocolIKE, dhRequired, ke.Group, ike.prop.PRF)
	if !ok {
		// Our proposals may not list the current algorithms (the peer
		// chose them from its own in IKE_SA_INIT): accept those too.
		c, ok = selectProposal(sa.rekeyProposals(ike), sai.Proposals, wire.ProtocolIKE, dhRequired, ke.Group, ike.prop.PRF)
	}
	if !ok || len(c.SPI) != 8 {
		return fail(wire.NotifyNoProposalChosen)
	}
	if c.DH != ke.Group {
		n := wire.InvalidKEPayload(c.DH)
		return []wire.Payload{&n}, nil
	}
	dh, err := sa.newDH(c.DH)
	if err != nil {
		return fail(wire.NotifyNoProposalChosen)
	}
	gir, err := dh.SharedSecret(ke.Data)
	dh.Zero() // its public value stays for the KE payload
	if err != nil {
		return sa.invalidKERequest(err)
	}
	defer clear(gir)
	spi, err := sa.newIKESPI()
	if err != nil {
		return fail(wire.NotifyTemporaryFailure)
	}
	nr, err := sa.newNonce()
	if err != nil {
		return fail(wire.NotifyTemporaryFailure)
	}
	next := &ikeSA{spis: SPIs{I: binary.BigEndian.Uint64(c.SPI), R: spi}, ni: slices.Clone(ni.Data), nr: nr}
	if err := sa.rekeyedKeys(ike, next, c, gir); err != nil {
		return fail(wire.NotifyNoProposalChosen)
	}
	resp := []wire.Payload{
		&wire.SA{Proposals: []wire.Proposal{c.answer(wire.ProtocolIKE, binary.BigEndian.AppendUint64(nil, spi))}},
		&wire.Nonce{Data: nr}, &wire.KE{Group: c.DH, Data: dh.PublicValue()},
	}
	if sa.rekeyingIKE() {
		// A collision: settled when the answer to our rekey arrives.
		sa.peerRekey = next
		sa.announce(next, ike, false)
		return resp, nil
	}
	return resp, func() { sa.switchIKE(next, false, now) }
}

// ChildRequest describes an additional CHILD_SA to create (RFC 7296 §1.3.1):
// its traffic selectors from our point of view (TSi = LocalTS, TSr =
// RemoteTS) and mode, e.g. the transport-mode SA for Binding Updates of
// RFC 4877 §7.2. Empty selectors mean any address of both families.
type ChildRequest struct {
	LocalTS, RemoteTS []wire.TrafficSelector
	Mode              Mode
}

// CreateChild creates an additional CHILD_SA with CREATE_CHILD_SA (RFC 7296
// §1.3.1), with PFS if an ESP proposal has a D-H group. ChildUp follows the
// answer, or ChildFailed.
func (sa *SA) CreateChild(now time.Time, req ChildRequest) error {
	if err := sa.requireEstablished(); err != nil {
		return err
	}
	sa.touch(now)
	if len(req.LocalTS) == 0 {
		req.LocalTS = AnyTS()
	}
	if len(req.RemoteTS) == 0 {
		req.RemoteTS = AnyTS()
	}
	req.LocalTS, req.RemoteTS = cloneTS(req.LocalTS), cloneTS(req.RemoteTS)
	sa.enqueue(sa.cur, &createChildExchange{req: req}, now)
	return nil
}

// createChildExchange is our CREATE_CHILD_SA for an additional CHILD_SA.
type createChildExchange struct {
	req     ChildRequest
	o       childOffer
	retried bool
}

func (*createChildExchange) kind() wire.ExchangeType { return wire.ExchangeCreateChildSA }

func (x *createChildExchange) zeroSecrets() { x.o.dh.Zero() }

func (x *createChildExchange) request(sa *SA, ike *ikeSA, id uint32, now time.Time) ([]byte, error) {
	o := &x.o
	var err error
	if o.inSPI == 0 {
		if o.inSPI, err = sa.newChildSPI(); err != nil {
			return nil, err
		}
		if o.ni, err = sa.newNonce(); err != nil {
			return nil, err
		}
		if o.group == 0 {
			o.group = sa.pfsGroup()
		}
		o.tsi, o.tsr, o.mode = x.req.LocalTS, x.req.RemoteTS, x.req.Mode
	}
	if o.group != 0 && (o.dh == nil || wire.DHGroup(o.dh.Group().ID()) != o.group) {
		if o.dh, err = sa.newDH(o.group); err != nil {
			return nil, err
		}
	}
	o.offered = offerSA(sa.cfg.espProposals, wire.ProtocolESP, spiBytes(o.inSPI), o.group != 0, o.group).Proposals
	var ps []wire.Payload
	if o.mode == Transport {
		ps = append(ps, &wire.Notify{Type: wire.NotifyUseTransportMode})
	}
	ps = append(ps, &wire.SA{Proposals: o.offered}, &wire.Nonce{Data: o.ni})
	if o.dh != nil {
		ps = append(ps, &wire.KE{Group: o.group, Data: o.dh.PublicValue()})
	}
	ps = append(ps, ptr(wire.TSi{Selectors: o.tsi}), ptr(wire.TSr{Selectors: o.tsr}))
	return sa.protected(ike, wire.ExchangeCreateChildSA, id, false, ps...)
}

func (x *createChildExchange) response(sa *SA, ike *ikeSA, in *inbound, now time.Time) {
	if in.ps == nil {
		sa.emit(ChildFailed{SPIs: ike.spis, ByPeer: true, Err: fmt.Errorf("%w: malformed CREATE_CHILD_SA response", ErrProtocol)})
		return
	}
	if n, ok := in.errorNotify(); ok {
		if g, e := n.AcceptedDHGroup(); n.Type == wire.NotifyInvalidKEPayload && e == nil && !x.retried && g != x.o.group &&
			slices.ContainsFunc(sa.cfg.espProposals, func(p Proposal) bool { return slices.Contains(p.DH, g) }) {
			x.retried, x.o.group = true, g
			sa.cur.queue = append([]exchange{x}, sa.cur.queue...)
			return
		}
		sa.emit(ChildFailed{SPIs: ike.spis, Notify: n.Type, ByPeer: true, Err: notifyErr(ErrNegotiation, n.Type, true, "new CHILD_SA")})
		return
	}
	ch, _, err := sa.acceptChildAnswer(ike, in, x.o, now)
	if err != nil {
		sa.emit(ChildFailed{SPIs: ike.spis, Err: err})
		if sa.invalidKEAnswer(err, now) {
			return // the IKE SA's Delete takes its CHILD_SAs with it
		}
		if p, ok := in.first(wire.PayloadSA); ok {
			var sar wire.SA
			if wire.ParseSA(p.Body, &sar) == nil && len(sar.Proposals) == 1 && len(sar.Proposals[0].SPI) == 4 {
				sa.enqueue(sa.cur, &deleteChildExchange{orphanOut: sar.Proposals[0].SPI, orphanIn: x.o.inSPI}, now)
			}
		}
		return
	}
	sa.installChild(ch)
}

func (x *createChildExchange) timeout(sa *SA, ike *ikeSA, now time.Time) {
	sa.peerDead(ike, wire.ExchangeCreateChildSA)
}
