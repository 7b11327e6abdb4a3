package mip6

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/mip6ha/mip6ha/mip6/mh"
)

// Registration is a home registration a mobile node keeps with one home
// agent (RFC 6275 §11.7.1).
type Registration struct {
	HoA netip.Addr // the home address
	HA  netip.Addr // the home agent
	// CoA is the care-of address; the home address itself when at home.
	CoA netip.Addr
	// Lifetime is the lifetime to request (zero: MobileNodeConfig.Lifetime).
	Lifetime time.Duration
	// Identifier, if not empty, is sent as the NAI in a Mobile Node
	// Identifier option (RFC 4283).
	Identifier []byte
	// KeyManagementMobility sets the K bit: the IKE SA can follow the
	// care-of address (RFC 6275 §11.7.1). Must be false with manual keys.
	KeyManagementMobility bool
	// LinkLocalCompatible sets the L bit: the link-local address has the
	// home address's interface identifier.
	LinkLocalCompatible bool
	// InTunnel sends the Binding Updates in the all-in-tunnel form of
	// RFC 4877 §3 (source = home address, care-of address in the
	// Alternate Care-of Address option, no Home Address option); the
	// caller puts them in the ESP tunnel. Otherwise they are native:
	// source = care-of address with a Home Address option.
	InTunnel bool
	// IPv4HoA, if valid, asks for this IPv4 home address (0.0.0.0: any)
	// with an IPv4 Home Address option (RFC 5555 §3.1.1).
	IPv4HoA netip.Addr
	// IPv4CoA, if valid, is sent in an IPv4 Care-of Address option
	// (RFC 5555 §3.1.2).
	IPv4CoA netip.Addr
}

// MNEventKind says what happened to a binding update list entry.
type MNEventKind uint8

// Mobile node events.
const (
	// MNRegistered: a Binding Acknowledgement accepted a registration or
	// refresh. Status 1 asks for Mobile Prefix Discovery.
	MNRegistered MNEventKind = iota + 1
	// MNDeregistered: the deregistration was acknowledged (or answered
	// 133: there was no binding); the entry is gone.
	MNDeregistered
	// MNRejected: a Binding Acknowledgement refused the Binding Update
	// (Status ≥ 128, not 135). No more Binding Updates go to this home
	// agent until Register is called again (RFC 6275 §11.7.3); 134 means
	// the home address must not be used.
	MNRejected
	// MNNoResponse: the retransmission timeout reached
	// MaxBindackTimeout; retransmissions go on at that interval. The
	// caller may try another home agent (RFC 6275 §11.7.1).
	MNNoResponse
	// MNExpired: the binding's lifetime ended before a refresh was
	// acknowledged.
	MNExpired
	// MNSwitchRequested: a Home Agent Switch arrived (RFC 5142 §6.1):
	// Addresses lists the home agents to move to (empty: run discovery).
	// From the current home agent, the binding is deregistered half-way
	// through the Binding Refresh Advice period (the home agent deletes it
	// at the end), at once without one, unless the caller deregisters
	// first (make-before-break); meanwhile it is not refreshed.
	MNSwitchRequested
	// MNBindingError: a Binding Error arrived (BEStatus).
	MNBindingError
)

// String returns the kind's name.
func (k MNEventKind) String() string {
	names := [...]string{"", "registered", "deregistered", "rejected", "no-response", "expired", "switch-requested", "binding-error"}
	if int(k) < len(names) && k > 0 {
		return names[k]
	}
	return fmt.Sprintf("MNEventKind(%d)", uint8(k))
}

