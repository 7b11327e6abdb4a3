package ike

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/interop"
	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/mnclient"
)

// startSwanHA starts charon in host as a home agent for our mobile node:
// any peer with c's credentials, virtual IPs from swanPool, a CHILD_SA to
// innerAddr (on the host's lo, reached only through the tunnel).
func startSwanHA(t testing.TB, ctx context.Context, host *lab.Host, haAddr netip.Addr, c creds, opts interop.CharonOptions) *interop.Charon {
	t.Helper()
	host.Iface("lo").AddAddr(netip.PrefixFrom(innerAddr, 128).String())
	ch := interop.StartCharon(t, host, opts)
	local, remote, secrets, cas := c.swanAuth(c.haID, c.mnID, c.ha)
	if err := ch.Load(ctx, interop.Config{
		Connections: []interop.Connection{{
			Name:       "mn",
			LocalAddrs: []string{haAddr.String()},
			Proposals:  []string{swanIKEProposal},
			Encap:      true,
			Pools:      []string{"hoa"},
			Local:      local,
			Remote:     remote,
			Children: []interop.Child{{
				Name:         "home",
				LocalTS:      []string{netip.PrefixFrom(innerAddr, 128).String()},
				ESPProposals: []string{swanESPProposal},
			}},
		}},
		Pools:   []interop.Pool{{Name: "hoa", Addrs: swanPool.String()}},
		Secrets: secrets,
		CAs:     cas,
	}); err != nil {
		t.Fatal(err)
	}
	return ch
}

// checkOurMNToSwan checks our mobile node's IKE SA and CHILD_SA with the
// strongSwan home agent: the address our client configured is the virtual
// IP strongSwan assigned from its pool, both ends agree on SPIs, IKE and
// ESP run on port 4500, and traffic flows both ways: pings from the home
// address to innerAddr, and from innerAddr (strongSwan's side) to the home
// address. mnSeenAs is the mobile node's outer address as the home agent
// sees it: its own, or its NAT's. It returns strongSwan's SA and the home
// address.
func checkOurMNToSwan(t testing.TB, ctx context.Context, mnHost, haHost *lab.Host, ch *interop.Charon, mn *ourMN, haAddr, mnSeenAs netip.Addr) (interop.IKESA, netip.Addr) {
	t.Helper()
	hoa := mn.homeAddress(ctx)
	attached := mn.wait(ctx, mnclient.EventAttached, 1, nil)
	child := mn.wait(ctx, mnclient.EventChildInstalled, 1, nil)
	sa, err := ch.WaitEstablished(ctx, "mn", "home")
	if err != nil {
		t.Fatal(err)
	}
	if !swanPool.Contains(hoa) || !slices.Equal(sa.RemoteVIPs, []netip.Addr{hoa}) {
		t.Errorf("our client's home address %v, strongSwan assigned %v from %v", hoa, sa.RemoteVIPs, swanPool)
	}
	if attached.SPIs != spisString(sa.SPIi, sa.SPIr) || attached.Peer != "ID_FQDN:"+haID || !attached.NATT ||
		attached.Remote != netip.AddrPortFrom(haAddr, 4500).String() || sa.RemoteHost.Addr() != mnSeenAs ||
		sa.LocalHost != netip.AddrPortFrom(haAddr, 4500) {
		t.Errorf("our client attached %+v; strongSwan's SA %s (%s - %s)", attached, sa, sa.LocalHost, sa.RemoteHost)
	}
	sc, ok := sa.Child("home")
	if !ok || !sc.Encap || sc.Mode != "TUNNEL" || child.InSPI != fmt.Sprintf("%08x", sc.SPIOut) || child.OutSPI != fmt.Sprintf("%08x", sc.SPIIn) || !child.Encap {
		t.Errorf("CHILD_SAs: ours %+v, strongSwan's %+v", child, sc)
	}
	const n = 3
	if err := mnHost.WaitPing(ctx, innerAddr.String(), hoa.String()); err != nil {
		t.Fatal(err)
	}
	if err := mnHost.Ping(ctx, innerAddr.String(), hoa.String(), n); err != nil {
		t.Fatal(err)
	}
	if err := haHost.Ping(ctx, hoa.String(), innerAddr.String(), n); err != nil {
		t.Fatalf("from strongSwan's side to our home address: %v", err)
	}
	after, err := ch.WaitEstablished(ctx, "mn", "home")
	if err != nil {
		t.Fatal(err)
	}
	// strongSwan's inbound CHILD_SA counts what our user-space ESP sealed:
	// the WaitPing and n echo requests, and n echo replies.
	if c, _ := after.Child("home"); c.PacketsIn < 2*n+1 {
		t.Errorf("strongSwan's CHILD_SA received %d packets from our client, want at least %d", c.PacketsIn, 2*n+1)
	}
	return after, hoa
}

// TestIKEInitiatorToStrongSwan: our mobile node client initiates to a
// strongSwan home agent, with a pre-shared key and with ECDSA and RSA
// certificates, gets an address from strongSwan's pool through CFG_REPLY,
// configures it on its TUN device, and exchanges pings both ways over our
// user-space ESP; then it detaches, deleting the IKE SA at strongSwan.
func TestIKEInitiatorToStrongSwan(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		creds func(testing.TB) creds
	}{
		{"PSK", func(testing.TB) creds { return pskCreds("mip6ha to strongswan psk") }},
		{"ECDSA", ecdsaCreds},
		{"RSA", rsaCreds},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tp := lab.NewTopology(t, lab.TopologyConfig{HAs: 1})
			ctx := ctxFor(t, 90*time.Second)
			c := tc.creds(t)
			haAddr := tp.HAAddrs[0].V6
			ch := startSwanHA(t, ctx, tp.HA1, haAddr, c, interop.CharonOptions{})
			mn := startOurMN(t, tp.MN, haAddr, c)
			sa, _ := checkOurMNToSwan(t, ctx, tp.MN, tp.HA1, ch, mn, haAddr, tp.MNAddrs().V6)
			if sa.RemoteID != mnID || sa.LocalID != haID || sa.EncrAlg != "AES_GCM_16" {
				t.Errorf("strongSwan's IKE SA %s: %s - %s, %s", sa, sa.LocalID, sa.RemoteID, sa.EncrAlg)
			}
			mn.detach(ctx)
			if err := lab.Poll(ctx, "strongSwan to drop the IKE SA", func(ctx context.Context) error {
				sas, err := ch.ListSAs(ctx)
				if err != nil {
					return err
				}
				if len(sas) != 0 {
					return fmt.Errorf("still %v", sas)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
