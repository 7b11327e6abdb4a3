// Package policy decides where a mobile node should be served: stay, or
// redirect to another home agent, with the reason and the scored table that
// led to the choice. It is pure and deterministic and does no I/O.
package policy
