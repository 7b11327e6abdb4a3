package dataplane

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A tiny network-namespace helper for this package's root tests (the shared
// lab in test/lab cannot be imported from here).

type netns struct {
	name string
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, TUN)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs iproute2")
	}
}

func uniqueName(prefix string) string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

func newNetns(t *testing.T) *netns {
	t.Helper()
	ns := &netns{name: uniqueName("dpt-")}
	run(t, "ip", "netns", "add", ns.name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", ns.name, err, out)
		}
	})
	ns.ip(t, "link", "set", "lo", "up")
	return ns
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (ns *netns) ip(t *testing.T, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"-n", ns.name}, args...)...)
}

func (ns *netns) exec(t *testing.T, args ...string) string {
	t.Helper()
	return run(t, "ip", append([]string{"netns", "exec", ns.name}, args...)...)
}

// do runs f on an OS thread switched into the namespace. Sockets, TUN
// devices and netlink handles opened by f stay in the namespace. The thread
// is thrown away afterwards rather than switched back.
func (ns *netns) do(t *testing.T, f func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		fd, err := unix.Open("/run/netns/"+ns.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns.name, err)
			return
		}
		errc <- f()
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// nsPair is two namespaces joined by a veth link, each with a dataplane on
// the standard ports and a TUN device, with one CHILD_SA pair between them.
type nsPair struct {
	a, b       *netns
	outerA     netip.Addr
	outerB     netip.Addr
	innerA     netip.Addr
	innerB     netip.Addr
	dpA, dpB   *Dataplane
	outA, outB *SA
	inA, inB   *SA
	probeA     KernelESP
	cancel     context.CancelFunc
	runA, runB chan error
	tunA, tunB string
}

// newNSPair builds the pair; ikeB, if set, receives B's IKE datagrams.
func newNSPair(t *testing.T, tc transformCase, ikeB func([]Datagram)) *nsPair {
	t.Helper()
	p := &nsPair{
		a: newNetns(t), b: newNetns(t),
		outerA: netip.MustParseAddr("fd00:d9::1"), outerB: netip.MustParseAddr("fd00:d9::2"),
		innerA: netip.MustParseAddr("fd00:a::1"), innerB: netip.MustParseAddr("fd00:b::1"),
		runA: make(chan error, 1), runB: make(chan error, 1),
	}
	va, vb := uniqueName("dva"), uniqueName("dvb")
	run(t, "ip", "link", "add", va, "netns", p.a.name, "type", "veth", "peer", "name", vb, "netns", p.b.name)
	p.a.ip(t, "addr", "add", p.outerA.String()+"/64", "dev", va, "nodad")
	p.b.ip(t, "addr", "add", p.outerB.String()+"/64", "dev", vb, "nodad")
	p.a.ip(t, "link", "set", va, "up")
	p.b.ip(t, "link", "set", vb, "up")
	// Resolve the outer neighbour before the tunnel is used: a neighbour
	// solicitation sent while the veth carrier comes up is lost and only
	// retried after a second.
	p.a.exec(t, "ping", "-6", "-c", "1", "-w", "10", p.outerB.String())

	setup := func(ns *netns, inner, peerInner netip.Addr, dp **Dataplane, tunName *string, ike func([]Datagram)) {
		ns.do(t, func() error {
			tun, err := CreateTUN("esp0", 1400)
			if err != nil {
				return err
			}
			*tunName = tun.Name()
			if err := tun.AddAddress(netip.PrefixFrom(inner, 128)); err != nil {
				return err
			}
			if err := tun.AddRoute(netip.PrefixFrom(peerInner, 128), inner); err != nil {
				return err
			}
			*dp, err = New(Config{IKEPort: IKEPort, NATTPort: NATTPort, Device: tun, IKE: ike})
			if err != nil {
				tun.Close()
			}
			return err
		})
	}
	setup(p.a, p.innerA, p.innerB, &p.dpA, &p.tunA, nil)
	setup(p.b, p.innerB, p.innerA, &p.dpB, &p.tunB, ikeB)
	p.a.do(t, func() error { p.probeA = ProbeKernelESP(); return nil })

	keyAB, keyBA := make([]byte, tc.keyLen+saltLen), make([]byte, tc.keyLen+saltLen)
	_, _ = rand.Read(keyAB)
	_, _ = rand.Read(keyBA)
	ta := []netip.Prefix{netip.PrefixFrom(p.innerA, 128)}
	tb := []netip.Prefix{netip.PrefixFrom(p.innerB, 128)}
	ea, eb := netip.AddrPortFrom(p.outerA, NATTPort), netip.AddrPortFrom(p.outerB, NATTPort)
	mk := func(spi uint32, dir Direction, key []byte, local, remote netip.AddrPort, lts, rts []netip.Prefix) *SA {
		sa, err := NewSA(SAConfig{SPI: spi, Direction: dir, Transform: tc.transform, KeyMaterial: key,
			Local: local, Remote: remote, LocalTS: lts, RemoteTS: rts})
		if err != nil {
			t.Fatal(err)
		}
		return sa
	}
	p.outA = mk(0xb0b0b0b0, Outbound, keyAB, ea, eb, ta, tb)
	p.inB = mk(0xb0b0b0b0, Inbound, keyAB, eb, ea, tb, ta)
	p.outB = mk(0xa0a0a0a0, Outbound, keyBA, eb, ea, tb, ta)
	p.inA = mk(0xa0a0a0a0, Inbound, keyBA, ea, eb, ta, tb)
	for _, err := range []error{
		p.dpA.InstallInbound(p.inA), p.dpB.InstallInbound(p.inB),
		p.dpA.InstallOutbound(p.outA), p.dpB.InstallOutbound(p.outB),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	go func() { p.runA <- p.dpA.Run(ctx) }()
	go func() { p.runB <- p.dpB.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		for _, c := range []chan error{p.runA, p.runB} {
			select {
			case err := <-c:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return")
			}
		}
	})
	return p
}