// MNEvent is something that happened to a binding of the mobile node.
type MNEvent struct {
	Kind MNEventKind
	HoA  netip.Addr
	HA   netip.Addr // the entry's home agent
	// Status of the Binding Acknowledgement (MNRegistered, MNRejected,
	// MNDeregistered).
	Status mh.Status
	// Lifetime granted (MNRegistered).
	Lifetime time.Duration
	// KeyManagementMobility is the BA's K bit: move the IKE endpoint if
	// set, else the home agent will drop IKE connections to the old
	// care-of address (RFC 6275 §11.7.3).
	KeyManagementMobility bool
	// RefreshAdvice is the Binding Refresh Advice of a BA or HAS (zero: none).
	RefreshAdvice time.Duration
	// IPv4Ack and NAT are the DSMIPv6 options of the BA, if present.
	IPv4Ack *mh.IPv4AddressAck
	NAT     *mh.NATDetection
	// Addresses are the home agents of a Home Agent Switch.
	Addresses []netip.Addr
	// From is the sender of a Home Agent Switch or Binding Error.
	From netip.Addr
	// FromCurrentHA says a Home Agent Switch came from the entry's own
	// home agent; otherwise another home agent asks the mobile node to
	// register with it (RFC 5142 §5.1).
	FromCurrentHA bool
	// BEStatus is the status of a Binding Error.
	BEStatus mh.BEStatus
}

// Ready is what the binding update list asks the caller to do: messages to
// send and events to note.
type Ready struct {
	Send   []Outgoing
	Events []MNEvent
}

// BULEntry is a snapshot of a binding update list entry.
type BULEntry struct {
	Registration
	Registered  bool      // the home agent accepted a registration that has not ended
	Expires     time.Time // end of the binding as the mobile node counts it
	Sequence    uint16    // last sequence number sent
	Outstanding bool      // a Binding Update awaits its acknowledgement
	Switching   bool      // a Home Agent Switch asked the node to leave
	Failed      bool      // the last Binding Update was rejected
}

// BindingUpdateList is a mobile node's binding update list (RFC 6275
// §11.1) for its home registrations: it sends Binding Updates and
// retransmits them with exponential back-off (RFC 6275 §11.8), refreshes
// bindings before they expire or when asked (Binding Refresh Advice,
// Binding Refresh Request), resynchronises its sequence number after
// status 135, deregisters, and handles Home Agent Switch messages.
//
// Feed it commands (Register, Deregister), received packets (Receive) and
// timer ticks (Tick at NextDeadline); collect what it wants sent with
// Ready. It is not safe for concurrent use and does no I/O.
type BindingUpdateList struct {
	cfg     MobileNodeConfig
	entries []*bulEntry
	sends   map[netip.Addr][]time.Time // recent Binding Updates per home agent
	be      tokenBucket
	ready   Ready
	stats   MNStats
}

// MNStats counts what a binding update list received and dropped.
type MNStats struct {
	Received          [256]uint64 // well-formed messages, by MH Type
	Malformed         uint64      // did not parse, or bad checksum
	UnknownType       uint64      // unknown MH Type (answered with a Binding Error if the rate allows)
	Ignored           uint64      // well-formed but for no entry, stale, or not for a mobile node
	BindingErrorsSent uint64
}

// Stats returns the counters.
func (l *BindingUpdateList) Stats() MNStats { return l.stats }

type bulEntry struct {
	reg Registration

	seq      uint16 // last sent
	firstSeq uint16 // first sequence number of the outstanding attempt

	outstanding     bool
	attemptLifetime mh.Lifetime // lifetime of the outstanding BU; 0: deregistration
	sends           int         // transmissions in this attempt
	sentFirst       time.Time   // first transmission of this attempt
	timeout         time.Duration
	next            time.Time // next transmission
	noResponse      bool      // MNNoResponse reported for this attempt

	registered bool
	expires    time.Time
	refresh    time.Time

	failed      bool
	switching   bool
	switchFrom  netip.Addr
	switchAddrs []netip.Addr
	switchDereg time.Time // deregister then, if still switching
}

// NewBindingUpdateList returns an empty binding update list.
func NewBindingUpdateList(cfg MobileNodeConfig) *BindingUpdateList {
	cfg = cfg.withDefaults()
	return &BindingUpdateList{cfg: cfg, sends: make(map[netip.Addr][]time.Time), be: newTokenBucket(cfg.BindingErrorRate)}
}

// ErrRegistration is wrapped by errors of Register.
var ErrRegistration = errors.New("mip6: invalid registration")

