package ike

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mip6ha/mip6ha/ike/ikecrypto"
	"github.com/mip6ha/mip6ha/ike/wire"
)

// Cipher is an encryption transform with its Key Length attribute in bits (0
// for ciphers without one, such as ChaCha20-Poly1305).
type Cipher struct {
	ID      wire.EncrID
	KeyBits uint16
}

// String names the cipher as in a proposal string, e.g. "aes256gcm16".
func (c Cipher) String() string {
	for _, name := range canonicalCiphers {
		if cipherNames[name] == c {
			return name
		}
	}
	return fmt.Sprintf("%v/%d", c.ID, c.KeyBits)
}

// canonicalCiphers are the names String uses (cipherNames has aliases).
var canonicalCiphers = []string{"aes128", "aes192", "aes256", "aes128gcm16", "aes256gcm16", "chacha20poly1305"}

// aead reports whether c is an AEAD cipher (no INTEG transform, RFC 5282 §8).
func (c Cipher) aead() bool {
	switch c.ID {
	case wire.EncrAESGCM8, wire.EncrAESGCM12, wire.EncrAESGCM16, wire.EncrAESCCM8, wire.EncrAESCCM12, wire.EncrAESCCM16, wire.EncrChaCha20Poly1305:
		return true
	}
	return false
}

// Proposal is one proposal of an SA payload as configuration: the
// transforms of each type, in order of preference (RFC 7296 §3.3). A
// proposal for IKE needs Encr, PRF, DH and, unless every cipher is AEAD,
// Integ. A proposal for ESP needs Encr (and Integ unless AEAD); its DH
// groups are used for PFS in CREATE_CHILD_SA and left out of IKE_AUTH
// (RFC 7296 §1.2); ESN defaults to no ESN.
type Proposal struct {
	Encr  []Cipher
	Integ []wire.IntegID
	PRF   []wire.PRFID
	DH    []wire.DHGroup
	ESN   []wire.ESN
}

var cipherNames = map[string]Cipher{
	"aes128":           {wire.EncrAESCBC, 128},
	"aes192":           {wire.EncrAESCBC, 192},
	"aes256":           {wire.EncrAESCBC, 256},
	"aes128gcm16":      {wire.EncrAESGCM16, 128},
	"aes256gcm16":      {wire.EncrAESGCM16, 256},
	"aes128gcm":        {wire.EncrAESGCM16, 128},
	"aes256gcm":        {wire.EncrAESGCM16, 256},
	"chacha20poly1305": {wire.EncrChaCha20Poly1305, 0},
}

var integNames = map[string]wire.IntegID{
	"sha256":   wire.IntegHMACSHA2_256_128,
	"sha384":   wire.IntegHMACSHA2_384_192,
	"sha512":   wire.IntegHMACSHA2_512_256,
	"sha1":     wire.IntegHMACSHA1_96,
	"sha2_256": wire.IntegHMACSHA2_256_128,
	"sha2_384": wire.IntegHMACSHA2_384_192,
	"sha2_512": wire.IntegHMACSHA2_512_256,
}

var prfNames = map[string]wire.PRFID{
	"prfsha256": wire.PRFHMACSHA2_256,
	"prfsha384": wire.PRFHMACSHA2_384,
	"prfsha512": wire.PRFHMACSHA2_512,
	"prfsha1":   wire.PRFHMACSHA1,
}

var groupNames = map[string]wire.DHGroup{
	"x25519":     wire.DHCurve25519,
	"curve25519": wire.DHCurve25519,
	"ecp256":     wire.DHECP256,
	"ecp384":     wire.DHECP384,
	"ecp521":     wire.DHECP521,
	"modp2048":   wire.DHMODP2048,
}

// prfOfInteg is the PRF strongSwan derives from an integrity algorithm when
// a proposal names none.
var prfOfInteg = map[wire.IntegID]wire.PRFID{
	wire.IntegHMACSHA2_256_128: wire.PRFHMACSHA2_256,
	wire.IntegHMACSHA2_384_192: wire.PRFHMACSHA2_384,
	wire.IntegHMACSHA2_512_256: wire.PRFHMACSHA2_512,
	wire.IntegHMACSHA1_96:      wire.PRFHMACSHA1,
}

