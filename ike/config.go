package ike

import (
	cryptorand "crypto/rand"
	"crypto/x509"
	"fmt"
	"io"
	"math"
	"net/netip"
	"time"

	"github.com/mip6ha/mip6ha/ike/ikecrypto"
	"github.com/mip6ha/mip6ha/ike/wire"
)

// Config configures an SA, as initiator (NewInitiator) or as responder (the
// template a Responder gives the SAs it creates). The zero value of every
// field but Credentials is usable: defaults are noted on each field. A Config
// is read, never modified, by the SAs that use it, so one Config can serve
// many SAs at once.
type Config struct {
	// Credentials give our identity and key and the PAD. Required.
	Credentials Credentials
	// PeerID is the identity the peer must prove (initiator: the gateway,
	// kept across redirects, RFC 5685 §3); zero accepts any identity the
	// PAD accepts. An initiator also sends it as IDr.
	PeerID ID

	// IKEProposals and ESPProposals are offered (initiator) and accepted
	// (responder) in order of preference. Defaults: DefaultIKEProposals(),
	// DefaultESPProposals(). An ESP proposal's D-H groups turn on PFS for
	// CREATE_CHILD_SA.
	IKEProposals, ESPProposals []Proposal

	// LocalTS and RemoteTS are the traffic selectors of the CHILD_SA from
	// our point of view. The initiator proposes TSi = LocalTS and TSr =
	// RemoteTS (empty: any address of each family; when it requests an
	// address, its TSi is any address and the responder narrows it). The
	// responder without a TSPolicy narrows TSi to the addresses it assigned
	// (e.g. HoA/128) or else to the intersection with RemoteTS, and TSr to
	// the intersection with LocalTS (empty: no restriction) (RFC 7296 §2.9).
	LocalTS, RemoteTS []wire.TrafficSelector
	// Mode is the CHILD_SA mode the initiator asks for (Transport sends
	// USE_TRANSPORT_MODE) and the responder accepts (a responder configured
	// for Tunnel answers a transport request in tunnel mode, RFC 7296
	// §1.3.1).
	Mode Mode

	// Request is the initiator's CFG_REQUEST (none when zero).
	Request CPRequest
	// RequireAddress makes an initiator end the IKE SA when the responder
	// assigns no address it asked for (RFC 4877 §9: the MN SHOULD end
	// IKE_AUTH).
	RequireAddress bool
	// Addresses assigns addresses to peers that send a CFG_REQUEST
	// (responder). Without it, CFG_REQUESTs are ignored.
	Addresses AddressAssigner
	// TSPolicy narrows traffic selectors (responder); nil narrows as
	// documented on LocalTS.
	TSPolicy TSPolicy

	// Redirector decides RFC 5685 redirects (responder). The
	// IKE_SA_INIT decision belongs to the Responder, which consults the
	// same hook.
	Redirector Redirector
	// DisableRedirect stops an initiator from sending REDIRECT_SUPPORTED,
	// so no responder redirects it.
	DisableRedirect bool
	// RedirectedFrom is sent as REDIRECTED_FROM by an initiator that
	// follows a redirect (RFC 5685 §3): the redirecting gateway's address,
	// or the anycast address it was sent to.
	RedirectedFrom *wire.GatewayIdentity
	// RedirectExtensions makes an initiator announce the project's private
	// NotifyRedirectPortSupported (redirect targets with a port, handover
	// tickets, trace context). Only for our own gateways: standard peers
	// ignore it. A gateway of ours answers with the same notify in its
	// IKE_SA_INIT response; only then does the initiator send Ticket and
	// TraceContext.
	RedirectExtensions bool
	// Ticket is a handover ticket the initiator presents in IKE_AUTH
	// (private NotifyHandoverTicket), e.g. one received with a REDIRECT.
	Ticket []byte
	// TraceContext is a W3C traceparent (55 octets of text for version 00)
	// the initiator presents in IKE_AUTH (private NotifyTraceContext), so
	// that the gateway's spans of this attachment join the caller's trace,
	// e.g. the node's move. ike carries the octets; the gateway's runtime
	// gives them meaning (AddressRequest.TraceContext, IKEUp.TraceContext).
	TraceContext []byte
	// RedirectGrace is how long a responder keeps an IKE SA it redirected
	// (in IKE_AUTH or with Redirect) before deleting it, if the client does
	// not delete it first (RFC 5685 §5). Default 30 s.
	RedirectGrace time.Duration

	// ForceEncap forces UDP encapsulation of ESP even without a NAT, by
	// sending a NAT_DETECTION_SOURCE_IP that matches no address (as
	// strongSwan's encap=yes). The user-space dataplane only carries
	// ESP-in-UDP, so a runtime on it sets this.
	ForceEncap bool
	// NATTPort is our NAT-T port (default 4500) and PeerNATTPort the peer's
	// (initiator, default 4500): after NAT detection the initiator moves
	// the IKE SA there (RFC 7296 §2.23).
	NATTPort, PeerNATTPort uint16

	// InitialContact makes an initiator send INITIAL_CONTACT in IKE_AUTH
	// (RFC 7296 §2.4): the responder then drops any older IKE SA of ours.
	InitialContact bool
	// CertReqCAs are the CAs named in CERTREQ payloads: peers like
	// strongSwan send their certificate only when asked.
	CertReqCAs []*x509.Certificate

	// Retransmit is the retransmission schedule of our requests.
	Retransmit Retransmit
	// HalfOpenTimeout is how long a responder waits for IKE_AUTH after
	// IKE_SA_INIT (default 30 s, as strongSwan), and an initiator for the
	// whole set-up.
	HalfOpenTimeout time.Duration
	// IKERekeyTime and ChildRekeyTime are the lifetimes after which this
	// side rekeys the IKE SA and each CHILD_SA (0: never), shortened by a
	// random jitter of up to RekeyJitter (0: 10 % of the time; negative:
	// none) (RFC 7296 §2.8.1).
	IKERekeyTime, ChildRekeyTime, RekeyJitter time.Duration
	// LivenessInterval is how long the IKE SA may go without a message from
	// the peer before we send an empty INFORMATIONAL (RFC 7296 §2.4); 0
	// turns liveness checks off.
	LivenessInterval time.Duration
	// KeepaliveInterval is the NAT keepalive period when we are behind a
	// NAT (RFC 3948 §4; default 20 s).
	KeepaliveInterval time.Duration
	// MaxChildren bounds the CHILD_SAs of one IKE SA that the peer may
	// create (default DefaultMaxChildren): a CREATE_CHILD_SA for one more
	// is answered NO_ADDITIONAL_SAS (RFC 7296 §1.3), and a rekey is
	// answered TEMPORARY_FAILURE (§2.25) while twice as many are held
	// (replaced ones waiting for their Delete included).
	MaxChildren int

	// KeyLog, if not nil, receives one line per IKE SA (new or rekeyed) in
	// the form of tshark's ikev2_decryption_table, so captures can be
	// decrypted. It must be safe for concurrent use if SAs share it.
	KeyLog io.Writer
	// Rand supplies every random value (SPIs, nonces, D-H keys, IVs);
	// default crypto/rand.Reader. It must be safe for concurrent use if the
	// Config is shared by SAs on several goroutines.
	Rand io.Reader
	// SPIs allocates local SPIs; default random.
	SPIs SPIAllocator
}

