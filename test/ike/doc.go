// Package ike holds the acceptance tests of issue 2: the project's IKEv2
// engine, runtime and user-space ESP dataplane against real strongSwan
// 5.9.8 (kernel-libipsec, ESP in UDP) in network namespaces, and tshark
// decoding our own exchanges with our key log.
//
// Every test is named TestIKE..., so that
//
//	go test ./test/... -run IKE
//
// selects them. They need root (namespaces, TUN devices), strongSwan and
// tshark (test/run-all.sh installs them) and skip otherwise. Our programs
// (cmd/homeagent, cmd/mnclient) are built once per test process and run in
// lab hosts; a failing test prints their logs, charon's log and the path of
// its capture.
package ike
