package homeagent

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/test/interop"
	"github.com/mip6ha/mip6ha/test/lab"
)

// swanClient is a stock strongSwan client (charon) in a lab host with one
// connection per identity to our home agent, each asking for a virtual
// IPv6 address and a CHILD_SA to cn's prefix. The selectors leave the home
// agent's own outer address out of the tunnel: charon routes that address
// around it (docs/testing.md).
func swanClient(t testing.TB, ctx context.Context, tp *lab.Topology, identities ...string) *interop.Charon {
	t.Helper()
	ch := interop.StartCharon(t, tp.MN, interop.CharonOptions{})
	var conns []interop.Connection
	for _, id := range identities {
		conns = append(conns, interop.Connection{
			Name:        connName(id),
			RemoteAddrs: []string{tp.HAAddrs[0].V6.String()},
			Proposals:   []string{"aes256gcm16-prfsha256-x25519"},
			Encap:       true,
			VIPs:        []string{"::"},
			Local:       interop.Auth{Method: "psk", ID: id},
			Remote:      interop.Auth{Method: "psk", ID: haIdentity},
			Children: []interop.Child{{
				Name:         connName(id),
				RemoteTS:     []string{tp.CNNet.V6.String()},
				ESPProposals: []string{"aes256gcm16"},
			}},
		})
	}
	if err := ch.Load(ctx, interop.Config{Connections: conns, Secrets: []interop.Secret{{Name: "ha", Secret: haPSK}}}); err != nil {
		t.Fatal(err)
	}
	return ch
}

// connName is the swanctl connection name of an identity.
func connName(id string) string { return strings.ReplaceAll(id, ".", "-") }

// swanAttach initiates the connection id and returns its virtual IP.
func swanAttach(t testing.TB, ctx context.Context, ch *interop.Charon, id string) netip.Addr {
	t.Helper()
	if err := ch.Initiate(ctx, connName(id), connName(id)); err != nil {
		t.Fatal(err)
	}
	sa, err := ch.WaitEstablished(ctx, connName(id), connName(id))
	if err != nil {
		t.Fatal(err)
	}
	if len(sa.LocalVIPs) != 1 {
		t.Fatalf("%s: virtual IPs %v, want one", id, sa.LocalVIPs)
	}
	return sa.LocalVIPs[0]
}

// inHostRange reports whether a is in the pool the home agent leases.
func inHostRange(a netip.Addr) bool {
	first, last := netip.MustParseAddr("2001:db8:1::1000"), netip.MustParseAddr("2001:db8:1::10ff")
	return a.Compare(first) >= 0 && a.Compare(last) <= 0
}

// TestHomeAgentStrongSwanClient: a stock strongSwan client attaches to our
// home agent with a pre-shared key, receives its virtual IP from the pool
// of home addresses mobile nodes get theirs from, and pings cn through the
// home agent: out through the tunnel and the home link, back to the home
// agent because it defends the address on the home link (a VPN-only peer:
// no Binding Update), and down the tunnel. The admin API lists the peer
// without a binding and its lease in the store.
func TestHomeAgentStrongSwanClient(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{HAs: 1})
	ctx := haCtx(t, 120*time.Second)
	h := startHomeAgent(t, ctx, tp.HA1, haOptions{identities: []string{"swan.example"}})
	ch := swanClient(t, ctx, tp, "swan.example")
	vip := swanAttach(t, ctx, ch, "swan.example")
	if !inHostRange(vip) {
		t.Fatalf("virtual IP %v is not from the home address pool %s", vip, haHostRange)
	}
	if err := tp.MN.WaitPing(ctx, tp.CNAddr.V6.String(), vip.String()); err != nil {
		t.Fatalf("ping cn from %v through the home agent: %v\n%s", vip, err, logTail(h.proc.Stderr(), 4000))
	}
	if err := tp.MN.Ping(ctx, tp.CNAddr.V6.String(), vip.String(), 5); err != nil {
		t.Errorf("pings after the first: %v", err)
	}
	c := h.admin()
	bs, err := c.Bindings(ctx)
	if err != nil || len(bs) != 1 {
		t.Fatalf("bindings %+v (%v)", bs, err)
	}
	if b := bs[0]; b.Identity != "ID_FQDN:swan.example" || b.HoA != vip || b.State != "" || !b.NAT || len(b.ChildSAs) != 1 {
		t.Errorf("binding of the strongSwan client %+v: want its identity and virtual IP, no binding cache state, NAT (forced encapsulation), one CHILD_SA", b)
	}
	ls, err := c.Leases(ctx, store.Filter{Identity: "ID_FQDN:swan.example"})
	if err != nil || len(ls) != 1 || ls[0].HoA != vip || ls[0].Owner != haMember || ls[0].State != store.StateBound {
		t.Errorf("leases %+v (%v): want %v bound at %s", ls, err, vip, haMember)
	}
	if len(h.logs("VPN-only peer (no Binding Update): its addresses are defended on the home link")) != 1 {
		t.Error("no log line of the VPN-only defence")
	}
	h.stop()
}

// TestHomeAgentRestartKeepsLeases: leases survive a restart of the home
// agent in its embedded store, and each identity gets its own home address
// back, whatever the order in which the identities come back (the second
// identity's address is not the lowest free one).
func TestHomeAgentRestartKeepsLeases(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{HAs: 1})
	ctx := haCtx(t, 150*time.Second)
	ids := []string{"a.example", "b.example"}
	h := startHomeAgent(t, ctx, tp.HA1, haOptions{identities: ids})
	ch := swanClient(t, ctx, tp, ids...)
	first := map[string]netip.Addr{}
	for _, id := range ids {
		first[id] = swanAttach(t, ctx, ch, id)
	}
	if first[ids[0]] == first[ids[1]] {
		t.Fatalf("both identities got %v", first[ids[0]])
	}
	h.stop() // deletes both IKE SAs (charon is told); the leases are released, kept for their identities

	h.start(ctx)
	ls, err := h.admin().Leases(ctx, store.Filter{})
	if err != nil || len(ls) != 2 {
		t.Fatalf("leases after the restart %+v (%v): want both, released", ls, err)
	}
	for _, l := range ls {
		if l.State != store.StateReleased {
			t.Errorf("lease %+v after a graceful stop: want released", l)
		}
	}
	for _, id := range []string{ids[1], ids[0]} { // b first: it must not get a's address
		if got := swanAttach(t, ctx, ch, id); got != first[id] {
			t.Errorf("%s after the restart: %v, want %v", id, got, first[id])
		}
	}
	h.stop()
}
