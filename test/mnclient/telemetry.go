package mnclient

import (
	"context"
	"net/netip"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/mip6ha/mip6ha/homeagent/telemetry"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
)

// The client's traces (docs/telemetry.md names the spans):
//
//   - SpanAttach, one per attachment: from the first IKE_SA_INIT to the
//     first Binding Acknowledgement (or the CHILD_SA, without a binding),
//     with the redirects followed on the way as span events;
//   - telemetry.SpanMove, one per move to another home agent after a Home
//     Agent Switch: the child of the home agent's own move span when the
//     Home Agent Switch carries the move's trace context (the handover
//     option, homeagent.HandoverOption), so that one move is one trace
//     across the mobile node, the old and the new home agent;
//   - below either, IKE_SA_INIT and IKE_AUTH for the IKE SA set up (the
//     exchanges as the initiator sees them: request sent to answer
//     processed), telemetry.SpanBindingUpdate for each registration and
//     deregistration (Binding Update to Binding Acknowledgement) and
//     telemetry.SpanHomeAgentSwitch for the Home Agent Switch received.

// SpanAttach is the span of one attachment of the client: from its first
// IKE_SA_INIT to its first accepted Binding Update.
const SpanAttach = "mip6ha.attach"

// Span attributes of the client besides telemetry's keys.
const (
	// keyHomeAgent is the home agent a span talks to (its address).
	keyHomeAgent attribute.Key = "mip6.home_agent"
	// keyGapMS is a move's longest time without inner packets, in ms.
	keyGapMS attribute.Key = "mip6ha.move.gap_ms"
	// keyTicket says a handover ticket was presented.
	keyTicket attribute.Key = "mip6ha.ticket"
)

// tracer returns the client's tracer: Config.TracerProvider's, or a no-op
// one (which still carries a remote parent's trace context along).
func (c *Client) tracer() trace.Tracer {
	tp := c.cfg.TracerProvider
	if tp == nil {
		tp = noop.NewTracerProvider()
	}
	return tp.Tracer(telemetry.ScopeName)
}

// endSpan ends span with result (telemetry's Result values) and err.
func endSpan(span trace.Span, result string, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.SetAttributes(telemetry.KeyResult.String(result))
	span.End()
}

// ikeSpans times the set-up of one IKE SA as two spans, IKE_SA_INIT (from
// the first request to the answer, which the engine reports with
// NATDetected: the client always forces UDP encapsulation) and IKE_AUTH
// (from then to IKEUp).
type ikeSpans struct {
	ctx  context.Context
	init trace.Span
	auth trace.Span
}

// startIKESpans starts the IKE_SA_INIT span of a session under ctx.
func (c *Client) startIKESpans(ctx context.Context, gw netip.AddrPort) *ikeSpans {
	if ctx == nil {
		return nil
	}
	_, init := c.tracer().Start(ctx, "IKE_SA_INIT", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		telemetry.KeyExchange.String("IKE_SA_INIT"), telemetry.KeyRedirectTarget.String(gw.String())))
	return &ikeSpans{ctx: ctx, init: init}
}

// event moves the spans on with an event of their IKE SA.
func (x *ikeSpans) event(c *Client, e ike.Event) {
	if x == nil {
		return
	}
	switch v := e.(type) {
	case ike.NATDetected:
		if x.init != nil {
			x.init.SetAttributes(telemetry.KeySPIi.String(spiString(v.SPIs.I)), telemetry.KeySPIr.String(spiString(v.SPIs.R)))
			endSpan(x.init, telemetry.ResultOK, nil)
			x.init = nil
			_, x.auth = c.tracer().Start(x.ctx, "IKE_AUTH", trace.WithSpanKind(trace.SpanKindClient),
				trace.WithAttributes(telemetry.KeyExchange.String("IKE_AUTH")))
		}
	case ike.IKEUp:
		endSpan(x.init, telemetry.ResultOK, nil)
		x.init = nil
		if x.auth != nil {
			x.auth.SetAttributes(telemetry.KeyIdentity.String(v.PeerID.String()))
			endSpan(x.auth, telemetry.ResultOK, nil)
			x.auth = nil
		}
	case ike.IKEDown:
		x.end(telemetry.ResultError, v.Err)
	}
}

