package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// Events returns the node's events so far.
func (mn *MobileNode) Events() []mnclient.Event {
	var r []mnclient.Event
	sc := bufio.NewScanner(strings.NewReader(mn.proc.Stdout()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e mnclient.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			mn.t.Errorf("%s printed a line that is not an event: %q: %v", mn.ID, sc.Text(), err)
			continue
		}
		r = append(r, e)
	}
	return r
}

// Await waits for the n-th event of kind (n from 1) for which match (nil:
// any) holds and returns it. The client's exit ends the wait at once; so
// do an error event and a rejected binding unless tolerant.
func (mn *MobileNode) Await(ctx context.Context, kind string, n int, match func(mnclient.Event) bool) (mnclient.Event, error) {
	return mn.await(ctx, kind, n, match, false)
}

// AwaitTolerant is Await that lets error events pass (a node that loses
// its home agent reports errors on its way back).
func (mn *MobileNode) AwaitTolerant(ctx context.Context, kind string, n int, match func(mnclient.Event) bool) (mnclient.Event, error) {
	return mn.await(ctx, kind, n, match, true)
}

func (mn *MobileNode) await(ctx context.Context, kind string, n int, match func(mnclient.Event) bool, tolerant bool) (mnclient.Event, error) {
	var found mnclient.Event
	err := lab.Poll(ctx, fmt.Sprintf("%s event %q #%d", mn.ID, kind, n), func(context.Context) error {
		k := 0
		for _, e := range mn.Events() {
			if e.Event == kind && (match == nil || match(e)) {
				if k++; k == n {
					found = e
					return nil
				}
			}
			if !tolerant && e.Event != kind && (e.Event == mnclient.EventError || e.Event == mnclient.EventBindingRejected) {
				return lab.Permanent(fmt.Errorf("%s: %s %s %s", mn.ID, e.Event, e.Status, e.Error))
			}
		}
		if mn.proc.Exited() {
			return lab.Permanent(fmt.Errorf("%s exited: %s", mn.ID, tail(mn.proc.Stderr(), 3000)))
		}
		return fmt.Errorf("%d of %d seen", k, n)
	})
	return found, err
}

// Wait is Await that fails the test.
func (mn *MobileNode) Wait(ctx context.Context, kind string, n int, match func(mnclient.Event) bool) mnclient.Event {
	mn.t.Helper()
	e, err := mn.Await(ctx, kind, n, match)
	if err != nil {
		mn.t.Fatalf("%v\nevents:\n%s", err, mn.proc.Stdout())
	}
	return e
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
