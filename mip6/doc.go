// Package mip6 implements Mobile IPv6 signalling (RFC 6275, RFC 5142,
// RFC 4877, RFC 5555) as sans-I/O state: the home agent's binding cache
// ([BindingCache], and [HomeAgent], which adds the Mobility Header receive
// rules), the mobile node's binding update list ([BindingUpdateList]) and
// both sides of the Home Agent Switch.
//
// Nothing here does I/O, starts goroutines or reads the clock. Inputs are
// received packets or parsed messages, the current time and the context
// the caller knows (the identity the IPsec SA authenticated, whether the
// packet came through the tunnel); outputs are decisions and actions as
// data (accept, reject with a status, drop silently; install a route,
// defend a home address, send this Binding Acknowledgement) and the time
// of the next timer. The binding cache is safe for concurrent use: it is
// sharded, one mutex per shard, for a million bindings updated from many
// goroutines. The binding update list belongs to one goroutine.
//
// The wire format lives in package mh.
package mip6
