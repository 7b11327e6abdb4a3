package ike

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/ike/ikecrypto"
	"github.com/mip6ha/mip6ha/ike/wire"
)

// The harness runs initiators and responders in process: a fake clock, a
// network that shuttles datagrams between nodes (and can drop, duplicate,
// reorder, delay and NAT them), and a model of each node's dataplane that
// applies ChildOps and checks them.

// testRand is a deterministic random source: transcripts replay.
type testRand struct{ r *rand.ChaCha8 }

func newTestRand(seed byte) *testRand {
	var s [32]byte
	s[0] = seed
	return &testRand{rand.NewChaCha8(s)}
}

func (t *testRand) Read(b []byte) (int, error) { return t.r.Read(b) }

// node is one host: its SAs, routed by local SPI, an optional Responder,
// and its dataplane model.
type node struct {
	name      string
	addr      netip.Addr
	responder *Responder
	sas       []*SA
	bySPI     map[uint64]*SA
	byInit    map[InitKey]*SA
	inbound   map[uint32]ChildSA
	outbound  map[uint32]ChildSA
	events    []Event
	keepalive []Path
	// known remembers the keys of every keyed IKE SA seen, retired ones
	// included, so that tests can decrypt a transcript afterwards.
	known map[SPIs]*knownIKE
	t     testing.TB
}

func newNode(t testing.TB, name string, addr string) *node {
	return &node{name: name, addr: netip.MustParseAddr(addr), bySPI: map[uint64]*SA{}, byInit: map[InitKey]*SA{},
		inbound: map[uint32]ChildSA{}, outbound: map[uint32]ChildSA{}, known: map[SPIs]*knownIKE{}, t: t}
}

// knownIKE is a copy of an IKE SA's suite and keys, taken when the test
// first sees them: the SA wipes its own once the IKE SA is gone.
type knownIKE struct {
	spis  SPIs
	suite ikecrypto.Suite
	keys  ikecrypto.Keys
}

func newKnownIKE(ike *ikeSA) *knownIKE {
	k := *ike.keys
	for _, key := range []*[]byte{&k.SKd, &k.SKai, &k.SKar, &k.SKei, &k.SKer, &k.SKpi, &k.SKpr} {
		*key = slices.Clone(*key)
	}
	return &knownIKE{spis: ike.spis, suite: ike.suite, keys: k}
}

// add registers an SA created on this node.
func (n *node) add(sa *SA) {
	n.sas = append(n.sas, sa)
	if spi := sa.LocalSPI(); spi != 0 {
		n.bySPI[spi] = sa
	}
	if k := sa.InitKey(); k.SPIi != 0 {
		n.byInit[k] = sa
	}
}

// receive routes a datagram as a runtime does.
func (n *node) receive(now time.Time, dg Datagram, out *[]Datagram) {
	spi, ok := LocalSPI(dg.Payload)
	if !ok {
		return
	}
	if sa := n.bySPI[spi]; sa != nil {
		sa.Receive(now, dg)
		return
	}
	if spi != 0 || n.responder == nil {
		return
	}
	key := InitKey{SPIi: binary.BigEndian.Uint64(dg.Payload), Remote: dg.Remote}
	if sa := n.byInit[key]; sa != nil {
		sa.Receive(now, dg)
		return
	}
	res := n.responder.Handle(now, dg)
	if res.Reply.Payload != nil {
		*out = append(*out, res.Reply)
	}
	if res.SA != nil {
		n.add(res.SA)
	}
}

