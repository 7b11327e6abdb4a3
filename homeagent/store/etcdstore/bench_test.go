package etcdstore_test

import (
	"testing"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/store/storetest"
)

// BenchmarkStoreEmbedded measures the etcd backend against the in-process
// single-member server (no fsync): client, gRPC and etcd's apply path.
func BenchmarkStoreEmbedded(b *testing.B) {
	srv := embeddedServer(b)
	storetest.Bench(b, func(b *testing.B) store.Store { return open(b, srv.Endpoints, newPrefix()) })
}

// BenchmarkStoreCluster measures the etcd backend against a 3-member
// cluster of Debian's etcd (fsync, replication): the deployed setting.
func BenchmarkStoreCluster(b *testing.B) {
	c := cluster(b)
	storetest.Bench(b, func(b *testing.B) store.Store { return open(b, c.Endpoints(), newPrefix()) })
}
