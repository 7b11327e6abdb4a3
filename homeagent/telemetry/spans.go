package telemetry

import "go.opentelemetry.io/otel/attribute"

// Span names. An IKE exchange's span is named after the exchange type
// (IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL) and a lease
// operation's span after the operation ([LeaseOperation.SpanName]).
const (
	// SpanMove is the root of a move: one per handover, started by the
	// party that starts the move (the mobile node client or the old home
	// agent). Everything else in the handover is below it.
	SpanMove = "mip6ha.move"
	// SpanRedirectDecision is one policy decision (stay or redirect).
	SpanRedirectDecision = "policy.decide"
	// SpanBindingUpdate is one Binding Update, from receipt (home agent)
	// or sending (mobile node) to the Binding Acknowledgement.
	SpanBindingUpdate = "mip6.binding_update"
	// SpanHomeAgentSwitch is one Home Agent Switch (RFC 5142) sent or
	// received.
	SpanHomeAgentSwitch = "mip6.home_agent_switch"
	// SpanDataplaneInstall installs a CHILD_SA, a route or a proxy
	// neighbour entry for a home address.
	SpanDataplaneInstall = "dataplane.install"
	// SpanDataplaneRemove removes one of those.
	SpanDataplaneRemove = "dataplane.remove"
)

// Span attribute keys, besides the shared ones ([KeyExchange],
// [KeyResult], ...).
const (
	// KeyMember is the cluster member (home agent) a span refers to, not
	// the one that records it (that is the resource's
	// service.instance.id): the target of a move, the owner of a lease.
	KeyMember attribute.Key = "mip6ha.member"
	// KeyIdentity is the peer's authenticated IKE identity (IDi).
	KeyIdentity attribute.Key = "ike.identity"
	// KeySPIi and KeySPIr are the IKE SA's SPIs, 16 hex digits each.
	KeySPIi attribute.Key = "ike.spi.initiator"
	KeySPIr attribute.Key = "ike.spi.responder"
	// KeyMessageID is the IKE Message ID.
	KeyMessageID attribute.Key = "ike.message_id"
	// KeyHoA and KeyCoA are the home address and care-of address.
	KeyHoA attribute.Key = "mip6.hoa"
	KeyCoA attribute.Key = "mip6.coa"
	// KeySequence is a Binding Update's Sequence Number.
	KeySequence attribute.Key = "mip6.sequence"
	// KeyLifetime is a binding lifetime in seconds.
	KeyLifetime attribute.Key = "mip6.lifetime"
	// KeyRedirectTarget is the gateway a redirect or move names.
	KeyRedirectTarget attribute.Key = "redirect.target"
	// KeyLeaseRevision is the store revision a lease operation read or
	// wrote.
	KeyLeaseRevision attribute.Key = "lease.revision"
)
