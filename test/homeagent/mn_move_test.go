package homeagent

import (
	"fmt"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/mip6"
	"github.com/mip6ha/mip6ha/test/flow"
	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/mnclient"
)

// TestHomeAgentMobileNodeMove (issue 5, must show 2): the node moves to
// another visited link in the middle of a TCP transfer from cn to its home
// address. It keeps its home address and its IKE SA, registers the new
// care-of address (K bit), and the transfer goes on without a reset; the
// log gives the longest gap in the flow.
func TestHomeAgentMobileNodeMove(t *testing.T) {
	tp := lab.NewTopology(t, lab.TopologyConfig{HAs: 1, East: true})
	ctx := haCtx(t, 2*time.Minute)
	const id = "mn2@example.net"
	h := startHomeAgent(t, ctx, tp.HA1, haOptions{identities: []string{id}})
	mn := startMobileNode(t, tp.MN, tp.HAAddrs[0].V6, id, "--lifetime", "60s")
	hoa, first := mn.homeAddress(ctx)
	attached := mn.wait(ctx, mnclient.EventAttached, 1, nil)

	flowing := tp.HA1.Capture("eth0", fmt.Sprintf("ip6 dst %s and tcp port %d", hoa, flowPort))
	tr := startTransfer(t, ctx, tp.MN, tp.CN, hoa, 6*time.Second)
	if err := flowing.WaitPackets(ctx, 100); err != nil { // half a second of the flow
		t.Fatal(err)
	}
	moved := time.Now()
	tp.MoveMN(tp.East)
	east := tp.East.MN.V6.String()
	change := mn.wait(ctx, mnclient.EventCareOfAddressChanged, 1, func(e mnclient.Event) bool { return e.CoA == east })
	second := mn.wait(ctx, mnclient.EventBindingAccepted, 2, nil)
	t.Logf("moved west -> east at %v: care-of address %s -> %s noticed after %v, new binding accepted after %v (BU -> BA %.2f ms)",
		moved.Format("15:04:05.000"), change.OldCoA, change.CoA, change.Time.Sub(moved).Round(time.Millisecond),
		second.Time.Sub(moved).Round(time.Millisecond), second.LatencyMS)
	if second.CoA != east || second.Address != hoa.String() || !mip6.SequenceGreater(uint16(second.Sequence), uint16(first.Sequence)) {
		t.Errorf("binding after the move %+v, before %+v", second, first)
	}

	r := tr.report(ctx)
	t.Logf("transfer across the move: %s", r)
	t.Logf("longest gap in the flow: %v (ended %v after the move began; gap p99 %v, median %v)",
		r.LongestGap.Round(time.Millisecond), r.LongestGapEnd.Sub(moved).Round(time.Millisecond),
		r.GapP99.Round(time.Millisecond), r.MedianGap.Round(time.Millisecond))
	if g, ok := r.LongestGapIn(moved, second.Time.Add(time.Second)); ok {
		t.Logf("longest gap around the move: %v, from %v to %v after the move began (new binding at %v)",
			g.Length.Round(time.Millisecond), g.Start().Sub(moved).Round(time.Millisecond),
			g.End.Sub(moved).Round(time.Millisecond), second.Time.Sub(moved).Round(time.Millisecond))
	} else {
		t.Logf("no gap of %v or more around the move", flow.LongGap)
	}
	for _, e := range mn.events() {
		if e.Event == mnclient.EventAttached && e.SPIs != attached.SPIs || e.Event == mnclient.EventDetached {
			t.Errorf("the move cost the IKE SA: %+v", e)
		}
	}
	mn.stop()
	h.stop()
}
