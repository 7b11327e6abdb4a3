package telemetry

import (
	"context"
	"math"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// collect returns every data point the reader holds, by instrument name.
func collect(t *testing.T, r *sdkmetric.ManualReader) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != ScopeName {
			t.Errorf("scope %q, want %q", sm.Scope.Name, ScopeName)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// sum returns the int64 sum data point of m whose attributes are exactly
// kv, and whether there is one.
func sum(m metricdata.Metrics, kv ...attribute.KeyValue) (int64, bool) {
	want := attribute.NewSet(kv...)
	s, ok := m.Data.(metricdata.Sum[int64])
	if !ok {
		return 0, false
	}
	for _, dp := range s.DataPoints {
		if dp.Attributes.Equals(&want) {
			return dp.Value, true
		}
	}
	return 0, false
}

func newTestMetrics(t *testing.T) (*Metrics, *sdkmetric.ManualReader) {
	t.Helper()
	r := sdkmetric.NewManualReader()
	m, err := NewMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(r)))
	if err != nil {
		t.Fatal(err)
	}
	return m, r
}

func TestMetricsRecordWhatTheCataloguePromises(t *testing.T) {
	m, r := newTestMetrics(t)
	ctx := context.Background()

	m.AddIKESAs(ctx, 1)
	m.AddIKESAs(ctx, 1)
	m.AddIKESAs(ctx, -1)
	m.AddChildSAs(ctx, 3)
	m.AddBindings(ctx, 2)
	m.RecordIKEExchange(ctx, "IKE_AUTH", ResultOK)
	m.RecordIKEExchange(ctx, "IKE_AUTH", ResultOK)
	m.RecordIKEExchange(ctx, "IKE_AUTH", "AUTHENTICATION_FAILED")
	m.RecordRedirect(ctx, RedirectAtInit, "nearest")
	m.RecordBindingUpdate(ctx, 0)
	m.RecordBindingUpdate(ctx, 135)
	m.RecordBindingUpdate(ctx, 135)
	m.RecordLeaseOperation(ctx, LeaseTransfer, ResultConflict)
	m.RecordHandover(ctx, 70*time.Millisecond, ResultOK)

	got := collect(t, r)
	for _, tc := range []struct {
		metric string
		attrs  []attribute.KeyValue
		want   int64
	}{
		{"mip6ha.ike.sas", nil, 1},
		{"mip6ha.ike.child_sas", nil, 3},
		{"mip6ha.mip6.bindings", nil, 2},
		{"mip6ha.ike.exchanges", []attribute.KeyValue{KeyExchange.String("IKE_AUTH"), KeyResult.String("ok")}, 2},
		{"mip6ha.ike.exchanges", []attribute.KeyValue{KeyExchange.String("IKE_AUTH"), KeyResult.String("AUTHENTICATION_FAILED")}, 1},
		{"mip6ha.ike.redirects", []attribute.KeyValue{KeyRedirectStage.String("init"), KeyRedirectReason.String("nearest")}, 1},
		{"mip6ha.mip6.binding_updates", []attribute.KeyValue{KeyStatus.Int(0)}, 1},
		{"mip6ha.mip6.binding_updates", []attribute.KeyValue{KeyStatus.Int(135)}, 2},
		{"mip6ha.store.lease_operations", []attribute.KeyValue{KeyLeaseOperation.String("transfer"), KeyResult.String("conflict")}, 1},
	} {
		v, ok := sum(got[tc.metric], tc.attrs...)
		if !ok || v != tc.want {
			t.Errorf("%s%v = %d (found %v), want %d", tc.metric, tc.attrs, v, ok, tc.want)
		}
	}
	for name, m := range got {
		if s, ok := m.Data.(metricdata.Sum[int64]); ok {
			wantMono := !strings.HasSuffix(name, "sas") && name != "mip6ha.mip6.bindings"
			if s.IsMonotonic != wantMono {
				t.Errorf("%s: monotonic %v, want %v", name, s.IsMonotonic, wantMono)
			}
		}
	}

	h, ok := got["mip6ha.handover.duration"].Data.(metricdata.Histogram[float64])
	if !ok || len(h.DataPoints) != 1 {
		t.Fatalf("handover histogram: %#v", got["mip6ha.handover.duration"].Data)
	}
	dp := h.DataPoints[0]
	if dp.Count != 1 || math.Abs(dp.Sum-0.07) > 1e-9 {
		t.Errorf("handover: count %d sum %v", dp.Count, dp.Sum)
	}
	if len(dp.Bounds) != len(HandoverBuckets) || dp.Bounds[0] != HandoverBuckets[0] {
		t.Errorf("handover bounds %v, want %v", dp.Bounds, HandoverBuckets)
	}
	// 70 ms falls in the (0.05, 0.1] bucket.
	if dp.BucketCounts[3] != 1 {
		t.Errorf("handover buckets %v: 70 ms not in (0.05, 0.1]", dp.BucketCounts)
	}
	if got["mip6ha.handover.duration"].Unit != "s" {
		t.Errorf("handover unit %q", got["mip6ha.handover.duration"].Unit)
	}
}