// ParseProposal parses a proposal written as strongSwan writes them:
// algorithm keywords joined by '-', e.g. "aes256gcm16-prfsha256-x25519"
// (IKE), "aes128-sha256-ecp256" (IKE; the PRF follows the integrity
// algorithm when none is named) or "aes128gcm16-x25519-esn" (ESP, with PFS
// group and ESN). Keywords: aes128 aes192 aes256 (CBC), aes128gcm16
// aes256gcm16 chacha20poly1305, sha256 sha384 sha512 sha1, prfsha256
// prfsha384 prfsha512 prfsha1, x25519 ecp256 ecp384 ecp521 modp2048, esn
// noesn.
func ParseProposal(s string) (Proposal, error) {
	var p Proposal
	for tok := range strings.SplitSeq(strings.ToLower(strings.TrimSpace(s)), "-") {
		if c, ok := cipherNames[tok]; ok {
			p.Encr = append(p.Encr, c)
		} else if i, ok := integNames[tok]; ok {
			p.Integ = append(p.Integ, i)
		} else if f, ok := prfNames[tok]; ok {
			p.PRF = append(p.PRF, f)
		} else if g, ok := groupNames[tok]; ok {
			p.DH = append(p.DH, g)
		} else if tok == "esn" {
			p.ESN = append(p.ESN, wire.ESNOn)
		} else if tok == "noesn" {
			p.ESN = append(p.ESN, wire.ESNNone)
		} else {
			return Proposal{}, fmt.Errorf("%w: proposal %q: unknown algorithm %q", ErrConfig, s, tok)
		}
	}
	if len(p.Encr) == 0 {
		return Proposal{}, fmt.Errorf("%w: proposal %q has no encryption algorithm", ErrConfig, s)
	}
	if len(p.PRF) == 0 {
		for _, i := range p.Integ {
			if f, ok := prfOfInteg[i]; ok && !slices.Contains(p.PRF, f) {
				p.PRF = append(p.PRF, f)
			}
		}
	}
	return p, nil
}

// MustProposals parses proposals with ParseProposal and panics on error;
// for constants in programs and tests.
func MustProposals(s ...string) []Proposal {
	ps := make([]Proposal, len(s))
	for i, x := range s {
		p, err := ParseProposal(x)
		if err != nil {
			panic(err)
		}
		ps[i] = p
	}
	return ps
}

// String writes the proposal in the syntax of ParseProposal.
func (p Proposal) String() string {
	var parts []string
	for _, c := range p.Encr {
		parts = append(parts, c.String())
	}
	for _, i := range p.Integ {
		parts = append(parts, keyOf(integNames, i, i.String()))
	}
	for _, f := range p.PRF {
		parts = append(parts, keyOf(prfNames, f, f.String()))
	}
	for _, g := range p.DH {
		parts = append(parts, keyOf(groupNames, g, g.String()))
	}
	for _, e := range p.ESN {
		if e == wire.ESNOn {
			parts = append(parts, "esn")
		} else {
			parts = append(parts, "noesn")
		}
	}
	return strings.Join(parts, "-")
}

func keyOf[K comparable](m map[string]K, v K, def string) string {
	best := ""
	for name, x := range m {
		if x == v && (best == "" || len(name) < len(best) || len(name) == len(best) && name < best) {
			best = name
		}
	}
	if best == "" {
		return def
	}
	return best
}

// DefaultIKEProposals returns the proposals offered and accepted for IKE
// SAs when Config.IKEProposals is empty: AEAD first, then AES-CBC with
// HMAC-SHA2, with the groups of RFC 8247 (X25519, P-256, P-384, MODP-2048).
func DefaultIKEProposals() []Proposal {
	return MustProposals(
		"aes256gcm16-aes128gcm16-chacha20poly1305-prfsha256-prfsha384-prfsha512-x25519-ecp256-ecp384-modp2048",
		"aes256-aes128-sha256-sha384-sha512-prfsha256-prfsha384-prfsha512-x25519-ecp256-ecp384-modp2048",
	)
}

