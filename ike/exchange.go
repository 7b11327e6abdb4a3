package ike

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"time"

	"github.com/mip6ha/mip6ha/ike/ikecrypto"
	"github.com/mip6ha/mip6ha/ike/wire"
)

// exchange is the initiator side of one exchange: it builds our request and
// handles the peer's answer (strongSwan's build_i/process_i of a task). The
// responder side of each exchange is a method of SA (respondAuth,
// respondCreateChild, respondInformational). Exchanges are queued on an
// ikeSA and sent one at a time; the manager (this file) owns Message IDs,
// retransmission and the response cache.
type exchange interface {
	// kind is the exchange type of the request.
	kind() wire.ExchangeType
	// request returns the complete message with Message ID id, protected
	// unless it is IKE_SA_INIT, or errSkip if it is no longer needed.
	request(sa *SA, ike *ikeSA, id uint32, now time.Time) ([]byte, error)
	// response handles the peer's answer: for IKE_SA_INIT the message's
	// payloads, otherwise the decrypted content.
	response(sa *SA, ike *ikeSA, in *inbound, now time.Time)
	// timeout is called when retransmission gave up.
	timeout(sa *SA, ike *ikeSA, now time.Time)
}

// screener is implemented by exchanges whose answers are not
// authenticated (IKE_SA_INIT): accept false drops an answer silently and
// keeps the request in flight (RFC 5685 §3, RFC 7296 §2.4).
type screener interface {
	accept(sa *SA, in *inbound) bool
}

// secretHolder is implemented by exchanges that keep a D-H private key
// between their request and its answer.
type secretHolder interface {
	// zeroSecrets destroys the key. A request built again after it (an
	// INVALID_KE_PAYLOAD retry, which changes the group) makes a new one.
	zeroSecrets()
}

// zeroSecrets destroys the D-H key of ex, if it holds one, once its answer
// is handled or it timed out.
func zeroSecrets(ex exchange) {
	if s, ok := ex.(secretHolder); ok {
		s.zeroSecrets()
	}
}

// errSkip tells the manager that a queued exchange has nothing to send.
var errSkip = errors.New("ike: exchange no longer needed")

// inbound is a received message being processed.
type inbound struct {
	dg  Datagram
	hdr wire.Header
	// ps are the payloads to process: the message's chain for IKE_SA_INIT,
	// the decrypted content of the SK payload otherwise.
	ps wire.Payloads
}

func (in *inbound) first(t wire.PayloadType) (wire.RawPayload, bool) { return in.ps.First(t) }

func (in *inbound) has(t wire.PayloadType) bool {
	_, ok := in.ps.First(t)
	return ok
}

// notify returns the first Notify of type t.
func (in *inbound) notify(t wire.NotifyType) (wire.Notify, bool) { return in.ps.Notify(t) }

// notifies returns every Notify payload in order.
func (in *inbound) notifies() []wire.Notify {
	var ns []wire.Notify
	for _, p := range in.ps {
		if p.Type == wire.PayloadNotify {
			if n, err := wire.ParseNotify(p.Body); err == nil {
				ns = append(ns, n)
			}
		}
	}
	return ns
}

// errorNotify returns the first Notify of an error type (RFC 7296 §3.10.1).
func (in *inbound) errorNotify() (wire.Notify, bool) {
	for _, n := range in.notifies() {
		if n.Type.IsError() {
			return n, true
		}
	}
	return wire.Notify{}, false
}

// enqueue queues ex on ike and sends it if the window is free.
func (sa *SA) enqueue(ike *ikeSA, ex exchange, now time.Time) {
	ike.queue = append(ike.queue, ex)
	sa.pump(ike, now)
}

// pump sends queued requests while the window (of 1) is free.
func (sa *SA) pump(ike *ikeSA, now time.Time) {
	for ike.pending == nil && len(ike.queue) > 0 && !sa.done {
		ex := ike.queue[0]
		ike.queue = ike.queue[1:]
		msg, err := ex.request(sa, ike, ike.nextID, now)
		if errors.Is(err, errSkip) {
			continue
		}
		if err != nil {
			sa.emit(ExchangeFailed{SPIs: ike.spis, Exchange: ex.kind(), Err: err})
			continue
		}
		ike.pending = &request{id: ike.nextID, ex: ex, msg: msg, sent: 1, next: now.Add(sa.cfg.Retransmit.interval(0)), created: now}
		ike.nextID++
		sa.send(msg)
	}
}

// retransmit resends the request in flight of ike, or gives up.
func (sa *SA) retransmit(ike *ikeSA, now time.Time) {
	req := ike.pending
	if req == nil || now.Before(req.next) {
		return
	}
	if req.sent > sa.cfg.Retransmit.Tries {
		ike.pending = nil
		req.ex.timeout(sa, ike, now)
		zeroSecrets(req.ex)
		sa.pump(ike, now)
		return
	}
	req.next = now.Add(sa.cfg.Retransmit.interval(req.sent))
	req.sent++
	sa.stats.Retransmitted++
	sa.send(req.msg)
}

