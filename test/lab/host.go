package lab

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Host is a network namespace of the lab: a machine of the test topology.
// Its loopback is up and IPv6 duplicate address detection is off, so
// addresses are usable as soon as their link is up.
type Host struct {
	lab  *Lab
	name string
	ns   string
}

// HostOption configures a host at creation.
type HostOption func(*hostConfig)

type hostConfig struct {
	forwarding bool
	sysctls    [][2]string
}

// Forwarding turns on IPv4 and IPv6 forwarding (a router).
func Forwarding() HostOption { return func(c *hostConfig) { c.forwarding = true } }

// WithSysctl sets a sysctl in the host's namespace at creation.
func WithSysctl(key, value string) HostOption {
	return func(c *hostConfig) { c.sysctls = append(c.sysctls, [2]string{key, value}) }
}

var hostName = regexp.MustCompile(`^[a-z][a-z0-9]{0,11}$`)

// commandTimeout bounds each configuration command the lab runs itself.
const commandTimeout = 30 * time.Second

// Host creates a host (network namespace) named name: lower-case letters and
// digits, at most 12 characters, unique in the lab.
func (l *Lab) Host(name string, opts ...HostOption) *Host {
	l.t.Helper()
	if !hostName.MatchString(name) {
		l.t.Fatalf("lab: host name %q: want 1-12 lower-case letters or digits, starting with a letter", name)
	}
	var cfg hostConfig
	for _, o := range opts {
		o(&cfg)
	}
	h := &Host{lab: l, name: name, ns: l.id + "-" + name}
	l.mu.Lock()
	if _, dup := l.hosts[name]; dup {
		l.mu.Unlock()
		l.t.Fatalf("lab: host %q already exists", name)
	}
	l.hosts[name] = h
	l.order = append(l.order, h)
	l.mu.Unlock()

	l.must(runCmd(context.Background(), "ip", "netns", "add", h.ns))
	h.IP("link", "set", "lo", "up")
	sysctls := [][2]string{
		{"net.ipv6.conf.all.accept_dad", "0"},
		{"net.ipv6.conf.default.accept_dad", "0"},
	}
	if cfg.forwarding {
		sysctls = append(sysctls,
			[2]string{"net.ipv6.conf.all.forwarding", "1"},
			[2]string{"net.ipv4.ip_forward", "1"})
	}
	h.Sysctl(append(sysctls, cfg.sysctls...)...)
	return h
}

// Name is the host's name in the lab ("mn", "r").
func (h *Host) Name() string { return h.name }

// Namespace is the name of the host's network namespace, for
// `ip netns exec` and `ip -n`.
func (h *Host) Namespace() string { return h.ns }

// Lab is the lab the host belongs to.
func (h *Host) Lab() *Lab { return h.lab }

// String is the host's name.
func (h *Host) String() string { return h.name }

// Command returns an exec.Cmd that runs name with args inside the host
// (through `ip netns exec`), for callers that need full control.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.ns, name}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Run runs a short command inside the host. On failure the error holds the
// command line and its combined output.
func (h *Host) Run(ctx context.Context, name string, args ...string) error {
	_, err := h.Output(ctx, name, args...)
	return err
}

// Output runs a short command inside the host and returns its standard
// output. On failure the error holds the command line and its combined
// output.
func (h *Host) Output(ctx context.Context, name string, args ...string) (string, error) {
	stdout, err := run(h.Command(ctx, name, args...))
	if err != nil {
		return stdout, fmt.Errorf("%s: %w", h.name, err)
	}
	return stdout, nil
}

// MustRun runs a short command inside the host and fails the test if it
// fails; it returns the standard output.
func (h *Host) MustRun(name string, args ...string) string {
	h.lab.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	out, err := h.Output(ctx, name, args...)
	if err != nil {
		h.lab.t.Fatalf("lab: %v", err)
	}
	return out
}