// CPRequest is what an initiator asks for in its CFG_REQUEST (RFC 7296
// §2.19, RFC 5026 §5.3.2).
type CPRequest struct {
	// IPv6 and IPv4 request INTERNAL_IP6_ADDRESS / INTERNAL_IP4_ADDRESS;
	// SuggestIPv6 / SuggestIPv4 fill them in (e.g. the home address held
	// before a redirect), else they are sent empty.
	IPv6, IPv4  bool
	SuggestIPv6 netip.Prefix
	SuggestIPv4 netip.Addr
	DNS         bool
	HomePrefix  bool
}

// Empty reports whether r requests nothing.
func (r CPRequest) Empty() bool {
	return !r.IPv6 && !r.IPv4 && !r.SuggestIPv6.IsValid() && !r.SuggestIPv4.IsValid() && !r.DNS && !r.HomePrefix
}

// Retransmit is a retransmission schedule (RFC 7296 §2.1: intervals MUST
// grow exponentially): the n-th retransmission (n from 1) is sent
// Timeout × Base^(n-1) after the previous one, up to Tries retransmissions;
// the request fails Timeout × Base^Tries after the last. Defaults are
// strongSwan's: 4 s, 1.8, 5 tries (about 165 s in all).
type Retransmit struct {
	Timeout time.Duration
	Base    float64
	Tries   int
	// MaxTimeout caps one interval (0: no cap).
	MaxTimeout time.Duration
}