// protected builds a protected message on ike carrying payloads.
func (sa *SA) protected(ike *ikeSA, ex wire.ExchangeType, id uint32, response bool, payloads ...wire.Payload) ([]byte, error) {
	var b wire.Builder
	b.ResetChain(nil)
	for _, p := range payloads {
		b.Add(p)
	}
	chain, err := b.Finish()
	if err != nil {
		return nil, err
	}
	return ike.protect(wire.HeaderFields{SPIi: ike.spis.I, SPIr: ike.spis.R, ExchangeType: ex, Flags: ike.flags(response), MessageID: id}, b.First(), chain)
}

// receiveResponse handles a response on ike.
func (sa *SA) receiveResponse(ike *ikeSA, dg Datagram, m *wire.Message, now time.Time) {
	req := ike.pending
	h := m.Header
	if req == nil || h.MessageID() != req.id || h.ExchangeType() != req.ex.kind() {
		sa.stats.DroppedMessageID++ // not the answer we wait for (RFC 7296 §2.3)
		return
	}
	in := &inbound{dg: dg, hdr: h}
	if h.ExchangeType() == wire.ExchangeIKESAInit {
		in.ps = m.Payloads
		if s, ok := req.ex.(screener); ok && !s.accept(sa, in) {
			return
		}
	} else {
		if err := ike.unprotect(m); err != nil {
			if errors.Is(err, ikecrypto.ErrIntegrity) || errors.Is(err, ErrProtocol) {
				sa.stats.DroppedIntegrity++ // forged or corrupted (RFC 7296 §2.21.2)
				return
			}
			// An authenticated but malformed response: the request failed.
			ike.pending = nil
			sa.lastRecv = now
			req.ex.response(sa, ike, &inbound{dg: dg, hdr: h}, now)
			zeroSecrets(req.ex)
			sa.pump(ike, now)
			return
		}
		// Payloads an answer may not carry are left out, not fatal
		// (requests, in contrast, are refused with INVALID_SYNTAX).
		in.ps = allowedOnly(h.ExchangeType(), true, m.Inner)
		sa.followPeer(dg, now)
	}
	ike.pending = nil
	sa.lastRecv = now
	req.ex.response(sa, ike, in, now)
	// Before pump: a retry queued by response makes its own key.
	zeroSecrets(req.ex)
	sa.pump(ike, now)
}

// receiveRequest handles a request on ike: replays the cached response to a
// retransmission, processes a new request, drops anything else (RFC 7296
// §2.1, §2.3).
func (sa *SA) receiveRequest(ike *ikeSA, dg Datagram, m *wire.Message, now time.Time) {
	h := m.Header
	id := h.MessageID()
	if ike.lastResp != nil && id == ike.peerNext-1 {
		if sha256.Sum256(dg.Payload) == ike.lastReqHash {
			sa.stats.Replayed++
			sa.sendTo(ike.lastResp, dg)
		} else {
			sa.stats.DroppedMessageID++
		}
		return
	}
	if id != ike.peerNext || h.ExchangeType() == wire.ExchangeIKESAInit {
		sa.stats.DroppedMessageID++
		return
	}
	hash := sha256.Sum256(dg.Payload)
	ex := h.ExchangeType()
	var resp []wire.Payload
	var after func()
	if err := ike.unprotect(m); err != nil {
		if errors.Is(err, ikecrypto.ErrIntegrity) || errors.Is(err, ErrProtocol) {
			sa.stats.DroppedIntegrity++ // drop silently (RFC 7296 §2.21.2)
			return
		}
		n, ok := wire.ErrorNotify(err)
		if !ok {
			n = wire.Notify{Type: wire.NotifyInvalidSyntax}
		}
		resp = []wire.Payload{&n}
	} else if err := checkRules(ex, false, m.Inner); err != nil {
		t, ok := notifyOf(err)
		if !ok {
			t = wire.NotifyInvalidSyntax
		}
		resp = []wire.Payload{&wire.Notify{Type: t}}
	} else {
		in := &inbound{dg: dg, hdr: h, ps: m.Inner}
		sa.lastRecv = now
		sa.followPeer(dg, now)
		switch ex {
		case wire.ExchangeIKEAuth:
			resp, after = sa.respondAuth(ike, in, now)
		case wire.ExchangeCreateChildSA:
			resp, after = sa.respondCreateChild(ike, in, now)
		case wire.ExchangeInformational:
			resp, after = sa.respondInformational(ike, in, now)
		default:
			return
		}
	}
	msg, err := sa.protected(ike, ex, id, true, resp...)
	if err != nil {
		sa.emit(ExchangeFailed{SPIs: ike.spis, Exchange: ex, Err: fmt.Errorf("building the response: %w", err)})
		return
	}
	ike.peerNext++
	ike.lastReqHash = hash
	ike.lastResp = msg
	sa.stats.Answered++
	sa.sendTo(msg, dg)
	if after != nil {
		after()
	}
}