// IP runs `ip -n NAMESPACE args...` and fails the test on error; it returns
// the standard output.
func (h *Host) IP(args ...string) string {
	h.lab.t.Helper()
	out, err := h.ip(context.Background(), args...)
	if err != nil {
		h.lab.t.Fatalf("lab: %v", err)
	}
	return out
}

func (h *Host) ip(ctx context.Context, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, commandTimeout)
	defer cancel()
	out, err := runCmd(ctx, "ip", append([]string{"-n", h.ns}, args...)...)
	if err != nil {
		return out, fmt.Errorf("%s: %w", h.name, err)
	}
	return out, nil
}

// Sysctl sets sysctls inside the host: pairs of key and value, such as
// {"net.ipv6.conf.all.forwarding", "1"}. It fails the test on error.
func (h *Host) Sysctl(kv ...[2]string) {
	h.lab.t.Helper()
	if len(kv) == 0 {
		return
	}
	args := []string{"-qw"}
	for _, p := range kv {
		args = append(args, p[0]+"="+p[1])
	}
	h.MustRun("sysctl", args...)
}

// ReadSysctl reads a sysctl inside the host.
func (h *Host) ReadSysctl(ctx context.Context, key string) (string, error) {
	out, err := h.Output(ctx, "sysctl", "-n", key)
	return strings.TrimSpace(out), err
}

// Family is an IP address family.
type Family int

// Address families for routes and rules.
const (
	AnyFamily Family = iota // derived from the addresses given
	IPv4
	IPv6
)

func (f Family) flag() string {
	switch f {
	case IPv4:
		return "-4"
	case IPv6:
		return "-6"
	}
	return ""
}

// familyOf returns the family of an address or prefix string, AnyFamily if
// s is empty or not an address ("default").
func familyOf(s string) Family {
	if s == "" {
		return AnyFamily
	}
	if p, err := netip.ParsePrefix(s); err == nil {
		s = p.Addr().String()
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return AnyFamily
	}
	if a.Is4() {
		return IPv4
	}
	return IPv6
}

func firstFamily(f Family, addrs ...string) Family {
	if f != AnyFamily {
		return f
	}
	for _, a := range addrs {
		if g := familyOf(a); g != AnyFamily {
			return g
		}
	}
	return AnyFamily
}

// Route is a route for AddRoute, ReplaceRoute and DelRoute. Empty fields are
// left out of the `ip route` command.
type Route struct {
	Dst    string // "default", "2001:db8:1::/64", "192.0.2.0/24", an address
	Via    string // next hop
	Dev    string // output interface
	Src    string // preferred source address
	Table  int    // 0: the main table
	Metric int
	Family Family // needed only when no address says it ("default" via a Dev)
}

func (r Route) args() []string {
	dst := r.Dst
	if dst == "" {
		dst = "default"
	}
	a := []string{dst}
	if r.Via != "" {
		a = append(a, "via", r.Via)
	}
	if r.Dev != "" {
		a = append(a, "dev", r.Dev)
	}
	if r.Src != "" {
		a = append(a, "src", r.Src)
	}
	if r.Table != 0 {
		a = append(a, "table", strconv.Itoa(r.Table))
	}
	if r.Metric != 0 {
		a = append(a, "metric", strconv.Itoa(r.Metric))
	}
	return a
}

func (h *Host) route(verb string, r Route) {
	h.lab.t.Helper()
	var args []string
	if f := firstFamily(r.Family, r.Dst, r.Via, r.Src); f != AnyFamily {
		args = append(args, f.flag())
	}
	args = append(args, "route", verb)
	h.IP(append(args, r.args()...)...)
}

// AddRoute adds a route (`ip route add`); it fails the test if the route
// exists.
func (h *Host) AddRoute(r Route) { h.lab.t.Helper(); h.route("add", r) }

// ReplaceRoute adds a route or replaces the one with the same destination
// (`ip route replace`).
func (h *Host) ReplaceRoute(r Route) { h.lab.t.Helper(); h.route("replace", r) }

