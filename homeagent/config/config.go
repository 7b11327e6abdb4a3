package config

import "time"

// Config is the complete configuration of the home agent daemon: one section
// per concern. The zero Config is not meant to be used; start from Default
// (what a home agent started without a file uses) or Load.
//
// Every field is a key: the section's key, a dot, the field's key
// ("home.prefix"). Values are kept in the textual form an operator writes
// (addresses and prefixes as strings); Validate parses and checks them, and
// the converters (HomeAgentConfig, PolicyConfig, TelemetryConfig, ...) return
// the typed values of the packages that use them.
type Config struct {
	// IKE is the IKEv2 responder: where it listens, who it is, how peers
	// authenticate, what it proposes and when it redirects.
	IKE IKE `mapstructure:"ike"`
	// Home is the home link: the prefix home addresses come from, the
	// interface the home agent defends them on, and the TUN device.
	Home Home `mapstructure:"home"`
	// MIP6 is the Mobile IPv6 home agent (RFC 6275, RFC 5142).
	MIP6 MIP6 `mapstructure:"mip6"`
	// Store is the lease store: embedded (one home agent) or etcd (a
	// cluster).
	Store Store `mapstructure:"store"`
	// Cluster is this home agent as a member of the service, and the
	// placement policy every member applies.
	Cluster Cluster `mapstructure:"cluster"`
	// Admin is the local admin API that `homeagent ctl` talks to.
	Admin Admin `mapstructure:"admin"`
	// Telemetry is where logs, traces and metrics go.
	Telemetry Telemetry `mapstructure:"telemetry"`
}

