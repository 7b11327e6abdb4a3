package homeagent

import (
	"container/heap"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/mip6ha/mip6ha/homeagent/dataplane"
	"github.com/mip6ha/mip6ha/homeagent/telemetry"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
)

// A shard is one goroutine that owns a share of the IKE SAs: every SA whose
// local SPIs carry the shard's number (see spiAllocator), found by SPI
// without any lock. It reads received IKE messages from a bounded inbox,
// runs commands posted to its mailbox, and keeps one timer armed for the
// earliest deadline of its SAs. Each shard has its own first-packet
// Responder, so the SAs it creates get SPIs of the shard.
type shard struct {
	rt        *Runtime
	idx       int
	template  ike.Config // the SA configuration; initiators copy and complete it
	responder *ike.Responder
	threshold int
	cookies   bool // DemandCookies is on

	inbox chan inboundMsg
	drops atomic.Uint64

	mu   sync.Mutex
	mail []func(time.Time)
	wake chan struct{}
	done chan struct{}

	byID   map[SAID]*entry
	bySPI  map[uint64]*entry
	byInit map[ike.InitKey]*entry
	timers deadlines
	timer  *time.Timer
	armed  time.Time

	out   []dataplane.Datagram
	outSA map[uint32]*dataplane.SA // by OutSPI
	inSA  map[uint32]*dataplane.SA // by InSPI

	recent  [64]uint32 // CHILD_SA SPIs handed out, not necessarily installed yet
	recentN int

	stopping bool
	stopAt   time.Time

	// x is the IKE exchange being answered, between startExchange and
	// endExchange: its span's context reaches the address pool.
	x exchange
}

// exchange is the span of one IKE exchange the shard answers.
type exchange struct {
	ctx    context.Context
	span   trace.Span
	name   string
	result string // "" while nothing went wrong
	// deferred holds the start options of an IKE_AUTH span until its
	// parent is known: the request may carry the trace context of the
	// node's move (the private-use TRACE_CONTEXT), which the engine reads
	// only once it has decrypted the request (see exchangeContext).
	deferred []trace.SpanStartOption
}

// entry is one IKE SA of a shard.
type entry struct {
	id       SAID
	sa       *ike.SA
	spis     []uint64 // local SPIs routed to the SA
	initKey  ike.InitKey
	peer     ike.ID
	up       bool // IKEUp seen, IKEDown not yet: counted in the IKE SA gauge
	deadline time.Time
	index    int // in the shard's deadlines heap, -1 when not there
}

func (e *entry) info() SAInfo {
	return SAInfo{ID: e.id, SPIs: e.sa.SPIs(), State: e.sa.State(), Initiator: e.sa.Initiator(), Path: e.sa.Path(),
		Peer: e.sa.PeerID(), Assignment: e.sa.Assignment(), Children: e.sa.Children()}
}

// inboundMsg is a received IKE message waiting in a shard's inbox.
type inboundMsg struct {
	dg  ike.Datagram
	buf *[]byte // pooled storage of dg.Payload
}

// inboxBatch is how many queued messages a shard handles per wake-up
// before it flushes its datagrams.
const inboxBatch = 64