// collect applies every SA's Ready and returns the datagrams to send.
func (n *node) collect() []Datagram {
	var dgs []Datagram
	for _, sa := range slices.Clone(n.sas) {
		if !sa.HasReady() {
			continue
		}
		for _, ike := range sa.ikes() {
			if _, seen := n.known[ike.spis]; !seen && ike.keys != nil {
				n.known[ike.spis] = newKnownIKE(ike)
			}
		}
		r := sa.Ready()
		for _, op := range r.ChildOps {
			n.apply(op)
		}
		for _, e := range r.Events {
			n.events = append(n.events, e)
			switch e := e.(type) {
			case IKERekeyed:
				n.bySPI[e.LocalSPI] = sa
			case IKERetired:
				delete(n.bySPI, e.LocalSPI)
			case IKEDown:
				for spi, s := range n.bySPI {
					if s == sa {
						delete(n.bySPI, spi)
					}
				}
				delete(n.byInit, sa.InitKey())
			}
		}
		dgs = append(dgs, r.Datagrams...)
		n.keepalive = append(n.keepalive, r.Keepalives...)
		sa.Advance()
		if sa.Done() {
			n.sas = slices.DeleteFunc(n.sas, func(s *SA) bool { return s == sa })
			delete(n.byInit, sa.InitKey())
		}
	}
	return dgs
}

// apply carries out a ChildOp on the dataplane model, checking it.
func (n *node) apply(op ChildOp) {
	c := op.Child
	switch op.Kind {
	case InstallInbound:
		if _, dup := n.inbound[c.InSPI]; dup {
			n.t.Errorf("%s: inbound SPI %08x installed twice", n.name, c.InSPI)
		}
		n.inbound[c.InSPI] = c
	case InstallOutbound:
		if op.Replaces != 0 {
			if _, ok := n.outbound[op.Replaces]; !ok {
				n.t.Errorf("%s: outbound %08x replaces %08x, not installed", n.name, c.OutSPI, op.Replaces)
			}
			delete(n.outbound, op.Replaces)
		}
		n.outbound[c.OutSPI] = c
	case RemoveInbound:
		if _, ok := n.inbound[c.InSPI]; !ok {
			n.t.Errorf("%s: remove of inbound %08x, not installed", n.name, c.InSPI)
		}
		delete(n.inbound, c.InSPI)
	case RemoveOutbound:
		if _, ok := n.outbound[c.OutSPI]; !ok {
			n.t.Errorf("%s: remove of outbound %08x, not installed", n.name, c.OutSPI)
		}
		delete(n.outbound, c.OutSPI)
	case UpdateEndpoints:
		if x, ok := n.inbound[c.InSPI]; ok {
			x.Local, x.Remote, x.Encap = c.Local, c.Remote, c.Encap
			n.inbound[c.InSPI] = x
		}
		if x, ok := n.outbound[c.OutSPI]; ok {
			x.Local, x.Remote, x.Encap = c.Local, c.Remote, c.Encap
			n.outbound[c.OutSPI] = x
		}
	default:
		n.t.Errorf("%s: unknown ChildOp %v", n.name, op.Kind)
	}
}

// eventsOf returns the node's events of type T.
func eventsOf[T Event](n *node) []T {
	var r []T
	for _, e := range n.events {
		if x, ok := e.(T); ok {
			r = append(r, x)
		}
	}
	return r
}

// verdict is what the network does with a datagram.
type verdict uint8

const (
	deliver verdict = iota
	drop
	duplicate
	// late delivers the datagram reorderDelay later than it would be, so
	// that datagrams sent after it overtake it.
	late
	// lateCopy delivers it, and a copy reorderDelay later.
	lateCopy
)

// reorderDelay is how late a datagram with verdict late arrives.
const reorderDelay = 2 * time.Second

// flight is a datagram on the network.
type flight struct {
	dg Datagram
	at time.Time
}

// network connects nodes.
type network struct {
	t     testing.TB
	now   time.Time
	nodes []*node
	air   []flight
	// filter decides the fate of each datagram (nil: deliver).
	filter func(dg Datagram) verdict
	// delay is added to each datagram's flight time.
	delay time.Duration
	// nat, if set, translates datagrams leaving and entering natted.
	nat    *natBox
	trace  []Datagram // every datagram sent, as sent
	filled int
}

