package redirect

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/mnclient"
	"github.com/mip6ha/mip6ha/test/tshark"
)

// TestRedirectOursOnTheWire: our client and our home agents, checked by
// tshark. The client announces REDIRECT_SUPPORTED to ha1; ha1 (draining)
// answers with REDIRECT (GW Ident Type 2, ha2's address, the client's Ni);
// the client comes to ha2 with REDIRECTED_FROM naming ha1. Later ha2
// redirects the established SA to ha3 in an INFORMATIONAL request, which
// tshark decrypts with ha2's key log (no Nonce Data); the client comes to
// ha3 with REDIRECTED_FROM naming ha2, make-before-break. A client that did
// not announce the extensions sees none of them.
func TestRedirectOursOnTheWire(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{HAs: 3})
	ctx := ctxFor(t, 90*time.Second)
	ha1Addr, ha2Addr, ha3Addr := tp.HAAddrs[0].V6, tp.HAAddrs[1].V6, tp.HAAddrs[2].V6
	members := []string{"--member", "ha1=" + ha1Addr.String(), "--member", "ha2=" + ha2Addr.String()}
	startHA(t, ctx, tp.HAs[2], haOptions{member: "ha3", unicast: ha3Addr, hostRange: hostRanges[1]})
	ha2 := startHA(t, ctx, tp.HA2, haOptions{member: "ha2", unicast: ha2Addr, hostRange: hostRanges[1], labha: members})
	startHA(t, ctx, tp.HA1, haOptions{member: "ha1", unicast: ha1Addr, hostRange: hostRanges[0], labha: append(members, "--draining")})
	capture := tp.MN.Capture("eth0", "udp port 500 or udp port 4500")
	mn := startMN(t, tp.MN, ha1Addr)
	mn.wait(ctx, mnclient.EventChildInstalled, 1, nil)
	if up := mn.wait(ctx, mnclient.EventAttached, 1, nil); up.Remote != netip.AddrPortFrom(ha2Addr, 4500).String() {
		t.Fatalf("attached %+v, want ha2", up)
	}
	if a := ha2.command(ctx, "redirect "+mnID+" "+ha3Addr.String()); a["redirected"] != float64(1) {
		t.Fatalf("labha: %v", a)
	}
	mn.wait(ctx, mnclient.EventChildInstalled, 2, nil)
	if up := mn.wait(ctx, mnclient.EventAttached, 2, nil); up.Remote != netip.AddrPortFrom(ha3Addr, 4500).String() {
		t.Fatalf("attached %+v, want ha3", up)
	}
	mn.wait(ctx, mnclient.EventDetached, 1, func(e mnclient.Event) bool { return e.Reason == "deleted" })

	msgs := ikeMessages(t, ctx, capture.Stop(), keyLogPrefs(t, ha2.keylog))
	checkNoPrivateUse(t, msgs)
	toHA1 := initRequestsTo(msgs, ha1Addr)
	if len(toHA1) != 1 || !hasNotify(toHA1[0], nRedirectSupported) {
		t.Fatalf("requests to ha1 %v: want REDIRECT_SUPPORTED", toHA1)
	}
	var redirects []tshark.Packet
	for _, m := range msgs {
		if hasNotify(m, nRedirect) {
			redirects = append(redirects, m)
		}
	}
	if len(redirects) != 2 {
		t.Fatalf("%d REDIRECTs on the wire, want 2: %v", len(redirects), redirects)
	}
	init, info := redirects[0], redirects[1]
	if init.Value("ipv6.src") != ha1Addr.String() || init.Value("isakmp.exchangetype") != exIKESAInit ||
		init.Value("isakmp.notify.data.redirect.gw_ident.type") != "2" || init.Value("isakmp.notify.data.redirect.gw_ident.len") != "16" ||
		init.Value("isakmp.notify.data.redirect.new_resp_gw_ident.ipv6") != ha2Addr.String() ||
		init.Value("isakmp.notify.data.redirect.nonce_data") != toHA1[0].Value("isakmp.nonce") {
		t.Errorf("IKE_SA_INIT REDIRECT %v: want from ha1, type 2, length 16, ha2, the client's Ni", init)
	}
	if info.Value("ipv6.src") != ha2Addr.String() || info.Value("isakmp.exchangetype") != exInformational ||
		info.Value("isakmp.notify.data.redirect.gw_ident.type") != "2" ||
		info.Value("isakmp.notify.data.redirect.new_resp_gw_ident.ipv6") != ha3Addr.String() ||
		info.Value("isakmp.notify.data.redirect.nonce_data") != "" {
		t.Errorf("INFORMATIONAL REDIRECT %v: want from ha2 (decrypted), type 2, ha3, no Nonce Data", info)
	}
	for gw, from := range map[netip.Addr]netip.Addr{ha2Addr: ha1Addr, ha3Addr: ha2Addr} {
		reqs := initRequestsTo(msgs, gw)
		if len(reqs) != 1 || !hasNotify(reqs[0], nRedirectedFrom) || reqs[0].Value("isakmp.notify.data.redirect.gw_ident.type") != "2" ||
			reqs[0].Value("isakmp.notify.data.redirect.org_resp_gw_ident.ipv6") != from.String() {
			t.Errorf("requests to %v %v: want one with REDIRECTED_FROM type 2 naming %v", gw, reqs, from)
		}
	}
}

// TestRedirectExtensionsRoundTrip: the private-use extensions between our
// client (announcing them) and our home agents. ha2 is reachable only
// through a port-forwarding NAT on the router ([r]:14500 to ha2's NAT-T
// port). ha1 redirects the client's established SA there: the REDIRECT
// names the address and port (GW Ident Type 242) and carries a handover
// ticket (notify 40961) beside it, inside the SK payload. The client starts
// IKE at that port with REDIRECTED_FROM and its extension notify (40960),
// presents the ticket in IKE_AUTH, and ha2 accepts it and keeps the
// client's home address; the client's traffic flows through ha2.
func TestRedirectExtensionsRoundTrip(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{})
	ctx := ctxFor(t, 90*time.Second)
	ha1Addr, ha2Addr := tp.HAAddrs[0].V6, tp.HAAddrs[1].V6
	forwarded := netip.AddrPortFrom(tp.West.Router.V6, 14500)
	tp.R.Nft(fmt.Sprintf(`table ip6 portfwd {
	chain pre {
		type nat hook prerouting priority -100; policy accept;
		ip6 daddr %s udp dport %d dnat to [%s]:4500
	}
}`, forwarded.Addr(), forwarded.Port(), ha2Addr))
	key := filepath.Join(tp.Lab.Dir(), "ticket.key")
	if err := osWriteFile(key, "0x"+strings.Repeat("5a", 32)); err != nil {
		t.Fatal(err)
	}
	// Both home agents lease from the same range: the address a node holds
	// at one is valid at the other.
	ha2 := startHA(t, ctx, tp.HA2, haOptions{member: "ha2", unicast: ha2Addr, hostRange: hostRanges[0],
		labha: []string{"--ticket-key-file", key}})
	ha1 := startHA(t, ctx, tp.HA1, haOptions{member: "ha1", unicast: ha1Addr, hostRange: hostRanges[0],
		labha: []string{"--ticket-key-file", key}})
	capture := tp.MN.Capture("eth0", "udp")

	var (
		mu      sync.Mutex
		events  []mnclient.Event
		changed = make(chan struct{}, 1)
		replies = make(chan []byte, 16)
	)
	keylog := filepath.Join(tp.Lab.Dir(), "inproc-mn.keys")
	cfg := mnclient.Config{HA: ha1Addr.String(), HAID: haID, ID: mnID, PSK: []byte(labPSK), InMemory: true,
		ForceEncap: true, NoBinding: true, KeyLog: keylog, Redirect: mnclient.RedirectConfig{Extensions: true},
		Received: func(p []byte) {
			select {
			case replies <- p:
			default:
			}
		},
		Events: func(e mnclient.Event) {
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
			select {
			case changed <- struct{}{}:
			default:
			}
		}}
	client := startInProcessMN(t, tp.MN, cfg)
	wait := func(kind string, n int) mnclient.Event {
		t.Helper()
		for {
			mu.Lock()
			k := 0
			for _, e := range events {
				if e.Event == mnclient.EventError {
					mu.Unlock()
					t.Fatalf("client error: %s", e.Error)
				}
				if e.Event == kind {
					if k++; k == n {
						mu.Unlock()
						return e
					}
				}
			}
			mu.Unlock()
			select {
			case <-changed:
			case <-ctx.Done():
				t.Fatalf("no %s #%d: %v", kind, n, ctx.Err())
			}
		}
	}
	held := wait(mnclient.EventHomeAddress, 1).Address
	wait(mnclient.EventChildInstalled, 1)
	if a := ha1.command(ctx, "redirect "+mnID+" "+forwarded.String()); a["redirected"] != float64(1) {
		t.Fatalf("labha: %v", a)
	}
	rd := wait(mnclient.EventRedirected, 1)
	if rd.Stage != "INFORMATIONAL" || rd.To != forwarded.String() || rd.Target != forwarded.String() {
		t.Fatalf("redirected %+v", rd)
	}
	wait(mnclient.EventChildInstalled, 2)
	if got := wait(mnclient.EventHomeAddress, 2).Address; got != held {
		t.Errorf("home address at ha2 %s, held %s", got, held)
	}
	wait(mnclient.EventDetached, 1)
	accepted := ha2.waitLog(ctx, "handover ticket accepted", nil)
	if accepted.str("issuer") != "ha1" || accepted.str("addresses_kept") != "true" || accepted.str("peer") != "ID_RFC822_ADDR:"+mnID {
		t.Errorf("ha2 logged %v", accepted)
	}

	// Traffic from the home address reaches ha2's side, and comes back.
	hoa := netip.MustParsePrefix(held).Addr()
	echo, err := (&icmp.Message{Type: ipv6.ICMPTypeEchoRequest, Body: &icmp.Echo{ID: 9, Seq: 1, Data: []byte("through ha2")}}).
		Marshal(icmp.IPv6PseudoHeader(hoa.AsSlice(), innerAddr.AsSlice()))
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Send(ipv6Packet(hoa, innerAddr, 58, echo)); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-replies:
		if len(p) < 48 || p[6] != 58 || p[40] != byte(ipv6.ICMPTypeEchoReply) || !bytes.Contains(p, []byte("through ha2")) {
			t.Errorf("came back %x, want the echo reply", p)
		}
	case <-ctx.Done():
		t.Fatal("no echo reply through ha2")
	}

	msgs := ikeMessages(t, ctx, capture.Stop(), keyLogPrefs(t, ha1.keylog, ha2.keylog))
	var sawAnnounce, sawInfo, sawFollow, sawTicket bool
	for _, m := range msgs {
		switch {
		case m.Value("isakmp.exchangetype") == exIKESAInit && m.Value("isakmp.flag_r") != "1" && hasNotify(m, "40960"):
			sawAnnounce = true
			if m.Value("ipv6.dst") == forwarded.Addr().String() && m.Value("udp.dstport") == "14500" &&
				m.Value("isakmp.notify.data.redirect.org_resp_gw_ident.ipv6") == ha1Addr.String() {
				sawFollow = true
			}
		case m.Value("isakmp.exchangetype") == exInformational && hasNotify(m, nRedirect):
			sawInfo = m.Value("isakmp.notify.data.redirect.gw_ident.type") == "242" &&
				m.Value("isakmp.notify.data.redirect.gw_ident.len") == "18" && hasNotify(m, "40961")
			if !sawInfo {
				t.Errorf("INFORMATIONAL REDIRECT %v: want GW Ident Type 242, length 18, and the ticket", m)
			}
		case m.Value("isakmp.exchangetype") == exIKEAuth && m.Value("isakmp.flag_r") != "1" && hasNotify(m, "40961"):
			sawTicket = m.Value("ipv6.dst") == forwarded.Addr().String()
		}
	}
	if !sawAnnounce || !sawInfo || !sawFollow || !sawTicket {
		t.Errorf("on the wire: extension announced %v, REDIRECT with port and ticket %v, followed to the forwarded port %v, ticket presented %v",
			sawAnnounce, sawInfo, sawFollow, sawTicket)
	}
}