func newShard(rt *Runtime, idx int) (*shard, error) {
	s := &shard{
		rt: rt, idx: idx,
		inbox:  make(chan inboundMsg, rt.set.inboxDepth),
		wake:   make(chan struct{}, 1),
		done:   make(chan struct{}),
		byID:   map[SAID]*entry{},
		bySPI:  map[uint64]*entry{},
		byInit: map[ike.InitKey]*entry{},
		outSA:  map[uint32]*dataplane.SA{},
		inSA:   map[uint32]*dataplane.SA{},
	}
	set := rt.set
	s.template = ike.Config{
		Credentials:      rt.creds,
		IKEProposals:     set.ikeProposals,
		ESPProposals:     set.espProposals,
		LocalTS:          selectorsOf(set.localTS),
		Mode:             ike.Tunnel,
		TSPolicy:         homeTSPolicy{local: selectorsOf(set.localTS)},
		ForceEncap:       set.cfg.ForceEncap,
		NATTPort:         rt.nattPort,
		Retransmit:       rt.opts.Retransmit,
		IKERekeyTime:     set.cfg.IKERekey,
		ChildRekeyTime:   set.cfg.ChildRekey,
		LivenessInterval: set.cfg.Liveness,
		KeyLog:           rt.keylog,
		SPIs:             spiAllocator{s},
	}
	if c, ok := rt.creds.(*Credentials); ok {
		s.template.CertReqCAs = c.CAs
	}
	if rt.pool != nil {
		s.template.Addresses = shardAssigner{s}
	}
	s.template.HalfOpenTimeout = set.cfg.HalfOpenTimeout
	s.x.ctx = context.Background()
	s.threshold = set.cfg.CookieThreshold
	if s.threshold == 0 {
		s.threshold = DefaultCookieThreshold
	}
	rc := ike.ResponderConfig{CookieThreshold: s.threshold}
	rt.redirect.configure(&s.template, &rc)
	rc.Config = s.template
	var err error
	s.responder, err = ike.NewResponder(rc)
	if err != nil {
		return nil, err
	}
	return s, nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// enqueue copies a received IKE datagram into the inbox, or drops it (and
// counts the drop) when the inbox is full. It runs on a socket goroutine.
func (s *shard) enqueue(dg ike.Datagram) {
	var buf *[]byte
	if len(dg.Payload) <= 2048 {
		buf = bufPool.Get().(*[]byte)
		*buf = append((*buf)[:0], dg.Payload...)
		dg.Payload = *buf
	} else {
		dg.Payload = append([]byte(nil), dg.Payload...)
	}
	select {
	case s.inbox <- inboundMsg{dg: dg, buf: buf}:
	default:
		s.drops.Add(1)
		if buf != nil {
			bufPool.Put(buf)
		}
	}
}

// post queues f to run on the shard's goroutine. It never blocks and never
// drops: commands, cross-shard requests and the dataplane's rekey requests
// come this way.
func (s *shard) post(f func(now time.Time)) {
	s.mu.Lock()
	s.mail = append(s.mail, f)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// call runs f on the shard's goroutine and returns its error.
func (s *shard) call(ctx context.Context, f func(now time.Time) error) error {
	res := make(chan error, 1)
	s.post(func(now time.Time) { res <- f(now) })
	select {
	case err := <-res:
		return err
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		select {
		case err := <-res:
			return err
		default:
			return ErrStopped
		}
	}
}

// run is the shard's goroutine. When ctx ends it deletes its SAs and
// returns once they are gone or the shutdown timeout has passed.
func (s *shard) run(ctx context.Context) {
	defer close(s.done)
	s.timer = time.NewTimer(time.Hour)
	s.timer.Stop()
	defer s.timer.Stop()
	stop := ctx.Done()
	for {
		select {
		case m := <-s.inbox:
			s.receive(m)
		drain:
			for range inboxBatch - 1 {
				select {
				case m := <-s.inbox:
					s.receive(m)
				default:
					break drain
				}
			}
		case <-s.wake:
			s.runMail()
		case <-s.timer.C:
			s.armed = time.Time{}
			s.expire(time.Now())
		case <-stop:
			stop = nil
			s.shutdown(time.Now())
		}
		s.flush()
		if s.stopping && len(s.byID) == 0 {
			s.runMail()
			s.flush()
			return
		}
		s.arm()
	}
}

func (s *shard) runMail() {
	s.mu.Lock()
	mail := s.mail
	s.mail = nil
	s.mu.Unlock()
	for _, f := range mail {
		f(time.Now())
	}
}

// receive routes one IKE message: to the SA of its SPI, to the half-open SA
// its IKE_SA_INIT created (a retransmission), or to the Responder.
func (s *shard) receive(m inboundMsg) {
	defer func() {
		if m.buf != nil {
			bufPool.Put(m.buf)
		}
	}()
	now := time.Now()
	s.logMessage("IKE message received", m.dg)
	spi, ok := ike.LocalSPI(m.dg.Payload)
	if !ok {
		s.rt.unroutable.Add(1)
		return
	}
	s.startExchange(m.dg)
	defer s.endExchange()
	if spi != 0 {
		e := s.bySPI[spi]
		if e == nil {
			s.rt.unroutable.Add(1)
			return
		}
		e.sa.Receive(now, m.dg)
		s.drive(e, now)
		return
	}
	key := ike.InitKey{SPIi: spiI(m.dg.Payload), Remote: m.dg.Remote}
	if e := s.byInit[key]; e != nil {
		e.sa.Receive(now, m.dg)
		s.drive(e, now)
		return
	}
	if s.stopping {
		return
	}
	s.demandCookies()
	res := s.responder.Handle(now, m.dg)
	s.x.result = outcomeResult(res.Outcome)
	if res.Reply.Payload != nil {
		s.send(res.Reply)
	}
	if res.SA != nil {
		e := s.add(res.SA)
		s.drive(e, now)
		return
	}
	if res.Outcome != ike.AnsweredCookie && s.rt.log.Enabled(context.Background(), slog.LevelDebug) {
		s.rt.log.Debug("IKE_SA_INIT not accepted", "outcome", res.Outcome.String(), "remote", m.dg.Remote.String(), "err", res.Err)
	}
}

// demandCookies turns the shard's COOKIE demand on when it is under load:
// its inbox half full, or the half-open IKE SAs of all shards at the
// threshold (RFC 7296 §2.6).
func (s *shard) demandCookies() {
	load := len(s.inbox) > cap(s.inbox)/2 || s.threshold > 0 && s.rt.halfOpen() >= s.threshold
	if load != s.cookies {
		s.cookies = load
		s.responder.DemandCookies(load)
		s.rt.log.Info("COOKIE demand", "on", load, "shard", s.idx, "half_open", s.rt.halfOpen(), "inbox", len(s.inbox))
	}
}

// add registers a new SA of the shard.
func (s *shard) add(sa *ike.SA) *entry {
	id := SAID(s.rt.nextID.Add(1)<<8 | uint64(s.idx))
	e := &entry{id: id, sa: sa, index: -1, initKey: sa.InitKey()}
	s.byID[id] = e
	if spi := sa.LocalSPI(); spi != 0 {
		s.route(e, spi)
	}
	if e.initKey.SPIi != 0 {
		s.byInit[e.initKey] = e
	}
	return e
}

// route makes messages with our SPI spi reach e.
func (s *shard) route(e *entry, spi uint64) {
	if int(spi%uint64(len(s.rt.shards))) != s.idx {
		s.rt.log.Error("IKE SPI of another shard: messages will not reach the SA", "sa", e.id, "spi", spi, "shard", s.idx)
	}
	s.bySPI[spi] = e
	e.spis = append(e.spis, spi)
}

func (s *shard) unroute(e *entry, spi uint64) {
	if s.bySPI[spi] == e {
		delete(s.bySPI, spi)
	}
	for i, x := range e.spis {
		if x == spi {
			e.spis = append(e.spis[:i], e.spis[i+1:]...)
			break
		}
	}
}

// remove forgets an SA that is Done.
func (s *shard) remove(e *entry) {
	for _, spi := range e.spis {
		if s.bySPI[spi] == e {
			delete(s.bySPI, spi)
		}
	}
	e.spis = nil
	if s.byInit[e.initKey] == e {
		delete(s.byInit, e.initKey)
	}
	delete(s.byID, e.id)
	if e.index >= 0 {
		heap.Remove(&s.timers, e.index)
	}
}

// drive carries out what the SA has ready, in the order ike.Ready
// prescribes: CHILD_SA operations, events (routing first), datagrams and
// keepalives, then the timer.
func (s *shard) drive(e *entry, now time.Time) {
	r := e.sa.Ready()
	for _, op := range r.ChildOps {
		s.apply(e, op)
	}
	for _, ev := range r.Events {
		s.event(e, ev, now)
	}
	for _, d := range r.Datagrams {
		s.send(d)
	}
	for _, k := range r.Keepalives {
		if err := s.rt.dp.SendKeepalive(k.Local, k.Remote); err != nil {
			s.rt.log.Debug("NAT keepalive not sent", "sa", e.id, "err", err)
		}
	}
	e.sa.Advance()
	if e.sa.Done() {
		s.remove(e)
		return
	}
	s.schedule(e, r.Deadline)
}

// send queues an IKE datagram for the next flush.
func (s *shard) send(d ike.Datagram) {
	local := d.Local
	switch {
	case d.NATT:
		local = netip.AddrPortFrom(local.Addr(), s.rt.nattPort)
	case local.Port() == 0:
		local = netip.AddrPortFrom(local.Addr(), s.rt.ikePort)
	}
	s.logMessage("IKE message sent", d)
	s.out = append(s.out, dataplane.Datagram{Local: local, Remote: d.Remote, Payload: d.Payload})
}

// flush writes the queued datagrams in one batch.
func (s *shard) flush() {
	if len(s.out) == 0 {
		return
	}
	if n, err := s.rt.dp.WriteIKE(s.out); err != nil {
		s.rt.log.Warn("IKE datagrams not sent", "sent", n, "queued", len(s.out), "err", err)
	}
	clear(s.out)
	s.out = s.out[:0]
}

// logMessage logs an IKE message at debug level.
func (s *shard) logMessage(what string, d ike.Datagram) {
	if !s.rt.log.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	h, ok := parseHeader(d.Payload)
	if !ok {
		s.rt.log.Debug(what, "remote", d.Remote.String(), "len", len(d.Payload), "malformed", true)
		return
	}
	s.rt.log.Debug(what, "exchange", h.ExchangeType().String(), "response", h.Flags().Response(), "msgid", h.MessageID(),
		"spis", ike.SPIs{I: h.SPIi(), R: h.SPIr()}.String(), "local", d.Local.String(), "remote", d.Remote.String(),
		"natt", d.NATT, "len", len(d.Payload))
}

// shutdown starts the graceful end: every established IKE SA is deleted
// (the peer is told), the others are closed at once.
func (s *shard) shutdown(now time.Time) {
	s.stopping = true
	s.stopAt = now.Add(s.rt.set.cfg.ShutdownTimeout)
	for _, e := range s.sorted() {
		if e.sa.State() == ike.StateEstablished {
			if err := e.sa.Delete(now); err != nil {
				e.sa.Close(now)
			}
		} else if e.sa.State() != ike.StateDeleting {
			e.sa.Close(now)
		}
		s.drive(e, now)
	}
}

// sorted returns the shard's SAs in id order (map order is random; a
// stable order keeps logs readable).
func (s *shard) sorted() []*entry {
	es := make([]*entry, 0, len(s.byID))
	for _, e := range s.byID {
		es = append(es, e)
	}
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].id < es[j-1].id; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
	return es
}

// schedule records when e next needs Tick.
func (s *shard) schedule(e *entry, d time.Time) {
	switch {
	case d.IsZero():
		if e.index >= 0 {
			heap.Remove(&s.timers, e.index)
		}
	case e.index >= 0:
		e.deadline = d
		heap.Fix(&s.timers, e.index)
	default:
		e.deadline = d
		heap.Push(&s.timers, e)
	}
}

// expire ticks every SA whose deadline has come and, while stopping, closes
// what is left once the shutdown timeout has passed.
func (s *shard) expire(now time.Time) {
	var due []*entry
	for len(s.timers) > 0 && !s.timers[0].deadline.After(now) {
		due = append(due, heap.Pop(&s.timers).(*entry))
	}
	for _, e := range due {
		if s.byID[e.id] != e {
			continue
		}
		e.sa.Tick(now)
		s.drive(e, now)
	}
	if s.stopping && !now.Before(s.stopAt) {
		for _, e := range s.sorted() {
			s.rt.log.Info("closing IKE SA at shutdown without an answer from the peer", "sa", e.id, "spis", e.sa.SPIs().String())
			e.sa.Close(now)
			s.drive(e, now)
		}
	}
}

// arm sets the shard's timer to the earliest deadline.
func (s *shard) arm() {
	var at time.Time
	if len(s.timers) > 0 {
		at = s.timers[0].deadline
	}
	if s.stopping && (at.IsZero() || s.stopAt.Before(at)) {
		at = s.stopAt
	}
	if at.IsZero() || at.Equal(s.armed) {
		return
	}
	s.armed = at
	s.timer.Reset(max(time.Until(at), time.Millisecond))
}

// deadlines is a min-heap of entries by deadline.
type deadlines []*entry

func (h deadlines) Len() int           { return len(h) }
func (h deadlines) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h deadlines) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *deadlines) Push(x any) {
	e := x.(*entry)
	e.index = len(*h)
	*h = append(*h, e)
}
func (h *deadlines) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}

