package mip6

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mip6ha/mip6ha/mip6/mh"
)

// ErrNoBinding is returned for operations on a home address without a
// valid binding.
var ErrNoBinding = errors.New("mip6: no binding for this home address")

// BindingCache is a home agent's binding cache (RFC 6275 §9.1, §10.1):
// home registrations keyed by home address, the processing of Binding
// Updates (RFC 6275 §9.5.1, §10.3.1, §10.3.2), lifetimes and expiry, and
// the Home Agent Switch state (RFC 5142).
//
// It is safe for concurrent use: the home addresses are spread over
// shards, each with its own mutex, its map and a heap of entry deadlines.
// It does no I/O and reads no clock; Tick reports what timers produced.
type BindingCache struct {
	cfg     HomeAgentConfig
	epoch   time.Time
	shards  []shard
	mask    uint64
	entries atomic.Int64
	drops   [dropReasons]atomic.Uint64

	maxLifetime mh.Lifetime

	homeAgents haTable
	switches   switcher
}

type shard struct {
	mu       sync.Mutex
	m        map[[16]byte]*entry
	h        deadlineHeap
	baStatus [256]uint64
	_        [64]byte // keep neighbouring shards' locks off this cache line
}

// dsmip is the DSMIPv6 part of a binding (RFC 5555 §4.5).
type dsmip struct {
	ipv4HoA netip.Addr
	udp     netip.AddrPort
}

// request is a validated Binding Update.
type request struct {
	ctx      Context
	ip       mh.IPv6
	hoa, coa netip.Addr
	seq      uint16
	flags    mh.BUFlags
	lifetime mh.Lifetime
	ipv4HoA  mh.IPv4HomeAddress
	hasIPv4  bool
	ha       uint16 // index of ip.Dst in the cache's haTable
}

// NewBindingCache returns an empty binding cache; now is its epoch.
func NewBindingCache(cfg HomeAgentConfig, now time.Time) (*BindingCache, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &BindingCache{
		cfg:         cfg,
		epoch:       now,
		shards:      make([]shard, cfg.Shards),
		mask:        uint64(cfg.Shards - 1),
		maxLifetime: mh.LifetimeOf(cfg.MaxLifetime),
		switches:    switcher{bucket: newTokenBucket(cfg.HASRate)},
	}
	for i := range c.shards {
		c.shards[i].m = make(map[[16]byte]*entry)
	}
	return c, nil
}

// Config returns the configuration in force, defaults filled in.
func (c *BindingCache) Config() HomeAgentConfig { return c.cfg }

func (c *BindingCache) since(now time.Time) int64 { return int64(now.Sub(c.epoch)) }
func (c *BindingCache) at(t int64) time.Time      { return c.epoch.Add(time.Duration(t)) }

func (c *BindingCache) shardOf(k [16]byte) *shard {
	h := binary.LittleEndian.Uint64(k[8:]) ^ binary.LittleEndian.Uint64(k[:8])*0x9e3779b97f4a7c15
	h ^= h >> 29
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 32
	return &c.shards[h&c.mask]
}

func (c *BindingCache) drop(r DropReason) Decision {
	c.drops[r].Add(1)
	return Decision{Verdict: Dropped, Drop: r}
}

// unicast reports whether a may be the destination of an answer.
func unicast(a netip.Addr) bool {
	return a.IsValid() && !a.IsUnspecified() && !a.IsMulticast()
}

// routable reports whether a is a unicast routable address: global scope,
// ULAs included (RFC 6275 §4.6).
func routable(a netip.Addr) bool {
	return a.IsValid() && a.IsGlobalUnicast()
}

