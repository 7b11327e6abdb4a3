package mnclient

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// BulkConfig configures Bulk: many mobile nodes from one process, one
// identity each, for load tests of a home agent.
type BulkConfig struct {
	// Node is the configuration every node starts from (the home agent,
	// credentials, lifetime ...). Bulk sets ID from IDTemplate, runs each
	// node InMemory (no TUN device: nodes only signal) on kernel-chosen
	// ports of Node.Listen (default: the unspecified address of the home
	// agent's family), and drops Events (Bulk counts them).
	Node Config
	// Count is the number of nodes; IDTemplate their identities, "{n}"
	// replaced by 1..Count (e.g. "mn{n}@example.net").
	Count      int
	IDTemplate string
	// Rate is the number of attaches started per second (0: no pacing
	// beyond Concurrency).
	Rate float64
	// Concurrency bounds the nodes attaching at once, from the start of
	// IKE_SA_INIT to the Binding Acknowledgement (default 64).
	Concurrency int
	// AttachTimeout bounds one node's attach and registration (default 30 s).
	AttachTimeout time.Duration
	// Duration keeps the nodes attached this long after the last one
	// finished attaching, then every node detaches (deregisters, deletes
	// its IKE SA). Zero detaches at once.
	Duration time.Duration
	// Progress, if set, is called after each node finishes attaching (or
	// fails), from the node's goroutine: it must be safe for concurrent
	// use and must not block for long.
	Progress func(BulkProgress)
}

// DefaultBulkConcurrency is BulkConfig.Concurrency when zero.
const DefaultBulkConcurrency = 64

// BulkProgress counts the nodes of a bulk run so far.
type BulkProgress struct {
	Total, Done, Attached, Bound, Failed int
}

// BulkReport is the outcome of a bulk run.
type BulkReport struct {
	Nodes    int            `json:"nodes"`
	Attached int            `json:"attached"` // IKE SA and CHILD_SA up
	Bound    int            `json:"bound"`    // binding accepted (or attached, with NoBinding)
	Failed   map[string]int `json:"failed"`   // by reason
	// Elapsed is the attach phase: from the first IKE_SA_INIT to the last
	// node's outcome. AttachRate is Bound per second of it.
	Elapsed    time.Duration `json:"elapsed_ns"`
	AttachRate float64       `json:"attach_rate"`
	// AttachLatency is IKE_SA_INIT to CHILD_SA (p50, p99); BindLatency
	// is Binding Update to Binding Acknowledgement.
	AttachP50 time.Duration `json:"attach_p50_ns"`
	AttachP99 time.Duration `json:"attach_p99_ns"`
	BindP50   time.Duration `json:"bind_p50_ns"`
	BindP99   time.Duration `json:"bind_p99_ns"`
	// Deregistered counts the deregistrations acknowledged when the
	// nodes detached.
	Deregistered int `json:"deregistered"`
}

// String formats the report as a few lines of text.
func (r BulkReport) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "nodes %d: attached %d, bound %d, failed %d, deregistered %d\n",
		r.Nodes, r.Attached, r.Bound, r.Nodes-r.Bound, r.Deregistered)
	fmt.Fprintf(&b, "attach phase %v: %.1f nodes bound per second\n", r.Elapsed.Round(time.Millisecond), r.AttachRate)
	fmt.Fprintf(&b, "IKE_SA_INIT to CHILD_SA: p50 %v, p99 %v\n", r.AttachP50.Round(time.Microsecond), r.AttachP99.Round(time.Microsecond))
	fmt.Fprintf(&b, "Binding Update to Acknowledgement: p50 %v, p99 %v\n", r.BindP50.Round(time.Microsecond), r.BindP99.Round(time.Microsecond))
	reasons := make([]string, 0, len(r.Failed))
	for k := range r.Failed {
		reasons = append(reasons, k)
	}
	slices.Sort(reasons)
	for _, k := range reasons {
		fmt.Fprintf(&b, "failed: %s: %d\n", k, r.Failed[k])
	}
	return b.String()
}

// NodeID returns the identity of node n (from 1) of a template.
func NodeID(template string, n int) string {
	return strings.ReplaceAll(template, "{n}", strconv.Itoa(n))
}

// bulkNode is what Bulk learns of one node from its events.
type bulkNode struct {
	start   time.Time
	outcome chan string // "" bound, else the failure reason; once
	once    sync.Once

	mu       sync.Mutex // the node's events arrive on its own goroutine
	attached time.Time  // child_installed
	bindLat  time.Duration
	dereg    bool
}

func (n *bulkNode) finish(reason string) {
	n.once.Do(func() { n.outcome <- reason })
}

