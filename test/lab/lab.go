package lab

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StateDir holds one directory per live lab (and per process that built
// binaries), named after the lab's id. Each holds an "owner" file with the
// owning process's PID and start time, and a "paths" file listing scratch
// directories to remove. New uses them to remove what crashed runs left.
const StateDir = "/run/mip6ha-lab"

// idPrefix starts every lab id, and so every namespace name the lab creates.
const idPrefix = "m6-"

// Lab is a set of network namespaces (hosts) and the links between them,
// created for one test and removed when the test ends (pass, fail or panic).
// Namespace names carry a prefix unique to the lab, so labs of parallel tests
// and of parallel `go test` processes never collide.
//
// Configuration methods (Host, Link, AddAddr, AddRoute, ...) fail the test
// with t.Fatal when the kernel refuses, so call them from the test
// goroutine. Run, Output and the Wait helpers return errors and may be
// called from any goroutine.
type Lab struct {
	t   testing.TB
	id  string
	dir string

	mu    sync.Mutex
	hosts map[string]*Host
	order []*Host
}

var sweepOnce sync.Once

// New creates an empty lab for t. It skips the test when it does not run as
// root or when the `ip` tool or network namespaces are unavailable. The
// first call in a process also removes the namespaces, processes and scratch
// directories of labs whose owning process has died (a crashed or timed-out
// run).
func New(t testing.TB) *Lab {
	t.Helper()
	SkipUnlessAvailable(t)
	sweepOnce.Do(func() {
		if err := sweepStale(); err != nil {
			t.Logf("lab: removing leftovers of earlier runs: %v", err)
		}
	})
	l := &Lab{t: t, id: newID(), hosts: map[string]*Host{}}
	dir, err := os.MkdirTemp("", l.id+"-")
	if err != nil {
		t.Fatalf("lab: scratch directory: %v", err)
	}
	l.dir = dir
	if err := register(l.id, dir); err != nil {
		os.RemoveAll(dir)
		t.Fatalf("lab: %v", err)
	}
	t.Cleanup(l.destroy)
	return l
}

// SkipUnlessAvailable skips the test unless it runs as root on a system with
// the `ip` tool and network namespace support.
func SkipUnlessAvailable(t testing.TB) {
	t.Helper()
	if err := available(); err != nil {
		t.Skipf("lab: network namespace lab unavailable: %v", err)
	}
}

var availOnce = sync.OnceValue(func() error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (network namespaces, veth, nftables); run as root, e.g. test/run-all.sh")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return fmt.Errorf("the ip tool (iproute2) is missing: %w", err)
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		return fmt.Errorf("kernel without network namespaces: %w", err)
	}
	return nil
})

func available() error { return availOnce() }

// ID is the lab's unique id; every namespace the lab creates is named
// ID-hostname.
func (l *Lab) ID() string { return l.id }

// Dir is a scratch directory with a short path (fit for unix socket paths
// and configuration files of daemons the test starts), removed at cleanup.
func (l *Lab) Dir() string { return l.dir }

// T is the test the lab belongs to.
func (l *Lab) T() testing.TB { return l.t }

// Hosts lists the lab's hosts in creation order.
func (l *Lab) Hosts() []*Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*Host(nil), l.order...)
}

// destroy removes every namespace of the lab (killing what still runs in
// them) and the scratch directory. Processes started with Host.Start have
// their own cleanups, which run before this one.
func (l *Lab) destroy() {
	hosts := l.Hosts()
	for i := len(hosts) - 1; i >= 0; i-- {
		if err := deleteNamespace(hosts[i].ns); err != nil {
			l.t.Errorf("lab: %v", err)
		}
	}
	os.RemoveAll(l.dir)
	os.RemoveAll(filepath.Join(StateDir, l.id))
}

// newID returns "m6-<pid base 36>-<4 random base-36 digits>": short enough
// that "<id>-<host>" stays readable, unique across processes (PID) and
// across labs of one process (random part).
func newID() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	r := make([]byte, len(b))
	for i, c := range b {
		r[i] = digits[int(c)%len(digits)]
	}
	return idPrefix + strconv.FormatInt(int64(os.Getpid()), 36) + "-" + string(r)
}

// owner identifies a process across PID reuse: its PID and its start time
// in clock ticks since boot (field 22 of /proc/PID/stat).
type owner struct {
	pid   int
	start uint64
}

func (o owner) String() string { return fmt.Sprintf("%d %d", o.pid, o.start) }

func parseOwner(s string) (owner, error) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return owner{}, fmt.Errorf("owner record %q: want \"PID START\"", s)
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil || pid <= 0 {
		return owner{}, fmt.Errorf("owner record %q: bad PID", s)
	}
	start, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return owner{}, fmt.Errorf("owner record %q: bad start time", s)
	}
	return owner{pid, start}, nil
}

