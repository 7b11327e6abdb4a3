package homeagent

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/mip6ha/mip6ha/homeagent/dataplane"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
)

// ErrUnsupportedChild is wrapped by the error of ChildSAConfig for a
// CHILD_SA the user-space dataplane cannot carry.
var ErrUnsupportedChild = errors.New("CHILD_SA not supported by the user-space dataplane")

// ChildSAConfig translates one half of a CHILD_SA (the inbound half: our
// SPI and InKey; the outbound half: the peer's SPI and OutKey) into the
// dataplane's SA parameters, since the dataplane knows nothing of IKE. The
// endpoints are the CHILD_SA's UDP encapsulation endpoints and the traffic
// selectors become the prefixes that cover them (SelectorPrefixes). The
// home agent's runtime and the mobile node client both install their
// CHILD_SAs through it; each sets what is its own (a soft sequence number
// limit, the source address) on the result.
//
// KeyMaterial is c's InKey or OutKey itself, not a copy: once
// dataplane.NewSA has keyed its cipher, the caller may wipe the key
// (ike.ChildSA.ZeroKeys), as the runtime does.
//
// A CHILD_SA that is not ESP in UDP (RFC 3948) in tunnel mode with an AEAD
// transform (AES-GCM-16, ChaCha20-Poly1305) and without Extended Sequence
// Numbers gives an error wrapping ErrUnsupportedChild.
func ChildSAConfig(c ike.ChildSA, dir dataplane.Direction) (dataplane.SAConfig, error) {
	var cfg dataplane.SAConfig
	switch {
	case !c.Encap:
		return cfg, fmt.Errorf("%w: ESP not encapsulated in UDP (force UDP encapsulation)", ErrUnsupportedChild)
	case c.Mode != ike.Tunnel:
		return cfg, fmt.Errorf("%w: %v mode", ErrUnsupportedChild, c.Mode)
	case c.ESN:
		return cfg, fmt.Errorf("%w: extended sequence numbers", ErrUnsupportedChild)
	}
	switch c.Encr {
	case wire.EncrAESGCM16:
		cfg.Transform = dataplane.EncrAESGCM16
	case wire.EncrChaCha20Poly1305:
		cfg.Transform = dataplane.EncrChaCha20Poly1305
	default:
		return cfg, fmt.Errorf("%w: %v", ErrUnsupportedChild, c.Encr)
	}
	cfg.Direction = dir
	cfg.Local, cfg.Remote = c.Local, c.Remote
	cfg.LocalTS, cfg.RemoteTS = SelectorPrefixes(c.LocalTS), SelectorPrefixes(c.RemoteTS)
	if dir == dataplane.Inbound {
		cfg.SPI, cfg.KeyMaterial = c.InSPI, c.InKey
	} else {
		cfg.SPI, cfg.KeyMaterial = c.OutSPI, c.OutKey
	}
	return cfg, nil
}

// SelectorPrefixes returns the prefixes that cover the address ranges of
// traffic selectors, each once and in the selectors' order. Selectors of
// other types are skipped; protocols and ports are dropped, since the
// dataplane does not enforce them.
func SelectorPrefixes(ts []wire.TrafficSelector) []netip.Prefix {
	var ps []netip.Prefix
	for _, t := range ts {
		if t.Type != wire.TSIPv4AddrRange && t.Type != wire.TSIPv6AddrRange {
			continue
		}
		for _, p := range dataplane.PrefixesOfRange(t.StartAddr, t.EndAddr) {
			if !slices.Contains(ps, p) {
				ps = append(ps, p)
			}
		}
	}
	return ps
}