// Update processes a Binding Update that arrived in a packet with the
// addressing ip (see mh.ParsePacket), as a home agent: the validation of
// RFC 6275 §9.5.1, the home registration of §10.3.1 and the
// deregistration of §10.3.2, with the RFC 4877 all-in-tunnel form when
// ctx.InTunnel is set. The decision says what to do and what to answer.
//
// Status codes: 135 for an old sequence number (with the last accepted
// number), 131 without home prefixes, 132 for a home address off the home
// prefixes, 130 beyond MaxBindings, 129 for a lifetime extension after a
// Home Agent Switch (RFC 5142 §5.3), 174 for a registration whose care-of
// address is the home address, 133 for a deregistration without a binding,
// 134 after failed DAD (CompleteDAD), 139, 138 and 136 for correspondent
// registrations (this home agent keeps no return routability nonces).
//
// A home address the SA's identity may not register is silently discarded
// (DropNotAuthorized), not answered with 133: RFC 6275 §5.1 makes the home
// address identify the SA that must protect the Binding Update, so a BU
// on another SA fails authentication, and §9.5.1 discards those silently;
// an answer would tell the sender about another node's binding.
func (c *BindingCache) Update(now time.Time, ctx Context, ip mh.IPv6, bu mh.BindingUpdate) Decision {
	r := request{ctx: ctx, ip: ip, hoa: ip.HoA(), seq: bu.Sequence, flags: bu.Flags, lifetime: bu.Lifetime}
	if !unicast(ip.Src) {
		return c.drop(DropSourceNotUnicast)
	}
	if !routable(r.hoa) || !r.hoa.Is6() || r.hoa.Is4In6() {
		return c.drop(DropHoANotRoutable)
	}
	r.coa = ip.Src
	if a, ok := bu.Options.AlternateCoA(); ok {
		r.coa = a.Addr
	} else if a, ok := bu.Options.IPv4CoA(); ok {
		r.coa = a.Addr
	}
	if !routable(r.coa) {
		return c.drop(DropCoANotRoutable)
	}
	if r.hoa != ctx.AuthorizedHoA {
		return c.drop(DropNotAuthorized)
	}
	r.ipv4HoA, r.hasIPv4 = bu.Options.IPv4HomeAddress()
	_, hasNonces := bu.Options.NonceIndices()
	if bu.Flags&mh.BUFlagH == 0 {
		if _, hasAuth := bu.Options.BindingAuthorizationData(); !hasNonces || !hasAuth {
			return c.drop(DropNoAuthorizationData)
		}
		return c.correspondent(&r)
	}
	if hasNonces {
		return c.drop(DropNonceIndices)
	}
	if r.lifetime != 0 && !ctx.InTunnel && !ip.HAO.IsValid() {
		return c.drop(DropNoHomeAddressOption)
	}

	t := c.since(now)
	ha, haOK := c.homeAgents.index(ip.Dst)
	r.ha = ha
	key := r.hoa.As16()
	s := c.shardOf(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if !haOK {
		return c.reject(s, &r, mh.StatusInsufficientResources, e) // more home agent addresses than an entry can name
	}
	if e != nil && e.state == StateDADPending {
		return c.duringDAD(s, e, &r)
	}
	if e != nil && !SequenceGreater(r.seq, e.seq) {
		d := c.reject(s, &r, mh.StatusSequenceOutOfWindow, e)
		d.ba.Sequence = e.seq
		return d
	}
	if r.lifetime == 0 {
		return c.deregister(s, e, &r, t)
	}
	return c.register(s, e, &r, now, false)
}

// correspondent answers a Binding Update without the H bit: this home
// agent is no correspondent node and keeps no nonces, so a well-formed one
// gets 138, or 136 for a deletion, whose care-of nonce index is not looked
// at (or 135 / 139 against an existing home registration, in the order of
// RFC 6275 §9.5.1).
func (c *BindingCache) correspondent(r *request) Decision {
	key := r.hoa.As16()
	s := c.shardOf(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	switch {
	case e != nil && e.state != StateDADPending && !SequenceGreater(r.seq, e.seq):
		d := c.reject(s, r, mh.StatusSequenceOutOfWindow, e)
		d.ba.Sequence = e.seq
		return d
	case e != nil:
		return c.reject(s, r, mh.StatusRegistrationTypeChangeDisallowed, e)
	case r.lifetime == 0:
		// A deletion is keyed on the home nonce index alone (RFC 6275 §9.5.1).
		return c.reject(s, r, mh.StatusExpiredHomeNonceIndex, nil)
	}
	return c.reject(s, r, mh.StatusExpiredNonces, nil)
}

// duringDAD handles a Binding Update for a home address whose first
// registration waits for DAD: a newer one replaces the pending request
// (its BA will answer it), a newer deregistration cancels the
// registration (133: there is no binding), an older one is ignored.
func (c *BindingCache) duringDAD(s *shard, e *entry, r *request) Decision {
	p := e.pending()
	if newer := SequenceGreater(r.seq, p.seq); newer && r.lifetime == 0 {
		c.remove(s, e)
		return c.reject(s, r, mh.StatusNotHomeAgentForThisMN, nil)
	} else if newer {
		*p = *r
	}
	c.drops[DropDADInProgress].Add(1)
	return Decision{Verdict: Dropped, Drop: DropDADInProgress, Binding: c.snapshot(e)}
}

// reject builds a Binding Acknowledgement with a refusal. e, if not nil,
// is the existing entry, reported unchanged.
func (c *BindingCache) reject(s *shard, r *request, st mh.Status, e *entry) Decision {
	s.baStatus[st]++
	d := Decision{
		Verdict: Rejected,
		Status:  st,
		Actions: ActionSendBA,
		Reply:   replyTo(r.ip),
		ba:      mh.BindingAck{Status: st, Sequence: r.seq},
	}
	if e != nil {
		d.Binding = c.snapshot(e)
	}
	return d
}

func replyTo(ip mh.IPv6) mh.IPv6 {
	reply := mh.IPv6{Src: ip.Dst, Dst: ip.Src}
	if ip.HAO.IsValid() {
		reply.RH2 = ip.HAO
	}
	return reply
}

// homePrefix returns the home prefix the address is on-link for, if its
// valid lifetime has not ended.
func (c *BindingCache) homePrefix(a netip.Addr, now time.Time) (HomePrefix, bool) {
	for _, p := range c.cfg.HomePrefixes {
		if p.Prefix.Contains(a) && (p.ValidUntil.IsZero() || p.ValidUntil.After(now)) {
			return p, true
		}
	}
	return HomePrefix{}, false
}

// register runs the home registration tests of RFC 6275 §10.3.1 and
// accepts, starts DAD, or rejects. dadDone says DAD already succeeded.
func (c *BindingCache) register(s *shard, e *entry, r *request, now time.Time, dadDone bool) Decision {
	if len(c.cfg.HomePrefixes) == 0 {
		return c.rejectStoring(s, r, mh.StatusHomeRegistrationNotSupported, e)
	}
	hp, ok := c.homePrefix(r.hoa, now)
	if !ok {
		return c.rejectStoring(s, r, mh.StatusNotHomeSubnet, e)
	}
	isNew := e == nil || e.state != StateValid
	if isNew && !dadDone && c.cfg.MaxBindings > 0 && e == nil && c.entries.Load() >= int64(c.cfg.MaxBindings) {
		return c.rejectStoring(s, r, mh.StatusInsufficientResources, e)
	}
	t := c.since(now)
	granted := min(r.lifetime, c.maxLifetime)
	if !isNew && e.switching() != nil && e.switching().sent {
		// After a Home Agent Switch, no extension (RFC 5142 §5.3).
		if t+int64(r.lifetime.Duration()) > e.expires {
			return c.rejectStoring(s, r, mh.StatusAdministrativelyProhibited, e)
		}
	}
	if r.coa == r.hoa {
		return c.rejectStoring(s, r, mh.StatusInvalidCoA, e)
	}
	status := mh.StatusAccepted
	if !hp.ValidUntil.IsZero() {
		valid := prefixUnits(hp.ValidUntil.Sub(now))
		if valid == 0 {
			return c.rejectStoring(s, r, mh.StatusNotHomeSubnet, e)
		}
		if valid <= int64(granted) {
			granted = mh.Lifetime(valid)
			status = mh.StatusAcceptedPrefixDiscovery // invalid at the end of the binding
		}
	}
	if !hp.PreferredUntil.IsZero() && prefixUnits(hp.PreferredUntil.Sub(now)) < int64(granted) {
		status = mh.StatusAcceptedPrefixDiscovery // deprecated during the binding
	}
	if isNew && !dadDone && !c.cfg.SkipDAD && !r.ctx.AddressUnique {
		return c.startDAD(s, e, r, t)
	}
	return c.accept(s, e, r, t, granted, status)
}

// prefixUnits converts a remaining prefix lifetime to 4 s units, two low
// bits dropped (RFC 6275 §10.3.1), without the 16-bit cap of a binding
// lifetime: a prefix valid for longer than the longest binding must not
// look as if it ended with it. Negative durations give 0.
func prefixUnits(d time.Duration) int64 {
	return int64(max(d, 0) / mh.LifetimeUnit)
}

// rejectStoring rejects a Binding Update that passed the RFC 6275 §9.5.1
// validation: its sequence number is stored in an existing entry.
func (c *BindingCache) rejectStoring(s *shard, r *request, st mh.Status, e *entry) Decision {
	if e != nil && e.state != StateDADPending {
		e.seq = r.seq
	}
	return c.reject(s, r, st, e)
}

func (c *BindingCache) startDAD(s *shard, e *entry, r *request, t int64) Decision {
	if e == nil {
		e = &entry{hoa: r.hoa.As16()}
		c.insert(s, e)
	}
	e.state = StateDADPending
	p := new(request)
	*p = *r
	e.setPending(p)
	e.setCareOf(r.coa)
	e.flags, e.identity, e.ha = r.flags, r.ctx.Identity, r.ha
	e.expires = t + int64(c.cfg.DADTimeout)
	c.reschedule(s, e)
	d := Decision{Verdict: Pending, Actions: ActionDAD, Binding: c.snapshot(e)}
	if r.flags&mh.BUFlagL != 0 {
		d.Actions |= ActionDADLinkLocal
	}
	return d
}

func (c *BindingCache) insert(s *shard, e *entry) {
	s.m[e.hoa] = e
	s.h.push(e)
	c.entries.Add(1)
}

func (c *BindingCache) remove(s *shard, e *entry) {
	delete(s.m, e.hoa)
	s.h.remove(e)
	c.entries.Add(-1)
}

// reschedule makes sure e's timer fires no later than its deadline.
func (c *BindingCache) reschedule(s *shard, e *entry) {
	s.h.lower(e, c.deadline(e))
}

// deadline is the entry's earliest timer.
func (c *BindingCache) deadline(e *entry) int64 {
	d := e.expires
	if e.state != StateValid {
		return d
	}
	if sw := e.switching(); sw != nil && sw.sent && !sw.stopped && sw.next < d {
		d = sw.next
	}
	if c.cfg.RefreshRequestBefore > 0 && !e.has(bitBRRSent) {
		d = min(d, e.expires-int64(c.cfg.RefreshRequestBefore))
	}
	return d
}

// accept creates or refreshes the binding and builds the successful BA.
func (c *BindingCache) accept(s *shard, e *entry, r *request, t int64, granted mh.Lifetime, st mh.Status) Decision {
	d := Decision{Verdict: Accepted, Status: st, Reply: replyTo(r.ip), PreviousCoA: r.hoa}
	wasValid := e != nil && e.state == StateValid
	var oldFlags mh.BUFlags
	var oldIPv4 netip.Addr
	if wasValid {
		d.PreviousCoA, oldFlags = e.careOf(), e.flags
		if x := e.dsmip(); x != nil {
			oldIPv4 = x.ipv4HoA
		}
	}
	if e == nil {
		e = &entry{hoa: r.hoa.As16()}
		c.insert(s, e)
	}
	e.state = StateValid
	e.setPending(nil)
	if coa := r.coa.As16(); coa != e.coa {
		e.setCareOf(r.coa)
	}
	e.seq, e.flags, e.ha = r.seq, r.flags, r.ha
	if len(e.identity) != len(r.ctx.Identity) || e.identity != r.ctx.Identity {
		e.identity = r.ctx.Identity
	}
	e.set(bitInTunnel, r.ctx.InTunnel)
	e.expires = t + int64(granted.Duration())
	// A binding granted no longer than RefreshRequestBefore gets no
	// Binding Refresh Request: it would go out with this BA, and the
	// refresh it asks for would start another lifetime as short.
	e.set(bitBRRSent, c.cfg.RefreshRequestBefore > 0 && granted.Duration() <= c.cfg.RefreshRequestBefore)
	if !wasValid {
		e.setSwitching(nil)
	}

	coaMoved := !wasValid || d.PreviousCoA != r.coa
	if !wasValid {
		d.Actions |= ActionInstallRoute | ActionDefendHoA
		if r.flags&mh.BUFlagL != 0 {
			d.Actions |= ActionDefendLinkLocal
		}
	} else {
		if coaMoved {
			d.Actions |= ActionInstallRoute
		}
		switch l, was := r.flags&mh.BUFlagL != 0, oldFlags&mh.BUFlagL != 0; {
		case l && !was:
			d.Actions |= ActionDefendLinkLocal
		case !l && was:
			d.Actions |= ActionStopDefendingLinkLocal
		}
	}
	k := r.flags&mh.BUFlagK != 0 && c.cfg.KeyManagementMobility
	if coaMoved {
		if k {
			d.Actions |= ActionMoveKeyManagement
		} else {
			d.Actions |= ActionDiscardKeyManagement
		}
	}

	d.ba = mh.BindingAck{Status: st, Sequence: r.seq, Lifetime: granted}
	if k {
		d.ba.Flags = mh.BAFlagK
	}
	if c.cfg.RefreshAdvice > 0 && granted >= 2 {
		iv := min(mh.LifetimeOf(c.cfg.RefreshAdvice), granted-1)
		if iv > 0 {
			d.baOptsN += uint8(len(mh.BindingRefreshAdvice{Interval: iv}.Append(d.baOpts[d.baOptsN:d.baOptsN])))
		}
	}
	c.acceptDSMIP(&d, e, r, oldIPv4)

	c.reschedule(s, e)
	s.baStatus[st]++
	d.Actions |= ActionSendBA
	d.Binding = c.bindingOf(e, r)
	return d
}

// bindingOf is snapshot(e) for an entry just written from r: it takes the
// addresses and identity from r, sparing the entry's colder cache line.
func (c *BindingCache) bindingOf(e *entry, r *request) Binding {
	sw := e.switching()
	b := Binding{
		HoA:       r.hoa,
		CoA:       r.coa,
		HA:        r.ip.Dst,
		Identity:  r.ctx.Identity,
		State:     e.state,
		Sequence:  e.seq,
		Flags:     e.flags,
		Expires:   c.at(e.expires),
		InTunnel:  e.has(bitInTunnel),
		Switching: sw != nil && sw.sent,
	}
	if x := e.dsmip(); x != nil {
		b.IPv4HoA, b.UDPSource = x.ipv4HoA, x.udp
	}
	return b
}

// acceptDSMIP handles the IPv4 home address and NAT detection of a
// DSMIPv6 registration (RFC 5555 §4.2, §4.5).
func (c *BindingCache) acceptDSMIP(d *Decision, e *entry, r *request, oldIPv4 netip.Addr) {
	var newIPv4 netip.Addr
	if r.hasIPv4 {
		ack := ipv4Ack(r)
		d.baOptsN += uint8(len(ack.Append(d.baOpts[d.baOptsN:d.baOptsN])))
		if ack.Status.Accepted() {
			newIPv4 = ack.Addr
		}
	}
	udp := r.ctx.UDPSource
	if udp.IsValid() {
		nat := mh.NATDetection{RefreshTime: mh.NATNoKeepalives}
		if udp.Addr().Unmap() != r.coa.Unmap() {
			nat.RefreshTime = uint32(c.cfg.NATKeepalive / time.Second)
		}
		d.baOptsN += uint8(len(nat.Append(d.baOpts[d.baOptsN:d.baOptsN])))
	}
	switch {
	case newIPv4.IsValid() && newIPv4 != oldIPv4:
		d.Actions |= ActionDefendIPv4HoA
	case !newIPv4.IsValid() && oldIPv4.IsValid():
		d.Actions |= ActionStopDefendingIPv4HoA
	}
	if newIPv4.IsValid() || udp.IsValid() {
		e.setDSMIP(&dsmip{ipv4HoA: newIPv4, udp: udp})
	} else {
		e.setDSMIP(nil)
	}
}

// ipv4Ack decides on the IPv4 Home Address option of a registration
// (RFC 5555 §3.1.1, §4.5): a static address must be the one the identity
// owns; 0.0.0.0 is given that address; prefixes are not delegated.
func ipv4Ack(r *request) mh.IPv4AddressAck {
	req, own := r.ipv4HoA, r.ctx.AuthorizedIPv4HoA
	switch {
	case req.PrefixLen == 0:
		return mh.IPv4AddressAck{Status: mh.IPv4AckUnspecified, Addr: req.Addr}
	case req.P:
		return mh.IPv4AddressAck{Status: mh.IPv4AckPrefixUnauthorized, Addr: req.Addr}
	case req.Addr.IsUnspecified() && own.Is4():
		return mh.IPv4AddressAck{Status: mh.IPv4AckSuccess, PrefixLen: 32, Addr: own}
	case req.Addr.IsUnspecified():
		return mh.IPv4AddressAck{Status: mh.IPv4AckDynamicNotAvailable, Addr: req.Addr}
	case req.Addr == own:
		return mh.IPv4AddressAck{Status: mh.IPv4AckSuccess, PrefixLen: 32, Addr: own}
	}
	return mh.IPv4AddressAck{Status: mh.IPv4AckIncorrectHoA, Addr: req.Addr}
}

// deregister processes a Binding Update with lifetime zero
// (RFC 6275 §10.3.2): the entry stays, invalid, for DeleteDelay.
func (c *BindingCache) deregister(s *shard, e *entry, r *request, t int64) Decision {
	if e == nil || e.state != StateValid {
		return c.rejectStoring(s, r, mh.StatusNotHomeAgentForThisMN, e)
	}
	d := Decision{
		Verdict:            Accepted,
		Status:             mh.StatusAccepted,
		Reply:              replyTo(r.ip),
		PreviousCoA:        e.careOf(),
		SwitchAcknowledged: e.switching() != nil,
		Actions:            ActionStopDefending | ActionRemoveRoute,
	}
	if e.flags&mh.BUFlagL != 0 {
		d.Actions |= ActionStopDefendingLinkLocal
	}
	if x := e.dsmip(); x != nil && x.ipv4HoA.IsValid() {
		d.Actions |= ActionStopDefendingIPv4HoA
	}
	d.ba = mh.BindingAck{Status: mh.StatusAccepted, Sequence: r.seq}
	if r.flags&mh.BUFlagK != 0 && c.cfg.KeyManagementMobility {
		d.ba.Flags = mh.BAFlagK
		d.Actions |= ActionMoveKeyManagement
	} else {
		d.Actions |= ActionDiscardKeyManagement
	}
	e.state = StateDeregistered
	e.seq, e.flags = r.seq, r.flags
	e.setCareOf(r.hoa) // back home: the home address is the care-of address
	e.x = nil
	e.expires = t + int64(c.cfg.DeleteDelay)
	c.reschedule(s, e)
	s.baStatus[mh.StatusAccepted]++
	d.Actions |= ActionSendBA
	d.Binding = c.snapshot(e)
	return d
}

// CompleteDAD reports the result of the Duplicate Address Detection a
// Pending decision asked for (for the home address, and the link-local
// address too if ActionDADLinkLocal was set). On success the binding is
// accepted as its latest Binding Update asked; on failure it is rejected
// with status 134 (RFC 6275 §10.3.1). ok is false if no DAD was pending
// for hoa (it timed out, or a deregistration cancelled it).
func (c *BindingCache) CompleteDAD(now time.Time, hoa netip.Addr, unique bool) (d Decision, ok bool) {
	key := hoa.As16()
	s := c.shardOf(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if e == nil || e.state != StateDADPending {
		return Decision{}, false
	}
	r := e.pending()
	if !unique {
		c.remove(s, e)
		return c.reject(s, r, mh.StatusDADFailed, nil), true
	}
	d = c.register(s, e, r, now, true)
	if d.Verdict != Accepted {
		c.remove(s, e) // the prefix went away while DAD ran
		d.Binding = Binding{}
	}
	return d, true
}

// Lookup returns the binding of a home address.
func (c *BindingCache) Lookup(hoa netip.Addr) (Binding, bool) {
	key := hoa.As16()
	s := c.shardOf(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if e == nil {
		return Binding{}, false
	}
	return c.snapshot(e), true
}

// Len returns the number of entries, in every state.
func (c *BindingCache) Len() int { return int(c.entries.Load()) }

// Range calls f for every entry, shard by shard, until f returns false.
// f runs without locks held, on a copy.
func (c *BindingCache) Range(f func(Binding) bool) {
	var batch []Binding
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		batch = batch[:0]
		for _, e := range s.m {
			batch = append(batch, c.snapshot(e))
		}
		s.mu.Unlock()
		for _, b := range batch {
			if !f(b) {
				return
			}
		}
	}
}

// Delete removes the binding of hoa at once, as an operator or the
// handover logic would (not a protocol event), and returns it with the
// actions that undo it.
func (c *BindingCache) Delete(hoa netip.Addr) (Binding, Action, bool) {
	key := hoa.As16()
	s := c.shardOf(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if e == nil {
		return Binding{}, 0, false
	}
	b := c.snapshot(e)
	c.remove(s, e)
	if e.state != StateValid {
		return b, 0, true
	}
	return b, undoActions(e), true
}

// undoActions are the actions that end a valid binding.
func undoActions(e *entry) Action {
	a := ActionStopDefending | ActionRemoveRoute
	if e.flags&mh.BUFlagL != 0 {
		a |= ActionStopDefendingLinkLocal
	}
	if x := e.dsmip(); x != nil && x.ipv4HoA.IsValid() {
		a |= ActionStopDefendingIPv4HoA
	}
	return a
}

func (c *BindingCache) snapshot(e *entry) Binding {
	sw := e.switching()
	b := Binding{
		HoA:       netip.AddrFrom16(e.hoa),
		CoA:       e.careOf(),
		HA:        c.homeAgents.addr(e.ha),
		Identity:  e.identity,
		State:     e.state,
		Sequence:  e.seq,
		Flags:     e.flags,
		Expires:   c.at(e.expires),
		InTunnel:  e.has(bitInTunnel),
		Switching: sw != nil && sw.sent,
	}
	if x := e.dsmip(); x != nil {
		b.IPv4HoA, b.UDPSource = x.ipv4HoA, x.udp
	}
	return b
}

// EventKind says what a timer of the binding cache produced.
type EventKind uint8

// Event kinds.
const (
	// EventExpired: a binding's lifetime ended and it was removed; carry
	// out Event.Actions (stop defending, remove the route).
	EventExpired EventKind = iota + 1
	// EventForgotten: a deregistered entry reached MAX_DELETE_BCE_TIMEOUT,
	// or a DAD that never completed timed out; the entry is gone. Nothing
	// to do.
	EventForgotten
	// EventSendHAS: send Event.Send, a Home Agent Switch (first
	// transmission or retransmission, RFC 5142 §5.2).
	EventSendHAS
	// EventSendBRR: send Event.Send, a Binding Refresh Request
	// (RefreshRequestBefore).
	EventSendBRR
)

// String returns the kind's name.
func (k EventKind) String() string {
	switch k {
	case EventExpired:
		return "expired"
	case EventForgotten:
		return "forgotten"
	case EventSendHAS:
		return "send-has"
	case EventSendBRR:
		return "send-brr"
	}
	return fmt.Sprintf("EventKind(%d)", uint8(k))
}

// Event is something a binding cache timer produced.
type Event struct {
	Kind    EventKind
	Binding Binding
	Actions Action
	Send    Outgoing // for EventSendHAS and EventSendBRR
}

// Tick runs the timers due at now: expiries, removals of deregistered
// entries, DAD timeouts, Home Agent Switch transmissions (first ones at the
// configured global rate) and Binding Refresh Requests. It appends what
// happened to dst and returns it.
func (c *BindingCache) Tick(now time.Time, dst []Event) []Event {
	dst = c.sendQueuedSwitches(now, dst)
	t := c.since(now)
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for len(s.h) > 0 && s.h[0].at <= t {
			e := s.h[0].e
			if d := c.deadline(e); d > t {
				s.h.set(e, d) // the deadline moved on: re-arm
				continue
			}
			dst = c.fire(s, e, t, dst)
		}
		s.mu.Unlock()
	}
	return dst
}

// fire runs the due timer of e.
func (c *BindingCache) fire(s *shard, e *entry, t int64, dst []Event) []Event {
	switch {
	case e.state != StateValid:
		b := c.snapshot(e)
		c.remove(s, e)
		return append(dst, Event{Kind: EventForgotten, Binding: b})
	case e.expires <= t:
		b := c.snapshot(e)
		c.remove(s, e)
		return append(dst, Event{Kind: EventExpired, Binding: b, Actions: undoActions(e)})
	}
	if sw := e.switching(); sw != nil && sw.sent && !sw.stopped && sw.next <= t {
		sw.timeout = min(2*sw.timeout, c.cfg.HASMaxTimeout)
		sw.next = t + int64(sw.timeout)
		dst = append(dst, Event{Kind: EventSendHAS, Binding: c.snapshot(e), Send: c.homeAgentSwitch(e, t)})
	}
	if c.cfg.RefreshRequestBefore > 0 && !e.has(bitBRRSent) && e.expires-int64(c.cfg.RefreshRequestBefore) <= t {
		e.set(bitBRRSent, true)
		dst = append(dst, Event{Kind: EventSendBRR, Binding: c.snapshot(e),
			Send: Outgoing{IP: c.toMN(e), Message: mh.BindingRefreshRequest{}}})
	}
	s.h.set(e, c.deadline(e))
	return dst
}

// toMN is the addressing of a message from the home agent to the mobile
// node of e: through the tunnel to the home address, or natively to the
// care-of address with a type 2 routing header.
func (c *BindingCache) toMN(e *entry) mh.IPv6 {
	hoa, coa := netip.AddrFrom16(e.hoa), e.careOf()
	ip := mh.IPv6{Src: c.homeAgents.addr(e.ha), Dst: hoa}
	if !e.has(bitInTunnel) && coa.Is6() && coa != hoa {
		ip.Dst, ip.RH2 = coa, hoa
	}
	return ip
}

// RefreshRequest returns a Binding Refresh Request for the mobile node of
// hoa (RFC 6275 §6.1.2), which it answers with a Binding Update.
func (c *BindingCache) RefreshRequest(hoa netip.Addr) (Outgoing, error) {
	key := hoa.As16()
	s := c.shardOf(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if e == nil || e.state != StateValid {
		return Outgoing{}, fmt.Errorf("%w: %v", ErrNoBinding, hoa)
	}
	return Outgoing{IP: c.toMN(e), Message: mh.BindingRefreshRequest{}}, nil
}

// NextDeadline returns the time of the earliest timer, or the zero time
// if there is none. It may be early (a refreshed binding's timer is
// re-armed when it fires): a Tick then finds nothing to do.
func (c *BindingCache) NextDeadline(now time.Time) time.Time {
	next, ok := c.switches.nextSend(now)
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		if len(s.h) > 0 {
			if d := c.at(s.h[0].at); !ok || d.Before(next) {
				next, ok = d, true
			}
		}
		s.mu.Unlock()
	}
	if !ok {
		return time.Time{}
	}
	return next
}

// Stats counts what the cache decided.
type Stats struct {
	Bindings int                 // entries in the cache
	BAStatus [256]uint64         // Binding Acknowledgements sent, by status
	Drops    [dropReasons]uint64 // discarded messages, by DropReason
}

// Stats returns the counters.
func (c *BindingCache) Stats() Stats {
	st := Stats{Bindings: c.Len()}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for j, n := range s.baStatus {
			st.BAStatus[j] += n
		}
		s.mu.Unlock()
	}
	for i := range st.Drops {
		st.Drops[i] = c.drops[i].Load()
	}
	return st
}

// switchState is the Home Agent Switch in progress for a binding.
type switchState struct {
	alternates []netip.Addr
	grace      bool  // send a Binding Refresh Advice with the time left
	sent       bool  // the first HAS went out
	stopped    bool  // the mobile node does not understand HAS: no retransmissions
	next       int64 // next retransmission
	timeout    time.Duration
}

// switcher is the queue of mobile nodes waiting to be told to switch and
// the global rate at which they are told (RFC 5142 §7).
type switcher struct {
	mu     sync.Mutex
	queue  [][16]byte
	bucket tokenBucket
}

func (w *switcher) nextSend(now time.Time) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		return time.Time{}, false
	}
	return w.bucket.next(now), true
}

