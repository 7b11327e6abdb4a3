package telemetry

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// ScopeName is the instrumentation scope of the meter [Metrics] records
// with, and the name to give tracers of the project
// (TracerProvider().Tracer(telemetry.ScopeName)).
const ScopeName = "github.com/mip6ha/mip6ha"

// Attribute keys shared by metrics and spans. Prometheus shows them with
// '.' turned into '_' (ike.exchange becomes ike_exchange).
const (
	// KeyExchange is the IKEv2 exchange type by its RFC 7296 name:
	// IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL.
	KeyExchange attribute.Key = "ike.exchange"
	// KeyResult is the outcome of an operation; see the Result constants.
	KeyResult attribute.Key = "result"
	// KeyRedirectStage is where a redirect happened; see [RedirectStage].
	KeyRedirectStage attribute.Key = "redirect.stage"
	// KeyRedirectReason is the policy's reason for a redirect, a short
	// fixed word (policy's reason names), never free text.
	KeyRedirectReason attribute.Key = "redirect.reason"
	// KeyStatus is the Binding Acknowledgement Status (RFC 6275 §6.1.8)
	// as a number: below 128 accepted, 128 and above rejected.
	KeyStatus attribute.Key = "mip6.status"
	// KeyLeaseOperation is the kind of lease store operation; see
	// [LeaseOperation].
	KeyLeaseOperation attribute.Key = "lease.operation"
	// KeyDirection is "in" (received from the network) or "out" (sent).
	KeyDirection attribute.Key = "direction"
	// KeyDropReason is why the dataplane discarded a packet, a short fixed
	// word such as "auth-fail" or "replay".
	KeyDropReason attribute.Key = "drop.reason"
)

// Values of [KeyResult]. An IKE exchange that failed with an error notify
// uses the notify's RFC name instead (e.g. "AUTHENTICATION_FAILED").
const (
	ResultOK       = "ok"
	ResultError    = "error"
	ResultTimeout  = "timeout"
	ResultConflict = "conflict" // a compare-and-swap lost against a newer revision
)

// RedirectStage is where in IKEv2 a redirect was sent (home agent) or
// followed (mobile node), RFC 5685.
type RedirectStage string

// Redirect stages.
const (
	// RedirectAtInit: REDIRECT in the IKE_SA_INIT response (§4.2).
	RedirectAtInit RedirectStage = "init"
	// RedirectAtAuth: REDIRECT in the IKE_AUTH response (§6).
	RedirectAtAuth RedirectStage = "auth"
	// RedirectInformational: REDIRECT in an INFORMATIONAL request on an
	// established SA (§5).
	RedirectInformational RedirectStage = "informational"
)

// LeaseOperation is a kind of lease store operation.
type LeaseOperation string

// Lease operations.
const (
	// LeaseAcquire takes a home address for an identity (new lease, or
	// the identity's existing one on this agent).
	LeaseAcquire LeaseOperation = "acquire"
	// LeaseRenew extends a lease this agent owns.
	LeaseRenew LeaseOperation = "renew"
	// LeaseMarkMoving marks a lease as moving to another agent.
	LeaseMarkMoving LeaseOperation = "mark_moving"
	// LeaseTransfer takes over a lease from another agent
	// (compare-and-swap on its revision).
	LeaseTransfer LeaseOperation = "transfer"
	// LeaseRelease gives a lease up.
	LeaseRelease LeaseOperation = "release"
)

// SpanName is the name of the span for one lease operation, "lease.<op>".
func (op LeaseOperation) SpanName() string { return "lease." + string(op) }

// Instrument describes one metric of the catalogue: its OpenTelemetry name,
// the name Prometheus shows, kind, unit, meaning and attribute keys.
type Instrument struct {
	// Name is the OpenTelemetry instrument name, "mip6ha.<area>.<what>".
	Name string
	// Prometheus is the metric family name a scrape shows.
	Prometheus string
	// Kind is "counter", "updowncounter", "histogram" or "observable
	// counter".
	Kind string
	// Unit is the UCUM unit, as OpenTelemetry wants: "s", "By", "{sa}".
	Unit string
	// Description is the instrument's help text.
	Description string
	// Attributes are the keys every data point carries.
	Attributes []attribute.Key
}

