package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

// writeFile writes content to a new file in a test directory with mode
// perm and returns its path.
func writeFile(t *testing.T, name, content string, perm os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil { // past the umask
		t.Fatal(err)
	}
	return path
}

// loadYAML loads content as a configuration file, with env as the whole
// environment.
func loadYAML(t *testing.T, content string, env ...string) (*Config, error) {
	t.Helper()
	path := writeFile(t, "homeagent.yaml", content, 0o600)
	return Load(LoadOptions{File: path, Env: append([]string{}, env...)})
}

// testDefault is Default with the derived defaults that Load fills in.
func testDefault(t testing.TB) *Config {
	t.Helper()
	c := Default()
	if err := c.complete(); err != nil {
		t.Fatal(err)
	}
	return c
}

// onlyKeyErrors returns the KeyErrors of err, failing the test if err has
// anything else.
func onlyKeyErrors(t *testing.T, err error) []*KeyError {
	t.Helper()
	kes := KeyErrors(err)
	if err != nil && len(kes) == 0 {
		t.Fatalf("error without a KeyError: %v", err)
	}
	for _, ke := range kes {
		if !errors.Is(ke, ErrInvalid) {
			t.Errorf("%v does not wrap ErrInvalid", ke)
		}
	}
	return kes
}

// wantKeys checks that err reports exactly the keys named, in order.
func wantKeys(t *testing.T, err error, keys ...string) []*KeyError {
	t.Helper()
	kes := onlyKeyErrors(t, err)
	var got []string
	for _, ke := range kes {
		got = append(got, ke.Key)
	}
	if !reflect.DeepEqual(got, keys) {
		t.Errorf("error keys %q, want %q; error:\n%v", got, keys, err)
	}
	return kes
}

func TestDefaultIsValid(t *testing.T) {
	if err := testDefault(t).Validate(); err != nil {
		t.Fatalf("Default: %v", err)
	}
}