// DefaultESPProposals returns the proposals offered and accepted for
// CHILD_SAs when Config.ESPProposals is empty: the AEAD transforms of the
// user-space dataplane, without PFS, without ESN.
func DefaultESPProposals() []Proposal {
	return MustProposals("aes256gcm16-aes128gcm16-chacha20poly1305-noesn")
}

// validate checks a configured proposal for protocol proto.
func (p Proposal) validate(proto wire.ProtocolID) error {
	if len(p.Encr) == 0 {
		return fmt.Errorf("%w: %v proposal %q has no encryption algorithm", ErrConfig, proto, p)
	}
	aead := 0
	for _, c := range p.Encr {
		if c.aead() {
			aead++
		}
	}
	if aead > 0 && aead < len(p.Encr) {
		return fmt.Errorf("%w: %v proposal %q mixes AEAD and non-AEAD ciphers (RFC 7296 §2.7)", ErrConfig, proto, p)
	}
	if aead == 0 && len(p.Integ) == 0 {
		return fmt.Errorf("%w: %v proposal %q needs an integrity algorithm", ErrConfig, proto, p)
	}
	if aead > 0 && len(p.Integ) > 0 {
		return fmt.Errorf("%w: %v proposal %q has an integrity algorithm beside AEAD (RFC 5282 §8)", ErrConfig, proto, p)
	}
	if proto == wire.ProtocolIKE {
		if len(p.PRF) == 0 || len(p.DH) == 0 {
			return fmt.Errorf("%w: IKE proposal %q needs a PRF and a D-H group", ErrConfig, p)
		}
		for _, c := range p.Encr {
			if _, err := ikecrypto.LookupEncr(ikecrypto.EncrID(c.ID), int(c.KeyBits)); err != nil {
				return fmt.Errorf("%w: IKE proposal %q: %w", ErrConfig, p, err)
			}
		}
		for _, f := range p.PRF {
			if _, err := ikecrypto.LookupPRF(ikecrypto.PRFID(f)); err != nil {
				return fmt.Errorf("%w: IKE proposal %q: %w", ErrConfig, p, err)
			}
		}
		for _, i := range p.Integ {
			if _, err := ikecrypto.LookupInteg(ikecrypto.IntegID(i)); err != nil {
				return fmt.Errorf("%w: IKE proposal %q: %w", ErrConfig, p, err)
			}
		}
	}
	for _, g := range p.DH {
		if _, err := ikecrypto.LookupGroup(ikecrypto.DHGroup(g)); err != nil {
			return fmt.Errorf("%w: %v proposal %q: %w", ErrConfig, proto, p, err)
		}
	}
	return nil
}

// offer returns p as a Proposal Substructure numbered num. withDH says
// whether D-H transforms are included; firstDH, if set, is moved to the
// front (the group of the KE payload SHOULD be the first, RFC 7296 §1.2).
func (p Proposal) offer(num uint8, proto wire.ProtocolID, spi []byte, withDH bool, firstDH wire.DHGroup) wire.Proposal {
	w := wire.Proposal{Number: num, ProtocolID: proto, SPI: spi}
	for _, c := range p.Encr {
		w.Transforms = append(w.Transforms, wire.EncrTransform(c.ID, c.KeyBits))
	}
	if proto == wire.ProtocolIKE {
		for _, f := range p.PRF {
			w.Transforms = append(w.Transforms, wire.PRFTransform(f))
		}
	}
	for _, i := range p.Integ {
		w.Transforms = append(w.Transforms, wire.IntegTransform(i))
	}
	if withDH {
		groups := p.DH
		if firstDH != 0 && slices.Contains(groups, firstDH) {
			groups = append([]wire.DHGroup{firstDH}, slices.DeleteFunc(slices.Clone(groups), func(g wire.DHGroup) bool { return g == firstDH })...)
		}
		for _, g := range groups {
			w.Transforms = append(w.Transforms, wire.DHTransform(g))
		}
	}
	if proto != wire.ProtocolIKE {
		esn := p.ESN
		if len(esn) == 0 {
			esn = []wire.ESN{wire.ESNNone}
		}
		for _, e := range esn {
			w.Transforms = append(w.Transforms, wire.ESNTransform(e))
		}
	}
	return w
}

