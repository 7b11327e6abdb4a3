package config

import (
	"io/fs"
	"math"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/mip6"
	"github.com/mip6ha/mip6ha/policy"
)

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func fsMode(perm uint32) fs.FileMode { return fs.FileMode(perm) }

// anyValueValid lists the keys for which every value of their type is
// valid, so they have no invalid case below.
var anyValueValid = map[string]bool{
	"ike.force_encapsulation":      true,
	"ike.redirect.enable":          true,
	"home.dad":                     true,
	"mip6.key_management_mobility": true,
	"store.etcd.tls.ca":            true, // file names: checked by CheckFiles
	"store.etcd.tls.server_name":   true,
	"store.etcd.password":          true,
	"ike.secrets_file":             true,
	"ike.ca":                       true,
	"cluster.cross_family":         true,
	"telemetry.otlp_insecure":      true,
}

// invalid holds, for every key, values Validate must refuse, each as a
// change to a valid configuration; the test checks that exactly the key
// (and its reason) is reported.
var invalid = []struct {
	key  string
	set  func(c *Config)
	says string
}{
	{"ike.listen", func(c *Config) { c.IKE.Listen = nil }, "needs an address"},
	{"ike.listen", func(c *Config) { c.IKE.Listen = []string{"::", "localhost"} }, "not an IP address"},
	{"ike.listen", func(c *Config) { c.IKE.Listen = []string{"ff02::1"} }, "unicast"},
	{"ike.listen", func(c *Config) { c.IKE.Listen = []string{"::", "::"} }, "twice"},
	{"ike.port", func(c *Config) { c.IKE.Port = 65536 }, "not a UDP port"},
	{"ike.port", func(c *Config) { c.IKE.Port = 0 }, "single ike.listen"},
	{"ike.natt_port", func(c *Config) { c.IKE.NATTPort = -1 }, "not a UDP port"},
	{"ike.natt_port", func(c *Config) { c.IKE.NATTPort = 500 }, "same port"},
	{"ike.identity", func(c *Config) { c.IKE.Identity = "keyid:zz" }, "hexadecimal"},
	{"ike.psks[1].identity", func(c *Config) { c.IKE.PSKs = []PSK{{"a@b", "x"}, {"a b", "y"}} }, "blanks"},
	{"ike.psks[1].identity", func(c *Config) { c.IKE.PSKs = []PSK{{"a@b", "x"}, {"a@b", "y"}} }, "ike.psks[0]"},
	{"ike.psks[0].secret", func(c *Config) { c.IKE.PSKs = []PSK{{"a@b", "0xq"}} }, "hexadecimal"},
	{"ike.psks[0].secret", func(c *Config) { c.IKE.PSKs = []PSK{{"*", ""}} }, "empty"},
	{"ike.certificate", func(c *Config) { c.IKE.PrivateKey = "/etc/ha.key" }, "required with ike.private_key"},
	{"ike.private_key", func(c *Config) { c.IKE.Certificate = "/etc/ha.crt" }, "required with ike.certificate"},
	{"ike.proposals[0]", func(c *Config) { c.IKE.Proposals = []string{"aes256gcm16-blowfish"} }, "unknown algorithm"},
	{"ike.proposals[0]", func(c *Config) { c.IKE.Proposals = []string{"aes256gcm16-prfsha256"} }, "D-H group"},
	{"ike.proposals[0]", func(c *Config) { c.IKE.Proposals = []string{"aes256gcm16-prfsha256-x25519-esn"} }, "for ESP"},
	{"ike.esp_proposals[0]", func(c *Config) { c.IKE.ESPProposals = []string{"aes128-sha256"} }, "AES-GCM-16"},
	{"ike.esp_proposals[0]", func(c *Config) { c.IKE.ESPProposals = []string{"aes128gcm16-sha256"} }, "beside AEAD"},
	{"ike.local_ts", func(c *Config) { c.IKE.LocalTS = []string{"2001:db8::1"} }, "not an IP prefix"},
	{"ike.cookie_threshold", func(c *Config) { c.IKE.CookieThreshold = 0 }, "-1"},
	{"ike.rekey_time", func(c *Config) { c.IKE.RekeyTime = time.Second }, "at least 1m"},
	{"ike.child_rekey_time", func(c *Config) { c.IKE.ChildRekeyTime = -time.Minute }, "at least 1m"},
	{"ike.liveness_interval", func(c *Config) { c.IKE.LivenessInterval = time.Millisecond }, "at least 1s"},
	{"ike.half_open_timeout", func(c *Config) { c.IKE.HalfOpenTimeout = 0 }, "positive"},
	{"ike.keylog_file", func(c *Config) { c.IKE.KeyLogFile = "/tmp/" }, "directory"},
	{"ike.shards", func(c *Config) { c.IKE.Shards = 257 }, "0..256"},
	{"ike.inbox_depth", func(c *Config) { c.IKE.InboxDepth = 0 }, "positive"},
	{"ike.shutdown_timeout", func(c *Config) { c.IKE.ShutdownTimeout = -time.Second }, "negative"},
	{"ike.retransmit.timeout", func(c *Config) { c.IKE.Retransmit.Timeout = 0 }, "positive"},
	{"ike.retransmit.base", func(c *Config) { c.IKE.Retransmit.Base = 0.5 }, "[1, 10]"},
	{"ike.retransmit.base", func(c *Config) { c.IKE.Retransmit.Base = math.NaN() }, "[1, 10]"},
	{"ike.retransmit.tries", func(c *Config) { c.IKE.Retransmit.Tries = 0 }, "1..20"},
	{"ike.retransmit.max_timeout", func(c *Config) { c.IKE.Retransmit.MaxTimeout = time.Second }, "at least ike.retransmit.timeout"},
	{"ike.redirect.anycast", func(c *Config) { c.IKE.Redirect.Anycast = []string{"2001:db8::a"} }, "needs a cluster.addresses entry"},
	{"ike.redirect.anycast", func(c *Config) {
		c.Cluster.Addresses = []string{"2001:db8::1"}
		c.IKE.Redirect.Anycast = []string{"2001:db8::1"}
	}, "also in cluster.addresses"},
	{"ike.redirect.anycast", func(c *Config) { c.IKE.Redirect.Anycast = []string{"::"} }, "unspecified"},
	{"ike.redirect.grace", func(c *Config) { c.IKE.Redirect.Grace = 0 }, "positive"},
	{"home.interface", func(c *Config) { c.Home.Interface = "a-very-long-bridge-name" }, "15 octets"},
	{"home.prefix", func(c *Config) { c.Home.Prefix = "" }, "required"},
	{"home.prefix", func(c *Config) { c.Home.Prefix = "2001:db8::/129" }, "not a valid IPv6 prefix"},
	{"home.prefix", func(c *Config) { c.Home.Prefix = "192.0.2.0/24" }, "not a valid IPv6 prefix"},
	{"home.prefix", func(c *Config) { c.Home.Prefix = "2001:db8::1/64" }, "host bits set (the prefix is 2001:db8::/64)"},
	{"home.prefix", func(c *Config) { c.Home.Prefix = "2001:db8::/124" }, "longer than /120"},
	{"home.prefix", func(c *Config) { c.Home.Prefix = "fe80::/64" }, "routable unicast"},
	{"home.host_range", func(c *Config) { c.Home.HostRange = "2001:db8:9::1-2001:db8:9::9" }, "inside home.prefix"},
	{"home.host_range", func(c *Config) { c.Home.HostRange = "fd6d:6970:3668::9-fd6d:6970:3668::1" }, "ends before"},
	{"home.host_range", func(c *Config) { c.Home.HostRange = "fd6d:6970:3668::-fd6d:6970:3668::9" }, "Subnet-Router anycast"},
	{"home.host_range", func(c *Config) { c.Home.HostRange = "fd6d:6970:3668::1" }, "FIRST-LAST"},
	{"home.ipv4_pool", func(c *Config) { c.Home.IPv4Pool = "192.0.2.0/31" }, "longer than /30"},
	{"home.ipv4_pool", func(c *Config) { c.Home.IPv4Pool = "192.0.2.1/24" }, "host bits"},
	{"home.ipv4_pool", func(c *Config) { c.Home.IPv4Pool = "2001:db8::/64" }, "IPv4"},
	{"home.ipv4_pool", func(c *Config) { c.Home.IPv4Pool = "192.0.2.9-192.0.2.1" }, "ends before"},
	{"home.dns", func(c *Config) { c.Home.DNS = []string{"dns.example.net"} }, "unicast IP"},
	{"home.tun", func(c *Config) { c.Home.TUN = "tun/0" }, "interface name"},
	{"home.mtu", func(c *Config) { c.Home.MTU = 1279 }, "1280"},
	{"mip6.max_binding_lifetime", func(c *Config) { c.MIP6.MaxBindingLifetime = time.Second }, "4s.."},
	{"mip6.max_binding_lifetime", func(c *Config) { c.MIP6.MaxBindingLifetime = 100 * time.Hour }, "65535 units"},
	{"mip6.refresh_advice", func(c *Config) { c.MIP6.RefreshAdvice = 2 * time.Hour }, "mip6.max_binding_lifetime"},
	{"mip6.max_bindings", func(c *Config) { c.MIP6.MaxBindings = -1 }, "negative"},
	{"mip6.has_rate", func(c *Config) { c.MIP6.HASRate = 0 }, "(0, 1000000]"},
	{"mip6.grace_period", func(c *Config) { c.MIP6.GracePeriod = time.Second }, "4s.."},
	{"store.backend", func(c *Config) { c.Store.Backend = "bolt" }, `neither "embedded" nor "etcd"`},
	{"store.data_dir", func(c *Config) { c.Store.DataDir = "" }, "required with store.backend embedded"},
	{"store.etcd.endpoints", func(c *Config) { setCluster(c); c.Store.Etcd.Endpoints = nil }, "required with store.backend etcd"},
	{"store.etcd.endpoints", func(c *Config) { c.Store.Etcd.Endpoints = []string{"ftp://etcd:2379"} }, "http or https"},
	{"store.etcd.endpoints", func(c *Config) { c.Store.Etcd.Endpoints = []string{"etcd"} }, "host:port"},
	{"store.etcd.prefix", func(c *Config) { c.Store.Etcd.Prefix = "mip6ha" }, "start with '/'"},
	{"store.etcd.prefix", func(c *Config) { c.Store.Etcd.Prefix = "/mip6ha/" }, "ends with '/'"},
	{"store.etcd.dial_timeout", func(c *Config) { c.Store.Etcd.DialTimeout = 0 }, "positive"},
	{"store.etcd.username", func(c *Config) { c.Store.Etcd.Password = "p" }, "required with store.etcd.password"},
	{"store.etcd.tls.certificate", func(c *Config) { c.Store.Etcd.TLS.PrivateKey = "k" }, "required"},
	{"store.etcd.tls.private_key", func(c *Config) { c.Store.Etcd.TLS.Certificate = "c" }, "required"},
	{"cluster.member_id", func(c *Config) { c.Cluster.MemberID = "ha 1" }, "letters, digits"},
	{"cluster.site", func(c *Config) { c.Cluster.Site = "" }, "empty"},
	{"cluster.capacity", func(c *Config) { c.Cluster.Capacity = -1 }, "negative"},
	{"cluster.addresses", func(c *Config) { setCluster(c); c.Cluster.Addresses = nil }, "required with store.backend etcd"},
	{"cluster.addresses", func(c *Config) { c.Cluster.Addresses = []string{"fe80::1"} }, "link-local"},
	{"cluster.addresses", func(c *Config) { c.Cluster.Addresses = []string{"::ffff:192.0.2.1"} }, "IPv4 form"},
	{"cluster.nat_addresses", func(c *Config) { c.Cluster.NATAddresses = []string{"2001:db8::1:4500"} }, "[ADDRESS]:PORT"},
	{"cluster.nat_addresses", func(c *Config) { c.Cluster.NATAddresses = []string{"192.0.2.1:0"} }, "port 0"},
	{"cluster.sites[0].prefix", func(c *Config) { c.Cluster.Sites = []SitePrefix{{"192.0.2.1/24", "a"}} }, "host bits"},
	{"cluster.sites[1].prefix", func(c *Config) { c.Cluster.Sites = []SitePrefix{{"::/0", "a"}, {"::/0", "b"}} }, "cluster.sites[0]"},
	{"cluster.sites[0].site", func(c *Config) { c.Cluster.Sites = []SitePrefix{{"::/0", "a/b"}} }, "letters"},
	{"cluster.distances[0].from", func(c *Config) { c.Cluster.Distances = []Distance{{"", "b", 1}} }, "empty"},
	{"cluster.distances[0].to", func(c *Config) { c.Cluster.Distances = []Distance{{"a", "", 1}} }, "empty"},
	{"cluster.distances[0].cost", func(c *Config) { c.Cluster.Distances = []Distance{{"a", "b", -1}} }, "0..4294967295"},
	{"cluster.distances[1]", func(c *Config) { c.Cluster.Distances = []Distance{{"a", "b", 1}, {"a", "b", 2}} }, "repeats"},
	{"cluster.load_margin", func(c *Config) { c.Cluster.LoadMargin = -0.1 }, "0 or more"},
	{"cluster.distance_margin", func(c *Config) { c.Cluster.DistanceMargin = -1 }, "0.."},
	{"cluster.default_distance", func(c *Config) { c.Cluster.DefaultDistance = 0 }, "1.."},
	{"cluster.loop_window", func(c *Config) { c.Cluster.LoopWindow = -time.Second }, "negative"},
	{"cluster.move_rate", func(c *Config) { c.Cluster.MoveRate = math.Inf(1) }, "(0, 1000000]"},
	{"cluster.move_burst", func(c *Config) { c.Cluster.MoveBurst = 0 }, "positive"},
	{"cluster.drain_rate", func(c *Config) { c.Cluster.DrainRate = -1 }, "(0, 1000000]"},
	{"cluster.membership_ttl", func(c *Config) { c.Cluster.MembershipTTL = time.Second }, "shorter than 2s"},
	{"cluster.ticket_key", func(c *Config) { c.Cluster.TicketKey = "0x00112233" }, "4 octets, fewer than 16"},
	{"cluster.ticket_key", func(c *Config) { c.Cluster.TicketKey = "0xzz" }, "hexadecimal"},
	{"admin.listen", func(c *Config) { c.Admin.Listen = "0.0.0.0:8086" }, "loopback"},
	{"admin.listen", func(c *Config) { c.Admin.Listen = "admin.sock" }, "unix socket path nor host:port"},
	{"telemetry.service_name", func(c *Config) { c.Telemetry.ServiceName = "" }, "required"},
	{"telemetry.otlp_endpoint", func(c *Config) { c.Telemetry.OTLPEndpoint = "collector" }, "host:port"},
	{"telemetry.otlp_protocol", func(c *Config) { c.Telemetry.OTLPProtocol = "udp" }, `neither "http" nor "grpc"`},
	{"telemetry.sample_ratio", func(c *Config) { c.Telemetry.SampleRatio = 0 }, "leave telemetry.otlp_endpoint empty"},
	{"telemetry.export_delay", func(c *Config) { c.Telemetry.ExportDelay = 0 }, "positive"},
	{"telemetry.prometheus_listen", func(c *Config) { c.Telemetry.PrometheusListen = "9464" }, "host:port"},
	{"telemetry.log_level", func(c *Config) { c.Telemetry.LogLevel = "verbose" }, "debug, info"},
	{"telemetry.log_format", func(c *Config) { c.Telemetry.LogFormat = "logfmt" }, `neither "text" nor "json"`},
}

