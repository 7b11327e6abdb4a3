package ike

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// State is the life-cycle stage of an SA.
type State uint8

// SA states.
const (
	// StateInit: IKE_SA_INIT in progress (initiator before Initiate too).
	StateInit State = iota
	// StateAuth: IKE_SA_INIT done, IKE_AUTH in progress.
	StateAuth
	// StateEstablished: IKE_AUTH done; CHILD_SAs may exist.
	StateEstablished
	// StateDeleting: a Delete of the IKE SA is in flight.
	StateDeleting
	// StateClosed: the SA is gone (Done).
	StateClosed
)

// String returns the state name.
func (s State) String() string {
	switch s {
	case StateInit:
		return "init"
	case StateAuth:
		return "auth"
	case StateEstablished:
		return "established"
	case StateDeleting:
		return "deleting"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// SA is an IKE SA with its CHILD_SAs, from one side (RFC 7296): a sans-I/O
// state machine. Feed it received datagrams (Receive), the time (Tick) and
// commands; collect its output with Ready and acknowledge it with Advance.
//
// An SA survives IKE SA rekeys: it then holds the new IKE SA and, until
// they are deleted, the old ones, and routes by several local SPIs (see
// IKERekeyed, IKERetired). It is not safe for concurrent use: one goroutine
// owns it.
type SA struct {
	cfg   *config
	state State
	// initiatorRole says we initiated the first IKE SA of this SA.
	initiatorRole bool

	cur    *ikeSA   // the IKE SA in use
	others []*ikeSA // replaced or redundant IKE SAs still being deleted
	// peerRekey is the IKE SA the peer created by rekeying cur while our
	// own rekey of cur was in flight (RFC 7296 §2.8.2), until the
	// collision is settled.
	peerRekey *ikeSA

	path Path
	natt bool // the IKE SA runs on the NAT-T port
	nat  natState
	// fakeSource is the address NAT_DETECTION_SOURCE_IP hashes when
	// encapsulation is forced.
	fakeSource netip.AddrPort

	init    *initState // IKE_SA_INIT material, kept until IKE_AUTH completes
	initKey InitKey    // responder: the key of the request that created it

	local             *LocalCredential
	peerID            ID
	peerAuthenticated bool
	assignment        *Assignment // responder: assigned; initiator: received
	redirect          redirectState

	children []*child

	clock                       time.Time // the latest time the SA was given
	created, lastRecv, lastSent time.Time
	ikeRekeyAt                  time.Time
	livenessAt                  time.Time
	graceDeleteAt               time.Time

	responder *Responder // for the half-open count
	halfOpen  bool

	out   Ready
	done  bool
	msg   wire.Message // parse scratch
	stats Stats
}

// Stats counts what an SA did with the datagrams it was given and sent.
// Drops are silent on the wire (RFC 7296 §2.21.2); the counters make them
// visible.
type Stats struct {
	// Received counts datagrams given to Receive.
	Received uint64
	// DroppedMalformed: not a parseable IKE message.
	DroppedMalformed uint64
	// DroppedUnknownSPI: the SPIs name no IKE SA of this SA, or the I flag
	// is wrong.
	DroppedUnknownSPI uint64
	// DroppedIntegrity: the Encrypted payload did not verify.
	DroppedIntegrity uint64
	// DroppedMessageID: a request outside the window or a response to no
	// request in flight (RFC 7296 §2.3).
	DroppedMessageID uint64
	// DroppedUnauthenticated: an answer to our IKE_SA_INIT request not
	// acted on because nothing authenticates it: a REDIRECT we cannot
	// follow (RFC 5685 §3) or an error notify, noted while we keep
	// waiting (RFC 7296 §2.21.1).
	DroppedUnauthenticated uint64
	// DroppedNotEstablished: a request before the peer authenticated that
	// may not come then: any request to the initiator (it may not even
	// have keys yet), any but IKE_AUTH to the responder (RFC 7296 §1.2,
	// §2.2).
	DroppedNotEstablished uint64
	// Retransmitted counts our requests sent again (RFC 7296 §2.1).
	Retransmitted uint64
	// Replayed counts cached responses sent again to a retransmitted
	// request.
	Replayed uint64
	// Answered counts requests of the peer we processed and answered.
	Answered uint64
}

// Stats returns the SA's counters.
func (sa *SA) Stats() Stats { return sa.stats }

// InitKey identifies the IKE_SA_INIT request that created a responder SA:
// the runtime routes a retransmitted IKE_SA_INIT (SPIr still zero) by it to
// the SA, which answers it from its cache if the request is the same, until
// IKEDown.
type InitKey struct {
	SPIi   uint64
	Remote netip.AddrPort
}

// NewInitiator returns an SA that will initiate an IKE SA over path (our
// address and port, usually IKE port 500, and the gateway's). Call Initiate
// to start.
func NewInitiator(cfg *Config, path Path) (*SA, error) {
	c, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	if !path.Remote.IsValid() {
		return nil, fmt.Errorf("%w: no remote address", ErrConfig)
	}
	sa := &SA{cfg: c, initiatorRole: true, path: path, state: StateInit}
	sa.natt = path.Remote.Port() == c.PeerNATTPort
	return sa, nil
}

// Initiate starts the IKE SA: it sends IKE_SA_INIT, then IKE_AUTH with the
// first CHILD_SA, as configured.
func (sa *SA) Initiate(now time.Time) error {
	if !sa.initiatorRole || sa.cur != nil || sa.done {
		return fmt.Errorf("%w: Initiate on an SA already started", ErrState)
	}
	spi, err := sa.newIKESPI()
	if err != nil {
		return err
	}
	sa.touch(now)
	sa.cur = &ikeSA{spis: SPIs{I: spi}, initiator: true}
	ex, err := newInitExchange(sa)
	if err != nil {
		return err
	}
	sa.enqueue(sa.cur, ex, now)
	return nil
}

// Receive handles a datagram for this SA. It may decrypt dg.Payload in place
// and does not keep it.
func (sa *SA) Receive(now time.Time, dg Datagram) {
	if sa.done {
		return
	}
	sa.touch(now)
	sa.stats.Received++
	m := &sa.msg
	if err := wire.ParseMessage(dg.Payload, m); err != nil {
		sa.stats.DroppedMalformed++ // outside an exchange we can answer
		return
	}
	h := m.Header
	ike := sa.ikeFor(h)
	// The I flag tells who sent it: it must be the other side.
	if ike == nil || ike.retired || h.Flags().Initiator() == ike.initiator {
		sa.stats.DroppedUnknownSPI++
		return
	}
	switch {
	case h.Flags().Response():
		sa.receiveResponse(ike, dg, m, now)
	case h.ExchangeType() == wire.ExchangeIKESAInit:
		sa.receiveInitRetransmit(ike, dg)
	case !sa.peerAuthenticated && (sa.initiatorRole || h.ExchangeType() != wire.ExchangeIKEAuth):
		// IKE_SA_INIT and IKE_AUTH come first (RFC 7296 §1.2, §2.2): until
		// the peer has authenticated, an initiator takes no request (it
		// may not even have keys yet) and a responder only IKE_AUTH. A
		// REDIRECT or Delete from a gateway whose AUTH is unverified is
		// not acted on (RFC 5685 §5, §6).
		sa.stats.DroppedNotEstablished++
	default:
		sa.receiveRequest(ike, dg, m, now)
	}
}

// ikeFor finds the IKE SA a message belongs to.
func (sa *SA) ikeFor(h wire.Header) *ikeSA {
	match := func(ike *ikeSA) bool {
		if ike == nil || ike.spis.I != h.SPIi() {
			return false
		}
		if ike.spis.R == h.SPIr() {
			return true
		}
		if h.ExchangeType() != wire.ExchangeIKESAInit {
			return false
		}
		// The IKE_SA_INIT response brings the responder's SPI; a
		// retransmitted request still has none.
		return ike.spis.R == 0 && h.Flags().Response() || !ike.initiator && h.SPIr() == 0 && !h.Flags().Response()
	}
	for _, ike := range sa.ikes() {
		if match(ike) {
			return ike
		}
	}
	return nil
}

// ikes returns every IKE SA of the SA: the current one, those being
// deleted and a colliding peer rekey.
func (sa *SA) ikes() []*ikeSA {
	if sa.cur == nil {
		return nil
	}
	r := append([]*ikeSA{sa.cur}, sa.others...)
	if sa.peerRekey != nil {
		r = append(r, sa.peerRekey)
	}
	return r
}

// Tick lets the SA act on time: retransmissions, timeouts, rekeys,
// liveness checks and keepalives due at or before now.
func (sa *SA) Tick(now time.Time) {
	if sa.done {
		return
	}
	sa.touch(now)
	for _, ike := range sa.ikes() {
		if !sa.done {
			sa.retransmit(ike, now)
		}
	}
	if sa.done {
		return
	}
	if sa.state < StateEstablished && !sa.created.IsZero() && !now.Before(sa.created.Add(sa.cfg.HalfOpenTimeout)) {
		if !sa.initRefused() {
			sa.teardown(DownHalfOpenTimeout, fmt.Errorf("%w: IKE SA not established after %v", ErrTimeout, sa.cfg.HalfOpenTimeout))
		}
		return
	}
	for _, o := range slices.Clone(sa.others) {
		if !o.retireAt.IsZero() && !now.Before(o.retireAt) {
			sa.retire(o)
		}
	}
	if !sa.graceDeleteAt.IsZero() && !now.Before(sa.graceDeleteAt) {
		sa.graceDeleteAt = time.Time{}
		_ = sa.Delete(now)
	}
	if sa.state == StateEstablished {
		if !sa.ikeRekeyAt.IsZero() && !now.Before(sa.ikeRekeyAt) {
			sa.ikeRekeyAt = time.Time{}
			_ = sa.RekeyIKE(now)
		}
		for _, c := range slices.Clone(sa.children) {
			sa.childTick(c, now)
		}
		if sa.cfg.LivenessInterval > 0 && sa.cur.pending == nil && len(sa.cur.queue) == 0 &&
			!now.Before(sa.lastRecv.Add(sa.cfg.LivenessInterval)) {
			_ = sa.CheckLiveness(now)
		}
	}
	if sa.nat.localBehind && sa.state >= StateAuth && !now.Before(sa.lastSent.Add(sa.cfg.KeepaliveInterval)) {
		sa.out.Keepalives = append(sa.out.Keepalives, sa.path)
		sa.lastSent = now
	}
}

// deadline computes when Tick is next needed.
func (sa *SA) deadline() time.Time {
	if sa.done {
		return time.Time{}
	}
	var d time.Time
	at := func(t time.Time) {
		if !t.IsZero() && (d.IsZero() || t.Before(d)) {
			d = t
		}
	}
	for _, ike := range sa.ikes() {
		at(ike.retransmitAt())
	}
	for _, o := range sa.others {
		at(o.retireAt)
	}
	if sa.state < StateEstablished && !sa.created.IsZero() {
		at(sa.created.Add(sa.cfg.HalfOpenTimeout))
	}
	at(sa.graceDeleteAt)
	if sa.state == StateEstablished {
		at(sa.ikeRekeyAt)
		for _, c := range sa.children {
			at(c.deadline())
		}
		if sa.cfg.LivenessInterval > 0 && sa.cur.pending == nil {
			at(sa.lastRecv.Add(sa.cfg.LivenessInterval))
		}
	}
	if sa.nat.localBehind && sa.state >= StateAuth {
		at(sa.lastSent.Add(sa.cfg.KeepaliveInterval))
	}
	return d
}

// HasReady reports whether Ready holds something to do besides the
// deadline.
func (sa *SA) HasReady() bool { return !sa.out.Empty() }

// Deadline returns when the SA next needs Tick (zero: never). It may change
// after any call, even one that leaves nothing else to do (an answer
// cancels a retransmission): re-arm the timer after every call.
func (sa *SA) Deadline() time.Time { return sa.deadline() }

// Ready returns the output accumulated since the last Advance, with the
// current deadline. See Ready for the order in which to apply it.
func (sa *SA) Ready() Ready {
	r := sa.out
	r.Deadline = sa.deadline()
	return r
}

// Advance acknowledges the output returned by Ready: it is not returned
// again.
func (sa *SA) Advance() { sa.out = Ready{} }

// Done reports whether the SA is gone (after IKEDown): the runtime drops it.
func (sa *SA) Done() bool { return sa.done }

// State returns the SA's life-cycle stage.
func (sa *SA) State() State { return sa.state }

// SPIs returns the SPIs of the current IKE SA.
func (sa *SA) SPIs() SPIs {
	if sa.cur == nil {
		return SPIs{}
	}
	return sa.cur.spis
}

// LocalSPI returns our SPI of the current IKE SA, by which the runtime
// routes messages to the SA (see LocalSPI the function).
func (sa *SA) LocalSPI() uint64 {
	if sa.cur == nil {
		return 0
	}
	return sa.cur.localSPI()
}

// LocalSPIs returns every local SPI the SA must be routed by now: the
// current IKE SA's and those of replaced IKE SAs not yet deleted.
func (sa *SA) LocalSPIs() []uint64 {
	var s []uint64
	for _, ike := range sa.ikes() {
		if !ike.retired {
			s = append(s, ike.localSPI())
		}
	}
	return s
}

// InitKey returns the key of the IKE_SA_INIT request that created a
// responder SA (zero for an initiator).
func (sa *SA) InitKey() InitKey { return sa.initKey }

// Initiator reports whether we initiated the SA.
func (sa *SA) Initiator() bool { return sa.initiatorRole }

// Path returns the UDP endpoints the IKE SA uses now.
func (sa *SA) Path() Path { return sa.path }

// PeerID returns the peer's identity once authenticated (zero before).
func (sa *SA) PeerID() ID {
	if !sa.peerAuthenticated {
		return ID{}
	}
	return sa.peerID
}

// Children returns the CHILD_SAs that are installed.
func (sa *SA) Children() []ChildInfo {
	var cs []ChildInfo
	for _, c := range sa.children {
		if c.state != childDeleted {
			cs = append(cs, c.info())
		}
	}
	return cs
}

// Assignment returns the inner addresses assigned through the
// Configuration payload (by us as responder, to us as initiator), nil if
// none.
func (sa *SA) Assignment() *Assignment { return sa.assignment }

// LocalSPI returns the SPI by which the receiver of the IKE message msg
// routes it to an SA: SPIr if the I flag is set (the sender is the original
// initiator, so we are the responder), SPIi otherwise. It is 0 for a first
// IKE_SA_INIT request, which goes to a Responder (or, if the runtime finds
// an SA by InitKey, to that SA as a retransmission). ok is false if msg is
// too short to be an IKE message.
func LocalSPI(msg []byte) (spi uint64, ok bool) {
	if len(msg) < wire.HeaderLen {
		return 0, false
	}
	if wire.Flags(msg[19]).Initiator() {
		return binary.BigEndian.Uint64(msg[8:]), true
	}
	return binary.BigEndian.Uint64(msg[0:]), true
}

// emit appends an event.
func (sa *SA) emit(e Event) { sa.out.Events = append(sa.out.Events, e) }

// op appends a ChildOp.
func (sa *SA) op(kind ChildOpKind, c ChildSA, replaces uint32) {
	sa.out.ChildOps = append(sa.out.ChildOps, ChildOp{Kind: kind, Child: c, Replaces: replaces})
}

// send queues msg to the peer on the IKE SA's path. The runtime gets a
// copy: the SA keeps msg to retransmit it or to answer a retransmission.
func (sa *SA) send(msg []byte) {
	sa.out.Datagrams = append(sa.out.Datagrams, Datagram{Local: sa.path.Local, Remote: sa.path.Remote, NATT: sa.natt, Payload: slices.Clone(msg)})
	sa.lastSent = sa.clock
}

// sendTo answers the request that arrived as dg, on the same path (RFC 7296
// §2.11).
func (sa *SA) sendTo(msg []byte, dg Datagram) {
	sa.out.Datagrams = append(sa.out.Datagrams, Datagram{Local: dg.Local, Remote: dg.Remote, NATT: dg.NATT, Payload: slices.Clone(msg)})
	sa.lastSent = sa.clock
}

// teardown ends the SA: removes every CHILD_SA, reports IKEDown.
func (sa *SA) teardown(reason DownReason, err error) {
	if sa.done {
		return
	}
	spis := sa.SPIs()
	// removeChild takes each out of sa.children: walk a copy.
	for _, c := range slices.Clone(sa.children) {
		sa.removeChild(c, reason)
	}
	sa.children = nil
	sa.releaseHalfOpen()
	sa.emit(IKEDown{SPIs: spis, Reason: reason, Err: err, PeerID: sa.PeerID(), Assignment: sa.responderAssignment()})
	sa.state = StateClosed
	sa.done = true
	// Nothing is received, retransmitted or answered from now on (Receive
	// and Tick return at once): the keys can go.
	for _, ike := range sa.ikes() {
		ike.forget()
	}
	if sa.init != nil {
		sa.init.dh.Zero()
	}
}

// responderAssignment returns what we assigned as responder.
func (sa *SA) responderAssignment() *Assignment {
	if sa.initiatorRole {
		return nil
	}
	return sa.assignment
}

// releaseHalfOpen takes the SA off the Responder's half-open count, once.
func (sa *SA) releaseHalfOpen() {
	if sa.halfOpen && sa.responder != nil {
		sa.responder.halfOpen.Add(-1)
	}
	sa.halfOpen = false
}

// Close ends the SA at once without telling the peer: its CHILD_SAs are
// removed and IKEDown reports DownClosed. Use it for SAs made obsolete by an
// INITIAL_CONTACT (RFC 7296 §2.4) or at shutdown.
func (sa *SA) Close(now time.Time) {
	sa.touch(now)
	sa.teardown(DownClosed, fmt.Errorf("%w: closed locally", ErrDeleted))
}

// Delete deletes the IKE SA and its CHILD_SAs: an INFORMATIONAL request with
// a Delete payload (RFC 7296 §1.4.1). IKEDown follows the answer, or the
// give-up of retransmissions.
func (sa *SA) Delete(now time.Time) error {
	if sa.done {
		return fmt.Errorf("%w: SA closed", ErrState)
	}
	sa.touch(now)
	if sa.state < StateAuth || sa.cur == nil || sa.cur.keys == nil {
		sa.teardown(DownDeleted, fmt.Errorf("%w: before the IKE SA was keyed", ErrDeleted))
		return nil
	}
	if sa.state == StateDeleting {
		return nil
	}
	sa.deleteIKE(now, DownDeleted, fmt.Errorf("%w by us", ErrDeleted))
	return nil
}

// deleteIKE sends a Delete of the current IKE SA; the SA ends with reason
// when it is answered or times out.
func (sa *SA) deleteIKE(now time.Time, reason DownReason, err error) {
	if sa.state == StateDeleting || sa.done {
		return
	}
	sa.state = StateDeleting
	// Requests queued behind the Delete would never be answered.
	sa.cur.queue = nil
	sa.enqueue(sa.cur, &deleteIKEExchange{reason: reason, err: err}, now)
}

// touch records the time given by a call into the SA.
func (sa *SA) touch(now time.Time) {
	if sa.created.IsZero() {
		sa.created = now
	}
	if sa.lastRecv.IsZero() {
		sa.lastRecv = now
	}
	if sa.lastSent.IsZero() {
		sa.lastSent = now
	}
	sa.clock = now
}

// requireEstablished reports whether commands on the IKE SA are possible.
func (sa *SA) requireEstablished() error {
	if sa.done || sa.state != StateEstablished {
		return fmt.Errorf("%w: IKE SA is %v", ErrState, sa.state)
	}
	return nil
}

// CheckLiveness sends an empty INFORMATIONAL request (RFC 7296 §2.4); if
// retransmissions give up, LivenessFailed and IKEDown follow.
func (sa *SA) CheckLiveness(now time.Time) error {
	if err := sa.requireEstablished(); err != nil {
		return err
	}
	sa.touch(now)
	sa.enqueue(sa.cur, &livenessExchange{}, now)
	return nil
}

// UpdatePeer moves the IKE SA and its CHILD_SAs to a new peer address and
// port (the peer's care-of address or NAT mapping changed, learnt out of
// band, e.g. from a Mobile IPv6 Binding Update). The local endpoint is kept.
func (sa *SA) UpdatePeer(now time.Time, remote netip.AddrPort) error {
	if sa.done {
		return fmt.Errorf("%w: SA closed", ErrState)
	}
	if !remote.IsValid() {
		return fmt.Errorf("%w: invalid peer address", ErrConfig)
	}
	sa.touch(now)
	sa.movePath(Path{Local: sa.path.Local, Remote: remote}, sa.natt)
	return nil
}

// followPeer moves the path to where an authenticated, newer message came
// from, when the peer may move: it is behind a NAT (RFC 7296 §2.23) or it
// floated to the NAT-T port.
func (sa *SA) followPeer(dg Datagram, now time.Time) {
	p := Path{Local: dg.Local, Remote: dg.Remote}
	if p == sa.path && dg.NATT == sa.natt {
		return
	}
	if dg.NATT != sa.natt && dg.NATT || sa.nat.peerBehind || sa.nat.forced {
		if !p.Local.IsValid() {
			p.Local = sa.path.Local
		}
		sa.movePath(p, dg.NATT || sa.natt)
	}
}

// movePath switches the IKE SA to path p and moves the CHILD_SAs' outer
// endpoints with it.
func (sa *SA) movePath(p Path, natt bool) {
	old := sa.path
	if p == old && natt == sa.natt {
		return
	}
	sa.path, sa.natt = p, natt
	if sa.state >= StateEstablished {
		sa.emit(PeerMoved{SPIs: sa.SPIs(), Old: old, New: p})
	}
	for _, c := range sa.children {
		if c.state == childDeleted {
			continue
		}
		c.sa.Local, c.sa.Remote = sa.childEndpoints(c.sa.Encap)
		sa.op(UpdateEndpoints, c.params(), 0)
	}
}
