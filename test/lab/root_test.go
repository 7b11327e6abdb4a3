package lab

// Tests that need root; they skip otherwise (New skips).

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestHostsAreIsolatedAndRemoved(t *testing.T) {
	var ns []string
	t.Run("lab", func(t *testing.T) {
		l := New(t)
		a, b := l.Host("a"), l.Host("b")
		lk := l.Link(a, "eth0", b, "eth0")
		lk.A.AddAddr("2001:db8:77::1/64", "192.0.2.1/24")
		lk.B.AddAddr("2001:db8:77::2/64", "192.0.2.2/24")
		ctx := testCtx(t, 20*time.Second)
		if err := a.Ping(ctx, "2001:db8:77::2", "", 1); err != nil {
			t.Fatal(err)
		}
		if err := a.Ping(ctx, "192.0.2.2", "", 1); err != nil {
			t.Fatal(err)
		}
		// The interfaces exist only inside the namespaces.
		out, err := runCmd(ctx, "ip", "-o", "link", "show")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out, l.ID()) {
			t.Fatalf("the test process's namespace shows lab interfaces:\n%s", out)
		}
		if got := a.MustRun("cat", "/proc/sys/net/ipv6/conf/all/accept_dad"); strings.TrimSpace(got) != "0" {
			t.Errorf("accept_dad = %q, want 0", got)
		}
		for _, h := range l.Hosts() {
			ns = append(ns, h.Namespace())
		}
	})
	for _, n := range ns {
		if _, err := os.Stat(filepath.Join("/run/netns", n)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s still exists after the test: %v", n, err)
		}
	}
}

func TestSocketsInHost(t *testing.T) {
	l := New(t)
	a, b := l.Host("a"), l.Host("b")
	lk := l.Link(a, "eth0", b, "eth0")
	lk.A.AddAddr("2001:db8:77::1/64")
	lk.B.AddAddr("2001:db8:77::2/64")
	ctx := testCtx(t, 20*time.Second)

	// The address exists only in b: binding it proves the socket is there.
	ln, err := b.Listen("tcp", "[2001:db8:77::2]:0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := net.Listen("tcp", "[2001:db8:77::2]:0"); err == nil {
		t.Fatal("the test process's namespace has b's address")
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if err := b.WaitListening(ctx, "tcp", port); err != nil {
		t.Fatal(err)
	}
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Write([]byte("hello from b"))
			c.Close()
		}
	}()
	c, err := a.Dial(ctx, "tcp", "[2001:db8:77::1]:0", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := c.Read(buf)
	if string(buf[:n]) != "hello from b" {
		t.Fatalf("read %q", buf[:n])
	}

	pc, err := b.ListenPacket("udp", "[2001:db8:77::2]:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.WaitListening(ctx, "udp", pc.LocalAddr().(*net.UDPAddr).Port); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := a.WaitListening(short, "udp", pc.LocalAddr().(*net.UDPAddr).Port); err == nil {
		t.Fatal("b's UDP socket is listed in a")
	}
	if _, err := a.Listen("tcp", "localhost:80"); err == nil {
		t.Fatal("Listen accepted a host name")
	}
}

