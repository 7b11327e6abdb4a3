package mnclient

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/mip6"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		var d []time.Duration
		for _, x := range v {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // reversed: percentile sorts
	}
	for _, c := range []struct {
		in   []time.Duration
		p    int
		want time.Duration
	}{
		{nil, 50, 0},
		{ms(7), 99, 7 * time.Millisecond},
		{ms(hundred...), 50, 50 * time.Millisecond},
		{ms(hundred...), 99, 99 * time.Millisecond},
		{ms(3, 1, 2), 50, 2 * time.Millisecond},
		{ms(3, 1, 2), 99, 3 * time.Millisecond},
	} {
		if got := percentile(c.in, c.p); got != c.want {
			t.Errorf("percentile(%v, %d) = %v, want %v", c.in, c.p, got, c.want)
		}
	}
}

func TestBulkConfigErrors(t *testing.T) {
	for _, c := range []BulkConfig{
		{Count: 0, IDTemplate: "mn{n}@example.net", Node: Config{HA: "2001:db8::1"}},
		{Count: 3, IDTemplate: "mn@example.net", Node: Config{HA: "2001:db8::1"}},
		{Count: 3, IDTemplate: "mn{n}@example.net"},
	} {
		if _, err := Bulk(t.Context(), c); err == nil {
			t.Errorf("Bulk(%+v) did not fail", c)
		}
	}
	if got := NodeID("mn{n}@example.net", 42); got != "mn42@example.net" {
		t.Errorf("NodeID = %q", got)
	}
}

// TestBulk runs 200 mobile nodes against one home agent: every node
// attaches, is bound under its own identity and home address, and
// deregisters when the run ends.
func TestBulk(t *testing.T) {
	needNetns(t)
	ha := startFakeHA(t, fakeHAConfig{})
	const n = 200
	var (
		mu       sync.Mutex
		progress []BulkProgress
	)
	node := ha.clientConfig("", nil)
	node.Events = nil
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	report, err := Bulk(ctx, BulkConfig{
		Node: node, Count: n, IDTemplate: "bulk{n}@example.net", Concurrency: 32,
		Progress: func(p BulkProgress) {
			mu.Lock()
			progress = append(progress, p)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("bulk run against the in-process home agent:\n%s", report)
	if report.Nodes != n || report.Attached != n || report.Bound != n || len(report.Failed) != 0 || report.Deregistered != n {
		t.Errorf("report %+v", report)
	}
	if report.AttachRate <= 0 || report.BindP50 <= 0 || report.BindP99 < report.BindP50 || report.AttachP99 < report.AttachP50 {
		t.Errorf("rates and latencies %+v", report)
	}
	if len(progress) != n || progress[n-1].Done != n || progress[n-1].Bound != n {
		t.Errorf("%d progress reports, last %+v", len(progress), progress[len(progress)-1])
	}
	// Each identity was bound with its own home address; all are
	// deregistered now.
	bound := map[string]bool{}
	for _, r := range ha.resultsCopy() {
		b := r.Decision.Binding
		if r.Decision.Verdict == mip6.Accepted && b.Identity != "" {
			bound[b.Identity] = true
		}
	}
	if len(bound) != n {
		t.Errorf("%d identities bound at the home agent, want %d", len(bound), n)
	}
	if !strings.Contains(report.String(), "bound 200") {
		t.Errorf("summary text:\n%s", report)
	}
}

// BenchmarkBindingUpdate measures one re-registration through both
// dataplanes, against the in-process home agent: from the Binding Update
// built and put into the tunnel until the Binding Acknowledgement has been
// taken out of the tunnel and reported.
func BenchmarkBindingUpdate(b *testing.B) {
	needNetns(b)
	ha := startFakeHA(b, fakeHAConfig{})
	accepted := make(chan Event, 16)
	cfg := ha.clientConfig("bench@example.net", nil)
	cfg.MobileNode.MaxUpdateRate = 1 << 20
	cfg.Events = func(e Event) {
		if e.Event == EventBindingAccepted {
			accepted <- e
		}
	}
	c, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	runClient(b, c)
	ctx, cancel := context.WithTimeout(b.Context(), time.Minute)
	defer cancel()
	select {
	case <-accepted:
	case <-ctx.Done():
		b.Fatal("no binding")
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.call(ctx, func(now time.Time) error { c.register(now); return nil }); err != nil {
			b.Fatal(err)
		}
		select {
		case <-accepted:
		case <-ctx.Done():
			b.Fatal("no Binding Acknowledgement")
		}
	}
}
