package ike

import (
	"crypto/sha256"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/mip6ha/mip6ha/ike/ikecrypto"
	"github.com/mip6ha/mip6ha/ike/wire"
)

// maxInitRounds bounds the IKE_SA_INIT retries after COOKIE and
// INVALID_KE_PAYLOAD answers, against a responder (or an attacker) that
// keeps asking.
const maxInitRounds = 4

// initState is the IKE_SA_INIT material that IKE_AUTH needs (RFC 7296
// §2.15: both messages are signed) and the retry state of the initiator.
type initState struct {
	ni, nr []byte
	// dh is the initiator's D-H key, zeroed once the shared secret is
	// computed (the responder's never leaves newResponderSA).
	dh       *ikecrypto.PrivateKey
	request  []byte // the IKE_SA_INIT request as sent last: RealMessage1
	response []byte // the IKE_SA_INIT response: RealMessage2

	// initiator
	offered []wire.Proposal
	cookie  []byte
	rounds  int
	// noted is the last error notify that answered our request; it is
	// not authenticated, so we keep waiting and fail with it only when
	// the set-up times out (RFC 7296 §2.21.1).
	noted wire.NotifyType

	// responder: to answer retransmitted requests from the cache
	key     InitKey
	reqHash [sha256.Size]byte

	peerHashes  []wire.HashAlgorithm // the peer's SIGNATURE_HASH_ALGORITHMS
	peerCertReq bool                 // the peer sent CERTREQ
}

// redirectState is what an SA knows about RFC 5685 support.
type redirectState struct {
	// supported: the peer sent REDIRECT_SUPPORTED or REDIRECTED_FROM
	// (responder), or we announced support (initiator).
	supported bool
	// extensions: the peer announced NotifyRedirectPortSupported
	// (responder), or we did (initiator).
	extensions bool
	// gatewayExtensions (initiator): the gateway answered our
	// NotifyRedirectPortSupported with its own in IKE_SA_INIT, so it takes
	// the private-use notifies of IKE_AUTH (ticket, trace context).
	gatewayExtensions bool
	from              *wire.GatewayIdentity
	info              InitInfo
	// ticket and traceContext are what the peer presented in IKE_AUTH
	// (responder).
	ticket, traceContext []byte
	// redirected: we sent a REDIRECT on this SA.
	redirected bool
}

// initExchange is the initiator's IKE_SA_INIT (RFC 7296 §1.2), with its
// COOKIE (§2.6) and INVALID_KE_PAYLOAD (§1.3) retries and the RFC 5685
// REDIRECT answer (§3).
type initExchange struct{}

func newInitExchange(sa *SA) (exchange, error) {
	ni, err := sa.newNonce()
	if err != nil {
		return nil, err
	}
	sa.init = &initState{ni: ni}
	if err := sa.init.newKey(sa.cfg, sa.cfg.ikeProposals[0].DH[0]); err != nil {
		return nil, err
	}
	sa.redirect.supported = !sa.cfg.DisableRedirect
	sa.redirect.extensions = sa.redirect.supported && sa.cfg.RedirectExtensions
	return &initExchange{}, nil
}

// newKey makes a D-H key in group g.
func (st *initState) newKey(cfg *config, g wire.DHGroup) error {
	group, err := ikecrypto.LookupGroup(ikecrypto.DHGroup(g))
	if err != nil {
		return err
	}
	st.dh.Zero() // the key of a group the responder refused
	st.dh, err = group.GenerateKey(cfg.Rand)
	return err
}

func (st *initState) group() wire.DHGroup { return wire.DHGroup(st.dh.Group().ID()) }

func (*initExchange) kind() wire.ExchangeType { return wire.ExchangeIKESAInit }

