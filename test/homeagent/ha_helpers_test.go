package homeagent

// Helpers of the home agent's acceptance tests (ha_*_test.go): our home
// agent (cmd/homeagent) run from a configuration file in a lab host, its
// admin API and metrics, and an in-process IKE initiator inside a lab host
// that sends crafted inner packets through a real CHILD_SA.

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	ha "github.com/mip6ha/mip6ha/homeagent"
	"github.com/mip6ha/mip6ha/homeagent/admin"
	"github.com/mip6ha/mip6ha/homeagent/dataplane/tuntest"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/mip6/mh"
	"github.com/mip6ha/mip6ha/test/lab"
)

const (
	haIdentity = "ha.example"
	haPSK      = "home agent acceptance psk"
	// haHostRange is the part of the lab's home prefix the home agent
	// leases, away from the addresses of r, ha1 and ha2.
	haHostRange = "2001:db8:1::1000-2001:db8:1::10ff"
	haIPv4Pool  = "198.51.100.200-198.51.100.220"
	// haMember is the home agent's member ID (cluster.member_id).
	haMember = "ha1"
)

// haCtx returns a context for a test step, cancelled at the end of the test.
func haCtx(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// haOptions are the settings of one home agent run besides the defaults.
type haOptions struct {
	identities []string // PSK peers, all with haPSK
	otlp       string   // telemetry.otlp_endpoint
	extra      string   // more YAML, appended
}

// homeAgent is our home agent running in a lab host from a configuration
// file, with its data directory and admin socket in the lab's scratch
// directory.
type homeAgent struct {
	t      testing.TB
	host   *lab.Host
	proc   *lab.Proc
	config string // the YAML file
	dir    string // data directory
	socket string // admin API
}

// writeHAConfig writes the configuration of a home agent in host on the
// project topology's home link and returns its path.
func writeHAConfig(t testing.TB, host *lab.Host, o haOptions) (path, dataDir, socket string) {
	t.Helper()
	l := host.Lab()
	dataDir = filepath.Join(l.Dir(), host.Name()+"-data")
	socket = filepath.Join(l.Dir(), host.Name()+".sock")
	var b strings.Builder
	fmt.Fprintf(&b, "ike:\n  identity: %s\n  psks:\n", haIdentity)
	for _, id := range o.identities {
		fmt.Fprintf(&b, "    - {identity: %q, secret: %q}\n", id, haPSK)
	}
	fmt.Fprintf(&b, "  keylog_file: %s\n", filepath.Join(l.Dir(), host.Name()+".keys"))
	fmt.Fprintf(&b, "home:\n  interface: eth0\n  prefix: %s\n  host_range: %s\n  ipv4_pool: %s\n  tun: ha0\n",
		lab.DefaultHome.V6, haHostRange, haIPv4Pool)
	fmt.Fprintf(&b, "store:\n  data_dir: %s\n", dataDir)
	fmt.Fprintf(&b, "cluster:\n  member_id: %s\n", haMember)
	fmt.Fprintf(&b, "admin:\n  listen: %s\n", socket)
	fmt.Fprintf(&b, "telemetry:\n  log_format: json\n  log_level: debug\n  export_delay: 100ms\n")
	if o.otlp != "" {
		fmt.Fprintf(&b, "  otlp_endpoint: %s\n  otlp_insecure: true\n", o.otlp)
	}
	b.WriteString(o.extra)
	path = filepath.Join(l.Dir(), host.Name()+".yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path, dataDir, socket
}

// startHomeAgent runs cmd/homeagent in host and waits until it serves.
func startHomeAgent(t testing.TB, ctx context.Context, host *lab.Host, o haOptions) *homeAgent {
	t.Helper()
	cfg, dir, sock := writeHAConfig(t, host, o)
	h := &homeAgent{t: t, host: host, config: cfg, dir: dir, socket: sock}
	h.start(ctx)
	return h
}

// start runs the home agent (again) with its configuration.
func (h *homeAgent) start(ctx context.Context) {
	h.t.Helper()
	h.proc = h.host.StartWith(lab.ProcOptions{StopTimeout: 20 * time.Second}, lab.Binary(h.t, "./cmd/homeagent"),
		"run", "--config", h.config)
	if _, err := h.proc.WaitOutput(ctx, regexp.MustCompile(`"msg":"home agent started"`)); err != nil {
		h.t.Fatalf("home agent did not start: %v\n%s", err, h.proc.Stderr())
	}
}

// stop stops the home agent with SIGTERM and checks that it exits 0.
func (h *homeAgent) stop() {
	h.t.Helper()
	if err := h.proc.Stop(); err != nil {
		h.t.Errorf("home agent exit: %v\n%s", err, logTail(h.proc.Stderr(), 4000))
	}
	if !strings.Contains(h.proc.Stderr(), `"msg":"home agent stopped"`) {
		h.t.Errorf("home agent did not stop gracefully:\n%s", logTail(h.proc.Stderr(), 4000))
	}
}

// admin returns a client of the home agent's admin API.
func (h *homeAgent) admin() *admin.Client {
	h.t.Helper()
	c, err := admin.NewClient(h.socket)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(c.Close)
	return c
}

// logs returns the home agent's JSON log lines with message msg.
func (h *homeAgent) logs(msg string) []map[string]any {
	return lab.LogRecords[map[string]any](h.proc, msg)
}

// metric scrapes the home agent's Prometheus endpoint (127.0.0.1:9464 in
// its host) and returns the value of the sample whose name and labels
// start with series (e.g. `mip6ha_dataplane_drops_total{drop_reason="mip6-checksum"`),
// or 0 if there is none.
func (h *homeAgent) metric(ctx context.Context, series string) float64 {
	h.t.Helper()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return h.host.Dial(ctx, "tcp", "", addr)
	}}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:9464/metrics", nil)
	resp, err := client.Do(req)
	if err != nil {
		h.t.Fatalf("scraping metrics: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, series) {
			f := strings.Fields(line)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err == nil {
				return v
			}
		}
	}
	return 0
}

