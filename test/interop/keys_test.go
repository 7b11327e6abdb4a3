package interop

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/lab"
)

// The testdata logs come from one run: a strongSwan initiator (mn) and
// responder (ha) set up an IKE SA (AES-CBC-128, HMAC-SHA2-256, X25519)
// and a CHILD_SA, the initiator rekeyed the IKE SA, then deleted it;
// ike-rekey.pcap is the capture of that run on the responder's link.

func TestParseKeyLogBothEndsAgree(t *testing.T) {
	ini, err := ParseKeyLog(readFile(t, "testdata/initiator-ike4.log"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := ParseKeyLog(readFile(t, "testdata/responder-ike4.log"))
	if err != nil {
		t.Fatal(err)
	}
	// Two IKE SAs: the first and its rekeyed successor, derived
	// independently by both peers.
	if len(ini) != 2 || len(resp) != 2 {
		t.Fatalf("initiator %d, responder %d key sets; want 2 each", len(ini), len(resp))
	}
	for i := range ini {
		a, b := ini[i], resp[i]
		if a.SPIi == 0 || a.SPIr == 0 || a.SPIi != b.SPIi || a.SPIr != b.SPIr {
			t.Errorf("SA %d: SPIs %x/%x vs %x/%x", i, a.SPIi, a.SPIr, b.SPIi, b.SPIr)
		}
		for name, pair := range map[string][2][]byte{
			"SK_d": {a.SKd, b.SKd}, "SK_ai": {a.SKai, b.SKai}, "SK_ar": {a.SKar, b.SKar},
			"SK_ei": {a.SKei, b.SKei}, "SK_er": {a.SKer, b.SKer}, "SK_pi": {a.SKpi, b.SKpi}, "SK_pr": {a.SKpr, b.SKpr},
		} {
			if len(pair[0]) == 0 || !bytes.Equal(pair[0], pair[1]) {
				t.Errorf("SA %d: %s differs: %x vs %x", i, name, pair[0], pair[1])
			}
		}
		if a.Proposal != "AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/CURVE_25519" || a.Proposal != b.Proposal {
			t.Errorf("SA %d: proposals %q, %q", i, a.Proposal, b.Proposal)
		}
		if len(a.SKei) != 16 || len(a.SKai) != 32 {
			t.Errorf("SA %d: key lengths %d/%d, want 16/32", i, len(a.SKei), len(a.SKai))
		}
	}
	if ini[0].Name != "home" || resp[0].Name != "mn" || ini[1].UniqueID != 2 || resp[1].UniqueID != 2 {
		t.Errorf("names/ids: %s#%d %s#%d %s#%d %s#%d", ini[0].Name, ini[0].UniqueID, ini[1].Name, ini[1].UniqueID,
			resp[0].Name, resp[0].UniqueID, resp[1].Name, resp[1].UniqueID)
	}
	if bytes.Equal(ini[0].SKei, ini[1].SKei) {
		t.Error("the rekeyed SA has the old keys")
	}
}

// TestKeysDecryptCapture has tshark decrypt the testdata capture with the
// keys from the log: the IKE_AUTH request must show its identity payload,
// and the rekeyed SA's INFORMATIONAL its Delete payload.
func TestKeysDecryptCapture(t *testing.T) {
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("tshark not installed")
	}
	keys, err := ParseKeyLog(readFile(t, "testdata/initiator-ike4.log"))
	if err != nil {
		t.Fatal(err)
	}
	args, err := TsharkDecryptArgs(keys)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fields := []string{"isakmp.exchangetype", "isakmp.ispi", "isakmp.nextpayload"}
	decrypted := func(args []string) map[string]string {
		rows, err := lab.TsharkFields(ctx, "testdata/ike-rekey.pcap", "isakmp", fields, args...)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, r := range rows {
			out[r[0]+"/"+r[1]] += r[2] + ";"
		}
		return out
	}
	with, without := decrypted(args), decrypted(nil)
	auth := "35/" + hex16(keys[0].SPIi)
	// 36 = IDi, 46 = SK: only with keys does tshark see inside SK.
	if !strings.Contains(with[auth], ",36,") || strings.Contains(without[auth], ",36,") {
		t.Errorf("IKE_AUTH of SA 1: with keys %q, without %q", with[auth], without[auth])
	}
	info := "37/" + hex16(keys[1].SPIi)
	if !strings.Contains(with[info], ",42,") || strings.Contains(without[info], ",42,") {
		t.Errorf("INFORMATIONAL of the rekeyed SA: with keys %q, without %q", with[info], without[info])
	}
}

func hex16(v uint64) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 16)
	for i := 15; i >= 0; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b)
}