func (*initExchange) request(sa *SA, ike *ikeSA, id uint32, now time.Time) ([]byte, error) {
	st := sa.init
	st.offered = offerSA(sa.cfg.ikeProposals, wire.ProtocolIKE, nil, true, st.group()).Proposals
	var b wire.Builder
	b.Reset(nil, wire.HeaderFields{SPIi: ike.spis.I, ExchangeType: wire.ExchangeIKESAInit, Flags: wire.FlagInitiator, MessageID: id})
	if st.cookie != nil {
		b.Add(&wire.Notify{Type: wire.NotifyCookie, Data: st.cookie}) // first, RFC 7296 §2.6
	}
	b.Add(&wire.SA{Proposals: st.offered})
	b.Add(&wire.KE{Group: st.group(), Data: st.dh.PublicValue()})
	b.Add(&wire.Nonce{Data: st.ni})
	natd, err := sa.natdNotifies(SPIs{I: ike.spis.I}, sa.path.Local, sa.path.Remote)
	if err != nil {
		return nil, err
	}
	for _, p := range natd {
		b.Add(p)
	}
	if sa.redirect.supported {
		if sa.cfg.RedirectedFrom != nil {
			b.Add(&wire.RedirectedFrom{Gateway: *sa.cfg.RedirectedFrom}) // implies support, RFC 5685 §3
		} else {
			b.Add(&wire.Notify{Type: wire.NotifyRedirectSupported})
		}
		if sa.redirect.extensions {
			b.Add(&wire.Notify{Type: wire.NotifyRedirectPortSupported})
		}
	}
	b.Add(ptr(wire.SignatureHashAlgorithms(sa.cfg.hashes...)))
	msg, err := b.Finish()
	if err != nil {
		return nil, err
	}
	st.request = msg
	return msg, nil
}

// accept screens an unauthenticated IKE_SA_INIT answer before it is taken
// as the response. A REDIRECT we cannot act on — its nonce is not our Ni
// (RFC 5685 §3), its gateway type is unknown to us, or we never announced
// support — is dropped silently and we keep waiting for the real answer.
// So is an error notify other than the corrections RFC 7296 defines
// (COOKIE, INVALID_KE_PAYLOAD): it is noted, and the set-up fails with it
// only if no real answer comes in time (§2.21.1).
func (*initExchange) accept(sa *SA, in *inbound) bool {
	if n, ok := in.notify(wire.NotifyRedirect); ok && !in.has(wire.PayloadSA) {
		if sa.redirect.supported {
			if r, err := n.Redirect(wire.ExchangeIKESAInit, sa.init.ni); err == nil {
				if _, usable := sa.redirectTarget(r, in); usable {
					return true
				}
			}
		}
		sa.stats.DroppedUnauthenticated++
		return false
	}
	if in.has(wire.PayloadSA) {
		return true
	}
	if _, ok := in.notify(wire.NotifyCookie); ok {
		return true
	}
	if _, ok := in.notify(wire.NotifyInvalidKEPayload); ok {
		return true
	}
	if n, ok := in.errorNotify(); ok {
		sa.init.noted = n.Type
		sa.stats.DroppedUnauthenticated++
		return false
	}
	return true
}