// offerSA returns the SA payload offering ps.
func offerSA(ps []Proposal, proto wire.ProtocolID, spi []byte, withDH bool, firstDH wire.DHGroup) *wire.SA {
	sa := &wire.SA{}
	for i, p := range ps {
		sa.Proposals = append(sa.Proposals, p.offer(uint8(i+1), proto, spi, withDH, firstDH))
	}
	return sa
}

// chosen is the outcome of proposal selection: one transform of each type.
type chosen struct {
	Number uint8
	SPI    []byte // the peer's SPI from its proposal (copied)
	Encr   Cipher
	Integ  wire.IntegID
	PRF    wire.PRFID
	DH     wire.DHGroup
	ESN    wire.ESN
	// hasIntegNone, hasESN record whether the peer's proposal carried an
	// INTEG NONE or an ESN transform, which the answer then echoes.
	hasIntegNone, hasESN bool
}

// answer returns the Proposal Substructure that accepts c, carrying our spi.
func (c chosen) answer(proto wire.ProtocolID, spi []byte) wire.Proposal {
	w := wire.Proposal{Number: c.Number, ProtocolID: proto, SPI: spi}
	w.Transforms = append(w.Transforms, wire.EncrTransform(c.Encr.ID, c.Encr.KeyBits))
	if proto == wire.ProtocolIKE {
		w.Transforms = append(w.Transforms, wire.PRFTransform(c.PRF))
	}
	if c.Integ != wire.IntegNone || c.hasIntegNone {
		w.Transforms = append(w.Transforms, wire.IntegTransform(c.Integ))
	}
	if c.DH != 0 {
		w.Transforms = append(w.Transforms, wire.DHTransform(c.DH))
	}
	if proto != wire.ProtocolIKE && c.hasESN {
		w.Transforms = append(w.Transforms, wire.ESNTransform(c.ESN))
	}
	return w
}

// String formats c like a proposal string.
func (c chosen) String() string {
	p := Proposal{Encr: []Cipher{c.Encr}}
	if c.Integ != wire.IntegNone {
		p.Integ = []wire.IntegID{c.Integ}
	}
	if c.PRF != 0 {
		p.PRF = []wire.PRFID{c.PRF}
	}
	if c.DH != 0 {
		p.DH = []wire.DHGroup{c.DH}
	}
	return p.String()
}

// dhMode says how selection treats D-H transforms.
type dhMode uint8

const (
	dhRequired dhMode = iota // IKE: one group must be chosen
	dhIgnore                 // IKE_AUTH CHILD_SA: D-H transforms are left out
	dhPFS                    // CREATE_CHILD_SA: a group if both want PFS, else none
)

// selectProposal picks, in our order of preference, the first of our
// proposals that one of the peer's proposals satisfies (RFC 7296 §2.7,
// §3.3.6). want, if non-zero, is the group of the peer's KE payload: a
// match using it is preferred over one needing INVALID_KE_PAYLOAD.
// keepPRF, if non-zero, restricts IKE proposals to that PRF (IKE SA rekey,
// see ikecrypto.RekeySKEYSEED). ok is false if nothing is acceptable.
func selectProposal(ours []Proposal, peer []wire.Proposal, proto wire.ProtocolID, dh dhMode, want wire.DHGroup, keepPRF wire.PRFID) (chosen, bool) {
	if want != 0 {
		for _, op := range ours {
			if !slices.Contains(op.DH, want) && !(dh == dhPFS && len(op.DH) == 0) {
				continue
			}
			for i := range peer {
				if c, ok := match(op, &peer[i], proto, dh, want, keepPRF); ok {
					return c, true
				}
			}
		}
	}
	for _, op := range ours {
		for i := range peer {
			if c, ok := match(op, &peer[i], proto, dh, 0, keepPRF); ok {
				return c, true
			}
		}
	}
	return chosen{}, false
}

