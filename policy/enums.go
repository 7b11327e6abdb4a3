package policy

import (
	"fmt"
	"strconv"
)

// Stage names the decision point a Decision was taken at.
type Stage uint8

// Decision points.
const (
	// StageInit is an IKE_SA_INIT request (RFC 5685 §3, §4): only the
	// client's locator is known.
	StageInit Stage = iota + 1
	// StageAuth is an IKE_AUTH request after the client's AUTH was
	// verified (RFC 5685 §6): the identity and its lease are known.
	StageAuth
	// StageReevaluate is a node bound on this home agent whose binding
	// was refreshed, possibly from a new care-of address: should it move
	// (Home Agent Switch, RFC 5142)?
	StageReevaluate
	// StageDrain is a move planned to empty this home agent.
	StageDrain
)

var stageNames = [...]string{
	StageInit:       "init",
	StageAuth:       "auth",
	StageReevaluate: "reevaluate",
	StageDrain:      "drain",
}

// String returns the stage's name ("init", "auth", "reevaluate", "drain").
func (s Stage) String() string { return enumString(stageNames[:], uint8(s), "Stage") }

// MarshalText encodes the stage as its name.
func (s Stage) MarshalText() ([]byte, error) { return enumMarshal(stageNames[:], uint8(s), "stage") }

// UnmarshalText decodes a stage name.
func (s *Stage) UnmarshalText(b []byte) error {
	return enumUnmarshal(stageNames[:], (*uint8)(s), b, "stage")
}

// Action is what a home agent does with a node: keep it or send it away.
type Action uint8

// Actions. The zero value is not an action, so a zero Decision is
// recognisably empty.
const (
	// ActionStay keeps the node on this home agent.
	ActionStay Action = iota + 1
	// ActionRedirect sends the node to Decision.Target at Decision.Addr:
	// a REDIRECT notify at IKE_SA_INIT or IKE_AUTH (RFC 5685), a Home
	// Agent Switch for a bound node (RFC 5142).
	ActionRedirect
)

var actionNames = [...]string{
	ActionStay:     "stay",
	ActionRedirect: "redirect",
}

// String returns "stay" or "redirect".
func (a Action) String() string { return enumString(actionNames[:], uint8(a), "Action") }

// MarshalText encodes the action as its name.
func (a Action) MarshalText() ([]byte, error) {
	return enumMarshal(actionNames[:], uint8(a), "action")
}

// UnmarshalText decodes an action name.
func (a *Action) UnmarshalText(b []byte) error {
	return enumUnmarshal(actionNames[:], (*uint8)(a), b, "action")
}

// Reason says why a Decision came out the way it did. Each decision has
// exactly one reason: the rule that settled it (see the package
// documentation for the order in which the rules apply).
type Reason uint8

// Reasons for staying.
const (
	// ReasonBest: this home agent ranks first among the eligible members.
	ReasonBest Reason = iota + 1
	// ReasonHysteresis: another member ranks first, but not by the
	// configured margins (Config.DistanceMargin, Config.LoadMargin), so
	// the node stays.
	ReasonHysteresis
	// ReasonRedirectedHere: the client names a cluster member in
	// REDIRECTED_FROM and this home agent is serving (healthy, not
	// draining); a member already placed it, so it stays.
	ReasonRedirectedHere
	// ReasonRedirectedFromGuard: the only better place is the member the
	// client came from (REDIRECTED_FROM, or the member a bound node moved
	// from within Config.LoopWindow); the node stays rather than bounce.
	ReasonRedirectedFromGuard
	// ReasonNoCandidate: no member, this one included, can take the node.
	ReasonNoCandidate
	// ReasonLeaseHere: the identity's lease lives on this home agent.
	ReasonLeaseHere
	// ReasonLeaseMovingHere: the identity's lease is moving to this home
	// agent.
	ReasonLeaseMovingHere
)

// Reasons for redirecting.
const (
	// ReasonNearer: the target's site is nearer the client by more than
	// Config.DistanceMargin.
	ReasonNearer Reason = iota + 16
	// ReasonLessLoaded: the target is no farther and its load ratio is
	// lower by more than Config.LoadMargin.
	ReasonLessLoaded
	// ReasonDraining: this home agent is draining.
	ReasonDraining
	// ReasonUnhealthy: this home agent is marked unhealthy in the view.
	ReasonUnhealthy
	// ReasonOverloaded: this home agent is at (or over) capacity.
	ReasonOverloaded
	// ReasonAnycast: the request arrived on an anycast address, which
	// MUST be answered with a redirect to a unicast address (RFC 5685 §4);
	// the target is this home agent's own unicast address, or another
	// member because this one has no unicast address the client can use.
	ReasonAnycast
	// ReasonLeaseElsewhere: the identity's lease lives on the target.
	ReasonLeaseElsewhere
	// ReasonLeaseMoving: the identity's lease is moving to the target.
	ReasonLeaseMoving
)

