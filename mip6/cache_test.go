package mip6

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/mip6/mh"
)

var (
	t0         = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	haAddr     = netip.MustParseAddr("2001:db8:1::1")
	hoa1       = netip.MustParseAddr("2001:db8:1::1234")
	hoa2       = netip.MustParseAddr("2001:db8:1::5678")
	offLinkHoA = netip.MustParseAddr("2001:db8:9::1")
	coa1       = netip.MustParseAddr("2001:db8:100::10")
	coa2       = netip.MustParseAddr("2001:db8:200::20")
	homeNet    = netip.MustParsePrefix("2001:db8:1::/64")
	altHA      = netip.MustParseAddr("2001:db8:2::1")
)

const (
	flagsAH  = mh.BUFlagA | mh.BUFlagH
	flagsAHK = mh.BUFlagA | mh.BUFlagH | mh.BUFlagK
	flagsAHL = mh.BUFlagA | mh.BUFlagH | mh.BUFlagL
)

func testConfig() HomeAgentConfig {
	return HomeAgentConfig{
		HomePrefixes:          []HomePrefix{{Prefix: homeNet}},
		KeyManagementMobility: true,
		SkipDAD:               true,
	}
}

func newCache(t testing.TB, edit func(*HomeAgentConfig)) *BindingCache {
	t.Helper()
	cfg := testConfig()
	if edit != nil {
		edit(&cfg)
	}
	c, err := NewBindingCache(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// tunnelBU is a home registration in the all-in-tunnel form (RFC 4877 §3):
// inner source = HoA, care-of address in an Alternate CoA option.
func tunnelBU(seq uint16, flags mh.BUFlags, lifetime mh.Lifetime, coa netip.Addr) mh.BindingUpdate {
	bu := mh.BindingUpdate{Sequence: seq, Flags: flags, Lifetime: lifetime}
	if coa.IsValid() {
		bu.Options = mh.AlternateCoA{Addr: coa}.Append(nil)
	}
	return bu
}

func tunnelCtx(hoa netip.Addr) Context {
	return Context{Identity: "mn@example.net", AuthorizedHoA: hoa, InTunnel: true}
}

func fromHoA(hoa netip.Addr) mh.IPv6 { return mh.IPv6{Src: hoa, Dst: haAddr} }

// step is one Binding Update of a table-driven walk and what must follow.
type step struct {
	name     string
	at       time.Duration // since t0
	hoa      netip.Addr    // default hoa1
	bu       mh.BindingUpdate
	before   func(*BindingCache, time.Time) // run just before the BU
	verdict  Verdict
	status   mh.Status
	drop     DropReason
	baSeq    uint16      // sequence number in the BA
	lifetime mh.Lifetime // lifetime in the BA
	baK      bool
	actions  Action
	state    BindingState // state afterwards; 0: no entry
	coa      netip.Addr   // care-of address afterwards (when state is set)
}

func runSteps(t *testing.T, c *BindingCache, steps []step) {
	t.Helper()
	for _, s := range steps {
		hoa := s.hoa
		if !hoa.IsValid() {
			hoa = hoa1
		}
		now := t0.Add(s.at)
		if s.before != nil {
			s.before(c, now)
		}
		d := c.Update(now, tunnelCtx(hoa), fromHoA(hoa), s.bu)
		if d.Verdict != s.verdict || d.Drop != s.drop {
			t.Fatalf("%s: verdict %v drop %v, want %v drop %v", s.name, d.Verdict, d.Drop, s.verdict, s.drop)
		}
		if d.Actions != s.actions {
			t.Errorf("%s: actions %v, want %v", s.name, d.Actions, s.actions)
		}
		if d.Actions&ActionSendBA != 0 {
			ba := d.BindingAck()
			if ba.Status != s.status || d.Status != s.status || ba.Sequence != s.baSeq || ba.Lifetime != s.lifetime || (ba.Flags&mh.BAFlagK != 0) != s.baK {
				t.Errorf("%s: BA status %v seq %d lifetime %d flags %#x, want %v seq %d lifetime %d K %v",
					s.name, ba.Status, ba.Sequence, ba.Lifetime, ba.Flags, s.status, s.baSeq, s.lifetime, s.baK)
			}
			if d.Reply != (mh.IPv6{Src: haAddr, Dst: hoa}) {
				t.Errorf("%s: BA addressed %+v", s.name, d.Reply)
			}
		}
		b, ok := c.Lookup(hoa)
		switch {
		case s.state == 0 && ok:
			t.Errorf("%s: entry %+v exists", s.name, b)
		case s.state != 0 && (!ok || b.State != s.state):
			t.Errorf("%s: entry %+v (found %v), want state %v", s.name, b, ok, s.state)
		case s.state != 0 && s.coa.IsValid() && b.CoA != s.coa:
			t.Errorf("%s: care-of address %v, want %v", s.name, b.CoA, s.coa)
		}
	}
}

const (
	newBinding = ActionInstallRoute | ActionDefendHoA | ActionSendBA
	deregister = ActionStopDefending | ActionRemoveRoute | ActionSendBA
)

// TestHomeRegistrationRules walks RFC 6275 §9.5.1, §10.3.1 and §10.3.2 on
// one home address: registration, refresh, movement, the sequence window,
// the lifetime cap, the L bit, deregistration and its race protection.
func TestHomeRegistrationRules(t *testing.T) {
	c := newCache(t, nil) // MaxLifetime 1 h = 900 units
	runSteps(t, c, []step{
		{name: "new registration", bu: tunnelBU(100, flagsAH, 100, coa1),
			verdict: Accepted, baSeq: 100, lifetime: 100,
			actions: newBinding | ActionDiscardKeyManagement, state: StateValid, coa: coa1},
		{name: "refresh from the same care-of address", at: 200 * time.Second, bu: tunnelBU(101, flagsAH, 100, coa1),
			verdict: Accepted, baSeq: 101, lifetime: 100, actions: ActionSendBA, state: StateValid, coa: coa1},
		{name: "movement with K: route and IKE endpoint follow", at: 210 * time.Second, bu: tunnelBU(102, flagsAHK, 100, coa2),
			verdict: Accepted, baSeq: 102, lifetime: 100, baK: true,
			actions: ActionInstallRoute | ActionMoveKeyManagement | ActionSendBA, state: StateValid, coa: coa2},
		{name: "retransmission with the same number: 135 with the last accepted", at: 211 * time.Second, bu: tunnelBU(102, flagsAH, 100, coa1),
			verdict: Rejected, status: mh.StatusSequenceOutOfWindow, baSeq: 102, actions: ActionSendBA, state: StateValid, coa: coa2},
		{name: "32768 ahead counts as behind (modulo 2^16)", at: 212 * time.Second, bu: tunnelBU(102+32768, flagsAH, 100, coa1),
			verdict: Rejected, status: mh.StatusSequenceOutOfWindow, baSeq: 102, actions: ActionSendBA, state: StateValid, coa: coa2},
		{name: "32767 ahead is newer", at: 213 * time.Second, bu: tunnelBU(102+32767, flagsAH, 100, coa2),
			verdict: Accepted, baSeq: 102 + 32767, lifetime: 100, actions: ActionSendBA, state: StateValid, coa: coa2},
		{name: "lifetime capped by MaxLifetime", at: 214 * time.Second, bu: tunnelBU(102+32768, flagsAH, 65535, coa2),
			verdict: Accepted, baSeq: 102 + 32768, lifetime: 900, actions: ActionSendBA, state: StateValid, coa: coa2},
		{name: "L set: defend the link-local address too", at: 215 * time.Second, bu: tunnelBU(102+32769, flagsAHL, 100, coa2),
			verdict: Accepted, baSeq: 102 + 32769, lifetime: 100, actions: ActionDefendLinkLocal | ActionSendBA, state: StateValid},
		{name: "L cleared: stop defending it", at: 216 * time.Second, bu: tunnelBU(102+32770, flagsAH, 100, coa2),
			verdict: Accepted, baSeq: 102 + 32770, lifetime: 100, actions: ActionStopDefendingLinkLocal | ActionSendBA, state: StateValid},
		{name: "deregistration (lifetime 0)", at: 220 * time.Second, bu: tunnelBU(102+32771, flagsAH, 0, netip.Addr{}),
			verdict: Accepted, baSeq: 102 + 32771, actions: deregister | ActionDiscardKeyManagement, state: StateDeregistered, coa: hoa1},
		{name: "a delayed BU from the visited link gets 135 (race protection)", at: 221 * time.Second, bu: tunnelBU(102+32770, flagsAH, 100, coa1),
			verdict: Rejected, status: mh.StatusSequenceOutOfWindow, baSeq: 102 + 32771, actions: ActionSendBA, state: StateDeregistered},
		{name: "deregistration without a binding: 133", at: 222 * time.Second, bu: tunnelBU(102+32772, flagsAH, 0, netip.Addr{}),
			verdict: Rejected, status: mh.StatusNotHomeAgentForThisMN, baSeq: 102 + 32772, actions: ActionSendBA, state: StateDeregistered},
		{name: "registration again is a new binding", at: 223 * time.Second, bu: tunnelBU(102+32773, flagsAH, 10, coa1),
			verdict: Accepted, baSeq: 102 + 32773, lifetime: 10, actions: newBinding | ActionDiscardKeyManagement, state: StateValid, coa: coa1},
	})
}

// TestRegistrationRefusals: the tests of RFC 6275 §10.3.1 that reject, and
// the correspondent registrations a home agent refuses (RFC 6275 §9.5.1).
func TestRegistrationRefusals(t *testing.T) {
	rrOptions := mh.NonceIndices{Home: 1, CareOf: 2}.Append(nil)
	rrOptions = mh.BindingAuthorizationData{Authenticator: make([]byte, 12)}.Append(rrOptions)
	correspondentBU := func(seq uint16) mh.BindingUpdate {
		return mh.BindingUpdate{Sequence: seq, Flags: mh.BUFlagA, Lifetime: 10, Options: rrOptions}
	}
	cases := []struct {
		name  string
		edit  func(*HomeAgentConfig)
		steps []step
	}{
		{"not configured as a home agent: 131", func(c *HomeAgentConfig) { c.HomePrefixes = nil }, []step{
			{name: "registration", bu: tunnelBU(1, flagsAH, 10, coa1), verdict: Rejected,
				status: mh.StatusHomeRegistrationNotSupported, baSeq: 1, actions: ActionSendBA},
		}},
		{"home address off the home prefixes: 132", nil, []step{
			{name: "registration", hoa: offLinkHoA, bu: tunnelBU(1, flagsAH, 10, coa1), verdict: Rejected,
				status: mh.StatusNotHomeSubnet, baSeq: 1, actions: ActionSendBA},
		}},
		{"home prefix no longer valid: 132", func(c *HomeAgentConfig) {
			c.HomePrefixes[0].ValidUntil = t0.Add(2 * time.Second)
		}, []step{
			{name: "registration", at: 3 * time.Second, bu: tunnelBU(1, flagsAH, 10, coa1), verdict: Rejected,
				status: mh.StatusNotHomeSubnet, baSeq: 1, actions: ActionSendBA},
		}},
		{"cache full: 130 for new bindings only", func(c *HomeAgentConfig) { c.MaxBindings = 1 }, []step{
			{name: "first", bu: tunnelBU(1, flagsAH, 10, coa1), verdict: Accepted, baSeq: 1, lifetime: 10,
				actions: newBinding | ActionDiscardKeyManagement, state: StateValid},
			{name: "second home address", hoa: hoa2, bu: tunnelBU(1, flagsAH, 10, coa1), verdict: Rejected,
				status: mh.StatusInsufficientResources, baSeq: 1, actions: ActionSendBA},
			{name: "refresh of the first", bu: tunnelBU(2, flagsAH, 10, coa1), verdict: Accepted, baSeq: 2, lifetime: 10,
				actions: ActionSendBA, state: StateValid},
		}},
		{"care-of address equal to the home address: 174", nil, []step{
			{name: "no ACoA inside the tunnel", bu: tunnelBU(1, flagsAH, 10, netip.Addr{}), verdict: Rejected,
				status: mh.StatusInvalidCoA, baSeq: 1, actions: ActionSendBA},
		}},
		{"care-of address not routable: silent", nil, []step{
			{name: "link-local ACoA", bu: tunnelBU(1, flagsAH, 10, netip.MustParseAddr("fe80::1")), verdict: Dropped,
				drop: DropCoANotRoutable},
		}},
		{"Nonce Indices in a home registration: silent", nil, []step{
			{name: "H with Nonce Indices", bu: mh.BindingUpdate{Sequence: 1, Flags: flagsAH, Lifetime: 10, Options: rrOptions},
				verdict: Dropped, drop: DropNonceIndices},
		}},
		{"correspondent registrations", nil, []step{
			{name: "without authorization data: silent", bu: mh.BindingUpdate{Sequence: 1, Flags: mh.BUFlagA, Lifetime: 10},
				verdict: Dropped, drop: DropNoAuthorizationData},
			{name: "no nonces kept here: 138", bu: correspondentBU(1), verdict: Rejected,
				status: mh.StatusExpiredNonces, baSeq: 1, actions: ActionSendBA},
			{name: "a deletion only needs the home nonce: 136", bu: mh.BindingUpdate{Sequence: 2, Flags: mh.BUFlagA, Options: rrOptions},
				verdict: Rejected, status: mh.StatusExpiredHomeNonceIndex, baSeq: 2, actions: ActionSendBA},
			{name: "home registration", bu: tunnelBU(5, flagsAH, 10, coa1), verdict: Accepted, baSeq: 5, lifetime: 10,
				actions: newBinding | ActionDiscardKeyManagement, state: StateValid},
			{name: "old sequence first: 135", bu: correspondentBU(5), verdict: Rejected,
				status: mh.StatusSequenceOutOfWindow, baSeq: 5, actions: ActionSendBA, state: StateValid},
			{name: "then registration type change: 139", bu: correspondentBU(6), verdict: Rejected,
				status: mh.StatusRegistrationTypeChangeDisallowed, baSeq: 6, actions: ActionSendBA, state: StateValid},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runSteps(t, newCache(t, tc.edit), tc.steps) })
	}
}

// TestHomeAddressNotAuthorizedIsSilent: a BU for a home address the SA's
// identity does not own is discarded without an answer (RFC 4877 §4.2,
// RFC 6275 §5.1, §9.5.1) and changes nothing.
func TestHomeAddressNotAuthorizedIsSilent(t *testing.T) {
	c := newCache(t, nil)
	ctx := tunnelCtx(hoa2) // the SA belongs to the owner of hoa2
	d := c.Update(t0, ctx, fromHoA(hoa1), tunnelBU(1, flagsAH, 10, coa1))
	if d.Verdict != Dropped || d.Drop != DropNotAuthorized || d.Actions != 0 {
		t.Fatalf("decision %+v", d)
	}
	if _, ok := c.Lookup(hoa1); ok || c.Len() != 0 {
		t.Fatal("an entry was created")
	}
	if got := c.Stats().Drops[DropNotAuthorized]; got != 1 {
		t.Errorf("counted %d", got)
	}
}

// TestNativeForm: outside the tunnel the home address comes from the Home
// Address option, the care-of address from the ACoA, the BA goes to the
// source with a type 2 routing header (RFC 6275 §9.5.1, §9.5.4); a home
// registration without the option is dropped (§10.3.1) but a
// deregistration from home needs none (§10.3.2).
func TestNativeForm(t *testing.T) {
	c := newCache(t, nil)
	ctx := Context{AuthorizedHoA: hoa1}
	d := c.Update(t0, ctx, mh.IPv6{Src: coa1, Dst: haAddr, HAO: hoa1}, tunnelBU(1, flagsAH, 10, coa1))
	if d.Verdict != Accepted {
		t.Fatalf("decision %+v", d)
	}
	if d.Reply != (mh.IPv6{Src: haAddr, Dst: coa1, RH2: hoa1}) {
		t.Errorf("BA addressing %+v", d.Reply)
	}
	pkt := d.AppendBA(nil)
	ip, h, err := mh.ParsePacket(pkt)
	if err != nil || ip.RH2 != hoa1 || ip.Dst != coa1 {
		t.Fatalf("BA packet: %+v %v", ip, err)
	}
	if ba, err := mh.ParseBindingAck(h); err != nil || ba.Sequence != 1 || ba.Status != 0 {
		t.Errorf("BA %+v %v", ba, err)
	}
	// Source = care-of address, no ACoA: the care-of address is the source.
	d = c.Update(t0, ctx, mh.IPv6{Src: coa2, Dst: haAddr, HAO: hoa1}, tunnelBU(2, flagsAH, 10, netip.Addr{}))
	if b, _ := c.Lookup(hoa1); d.Verdict != Accepted || b.CoA != coa2 {
		t.Errorf("source as care-of address: %v, binding %+v", d.Verdict, b)
	}
	d = c.Update(t0, ctx, mh.IPv6{Src: hoa1, Dst: haAddr}, tunnelBU(3, flagsAH, 10, coa1))
	if d.Drop != DropNoHomeAddressOption {
		t.Errorf("registration without HAO: %v %v", d.Verdict, d.Drop)
	}
	d = c.Update(t0, ctx, mh.IPv6{Src: hoa1, Dst: haAddr}, tunnelBU(4, flagsAH, 0, netip.Addr{}))
	if d.Verdict != Accepted || d.Reply != (mh.IPv6{Src: haAddr, Dst: hoa1}) {
		t.Errorf("deregistration from home: %+v", d)
	}
	d = c.Update(t0, ctx, mh.IPv6{Src: netip.MustParseAddr("ff02::1"), Dst: haAddr, HAO: hoa1}, tunnelBU(5, flagsAH, 10, coa1))
	if d.Drop != DropSourceNotUnicast {
		t.Errorf("multicast source: %v", d.Drop)
	}
}

// TestDuplicateAddressDetection: a new binding waits for DAD before its BA
// (RFC 6275 §10.3.1); a retransmission meanwhile updates the request; the
// result gives status 0 or 134; an unanswered DAD is forgotten.
func TestDuplicateAddressDetection(t *testing.T) {
	c := newCache(t, func(c *HomeAgentConfig) { c.SkipDAD = false })
	ctx := tunnelCtx(hoa1)
	d := c.Update(t0, ctx, fromHoA(hoa1), tunnelBU(1, flagsAHL, 10, coa1))
	if d.Verdict != Pending || d.Actions != ActionDAD|ActionDADLinkLocal {
		t.Fatalf("first BU: %v %v", d.Verdict, d.Actions)
	}
	d = c.Update(t0.Add(1500*time.Millisecond), ctx, fromHoA(hoa1), tunnelBU(2, flagsAHL, 10, coa2))
	if d.Drop != DropDADInProgress || d.Actions != 0 {
		t.Fatalf("retransmission: %+v", d)
	}
	d, ok := c.CompleteDAD(t0.Add(2*time.Second), hoa1, true)
	if !ok || d.Verdict != Accepted || d.Actions != newBinding|ActionDefendLinkLocal|ActionDiscardKeyManagement {
		t.Fatalf("DAD done: %v %v %v", ok, d.Verdict, d.Actions)
	}
	if ba := d.BindingAck(); ba.Sequence != 2 || d.Binding.CoA != coa2 {
		t.Errorf("BA answers the latest BU: seq %d, CoA %v", ba.Sequence, d.Binding.CoA)
	}
	if _, ok := c.CompleteDAD(t0.Add(3*time.Second), hoa1, true); ok {
		t.Error("CompleteDAD twice")
	}

	d = c.Update(t0, tunnelCtx(hoa2), fromHoA(hoa2), tunnelBU(7, flagsAH, 10, coa1))
	d, _ = c.CompleteDAD(t0.Add(time.Second), hoa2, false)
	if d.Verdict != Rejected || d.Status != mh.StatusDADFailed || d.BindingAck().Sequence != 7 {
		t.Fatalf("DAD failed: %+v", d)
	}
	if _, ok := c.Lookup(hoa2); ok {
		t.Error("entry kept after DAD failure")
	}

	// AddressUnique skips DAD.
	ctx3 := tunnelCtx(offLinkHoA)
	ctx3.AuthorizedHoA, ctx3.AddressUnique = hoa2, true
	if d := c.Update(t0, ctx3, fromHoA(hoa2), tunnelBU(8, flagsAH, 10, coa1)); d.Verdict != Accepted {
		t.Errorf("AddressUnique: %v", d.Verdict)
	}

	// Nobody answers: the pending entry is forgotten after DADTimeout.
	hoa3 := netip.MustParseAddr("2001:db8:1::3")
	c.Update(t0, tunnelCtx(hoa3), fromHoA(hoa3), tunnelBU(1, flagsAH, 10, coa1))
	evs := c.Tick(t0.Add(DefaultDADTimeout), nil)
	if len(evs) != 1 || evs[0].Kind != EventForgotten || evs[0].Binding.HoA != hoa3 || evs[0].Actions != 0 {
		t.Fatalf("events %+v", evs)
	}
}

// TestExpiryAndDeletion: a binding expires at the end of its granted
// lifetime with the actions that undo it; a deregistered entry is
// forgotten after MAX_DELETE_BCE_TIMEOUT, then any sequence number is
// accepted again (RFC 6275 §9.5.1, §10.3.2).
func TestExpiryAndDeletion(t *testing.T) {
	c := newCache(t, nil)
	c.Update(t0, tunnelCtx(hoa1), fromHoA(hoa1), tunnelBU(1, flagsAHL, 10, coa1)) // 40 s
	c.Update(t0, tunnelCtx(hoa2), fromHoA(hoa2), tunnelBU(1, flagsAH, 100, coa1))
	if got := c.NextDeadline(t0); !got.Equal(t0.Add(40 * time.Second)) {
		t.Fatalf("NextDeadline %v", got)
	}
	if evs := c.Tick(t0.Add(40*time.Second-1), nil); len(evs) != 0 {
		t.Fatalf("early events %+v", evs)
	}
	evs := c.Tick(t0.Add(40*time.Second), nil)
	if len(evs) != 1 || evs[0].Kind != EventExpired || evs[0].Binding.HoA != hoa1 ||
		evs[0].Actions != ActionStopDefending|ActionRemoveRoute|ActionStopDefendingLinkLocal {
		t.Fatalf("expiry events %+v", evs)
	}
	if _, ok := c.Lookup(hoa1); ok {
		t.Error("expired binding still there")
	}
	c.Update(t0.Add(50*time.Second), tunnelCtx(hoa2), fromHoA(hoa2), tunnelBU(2, flagsAH, 0, netip.Addr{}))
	if got := c.NextDeadline(t0.Add(50 * time.Second)); !got.Equal(t0.Add(60 * time.Second)) {
		t.Fatalf("deletion deadline %v", got)
	}
	evs = c.Tick(t0.Add(60*time.Second), nil)
	if len(evs) != 1 || evs[0].Kind != EventForgotten || c.Len() != 0 {
		t.Fatalf("deletion events %+v, %d entries", evs, c.Len())
	}
	if d := c.Update(t0.Add(61*time.Second), tunnelCtx(hoa2), fromHoA(hoa2), tunnelBU(1, flagsAH, 10, coa1)); d.Verdict != Accepted {
		t.Errorf("sequence 1 after the entry was forgotten: %v", d.Verdict)
	}
	if !c.NextDeadline(t0.Add(200 * time.Second)).After(t0) {
		t.Error("no deadline with a binding")
	}
}

// TestPrefixLifetimes: the granted lifetime never exceeds the remaining
// valid lifetime of the home prefix, counted in 4 s units, and status 1
// says the prefix is or becomes deprecated or invalid during the binding
// (RFC 6275 §10.3.1).
func TestPrefixLifetimes(t *testing.T) {
	cases := []struct {
		name                string
		valid, preferred    time.Duration
		requested, lifetime mh.Lifetime
		status              mh.Status
		max                 time.Duration // MaxLifetime; 0: the default
	}{
		{"infinite prefix", 0, 0, 100, 100, mh.StatusAccepted, 0},
		{"valid longer than the binding", 1000 * time.Second, 0, 100, 100, mh.StatusAccepted, 0},
		{"valid ends first: capped, two low bits dropped", 203 * time.Second, 0, 100, 50, mh.StatusAcceptedPrefixDiscovery, 0},
		{"deprecated during the binding", 0, 100 * time.Second, 100, 100, mh.StatusAcceptedPrefixDiscovery, 0},
		{"preferred outlives the binding", 0, 500 * time.Second, 100, 100, mh.StatusAccepted, 0},
		// A prefix lifetime is 32 bits of seconds: in 4 s units it can
		// exceed the 16 bits of the Binding Update's Lifetime field.
		{"valid beyond the longest binding", 30 * 24 * time.Hour, 0, mh.MaxLifetime, mh.MaxLifetime, mh.StatusAccepted, mh.MaxLifetime.Duration()},
		{"valid ends with the longest binding", mh.MaxLifetime.Duration() + 3*time.Second, 0, mh.MaxLifetime, mh.MaxLifetime,
			mh.StatusAcceptedPrefixDiscovery, mh.MaxLifetime.Duration()},
		{"valid ends one unit after the longest binding", mh.MaxLifetime.Duration() + mh.LifetimeUnit, 0, mh.MaxLifetime, mh.MaxLifetime,
			mh.StatusAccepted, mh.MaxLifetime.Duration()},
	}
	for _, tc := range cases {
		c := newCache(t, func(c *HomeAgentConfig) {
			c.MaxLifetime = tc.max
			if tc.valid > 0 {
				c.HomePrefixes[0].ValidUntil = t0.Add(tc.valid)
			}
			if tc.preferred > 0 {
				c.HomePrefixes[0].PreferredUntil = t0.Add(tc.preferred)
			}
		})
		d := c.Update(t0, tunnelCtx(hoa1), fromHoA(hoa1), tunnelBU(1, flagsAH, tc.requested, coa1))
		if ba := d.BindingAck(); d.Verdict != Accepted || ba.Lifetime != tc.lifetime || ba.Status != tc.status {
			t.Errorf("%s: %v lifetime %d status %v, want %d %v", tc.name, d.Verdict, ba.Lifetime, ba.Status, tc.lifetime, tc.status)
		}
	}
}

// TestRefreshAdvice: the Binding Refresh Advice interval is below the
// granted lifetime (RFC 6275 §6.2.4) and absent from deregistrations.
func TestRefreshAdvice(t *testing.T) {
	c := newCache(t, func(c *HomeAgentConfig) { c.RefreshAdvice = 200 * time.Second })
	for _, tc := range []struct {
		lifetime mh.Lifetime
		advice   mh.Lifetime
		present  bool
	}{{100, 50, true}, {30, 29, true}, {1, 0, false}} {
		c.Delete(hoa1)
		d := c.Update(t0, tunnelCtx(hoa1), fromHoA(hoa1), tunnelBU(1, flagsAH, tc.lifetime, coa1))
		bra, ok := d.BindingAck().Options.BindingRefreshAdvice()
		if ok != tc.present || bra.Interval != tc.advice {
			t.Errorf("lifetime %d: advice %d (%v), want %d (%v)", tc.lifetime, bra.Interval, ok, tc.advice, tc.present)
		}
	}
	d := c.Update(t0, tunnelCtx(hoa1), fromHoA(hoa1), tunnelBU(2, flagsAH, 0, netip.Addr{}))
	if _, ok := d.BindingAck().Options.BindingRefreshAdvice(); ok || d.Verdict != Accepted {
		t.Error("refresh advice in a deregistration")
	}
}

// TestSwitchRefusesExtensions walks RFC 5142 §5 at the home agent: the
// HAS goes out from Tick, then lifetime extensions get 129 while shorter
// updates pass, and the deregistration acknowledges the switch.
func TestSwitchRefusesExtensions(t *testing.T) {
	c := newCache(t, nil)
	runSteps(t, c, []step{
		{name: "registration", bu: tunnelBU(1, flagsAH, 100, coa1), verdict: Accepted, baSeq: 1, lifetime: 100,
			actions: newBinding | ActionDiscardKeyManagement, state: StateValid},
		{name: "refresh before the HAS is sent is fine", at: time.Second, bu: tunnelBU(2, flagsAH, 100, coa1),
			before: func(c *BindingCache, now time.Time) {
				if err := c.Switch(now, hoa1, []netip.Addr{altHA}, 0); err != nil {
					t.Fatal(err)
				}
			},
			verdict: Accepted, baSeq: 2, lifetime: 100, actions: ActionSendBA, state: StateValid},
		{name: "extension after the HAS: 129", at: 3 * time.Second, bu: tunnelBU(3, flagsAH, 100, coa1),
			before: func(c *BindingCache, now time.Time) {
				if evs := c.Tick(now, nil); len(evs) != 1 || evs[0].Kind != EventSendHAS {
					t.Fatalf("events %+v", evs)
				}
			},
			verdict: Rejected, status: mh.StatusAdministrativelyProhibited, baSeq: 3, actions: ActionSendBA, state: StateValid},
		{name: "new care-of address within the remaining lifetime is accepted", at: 4 * time.Second, bu: tunnelBU(4, flagsAH, 10, coa2),
			verdict: Accepted, baSeq: 4, lifetime: 10, actions: ActionInstallRoute | ActionDiscardKeyManagement | ActionSendBA,
			state: StateValid, coa: coa2},
		{name: "the deregistration answers the HAS", at: 5 * time.Second, bu: tunnelBU(5, flagsAH, 0, netip.Addr{}),
			verdict: Accepted, baSeq: 5, actions: deregister | ActionDiscardKeyManagement, state: StateDeregistered},
	})
	if _, _, ok := c.Delete(hoa1); !ok {
		t.Fatal("no entry")
	}
	c.Update(t0, tunnelCtx(hoa1), fromHoA(hoa1), tunnelBU(1, flagsAH, 100, coa1))
	c.Switch(t0, hoa1, nil, 0)
	c.Tick(t0, nil)
	d := c.Update(t0, tunnelCtx(hoa1), fromHoA(hoa1), tunnelBU(2, flagsAH, 0, netip.Addr{}))
	if !d.SwitchAcknowledged {
		t.Error("deregistration after HAS not marked as acknowledgement")
	}
	if err := c.Switch(t0, hoa2, nil, 0); !errors.Is(err, ErrNoBinding) {
		t.Errorf("Switch without binding: %v", err)
	}
}
