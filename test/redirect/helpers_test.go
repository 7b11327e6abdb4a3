package redirect

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mip6ha/mip6ha/test/internal/mnevents"
	"github.com/mip6ha/mip6ha/test/interop"
	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/mnclient"
	"github.com/mip6ha/mip6ha/test/tshark"
)

// The names, keys and addresses the acceptance tests share. Every home
// agent of a deployment presents the same identity, so that a redirected
// client keeps its PAD entry (RFC 5685 §3).
const (
	haID     = "ha.example"
	swanID   = "swan.example"
	mnID     = "mn@example.net"
	labPSK   = "redirect acceptance psk"
	swanIKE  = "aes256gcm16-prfsha256-x25519" // AEAD: tshark decrypts it with our key log
	swanESP  = "aes256gcm16"
	swanConn = "ha"
)

var (
	// innerNet is served behind every home agent; innerAddr, on each home
	// agent's lo, is reached only through the tunnel.
	innerNet  = netip.MustParsePrefix("2001:db8:f::/64")
	innerAddr = netip.MustParseAddr("2001:db8:f::1")
	// Each home agent leases its own part of the home prefix, unless a
	// test gives them the same (to keep a node's address across them).
	hostRanges = []string{"2001:db8:1::1000-2001:db8:1::10ff", "2001:db8:1::2000-2001:db8:1::20ff"}
)

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// haOptions are the settings of one of our home agents in a lab host.
type haOptions struct {
	member    string     // cluster.member_id ("ha1")
	unicast   netip.Addr // cluster.addresses
	hostRange string     // home.host_range
	ike       string     // more lines of the ike section, indented by two
	yaml      string     // more top-level YAML, appended
	logLevel  string     // telemetry.log_level; default debug
	// labha runs the test harness (test/redirect/internal/labha) with
	// these flags instead of cmd/homeagent: a static cluster view, ticket
	// key, established-SA redirects on command.
	labha []string
}

// ourHA is one of our home agents running in a lab host.
type ourHA struct {
	t      testing.TB
	host   *lab.Host
	proc   *lab.Proc
	addr   netip.Addr
	keylog string
	cmds   *os.File // labha's standard input; nil for cmd/homeagent
}

// startHA runs our home agent in host from a configuration file and waits
// until it serves.
func startHA(t testing.TB, ctx context.Context, host *lab.Host, o haOptions) *ourHA {
	t.Helper()
	l := host.Lab()
	name := host.Name()
	host.Iface("lo").AddAddr(netip.PrefixFrom(innerAddr, 128).String())
	ha := &ourHA{t: t, host: host, addr: o.unicast, keylog: filepath.Join(l.Dir(), name+".keys")}
	var b strings.Builder
	fmt.Fprintf(&b, "ike:\n  identity: %s\n  psks:\n    - {identity: \"*\", secret: %q}\n", haID, labPSK)
	fmt.Fprintf(&b, "  keylog_file: %s\n  local_ts: [%q]\n", ha.keylog, innerNet.String())
	b.WriteString(o.ike)
	fmt.Fprintf(&b, "home:\n  prefix: %s\n  host_range: %s\n  tun: ha0\n", lab.DefaultHome.V6, o.hostRange)
	fmt.Fprintf(&b, "store:\n  data_dir: %s\n", filepath.Join(l.Dir(), name+"-data"))
	fmt.Fprintf(&b, "cluster:\n  member_id: %s\n  addresses: [%q]\n", o.member, o.unicast.String())
	fmt.Fprintf(&b, "admin:\n  listen: %s\n", filepath.Join(l.Dir(), name+".sock"))
	if o.logLevel == "" {
		o.logLevel = "debug"
	}
	fmt.Fprintf(&b, "telemetry:\n  log_format: json\n  log_level: %s\n  prometheus_listen: \"\"\n", o.logLevel)
	b.WriteString(o.yaml)
	conf := filepath.Join(l.Dir(), name+".yaml")
	if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	opts := lab.ProcOptions{StopTimeout: 20 * time.Second}
	prog, args := lab.Binary(t, "./cmd/homeagent"), []string{"run", "--config", conf}
	var cmdsIn *os.File
	if o.labha != nil {
		// A pipe of the kernel's, not io.Pipe: the process reads it itself,
		// so stopping it never waits for a copying goroutine.
		var err error
		if cmdsIn, ha.cmds, err = os.Pipe(); err != nil {
			t.Fatal(err)
		}
		opts.Stdin = cmdsIn
		prog, args = lab.Binary(t, "./test/redirect/internal/labha"), append([]string{"--config", conf}, o.labha...)
	}
	ha.proc = host.StartWith(opts, prog, args...)
	if cmdsIn != nil {
		cmdsIn.Close() // the process has its own copy
		t.Cleanup(func() { ha.cmds.Close() })
	}
	if _, err := ha.proc.WaitOutput(ctx, regexp.MustCompile(`"msg":"home agent started"`)); err != nil {
		t.Fatalf("home agent in %s did not start: %v\n%s", name, err, tail(ha.proc.Stderr(), 4000))
	}
	return ha
}

