package ike

import (
	"context"
	"syscall"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/interop"
	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/mnclient"
)

// maxLost is how many echo replies a rekey may cost while a ping runs
// every 50 ms.
const maxLost = 1

// repliesBetween is how many echo replies each step waits for: traffic
// must flow between rekeys, not only at the end.
const repliesBetween = 10

// TestIKERekeyStrongSwanInitiator rekeys, while a ping runs every 50 ms
// from strongSwan's mobile node through our home agent, the IKE SA and the
// CHILD_SA from strongSwan's side (swanctl --rekey) and then from ours
// (SIGUSR1, SIGUSR2 to cmd/homeagent). At most one echo reply may be lost.
func TestIKERekeyStrongSwanInitiator(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{HAs: 1})
	ctx := ctxFor(t, 120*time.Second)
	c := pskCreds("rekey psk")
	haAddr := tp.HAAddrs[0].V6
	ha := startOurHA(t, ctx, tp.HA1, c)
	ch := swanToOurHA(t, ctx, tp.MN, haAddr, c, interop.CharonOptions{})
	_, vip := checkSwanToOurHA(t, ctx, tp.MN, ch, ha, haAddr, tp.MNAddrs().V6)

	ping := startPing(tp.MN, vip, innerAddr)
	ping.waitReplies(ctx, t, repliesBetween)

	// strongSwan rekeys the IKE SA, then the CHILD_SA.
	if err := ch.Rekey(ctx, "home", ""); err != nil {
		t.Fatal(err)
	}
	ha.waitLog(ctx, "IKE SA rekeyed", 1, func(e logEntry) bool { return !e.flag("by_us") })
	ping.waitReplies(ctx, t, repliesBetween)
	if err := ch.Rekey(ctx, "", "home"); err != nil {
		t.Fatal(err)
	}
	ha.waitLog(ctx, "CHILD_SA rekeyed", 1, nil)
	ha.waitLog(ctx, "CHILD_SA deleted", 1, func(e logEntry) bool { return e.str("reason") == "rekeyed" })
	ping.waitReplies(ctx, t, repliesBetween)

	// Our home agent rekeys the IKE SA, then the CHILD_SA.
	if err := ha.proc.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	ha.waitLog(ctx, "IKE SA rekeyed", 1, func(e logEntry) bool { return e.flag("by_us") })
	ping.waitReplies(ctx, t, repliesBetween)
	if err := ha.proc.Signal(syscall.SIGUSR2); err != nil {
		t.Fatal(err)
	}
	ha.waitLog(ctx, "CHILD_SA rekeyed", 2, nil)
	ha.waitLog(ctx, "CHILD_SA deleted", 2, func(e logEntry) bool { return e.str("reason") == "rekeyed" })
	waitSwanChildRekeys(t, ctx, ch, "home", 2)
	ping.waitReplies(ctx, t, repliesBetween)

	sent, lost := ping.stop(t)
	if lost > maxLost {
		t.Errorf("%d of %d echo replies lost across four rekeys, want at most %d\n%s", lost, sent, maxLost, tail(ping.proc.Stdout(), 3000))
	}
	t.Logf("%d echo requests, %d lost across four rekeys", sent, lost)
	counters, err := ch.Counters(ctx, "home")
	if err != nil {
		t.Fatal(err)
	}
	if counters["ike-rekey-init"] != 1 || counters["ike-rekey-resp"] != 1 || counters["child-rekey"] != 2 {
		t.Errorf("strongSwan's counters %v: want one IKE SA rekey each way and two CHILD_SA rekeys", counters)
	}
}