func (l *BindingUpdateList) find(hoa, ha netip.Addr) *bulEntry {
	for _, e := range l.entries {
		if e.reg.HoA == hoa && e.reg.HA == ha {
			return e
		}
	}
	return nil
}

// Register starts or changes the home registration of r.HoA with r.HA: a
// new binding, a new care-of address or lifetime. A Binding Update goes
// out at once (or as soon as MAX_UPDATE_RATE allows).
func (l *BindingUpdateList) Register(now time.Time, r Registration) error {
	for _, a := range []netip.Addr{r.HoA, r.HA, r.CoA} {
		if !a.IsValid() || !a.Is6() || a.Is4In6() {
			return fmt.Errorf("%w: home address, home agent and care-of address must be IPv6 (%v, %v, %v)", ErrRegistration, r.HoA, r.HA, r.CoA)
		}
	}
	if r.Lifetime <= 0 {
		r.Lifetime = l.cfg.Lifetime
	}
	if mh.LifetimeOf(r.Lifetime) == 0 {
		return fmt.Errorf("%w: lifetime %v is below 4 s", ErrRegistration, r.Lifetime)
	}
	e := l.find(r.HoA, r.HA)
	if e == nil {
		e = &bulEntry{}
		l.entries = append(l.entries, e)
	}
	e.reg = r
	e.failed, e.switching, e.switchAddrs, e.switchDereg = false, false, nil, time.Time{}
	l.start(now, e, mh.LifetimeOf(r.Lifetime))
	return nil
}

// Deregister sends a deregistration (lifetime 0) for the binding of hoa
// with ha; the entry goes when it is acknowledged.
func (l *BindingUpdateList) Deregister(now time.Time, hoa, ha netip.Addr) error {
	e := l.find(hoa, ha)
	if e == nil {
		return fmt.Errorf("%w: %v at %v", ErrNoBinding, hoa, ha)
	}
	e.failed = false
	e.switchDereg = time.Time{}
	l.start(now, e, 0)
	return nil
}

// Remove forgets the entry of hoa with ha without telling the home agent.
func (l *BindingUpdateList) Remove(hoa, ha netip.Addr) {
	l.entries = slices.DeleteFunc(l.entries, func(e *bulEntry) bool { return e.reg.HoA == hoa && e.reg.HA == ha })
}

// Entry returns the entry of hoa with ha.
func (l *BindingUpdateList) Entry(hoa, ha netip.Addr) (BULEntry, bool) {
	e := l.find(hoa, ha)
	if e == nil {
		return BULEntry{}, false
	}
	return e.snapshot(), true
}

// Entries returns all entries.
func (l *BindingUpdateList) Entries() []BULEntry {
	out := make([]BULEntry, len(l.entries))
	for i, e := range l.entries {
		out[i] = e.snapshot()
	}
	return out
}

func (e *bulEntry) snapshot() BULEntry {
	return BULEntry{
		Registration: e.reg, Registered: e.registered, Expires: e.expires, Sequence: e.seq,
		Outstanding: e.outstanding, Switching: e.switching, Failed: e.failed,
	}
}

// Ready returns the messages to send and the events since the last call,
// and forgets them.
func (l *BindingUpdateList) Ready() Ready {
	r := l.ready
	l.ready = Ready{}
	return r
}

func (l *BindingUpdateList) event(e *bulEntry, ev MNEvent) {
	ev.HoA, ev.HA = e.reg.HoA, e.reg.HA
	l.ready.Events = append(l.ready.Events, ev)
}

// start begins a new Binding Update attempt with the given lifetime.
func (l *BindingUpdateList) start(now time.Time, e *bulEntry, lifetime mh.Lifetime) {
	e.outstanding = true
	e.attemptLifetime = lifetime
	e.sends = 0
	e.noResponse = false
	e.timeout = l.cfg.InitialBindackTimeout
	if !e.registered && lifetime != 0 {
		e.timeout = l.cfg.InitialBindackTimeoutFirstReg // room for the home agent's DAD
	}
	e.next = now
	l.transmit(now, e)
}