// logEntry is one JSON log line of our home agent.
type logEntry map[string]any

func (e logEntry) str(k string) string { return lab.LogText(e, k) }

// logs returns the home agent's log lines with message msg.
func (ha *ourHA) logs(msg string) []logEntry { return lab.LogRecords[logEntry](ha.proc, msg) }

// waitLog waits for a log line with message msg for which match (nil: any)
// holds, and returns it.
func (ha *ourHA) waitLog(ctx context.Context, msg string, match func(logEntry) bool) logEntry {
	ha.t.Helper()
	e, err := lab.AwaitLogRecord(ctx, ha.proc, msg, 1, match)
	if err != nil {
		ha.t.Fatal(err)
	}
	return e
}

// command sends a command to labha and returns its answer.
func (ha *ourHA) command(ctx context.Context, line string) map[string]any {
	ha.t.Helper()
	before := strings.Count(ha.proc.Stdout(), "\n")
	if _, err := io.WriteString(ha.cmds, line+"\n"); err != nil {
		ha.t.Fatal(err)
	}
	var answer map[string]any
	err := lab.Poll(ctx, "labha's answer to "+line, func(context.Context) error {
		lines := strings.Split(ha.proc.Stdout(), "\n")
		if len(lines)-1 <= before {
			return lab.ErrNotYet
		}
		return json.Unmarshal([]byte(lines[before]), &answer)
	})
	if err != nil {
		ha.t.Fatal(err)
	}
	return answer
}

// keyLogPrefs returns tshark preferences that decrypt the IKE SAs in our
// key log files.
func keyLogPrefs(t testing.TB, files ...string) []string {
	t.Helper()
	var prefs []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if line != "" {
				prefs = append(prefs, "uat:ikev2_decryption_table:"+line)
			}
		}
	}
	return prefs
}

// startSwan starts strongSwan in host as a mobile node configured for
// our home agent at gateway: PSK, a virtual IPv6 address, a CHILD_SA to
// innerNet, RFC 5685 redirects followed (strongSwan's default).
func startSwan(t testing.TB, ctx context.Context, host *lab.Host, gateway netip.Addr, opts interop.CharonOptions, proposal string) *interop.Charon {
	t.Helper()
	ch := interop.StartCharon(t, host, opts)
	if proposal == "" {
		proposal = swanIKE
	}
	if err := ch.Load(ctx, interop.Config{
		Connections: []interop.Connection{{
			Name:        swanConn,
			RemoteAddrs: []string{gateway.String()},
			Proposals:   []string{proposal},
			Encap:       true,
			VIPs:        []string{"::"},
			Local:       interop.Auth{Method: "psk", ID: swanID},
			Remote:      interop.Auth{Method: "psk", ID: haID},
			Children: []interop.Child{{
				Name:         "home",
				RemoteTS:     []string{innerNet.String()},
				ESPProposals: []string{swanESP},
			}},
		}},
		Secrets: []interop.Secret{{Name: "ha", Secret: labPSK}},
	}); err != nil {
		t.Fatal(err)
	}
	return ch
}