// spiAllocator hands out the shard's local SPIs: random, with the shard's
// number as the remainder modulo the number of shards, so that the runtime
// routes a message to its shard by its SPI alone. It runs on the shard's
// goroutine (inside Handle, Receive and commands), where the shard's tables
// may be read.
type spiAllocator struct{ s *shard }

// IKESPI implements ike.SPIAllocator.
func (a spiAllocator) IKESPI() (uint64, error) {
	n := uint64(len(a.s.rt.shards))
	for {
		r, err := randomUint64()
		if err != nil {
			return 0, err
		}
		base := r - r%n
		spi := base + uint64(a.s.idx)
		if spi < base || spi == 0 || a.s.bySPI[spi] != nil {
			continue
		}
		return spi, nil
	}
}

// ChildSPI implements ike.SPIAllocator: unique among the inbound SAs of the
// dataplane and the SPIs recently handed out by this shard (the shard's
// number in the SPI keeps shards apart).
func (a spiAllocator) ChildSPI() (uint32, error) {
	s := a.s
	n := uint64(len(s.rt.shards))
	for {
		r, err := randomUint64()
		if err != nil {
			return 0, err
		}
		v := r & 0xffffffff
		spi := uint32(v - v%n + uint64(s.idx))
		if uint64(spi) < v-v%n || spi < 256 || s.rt.dp.LookupInbound(spi) != nil || s.inSA[spi] != nil || s.recentlyGiven(spi) {
			continue
		}
		s.recent[s.recentN%len(s.recent)] = spi
		s.recentN++
		return spi, nil
	}
}