// Bulk runs cfg.Count mobile nodes: it starts their attaches at cfg.Rate,
// at most cfg.Concurrency at a time, waits for each to be bound (or to
// fail), keeps them for cfg.Duration, detaches them all and reports. It
// returns early, detaching, when ctx ends.
func Bulk(ctx context.Context, cfg BulkConfig) (BulkReport, error) {
	if cfg.Count <= 0 {
		return BulkReport{}, errors.New("mnclient: bulk: no nodes (--count)")
	}
	if !strings.Contains(cfg.IDTemplate, "{n}") {
		return BulkReport{}, fmt.Errorf("mnclient: bulk: identity template %q has no {n}", cfg.IDTemplate)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultBulkConcurrency
	}
	if cfg.AttachTimeout <= 0 {
		cfg.AttachTimeout = 30 * time.Second
	}
	ha, err := resolveHA(cfg.Node.HA)
	if err != nil {
		return BulkReport{}, err
	}
	if len(cfg.Node.Listen) == 0 {
		cfg.Node.Listen = []string{netip.IPv6Unspecified().String()}
		if ha.Addr().Is4() {
			cfg.Node.Listen = []string{netip.IPv4Unspecified().String()}
		}
	}
	cfg.Node.InMemory, cfg.Node.IKEPort, cfg.Node.NATTPort = true, -1, -1

	var (
		mu       sync.Mutex
		report   = BulkReport{Nodes: cfg.Count, Failed: map[string]int{}}
		attachLs []time.Duration
		bindLs   []time.Duration
		progress BulkProgress
		stopAll  = make(chan struct{})
		wg       sync.WaitGroup
		slots    = make(chan struct{}, cfg.Concurrency)
		nodes    = make([]*bulkNode, cfg.Count)
	)
	progress.Total = cfg.Count
	record := func(n *bulkNode, reason string) {
		mu.Lock()
		defer mu.Unlock()
		progress.Done++
		n.mu.Lock()
		attached, bindLat := n.attached, n.bindLat
		n.mu.Unlock()
		if !attached.IsZero() {
			report.Attached++
			progress.Attached++
			attachLs = append(attachLs, attached.Sub(n.start))
		}
		if reason == "" {
			report.Bound++
			progress.Bound++
			if bindLat > 0 {
				bindLs = append(bindLs, bindLat)
			}
		} else {
			report.Failed[reason]++
			progress.Failed++
		}
		if cfg.Progress != nil {
			cfg.Progress(progress)
		}
	}

	var pace *time.Ticker
	if cfg.Rate > 0 {
		pace = time.NewTicker(time.Duration(float64(time.Second) / cfg.Rate))
		defer pace.Stop()
	}
	begin := time.Now()
	var lastOutcome time.Time
	started := 0
launch:
	for i := range cfg.Count {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			break launch
		}
		if pace != nil && i > 0 {
			select {
			case <-pace.C:
			case <-ctx.Done():
				<-slots
				break launch
			}
		}
		n := &bulkNode{start: time.Now(), outcome: make(chan string, 1)}
		nodes[i] = n
		started++
		node := cfg.Node
		node.ID = NodeID(cfg.IDTemplate, i+1)
		node.Events = n.observe(node.NoBinding)
		wg.Add(1)
		go func() {
			defer wg.Done()
			runBulkNode(node, n, cfg.AttachTimeout, stopAll, func(reason string) {
				record(n, reason)
				mu.Lock()
				lastOutcome = time.Now()
				mu.Unlock()
				<-slots
			})
		}()
	}
	// Wait for every started node's outcome: the slots drain.
	for range cap(slots) {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
	}
	mu.Lock()
	if lastOutcome.IsZero() {
		lastOutcome = time.Now()
	}
	report.Elapsed = lastOutcome.Sub(begin)
	mu.Unlock()
	if cfg.Duration > 0 {
		t := time.NewTimer(cfg.Duration)
		select {
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	close(stopAll)
	wg.Wait()
	for _, n := range nodes[:started] {
		n.mu.Lock()
		if n.dereg {
			report.Deregistered++
		}
		n.mu.Unlock()
	}
	if s := report.Elapsed.Seconds(); s > 0 {
		report.AttachRate = float64(report.Bound) / s
	}
	report.AttachP50, report.AttachP99 = percentile(attachLs, 50), percentile(attachLs, 99)
	report.BindP50, report.BindP99 = percentile(bindLs, 50), percentile(bindLs, 99)
	if started < cfg.Count {
		report.Failed["not started"] += cfg.Count - started
	}
	return report, ctx.Err()
}

// observe returns the node's event sink: it notes the times and the
// outcome. It runs on the node's goroutine.
func (n *bulkNode) observe(noBinding bool) func(Event) {
	return func(e Event) {
		n.mu.Lock()
		defer n.mu.Unlock()
		switch e.Event {
		case EventChildInstalled:
			if n.attached.IsZero() {
				n.attached = e.Time
			}
			if noBinding {
				n.finish("")
			}
		case EventBindingAccepted:
			n.bindLat = time.Duration(e.LatencyMS * float64(time.Millisecond))
			n.finish("")
		case EventBindingRejected:
			n.finish("binding rejected: " + e.Status)
		case EventDeregistered:
			n.dereg = true
		case EventDetached:
			n.finish("detached: " + e.Reason)
		case EventError:
			reason, _, _ := strings.Cut(e.Error, ": ")
			n.finish("error: " + reason)
		}
	}
}

// runBulkNode runs one node until stop closes; outcome is called once,
// when it is bound or has failed.
func runBulkNode(cfg Config, n *bulkNode, timeout time.Duration, stop <-chan struct{}, outcome func(string)) {
	c, err := New(cfg)
	if err != nil {
		outcome("setup: " + err.Error())
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t := time.NewTimer(timeout)
	var reason string
	select {
	case reason = <-n.outcome:
	case <-t.C:
		reason = "timeout"
	}
	t.Stop()
	outcome(reason)
	select {
	case <-stop:
	case <-done:
		cancel()
		return
	}
	cancel()
	<-done
}

// percentile returns the p-th percentile (nearest rank) of ds.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[max(i-1, 0)]
}
