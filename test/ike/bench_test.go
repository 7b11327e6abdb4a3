package ike

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/interop"
	"github.com/mip6ha/mip6ha/test/interop/vici"
	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/mnclient"
)

// BenchmarkIKEResponderCPU measures a responder's CPU per IKE SA with one
// CHILD_SA, strongSwan's charon against our home agent, with the method of
// the lab's baseline (shared/lab/bench/ikesa.sh): strongSwan initiators
// (three charons, four vici "initiate" requests in flight each) set up b.N
// IKE SAs (PSK, aes128-sha256-x25519, a virtual IPv6 address by CP, ESP
// aes128gcm16 in UDP), and the responder process's utime+stime over the
// run (/proc/PID/stat) is divided by the IKE SAs set up. Run it alone:
//
//	go test -run '^$' -bench IKEResponderCPU -benchtime 600x ./test/ike/
func BenchmarkIKEResponderCPU(b *testing.B) {
	for _, resp := range []string{"strongswan", "mip6ha"} {
		b.Run("responder="+resp, func(b *testing.B) {
			tp := lab.NewTopology(b, lab.TopologyConfig{HAs: 2})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			haAddr := tp.HAAddrs[0].V6
			const psk = "responder cpu benchmark psk"
			initiators := []*lab.Host{tp.MN, tp.HA2, tp.CN}
			var pid int
			switch resp {
			case "strongswan":
				ch := startBenchSwanResponder(b, ctx, tp.HA1, haAddr, psk, len(initiators))
				pid = ch.Proc().Pid()
			default:
				pid = startBenchOurResponder(b, ctx, tp.HA1, psk, len(initiators))
			}
			var swans []*interop.Charon
			for i, h := range initiators {
				ch := interop.StartCharon(b, h, interop.CharonOptions{LogLevels: map[string]int{"default": 0},
					// As the baseline's initiators: a new IKE SA per initiate.
					Extra: []string{"reuse_ikesa = no", "threads = 32", "ikesa_table_size = 1024", "ikesa_table_segments = 16"}})
				if err := ch.Load(ctx, interop.Config{
					Connections: []interop.Connection{{
						Name: "home", RemoteAddrs: []string{haAddr.String()}, Proposals: []string{"aes128-sha256-x25519"},
						Encap: true, VIPs: []string{"::"},
						Local:  interop.Auth{Method: "psk", ID: fmt.Sprintf("mn%d.example", i+1)},
						Remote: interop.Auth{Method: "psk", ID: haID},
						Children: []interop.Child{{Name: "home", RemoteTS: []string{innerNet.String()},
							ESPProposals: []string{"aes128gcm16"}}},
					}},
					Secrets: []interop.Secret{{Name: "bench", Secret: psk}},
				}); err != nil {
					b.Fatal(err)
				}
				swans = append(swans, ch)
			}
			cpu0 := procCPU(b, pid)
			start := time.Now()
			b.ResetTimer()
			ok, failed := initiateMany(b, ctx, swans, b.N, 4)
			b.StopTimer()
			wall := time.Since(start)
			cpu := procCPU(b, pid) - cpu0
			if failed > 0 {
				b.Errorf("%d of %d IKE SAs failed", failed, b.N)
			}
			if ok > 0 {
				b.ReportMetric(float64(cpu.Microseconds())/float64(ok), "resp-cpu-µs/SA")
				b.ReportMetric(float64(ok)/wall.Seconds(), "SAs/s")
			}
		})
	}
}

// startBenchSwanResponder starts charon on host as the responder of the
// benchmark (identities mn1..mnN.example).
func startBenchSwanResponder(b *testing.B, ctx context.Context, host *lab.Host, haAddr netip.Addr, psk string, n int) *interop.Charon {
	host.Iface("lo").AddAddr(netip.PrefixFrom(innerAddr, 128).String())
	ch := interop.StartCharon(b, host, interop.CharonOptions{LogLevels: map[string]int{"default": 0}})
	if err := ch.Load(ctx, interop.Config{
		Connections: []interop.Connection{{
			Name: "mn", LocalAddrs: []string{haAddr.String()}, Proposals: []string{"aes128-sha256-x25519"},
			Encap: true, Pools: []string{"hoa"},
			Local:  interop.Auth{Method: "psk", ID: haID},
			Remote: interop.Auth{Method: "psk", ID: "%any"},
			Children: []interop.Child{{Name: "home", LocalTS: []string{innerNet.String()},
				ESPProposals: []string{"aes128gcm16"}}},
		}},
		Pools:   []interop.Pool{{Name: "hoa", Addrs: ourPrefix.String()}},
		Secrets: []interop.Secret{{Name: "bench", Secret: psk}},
	}); err != nil {
		b.Fatal(err)
	}
	return ch
}