// DelRoute deletes a route (`ip route del`).
func (h *Host) DelRoute(r Route) { h.lab.t.Helper(); h.route("del", r) }

// DefaultRoute sets (replaces) the default route of the family of via.
func (h *Host) DefaultRoute(via string) {
	h.lab.t.Helper()
	h.ReplaceRoute(Route{Dst: "default", Via: via})
}

// Rule is a policy routing rule for AddRule and DelRule.
type Rule struct {
	From     string // source prefix
	To       string // destination prefix
	IIF      string // input interface
	Table    int    // table to look up
	Priority int    // 0: chosen by the kernel
	Family   Family // needed only when neither From nor To says it
}

func (h *Host) rule(verb string, r Rule) {
	h.lab.t.Helper()
	f := firstFamily(r.Family, r.From, r.To)
	if f == AnyFamily {
		h.lab.t.Fatalf("lab: rule %+v: set Family (no address tells it)", r)
	}
	args := []string{f.flag(), "rule", verb}
	if r.Priority != 0 {
		args = append(args, "priority", strconv.Itoa(r.Priority))
	}
	if r.From != "" {
		args = append(args, "from", r.From)
	}
	if r.To != "" {
		args = append(args, "to", r.To)
	}
	if r.IIF != "" {
		args = append(args, "iif", r.IIF)
	}
	if r.Table == 0 {
		h.lab.t.Fatalf("lab: rule %+v: Table is required", r)
	}
	args = append(args, "lookup", strconv.Itoa(r.Table))
	h.IP(args...)
}

// AddRule adds a policy routing rule (`ip rule add`).
func (h *Host) AddRule(r Rule) { h.lab.t.Helper(); h.rule("add", r) }

// DelRule deletes a policy routing rule (`ip rule del`).
func (h *Host) DelRule(r Rule) { h.lab.t.Helper(); h.rule("del", r) }

// RouteGet asks the kernel which route it uses towards dst
// (`ip route get`), optionally from a source address; it returns the
// command's one-line answer.
func (h *Host) RouteGet(ctx context.Context, dst, from string) (string, error) {
	args := []string{"route", "get", dst}
	if from != "" {
		args = append(args, "from", from)
	}
	out, err := h.ip(ctx, args...)
	return strings.TrimSpace(out), err
}

// runCmd runs a command in the test process's own namespace and returns its
// standard output; the error carries the command line and combined output.
func runCmd(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	return run(cmd)
}

// run runs cmd and returns its standard output; on failure the error holds
// the command line and the combined output, in the order it was written.
func run(cmd *exec.Cmd) (string, error) {
	var o outputs
	cmd.Stdout = stream{&o, true}
	cmd.Stderr = stream{&o, false}
	err := cmd.Run()
	o.mu.Lock()
	defer o.mu.Unlock()
	if err != nil {
		return o.stdout.String(), fmt.Errorf("%s: %w\n%s", quoteArgs(cmd.Args), err, strings.TrimSpace(o.combined.String()))
	}
	return o.stdout.String(), nil
}

func (l *Lab) must(_ string, err error) {
	l.t.Helper()
	if err != nil {
		l.t.Fatalf("lab: %v", err)
	}
}

// outputs collects a command's standard output and its combined output;
// exec.Cmd copies stdout and stderr from two goroutines, hence the lock.
type outputs struct {
	mu               sync.Mutex
	stdout, combined bytes.Buffer
}

type stream struct {
	o      *outputs
	stdout bool
}

func (s stream) Write(p []byte) (int, error) {
	s.o.mu.Lock()
	defer s.o.mu.Unlock()
	if s.stdout {
		s.o.stdout.Write(p)
	}
	return s.o.combined.Write(p)
}

// quoteArgs renders a command line for error messages.
func quoteArgs(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$") {
			q[i] = strconv.Quote(a)
		} else {
			q[i] = a
		}
	}
	return strings.Join(q, " ")
}
