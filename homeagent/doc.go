// Package homeagent is the home agent service: the runtime that owns sockets,
// goroutines and timers and drives the ike and mip6 state machines, the lease
// store, the dataplane, the admin API and telemetry.
package homeagent
