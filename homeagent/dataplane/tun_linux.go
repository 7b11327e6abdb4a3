package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TUN is a Linux TUN device (IFF_TUN|IFF_NO_PI: every read and write is one
// bare IP packet) with the netlink handle that configures it. It satisfies
// Device.
//
// Reads are batched per wake-up: after the poller reports the device
// readable, Read takes packets with non-blocking read(2) calls until the
// queue is empty or the batch full, so one wake-up and one sendmmsg serve
// many packets. Each packet is still one system call; vnet headers with
// GSO/GRO (IFF_VNET_HDR, TUNSETOFFLOAD), which would move 64 KiB of TCP in
// one read, are not used. Writes are one write(2) per packet.
//
// The netlink handle is opened in the network namespace current when the
// device is created, so configuration works from any goroutine later. The
// device is not persistent: it disappears when closed.
type TUN struct {
	file  *os.File
	raw   syscall.RawConn
	name  string
	index int
	nl    *netlink.Handle

	closeOnce sync.Once
	closeErr  error

	// State of the one reader, set before raw.Read calls readFn.
	rbufs   [][]byte
	rsizes  []int
	roffset int
	rn      int
	rerr    error
	readFn  func(fd uintptr) bool
}

// CreateTUN creates (or attaches to) the TUN device name, sets its MTU and
// brings it up. An empty name lets the kernel pick one (tun0, tun1, ...).
func CreateTUN(name string, mtu int) (*TUN, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("dataplane: open /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("dataplane: TUN name %q: %w", name, err)
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("dataplane: TUNSETIFF %q: %w", name, err)
	}
	t := &TUN{file: os.NewFile(uintptr(fd), "/dev/net/tun"), name: ifr.Name()}
	t.readFn = t.readBatch
	if t.raw, err = t.file.SyscallConn(); err != nil {
		t.file.Close()
		return nil, err
	}
	if t.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
		t.file.Close()
		return nil, fmt.Errorf("dataplane: netlink: %w", err)
	}
	link, err := t.nl.LinkByName(t.name)
	if err == nil {
		t.index = link.Attrs().Index
		// No link-local address: nothing but tunnelled traffic is sent.
		_ = t.nl.LinkSetIP6AddrGenMode(link, 1 /* IN6_ADDR_GEN_MODE_NONE */)
		err = t.nl.LinkSetMTU(link, mtu)
	}
	if err == nil {
		err = t.nl.LinkSetTxQLen(link, 5000)
	}
	if err == nil {
		err = t.nl.LinkSetUp(link)
	}
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("dataplane: configure %s: %w", t.name, err)
	}
	return t, nil
}

// Name returns the interface name.
func (t *TUN) Name() string { return t.name }

// Index returns the interface index.
func (t *TUN) Index() int { return t.index }

// MTU returns the interface's current MTU.
func (t *TUN) MTU() (int, error) {
	link, err := t.nl.LinkByIndex(t.index)
	if err != nil {
		return 0, err
	}
	return link.Attrs().MTU, nil
}

// SetMTU sets the interface MTU.
func (t *TUN) SetMTU(mtu int) error {
	return t.nl.LinkSetMTU(t.link(), mtu)
}

func (t *TUN) link() netlink.Link {
	return &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Index: t.index, Name: t.name}}
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// AddAddress assigns an address with its prefix length (no duplicate address
// detection: the address is ours by lease).
func (t *TUN) AddAddress(p netip.Prefix) error {
	return t.nl.AddrReplace(t.link(), &netlink.Addr{IPNet: ipNet(p), Flags: unix.IFA_F_NODAD})
}

// AddRoute routes dst into the device, preferring src (if valid) as the
// source address of locally originated packets: a home agent routes each
// HoA/128, a mobile node its default route with its HoA as source.
func (t *TUN) AddRoute(dst netip.Prefix, src netip.Addr) error {
	r := t.route(dst)
	if src.IsValid() {
		r.Src = src.AsSlice()
	}
	return t.nl.RouteReplace(r)
}

// DelRoute removes a route added with AddRoute.
func (t *TUN) DelRoute(dst netip.Prefix) error {
	return t.nl.RouteDel(t.route(dst))
}

func (t *TUN) route(dst netip.Prefix) *netlink.Route {
	family := netlink.FAMILY_V6
	if dst.Addr().Is4() {
		family = netlink.FAMILY_V4
	}
	return &netlink.Route{LinkIndex: t.index, Dst: ipNet(dst.Masked()), Family: family, Scope: netlink.SCOPE_LINK}
}

// Read reads a batch of packets (see the type's comment). Only one goroutine
// may call Read at a time.
func (t *TUN) Read(bufs [][]byte, sizes []int, offset int) (int, error) {
	t.rbufs, t.rsizes, t.roffset, t.rn, t.rerr = bufs, sizes, offset, 0, nil
	err := t.raw.Read(t.readFn)
	t.rbufs, t.rsizes = nil, nil
	if err != nil {
		return 0, err
	}
	if t.rn == 0 && t.rerr != nil {
		return 0, t.rerr
	}
	return t.rn, nil
}

func (t *TUN) readBatch(fd uintptr) bool {
	for t.rn < len(t.rbufs) {
		n, err := unix.Read(int(fd), t.rbufs[t.rn][t.roffset:])
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			return t.rn > 0 // wait for the device only if nothing was read yet
		case err != nil:
			t.rerr = err
			return true
		}
		t.rsizes[t.rn] = n
		t.rn++
	}
	return true
}

// Write writes each packet with one write(2); it is safe for concurrent use.
func (t *TUN) Write(pkts [][]byte) (int, error) {
	n := 0
	var last error
	for _, p := range pkts {
		if _, err := t.file.Write(p); err != nil {
			last = err
			if errors.Is(err, os.ErrClosed) {
				return n, err
			}
			continue
		}
		n++
	}
	return n, last
}

// Close closes the device (removing it) and the netlink handle. It is safe
// to call more than once.
func (t *TUN) Close() error {
	t.closeOnce.Do(func() {
		t.closeErr = t.file.Close()
		if t.nl != nil {
			t.nl.Close()
		}
	})
	return t.closeErr
}
