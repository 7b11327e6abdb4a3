package mip6

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/mip6/mh"
)

// benchBindings is the size of the binding cache the benchmarks run against.
const benchBindings = 1_000_000

// benchHoA is the i-th home address of a /64 home prefix.
func benchHoA(i int) netip.Addr {
	a := homeNet.Addr().As16()
	binary.BigEndian.PutUint64(a[8:], uint64(i)+1)
	return netip.AddrFrom16(a)
}

// benchWorld is a home agent holding benchBindings bindings, shared by the
// benchmarks (building it takes a few seconds), and what the benchmark
// knows of each mobile node, in one array so a step touches one element.
type benchWorld struct {
	ha  *HomeAgent
	mns []benchMN
}

type benchMN struct {
	hoa      netip.Addr
	identity string
	seq      uint16
}

func (m *benchMN) ctx() Context {
	return Context{Identity: m.identity, AuthorizedHoA: m.hoa, InTunnel: true}
}

// cpuTime is the CPU time the process used so far, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per operation and its inverse, which on a
// shared machine are steadier than wall-clock figures.
func reportCPU(b *testing.B, cpu time.Duration, unit string) {
	if cpu <= 0 || b.N == 0 {
		return
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), unit+"/cpu-s")
}

var (
	benchOnce  sync.Once
	benchState *benchWorld
)

func newWorld(ha *HomeAgent, n int) *benchWorld {
	w := &benchWorld{ha: ha, mns: make([]benchMN, n)}
	for i := range w.mns {
		w.mns[i] = benchMN{hoa: benchHoA(i), identity: fmt.Sprintf("mn%d@example.net", i)}
	}
	return w
}

// fill registers every home address once.
func (w *benchWorld) fill(tb testing.TB) {
	opts := mh.AlternateCoA{Addr: coa1}.Append(nil)
	for i := range w.mns {
		m := &w.mns[i]
		m.seq = 1
		bu := mh.BindingUpdate{Sequence: 1, Flags: flagsAHK, Lifetime: 900, Options: opts}
		if d := w.ha.Update(t0, m.ctx(), fromHoA(m.hoa), bu); d.Verdict != Accepted {
			tb.Fatalf("populate %v: %v %v", m.hoa, d.Verdict, d.Status)
		}
	}
}

func world(b *testing.B) *benchWorld {
	benchOnce.Do(func() {
		benchState = newWorld(newHomeAgent(b, nil), benchBindings)
		benchState.fill(b)
	})
	return benchState
}

// BenchmarkBindingUpdateDecision: one refresh Binding Update decided
// against a cache of a million bindings, and its Binding Acknowledgement
// encoded, on one goroutine. Home addresses are taken in random order, so
// the cache is not warm.
func BenchmarkBindingUpdateDecision(b *testing.B) {
	w := world(b)
	rng := rand.New(rand.NewPCG(5, 6))
	buf := make([]byte, 0, 256)
	opts := mh.AlternateCoA{Addr: coa2}.Append(nil)
	now := t0.Add(time.Second)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		m := &w.mns[rng.IntN(len(w.mns))]
		m.seq++
		d := w.ha.Update(now, m.ctx(), fromHoA(m.hoa), mh.BindingUpdate{Sequence: m.seq, Flags: flagsAHK, Lifetime: 900, Options: opts})
		if d.Verdict != Accepted {
			b.Fatalf("%v: %v %v", m.hoa, d.Verdict, d.Status)
		}
		buf = d.AppendBA(buf[:0])
	}
	reportCPU(b, cpuTime()-cpu, "decisions")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

// BenchmarkBindingUpdateDecisionWarm is BindingUpdateDecision against
// 1,000 bindings, which stay in the CPU caches: the cost of the logic
// without the memory latency a million bindings bring.
func BenchmarkBindingUpdateDecisionWarm(b *testing.B) {
	w := newWorld(newHomeAgent(b, nil), 1000)
	w.fill(b)
	rng := rand.New(rand.NewPCG(5, 6))
	buf := make([]byte, 0, 256)
	opts := mh.AlternateCoA{Addr: coa2}.Append(nil)
	now := t0.Add(time.Second)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		m := &w.mns[rng.IntN(len(w.mns))]
		m.seq++
		d := w.ha.Update(now, m.ctx(), fromHoA(m.hoa), mh.BindingUpdate{Sequence: m.seq, Flags: flagsAHK, Lifetime: 900, Options: opts})
		if d.Verdict != Accepted {
			b.Fatalf("%v: %v %v", m.hoa, d.Verdict, d.Status)
		}
		buf = d.AppendBA(buf[:0])
	}
	reportCPU(b, cpuTime()-cpu, "decisions")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

