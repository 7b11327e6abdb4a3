package interop

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/interop/vici"
	"github.com/mip6ha/mip6ha/test/lab"
)

// CharonPath is the IKE daemon of Debian's strongswan-charon package.
var CharonPath = "/usr/lib/ipsec/charon"

// DefaultPlugins is the explicit plugin list every charon of the harness
// loads (no load_modular, so /etc/strongswan.d is ignored): user-space ESP
// over TUN (kernel-libipsec, as this kernel has no ESP), the vici control
// socket, counters (message and rekey counts), and the crypto the tests
// use (openssl, curve25519, x509, pkcs1/pkcs8/pem keys).
var DefaultPlugins = []string{
	"random", "nonce", "openssl", "aes", "sha1", "sha2", "hmac", "gcm", "gmp",
	"curve25519", "kdf", "pem", "pkcs1", "pkcs8", "x509", "pubkey", "constraints",
	"revocation", "attr", "kernel-libipsec", "kernel-netlink", "socket-default",
	"vici", "counters", "updown",
}

// DefaultLogLevels are charon's file log levels per subsystem unless
// CharonOptions.LogLevels says otherwise. Level 4 for "ike" logs the IKE
// SA keys (see CharonOptions.LogKeys).
var DefaultLogLevels = map[string]int{
	"default": 1, "ike": 2, "cfg": 1, "knl": 1, "net": 1, "enc": 1, "mgr": 1,
}

// CharonOptions configures a charon started by StartCharon (its
// strongswan.conf). The zero value is a charon that follows redirects, uses
// ports 500/4500 and logs at DefaultLogLevels.
type CharonOptions struct {
	// Plugins replaces DefaultPlugins.
	Plugins []string
	// LogLevels overrides DefaultLogLevels per subsystem ("ike": 4).
	LogLevels map[string]int
	// LogKeys logs the IKE SA keys (ike = 4) and SPIs (mgr = 2), for
	// Charon.IKEKeys and tshark decryption. Lab use only.
	LogKeys bool
	// IgnoreRedirects sets charon.follow_redirects = no: the initiator
	// then refuses RFC 5685 redirects.
	IgnoreRedirects bool
	// Port and PortNATT replace 500 and 4500.
	Port, PortNATT int
	// KeepAlive is the NAT-T keepalive interval (charon.keep_alive);
	// 0 keeps charon's default (20 s).
	KeepAlive time.Duration
	// RetransmitTries and RetransmitTimeout (seconds) tune IKE
	// retransmission; 0 means 3 tries, 2 s.
	RetransmitTries   int
	RetransmitTimeout float64
	// Roam lets charon react to address and route changes in its host
	// (kernel-netlink roam events: MOBIKE updates, path checks). Off by
	// default, because the path check that follows the installation of a
	// virtual IP re-installs routes and drops a packet now and then; turn
	// it on for tests where the strongSwan host moves.
	Roam bool
	// Extra holds more lines for the charon { } section, one setting per
	// line ("make_before_break = yes").
	Extra []string
}

// Charon is a strongSwan IKE daemon running in a lab host, with its own
// configuration, vici socket, log file and a private /run. It is stopped at
// cleanup; if the test failed, the end of its log goes to the test log.
type Charon struct {
	t    testing.TB
	host *lab.Host
	dir  string
	proc *lab.Proc
	opts CharonOptions
}

var charonSeq atomic.Int64

