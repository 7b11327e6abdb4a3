// Package etcdtest runs real etcd servers for tests: an in-process server
// (go.etcd.io/etcd/server/v3/embed) that needs nothing installed, and a
// cluster of etcd binaries (Debian's etcd-server) whose members can be
// killed. Both listen on 127.0.0.1 only, on free ports, with their data in
// a directory the caller owns (each member preallocates a 64 MB WAL).
package etcdtest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
)

// Embedded is an in-process single-member etcd server.
type Embedded struct {
	// Endpoints are the client URLs.
	Endpoints []string
	etcd      *embed.Etcd
}

// StartEmbedded starts an in-process etcd with its data in dir. It uses a
// fast heartbeat (10 ms, election 100 ms) so that one-second leases are
// honoured, and no fsync (test data only).
func StartEmbedded(dir string) (*Embedded, error) {
	ports, err := FreePorts(2)
	if err != nil {
		return nil, err
	}
	cfg := embed.NewConfig()
	cfg.Name = "embedded"
	cfg.Dir = dir
	cfg.Logger = "zap"
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(dir, "etcd.log")}
	cfg.TickMs, cfg.ElectionMs = 10, 100
	cfg.UnsafeNoFsync = true
	client := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[0])}
	peer := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", ports[1])}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
	cfg.ListenMetricsUrls = nil
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("etcdtest: start embedded etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("etcdtest: embedded etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, errors.New("etcdtest: embedded etcd not ready within 60s")
	}
	return &Embedded{Endpoints: []string{client.String()}, etcd: e}, nil
}

// Close stops the server.
func (e *Embedded) Close() { e.etcd.Close() }

// Client returns a new client of the server.
func (e *Embedded) Client() (*clientv3.Client, error) {
	return NewClient(e.Endpoints)
}

// NewClient returns a client of endpoints with test-friendly timeouts and
// no logging.
func NewClient(endpoints []string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:            endpoints,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    time.Second,
		DialKeepAliveTimeout: time.Second,
		Logger:               nopLogger(),
	})
}

// FreePorts returns n distinct TCP ports that were free on 127.0.0.1.
func FreePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("etcdtest: free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Binary is where Debian's etcd-server installs etcd.
const Binary = "/usr/bin/etcd"

// Cluster is a cluster of etcd processes.
type Cluster struct {
	Members []*Member
}

// Member is one etcd process of a Cluster.
type Member struct {
	Name      string
	ClientURL string
	PeerURL   string
	Dir       string
	cmd       *exec.Cmd
	exited    chan struct{}
}

// StartCluster starts n members of the etcd binary with their data and
// logs under dir and waits until the cluster answers a quorum read.
func StartCluster(ctx context.Context, binary, dir string, n int) (*Cluster, error) {
	ports, err := FreePorts(2 * n)
	if err != nil {
		return nil, err
	}
	c := &Cluster{}
	var initial []string
	for i := range n {
		m := &Member{
			Name:      fmt.Sprintf("m%d", i+1),
			ClientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
			PeerURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
		}
		m.Dir = filepath.Join(dir, m.Name)
		c.Members = append(c.Members, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	token := fmt.Sprintf("etcdtest-%d", time.Now().UnixNano())
	for _, m := range c.Members {
		if err := os.MkdirAll(m.Dir, 0o700); err != nil {
			c.Stop()
			return nil, err
		}
		logf, err := os.Create(m.Dir + ".log")
		if err != nil {
			c.Stop()
			return nil, err
		}
		m.cmd = exec.Command(binary,
			"--name", m.Name, "--data-dir", m.Dir,
			"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", m.PeerURL, "--initial-advertise-peer-urls", m.PeerURL,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-token", token, "--initial-cluster-state", "new",
			"--logger", "zap", "--log-level", "warn",
		)
		m.cmd.Stdout, m.cmd.Stderr = logf, logf
		m.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := m.cmd.Start(); err != nil {
			logf.Close()
			c.Stop()
			return nil, fmt.Errorf("etcdtest: start %s: %w", binary, err)
		}
		logf.Close()
		m.exited = make(chan struct{})
		go func(m *Member) {
			m.cmd.Wait()
			close(m.exited)
		}(m)
	}
	if err := c.waitHealthy(ctx); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// Endpoints returns the client URLs of every member (dead ones included:
// the client fails over).
func (c *Cluster) Endpoints() []string {
	var e []string
	for _, m := range c.Members {
		e = append(e, m.ClientURL)
	}
	return e
}

func (c *Cluster) waitHealthy(ctx context.Context) error {
	cl, err := NewClient(c.Endpoints())
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		rctx, rcancel := context.WithTimeout(ctx, time.Second)
		_, err := cl.Get(rctx, "health")
		rcancel()
		if err == nil {
			return nil
		}
		for _, m := range c.Members {
			select {
			case <-m.exited:
				return fmt.Errorf("etcdtest: member %s exited during start-up: %s", m.Name, tail(m.Dir+".log"))
			default:
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("etcdtest: cluster not healthy: %w", err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Leader returns the index of the current leader, or -1.
func (c *Cluster) Leader(ctx context.Context) int {
	cl, err := NewClient(c.Endpoints())
	if err != nil {
		return -1
	}
	defer cl.Close()
	for i, m := range c.Members {
		st, err := cl.Status(ctx, m.ClientURL)
		if err == nil && st.Leader == st.Header.MemberId {
			return i
		}
	}
	return -1
}

// Kill sends SIGKILL to member i and waits for it to exit.
func (c *Cluster) Kill(i int) {
	m := c.Members[i]
	if m.cmd == nil || m.cmd.Process == nil {
		return
	}
	m.cmd.Process.Signal(syscall.SIGKILL)
	<-m.exited
}

// Stop ends every member: SIGTERM, then SIGKILL for those still running
// after three seconds (an etcd 3.4 leader stopped together with its
// followers can hang in leadership transfer).
func (c *Cluster) Stop() {
	for _, m := range c.Members {
		if m.cmd != nil && m.cmd.Process != nil && m.exited != nil {
			m.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for _, m := range c.Members {
		if m.exited == nil {
			continue
		}
		select {
		case <-m.exited:
		case <-time.After(time.Until(deadline)):
			m.cmd.Process.Signal(syscall.SIGKILL)
			<-m.exited
		}
	}
}

// tail returns the last lines of a log file, for error messages.
func tail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 5 {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
