// Package storetest is the conformance suite of the lease store contract
// (package store). Every backend runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, storetest.Config{Fresh: func(t *testing.T) storetest.Opener { ... }})
//	}
//
// The suite checks the rules documented on store.Leases and store.Members:
// stickiness, the suggested-address rules, exhaustion and reclaim, race-free
// allocation from many goroutines and from two clients (two home agents),
// compare-and-swap conflicts, the move -> transfer flow, takeover only
// after the owner's membership lapsed, watch order, persistence across a
// restart, and member TTL expiry.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
)

// Opener opens one more client onto a store state: each call is another
// home agent's connection. Clients of one state see each other's writes.
// The Opener registers the client's Close with t.Cleanup; Close must be
// idempotent. When every client of the state has been closed, opening
// again must find the state as it was (a restart).
type Opener func(t *testing.T) store.Store

// Config describes a backend to the suite.
type Config struct {
	// Fresh returns an Opener onto a new, empty store state.
	Fresh func(t *testing.T) Opener
	// TTL is the member TTL the membership tests use: the shortest the
	// backend honours. Zero means one second.
	TTL time.Duration
	// Timeout bounds each wait for an event (a watch event, a member
	// lapsing). Zero means 15 seconds.
	Timeout time.Duration
}

func (c Config) ttl() time.Duration {
	if c.TTL == 0 {
		return time.Second
	}
	return c.TTL
}

func (c Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return 15 * time.Second
	}
	return c.Timeout
}

// Run runs the whole conformance suite, one subtest per rule.
func Run(t *testing.T, c Config) {
	tests := []struct {
		name string
		fn   func(t *testing.T, c Config)
	}{
		{"AcquireNew", testAcquireNew},
		{"AcquireSticky", testAcquireSticky},
		{"AcquireSuggested", testAcquireSuggested},
		{"AcquireRequireSuggested", testAcquireRequireSuggested},
		{"AcquireFamilies", testAcquireFamilies},
		{"AcquireInvalid", testAcquireInvalid},
		{"AcquireOwnedElsewhere", testAcquireOwnedElsewhere},
		{"PoolExhaustedAndReclaim", testPoolExhaustedAndReclaim},
		{"ConcurrentAcquireNeverDoubleAllocates", testConcurrentAcquire},
		{"ConcurrentAcquireSameIdentity", testConcurrentAcquireSameIdentity},
		{"Release", testRelease},
		{"RevisionConflict", testRevisionConflict},
		{"ConcurrentTransitionsOneWinner", testConcurrentTransitions},
		{"MoveThenTransfer", testMoveThenTransfer},
		{"MoveDeadlineAndCancel", testMoveDeadlineAndCancel},
		{"TakeoverOnlyAfterMembershipLapsed", testTakeover},
		{"SetAttributes", testSetAttributes},
		{"ListFilter", testListFilter},
		{"WatchLeasesInOrder", testWatchLeases},
		{"WatchSeesOtherClient", testWatchOtherClient},
		{"RestartKeepsLeasesAndRevisions", testRestart},
		{"Members", testMembers},
		{"MemberTTLExpiry", testMemberExpiry},
		{"MemberLeave", testMemberLeave},
		{"MemberRejoinReplaces", testMemberRejoin},
		{"RandomOperationsMatchReferenceModel", testRandomOperations},
		{"ContextCanceled", testContextCanceled},
		{"Closed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, c) })
	}
}

// ctx returns a context bounded by the suite's timeout.
func ctx(t *testing.T, c Config) context.Context {
	t.Helper()
	cx, cancel := context.WithTimeout(context.Background(), 4*c.timeout())
	t.Cleanup(cancel)
	return cx
}
