package wire

import (
	"net/netip"
	"testing"
)

// initRequestPayloads returns the payloads of a typical IKE_SA_INIT request
// from our mobile node: three proposals, KE for X25519, a 32-octet nonce,
// both NAT detection notifies, REDIRECT_SUPPORTED and
// SIGNATURE_HASH_ALGORITHMS.
func initRequestPayloads() []Payload {
	nat := make([]byte, NATDetectionHashLen)
	return []Payload{
		&SA{Proposals: []Proposal{
			{Number: 1, ProtocolID: ProtocolIKE, Transforms: []Transform{
				EncrTransform(EncrAESGCM16, 256), EncrTransform(EncrAESGCM16, 128),
				PRFTransform(PRFHMACSHA2_256), PRFTransform(PRFHMACSHA2_512),
				DHTransform(DHCurve25519), DHTransform(DHECP256), DHTransform(DHMODP2048),
			}},
			{Number: 2, ProtocolID: ProtocolIKE, Transforms: []Transform{
				EncrTransform(EncrChaCha20Poly1305, 0),
				PRFTransform(PRFHMACSHA2_256),
				DHTransform(DHCurve25519), DHTransform(DHECP256),
			}},
			{Number: 3, ProtocolID: ProtocolIKE, Transforms: []Transform{
				EncrTransform(EncrAESCBC, 256), EncrTransform(EncrAESCBC, 128),
				IntegTransform(IntegHMACSHA2_256_128), IntegTransform(IntegHMACSHA2_512_256),
				PRFTransform(PRFHMACSHA2_256),
				DHTransform(DHCurve25519), DHTransform(DHMODP2048),
			}},
		}},
		&KE{Group: DHCurve25519, Data: make([]byte, 32)},
		&Nonce{Data: make([]byte, 32)},
		&Notify{Type: NotifyNATDetectionSourceIP, Data: nat},
		&Notify{Type: NotifyNATDetectionDestinationIP, Data: nat},
		&Notify{Type: NotifyRedirectSupported},
		&Notify{Type: NotifySignatureHashAlgorithms, Data: AppendHashAlgorithms(nil, HashSHA2_256, HashSHA2_384, HashSHA2_512)},
	}
}

var initRequestHeader = HeaderFields{SPIi: 0x0123456789abcdef, ExchangeType: ExchangeIKESAInit, Flags: FlagInitiator}

func initRequest(t testing.TB) []byte {
	var b Builder
	b.Reset(nil, initRequestHeader)
	for _, p := range initRequestPayloads() {
		b.Add(p)
	}
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// BenchmarkParseInitRequest is what a responder does first with an
// IKE_SA_INIT request: check the message and decode the payloads it decides
// on (SA, KE, Nonce, notifies).
func BenchmarkParseInitRequest(b *testing.B) {
	msg := initRequest(b)
	var (
		m  Message
		sa SA
	)
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := ParseMessage(msg, &m); err != nil {
			b.Fatal(err)
		}
		for _, p := range m.Payloads {
			switch p.Type {
			case PayloadSA:
				if err := ParseSA(p.Body, &sa); err != nil {
					b.Fatal(err)
				}
			case PayloadKE:
				if _, err := ParseKE(p.Body); err != nil {
					b.Fatal(err)
				}
			case PayloadNonce:
				if _, err := ParseNonce(p.Body); err != nil {
					b.Fatal(err)
				}
			case PayloadNotify:
				if _, err := ParseNotify(p.Body); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
}

// BenchmarkEncodeInitRequest encodes the same request into a reused buffer
// from payload values held in reused storage.
func BenchmarkEncodeInitRequest(b *testing.B) {
	payloads := initRequestPayloads()
	buf := make([]byte, 0, 1500)
	var bld Builder
	b.ReportAllocs()
	b.SetBytes(int64(len(initRequest(b))))
	for b.Loop() {
		bld.Reset(buf[:0], initRequestHeader)
		for _, p := range payloads {
			bld.Add(p)
		}
		if _, err := bld.Finish(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedirectResponse is the home agent's IKE_SA_INIT redirect path:
// parse the request, find Ni and REDIRECT_SUPPORTED, build the response that
// carries only the REDIRECT.
func BenchmarkRedirectResponse(b *testing.B) {
	msg := initRequest(b)
	buf := make([]byte, 0, 1500)
	var (
		m   Message
		bld Builder
		r   = Redirect{Gateway: GatewayAddr(netip.MustParseAddr("2001:db8:1::2"))}
	)
	b.ReportAllocs()
	for b.Loop() {
		if err := ParseMessage(msg, &m); err != nil {
			b.Fatal(err)
		}
		if _, ok := m.Payloads.Notify(NotifyRedirectSupported); !ok {
			b.Fatal("no REDIRECT_SUPPORTED")
		}
		p, _ := m.Payloads.First(PayloadNonce)
		r.Nonce = p.Body
		h := m.Header.Fields()
		h.Flags = FlagResponse
		bld.Reset(buf[:0], h)
		bld.Add(&r)
		if _, err := bld.Finish(); err != nil {
			b.Fatal(err)
		}
	}
}