// The catalogue. Every metric the project records is here, and nowhere else.
var (
	instIKESAs = Instrument{
		Name: "mip6ha.ike.sas", Prometheus: "mip6ha_ike_sas", Kind: "updowncounter", Unit: "{sa}",
		Description: "IKE SAs established and not yet deleted.",
	}
	instChildSAs = Instrument{
		Name: "mip6ha.ike.child_sas", Prometheus: "mip6ha_ike_child_sas", Kind: "updowncounter", Unit: "{sa}",
		Description: "CHILD_SAs (pairs of ESP SAs) installed and not yet deleted.",
	}
	instExchanges = Instrument{
		Name: "mip6ha.ike.exchanges", Prometheus: "mip6ha_ike_exchanges_total", Kind: "counter", Unit: "{exchange}",
		Description: "IKEv2 exchanges completed, by exchange type and result.",
		Attributes:  []attribute.Key{KeyExchange, KeyResult},
	}
	instRedirects = Instrument{
		Name: "mip6ha.ike.redirects", Prometheus: "mip6ha_ike_redirects_total", Kind: "counter", Unit: "{redirect}",
		Description: "RFC 5685 redirects sent (home agent) or followed (mobile node), by stage and reason.",
		Attributes:  []attribute.Key{KeyRedirectStage, KeyRedirectReason},
	}
	instBindings = Instrument{
		Name: "mip6ha.mip6.bindings", Prometheus: "mip6ha_mip6_bindings", Kind: "updowncounter", Unit: "{binding}",
		Description: "Binding cache entries (home registrations).",
	}
	instBindingUpdates = Instrument{
		Name: "mip6ha.mip6.binding_updates", Prometheus: "mip6ha_mip6_binding_updates_total", Kind: "counter", Unit: "{message}",
		Description: "Binding Updates processed, by the Binding Acknowledgement status (RFC 6275 §6.1.8).",
		Attributes:  []attribute.Key{KeyStatus},
	}
	instLeaseOps = Instrument{
		Name: "mip6ha.store.lease_operations", Prometheus: "mip6ha_store_lease_operations_total", Kind: "counter", Unit: "{operation}",
		Description: "Lease store operations, by kind and result.",
		Attributes:  []attribute.Key{KeyLeaseOperation, KeyResult},
	}
	instHandover = Instrument{
		Name: "mip6ha.handover.duration", Prometheus: "mip6ha_handover_duration_seconds", Kind: "histogram", Unit: "s",
		Description: "Time from the start of a move (Home Agent Switch or redirect) until the new home agent serves the home address.",
		Attributes:  []attribute.Key{KeyResult},
	}
	instPackets = Instrument{
		Name: "mip6ha.dataplane.packets", Prometheus: "mip6ha_dataplane_packets_total", Kind: "observable counter", Unit: "{packet}",
		Description: "Packets through the dataplane, by direction.",
		Attributes:  []attribute.Key{KeyDirection},
	}
	instBytes = Instrument{
		Name: "mip6ha.dataplane.bytes", Prometheus: "mip6ha_dataplane_bytes_total", Kind: "observable counter", Unit: "By",
		Description: "Bytes through the dataplane, by direction.",
		Attributes:  []attribute.Key{KeyDirection},
	}
	instDrops = Instrument{
		Name: "mip6ha.dataplane.drops", Prometheus: "mip6ha_dataplane_drops_total", Kind: "observable counter", Unit: "{packet}",
		Description: "Packets the dataplane discarded, by reason.",
		Attributes:  []attribute.Key{KeyDropReason},
	}
)

