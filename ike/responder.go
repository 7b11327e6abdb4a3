package ike

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// ResponderConfig configures a Responder.
type ResponderConfig struct {
	// Config is the template of the SAs the Responder creates; its
	// Redirector is also asked at IKE_SA_INIT.
	Config Config
	// CookieThreshold is the number of half-open IKE SAs at which COOKIEs
	// are demanded (RFC 7296 §2.6); default 30 (as strongSwan). Negative:
	// always demand them.
	CookieThreshold int
	// CookieRotation is how often the cookie secret changes; default
	// DefaultCookieRotation.
	CookieRotation time.Duration
	// Anycast maps each anycast address we answer on to a unicast address
	// of ours of the same family: a redirect-capable client that reaches us
	// on an anycast address is always redirected (RFC 5685 §4), to the
	// Redirector's target or, if it chose none or named an anycast address
	// itself, to this address. A client that did not announce support is
	// served on the anycast address: it cannot be sent anywhere else.
	Anycast map[netip.Addr]netip.Addr
}

// Outcome is what the Responder did with a datagram. Each outcome has a
// counter (Counters).
type Outcome uint8

// Outcomes of Responder.Handle.
const (
	// Created: an acceptable IKE_SA_INIT request; Result.SA is the new SA,
	// whose Ready holds the response.
	Created Outcome = iota
	// AnsweredRedirect: answered with REDIRECT (RFC 5685 §3), no state kept.
	AnsweredRedirect
	// AnsweredCookie: answered with COOKIE (RFC 7296 §2.6), no state kept.
	AnsweredCookie
	// AnsweredInvalidKE: answered with INVALID_KE_PAYLOAD (RFC 7296 §1.3).
	AnsweredInvalidKE
	// AnsweredNoProposal: answered with NO_PROPOSAL_CHOSEN.
	AnsweredNoProposal
	// AnsweredMajorVersion: answered with INVALID_MAJOR_VERSION (RFC 7296
	// §2.5).
	AnsweredMajorVersion
	// AnsweredCriticalPayload: answered with UNSUPPORTED_CRITICAL_PAYLOAD
	// (RFC 7296 §2.5).
	AnsweredCriticalPayload
	// DroppedSyntax: a malformed IKE_SA_INIT request. RFC 7296 §3.10.1 allows
	// INVALID_SYNTAX only in an encrypted answer, so it is dropped.
	DroppedSyntax
	// DroppedNotInit: not a first IKE_SA_INIT request (a response, another
	// exchange, a non-zero SPIr or Message ID): not for the Responder.
	DroppedNotInit
	// DroppedKeyExchange: the KE payload failed the RFC 6989 checks; RFC
	// 6989 §2.5 says drop.
	DroppedKeyExchange
	// DroppedInternal: creating the SA failed on our side (random source,
	// SPI allocator).
	DroppedInternal

	numOutcomes
)

// String returns the outcome as a short metric label.
func (o Outcome) String() string {
	switch o {
	case Created:
		return "created"
	case AnsweredRedirect:
		return "redirect"
	case AnsweredCookie:
		return "cookie"
	case AnsweredInvalidKE:
		return "invalid-ke"
	case AnsweredNoProposal:
		return "no-proposal"
	case AnsweredMajorVersion:
		return "invalid-major-version"
	case AnsweredCriticalPayload:
		return "unsupported-critical-payload"
	case DroppedSyntax:
		return "drop-syntax"
	case DroppedNotInit:
		return "drop-not-init"
	case DroppedKeyExchange:
		return "drop-key-exchange"
	case DroppedInternal:
		return "drop-internal"
	}
	return fmt.Sprintf("Outcome(%d)", uint8(o))
}

// Result is what Responder.Handle returns.
type Result struct {
	Outcome Outcome
	// Reply is a stateless answer to send (Payload nil when there is none).
	Reply Datagram
	// SA is the new responder SA (Outcome Created). The runtime routes by
	// SA.LocalSPI and SA.InitKey, then handles SA.Ready.
	SA *SA
	// Err says why a datagram was dropped.
	Err error
}