// setCluster makes c a valid etcd cluster member.
func setCluster(c *Config) {
	c.Store.Backend = BackendEtcd
	c.Store.Etcd.Endpoints = []string{"http://127.0.0.1:2379"}
	c.IKE.Identity = "ha.example.net"
	c.Cluster.Addresses = []string{"2001:db8::1"}
}

func TestValidateReportsTheKey(t *testing.T) {
	for _, tc := range invalid {
		t.Run(tc.key, func(t *testing.T) {
			c := testDefault(t)
			tc.set(c)
			kes := wantKeys(t, c.Validate(), tc.key)
			if len(kes) == 1 && !strings.Contains(kes[0].Error(), tc.says) {
				t.Errorf("%v, want it to say %q", kes[0], tc.says)
			}
		})
	}
}

// TestEveryKeyHasARule: each key (each key of a table, for a list of
// tables) has an invalid case above, or is listed as taking any value.
func TestEveryKeyHasARule(t *testing.T) {
	covered := map[string]bool{}
	index := regexp.MustCompile(`\[\d+\]`)
	for _, tc := range invalid {
		k := index.ReplaceAllString(tc.key, "[]")
		covered[k] = true
		covered[strings.TrimSuffix(k, "[]")] = true // an entry of a list of strings
	}
	for _, k := range schema() {
		names := []string{k.name}
		if k.kind == kindTables {
			names = nil
			for _, tk := range k.table {
				names = append(names, k.name+"[]."+tk.name)
			}
		}
		for _, n := range names {
			if !anyValueValid[k.name] && !covered[n] {
				t.Errorf("key %s: no invalid case and not in anyValueValid", n)
			}
		}
	}
}

