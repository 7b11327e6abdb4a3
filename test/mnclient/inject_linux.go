package mnclient

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// packetInjector puts IP packets on the transmit queue of a TUN device
// through a packet socket (AF_PACKET, SOCK_DGRAM): the packet goes
// through dev_queue_xmit like one the node's stack routed there, so the
// user-space dataplane reads it from the device, but it never passes the
// node's routing table (whose host route keeps the home agent's outer
// address outside the tunnel) or its IPv6 output path. The socket is
// created with protocol 0, so it receives nothing.
type packetInjector struct {
	fd      int
	ifindex int
}

func newPacketInjector(ifindex int) (*packetInjector, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("mnclient: packet socket: %w", err)
	}
	return &packetInjector{fd: fd, ifindex: ifindex}, nil
}

// inject sends one IPv4 or IPv6 packet into the device.
func (p *packetInjector) inject(pkt []byte) error {
	if len(pkt) == 0 {
		return fmt.Errorf("mnclient: empty packet")
	}
	proto := uint16(unix.ETH_P_IPV6)
	if pkt[0]>>4 == 4 {
		proto = unix.ETH_P_IP
	}
	sa := &unix.SockaddrLinklayer{Protocol: proto<<8 | proto>>8, Ifindex: p.ifindex}
	if err := unix.Sendto(p.fd, pkt, 0, sa); err != nil {
		return fmt.Errorf("mnclient: inject into the TUN device: %w", err)
	}
	return nil
}

func (p *packetInjector) close() error { return unix.Close(p.fd) }
