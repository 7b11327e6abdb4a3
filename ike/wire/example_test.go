package wire_test

import (
	"fmt"
	"net/netip"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// A home agent answers an IKE_SA_INIT request that announced
// REDIRECT_SUPPORTED with a response that carries only a REDIRECT to another
// home agent, echoing the request's Ni (RFC 5685 §3).
func Example_redirect() {
	// The request, as a client would build it.
	ni := make([]byte, 32)
	var b wire.Builder
	b.Reset(nil, wire.HeaderFields{SPIi: 0x0102030405060708, ExchangeType: wire.ExchangeIKESAInit, Flags: wire.FlagInitiator})
	b.Add(wire.Nonce{Data: ni})
	b.Add(wire.Notify{Type: wire.NotifyRedirectSupported})
	request, _ := b.Finish()

	// The home agent parses it ...
	var m wire.Message
	if err := wire.ParseMessage(request, &m); err != nil {
		if n, ok := wire.ErrorNotify(err); ok {
			fmt.Println("answer with", n.Type)
		}
		return
	}
	if _, ok := m.Payloads.Notify(wire.NotifyRedirectSupported); !ok {
		return // never redirect a client that did not ask for it
	}
	nonce, _ := m.Payloads.First(wire.PayloadNonce)

	// ... and answers from the request's header.
	h := m.Header.Fields()
	h.Flags = wire.FlagResponse
	b.Reset(nil, h)
	b.Add(wire.Redirect{Gateway: wire.GatewayAddr(netip.MustParseAddr("2001:db8:1::2")), Nonce: nonce.Body})
	response, _ := b.Finish()
	fmt.Printf("%d octets: %x\n", len(response), response[28:46])

	// The client checks the REDIRECT against its own Ni.
	if err := wire.ParseMessage(response, &m); err != nil {
		return
	}
	n, _ := m.Payloads.Notify(wire.NotifyRedirect)
	r, err := n.Redirect(m.Header.ExchangeType(), ni)
	fmt.Println(r.Gateway, err)
	// Output:
	// 86 octets: 0000003a00004017021020010db800010000
	// 2001:db8:1::2 <nil>
}