// IKE configures the IKEv2 responder (RFC 7296) and its redirects (RFC 5685).
type IKE struct {
	// Local addresses to receive IKE and ESP-in-UDP on. "::" and "0.0.0.0"
	// mean every address of their family.
	Listen []string `mapstructure:"listen" alias:"listen"`
	// UDP port of IKE (500 in service). 0 lets the kernel choose, which
	// needs a single listen address (tests).
	Port int `mapstructure:"port"`
	// UDP port of IKE and ESP after NAT detection (RFC 3948; 4500 in
	// service), not ike.port. 0 lets the kernel choose, as for ike.port.
	NATTPort int `mapstructure:"natt_port"`
	// The identity this home agent proves in IDr: an IP address, an FQDN
	// ("ha.example.net" or "@ha.example.net"), an RFC 822 name (with
	// '@'), or "keyid:HEX". Every home agent of a cluster MUST present the
	// same identity, because a redirected client keeps the PAD entry of
	// the agent it first contacted (RFC 5685 §3); so it is required, and
	// may not be an address, when store.backend is etcd. Empty: the first
	// subjectAltName of ike.certificate, else the host name.
	Identity string `mapstructure:"identity" alias:"identity"`
	// Pre-shared keys, one table per peer identity: {identity, secret}.
	// An identity "*" matches every peer without a key of its own. Keys
	// may also come from ike.secrets_file; an identity may appear once
	// across both. A configuration file holding keys must not be
	// readable by others.
	PSKs []PSK `mapstructure:"psks"`
	// File of pre-shared keys, one "IDENTITY SECRET" line per peer (format
	// in docs/configuration.md). It must not be readable or writable by
	// others, nor writable by its group, and must belong to root or to
	// the user running the home agent: the home agent refuses to start
	// otherwise.
	SecretsFile string `mapstructure:"secrets_file" alias:"secrets-file"`
	// This home agent's certificate chain (PEM, end-entity first). With
	// it the home agent authenticates with a signature (RFC 7427);
	// without it, with the peer's pre-shared key. Its subjectAltName must
	// contain ike.identity.
	Certificate string `mapstructure:"certificate"`
	// Private key of ike.certificate (PEM: PKCS #8, SEC 1 or PKCS #1,
	// unencrypted). Same file permission rules as ike.secrets_file.
	PrivateKey string `mapstructure:"private_key"`
	// CA certificates (PEM) that mobile nodes' certificates must chain
	// to; they are also named in CERTREQ. Empty: peers cannot
	// authenticate with certificates.
	CA string `mapstructure:"ca"`
	// IKE SA proposals in strongSwan's syntax, most preferred first
	// ("aes256gcm16-prfsha256-x25519"). Empty: the engine's defaults
	// (AEAD, then AES-CBC with HMAC-SHA2; X25519, P-256, P-384,
	// MODP-2048).
	Proposals []string `mapstructure:"proposals"`
	// CHILD_SA (ESP) proposals in strongSwan's syntax. Only AEAD ciphers
	// (aes128gcm16, aes256gcm16, chacha20poly1305): the user-space
	// dataplane implements no other. Empty: aes256gcm16, aes128gcm16,
	// chacha20poly1305, without ESN.
	ESPProposals []string `mapstructure:"esp_proposals"`
	// Prefixes offered as the responder's traffic selector (TSr) behind
	// the home agent. Empty: every address.
	LocalTS []string `mapstructure:"local_ts"`
	// Number of half-open IKE SAs from which a COOKIE is demanded before
	// any state is kept (RFC 7296 §2.6): at least 1, or -1 for always.
	CookieThreshold int `mapstructure:"cookie_threshold"`
	// How long a half-open IKE SA waits for IKE_AUTH.
	HalfOpenTimeout time.Duration `mapstructure:"half_open_timeout"`
	// Lifetime after which the home agent rekeys an IKE SA: 0 (never; the
	// peer may) or at least 1m.
	RekeyTime time.Duration `mapstructure:"rekey_time"`
	// Lifetime after which the home agent rekeys a CHILD_SA: 0 (never; the
	// peer may) or at least 1m.
	ChildRekeyTime time.Duration `mapstructure:"child_rekey_time"`
	// Silence after which the home agent checks that a peer is alive
	// with an empty INFORMATIONAL (RFC 7296 §2.4). A peer that does not
	// answer loses its SAs, and its lease is released. 0: never; else at
	// least 1s.
	LivenessInterval time.Duration `mapstructure:"liveness_interval"`
	// UDP-encapsulate ESP (RFC 3948) even without a NAT. The user-space
	// dataplane only carries ESP in UDP; turn it off only for a kernel
	// (XFRM) dataplane.
	ForceEncapsulation bool `mapstructure:"force_encapsulation"`
	// File that receives the keys of every IKE SA in the format of
	// tshark's ikev2_decryption_table, so that captures can be decrypted.
	// For labs only: whoever reads it can decrypt the IKE traffic.
	KeyLogFile string `mapstructure:"keylog_file"`
	// Number of goroutines that own IKE SAs (SAs are sharded by SPI).
	// 0: one per CPU (GOMAXPROCS). At most 256.
	Shards int `mapstructure:"shards"`
	// Received IKE messages queued per shard; more are dropped and
	// counted. A filling queue also turns cookies on.
	InboxDepth int `mapstructure:"inbox_depth"`
	// On shutdown, how long to wait for peers to answer the deletes of
	// their SAs before the routes are withdrawn anyway.
	ShutdownTimeout time.Duration `mapstructure:"shutdown_timeout"`
	// Retransmission of the home agent's own requests (RFC 7296 §2.1).
	Retransmit Retransmit `mapstructure:"retransmit"`
	// IKEv2 redirect (RFC 5685).
	Redirect Redirect `mapstructure:"redirect"`
}

// PSK is one pre-shared key in ike.psks.
type PSK struct {
	// The peer's identity (ike.identity syntax), or "*" for any peer.
	Identity string `mapstructure:"identity"`
	// The key: text, "0x" and hexadecimal octets, or text in double
	// quotes (to keep blanks at its ends).
	Secret string `mapstructure:"secret" secret:"true"`
}

// Retransmit is the retransmission schedule of IKE requests: the n-th
// retransmission goes out timeout × base^(n-1) after the previous one.
type Retransmit struct {
	// Time before the first retransmission.
	Timeout time.Duration `mapstructure:"timeout"`
	// Factor by which each interval grows (RFC 7296 §2.1: exponentially),
	// in [1, 10].
	Base float64 `mapstructure:"base"`
	// Retransmissions before the request, and the SA, fail: 1 to 20.
	Tries int `mapstructure:"tries"`
	// Longest interval between two retransmissions: 0 (no cap) or at
	// least ike.retransmit.timeout.
	MaxTimeout time.Duration `mapstructure:"max_timeout"`
}