// Two namespaces, a real TUN in each, our ESP-in-UDP on port 4500 between
// them: ping6 from one inner address to the other gets its replies.
func TestNetnsPingThroughTunnel(t *testing.T) {
	requireRoot(t)
	for _, tc := range []transformCase{transformCases[0], transformCases[3]} {
		t.Run(tc.name, func(t *testing.T) {
			p := newNSPair(t, tc, nil)
			t.Log(p.probeA)
			if !strings.HasPrefix(p.probeA.String(), "kernel ESP ") {
				t.Errorf("probe line %q", p.probeA)
			}
			out := p.a.exec(t, "ping", "-6", "-c", "5", "-i", "0.2", "-W", "5", "-I", p.innerA.String(), p.innerB.String())
			if !strings.Contains(out, " 0% packet loss") {
				t.Fatalf("ping through the tunnel:\n%s", out)
			}
			// Larger than the TUN MTU minus headers is fragmented by the
			// inner stack; each fragment travels as one ESP packet.
			out = p.a.exec(t, "ping", "-6", "-c", "3", "-i", "0.2", "-W", "5", "-s", "3000", "-I", p.innerA.String(), p.innerB.String())
			if !strings.Contains(out, " 0% packet loss") {
				t.Fatalf("ping -s 3000 through the tunnel:\n%s", out)
			}
			for _, sa := range []*SA{p.outA, p.inB, p.outB, p.inA} {
				if s := sa.Stats(); s.Packets < 8 || s.Drops != [NumDropReasons]uint64{} {
					t.Errorf("%v SA %#x: %+v", sa.Direction(), sa.SPI(), s)
				}
			}
			// The ESP packets really went over the veth on UDP 4500.
			if s := p.dpB.Stats(); s.ESPIn < 8 || s.ESPOut < 8 {
				t.Errorf("B stats %+v", s)
			}
		})
	}
}

// On a wildcard socket, pktinfo reports which of several local addresses an
// IKE datagram was sent to, and a reply leaves from that address.
func TestNetnsPktinfo(t *testing.T) {
	requireRoot(t)
	got := make(chan Datagram, 4)
	p := newNSPair(t, transformCases[0], func(batch []Datagram) {
		for _, d := range batch {
			d.Payload = append([]byte(nil), d.Payload...)
			got <- d
		}
	})
	second := netip.MustParseAddr("fd00:d9::22")
	p.b.ip(t, "addr", "add", second.String()+"/128", "dev", "lo", "nodad")
	p.a.ip(t, "route", "add", second.String()+"/128", "via", p.outerB.String())
	for _, dst := range []netip.Addr{p.outerB, second} {
		if _, err := p.dpA.WriteIKE([]Datagram{{
			Local:   netip.AddrPortFrom(p.outerA, NATTPort),
			Remote:  netip.AddrPortFrom(dst, NATTPort),
			Payload: []byte("ike message to " + dst.String()),
		}}); err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-got:
			if d.Local != netip.AddrPortFrom(dst, NATTPort) || d.Remote != netip.AddrPortFrom(p.outerA, NATTPort) {
				t.Fatalf("datagram to %v arrived as %v -> %v", dst, d.Remote, d.Local)
			}
			if string(d.Payload) != "ike message to "+dst.String() {
				t.Fatalf("payload %q", d.Payload)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("IKE datagram to %v not received", dst)
		}
	}
}

