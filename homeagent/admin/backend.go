package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/mip6ha/mip6ha/homeagent/config"
	"github.com/mip6ha/mip6ha/homeagent/store"
)

// Backend is what the admin API serves: the home agent runtime implements
// it, and so does Client (so that a Client can stand in for a runtime).
// Methods must be safe for concurrent use and honour their context.
//
// Errors should wrap one of this package's sentinels (ErrNotFound,
// ErrInvalid, ErrConflict, ErrUnavailable, ErrNotSupported) or the store's
// (store.ErrNotFound, ErrConflict, ErrState, ErrOwnedElsewhere, ErrInvalid,
// ErrClosed): the server turns them into HTTP status codes and error codes.
// Any other error is an internal error.
type Backend interface {
	// Status returns the home agent's state in brief.
	Status(ctx context.Context) (Status, error)
	// Bindings returns the nodes this home agent serves, in order of
	// home address.
	Bindings(ctx context.Context) ([]Binding, error)
	// Leases returns the leases of the store that match f, in order of
	// home address.
	Leases(ctx context.Context, f store.Filter) ([]Lease, error)
	// Members returns the live members of the cluster, in order of ID.
	Members(ctx context.Context) ([]Member, error)
	// Config returns the configuration in force. The server redacts its
	// secrets before sending it.
	Config(ctx context.Context) (*config.Config, error)
	// Explain returns the placement decision for a client, with the
	// scored table.
	Explain(ctx context.Context, r ExplainRequest) (Explain, error)
	// Move starts moving one node to another member, make-before-break,
	// and returns once the node has been told. ErrNotFound: no such node
	// here; ErrConflict: it is already moving; ErrNotSupported: no other
	// member (a single home agent).
	Move(ctx context.Context, r MoveRequest) (Move, error)
	// Drain starts moving every node away at the drain rate, marking
	// this member draining so that it takes no new ones, and returns the
	// progress. Draining a member that is draining returns the progress.
	Drain(ctx context.Context) (DrainStatus, error)
	// DrainStatus returns the progress of the latest drain.
	DrainStatus(ctx context.Context) (DrainStatus, error)
	// CancelDrain stops a drain: no further moves start (those under way
	// finish or lapse) and the member takes new nodes again.
	CancelDrain(ctx context.Context) (DrainStatus, error)
}

// Sentinel errors of the admin API. A Client returns an *Error that wraps
// the one matching the server's error code, so errors.Is works across the
// API.
var (
	// ErrNotFound: no such node, lease, member or route.
	ErrNotFound = errors.New("admin: not found")
	// ErrInvalid: the request is malformed (a missing or bad parameter).
	ErrInvalid = errors.New("admin: invalid request")
	// ErrConflict: the request conflicts with the state (the node is
	// already moving, a lease changed under the operation).
	ErrConflict = errors.New("admin: conflict")
	// ErrUnavailable: the home agent cannot serve the request now (the
	// store is unreachable, the runtime is stopping).
	ErrUnavailable = errors.New("admin: unavailable")
	// ErrNotSupported: the home agent cannot do this at all (a move with
	// no other member).
	ErrNotSupported = errors.New("admin: not supported")
	// ErrMethod: the route does not take this method.
	ErrMethod = errors.New("admin: method not allowed")
	// ErrInternal: anything else went wrong.
	ErrInternal = errors.New("admin: internal error")
)

// Error codes: the "code" member of an error response, one per sentinel.
const (
	CodeNotFound     = "not_found"
	CodeInvalid      = "invalid_request"
	CodeConflict     = "conflict"
	CodeUnavailable  = "unavailable"
	CodeNotSupported = "not_supported"
	CodeMethod       = "method_not_allowed"
	CodeTimeout      = "timeout"
	CodeInternal     = "internal"
)

// Error is an error response of the admin API: {"error": message, "code":
// code} with an HTTP status.
type Error struct {
	// Status is the HTTP status code.
	Status int `json:"-"`
	// Code is one of the Code constants.
	Code string `json:"code"`
	// Message says what went wrong, for people.
	Message string `json:"error"`
}

// Error returns the message and the code.
func (e *Error) Error() string { return fmt.Sprintf("%s (%s)", e.Message, e.Code) }

// Unwrap returns the sentinel of the code (context.DeadlineExceeded for a
// timeout).
func (e *Error) Unwrap() error {
	for _, c := range codes {
		if c.code == e.Code {
			return c.err
		}
	}
	return ErrInternal
}

// codes maps errors to codes and HTTP statuses, first match wins.
var codes = []struct {
	err    error
	code   string
	status int
}{
	{ErrNotFound, CodeNotFound, http.StatusNotFound},
	{store.ErrNotFound, CodeNotFound, http.StatusNotFound},
	{ErrInvalid, CodeInvalid, http.StatusBadRequest},
	{store.ErrInvalid, CodeInvalid, http.StatusBadRequest},
	{ErrConflict, CodeConflict, http.StatusConflict},
	{store.ErrConflict, CodeConflict, http.StatusConflict},
	{store.ErrState, CodeConflict, http.StatusConflict},
	{store.ErrOwnedElsewhere, CodeConflict, http.StatusConflict},
	{ErrUnavailable, CodeUnavailable, http.StatusServiceUnavailable},
	{store.ErrClosed, CodeUnavailable, http.StatusServiceUnavailable},
	{ErrNotSupported, CodeNotSupported, http.StatusNotImplemented},
	{ErrMethod, CodeMethod, http.StatusMethodNotAllowed},
	{context.DeadlineExceeded, CodeTimeout, http.StatusGatewayTimeout},
	{ErrInternal, CodeInternal, http.StatusInternalServerError},
}

// errorOf returns the error response for err.
func errorOf(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			return &Error{Status: c.status, Code: c.code, Message: err.Error()}
		}
	}
	return &Error{Status: http.StatusInternalServerError, Code: CodeInternal, Message: err.Error()}
}
