package ike

import (
	"crypto"
	"crypto/x509"
	"fmt"
	"net/netip"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// The interfaces in this file are implemented by callers and consulted by
// the SA from its owner's goroutine (the Responder's Redirector from any
// goroutine that calls Responder.Handle). They must not block for long: an
// SA is stuck while a hook runs.

// Credentials is the local identity and key and the Peer Authorization
// Database (PAD, RFC 4301 §4.4.3): who the peer may be and how it proves it.
type Credentials interface {
	// Local returns our identity and the key that proves it. requested
	// is the IDr the initiator asked for (responder only; nil otherwise).
	Local(requested *ID) (*LocalCredential, error)
	// Peer returns how the peer claiming identity id must authenticate,
	// or an error if the PAD has no entry for it (the peer then fails
	// authentication).
	Peer(id ID) (*PeerCredential, error)
}

// LocalCredential is our identity and the key we authenticate with: a
// pre-shared key or a certificate chain and its private key.
type LocalCredential struct {
	ID ID
	// PSK authenticates us with the Shared Key Message Integrity Code
	// (method 2). If nil and Signer is nil, the PeerCredential's PSK is
	// used (one key shared by both directions, the usual set-up).
	PSK []byte
	// Certificates is our chain, DER, end-entity first; it goes in CERT
	// payloads. Signer holds the end-entity certificate's private key.
	Certificates [][]byte
	Signer       crypto.Signer
	// Method forces an authentication method for Signer: 0 chooses the
	// Digital Signature method (14, RFC 7427) when the peer announced
	// SIGNATURE_HASH_ALGORITHMS, else the classic method of the key (1 for
	// RSA, 9/10/11 for ECDSA P-256/P-384/P-521).
	Method wire.AuthMethod
	// RSAPSS selects RSASSA-PSS instead of PKCS #1 v1.5 for RSA keys under
	// the Digital Signature method.
	RSAPSS bool
}

// PeerCredential says how a peer proves its identity: a pre-shared key, or
// a certificate chaining to Roots whose subjectAltName (or subject) names
// the identity in its ID payload.
type PeerCredential struct {
	PSK   []byte
	Roots *x509.CertPool
}

// StaticCredentials is a Credentials from fixed values: one local identity,
// PSKs by peer identity and a trusted CA pool for certificate peers. It is
// safe for concurrent use once built and not modified.
type StaticCredentials struct {
	Self LocalCredential
	// PSKs are the pre-shared keys of peers by identity.
	PSKs map[ID][]byte
	// Roots, if not nil, lets any peer with a certificate chaining to it
	// authenticate, under the identity the certificate names.
	Roots *x509.CertPool
}

// Local returns s.Self.
func (s *StaticCredentials) Local(*ID) (*LocalCredential, error) {
	c := s.Self
	return &c, nil
}

// Peer returns the PSK of id, or the CA pool.
func (s *StaticCredentials) Peer(id ID) (*PeerCredential, error) {
	psk, ok := s.PSKs[id]
	if !ok && s.Roots == nil {
		return nil, fmt.Errorf("%w: no PAD entry for %v", ErrAuthentication, id)
	}
	return &PeerCredential{PSK: psk, Roots: s.Roots}, nil
}

// AddressRequest is what the peer asked for in its CFG_REQUEST (RFC 7296
// §2.19, RFC 5026 §5.3), after it authenticated.
type AddressRequest struct {
	// Peer is the authenticated identity.
	Peer ID
	SPIs SPIs
	// Remote is the peer's outer address and port (its care-of address,
	// or its NAT's).
	Remote netip.AddrPort
	// IPv6 and IPv4 say INTERNAL_IP6_ADDRESS / INTERNAL_IP4_ADDRESS were
	// requested; SuggestedIPv6 / SuggestedIPv4 hold the suggested value if
	// the attribute was not empty (a node asking to keep its address).
	IPv6, IPv4          bool
	SuggestedIPv6       netip.Prefix
	SuggestedIPv4       netip.Addr
	DNS6, DNS4          bool
	HomePrefix          bool
	SuggestedHomePrefix netip.Prefix
	// Attributes are all attributes of the CFG_REQUEST, as received.
	Attributes []wire.CFGAttribute
	// Ticket is the handover ticket the peer presented in IKE_AUTH
	// (NotifyHandoverTicket), nil if none: ike carries the octets, the
	// caller gives them meaning.
	Ticket []byte
	// TraceContext is the trace context (a W3C traceparent) the peer
	// presented in IKE_AUTH (NotifyTraceContext), nil if none; like the
	// ticket only from a peer that announced NotifyRedirectPortSupported.
	TraceContext []byte
	// RedirectedFrom is the client's REDIRECTED_FROM from IKE_SA_INIT.
	RedirectedFrom *wire.GatewayIdentity
}

// Assignment is what a responder assigned through the Configuration
// payload, or what an initiator learnt from CFG_REPLY.
type Assignment struct {
	// IPv6 is the INTERNAL_IP6_ADDRESS (address and prefix length, e.g. a
	// home address /128 or /64); invalid when none.
	IPv6 netip.Prefix
	// IPv4 is the INTERNAL_IP4_ADDRESS; invalid when none.
	IPv4 netip.Addr
	// DNS are INTERNAL_IP6_DNS and INTERNAL_IP4_DNS servers.
	DNS []netip.Addr
	// HomePrefix is the MIP6_HOME_PREFIX (RFC 5026 §8.2) and
	// HomePrefixLifetime its lifetime in seconds; invalid when none.
	HomePrefix         netip.Prefix
	HomePrefixLifetime uint32
}

// Empty reports whether a assigns nothing.
func (a Assignment) Empty() bool {
	return !a.IPv6.IsValid() && !a.IPv4.IsValid() && len(a.DNS) == 0 && !a.HomePrefix.IsValid()
}

// AddressAssigner assigns inner addresses to peers that send a CFG_REQUEST
// (responder). An error is answered with INTERNAL_ADDRESS_FAILURE (RFC 7296
// §3.15.4): the IKE SA is created, no CHILD_SA. Addresses are released by
// the runtime on IKEDown (IKEDown.Assignment).
type AddressAssigner interface {
	Assign(req AddressRequest) (Assignment, error)
}

// TSRequest is the input of traffic selector narrowing (RFC 7296 §2.9): the
// selectors the initiator proposed and what was assigned to it.
type TSRequest struct {
	Peer       ID
	TSi, TSr   []wire.TrafficSelector
	Assignment Assignment
	Mode       Mode
}

// TSPolicy narrows the traffic selectors of a CHILD_SA on the responder.
// It returns the selectors to answer with, each a subset of the request's,
// or an error (answered with TS_UNACCEPTABLE). Without a TSPolicy the SA
// narrows as documented on Config.LocalTS.
type TSPolicy interface {
	Narrow(req TSRequest) (tsi, tsr []wire.TrafficSelector, err error)
}

// RedirectTarget is where a REDIRECT sends a client (RFC 5685 §9.2).
type RedirectTarget struct {
	// Gateway is the new gateway: an address (types 1 and 2), an FQDN
	// (type 3) or, only for clients that announced
	// NotifyRedirectPortSupported, an address and port (types 241, 242).
	Gateway wire.GatewayIdentity
	// Ticket is an opaque handover ticket sent beside the REDIRECT in the
	// project's private-use NotifyHandoverTicket; nil for none. Like the
	// port types it only goes to clients that announced
	// NotifyRedirectPortSupported, so standard peers never see it.
	Ticket []byte
}

// InitInfo is what the Redirector sees of an IKE_SA_INIT request.
type InitInfo struct {
	// Local is where the request arrived (our address and port), Remote
	// where it came from.
	Local, Remote netip.AddrPort
	// Anycast says Local's address is one of the Responder's anycast
	// addresses: the answer MUST be a redirect to a unicast address (RFC
	// 5685 §4).
	Anycast bool
	// SPIi is the initiator's SPI.
	SPIi uint64
	// RedirectedFrom is the REDIRECTED_FROM identity, if the client says
	// it was redirected here (for accounting only, RFC 5685 §11).
	RedirectedFrom *wire.GatewayIdentity
	// PortSupported says the client announced NotifyRedirectPortSupported:
	// a target with a port may be named.
	PortSupported bool
}

// AuthInfo is what the Redirector sees at IKE_AUTH: the IKE_SA_INIT facts
// plus the authenticated identity and what the peer asked for.
type AuthInfo struct {
	InitInfo
	SPIs SPIs
	// Peer is the authenticated identity (its AUTH verified).
	Peer ID
	// Addresses is the peer's CFG_REQUEST, nil if it sent none.
	Addresses *AddressRequest
	// Ticket is the handover ticket the peer presented, if any.
	Ticket []byte
	// TraceContext is the trace context the peer presented, if any (see
	// AddressRequest.TraceContext).
	TraceContext []byte
}

// Redirector decides whether a client is sent to another gateway (RFC
// 5685). It is asked only about clients that announced support. The
// IKE_SA_INIT decision is taken before cookie and D-H group checks and must
// be cheap: no state, no I/O. Both methods may run concurrently.
type Redirector interface {
	// AtInit is asked for every acceptable IKE_SA_INIT request of a
	// redirect-capable client. true means: answer with REDIRECT to target.
	AtInit(req InitInfo) (target RedirectTarget, redirect bool)
	// AtAuth is asked after the client's AUTH verified, before any address
	// is assigned or CHILD_SA created.
	AtAuth(req AuthInfo) (target RedirectTarget, redirect bool)
}

// SPIAllocator hands out local SPIs, so that the runtime can place SAs in
// shards by SPI and keep CHILD_SA SPIs unique among all SAs. Without one,
// SPIs are random (IKE SPIs never 0, CHILD_SA SPIs never below 256).
type SPIAllocator interface {
	// IKESPI returns a new, locally unique, non-zero IKE SPI.
	IKESPI() (uint64, error)
	// ChildSPI returns a new, locally unique CHILD_SA SPI >= 256 (RFC 4303
	// §2.1).
	ChildSPI() (uint32, error)
}