// startBenchOurResponder starts our home agent on host as the responder of
// the benchmark and returns its pid.
func startBenchOurResponder(b *testing.B, ctx context.Context, host *lab.Host, psk string, n int) int {
	host.Iface("lo").AddAddr(netip.PrefixFrom(innerAddr, 128).String())
	var lines []string
	for i := range n {
		lines = append(lines, fmt.Sprintf("mn%d.example %s", i+1, psk))
	}
	pskFile := writeFile(b, host.Lab(), "bench.psk", []byte(strings.Join(lines, "\n")+"\n"))
	dir := host.Lab().Dir()
	p := host.StartWith(lab.ProcOptions{StopTimeout: 30 * time.Second}, lab.Binary(b, "./cmd/homeagent"), "run",
		"--identity", haID, "--secrets-file", pskFile, "--prefix", ourPrefix.String(), "--ike.local-ts", innerNet.String(),
		"--tun", "ha0", "--log-level", "warn", "--ike.cookie-threshold", "10000",
		"--data-dir", filepath.Join(dir, "bench-data"), "--admin", filepath.Join(dir, "bench.sock"))
	// At warn level the start-up lines are not written: wait for the socket.
	if err := host.WaitListening(ctx, "udp", 4500); err != nil {
		b.Fatal(err)
	}
	return p.Pid()
}

// initiateMany has the charons set up n IKE SAs, inFlight requests at a
// time on each.
func initiateMany(b *testing.B, ctx context.Context, swans []*interop.Charon, n, inFlight int) (ok, failed int) {
	var next, good, bad atomic.Int64
	var wg sync.WaitGroup
	for _, ch := range swans {
		for range inFlight {
			wg.Go(func() {
				c, err := vici.Dial(ctx, ch.Socket())
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				for next.Add(1) <= int64(n) {
					m := vici.NewMessage()
					_ = m.Set("ike", "home")
					_ = m.Set("child", "home")
					_ = m.Set("timeout", "30000")
					r, err := c.Request(ctx, "initiate", m)
					if err != nil || r.String("success") != "yes" {
						bad.Add(1)
						continue
					}
					good.Add(1)
				}
			})
		}
	}
	wg.Wait()
	return int(good.Load()), int(bad.Load())
}

// procCPU returns a process's user and system CPU time from
// /proc/PID/stat (all threads), in clock ticks of 10 ms.
func procCPU(b *testing.B, pid int) time.Duration {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	s := string(raw)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// BenchmarkIKETunnelThroughput measures one TCP stream (iperf3, 5 s)
// through a tunnel from the mobile node to innerAddr behind the home agent:
// our client and home agent (user-space ESP over TUN) against two strongSwan
// charons with kernel-libipsec, both with AES-GCM-256 ESP in UDP, in the
// same run on the same machine. Each b.N iteration is one iperf3 run:
//
//	go test -run '^$' -bench IKETunnelThroughput -benchtime 1x ./test/ike/
func BenchmarkIKETunnelThroughput(b *testing.B) {
	for _, impl := range []string{"mip6ha", "strongswan"} {
		b.Run("tunnel="+impl, func(b *testing.B) {
			tp := lab.NewTopology(b, lab.TopologyConfig{HAs: 1})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			haAddr := tp.HAAddrs[0].V6
			c := pskCreds("throughput psk")
			var src netip.Addr
			switch impl {
			case "mip6ha":
				startOurHA(b, ctx, tp.HA1, c, "--log-level", "info")
				mn := startOurMN(b, tp.MN, haAddr, c, "-log-level", "info")
				src = mn.homeAddress(ctx)
				mn.wait(ctx, mnclient.EventChildInstalled, 1, nil)
			default:
				startSwanHA(b, ctx, tp.HA1, haAddr, c, interop.CharonOptions{})
				ch := swanToOurHA(b, ctx, tp.MN, haAddr, c, interop.CharonOptions{})
				sa, err := ch.WaitEstablished(ctx, "home", "home")
				if err != nil {
					b.Fatal(err)
				}
				src = sa.LocalVIPs[0]
			}
			if err := tp.MN.WaitPing(ctx, innerAddr.String(), src.String()); err != nil {
				b.Fatal(err)
			}
			srv := tp.HA1.Start("iperf3", "-s", "-B", innerAddr.String())
			defer srv.Stop()
			if err := tp.HA1.WaitListening(ctx, "tcp", 5201); err != nil {
				b.Fatal(err)
			}
			var total float64
			b.ResetTimer()
			for range b.N {
				out, err := tp.MN.Output(ctx, "iperf3", "-c", innerAddr.String(), "-B", src.String(), "-t", "5", "-J")
				if err != nil {
					b.Fatal(err)
				}
				var r struct {
					End struct {
						SumReceived struct {
							BitsPerSecond float64 `json:"bits_per_second"`
						} `json:"sum_received"`
					} `json:"end"`
				}
				if err := json.Unmarshal([]byte(out), &r); err != nil {
					b.Fatalf("iperf3 output: %v\n%s", err, out)
				}
				total += r.End.SumReceived.BitsPerSecond
			}
			b.StopTimer()
			b.ReportMetric(total/float64(b.N)/1e6, "Mbit/s")
		})
	}
}