// HandoverBuckets are the bucket boundaries, in seconds, of
// mip6ha.handover.duration: a make-before-break move takes from tens of
// milliseconds (one IKE_SA setup and a BU on a LAN) to seconds (loss,
// retransmissions).
var HandoverBuckets = []float64{0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Catalogue returns every metric [Metrics] records, in documentation order.
func Catalogue() []Instrument {
	return []Instrument{
		instIKESAs, instChildSAs, instExchanges, instRedirects,
		instBindings, instBindingUpdates, instLeaseOps, instHandover,
		instPackets, instBytes, instDrops,
	}
}

// Metrics records the catalogue's metrics. Its methods are safe for
// concurrent use and cheap enough for every IKE exchange and Binding
// Update; the per-packet counters are not recorded here but read from the
// dataplane's own counters (see [Metrics.ObserveDataplane]).
type Metrics struct {
	meter          metric.Meter
	ikeSAs         metric.Int64UpDownCounter
	childSAs       metric.Int64UpDownCounter
	exchanges      metric.Int64Counter
	redirects      metric.Int64Counter
	bindings       metric.Int64UpDownCounter
	bindingUpdates metric.Int64Counter
	leaseOps       metric.Int64Counter
	handover       metric.Float64Histogram
	packets        metric.Int64ObservableCounter
	bytes          metric.Int64ObservableCounter
	drops          metric.Int64ObservableCounter
	// status holds the attribute option of each Binding Acknowledgement
	// status, and exchangeAttrs, redirectAttrs and leaseAttrs those of the
	// pairs seen so far, so that recording does not allocate.
	status        [256][]metric.AddOption
	exchangeAttrs *attrCache
	redirectAttrs *attrCache
	leaseAttrs    *attrCache
}

var (
	dirIn  = metric.WithAttributeSet(attribute.NewSet(KeyDirection.String("in")))
	dirOut = metric.WithAttributeSet(attribute.NewSet(KeyDirection.String("out")))
)

// NewMetrics creates the catalogue's instruments on mp's meter named
// [ScopeName]. A no-op provider gives no-op metrics.
func NewMetrics(mp metric.MeterProvider) (*Metrics, error) {
	m := &Metrics{meter: mp.Meter(ScopeName)}
	var errs [11]error
	m.ikeSAs, errs[0] = m.meter.Int64UpDownCounter(instIKESAs.Name, desc(instIKESAs), unit(instIKESAs))
	m.childSAs, errs[1] = m.meter.Int64UpDownCounter(instChildSAs.Name, desc(instChildSAs), unit(instChildSAs))
	m.exchanges, errs[2] = m.meter.Int64Counter(instExchanges.Name, desc(instExchanges), unit(instExchanges))
	m.redirects, errs[3] = m.meter.Int64Counter(instRedirects.Name, desc(instRedirects), unit(instRedirects))
	m.bindings, errs[4] = m.meter.Int64UpDownCounter(instBindings.Name, desc(instBindings), unit(instBindings))
	m.bindingUpdates, errs[5] = m.meter.Int64Counter(instBindingUpdates.Name, desc(instBindingUpdates), unit(instBindingUpdates))
	m.leaseOps, errs[6] = m.meter.Int64Counter(instLeaseOps.Name, desc(instLeaseOps), unit(instLeaseOps))
	m.handover, errs[7] = m.meter.Float64Histogram(instHandover.Name, desc(instHandover), unit(instHandover),
		metric.WithExplicitBucketBoundaries(HandoverBuckets...))
	m.packets, errs[8] = m.meter.Int64ObservableCounter(instPackets.Name, desc(instPackets), unit(instPackets))
	m.bytes, errs[9] = m.meter.Int64ObservableCounter(instBytes.Name, desc(instBytes), unit(instBytes))
	m.drops, errs[10] = m.meter.Int64ObservableCounter(instDrops.Name, desc(instDrops), unit(instDrops))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	for s := range m.status {
		m.status[s] = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(KeyStatus.Int(s)))}
	}
	m.exchangeAttrs = newAttrCache(KeyExchange, KeyResult)
	m.redirectAttrs = newAttrCache(KeyRedirectStage, KeyRedirectReason)
	m.leaseAttrs = newAttrCache(KeyLeaseOperation, KeyResult)
	return m, nil
}

func desc(i Instrument) metric.InstrumentOption { return metric.WithDescription(i.Description) }
func unit(i Instrument) metric.InstrumentOption { return metric.WithUnit(i.Unit) }

// AddIKESAs adds delta (+1 when an IKE SA is established, -1 when it is
// deleted or expires) to mip6ha.ike.sas.
func (m *Metrics) AddIKESAs(ctx context.Context, delta int64) { m.ikeSAs.Add(ctx, delta) }

// AddChildSAs adds delta to mip6ha.ike.child_sas.
func (m *Metrics) AddChildSAs(ctx context.Context, delta int64) { m.childSAs.Add(ctx, delta) }

// AddBindings adds delta (+1 for a new binding cache entry, -1 when one is
// deleted or expires) to mip6ha.mip6.bindings.
func (m *Metrics) AddBindings(ctx context.Context, delta int64) { m.bindings.Add(ctx, delta) }