// Redirect configures the gateway side of RFC 5685. The client-side limits
// (MAX_REDIRECTS, REDIRECT_LOOP_DETECT_PERIOD) belong to the mobile node.
type Redirect struct {
	// Redirect clients that announce REDIRECT_SUPPORTED when the placement
	// policy says another member serves them better (at IKE_SA_INIT and
	// IKE_AUTH), and move established clients (drain, move). Off: every
	// client stays here (anycast addresses still redirect, to our own
	// unicast address, as RFC 5685 §4 requires).
	Enable bool `mapstructure:"enable"`
	// Anycast addresses this home agent answers IKE on. A client reaching
	// one is always redirected to a unicast address (RFC 5685 §4): the
	// best member's, possibly this agent's own first cluster.addresses
	// entry of the same family, which must exist.
	Anycast []string `mapstructure:"anycast"`
	// How long an IKE SA that was redirected in IKE_AUTH, or told to move,
	// is kept before the home agent deletes it, if the client does not
	// delete it first (RFC 5685 §5).
	Grace time.Duration `mapstructure:"grace"`
}

// Home configures the home link and the home addresses handed out.
type Home struct {
	// The home link's interface (e.g. a bridge): the home agent answers
	// Neighbor Solicitations for the home addresses it serves there
	// (proxy ND) and announces them with an unsolicited Neighbor
	// Advertisement (RFC 6275 §10.4.1). Empty: no home link; home
	// addresses are reachable through routes towards the home agent only.
	Interface string `mapstructure:"interface" alias:"home-interface"`
	// The home subnet prefix (RFC 6275): IPv6 home addresses are
	// allocated from it (INTERNAL_IP6_ADDRESS, RFC 4877 §6.1) and Binding
	// Updates must be for addresses in it. /120 or shorter. The default
	// is a unique local prefix (RFC 4193) that is routed nowhere.
	Prefix string `mapstructure:"prefix" alias:"prefix"`
	// The part of home.prefix that is allocated, as "FIRST-LAST"
	// (inclusive IPv6 addresses), e.g. "2001:db8:1::1000-2001:db8:1::1fff",
	// leaving the rest to static hosts. Empty: every address of the
	// prefix but the Subnet-Router anycast address (RFC 4291 §2.6.1) and
	// the 128 reserved subnet anycast addresses at its top (RFC 2526).
	HostRange string `mapstructure:"host_range"`
	// IPv4 home addresses (DSMIPv6 style, RFC 5555; INTERNAL_IP4_ADDRESS):
	// a prefix ("192.0.2.0/24", network and broadcast addresses left out)
	// or a range "FIRST-LAST". Empty: no IPv4 home addresses.
	IPv4Pool string `mapstructure:"ipv4_pool" alias:"ipv4-pool"`
	// DNS servers given to clients that ask for them (INTERNAL_IP6_DNS,
	// INTERNAL_IP4_DNS).
	DNS []string `mapstructure:"dns"`
	// Name of the TUN device that carries the mobile nodes' inner
	// packets. Empty: the kernel names it.
	TUN string `mapstructure:"tun" alias:"tun"`
	// MTU of the TUN device: the largest inner packet. IPv6 needs 1280;
	// leave room for ESP-in-UDP on the outer path.
	MTU int `mapstructure:"mtu"`
	// Run Duplicate Address Detection on the home link before the first
	// Binding Acknowledgement of a home address (RFC 6275 §10.3.1). Turn
	// it off only where the lease store alone guarantees uniqueness.
	DAD bool `mapstructure:"dad"`
}

// MIP6 configures the Mobile IPv6 home agent.
type MIP6 struct {
	// Longest binding lifetime granted (RFC 6275 §10.3.1); a longer
	// request is cut to it. Between 4s and 262140s (65535 units of 4 s).
	MaxBindingLifetime time.Duration `mapstructure:"max_binding_lifetime"`
	// Binding Refresh Advice sent in accepting Binding Acknowledgements
	// (RFC 6275 §6.2.4): when the mobile node should refresh. 0: none;
	// else at least 4s and less than mip6.max_binding_lifetime.
	RefreshAdvice time.Duration `mapstructure:"refresh_advice"`
	// Most bindings this home agent accepts; more get status 130
	// (insufficient resources). 0: no limit.
	MaxBindings int `mapstructure:"max_bindings"`
	// Echo the Key Management Mobility Capability (K) flag: the home
	// agent moves a node's IKE SA to its new care-of address on a Binding
	// Update (RFC 6275 §10.3.1, RFC 4877).
	KeyManagementMobility bool `mapstructure:"key_management_mobility"`
	// Home Agent Switch messages sent per second at most
	// (MAX-HA-SWITCH-TRANSMIT-RATE, RFC 5142 §7); retransmissions to nodes
	// already told are not counted. Positive, at most 1000000.
	HASRate float64 `mapstructure:"has_rate"`
	// Grace period of a make-before-break move: the Binding Refresh
	// Advice in the Home Agent Switch, and the deadline by which the new
	// home agent must take the lease over before the move is called off.
	// Between 4s and 262140s (a Binding Refresh Advice counts units of
	// 4 s).
	GracePeriod time.Duration `mapstructure:"grace_period"`
}