// TestValidateReportsEveryProblem: all problems at once, in schema order.
func TestValidateReportsEveryProblem(t *testing.T) {
	c := testDefault(t)
	c.Telemetry.LogLevel = "loud"
	c.Home.MTU = 10
	c.IKE.Port = -5
	wantKeys(t, c.Validate(), "ike.port", "home.mtu", "telemetry.log_level")
}

func TestClusterNeedsSharedIdentity(t *testing.T) {
	c := testDefault(t)
	setCluster(c)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.IKE.Identity = ""
	kes := wantKeys(t, c.Validate(), "ike.identity")
	if len(kes) == 1 && !strings.Contains(kes[0].Reason, "RFC 5685 §3") {
		t.Errorf("%v, want the rule named", kes[0])
	}
	c.IKE.Identity = "2001:db8::1"
	wantKeys(t, c.Validate(), "ike.identity")
}

func TestConverters(t *testing.T) {
	c := exampleConfig(t)
	pc := c.PolicyConfig()
	if pc.SwitchInterval != time.Second || pc.SwitchBurst != 1 || pc.LoadMargin != 0.3 || pc.DefaultDistance != 1000 {
		t.Errorf("PolicyConfig %+v", pc)
	}
	other := policy.Member{ID: "ha2", Site: "east", Addrs: []netip.Addr{mustAddr("2001:db8:200::1"), mustAddr("198.51.100.2")}, Capacity: 10, Healthy: true}
	v := c.View([]policy.Member{other})
	if v.Self != "ha1" || len(v.Members) != 2 || len(v.Sites) != 2 || len(v.Distances) != 1 {
		t.Fatalf("View %+v", v)
	}
	p, err := policy.New(pc, v)
	if err != nil {
		t.Fatal(err)
	}
	// A client in site east is nearer ha2: the view and distances work.
	d := p.AtInit(policy.AtInit{Remote: mustAddr("203.0.113.7")})
	if d.Action != policy.ActionRedirect || d.Target != "ha2" {
		t.Errorf("client in east: %v, want a redirect to ha2", d)
	}
	if self := c.SelfMember(); self.ID != "ha1" || len(self.Addrs) != 2 || len(self.NATAddrs) != 1 || !self.Healthy {
		t.Errorf("SelfMember %+v", self)
	}
	if m := c.StoreMember(); m.ID != "ha1" || m.Capacity != c.Cluster.Capacity {
		t.Errorf("StoreMember %+v", m)
	}
	if got := PolicyMember(c.StoreMember()); got.ID != "ha1" || !got.Healthy {
		t.Errorf("PolicyMember %+v", got)
	}

	hc := c.HomeAgentConfig()
	if len(hc.HomePrefixes) != 1 || hc.HomePrefixes[0].Prefix != netip.MustParsePrefix("2001:db8:1::/64") || hc.SkipDAD {
		t.Errorf("HomeAgentConfig %+v", hc)
	}
	if _, err := mip6.NewHomeAgent(hc, time.Now()); err != nil {
		t.Errorf("NewHomeAgent: %v", err)
	}
	if err := c.TelemetryConfig("v1").Validate(); err != nil {
		t.Errorf("TelemetryConfig: %v", err)
	}
	if tc := c.TelemetryConfig("v1"); tc.ServiceInstance != "ha1" || tc.ServiceVersion != "v1" {
		t.Errorf("TelemetryConfig %+v", tc)
	}
	pool := c.HomePool()
	if pool.First != mustAddr("2001:db8:1::1000") || pool.Last != mustAddr("2001:db8:1::1fff") {
		t.Errorf("HomePool %v", pool)
	}
	if p4, ok := c.IPv4Pool(); !ok || p4.First != mustAddr("192.0.2.1") || p4.Last != mustAddr("192.0.2.254") {
		t.Errorf("IPv4Pool %v %v", p4, ok)
	}
	if d := testDefault(t); d.HomePool().Size() == 0 {
		t.Error("default home pool is empty")
	} else if _, ok := d.IPv4Pool(); ok {
		t.Error("an IPv4 pool by default")
	}
	if any := c.Anycast(); any[mustAddr("2001:db8:ffff::1")] != mustAddr("2001:db8:100::1") {
		t.Errorf("Anycast %v", any)
	}
	if len(c.IKEProposals()) != 1 || len(c.ESPProposals()) != 1 || c.Retransmit().Base != 1.5 {
		t.Error("IKE converters")
	}
	if l, err := c.DrainLimiter(); err != nil || !l.Allow(time.Now()) {
		t.Errorf("DrainLimiter: %v", err)
	}
}

// TestTicketKey: cluster.ticket_key is decoded as a pre-shared key is
// (text, "0x" hex, quoted text); none set gives no key.
func TestTicketKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"0x000102030405060708090a0b0c0d0e0f", "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f"},
		{`"  sixteen octets "`, "  sixteen octets "},
		{"a-long-enough-cluster-key", "a-long-enough-cluster-key"},
	} {
		c := testDefault(t)
		c.Cluster.TicketKey = tc.in
		if err := c.Validate(); err != nil {
			t.Errorf("%q: %v", tc.in, err)
		}
		if got := string(c.TicketKey()); got != tc.want {
			t.Errorf("TicketKey of %q = %q, want %q", tc.in, got, tc.want)
		}
	}
}
