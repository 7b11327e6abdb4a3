package cluster

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/mip6ha/mip6ha/homeagent/store/etcdstore/etcdtest"
	"github.com/mip6ha/mip6ha/test/lab"
)

// EtcdMembers is the size of the lab's etcd cluster.
const EtcdMembers = 3

// Etcd is a cluster of Debian's etcd-server processes in one lab host, on
// its address addr, ports 2379/2380, 2479/2480 and 2579/2580.
type Etcd struct {
	t       testing.TB
	host    *lab.Host
	addr    netip.Addr
	members []*EtcdMember
}

// EtcdMember is one etcd process.
type EtcdMember struct {
	Name      string
	ClientURL string
	PeerURL   string
	proc      *lab.Proc
}

// StartEtcd starts the cluster in host and waits until it answers a
// quorum read. It skips the test when etcd is not installed.
func StartEtcd(t testing.TB, ctx context.Context, host *lab.Host, addr netip.Addr, dir string) *Etcd {
	t.Helper()
	if _, err := os.Stat(etcdtest.Binary); err != nil {
		t.Skipf("etcd is not installed (%s: Debian's etcd-server): %v", etcdtest.Binary, err)
	}
	e := &Etcd{t: t, host: host, addr: addr}
	var initial []string
	for i := range EtcdMembers {
		m := &EtcdMember{
			Name:      fmt.Sprintf("etcd%d", i+1),
			ClientURL: "http://" + netip.AddrPortFrom(addr, uint16(2379+100*i)).String(),
			PeerURL:   "http://" + netip.AddrPortFrom(addr, uint16(2380+100*i)).String(),
		}
		e.members = append(e.members, m)
		initial = append(initial, m.Name+"="+m.PeerURL)
	}
	for _, m := range e.members {
		data := filepath.Join(dir, m.Name)
		if err := os.MkdirAll(data, 0o700); err != nil {
			t.Fatal(err)
		}
		m.proc = host.StartWith(lab.ProcOptions{StopTimeout: 5 * time.Second}, etcdtest.Binary,
			"--name", m.Name, "--data-dir", data,
			"--listen-client-urls", m.ClientURL, "--advertise-client-urls", m.ClientURL,
			"--listen-peer-urls", m.PeerURL, "--initial-advertise-peer-urls", m.PeerURL,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-token", "mip6ha-cluster-lab", "--initial-cluster-state", "new",
			"--logger", "zap", "--log-level", "warn", "--unsafe-no-fsync",
		)
	}
	cl := e.Client()
	err := lab.Poll(ctx, "etcd answers a quorum read", func(ctx context.Context) error {
		for _, m := range e.members {
			if m.proc.Exited() {
				return lab.Permanent(fmt.Errorf("etcd member %s exited: %s", m.Name, lab.Tail(m.proc.Stderr(), 2000)))
			}
		}
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := cl.Get(rctx, "health")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// Endpoints returns every member's client URL (a killed one included:
// clients fail over).
func (e *Etcd) Endpoints() []string {
	var out []string
	for _, m := range e.members {
		out = append(out, m.ClientURL)
	}
	return out
}

// Members returns the cluster's members.
func (e *Etcd) Members() []*EtcdMember { return e.members }

// Client returns a client of the cluster for the test process, connecting
// inside the cluster's host; it is closed at the end of the test.
func (e *Etcd) Client() *clientv3.Client {
	e.t.Helper()
	var alive []string
	for _, m := range e.members {
		if !m.proc.Exited() {
			alive = append(alive, m.ClientURL)
		}
	}
	cl, err := clientv3.New(clientv3.Config{
		Endpoints:            alive,
		DialTimeout:          5 * time.Second,
		DialKeepAliveTime:    time.Second,
		DialKeepAliveTimeout: time.Second,
		Logger:               zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return e.host.Dial(ctx, "tcp", "", addr)
		})},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { cl.Close() })
	return cl
}

// Leader returns the index of the current leader, or -1.
func (e *Etcd) Leader(ctx context.Context) int {
	cl := e.Client()
	for i, m := range e.members {
		if m.proc.Exited() {
			continue
		}
		st, err := cl.Status(ctx, m.ClientURL)
		if err == nil && st.Leader == st.Header.MemberId {
			return i
		}
	}
	return -1
}

// Kill ends member i with SIGKILL.
func (e *Etcd) Kill(i int) {
	e.t.Helper()
	if err := e.members[i].proc.Kill(); err != nil {
		e.t.Fatalf("kill etcd member %s: %v", e.members[i].Name, err)
	}
}
