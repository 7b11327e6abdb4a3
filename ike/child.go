package ike

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/mip6ha/mip6ha/ike/wire"
)

// The CHILD_SA concern: proposals, traffic selectors, keys (RFC 7296 §2.17)
// and the dataplane operations of each CHILD_SA.

// childState is the life-cycle stage of a CHILD_SA.
type childState uint8

const (
	childInstalled childState = iota // in use
	childRekeying                    // our rekey of it is in flight
	childRekeyed                     // replaced by a successor, waiting for its delete
	childDeleting                    // our delete of it is in flight
	childDeleted                     // removed
)

// child is one CHILD_SA pair.
type child struct {
	sa    ChildSA
	prop  chosen
	state childState
	// outInstalled says the outbound half is installed: the responder of a
	// rekey defers it until the initiator deletes the old SA (RFC 7296
	// §2.8), at the latest at switchAt.
	outInstalled bool
	switchAt     time.Time
	pred         *child // the CHILD_SA this one replaces, while it exists
	rekeyAt      time.Time
	// collision: the CHILD_SA the peer created by rekeying this one while
	// our rekey of it was in flight (RFC 7296 §2.8.1), with the nonces of
	// that exchange.
	peerRekey      *child
	peerNi, peerNr []byte
	// redundant marks a CHILD_SA of a collision that its creator deletes:
	// it is never switched to.
	redundant bool
}

func (c *child) info() ChildInfo {
	return ChildInfo{
		InSPI: c.sa.InSPI, OutSPI: c.sa.OutSPI, Mode: c.sa.Mode, Encap: c.sa.Encap,
		Path: Path{Local: c.sa.Local, Remote: c.sa.Remote}, Transform: c.prop.String(),
		LocalTS: cloneTS(c.sa.LocalTS), RemoteTS: cloneTS(c.sa.RemoteTS),
	}
}

// params returns a copy of the CHILD_SA parameters for a ChildOp.
func (c *child) params() ChildSA {
	p := c.sa
	p.InKey, p.OutKey = slices.Clone(p.InKey), slices.Clone(p.OutKey)
	p.InIntegKey, p.OutIntegKey = slices.Clone(p.InIntegKey), slices.Clone(p.OutIntegKey)
	p.LocalTS, p.RemoteTS = cloneTS(p.LocalTS), cloneTS(p.RemoteTS)
	return p
}

func (c *child) deadline() time.Time {
	var d time.Time
	if c.state == childInstalled && !c.rekeyAt.IsZero() {
		d = c.rekeyAt
	}
	if !c.outInstalled && !c.switchAt.IsZero() && (d.IsZero() || c.switchAt.Before(d)) {
		d = c.switchAt
	}
	return d
}

// childTick rekeys a CHILD_SA whose lifetime is up and switches a deferred
// outbound SA whose wait is over.
func (sa *SA) childTick(c *child, now time.Time) {
	if !c.outInstalled && !c.switchAt.IsZero() && !now.Before(c.switchAt) && c.state != childDeleted {
		sa.switchOutbound(c)
	}
	if c.state == childInstalled && !c.rekeyAt.IsZero() && !now.Before(c.rekeyAt) {
		c.rekeyAt = time.Time{}
		_ = sa.RekeyChild(now, c.sa.InSPI)
	}
}

// childByIn finds a CHILD_SA by our inbound SPI.
func (sa *SA) childByIn(spi uint32) *child {
	for _, c := range sa.children {
		if c.sa.InSPI == spi && c.state != childDeleted {
			return c
		}
	}
	return nil
}

// childByOut finds a CHILD_SA by the peer's inbound SPI (our outbound), the
// SPI the peer names in REKEY_SA and Delete payloads.
func (sa *SA) childByOut(spi uint32) *child {
	for _, c := range sa.children {
		if c.sa.OutSPI == spi && c.state != childDeleted {
			return c
		}
	}
	return nil
}