// TestIKERekeyInitiatorToStrongSwan rekeys, while a ping runs every 50 ms
// from our mobile node client through a strongSwan home agent, the IKE SA
// and the CHILD_SA from our client's side (SIGUSR1, SIGUSR2) and then from
// strongSwan's. At most one echo reply may be lost.
func TestIKERekeyInitiatorToStrongSwan(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{HAs: 1})
	ctx := ctxFor(t, 120*time.Second)
	c := pskCreds("rekey psk")
	haAddr := tp.HAAddrs[0].V6
	ch := startSwanHA(t, ctx, tp.HA1, haAddr, c, interop.CharonOptions{})
	mn := startOurMN(t, tp.MN, haAddr, c)
	_, hoa := checkOurMNToSwan(t, ctx, tp.MN, tp.HA1, ch, mn, haAddr, tp.MNAddrs().V6)

	ping := startPing(tp.MN, hoa, innerAddr)
	ping.waitReplies(ctx, t, repliesBetween)
	rekeyed := func(e mnclient.Event) bool { return e.Reason == "rekeyed" }

	// Our client rekeys the IKE SA, then the CHILD_SA.
	if err := mn.proc.Signal(sigRekeyIKE); err != nil {
		t.Fatal(err)
	}
	mn.wait(ctx, mnclient.EventIKERekeyed, 1, func(e mnclient.Event) bool { return e.ByUs })
	ping.waitReplies(ctx, t, repliesBetween)
	if err := mn.proc.Signal(sigRekeyChild); err != nil {
		t.Fatal(err)
	}
	mn.wait(ctx, mnclient.EventChildRekeyed, 1, nil)
	mn.wait(ctx, mnclient.EventChildDeleted, 1, rekeyed)
	waitSwanChildRekeys(t, ctx, ch, "mn", 1)
	ping.waitReplies(ctx, t, repliesBetween)

	// strongSwan rekeys the IKE SA, then the CHILD_SA.
	if err := ch.Rekey(ctx, "mn", ""); err != nil {
		t.Fatal(err)
	}
	mn.wait(ctx, mnclient.EventIKERekeyed, 1, func(e mnclient.Event) bool { return !e.ByUs })
	ping.waitReplies(ctx, t, repliesBetween)
	if err := ch.Rekey(ctx, "", "home"); err != nil {
		t.Fatal(err)
	}
	mn.wait(ctx, mnclient.EventChildRekeyed, 2, nil)
	mn.wait(ctx, mnclient.EventChildDeleted, 2, rekeyed)
	ping.waitReplies(ctx, t, repliesBetween)

	sent, lost := ping.stop(t)
	if lost > maxLost {
		t.Errorf("%d of %d echo replies lost across four rekeys, want at most %d\n%s", lost, sent, maxLost, tail(ping.proc.Stdout(), 3000))
	}
	t.Logf("%d echo requests, %d lost across four rekeys", sent, lost)
	counters, err := ch.Counters(ctx, "mn")
	if err != nil {
		t.Fatal(err)
	}
	if counters["ike-rekey-init"] != 1 || counters["ike-rekey-resp"] != 1 || counters["child-rekey"] != 2 {
		t.Errorf("strongSwan's counters %v: want one IKE SA rekey each way and two CHILD_SA rekeys", counters)
	}
}

// waitSwanChildRekeys waits until strongSwan has counted n CHILD_SA rekeys
// of connection conn and has one CHILD_SA installed (the old one retired).
func waitSwanChildRekeys(t *testing.T, ctx context.Context, ch *interop.Charon, conn string, n uint64) {
	t.Helper()
	if err := lab.Poll(ctx, "strongSwan to finish the CHILD_SA rekey", func(ctx context.Context) error {
		counters, err := ch.Counters(ctx, conn)
		if err != nil {
			return err
		}
		if counters["child-rekey"] < n {
			return lab.ErrNotYet
		}
		sas, err := ch.ListSAs(ctx)
		if err != nil {
			return err
		}
		for _, sa := range sas {
			installed := 0
			for _, c := range sa.Children {
				if c.State == interop.StateInstalled {
					installed++
				}
			}
			if installed != 1 || len(sa.Children) != 1 {
				return lab.ErrNotYet
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