func (x *initExchange) response(sa *SA, ike *ikeSA, in *inbound, now time.Time) {
	st := sa.init
	if n, ok := in.notify(wire.NotifyRedirect); ok && sa.redirect.supported {
		r, err := n.Redirect(wire.ExchangeIKESAInit, st.ni)
		if t, ok := sa.redirectTarget(r, in); err == nil && ok {
			sa.emit(RedirectReceived{SPIs: ike.spis, Exchange: wire.ExchangeIKESAInit, Target: t, From: sa.gatewayIdentity()})
			sa.teardown(DownRedirected, fmt.Errorf("%w to %v in IKE_SA_INIT", ErrRedirected, r.Gateway))
			return
		}
	}
	if n, ok := in.notify(wire.NotifyCookie); ok {
		c, err := n.Cookie()
		if err != nil || st.rounds >= maxInitRounds {
			sa.initFailed(fmt.Errorf("%w: COOKIE answer %d: %v", ErrNegotiation, st.rounds, err))
			return
		}
		st.cookie = slices.Clone(c)
		st.rounds++
		sa.retryInit(ike, x)
		return
	}
	if n, ok := in.notify(wire.NotifyInvalidKEPayload); ok {
		g, err := n.AcceptedDHGroup()
		offered := slices.ContainsFunc(sa.cfg.ikeProposals, func(p Proposal) bool { return slices.Contains(p.DH, g) })
		if err != nil || !offered || g == st.group() || st.rounds >= maxInitRounds {
			sa.initFailed(notifyErr(ErrNegotiation, wire.NotifyInvalidKEPayload, true, "group %v", g))
			return
		}
		if err := st.newKey(sa.cfg, g); err != nil {
			sa.initFailed(err)
			return
		}
		st.rounds++
		sa.retryInit(ike, x)
		return
	}
	if n, ok := in.errorNotify(); ok {
		sa.initFailed(notifyErr(ErrNegotiation, n.Type, true, ""))
		return
	}
	if err := sa.completeInit(ike, in); err != nil {
		sa.initFailed(err)
		return
	}
	sa.enqueue(ike, &authExchange{}, now)
}

// completeInit takes the responder's SAr1, KEr and Nr, derives the keys and
// runs NAT detection.
func (sa *SA) completeInit(ike *ikeSA, in *inbound) error {
	st := sa.init
	var sar wire.SA
	p, _ := in.first(wire.PayloadSA)
	kp, okKE := in.first(wire.PayloadKE)
	np, okN := in.first(wire.PayloadNonce)
	if p.Body == nil || !okKE || !okN || in.hdr.SPIr() == 0 {
		return fmt.Errorf("%w: IKE_SA_INIT response lacks SA, KE, Nonce or SPIr", ErrProtocol)
	}
	if err := wire.ParseSA(p.Body, &sar); err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	c, err := accepted(st.offered, &sar, wire.ProtocolIKE, dhRequired)
	if err != nil {
		return err
	}
	ke, err := wire.ParseKE(kp.Body)
	if err != nil || ke.Group != c.DH || c.DH != st.group() {
		return fmt.Errorf("%w: KEr of group %v for chosen group %v", ErrProtocol, ke.Group, c.DH)
	}
	nr, err := wire.ParseNonce(np.Body)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	// The answer is taken once: the D-H key has done its work, whatever
	// follows. Its public value stays in the request kept for AUTH.
	gir, err := st.dh.SharedSecret(ke.Data)
	st.dh.Zero()
	if err != nil {
		return fmt.Errorf("%w: %w", ErrNegotiation, err)
	}
	ike.spis.R = in.hdr.SPIr()
	st.nr = slices.Clone(nr.Data)
	st.response = slices.Clone(in.dg.Payload)
	keys, err := deriveIKEKeys(c, gir, st.ni, st.nr, ike.spis)
	clear(gir)
	if err != nil {
		return err
	}
	if err := ike.setKeys(c, keys, sa.cfg); err != nil {
		return err
	}
	ike.ni, ike.nr = st.ni, st.nr
	st.peerHashes = peerHashes(in.ps)
	st.peerCertReq = in.has(wire.PayloadCERTREQ)
	_, echoed := in.notify(wire.NotifyRedirectPortSupported)
	sa.redirect.gatewayExtensions = sa.redirect.extensions && echoed

	if in.dg.Local.IsValid() && !in.dg.Local.Addr().IsUnspecified() {
		sa.path.Local = in.dg.Local
	}
	nat, present := checkNATD(in.ps, ike.spis, in.dg)
	nat.forced = sa.cfg.ForceEncap && present
	sa.nat = nat
	sa.state = StateAuth
	if present && nat.any() {
		if !sa.natt {
			sa.path, sa.natt = sa.natTPath(sa.path), true
		}
		sa.emit(NATDetected{SPIs: ike.spis, LocalBehindNAT: nat.localBehind, PeerBehindNAT: nat.peerBehind, Forced: nat.forced, Path: sa.path})
	}
	return nil
}

