package mip6

import (
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mip6ha/mip6ha/mip6/mh"
)

// HomeAgent is the Mobility Header endpoint of a home agent. It applies
// the receive rules of RFC 6275 §9.2 to whole IPv6 packets, hands Binding
// Updates to its binding cache (whose methods it has: Tick, Switch,
// CompleteDAD, Lookup ...), answers unknown MH Types with rate-limited
// Binding Errors (RFC 6275 §9.3.3), and notes a mobile node's Binding
// Error refusing a Home Agent Switch (RFC 5142 §5.3).
//
// It is safe for concurrent use.
type HomeAgent struct {
	*BindingCache

	beMu     sync.Mutex
	be       tokenBucket
	beSent   atomic.Uint64
	ppSent   atomic.Uint64
	received [256]atomic.Uint64
}

// NewHomeAgent returns a home agent with an empty binding cache.
func NewHomeAgent(cfg HomeAgentConfig, now time.Time) (*HomeAgent, error) {
	c, err := NewBindingCache(cfg, now)
	if err != nil {
		return nil, err
	}
	return &HomeAgent{BindingCache: c, be: newTokenBucket(c.cfg.BindingErrorRate)}, nil
}

// Result is what became of a received packet.
type Result struct {
	// Type is the MH Type, when the Mobility Header could be framed.
	Type mh.Type
	// Drop says why the packet was discarded (DropNone: it was handled).
	Drop DropReason
	// Decision is the outcome of a Binding Update (Type is
	// TypeBindingUpdate and the message parsed).
	Decision Decision
	// Send is a message to send back, a Binding Error, when Send.Message
	// is not nil.
	Send Outgoing
	// ParamProblem, when not negative, is the offset of the erroneous
	// field (RFC 6275 §9.2: a bad Payload Proto or Header Len), and
	// ICMP, unless the source was not unicast or the rate limit of answers
	// to bad messages (shared with Binding Errors) held it back, is the
	// ICMPv6 Parameter Problem, code 0, with that Pointer, to send to the
	// packet's source: a whole IPv6 packet.
	ParamProblem int
	ICMP         []byte
	// SwitchRefused says the packet was a Binding Error with status 2 from
	// a mobile node that was sent a Home Agent Switch: retransmissions
	// stopped.
	SwitchRefused bool
}

// Receive processes an IPv6 packet carrying a Mobility Header addressed to
// this home agent (for the all-in-tunnel form, the inner packet after ESP
// decapsulation, with ctx.InTunnel set).
func (ha *HomeAgent) Receive(now time.Time, ctx Context, pkt []byte) Result {
	res := Result{ParamProblem: -1}
	ip, h, err := mh.ParsePacket(pkt)
	if h != nil {
		res.Type = h.Type()
	}
	if err != nil {
		var pe *mh.ParseError
		switch {
		case errors.Is(err, mh.ErrChecksum):
			res.Drop = DropChecksum
		case errors.Is(err, mh.ErrUnknownType):
			res.Drop = DropUnknownType
			res.Send = ha.bindingError(now, ip, mh.BEUnrecognizedType)
		case errors.As(err, &pe) && (pe.Err == mh.ErrPayloadProto || pe.Err == mh.ErrHeaderLen):
			res.Drop, res.ParamProblem = DropParameterProblem, pe.Offset
			res.ICMP = ha.parameterProblem(now, ip, pe.Offset, pkt)
		default:
			res.Drop = DropMalformed
		}
		ha.drops[res.Drop].Add(1)
		return res
	}
	ha.received[h.Type()].Add(1)
	switch h.Type() {
	case mh.TypeBindingUpdate:
		bu, err := mh.ParseBindingUpdate(h)
		if err != nil {
			res.Drop = DropMalformed
			break
		}
		res.Decision = ha.Update(now, ctx, ip, bu)
		res.Drop = res.Decision.Drop
		return res // Update counted its own drops
	case mh.TypeBindingError:
		be, err := mh.ParseBindingError(h)
		if err != nil {
			res.Drop = DropMalformed
			break
		}
		// The Binding Error came over the SA of the mobile node whose home
		// address is AuthorizedHoA; its own HoA field is unspecified
		// because a Home Agent Switch carries no Home Address option.
		if be.Status == mh.BEUnrecognizedType && ctx.AuthorizedHoA.IsValid() {
			res.SwitchRefused = ha.switchRefused(ctx.AuthorizedHoA)
		}
		return res
	default:
		res.Drop = DropNotForHomeAgent
	}
	ha.drops[res.Drop].Add(1)
	return res
}