// swanAt waits until strongSwan's IKE SA runs with the home agent at
// gateway (port 4500) with its CHILD_SA installed, and returns it.
func swanAt(t testing.TB, ctx context.Context, ch *interop.Charon, gateway netip.Addr) interop.IKESA {
	t.Helper()
	want := netip.AddrPortFrom(gateway, 4500)
	sa, err := ch.WaitSA(ctx, swanConn, func(sa interop.IKESA) bool {
		c, ok := sa.Child("home")
		return sa.State == interop.StateEstablished && sa.RemoteHost == want && ok && c.State == interop.StateInstalled
	})
	if err != nil {
		sas, _ := ch.ListSAs(context.Background())
		t.Fatalf("strongSwan never had its SA at %v: %v; SAs: %v", want, err, sas)
	}
	return sa
}

// pingThrough checks that traffic flows through strongSwan's tunnel: pings
// from its virtual IP to innerAddr, which only the tunnel reaches, are
// answered, and its CHILD_SA counts them.
func pingThrough(t testing.TB, ctx context.Context, host *lab.Host, ch *interop.Charon, gateway netip.Addr) {
	t.Helper()
	sa := swanAt(t, ctx, ch, gateway)
	if len(sa.LocalVIPs) != 1 {
		t.Fatalf("strongSwan's virtual IPs %v", sa.LocalVIPs)
	}
	vip := sa.LocalVIPs[0]
	if err := host.WaitPing(ctx, innerAddr.String(), vip.String()); err != nil {
		t.Fatal(err)
	}
	if err := host.Ping(ctx, innerAddr.String(), vip.String(), 3); err != nil {
		t.Fatal(err)
	}
	after := swanAt(t, ctx, ch, gateway)
	if c, _ := after.Child("home"); c.PacketsIn < 3 || c.PacketsOut < 3 {
		t.Errorf("strongSwan's CHILD_SA with %v counted %d packets in, %d out", gateway, c.PacketsIn, c.PacketsOut)
	}
}

// ikeFields are what the tests read of every IKE message with tshark.
var ikeFields = []string{
	"ipv6.src", "ipv6.dst", "udp.srcport", "udp.dstport", "isakmp.exchangetype", "isakmp.flag_r", "isakmp.ispi", "isakmp.rspi",
	"isakmp.nonce", "isakmp.notify.msgtype",
	"isakmp.notify.data.redirect.gw_ident.type", "isakmp.notify.data.redirect.gw_ident.len",
	"isakmp.notify.data.redirect.new_resp_gw_ident.ipv6", "isakmp.notify.data.redirect.new_resp_gw_ident.fqdn",
	"isakmp.notify.data.redirect.nonce_data", "isakmp.notify.data.redirect.org_resp_gw_ident.ipv6",
	"isakmp.id.type", "isakmp.auth.method", "isakmp.prop.number", "isakmp.ts.type", "isakmp.cfg.type", "isakmp.delete.protoid",
	"isakmp.key_exchange.dh_group",
}

// ikeMessages decodes the IKE messages of a capture (decrypted with prefs).
func ikeMessages(t testing.TB, ctx context.Context, pcap string, prefs []string) []tshark.Packet {
	t.Helper()
	pkts, err := tshark.Fields(ctx, pcap, ikeFields, tshark.Options{Filter: "isakmp", Prefs: prefs, Timeout: time.Minute,
		DecodeAs: []string{"udp.port==4500,udpencap"}})
	if err != nil {
		t.Fatal(err)
	}
	return pkts
}