// match tries to satisfy our proposal op with the peer's proposal pp.
func match(op Proposal, pp *wire.Proposal, proto wire.ProtocolID, dh dhMode, want wire.DHGroup, keepPRF wire.PRFID) (chosen, bool) {
	if pp.ProtocolID != proto {
		return chosen{}, false
	}
	switch proto {
	case wire.ProtocolIKE:
		if len(pp.SPI) != 0 && len(pp.SPI) != 8 {
			return chosen{}, false
		}
	default:
		if len(pp.SPI) != 4 {
			return chosen{}, false
		}
	}
	var encr []Cipher
	var integ []wire.IntegID
	var prf []wire.PRFID
	var groups []wire.DHGroup
	var esn []wire.ESN
	for _, t := range pp.Transforms {
		if len(t.Attributes) != 0 {
			continue // attributes we do not understand: unacceptable transform (RFC 7296 §3.3.6)
		}
		switch t.Type {
		case wire.TransformEncr:
			encr = append(encr, Cipher{wire.EncrID(t.ID), t.KeyLength})
		case wire.TransformInteg:
			integ = append(integ, wire.IntegID(t.ID))
		case wire.TransformPRF:
			prf = append(prf, wire.PRFID(t.ID))
		case wire.TransformDH:
			groups = append(groups, wire.DHGroup(t.ID))
		case wire.TransformESN:
			esn = append(esn, wire.ESN(t.ID))
		default:
			return chosen{}, false // unknown transform type: the proposal is unacceptable
		}
	}
	c := chosen{Number: pp.Number, SPI: slices.Clone(pp.SPI)}
	found := false
	for _, e := range op.Encr {
		if slices.Contains(encr, e) {
			c.Encr, found = e, true
			break
		}
	}
	if !found {
		return chosen{}, false
	}
	if c.Encr.aead() {
		for _, i := range integ {
			if i != wire.IntegNone {
				return chosen{}, false // RFC 5282 §8
			}
			c.hasIntegNone = true
		}
	} else {
		found = false
		for _, i := range op.Integ {
			if i != wire.IntegNone && slices.Contains(integ, i) {
				c.Integ, found = i, true
				break
			}
		}
		if !found {
			return chosen{}, false
		}
	}
	if proto == wire.ProtocolIKE {
		found = false
		for _, f := range op.PRF {
			if (keepPRF == 0 || f == keepPRF) && slices.Contains(prf, f) {
				c.PRF, found = f, true
				break
			}
		}
		if !found {
			return chosen{}, false
		}
	}
	switch {
	case dh == dhRequired || dh == dhPFS && want != 0:
		if want != 0 {
			// A CHILD_SA proposal of ours without groups still accepts
			// the PFS the peer insists on, in a group we implement.
			ours := slices.Contains(op.DH, want) || dh == dhPFS && len(op.DH) == 0 && supportedGroup(want)
			if !slices.Contains(groups, want) || !ours {
				return chosen{}, false
			}
			c.DH = want
		} else {
			found = false
			for _, g := range op.DH {
				if slices.Contains(groups, g) {
					c.DH, found = g, true
					break
				}
			}
			if !found {
				return chosen{}, false
			}
		}
	case dh == dhPFS:
		// No KE payload: acceptable only without PFS on both sides.
		if len(op.DH) > 0 {
			found = false
			for _, g := range op.DH {
				if slices.Contains(groups, g) {
					c.DH, found = g, true // INVALID_KE_PAYLOAD will follow
					break
				}
			}
			if !found {
				return chosen{}, false
			}
		} else if len(groups) > 0 && !slices.Contains(groups, wire.DHNone) {
			return chosen{}, false
		}
	}
	if proto != wire.ProtocolIKE {
		ours := op.ESN
		if len(ours) == 0 {
			ours = []wire.ESN{wire.ESNNone}
		}
		if len(esn) == 0 {
			if !slices.Contains(ours, wire.ESNNone) {
				return chosen{}, false
			}
			c.ESN = wire.ESNNone
		} else {
			found = false
			for _, e := range ours {
				if slices.Contains(esn, e) {
					c.ESN, c.hasESN, found = e, true, true
					break
				}
			}
			if !found {
				return chosen{}, false
			}
		}
	}
	return c, true
}

