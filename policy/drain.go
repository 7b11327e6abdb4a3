package policy

import (
	"cmp"
	"slices"
)

// DrainPlan is the ordered list of moves that empties this home agent.
type DrainPlan struct {
	// Moves are in the order to execute them, one per Limiter token. Each
	// Decision is a redirect with stage drain and reason draining.
	Moves []Move `json:"moves"`
	// Unplaced are the nodes no other member can take (all full,
	// unhealthy, draining or unreachable from the node's address family).
	Unplaced []Binding `json:"unplaced,omitempty"`
}

// Move is one planned switch of a node to another member.
type Move struct {
	Binding  Binding  `json:"binding"`
	Decision Decision `json:"decision"`
}

// PlanDrain plans moving every node in bound (the nodes bound on this
// home agent) to other members, whether or not this member is marked
// draining in the view. Nodes are taken in order of identity, then home
// address (then remote address, care-of address, arrived-from), so the
// plan does not depend on the order of bound. Each node goes to the member
// that ranks first for it among the others, as AtInit ranks them; a
// planned move counts towards that member's load, so that later nodes
// spread once it fills up or its load ratio rises, and no member gets more
// than its capacity. The loop window is not applied: draining is an
// operator's decision.
//
// Execute the moves at the Limiter's pace, and plan again when the view
// changes; the plan is a function of the view it was computed on.
func (p *Policy) PlanDrain(bound []Binding) DrainPlan {
	order := slices.Clone(bound)
	slices.SortFunc(order, func(a, b Binding) int {
		return cmp.Or(
			cmp.Compare(a.Identity, b.Identity),
			a.HoA.Compare(b.HoA),
			a.Remote.Compare(b.Remote),
			a.CoA.Compare(b.CoA),
			cmp.Compare(a.ArrivedFrom, b.ArrivedFrom),
		)
	})
	ms := slices.Clone(p.c.members)
	var plan DrainPlan
	for _, b := range order {
		loc := p.locate(b.Remote, b.PortCapable)
		best, _, _ := p.scan(ms, loc, modeDrain)
		if best < 0 {
			plan.Unplaced = append(plan.Unplaced, b)
			continue
		}
		ms[best].load++
		ms[best].ratio = ratio(ms[best].load, ms[best].capacity)
		plan.Moves = append(plan.Moves, Move{
			Binding:  b,
			Decision: p.redirect(StageDrain, ReasonDraining, best, loc),
		})
	}
	return plan
}