// Store selects and configures the lease store.
type Store struct {
	// "embedded" (a file in store.data_dir, for a single home agent) or
	// "etcd" (shared by the home agents of a cluster).
	Backend string `mapstructure:"backend"`
	// Directory of the embedded store's file (leases.db), created with
	// mode 0700 if missing.
	DataDir string `mapstructure:"data_dir" alias:"data-dir"`
	// The etcd cluster, for store.backend etcd.
	Etcd Etcd `mapstructure:"etcd"`
}

// Etcd configures the etcd client of the etcd store backend.
type Etcd struct {
	// etcd client URLs ("http://10.0.0.1:2379", "https://etcd1:2379") or
	// host:port. Required with store.backend etcd.
	Endpoints []string `mapstructure:"endpoints" alias:"etcd"`
	// Key prefix of this deployment, "/" and a path without a trailing
	// "/"; home agents with the same prefix form one cluster.
	Prefix string `mapstructure:"prefix"`
	// Time allowed to connect to etcd at start-up.
	DialTimeout time.Duration `mapstructure:"dial_timeout"`
	// User name for etcd authentication. Empty: none.
	Username string `mapstructure:"username"`
	// Password for etcd authentication (better given as
	// MIP6HA_STORE_ETCD_PASSWORD than in a file).
	Password string `mapstructure:"password" secret:"true"`
	// TLS towards etcd.
	TLS TLS `mapstructure:"tls"`
}

// TLS configures a TLS client.
type TLS struct {
	// CA certificates (PEM) that the server's certificate must chain to.
	// Empty: the system's roots (when an endpoint is https).
	CA string `mapstructure:"ca"`
	// Client certificate (PEM) for mutual TLS.
	Certificate string `mapstructure:"certificate"`
	// Private key of the client certificate (PEM). Same file permission
	// rules as ike.secrets_file.
	PrivateKey string `mapstructure:"private_key"`
	// Name expected in the server's certificate. Empty: the endpoint's
	// host.
	ServerName string `mapstructure:"server_name"`
}

