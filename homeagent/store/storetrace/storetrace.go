// Package storetrace puts an OpenTelemetry span around every call of a
// lease store and carries a move's trace through the lease record, so
// that one handover is one trace across the old home agent, the store and
// the new home agent (ARCHITECTURE §7).
//
// The old home agent calls MarkMoving inside the move's span: Wrap records
// the span's W3C traceparent in the lease (Move.TraceContext, unless the
// caller set one). The new home agent reads the lease and continues the
// trace with ContextWithMove before it transfers the lease.
package storetrace

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/mip6ha/mip6ha/homeagent/store"
)

// ScopeName is the instrumentation scope of the spans.
const ScopeName = "github.com/mip6ha/mip6ha/homeagent/store"

// Attribute keys of the spans.
const (
	AttrHoA      = attribute.Key("mip6ha.hoa")
	AttrIdentity = attribute.Key("mip6ha.identity")
	AttrOwner    = attribute.Key("mip6ha.owner")
	AttrMovingTo = attribute.Key("mip6ha.moving_to")
	AttrState    = attribute.Key("mip6ha.lease.state")
	AttrRevision = attribute.Key("mip6ha.lease.revision")
	AttrExpected = attribute.Key("mip6ha.lease.expected_revision")
	AttrError    = attribute.Key("mip6ha.store.error")
	AttrMember   = attribute.Key("mip6ha.member")
)

var traceContext propagation.TraceContext

// TraceParent returns the W3C traceparent of the span in ctx, or "" when
// ctx carries no valid span.
func TraceParent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	traceContext.Inject(ctx, c)
	return c["traceparent"]
}

// ContextWithMove returns ctx carrying, as remote parent, the span whose
// traceparent the lease records (the span that started its latest move),
// so that spans started from it join the move's trace. Without a valid
// trace context in l, ctx is returned unchanged.
func ContextWithMove(ctx context.Context, l store.Lease) context.Context {
	if l.TraceContext == "" {
		return ctx
	}
	return traceContext.Extract(ctx, propagation.MapCarrier{"traceparent": l.TraceContext})
}

// Wrap returns s with a span around every call, from tp's tracer.
func Wrap(s store.Store, tp trace.TracerProvider) store.Store {
	return &traced{s: s, t: tp.Tracer(ScopeName)}
}

type traced struct {
	s store.Store
	t trace.Tracer
}

// span starts the span of op.
func (w *traced) span(ctx context.Context, op string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return w.t.Start(ctx, "store."+op, trace.WithAttributes(attrs...))
}

// sentinels name the contract's errors on spans.
var sentinels = []struct {
	err  error
	name string
}{
	{store.ErrNotFound, "not_found"}, {store.ErrConflict, "conflict"}, {store.ErrState, "state"},
	{store.ErrOwnedElsewhere, "owned_elsewhere"}, {store.ErrOwnerAlive, "owner_alive"},
	{store.ErrPoolExhausted, "pool_exhausted"}, {store.ErrAddressInUse, "address_in_use"},
	{store.ErrInvalid, "invalid"}, {store.ErrCorrupt, "corrupt"}, {store.ErrWatchLagged, "watch_lagged"},
	{store.ErrClosed, "closed"}, {store.ErrUnavailable, "unavailable"},
	{context.Canceled, "canceled"}, {context.DeadlineExceeded, "deadline"},
}

// end ends span with the outcome of a lease operation.
func end(span trace.Span, l store.Lease, err error) {
	if err != nil {
		name := "other"
		for _, s := range sentinels {
			if errors.Is(err, s.err) {
				name = s.name
				break
			}
		}
		span.SetAttributes(AttrError.String(name))
		span.RecordError(err)
		span.SetStatus(codes.Error, name)
	} else if l.HoA.IsValid() {
		span.SetAttributes(AttrHoA.String(l.HoA.String()), AttrOwner.String(l.Owner),
			AttrState.String(l.State.String()), AttrRevision.Int64(int64(l.Revision)))
		if l.MovingTo != "" {
			span.SetAttributes(AttrMovingTo.String(l.MovingTo))
		}
	}
	span.End()
}

func (w *traced) Acquire(ctx context.Context, req store.AcquireRequest) (store.Lease, error) {
	ctx, span := w.span(ctx, "Acquire", AttrIdentity.String(req.Identity), AttrOwner.String(req.Owner))
	l, err := w.s.Acquire(ctx, req)
	end(span, l, err)
	return l, err
}

func (w *traced) Lease(ctx context.Context, hoa netip.Addr) (store.Lease, error) {
	ctx, span := w.span(ctx, "Lease", AttrHoA.String(hoa.String()))
	l, err := w.s.Lease(ctx, hoa)
	end(span, l, err)
	return l, err
}

