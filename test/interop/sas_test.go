package interop

import (
	"errors"
	"net/netip"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/test/interop/vici"
)

// charonListSA returns the body of a list-sa event that strongSwan 5.9.8
// sent for the initiator of testdata/initiator-ike4.log (same run).
func charonListSA(t *testing.T) *vici.Message {
	t.Helper()
	b, err := os.ReadFile("testdata/list-sa-event.bin")
	if err != nil {
		t.Fatal(err)
	}
	// type (7), name length (7), "list-sa", then the message.
	m, err := vici.Parse(b[2+len("list-sa"):])
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestParseIKESAFromCharon(t *testing.T) {
	m := charonListSA(t)
	sa, err := parseIKESA("home", m.Section("home"))
	if err != nil {
		t.Fatal(err)
	}
	want := IKESA{
		Name: "home", UniqueID: 1, State: StateEstablished,
		LocalHost:  netip.MustParseAddrPort("[2001:db8:2::100]:4500"),
		LocalID:    "mn.example",
		RemoteHost: netip.MustParseAddrPort("[2001:db8:1::1]:4500"),
		RemoteID:   "ha.example",
		Initiator:  true,
		SPIi:       0xd6ffdc42caee63fa, SPIr: 0xacb50a6c8e89b531,
		NATRemote: true, NATAny: true,
		EncrAlg: "AES_CBC", EncrKeySize: 128, IntegAlg: "HMAC_SHA2_256_128",
		PRFAlg: "PRF_HMAC_SHA2_256", DHGroup: "CURVE_25519",
		RekeyIn:   14236 * time.Second,
		LocalVIPs: []netip.Addr{netip.MustParseAddr("2001:db8:1::1001")},
		Children: []ChildSA{{
			Name: "home", UniqueID: 1, ReqID: 1, State: StateInstalled, Mode: "TUNNEL", Protocol: "ESP",
			Encap: true, SPIIn: 0xaa855071, SPIOut: 0xa6b521bf, EncrAlg: "AES_GCM_16", EncrKeySize: 128,
			RekeyIn: 3463 * time.Second, LifeIn: 3960 * time.Second,
			LocalTS: []string{"2001:db8:1::1001/128"}, RemoteTS: []string{"2001:db8:1::/64"},
		}},
	}
	if !reflect.DeepEqual(sa, want) {
		t.Errorf("parsed\n%+v\nwant\n%+v", sa, want)
	}
	// The SPIs agree with the ones charon logged for the same SA.
	keys, err := ParseKeyLog(readFile(t, "testdata/initiator-ike4.log"))
	if err != nil || len(keys) == 0 || keys[0].SPIi != sa.SPIi || keys[0].SPIr != sa.SPIr {
		t.Errorf("log SPIs %+v (%v), list-sas SPIs %x %x", keys, err, sa.SPIi, sa.SPIr)
	}
}

func TestParseIKESARejectsMalformedFields(t *testing.T) {
	for key, bad := range map[string]string{
		"uniqueid": "x", "initiator-spi": "zz", "local-host": "not-an-ip", "local-port": "70000", "nat-any": "maybe",
	} {
		m := charonListSA(t).Section("home")
		m.Set(key, bad)
		if _, err := parseIKESA("home", m); !errors.Is(err, ErrListSAs) {
			t.Errorf("%s = %q: err = %v, want ErrListSAs", key, bad, err)
		}
	}
	m := charonListSA(t).Section("home")
	m.Section("child-sas").Section("home-1").Set("spi-in", "123456789")
	if _, err := parseIKESA("home", m); !errors.Is(err, ErrListSAs) {
		t.Errorf("9-digit SPI: %v", err)
	}
	if _, err := parseIKESA("x", nil); !errors.Is(err, ErrListSAs) {
		t.Errorf("nil section: %v", err)
	}
	// Absent fields are zero values, not errors.
	if sa, err := parseIKESA("bare", vici.NewMessage()); err != nil || sa.Name != "bare" {
		t.Errorf("empty section: %+v, %v", sa, err)
	}
}

func TestChildPrefersInstalledNewest(t *testing.T) {
	sa := IKESA{Children: []ChildSA{
		{Name: "home", UniqueID: 1, State: StateInstalled},
		{Name: "home", UniqueID: 3, State: "REKEYING"},
		{Name: "home", UniqueID: 2, State: StateInstalled},
		{Name: "other", UniqueID: 9, State: StateInstalled},
	}}
	if c, ok := sa.Child("home"); !ok || c.UniqueID != 2 {
		t.Errorf("Child(home) = %+v, %v; want #2", c, ok)
	}
	if _, ok := sa.Child("none"); ok {
		t.Error("Child(none) found something")
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
