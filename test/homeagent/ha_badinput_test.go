package homeagent

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/admin"
	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/mip6/mh"
	"github.com/mip6ha/mip6ha/test/lab"
)

// TestHomeAgentBadInput sends the home agent what it must refuse, each
// with its documented outcome, and checks through the admin API that
// nothing else changed:
//
//   - malformed IKE datagrams: dropped and counted (ike-unroutable, or the
//     first-packet outcome), no SA;
//   - a Binding Update with a bad checksum, through a real CHILD_SA:
//     dropped and counted (mip6-checksum, RFC 6275 §9.2), no answer;
//   - a Binding Update for a home address the SA's identity does not own:
//     dropped silently and counted (mip6-not-authorized, RFC 6275 §5.1,
//     §9.5.1), no binding for that address;
//   - a configuration with an unknown key, and one with an invalid prefix:
//     exit status 2 and a message naming the key, before anything starts
//     (the running home agent's store and admin socket are untouched).
func TestHomeAgentBadInput(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{HAs: 1})
	ctx := haCtx(t, 120*time.Second)
	haAddr := tp.HAAddrs[0].V6
	h := startHomeAgent(t, ctx, tp.HA1, haOptions{identities: []string{"mn.example", "other.example"}})
	c := h.admin()

	mn := attachInner(t, ctx, tp.MN, tp.MNAddrs().V6, haAddr, "mn.example")
	other := attachInner(t, ctx, tp.MN, tp.MNAddrs().V6, haAddr, "other.example")
	before := adminSnapshot(t, ctx, c)

	// Malformed IKE: too short for a header, and a header with garbage.
	conn, err := tp.MN.Dial(ctx, "udp", "", net.JoinHostPort(haAddr.String(), "500"))
	if err != nil {
		t.Fatal(err)
	}
	// An IKE_SA_INIT request header (SPIr zero, version 2, I flag, Message
	// ID 0, length 60) before payloads that do not parse.
	garbage := make([]byte, 60)
	for i := range garbage {
		garbage[i] = byte(i*31 + 7)
	}
	copy(garbage[8:], []byte{0, 0, 0, 0, 0, 0, 0, 0, 33, 0x20, 34, 0x08, 0, 0, 0, 0, 0, 0, 0, 60})
	for _, d := range [][]byte{{1, 2, 3}, garbage} {
		if _, err := conn.Write(d); err != nil {
			t.Fatal(err)
		}
	}
	if err := lab.Poll(ctx, "malformed IKE counted", func(ctx context.Context) error {
		if h.metric(ctx, `mip6ha_dataplane_drops_total{drop_reason="ike-unroutable"`) == 1 &&
			h.metric(ctx, `mip6ha_dataplane_drops_total{drop_reason="ike-drop-syntax"`) == 1 {
			return nil
		}
		return lab.ErrNotYet
	}); err != nil {
		t.Error(err)
	}

	// A bad checksum, then a BU for other's home address (named in a Home
	// Address option: the CHILD_SA's selectors only let mn's own source
	// through), then a valid BU. The mobility goroutine handles them in
	// order, so the first Binding Acknowledgement must be the valid one's.
	corrupt := tunnelBU(mn.hoa, haAddr, tp.MNAddrs().V6, 1, netip.Addr{})
	corrupt[len(corrupt)-1] ^= 0x5a
	mn.tun.Outgoing <- corrupt
	mn.tun.Outgoing <- tunnelBU(mn.hoa, haAddr, tp.MNAddrs().V6, 1, other.hoa)
	mn.tun.Outgoing <- tunnelBU(mn.hoa, haAddr, tp.MNAddrs().V6, 7, netip.Addr{})
	ba, ok := mn.awaitBA(30 * time.Second)
	if !ok || ba.Status != mh.StatusAccepted || ba.Sequence != 7 {
		t.Fatalf("first BA %+v (%v): want the valid BU's, sequence 7\n%s", ba, ok, logTail(h.proc.Stderr(), 4000))
	}
	for series, want := range map[string]float64{
		`mip6ha_dataplane_drops_total{drop_reason="mip6-checksum"`:       1,
		`mip6ha_dataplane_drops_total{drop_reason="mip6-not-authorized"`: 1,
		`mip6ha_mip6_binding_updates_total{mip6_status="0"`:              1,
	} {
		if got := h.metric(ctx, series); got != want {
			t.Errorf("%s} = %v, want %v", series, got, want)
		}
	}
	after := adminSnapshot(t, ctx, c)
	for i := range after.bindings {
		b := &after.bindings[i]
		if b.HoA == mn.hoa {
			if b.State != "valid" {
				t.Errorf("mn's binding %+v: want valid", b)
			}
			b.State, b.CoA, b.Lifetime = "", netip.Addr{}, 0 // the one change expected
		}
		if b.HoA == other.hoa && b.State != "" {
			t.Errorf("other's home address got a binding: %+v", b)
		}
	}
	if !reflect.DeepEqual(before.bindings, after.bindings) || !reflect.DeepEqual(before.leases, after.leases) ||
		before.status.IKESAs != after.status.IKESAs || after.status.HalfOpen != 0 || after.status.Bindings != 1 {
		t.Errorf("state changed beyond mn's binding:\nbefore %+v\nafter  %+v", before, after)
	}

	// Bad configurations: exit 2, the key named, nothing started or
	// touched (they name the running home agent's store and socket).
	bin := lab.Binary(t, "./cmd/homeagent")
	dir := tp.Lab.Dir()
	unknown := filepath.Join(dir, "unknown-key.yaml")
	if err := os.WriteFile(unknown, []byte("home:\n  prefx: 2001:db8:1::/64\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--config", unknown, "--data-dir", h.dir, "--admin", h.socket},
			`config: home.prefx: is not a known key (did you mean "home.prefix"?)`},
		{[]string{"run", "--config", h.config, "--prefix", "2001:db8:1::/129"},
			`config: home.prefix: "2001:db8:1::/129" is not a valid IPv6 prefix (--home.prefix)`},
	} {
		out, err := tp.HA1.Command(ctx, bin, tc.args...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), tc.want) {
			t.Errorf("homeagent %v: %v, output:\n%s\nwant exit status 2 and %q", tc.args, err, out, tc.want)
		}
	}
	if final := adminSnapshot(t, ctx, c); final.status.StartedAt != after.status.StartedAt || !reflect.DeepEqual(final.leases, after.leases) {
		t.Errorf("the running home agent changed after the bad configurations: %+v", final)
	}
	h.stop()
}

// adminState is what the admin API shows of a home agent.
type adminState struct {
	status   admin.Status
	bindings []admin.Binding
	leases   []admin.Lease
}

func adminSnapshot(t *testing.T, ctx context.Context, c *admin.Client) adminState {
	t.Helper()
	var s adminState
	var err error
	if s.status, err = c.Status(ctx); err != nil {
		t.Fatal(err)
	}
	if s.bindings, err = c.Bindings(ctx); err != nil {
		t.Fatal(err)
	}
	if s.leases, err = c.Leases(ctx, store.Filter{}); err != nil {
		t.Fatal(err)
	}
	return s
}