// Notify types and GW Ident Types as tshark prints them.
const (
	nRedirectSupported = "16406"
	nRedirect          = "16407"
	nRedirectedFrom    = "16408"
	exIKESAInit        = "34"
	exIKEAuth          = "35"
	exInformational    = "37"
)

func hasNotify(p tshark.Packet, n string) bool {
	for _, v := range p.Values("isakmp.notify.msgtype") {
		if v == n {
			return true
		}
	}
	return false
}

// privateUse reports the private-use notifies and GW Ident Types a packet
// carries (RFC 7296 §3.10.1: notify types 40960–65535; RFC 5685 §12: GW
// Ident Types 241–255).
func privateUse(p tshark.Packet) []string {
	var r []string
	for _, v := range p.Values("isakmp.notify.msgtype") {
		var n int
		if fmt.Sscan(v, &n); n >= 40960 {
			r = append(r, "notify "+v)
		}
	}
	for _, v := range p.Values("isakmp.notify.data.redirect.gw_ident.type") {
		var n int
		if fmt.Sscan(v, &n); n >= 241 {
			r = append(r, "GW Ident Type "+v)
		}
	}
	return r
}

// ourMN is our mobile node client (cmd/mnclient) in a lab host.
type ourMN struct {
	t      testing.TB
	proc   *lab.Proc
	keylog string
	stream mnevents.Stream
}

// startMN runs cmd/mnclient in host towards the gateway ha, without a
// binding (the gateways of these tests serve VPN clients).
func startMN(t testing.TB, host *lab.Host, ha netip.Addr, extra ...string) *ourMN {
	t.Helper()
	l := host.Lab()
	mn := &ourMN{t: t, keylog: filepath.Join(l.Dir(), host.Name()+"-mn.keys")}
	psk := filepath.Join(l.Dir(), "mn.psk")
	if err := os.WriteFile(psk, []byte(labPSK), 0o600); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"attach", "-ha", ha.String(), "-id", mnID, "-ha-id", haID, "-psk-file", psk, "-tun", "mn0",
		"-keylog", mn.keylog, "-no-binding", "-follow-links=false", "-log-level", "debug", "-log-format", "json"}, extra...)
	mn.proc = host.StartWith(lab.ProcOptions{StopTimeout: 15 * time.Second}, lab.Binary(t, "./cmd/mnclient"), args...)
	mn.stream = mnevents.Stream{T: t, Proc: mn.proc, Fatal: []string{mnclient.EventError}, Lenient: true}
	return mn
}

// events returns the client's events so far.
func (mn *ourMN) events() []mnclient.Event { return mn.stream.Events() }

// wait waits for the n-th event of kind for which match (nil: any) holds.
// An error event fails the wait unless errors are awaited.
func (mn *ourMN) wait(ctx context.Context, kind string, n int, match func(mnclient.Event) bool) mnclient.Event {
	mn.t.Helper()
	return mn.stream.Wait(ctx, kind, n, match)
}

// tail is the end of long output, for failure messages.
var tail = lab.Tail

// inHost runs f on an OS thread switched into host's network namespace, so
// that the sockets f opens live there (they stay there when used from other
// threads afterwards). The thread returns to the test's namespace
// afterwards: one left in the lab's could be the process's main thread,
// which is what tools such as `ip netns pids` look at, and the lab's
// cleanup would then kill the test process with the lab.
func inHost(host *lab.Host, f func() error) error {
	errc := make(chan error, 1)
	go func() { errc <- inNetns(host, f) }()
	return <-errc
}

// inNetns runs f on the calling goroutine's thread, switched into host's
// network namespace for the duration. A thread that cannot switch back is
// thrown away (its goroutine ends locked to it).
func inNetns(host *lab.Host, f func() error) error {
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer unix.Close(orig)
	if err := setns(host); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", host.Namespace(), err)
	}
	defer func() {
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return f()
}

// osWriteFile writes a scratch file readable by its owner only.
func osWriteFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }
