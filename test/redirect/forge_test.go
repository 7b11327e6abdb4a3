package redirect

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mip6ha/mip6ha/ike/wire"
	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/mnclient"
)

// TestRedirectForgedNonceIgnored: an attacker on the path (on the router)
// answers our client's IKE_SA_INIT with a REDIRECT whose Nonce Data is not
// the client's Ni, before the home agent's real answer arrives (the router
// holds that one back). The client drops the forgery silently and keeps
// waiting (RFC 5685 §3); its retransmission gets the real answer and its
// SAs come up with the original home agent.
func TestRedirectForgedNonceIgnored(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{})
	ctx := ctxFor(t, 90*time.Second)
	haAddr, mnAddr := tp.HAAddrs[0].V6, tp.MNAddrs().V6
	startHA(t, ctx, tp.HA1, haOptions{member: "ha1", unicast: haAddr, hostRange: hostRanges[0]})
	// The router drops the home agent's IKE_SA_INIT answers for now.
	tp.R.Nft(fmt.Sprintf(`table ip6 forge {
	chain hold {
		type filter hook forward priority 0; policy accept;
		ip6 saddr %s ip6 daddr %s udp sport 500 drop
	}
}`, haAddr, mnAddr))
	capture := tp.MN.Capture("eth0", "udp port 500 or udp port 4500")
	mn := startMN(t, tp.MN, haAddr)

	// The forger sees the request go by and answers first.
	var spi uint64
	var mnPort uint16
	if err := lab.Poll(ctx, "the client's IKE_SA_INIT request", func(context.Context) error {
		pkts, err := capture.Packets()
		if err != nil {
			return err
		}
		for _, p := range pkts {
			if s, port, ok := ikeInitRequest(p.Data, haAddr); ok {
				spi, mnPort = s, port
				return nil
			}
		}
		return lab.ErrNotYet
	}); err != nil {
		t.Fatal(err)
	}
	forged := forgedRedirect(t, spi)
	if err := inHost(tp.R, func() error {
		return sendSpoofed(netip.AddrPortFrom(haAddr, 500), netip.AddrPortFrom(mnAddr, mnPort), forged)
	}); err != nil {
		t.Fatal(err)
	}
	if err := lab.Poll(ctx, "the forged REDIRECT at the client", func(context.Context) error {
		for _, e := range ikeMessages(t, ctx, capture.Path(), nil) {
			if hasNotify(e, nRedirect) {
				return nil
			}
		}
		return lab.ErrNotYet
	}); err != nil {
		t.Fatal(err)
	}
	tp.R.Nft("delete table ip6 forge")

	up := mn.wait(ctx, mnclient.EventAttached, 1, nil)
	if up.Remote != netip.AddrPortFrom(haAddr, 4500).String() {
		t.Fatalf("attached %+v, want the original home agent", up)
	}
	mn.wait(ctx, mnclient.EventChildInstalled, 1, nil)
	for _, e := range mn.events() {
		if e.Event == mnclient.EventRedirected {
			t.Errorf("the client followed a forged REDIRECT: %+v", e)
		}
	}
	msgs := ikeMessages(t, ctx, capture.Stop(), nil)
	var order []string
	for _, m := range msgs {
		if m.Value("ipv6.src") == haAddr.String() && m.Value("isakmp.exchangetype") == exIKESAInit {
			if hasNotify(m, nRedirect) {
				order = append(order, "forged REDIRECT")
			} else {
				order = append(order, "answer")
			}
		}
	}
	if len(order) < 2 || order[0] != "forged REDIRECT" || order[len(order)-1] != "answer" {
		t.Errorf("IKE_SA_INIT answers the client saw: %v, want the forgery first and the real answer last", order)
	}
}

// ikeInitRequest finds, in an Ethernet frame, a first IKE_SA_INIT request
// to gw and returns its SPIi and the sender's port.
func ikeInitRequest(frame []byte, gw netip.Addr) (spi uint64, port uint16, ok bool) {
	const eth, ip6, udp = 14, 40, 8
	if len(frame) < eth+ip6+udp+28 || binary.BigEndian.Uint16(frame[12:]) != 0x86dd || frame[eth+6] != unix.IPPROTO_UDP {
		return 0, 0, false
	}
	dst := netip.AddrFrom16([16]byte(frame[eth+24 : eth+40]))
	u := frame[eth+ip6:]
	ike := u[udp:]
	if dst != gw || binary.BigEndian.Uint16(u[2:]) != 500 || ike[18] != byte(wire.ExchangeIKESAInit) || ike[19]&0x20 != 0 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint64(ike[0:8]), binary.BigEndian.Uint16(u[0:]), true
}

// forgedRedirect is an IKE_SA_INIT answer to the request with SPIi spi
// holding only a REDIRECT to an attacker's address, with Nonce Data that
// is not the request's Ni (the forger never saw it).
func forgedRedirect(t *testing.T, spi uint64) []byte {
	t.Helper()
	nonce := make([]byte, 32)
	rand.Read(nonce)
	var b wire.Builder
	b.Reset(nil, wire.HeaderFields{SPIi: spi, ExchangeType: wire.ExchangeIKESAInit, Flags: wire.FlagResponse})
	b.Add(&wire.Redirect{Gateway: wire.GatewayAddr(netip.MustParseAddr("2001:db8:bad::1")), Nonce: nonce})
	msg, err := b.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// sendSpoofed sends a UDP datagram from an address that is not ours
// (IPV6_TRANSPARENT, as a transparent proxy would).
func sendSpoofed(from, to netip.AddrPort, payload []byte) error {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_IPV6, unix.IPV6_TRANSPARENT, 1); err != nil {
		return fmt.Errorf("IPV6_TRANSPARENT: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_IPV6, unix.IPV6_FREEBIND, 1); err != nil {
		return fmt.Errorf("IPV6_FREEBIND: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet6{Addr: from.Addr().As16(), Port: int(from.Port())}); err != nil {
		return fmt.Errorf("bind %v: %w", from, err)
	}
	if err := unix.Sendto(fd, payload, 0, &unix.SockaddrInet6{Addr: to.Addr().As16(), Port: int(to.Port())}); err != nil {
		return fmt.Errorf("send to %v: %w", to, err)
	}
	return nil
}
