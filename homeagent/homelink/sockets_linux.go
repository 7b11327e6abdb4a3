package homelink

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"

	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// The sockets of a Defender, all bound to the home link and opened in the
// network namespace of the thread that calls New:
//
//   - ndSocket, a raw ICMPv6 socket: sends unsolicited Neighbor
//     Advertisements (the kernel computes the checksum, the Hop Limit of
//     255 is set per message) and receives the Neighbor Advertisements and
//     Solicitations that Duplicate Address Detection listens for.
//   - dadSocket, a raw IPv6 socket that includes the IPv6 header
//     (IPPROTO_RAW): the only way to send a Neighbor Solicitation from the
//     unspecified address, which an ICMPv6 socket cannot (an unspecified
//     IPV6_PKTINFO source means "kernel's choice"). The packet, checksum
//     included, is built here.
//   - arpSocket, a packet socket for ARP (IPv4 enabled only): gratuitous
//     ARP and ARP probes out, every ARP packet on the link in.

// ndSocket is the raw ICMPv6 socket on the home link.
type ndSocket struct {
	c   *net.IPConn
	p   *ipv6.PacketConn
	ifi *net.Interface // Index and Name only: no lookup in another namespace
}

// bindToDevice is a net.ListenConfig control function that binds the
// socket to an interface before anything is received.
func bindToDevice(ifname string) func(string, string, syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptString(int(fd), unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifname)
		})
		return errors.Join(err, serr)
	}
}

func openND(ifindex int, ifname string) (*ndSocket, error) {
	lc := net.ListenConfig{Control: bindToDevice(ifname)}
	pc, err := lc.ListenPacket(context.Background(), "ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, fmt.Errorf("homelink: ICMPv6 socket on %s: %w", ifname, err)
	}
	s := &ndSocket{c: pc.(*net.IPConn), ifi: &net.Interface{Index: ifindex, Name: ifname}}
	s.p = ipv6.NewPacketConn(s.c)
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeNeighborSolicitation)
	f.Accept(ipv6.ICMPTypeNeighborAdvertisement)
	err = errors.Join(
		s.p.SetICMPFilter(&f),
		s.p.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true),
		// Our own advertisements must not come back to us: DAD would take
		// them for another node's.
		s.p.SetMulticastLoopback(false),
		s.p.SetMulticastHopLimit(HopLimit),
		s.p.SetMulticastInterface(s.ifi),
	)
	if err != nil {
		s.c.Close()
		return nil, fmt.Errorf("homelink: ICMPv6 socket on %s: %w", ifname, err)
	}
	return s, nil
}

// send sends one ICMPv6 message to dst on the home link with Hop Limit 255
// and, if valid, src as the IPv6 source (otherwise the kernel chooses: the
// link-local address for a link-local multicast destination).
func (s *ndSocket) send(msg []byte, src, dst netip.Addr) error {
	cm := &ipv6.ControlMessage{HopLimit: HopLimit, IfIndex: s.ifi.Index}
	if src.IsValid() {
		cm.Src = src.AsSlice()
	}
	_, err := s.p.WriteTo(msg, cm, &net.IPAddr{IP: dst.AsSlice()})
	return err
}

func (s *ndSocket) join(group netip.Addr) error {
	return s.p.JoinGroup(s.ifi, &net.IPAddr{IP: group.AsSlice()})
}

func (s *ndSocket) leave(group netip.Addr) error {
	return s.p.LeaveGroup(s.ifi, &net.IPAddr{IP: group.AsSlice()})
}

// rawSocket is a non-blocking socket in the Go poller, so that Close
// interrupts a blocked read.
type rawSocket struct {
	f  *os.File
	rc syscall.RawConn
}

func newRawSocket(fd int, name string) (*rawSocket, error) {
	f := os.NewFile(uintptr(fd), name)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	return &rawSocket{f: f, rc: rc}, nil
}

func (s *rawSocket) sendto(b []byte, to unix.Sockaddr) error {
	var serr error
	err := s.rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), b, 0, to)
		return serr != unix.EAGAIN
	})
	return errors.Join(err, serr)
}

func (s *rawSocket) close() error { return s.f.Close() }

// openDAD opens the header-including raw IPv6 socket for DAD solicitations.
func openDAD(ifname string) (*rawSocket, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return nil, fmt.Errorf("homelink: raw IPv6 socket: %w", err)
	}
	err = errors.Join(
		unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifname),
		// Our solicitation must not come back to us, nor reach this host's
		// own proxy (which would answer it and fake a duplicate).
		unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_LOOP, 0),
	)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("homelink: raw IPv6 socket on %s: %w", ifname, err)
	}
	return newRawSocket(fd, "homelink-dad")
}

// ARP over Ethernet: EtherType 0x0806, in network byte order for packet
// sockets.
var ethPARP = htons(unix.ETH_P_ARP)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// arpSocket is a packet socket receiving and sending ARP on the home link.
type arpSocket struct {
	*rawSocket
	ifindex int
}

func openARP(ifindex int) (*arpSocket, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(ethPARP))
	if err != nil {
		return nil, fmt.Errorf("homelink: ARP socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: ethPARP, Ifindex: ifindex}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("homelink: ARP socket on ifindex %d: %w", ifindex, err)
	}
	rs, err := newRawSocket(fd, "homelink-arp")
	if err != nil {
		return nil, err
	}
	return &arpSocket{rawSocket: rs, ifindex: ifindex}, nil
}

// broadcast sends an ARP packet to the Ethernet broadcast address.
func (s *arpSocket) broadcast(pkt []byte) error {
	to := &unix.SockaddrLinklayer{
		Protocol: ethPARP,
		Ifindex:  s.ifindex,
		Halen:    6,
		Addr:     [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
	}
	return s.sendto(pkt, to)
}

// recv reads one ARP packet and says whether the host sent it itself
// (a packet socket sees outgoing packets too).
func (s *arpSocket) recv(b []byte) (n int, outgoing bool, err error) {
	var (
		from unix.Sockaddr
		rerr error
	)
	err = s.rc.Read(func(fd uintptr) bool {
		n, from, rerr = unix.Recvfrom(int(fd), b, 0)
		return rerr != unix.EAGAIN
	})
	if err == nil {
		err = rerr
	}
	if ll, ok := from.(*unix.SockaddrLinklayer); ok {
		outgoing = ll.Pkttype == unix.PACKET_OUTGOING
	}
	return n, outgoing, err
}

func sockaddrInet6(a [16]byte, ifindex int) *unix.SockaddrInet6 {
	return &unix.SockaddrInet6{Addr: a, ZoneId: uint32(ifindex)}
}