// Cluster describes this home agent as a member of the service and the
// placement policy (package policy) that all members apply.
type Cluster struct {
	// This member's unique ID: leases name it as their owner, other
	// members see it in the cluster view. Letters, digits, '.', '-' and
	// '_', at most 64. Empty: the host name up to its first dot.
	MemberID string `mapstructure:"member_id" alias:"member-id"`
	// Site of this member; distances are between sites. A name as for
	// cluster.member_id.
	Site string `mapstructure:"site" alias:"site"`
	// Most nodes this member serves; a full member gets no new ones.
	Capacity int `mapstructure:"capacity"`
	// Unicast addresses clients reach this member at on UDP 500 and 4500,
	// most preferred first: what other members name in REDIRECT and Home
	// Agent Switch messages. Required with store.backend etcd.
	Addresses []string `mapstructure:"addresses" alias:"advertise"`
	// Public "address:port" pairs of a port-forwarding NAT in front of
	// this member, offered only to clients that can follow a redirect
	// with a port ([2001:db8::1]:4500 for IPv6).
	NATAddresses []string `mapstructure:"nat_addresses"`
	// Where clients are: tables {prefix, site}; a client's outer address
	// is in the site of its longest matching prefix. Add 0.0.0.0/0 and
	// ::/0 for a catch-all site. Must be the same on every member.
	Sites []SitePrefix `mapstructure:"sites"`
	// Cost from a client's site to a member's site: tables {from, to,
	// cost}; lower is nearer. A pair holds both ways unless the reverse
	// is listed; a site is at 0 from itself. Must be the same on every
	// member.
	Distances []Distance `mapstructure:"distances"`
	// Hysteresis on load: a new node goes to an equally near member for
	// load alone only if that member's load ratio (load/capacity) is
	// lower by more than this. 1 or more: never for load.
	LoadMargin float64 `mapstructure:"load_margin"`
	// Hysteresis on distance: a member is nearer only if its distance is
	// smaller by more than this.
	DistanceMargin int `mapstructure:"distance_margin"`
	// Distance of site pairs that cluster.distances does not list, and of
	// every member from a client whose site is unknown. Positive.
	DefaultDistance int `mapstructure:"default_distance"`
	// A node that moved here is not moved back to the member it came from
	// within this time (RFC 5685 §7's REDIRECT_LOOP_DETECT_PERIOD). 0:
	// no guard.
	LoopWindow time.Duration `mapstructure:"loop_window"`
	// Let a redirect name an address of the other IP family than the
	// client's when the target has none of the client's family.
	CrossFamily bool `mapstructure:"cross_family"`
	// Moves this member starts per second on average (re-evaluation on a
	// new care-of address, operator moves); each is a Home Agent Switch
	// or a redirect of an established IKE SA (RFC 5142 §7). Positive, at
	// most 1000000.
	MoveRate float64 `mapstructure:"move_rate"`
	// Moves that may start back to back after a quiet period: at least 1.
	MoveBurst int `mapstructure:"move_burst"`
	// Moves per second while draining (homeagent ctl drain), one at a
	// time. Positive, at most 1000000.
	DrainRate float64 `mapstructure:"drain_rate"`
	// Lifetime of this member's record in the store without a heartbeat:
	// after a crash, others may take its leases over this long after its
	// last heartbeat. At least 2s.
	MembershipTTL time.Duration `mapstructure:"membership_ttl"`
	// Key shared by every member that authenticates handover tickets
	// (HMAC-SHA-256): a member moving a node gives it a ticket, the member
	// taking the node over checks it (docs/cluster.md). At least 16
	// octets, written as text, "0x" and hexadecimal octets, or text in
	// double quotes; better given as MIP6HA_CLUSTER_TICKET_KEY than in a
	// file. Empty: no tickets; moves rely on the lease record alone.
	TicketKey string `mapstructure:"ticket_key" secret:"true"`
}

// SitePrefix maps the client addresses in Prefix to Site (cluster.sites).
type SitePrefix struct {
	// Client address prefix, IPv4 or IPv6, host bits zero.
	Prefix string `mapstructure:"prefix"`
	// Site name.
	Site string `mapstructure:"site"`
}

// Distance is one entry of cluster.distances.
type Distance struct {
	// Client's site.
	From string `mapstructure:"from"`
	// Member's site.
	To string `mapstructure:"to"`
	// Cost; lower is nearer.
	Cost int `mapstructure:"cost"`
}

// Admin configures the admin API.
type Admin struct {
	// Where the admin API listens: a unix socket path (created with mode
	// 0600, parent directory created with mode 0750), or host:port on a
	// loopback address (the API has no authentication of its own). Empty:
	// no admin API.
	Listen string `mapstructure:"listen" alias:"admin"`
}

// Telemetry configures logs, traces and metrics (package telemetry).
type Telemetry struct {
	// OpenTelemetry service.name of this daemon's traces and metrics.
	ServiceName string `mapstructure:"service_name"`
	// Where spans are exported over OTLP: host:port, or an http(s) URL
	// (the OTLP/HTTP base: spans go to its path + /v1/traces). Empty:
	// tracing off.
	OTLPEndpoint string `mapstructure:"otlp_endpoint" alias:"otlp-endpoint"`
	// OTLP transport: "http" (protobuf over HTTP, port 4318) or "grpc"
	// (port 4317).
	OTLPProtocol string `mapstructure:"otlp_protocol"`
	// Send OTLP without TLS to a host:port endpoint (a URL's scheme
	// decides on its own).
	OTLPInsecure bool `mapstructure:"otlp_insecure"`
	// Fraction of new traces recorded, in (0, 1]. Traces continued from
	// another agent or a mobile node follow the sender's decision.
	SampleRatio float64 `mapstructure:"sample_ratio"`
	// Longest a finished span waits in the export batch.
	ExportDelay time.Duration `mapstructure:"export_delay"`
	// host:port of the listener serving Prometheus metrics at /metrics.
	// Empty: no listener.
	PrometheusListen string `mapstructure:"prometheus_listen" alias:"metrics"`
	// Log level: debug, info, warn or error.
	LogLevel string `mapstructure:"log_level" alias:"log-level"`
	// Log format: text (key=value) or json (one object per line).
	LogFormat string `mapstructure:"log_format" alias:"log-format"`
}

