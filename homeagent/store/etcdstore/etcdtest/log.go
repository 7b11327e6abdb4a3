package etcdtest

import "go.uber.org/zap"

// nopLogger keeps the etcd client quiet in tests.
func nopLogger() *zap.Logger { return zap.NewNop() }
