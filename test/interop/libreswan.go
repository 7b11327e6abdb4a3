package interop

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/lab"
)

// LibreswanVersion is the libreswan release test/deps.d/libreswan.sh
// unpacks (Debian 12's package).
const LibreswanVersion = "4.10"

// LibreswanRoot returns the directory Debian's libreswan package is
// unpacked in (the one holding usr/libexec/ipsec/pluto), or "" when there
// is none: $LIBRESWAN_ROOT if set, else the first cache location that
// test/deps.d/libreswan.sh writes: $MIP6HA_CACHE, /var/cache/mip6ha, then
// ${XDG_CACHE_HOME:-$HOME/.cache}/mip6ha, each +
// "/libreswan-<LibreswanVersion>/root".
func LibreswanRoot() string {
	if r := os.Getenv("LIBRESWAN_ROOT"); r != "" {
		return r
	}
	var dirs []string
	if d := os.Getenv("MIP6HA_CACHE"); d != "" {
		dirs = append(dirs, d)
	}
	dirs = append(dirs, "/var/cache/mip6ha")
	if d, err := os.UserCacheDir(); err == nil {
		dirs = append(dirs, filepath.Join(d, "mip6ha"))
	}
	for _, d := range dirs {
		root := filepath.Join(d, "libreswan-"+LibreswanVersion, "root")
		if isExecutable(filepath.Join(root, plutoLibexec, "pluto")) {
			return root
		}
	}
	return ""
}

// plutoLibexec is where the package keeps pluto, whack and addconn,
// relative to its root. pluto runs addconn from the absolute path
// /usr/libexec/ipsec/addconn, which is why StartPluto bind-mounts the
// unpacked usr/libexec there.
const plutoLibexec = "usr/libexec/ipsec"

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// Pluto is libreswan's IKE daemon running in a lab host: its own
// ipsec.conf, ipsec.secrets and NSS database in a directory of its own,
// its control socket there, a private /run, and the unpacked
// /usr/libexec bind-mounted in its mount namespace. Its log (standard
// error) is kept by its lab.Proc, and written to the test log with the
// generated ipsec.conf if the test fails. It is stopped at cleanup.
//
// pluto's CHILD_SAs fail on the lab kernel, which has no ESP: pluto is an
// IKE-only peer there.
type Pluto struct {
	t    testing.TB
	host *lab.Host
	root string
	dir  string
	proc *lab.Proc
	opts PlutoOptions
}

var plutoSeq atomic.Int64