func (s *shard) recentlyGiven(spi uint32) bool {
	for _, x := range s.recent {
		if x == spi {
			return true
		}
	}
	return false
}

// shardAssigner is the shard's ike.AddressAssigner: it hands the runtime's
// AddressPool the context of the exchange being answered, so that lease
// operations are children of the IKE_AUTH span.
type shardAssigner struct{ s *shard }

// Assign implements ike.AddressAssigner.
func (a shardAssigner) Assign(req ike.AddressRequest) (ike.Assignment, error) {
	return a.s.rt.pool.Assign(a.s.exchangeContext(req.TraceContext), req)
}

// startExchange opens the span of the exchange a received request starts
// (responses answer our own requests and get none). The span of an
// IKE_AUTH request starts when its parent is known (exchangeContext), with
// the time of now.
func (s *shard) startExchange(dg ike.Datagram) {
	h, err := wire.ParseHeader(dg.Payload)
	if err != nil || h.Flags().Response() {
		return
	}
	name := h.ExchangeType().String()
	opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer), trace.WithTimestamp(time.Now()),
		trace.WithAttributes(telemetry.KeyExchange.String(name),
			telemetry.KeySPIi.String(fmt.Sprintf("%016x", h.SPIi())), telemetry.KeySPIr.String(fmt.Sprintf("%016x", h.SPIr())),
			telemetry.KeyMessageID.Int64(int64(h.MessageID())),
			attribute.String("net.peer.address", dg.Remote.String()))}
	s.x.name, s.x.result = name, ""
	if h.ExchangeType() == wire.ExchangeIKEAuth {
		s.x.deferred = opts
		return
	}
	s.x.ctx, s.x.span = s.rt.tracer.Start(context.Background(), name, opts...)
}