// childEndpoints returns the outer endpoints of a CHILD_SA: the IKE SA's
// path, on the NAT-T ports when ESP is UDP-encapsulated (RFC 3948).
func (sa *SA) childEndpoints(encap bool) (local, remote netip.AddrPort) {
	local, remote = sa.path.Local, sa.path.Remote
	if encap && !sa.natt {
		local = netip.AddrPortFrom(local.Addr(), sa.cfg.NATTPort)
		remote = netip.AddrPortFrom(remote.Addr(), sa.cfg.PeerNATTPort)
	}
	return local, remote
}

// makeChild derives the keys of a CHILD_SA negotiated in an exchange we
// initiated (initiator true) or answered, with nonces ni, nr and the D-H
// secret gir of a PFS exchange (nil without).
func (sa *SA) makeChild(ike *ikeSA, c chosen, inSPI uint32, gir, ni, nr []byte, initiator bool, localTS, remoteTS []wire.TrafficSelector, mode Mode, now time.Time) (*child, error) {
	esp, err := c.espSuite()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNegotiation, err)
	}
	if len(c.SPI) != 4 {
		return nil, fmt.Errorf("%w: ESP SPI of %d octets", ErrProtocol, len(c.SPI))
	}
	keys, err := esp.DeriveChildKeys(ike.suite.PRF(), ike.keys.SKd, gir, ni, nr)
	if err != nil {
		return nil, err
	}
	encap := sa.nat.any()
	local, remote := sa.childEndpoints(encap)
	ch := &child{prop: c, sa: ChildSA{
		InSPI: inSPI, OutSPI: binary.BigEndian.Uint32(c.SPI), Protocol: wire.ProtocolESP, Mode: mode,
		Encap: encap, Local: local, Remote: remote,
		Encr: c.Encr.ID, EncrKeyBits: int(c.Encr.KeyBits), Integ: c.Integ, ESN: c.ESN == wire.ESNOn,
		LocalTS: localTS, RemoteTS: remoteTS, Created: now,
	}}
	if initiator {
		ch.sa.OutKey, ch.sa.OutIntegKey, ch.sa.InKey, ch.sa.InIntegKey = keys.EncrI, keys.IntegI, keys.EncrR, keys.IntegR
	} else {
		ch.sa.OutKey, ch.sa.OutIntegKey, ch.sa.InKey, ch.sa.InIntegKey = keys.EncrR, keys.IntegR, keys.EncrI, keys.IntegI
	}
	if sa.cfg.ChildRekeyTime > 0 {
		ch.rekeyAt = now.Add(time.Duration(sa.jitter(int64(sa.cfg.ChildRekeyTime))))
		ch.sa.RekeyAt = ch.rekeyAt
	}
	return ch, nil
}

// installChild installs both halves of a new CHILD_SA.
func (sa *SA) installChild(c *child) {
	sa.children = append(sa.children, c)
	sa.op(InstallInbound, c.params(), 0)
	sa.op(InstallOutbound, c.params(), 0)
	c.outInstalled = true
	sa.emit(ChildUp{SPIs: sa.SPIs(), Child: c.info()})
}

// installRekeyed installs the successor c of a rekeyed CHILD_SA: inbound
// now, outbound now (swapping out the predecessor's) if switchNow, else
// when the predecessor is deleted.
func (sa *SA) installRekeyed(c, old *child, switchNow bool, now time.Time) {
	sa.children = append(sa.children, c)
	c.pred = old
	sa.op(InstallInbound, c.params(), 0)
	if switchNow {
		sa.switchOutbound(c)
	} else {
		c.switchAt = now.Add(sa.cfg.HalfOpenTimeout)
	}
	sa.emit(ChildRekeyed{SPIs: sa.SPIs(), Old: old.info(), New: c.info()})
}

// switchOutbound installs the outbound half of c, replacing its
// predecessor's.
func (sa *SA) switchOutbound(c *child) {
	if c.outInstalled {
		return
	}
	var replaces uint32
	if p := c.pred; p != nil && p.outInstalled {
		replaces = p.sa.OutSPI
		p.outInstalled = false
	}
	sa.op(InstallOutbound, c.params(), replaces)
	c.outInstalled = true
	c.switchAt = time.Time{}
}