// transmit sends the outstanding Binding Update if MAX_UPDATE_RATE
// allows, else defers it.
func (l *BindingUpdateList) transmit(now time.Time, e *bulEntry) {
	if at := l.rateNext(now, e.reg.HA); at.After(now) {
		e.next = at
		return
	}
	e.seq++ // retransmissions use a new number (RFC 6275 §11.8)
	if e.sends == 0 {
		e.firstSeq, e.sentFirst = e.seq, now
	}
	e.sends++
	l.sends[e.reg.HA] = append(l.sends[e.reg.HA], now)
	l.ready.Send = append(l.ready.Send, l.bindingUpdate(e))
	if e.timeout >= l.cfg.MaxBindackTimeout && !e.noResponse {
		e.noResponse = true
		l.event(e, MNEvent{Kind: MNNoResponse})
	}
	e.next = now.Add(e.timeout)
	e.timeout = min(2*e.timeout, l.cfg.MaxBindackTimeout)
}

// rateNext is the earliest time a Binding Update may go to ha: at most
// MaxUpdateRate in any second (RFC 6275 §11.8).
func (l *BindingUpdateList) rateNext(now time.Time, ha netip.Addr) time.Time {
	s := l.sends[ha]
	i := 0
	for i < len(s) && !s[i].After(now.Add(-time.Second)) {
		i++
	}
	s = s[i:]
	if len(s) == 0 {
		delete(l.sends, ha)
		return now
	}
	l.sends[ha] = s
	if len(s) < l.cfg.MaxUpdateRate {
		return now
	}
	return s[len(s)-l.cfg.MaxUpdateRate].Add(time.Second)
}

// bindingUpdate builds the Binding Update of the outstanding attempt
// (RFC 6275 §11.7.1, RFC 4877 §3).
func (l *BindingUpdateList) bindingUpdate(e *bulEntry) Outgoing {
	r := e.reg
	bu := mh.BindingUpdate{Sequence: e.seq, Flags: mh.BUFlagA | mh.BUFlagH, Lifetime: e.attemptLifetime}
	if r.KeyManagementMobility {
		bu.Flags |= mh.BUFlagK
	}
	if r.LinkLocalCompatible {
		bu.Flags |= mh.BUFlagL
	}
	var o mh.Options
	if len(r.Identifier) > 0 {
		o = mh.MobileNodeIdentifier{Subtype: mh.MNIdentifierNAI, Identifier: r.Identifier}.Append(o)
	}
	if r.CoA != r.HoA {
		o = mh.AlternateCoA{Addr: r.CoA}.Append(o)
	}
	if r.IPv4HoA.IsValid() && e.attemptLifetime != 0 {
		o = mh.IPv4HomeAddress{PrefixLen: 32, Addr: r.IPv4HoA}.Append(o)
	}
	if r.IPv4CoA.IsValid() {
		o = mh.IPv4CoA{Addr: r.IPv4CoA}.Append(o)
	}
	bu.Options = o
	ip := mh.IPv6{Src: r.HoA, Dst: r.HA}
	if !r.InTunnel && r.CoA != r.HoA {
		ip.Src, ip.HAO = r.CoA, r.HoA
	}
	return Outgoing{IP: ip, Message: bu}
}

// Tick runs the timers due at now: retransmissions, refreshes, the
// deregistration after a Home Agent Switch, and expiry.
func (l *BindingUpdateList) Tick(now time.Time) {
	for _, e := range slices.Clone(l.entries) {
		if e.switching && !e.switchDereg.IsZero() && !now.Before(e.switchDereg) {
			e.switchDereg = time.Time{}
			l.start(now, e, 0)
			continue
		}
		if e.outstanding && !now.Before(e.next) {
			l.transmit(now, e)
		} else if l.refreshDue(now, e) {
			l.start(now, e, mh.LifetimeOf(e.reg.Lifetime))
		}
		if e.registered && !now.Before(e.expires) {
			e.registered = false
			l.event(e, MNEvent{Kind: MNExpired})
		}
	}
}

func (l *BindingUpdateList) refreshDue(now time.Time, e *bulEntry) bool {
	return e.registered && !e.outstanding && !e.failed && !e.switching && !now.Before(e.refresh)
}