// processStart reads a process's start time, or fails if it does not exist.
func processStart(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatStart(string(b))
}

// parseStatStart extracts field 22 (starttime) from a /proc/PID/stat line.
// The command name (field 2) is parenthesised and may hold spaces or
// parentheses, so fields are counted from the last ')'.
func parseStatStart(stat string) (uint64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat line")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state), so field 22 is f[19].
	if len(f) < 20 {
		return 0, errors.New("short /proc stat line")
	}
	return strconv.ParseUint(f[19], 10, 64)
}

func (o owner) alive() bool {
	start, err := processStart(o.pid)
	return err == nil && start == o.start
}

func self() (owner, error) {
	start, err := processStart(os.Getpid())
	if err != nil {
		return owner{}, err
	}
	return owner{os.Getpid(), start}, nil
}

// register records that this process owns id and the scratch paths.
func register(id string, paths ...string) error {
	me, err := self()
	if err != nil {
		return err
	}
	unlock, err := lockState()
	if err != nil {
		return err
	}
	defer unlock()
	d := filepath.Join(StateDir, id)
	if err := os.MkdirAll(d, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d, "paths"), []byte(strings.Join(paths, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	// The owner file is written last: a directory without one is a
	// registration in progress and is left alone by sweepStale.
	return os.WriteFile(filepath.Join(d, "owner"), []byte(me.String()+"\n"), 0o644)
}

// lockState takes an exclusive lock on StateDir so that concurrent
// processes do not sweep each other's half-made registrations.
func lockState() (unlock func(), err error) {
	if err := os.MkdirAll(StateDir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(StateDir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}

// sweepStale removes the labs whose owner process is gone: it kills the
// processes left in their namespaces, deletes the namespaces and removes
// their scratch directories.
func sweepStale() error {
	unlock, err := lockState()
	if err != nil {
		return err
	}
	defer unlock()
	ents, err := os.ReadDir(StateDir)
	if err != nil {
		return err
	}
	nss, err := namespaces()
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), idPrefix) {
			continue
		}
		d := filepath.Join(StateDir, e.Name())
		rec, err := os.ReadFile(filepath.Join(d, "owner"))
		if err != nil {
			// No owner yet: a registration in progress, unless it is old.
			if fi, serr := os.Stat(d); serr == nil && time.Since(fi.ModTime()) > time.Hour {
				os.RemoveAll(d)
			}
			continue
		}
		o, err := parseOwner(string(rec))
		if err == nil && o.alive() {
			continue
		}
		for _, ns := range nss {
			if strings.HasPrefix(ns, e.Name()+"-") {
				if err := deleteNamespace(ns); err != nil {
					errs = append(errs, err)
				}
			}
		}
		if paths, err := os.ReadFile(filepath.Join(d, "paths")); err == nil {
			for _, p := range strings.Split(string(paths), "\n") {
				if strings.HasPrefix(p, os.TempDir()) && strings.Contains(p, e.Name()) {
					os.RemoveAll(p)
				}
			}
		}
		os.RemoveAll(d)
	}
	return errors.Join(errs...)
}

// namespaces lists the named network namespaces (ip netns).
func namespaces() ([]string, error) {
	ents, err := os.ReadDir("/run/netns")
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

// deleteNamespace kills every process inside the named namespace, then
// deletes it. The kernel frees the namespace (and its veth ends) once
// nothing refers to it any more.
func deleteNamespace(ns string) error {
	for range 3 {
		pids, err := namespacePIDs(ns)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		awaitGone(pids, 5*time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ip", "netns", "delete", ns).CombinedOutput()
	if err != nil {
		if _, serr := os.Stat(filepath.Join("/run/netns", ns)); errors.Is(serr, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("deleting namespace %s: %w: %s", ns, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// namespacePIDs lists the processes whose network namespace is ns
// (what `ip netns pids` does).
func namespacePIDs(ns string) ([]int, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join("/run/netns", ns), &st); err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return nil, nil
		}
		return nil, fmt.Errorf("namespace %s: %w", ns, err)
	}
	want := fmt.Sprintf("net:[%d]", st.Ino)
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err == nil && link == want {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// awaitGone waits until the processes have exited (or are zombies waiting
// for their parent), polling /proc, for at most d.
func awaitGone(pids []int, d time.Duration) {
	deadline := time.Now().Add(d)
	for _, pid := range pids {
		for time.Now().Before(deadline) {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				break
			}
			if i := strings.LastIndexByte(string(b), ')'); i >= 0 && strings.HasPrefix(strings.TrimSpace(string(b[i+1:])), "Z") {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
