package ike

import (
	"errors"
	"fmt"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// Sentinel errors. Errors returned or reported by this package wrap one of
// them; test with errors.Is. Errors caused by a Notify (sent or received)
// also wrap a *NotifyError that carries its type.
var (
	// ErrConfig reports an unusable Config or ResponderConfig.
	ErrConfig = errors.New("ike: invalid configuration")
	// ErrState reports a command the SA cannot carry out in its state
	// (e.g. RekeyChild before the IKE SA is up, or any command once Done).
	ErrState = errors.New("ike: command not possible in this state")
	// ErrNoChild reports a CHILD_SA that does not exist.
	ErrNoChild = errors.New("ike: no such CHILD_SA")
	// ErrRedirectNotSupported reports a Redirect to a peer that did not
	// announce RFC 5685 support, or by a side that may not redirect (RFC
	// 5685 §10: only the original responder redirects).
	ErrRedirectNotSupported = errors.New("ike: peer may not be redirected")
	// ErrTimeout reports a request retransmitted until the give-up, or a
	// half-open IKE SA that never completed.
	ErrTimeout = errors.New("ike: peer did not answer")
	// ErrAuthentication reports a failed authentication in either direction.
	ErrAuthentication = errors.New("ike: authentication failed")
	// ErrNegotiation reports an exchange that could not agree on
	// algorithms, traffic selectors, addresses or key exchange data.
	ErrNegotiation = errors.New("ike: negotiation failed")
	// ErrProtocol reports a peer message that breaks the protocol.
	ErrProtocol = errors.New("ike: protocol error")
	// ErrDeleted reports an SA deleted by either side.
	ErrDeleted = errors.New("ike: deleted")
	// ErrRedirected reports an IKE SA ended by a REDIRECT.
	ErrRedirected = errors.New("ike: redirected")
	// ErrRedirectLoop reports more redirects than a RedirectGuard allows
	// (RFC 5685 §7).
	ErrRedirectLoop = errors.New("ike: redirect loop")
)

// NotifyError is a protocol error that travels as an error Notify (RFC 7296
// §3.10.1): one we received (Received) or one we answered with.
type NotifyError struct {
	Type     wire.NotifyType
	Received bool
	// Data is the Notification Data, e.g. the group of INVALID_KE_PAYLOAD.
	Data []byte
}

// Error formats the notify, e.g. "received NO_PROPOSAL_CHOSEN".
func (e *NotifyError) Error() string {
	if e.Received {
		return "received " + e.Type.String()
	}
	return "sent " + e.Type.String()
}

// notifyErr wraps sentinel with a NotifyError of type t.
func notifyErr(sentinel error, t wire.NotifyType, received bool, format string, args ...any) error {
	ne := &NotifyError{Type: t, Received: received}
	if format == "" {
		return fmt.Errorf("%w: %w", sentinel, ne)
	}
	return fmt.Errorf("%w: %s: %w", sentinel, fmt.Sprintf(format, args...), ne)
}

// notifyOf returns the Notify type an error should be answered with, if any.
func notifyOf(err error) (wire.NotifyType, bool) {
	var ne *NotifyError
	if errors.As(err, &ne) && !ne.Received {
		return ne.Type, true
	}
	return 0, false
}