// retryInit sends IKE_SA_INIT again, with Message ID 0 (RFC 7296 §2.2).
func (sa *SA) retryInit(ike *ikeSA, x exchange) {
	ike.nextID = 0
	ike.queue = append([]exchange{x}, ike.queue...)
}

func (sa *SA) initFailed(err error) {
	sa.teardown(DownNegotiationFailed, err)
}

func (*initExchange) timeout(sa *SA, ike *ikeSA, now time.Time) {
	if sa.initRefused() {
		return
	}
	sa.teardown(DownTimeout, fmt.Errorf("%w: IKE_SA_INIT", ErrTimeout))
}

// initRefused ends an initiator whose IKE_SA_INIT request got nothing but
// error notifies, with the last as the reason, and reports whether it did.
func (sa *SA) initRefused() bool {
	if !sa.initiatorRole || sa.state != StateInit || sa.init == nil || sa.init.noted == 0 {
		return false
	}
	sa.initFailed(notifyErr(ErrNegotiation, sa.init.noted, true, "the only answers to IKE_SA_INIT"))
	return true
}

// gatewayIdentity names the gateway we sent IKE_SA_INIT to, for
// REDIRECTED_FROM at a redirect target (RFC 5685 §9.3).
func (sa *SA) gatewayIdentity() wire.GatewayIdentity {
	return wire.GatewayAddr(sa.path.Remote.Addr())
}

// receiveInitRetransmit answers a retransmitted IKE_SA_INIT request from
// the cache (RFC 7296 §2.1); a different request with the same SPIi is
// dropped.
func (sa *SA) receiveInitRetransmit(ike *ikeSA, dg Datagram) {
	if !sa.initiatorRole && sa.init != nil && ike == sa.cur && sa.init.response != nil && sha256.Sum256(dg.Payload) == sa.init.reqHash {
		sa.stats.Replayed++
		sa.sendTo(sa.init.response, dg)
		return
	}
	// Another request with the same SPIi, or one arriving after IKE_AUTH.
	sa.stats.DroppedMessageID++
}

// deriveIKEKeys computes SKEYSEED and the seven keys of a new IKE SA (RFC
// 7296 §2.14).
func deriveIKEKeys(c chosen, gir, ni, nr []byte, spis SPIs) (*ikecrypto.Keys, error) {
	suite, err := c.suite()
	if err != nil {
		return nil, err
	}
	skeyseed := ikecrypto.SKEYSEED(suite.PRF(), ni, nr, gir)
	defer clear(skeyseed)
	return suite.DeriveKeys(skeyseed, ni, nr, spis.I, spis.R)
}

// peerHashes returns the hashes of a SIGNATURE_HASH_ALGORITHMS notify.
func peerHashes(ps wire.Payloads) []wire.HashAlgorithm {
	n, ok := ps.Notify(wire.NotifySignatureHashAlgorithms)
	if !ok {
		return nil
	}
	l, err := n.HashAlgorithms()
	if err != nil {
		return nil
	}
	return slices.Collect(l.All())
}