// Throughput over the namespace pair with iperf3, beside the strongSwan
// kernel-libipsec baseline (lab/bench/BASELINES.md §1: 198 Mbit/s, 62 µs CPU
// per ESP packet for both ends together). Opt-in: DATAPLANE_IPERF=1.
func TestNetnsIperf3(t *testing.T) {
	requireRoot(t)
	if os.Getenv("DATAPLANE_IPERF") == "" {
		t.Skip("set DATAPLANE_IPERF=1 to measure throughput with iperf3")
	}
	if _, err := exec.LookPath("iperf3"); err != nil {
		t.Skip("needs iperf3")
	}
	for _, tc := range []transformCase{transformCases[0], transformCases[3]} {
		for _, streams := range []string{"1", "4"} {
			t.Run(tc.name+"/P"+streams, func(t *testing.T) {
				p := newNSPair(t, tc, nil)
				srv := exec.Command("ip", "netns", "exec", p.b.name, "iperf3", "-s", "-1", "--forceflush", "-B", p.innerB.String())
				stdout, err := srv.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := srv.Start(); err != nil {
					t.Fatal(err)
				}
				defer srv.Wait()
				defer srv.Process.Kill()
				lines := bufio.NewScanner(stdout)
				for lines.Scan() && !strings.Contains(lines.Text(), "Server listening") {
				}
				go io.Copy(io.Discard, stdout)
				var ru0, ru1 unix.Rusage
				_ = unix.Getrusage(unix.RUSAGE_SELF, &ru0)
				out, err := exec.Command("ip", "netns", "exec", p.a.name, "iperf3", "-c", p.innerB.String(), "-B", p.innerA.String(),
					"-t", "10", "-P", streams, "-J").Output()
				_ = unix.Getrusage(unix.RUSAGE_SELF, &ru1)
				if err != nil {
					t.Fatalf("iperf3: %v\n%s", err, out)
				}
				var res struct {
					End struct {
						SumReceived struct {
							BitsPerSecond float64 `json:"bits_per_second"`
						} `json:"sum_received"`
						SumSent struct {
							Retransmits int `json:"retransmits"`
						} `json:"sum_sent"`
					} `json:"end"`
				}
				if err := json.Unmarshal(out, &res); err != nil {
					t.Fatalf("iperf3 JSON: %v", err)
				}
				sa, sb := p.dpA.Stats(), p.dpB.Stats()
				pkts := sa.ESPOut + sb.ESPOut
				cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
				t.Logf("%s, %s stream(s): %.0f Mbit/s, %d retransmits, %d ESP packets, dataplane CPU %v, %.1f µs per ESP packet (both ends), drops A %v B %v",
					tc.name, streams, res.End.SumReceived.BitsPerSecond/1e6, res.End.SumSent.Retransmits, pkts, cpu,
					float64(cpu.Microseconds())/float64(pkts), sa.Drops, sb.Drops)
				for _, ns := range []*netns{p.a, p.b} {
					t.Logf("%s: %s%s", ns.name, ns.ip(t, "-s", "link", "show", "esp0"),
						ns.exec(t, "sh", "-c", "nstat -az | grep -E 'Udp6(InDatagrams|RcvbufErrors|SndbufErrors|InErrors|OutDatagrams)'"))
				}
			})
		}
	}
}

// The TUN device's MTU, addresses and routes as the kernel sees them.
func TestNetnsTUNConfiguration(t *testing.T) {
	requireRoot(t)
	ns := newNetns(t)
	var tun *TUN
	ns.do(t, func() error {
		var err error
		tun, err = CreateTUN("", 1400)
		return err
	})
	defer tun.Close()
	if !strings.HasPrefix(tun.Name(), "tun") || tun.Index() == 0 {
		t.Fatalf("name %q index %d", tun.Name(), tun.Index())
	}
	if err := tun.SetMTU(1280); err != nil {
		t.Fatal(err)
	}
	if mtu, err := tun.MTU(); err != nil || mtu != 1280 {
		t.Fatalf("MTU %d, %v", mtu, err)
	}
	hoa := netip.MustParsePrefix("2001:db8:1::1234/128")
	for _, err := range []error{
		tun.AddAddress(hoa),
		tun.AddRoute(netip.MustParsePrefix("::/0"), hoa.Addr()),
		tun.AddRoute(netip.MustParsePrefix("198.51.100.0/24"), netip.Addr{}),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	link := ns.ip(t, "link", "show", tun.Name())
	if !strings.Contains(link, "mtu 1280") || !strings.Contains(link, "UP") || !strings.Contains(link, "qlen 5000") {
		t.Errorf("link: %s", link)
	}
	if addrs := ns.ip(t, "-6", "addr", "show", "dev", tun.Name()); !strings.Contains(addrs, "2001:db8:1::1234/128") || strings.Contains(addrs, "fe80") {
		t.Errorf("addresses (want the HoA and no link-local): %s", addrs)
	}
	if r := ns.ip(t, "-6", "route", "show", "default"); !strings.Contains(r, "dev "+tun.Name()) || !strings.Contains(r, "src 2001:db8:1::1234") {
		t.Errorf("IPv6 default route: %s", r)
	}
	if r := ns.ip(t, "-4", "route", "show", "198.51.100.0/24"); !strings.Contains(r, "dev "+tun.Name()) {
		t.Errorf("IPv4 route: %s", r)
	}
	if err := tun.DelRoute(netip.MustParsePrefix("198.51.100.0/24")); err != nil {
		t.Fatal(err)
	}
	if r := ns.ip(t, "-4", "route", "show", "198.51.100.0/24"); strings.TrimSpace(r) != "" {
		t.Errorf("route still there: %s", r)
	}
	if err := tun.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("ip", "-n", ns.name, "link", "show", tun.Name()).CombinedOutput(); err == nil {
		t.Errorf("device survives Close: %s", out)
	}
}
