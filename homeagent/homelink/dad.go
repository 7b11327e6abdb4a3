package homelink

import (
	"bytes"
	"net"
	"net/netip"

	"golang.org/x/net/ipv6"
)

// What Duplicate Address Detection takes as proof that an address is in
// use, decided from one received message. The I/O side only matches the
// result against the addresses under test.

// duplicateFromND inspects a received ICMPv6 message (msg, without the
// IPv6 header; hopLimit, src and dst from the IPv6 header) and returns the
// duplicate it reveals, or nil:
//
//   - a valid Neighbor Advertisement reveals its Target (RFC 4862 §5.4.4);
//   - a valid Neighbor Solicitation from the unspecified address reveals
//     its Target: another node runs DAD for it (RFC 4862 §5.4.3).
//
// Invalid messages (RFC 4861 §7.1.1, §7.1.2) reveal nothing: Hop Limit
// other than 255, parse failures, a Solicited advertisement to a multicast
// address, a DAD solicitation not sent to the Target's solicited-node
// address or carrying a Source Link-Layer Address option. A solicitation
// from a unicast source is address resolution, not DAD, and is ignored.
func duplicateFromND(msg []byte, hopLimit int, src, dst netip.Addr) *DuplicateError {
	if hopLimit != HopLimit || len(msg) == 0 {
		return nil
	}
	switch ipv6.ICMPType(msg[0]) {
	case ipv6.ICMPTypeNeighborAdvertisement:
		na, err := ParseNeighborAdvertisement(msg)
		if err != nil || (na.Solicited && dst.IsMulticast()) {
			return nil
		}
		return &DuplicateError{
			Addr:     na.Target,
			Evidence: "Neighbor Advertisement",
			From:     src,
			LinkAddr: bytes.Clone(na.TargetLinkLayerAddress),
		}
	case ipv6.ICMPTypeNeighborSolicitation:
		ns, err := ParseNeighborSolicitation(msg)
		if err != nil || !src.IsUnspecified() {
			return nil
		}
		if dst != SolicitedNodeMulticast(ns.Target) || ns.SourceLinkLayerAddress != nil {
			return nil
		}
		return &DuplicateError{Addr: ns.Target, Evidence: "Neighbor Solicitation", From: src}
	}
	return nil
}

// duplicateFromARP inspects a received ARP packet and returns the IPv4
// duplicate it reveals, or nil (RFC 5227 §2.1.1):
//
//   - any ARP packet whose sender protocol address is an address reveals
//     that address (its sender uses it);
//   - an ARP probe (request, sender protocol address 0.0.0.0) from another
//     hardware address than own reveals its target: another host probes
//     for the same address.
func duplicateFromARP(pkt []byte, own net.HardwareAddr) *DuplicateError {
	p, err := ParseARP(pkt)
	if err != nil {
		return nil
	}
	switch {
	case !p.SenderProtocolAddr.IsUnspecified():
		return &DuplicateError{
			Addr:     p.SenderProtocolAddr,
			Evidence: "ARP",
			From:     p.SenderProtocolAddr,
			LinkAddr: bytes.Clone(p.SenderHardwareAddr),
		}
	case p.Operation == ARPRequest && !bytes.Equal(p.SenderHardwareAddr, own):
		return &DuplicateError{
			Addr:     p.TargetProtocolAddr,
			Evidence: "ARP probe",
			From:     p.SenderProtocolAddr,
			LinkAddr: bytes.Clone(p.SenderHardwareAddr),
		}
	}
	return nil
}