// TestLoadWithoutFile is the README's first command: no file, no
// environment, no flags give Default.
func TestLoadWithoutFile(t *testing.T) {
	cfg, err := Load(LoadOptions{Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	if want := testDefault(t); !reflect.DeepEqual(cfg, want) {
		t.Errorf("Load without sources:\n%+v\nwant Default:\n%+v", cfg, want)
	}
}

func TestLoadPrecedence(t *testing.T) {
	path := writeFile(t, "ha.yaml", "home:\n  prefix: 2001:db8:a::/64\n  mtu: 1300\n", 0o600)
	env := []string{"MIP6HA_HOME_PREFIX=2001:db8:b::/64", "MIP6HA_CLUSTER_SITE=east"}
	fs := pflag.NewFlagSet("homeagent", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse([]string{"--prefix", "2001:db8:c::/64"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		opts  LoadOptions
		want  string
		wantS string
	}{
		{"file", LoadOptions{File: path, Env: []string{}}, "2001:db8:a::/64", "default"},
		{"env over file", LoadOptions{File: path, Env: env}, "2001:db8:b::/64", "east"},
		{"flag over env", LoadOptions{File: path, Env: env, Flags: fs}, "2001:db8:c::/64", "east"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Load(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Home.Prefix != tc.want || cfg.Cluster.Site != tc.wantS {
				t.Errorf("home.prefix %q cluster.site %q, want %q %q", cfg.Home.Prefix, cfg.Cluster.Site, tc.want, tc.wantS)
			}
			if cfg.Home.MTU != 1300 {
				t.Errorf("home.mtu %d, want the file's 1300", cfg.Home.MTU)
			}
		})
	}
}

// TestLoadFileFromFlagAndEnv: --config, then $MIP6HA_CONFIG, name the file.
func TestLoadFileFromFlagAndEnv(t *testing.T) {
	a := writeFile(t, "a.yaml", "cluster: {site: a}\n", 0o600)
	b := writeFile(t, "b.yaml", "cluster: {site: b}\n", 0o600)
	fs := pflag.NewFlagSet("homeagent", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse([]string{"-c", a}); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(LoadOptions{Flags: fs, Env: []string{EnvConfigFile + "=" + b}})
	if err != nil || cfg.Cluster.Site != "a" {
		t.Fatalf("with -c and $%s: site %v, %v; want the flag's file", EnvConfigFile, cfg, err)
	}
	cfg, err = Load(LoadOptions{Env: []string{EnvConfigFile + "=" + b}})
	if err != nil || cfg.Cluster.Site != "b" {
		t.Fatalf("with $%s: %v, %v; want its file", EnvConfigFile, cfg, err)
	}
	if _, err := Load(LoadOptions{File: filepath.Join(t.TempDir(), "missing.yaml"), Env: []string{}}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
}

// TestInvalidPrefixMessage pins the message format operators see.
func TestInvalidPrefixMessage(t *testing.T) {
	_, err := loadYAML(t, "home:\n  prefix: 2001:db8::/129\n")
	kes := wantKeys(t, err, "home.prefix")
	if len(kes) != 1 {
		return
	}
	if got, want := kes[0].Error(), `config: home.prefix: "2001:db8::/129" is not a valid IPv6 prefix (`; !strings.HasPrefix(got, want) {
		t.Errorf("error %q, want it to start with %q", got, want)
	}
	if !strings.HasSuffix(kes[0].Source, "homeagent.yaml:2") {
		t.Errorf("source %q, want the file and line 2", kes[0].Source)
	}
}

func TestUnknownKeys(t *testing.T) {
	_, err := loadYAML(t, `ike:
  lisen: ["::"]
  port: 500
hom:
  prefix: 2001:db8::/64
cluster:
  sites:
    - {prefx: 2001:db8::/32, site: a}
home:
  mtu: 99
`)
	// The table without its (misspelt) prefix lacks one: reported too.
	kes := wantKeys(t, err, "ike.lisen", "hom", "cluster.sites[0].prefx", "home.mtu", "cluster.sites[0].prefix")
	if len(kes) != 5 {
		return
	}
	for i, want := range []string{`did you mean "ike.listen"`, "is not a known key", `did you mean "prefix"`, "outside 1280..65535"} {
		if !strings.Contains(kes[i].Error(), want) {
			t.Errorf("error %q does not say %q", kes[i], want)
		}
	}
	for i, line := range []string{":2", ":4", ":8", ":10"} {
		if !strings.HasSuffix(kes[i].Source, line) {
			t.Errorf("%s: source %q, want line %s", kes[i].Key, kes[i].Source, line)
		}
	}
}

func TestFileStructureErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml string
		keys       []string
		plain      string // a non-KeyError message, instead of keys
	}{
		{"section as value", "ike: 5\n", []string{"ike"}, ""},
		{"value as section", "ike:\n  listen: {a: b}\n", []string{"ike.listen"}, ""},
		{"duplicate key", "home:\n  mtu: 1300\n  mtu: 1400\n", []string{"home.mtu"}, ""},
		{"merge key", "base: &b {mtu: 1300}\nhome:\n  <<: *b\n", []string{"base", "home.<<"}, ""},
		{"table not a table", "cluster:\n  sites: [a, b]\n", []string{"cluster.sites[0]", "cluster.sites[1]"}, ""},
		{"not a table of sections", "- a\n- b\n", nil, "not a table of sections"},
		{"two documents", "home: {mtu: 1300}\n---\nhome: {mtu: 1400}\n", nil, "more than one YAML document"},
		{"syntax", "home: [\n", nil, "yaml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadYAML(t, tc.yaml)
			if tc.plain != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.plain) {
					t.Errorf("error %v, want one saying %q", err, tc.plain)
				}
				return
			}
			wantKeys(t, err, tc.keys...)
		})
	}
}

func TestAliasesAreResolved(t *testing.T) {
	cfg, err := loadYAML(t, "ike:\n  listen: &addrs [\"2001:db8::1\"]\ncluster:\n  addresses: *addrs\n")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Cluster.Addresses, []string{"2001:db8::1"}) {
		t.Errorf("cluster.addresses %q, want the anchored list", cfg.Cluster.Addresses)
	}

	// A file of nested aliases that would expand past the node budget.
	var b strings.Builder
	b.WriteString("x0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n")
	for i := 1; i < 8; i++ {
		b.WriteString("x" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	b.WriteString("ike:\n  proposals: *a7\n")
	if _, err := loadYAML(t, b.String()); err == nil {
		t.Error("a file of exponentially nested aliases loaded")
	}
}

func TestValuesOfWrongType(t *testing.T) {
	_, err := loadYAML(t, `ike:
  port: "five hundred"
  force_encapsulation: yes
  retransmit:
    base: fast
    tries: 2.5
    timeout: 4
  listen: 7
mip6:
  grace_period: 30
home:
  prefix: [2001:db8::/64]
cluster:
  distances:
    - {from: a, to: b, cost: near}
`)
	kes := wantKeys(t, err, "ike.listen", "ike.port", "ike.force_encapsulation", "ike.retransmit.timeout", "ike.retransmit.base",
		"ike.retransmit.tries", "home.prefix", "mip6.grace_period", "cluster.distances[0].cost")
	for _, ke := range kes {
		if ke.Key == "mip6.grace_period" && !strings.Contains(ke.Reason, "without a unit") {
			t.Errorf("a bare number as a duration: %v, want it to ask for a unit", ke)
		}
	}
}

func TestDurationZeroNeedsNoUnit(t *testing.T) {
	cfg, err := loadYAML(t, "ike:\n  liveness_interval: 0\n")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.IKE.LivenessInterval != 0 {
		t.Errorf("liveness_interval %v, want 0", cfg.IKE.LivenessInterval)
	}
}

// TestStringsKeepTheirText: YAML would read 0x10 as 16 and 01 as 1; string
// keys keep the text as written.
func TestStringsKeepTheirText(t *testing.T) {
	cfg, err := loadYAML(t, "ike:\n  psks:\n    - {identity: mn1@example.net, secret: 0x10}\ncluster:\n  site: 01\n")
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.IKE.PSKs[0].Secret; got != "0x10" {
		t.Errorf("secret %q, want the text 0x10", got)
	}
	if cfg.Cluster.Site != "01" {
		t.Errorf("site %q, want 01", cfg.Cluster.Site)
	}
}

func TestNullKeepsDefault(t *testing.T) {
	cfg, err := loadYAML(t, "ike:\n  listen:\nhome:\n")
	if err != nil {
		t.Fatal(err)
	}
	if want := Default().IKE.Listen; !reflect.DeepEqual(cfg.IKE.Listen, want) {
		t.Errorf("listen %q, want the default %q", cfg.IKE.Listen, want)
	}
}

// TestListsReplace: a list in the file replaces the default list, it is not
// merged into it element by element.
func TestListsReplace(t *testing.T) {
	cfg, err := loadYAML(t, "ike:\n  listen: [\"2001:db8::1\"]\n")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.IKE.Listen, []string{"2001:db8::1"}) {
		t.Errorf("listen %q, want just the file's address", cfg.IKE.Listen)
	}
}

func TestEnvironment(t *testing.T) {
	cfg, err := Load(LoadOptions{Env: []string{
		"MIP6HA_IKE_LISTEN=2001:db8::1, 192.0.2.1",
		"MIP6HA_IKE_RETRANSMIT_TIMEOUT=2s",
		"MIP6HA_CLUSTER_LOAD_MARGIN=0.5",
		"MIP6HA_HOME_DAD=false",
		"MIP6HA_TELEMETRY_PROMETHEUS_LISTEN=",
		`MIP6HA_CLUSTER_SITES=[{"prefix": "2001:db8::/32", "site": "west"}]`,
		`MIP6HA_CLUSTER_DISTANCES=[{"from": "west", "to": "default", "cost": 10}]`,
		"MIP6HA_CACHE=/var/cache/mip6ha", // another tool's: ignored
		"PATH=/usr/bin",
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := testDefault(t)
	want.IKE.Listen = []string{"2001:db8::1", "192.0.2.1"}
	want.IKE.Retransmit.Timeout = 2 * time.Second
	want.Cluster.LoadMargin = 0.5
	want.Home.DAD = false
	want.Telemetry.PrometheusListen = ""
	want.Cluster.Sites = []SitePrefix{{Prefix: "2001:db8::/32", Site: "west"}}
	want.Cluster.Distances = []Distance{{From: "west", To: "default", Cost: 10}}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("from the environment:\n%+v\nwant\n%+v", cfg, want)
	}
}

func TestEnvironmentErrors(t *testing.T) {
	_, err := Load(LoadOptions{Env: []string{
		"MIP6HA_HOME_MTU=",
		"MIP6HA_IKE_PORT=http",
		"MIP6HA_CLUSTER_SITES=west=2001:db8::/32",
	}})
	kes := wantKeys(t, err, "ike.port", "home.mtu", "cluster.sites")
	for _, ke := range kes {
		if !strings.HasPrefix(ke.Source, "$MIP6HA_") {
			t.Errorf("%s: source %q, want the variable", ke.Key, ke.Source)
		}
	}
}

func TestFlags(t *testing.T) {
	fs := pflag.NewFlagSet("homeagent", pflag.ContinueOnError)
	RegisterFlags(fs)
	err := fs.Parse([]string{
		"--listen", "2001:db8::1",
		"--store.data_dir", "/srv/ha", // '_' is accepted for '-'
		"--ike.retransmit.timeout", "2s",
		"--cluster.load-margin", "0.25",
		"--home.dad=false",
		"--ike.proposals", "aes128gcm16-prfsha256-x25519,aes256gcm16-prfsha384-ecp384",
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(LoadOptions{Flags: fs, Env: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	want := testDefault(t)
	want.IKE.Listen = []string{"2001:db8::1"}
	want.Store.DataDir = "/srv/ha"
	want.IKE.Retransmit.Timeout = 2 * time.Second
	want.Cluster.LoadMargin = 0.25
	want.Home.DAD = false
	want.IKE.Proposals = []string{"aes128gcm16-prfsha256-x25519", "aes256gcm16-prfsha384-ecp384"}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("from flags:\n%+v\nwant\n%+v", cfg, want)
	}

	// A flag the user did not set does not override the file.
	path := writeFile(t, "ha.yaml", "home: {mtu: 1300}\n", 0o600)
	cfg, err = Load(LoadOptions{File: path, Flags: fs, Env: []string{}})
	if err != nil || cfg.Home.MTU != 1300 {
		t.Errorf("unset flag over file: mtu %v, %v; want 1300", cfg, err)
	}

	// A bad flag value is a KeyError naming the key and the flag.
	fs = pflag.NewFlagSet("homeagent", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse([]string{"--prefix", "192.0.2.0/24"}); err != nil {
		t.Fatal(err)
	}
	_, err = Load(LoadOptions{Flags: fs, Env: []string{}})
	if kes := wantKeys(t, err, "home.prefix"); len(kes) == 1 && kes[0].Source != "--home.prefix" {
		t.Errorf("source %q, want --home.prefix", kes[0].Source)
	}
}

func TestRegisterFlagsLeavesExistingFlags(t *testing.T) {
	fs := pflag.NewFlagSet("homeagent", pflag.ContinueOnError)
	fs.StringP("listen-admin", "c", "", "the command's own flag with -c")
	RegisterFlags(fs)
	if f := fs.Lookup(ConfigFlag); f == nil || f.Shorthand != "" {
		t.Errorf("--config: %+v, want it without the taken shorthand", f)
	}
	if f := fs.Lookup("ike.listen"); f == nil || !strings.Contains(f.Usage, "alias --listen") {
		t.Errorf("--ike.listen: %+v, want a usage that names its alias", f)
	}
	if f := fs.Lookup("ike.psks"); f != nil {
		t.Error("a list of tables has a flag")
	}
	RegisterFlags(fs) // twice: no panic, nothing redefined
}

func TestRoundTripYAML(t *testing.T) {
	cfg := exampleConfig(t)
	y, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	got, err := load("effective.yaml", y, map[string]string{}, nil, false)
	if err != nil {
		t.Fatalf("Load of YAML():\n%s\n%v", y, err)
	}
	if !reflect.DeepEqual(got, cfg) {
		t.Errorf("YAML round trip:\n%s\ngave\n%+v\nwant\n%+v", y, got, cfg)
	}
}

func TestRoundTripJSON(t *testing.T) {
	cfg := exampleConfig(t)
	b, err := cfg.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var got Config
	if err := got.UnmarshalJSON(b); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	if !reflect.DeepEqual(&got, cfg) {
		t.Errorf("JSON round trip:\n%s\ngave\n%+v\nwant\n%+v", b, &got, cfg)
	}
	err = got.UnmarshalJSON([]byte(`{"home": {"prefx": "x", "mtu": 1300.5}}`))
	wantKeys(t, err, "home.mtu", "home.prefx")
}

func TestEffectiveRedactsSecrets(t *testing.T) {
	cfg := exampleConfig(t)
	cfg.Store.Etcd.Username = "ha"
	cfg.Store.Etcd.Password = "etcd-password"
	cfg.Cluster.TicketKey = "ticket-key-of-the-cluster"
	for _, f := range []Format{FormatYAML, FormatJSON} {
		out, err := cfg.Effective(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{"mn1-secret", "etcd-password", "0x0102", "ticket-key-of-the-cluster"} {
			if strings.Contains(string(out), secret) {
				t.Errorf("%s output shows the secret %q:\n%s", f, secret, out)
			}
		}
		if !strings.Contains(string(out), Redaction) {
			t.Errorf("%s output has no %q", f, Redaction)
		}
		if !strings.Contains(string(out), "member_id") {
			t.Errorf("%s output misses keys:\n%s", f, out)
		}
	}
	if cfg.IKE.PSKs[0].Secret != "mn1-secret" || cfg.Store.Etcd.Password != "etcd-password" || cfg.Cluster.TicketKey != "ticket-key-of-the-cluster" {
		t.Error("Effective changed the Config")
	}
	if _, err := cfg.Effective("toml"); err == nil {
		t.Error("unknown format accepted")
	}
}

// exampleConfig is a valid configuration with a value other than the
// default in every section and every kind of key.
func exampleConfig(t testing.TB) *Config {
	t.Helper()
	c := testDefault(t)
	c.IKE.Listen = []string{"2001:db8:100::1", "198.51.100.1"}
	c.IKE.Identity = "ha.example.net"
	c.IKE.PSKs = []PSK{{Identity: "mn1@example.net", Secret: "mn1-secret"}, {Identity: "*", Secret: "0x0102"}}
	c.IKE.Proposals = []string{"aes256gcm16-prfsha384-ecp384"}
	c.IKE.ESPProposals = []string{"chacha20poly1305-noesn"}
	c.IKE.Retransmit.Base = 1.5
	c.IKE.Retransmit.MaxTimeout = 30 * time.Second
	c.IKE.RekeyTime = 4 * time.Hour
	c.IKE.Redirect.Anycast = []string{"2001:db8:ffff::1"}
	c.Home.Prefix = "2001:db8:1::/64"
	c.Home.HostRange = "2001:db8:1::1000-2001:db8:1::1fff"
	c.Home.IPv4Pool = "192.0.2.0/24"
	c.Home.DNS = []string{"2001:db8::53"}
	c.MIP6.RefreshAdvice = 10 * time.Minute
	c.Store.Backend = BackendEtcd
	c.Store.Etcd.Endpoints = []string{"http://127.0.0.1:2379"}
	c.Cluster.MemberID = "ha1"
	c.Cluster.Site = "west"
	c.Cluster.Addresses = []string{"2001:db8:100::1", "198.51.100.1"}
	c.Cluster.NATAddresses = []string{"[2001:db8:fff::1]:14500"}
	c.Cluster.Sites = []SitePrefix{{Prefix: "2001:db8:a::/48", Site: "west"}, {Prefix: "203.0.113.0/24", Site: "east"}}
	c.Cluster.Distances = []Distance{{From: "west", To: "east", Cost: 100}}
	c.Cluster.LoadMargin = 0.3
	c.Cluster.DrainRate = 5
	c.Admin.Listen = "127.0.0.1:8086"
	c.Telemetry.OTLPEndpoint = "http://127.0.0.1:4318"
	c.Telemetry.SampleRatio = 0.5
	if err := c.Validate(); err != nil {
		t.Fatalf("example configuration: %v", err)
	}
	return c
}

// TestExamples loads the example files of docs/configuration.md, with the
// files they name stood in for by test files (through the environment).
func TestExamples(t *testing.T) {
	secrets := writeFile(t, "secrets", "mn1@example.net 0x00112233\n", 0o600)
	pki := newTestPKI(t, "ha.example.net")
	env := []string{
		"MIP6HA_IKE_SECRETS_FILE=" + secrets,
		"MIP6HA_IKE_CERTIFICATE=" + pki.cert,
		"MIP6HA_IKE_PRIVATE_KEY=" + pki.key,
		"MIP6HA_IKE_CA=" + pki.ca,
	}
	files, err := filepath.Glob("testdata/examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	views := map[string]*Config{}
	for _, f := range files {
		cfg, err := Load(LoadOptions{File: f, Env: env})
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		views[filepath.Base(f)] = cfg
	}
	// The cluster's two members agree on everything but themselves.
	ha1, ha2 := views["cluster-ha1.yaml"], views["cluster-ha2.yaml"]
	if ha1 == nil || ha2 == nil {
		t.Fatal("cluster examples missing")
	}
	if ha1.IKE.Identity != ha2.IKE.Identity || !reflect.DeepEqual(ha1.Cluster.Sites, ha2.Cluster.Sites) ||
		!reflect.DeepEqual(ha1.Cluster.Distances, ha2.Cluster.Distances) || ha1.Store.Etcd.Prefix != ha2.Store.Etcd.Prefix {
		t.Error("the cluster examples disagree on the shared settings")
	}
}