// StartPluto starts pluto inside host h with the configuration o and
// returns once it is ready: its control socket answers, it listens on
// port 500, every connection of o is loaded and the secrets are read. It
// skips the test if libreswan is not unpacked (test/deps.d/libreswan.sh)
// or NSS's certutil is missing, and fails it if the configuration is
// invalid or pluto does not come up.
func StartPluto(t testing.TB, h *lab.Host, o PlutoOptions) *Pluto {
	t.Helper()
	root := LibreswanRoot()
	if root == "" {
		t.Skipf("interop: libreswan %s is not unpacked (no $LIBRESWAN_ROOT, nothing in the caches); test/deps.d/libreswan.sh unpacks it", LibreswanVersion)
	}
	if !isExecutable(filepath.Join(root, plutoLibexec, "pluto")) {
		t.Fatalf("interop: no pluto in %s ($LIBRESWAN_ROOT)", filepath.Join(root, plutoLibexec))
	}
	if strings.ContainsAny(root, "'\n") {
		t.Fatalf("interop: libreswan root %q: quotes and line breaks are not supported", root)
	}
	certutil, err := exec.LookPath("certutil")
	if err != nil {
		t.Skipf("interop: NSS's certutil is missing (%v); test/deps.d/libreswan.sh installs libnss3-tools", err)
	}
	conf, secrets, err := o.Render()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(h.Lab().Dir(), fmt.Sprintf("ls%d-%s", plutoSeq.Add(1), h.Name()))
	if err := os.MkdirAll(filepath.Join(dir, "nss"), 0o700); err != nil {
		t.Fatalf("interop: %v", err)
	}
	p := &Pluto{t: t, host: h, root: root, dir: dir, opts: o}
	if n := len(p.CtlSocket()); n > 100 {
		t.Fatalf("interop: pluto control socket path %s is %d bytes, too long for a unix socket", p.CtlSocket(), n)
	}
	for _, f := range []struct {
		path, text string
		mode       os.FileMode
	}{
		{p.ConfPath(), conf, 0o600},
		{p.SecretsPath(), secrets, 0o600},
		{p.wrapperPath(), p.wrapper(), 0o700},
	} {
		if err := os.WriteFile(f.path, []byte(f.text), f.mode); err != nil {
			t.Fatalf("interop: %v", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// An empty NSS database, as `ipsec initnss` makes it.
	if out, err := commandContext(ctx, certutil, "-N", "-d", "sql:"+p.NSSDir(), "--empty-password").CombinedOutput(); err != nil {
		t.Fatalf("interop: certutil -N for pluto in %s: %v\n%s", h.Name(), err, out)
	}
	p.proc = h.StartWith(lab.ProcOptions{PrivateRun: true}, p.wrapperPath(), p.args()...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("interop: pluto in %s (%s), ipsec.conf:\n%s", h.Name(), p.dir, conf)
		}
	})
	if err := p.waitReady(ctx); err != nil {
		t.Fatalf("interop: pluto in %s: %v", h.Name(), err)
	}
	return p
}

// wrapper is the script that runs pluto: inside the private mount
// namespace of `ip netns exec`, the unpacked /usr/libexec goes over the
// system's (for addconn), then the script becomes pluto.
func (p *Pluto) wrapper() string {
	return fmt.Sprintf("#!/bin/sh\n# generated by the mip6ha interop harness\nset -e\nmount --bind '%s' /usr/libexec\nexec /usr/libexec/ipsec/pluto \"$@\"\n",
		filepath.Join(p.root, "usr/libexec"))
}

func (p *Pluto) wrapperPath() string { return filepath.Join(p.dir, "pluto") }

func (p *Pluto) args() []string {
	args := []string{
		"--nofork", "--stderrlog",
		"--config", p.ConfPath(),
		"--secretsfile", p.SecretsPath(),
		"--rundir", p.dir,
		"--nssdir", p.NSSDir(),
		"--ipsecdir", p.dir,
		"--dumpdir", p.dir,
	}
	return append(args, p.opts.Args...)
}

// waitReady waits for the control socket, then for pluto to list port 500
// and every configured connection (pluto loads the connections and
// opens its sockets through an addconn process it starts itself), then
// has pluto read the secrets once more so that no peer can arrive before
// they are loaded.
func (p *Pluto) waitReady(ctx context.Context) error {
	err := lab.Poll(ctx, "pluto's control socket, port and connections", func(ctx context.Context) error {
		if p.proc.Exited() {
			return lab.Permanent(fmt.Errorf("pluto exited: %w", p.proc.Wait(ctx)))
		}
		if _, err := os.Stat(p.CtlSocket()); err != nil {
			return err
		}
		status, err := p.Status(ctx)
		if err != nil {
			return err
		}
		ifs, err := ParsePlutoInterfaces(status)
		if err != nil {
			return lab.Permanent(err)
		}
		if !slices.ContainsFunc(ifs, func(i PlutoInterface) bool {
			return i.Protocol == "UDP" && i.Addr.Port() == plutoPort &&
				(!p.opts.Listen.IsValid() || i.Addr.Addr() == p.opts.Listen)
		}) {
			return fmt.Errorf("not listening on UDP port %d yet (interfaces %v)", plutoPort, ifs)
		}
		conns := ParsePlutoConns(status)
		for _, c := range p.opts.Conns {
			if c.Auto != "ignore" && !slices.Contains(conns, c.Name) {
				return fmt.Errorf("connection %q not loaded yet (loaded: %q)", c.Name, conns)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	_, err = p.Whack(ctx, "--rereadsecrets")
	return err
}

// Host is the lab host pluto runs in.
func (p *Pluto) Host() *lab.Host { return p.host }

// Dir is pluto's directory: ipsec.conf, ipsec.secrets, the NSS database
// (nss/), the control socket and the pid file.
func (p *Pluto) Dir() string { return p.dir }

// ConfPath is pluto's ipsec.conf.
func (p *Pluto) ConfPath() string { return filepath.Join(p.dir, "ipsec.conf") }

// SecretsPath is pluto's ipsec.secrets.
func (p *Pluto) SecretsPath() string { return filepath.Join(p.dir, "ipsec.secrets") }

// NSSDir is pluto's NSS database directory.
func (p *Pluto) NSSDir() string { return filepath.Join(p.dir, "nss") }

// CtlSocket is the path of pluto's control socket, which whack talks to.
func (p *Pluto) CtlSocket() string { return filepath.Join(p.dir, "pluto.ctl") }

// plutoPort is the IKE port pluto 4.10 always listens on (and 4500 for
// NAT traversal).
const plutoPort = 500

// Addr is the address pluto listens on (PlutoOptions.Listen, zero when it
// listens on every address) with its IKE port, 500.
func (p *Pluto) Addr() netip.AddrPort {
	return netip.AddrPortFrom(p.opts.Listen, plutoPort)
}

// Proc is the pluto process.
func (p *Pluto) Proc() *lab.Proc { return p.proc }

// Log returns what pluto has logged so far (its standard error).
func (p *Pluto) Log() string { return p.proc.Stderr() }

// WaitLog waits until pluto logs a line matching re and returns it (a
// line logged earlier counts too).
func (p *Pluto) WaitLog(ctx context.Context, re *regexp.Regexp) (string, error) {
	return p.proc.WaitOutput(ctx, re)
}

// Stop stops pluto (SIGTERM: it deletes its SAs, telling the peers) and
// returns nil if it exited cleanly, its exit error otherwise. Cleanup
// stops it too.
//
// pluto 4.10 now and then (1 to 3 runs in 100 here) dies of a
// segmentation fault while it shuts down after it has initiated an SA,
// whether told by SIGTERM or by whack --shutdown; Stop then returns that
// exit error.
func (p *Pluto) Stop() error { return p.proc.Stop() }

// ErrWhack is wrapped by the errors of whack commands that pluto answers
// with a failure (whack's exit status is pluto's status code).
var ErrWhack = errors.New("interop: whack command failed")

// Whack runs whack against this pluto's control socket and returns its
// output: pluto's answer, each line after a three-digit status code.
func (p *Pluto) Whack(ctx context.Context, args ...string) (string, error) {
	whack := filepath.Join(p.root, plutoLibexec, "whack")
	cmd := commandContext(ctx, whack, append([]string{"--ctlsocket", p.CtlSocket()}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ctx.Err() == nil {
			err = fmt.Errorf("%w: status %d", ErrWhack, ee.ExitCode())
		}
		return string(out), fmt.Errorf("whack %s (pluto in %s): %w\n%s", strings.Join(args, " "), p.host.Name(), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// Status returns `whack --status`: interfaces, settings, connections and
// states.
func (p *Pluto) Status(ctx context.Context) (string, error) {
	return p.Whack(ctx, "--status")
}

// GlobalStatus returns pluto's counters (`whack --globalstatus`), such as
// "total.ike.ikev2.redirect.completed" (IKE_SA_INIT requests answered
// with REDIRECT by global-redirect; pluto's per-notify counters miss
// REDIRECT) or "current.states.ike" (IKE SAs, half-open ones included).
func (p *Pluto) GlobalStatus(ctx context.Context) (map[string]int64, error) {
	out, err := p.Whack(ctx, "--globalstatus")
	if err != nil {
		return nil, err
	}
	return ParsePlutoGlobalStatus(out)
}

// Interfaces returns the addresses and ports pluto listens on.
func (p *Pluto) Interfaces(ctx context.Context) ([]PlutoInterface, error) {
	out, err := p.Status(ctx)
	if err != nil {
		return nil, err
	}
	return ParsePlutoInterfaces(out)
}

// States returns pluto's IKE SAs and CHILD_SAs (`whack --showstates`).
func (p *Pluto) States(ctx context.Context) ([]PlutoState, error) {
	out, err := p.Whack(ctx, "--showstates")
	if err != nil {
		return nil, err
	}
	return ParsePlutoStates(out)
}

// WaitState waits until pluto has a state of connection conn for which
// cond holds, and returns it.
func (p *Pluto) WaitState(ctx context.Context, conn string, cond func(PlutoState) bool) (PlutoState, error) {
	var found PlutoState
	err := lab.Poll(ctx, fmt.Sprintf("a state of %q in pluto in %s", conn, p.host.Name()), func(ctx context.Context) error {
		if p.proc.Exited() {
			return lab.Permanent(errors.New("pluto exited"))
		}
		states, err := p.States(ctx)
		if err != nil {
			return err
		}
		var seen []string
		for _, s := range states {
			if s.Conn != conn {
				continue
			}
			if cond(s) {
				found = s
				return nil
			}
			seen = append(seen, s.String())
		}
		if len(seen) == 0 {
			return fmt.Errorf("no state of %q", conn)
		}
		return fmt.Errorf("states: %s", strings.Join(seen, "; "))
	})
	return found, err
}

// Initiate has pluto set up connection conn (`whack --initiate`) and
// returns whack's account of the attempt once pluto has finished it (or,
// with keyingtries > 1, its first try), with an error when whack reports
// a failure. An IKE SA whose CHILD_SA the peer refuses counts as set up;
// a CHILD_SA that pluto cannot install (no ESP in the lab kernel) may
// not: look at States for the IKE SA.
func (p *Pluto) Initiate(ctx context.Context, conn string) (string, error) {
	return p.Whack(ctx, "--name", conn, "--initiate")
}

// InitiateAsync has pluto start setting up connection conn and returns at
// once (`whack --initiate --asynchronous`).
func (p *Pluto) InitiateAsync(ctx context.Context, conn string) error {
	_, err := p.Whack(ctx, "--name", conn, "--initiate", "--asynchronous")
	return err
}

// Terminate deletes the SAs of connection conn, telling the peer, and
// keeps the connection (`whack --terminate`).
func (p *Pluto) Terminate(ctx context.Context, conn string) error {
	_, err := p.Whack(ctx, "--name", conn, "--terminate")
	return err
}

// Delete removes connection conn and its SAs, telling the peer
// (`whack --delete`).
func (p *Pluto) Delete(ctx context.Context, conn string) error {
	_, err := p.Whack(ctx, "--name", conn, "--delete")
	return err
}

// SetGlobalRedirect changes global-redirect at run time: "yes", "no" or
// "auto" (`whack --global-redirect`).
func (p *Pluto) SetGlobalRedirect(ctx context.Context, mode string) error {
	_, err := p.Whack(ctx, "--global-redirect", mode)
	return err
}

// SetGlobalRedirectTo changes global-redirect-to at run time
// (`whack --global-redirect-to`).
func (p *Pluto) SetGlobalRedirectTo(ctx context.Context, gateways ...string) error {
	_, err := p.Whack(ctx, "--global-redirect-to", strings.Join(gateways, ","))
	return err
}

// Redirect sends a REDIRECT in an INFORMATIONAL exchange (RFC 5685
// section 5) to the peers of the established IKE SAs of connection conn,
// naming gateway (an address or FQDN) as their new responder
// (`whack --name conn --redirect-to gateway`).
func (p *Pluto) Redirect(ctx context.Context, conn, gateway string) error {
	_, err := p.Whack(ctx, "--name", conn, "--redirect-to", gateway)
	return err
}