func (w *traced) IdentityLease(ctx context.Context, identity string, f store.Family) (store.Lease, error) {
	ctx, span := w.span(ctx, "IdentityLease", AttrIdentity.String(identity))
	l, err := w.s.IdentityLease(ctx, identity, f)
	end(span, l, err)
	return l, err
}

func (w *traced) List(ctx context.Context, f store.Filter) ([]store.Lease, error) {
	ctx, span := w.span(ctx, "List")
	ls, err := w.s.List(ctx, f)
	span.SetAttributes(attribute.Int("mip6ha.leases", len(ls)))
	end(span, store.Lease{}, err)
	return ls, err
}

// transition wraps a compare-and-swap operation.
func (w *traced) transition(ctx context.Context, op string, hoa netip.Addr, expected store.Revision,
	call func(context.Context) (store.Lease, error), attrs ...attribute.KeyValue) (store.Lease, error) {
	attrs = append(attrs, AttrHoA.String(hoa.String()), AttrExpected.Int64(int64(expected)))
	ctx, span := w.span(ctx, op, attrs...)
	l, err := call(ctx)
	end(span, l, err)
	return l, err
}

func (w *traced) Release(ctx context.Context, hoa netip.Addr, expected store.Revision) (store.Lease, error) {
	return w.transition(ctx, "Release", hoa, expected, func(ctx context.Context) (store.Lease, error) {
		return w.s.Release(ctx, hoa, expected)
	})
}

// MarkMoving records the move's span in the lease when the caller did not
// give a trace context.
func (w *traced) MarkMoving(ctx context.Context, hoa netip.Addr, expected store.Revision, m store.Move) (store.Lease, error) {
	if m.TraceContext == "" {
		m.TraceContext = TraceParent(ctx)
	}
	return w.transition(ctx, "MarkMoving", hoa, expected, func(ctx context.Context) (store.Lease, error) {
		return w.s.MarkMoving(ctx, hoa, expected, m)
	}, AttrMovingTo.String(m.To))
}

func (w *traced) CancelMove(ctx context.Context, hoa netip.Addr, expected store.Revision) (store.Lease, error) {
	return w.transition(ctx, "CancelMove", hoa, expected, func(ctx context.Context) (store.Lease, error) {
		return w.s.CancelMove(ctx, hoa, expected)
	})
}

func (w *traced) Transfer(ctx context.Context, hoa netip.Addr, expected store.Revision, to string) (store.Lease, error) {
	return w.transition(ctx, "Transfer", hoa, expected, func(ctx context.Context) (store.Lease, error) {
		return w.s.Transfer(ctx, hoa, expected, to)
	}, AttrMember.String(to))
}

func (w *traced) Takeover(ctx context.Context, hoa netip.Addr, expected store.Revision, owner string) (store.Lease, error) {
	return w.transition(ctx, "Takeover", hoa, expected, func(ctx context.Context) (store.Lease, error) {
		return w.s.Takeover(ctx, hoa, expected, owner)
	}, AttrMember.String(owner))
}

func (w *traced) SetAttributes(ctx context.Context, hoa netip.Addr, expected store.Revision, a store.Attributes) (store.Lease, error) {
	return w.transition(ctx, "SetAttributes", hoa, expected, func(ctx context.Context) (store.Lease, error) {
		return w.s.SetAttributes(ctx, hoa, expected, a)
	})
}

// WatchLeases is not traced per event: a watch lives as long as its
// consumer.
func (w *traced) WatchLeases(ctx context.Context) (*store.Watch[store.Lease], error) {
	return w.s.WatchLeases(ctx)
}

func (w *traced) Join(ctx context.Context, m store.Member, ttl time.Duration) (store.Membership, error) {
	// The keep-alive lives as long as ctx; the span only covers the join.
	ctx, span := w.span(ctx, "Join", AttrMember.String(m.ID))
	r, err := w.s.Join(ctx, m, ttl)
	end(span, store.Lease{}, err)
	return r, err
}

func (w *traced) Member(ctx context.Context, id string) (store.Member, error) {
	ctx, span := w.span(ctx, "Member", AttrMember.String(id))
	m, err := w.s.Member(ctx, id)
	end(span, store.Lease{}, err)
	return m, err
}

func (w *traced) MemberList(ctx context.Context) ([]store.Member, error) {
	ctx, span := w.span(ctx, "MemberList")
	ms, err := w.s.MemberList(ctx)
	end(span, store.Lease{}, err)
	return ms, err
}

func (w *traced) WatchMembers(ctx context.Context) (*store.Watch[store.Member], error) {
	return w.s.WatchMembers(ctx)
}

func (w *traced) Close() error { return w.s.Close() }
