package ike

import (
	"fmt"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// SPIs are the two SPIs that name an IKE SA (RFC 7296 §3.1).
type SPIs struct {
	I, R uint64
}

// String formats the SPIs as tshark and strongSwan do: "i_spi_r_spi" in hex.
func (s SPIs) String() string { return fmt.Sprintf("%016x_%016x", s.I, s.R) }

// Event is something that happened to an SA, reported in Ready.Events. The
// concrete types below are the whole set; a runtime switches on them and
// turns them into log lines, spans, metrics and table updates. Events carry
// no key material.
type Event interface {
	// IKESPIs returns the SPIs of the IKE SA the event concerns.
	IKESPIs() SPIs
}

// IKEUp reports an IKE SA whose IKE_AUTH exchange completed: both sides are
// authenticated.
type IKEUp struct {
	SPIs SPIs
	// Initiator says we initiated the IKE SA.
	Initiator bool
	// Path is where the IKE SA runs now (after any switch to the NAT-T
	// port); NATT says it runs on the NAT-T port.
	Path Path
	NATT bool
	// LocalID and PeerID are the authenticated identities.
	LocalID, PeerID ID
	// Suite names the IKE SA's transforms, e.g.
	// "AES-GCM-16-256/NONE/PRF_HMAC_SHA2_256/Curve25519".
	Suite string
	// RedirectSupported says the peer sent REDIRECT_SUPPORTED or
	// REDIRECTED_FROM in IKE_SA_INIT (RFC 5685 §3): only then may we
	// redirect it.
	RedirectSupported bool
	// RedirectExtensions says the peer also announced the project's
	// private-use NotifyRedirectPortSupported: it follows gateway
	// identities with a port and presents handover tickets.
	RedirectExtensions bool
	// RedirectedFrom is the gateway the peer says redirected it (REDIRECTED_FROM),
	// for logs and accounting only: it is not authenticated (RFC 5685 §11).
	RedirectedFrom *wire.GatewayIdentity
	// TraceContext is the trace context (a W3C traceparent) the peer
	// presented in IKE_AUTH (the project's private-use NotifyTraceContext,
	// responder only), nil if none.
	TraceContext []byte
}

// IKEDown reports that an IKE SA and all its CHILD_SAs are gone. The SA
// is Done: the runtime removes it from its tables (every local SPI it
// was routed by) and releases what Assignment names.
type IKEDown struct {
	SPIs   SPIs
	Reason DownReason
	// Err gives details; it wraps one of this package's sentinel errors and,
	// where a notify caused or announced the end, a *NotifyError.
	Err error
	// PeerID is the peer's identity, if it was authenticated.
	PeerID ID
	// Assignment is what the responder assigned through the Configuration
	// payload, to give back to the pool (nil if nothing).
	Assignment *Assignment
}

// IKERekeyed reports that the IKE SA was rekeyed (RFC 7296 §2.18): New
// replaces Old and inherits every CHILD_SA. The runtime routes LocalSPI to
// the same SA from now on; the old one stays routed until IKERetired. In a
// simultaneous rekey (RFC 7296 §2.8.2) both new IKE SAs are reported; the
// redundant one is retired soon after.
type IKERekeyed struct {
	Old, New SPIs
	// Initiator says we initiated the rekey; we are then the original
	// initiator of the new IKE SA.
	Initiator bool
	// LocalSPI is our SPI of New, the one to route.
	LocalSPI uint64
}

// IKESPIs returns New.
func (e IKERekeyed) IKESPIs() SPIs { return e.New }

// IKERetired reports that a replaced or redundant IKE SA of this SA is
// deleted: the runtime stops routing its local SPI.
type IKERetired struct {
	SPIs SPIs
	// LocalSPI is the SPI to stop routing (ours of the pair).
	LocalSPI uint64
}

// AuthFailed reports a failed authentication in IKE_AUTH: we rejected the
// peer (ByPeer false: the AUTH or certificate did not verify, or the PAD
// has no entry for the identity) or the peer rejected us (ByPeer true:
// AUTHENTICATION_FAILED). IKEDown follows.
type AuthFailed struct {
	SPIs SPIs
	// Peer is the identity the peer claimed (zero if it did not get that
	// far).
	Peer   ID
	ByPeer bool
	Err    error
}

// AddressAssigned reports inner addresses assigned through the
// Configuration payload (RFC 7296 §2.19, RFC 5026): on the initiator the
// addresses the responder gave us (ToUs true), on the responder what our
// AddressAssigner gave the peer.
type AddressAssigned struct {
	SPIs       SPIs
	Peer       ID
	Assignment Assignment
	ToUs       bool
}

// ChildInfo describes a CHILD_SA without its keys.
type ChildInfo struct {
	InSPI, OutSPI     uint32
	Mode              Mode
	Encap             bool
	Path              Path
	Transform         string
	LocalTS, RemoteTS []wire.TrafficSelector
}

// ChildUp reports a new CHILD_SA, installed by the ChildOps of the same
// Ready.
type ChildUp struct {
	SPIs  SPIs
	Child ChildInfo
}

// ChildRekeyed reports that New replaced Old (RFC 7296 §2.8). Old stays
// installed inbound until ChildDown reports it removed.
type ChildRekeyed struct {
	SPIs     SPIs
	Old, New ChildInfo
}

// ChildDown reports a CHILD_SA removed by the ChildOps of the same Ready.
type ChildDown struct {
	SPIs   SPIs
	Child  ChildInfo
	Reason DownReason
}

// ChildFailed reports a CHILD_SA that could not be created or rekeyed: the
// peer answered (or we answered) with the error Notify. The IKE SA stays up
// unless IKEDown follows.
type ChildFailed struct {
	SPIs   SPIs
	Notify wire.NotifyType
	// ByPeer says the peer refused; otherwise we did.
	ByPeer bool
	Err    error
}

// NATDetected reports the outcome of NAT detection in IKE_SA_INIT (RFC 7296
// §2.23) when a NAT was found or encapsulation is forced: the IKE SA then
// runs on the NAT-T port and ESP travels in UDP.
type NATDetected struct {
	SPIs SPIs
	// LocalBehindNAT: the peer's NAT_DETECTION_DESTINATION_IP did not match
	// our address: we are behind a NAT and send keepalives.
	LocalBehindNAT bool
	// PeerBehindNAT: no NAT_DETECTION_SOURCE_IP of the peer matched its
	// address (a real NAT, or a peer forcing encapsulation).
	PeerBehindNAT bool
	// Forced: our configuration forces UDP encapsulation.
	Forced bool
	// Path is the path after the switch to the NAT-T port.
	Path Path
}

// PeerMoved reports that the IKE SA now talks to a new peer address or
// port, learnt from an authenticated message (the peer's NAT mapping
// changed) or set by UpdatePeer. UpdateEndpoints ChildOps come with it.
type PeerMoved struct {
	SPIs     SPIs
	Old, New Path
}

// RedirectReceived reports a REDIRECT we accepted (RFC 5685): in an
// IKE_SA_INIT response (nonce checked), in an IKE_AUTH response (after the
// gateway's AUTH verified) or in an INFORMATIONAL request. The caller sets
// up an IKE SA with Target (REDIRECTED_FROM naming the redirecting gateway,
// see Config.RedirectedFrom); the SA deletes itself (IKE_SA_INIT, IKE_AUTH)
// or stays until the caller deletes it (INFORMATIONAL: make-before-break).
type RedirectReceived struct {
	SPIs     SPIs
	Exchange wire.ExchangeType
	Target   RedirectTarget
	// From is the gateway that redirected us: the address we sent to
	// (which is the anycast address if we used one). It goes in
	// REDIRECTED_FROM at the target.
	From wire.GatewayIdentity
}

// RedirectSent reports a REDIRECT we sent: in IKE_AUTH (the SA is deleted
// after Config.RedirectGrace unless the peer deletes it first) or in an
// INFORMATIONAL request (Redirect).
type RedirectSent struct {
	SPIs     SPIs
	Exchange wire.ExchangeType
	Target   RedirectTarget
	Peer     ID
}

// LivenessFailed reports a peer that answered none of the retransmissions
// of a request (RFC 7296 §2.4). IKEDown follows.
type LivenessFailed struct {
	SPIs SPIs
}

// InitialContact reports an authenticated INITIAL_CONTACT from Peer (RFC
// 7296 §2.4): the runtime should Close every other IKE SA it holds with
// that identity.
type InitialContact struct {
	SPIs SPIs
	Peer ID
}

// ExchangeFailed reports a request of ours that the peer refused with an
// error Notify (e.g. TEMPORARY_FAILURE to a rekey, RFC 7296 §2.25) or that
// timed out, when the IKE SA survives it.
type ExchangeFailed struct {
	SPIs     SPIs
	Exchange wire.ExchangeType
	Notify   wire.NotifyType
	Err      error
}

// IKESPIs implements Event.
func (e IKEUp) IKESPIs() SPIs { return e.SPIs }

// IKESPIs implements Event.
func (e IKEDown) IKESPIs() SPIs { return e.SPIs }

// IKESPIs implements Event.
func (e IKERetired) IKESPIs() SPIs { return e.SPIs }

// IKESPIs implements Event.
func (e AuthFailed) IKESPIs() SPIs { return e.SPIs }

// IKESPIs implements Event.
func (e AddressAssigned) IKESPIs() SPIs { return e.SPIs }

// IKESPIs implements Event.
func (e ChildUp) IKESPIs() SPIs { return e.SPIs }

// IKESPIs implements Event.
func (e ChildRekeyed) IKESPIs() SPIs { return e.SPIs }

// IKESPIs implements Event.
func (e ChildDown) IKESPIs() SPIs { return e.SPIs }

// IKESPIs implements Event.
func (e ChildFailed) IKESPIs() SPIs { return e.SPIs }

// IKESPIs implements Event.
func (e NATDetected) IKESPIs() SPIs { return e.SPIs }

// IKESPIs implements Event.
func (e PeerMoved) IKESPIs() SPIs { return e.SPIs }

// IKESPIs implements Event.
func (e RedirectReceived) IKESPIs() SPIs { return e.SPIs }

// IKESPIs implements Event.
func (e RedirectSent) IKESPIs() SPIs { return e.SPIs }

// IKESPIs implements Event.
func (e LivenessFailed) IKESPIs() SPIs { return e.SPIs }

// IKESPIs implements Event.
func (e InitialContact) IKESPIs() SPIs { return e.SPIs }

// IKESPIs implements Event.
func (e ExchangeFailed) IKESPIs() SPIs { return e.SPIs }

// DownReason says why an IKE SA or a CHILD_SA ended.
type DownReason uint8

// Reasons for IKEDown and ChildDown.
const (
	// DownDeleted: we deleted it (Delete, DeleteChild, or the delete that
	// ends a rekey).
	DownDeleted DownReason = iota + 1
	// DownDeletedByPeer: the peer sent a Delete payload for it.
	DownDeletedByPeer
	// DownRekeyed: a CHILD_SA replaced by a rekey was removed.
	DownRekeyed
	// DownTimeout: a request of ours was retransmitted until the give-up
	// (the peer is dead, RFC 7296 §2.4).
	DownTimeout
	// DownHalfOpenTimeout: the responder's IKE SA never completed IKE_AUTH.
	DownHalfOpenTimeout
	// DownAuthFailed: authentication failed in either direction.
	DownAuthFailed
	// DownNegotiationFailed: IKE_SA_INIT failed (no proposal chosen, bad
	// key exchange, an error notify, too many COOKIE or INVALID_KE rounds).
	DownNegotiationFailed
	// DownRedirected: the IKE SA ended because of a REDIRECT (RFC 5685).
	DownRedirected
	// DownClosed: the runtime called Close (e.g. after INITIAL_CONTACT).
	DownClosed
	// DownProtocolError: the peer broke the protocol in a way that leaves
	// the IKE SA unusable (e.g. an invalid key exchange value in an IKE
	// SA rekey, RFC 6989 §2.5).
	DownProtocolError
)

// String returns the reason as a short label, e.g. "deleted-by-peer".
func (r DownReason) String() string {
	switch r {
	case DownDeleted:
		return "deleted"
	case DownDeletedByPeer:
		return "deleted-by-peer"
	case DownRekeyed:
		return "rekeyed"
	case DownTimeout:
		return "timeout"
	case DownHalfOpenTimeout:
		return "half-open-timeout"
	case DownAuthFailed:
		return "auth-failed"
	case DownNegotiationFailed:
		return "negotiation-failed"
	case DownRedirected:
		return "redirected"
	case DownClosed:
		return "closed"
	case DownProtocolError:
		return "protocol-error"
	}
	return fmt.Sprintf("DownReason(%d)", uint8(r))
}