// Responder handles IKE_SA_INIT requests that belong to no SA yet: the
// responder's first-packet path. It parses, asks the Redirector (before any
// cookie or D-H group check, without D-H work or state), demands cookies
// when too many IKE SAs are half-open, picks a proposal, checks the KE group
// and creates the responder SA.
//
// It is safe for concurrent use: the runtime calls Handle from every shard.
// It counts half-open SAs itself (atomically): an SA it created is half-open
// until its IKE_AUTH completes or it ends, and only SAs that are driven
// until Done leave the count, so the runtime must keep ticking SAs until
// they are Done (or Close them).
type Responder struct {
	cfg       *config
	threshold int
	anycast   map[netip.Addr]netip.Addr
	cookies   cookieJar

	halfOpen     atomic.Int64
	forceCookies atomic.Bool
	counters     [numOutcomes]atomic.Uint64
}

// NewResponder checks cfg and returns a Responder.
func NewResponder(cfg ResponderConfig) (*Responder, error) {
	c, err := cfg.Config.resolve()
	if err != nil {
		return nil, err
	}
	anycast := make(map[netip.Addr]netip.Addr, len(cfg.Anycast))
	for a, u := range cfg.Anycast {
		anycast[a.Unmap()] = u.Unmap()
	}
	for a, u := range anycast {
		if err := checkAnycast(a, u, anycast); err != nil {
			return nil, err
		}
	}
	r := &Responder{cfg: c, threshold: cfg.CookieThreshold, anycast: anycast}
	if r.threshold == 0 {
		r.threshold = 30
	}
	r.cookies.rotation = cfg.CookieRotation
	if r.cookies.rotation <= 0 {
		r.cookies.rotation = DefaultCookieRotation
	}
	if _, err := readFull(c.Rand, r.cookies.master[:]); err != nil {
		return nil, err
	}
	return r, nil
}

// HalfOpen returns the number of half-open IKE SAs the Responder created.
func (r *Responder) HalfOpen() int { return int(r.halfOpen.Load()) }

// DemandCookies turns cookies on (or back to the threshold rule) whatever
// the half-open count: the runtime's signal that it is under load.
func (r *Responder) DemandCookies(on bool) { r.forceCookies.Store(on) }

// Counters returns how many datagrams had each outcome.
func (r *Responder) Counters() map[Outcome]uint64 {
	m := make(map[Outcome]uint64, numOutcomes)
	for o := range numOutcomes {
		m[o] = r.counters[o].Load()
	}
	return m
}

// Handle handles a datagram that belongs to no SA: normally a first
// IKE_SA_INIT request (SPIr zero). It may modify nothing of dg and keeps
// nothing of it unless it creates an SA (which copies what it needs).
func (r *Responder) Handle(now time.Time, dg Datagram) Result {
	res := r.handle(now, dg)
	r.counters[res.Outcome].Add(1)
	return res
}

func (r *Responder) handle(now time.Time, dg Datagram) Result {
	var fi initRequest
	if res, ok := r.parseInit(dg, &fi); !ok {
		return res
	}
	// RFC 5685 §3, §4: the redirect decision comes first, so a redirected
	// client needs one round trip whatever the cookie or group situation.
	if res, ok := r.redirect(dg, &fi); ok {
		return res
	}
	h, m, nonce := fi.h, &fi.m, fi.nonce
	if r.forceCookies.Load() || r.threshold < 0 || r.halfOpen.Load() >= int64(r.threshold) {
		var cookie []byte
		if first := m.Payloads[0]; first.Type == wire.PayloadNotify {
			if n, err := wire.ParseNotify(first.Body); err == nil && n.Type == wire.NotifyCookie {
				cookie = n.Data
			}
		}
		if !r.cookies.valid(now, cookie, nonce.Data, dg.Remote.Addr(), h.SPIi()) {
			c := r.cookies.make(now, nonce.Data, dg.Remote.Addr(), h.SPIi())
			return r.answer(AnsweredCookie, dg, h, wire.ExchangeIKESAInit, &wire.Notify{Type: wire.NotifyCookie, Data: c})
		}
	}

	c, ok := selectProposal(r.cfg.ikeProposals, fi.sai.Proposals, wire.ProtocolIKE, dhRequired, fi.ke.Group, 0)
	if !ok {
		return r.answer(AnsweredNoProposal, dg, h, wire.ExchangeIKESAInit, &wire.Notify{Type: wire.NotifyNoProposalChosen})
	}
	if c.DH != fi.ke.Group {
		n := wire.InvalidKEPayload(c.DH)
		return r.answer(AnsweredInvalidKE, dg, h, wire.ExchangeIKESAInit, &n)
	}
	sa, err := newResponderSA(r, now, dg, m, c, fi.ke, nonce.Data, fi.info)
	if err != nil {
		if errors.Is(err, ErrNegotiation) {
			return Result{Outcome: DroppedKeyExchange, Err: err}
		}
		return Result{Outcome: DroppedInternal, Err: err}
	}
	return Result{Outcome: Created, SA: sa}
}

