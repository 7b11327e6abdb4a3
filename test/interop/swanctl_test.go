package interop

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"aes128-sha256-x25519":       "aes128-sha256-x25519",
		"2001:db8:1::/64,10.0.0.0/8": "2001:db8:1::/64,10.0.0.0/8",
		"%any":                       "%any",
		"mn@example":                 "mn@example",
		"":                           `""`,
		"two words":                  `"two words"`,
		`say "hi"`:                   `"say \"hi\""`,
		`back\slash`:                 `"back\\slash"`,
		"C=CH, O=Lab, CN=ha":         `"C=CH, O=Lab, CN=ha"`,
		"#not a comment":             `"#not a comment"`,
		"{brace}":                    `"{brace}"`,
		"tab\tnew\nline":             `"tab\tnew\nline"`,
	} {
		if got := quote(in); got != want {
			t.Errorf("quote(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestRenderShapesSections(t *testing.T) {
	ca := &CA{Name: "lab-ca"}
	cert := &Cert{Name: "ha.example", CA: ca}
	cfg := Config{
		Connections: []Connection{{
			Name: "mn", LocalAddrs: []string{"2001:db8:1::1"}, Proposals: []string{"aes128-sha256-x25519", "aes256-sha384-ecp384"},
			Encap: true, Pools: []string{"hoa"}, RekeyTime: 90 * time.Minute, NoMobike: true,
			Local:  Auth{ID: "ha.example", Cert: cert},
			Remote: Auth{ID: "%any", CA: ca, Extra: map[string]string{"revocation": "relaxed"}},
			Children: []Child{{
				Name: "home", LocalTS: []string{"::/0"}, ESPProposals: []string{"aes128gcm16"}, StartAction: "none",
			}},
		}},
		Pools:   []Pool{{Name: "hoa", Addrs: "2001:db8:1::1000/124"}},
		Secrets: []Secret{{Name: "mn", IDs: []string{"mn.example", "ha.example"}, Secret: "s3cret pass"}},
	}
	text, err := cfg.Render()
	if err != nil {
		t.Fatal(err)
	}
	// Every section closes, and the settings sit in the right ones.
	if strings.Count(text, "{") != strings.Count(text, "}") {
		t.Fatalf("unbalanced braces:\n%s", text)
	}
	for _, want := range []string{
		"connections {\n  mn {\n    version = 2\n    local_addrs = 2001:db8:1::1\n",
		"    proposals = aes128-sha256-x25519,aes256-sha384-ecp384\n    encap = yes\n    mobike = no\n    pools = hoa\n    rekey_time = 5400s\n",
		"    local {\n      auth = pubkey\n      id = ha.example\n      certs = ha.example.pem\n    }\n",
		"    remote {\n      auth = pubkey\n      id = %any\n      cacerts = lab-ca.pem\n      revocation = relaxed\n    }\n",
		"    children {\n      home {\n        local_ts = ::/0\n        esp_proposals = aes128gcm16\n        start_action = none\n      }\n    }\n",
		"pools {\n  hoa {\n    addrs = 2001:db8:1::1000/124\n  }\n}\n",
		"secrets {\n  ike-mn {\n    id-1 = mn.example\n    id-2 = ha.example\n    secret = \"s3cret pass\"\n  }\n}\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("rendered config lacks\n%s\nin\n%s", want, text)
		}
	}
	if strings.Contains(text, "remote_addrs") || strings.Contains(text, "vips") {
		t.Errorf("empty settings rendered:\n%s", text)
	}
}

func TestRenderRejects(t *testing.T) {
	conn := func(mod func(*Connection)) Config {
		c := Connection{Name: "c", Children: []Child{{Name: "ch"}}}
		mod(&c)
		return Config{Connections: []Connection{c}}
	}
	for name, cfg := range map[string]Config{
		"dotted name":     conn(func(c *Connection) { c.Name = "a.b" }),
		"empty name":      conn(func(c *Connection) { c.Name = "" }),
		"duplicate child": conn(func(c *Connection) { c.Children = append(c.Children, Child{Name: "ch"}) }),
		"bad auth":        conn(func(c *Connection) { c.Local.Method = "eap" }),
		"remote cert":     conn(func(c *Connection) { c.Remote.Cert = &Cert{Name: "x"} }),
		"local CA":        conn(func(c *Connection) { c.Local.CA = &CA{Name: "x"} }),
		"bad extra key":   conn(func(c *Connection) { c.Extra = map[string]string{"a b": "c"} }),
		"duplicate conn":  {Connections: []Connection{{Name: "x"}, {Name: "x"}}},
		"pool sans addrs": {Pools: []Pool{{Name: "p"}}},
		"secret name":     {Secrets: []Secret{{Name: "with space", Secret: "s"}}},
	} {
		if _, err := cfg.Render(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
		}
	}
}