// natBox is an address-and-port translating NAT in front of one node.
type natBox struct {
	inside  netip.Addr
	outside netip.Addr
	next    uint16
	out     map[netip.AddrPort]netip.AddrPort // inside endpoint -> outside
	in      map[netip.AddrPort]netip.AddrPort
}

func newNAT(inside, outside string) *natBox {
	return &natBox{inside: netip.MustParseAddr(inside), outside: netip.MustParseAddr(outside), next: 40000,
		out: map[netip.AddrPort]netip.AddrPort{}, in: map[netip.AddrPort]netip.AddrPort{}}
}

func (b *natBox) translateOut(src netip.AddrPort) netip.AddrPort {
	if o, ok := b.out[src]; ok {
		return o
	}
	o := netip.AddrPortFrom(b.outside, b.next)
	b.next++
	b.out[src], b.in[o] = o, src
	return o
}

// rebind makes the NAT forget its mappings (a NAT reboot or timeout).
func (b *natBox) rebind() {
	b.out, b.in = map[netip.AddrPort]netip.AddrPort{}, map[netip.AddrPort]netip.AddrPort{}
}

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newNetwork(t testing.TB, nodes ...*node) *network {
	return &network{t: t, now: epoch, nodes: nodes}
}

func (nw *network) nodeAt(a netip.Addr) *node {
	for _, n := range nw.nodes {
		if n.addr == a {
			return n
		}
	}
	return nil
}

// send puts datagrams on the air.
func (nw *network) send(dgs []Datagram) {
	for _, dg := range dgs {
		dg.Payload = slices.Clone(dg.Payload)
		nw.trace = append(nw.trace, dg)
		v := deliver
		if nw.filter != nil {
			v = nw.filter(dg)
		}
		at := nw.now.Add(nw.delay)
		switch v {
		case drop:
			continue
		case duplicate:
			nw.air = append(nw.air, flight{dg: Datagram{Local: dg.Local, Remote: dg.Remote, NATT: dg.NATT, Payload: slices.Clone(dg.Payload)}, at: at})
		case late:
			at = at.Add(reorderDelay)
		case lateCopy:
			nw.air = append(nw.air, flight{dg: Datagram{Local: dg.Local, Remote: dg.Remote, NATT: dg.NATT, Payload: slices.Clone(dg.Payload)}, at: at.Add(reorderDelay)})
		}
		nw.air = append(nw.air, flight{dg: dg, at: at})
	}
}

// flush collects every node's output.
func (nw *network) flush() bool {
	any := false
	for _, n := range nw.nodes {
		if dgs := n.collect(); len(dgs) > 0 {
			nw.send(dgs)
			any = true
		}
	}
	return any
}

// deliverDue delivers every datagram whose time has come, in order.
func (nw *network) deliverDue() bool {
	var due []flight
	var later []flight
	for _, f := range nw.air {
		if !f.at.After(nw.now) {
			due = append(due, f)
		} else {
			later = append(later, f)
		}
	}
	nw.air = later
	for _, f := range due {
		dg := f.dg
		src, dst := dg.Local, dg.Remote
		if nw.nat != nil {
			if src.Addr() == nw.nat.inside {
				src = nw.nat.translateOut(src)
			}
			if dst.Addr() == nw.nat.outside {
				in, ok := nw.nat.in[dst]
				if !ok {
					continue // no mapping: the NAT drops it
				}
				dst = in
			}
		}
		n := nw.nodeAt(dst.Addr())
		if n == nil {
			continue
		}
		var replies []Datagram
		n.receive(nw.now, Datagram{Local: dst, Remote: src, NATT: dg.NATT, Payload: slices.Clone(dg.Payload)}, &replies)
		nw.send(replies)
	}
	return len(due) > 0
}

// run exchanges datagrams until nothing is in flight or due, without
// moving the clock (beyond the in-flight delays).
func (nw *network) run() {
	for i := 0; ; i++ {
		if i > 10000 {
			nw.t.Fatal("network does not settle")
		}
		a := nw.flush()
		b := nw.deliverDue()
		if a || b {
			continue
		}
		if len(nw.air) == 0 {
			return
		}
		next := nw.air[0].at
		for _, f := range nw.air {
			if f.at.Before(next) {
				next = f.at
			}
		}
		nw.tickTo(next)
	}
}

