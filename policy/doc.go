// Package policy decides where a mobile node should be served: stay, or
// redirect to another home agent, with the reason and the scored table that
// led to the choice. It is pure and deterministic, does no I/O, reads no
// clock and imports only the standard library.
//
// # Inputs and outputs
//
// New compiles a Config and a View (the cluster as one member sees it:
// members with site, addresses, capacity, load, health and drain flag; a
// map from client prefixes to sites; site-to-site distances) into a
// Policy, which then answers, for that member (View.Self):
//
//   - AtInit: an IKE_SA_INIT request (RFC 5685 §3, §4), known by its
//     locator only: the outer source address after NAT, whether it came to
//     the anycast address, and REDIRECTED_FROM;
//   - AtAuth: an IKE_AUTH request with a verified identity (RFC 5685 §6),
//     where the identity's lease decides first;
//   - Reevaluate: a bound node, typically on each Binding Update: is
//     another member now clearly nearer (Home Agent Switch, RFC 5142)?
//   - PlanDrain: the ordered moves that empty this member.
//
// Each returns a Decision: ActionStay or ActionRedirect to a member and
// one of its addresses, and a Reason. Explain returns the same Decision
// with the table of every member's score; Decision.WriteTable renders it
// for an operator and its JSON form is the admin API's. Limiter paces the
// moves (RFC 5142 §7). The decision methods allocate nothing, so the home
// agent can call AtInit for every IKE_SA_INIT it receives.
//
// # Ranking
//
// A member is eligible for a new node when it is healthy, not draining,
// below capacity and has an address the client can use (one of the
// client's address family; a forwarded NAT port only for clients that can
// follow one; the other family only with Config.CrossFamily). Eligible
// members rank by
//
//  1. site distance from the client's site (longest-prefix match of the
//     client's address in View.Sites; unknown sites and unlisted site pairs
//     are at Config.DefaultDistance),
//  2. load ratio, load/capacity,
//  3. rendezvous hash of the client's address and the member ID, so that
//     clients spread evenly over equally good members and every member
//     computes the same spread,
//  4. member ID.
//
// The order is total and every member computes it the same way from the
// same view: it does not depend on Self or on the order of View.Members.
//
// # Hysteresis
//
// A member keeps a node unless the first-ranked member is clearly better:
// nearer by more than Config.DistanceMargin, or (for a new node only) no
// farther and with a load ratio lower by more than Config.LoadMargin. A
// member that is unhealthy, draining or full gives the node to the
// first-ranked member that can take it, except in the loop guard below:
// it does not send a client back to the member in REDIRECTED_FROM. Bound
// nodes move for distance only (or when this member can no longer keep
// them).
//
// # Loop freedom
//
// A placement redirect names the member that ranks first in the sender's
// view. On the same view that member ranks itself first and keeps the
// client, so a chain of placement redirects ends after one hop. A member
// that a client reaches with REDIRECTED_FROM naming a cluster member keeps
// it when it can take a new node (reason redirected-here): the sender
// either ranked us first or sent the client to its lease. So a lease
// redirect at IKE_AUTH adds at most one hop, and a client's whole
// attachment takes at most two redirects on a consistent view, an anycast
// start included (the anycast redirect counts as the placement hop; the
// unicast address it names keeps the client by the same ranking and
// margins). When the member holding (or receiving) the lease is full, two
// more: at IKE_SA_INIT it cannot tell the client is its own and sends it to
// the member it ranks first, which sends it back at IKE_AUTH by the lease,
// and then the REDIRECTED_FROM guard and the lease keep it. The property
// tests check these statements on random views.
//
// Placement never sends a client to the member named in REDIRECTED_FROM
// (it stays instead, reason redirected-from-guard), and a bound node is
// never moved back to the member it came from within Config.LoopWindow.
// When views disagree these guards still stop ping-pong between two
// members; the client's own limit (MAX_REDIRECTS, RFC 5685 §7) bounds
// anything longer. A lease redirect at IKE_AUTH may name the member in
// REDIRECTED_FROM: the lease, not the locator, says where an identity is
// served, and that member keeps the client (redirected-here, then
// lease-here).
//
// REDIRECTED_FROM is unauthenticated (RFC 5685 §11: for logging and
// accounting). It only ever waives the distance and load margins; it never
// lets a client stay on a member that is full, unhealthy or draining, and
// it never admits a node at IKE_AUTH that the exclusions turn away.
//
// # Anycast
//
// A request to the anycast address is always answered with a redirect to
// a unicast address (RFC 5685 §4): another member's if it is clearly
// better, else this member's own (reason anycast-must-redirect). The
// follow-up request to that unicast address carries the anycast address
// in REDIRECTED_FROM, which names no member, and is decided on the same
// ranking, so it stays.
package policy
