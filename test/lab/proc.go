package lab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ProcOptions tunes Host.StartWith.
type ProcOptions struct {
	// Env is added to the test process's environment ("KEY=value").
	Env []string
	// Dir is the working directory; empty means the test's.
	Dir string
	// Stdin is the process's standard input; nil means /dev/null.
	Stdin io.Reader
	// PrivateRun mounts an empty tmpfs on /run for this process only
	// (inside the private mount namespace `ip netns exec` creates), for
	// daemons with compiled-in pid file or socket paths such as charon's
	// /var/run/charon.pid. Files the process must share with the test
	// belong elsewhere (Lab.Dir).
	PrivateRun bool
	// StopSignal is the signal Stop sends first; default SIGTERM.
	StopSignal syscall.Signal
	// StopTimeout is how long Stop waits after StopSignal before it sends
	// SIGKILL; default 10 s.
	StopTimeout time.Duration
}

// Proc is a background process running inside a host, started with
// Host.Start. Its standard output and error go to files under the test's
// temporary directory, which are written to the test log if the test
// fails. The process is stopped at cleanup, and killed if the test process
// dies.
type Proc struct {
	host        *Host
	name        string
	cmd         *exec.Cmd
	stdout      *logFile
	stderr      *logFile
	stopSignal  syscall.Signal
	stopTimeout time.Duration

	done     chan struct{}
	err      error // valid after done is closed
	stopping atomic.Bool
	stopOnce sync.Once
	stopErr  error
}

var procSeq atomic.Int64

// Start starts a background process inside the host (through
// `ip netns exec`) and fails the test if it cannot be started.
func (h *Host) Start(name string, args ...string) *Proc {
	h.lab.t.Helper()
	return h.StartWith(ProcOptions{}, name, args...)
}

// StartWith is Start with options.
func (h *Host) StartWith(o ProcOptions, name string, args ...string) *Proc {
	t := h.lab.t
	t.Helper()
	if o.StopSignal == 0 {
		o.StopSignal = syscall.SIGTERM
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 10 * time.Second
	}
	argv := []string{"netns", "exec", h.ns}
	if o.PrivateRun {
		argv = append(argv, "sh", "-c", `mount -t tmpfs -o mode=0755 tmpfs /run && exec "$0" "$@"`)
	}
	argv = append(argv, name)
	argv = append(argv, args...)
	cmd := exec.Command("ip", argv...)
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.Dir = o.Dir
	cmd.Stdin = o.Stdin
	// A process group of its own, so Stop reaches its children too; and
	// SIGKILL when the test process dies (see spawn).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second

	base := fmt.Sprintf("%s-%s-%d", h.name, filepath.Base(name), procSeq.Add(1))
	dir := t.TempDir()
	p := &Proc{
		host: h, name: base, cmd: cmd,
		stopSignal: o.StopSignal, stopTimeout: o.StopTimeout,
		done: make(chan struct{}),
	}
	var err error
	if p.stdout, err = newLogFile(filepath.Join(dir, base+".stdout")); err != nil {
		t.Fatalf("lab: %v", err)
	}
	if p.stderr, err = newLogFile(filepath.Join(dir, base+".stderr")); err != nil {
		t.Fatalf("lab: %v", err)
	}
	cmd.Stdout = p.stdout
	cmd.Stderr = p.stderr
	if err := spawn(cmd.Start); err != nil {
		t.Fatalf("lab: %s: starting %s: %v", h.name, quoteArgs(append([]string{name}, args...)), err)
	}
	go func() {
		p.err = cmd.Wait()
		p.stdout.close()
		p.stderr.close()
		close(p.done)
	}()
	t.Cleanup(func() {
		early := p.Exited()
		stopErr := p.Stop()
		if t.Failed() {
			p.dump(early, stopErr)
		}
	})
	return p
}

// spawner is one goroutine locked to its OS thread for the life of the
// process; every background process is forked from it. Pdeathsig fires when
// the *thread* that forked a child exits, and the Go runtime ends threads
// (for instance when a goroutine exits while locked to one), so forking
// from an arbitrary thread could kill a daemon in the middle of a test.
var spawner = sync.OnceValue(func() chan func() {
	ch := make(chan func())
	go func() {
		runtime.LockOSThread()
		for f := range ch {
			f()
		}
	}()
	return ch
})

// StartCommand starts cmd (cmd.Start) from the thread that forks every
// background process of the lab (see spawner), for a command run outside
// Host.StartWith: a Pdeathsig in its SysProcAttr then fires when the test
// process dies, not when the Go runtime ends some thread.
func StartCommand(cmd *exec.Cmd) error { return spawn(cmd.Start) }

func spawn(start func() error) error {
	errc := make(chan error, 1)
	spawner() <- func() { errc <- start() }
	return <-errc
}

// Name identifies the process in logs: host, program and a sequence number.
func (p *Proc) Name() string { return p.name }

// Pid is the process id (of the program itself: `ip netns exec` and the
// PrivateRun shell exec into it).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Exited reports whether the process has exited.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Wait waits for the process to exit and returns its exit error (nil for
// status 0), or the context's error.
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.done:
		return p.exitErr()
	case <-ctx.Done():
		return fmt.Errorf("waiting for %s to exit: %w", p.name, ctx.Err())
	}
}