// Redirect is the stateless part of Handle, for a runtime that answers
// redirects where it reads its sockets: if dg is a first IKE_SA_INIT
// request that the Redirector (or an anycast address, RFC 5685 §4) sends
// elsewhere, it returns the REDIRECT answer and true, and counts it as
// Handle would. Otherwise it returns false and has done nothing, counted
// nothing: the datagram goes to Handle as usual (which takes the same
// decision again, so a retransmission is answered the same way). It keeps
// no state and does no D-H work.
func (r *Responder) Redirect(now time.Time, dg Datagram) (Result, bool) {
	// Nothing of a parsed request outlives this call (no SA is made), so
	// its slices are reused: parsing allocates nothing.
	fi := parsedInits.Get().(*initRequest)
	defer parsedInits.Put(fi)
	if _, ok := r.parseInit(dg, fi); !ok {
		return Result{}, false
	}
	res, ok := r.redirect(dg, fi)
	if ok {
		r.counters[res.Outcome].Add(1)
	}
	return res, ok
}

// parsedInits recycles the parsed requests of Responder.Redirect.
var parsedInits = sync.Pool{New: func() any { return new(initRequest) }}

// initRequest is a parsed first IKE_SA_INIT request.
type initRequest struct {
	h       wire.Header
	m       wire.Message
	sai     wire.SA
	ke      wire.KE
	nonce   wire.Nonce
	info    InitInfo
	capable bool // REDIRECT_SUPPORTED or REDIRECTED_FROM (RFC 5685 §3)
}

// parseInit parses and checks a first IKE_SA_INIT request. When it is not
// one it returns what Handle answers (an error notify or a drop) and false.
func (r *Responder) parseInit(dg Datagram, fi *initRequest) (Result, bool) {
	h, err := wire.ParseHeader(dg.Payload)
	if err != nil {
		var ve *wire.VersionError
		if errors.As(err, &ve) && !h.Flags().Response() {
			// RFC 7296 §2.5: drop, answer with the highest version we speak.
			return r.answer(AnsweredMajorVersion, dg, h, h.ExchangeType(), &wire.Notify{Type: wire.NotifyInvalidMajorVersion}), false
		}
		return Result{Outcome: DroppedSyntax, Err: err}, false
	}
	if h.ExchangeType() != wire.ExchangeIKESAInit || h.Flags().Response() || !h.Flags().Initiator() ||
		h.SPIr() != 0 || h.MessageID() != 0 || h.SPIi() == 0 {
		return Result{Outcome: DroppedNotInit, Err: fmt.Errorf("%w: not a first IKE_SA_INIT request", ErrProtocol)}, false
	}
	fi.h = h
	m := &fi.m
	if err := wire.ParseMessage(dg.Payload, m); err != nil {
		var ce *wire.CriticalPayloadError
		if errors.As(err, &ce) {
			n, _ := wire.ErrorNotify(err)
			return r.answer(AnsweredCriticalPayload, dg, h, wire.ExchangeIKESAInit, &n), false
		}
		return Result{Outcome: DroppedSyntax, Err: err}, false
	}
	if err := checkRules(wire.ExchangeIKESAInit, false, m.Payloads); err != nil {
		return Result{Outcome: DroppedSyntax, Err: err}, false
	}
	sp, _ := m.Payloads.First(wire.PayloadSA)
	kp, _ := m.Payloads.First(wire.PayloadKE)
	np, _ := m.Payloads.First(wire.PayloadNonce)
	if err := wire.ParseSA(sp.Body, &fi.sai); err != nil {
		return Result{Outcome: DroppedSyntax, Err: err}, false
	}
	if fi.ke, err = wire.ParseKE(kp.Body); err != nil {
		return Result{Outcome: DroppedSyntax, Err: err}, false
	}
	if fi.nonce, err = wire.ParseNonce(np.Body); err != nil {
		return Result{Outcome: DroppedSyntax, Err: err}, false
	}
	fi.info = InitInfo{Local: dg.Local, Remote: dg.Remote, SPIi: h.SPIi()}
	fi.capable = redirectCapable(m.Payloads)
	if n, ok := m.Payloads.Notify(wire.NotifyRedirectedFrom); ok {
		if rf, err := n.RedirectedFrom(); err == nil {
			fi.info.RedirectedFrom = &rf.Gateway
		}
	}
	_, fi.info.PortSupported = m.Payloads.Notify(wire.NotifyRedirectPortSupported)
	fi.info.PortSupported = fi.info.PortSupported && fi.capable
	_, fi.info.Anycast = r.anycast[dg.Local.Addr().Unmap()]
	return Result{}, true
}