var reasonNames = [...]string{
	ReasonBest:                "best",
	ReasonHysteresis:          "hysteresis",
	ReasonRedirectedHere:      "redirected-here",
	ReasonRedirectedFromGuard: "redirected-from-guard",
	ReasonNoCandidate:         "no-candidate",
	ReasonLeaseHere:           "lease-here",
	ReasonLeaseMovingHere:     "lease-moving-here",
	ReasonNearer:              "nearer",
	ReasonLessLoaded:          "less-loaded",
	ReasonDraining:            "draining",
	ReasonUnhealthy:           "unhealthy",
	ReasonOverloaded:          "overloaded",
	ReasonAnycast:             "anycast-must-redirect",
	ReasonLeaseElsewhere:      "lease-elsewhere",
	ReasonLeaseMoving:         "lease-moving",
}

// String returns the reason's name, e.g. "nearer" or "lease-elsewhere".
func (r Reason) String() string { return enumString(reasonNames[:], uint8(r), "Reason") }

// MarshalText encodes the reason as its name.
func (r Reason) MarshalText() ([]byte, error) {
	return enumMarshal(reasonNames[:], uint8(r), "reason")
}

// UnmarshalText decodes a reason name.
func (r *Reason) UnmarshalText(b []byte) error {
	return enumUnmarshal(reasonNames[:], (*uint8)(r), b, "reason")
}

// Exclusion says why a member is not eligible to take a node. The zero
// value, ExcludedNone, means eligible.
type Exclusion uint8

// Exclusions, in the order they are checked: a member with several
// problems reports the first.
const (
	// ExcludedNone: the member is eligible.
	ExcludedNone Exclusion = iota
	// ExcludedUnhealthy: the member is not healthy.
	ExcludedUnhealthy
	// ExcludedDraining: the member is draining and takes no nodes.
	ExcludedDraining
	// ExcludedFull: the member's load has reached its capacity (a member
	// keeping a node it already serves is full only when over capacity).
	ExcludedFull
	// ExcludedNoAddress: the member has no address the client can reach:
	// none of the client's address family (and Config.CrossFamily is off).
	ExcludedNoAddress
	// ExcludedNeedsPort: the member is reachable from the client's address
	// family only at a forwarded port, and the client did not announce
	// that it can follow a redirect that names a port.
	ExcludedNeedsPort
)

var exclusionNames = [...]string{
	ExcludedNone:      "none",
	ExcludedUnhealthy: "unhealthy",
	ExcludedDraining:  "draining",
	ExcludedFull:      "full",
	ExcludedNoAddress: "no-address",
	ExcludedNeedsPort: "needs-port",
}

// String returns the exclusion's name, e.g. "draining"; "none" when
// eligible.
func (e Exclusion) String() string { return enumString(exclusionNames[:], uint8(e), "Exclusion") }

// MarshalText encodes the exclusion as its name.
func (e Exclusion) MarshalText() ([]byte, error) {
	return enumMarshal(exclusionNames[:], uint8(e), "exclusion")
}

// UnmarshalText decodes an exclusion name.
func (e *Exclusion) UnmarshalText(b []byte) error {
	return enumUnmarshal(exclusionNames[:], (*uint8)(e), b, "exclusion")
}

func enumString(names []string, v uint8, typ string) string {
	if int(v) < len(names) && names[v] != "" {
		return names[v]
	}
	return typ + "(" + strconv.Itoa(int(v)) + ")"
}

func enumMarshal(names []string, v uint8, what string) ([]byte, error) {
	if int(v) < len(names) && names[v] != "" {
		return []byte(names[v]), nil
	}
	return nil, fmt.Errorf("policy: no name for %s %d", what, v)
}

func enumUnmarshal(names []string, v *uint8, b []byte, what string) error {
	for i, n := range names {
		if n != "" && n == string(b) {
			*v = uint8(i)
			return nil
		}
	}
	return fmt.Errorf("policy: unknown %s %q", what, b)
}
