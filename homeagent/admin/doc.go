// Package admin is the home agent's admin API and the operator's command
// line over it (`homeagent ctl`).
//
// # API
//
// HTTP with JSON bodies, on a unix socket (admin.listen, by default
// /run/mip6ha/admin.sock, mode 0600) or a loopback TCP address. It has no
// authentication of its own: access to the socket is access to the API.
//
//	GET    /v1/status                    Status
//	GET    /v1/bindings                  {"bindings": [Binding]}
//	GET    /v1/leases?owner=&state=&identity=   {"leases": [Lease]}
//	GET    /v1/members                   {"members": [Member]}
//	GET    /v1/config                    the configuration in force, secrets redacted
//	GET    /v1/explain?locator=&identity=&anycast=&redirected_from=   Explain
//	POST   /v1/move     MoveRequest      Move
//	POST   /v1/drain                     DrainStatus (starts a drain)
//	GET    /v1/drain                     DrainStatus
//	DELETE /v1/drain                     DrainStatus (cancels it)
//
// An error is {"error": message, "code": code} with the code's HTTP status:
// not_found 404, invalid_request 400, conflict 409, method_not_allowed 405,
// unavailable 503, not_supported 501, timeout 504, internal 500. Client
// turns it back into an *Error that wraps the matching sentinel
// (ErrNotFound, ...), so errors.Is works across the socket.
//
// The runtime implements Backend; NewServer serves a Backend, Listen opens
// the socket, Server.Serve runs until its context ends. Client implements
// Backend too. CLI is the command line.
package admin