// BenchmarkBindingUpdateDecisionParallel is BindingUpdateDecision from
// GOMAXPROCS goroutines (-cpu sets how many), each on its own home
// addresses.
func BenchmarkBindingUpdateDecisionParallel(b *testing.B) {
	w := world(b)
	now := t0.Add(time.Second)
	var workers atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), cpuTime()
	b.RunParallel(func(pb *testing.PB) {
		id := int(workers.Add(1)) - 1
		rng := rand.New(rand.NewPCG(uint64(id), 7))
		const stride = 64 // worker id takes the mobile nodes i ≡ id (mod 64): no two share one
		buf := make([]byte, 0, 256)
		opts := mh.AlternateCoA{Addr: coa2}.Append(nil)
		for pb.Next() {
			m := &w.mns[rng.IntN(len(w.mns)/stride)*stride+id%stride]
			m.seq++
			d := w.ha.Update(now, m.ctx(), fromHoA(m.hoa), mh.BindingUpdate{Sequence: m.seq, Flags: flagsAHK, Lifetime: 900, Options: opts})
			if d.Verdict != Accepted {
				b.Errorf("%v: %v %v", m.hoa, d.Verdict, d.Status)
				return
			}
			buf = d.AppendBA(buf[:0])
		}
	})
	reportCPU(b, cpuTime()-cpu, "decisions")
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "decisions/s")
}

// BenchmarkBindingUpdatePacket is the whole path a home agent runs for a
// Binding Update packet from the tunnel: parse the IPv6 packet and the
// Mobility Header, verify the checksum, decide against a million bindings,
// and encode the BA packet with its checksum. The BU packets are built
// outside the timed part, in batches.
func BenchmarkBindingUpdatePacket(b *testing.B) {
	w := world(b)
	rng := rand.New(rand.NewPCG(8, 9))
	now := t0.Add(time.Second)
	const batch = 4096
	pkts := make([][]byte, batch)
	mns := make([]*benchMN, batch)
	for i := range pkts {
		pkts[i] = make([]byte, 0, 128)
	}
	opts := mh.AlternateCoA{Addr: coa2}.Append(nil)
	buf := make([]byte, 0, 256)
	var building time.Duration // CPU time spent making packets, not counted
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	i := 0
	for b.Loop() {
		j := i % batch
		if j == 0 {
			b.StopTimer()
			c0 := cpuTime()
			for n := range batch {
				m := &w.mns[rng.IntN(len(w.mns))]
				m.seq++
				mns[n] = m
				pkts[n] = mh.AppendPacket(pkts[n][:0], fromHoA(m.hoa),
					mh.BindingUpdate{Sequence: m.seq, Flags: flagsAHK, Lifetime: 900, Options: opts})
			}
			building += cpuTime() - c0
			b.StartTimer()
		}
		i++
		res := w.ha.Receive(now, mns[j].ctx(), pkts[j])
		if res.Decision.Verdict != Accepted {
			b.Fatalf("%+v", res)
		}
		buf = res.Decision.AppendBA(buf[:0])
	}
	reportCPU(b, cpuTime()-cpu-building, "BU→BA")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "BU→BA/s")
}

// BenchmarkMemoryPerBinding measures the heap a binding takes in a cache of
// a million (runtime.MemStats.HeapAlloc after a GC, before and after
// filling a fresh cache). The identity strings are allocated before the
// first measurement: they belong to the IKE SAs, the cache only refers to
// them. Run it with -benchtime=1x.
func BenchmarkMemoryPerBinding(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		ha := newHomeAgent(b, nil)
		w := newWorld(ha, benchBindings)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		w.fill(b)
		runtime.GC()
		runtime.ReadMemStats(&after)
		if ha.Len() != benchBindings {
			b.Fatalf("%d bindings", ha.Len())
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/benchBindings, "bytes/binding")
		runtime.KeepAlive(w)
	}
}

// BenchmarkTickIdle is the cost of a Tick with nothing due against a
// million bindings: one look at each shard's earliest deadline.
func BenchmarkTickIdle(b *testing.B) {
	w := world(b)
	var evs []Event
	b.ReportAllocs()
	for b.Loop() {
		evs = w.ha.Tick(t0.Add(2*time.Second), evs[:0])
	}
	if len(evs) != 0 {
		b.Fatalf("%d events", len(evs))
	}
}
