package ike

import (
	"net/netip"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/interop"
	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/mnclient"
)

// natCase is a NAT in router r between the mobile node's visited link and
// the home link: NAT44 (the tunnel runs over IPv4) or NAT66 (over IPv6).
type natCase struct {
	name string
	topo lab.TopologyConfig
	v4   bool
}

var natCases = []natCase{
	{"NAT44", lab.TopologyConfig{HAs: 1, NAT44: true}, true},
	{"NAT66", lab.TopologyConfig{HAs: 1, NAT66: true}, false},
}

func (nc natCase) addrs(tp *lab.Topology) (ha, router, mn netip.Addr) {
	if nc.v4 {
		return tp.HAAddrs[0].V4, tp.HomeRouter.V4, tp.MNAddrs().V4
	}
	return tp.HAAddrs[0].V6, tp.HomeRouter.V6, tp.MNAddrs().V6
}

// TestIKENATStrongSwanInitiator puts strongSwan's mobile node behind r's
// NAT44 or NAT66 and has it attach to our home agent: our home agent sees
// it at r's address, both ends float IKE to port 4500, strongSwan knows it
// is behind a NAT, ESP runs in UDP and pings pass.
func TestIKENATStrongSwanInitiator(t *testing.T) {
	t.Parallel()
	for _, nc := range natCases {
		t.Run(nc.name, func(t *testing.T) {
			t.Parallel()
			tp := lab.NewTopology(t, nc.topo)
			ctx := ctxFor(t, 90*time.Second)
			c := pskCreds("nat psk " + nc.name)
			haAddr, natAddr, mnAddr := nc.addrs(tp)
			ha := startOurHA(t, ctx, tp.HA1, c)
			ch := swanToOurHA(t, ctx, tp.MN, haAddr, c, interop.CharonOptions{})
			sa, _ := checkSwanToOurHA(t, ctx, tp.MN, ch, ha, haAddr, natAddr)
			if !sa.NATLocal || sa.LocalHost != netip.AddrPortFrom(mnAddr, 4500) {
				t.Errorf("strongSwan does not see itself behind the NAT: %s %s: %s", sa, sa.LocalHost, natFlags(sa))
			}
			nat := ha.waitLog(ctx, "NAT detected", 1, nil)
			if !nat.flag("peer_behind_nat") || nat.flag("local_behind_nat") {
				t.Errorf("our home agent's NAT detection %v: want the peer behind a NAT, not us", nat)
			}
		})
	}
}

// TestIKENATInitiatorToStrongSwan puts our mobile node client behind r's
// NAT44 or NAT66 and attaches it to a strongSwan home agent: our client
// detects that it is behind a NAT (NAT_DETECTION_DESTINATION_IP), floats
// to port 4500, strongSwan sees it at r's address, ESP runs in UDP, and
// pings pass both ways (the NAT mapping of UDP 4500 carries strongSwan's
// packets back).
func TestIKENATInitiatorToStrongSwan(t *testing.T) {
	t.Parallel()
	for _, nc := range natCases {
		t.Run(nc.name, func(t *testing.T) {
			t.Parallel()
			tp := lab.NewTopology(t, nc.topo)
			ctx := ctxFor(t, 90*time.Second)
			c := pskCreds("nat psk " + nc.name)
			haAddr, natAddr, mnAddr := nc.addrs(tp)
			ch := startSwanHA(t, ctx, tp.HA1, haAddr, c, interop.CharonOptions{})
			mn := startOurMN(t, tp.MN, haAddr, c)
			sa, _ := checkOurMNToSwan(t, ctx, tp.MN, tp.HA1, ch, mn, haAddr, natAddr)
			if !sa.NATRemote {
				t.Errorf("strongSwan does not see our client behind a NAT: %s", natFlags(sa))
			}
			nat := mn.wait(ctx, mnclient.EventNATDetected, 1, nil)
			if !nat.LocalBehindNAT || nat.Local != netip.AddrPortFrom(mnAddr, 4500).String() ||
				nat.Remote != netip.AddrPortFrom(haAddr, 4500).String() {
				t.Errorf("our client's NAT detection %+v: want it behind the NAT, on port 4500", nat)
			}
		})
	}
}

func natFlags(sa interop.IKESA) string {
	return "nat-local=" + yes(sa.NATLocal) + " nat-remote=" + yes(sa.NATRemote) + " nat-fake=" + yes(sa.NATFake)
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
