package mnclient

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
)

// The tests that run a client against a home agent in this process need
// global addresses (a care-of address must be unicast routable, RFC 6275
// §6.1.7), TUN devices and routes, so as root the test binary runs itself
// again in a network namespace of its own, where it may do all that:
// lo, and a veth pair with the home agent's address on one end and the
// mobile node's on the other.
const netnsEnv = "MNCLIENT_TEST_NETNS"

var (
	testHAAddr = netip.MustParseAddr("2001:db8:ff::1")
	testMNAddr = netip.MustParseAddr("2001:db8:ff::2")
	inNetns    bool
)

func TestMain(m *testing.M) {
	switch {
	case os.Getenv(netnsEnv) == "" && os.Geteuid() == 0:
		cmd := exec.Command(os.Args[0], os.Args[1:]...)
		cmd.Env = append(os.Environ(), netnsEnv+"=1")
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
		err := cmd.Run()
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "mnclient tests: cannot run in a network namespace:", err)
			os.Exit(1)
		}
		os.Exit(0)
	case os.Getenv(netnsEnv) != "":
		if err := setupNetns(); err != nil {
			fmt.Fprintln(os.Stderr, "mnclient tests: network namespace:", err)
			os.Exit(1)
		}
		inNetns = true
	}
	os.Exit(m.Run())
}

// setupNetns brings lo up and adds the veth pair of the tests, unless
// they exist (fuzzing workers start in their coordinator's namespace).
func setupNetns() error {
	if _, err := netlink.LinkByName("ha0"); err == nil {
		return nil
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return err
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "ha0"}, PeerName: "mn0"}
	if err := netlink.LinkAdd(veth); err != nil {
		return err
	}
	for name, a := range map[string]netip.Addr{"ha0": testHAAddr, "mn0": testMNAddr} {
		l, err := netlink.LinkByName(name)
		if err != nil {
			return err
		}
		ipnet := &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(64, 128)}
		if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: ipnet, Flags: 0x02 /* IFA_F_NODAD */}); err != nil {
			return err
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return err
		}
	}
	return nil
}

// needNetns skips tests that need the test network namespace.
func needNetns(t testing.TB) {
	t.Helper()
	if !inNetns {
		t.Skip("needs root: runs in a network namespace of its own")
	}
}