// deadline returns the earliest deadline of every SA.
func (nw *network) deadline() time.Time {
	var d time.Time
	for _, n := range nw.nodes {
		for _, sa := range n.sas {
			if x := sa.Ready().Deadline; !x.IsZero() && (d.IsZero() || x.Before(d)) {
				d = x
			}
		}
	}
	return d
}

// tickTo moves the clock to t and ticks every SA.
func (nw *network) tickTo(t time.Time) {
	if t.After(nw.now) {
		nw.now = t
	}
	for _, n := range nw.nodes {
		for _, sa := range slices.Clone(n.sas) {
			sa.Tick(nw.now)
		}
	}
}

// advance moves the clock by d, running every timer that falls due on the
// way and exchanging datagrams.
func (nw *network) advance(d time.Duration) {
	end := nw.now.Add(d)
	for {
		nw.run()
		next := nw.deadline()
		if next.IsZero() || next.After(end) {
			break
		}
		nw.tickTo(next)
	}
	nw.tickTo(end)
	nw.run()
}

// runUntil advances the clock timer by timer until cond holds, or fails
// after limit.
func (nw *network) runUntil(limit time.Duration, cond func() bool) {
	nw.t.Helper()
	end := nw.now.Add(limit)
	for {
		nw.run()
		if cond() {
			return
		}
		next := nw.deadline()
		if next.IsZero() || next.After(end) {
			nw.t.Fatalf("condition not reached within %v (now %v)", limit, nw.now.Sub(epoch))
		}
		nw.tickTo(next)
	}
}

// psk is the pre-shared key of the test pairs.
var psk = []byte("a pre-shared key of the test pairs, long enough")

var (
	mnID = RFC822("mn1@example.net")
	haID = FQDN("ha.example.net")
)

// staticPool assigns fixed addresses, recording the requests.
type staticPool struct {
	a        Assignment
	err      error
	requests []AddressRequest
}

func (p *staticPool) Assign(req AddressRequest) (Assignment, error) {
	p.requests = append(p.requests, req)
	return p.a, p.err
}

var hoa = netip.MustParsePrefix("2001:db8:100::42/128")

// pairConfig returns initiator and responder configurations for a PSK pair.
func pairConfig(seed byte) (ic, rc *Config, pool *staticPool) {
	pool = &staticPool{a: Assignment{IPv6: hoa, DNS: []netip.Addr{netip.MustParseAddr("2001:db8:100::53")}}}
	ic = &Config{
		Credentials: &StaticCredentials{Self: LocalCredential{ID: mnID, PSK: psk}, PSKs: map[ID][]byte{haID: psk}},
		PeerID:      haID,
		Request:     CPRequest{IPv6: true, DNS: true},
		Rand:        newTestRand(seed),
	}
	rc = &Config{
		Credentials: &StaticCredentials{Self: LocalCredential{ID: haID, PSK: psk}, PSKs: map[ID][]byte{mnID: psk}},
		Addresses:   pool,
		LocalTS:     []wire.TrafficSelector{wire.PrefixSelector(netip.MustParsePrefix("2001:db8:200::/48"))},
		Rand:        newTestRand(seed + 100),
	}
	return ic, rc, pool
}

// pair is an initiator node and a responder node on one network.
type pair struct {
	*network
	mn, ha *node
	i      *SA
}

// newPair builds the nodes; start begins the IKE SA.
func newPair(t testing.TB, ic, rc *Config) *pair {
	t.Helper()
	mn := newNode(t, "mn", "2001:db8:1::1")
	ha := newNode(t, "ha", "2001:db8:2::2")
	r, err := NewResponder(ResponderConfig{Config: *rc})
	if err != nil {
		t.Fatal(err)
	}
	ha.responder = r
	p := &pair{network: newNetwork(t, mn, ha), mn: mn, ha: ha}
	i, err := NewInitiator(ic, Path{Local: netip.AddrPortFrom(mn.addr, 500), Remote: netip.AddrPortFrom(ha.addr, 500)})
	if err != nil {
		t.Fatal(err)
	}
	p.i = i
	return p
}

