package dataplane

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"

	"golang.org/x/net/ipv6"
)

const benchPacket = 1400

var benchTransforms = []transformCase{transformCases[0], transformCases[2], transformCases[3]}

func BenchmarkSeal(b *testing.B) {
	for _, tc := range benchTransforms {
		b.Run(fmt.Sprintf("%s/%d", tc.name, benchPacket), func(b *testing.B) {
			out, _ := saPair(b, tc)
			inner := testInner(hoa, cnAddr, benchPacket)
			buf := make([]byte, BufferSize)
			b.SetBytes(benchPacket)
			b.ReportAllocs()
			for b.Loop() {
				copy(buf[HeadRoom:], inner[:40]) // the header; the payload may stay ciphertext
				if _, r := out.seal(buf, benchPacket, 1); r != NotDropped {
					b.Fatal(r)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, tc := range benchTransforms {
		b.Run(fmt.Sprintf("%s/%d", tc.name, benchPacket), func(b *testing.B) {
			out, in := saPair(b, tc)
			inner := testInner(hoa, cnAddr, benchPacket)
			// Opening decrypts in place and every sequence number is
			// accepted once, so seal a fresh chunk of packets outside the
			// timer whenever the previous one is used up.
			const chunk = 256
			bufs := make([][]byte, chunk)
			lens := make([]int, chunk)
			for i := range bufs {
				bufs[i] = make([]byte, BufferSize)
			}
			refill := func() {
				for i, buf := range bufs {
					copy(buf[HeadRoom:], inner)
					esp, r := out.seal(buf, benchPacket, 1)
					if r != NotDropped {
						b.Fatal(r)
					}
					lens[i] = len(esp)
				}
			}
			b.SetBytes(benchPacket)
			b.ReportAllocs()
			i := chunk
			for b.Loop() {
				if i == chunk {
					b.StopTimer()
					refill()
					b.StartTimer()
					i = 0
				}
				if _, r := in.open(bufs[i], lens[i], 1); r != NotDropped {
					b.Fatal(r)
				}
				i++
			}
		})
	}
}

func BenchmarkReplayWindow(b *testing.B) {
	b.Run("in-order", func(b *testing.B) {
		var w replayWindow
		seq := uint64(0)
		b.ReportAllocs()
		for b.Loop() {
			seq++
			if !w.check(seq) || !w.update(seq) {
				b.Fatal(seq)
			}
		}
	})
	b.Run("reordered", func(b *testing.B) {
		// Pairs swapped and a late packet now and then, all within the window.
		seqs := make([]uint64, 1<<16)
		rng := rand.New(rand.NewPCG(1, 1))
		for i := range seqs {
			seqs[i] = uint64(i + 1)
		}
		for i := 0; i+1 < len(seqs); i += 2 + rng.IntN(4) {
			j := i + 1 + rng.IntN(min(64, len(seqs)-i-1))
			seqs[i], seqs[j] = seqs[j], seqs[i]
		}
		var w replayWindow
		base := uint64(0)
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			if i == len(seqs) {
				i, base = 0, base+uint64(len(seqs))
			}
			s := base + seqs[i]
			if !w.check(s) || !w.update(s) {
				b.Fatal(s)
			}
			i++
		}
	})
}

func BenchmarkClassify(b *testing.B) {
	inputs := [][]byte{
		make([]byte, 1440),
		append([]byte{0, 0, 0, 0}, make([]byte, 200)...),
		{Keepalive},
	}
	inputs[0][0] = 0xc0
	b.ReportAllocs()
	var n int
	for b.Loop() {
		for _, in := range inputs {
			n += int(Classify(in))
		}
	}
	if n == 0 {
		b.Fatal("no kinds")
	}
}

// Lookups with 10 000 mobile nodes: a home agent's outbound table of HoA
// host routes and its inbound SPI table.
func BenchmarkLookup(b *testing.B) {
	const nodes = 10000
	out := newOutboundTable()
	in := newInboundTable()
	addrs := make([]netip.Addr, nodes)
	spis := make([]uint32, nodes)
	for i := range nodes {
		addrs[i] = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 14: byte(i >> 8), 15: byte(i)})
		sa := testSA(b, Outbound, uint32(0x1000+i), netip.PrefixFrom(addrs[i], 128).String())
		out.insert(sa)
		spis[i] = rand.Uint32() | 0x100
		if in.insert(testSA(b, Inbound, spis[i])) != nil {
			spis[i] = 0x100 + uint32(i) // collision: rare
			_ = in.insert(testSA(b, Inbound, spis[i]))
		}
	}
	out.insert(testSA(b, Outbound, 0x100, "::/0"))
	b.Run("outbound-hoa", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if out.lookup(addrs[i%nodes]) == nil {
				b.Fatal("miss")
			}
			i++
		}
	})
	b.Run("outbound-default", func(b *testing.B) {
		dst := netip.MustParseAddr("2001:db8:3::1")
		b.ReportAllocs()
		for b.Loop() {
			if out.lookup(dst) == nil {
				b.Fatal("miss")
			}
		}
	})
	b.Run("inbound-spi", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			_ = in.lookup(spis[i%nodes])
			i++
		}
	})
	b.Run("install-outbound", func(b *testing.B) {
		// Copy-on-write cost of one install with 10 000 routes present.
		sa := testSA(b, Outbound, 0x99999, "2001:db8:1::ffff/128")
		b.ReportAllocs()
		for b.Loop() {
			out.insert(sa)
		}
	})
}

