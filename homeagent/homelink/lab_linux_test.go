package homelink_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mip6ha/mip6ha/homeagent/dataplane"
	"github.com/mip6ha/mip6ha/homeagent/homelink"
	"github.com/mip6ha/mip6ha/test/lab"
)

// The home link of these tests, built with the project's namespace lab:
//
//	r (router: bridge br-home, 2001:db8:1::fe, 198.51.100.1)
//	├── ha1 eth0 (2001:db8:1::1, 198.51.100.11), TUN tun0
//	└── ha2 eth0 (2001:db8:1::2, 198.51.100.12), TUN tun0
//
// r is the neighbour whose caches the home agents move; each agent's
// TUN device is read by the test, so a packet "reaches the home agent"
// when it comes out of that agent's TUN.

var (
	homePrefix = netip.MustParsePrefix("2001:db8:1::/64")
	homeNet4   = netip.MustParsePrefix("198.51.100.0/24")
	routerV6   = netip.MustParseAddr("2001:db8:1::fe")
	routerV4   = netip.MustParseAddr("198.51.100.1")
	hoa        = netip.MustParseAddr("2001:db8:1::50")
	hoa4       = netip.MustParseAddr("198.51.100.50")
)

type homeLink struct {
	r      *lab.Host
	agents []*agent
}

// agent is a home agent host: its TUN device and the packets read from it.
type agent struct {
	host *lab.Host
	v6   netip.Addr
	v4   netip.Addr
	tun  *dataplane.TUN
	pkts chan []byte
}

func newHomeLink(t *testing.T, agents int) *homeLink {
	t.Helper()
	l := lab.New(t)
	hl := &homeLink{r: l.Host("r", lab.Forwarding())}
	br := hl.r.Bridge("br-home")
	br.AddAddr(prefix(routerV6, homePrefix), prefix(routerV4, homeNet4))
	for i := 1; i <= agents; i++ {
		a := &agent{
			host: l.Host(fmt.Sprintf("ha%d", i)),
			v6:   netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: byte(i)}),
			v4:   netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)}),
			pkts: make(chan []byte, 256),
		}
		lk := l.Link(a.host, "eth0", hl.r, fmt.Sprintf("r-ha%d", i))
		lk.B.SetMaster(br)
		lk.A.AddAddr(prefix(a.v6, homePrefix), prefix(a.v4, homeNet4))
		inNamespace(t, a.host, func() (err error) {
			a.tun, err = dataplane.CreateTUN("tun0", 1400)
			return err
		})
		t.Cleanup(func() { a.tun.Close() })
		go a.read()
		hl.agents = append(hl.agents, a)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, a := range hl.agents {
		if err := hl.r.WaitPing(ctx, a.v6.String(), ""); err != nil {
			t.Fatal(err)
		}
	}
	return hl
}

func prefix(a netip.Addr, p netip.Prefix) string {
	return netip.PrefixFrom(a, p.Bits()).String()
}

// read copies every packet the kernel routes into the TUN device to
// a.pkts until the device is closed.
func (a *agent) read() {
	bufs, sizes := [][]byte{make([]byte, 2048)}, []int{0}
	for {
		n, err := a.tun.Read(bufs, sizes, 0)
		if err != nil {
			return
		}
		for i := range n {
			select {
			case a.pkts <- bytes.Clone(bufs[i][:sizes[i]]):
			default:
			}
		}
	}
}

// defender makes a Defender for the agent's eth0 and tun0 inside its
// namespace, closed at cleanup.
func (a *agent) defender(t *testing.T, opt homelink.Options) *homelink.Defender {
	t.Helper()
	var d *homelink.Defender
	inNamespace(t, a.host, func() (err error) {
		d, err = homelink.New("eth0", "tun0", opt)
		return err
	})
	t.Cleanup(func() {
		if err := d.Close(); err != nil {
			t.Errorf("%s: Close: %v", a.host, err)
		}
	})
	return d
}

// inNamespace runs f on an OS thread switched into the host's network
// namespace, so that what f opens (sockets, netlink, sysctl files) belongs
// to the host. The thread is switched back, or discarded if it cannot be.
func inNamespace(t *testing.T, h *lab.Host, f func() error) {
	t.Helper()
	benchInNamespace(t, h, f)
}

