package ike

import (
	"net/netip"
	"time"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// Datagram is one IKE message received or to be sent over UDP.
type Datagram struct {
	// Local is our address and port: where a received datagram arrived,
	// where a datagram to send leaves from. Give the real local address
	// (IPV6_PKTINFO / IP_PKTINFO), not a wildcard: NAT detection hashes it.
	Local netip.AddrPort
	// Remote is the peer's address and port.
	Remote netip.AddrPort
	// NATT says the datagram travels on the NAT-T port, where four zero
	// octets (the non-ESP marker) precede the IKE message on the wire (RFC
	// 3948 §2.2, RFC 7296 §2.23). Payload never includes the marker: the
	// runtime strips it on receipt (and sets NATT) and adds it when sending
	// a datagram whose NATT is set.
	NATT bool
	// Payload is the IKE message, from the first octet of the IKE header.
	Payload []byte
}

// Path is a pair of UDP endpoints: ours and the peer's.
type Path struct {
	Local, Remote netip.AddrPort
}

// Ready is the output an SA has accumulated since the last Advance. The
// runtime handles it in this order, then calls Advance:
//
//  1. Apply ChildOps, in order. They install and remove the CHILD_SAs of
//     the dataplane; a response that completes a CHILD_SA may only be sent
//     once its inbound SA is installed (RFC 7296 §2.8: the responder must be
//     ready to receive before it answers), and a rekeyed outbound SA
//     replaces the old one atomically (ChildOp.Replaces).
//  2. Handle Events: they update the runtime's tables (an IKE SA rekey adds
//     a local SPI to route, IKERetired removes one, IKEDown removes the SA)
//     and become log lines, spans and metrics. Routing changes must be in
//     place before the datagrams go out, because the peer may answer at
//     once.
//  3. Send Datagrams in order, then the NAT Keepalives.
//  4. Arm a timer for Deadline (if not zero) and call Tick when it fires;
//     calling Tick early or late is harmless.
//
// The slices, and every byte slice reachable from them, belong to the
// runtime after Ready returns: the SA never touches them again.
type Ready struct {
	ChildOps   []ChildOp
	Events     []Event
	Datagrams  []Datagram
	Keepalives []Path
	// Deadline is when the SA next needs Tick: a retransmission, a rekey, a
	// liveness check, a keepalive or a timeout. Zero means no timer.
	Deadline time.Time
}

// Empty reports whether r holds nothing to do except perhaps a deadline.
func (r Ready) Empty() bool {
	return len(r.ChildOps) == 0 && len(r.Events) == 0 && len(r.Datagrams) == 0 && len(r.Keepalives) == 0
}

// ChildOpKind is an operation on the dataplane's CHILD_SA tables.
type ChildOpKind uint8

// CHILD_SA operations. A new CHILD_SA is InstallInbound then InstallOutbound.
// A rekey installs the new inbound SA, then the new outbound SA with Replaces
// set to the old outbound SPI (a swap: from then on traffic leaves on the new
// SA), and later RemoveInbound of the old SA once the peer can no longer use
// it. Deleting a CHILD_SA is RemoveOutbound then RemoveInbound.
const (
	// InstallInbound installs the inbound half (decrypt with InSPI, InKey).
	InstallInbound ChildOpKind = iota + 1
	// InstallOutbound installs the outbound half (encrypt with OutSPI,
	// OutKey) as the route for RemoteTS.
	InstallOutbound
	// RemoveInbound removes the inbound half named by InSPI.
	RemoveInbound
	// RemoveOutbound removes the outbound half named by OutSPI.
	RemoveOutbound
	// UpdateEndpoints moves both halves to new outer endpoints (Local,
	// Remote, Encap): the peer's NAT mapping or address changed.
	UpdateEndpoints
)

// String returns the operation name.
func (k ChildOpKind) String() string {
	switch k {
	case InstallInbound:
		return "install-inbound"
	case InstallOutbound:
		return "install-outbound"
	case RemoveInbound:
		return "remove-inbound"
	case RemoveOutbound:
		return "remove-outbound"
	case UpdateEndpoints:
		return "update-endpoints"
	}
	return "ChildOpKind(?)"
}

// ChildOp is one operation on the dataplane's CHILD_SA tables.
type ChildOp struct {
	Kind ChildOpKind
	// Child holds the parameters of the CHILD_SA, both halves; the operation
	// concerns the half its Kind names.
	Child ChildSA
	// Replaces is, for InstallOutbound during a rekey, the OutSPI of the
	// outbound SA the new one takes over from: the runtime swaps them and
	// forgets the old outbound SA. Zero for a new CHILD_SA.
	Replaces uint32
}

// Mode is the IPsec mode of a CHILD_SA.
type Mode uint8

// IPsec modes (RFC 4301 §4.1; RFC 7296 §1.3.1 USE_TRANSPORT_MODE).
const (
	Tunnel Mode = iota
	Transport
)

// String returns "tunnel" or "transport".
func (m Mode) String() string {
	if m == Transport {
		return "transport"
	}
	return "tunnel"
}

// ChildSA is a CHILD_SA pair as the dataplane needs it: both SPIs, the mode,
// the outer endpoints, the transforms, the keys of each direction split from
// KEYMAT (RFC 7296 §2.17) and the negotiated traffic selectors.
//
// InSPI is chosen by us and names the CHILD_SA in commands (RekeyChild,
// DeleteChild) and events.
type ChildSA struct {
	// InSPI is the SPI of inbound packets (ours); OutSPI the peer's.
	InSPI, OutSPI uint32
	// Protocol is ESP (AH is not negotiated).
	Protocol wire.ProtocolID
	Mode     Mode
	// Encap says ESP travels in UDP (RFC 3948) between Local and Remote,
	// which are then the NAT-T ports; otherwise Local and Remote carry the
	// outer addresses of plain ESP and their ports mean nothing.
	Encap         bool
	Local, Remote netip.AddrPort
	// Encr and EncrKeyBits are the encryption transform and its Key Length
	// attribute (0 for ChaCha20-Poly1305); Integ is IntegNone with AEAD.
	Encr        wire.EncrID
	EncrKeyBits int
	Integ       wire.IntegID
	// ESN says Extended Sequence Numbers were negotiated.
	ESN bool
	// InKey and OutKey are the encryption keys of each direction; for AEAD
	// transforms they end with the salt (4 octets for AES-GCM and
	// ChaCha20-Poly1305, RFC 4106 §8.1, RFC 7634 §2). InIntegKey and
	// OutIntegKey are empty with AEAD.
	InKey, OutKey           []byte
	InIntegKey, OutIntegKey []byte
	// LocalTS and RemoteTS are the narrowed traffic selectors: packets from
	// LocalTS to RemoteTS leave on OutSPI, packets from RemoteTS to LocalTS
	// arrive on InSPI.
	LocalTS, RemoteTS []wire.TrafficSelector
	// Created is when the CHILD_SA was established; RekeyAt when this side
	// will rekey it (zero: never).
	Created, RekeyAt time.Time
}

// ZeroKeys overwrites the four keys with zeros. The ChildSA of a ChildOp is
// the runtime's own copy, made for it alone: once the operation is applied
// (the dataplane keeps its own copy in its cipher), the runtime may wipe it.
func (c *ChildSA) ZeroKeys() {
	clear(c.InKey)
	clear(c.OutKey)
	clear(c.InIntegKey)
	clear(c.OutIntegKey)
}