// Switch asks the mobile node of hoa to move to another home agent with a
// Home Agent Switch (RFC 5142): alternates lists the home agents, most
// preferred first (empty: the mobile node runs home agent discovery). A
// positive grace shortens the binding to at most that long and is
// advertised in a Binding Refresh Advice. The message goes out from Tick,
// at the global HASRate, and is retransmitted after InitialHASwitchTimeout
// (or half the grace, if less), doubling up to MaxHASwitchTimeout, until
// the mobile node deregisters or the binding ends. Once it is sent,
// lifetime extensions are refused with status 129.
func (c *BindingCache) Switch(now time.Time, hoa netip.Addr, alternates []netip.Addr, grace time.Duration) error {
	key := hoa.As16()
	s := c.shardOf(key)
	s.mu.Lock()
	e := s.m[key]
	if e == nil || e.state != StateValid {
		s.mu.Unlock()
		return fmt.Errorf("%w: %v", ErrNoBinding, hoa)
	}
	sw := e.switching()
	queue := sw == nil
	if queue {
		sw = &switchState{}
		e.setSwitching(sw)
	}
	sw.alternates = slices.Clone(alternates)
	sw.grace = grace > 0
	if t := c.since(now) + int64(grace); grace > 0 && t < e.expires {
		e.expires = t
		c.reschedule(s, e)
	}
	s.mu.Unlock()
	if queue {
		c.switches.mu.Lock()
		c.switches.queue = append(c.switches.queue, key)
		c.switches.mu.Unlock()
	}
	return nil
}