func TestWiresharkAlgorithms(t *testing.T) {
	for proposal, want := range map[string][2]string{
		"AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/CURVE_25519": {"AES-CBC-128 [RFC3602]", "HMAC_SHA2_256_128 [RFC4868]"},
		"AES_CBC_256/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_2048":            {"AES-CBC-256 [RFC3602]", "HMAC_SHA1_96 [RFC2404]"},
		"AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519":                {"AES-GCM-128 with 16 octet ICV [RFC5282]", "NONE [RFC4306]"},
		"AES_GCM_8_256/PRF_HMAC_SHA2_512/ECP_384":                     {"AES-GCM-256 with 8 octet ICV [RFC5282]", "NONE [RFC4306]"},
		"AES_CTR_192/HMAC_SHA2_384_192/PRF_HMAC_SHA2_384/ECP_256":     {"AES-CTR-192 [RFC5930]", "HMAC_SHA2_384_192 [RFC4868]"},
		"3DES_CBC/HMAC_MD5_96/PRF_HMAC_MD5/MODP_1024":                 {"3DES [RFC2451]", "HMAC_MD5_96 [RFC2403]"},
	} {
		e, i, err := wiresharkAlgorithms(proposal)
		if err != nil || e != want[0] || i != want[1] {
			t.Errorf("%s: %q %q %v; want %q", proposal, e, i, err, want)
		}
	}
	for _, bad := range []string{"", "CHACHA20_POLY1305_256/PRF_HMAC_SHA2_256/CURVE_25519", "AES_CBC_128/AES_XCBC_96/PRF_AES128_XCBC/MODP_2048", "AES_CBC_128"} {
		if _, _, err := wiresharkAlgorithms(bad); !errors.Is(err, ErrKeyLog) {
			t.Errorf("%q: err = %v", bad, err)
		}
	}
	k := IKEKeys{UniqueID: 3, Proposal: "AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/CURVE_25519"}
	if _, err := k.WiresharkUAT(); !errors.Is(err, ErrKeyLog) {
		t.Errorf("UAT without SPIs: %v", err)
	}
	k.SPIi, k.SPIr, k.SKei, k.SKer, k.SKai, k.SKar = 0x0102, 0xa0b0c0d0e0f00010, []byte{1}, []byte{2}, []byte{3}, []byte{0xff}
	rec, err := k.WiresharkUAT()
	if want := `0000000000000102,a0b0c0d0e0f00010,01,02,"AES-CBC-128 [RFC3602]",03,ff,"HMAC_SHA2_256_128 [RFC4868]"`; err != nil || rec != want {
		t.Errorf("UAT = %s (%v), want %s", rec, err, want)
	}
}

func TestParseKeyLogTruncatedDump(t *testing.T) {
	log := readFile(t, "testdata/initiator-ike4.log")
	i := strings.Index(log, "Sk_ai secret")
	end := strings.Index(log[i:], "\n") + i + 1
	// Keep the Sk_ai line and drop its dump.
	next := strings.Index(log[end:], "Sk_ar secret")
	cut := log[:end] + log[end+strings.LastIndex(log[end:end+next], "\n")+1:]
	if _, err := ParseKeyLog(cut); !errors.Is(err, ErrKeyLog) {
		t.Fatalf("err = %v, want ErrKeyLog", err)
	}
}

// FuzzParseKeyLog checks that ParseKeyLog never panics on any log.
func FuzzParseKeyLog(f *testing.F) {
	b, err := os.ReadFile("testdata/initiator-ike4.log")
	if err != nil {
		f.Fatal(err)
	}
	log := string(b)
	f.Add(log[strings.Index(log, "Sk_d secret")-40 : strings.Index(log, "IKE_SA home[1] established")])
	f.Add("00:00:00 01[IKE] <a|1> Sk_pr secret => 2 bytes @ 0x1\n00:00:00 01[IKE] <a|1>    0: 0A 0B  ..\n")
	f.Add("00:00:00 01[IKE] <a|4294967296> Sk_d secret => 99999999999 bytes @ 0\n")
	f.Fuzz(func(t *testing.T, log string) {
		keys, err := ParseKeyLog(log)
		if err != nil && !errors.Is(err, ErrKeyLog) {
			t.Fatalf("error %v does not wrap ErrKeyLog", err)
		}
		for _, k := range keys {
			k.WiresharkUAT()
		}
	})
}

func BenchmarkParseKeyLog(b *testing.B) {
	data, err := os.ReadFile("testdata/initiator-ike4.log")
	if err != nil {
		b.Fatal(err)
	}
	log := string(data)
	b.ReportAllocs()
	b.SetBytes(int64(len(log)))
	for b.Loop() {
		if _, err := ParseKeyLog(log); err != nil {
			b.Fatal(err)
		}
	}
}

// A length beyond any key must be refused before anything is allocated
// for it (the fuzzer's first find: a 100 GB capacity).
func TestParseKeyLogRejectsHugeSecret(t *testing.T) {
	log := "00:00:00 01[IKE] <a|1> Sk_d secret => 99999999999 bytes @ 0x1\n"
	if _, err := ParseKeyLog(log); !errors.Is(err, ErrKeyLog) {
		t.Fatalf("err = %v, want ErrKeyLog", err)
	}
}
