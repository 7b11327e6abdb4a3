package ike

import (
	"errors"
	"testing"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// Proposal strings follow strongSwan's syntax and print back the same.
func TestParseProposal(t *testing.T) {
	for _, tc := range []struct{ in, out string }{
		{"aes128-sha256-x25519", "aes128-sha256-prfsha256-x25519"},
		{"aes256gcm16-prfsha384-ecp384-modp2048", "aes256gcm16-prfsha384-ecp384-modp2048"},
		{"AES128GCM16-X25519-ESN", "aes128gcm16-x25519-esn"},
		{"chacha20poly1305-noesn", "chacha20poly1305-noesn"},
	} {
		p, err := ParseProposal(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.in, err)
		}
		if got := p.String(); got != tc.out {
			t.Errorf("%s -> %s, want %s", tc.in, got, tc.out)
		}
	}
	for _, bad := range []string{"", "sha256-x25519", "aes128-md5"} {
		if _, err := ParseProposal(bad); !errors.Is(err, ErrConfig) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	cfg := Config{Credentials: &StaticCredentials{}, IKEProposals: MustProposals("aes128gcm16-aes128-sha256-x25519")}
	if _, err := cfg.resolve(); !errors.Is(err, ErrConfig) {
		t.Errorf("AEAD mixed with CBC in one proposal accepted: %v", err)
	}
	cfg.IKEProposals = MustProposals("aes128gcm16-sha256-prfsha256-x25519")
	if _, err := cfg.resolve(); !errors.Is(err, ErrConfig) {
		t.Errorf("INTEG beside AEAD accepted (RFC 5282 §8): %v", err)
	}
}

// offerOf builds the wire proposals of a peer offer.
func offerOf(proto wire.ProtocolID, spi []byte, withDH bool, ps ...string) []wire.Proposal {
	return offerSA(MustProposals(ps...), proto, spi, withDH, 0).Proposals
}

// RFC 7296 §2.7, §3.3.6: the responder picks one of the initiator's
// proposals, in its own order of preference, one transform of each type;
// a proposal with an unknown transform type or attribute is unacceptable,
// other proposals still count; the KE group decides between otherwise equal
// choices.
func TestProposalSelection(t *testing.T) {
	ours := MustProposals("aes256gcm16-prfsha256-x25519-ecp256", "aes128-sha256-modp2048")
	peer := offerOf(wire.ProtocolIKE, nil, true, "aes128-sha256-modp2048", "aes256gcm16-prfsha256-ecp256-x25519")
	c, ok := selectProposal(ours, peer, wire.ProtocolIKE, dhRequired, 0, 0)
	if !ok || c.Number != 2 || c.Encr != (Cipher{wire.EncrAESGCM16, 256}) || c.DH != wire.DHCurve25519 || c.Integ != wire.IntegNone {
		t.Fatalf("chose %+v", c)
	}
	// The peer's KE is ECP-256: a choice that needs no INVALID_KE_PAYLOAD.
	if c, _ := selectProposal(ours, peer, wire.ProtocolIKE, dhRequired, wire.DHECP256, 0); c.DH != wire.DHECP256 {
		t.Errorf("KE group not preferred: %v", c.DH)
	}
	// An unknown transform type spoils only its proposal.
	peer[1].Transforms = append(peer[1].Transforms, wire.Transform{Type: 200, ID: 1})
	if c, ok := selectProposal(ours, peer, wire.ProtocolIKE, dhRequired, 0, 0); !ok || c.Number != 1 {
		t.Errorf("with an unknown transform type: %+v %v", c, ok)
	}
	// A transform with an attribute we do not understand is unacceptable.
	peer = offerOf(wire.ProtocolIKE, nil, true, "aes256gcm16-prfsha256-x25519")
	peer[0].Transforms[0].Attributes = []byte{0x80, 0x99, 0, 1}
	if _, ok := selectProposal(ours, peer, wire.ProtocolIKE, dhRequired, 0, 0); ok {
		t.Error("transform with an unknown attribute accepted")
	}
	// AEAD with INTEG NONE is fine (RFC 7296 §3.3), with a real INTEG not.
	peer = offerOf(wire.ProtocolIKE, nil, true, "aes256gcm16-prfsha256-x25519")
	peer[0].Transforms = append(peer[0].Transforms, wire.IntegTransform(wire.IntegNone))
	c, ok = selectProposal(ours, peer, wire.ProtocolIKE, dhRequired, 0, 0)
	if !ok || !c.hasIntegNone {
		t.Errorf("AEAD with INTEG NONE: %+v %v", c, ok)
	}
	peer[0].Transforms[len(peer[0].Transforms)-1] = wire.IntegTransform(wire.IntegHMACSHA2_256_128)
	if _, ok := selectProposal(ours, peer, wire.ProtocolIKE, dhRequired, 0, 0); ok {
		t.Error("AEAD with a real INTEG accepted (RFC 5282 §8)")
	}
	// ESP in IKE_AUTH: D-H transforms are not negotiated there.
	esp := offerOf(wire.ProtocolESP, []byte{1, 2, 3, 4}, true, "aes128gcm16-x25519-noesn")
	c, ok = selectProposal(MustProposals("aes128gcm16"), esp, wire.ProtocolESP, dhIgnore, 0, 0)
	if !ok || c.DH != 0 || string(c.SPI) != "\x01\x02\x03\x04" {
		t.Errorf("ESP in IKE_AUTH: %+v %v", c, ok)
	}
	// PFS wanted by us, not offered: no proposal.
	esp = offerOf(wire.ProtocolESP, []byte{1, 2, 3, 4}, false, "aes128gcm16")
	if _, ok := selectProposal(MustProposals("aes128gcm16-x25519"), esp, wire.ProtocolESP, dhPFS, 0, 0); ok {
		t.Error("answer without PFS to a responder that requires it")
	}
	// The answer must be one offered proposal with one of each type.
	offered := offerOf(wire.ProtocolIKE, nil, true, "aes256gcm16-prfsha256-x25519")
	ans := &wire.SA{Proposals: []wire.Proposal{{Number: 1, ProtocolID: wire.ProtocolIKE, Transforms: []wire.Transform{
		wire.EncrTransform(wire.EncrAESGCM16, 128), wire.PRFTransform(wire.PRFHMACSHA2_256), wire.DHTransform(wire.DHCurve25519)}}}}
	if _, err := accepted(offered, ans, wire.ProtocolIKE, dhRequired); !errors.Is(err, ErrProtocol) {
		t.Errorf("answer with a transform not offered: %v", err)
	}
}