func benchInNamespace(t testing.TB, h *lab.Host, f func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return // the locked thread dies with the goroutine
		}
		defer unix.Close(orig)
		target, err := unix.Open("/run/netns/"+h.Namespace(), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		ferr := f()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("leaving %s: %w (after %v)", h, err, ferr)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	if err := <-errc; err != nil {
		t.Fatalf("in %s: %v", h, err)
	}
}

// send sends one UDP datagram from r to dst, port 9; the payload says
// which one it is.
func (hl *homeLink) send(t *testing.T, ctx context.Context, dst netip.Addr, payload string) {
	t.Helper()
	c, err := hl.r.Dial(ctx, "udp", "", netip.AddrPortFrom(dst, 9).String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(payload)); err != nil {
		t.Fatal(err)
	}
}

// await waits until a UDP datagram to dst with the payload comes out of the
// agent's TUN device.
func (a *agent) await(t *testing.T, ctx context.Context, dst netip.Addr, payload string) {
	t.Helper()
	for {
		select {
		case p := <-a.pkts:
			if d, body, ok := udpTo(p); ok && d == dst && string(body) == payload {
				return
			}
		case <-ctx.Done():
			t.Fatalf("%q to %s never reached %s's TUN device: %v", payload, dst, a.host, ctx.Err())
		}
	}
}

// udpTo returns the destination and UDP payload of an IPv4 or IPv6 packet.
func udpTo(p []byte) (netip.Addr, []byte, bool) {
	switch {
	case len(p) >= 48 && p[0]>>4 == 6 && p[6] == unix.IPPROTO_UDP:
		return netip.AddrFrom16([16]byte(p[24:40])), p[48:], true
	case len(p) >= 28 && p[0]>>4 == 4 && p[9] == unix.IPPROTO_UDP:
		ihl := int(p[0]&0x0f) * 4
		if len(p) < ihl+8 {
			return netip.Addr{}, nil, false
		}
		return netip.AddrFrom4([4]byte(p[16:20])), p[ihl+8:], true
	}
	return netip.Addr{}, nil, false
}

// neighbour returns r's cache entry for a on the home link: link-layer
// address and state ("" if none).
func (hl *homeLink) neighbour(t *testing.T, a netip.Addr) (lladdr, state string) {
	t.Helper()
	out := hl.r.IP("neigh", "show", a.String(), "dev", "br-home")
	f := strings.Fields(out)
	for i := 0; i+1 < len(f); i++ {
		if f[i] == "lladdr" {
			lladdr = f[i+1]
		}
	}
	if len(f) > 0 {
		state = f[len(f)-1]
	}
	return lladdr, state
}

// awaitNeighbour waits until r's cache maps a to mac.
func (hl *homeLink) awaitNeighbour(t *testing.T, ctx context.Context, a netip.Addr, mac net.HardwareAddr) {
	t.Helper()
	err := lab.Poll(ctx, fmt.Sprintf("r's entry for %s -> %s", a, mac), func(context.Context) error {
		if ll, st := hl.neighbour(t, a); ll != mac.String() {
			return fmt.Errorf("%w: %s %s", lab.ErrNotYet, ll, st)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// capturedNA is a Neighbor Advertisement seen on the wire.
type capturedNA struct {
	at     time.Time
	ethSrc net.HardwareAddr
	ipSrc  netip.Addr
	ipDst  netip.Addr
	hop    int
	na     homelink.NeighborAdvertisement
}

// advertisements returns the Neighbor Advertisements in a capture,
// decoded by the package's own parser, with their Ethernet and IPv6
// fields.
func advertisements(t *testing.T, c *lab.Capture) []capturedNA {
	t.Helper()
	pkts, err := c.Packets()
	if err != nil {
		t.Fatal(err)
	}
	var out []capturedNA
	for _, p := range pkts {
		b := p.Data
		if len(b) < 14+40 || binary.BigEndian.Uint16(b[12:14]) != 0x86dd || b[14+6] != 58 {
			continue
		}
		na, err := homelink.ParseNeighborAdvertisement(b[14+40:])
		if err != nil {
			continue
		}
		out = append(out, capturedNA{
			at:     p.Time,
			ethSrc: net.HardwareAddr(b[6:12]),
			ipSrc:  netip.AddrFrom16([16]byte(b[14+8 : 14+24])),
			ipDst:  netip.AddrFrom16([16]byte(b[14+24 : 14+40])),
			hop:    int(b[14+7]),
			na:     na,
		})
	}
	return out
}