// exchangeContext returns the context of the exchange being answered. A
// deferred IKE_AUTH span starts now: as a child of traceparent, the
// trace context the node presented (so that a move is one trace from the
// node through the new home agent), or as a root when there is none or it
// does not parse.
func (s *shard) exchangeContext(traceparent []byte) context.Context {
	if s.x.deferred == nil {
		return s.x.ctx
	}
	parent, err := telemetry.ContextWithTraceparent(context.Background(), traceparent)
	if err != nil {
		s.rt.log.Debug("trace context of the IKE_AUTH request ignored", "err", err)
	}
	s.x.ctx, s.x.span = s.rt.tracer.Start(parent, s.x.name, s.x.deferred...)
	s.x.deferred = nil
	return s.x.ctx
}

// failExchange records why the exchange being answered failed: the name of
// the error notify.
func (s *shard) failExchange(result string) {
	if (s.x.span != nil || s.x.deferred != nil) && s.x.result == "" {
		s.x.result = result
	}
}

// endExchange ends the span of the exchange being answered and counts it.
func (s *shard) endExchange() {
	s.exchangeContext(nil)
	x := s.x
	s.x = exchange{ctx: context.Background()}
	if x.span == nil {
		return
	}
	result := x.result
	if result == "" {
		result = telemetry.ResultOK
	}
	x.span.SetAttributes(telemetry.KeyResult.String(result))
	if result != telemetry.ResultOK {
		x.span.SetStatus(codes.Error, result)
	}
	x.span.End()
	if m := s.rt.opts.Metrics; m != nil {
		m.RecordIKEExchange(x.ctx, x.name, result)
	}
}

// outcomeResult names the first-packet outcome of an IKE_SA_INIT request
// as a result: ok for a new SA, else the notify answered (or the drop).
func outcomeResult(o ike.Outcome) string {
	switch o {
	case ike.Created:
		return telemetry.ResultOK
	case ike.AnsweredRedirect:
		return wire.NotifyRedirect.String()
	case ike.AnsweredCookie:
		return wire.NotifyCookie.String()
	case ike.AnsweredInvalidKE:
		return wire.NotifyInvalidKEPayload.String()
	case ike.AnsweredNoProposal:
		return wire.NotifyNoProposalChosen.String()
	case ike.AnsweredMajorVersion:
		return wire.NotifyInvalidMajorVersion.String()
	case ike.AnsweredCriticalPayload:
		return wire.NotifyUnsupportedCriticalPayload.String()
	}
	return o.String()
}