// end ends whichever span is open.
func (x *ikeSpans) end(result string, err error) {
	if x == nil {
		return
	}
	endSpan(x.init, result, err)
	endSpan(x.auth, result, err)
	x.init, x.auth = nil, nil
}

func spiString(spi uint64) string {
	const hex = "0123456789abcdef"
	var b [16]byte
	for i := range b {
		b[15-i] = hex[spi>>(4*i)&0xf]
	}
	return string(b[:])
}

// bindingSpan is the span of one Binding Update until its Binding
// Acknowledgement.
func (c *Client) bindingSpan(ctx context.Context, ha, hoa, coa netip.Addr, lifetime time.Duration) trace.Span {
	if ctx == nil {
		return nil
	}
	_, span := c.tracer().Start(ctx, telemetry.SpanBindingUpdate, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		keyHomeAgent.String(ha.String()), telemetry.KeyHoA.String(hoa.String()), telemetry.KeyCoA.String(coa.String()),
		telemetry.KeyLifetime.Int64(int64(lifetime/time.Second))))
	return span
}

// attachTrace is the span of the client's first attachment.
type attachTrace struct {
	ctx  context.Context
	span trace.Span
	ike  *ikeSpans
	bu   trace.Span
}

// traceparent is the W3C traceparent of ctx's span, or nil when ctx
// carries none. The node presents it in IKE_AUTH (ike.Config.TraceContext)
// so the home agent's spans join the node's trace.
func traceparent(ctx context.Context) []byte {
	if ctx == nil {
		return nil
	}
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return nil
	}
	return telemetry.AppendTraceparent(nil, sc)
}

// startAttachSpan starts the attachment's span (Run, before the first
// IKE SA).
func (c *Client) startAttachSpan() {
	ctx, span := c.tracer().Start(context.Background(), SpanAttach, trace.WithAttributes(
		telemetry.KeyIdentity.String(c.cfg.ID), telemetry.KeyRedirectTarget.String(c.ha.String())))
	c.attach = &attachTrace{ctx: ctx, span: span}
}

// attachEvent follows the attachment with an event of session s's IKE SA.
func (c *Client) attachEvent(now time.Time, s *session, e ike.Event) {
	a := c.attach
	if a == nil || s != c.cur {
		return
	}
	a.ike.event(c, e)
	switch x := e.(type) {
	case ike.RedirectReceived:
		a.span.AddEvent("redirected", trace.WithTimestamp(now), trace.WithAttributes(
			telemetry.KeyRedirectStage.String(x.Exchange.String()), telemetry.KeyRedirectTarget.String(x.Target.Gateway.String())))
	case ike.AddressAssigned:
		if x.ToUs && x.Assignment.IPv6.IsValid() {
			a.span.SetAttributes(telemetry.KeyHoA.String(x.Assignment.IPv6.Addr().String()))
		}
	case ike.ChildUp:
		if c.cfg.NoBinding {
			c.endAttach(telemetry.ResultOK, nil)
		}
	case ike.IKEDown:
		c.endAttach(telemetry.ResultError, x.Err)
	}
}

// attachSession notes the session the attachment now runs on (the first,
// or one a redirect at IKE_SA_INIT or IKE_AUTH started).
func (c *Client) attachSession(s *session) {
	if a := c.attach; a != nil {
		// The exchange that was under way ended with the REDIRECT (the
		// result of an IKE exchange is the notify that ended it).
		a.ike.end(wire.NotifyRedirect.String(), nil)
		a.ike = c.startIKESpans(a.ctx, s.gw)
	}
}

// attachRegistering notes the attachment's first Binding Update.
func (c *Client) attachRegistering() {
	if a := c.attach; a != nil && a.bu == nil {
		a.bu = c.bindingSpan(a.ctx, c.haAddr, c.bind.hoa, c.bind.coa, c.cfg.Lifetime)
	}
}

// endAttach ends the attachment's spans.
func (c *Client) endAttach(result string, err error) {
	a := c.attach
	if a == nil {
		return
	}
	a.ike.end(result, err)
	endSpan(a.bu, result, err)
	endSpan(a.span, result, err)
	c.attach = nil
}
