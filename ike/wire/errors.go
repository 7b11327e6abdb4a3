package wire

import (
	"errors"
	"fmt"
)

// Sentinel errors. Parse errors wrap one of them, so callers test with
// errors.Is and read details (payload, offset, codes) with errors.As on the
// typed errors below.
var (
	// ErrSyntax reports input that is not a well-formed IKEv2 structure: bad
	// lengths, counts or field values. RFC 7296 answers it with
	// INVALID_SYNTAX where an answer is due (§2.21, §3.10.1).
	ErrSyntax = errors.New("ike/wire: invalid syntax")

	// ErrInvalidMajorVersion reports an IKE header whose major version is
	// not 2 (RFC 7296 §2.5, §3.1).
	ErrInvalidMajorVersion = errors.New("ike/wire: unsupported major version")

	// ErrUnsupportedCriticalPayload reports a payload of a type this package
	// does not know with the critical bit set (RFC 7296 §2.5, §3.2).
	ErrUnsupportedCriticalPayload = errors.New("ike/wire: unsupported critical payload")

	// ErrUnknownGatewayIdentityType reports a REDIRECT or REDIRECTED_FROM
	// notify whose Gateway Identity Type is not known. The notify is to be
	// ignored (and logged), not answered (spec/ike.md §1.3 rule 3).
	ErrUnknownGatewayIdentityType = errors.New("ike/wire: unknown gateway identity type")

	// ErrNonceMismatch reports an IKE_SA_INIT REDIRECT whose Nonce Data is
	// not the Ni of the request. The client drops the response silently and
	// keeps waiting (RFC 5685 §3).
	ErrNonceMismatch = errors.New("ike/wire: REDIRECT nonce data does not match Ni")

	// ErrInvalidValue reports a value the encoder cannot put on the wire: a
	// field longer than its length field allows, a count out of range, an
	// address of the wrong family, or a payload added out of order.
	ErrInvalidValue = errors.New("ike/wire: value cannot be encoded")
)

// SyntaxError describes malformed input. It wraps ErrSyntax and carries the
// Notify type INVALID_SYNTAX.
type SyntaxError struct {
	// Payload is the payload being parsed; PayloadNone for the IKE header.
	Payload PayloadType
	// Offset is the position of the offending field: from the start of the
	// message for ParseMessage, of the chain for ParsePayloads, and of the
	// payload body for the ParseXxx body parsers.
	Offset int
	// Reason says what is wrong, in the RFC's words.
	Reason string
}

// Error describes the error with payload, offset and reason.
func (e *SyntaxError) Error() string {
	where := "IKE header"
	if e.Payload != PayloadNone {
		where = e.Payload.String() + " payload"
	}
	return fmt.Sprintf("ike/wire: invalid syntax: %s at offset %d: %s", where, e.Offset, e.Reason)
}

// Unwrap returns ErrSyntax.
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

// NotifyType returns INVALID_SYNTAX, the error notify RFC 7296 sends for
// malformed messages.
func (e *SyntaxError) NotifyType() NotifyType { return NotifyInvalidSyntax }

// VersionError reports an IKE header with a major version other than 2. The
// header is still readable, so a responder can answer with
// INVALID_MAJOR_VERSION (RFC 7296 §2.5).
type VersionError struct {
	// Version is the received version octet (major version in the high
	// nibble).
	Version uint8
}

// Error describes the error with the received version.
func (e *VersionError) Error() string {
	return fmt.Sprintf("ike/wire: unsupported major version %d (version octet %#02x)", e.Version>>4, e.Version)
}

// Unwrap returns ErrInvalidMajorVersion.
func (e *VersionError) Unwrap() error { return ErrInvalidMajorVersion }

// NotifyType returns INVALID_MAJOR_VERSION.
func (e *VersionError) NotifyType() NotifyType { return NotifyInvalidMajorVersion }

// CriticalPayloadError reports an unknown payload type with the critical bit
// set. The whole message is rejected and, where an answer is due, answered
// with UNSUPPORTED_CRITICAL_PAYLOAD whose data is the one-octet payload type
// (RFC 7296 §2.5, §3.10.1).
type CriticalPayloadError struct {
	// Type is the unsupported payload type.
	Type PayloadType
	// Offset is the position of its generic payload header.
	Offset int
}

// Error describes the error with the payload type and its offset.
func (e *CriticalPayloadError) Error() string {
	return fmt.Sprintf("ike/wire: unsupported critical payload %v at offset %d", e.Type, e.Offset)
}

// Unwrap returns ErrUnsupportedCriticalPayload.
func (e *CriticalPayloadError) Unwrap() error { return ErrUnsupportedCriticalPayload }

// NotifyType returns UNSUPPORTED_CRITICAL_PAYLOAD.
func (e *CriticalPayloadError) NotifyType() NotifyType { return NotifyUnsupportedCriticalPayload }

// ErrorNotify returns the error Notify payload that answers err: INVALID_SYNTAX
// for a SyntaxError, INVALID_MAJOR_VERSION for a VersionError and
// UNSUPPORTED_CRITICAL_PAYLOAD carrying the payload type for a
// CriticalPayloadError (RFC 7296 §2.21, §3.10.1). It reports false for errors
// that have no wire code. Whether to send the answer at all (for instance
// never in response to a response) is the caller's decision.
func ErrorNotify(err error) (Notify, bool) {
	var critical *CriticalPayloadError
	if errors.As(err, &critical) {
		return Notify{Type: NotifyUnsupportedCriticalPayload, Data: []byte{byte(critical.Type)}}, true
	}
	var coded interface{ NotifyType() NotifyType }
	if errors.As(err, &coded) {
		return Notify{Type: coded.NotifyType()}, true
	}
	return Notify{}, false
}

// syntaxError returns a *SyntaxError; the constructor keeps call sites short.
func syntaxError(p PayloadType, offset int, reason string) error {
	return &SyntaxError{Payload: p, Offset: offset, Reason: reason}
}

// valueError returns an error wrapping ErrInvalidValue.
func valueError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidValue}, args...)...)
}
