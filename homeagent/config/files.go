package config

import (
	"os"
	"path/filepath"
)

// CheckFiles reads the files the configuration names and reports, joined as
// *KeyError values, those that cannot be used: the credentials (see
// Credentials), the etcd TLS files (when store.backend is etcd), the
// directory of ike.keylog_file, and store.data_dir when it exists but is
// not a directory. Load calls it after Validate, so that a bad file stops
// the home agent before anything starts.
func (c *Config) CheckFiles() error {
	var p problems
	if _, err := c.Credentials(); err != nil {
		p.addAll(err)
	}
	if c.Store.Backend == BackendEtcd {
		if _, err := c.EtcdClientConfig(); err != nil {
			p.addAll(err)
		}
	}
	if f := c.IKE.KeyLogFile; f != "" {
		if st, err := os.Stat(filepath.Dir(f)); err != nil || !st.IsDir() {
			p.add("ike.keylog_file", f, "is in a directory that does not exist")
		}
	}
	if c.Store.Backend == BackendEmbedded {
		if st, err := os.Stat(c.Store.DataDir); err == nil && !st.IsDir() {
			p.add("store.data_dir", c.Store.DataDir, "is not a directory")
		}
	}
	return p.err()
}
