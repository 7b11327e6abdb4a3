package cluster

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/admin"
	"github.com/mip6ha/mip6ha/test/lab"
)

// SitePrefix is one cluster.sites entry.
type SitePrefix struct{ Prefix, Site string }

// Distance is one cluster.distances entry.
type Distance struct {
	From, To string
	Cost     int
}

// HomeAgentConfig is what differs between the lab's members and what a
// test may tune; HomeAgentConfig.YAML renders the configuration file.
type HomeAgentConfig struct {
	ID, Site  string
	Addresses []netip.Addr
	Sites     []SitePrefix
	Distances []Distance
	Etcd      []string

	MembershipTTL    time.Duration
	MoveRate         float64
	MoveBurst        int
	DrainRate        float64
	HASRate          float64
	GracePeriod      time.Duration // mip6.grace_period
	RedirectGrace    time.Duration // ike.redirect.grace
	LoopWindow       time.Duration
	LivenessInterval time.Duration // ike.liveness_interval
	// DAD keeps Duplicate Address Detection on the home link (1 s per new
	// binding); off by default in the lab, where the store guarantees
	// uniqueness.
	DAD bool
	// OTLP is the OTLP/HTTP endpoint of the spans ("" for none).
	OTLP string
	// Dir holds the member's files: configuration, admin socket, key log.
	Dir string
	// Extra is YAML appended to the file.
	Extra string
}

// YAML renders the configuration file of the member.
func (c HomeAgentConfig) YAML() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ike:\n  identity: %s\n  psks:\n    - {identity: \"*\", secret: %q}\n", Identity, PSK)
	fmt.Fprintf(&b, "  keylog_file: %s\n", filepath.Join(c.Dir, "ike.keys"))
	fmt.Fprintf(&b, "  liveness_interval: %s\n", c.LivenessInterval)
	fmt.Fprintf(&b, "  redirect:\n    anycast: [%s]\n    grace: %s\n", Anycast, c.RedirectGrace)
	fmt.Fprintf(&b, "home:\n  interface: eth0\n  prefix: %s\n  host_range: %s\n  tun: ha0\n  dad: %t\n",
		lab.DefaultHome.V6, HostRange, c.DAD)
	fmt.Fprintf(&b, "mip6:\n  has_rate: %g\n  grace_period: %s\n", c.HASRate, c.GracePeriod)
	fmt.Fprintf(&b, "store:\n  backend: etcd\n  etcd:\n    endpoints: [%s]\n    prefix: %s\n", strings.Join(c.Etcd, ", "), EtcdPrefix)
	fmt.Fprintf(&b, "cluster:\n  member_id: %s\n  site: %s\n  addresses: [", c.ID, c.Site)
	for i, a := range c.Addresses {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.String())
	}
	b.WriteString("]\n  sites:\n")
	for _, s := range c.Sites {
		fmt.Fprintf(&b, "    - {prefix: %q, site: %s}\n", s.Prefix, s.Site)
	}
	b.WriteString("  distances:\n")
	for _, d := range c.Distances {
		fmt.Fprintf(&b, "    - {from: %s, to: %s, cost: %d}\n", d.From, d.To, d.Cost)
	}
	fmt.Fprintf(&b, "  membership_ttl: %s\n  move_rate: %g\n  move_burst: %d\n  drain_rate: %g\n  loop_window: %s\n  ticket_key: %q\n",
		c.MembershipTTL, c.MoveRate, c.MoveBurst, c.DrainRate, c.LoopWindow, TicketKey)
	fmt.Fprintf(&b, "admin:\n  listen: %s\n", c.Socket())
	b.WriteString("telemetry:\n  log_format: json\n  log_level: debug\n  export_delay: 200ms\n  prometheus_listen: \"\"\n")
	if c.OTLP != "" {
		fmt.Fprintf(&b, "  otlp_endpoint: %s\n", c.OTLP)
	}
	b.WriteString(c.Extra)
	return b.String()
}

// Socket is the member's admin API socket.
func (c HomeAgentConfig) Socket() string { return filepath.Join(c.Dir, "admin.sock") }

// HomeAgent is one member: cmd/homeagent in its lab host.
type HomeAgent struct {
	ID   string
	Host *lab.Host
	Cfg  HomeAgentConfig
	// Addr is its IPv6 address on the home link: its IKE address and the
	// home agent address of its nodes.
	Addr netip.Addr

	t      testing.TB
	file   string
	proc   *lab.Proc
	client *admin.Client
}