// Defaults that other packages and commands refer to.
const (
	// EnvPrefix starts the name of every environment variable Load reads:
	// MIP6HA_ + the key in upper case with dots as underscores
	// (home.prefix is MIP6HA_HOME_PREFIX).
	EnvPrefix = "MIP6HA"
	// DefaultHomePrefix is the home prefix of a home agent started
	// without configuration: a unique local /64 (RFC 4193) whose global
	// ID spells "mip6h", routed nowhere.
	DefaultHomePrefix = "fd6d:6970:3668::/64"
	// DefaultAdminListen is the admin API's unix socket.
	DefaultAdminListen = "/run/mip6ha/admin.sock"
	// DefaultDataDir holds the embedded lease store.
	DefaultDataDir = "/var/lib/mip6ha"
	// DefaultPrometheusListen serves /metrics on the loopback interface
	// only (9464 is the port OpenTelemetry's Prometheus exporter uses).
	DefaultPrometheusListen = "127.0.0.1:9464"
	// DefaultEtcdPrefix is the etcd key prefix of a deployment
	// (etcdstore.DefaultPrefix).
	DefaultEtcdPrefix = "/mip6ha/default"
)

// Store backends (store.backend).
const (
	BackendEmbedded = "embedded"
	BackendEtcd     = "etcd"
)

// Default returns the configuration of a home agent started without a file,
// environment or flags: IKE on every address at ports 500 and 4500, home
// addresses from DefaultHomePrefix, the embedded store in DefaultDataDir,
// the admin API on DefaultAdminListen, metrics on DefaultPrometheusListen,
// text logs at info level, and no credentials (no peer can authenticate
// until some are configured). Each call returns a new Config.
func Default() *Config {
	return &Config{
		IKE: IKE{
			Listen:          []string{"::", "0.0.0.0"},
			Port:            500,
			NATTPort:        4500,
			CookieThreshold: 30,
			Retransmit: Retransmit{
				Timeout: 4 * time.Second,
				Base:    1.8,
				Tries:   5,
			},
			HalfOpenTimeout:    30 * time.Second,
			LivenessInterval:   2 * time.Minute,
			ForceEncapsulation: true,
			Redirect: Redirect{
				Enable: true,
				Grace:  30 * time.Second,
			},
			InboxDepth:      1024,
			ShutdownTimeout: 3 * time.Second,
		},
		Home: Home{
			Prefix: DefaultHomePrefix,
			TUN:    "mip6ha0",
			MTU:    1400,
			DAD:    true,
		},
		MIP6: MIP6{
			MaxBindingLifetime:    time.Hour,
			KeyManagementMobility: true,
			HASRate:               1,
			GracePeriod:           30 * time.Second,
		},
		Store: Store{
			Backend: BackendEmbedded,
			DataDir: DefaultDataDir,
			Etcd: Etcd{
				Prefix:      DefaultEtcdPrefix,
				DialTimeout: 5 * time.Second,
			},
		},
		Cluster: Cluster{
			Site:            "default",
			Capacity:        10000,
			LoadMargin:      0.2,
			DefaultDistance: 1000,
			LoopWindow:      300 * time.Second,
			MoveRate:        1,
			MoveBurst:       1,
			DrainRate:       1,
			MembershipTTL:   10 * time.Second,
		},
		Admin: Admin{Listen: DefaultAdminListen},
		Telemetry: Telemetry{
			ServiceName:      "mip6ha-homeagent",
			OTLPProtocol:     "http",
			SampleRatio:      1,
			ExportDelay:      5 * time.Second,
			PrometheusListen: DefaultPrometheusListen,
			LogLevel:         "info",
			LogFormat:        "text",
		},
	}
}
