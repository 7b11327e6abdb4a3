package ike

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/internal/mnevents"
	"github.com/mip6ha/mip6ha/test/interop"
	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/mnclient"
)

// Addresses of the tests. Inner addresses come from prefixes that no lab
// link uses, so that only the tunnel reaches them.
var (
	// ourPrefix is where our home agent assigns inner IPv6 addresses.
	ourPrefix = netip.MustParsePrefix("2001:db8:a::/64")
	// swanPool is strongSwan's virtual IP pool.
	swanPool = netip.MustParsePrefix("2001:db8:1::1000/124")
	// innerNet is served behind the home agent; innerAddr, on its lo, is
	// the address pings go to.
	innerNet  = netip.MustParsePrefix("2001:db8:f::/64")
	innerAddr = netip.MustParseAddr("2001:db8:f::1")
)

const (
	haID = "ha.example"
	mnID = "mn.example"
	// The proposals strongSwan uses towards us: AEAD for IKE (tshark can
	// decrypt AES-GCM) and ESP (the user-space dataplane only does AEAD).
	swanIKEProposal = "aes256gcm16-prfsha256-x25519"
	swanESPProposal = "aes256gcm16"
)

func ctxFor(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// creds are one side's credentials: a pre-shared key or certificates.
type creds struct {
	psk        string
	ca         *interop.CA
	ha, mn     *interop.Cert
	haID, mnID string
}

func pskCreds(psk string) creds { return creds{psk: psk, haID: haID, mnID: mnID} }

func ecdsaCreds(t testing.TB) creds { return certCreds(t, interop.ECDSAP256) }

func rsaCreds(t testing.TB) creds { return certCreds(t, interop.RSA2048) }

// certCreds issues certificates of key type kt to both sides from a test CA.
func certCreds(t testing.TB, kt interop.KeyType) creds {
	ca := interop.NewCA(t, "mip6ha IKE test CA", kt)
	return creds{ca: ca, ha: ca.Issue(t, haID, kt, haID), mn: ca.Issue(t, mnID, kt, mnID), haID: haID, mnID: mnID}
}

// swanAuth returns strongSwan's local and remote auth sections and the
// secrets and CAs to load.
func (c creds) swanAuth(local, remote string, localCert *interop.Cert) (interop.Auth, interop.Auth, []interop.Secret, []*interop.CA) {
	if c.psk != "" {
		return interop.Auth{Method: "psk", ID: local}, interop.Auth{Method: "psk", ID: remote},
			[]interop.Secret{{Name: "mip6ha", Secret: c.psk}}, nil
	}
	return interop.Auth{ID: local, Cert: localCert}, interop.Auth{ID: remote, CA: c.ca}, nil, []*interop.CA{c.ca}
}

// writeFile writes content to a file in the lab's scratch directory.
func writeFile(t testing.TB, l *lab.Lab, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(l.Dir(), name)
	if err := os.WriteFile(p, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// certFiles writes a certificate, its key and its CA as PEM files and
// returns the flags that name them: cmd/mnclient's, or with ha our home
// agent's configuration keys.
func certFiles(t testing.TB, l *lab.Lab, c *interop.Cert, ha bool) []string {
	t.Helper()
	key, err := c.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	flags := []string{"-cert", "-key", "-ca"}
	if ha {
		flags = []string{"--ike.certificate", "--ike.private-key", "--ike.ca"}
	}
	return []string{
		flags[0], writeFile(t, l, c.Name+".crt", c.CertPEM()),
		flags[1], writeFile(t, l, c.Name+".key", key),
		flags[2], writeFile(t, l, c.Name+"-ca.crt", c.CA.CertPEM()),
	}
}

// ourHA is our home agent (cmd/homeagent) running in a lab host.
type ourHA struct {
	t      testing.TB
	host   *lab.Host
	proc   *lab.Proc
	keylog string
}

// startOurHA runs cmd/homeagent in host with the credentials, assigning
// inner addresses from ourPrefix and serving innerNet (innerAddr on lo).
func startOurHA(t testing.TB, ctx context.Context, host *lab.Host, c creds, extra ...string) *ourHA {
	t.Helper()
	l := host.Lab()
	host.Iface("lo").AddAddr(netip.PrefixFrom(innerAddr, 128).String())
	ha := &ourHA{t: t, host: host, keylog: filepath.Join(l.Dir(), host.Name()+".keys")}
	// Each home agent has its own store and admin socket: the defaults
	// (/var/lib/mip6ha, /run/mip6ha) are shared by every namespace.
	args := []string{"run", "--identity", c.haID, "--prefix", ourPrefix.String(), "--ike.local-ts", innerNet.String(),
		"--tun", "ha0", "--ike.keylog-file", ha.keylog, "--log-format", "json", "--log-level", "debug",
		"--data-dir", filepath.Join(l.Dir(), host.Name()+"-data"), "--admin", filepath.Join(l.Dir(), host.Name()+".sock")}
	if c.psk != "" {
		args = append(args, "--secrets-file", writeFile(t, l, "ha.psk", []byte(c.mnID+" "+c.psk+"\n")))
	} else {
		args = append(args, certFiles(t, l, c.ha, true)...)
	}
	args = append(args, extra...)
	ha.proc = host.StartWith(lab.ProcOptions{StopTimeout: 15 * time.Second}, lab.Binary(t, "./cmd/homeagent"), args...)
	if _, err := ha.proc.WaitOutput(ctx, regexp.MustCompile(`home agent runtime started`)); err != nil {
		t.Fatal(err)
	}
	return ha
}

// logEntry is one JSON log line of our home agent.
type logEntry map[string]any

func (e logEntry) str(k string) string { return lab.LogText(e, k) }

func (e logEntry) flag(k string) bool { b, _ := e[k].(bool); return b }

// logs returns our home agent's log lines with message msg.
func (ha *ourHA) logs(msg string) []logEntry { return lab.LogRecords[logEntry](ha.proc, msg) }

// waitLog waits until the home agent has logged at least n lines with
// message msg for which match (nil: any) holds, and returns the n-th.
func (ha *ourHA) waitLog(ctx context.Context, msg string, n int, match func(logEntry) bool) logEntry {
	ha.t.Helper()
	e, err := lab.AwaitLogRecord(ctx, ha.proc, msg, n, match)
	if err != nil {
		ha.t.Fatal(err)
	}
	return e
}

// ourMN is our mobile node client (cmd/mnclient) running in a lab host.
type ourMN struct {
	t      testing.TB
	proc   *lab.Proc
	keylog string
	stream mnevents.Stream
}

// startOurMN runs cmd/mnclient in host, attaching to the gateway at ha.
func startOurMN(t testing.TB, host *lab.Host, ha netip.Addr, c creds, extra ...string) *ourMN {
	t.Helper()
	l := host.Lab()
	mn := &ourMN{t: t, keylog: filepath.Join(l.Dir(), host.Name()+"-mn.keys")}
	args := []string{"attach", "-ha", ha.String(), "-id", c.mnID, "-ha-id", c.haID, "-tun", "mn0", "-keylog", mn.keylog,
		"-log-level", "debug"}
	if c.psk != "" {
		args = append(args, "-psk-file", writeFile(t, l, "mn.psk", []byte(c.psk)))
	} else {
		args = append(args, certFiles(t, l, c.mn, false)...)
	}
	args = append(args, extra...)
	mn.proc = host.StartWith(lab.ProcOptions{StopTimeout: 15 * time.Second}, lab.Binary(t, "./cmd/mnclient"), args...)
	mn.stream = mnevents.Stream{T: t, Proc: mn.proc, Fatal: []string{mnclient.EventError}}
	return mn
}

// events returns the client's events so far.
func (mn *ourMN) events() []mnclient.Event { return mn.stream.Events() }

// wait waits for the n-th event of kind for which match (nil: any) holds.
// An error event or the client's exit ends the wait at once.
func (mn *ourMN) wait(ctx context.Context, kind string, n int, match func(mnclient.Event) bool) mnclient.Event {
	mn.t.Helper()
	return mn.stream.Wait(ctx, kind, n, match)
}

// homeAddress waits for the client's home address.
func (mn *ourMN) homeAddress(ctx context.Context) netip.Addr {
	mn.t.Helper()
	e := mn.wait(ctx, mnclient.EventHomeAddress, 1, nil)
	p, err := netip.ParsePrefix(e.Address)
	if err != nil {
		mn.t.Fatalf("home_address %q: %v", e.Address, err)
	}
	return p.Addr()
}

// detach stops the client (SIGTERM: it deletes the IKE SA) and checks that
// it reports the detach and exits cleanly.
func (mn *ourMN) detach(ctx context.Context) {
	mn.t.Helper()
	if err := mn.proc.Signal(syscall.SIGTERM); err != nil {
		mn.t.Fatal(err)
	}
	if err := mn.proc.Wait(ctx); err != nil {
		mn.t.Fatalf("mnclient exit: %v\n%s", err, tail(mn.proc.Stderr(), 3000))
	}
	mn.wait(ctx, mnclient.EventDetached, 1, func(e mnclient.Event) bool { return e.Reason == "deleted" })
}

// tail is the end of long output, for failure messages.
var tail = lab.Tail

// pinger is a ping running in the background (one echo request every
// 50 ms), whose losses are counted when it stops.
type pinger struct {
	proc *lab.Proc
}

func startPing(host *lab.Host, src, dst netip.Addr) *pinger {
	return &pinger{proc: host.StartWith(lab.ProcOptions{StopSignal: syscall.SIGINT}, "ping", "-n", "-i", "0.05", "-W", "2", "-I", src.String(), dst.String())}
}

var (
	pingSummary = regexp.MustCompile(`(\d+) packets transmitted, (\d+) received`)
	pingReply   = regexp.MustCompile(`(?m)^\d+ bytes from .*icmp_seq=(\d+)`)
)

// replies returns how many echo replies have come back so far.
func (p *pinger) replies() int { return len(pingReply.FindAllString(p.proc.Stdout(), -1)) }

// waitReplies waits until n more echo replies than now have come back:
// proof that traffic flows at this moment.
func (p *pinger) waitReplies(ctx context.Context, t testing.TB, n int) {
	t.Helper()
	want := p.replies() + n
	if err := lab.Poll(ctx, fmt.Sprintf("%d echo replies", want), func(context.Context) error {
		if got := p.replies(); got < want {
			return fmt.Errorf("%d replies", got)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// stop ends the ping and returns how many echo requests it sent and how
// many of those below the last one answered got no reply (the request in
// flight when the ping stops is not a loss).
func (p *pinger) stop(t testing.TB) (sent, lost int) {
	t.Helper()
	_ = p.proc.Stop()
	out := p.proc.Stdout()
	m := pingSummary.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no ping summary:\n%s\n%s", tail(out, 2000), p.proc.Stderr())
	}
	sent, _ = strconv.Atoi(m[1])
	seen := map[int]bool{}
	last := 0
	for _, r := range pingReply.FindAllStringSubmatch(out, -1) {
		seq, _ := strconv.Atoi(r[1])
		seen[seq] = true
		last = max(last, seq)
	}
	for seq := 1; seq <= last; seq++ {
		if !seen[seq] {
			lost++
		}
	}
	return sent, lost
}

// The mnclient's command signals.
const (
	sigRekeyIKE   = syscall.SIGUSR1
	sigRekeyChild = syscall.SIGUSR2
)
