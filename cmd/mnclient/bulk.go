package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/mip6ha/mip6ha/test/mnclient"
)

// bulk runs mnclient.Bulk with a progress display on standard error (a
// bar on a terminal, otherwise a line every --progress-interval) and
// prints the summary on standard output, as text or JSON.
func bulk(args []string) int {
	var (
		c        = common{cfg: mnclient.Config{ForceEncap: true}}
		bc       mnclient.BulkConfig
		asJSON   bool
		interval time.Duration
	)
	fs := flag.NewFlagSet("mnclient bulk", flag.ExitOnError)
	c.register(fs)
	fs.IntVar(&bc.Count, "count", 0, "number of mobile nodes `N`")
	fs.StringVar(&bc.IDTemplate, "id-template", "mn{n}@example.net", "node identities, {n} replaced by 1..N")
	fs.Float64Var(&bc.Rate, "rate", 0, "attaches started per `second` (default: as fast as --concurrency allows)")
	fs.IntVar(&bc.Concurrency, "concurrency", mnclient.DefaultBulkConcurrency, "`nodes` attaching at once")
	fs.DurationVar(&bc.Duration, "duration", 0, "stay attached this `long` after the last attach, then detach")
	fs.DurationVar(&bc.AttachTimeout, "attach-timeout", 30*time.Second, "give up on a node after this `long`")
	fs.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	fs.DurationVar(&interval, "progress-interval", 2*time.Second, "`period` of progress lines when standard error is not a terminal")
	_ = fs.Parse(args)
	if err := c.finish(); err != nil {
		return fail(err)
	}
	if interval <= 0 {
		return fail(fmt.Errorf("--progress-interval %v is not positive", interval))
	}
	if bc.Count <= 0 {
		return fail(fmt.Errorf("--count %d: no nodes to simulate", bc.Count))
	}
	if bc.Concurrency <= 0 {
		return fail(fmt.Errorf("--concurrency %d is not positive", bc.Concurrency))
	}
	if bc.Rate < 0 {
		return fail(fmt.Errorf("--rate %v is negative", bc.Rate))
	}
	bc.Node = c.cfg

	progress, stopProgress := progressDisplay(os.Stderr, bc.Count, interval)
	bc.Progress = progress
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	report, err := mnclient.Bulk(ctx, bc)
	stopProgress()
	if asJSON {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(report)
	} else {
		fmt.Print(report)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mnclient bulk:", err)
		return 1
	}
	if report.Bound < report.Nodes {
		return 1
	}
	return 0
}

// progressDisplay returns a Progress callback that draws a bar when w is a
// terminal, or else writes the latest counts every interval; stop draws
// the last state.
func progressDisplay(w *os.File, total int, interval time.Duration) (progress func(mnclient.BulkProgress), stop func()) {
	if term.IsTerminal(int(w.Fd())) {
		bar := progressbar.NewOptions(total,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("attaching"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("nodes"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) }),
		)
		var mu sync.Mutex
		return func(p mnclient.BulkProgress) {
				mu.Lock()
				defer mu.Unlock()
				bar.Describe(fmt.Sprintf("bound %d, failed %d", p.Bound, p.Failed))
				_ = bar.Set(p.Done)
			}, func() {
				mu.Lock()
				defer mu.Unlock()
				_ = bar.Finish()
			}
	}
	var (
		mu   sync.Mutex
		last mnclient.BulkProgress
		done = make(chan struct{})
		wg   sync.WaitGroup
	)
	line := func(out io.Writer) {
		mu.Lock()
		p := last
		mu.Unlock()
		fmt.Fprintf(out, "progress: %d/%d done, %d attached, %d bound, %d failed\n", p.Done, total, p.Attached, p.Bound, p.Failed)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				line(w)
			case <-done:
				return
			}
		}
	}()
	return func(p mnclient.BulkProgress) {
			mu.Lock()
			last = p
			mu.Unlock()
		}, func() {
			close(done)
			wg.Wait()
			line(w)
		}
}
