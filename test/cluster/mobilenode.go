package cluster

import (
	"context"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/internal/mnevents"
	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/mnclient"
)

// MobileNode is cmd/mnclient attached from a lab host.
type MobileNode struct {
	ID   string
	Host *lab.Host
	t    testing.TB
	proc *lab.Proc
}

// NodeOptions are the flags of a mobile node besides the lab's.
type NodeOptions struct {
	// HA is where the node attaches first (default: the anycast address).
	HA netip.Addr
	// Reattach makes the node attach again, to the members in turn, when
	// it loses its home agent (with liveness checks every second).
	Reattach bool
	// Extra flags.
	Extra []string
}

// StartNode runs `mnclient attach` in host as identity id with the
// project's extensions (handover tickets), the lab's key, a TUN device
// mn0 and, with Jaeger, its spans exported there.
func (l *Lab) StartNode(host *lab.Host, id string, o NodeOptions) *MobileNode {
	l.T.Helper()
	ha := o.HA
	if !ha.IsValid() {
		ha = Anycast
	}
	args := []string{"attach", "--ha", ha.String(), "--id", id, "--ha-id", Identity, "--psk-file", l.pskFile,
		"--tun", "mn0", "--lifetime", "120s", "--redirect-extensions", "--log-level", "debug",
		"--keylog", filepath.Join(l.Topo.Lab.Dir(), host.Name()+"-mn.keys")}
	if o.Reattach {
		args = append(args, "--reattach", "--liveness", "1s", "--ike-timeout", "500ms", "--ike-tries", "3")
		for _, h := range l.HAs {
			args = append(args, "--reattach-ha", h.Addr.String())
		}
	}
	if l.OTLP != "" {
		args = append(args, "--otlp-endpoint", l.OTLP)
	}
	args = append(args, o.Extra...)
	return &MobileNode{ID: id, Host: host, t: l.T,
		proc: host.StartWith(lab.ProcOptions{StopTimeout: 15 * time.Second}, lab.Binary(l.T, "./cmd/mnclient"), args...)}
}

// NodeHost adds a host for a mobile node of its own on the visited link
// s, with address number n of the link (2001:db8:4::<0x200+n> on east) and
// a default route through r.
func (l *Lab) NodeHost(name string, s *lab.Site, n int) *lab.Host {
	l.T.Helper()
	tl := l.Topo.Lab
	h := tl.Host(name)
	link := tl.Link(h, "eth0", l.Topo.R, "r-"+name)
	link.B.SetMaster(s.Bridge)
	b := s.Subnet.V6.Addr().As16()
	b[14], b[15] = byte((0x200+n)>>8), byte(0x200+n)
	a := netip.AddrFrom16(b)
	link.A.AddAddr(netip.PrefixFrom(a, s.Subnet.V6.Bits()).String())
	h.DefaultRoute(s.Router.V6.String())
	return h
}

// Proc is the node's process.
func (mn *MobileNode) Proc() *lab.Proc { return mn.proc }

// events is the node's event stream; tolerant lets error events pass.
func (mn *MobileNode) events(tolerant bool) mnevents.Stream {
	s := mnevents.Stream{T: mn.t, Proc: mn.proc, Name: mn.ID}
	if !tolerant {
		s.Fatal = []string{mnclient.EventError, mnclient.EventBindingRejected}
	}
	return s
}

// Events returns the node's events so far.
func (mn *MobileNode) Events() []mnclient.Event { return mn.events(false).Events() }

// Await waits for the n-th event of kind (n from 1) for which match (nil:
// any) holds and returns it. The client's exit ends the wait at once; so
// do an error event and a rejected binding.
func (mn *MobileNode) Await(ctx context.Context, kind string, n int, match func(mnclient.Event) bool) (mnclient.Event, error) {
	return mn.events(false).Await(ctx, kind, n, match)
}

// AwaitTolerant is Await that lets error events pass (a node that loses
// its home agent reports errors on its way back).
func (mn *MobileNode) AwaitTolerant(ctx context.Context, kind string, n int, match func(mnclient.Event) bool) (mnclient.Event, error) {
	return mn.events(true).Await(ctx, kind, n, match)
}

// Wait is Await that fails the test.
func (mn *MobileNode) Wait(ctx context.Context, kind string, n int, match func(mnclient.Event) bool) mnclient.Event {
	mn.t.Helper()
	return mn.events(false).Wait(ctx, kind, n, match)
}

// Bound waits for the node's first binding and returns its home address
// and the binding_accepted event.
func (mn *MobileNode) Bound(ctx context.Context) (netip.Addr, mnclient.Event) {
	mn.t.Helper()
	accepted := mn.Wait(ctx, mnclient.EventBindingAccepted, 1, nil)
	hoa, err := netip.ParseAddr(accepted.Address)
	if err != nil {
		mn.t.Fatalf("%s: binding_accepted %+v: %v", mn.ID, accepted, err)
	}
	return hoa, accepted
}

// Count returns how many events of kind the node reported.
func (mn *MobileNode) Count(kind string) int {
	n := 0
	for _, e := range mn.Events() {
		if e.Event == kind {
			n++
		}
	}
	return n
}

// Stop detaches the node (SIGTERM) and reports the exit.
func (mn *MobileNode) Stop() error { return mn.proc.Stop() }
