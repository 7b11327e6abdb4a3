package homeagent

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/mip6ha/mip6ha/ike"
)

func TestDefaultConfigValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestValidateNamesKey checks that every unusable setting is reported under
// its key.
func TestValidateNamesKey(t *testing.T) {
	for _, tc := range []struct {
		key string
		mod func(*Config)
	}{
		{"ike.listen", func(c *Config) { c.Listen = nil }},
		{"ike.listen", func(c *Config) { c.Listen = []string{"ha.example"} }},
		{"ike.port", func(c *Config) { c.IKEPort = 70000 }},
		{"ike.port", func(c *Config) { c.IKEPort = 0 }}, // two listen addresses
		{"ike.natt_port", func(c *Config) { c.NATTPort = 500 }},
		{"ike.identity", func(c *Config) { c.Identity = "two words" }},
		{"ike.identity", func(c *Config) { c.Identity = "keyid:zz" }},
		{"ike.private_key", func(c *Config) { c.Cert = "/x.pem" }},
		{"ike.certificate", func(c *Config) { c.Key = "/x.pem" }},
		{"ike.local_ts", func(c *Config) { c.LocalTS = []string{"2001:db8::1"} }},
		{"home.tun", func(c *Config) { c.TUN = "a/b" }},
		{"home.mtu", func(c *Config) { c.MTU = 576 }},
		{"ike.proposals", func(c *Config) { c.IKEProposals = []string{"aes128-md4"} }},
		{"ike.esp_proposals", func(c *Config) { c.ESPProposals = []string{"aes128-sha256"} }},
		{"ike.esp_proposals", func(c *Config) { c.ESPProposals = []string{"aes128gcm16-esn"} }},
		{"ike.rekey_time", func(c *Config) { c.IKERekey = -1 }},
		{"ike.half_open_timeout", func(c *Config) { c.HalfOpenTimeout = -1 }},
		{"ike.shards", func(c *Config) { c.Shards = 1000 }},
		{"ike.inbox_depth", func(c *Config) { c.InboxDepth = -1 }},
		{"telemetry.log_level", func(c *Config) { c.LogLevel = "loud" }},
		{"telemetry.log_format", func(c *Config) { c.LogFormat = "xml" }},
	} {
		c := DefaultConfig()
		tc.mod(&c)
		err := c.Validate()
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key || !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Validate() = %v, want a ConfigError for key %q", tc.key, err, tc.key)
		}
	}
}

func TestParseID(t *testing.T) {
	for in, want := range map[string]ike.ID{
		"ha.example":       ike.FQDN("ha.example"),
		"@ha.example":      ike.FQDN("ha.example"),
		"mn1@example.net":  ike.RFC822("mn1@example.net"),
		"2001:db8::1":      ike.AddrID(netip.MustParseAddr("2001:db8::1")),
		"192.0.2.1":        ike.AddrID(netip.MustParseAddr("192.0.2.1")),
		"keyid:0a0b":       ike.KeyID([]byte{0x0a, 0x0b}),
		" spaced.example ": ike.FQDN("spaced.example"),
	} {
		got, err := ParseID(in)
		if err != nil || got != want {
			t.Errorf("ParseID(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "@", "keyid:", "keyid:xyz", "a b", "fe80::1%eth0"} {
		if id, err := ParseID(bad); err == nil {
			t.Errorf("ParseID(%q) = %v, want an error", bad, id)
		}
	}
}

func TestLoadPSKFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "psk")
	content := "# peers\n\nmn1@example.net  plain secret with blanks \nmn2.example 0x616263\n* \"quoted # not a comment\"\n"
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	psks, err := LoadPSKFile(p)
	if err != nil {
		t.Fatal(err)
	}
	want := []PSK{{"mn1@example.net", []byte("plain secret with blanks")}, {"mn2.example", []byte("abc")}, {"*", []byte("quoted # not a comment")}}
	if len(psks) != len(want) {
		t.Fatalf("got %d keys, want %d: %q", len(psks), len(want), psks)
	}
	for i := range want {
		if psks[i].Identity != want[i].Identity || string(psks[i].Secret) != string(want[i].Secret) {
			t.Errorf("key %d: %q %q, want %q %q", i, psks[i].Identity, psks[i].Secret, want[i].Identity, want[i].Secret)
		}
	}
	for _, bad := range []string{"lonely\n", "fe80::1%eth0 secret\n", "mn.example 0xzz\n", "mn.example \"\"\n"} {
		if err := os.WriteFile(p, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		var ce *ConfigError
		if _, err := LoadPSKFile(p); !errors.As(err, &ce) || ce.Key != "ike.secrets_file" {
			t.Errorf("LoadPSKFile(%q) = %v, want an ike.secrets_file ConfigError", bad, err)
		}
	}
}

// TestCredentials checks the PAD: per-identity keys, the any-identity key
// (also our own key when it is the only one), CAs.
func TestCredentials(t *testing.T) {
	mn := ike.RFC822("mn@example")
	c := &Credentials{Self: ike.LocalCredential{ID: ike.FQDN("ha.example")}, PSKs: map[ike.ID][]byte{mn: []byte("k1")}}
	if p, err := c.Peer(mn); err != nil || string(p.PSK) != "k1" {
		t.Errorf("Peer(mn) = %v, %v", p, err)
	}
	if _, err := c.Peer(ike.FQDN("other")); !errors.Is(err, ike.ErrAuthentication) {
		t.Errorf("Peer(unknown) = %v, want ErrAuthentication", err)
	}
	if l, _ := c.Local(nil); l.PSK != nil {
		t.Errorf("with per-peer keys our own key must come from the PAD entry, got %q", l.PSK)
	}
	c = &Credentials{Self: ike.LocalCredential{ID: mn}, AnyPSK: []byte("any")}
	if l, _ := c.Local(nil); string(l.PSK) != "any" {
		t.Errorf("Local with only an any-identity key: %q", l.PSK)
	}
	if p, err := c.Peer(ike.FQDN("gw.example")); err != nil || string(p.PSK) != "any" {
		t.Errorf("Peer(any) = %v, %v", p, err)
	}
	if (&Credentials{}).Empty() != true || c.Empty() {
		t.Error("Empty")
	}
	if _, err := (&Credentials{}).Local(nil); err == nil {
		t.Error("Local without identity: no error")
	}
}
