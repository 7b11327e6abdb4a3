package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/mnclient"
)

// TestUsageErrors: bad combinations of flags end with status 2 before
// anything is set up.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	bad, good := filepath.Join(dir, "bad"), filepath.Join(dir, "good")
	if err := os.WriteFile(bad, []byte("0xzz"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, []byte("a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		run  func([]string) int
		args []string
	}{
		{"attach without credentials", attach, []string{"--ha", "2001:db8:1::1", "--id", "mn@example.net"}},
		{"attach with a bad key file", attach, []string{"--ha", "2001:db8:1::1", "--id", "mn@example.net", "--psk-file", bad}},
		{"attach with a bad home address", attach, []string{"--ha", "2001:db8:1::1", "--id", "x", "--psk-file", good, "--hoa", "nope"}},
		{"bulk with a bad log level", bulk, []string{"--ha", "2001:db8:1::1", "--psk-file", good, "--count", "1", "--log-level", "loud"}},
		{"bulk with a bad home agent address", bulk, []string{"--ha", "2001:db8:1::1", "--psk-file", good, "--count", "1", "--ha-addr", "x"}},
		{"attach with a bad log format", attach, []string{"--ha", "2001:db8:1::1", "--id", "x", "--psk-file", good, "--log-format", "xml"}},
		{"attach with a bad OTLP transport", attach, []string{"--ha", "2001:db8:1::1", "--id", "x", "--psk-file", good,
			"--otlp-endpoint", "127.0.0.1:4318", "--otlp-protocol", "udp"}},
		{"attach with a bad OTLP endpoint", attach, []string{"--ha", "2001:db8:1::1", "--id", "x", "--psk-file", good,
			"--otlp-endpoint", "ftp://collector"}},
		{"attach with a bad redirect allow-list entry", attach, []string{"--ha", "2001:db8:1::1", "--id", "x", "--psk-file", good,
			"--redirect-allow", "not a gateway/"}},
		{"bulk without nodes", bulk, []string{"--ha", "2001:db8:1::1", "--psk-file", good, "--count", "0"}},
		{"bulk with no concurrency", bulk, []string{"--ha", "2001:db8:1::1", "--psk-file", good, "--count", "1", "--concurrency", "0"}},
		{"bulk with a negative rate", bulk, []string{"--ha", "2001:db8:1::1", "--psk-file", good, "--count", "1", "--rate", "-1"}},
		{"attach with negative max redirects", attach, []string{"--ha", "2001:db8:1::1", "--id", "x", "--psk-file", good,
			"--max-redirects", "-1"}},
		{"attach with a negative redirect loop period", attach, []string{"--ha", "2001:db8:1::1", "--id", "x", "--psk-file", good,
			"--redirect-loop-period", "-1s"}},
		{"bulk with a zero progress interval", bulk, []string{"--ha", "2001:db8:1::1", "--psk-file", good, "--count", "1",
			"--progress-interval", "0"}},
	} {
		if got := c.run(c.args); got != 2 {
			t.Errorf("%s: status %d, want 2", c.name, got)
		}
	}
}

// TestProgressLines: without a terminal, progress is a plain line per
// interval and a last one at the end.
func TestProgressLines(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	progress, stop := progressDisplay(w, 3, time.Hour)
	progress(mnclient.BulkProgress{Total: 3, Done: 1, Attached: 1, Bound: 1})
	progress(mnclient.BulkProgress{Total: 3, Done: 3, Attached: 3, Bound: 2, Failed: 1})
	stop()
	w.Close()
	var lines []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	want := "progress: 3/3 done, 3 attached, 2 bound, 1 failed"
	if len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
		t.Errorf("lines %q, want %q", lines, want)
	}
}