// logTail is the end of long output, for failure messages.
var logTail = lab.Tail

// inHostNetns runs f on an OS thread switched into host's network
// namespace, so that sockets and devices f creates live there (see
// lab.Host.InNamespace).
func inHostNetns(host *lab.Host, f func() error) error { return host.InNamespace(f) }

// innerNode is an IKE initiator running in the test process with its
// sockets in a lab host: the home agent runtime in its initiator role with
// an in-memory inner device, so a test can put any inner packet into the
// CHILD_SA and read what comes back.
type innerNode struct {
	rt     *ha.Runtime
	tun    *tuntest.ChannelTUN
	events chan ha.Event
	sa     ha.SAID
	hoa    netip.Addr
	cancel context.CancelFunc
	done   chan error
}

// attachInner attaches identity id from host to the home agent at haAddr
// and waits for its home address and CHILD_SA.
func attachInner(t testing.TB, ctx context.Context, host *lab.Host, local, haAddr netip.Addr, id string) *innerNode {
	t.Helper()
	n := &innerNode{tun: tuntest.New(64), events: make(chan ha.Event, 256), done: make(chan error, 1)}
	cfg := ha.DefaultConfig()
	cfg.Listen = []string{local.String()}
	cfg.IKEPort, cfg.NATTPort = 0, 0
	cfg.Identity = id
	cfg.Shards = 1
	err := inHostNetns(host, func() (err error) {
		n.rt, err = ha.New(cfg, ha.Options{Device: n.tun, PSKs: []ha.PSK{{Identity: haIdentity, Secret: []byte(haPSK)}},
			Observer: func(e ha.Event) {
				select {
				case n.events <- e:
				default:
				}
			}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	go func() { n.done <- n.rt.Run(runCtx) }()
	t.Cleanup(n.stop)
	if n.sa, err = n.rt.Initiate(ctx, ha.Peer{Remote: netip.AddrPortFrom(haAddr, 500), ID: haIdentity,
		Request: ike.CPRequest{IPv6: true}, RequireAddress: true}); err != nil {
		t.Fatal(err)
	}
	for child := false; !child || !n.hoa.IsValid(); {
		select {
		case e := <-n.events:
			switch x := e.IKE.(type) {
			case ike.AddressAssigned:
				n.hoa = x.Assignment.IPv6.Addr()
			case ike.ChildUp:
				child = true
			case ike.IKEDown:
				t.Fatalf("IKE SA of %s down: %v", id, x.Err)
			}
		case <-ctx.Done():
			t.Fatalf("%s did not attach: %v", id, ctx.Err())
		}
	}
	return n
}

func (n *innerNode) stop() {
	if n.cancel != nil {
		n.cancel()
		n.cancel = nil
		<-n.done
	}
}

// tunnelBU is a home registration of hoa with the home agent at
// haAddr in the all-in-tunnel form (RFC 4877 §3): source the home address,
// the care-of address in an Alternate Care-of Address option. With
// homeAddressOption valid, the BU names that home address instead in a Home
// Address option.
func tunnelBU(hoa, haAddr, coa netip.Addr, seq uint16, homeAddressOption netip.Addr) []byte {
	opts := mh.AlternateCoA{Addr: coa}.Append(nil)
	bu := mh.BindingUpdate{Sequence: seq, Flags: mh.BUFlagA | mh.BUFlagH | mh.BUFlagK, Lifetime: mh.LifetimeOf(time.Minute), Options: opts}
	return mh.AppendPacket(nil, mh.IPv6{Src: hoa, Dst: haAddr, HAO: homeAddressOption}, &bu)
}

// awaitBA waits for a Binding Acknowledgement on the node's device, or
// reports none within d.
func (n *innerNode) awaitBA(d time.Duration) (mh.BindingAck, bool) {
	deadline := time.After(d)
	for {
		select {
		case pkt := <-n.tun.Incoming:
			if _, h, err := mh.ParsePacket(pkt); err == nil && h.Type() == mh.TypeBindingAck {
				if ba, err := mh.ParseBindingAck(h); err == nil {
					return ba, true
				}
			}
		case <-deadline:
			return mh.BindingAck{}, false
		}
	}
}
