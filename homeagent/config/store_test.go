package config

import (
	"context"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/etcdstore/etcdtest"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// acquireOne takes a home address from the configured pool and returns
// the lease.
func acquireOne(t *testing.T, c *Config, s store.Store) store.Lease {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := s.Acquire(ctx, store.AcquireRequest{Identity: "mn1@example.net", Owner: c.Cluster.MemberID, Pool: c.HomePool()})
	if err != nil {
		t.Fatal(err)
	}
	if !c.HomePool().Contains(l.HoA) {
		t.Errorf("lease %v outside the pool %v", l.HoA, c.HomePool())
	}
	return l
}

// TestOpenEmbeddedStore: the default backend opens in store.data_dir, and
// keeps the lease across a reopen.
func TestOpenEmbeddedStore(t *testing.T) {
	c := testDefault(t)
	c.Store.DataDir = filepath.Join(t.TempDir(), "lib", "mip6ha")
	s, err := c.OpenStore()
	if err != nil {
		t.Fatal(err)
	}
	first := acquireOne(t, c, s)
	s.Close()
	if _, err := os.Stat(c.StorePath()); err != nil {
		t.Errorf("store file: %v", err)
	}
	s, err = c.OpenStore()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if again := acquireOne(t, c, s); again.HoA != first.HoA {
		t.Errorf("after reopening: %v, want the sticky %v", again.HoA, first.HoA)
	}

	c.Store.DataDir = writeFile(t, "file", "", 0o600)
	wantKeys(t, c.CheckFiles(), "store.data_dir")
}

// TestOpenEtcdStore: the etcd backend reaches a real (in-process) etcd
// with the configured prefix.
func TestOpenEtcdStore(t *testing.T) {
	e, err := etcdtest.StartEmbedded(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c := testDefault(t)
	setCluster(c)
	c.Store.Etcd.Endpoints = e.Endpoints
	c.Store.Etcd.Prefix = "/mip6ha/config-test"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := c.OpenStore()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	l := acquireOne(t, c, s)
	cl, err := e.Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := cl.Get(context.Background(), c.Store.Etcd.Prefix+"/", clientOptsPrefix()...)
	if err != nil || resp.Count == 0 {
		t.Errorf("no key under the configured prefix for %v: %v", l.HoA, err)
	}
}

func TestEtcdClientConfigTLS(t *testing.T) {
	pki := newTestPKI(t, "etcd.example.net")
	c := testDefault(t)
	setCluster(c)
	c.Store.Etcd.Endpoints = []string{"https://etcd.example.net:2379"}
	c.Store.Etcd.DialTimeout = 3 * time.Second
	c.Store.Etcd.TLS = TLS{CA: pki.ca, Certificate: pki.cert, PrivateKey: pki.key, ServerName: "etcd.example.net"}
	cc, err := c.EtcdClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cc.TLS == nil || cc.TLS.ServerName != "etcd.example.net" || len(cc.TLS.Certificates) != 1 || cc.DialTimeout != 3*time.Second {
		t.Fatalf("TLS config %+v", cc.TLS)
	}
	if _, err := pki.leaf.Verify(x509.VerifyOptions{Roots: cc.TLS.RootCAs, DNSName: "etcd.example.net"}); err != nil {
		t.Errorf("the configured roots do not verify the server: %v", err)
	}

	c.Store.Etcd.TLS.PrivateKey = newTestPKI(t, "other").key
	_, err = c.EtcdClientConfig()
	wantKeys(t, err, "store.etcd.tls.private_key")
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("%v does not wrap ErrInvalid", err)
	}

	c = testDefault(t)
	if cc, err := c.EtcdClientConfig(); err != nil || cc.TLS != nil {
		t.Errorf("plain endpoints: TLS %v, %v", cc.TLS, err)
	}
}

func clientOptsPrefix() []clientv3.OpOption {
	return []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithCountOnly()}
}
