package mnclient

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/mip6ha/mip6ha/mip6"
)

// peerNetns is a second network namespace, linked to the test's by a veth
// pair, whose operations run on one OS thread locked into it.
type peerNetns struct {
	ops  chan func()
	done chan struct{}
}

// newPeerNetns creates the namespace, with lo up and the veth end peer
// (whose other end, local, stays in the test's namespace). Both ends are
// up, without addresses.
func newPeerNetns(t *testing.T, local, peer string) *peerNetns {
	t.Helper()
	ns := &peerNetns{ops: make(chan func()), done: make(chan struct{})}
	ready := make(chan error, 1)
	nsFD := make(chan int, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		defer close(ns.done)
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ready <- err
			return
		}
		fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ready <- err
			return
		}
		defer unix.Close(fd)
		nsFD <- fd
		ready <- nil
		for f := range ns.ops {
			f()
		}
	}()
	if err := <-ready; err != nil {
		t.Fatalf("network namespace: %v", err)
	}
	fd := <-nsFD
	t.Cleanup(func() {
		close(ns.ops)
		<-ns.done
	})
	if err := netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: local}, PeerName: peer}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if l, err := netlink.LinkByName(local); err == nil {
			netlink.LinkDel(l)
		}
	})
	pl, err := netlink.LinkByName(peer)
	if err == nil {
		err = netlink.LinkSetNsFd(pl, fd)
	}
	if err == nil {
		err = setUp(local)
	}
	if err == nil {
		err = ns.run(func() error {
			if err := setUp("lo"); err != nil {
				return err
			}
			return setUp(peer)
		})
	}
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// run runs f on the namespace's thread.
func (ns *peerNetns) run(f func() error) error {
	res := make(chan error, 1)
	ns.ops <- func() { res <- f() }
	return <-res
}

func setUp(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(l)
}

// setAddr adds (or with del, removes) a /64 address on an interface of
// the current namespace, without duplicate address detection.
func setAddr(name string, a netip.Addr, del bool) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(64, 128)}, Flags: unix.IFA_F_NODAD}
	if del {
		return netlink.AddrDel(l, addr)
	}
	return netlink.AddrAdd(l, addr)
}

func addRoute(name string, dst netip.Prefix) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return err
	}
	return netlink.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index,
		Dst: &net.IPNet{IP: dst.Addr().AsSlice(), Mask: net.CIDRMask(dst.Bits(), 128)}})
}

// TestMoveKeepsTheIKESA: the node's care-of address changes (the old
// address goes, a new one comes); the client notices it through netlink,
// registers the new care-of address with a Binding Update and sends an
// INFORMATIONAL from it, so the home agent's IKE SA and ESP follow (RFC
// 7296 §2.23, forced encapsulation): the same IKE SA and home address, and
// packets for the home address reach the node at its new address.
func TestMoveKeepsTheIKESA(t *testing.T) {
	needNetns(t)
	var (
		haAddr = netip.MustParseAddr("2001:db8:f1::1")
		west   = netip.MustParseAddr("2001:db8:f2::100")
		east   = netip.MustParseAddr("2001:db8:f3::100")
	)
	ns := newPeerNetns(t, "mvmn", "mvha")
	err := ns.run(func() error {
		if err := setAddr("mvha", haAddr, false); err != nil {
			return err
		}
		for _, p := range []string{"2001:db8:f2::/64", "2001:db8:f3::/64"} {
			if err := addRoute("mvha", netip.MustParsePrefix(p)); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = setAddr("mvmn", west, false)
	}
	if err == nil {
		err = addRoute("mvmn", netip.MustParsePrefix("2001:db8:f1::/64"))
	}
	if err != nil {
		t.Fatal(err)
	}
	log := failureLog(t)
	ha := startFakeHA(t, fakeHAConfig{addr: haAddr, inNetns: ns.run, logger: log.With("side", "ha")})
	events := newEventLog()
	received := make(chan []byte, 16)
	cfg := ha.clientConfig("mover@example.net", events)
	cfg.FollowLinks = true
	cfg.Received = func(p []byte) { received <- p }
	cfg.Logger = log.With("side", "mn")
	// A retransmission would come only after 10 s, so a binding accepted
	// well before that can only be the Binding Update sent again when the
	// home agent's IKE SA followed (the behaviour checked below), however
	// slow the machine.
	cfg.MobileNode.InitialBindackTimeout = 10 * time.Second
	cfg.MobileNode.MaxBindackTimeout = 20 * time.Second
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runClient(t, c)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	attached := events.wait(t, ctx, EventAttached, 1)
	first := events.wait(t, ctx, EventBindingAccepted, 1)
	hoa := c.Status().HoA
	if first.CoA != west.String() {
		t.Fatalf("first binding from %s, want %v", first.CoA, west)
	}

	// Move: the east address comes, the west one goes.
	if err := setAddr("mvmn", east, false); err != nil {
		t.Fatal(err)
	}
	if err := setAddr("mvmn", west, true); err != nil {
		t.Fatal(err)
	}
	change := events.wait(t, ctx, EventCareOfAddressChanged, 1)
	second := events.wait(t, ctx, EventBindingAccepted, 2)
	// This home agent moves its ESP endpoint on the INFORMATIONAL only, so
	// its first BA went to the old address; the node sent the BU again as
	// soon as the INFORMATIONAL's answer came, not at its retransmission.
	if d := second.Time.Sub(change.Time); d >= cfg.MobileNode.InitialBindackTimeout {
		t.Errorf("new binding accepted %v after the change", d)
	}
	if change.CoA != east.String() || change.OldCoA != west.String() || second.CoA != east.String() || second.Address != hoa.String() {
		t.Errorf("care_of_address_changed %+v, binding_accepted %+v", change, second)
	}
	if b, ok := ha.binding(hoa); !ok || b.CoA != east || b.State != mip6.StateValid {
		t.Errorf("home agent's binding %+v", b)
	}
	sas, err := ha.rt.SAs(ctx)
	if err != nil || len(sas) != 1 || sas[0].SPIs.String() != attached.SPIs || sas[0].Path.Remote.Addr() != east {
		t.Errorf("home agent's IKE SAs %+v, %v: want the one of %s at %v", sas, err, attached.SPIs, east)
	}
	if n := events.count(EventAttached); n != 1 {
		t.Errorf("%d IKE SAs set up, want 1", n)
	}
	// Packets for the home address reach the node at its new address. The
	// datagram is sent again every half second, as a transport would, so
	// that one lost on a loaded machine does not fail the test; what it
	// checks is that the home agent's ESP now goes to the east address.
	resend := time.NewTicker(500 * time.Millisecond)
	defer resend.Stop()
	var sent [][]byte
	for {
		down := ipv6Packet(testCN, hoa, 59, fmt.Appendf(nil, "after the move %d", len(sent)+1))
		sent = append(sent, down)
		ha.dev.Outgoing <- down
		select {
		case p := <-received:
			if !slices.ContainsFunc(sent, func(s []byte) bool { return bytes.Equal(s, p) }) {
				t.Errorf("received %x", p)
			}
			if len(sent) > 1 {
				t.Logf("a packet arrived after %d sends", len(sent))
			}
			return
		case <-resend.C:
		case <-ctx.Done():
			st := ha.rt.Stats()
			t.Fatalf("no packet at the new care-of address after %d sends; home agent: ESP sent %d, drops %v, CHILD_SA operations failed %d",
				len(sent), st.Dataplane.ESPOut, st.Dataplane.Drops, st.ChildOpFailures)
		}
	}
}