func TestMetricsObserveDataplane(t *testing.T) {
	m, r := newTestMetrics(t)
	var packetsIn atomic.Uint64
	reg, err := m.ObserveDataplane(func() DataplaneCounters {
		return DataplaneCounters{
			PacketsIn: packetsIn.Load(), PacketsOut: 7,
			BytesIn: 1500, BytesOut: math.MaxUint64,
			Drops: map[string]uint64{"replay": 2, "auth-fail": 1},
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	packetsIn.Store(5)
	got := collect(t, r)
	for _, tc := range []struct {
		metric string
		attr   attribute.KeyValue
		want   int64
	}{
		{"mip6ha.dataplane.packets", KeyDirection.String("in"), 5},
		{"mip6ha.dataplane.packets", KeyDirection.String("out"), 7},
		{"mip6ha.dataplane.bytes", KeyDirection.String("in"), 1500},
		{"mip6ha.dataplane.bytes", KeyDirection.String("out"), math.MaxInt64},
		{"mip6ha.dataplane.drops", KeyDropReason.String("replay"), 2},
		{"mip6ha.dataplane.drops", KeyDropReason.String("auth-fail"), 1},
	} {
		if v, ok := sum(got[tc.metric], tc.attr); !ok || v != tc.want {
			t.Errorf("%s{%v} = %d (found %v), want %d", tc.metric, tc.attr, v, ok, tc.want)
		}
	}

	// The values are read at collection time, not at registration.
	packetsIn.Store(9)
	if v, _ := sum(collect(t, r)["mip6ha.dataplane.packets"], KeyDirection.String("in")); v != 9 {
		t.Errorf("packets in after update = %d, want 9", v)
	}

	if err := reg.Unregister(); err != nil {
		t.Fatal(err)
	}
	if _, ok := sum(collect(t, r)["mip6ha.dataplane.packets"], KeyDirection.String("in")); ok {
		t.Error("dataplane still observed after Unregister")
	}
}

func TestMetricsAreDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/telemetry.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range Catalogue() {
		for _, s := range []string{"`" + in.Name + "`", "`" + in.Prometheus + "`"} {
			if !strings.Contains(string(doc), s) {
				t.Errorf("docs/telemetry.md does not mention %s", s)
			}
		}
		for _, k := range in.Attributes {
			if !strings.Contains(string(doc), "`"+string(k)+"`") {
				t.Errorf("docs/telemetry.md does not mention attribute %s of %s", k, in.Name)
			}
		}
	}
}

func BenchmarkMetricsRecordBindingUpdate(b *testing.B) {
	r := sdkmetric.NewManualReader()
	m, _ := NewMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(r)))
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		m.RecordBindingUpdate(ctx, uint8(i&1)*128)
	}
}

func BenchmarkMetricsRecordIKEExchange(b *testing.B) {
	r := sdkmetric.NewManualReader()
	m, _ := NewMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(r)))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m.RecordIKEExchange(ctx, "IKE_AUTH", ResultOK)
	}
}

func BenchmarkMetricsAddIKESAs(b *testing.B) {
	r := sdkmetric.NewManualReader()
	m, _ := NewMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(r)))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m.AddIKESAs(ctx, 1)
	}
}

// BenchmarkMetricsRecordIKEExchangeUncached is what RecordIKEExchange cost
// before attribute options were cached, for comparison.
func BenchmarkMetricsRecordIKEExchangeUncached(b *testing.B) {
	r := sdkmetric.NewManualReader()
	m, _ := NewMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(r)))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m.exchanges.Add(ctx, 1, metric.WithAttributes(KeyExchange.String("IKE_AUTH"), KeyResult.String(ResultOK)))
	}
}

func BenchmarkMetricsRecordRedirect(b *testing.B) {
	r := sdkmetric.NewManualReader()
	m, _ := NewMetrics(sdkmetric.NewMeterProvider(sdkmetric.WithReader(r)))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		m.RecordRedirect(ctx, RedirectAtInit, "nearest")
	}
}

// Past the cache's bound, values are still recorded correctly.
func TestMetricsAttrCacheBound(t *testing.T) {
	m, r := newTestMetrics(t)
	ctx := context.Background()
	for i := range attrCacheMax + 10 {
		m.RecordLeaseOperation(ctx, LeaseOperation(strconv.Itoa(i)), ResultOK)
	}
	m.RecordLeaseOperation(ctx, LeaseOperation(strconv.Itoa(attrCacheMax+5)), ResultOK)
	got := collect(t, r)["mip6ha.store.lease_operations"]
	if v, ok := sum(got, KeyLeaseOperation.String(strconv.Itoa(attrCacheMax+5)), KeyResult.String("ok")); !ok || v != 2 {
		t.Errorf("uncached pair counted %d (found %v), want 2", v, ok)
	}
	if n := len(m.leaseAttrs.m); n != attrCacheMax {
		t.Errorf("cache holds %d pairs, want at most %d", n, attrCacheMax)
	}
}