// StartCharon starts charon inside host h and returns once its vici socket
// answers. It skips the test if strongSwan is not installed.
func StartCharon(t testing.TB, h *lab.Host, o CharonOptions) *Charon {
	t.Helper()
	if _, err := os.Stat(CharonPath); err != nil {
		t.Skipf("interop: strongSwan's charon is not installed (%v); test/run-all.sh installs it", err)
	}
	dir := filepath.Join(h.Lab().Dir(), fmt.Sprintf("sw%d-%s", charonSeq.Add(1), h.Name()))
	for _, sub := range []string{"", "x509ca", "x509", "private", "ecdsa", "rsa"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatalf("interop: %v", err)
		}
	}
	c := &Charon{t: t, host: h, dir: dir, opts: o}
	if n := len(c.Socket()); n > 100 {
		t.Fatalf("interop: vici socket path %s is %d bytes, too long for a unix socket", c.Socket(), n)
	}
	if err := os.WriteFile(c.ConfPath(), []byte(c.strongswanConf()), 0o600); err != nil {
		t.Fatalf("interop: %v", err)
	}
	c.proc = h.StartWith(lab.ProcOptions{
		PrivateRun: true,
		Env:        []string{"STRONGSWAN_CONF=" + c.ConfPath()},
	}, CharonPath)
	t.Cleanup(func() {
		if t.Failed() {
			c.dumpLog()
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err := lab.Poll(ctx, "charon's vici socket in "+h.Name(), func(ctx context.Context) error {
		if c.proc.Exited() {
			return lab.Permanent(fmt.Errorf("charon exited: %w", c.proc.Wait(ctx)))
		}
		_, err := c.request(ctx, "version", nil)
		return err
	})
	if err != nil {
		t.Fatalf("interop: %v", err)
	}
	return c
}

// Host is the lab host charon runs in.
func (c *Charon) Host() *lab.Host { return c.host }

// Dir is the charon's directory: strongswan.conf, swanctl.conf, the
// credential folders swanctl reads (x509ca, x509, private, ecdsa, rsa),
// the vici socket and the log.
func (c *Charon) Dir() string { return c.dir }

// ConfPath is the charon's strongswan.conf.
func (c *Charon) ConfPath() string { return filepath.Join(c.dir, "strongswan.conf") }

// SwanctlConfPath is where Load writes swanctl.conf.
func (c *Charon) SwanctlConfPath() string { return filepath.Join(c.dir, "swanctl.conf") }

// Socket is the path of the vici socket.
func (c *Charon) Socket() string { return filepath.Join(c.dir, "charon.vici") }

// LogPath is charon's log file.
func (c *Charon) LogPath() string { return filepath.Join(c.dir, "charon.log") }

// Log returns charon's log so far.
func (c *Charon) Log() (string, error) {
	b, err := os.ReadFile(c.LogPath())
	return string(b), err
}

// Proc is the charon process.
func (c *Charon) Proc() *lab.Proc { return c.proc }

// Stop stops charon (SIGTERM: it deletes its SAs, telling the peers).
func (c *Charon) Stop() error { return c.proc.Stop() }

func (c *Charon) strongswanConf() string {
	o := c.opts
	plugins := o.Plugins
	if plugins == nil {
		plugins = DefaultPlugins
	}
	levels := maps.Clone(DefaultLogLevels)
	if o.LogKeys {
		// ike 4: the key dumps; mgr 2: the SPIs at check-in.
		levels["ike"], levels["mgr"] = 4, 2
	}
	maps.Copy(levels, o.LogLevels)
	port, portNATT := o.Port, o.PortNATT
	if port == 0 {
		port = 500
	}
	if portNATT == 0 {
		portNATT = 4500
	}
	tries, timeout := o.RetransmitTries, o.RetransmitTimeout
	if tries == 0 {
		tries = 3
	}
	if timeout == 0 {
		timeout = 2
	}
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	w("# generated by the mip6ha interop harness")
	w("charon {")
	w("  load = %s", strings.Join(plugins, " "))
	w("  port = %d", port)
	w("  port_nat_t = %d", portNATT)
	w("  follow_redirects = %s", yesNo(!o.IgnoreRedirects))
	w("  retransmit_tries = %d", tries)
	w("  retransmit_timeout = %g", timeout)
	if o.KeepAlive > 0 {
		w("  keep_alive = %ds", int(o.KeepAlive.Seconds()))
	}
	for _, l := range o.Extra {
		w("  %s", l)
	}
	w("  plugins {")
	w("    vici {")
	w("      socket = unix://%s", c.Socket())
	w("    }")
	w("    kernel-netlink {")
	w("      roam_events = %s", yesNo(o.Roam))
	w("    }")
	w("    kernel-libipsec {")
	w("      allow_peer_ts = no")
	w("    }")
	w("  }")
	w("  filelog {")
	w("    lab {")
	w("      path = %s", c.LogPath())
	w("      time_format = %%T")
	w("      ike_name = yes")
	w("      flush_line = yes")
	for _, k := range slices.Sorted(maps.Keys(levels)) {
		w("      %s = %d", k, levels[k])
	}
	w("    }")
	w("  }")
	w("  syslog {")
	w("    daemon {")
	w("      default = -1")
	w("    }")
	w("  }")
	w("}")
	w("swanctl {")
	w("  socket = unix://%s", c.Socket())
	w("}")
	return b.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func (c *Charon) dumpLog() {
	s, err := c.Log()
	if err != nil {
		c.t.Logf("interop: charon log of %s: %v", c.host.Name(), err)
		return
	}
	const max = 32 << 10
	if len(s) > max {
		s = "[...]" + s[len(s)-max:]
	}
	c.t.Logf("interop: charon log of %s (%s):\n%s", c.host.Name(), c.LogPath(), s)
}

// Swanctl runs swanctl against this charon (its vici socket and
// configuration) and returns the output; the error carries the output.
func (c *Charon) Swanctl(ctx context.Context, args ...string) (string, error) {
	args = append(args, "--uri", "unix://"+c.Socket())
	cmd := commandContext(ctx, "swanctl", args...)
	cmd.Env = append(os.Environ(), "STRONGSWAN_CONF="+c.ConfPath())
	cmd.Dir = c.dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("swanctl %s (charon in %s): %w\n%s", strings.Join(args, " "), c.host.Name(), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Load writes cfg as swanctl.conf (and its credentials into the folders
// swanctl reads) and loads everything with `swanctl --load-all`,
// replacing what was loaded before.
func (c *Charon) Load(ctx context.Context, cfg Config) error {
	text, err := cfg.Render()
	if err != nil {
		return err
	}
	if err := cfg.writeCredentials(c.dir); err != nil {
		return err
	}
	if err := os.WriteFile(c.SwanctlConfPath(), []byte(text), 0o600); err != nil {
		return err
	}
	_, err = c.Swanctl(ctx, "--load-all", "--noprompt", "--file", c.SwanctlConfPath())
	return err
}

// Initiate brings up the IKE SA of connection ike and, if child is not
// empty, its CHILD_SA child, and returns when they are established (or
// failed). Without child, only the IKE SA is initiated.
func (c *Charon) Initiate(ctx context.Context, ike, child string) error {
	args := []string{"--initiate", "--ike", ike}
	if child != "" {
		args = append(args, "--child", child)
	}
	_, err := c.Swanctl(ctx, append(args, "--timeout", timeoutArg(ctx))...)
	return err
}

// Terminate deletes the IKE SAs of connection ike (sending DELETE) and
// waits for the exchange to finish.
func (c *Charon) Terminate(ctx context.Context, ike string) error {
	_, err := c.Swanctl(ctx, "--terminate", "--ike", ike, "--timeout", timeoutArg(ctx))
	return err
}

// Rekey rekeys the CHILD_SAs named child (or, with child empty, the IKE
// SAs of connection ike).
func (c *Charon) Rekey(ctx context.Context, ike, child string) error {
	args := []string{"--rekey"}
	if child != "" {
		args = append(args, "--child", child)
	} else {
		args = append(args, "--ike", ike)
	}
	_, err := c.Swanctl(ctx, args...)
	return err
}

// Redirect sends an RFC 5685 REDIRECT in an INFORMATIONAL exchange to the
// peers of the IKE SAs of connection ike, naming gateway (an address or
// FQDN) as their new responder.
func (c *Charon) Redirect(ctx context.Context, ike, gateway string) error {
	_, err := c.Swanctl(ctx, "--redirect", "--ike", ike, "--gateway", gateway)
	return err
}

// timeoutArg turns ctx's deadline into swanctl's --timeout seconds
// (0: wait forever, bounded by ctx).
func timeoutArg(ctx context.Context) string {
	d, ok := ctx.Deadline()
	if !ok {
		return "0"
	}
	s := int(time.Until(d).Seconds())
	return fmt.Sprint(max(s, 1))
}

// Vici opens a session on charon's vici socket, closed at cleanup.
func (c *Charon) Vici(ctx context.Context) (*vici.Conn, error) {
	v, err := vici.Dial(ctx, c.Socket())
	if err != nil {
		return nil, err
	}
	c.t.Cleanup(func() { v.Close() })
	return v, nil
}

func (c *Charon) request(ctx context.Context, cmd string, msg *vici.Message) (*vici.Message, error) {
	v, err := vici.Dial(ctx, c.Socket())
	if err != nil {
		return nil, err
	}
	defer v.Close()
	return v.Request(ctx, cmd, msg)
}

// ListSAs returns charon's IKE SAs with their CHILD_SAs (vici list-sas).
func (c *Charon) ListSAs(ctx context.Context) ([]IKESA, error) {
	v, err := vici.Dial(ctx, c.Socket())
	if err != nil {
		return nil, err
	}
	defer v.Close()
	var sas []IKESA
	_, err = v.StreamedRequest(ctx, "list-sas", "list-sa", nil, func(m *vici.Message) error {
		for _, name := range m.Keys() {
			sa, err := parseIKESA(name, m.Section(name))
			if err != nil {
				return err
			}
			sas = append(sas, sa)
		}
		return nil
	})
	return sas, err
}

// WaitSA waits until charon has an IKE SA of connection ike for which cond
// holds, and returns it.
func (c *Charon) WaitSA(ctx context.Context, ike string, cond func(IKESA) bool) (IKESA, error) {
	var found IKESA
	err := lab.Poll(ctx, fmt.Sprintf("IKE SA %s in %s", ike, c.host.Name()), func(ctx context.Context) error {
		if c.proc.Exited() {
			return lab.Permanent(errors.New("charon exited"))
		}
		sas, err := c.ListSAs(ctx)
		if err != nil {
			return err
		}
		var states []string
		for _, sa := range sas {
			if sa.Name != ike {
				continue
			}
			if cond(sa) {
				found = sa
				return nil
			}
			states = append(states, sa.String())
		}
		if len(states) == 0 {
			return fmt.Errorf("no IKE SA %s", ike)
		}
		return fmt.Errorf("IKE SAs: %s", strings.Join(states, "; "))
	})
	return found, err
}

// WaitEstablished waits until an IKE SA of connection ike is ESTABLISHED
// with every CHILD_SA named in children INSTALLED, and returns it.
func (c *Charon) WaitEstablished(ctx context.Context, ike string, children ...string) (IKESA, error) {
	return c.WaitSA(ctx, ike, func(sa IKESA) bool {
		if sa.State != StateEstablished {
			return false
		}
		for _, name := range children {
			ch, ok := sa.Child(name)
			if !ok || ch.State != StateInstalled {
				return false
			}
		}
		return true
	})
}

// Counters returns the counters plugin's message and event counts for the
// connection conn (empty: the global counts): names such as
// "ike-rekey-init", "ike-rekey-resp", "child-rekey", "ike-init-in-req".
func (c *Charon) Counters(ctx context.Context, conn string) (map[string]uint64, error) {
	msg := vici.NewMessage()
	if conn != "" {
		msg.Set("name", conn)
	}
	m, err := c.request(ctx, "get-counters", msg)
	if err != nil {
		return nil, err
	}
	sec := m.Section("counters")
	if sec == nil {
		return nil, fmt.Errorf("get-counters: no counters in %s", m.Format())
	}
	// The global counts come in a section with an empty name.
	if sec = sec.Section(conn); sec == nil {
		return nil, fmt.Errorf("get-counters: no counters for %q in %s", conn, m.Format())
	}
	out := map[string]uint64{}
	for _, k := range sec.Keys() {
		var n uint64
		if _, err := fmt.Sscan(sec.String(k), &n); err != nil {
			return nil, fmt.Errorf("get-counters: %s = %q", k, sec.String(k))
		}
		out[k] = n
	}
	return out, nil
}