// accepted checks the responder's answer ans against what we offered
// (RFC 7296 §2.7: exactly one proposal, one transform of each type, taken
// from the offered proposal of the same number) and returns the choice.
func accepted(offered []wire.Proposal, ans *wire.SA, proto wire.ProtocolID, dh dhMode) (chosen, error) {
	if len(ans.Proposals) != 1 {
		return chosen{}, fmt.Errorf("%w: answer holds %d proposals", ErrProtocol, len(ans.Proposals))
	}
	pp := &ans.Proposals[0]
	var off *wire.Proposal
	for i := range offered {
		if offered[i].Number == pp.Number {
			off = &offered[i]
		}
	}
	if off == nil || pp.ProtocolID != proto {
		return chosen{}, fmt.Errorf("%w: answer picks proposal %d, not offered", ErrProtocol, pp.Number)
	}
	c := chosen{Number: pp.Number, SPI: slices.Clone(pp.SPI)}
	seen := map[wire.TransformType]bool{}
	for _, t := range pp.Transforms {
		if seen[t.Type] {
			return chosen{}, fmt.Errorf("%w: answer has two %v transforms", ErrProtocol, t.Type)
		}
		seen[t.Type] = true
		if !slices.ContainsFunc(off.Transforms, func(o wire.Transform) bool {
			return o.Type == t.Type && o.ID == t.ID && o.KeyLength == t.KeyLength && string(o.Attributes) == string(t.Attributes)
		}) {
			return chosen{}, fmt.Errorf("%w: answer has transform %v we did not offer", ErrProtocol, t)
		}
		switch t.Type {
		case wire.TransformEncr:
			c.Encr = Cipher{wire.EncrID(t.ID), t.KeyLength}
		case wire.TransformInteg:
			c.Integ = wire.IntegID(t.ID)
			c.hasIntegNone = c.Integ == wire.IntegNone
		case wire.TransformPRF:
			c.PRF = wire.PRFID(t.ID)
		case wire.TransformDH:
			c.DH = wire.DHGroup(t.ID)
		case wire.TransformESN:
			c.ESN, c.hasESN = wire.ESN(t.ID), true
		}
	}
	if !seen[wire.TransformEncr] || !c.Encr.aead() && c.Integ == wire.IntegNone {
		return chosen{}, fmt.Errorf("%w: answer lacks an encryption or integrity transform", ErrProtocol)
	}
	if proto == wire.ProtocolIKE && (c.PRF == 0 || c.DH == 0) {
		return chosen{}, fmt.Errorf("%w: IKE answer lacks a PRF or D-H transform", ErrProtocol)
	}
	if dh == dhIgnore && c.DH != 0 {
		return chosen{}, fmt.Errorf("%w: D-H transform in an IKE_AUTH answer", ErrProtocol)
	}
	return c, nil
}

// suite returns the IKE suite of an IKE choice.
func (c chosen) suite() (ikecrypto.Suite, error) {
	return ikecrypto.NewSuite(ikecrypto.EncrID(c.Encr.ID), int(c.Encr.KeyBits), ikecrypto.IntegID(c.Integ), ikecrypto.PRFID(c.PRF))
}

// espSuite returns the ESP key layout of a CHILD_SA choice.
func (c chosen) espSuite() (ikecrypto.ESPSuite, error) {
	return ikecrypto.LookupESP(ikecrypto.EncrID(c.Encr.ID), int(c.Encr.KeyBits), ikecrypto.IntegID(c.Integ))
}

// supportedGroup reports whether ikecrypto implements D-H group g.
func supportedGroup(g wire.DHGroup) bool {
	_, err := ikecrypto.LookupGroup(ikecrypto.DHGroup(g))
	return err == nil
}