// bindingError builds a Binding Error for the offending packet ip: to its
// source if that is unicast, carrying its Home Address option's address or
// the unspecified address (RFC 6275 §9.3.3), if the rate limit allows.
func (ha *HomeAgent) bindingError(now time.Time, ip mh.IPv6, st mh.BEStatus) Outgoing {
	if !unicast(ip.Src) || !ha.allowAnswer(now) {
		return Outgoing{}
	}
	ha.beSent.Add(1)
	hoa := ip.HAO
	if !hoa.IsValid() {
		hoa = netip.IPv6Unspecified()
	}
	return Outgoing{
		IP:      mh.IPv6{Src: ip.Dst, Dst: ip.Src},
		Message: mh.BindingError{Status: st, HoA: hoa},
	}
}

// allowAnswer takes a token of the rate limit that Binding Errors and
// ICMPv6 Parameter Problems share.
func (ha *HomeAgent) allowAnswer(now time.Time) bool {
	ha.beMu.Lock()
	defer ha.beMu.Unlock()
	return ha.be.allow(now)
}

// parameterProblem builds the ICMPv6 Parameter Problem, code 0, that RFC
// 6275 §9.2 asks for, "directly to the Source Address of the packet"
// (no binding cache information used): from the packet's destination to
// its source, if both are unicast (RFC 4443 §2.4(e)) and the rate limit
// allows (§2.4(f)).
func (ha *HomeAgent) parameterProblem(now time.Time, ip mh.IPv6, pointer int, pkt []byte) []byte {
	if !unicast(ip.Src) || !unicast(ip.Dst) || !ha.allowAnswer(now) {
		return nil
	}
	ha.ppSent.Add(1)
	return mh.AppendParameterProblem(nil, ip.Dst, ip.Src, mh.ParamProblemErroneousField, uint32(pointer), pkt)
}

// IPv6 Next Header values that may follow a Home Address option without a
// binding (RFC 6275 §9.3.1).
const (
	protoESP = 50
	protoAH  = 51
)

// CheckHomeAddressOption applies RFC 6275 §9.3.1 to a packet from src that
// carried a Home Address option with hoa, followed by the upper-layer
// protocol nextHeader. A home address that is not unicast routable fails.
// ESP, AH and Mobility Header packets pass (the first Binding Update
// arrives that way, RFC 6275 §10.3.1); others need a valid binding of hoa
// whose care-of address is src. When the packet must be dropped, ok is
// false and, if the Binding Error rate allows, be is a Binding Error with
// status 1 to send to src (RFC 6275 §9.3.3).
func (ha *HomeAgent) CheckHomeAddressOption(now time.Time, src, dst, hoa netip.Addr, nextHeader uint8) (ok bool, be Outgoing) {
	if !routable(hoa) {
		return false, Outgoing{}
	}
	switch nextHeader {
	case protoESP, protoAH, mh.ProtoMH:
		return true, Outgoing{}
	}
	if b, found := ha.Lookup(hoa); found && b.State == StateValid && b.CoA == src {
		return true, Outgoing{}
	}
	return false, ha.bindingError(now, mh.IPv6{Src: src, Dst: dst, HAO: hoa}, mh.BEUnknownBinding)
}

// HomeAgentStats adds the packet counters of a HomeAgent to the cache's.
type HomeAgentStats struct {
	Stats
	Received          [256]uint64 // well-formed messages received, by MH Type
	BindingErrorsSent uint64
	// ParameterProblemsSent counts the ICMPv6 Parameter Problems built.
	ParameterProblemsSent uint64
}

// Stats returns the counters.
func (ha *HomeAgent) Stats() HomeAgentStats {
	st := HomeAgentStats{Stats: ha.BindingCache.Stats(), BindingErrorsSent: ha.beSent.Load(), ParameterProblemsSent: ha.ppSent.Load()}
	for i := range st.Received {
		st.Received[i] = ha.received[i].Load()
	}
	return st
}
