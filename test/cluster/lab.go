package cluster

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/jaegercheck"
	"github.com/mip6ha/mip6ha/test/lab"
)

// The lab's fixed names and addresses.
const (
	// Identity is the one identity every home agent presents (RFC 5685 §3).
	Identity = "ha.example"
	// PSK is the pre-shared key of every mobile node (a "*" entry).
	PSK = "cluster lab pre-shared key"
	// TicketKey is the members' shared handover ticket key.
	TicketKey = "cluster lab ticket key, shared by the members"
	// HostRange is the part of the home prefix the members lease, away
	// from the addresses of r, the home agents and ops.
	HostRange = "2001:db8:1::1000-2001:db8:1::1fff"
	// EtcdPrefix is the deployment's key prefix in etcd.
	EtcdPrefix = "/mip6ha/lab"
)

var (
	// Anycast is the service's anycast address.
	Anycast = netip.MustParseAddr("2001:db8:ffff::1")
	// OpsAddrs are ops's addresses on the home link.
	OpsAddrs = lab.Addrs{V6: netip.MustParseAddr("2001:db8:1::e"), V4: netip.MustParseAddr("198.51.100.50")}
)

// Members names the home agents and their sites: Members[i] runs in
// Topology.HAs[i].
var Members = []struct{ ID, Site string }{{"ha1", "east"}, {"ha2", "west"}}

// Options change the lab.
type Options struct {
	// Jaeger runs Jaeger in ops (skipping the test when its binary is not
	// cached) and sends every home agent's and mobile node's spans there.
	Jaeger bool
	// Tune, if set, changes each member's configuration before it is
	// written (it is called once per member).
	Tune func(*HomeAgentConfig)
	// NoStart leaves the home agents stopped: the test starts them.
	NoStart bool
}

// Lab is the cluster lab of one test.
type Lab struct {
	T    testing.TB
	Topo *lab.Topology
	// Ops is the host of etcd and Jaeger on the home link.
	Ops  *lab.Host
	Etcd *Etcd
	// Jaeger is nil unless Options.Jaeger.
	Jaeger *jaegercheck.Jaeger
	// HAs are the members, in the order of Members.
	HAs []*HomeAgent
	// OTLP is the OTLP/HTTP endpoint spans go to ("" without Jaeger).
	OTLP string

	pskFile string
}

// New builds the cluster lab for t: the topology, ops with etcd (and
// Jaeger), and the home agents, started unless o.NoStart. It skips the
// test when it does not run as root.
func New(t testing.TB, o Options) *Lab {
	t.Helper()
	tp := lab.NewTopology(t, lab.TopologyConfig{East: true, HAs: len(Members), Anycast: lab.Addrs{V6: Anycast}})
	l := &Lab{T: t, Topo: tp}
	l.pinBridgeAddresses()
	l.routeAnycastToNearer()
	l.Ops = tp.Lab.Host("ops")
	link := tp.Lab.Link(l.Ops, "eth0", tp.R, "r-ops")
	link.B.SetMaster(tp.R.Iface("br-home"))
	link.A.AddAddr(netip.PrefixFrom(OpsAddrs.V6, tp.Home.V6.Bits()).String(), netip.PrefixFrom(OpsAddrs.V4, tp.Home.V4.Bits()).String())
	l.Ops.DefaultRoute(tp.HomeRouter.V6.String())
	l.Ops.DefaultRoute(tp.HomeRouter.V4.String())
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, a := range []netip.Addr{OpsAddrs.V6, OpsAddrs.V4} {
		if err := l.Ops.WaitAddr(ctx, a.String()); err != nil {
			t.Fatal(err)
		}
	}
	l.pskFile = filepath.Join(tp.Lab.Dir(), "mn.psk")
	if err := os.WriteFile(l.pskFile, []byte(PSK), 0o600); err != nil {
		t.Fatal(err)
	}
	l.Etcd = StartEtcd(t, ctx, l.Ops, OpsAddrs.V4, filepath.Join(tp.Lab.Dir(), "etcd"))
	if o.Jaeger {
		l.Jaeger = jaegercheck.StartWith(t, jaegercheck.Options{Host: OpsAddrs.V4.String(), Command: func(name string, args ...string) *exec.Cmd {
			return l.Ops.Command(context.Background(), name, args...)
		}, Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return l.Ops.Dial(ctx, network, "", addr)
		}})
		l.OTLP = "http://" + l.Jaeger.OTLPHTTP
	}
	for i := range Members {
		cfg := l.defaultConfig(i)
		if o.Tune != nil {
			o.Tune(&cfg)
		}
		l.HAs = append(l.HAs, newHomeAgent(l, tp.HAs[i], cfg))
	}
	if dir := os.Getenv(LogsEnv); dir != "" {
		t.Cleanup(func() { l.keepLogs(dir) })
	}
	if !o.NoStart {
		l.StartHomeAgents(ctx)
	}
	return l
}

