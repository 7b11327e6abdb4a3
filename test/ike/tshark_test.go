package ike

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/lab"
	"github.com/mip6ha/mip6ha/test/mnclient"
	"github.com/mip6ha/mip6ha/test/tshark"
)

// IKEv2 payload types as tshark reports them (isakmp.typepayload).
const (
	payloadSA     = "33"
	payloadIDi    = "35"
	payloadAuth   = "39"
	payloadNonce  = "40"
	payloadDelete = "42"
	payloadTSi    = "44"
	payloadSK     = "46"
	payloadCP     = "47"
)

// Exchange types (isakmp.exchangetype).
const (
	exIKEAuth       = "35"
	exCreateChildSA = "36"
	exInformational = "37"
)

// decryptWant lists what a capture must show once decrypted.
type decryptWant struct {
	authRequest bool // an IKE_AUTH request with IDi (mnID), AUTH and TSi
	cfgReply    bool // an IKE_AUTH response with INTERNAL_IP6_ADDRESS
	createChild bool // CREATE_CHILD_SA messages with SA and Nonce
	delete      bool // an INFORMATIONAL with a Delete payload
}

var tsharkFields = []string{
	"frame.number", "_ws.malformed", "_ws.expert", "_ws.expert.message", "_ws.expert.severity",
	"isakmp.exchangetype", "isakmp.flag_r", "isakmp.typepayload", "isakmp.id.data.fqdn", "isakmp.auth.method",
	"isakmp.ts.start_ipv6", "isakmp.cfg.attr.internal_ip6_address", "esp.spi",
}

// checkTshark decodes the capture with tshark and the IKE SA keys of the
// key log (tshark's ikev2_decryption_table lines, as our runtimes write
// them): no packet may be malformed or carry an expert warning, every
// encrypted IKE message must decrypt, and the decrypted payloads must
// include what want lists. It returns the decoded packets (tsharkFields).
func checkTshark(t testing.TB, ctx context.Context, pcap, keylog string, want decryptWant) []tshark.Packet {
	t.Helper()
	tshark.Require(t)
	b, err := os.ReadFile(keylog)
	if err != nil {
		t.Fatal(err)
	}
	var prefs []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line != "" {
			prefs = append(prefs, "uat:ikev2_decryption_table:"+line)
		}
	}
	if len(prefs) == 0 {
		t.Fatalf("key log %s is empty", keylog)
	}
	pkts, err := tshark.Fields(ctx, pcap, tsharkFields, tshark.Options{Prefs: prefs, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var ike, esp int
	var got decryptWant
	for _, p := range pkts {
		frame := p.Value("frame.number")
		if p.Has("_ws.malformed") || p.Has("_ws.expert") {
			t.Errorf("pcap %s frame %s: tshark warns: malformed=%v %q (severity %v)", pcap, frame,
				p.Has("_ws.malformed"), p.Values("_ws.expert.message"), p.Values("_ws.expert.severity"))
		}
		if p.Has("esp.spi") {
			esp++
		}
		ex := p.Value("isakmp.exchangetype")
		if ex == "" {
			continue
		}
		ike++
		types := p.Values("isakmp.typepayload")
		response := p.Value("isakmp.flag_r") == "1"
		if slices.Contains(types, payloadSK) && !slices.ContainsFunc(types, func(s string) bool { return s != payloadSK }) &&
			ex != exInformational {
			t.Errorf("pcap %s frame %s: exchange %s not decrypted with the key log (payloads %v)", pcap, frame, ex, types)
		}
		switch ex {
		case exIKEAuth:
			if !response && slices.Contains(p.Values("isakmp.id.data.fqdn"), mnID) && p.Has("isakmp.auth.method") &&
				slices.Contains(types, payloadIDi) && slices.Contains(types, payloadAuth) && p.Has("isakmp.ts.start_ipv6") {
				got.authRequest = true
			}
			if response && slices.Contains(types, payloadCP) && p.Has("isakmp.cfg.attr.internal_ip6_address") {
				got.cfgReply = true
			}
		case exCreateChildSA:
			if slices.Contains(types, payloadSA) && slices.Contains(types, payloadNonce) {
				got.createChild = true
			}
		case exInformational:
			if slices.Contains(types, payloadDelete) {
				got.delete = true
			}
		}
	}
	if ike == 0 {
		t.Fatalf("pcap %s: no IKE message", pcap)
	}
	defer t.Logf("tshark decoded %d packets (%d IKE, %d ESP) of %s", len(pkts), ike, esp, pcap)
	if want.authRequest && !got.authRequest || want.cfgReply && !got.cfgReply ||
		want.createChild && !got.createChild || want.delete && !got.delete {
		t.Errorf("pcap %s: decrypted %+v, want %+v (%d IKE messages, %d ESP packets)", pcap, got, want, ike, esp)
	}
	return pkts
}

// TestIKETsharkOwnExchange captures a whole life of an IKE SA between our
// mobile node client and our home agent on the wire — IKE_SA_INIT,
// IKE_AUTH, ESP in UDP, CHILD_SA and IKE SA rekeys (CREATE_CHILD_SA), the
// deletes (INFORMATIONAL) — and has tshark decode it: no malformed packet,
// no expert warning, and every encrypted message decrypted with our key
// log, showing identities, AUTH, traffic selectors and the CFG_REPLY.
func TestIKETsharkOwnExchange(t *testing.T) {
	t.Parallel()
	tp := lab.NewTopology(t, lab.TopologyConfig{HAs: 1})
	ctx := ctxFor(t, 90*time.Second)
	c := pskCreds("mip6ha to mip6ha psk")
	ha := startOurHA(t, ctx, tp.HA1, c)
	capture := tp.HA1.Capture("eth0", "udp port 500 or udp port 4500")
	mn := startOurMN(t, tp.MN, tp.HAAddrs[0].V6, c)
	hoa := mn.homeAddress(ctx)
	mn.wait(ctx, mnclient.EventChildInstalled, 1, nil)
	if err := tp.MN.Ping(ctx, innerAddr.String(), hoa.String(), 3); err != nil {
		t.Fatal(err)
	}
	if err := mn.proc.Signal(sigRekeyChild); err != nil {
		t.Fatal(err)
	}
	mn.wait(ctx, mnclient.EventChildRekeyed, 1, nil)
	if err := mn.proc.Signal(sigRekeyIKE); err != nil {
		t.Fatal(err)
	}
	mn.wait(ctx, mnclient.EventIKERekeyed, 1, nil)
	if err := tp.MN.Ping(ctx, innerAddr.String(), hoa.String(), 2); err != nil {
		t.Fatal(err)
	}
	mn.detach(ctx)
	ha.waitLog(ctx, "IKE SA down", 1, nil)
	pcap := capture.Stop()
	want := decryptWant{authRequest: true, cfgReply: true, createChild: true, delete: true}
	checkTshark(t, ctx, pcap, ha.keylog, want)
	// The client's key log decrypts the same exchange.
	checkTshark(t, ctx, pcap, mn.keylog, want)
}