func (p *Proc) exitErr() error {
	if p.err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w\n%s", p.name, p.err, p.stderr.tail(2048))
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return fmt.Errorf("%s: %w", p.name, os.ErrProcessDone)
	}
	return syscall.Kill(p.Pid(), sig)
}

// Stop ends the process: its stop signal (SIGTERM unless set otherwise) to
// its process group, then SIGKILL if it has not exited within the stop
// timeout. It returns nil if the process exited with status 0 or because
// of these signals, and the exit error otherwise (a crash, or an earlier
// exit with a failure status). Calling Stop again returns the same result.
func (p *Proc) Stop() error {
	p.stopOnce.Do(func() { p.stopErr = p.stop(p.stopSignal, p.stopTimeout) })
	return p.stopErr
}

// Kill ends the process group with SIGKILL and waits for it to exit.
func (p *Proc) Kill() error {
	p.stopOnce.Do(func() { p.stopErr = p.stop(syscall.SIGKILL, 0) })
	return p.stopErr
}

func (p *Proc) stop(sig syscall.Signal, grace time.Duration) error {
	if !p.Exited() {
		p.stopping.Store(true)
		syscall.Kill(-p.Pid(), sig)
		if grace > 0 {
			select {
			case <-p.done:
			case <-time.After(grace):
			}
		}
		if !p.Exited() {
			syscall.Kill(-p.Pid(), syscall.SIGKILL)
		}
		<-p.done
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) && p.stopping.Load() {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() &&
			(ws.Signal() == sig || ws.Signal() == syscall.SIGKILL) {
			return nil
		}
	}
	return p.exitErr()
}

// Stdout returns what the process has written to its standard output.
func (p *Proc) Stdout() string { return p.stdout.String() }

// Stderr returns what the process has written to its standard error.
func (p *Proc) Stderr() string { return p.stderr.String() }

// StdoutPath and StderrPath are the files holding the process's output.
func (p *Proc) StdoutPath() string { return p.stdout.path }

// StderrPath is the file holding the process's standard error.
func (p *Proc) StderrPath() string { return p.stderr.path }

// WaitOutput waits until the process has written a line matching re to its
// standard output or error, and returns that line. It fails early if the
// process exits without writing one.
func (p *Proc) WaitOutput(ctx context.Context, re *regexp.Regexp) (string, error) {
	for {
		// Take the change notifications before reading, so that no write
		// can slip between the read and the wait.
		c1, c2 := p.stdout.changed(), p.stderr.changed()
		for _, f := range []*logFile{p.stdout, p.stderr} {
			if m := lineAround(f.String(), re); m != "" {
				return m, nil
			}
		}
		select {
		case <-c1:
		case <-c2:
		case <-p.done:
			// Output is complete once done is closed: one last look.
			for _, f := range []*logFile{p.stdout, p.stderr} {
				if m := lineAround(f.String(), re); m != "" {
					return m, nil
				}
			}
			return "", fmt.Errorf("%s exited before writing %q: %v\n%s", p.name, re, p.err, p.stderr.tail(2048))
		case <-ctx.Done():
			return "", fmt.Errorf("%s: waiting for output %q: %w", p.name, re, ctx.Err())
		}
	}
}

// lineAround returns the first line of s that matches re, or "".
func lineAround(s string, re *regexp.Regexp) string {
	loc := re.FindStringIndex(s)
	if loc == nil {
		return ""
	}
	start := strings.LastIndexByte(s[:loc[0]], '\n') + 1
	end := strings.IndexByte(s[loc[1]:], '\n')
	if end < 0 {
		return s[start:]
	}
	return s[start : loc[1]+end]
}

func (p *Proc) dump(early bool, stopErr error) {
	t := p.host.lab.t
	state := "stopped at cleanup"
	if early {
		state = fmt.Sprintf("had exited before cleanup: %v", p.err)
	}
	if stopErr != nil && !early {
		state += fmt.Sprintf(" (%v)", stopErr)
	}
	t.Logf("lab: process %s (%s) %s", p.name, quoteArgs(p.cmd.Args), state)
	for _, f := range []*logFile{p.stdout, p.stderr} {
		if s := f.tail(16 << 10); s != "" {
			t.Logf("--- %s (%s):\n%s", filepath.Base(f.path), f.path, s)
		}
	}
}

// logFile is an output sink that writes to a file and keeps the content in
// memory (up to maxKeep bytes, the most recent ones) for WaitOutput and
// for the failure dump.
type logFile struct {
	path string

	mu     sync.Mutex
	f      *os.File
	buf    bytes.Buffer
	notify chan struct{}
}

const maxKeep = 4 << 20

func newLogFile(path string) (*logFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	return &logFile{path: path, f: f, notify: make(chan struct{})}, nil
}

func (l *logFile) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Write(b)
	}
	l.buf.Write(b)
	if over := l.buf.Len() - maxKeep; over > 0 {
		l.buf.Next(over)
	}
	close(l.notify)
	l.notify = make(chan struct{})
	return len(b), nil
}

// changed returns a channel closed at the next write.
func (l *logFile) changed() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.notify
}

func (l *logFile) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// String returns the kept output (all of it unless more than maxKeep bytes
// were written).
func (l *logFile) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logFile) tail(n int) string {
	s := l.String()
	if len(s) > n {
		s = "[...]" + s[len(s)-n:]
	}
	return strings.TrimRight(s, "\n")
}
