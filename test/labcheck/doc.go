// Package labcheck holds the end-to-end self-tests of the network-namespace
// lab (test/lab) and of the interop harnesses (test/interop): the project
// topology with IPv4, IPv6, NAT44 and NAT66; the mobile node moving between
// visited links; anycast reaching the nearer home agent; capture and
// decoding with tcpdump and tshark; and two strongSwan charons building a
// CHILD_SA over user-space ESP-in-UDP with PSK and with ECDSA certificates.
// They prove the harness before the project's own IKE engine exists and run
// in CI as root (`go test ./test/labcheck/`); unprivileged they skip.
//
// The tests need no daemon of the project; run them with
//
//	go test -count=1 ./test/labcheck/
//
// Two copies may run at once: every lab has its own namespaces, so
//
//	go test -count=1 ./test/labcheck/ & go test -count=1 ./test/labcheck/; wait
//
// passes too.
package labcheck