// RecordIKEExchange counts one completed exchange. exchange is the RFC 7296
// name (ike/wire.ExchangeType's String), result is [ResultOK],
// [ResultTimeout] or the name of the error notify that ended it.
func (m *Metrics) RecordIKEExchange(ctx context.Context, exchange, result string) {
	m.exchanges.Add(ctx, 1, m.exchangeAttrs.options(exchange, result)...)
}

// RecordRedirect counts one redirect at stage for reason.
func (m *Metrics) RecordRedirect(ctx context.Context, stage RedirectStage, reason string) {
	m.redirects.Add(ctx, 1, m.redirectAttrs.options(string(stage), reason)...)
}

// RecordBindingUpdate counts one processed Binding Update by the status of
// its Binding Acknowledgement (mip6/mh.Status, RFC 6275 §6.1.8), whether
// or not a BA was sent.
func (m *Metrics) RecordBindingUpdate(ctx context.Context, status uint8) {
	m.bindingUpdates.Add(ctx, 1, m.status[status]...)
}

// RecordLeaseOperation counts one lease store operation; result is
// [ResultOK], [ResultConflict] or [ResultError].
func (m *Metrics) RecordLeaseOperation(ctx context.Context, op LeaseOperation, result string) {
	m.leaseOps.Add(ctx, 1, m.leaseAttrs.options(string(op), result)...)
}

// RecordHandover records the duration of one move; result is [ResultOK],
// [ResultTimeout] or [ResultError].
func (m *Metrics) RecordHandover(ctx context.Context, d time.Duration, result string) {
	m.handover.Record(ctx, d.Seconds(), metric.WithAttributes(KeyResult.String(result)))
}

// DataplaneCounters is a snapshot of cumulative dataplane counters, counted
// from the start of the dataplane.
type DataplaneCounters struct {
	PacketsIn, PacketsOut uint64
	BytesIn, BytesOut     uint64
	// Drops maps a drop reason (dataplane.DropReason's String, or a
	// runtime reason such as "inbox-full") to its count.
	Drops map[string]uint64
}

// ObserveDataplane makes the dataplane metrics (packets, bytes, drops) read
// their values from snapshot each time the metrics are collected (a
// Prometheus scrape). snapshot must be safe to call from any goroutine and
// quick. Register one source per Metrics; unregister it when the dataplane
// stops.
func (m *Metrics) ObserveDataplane(snapshot func() DataplaneCounters) (metric.Registration, error) {
	return m.meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		c := snapshot()
		o.ObserveInt64(m.packets, clamp(c.PacketsIn), dirIn)
		o.ObserveInt64(m.packets, clamp(c.PacketsOut), dirOut)
		o.ObserveInt64(m.bytes, clamp(c.BytesIn), dirIn)
		o.ObserveInt64(m.bytes, clamp(c.BytesOut), dirOut)
		for reason, n := range c.Drops {
			o.ObserveInt64(m.drops, clamp(n), metric.WithAttributes(KeyDropReason.String(reason)))
		}
		return nil
	}, m.packets, m.bytes, m.drops)
}

// clamp converts a counter to the int64 OpenTelemetry observes; a counter
// past 2^63-1 stays there.
func clamp(n uint64) int64 {
	if n > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(n)
}

// attrCache keeps the attribute option of each pair of values of two keys,
// up to attrCacheMax pairs; past that (a caller passing unbounded values,
// which it should not), options are built on each call.
type attrCache struct {
	k1, k2 attribute.Key
	mu     sync.RWMutex
	m      map[[2]string][]metric.AddOption
}

const attrCacheMax = 1024

func newAttrCache(k1, k2 attribute.Key) *attrCache {
	return &attrCache{k1: k1, k2: k2, m: make(map[[2]string][]metric.AddOption)}
}

func (c *attrCache) options(v1, v2 string) []metric.AddOption {
	key := [2]string{v1, v2}
	c.mu.RLock()
	o, ok := c.m[key]
	c.mu.RUnlock()
	if ok {
		return o
	}
	o = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(c.k1.String(v1), c.k2.String(v2)))}
	c.mu.Lock()
	if len(c.m) < attrCacheMax {
		c.m[key] = o
	}
	c.mu.Unlock()
	return o
}
