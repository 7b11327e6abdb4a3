package config

import (
	"crypto/tls"
	"crypto/x509"
	"path/filepath"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/boltstore"
	"github.com/mip6ha/mip6ha/homeagent/store/etcdstore"
)

// StorePath returns the embedded store's file: store.data_dir/leases.db.
func (c *Config) StorePath() string { return filepath.Join(c.Store.DataDir, boltstore.FileName) }

// EtcdClientConfig returns the etcd client configuration of store.etcd.*,
// reading its TLS files. Errors are *KeyError values naming the key whose
// file is at fault. TLS is on when an endpoint is https or a TLS file is
// configured.
func (c *Config) EtcdClientConfig() (clientv3.Config, error) {
	e := &c.Store.Etcd
	cc := clientv3.Config{
		Endpoints:   append([]string(nil), e.Endpoints...),
		DialTimeout: e.DialTimeout,
		Username:    e.Username,
		Password:    e.Password,
	}
	useTLS := e.TLS.CA != "" || e.TLS.Certificate != "" || e.TLS.ServerName != ""
	for _, ep := range e.Endpoints {
		if len(ep) > 8 && ep[:8] == "https://" {
			useTLS = true
		}
	}
	if !useTLS {
		return cc, nil
	}
	var p problems
	t := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: e.TLS.ServerName}
	if e.TLS.CA != "" {
		cas, err := ReadCertificates(e.TLS.CA)
		if err != nil {
			p.add("store.etcd.tls.ca", e.TLS.CA, "%v", err)
		} else {
			t.RootCAs = x509.NewCertPool()
			for _, ca := range cas {
				t.RootCAs.AddCert(ca)
			}
		}
	}
	if e.TLS.Certificate != "" {
		chain, err := ReadCertificates(e.TLS.Certificate)
		if err != nil {
			p.add("store.etcd.tls.certificate", e.TLS.Certificate, "%v", err)
		}
		key, err := readPrivateKey(e.TLS.PrivateKey)
		switch {
		case err != nil:
			p.add("store.etcd.tls.private_key", e.TLS.PrivateKey, "%v", err)
		case chain != nil && !PublicKeyEqual(key.Public(), chain[0].PublicKey):
			p.add("store.etcd.tls.private_key", e.TLS.PrivateKey, "is not the key of store.etcd.tls.certificate %s", e.TLS.Certificate)
		case chain != nil:
			cert := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
			for _, x := range chain {
				cert.Certificate = append(cert.Certificate, x.Raw)
			}
			t.Certificates = []tls.Certificate{cert}
		}
	}
	if err := p.err(); err != nil {
		return clientv3.Config{}, err
	}
	cc.TLS = t
	return cc, nil
}

// OpenStore opens the lease store that store.backend selects: the embedded
// store in store.data_dir (created if missing), or the etcd store at
// store.etcd.endpoints under store.etcd.prefix.
func (c *Config) OpenStore() (store.Store, error) {
	if c.Store.Backend == BackendEtcd {
		cc, err := c.EtcdClientConfig()
		if err != nil {
			return nil, err
		}
		return etcdstore.Open(cc, etcdstore.Options{Prefix: c.Store.Etcd.Prefix})
	}
	return boltstore.OpenDir(c.Store.DataDir, boltstore.Options{})
}