// LogsEnv names a directory where the home agents' whole logs are kept
// (one file per test and member, written when the test ends): the test log
// only shows their tails when a test fails.
const LogsEnv = "MIP6HA_CLUSTER_LOGS"

// keepLogs writes each member's log into dir.
func (l *Lab) keepLogs(dir string) {
	name := strings.ReplaceAll(l.T.Name(), "/", "_")
	for _, h := range l.HAs {
		if h.proc == nil {
			continue
		}
		path := filepath.Join(dir, name+"-"+h.ID+".log")
		if err := os.WriteFile(path, []byte(h.proc.Stderr()), 0o644); err != nil {
			l.T.Logf("keeping %s's log: %v", h.ID, err)
		}
	}
}

// pinBridgeAddresses gives r's bridges fixed MAC addresses. A Linux
// bridge otherwise takes the lowest MAC address of its ports, so plugging
// in another host (a node host, ops) can change the address of r on that
// link, and its neighbours keep sending to the old one until their cache
// entries expire.
func (l *Lab) pinBridgeAddresses() {
	for i, br := range []string{"br-home", "br-west", "br-east"} {
		l.Topo.R.IP("link", "set", "dev", br, "address", fmt.Sprintf("02:6d:36:00:00:%02x", i+1))
	}
}

// routeAnycastToNearer points r's anycast routes at the nearer member of
// each visited link: ha2 (site west) for west, ha1 (site east) for east.
// (The lab's topology routes west to ha1; our sites are the other way
// round, so that a node on the west link that contacts ha1 is redirected.)
func (l *Lab) routeAnycastToNearer() {
	tp := l.Topo
	host := netip.PrefixFrom(Anycast, 128).String()
	tp.R.ReplaceRoute(lab.Route{Dst: host, Via: tp.HAAddrs[1].V6.String(), Table: lab.TableWest})
	tp.R.ReplaceRoute(lab.Route{Dst: host, Via: tp.HAAddrs[0].V6.String(), Table: lab.TableEast})
}

// StartHomeAgents starts every member and waits until each sees the other
// in its live view.
func (l *Lab) StartHomeAgents(ctx context.Context) {
	l.T.Helper()
	for _, h := range l.HAs {
		h.Start(ctx)
	}
	for _, h := range l.HAs {
		h.WaitMembers(ctx, len(l.HAs))
	}
}

// HA returns the member with the ID id.
func (l *Lab) HA(id string) *HomeAgent {
	l.T.Helper()
	for _, h := range l.HAs {
		if h.ID == id {
			return h
		}
	}
	l.T.Fatalf("no member %q", id)
	return nil
}

// PSKFile is the mobile nodes' pre-shared key file.
func (l *Lab) PSKFile() string { return l.pskFile }

// sites are the cluster.sites of the lab: the visited links, and a catch-all
// for everything else (the home link, cn) in site east.
func (l *Lab) sites() []SitePrefix {
	tp := l.Topo
	return []SitePrefix{
		{tp.West.Subnet.V6.String(), "west"}, {tp.West.Subnet.V4.String(), "west"},
		{tp.East.Subnet.V6.String(), "east"}, {tp.East.Subnet.V4.String(), "east"},
		{"::/0", "east"}, {"0.0.0.0/0", "east"},
	}
}

// defaultConfig is member i's configuration before Options.Tune.
func (l *Lab) defaultConfig(i int) HomeAgentConfig {
	tp := l.Topo
	return HomeAgentConfig{
		ID:               Members[i].ID,
		Site:             Members[i].Site,
		Addresses:        []netip.Addr{tp.HAAddrs[i].V6, tp.HAAddrs[i].V4},
		Sites:            l.sites(),
		Distances:        []Distance{{"west", "east", 100}},
		Etcd:             l.Etcd.Endpoints(),
		MembershipTTL:    3 * time.Second,
		MoveRate:         20,
		MoveBurst:        5,
		DrainRate:        10,
		HASRate:          50,
		GracePeriod:      20 * time.Second,
		RedirectGrace:    10 * time.Second,
		LoopWindow:       time.Minute,
		LivenessInterval: 5 * time.Second,
		OTLP:             l.OTLP,
		Dir:              filepath.Join(tp.Lab.Dir(), Members[i].ID),
	}
}