// NextDeadline returns when Tick must next run, or the zero time.
func (l *BindingUpdateList) NextDeadline() time.Time {
	var next time.Time
	consider := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, e := range l.entries {
		if e.outstanding {
			consider(e.next)
		} else if e.registered && !e.failed && !e.switching {
			consider(e.refresh)
		}
		if e.registered {
			consider(e.expires)
		}
		if e.switching {
			consider(e.switchDereg)
		}
	}
	return next
}

// Receive processes an IPv6 packet with a Mobility Header addressed to the
// mobile node (after ESP processing: the caller checks it came under the
// home agent's SA). Binding Acknowledgements, Home Agent Switch, Binding
// Refresh Requests and Binding Errors are acted on; an unknown MH Type is
// answered with a Binding Error, status 2 (RFC 6275 §9.2, RFC 5142 §6.1).
func (l *BindingUpdateList) Receive(now time.Time, pkt []byte) {
	ip, h, err := mh.ParsePacket(pkt)
	if err != nil {
		if !errors.Is(err, mh.ErrUnknownType) {
			l.stats.Malformed++
			return
		}
		l.stats.UnknownType++
		if unicast(ip.Src) && l.be.allow(now) {
			hoa := ip.HAO
			if !hoa.IsValid() {
				hoa = netip.IPv6Unspecified()
			}
			l.stats.BindingErrorsSent++
			l.ready.Send = append(l.ready.Send, Outgoing{
				IP:      mh.IPv6{Src: ip.Dst, Dst: ip.Src},
				Message: mh.BindingError{Status: mh.BEUnrecognizedType, HoA: hoa},
			})
		}
		return
	}
	hoa := ip.Dst // the home address: inside the tunnel the destination,
	if ip.RH2.IsValid() && !ip.RH2Processed {
		hoa = ip.RH2 // natively the type 2 routing header's
	}
	if !l.receive(now, ip, hoa, h) {
		l.stats.Ignored++
	}
}

// receive acts on a well-formed message and reports whether it was for
// an entry.
func (l *BindingUpdateList) receive(now time.Time, ip mh.IPv6, hoa netip.Addr, h mh.Header) bool {
	switch h.Type() {
	case mh.TypeBindingAck:
		ba, err := mh.ParseBindingAck(h)
		if err != nil {
			l.stats.Malformed++
			return true
		}
		l.stats.Received[h.Type()]++
		return l.receiveBA(now, l.find(hoa, ip.Src), ba)
	case mh.TypeHomeAgentSwitch:
		has, err := mh.ParseHomeAgentSwitch(h)
		if err != nil {
			l.stats.Malformed++
			return true
		}
		l.stats.Received[h.Type()]++
		return l.receiveHAS(now, hoa, ip.Src, has)
	case mh.TypeBindingRefreshRequest:
		l.stats.Received[h.Type()]++
		e := l.find(hoa, ip.Src)
		if e == nil || !l.refreshAllowed(e) {
			return false
		}
		l.start(now, e, mh.LifetimeOf(e.reg.Lifetime))
		return true
	case mh.TypeBindingError:
		be, err := mh.ParseBindingError(h)
		if err != nil {
			l.stats.Malformed++
			return true
		}
		l.stats.Received[h.Type()]++
		e := l.find(hoa, ip.Src)
		if e == nil {
			return false
		}
		l.event(e, MNEvent{Kind: MNBindingError, BEStatus: be.Status, From: ip.Src})
		return true
	}
	l.stats.Received[h.Type()]++
	return false // BU, HoTI ... are not for a mobile node's binding update list
}

func (l *BindingUpdateList) refreshAllowed(e *bulEntry) bool {
	return e.registered && !e.outstanding && !e.failed && !e.switching
}

// inAttempt reports whether seq was sent in the outstanding attempt.
func (e *bulEntry) inAttempt(seq uint16) bool {
	return seq-e.firstSeq <= e.seq-e.firstSeq
}