// redirect answers a redirect-capable client with REDIRECT (RFC 5685 §3,
// §4) when the Redirector says so, and always when it reached an anycast
// address; false: it stays.
func (r *Responder) redirect(dg Datagram, fi *initRequest) (Result, bool) {
	if !fi.capable {
		return Result{}, false
	}
	t, redirect := RedirectTarget{}, false
	if rd := r.cfg.Redirector; rd != nil {
		t, redirect = rd.AtInit(fi.info)
		redirect = redirect && targetAllowed(t, fi.info.PortSupported)
	}
	if fi.info.Anycast && (!redirect || r.isAnycast(t.Gateway)) {
		// RFC 5685 §4: from an anycast address, always to a unicast one.
		unicast := r.anycast[dg.Local.Addr().Unmap()]
		t, redirect = RedirectTarget{Gateway: gatewayOf(unicast), Ticket: t.Ticket}, true
	}
	if !redirect {
		return Result{}, false
	}
	rd := wire.Redirect{Gateway: t.Gateway, Nonce: fi.nonce.Data}
	if t.Ticket != nil && fi.info.PortSupported {
		return r.answer(AnsweredRedirect, dg, fi.h, wire.ExchangeIKESAInit, &rd, &wire.Notify{Type: wire.NotifyHandoverTicket, Data: t.Ticket}), true
	}
	return r.answer(AnsweredRedirect, dg, fi.h, wire.ExchangeIKESAInit, &rd), true
}

// checkAnycast checks one entry of ResponderConfig.Anycast: an anycast
// address and the unicast address of ours of the same family that a client
// reaching it is sent to.
func checkAnycast(a, u netip.Addr, all map[netip.Addr]netip.Addr) error {
	switch {
	case !a.IsValid() || a.IsUnspecified() || a.IsMulticast():
		return fmt.Errorf("%w: anycast address %v", ErrConfig, a)
	case !u.IsValid() || u.IsUnspecified() || u.IsMulticast() || u.Is4() != a.Is4():
		return fmt.Errorf("%w: anycast %v needs a unicast address of its family, not %v", ErrConfig, a, u)
	}
	if _, ok := all[u]; ok {
		return fmt.Errorf("%w: anycast %v redirects to %v, another anycast address", ErrConfig, a, u)
	}
	return nil
}

// isAnycast reports whether g names one of our anycast addresses.
func (r *Responder) isAnycast(g wire.GatewayIdentity) bool {
	if !g.AddrPort.Addr().IsValid() {
		return false
	}
	_, ok := r.anycast[g.AddrPort.Addr().Unmap()]
	return ok
}

// answer builds an unprotected answer to the request with header h: SPIr
// zero, Message ID of the request, R flag (RFC 7296 §2.6, §1.5).
func (r *Responder) answer(o Outcome, dg Datagram, h wire.Header, ex wire.ExchangeType, ps ...wire.Payload) Result {
	n := wire.HeaderLen
	for _, p := range ps {
		n += 4 + p.Len()
	}
	var b wire.Builder
	b.Reset(make([]byte, 0, n), wire.HeaderFields{SPIi: h.SPIi(), ExchangeType: ex, Flags: wire.FlagResponse, MessageID: h.MessageID()})
	for _, p := range ps {
		b.Add(p)
	}
	msg, err := b.Finish()
	if err != nil {
		return Result{Outcome: DroppedInternal, Err: err}
	}
	return Result{Outcome: o, Reply: Datagram{Local: dg.Local, Remote: dg.Remote, NATT: dg.NATT, Payload: msg}}
}