// interval returns the wait after the n-th transmission (n from 0).
func (r Retransmit) interval(n int) time.Duration {
	d := time.Duration(float64(r.Timeout) * math.Pow(r.Base, float64(n)))
	if r.MaxTimeout > 0 && d > r.MaxTimeout {
		d = r.MaxTimeout
	}
	return d
}

// Default values.
const (
	DefaultNATTPort          = 4500
	DefaultHalfOpenTimeout   = 30 * time.Second
	DefaultKeepaliveInterval = 20 * time.Second
	DefaultRedirectGrace     = 30 * time.Second
	DefaultMaxChildren       = 16
)

// config is a Config with defaults filled in and derived values.
type config struct {
	Config
	ikeProposals, espProposals []Proposal
	hashes                     []wire.HashAlgorithm // SIGNATURE_HASH_ALGORITHMS we announce
	certReq                    []byte               // CERTREQ authorities: SHA-1 of each CA's SubjectPublicKeyInfo
}

func (c *Config) resolve() (*config, error) {
	if c.Credentials == nil {
		return nil, fmt.Errorf("%w: no Credentials", ErrConfig)
	}
	r := &config{Config: *c}
	r.ikeProposals = c.IKEProposals
	if len(r.ikeProposals) == 0 {
		r.ikeProposals = DefaultIKEProposals()
	}
	r.espProposals = c.ESPProposals
	if len(r.espProposals) == 0 {
		r.espProposals = DefaultESPProposals()
	}
	if len(r.ikeProposals) > 255 || len(r.espProposals) > 255 {
		return nil, fmt.Errorf("%w: more than 255 proposals", ErrConfig)
	}
	for _, p := range r.ikeProposals {
		if err := p.validate(wire.ProtocolIKE); err != nil {
			return nil, err
		}
	}
	for _, p := range r.espProposals {
		if err := p.validate(wire.ProtocolESP); err != nil {
			return nil, err
		}
		for _, e := range p.Encr {
			for _, i := range append([]wire.IntegID{wire.IntegNone}, p.Integ...) {
				if e.aead() != (i == wire.IntegNone) {
					continue
				}
				if _, err := ikecrypto.LookupESP(ikecrypto.EncrID(e.ID), int(e.KeyBits), ikecrypto.IntegID(i)); err != nil {
					return nil, fmt.Errorf("%w: ESP proposal %q: %w", ErrConfig, p, err)
				}
			}
		}
	}
	if r.Rand == nil {
		r.Rand = cryptorand.Reader
	}
	if r.NATTPort == 0 {
		r.NATTPort = DefaultNATTPort
	}
	if r.PeerNATTPort == 0 {
		r.PeerNATTPort = DefaultNATTPort
	}
	if r.Retransmit.Timeout <= 0 {
		r.Retransmit.Timeout = 4 * time.Second
	}
	if r.Retransmit.Base < 1 {
		r.Retransmit.Base = 1.8
	}
	if r.Retransmit.Tries <= 0 {
		r.Retransmit.Tries = 5
	}
	if r.HalfOpenTimeout <= 0 {
		r.HalfOpenTimeout = DefaultHalfOpenTimeout
	}
	if r.KeepaliveInterval <= 0 {
		r.KeepaliveInterval = DefaultKeepaliveInterval
	}
	if r.RedirectGrace <= 0 {
		r.RedirectGrace = DefaultRedirectGrace
	}
	if r.MaxChildren <= 0 {
		r.MaxChildren = DefaultMaxChildren
	}
	r.hashes = []wire.HashAlgorithm{wire.HashSHA2_256, wire.HashSHA2_384, wire.HashSHA2_512}
	for _, ca := range c.CertReqCAs {
		r.certReq = append(r.certReq, spkiHash(ca)...)
	}
	return r, nil
}