// receiveBA applies a Binding Acknowledgement (RFC 6275 §11.7.3).
func (l *BindingUpdateList) receiveBA(now time.Time, e *bulEntry, ba mh.BindingAck) bool {
	if e == nil || !e.outstanding || e.sends == 0 {
		return false
	}
	if ba.Status == mh.StatusSequenceOutOfWindow {
		// It carries the last number the home agent accepted. If every
		// Binding Update of this attempt is greater than that, none of
		// them drew it: it answers an older one, delayed, and adopting it
		// would set our number back.
		if SequenceGreater(e.firstSeq, ba.Sequence) && SequenceGreater(e.seq, ba.Sequence) {
			return false // counted as ignored
		}
		// Adopt the home agent's number and try again at once.
		e.seq = ba.Sequence
		e.sends = 0
		e.timeout = l.cfg.InitialBindackTimeout
		l.transmit(now, e)
		return true
	}
	if !e.inAttempt(ba.Sequence) {
		return false
	}
	e.outstanding = false
	dereg := e.attemptLifetime == 0
	switch {
	case ba.Status.Accepted() && dereg, dereg && ba.Status == mh.StatusNotHomeAgentForThisMN:
		l.Remove(e.reg.HoA, e.reg.HA)
		l.event(e, MNEvent{Kind: MNDeregistered, Status: ba.Status})
	case ba.Status.Accepted():
		granted := ba.Lifetime.Duration()
		e.registered, e.failed = true, false
		e.expires = e.sentFirst.Add(granted)
		e.refresh = e.sentFirst.Add(time.Duration(float64(granted) * l.cfg.RefreshFraction))
		ev := MNEvent{Kind: MNRegistered, Status: ba.Status, Lifetime: granted, KeyManagementMobility: ba.Flags&mh.BAFlagK != 0}
		if bra, ok := ba.Options.BindingRefreshAdvice(); ok {
			ev.RefreshAdvice = bra.Interval.Duration()
			if t := e.sentFirst.Add(ev.RefreshAdvice); t.Before(e.refresh) {
				e.refresh = t
			}
		}
		// Counted from the first Binding Update, a short lifetime (or 0)
		// may have run out before the acknowledgement came: the binding
		// then expires, and is refreshed, now rather than in the past.
		if e.expires.Before(now) {
			e.expires = now
		}
		if e.refresh.Before(now) {
			e.refresh = now
		}
		if ack, ok := ba.Options.IPv4AddressAck(); ok {
			ev.IPv4Ack = &ack
		}
		if nat, ok := ba.Options.NATDetection(); ok {
			ev.NAT = &nat
		}
		l.event(e, ev)
	default:
		e.failed = true
		l.event(e, MNEvent{Kind: MNRejected, Status: ba.Status})
	}
	return true
}

// receiveHAS applies a Home Agent Switch (RFC 5142 §6.1).
func (l *BindingUpdateList) receiveHAS(now time.Time, hoa, from netip.Addr, has mh.HomeAgentSwitch) bool {
	e := l.find(hoa, from)
	current := e != nil
	if !current {
		// From another home agent sharing an SA with us: "register with me".
		for _, x := range l.entries {
			if x.reg.HoA == hoa {
				e = x
				break
			}
		}
	}
	if e == nil {
		return false
	}
	if e.switching && e.switchFrom == from && slices.Equal(e.switchAddrs, has.Addresses) {
		return true // a retransmission
	}
	ev := MNEvent{Kind: MNSwitchRequested, Addresses: has.Addresses, From: from, FromCurrentHA: current}
	if bra, ok := has.Options.BindingRefreshAdvice(); ok {
		ev.RefreshAdvice = bra.Interval.Duration()
	}
	l.event(e, ev)
	if !current {
		return true
	}
	e.switching, e.switchFrom, e.switchAddrs = true, from, has.Addresses
	if e.outstanding && e.attemptLifetime == 0 {
		return true // already deregistering
	}
	// Deregister half-way through the advised period: the home agent deletes
	// the binding when it ends, and retransmissions need room.
	e.switchDereg = now.Add(ev.RefreshAdvice / 2)
	if ev.RefreshAdvice == 0 {
		e.switchDereg = time.Time{}
		l.start(now, e, 0)
	}
	return true
}
