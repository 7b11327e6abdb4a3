package dataplane

import (
	"errors"
	"strconv"
)

// Direction says whether an SA protects packets we send or packets we receive.
type Direction uint8

// The two directions of an SA.
const (
	Inbound  Direction = 1
	Outbound Direction = 2
)

// String returns "inbound" or "outbound".
func (d Direction) String() string {
	switch d {
	case Inbound:
		return "inbound"
	case Outbound:
		return "outbound"
	}
	return "Direction(" + strconv.Itoa(int(d)) + ")"
}

// Transform is an IKEv2 encryption transform ID (IANA "Transform Type 1 -
// Encryption Algorithm Transform IDs"). Only combined-mode (AEAD) transforms
// are supported on the user-space path.
type Transform uint16

// Supported ESP transforms.
const (
	// EncrAESGCM16 is ENCR_AES_GCM_16 (RFC 4106): AES-GCM with a 16-octet
	// ICV. Keying material is a 16-, 24- or 32-octet key followed by a
	// 4-octet salt.
	EncrAESGCM16 Transform = 20
	// EncrChaCha20Poly1305 is ENCR_CHACHA20_POLY1305 (RFC 7634). Keying
	// material is a 32-octet key followed by a 4-octet salt.
	EncrChaCha20Poly1305 Transform = 28
)

// String returns the IANA name, e.g. "ENCR_AES_GCM_16".
func (t Transform) String() string {
	switch t {
	case EncrAESGCM16:
		return "ENCR_AES_GCM_16"
	case EncrChaCha20Poly1305:
		return "ENCR_CHACHA20_POLY1305"
	}
	return "Transform(" + strconv.Itoa(int(t)) + ")"
}

// Next Header values of the ESP trailer in tunnel mode (IANA protocol numbers).
const (
	nextHeaderIPv4   = 4
	nextHeaderIPv6   = 41
	nextHeaderNoNext = 59 // dummy packet, RFC 4303 §2.6
)

// DropReason says why a packet was discarded. Packet paths return it instead
// of an error and the dataplane counts it; nothing is logged per packet.
type DropReason uint8

// Reasons for discarding a packet.
const (
	// NotDropped means the packet went through.
	NotDropped DropReason = iota
	// DropMalformed: too short, truncated, bad padding or Next Header, or an
	// inner packet that is not a well-formed IP header.
	DropMalformed
	// DropBadSPI: a reserved SPI (0..255), or no inbound SA has the SPI
	// (RFC 4303 §3.4.2).
	DropBadSPI
	// DropReplay: the sequence number is left of the anti-replay window or
	// was already received (RFC 4303 §3.4.3).
	DropReplay
	// DropAuthFail: ICV verification failed (RFC 4303 §3.4.4).
	DropAuthFail
	// DropNoSA: no outbound SA covers the inner destination, or the SA has
	// the wrong direction for the operation.
	DropNoSA
	// DropSelector: the inner addresses are outside the SA's traffic
	// selectors (RFC 4301 §5.1, §5.2).
	DropSelector
	// DropSeqExhausted: the outbound sequence number would cycle; the SA
	// must be rekeyed (RFC 4303 §3.3.3).
	DropSeqExhausted
	// DropTooBig: the packet does not fit a packet buffer.
	DropTooBig
	// DropDummy: a dummy packet (Next Header 59, RFC 4303 §2.6), discarded
	// after verification as the RFC requires.
	DropDummy
	// DropSendFailed: the UDP socket refused the datagram.
	DropSendFailed
	// DropWriteFailed: the inner device refused the packet.
	DropWriteFailed

	// NumDropReasons is the number of DropReason values, NotDropped included;
	// arrays of counters indexed by DropReason have this length.
	NumDropReasons
)

var dropReasonNames = [NumDropReasons]string{
	NotDropped:       "not-dropped",
	DropMalformed:    "malformed",
	DropBadSPI:       "bad-spi",
	DropReplay:       "replay",
	DropAuthFail:     "auth-fail",
	DropNoSA:         "no-sa",
	DropSelector:     "selector",
	DropSeqExhausted: "seq-exhausted",
	DropTooBig:       "too-big",
	DropDummy:        "dummy",
	DropSendFailed:   "send-failed",
	DropWriteFailed:  "write-failed",
}

// String returns the reason as a short metric label, e.g. "auth-fail".
func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropReasonNames[r]
	}
	return "DropReason(" + strconv.Itoa(int(r)) + ")"
}

// Sentinel errors. Errors returned by this package wrap one of them.
var (
	// ErrInvalidSA: the SA parameters are not usable (key length, SPI,
	// endpoints, selectors, transform).
	ErrInvalidSA = errors.New("dataplane: invalid SA")
	// ErrSPIInUse: an inbound SA with this SPI is already installed.
	ErrSPIInUse = errors.New("dataplane: SPI in use")
	// ErrNoSocket: no socket matches the requested local address and port.
	ErrNoSocket = errors.New("dataplane: no socket for local address")
	// ErrClosed: the dataplane or device is closed.
	ErrClosed = errors.New("dataplane: closed")
)