func (p *pair) start() {
	p.t.Helper()
	if err := p.i.Initiate(p.now); err != nil {
		p.t.Fatal(err)
	}
	p.mn.add(p.i)
}

// r returns the responder's SA (the only one).
func (p *pair) r() *SA {
	p.t.Helper()
	if len(p.ha.sas) != 1 {
		p.t.Fatalf("responder holds %d SAs", len(p.ha.sas))
	}
	return p.ha.sas[0]
}

// establish starts the pair and runs until both sides are up.
func (p *pair) establish() {
	p.t.Helper()
	p.start()
	p.runUntil(time.Minute, func() bool {
		return len(eventsOf[IKEUp](p.mn)) == 1 && len(eventsOf[IKEUp](p.ha)) == 1
	})
}

// checkChildrenMatch checks that the two dataplanes hold mirror images:
// every outbound SA of one side is an inbound SA of the other with the
// same keys, and the reverse.
func checkChildrenMatch(t testing.TB, a, b *node) {
	t.Helper()
	check := func(x, y *node) {
		for spi, out := range x.outbound {
			in, ok := y.inbound[spi]
			if !ok {
				t.Errorf("%s outbound %08x has no inbound at %s", x.name, spi, y.name)
				continue
			}
			if string(out.OutKey) != string(in.InKey) || string(out.OutIntegKey) != string(in.InIntegKey) {
				t.Errorf("%s outbound %08x: keys differ from %s inbound", x.name, spi, y.name)
			}
			if out.Encr != in.Encr || out.EncrKeyBits != in.EncrKeyBits || out.Mode != in.Mode || out.Encap != in.Encap {
				t.Errorf("%s outbound %08x: transform or mode differs: %+v / %+v", x.name, spi, out, in)
			}
		}
	}
	check(a, b)
	check(b, a)
}

func (n *node) String() string { return fmt.Sprintf("%s(%v)", n.name, n.addr) }

// inner decrypts a captured protected message with the keys one of the
// peers holds and returns its inner payloads (nil if it cannot).
func inner(t testing.TB, n *node, payload []byte) wire.Payloads {
	t.Helper()
	var m wire.Message
	msg := slices.Clone(payload)
	if err := wire.ParseMessage(msg, &m); err != nil {
		return nil
	}
	h := m.Header
	for _, ike := range n.known {
		if ike.spis.I != h.SPIi() || ike.spis.R != h.SPIr() {
			continue
		}
		k := &ike.keys
		ek, ak := k.SKei, k.SKai
		if !h.Flags().Initiator() {
			ek, ak = k.SKer, k.SKar
		}
		sk, err := ike.suite.NewSK(ek, ak, nil)
		if err != nil {
			t.Fatal(err)
		}
		e, ok := m.Encrypted()
		if !ok {
			return nil
		}
		pt, err := sk.Open(e.Message, len(e.AssociatedData()))
		if err != nil {
			t.Fatalf("cannot open %v message: %v", h.ExchangeType(), err)
		}
		ps, err := wire.ParsePayloads(pt, e.Next, nil)
		if err != nil {
			t.Fatal(err)
		}
		return ps
	}
	return nil
}

// messages returns the captured messages of an exchange type, requests or
// responses.
func (nw *network) messages(ex wire.ExchangeType, response bool) [][]byte {
	var r [][]byte
	for _, dg := range nw.trace {
		h, err := wire.ParseHeader(dg.Payload)
		if err == nil && h.ExchangeType() == ex && h.Flags().Response() == response {
			r = append(r, dg.Payload)
		}
	}
	return r
}
