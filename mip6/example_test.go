package mip6_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/mip6ha/mip6ha/mip6"
	"github.com/mip6ha/mip6ha/mip6/mh"
)

// A home agent runtime hands the inner packet of the ESP tunnel to
// Receive with what the SA tells it, carries out the actions, then sends
// the Binding Acknowledgement back through the tunnel.
func ExampleHomeAgent_Receive() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ha, _ := mip6.NewHomeAgent(mip6.HomeAgentConfig{
		HomePrefixes: []mip6.HomePrefix{{Prefix: netip.MustParsePrefix("2001:db8:1::/64")}},
		SkipDAD:      true, // the home address comes from the lease store
	}, now)
	hoa, haAddr := netip.MustParseAddr("2001:db8:1::1234"), netip.MustParseAddr("2001:db8:1::1")
	coa := netip.MustParseAddr("2001:db8:100::10")

	// What arrives from the tunnel (built here with the codec).
	bu := mh.BindingUpdate{Sequence: 1, Flags: mh.BUFlagA | mh.BUFlagH, Lifetime: mh.LifetimeOf(10 * time.Minute),
		Options: mh.AlternateCoA{Addr: coa}.Append(nil)}
	inner := mh.AppendPacket(nil, mh.IPv6{Src: hoa, Dst: haAddr}, bu)

	res := ha.Receive(now, mip6.Context{Identity: "mn@example.net", AuthorizedHoA: hoa, InTunnel: true}, inner)
	d := &res.Decision
	fmt.Println(d.Verdict, d.Status, d.Actions)
	fmt.Println("route", d.Binding.HoA, "to", d.Binding.CoA, "until", d.Binding.Expires.Sub(now))
	reply := d.AppendBA(nil) // into the tunnel, HA → HoA
	fmt.Println(len(reply), "octets back")
	fmt.Println("next timer in", ha.NextDeadline(now).Sub(now))
	// Output:
	// accepted Binding Update accepted install-route|defend-hoa|discard-key-management|send-ba
	// route 2001:db8:1::1234 to 2001:db8:100::10 until 10m0s
	// 56 octets back
	// next timer in 10m0s
}

// A mobile node client registers, sends what Ready returns through its
// tunnel, feeds answers to Receive and calls Tick at NextDeadline.
func ExampleBindingUpdateList() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	hoa, haAddr := netip.MustParseAddr("2001:db8:1::1234"), netip.MustParseAddr("2001:db8:1::1")
	mn := mip6.NewBindingUpdateList(mip6.MobileNodeConfig{})
	mn.Register(now, mip6.Registration{
		HoA: hoa, HA: haAddr, CoA: netip.MustParseAddr("2001:db8:100::10"),
		Lifetime: 10 * time.Minute, Identifier: []byte("mn@example.net"), InTunnel: true,
	})
	for _, o := range mn.Ready().Send {
		fmt.Printf("send %v %v → %v\n", o.Message.Type(), o.IP.Src, o.IP.Dst)
	}
	fmt.Println("retransmit at", mn.NextDeadline().Sub(now))

	// The home agent's answer.
	ba := mh.AppendPacket(nil, mh.IPv6{Src: haAddr, Dst: hoa},
		mh.BindingAck{Sequence: 1, Lifetime: mh.LifetimeOf(10 * time.Minute)})
	mn.Receive(now.Add(50*time.Millisecond), ba)
	for _, ev := range mn.Ready().Events {
		fmt.Println(ev.Kind, ev.Lifetime)
	}
	fmt.Println("refresh at", mn.NextDeadline().Sub(now))
	// Output:
	// send Binding Update 2001:db8:1::1234 → 2001:db8:1::1
	// retransmit at 1.5s
	// registered 10m0s
	// refresh at 7m30s
}

// Moving a bound mobile node to another home agent (RFC 5142): the home
// agent asks, Tick sends the Home Agent Switch at the configured rate.
func ExampleBindingCache_Switch() {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c, _ := mip6.NewBindingCache(mip6.HomeAgentConfig{
		HomePrefixes: []mip6.HomePrefix{{Prefix: netip.MustParsePrefix("2001:db8:1::/64")}},
		SkipDAD:      true,
	}, now)
	hoa, haAddr := netip.MustParseAddr("2001:db8:1::1234"), netip.MustParseAddr("2001:db8:1::1")
	c.Update(now, mip6.Context{AuthorizedHoA: hoa, InTunnel: true}, mh.IPv6{Src: hoa, Dst: haAddr},
		mh.BindingUpdate{Sequence: 1, Flags: mh.BUFlagA | mh.BUFlagH, Lifetime: 150,
			Options: mh.AlternateCoA{Addr: netip.MustParseAddr("2001:db8:100::10")}.Append(nil)})

	c.Switch(now, hoa, []netip.Addr{netip.MustParseAddr("2001:db8:2::1")}, time.Minute)
	for _, ev := range c.Tick(now, nil) {
		has := ev.Send.Message.(mh.HomeAgentSwitch)
		bra, _ := has.Options.BindingRefreshAdvice()
		fmt.Println(ev.Kind, has.Addresses, "binding deleted in", bra.Interval.Duration())
	}
	fmt.Println("retransmission in", c.NextDeadline(now).Sub(now))
	// Output:
	// send-has [2001:db8:2::1] binding deleted in 1m0s
	// retransmission in 5s
}