// BenchmarkReadBatch compares receiving batches of datagrams with
// recvmmsg as this package does and with x/net's ipv6.PacketConn.ReadBatch,
// which the package does not use because it allocates a *net.UDPAddr and
// its IP for every datagram. One op is one batch of 32 datagrams sent over
// loopback and read back.
func BenchmarkReadBatch(b *testing.B) {
	const batch = 32
	// IKE-role sockets: no UDP_GRO, so every datagram is one message.
	setup := func(b *testing.B) (*udpConn, *udpConn) {
		rx, err := listenUDP(netip.MustParseAddrPort("[::1]:0"), roleIKE, 4<<20)
		if err != nil {
			b.Fatal(err)
		}
		tx, err := listenUDP(netip.MustParseAddrPort("[::1]:0"), roleIKE, 4<<20)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { rx.conn.Close(); tx.conn.Close() })
		return rx, tx
	}
	send := func(b *testing.B, tx *udpConn, sb *sendBatch, dst *sockaddr, payload []byte) {
		for range batch {
			sb.add(dst, nil, nil, payload)
		}
		if sent, _, err := tx.flush(sb); sent != batch || err != nil {
			b.Fatalf("sent %d: %v", sent, err)
		}
	}
	payload := make([]byte, benchPacket)
	b.Run("recvmmsg", func(b *testing.B) {
		rx, tx := setup(b)
		dst := makeSockaddr(rx.local)
		sb := newSendBatch(batch)
		rb := newRecvBatch(batch)
		b.SetBytes(batch * benchPacket)
		b.ReportAllocs()
		for b.Loop() {
			send(b, tx, sb, &dst, payload)
			for got := 0; got < batch; {
				n, err := rx.read(rb)
				if err != nil {
					b.Fatal(err)
				}
				for i := range n {
					if _, remote, _, _, ok := rb.datagram(i, rx); !ok || remote != tx.local {
						b.Fatal("bad datagram")
					}
				}
				got += n
			}
		}
	})
	b.Run("x-net-ReadBatch", func(b *testing.B) {
		rx, tx := setup(b)
		dst := makeSockaddr(rx.local)
		sb := newSendBatch(batch)
		pc := ipv6.NewPacketConn(rx.conn)
		msgs := make([]ipv6.Message, batch)
		for i := range msgs {
			msgs[i].Buffers = [][]byte{make([]byte, BufferSize)}
			msgs[i].OOB = make([]byte, oobSize)
		}
		b.SetBytes(batch * benchPacket)
		b.ReportAllocs()
		for b.Loop() {
			send(b, tx, sb, &dst, payload)
			for got := 0; got < batch; {
				n, err := pc.ReadBatch(msgs, 0)
				if err != nil {
					b.Fatal(err)
				}
				for i := range n {
					if msgs[i].Addr.(*net.UDPAddr).AddrPort().Port() != tx.local.Port() {
						b.Fatal("bad datagram")
					}
				}
				got += n
			}
		}
	})
}

// BenchmarkWriteIKE sends batches of 32 IKE messages (an IKE_SA_INIT answer
// is ~100–300 octets) from the NAT-T port, marker added, over loopback.
func BenchmarkWriteIKE(b *testing.B) {
	d, err := New(Config{Addrs: []netip.Addr{netip.MustParseAddr("::1")}})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	var natt netip.AddrPort
	for _, l := range d.Listeners() {
		if l.NATT {
			natt = l.Addr
		}
	}
	sink, err := net.ListenUDP("udp6", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("[::1]:0")))
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	dst := sink.LocalAddr().(*net.UDPAddr).AddrPort()
	dgs := make([]Datagram, 32)
	for i := range dgs {
		dgs[i] = Datagram{Local: natt, Remote: dst, Payload: make([]byte, 200)}
	}
	b.SetBytes(int64(len(dgs) * 200))
	b.ReportAllocs()
	for b.Loop() {
		if n, err := d.WriteIKE(dgs); n != len(dgs) || err != nil {
			b.Fatal(n, err)
		}
	}
}