func TestProcLifecycle(t *testing.T) {
	l := New(t)
	h := l.Host("p")
	ctx := testCtx(t, 20*time.Second)

	p := h.Start("sh", "-c", "echo ready; exec sleep 600")
	line, err := p.WaitOutput(ctx, regexp.MustCompile(`^ready$|ready`))
	if err != nil || line != "ready" {
		t.Fatalf("WaitOutput = %q, %v", line, err)
	}
	if p.Exited() {
		t.Fatal("exited early")
	}
	// The process runs inside the host's namespace.
	pids, err := namespacePIDs(h.Namespace())
	if err != nil || !contains(pids, p.Pid()) {
		t.Fatalf("pid %d not in namespace %s (%v, %v)", p.Pid(), h.Namespace(), pids, err)
	}
	if err := p.Stop(); err != nil {
		t.Fatalf("Stop after SIGTERM: %v", err)
	}
	if !p.Exited() || p.Stop() != nil {
		t.Fatal("not exited after Stop, or a second Stop differs")
	}

	fail := h.Start("sh", "-c", "echo oops >&2; exit 3")
	err = fail.Wait(ctx)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(err.Error(), "oops") {
		t.Fatalf("Wait = %v, want exit status 3 with stderr", err)
	}
	if fail.Stop() == nil {
		t.Fatal("Stop of a failed process returned nil")
	}
	if _, err := fail.WaitOutput(ctx, regexp.MustCompile("never")); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("WaitOutput on an exited process: %v", err)
	}

	// A process that ignores SIGTERM is killed after the stop timeout,
	// its children with it (process group).
	stubborn := h.StartWith(ProcOptions{StopTimeout: 200 * time.Millisecond},
		"sh", "-c", `trap "" TERM; sleep 600 & echo child $!; wait`)
	line, err = stubborn.WaitOutput(ctx, regexp.MustCompile(`child \d+`))
	if err != nil {
		t.Fatal(err)
	}
	child, _ := strconv.Atoi(strings.TrimPrefix(line, "child "))
	start := time.Now()
	if err := stubborn.Stop(); err != nil {
		t.Fatalf("Stop of a process ignoring SIGTERM: %v", err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("stopped after %v, before the stop timeout", d)
	}
	awaitGone([]int{child}, 5*time.Second)
	if err := syscall.Kill(child, 0); err == nil {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", child)); !strings.Contains(string(b), ") Z") {
			t.Errorf("child %d of the stopped process still runs", child)
		}
	}

	// PrivateRun hides /run from the process only.
	pr := h.StartWith(ProcOptions{PrivateRun: true}, "sh", "-c", "ls -A /run | wc -l; touch /run/mine; ls /run")
	if err := pr.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if got := pr.Stdout(); got != "0\nmine\n" {
		t.Errorf("PrivateRun: /run seen as %q", got)
	}
	if _, err := os.Stat("/run/mine"); err == nil {
		t.Error("PrivateRun wrote into the real /run")
	}
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestCrashedRunIsSwept runs a helper test process that creates a lab,
// starts a daemon in it and exits without cleanup (as a killed or
// timed-out `go test` does). Its daemon must die with it (Pdeathsig), and
// the next sweep must remove its namespace and scratch directory.
func TestCrashedRunIsSwept(t *testing.T) {
	SkipUnlessAvailable(t)
	if os.Getenv("LAB_CRASH_HELPER") == "1" {
		t.Skip("helper")
	}
	ctx := testCtx(t, 60*time.Second)
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), "LAB_CRASH_HELPER=1")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`CRASHED ns=(\S+) pid=(\d+) dir=(\S+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("helper output:\n%s", out)
	}
	ns, dir := m[1], m[3]
	pid, _ := strconv.Atoi(m[2])
	awaitGone([]int{pid}, 10*time.Second)
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(b), ") Z") {
		t.Errorf("daemon %d outlived its test process: %s", pid, b)
	}
	if _, err := os.Stat(filepath.Join("/run/netns", ns)); err != nil {
		t.Fatalf("the helper's namespace %s is already gone: %v", ns, err)
	}
	// A live lab of this process must survive the sweep.
	live := New(t)
	liveHost := live.Host("live")
	if err := sweepStale(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join("/run/netns", ns)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("namespace %s of the crashed run not removed: %v", ns, err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("scratch directory %s of the crashed run not removed: %v", dir, err)
	}
	if _, err := os.Stat(filepath.Join("/run/netns", liveHost.Namespace())); err != nil {
		t.Errorf("the sweep removed a live lab: %v", err)
	}
}

// TestCrashHelper is the crashing half of TestCrashedRunIsSwept.
func TestCrashHelper(t *testing.T) {
	if os.Getenv("LAB_CRASH_HELPER") != "1" {
		t.Skip("only run by TestCrashedRunIsSwept")
	}
	l := New(t)
	h := l.Host("crash")
	p := h.Start("sleep", "600")
	fmt.Printf("CRASHED ns=%s pid=%d dir=%s\n", h.Namespace(), p.Pid(), l.Dir())
	os.Exit(7)
}

func TestBinary(t *testing.T) {
	SkipUnlessAvailable(t)
	path := Binary(t, "./test/lab/testdata/hello")
	if again := Binary(t, "./test/lab/testdata/hello"); again != path {
		t.Errorf("second build at %s, first at %s", again, path)
	}
	if filepath.Base(path) != "hello" {
		t.Errorf("binary named %s", path)
	}
	l := New(t)
	out := l.Host("b").MustRun(path, "x")
	if out != "hello x\n" {
		t.Errorf("output %q", out)
	}
}

func TestCaptureAndMasquerade(t *testing.T) {
	l := New(t)
	in, r, out := l.Host("in"), l.Host("r", Forwarding()), l.Host("out")
	a := l.Link(in, "eth0", r, "r-in")
	b := l.Link(r, "r-out", out, "eth0")
	a.A.AddAddr("fd00:1::2/64", "192.0.2.2/24")
	a.B.AddAddr("fd00:1::1/64", "192.0.2.1/24")
	b.A.AddAddr("fd00:2::1/64", "203.0.113.1/24")
	b.B.AddAddr("fd00:2::2/64", "203.0.113.2/24")
	in.DefaultRoute("fd00:1::1")
	in.DefaultRoute("192.0.2.1")
	out.DefaultRoute("fd00:2::1")
	out.DefaultRoute("203.0.113.1")
	r.Masquerade("192.0.2.0/24", "r-in")
	r.Masquerade("fd00:1::/64", "r-in")
	ctx := testCtx(t, 30*time.Second)

	c := out.Capture("eth0", "icmp or icmp6")
	if err := in.Ping(ctx, "203.0.113.2", "", 1); err != nil {
		t.Fatal(err)
	}
	if err := in.Ping(ctx, "fd00:2::2", "", 1); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitPackets(ctx, 4); err != nil {
		t.Fatal(err)
	}
	// Without a display filter, neighbour discovery may be in the file too.
	rows, err := TsharkFields(ctx, c.Stop(), "icmp.type == 8 or icmpv6.type == 128", []string{"ip.src", "ipv6.src"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows[0][0] != "203.0.113.1" || rows[1][1] != "fd00:2::1" {
		t.Errorf("echo requests seen with sources %q, want r's addresses", rows)
	}
	ruleset := r.MustRun("nft", "list", "ruleset")
	if strings.Count(ruleset, "masquerade") != 2 {
		t.Errorf("ruleset:\n%s", ruleset)
	}
}
