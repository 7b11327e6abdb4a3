package homeagent

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/mip6/mh"
	"github.com/mip6ha/mip6ha/test/lab"
)

// proxied reports whether host has a proxy neighbour entry for a on eth0.
func proxied(t *testing.T, host *lab.Host, a netip.Addr) bool {
	t.Helper()
	return strings.Contains(host.IP("-6", "neigh", "show", "proxy", "dev", "eth0"), a.String()+" ")
}

// TestHomeAgentDefendsAfterBindingUpdate: the home agent takes over a home
// address on the home link only once the node's Binding Update is
// accepted (RFC 6275 §10.3.1, §10.4.1): before it the CHILD_SA exists but
// no proxy neighbour entry; after it a packet from cn to the home address
// crosses the home link to the home agent and comes out of the node's
// CHILD_SA; after the deregistration the entry is gone again (§10.3.2).
func TestHomeAgentDefendsAfterBindingUpdate(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{HAs: 1})
	ctx := haCtx(t, 120*time.Second)
	haAddr := tp.HAAddrs[0].V6
	h := startHomeAgent(t, ctx, tp.HA1, haOptions{identities: []string{"mn.example"}})
	mn := attachInner(t, ctx, tp.MN, tp.MNAddrs().V6, haAddr, "mn.example")
	if proxied(t, tp.HA1, mn.hoa) {
		t.Fatalf("home address %v defended before any Binding Update", mn.hoa)
	}

	mn.tun.Outgoing <- tunnelBU(mn.hoa, haAddr, tp.MNAddrs().V6, 1, netip.Addr{})
	if ba, ok := mn.awaitBA(30 * time.Second); !ok || ba.Status != mh.StatusAccepted {
		t.Fatalf("BA %+v (%v)", ba, ok)
	}
	if !proxied(t, tp.HA1, mn.hoa) {
		t.Errorf("no proxy neighbour entry for %v after the binding:\n%s", mn.hoa, tp.HA1.IP("-6", "neigh", "show", "proxy"))
	}
	// cn -> home address: r resolves it on the home link to the home agent,
	// which tunnels it to the node.
	conn, err := tp.CN.Dial(ctx, "udp", "", fmt.Sprintf("[%s]:9", mn.hoa))
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("to the home address through the home agent")
	if err := lab.Poll(ctx, "a datagram from cn through the tunnel", func(ctx context.Context) error {
		if _, err := conn.Write(payload); err != nil {
			return err
		}
		for {
			select {
			case pkt := <-mn.tun.Incoming:
				if len(pkt) > 48 && pkt[6] == 17 && strings.HasSuffix(string(pkt), string(payload)) {
					return nil
				}
			default:
				return lab.ErrNotYet
			}
		}
	}); err != nil {
		t.Fatal(err)
	}

	dereg := tunnelDereg(mn.hoa, haAddr, 2)
	mn.tun.Outgoing <- dereg
	if ba, ok := mn.awaitBA(30 * time.Second); !ok || ba.Status != mh.StatusAccepted || ba.Lifetime != 0 {
		t.Fatalf("deregistration BA %+v (%v)", ba, ok)
	}
	if proxied(t, tp.HA1, mn.hoa) {
		t.Errorf("proxy neighbour entry for %v left after the deregistration", mn.hoa)
	}
	h.stop()
	if out := tp.HA1.IP("-6", "neigh", "show", "proxy"); strings.Contains(out, "2001:db8:1::") {
		t.Errorf("proxy entries left after the home agent stopped:\n%s", out)
	}
}

// tunnelDereg is a Binding Update with lifetime 0 for hoa (RFC 6275
// §10.3.2), in the all-in-tunnel form.
func tunnelDereg(hoa, haAddr netip.Addr, seq uint16) []byte {
	bu := mh.BindingUpdate{Sequence: seq, Flags: mh.BUFlagA | mh.BUFlagH | mh.BUFlagK}
	return mh.AppendPacket(nil, mh.IPv6{Src: hoa, Dst: haAddr}, &bu)
}