// sendQueuedSwitches sends the first Home Agent Switch to as many queued
// mobile nodes as the rate allows.
func (c *BindingCache) sendQueuedSwitches(now time.Time, dst []Event) []Event {
	t := c.since(now)
	for {
		c.switches.mu.Lock()
		if len(c.switches.queue) == 0 || !c.switches.bucket.allow(now) {
			c.switches.mu.Unlock()
			return dst
		}
		key := c.switches.queue[0]
		c.switches.queue[0] = [16]byte{}
		c.switches.queue = c.switches.queue[1:]
		c.switches.mu.Unlock()

		s := c.shardOf(key)
		s.mu.Lock()
		e := s.m[key]
		if e == nil || e.state != StateValid || e.switching() == nil || e.switching().sent {
			s.mu.Unlock()
			c.switches.mu.Lock()
			c.switches.bucket.tokens++ // nobody was told: give the token back
			c.switches.mu.Unlock()
			continue
		}
		sw := e.switching()
		sw.sent, sw.timeout = true, c.cfg.HASInitialTimeout
		first := c.cfg.HASInitialTimeout
		if sw.grace {
			first = min(first, time.Duration(e.expires-t)/2)
		}
		sw.next = t + int64(first)
		dst = append(dst, Event{Kind: EventSendHAS, Binding: c.snapshot(e), Send: c.homeAgentSwitch(e, t)})
		c.reschedule(s, e)
		s.mu.Unlock()
	}
}

func (c *BindingCache) homeAgentSwitch(e *entry, t int64) Outgoing {
	sw := e.switching()
	has := mh.HomeAgentSwitch{Addresses: sw.alternates}
	if sw.grace {
		has.Options = mh.BindingRefreshAdvice{Interval: mh.LifetimeOf(time.Duration(e.expires - t))}.Append(nil)
	}
	return Outgoing{IP: c.toMN(e), Message: has}
}

// switchRefused records that the mobile node of hoa answered a Home Agent
// Switch with a Binding Error (it does not support it, RFC 5142 §5.3):
// retransmissions stop, extensions stay refused.
func (c *BindingCache) switchRefused(hoa netip.Addr) bool {
	key := hoa.As16()
	s := c.shardOf(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if e == nil {
		return false
	}
	sw := e.switching()
	if sw == nil || !sw.sent || sw.stopped {
		return false
	}
	sw.stopped = true
	c.reschedule(s, e)
	return true
}
