package ike

import (
	"bytes"
	"testing"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// traceparent is the W3C Trace Context example (Level 2, §3.2.2.1).
var traceparent = []byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")

// stripNotify returns msg, an unprotected IKE message, without its notifies
// of type t: what a gateway that does not know t would have sent.
func stripNotify(t *testing.T, msg []byte, nt wire.NotifyType) []byte {
	t.Helper()
	var m wire.Message
	if err := wire.ParseMessage(msg, &m); err != nil {
		t.Fatal(err)
	}
	h := m.Header
	var b wire.Builder
	b.Reset(nil, wire.HeaderFields{SPIi: h.SPIi(), SPIr: h.SPIr(), ExchangeType: h.ExchangeType(), Flags: h.Flags(), MessageID: h.MessageID()})
	for _, p := range m.Payloads {
		if n, err := wire.ParseNotify(p.Body); p.Type == wire.PayloadNotify && err == nil && n.Type == nt {
			continue
		}
		b.Add(p)
	}
	out, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// hasNotify reports whether the payloads hold a Notify of type nt.
func hasNotify(ps wire.Payloads, nt wire.NotifyType) bool {
	_, ok := ps.Notify(nt)
	return ok
}

// The private-use TRACE_CONTEXT (docs/ike.md §9) travels in the IKE_AUTH
// request only between peers that negotiated the project's extensions: the
// client announced NotifyRedirectPortSupported and the gateway answered
// with it in IKE_SA_INIT. The gateway hands the octets to its hooks and
// reports them in IKEUp. A client that did not announce the extensions, or
// a gateway that did not answer (a standard one), never sees them, and
// neither does such a gateway get the handover ticket.
func TestTraceContextOnlyWhenNegotiated(t *testing.T) {
	for _, tc := range []struct {
		name string
		// announce: the client announces the extensions; standard: the
		// gateway's answer lacks them (as a standard gateway's).
		announce, standard bool
	}{
		{"negotiated", true, false},
		{"client without extensions", false, false},
		{"standard gateway", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ic, rc, pool := pairConfig(16)
			ic.RedirectExtensions = tc.announce
			ic.TraceContext = traceparent
			ic.Ticket = []byte("ticket-7")
			rd := &redirector{}
			rc.Redirector = rd
			p := newPair(t, ic, rc)
			if tc.standard {
				p.filter = func(dg Datagram) verdict {
					h, err := wire.ParseHeader(dg.Payload)
					if err == nil && h.ExchangeType() == wire.ExchangeIKESAInit && h.Flags().Response() {
						p.mn.receive(p.now, Datagram{Local: dg.Remote, Remote: dg.Local, Payload: stripNotify(t, dg.Payload, wire.NotifyRedirectPortSupported)}, nil)
						return drop
					}
					return deliver
				}
			}
			p.start()
			p.run()
			var initResp wire.Message
			if err := wire.ParseMessage(p.messages(wire.ExchangeIKESAInit, true)[0], &initResp); err != nil {
				t.Fatal(err)
			}
			if echoed := hasNotify(initResp.Payloads, wire.NotifyRedirectPortSupported); echoed != tc.announce {
				t.Errorf("gateway answered the extensions %v, client announced them %v", echoed, tc.announce)
			}
			auth := inner(t, p.mn, p.messages(wire.ExchangeIKEAuth, false)[0])
			sent := hasNotify(auth, wire.NotifyTraceContext)
			negotiated := tc.announce && !tc.standard
			if sent != negotiated || hasNotify(auth, wire.NotifyHandoverTicket) != negotiated {
				t.Fatalf("IKE_AUTH request carries TRACE_CONTEXT %v, HANDOVER_TICKET %v; want %v", sent, hasNotify(auth, wire.NotifyHandoverTicket), negotiated)
			}
			if tc.standard {
				return // the initiator refuses the altered exchange's AUTH
			}
			var want []byte
			if negotiated {
				want = traceparent
			}
			if len(pool.requests) != 1 || !bytes.Equal(pool.requests[0].TraceContext, want) {
				t.Errorf("address request %+v, want trace context %q", pool.requests, want)
			}
			if len(rd.auths) != 1 || !bytes.Equal(rd.auths[0].TraceContext, want) {
				t.Errorf("AtAuth asked %+v, want trace context %q", rd.auths, want)
			}
			up := eventsOf[IKEUp](p.ha)
			if len(up) != 1 || !bytes.Equal(up[0].TraceContext, want) {
				t.Fatalf("responder IKEUp %+v, want trace context %q", up, want)
			}
			if iu := eventsOf[IKEUp](p.mn); len(iu) != 1 || iu[0].TraceContext != nil {
				t.Errorf("initiator IKEUp %+v", iu)
			}
		})
	}
}