func newHomeAgent(l *Lab, host *lab.Host, cfg HomeAgentConfig) *HomeAgent {
	l.T.Helper()
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		l.T.Fatal(err)
	}
	h := &HomeAgent{ID: cfg.ID, Host: host, Cfg: cfg, Addr: cfg.Addresses[0], t: l.T, file: filepath.Join(cfg.Dir, "homeagent.yaml")}
	if err := os.WriteFile(h.file, []byte(cfg.YAML()), 0o600); err != nil {
		l.T.Fatal(err)
	}
	return h
}

// Start runs the member and waits until it serves.
func (h *HomeAgent) Start(ctx context.Context) {
	h.t.Helper()
	h.proc = h.Host.StartWith(lab.ProcOptions{StopTimeout: 20 * time.Second}, lab.Binary(h.t, "./cmd/homeagent"),
		"run", "--config", h.file)
	if _, err := h.proc.WaitOutput(ctx, regexp.MustCompile(`"msg":"home agent started"`)); err != nil {
		h.t.Fatalf("%s did not start: %v\n%s", h.ID, err, lab.Tail(h.proc.Stderr(), 6000))
	}
}

// Kill ends the member with SIGKILL (a crash: nothing is withdrawn, its
// store membership lapses after its TTL).
func (h *HomeAgent) Kill() {
	h.t.Helper()
	if err := h.proc.Kill(); err != nil {
		h.t.Fatalf("kill %s: %v", h.ID, err)
	}
}

// Stop ends the member with SIGTERM and reports whether it exited cleanly.
func (h *HomeAgent) Stop() error { return h.proc.Stop() }

// Proc is the member's process.
func (h *HomeAgent) Proc() *lab.Proc { return h.proc }

// Admin returns a client of the member's admin API.
func (h *HomeAgent) Admin() *admin.Client {
	h.t.Helper()
	if h.client == nil {
		c, err := admin.NewClient(h.Cfg.Socket())
		if err != nil {
			h.t.Fatal(err)
		}
		h.t.Cleanup(c.Close)
		h.client = c
	}
	return h.client
}

// Ctl runs `homeagent ctl ARGS...` against the member (from the test's
// namespace: the admin socket is a file) and returns its standard output.
func (h *HomeAgent) Ctl(ctx context.Context, args ...string) (string, error) {
	argv := append([]string{"ctl", "--admin", h.Cfg.Socket()}, args...)
	cmd := exec.CommandContext(ctx, lab.Binary(h.t, "./cmd/homeagent"), argv...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("homeagent %s: %w: %s", strings.Join(argv, " "), err, errb.String())
	}
	return out.String(), nil
}

// WaitMembers waits until the member's live view holds n members.
func (h *HomeAgent) WaitMembers(ctx context.Context, n int) {
	h.t.Helper()
	c := h.Admin()
	err := lab.Poll(ctx, fmt.Sprintf("%s sees %d members", h.ID, n), func(ctx context.Context) error {
		if h.proc.Exited() {
			return lab.Permanent(fmt.Errorf("%s exited: %s", h.ID, lab.Tail(h.proc.Stderr(), 3000)))
		}
		ms, err := c.Members(ctx)
		if err != nil {
			return err
		}
		if len(ms) != n {
			return fmt.Errorf("%d members", len(ms))
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// Logs returns the member's JSON log records whose message is msg.
func (h *HomeAgent) Logs(msg string) []map[string]any {
	return lab.LogRecords[map[string]any](h.proc, msg)
}

// WaitLog waits for the member's n-th log record with message msg and
// fields (each key equal to its value, compared as text).
func (h *HomeAgent) WaitLog(ctx context.Context, msg string, n int, fields map[string]string) map[string]any {
	h.t.Helper()
	e, err := lab.AwaitLogRecord(ctx, h.proc, msg, n, func(e map[string]any) bool {
		for key, v := range fields {
			if fmt.Sprint(e[key]) != v {
				return false
			}
		}
		return true
	})
	if err != nil {
		h.t.Fatalf("%s: %v (fields %v)\n%s", h.ID, err, fields, lab.Tail(h.proc.Stderr(), 4000))
	}
	return e
}