// startInProcessMN runs our client in this process with its sockets in
// host's network namespace (InMemory: no TUN device, no routes), its main
// loop on a thread of that namespace (it finds its care-of address by
// asking the kernel there), which returns to the test's namespace when the
// client stops, at cleanup.
func startInProcessMN(t *testing.T, host *lab.Host, cfg mnclient.Config) *mnclient.Client {
	t.Helper()
	var c *mnclient.Client
	if err := inHost(host, func() (err error) {
		c, err = mnclient.New(cfg)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- inNetns(host, func() error { return c.Run(ctx) }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Logf("in-process client: %v", err)
		}
	})
	return c
}

// setns moves the calling thread into host's network namespace.
func setns(host *lab.Host) error {
	fd, err := unix.Open(filepath.Join("/run/netns", host.Namespace()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Setns(fd, unix.CLONE_NEWNET)
}

// ipv6Packet builds an IPv6 packet with the payload of protocol next.
func ipv6Packet(src, dst netip.Addr, next uint8, payload []byte) []byte {
	p := make([]byte, 40+len(payload))
	p[0] = 0x60
	p[4], p[5] = byte(len(payload)>>8), byte(len(payload))
	p[6], p[7] = next, 64
	s, d := src.As16(), dst.As16()
	copy(p[8:], s[:])
	copy(p[24:], d[:])
	copy(p[40:], payload)
	return p
}