// newResponderSA creates the SA that answers an acceptable IKE_SA_INIT
// request (Responder.Handle has checked it): it makes our D-H key, derives
// the keys and queues the response.
func newResponderSA(r *Responder, now time.Time, dg Datagram, m *wire.Message, c chosen, ke wire.KE, ni []byte, info InitInfo) (*SA, error) {
	cfg := r.cfg
	group, err := ikecrypto.LookupGroup(ikecrypto.DHGroup(c.DH))
	if err != nil {
		return nil, err
	}
	dh, err := group.GenerateKey(cfg.Rand)
	if err != nil {
		return nil, err
	}
	gir, err := dh.SharedSecret(ke.Data)
	dh.Zero() // its public value stays for the KE payload
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNegotiation, err) // RFC 6989 §2.5: drop
	}
	defer clear(gir)
	spir, err := newIKESPI(cfg)
	if err != nil {
		return nil, err
	}
	h := m.Header
	sa := &SA{cfg: cfg, state: StateAuth, path: Path{Local: dg.Local, Remote: dg.Remote}, natt: dg.NATT}
	sa.touch(now)
	ike := &ikeSA{spis: SPIs{I: h.SPIi(), R: spir}, peerNext: 1}
	sa.cur = ike
	nr, err := sa.newNonce()
	if err != nil {
		return nil, err
	}
	ni = slices.Clone(ni)
	keys, err := deriveIKEKeys(c, gir, ni, nr, ike.spis)
	if err != nil {
		return nil, err
	}
	if err := ike.setKeys(c, keys, cfg); err != nil {
		return nil, err
	}
	ike.ni, ike.nr = ni, nr
	st := &initState{ni: ni, nr: nr, request: slices.Clone(dg.Payload), key: InitKey{SPIi: h.SPIi(), Remote: dg.Remote}, reqHash: sha256.Sum256(dg.Payload)}
	st.peerHashes = peerHashes(m.Payloads)
	st.peerCertReq = slices.ContainsFunc(m.Payloads, func(p wire.RawPayload) bool { return p.Type == wire.PayloadCERTREQ })
	sa.init, sa.initKey = st, st.key
	sa.redirect = redirectState{supported: redirectCapable(m.Payloads), extensions: info.PortSupported, from: info.RedirectedFrom, info: info}

	nat, present := checkNATD(m.Payloads, SPIs{I: h.SPIi()}, dg)
	nat.forced = cfg.ForceEncap && present
	sa.nat = nat

	var b wire.Builder
	b.Reset(nil, wire.HeaderFields{SPIi: ike.spis.I, SPIr: ike.spis.R, ExchangeType: wire.ExchangeIKESAInit, Flags: wire.FlagResponse})
	b.Add(&wire.SA{Proposals: []wire.Proposal{c.answer(wire.ProtocolIKE, nil)}})
	b.Add(&wire.KE{Group: c.DH, Data: dh.PublicValue()})
	b.Add(&wire.Nonce{Data: nr})
	if present {
		natd, err := sa.natdNotifies(ike.spis, dg.Local, dg.Remote)
		if err != nil {
			return nil, err
		}
		for _, p := range natd {
			b.Add(p)
		}
	}
	if len(cfg.certReq) > 0 {
		b.Add(&wire.CertReq{Encoding: wire.CertX509Signature, Authorities: cfg.certReq})
	}
	if st.peerHashes != nil {
		b.Add(ptr(wire.SignatureHashAlgorithms(cfg.hashes...)))
	}
	if info.PortSupported {
		// The client may send us its private-use notifies in IKE_AUTH.
		b.Add(&wire.Notify{Type: wire.NotifyRedirectPortSupported})
	}
	resp, err := b.Finish()
	if err != nil {
		return nil, err
	}
	st.response = resp
	sa.responder = r
	sa.halfOpen = true
	r.halfOpen.Add(1)
	if nat.any() && present {
		sa.emit(NATDetected{SPIs: ike.spis, LocalBehindNAT: nat.localBehind, PeerBehindNAT: nat.peerBehind, Forced: nat.forced, Path: sa.path})
	}
	sa.sendTo(resp, dg)
	return sa, nil
}

// redirectCapable reports whether an IKE_SA_INIT request announces RFC 5685
// support: REDIRECT_SUPPORTED or REDIRECTED_FROM (RFC 5685 §3, §9.3).
func redirectCapable(ps wire.Payloads) bool {
	_, a := ps.Notify(wire.NotifyRedirectSupported)
	_, b := ps.Notify(wire.NotifyRedirectedFrom)
	return a || b
}

// gatewayOf returns the gateway identity of an address, unmapped.
func gatewayOf(a netip.Addr) wire.GatewayIdentity { return wire.GatewayAddr(a.Unmap()) }

func ptr[T any](v T) *T { return &v }