// removeChild removes a CHILD_SA from the dataplane and the SA.
func (sa *SA) removeChild(c *child, reason DownReason) {
	if c.state == childDeleted {
		return
	}
	if c.outInstalled {
		// A successor waiting for this one's outbound takes over now.
		for _, s := range sa.children {
			if s.pred == c && !s.outInstalled && s.state != childDeleted {
				sa.switchOutbound(s)
			}
		}
	}
	if c.outInstalled {
		sa.op(RemoveOutbound, c.params(), 0)
		c.outInstalled = false
	}
	sa.op(RemoveInbound, c.params(), 0)
	c.state = childDeleted
	for _, s := range sa.children {
		if s.pred == c {
			s.pred = nil
		}
	}
	sa.children = slices.DeleteFunc(sa.children, func(x *child) bool { return x == c })
	sa.emit(ChildDown{SPIs: sa.SPIs(), Child: c.info(), Reason: reason})
	// The ChildOps above carry copies; this KEYMAT is ours and used no more.
	c.sa.ZeroKeys()
}

// initiatorTS returns the selectors an initiator proposes: TSi and TSr.
func (sa *SA) initiatorTS() (tsi, tsr []wire.TrafficSelector) {
	tsi, tsr = cloneTS(sa.cfg.LocalTS), cloneTS(sa.cfg.RemoteTS)
	if len(tsi) == 0 {
		r := sa.cfg.Request
		switch {
		case (r.IPv6 || r.SuggestIPv6.IsValid()) && !(r.IPv4 || r.SuggestIPv4.IsValid()):
			tsi = []wire.TrafficSelector{anyIPv6}
		case (r.IPv4 || r.SuggestIPv4.IsValid()) && !(r.IPv6 || r.SuggestIPv6.IsValid()):
			tsi = []wire.TrafficSelector{anyIPv4}
		default:
			tsi = AnyTS()
		}
	}
	if len(tsr) == 0 {
		tsr = AnyTS()
	}
	return tsi, tsr
}

// narrow chooses the responder's TSi and TSr (RFC 7296 §2.9).
func (sa *SA) narrow(tsi, tsr []wire.TrafficSelector, a Assignment, mode Mode) (ntsi, ntsr []wire.TrafficSelector, err error) {
	if sa.cfg.TSPolicy != nil {
		ntsi, ntsr, err = sa.cfg.TSPolicy.Narrow(TSRequest{Peer: sa.peerID, TSi: tsi, TSr: tsr, Assignment: a, Mode: mode})
		if err == nil && (!subset(ntsi, tsi) || !subset(ntsr, tsr)) {
			err = fmt.Errorf("TSPolicy widened the selectors")
		}
	} else {
		if a.IPv6.IsValid() || a.IPv4.IsValid() {
			ntsi = addrSelectors(tsi, a)
		} else {
			ntsi = intersectAll(tsi, sa.cfg.RemoteTS)
		}
		ntsr = intersectAll(tsr, sa.cfg.LocalTS)
	}
	if err == nil && (len(ntsi) == 0 || len(ntsr) == 0) {
		err = fmt.Errorf("no common traffic selectors")
	}
	if err != nil {
		return nil, nil, notifyErr(ErrNegotiation, wire.NotifyTSUnacceptable, false, "%v", err)
	}
	return ntsi, ntsr, nil
}

// childMode decides the mode of a CHILD_SA the peer asks for: transport if
// it sent USE_TRANSPORT_MODE and we are configured for it (RFC 7296 §1.3.1).
func (sa *SA) childMode(in *inbound) Mode {
	if _, ok := in.notify(wire.NotifyUseTransportMode); ok && sa.cfg.Mode == Transport {
		return Transport
	}
	return Tunnel
}

// spiBytes encodes a CHILD_SA SPI.
func spiBytes(spi uint32) []byte { return binary.BigEndian.AppendUint32(nil, spi) }

// childErrors are the Notify types that refuse a CHILD_SA but not the IKE SA
// (RFC 7296 §1.2, §2.21.2).
var childErrors = []wire.NotifyType{
	wire.NotifyNoProposalChosen, wire.NotifyTSUnacceptable, wire.NotifySinglePairRequired,
	wire.NotifyInternalAddressFailure, wire.NotifyFailedCPRequired, wire.NotifyNoAdditionalSAs,
	wire.NotifyInvalidSelectors, wire.NotifyUseAssignedHoA,
}
