package ike

import (
	"crypto/subtle"
	"net/netip"

	"github.com/mip6ha/mip6ha/ike/ikecrypto"
	"github.com/mip6ha/mip6ha/ike/wire"
)

// natState is the outcome of NAT detection (RFC 7296 §2.23).
type natState struct {
	localBehind bool // the peer saw another address than ours: we are behind a NAT
	peerBehind  bool // the peer's source address is not the one it hashed
	forced      bool // we fake a NAT to force UDP encapsulation
}

// any reports whether ESP must be UDP-encapsulated and IKE move to the
// NAT-T port.
func (n natState) any() bool { return n.localBehind || n.peerBehind || n.forced }

// natdNotifies returns our NAT_DETECTION_SOURCE_IP and
// NAT_DETECTION_DESTINATION_IP for a message from local to remote in the
// IKE SA spis (SPIr 0 in the first request). With ForceEncap the source
// hash covers a random address, so the peer sees a NAT (as strongSwan's
// encap=yes does).
func (sa *SA) natdNotifies(spis SPIs, local, remote netip.AddrPort) ([]wire.Payload, error) {
	src := local
	if sa.cfg.ForceEncap {
		if !sa.fakeSource.IsValid() {
			// One fake address per SA, so that a retried IKE_SA_INIT
			// changes nothing but the COOKIE or KE (RFC 7296 §2.6).
			var b [16]byte
			if _, err := readFull(sa.cfg.Rand, b[:]); err != nil {
				return nil, err
			}
			sa.fakeSource = netip.AddrPortFrom(netip.AddrFrom16(b), 0)
		}
		src = sa.fakeSource
	}
	s := ikecrypto.NATDetectionHash(spis.I, spis.R, src)
	d := ikecrypto.NATDetectionHash(spis.I, spis.R, remote)
	return []wire.Payload{
		&wire.Notify{Type: wire.NotifyNATDetectionSourceIP, Data: s[:]},
		&wire.Notify{Type: wire.NotifyNATDetectionDestinationIP, Data: d[:]},
	}, nil
}

// checkNATD examines the peer's NAT detection notifies in a message that
// travelled from dg.Remote to dg.Local. present is false if the peer sent
// none (it does not support NAT traversal).
func checkNATD(ps wire.Payloads, spis SPIs, dg Datagram) (n natState, present bool) {
	var srcSeen, srcMatch, dstSeen, dstMatch bool
	wantSrc := ikecrypto.NATDetectionHash(spis.I, spis.R, dg.Remote)
	wantDst := ikecrypto.NATDetectionHash(spis.I, spis.R, dg.Local)
	for _, p := range ps {
		if p.Type != wire.PayloadNotify {
			continue
		}
		nt, err := wire.ParseNotify(p.Body)
		if err != nil {
			continue
		}
		switch nt.Type {
		case wire.NotifyNATDetectionSourceIP:
			if h, err := nt.NATDetectionHash(); err == nil {
				srcSeen = true
				srcMatch = srcMatch || subtle.ConstantTimeCompare(h, wantSrc[:]) == 1
			}
		case wire.NotifyNATDetectionDestinationIP:
			if h, err := nt.NATDetectionHash(); err == nil {
				dstSeen = true
				dstMatch = dstMatch || subtle.ConstantTimeCompare(h, wantDst[:]) == 1
			}
		}
	}
	if !srcSeen || !dstSeen {
		return natState{}, false
	}
	return natState{peerBehind: !srcMatch, localBehind: !dstMatch}, true
}

// natTPath returns path moved to the NAT-T ports (RFC 7296 §2.23: the
// initiator moves to port 4500 once a NAT is detected).
func (sa *SA) natTPath(p Path) Path {
	return Path{
		Local:  netip.AddrPortFrom(p.Local.Addr(), sa.cfg.NATTPort),
		Remote: netip.AddrPortFrom(p.Remote.Addr(), sa.cfg.PeerNATTPort),
	}
}
