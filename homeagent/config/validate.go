package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/telemetry"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
	"github.com/mip6ha/mip6ha/mip6/mh"
	"github.com/mip6ha/mip6ha/policy"
)

// Limits that Validate applies.
const (
	// MaxShards bounds ike.shards: shard numbers live in one octet.
	MaxShards = 256
	// minRekey is the shortest rekey time: anything shorter keeps peers
	// busy rekeying.
	minRekey = time.Minute
	// maxLifetime is the longest Mobility Header lifetime or refresh
	// interval: 65535 units of 4 s (RFC 6275 §6.1.7, §6.2.4).
	maxLifetime = time.Duration(mh.MaxLifetime) * mh.LifetimeUnit
	// maxHomePrefixBits is the longest home prefix: pools of /121 and
	// longer have no room once the anycast addresses are left out.
	maxHomePrefixBits = 120
	// minMembershipTTL is the shortest membership TTL: etcd counts TTLs in
	// whole seconds and a member needs time to renew.
	minMembershipTTL = 2 * time.Second
)

// MinTicketKey is the length, in octets, of the shortest cluster.ticket_key:
// a handover ticket's MAC key (HMAC-SHA-256) needs at least 128 bits.
const MinTicketKey = 16

// Validate checks every key and returns all the problems found, joined
// (errors.Join), each a *KeyError naming its key. It reads no file: Load
// also checks the files the configuration names (see CheckFiles).
func (c *Config) Validate() error {
	var p problems
	c.validateIKE(&p)
	c.validateHome(&p)
	c.validateMIP6(&p)
	c.validateStore(&p)
	c.validateCluster(&p)
	c.validateAdmin(&p)
	c.validateTelemetry(&p)
	return p.err()
}

func (c *Config) validateIKE(p *problems) {
	k := &c.IKE
	if len(k.Listen) == 0 {
		p.add("ike.listen", "", "is empty: the home agent needs an address to listen on")
	}
	seen := map[netip.Addr]bool{}
	for _, s := range k.Listen {
		a, err := netip.ParseAddr(s)
		switch {
		case err != nil:
			p.add("ike.listen", s, "is not an IP address")
		case a.Zone() != "" || a.Is4In6() || a.IsMulticast():
			p.add("ike.listen", s, "is not a unicast address without a zone")
		case seen[a]:
			p.add("ike.listen", s, "is listed twice")
		}
		seen[a] = true
	}
	port := func(key string, v int) {
		switch {
		case v < 0 || v > math.MaxUint16:
			p.add(key, strconv.Itoa(v), "is not a UDP port (0..65535)")
		case v == 0 && len(k.Listen) > 1:
			p.add(key, "0", "(a port the kernel chooses) needs a single ike.listen address")
		}
	}
	port("ike.port", k.Port)
	port("ike.natt_port", k.NATTPort)
	if k.Port != 0 && k.Port == k.NATTPort {
		p.add("ike.natt_port", strconv.Itoa(k.NATTPort), "is the same port as ike.port")
	}
	if k.Identity != "" {
		if _, err := ParseIdentity(k.Identity); err != nil {
			p.add("ike.identity", k.Identity, "%v", err)
		}
	}
	ids := map[string]int{}
	for i, e := range k.PSKs {
		key := fmt.Sprintf("ike.psks[%d]", i)
		if e.Identity != AnyIdentity {
			if _, err := ParseIdentity(e.Identity); err != nil {
				p.add(key+".identity", e.Identity, "%v", err)
			}
		}
		if j, dup := ids[e.Identity]; dup {
			p.add(key+".identity", e.Identity, "already has a key in ike.psks[%d]", j)
		} else {
			ids[e.Identity] = i
		}
		if _, err := ParseSecret(e.Secret); err != nil {
			p.add(key+".secret", "", "%v", err)
		}
	}
	if (k.Certificate == "") != (k.PrivateKey == "") {
		if k.Certificate == "" {
			p.add("ike.certificate", "", "is required with ike.private_key")
		} else {
			p.add("ike.private_key", "", "is required with ike.certificate")
		}
	}
	for i, s := range k.Proposals {
		checkProposal(p, fmt.Sprintf("ike.proposals[%d]", i), s, wire.ProtocolIKE)
	}
	for i, s := range k.ESPProposals {
		checkProposal(p, fmt.Sprintf("ike.esp_proposals[%d]", i), s, wire.ProtocolESP)
	}
	for _, s := range k.LocalTS {
		if _, err := netip.ParsePrefix(s); err != nil {
			p.add("ike.local_ts", s, "is not an IP prefix")
		}
	}
	if k.CookieThreshold < -1 || k.CookieThreshold == 0 {
		p.add("ike.cookie_threshold", strconv.Itoa(k.CookieThreshold), "is neither -1 (always) nor a positive number of half-open SAs")
	}
	r := &k.Retransmit
	positive(p, "ike.retransmit.timeout", r.Timeout)
	if !(r.Base >= 1 && r.Base <= 10) {
		p.add("ike.retransmit.base", formatFloat(r.Base), "is outside [1, 10]")
	}
	if r.Tries < 1 || r.Tries > 20 {
		p.add("ike.retransmit.tries", strconv.Itoa(r.Tries), "is outside 1..20")
	}
	if r.MaxTimeout < 0 || (r.MaxTimeout > 0 && r.MaxTimeout < r.Timeout) {
		p.add("ike.retransmit.max_timeout", formatDuration(r.MaxTimeout), "is neither 0 (no cap) nor at least ike.retransmit.timeout")
	}
	positive(p, "ike.half_open_timeout", k.HalfOpenTimeout)
	for _, rekey := range []struct {
		key string
		d   time.Duration
	}{{"ike.rekey_time", k.RekeyTime}, {"ike.child_rekey_time", k.ChildRekeyTime}} {
		if rekey.d != 0 && rekey.d < minRekey {
			p.add(rekey.key, formatDuration(rekey.d), "is neither 0 (never) nor at least %s", formatDuration(minRekey))
		}
	}
	if k.LivenessInterval != 0 && k.LivenessInterval < time.Second {
		p.add("ike.liveness_interval", formatDuration(k.LivenessInterval), "is neither 0 (never) nor at least 1s")
	}
	if k.KeyLogFile != "" && strings.HasSuffix(k.KeyLogFile, "/") {
		p.add("ike.keylog_file", k.KeyLogFile, "names a directory, not a file")
	}
	for _, s := range k.Redirect.Anycast {
		a, err := netip.ParseAddr(s)
		if err != nil {
			p.add("ike.redirect.anycast", s, "is not an IP address")
			continue
		}
		if why := notUnicast(a); why != "" {
			p.add("ike.redirect.anycast", s, "is %s", why)
			continue
		}
		if c.ownAddress(a) {
			p.add("ike.redirect.anycast", s, "is also in cluster.addresses: an anycast address is not a member's unicast address")
			continue
		}
		if !c.hasUnicast(a.Is4()) {
			p.add("ike.redirect.anycast", s, "needs a cluster.addresses entry of its family to redirect to (RFC 5685 §4)")
		}
	}
	positive(p, "ike.redirect.grace", k.Redirect.Grace)
	if k.Shards < 0 || k.Shards > MaxShards {
		p.add("ike.shards", strconv.Itoa(k.Shards), "is outside 0..%d", MaxShards)
	}
	if k.InboxDepth < 1 {
		p.add("ike.inbox_depth", strconv.Itoa(k.InboxDepth), "is not a positive number")
	}
	if k.ShutdownTimeout < 0 {
		p.add("ike.shutdown_timeout", formatDuration(k.ShutdownTimeout), "is negative")
	}
}

// checkProposal checks one proposal with the engine's own rules, and that an
// ESP proposal uses only the AEAD ciphers the user-space dataplane has.
func checkProposal(p *problems, key, s string, proto wire.ProtocolID) {
	prop, err := ike.ParseProposal(s)
	if err != nil {
		p.add(key, s, "is not a proposal: %s", engineReason(err))
		return
	}
	cfg := ike.Config{Credentials: noCredentials{}}
	if proto == wire.ProtocolIKE {
		if len(prop.ESN) > 0 {
			p.add(key, s, "is not an IKE proposal: esn and noesn are for ESP")
			return
		}
		cfg.IKEProposals = []ike.Proposal{prop}
	} else {
		for _, ci := range prop.Encr {
			if ci.ID != wire.EncrAESGCM16 && ci.ID != wire.EncrChaCha20Poly1305 {
				p.add(key, s, "uses %v: the user-space dataplane has only AES-GCM-16 and ChaCha20-Poly1305", ci)
				return
			}
		}
		cfg.ESPProposals = []ike.Proposal{prop}
	}
	if _, err := ike.NewResponder(ike.ResponderConfig{Config: cfg}); err != nil {
		p.add(key, s, "is not usable: %s", engineReason(err))
	}
}

// engineReason returns the IKE engine's error message without its
// prefixes: "ike: invalid configuration: IKE proposal "..." needs a PRF"
// becomes "needs a PRF".
func engineReason(err error) string {
	msg := strings.TrimPrefix(err.Error(), ike.ErrConfig.Error()+": ")
	if i := strings.Index(msg, "proposal \""); i >= 0 {
		rest := msg[i+len("proposal \""):]
		if j := strings.IndexByte(rest, '"'); j >= 0 {
			msg = strings.TrimLeft(rest[j+1:], ": ")
		}
	}
	return msg
}

// noCredentials lets checkProposal build a Responder; it is never asked.
type noCredentials struct{}

func (noCredentials) Local(*ike.ID) (*ike.LocalCredential, error) {
	return nil, errors.New("no credentials")
}
func (noCredentials) Peer(ike.ID) (*ike.PeerCredential, error) {
	return nil, errors.New("no credentials")
}

func (c *Config) validateHome(p *problems) {
	h := &c.Home
	if h.Interface != "" {
		if why := badInterfaceName(h.Interface); why != "" {
			p.add("home.interface", h.Interface, "%s", why)
		}
	}
	prefix, ok := c.homePrefix()
	switch {
	case h.Prefix == "":
		p.add("home.prefix", "", "is required")
	case !ok:
		if pr, err := netip.ParsePrefix(h.Prefix); err == nil && pr.Addr().Is6() && !pr.Addr().Is4In6() && pr.Addr().Zone() == "" && pr != pr.Masked() {
			p.add("home.prefix", h.Prefix, "has host bits set (the prefix is %v)", pr.Masked())
		} else {
			p.add("home.prefix", h.Prefix, "is not a valid IPv6 prefix")
		}
	case prefix.Bits() > maxHomePrefixBits:
		p.add("home.prefix", h.Prefix, "is longer than /%d", maxHomePrefixBits)
	case prefix.Addr().IsLinkLocalUnicast() || prefix.Addr().IsMulticast() || prefix.Addr().IsLoopback() || prefix.Bits() < 8:
		p.add("home.prefix", h.Prefix, "is not a prefix of routable unicast addresses")
	}
	if h.HostRange != "" {
		first, last, err := parseRange(h.HostRange, false)
		switch {
		case err != nil:
			p.add("home.host_range", h.HostRange, "%v", err)
		case ok && (!prefix.Contains(first) || !prefix.Contains(last)):
			p.add("home.host_range", h.HostRange, "is not inside home.prefix %v", prefix)
		case ok && first == prefix.Addr():
			p.add("home.host_range", h.HostRange, "includes the Subnet-Router anycast address %v (RFC 4291 §2.6.1)", first)
		}
	}
	if h.IPv4Pool != "" {
		if _, err := parseIPv4Pool(h.IPv4Pool); err != nil {
			p.add("home.ipv4_pool", h.IPv4Pool, "%v", err)
		}
	}
	for _, s := range h.DNS {
		if a, err := netip.ParseAddr(s); err != nil || notUnicast(a) != "" {
			p.add("home.dns", s, "is not a unicast IP address")
		}
	}
	if h.TUN != "" {
		if why := badInterfaceName(h.TUN); why != "" {
			p.add("home.tun", h.TUN, "%s", why)
		}
	}
	if h.MTU < 1280 || h.MTU > math.MaxUint16 {
		p.add("home.mtu", strconv.Itoa(h.MTU), "is outside 1280..65535 (IPv6 needs 1280)")
	}
}

func (c *Config) validateMIP6(p *problems) {
	m := &c.MIP6
	if m.MaxBindingLifetime < mh.LifetimeUnit || m.MaxBindingLifetime > maxLifetime {
		p.add("mip6.max_binding_lifetime", formatDuration(m.MaxBindingLifetime), "is outside 4s..%s (65535 units of 4 s)", formatDuration(maxLifetime))
	}
	if m.RefreshAdvice < 0 || (m.RefreshAdvice > 0 && (m.RefreshAdvice < mh.LifetimeUnit || m.RefreshAdvice >= m.MaxBindingLifetime)) {
		p.add("mip6.refresh_advice", formatDuration(m.RefreshAdvice), "is neither 0 (none) nor between 4s and mip6.max_binding_lifetime")
	}
	if m.MaxBindings < 0 {
		p.add("mip6.max_bindings", strconv.Itoa(m.MaxBindings), "is negative")
	}
	rate(p, "mip6.has_rate", m.HASRate)
	if m.GracePeriod < mh.LifetimeUnit || m.GracePeriod > maxLifetime {
		p.add("mip6.grace_period", formatDuration(m.GracePeriod), "is outside 4s..%s (a Binding Refresh Advice counts units of 4 s)", formatDuration(maxLifetime))
	}
}

func (c *Config) validateStore(p *problems) {
	s := &c.Store
	switch s.Backend {
	case BackendEmbedded:
		if s.DataDir == "" {
			p.add("store.data_dir", "", "is required with store.backend embedded")
		}
	case BackendEtcd:
		if len(s.Etcd.Endpoints) == 0 {
			p.add("store.etcd.endpoints", "", "is required with store.backend etcd")
		}
	default:
		p.add("store.backend", s.Backend, "is neither %q nor %q", BackendEmbedded, BackendEtcd)
	}
	if strings.ContainsRune(s.DataDir, 0) {
		p.add("store.data_dir", s.DataDir, "contains a NUL")
	}
	e := &s.Etcd
	for _, ep := range e.Endpoints {
		if why := badEndpoint(ep); why != "" {
			p.add("store.etcd.endpoints", ep, "%s", why)
		}
	}
	switch {
	case !strings.HasPrefix(e.Prefix, "/") || e.Prefix == "/":
		p.add("store.etcd.prefix", e.Prefix, "does not start with '/' followed by a name")
	case strings.HasSuffix(e.Prefix, "/"):
		p.add("store.etcd.prefix", e.Prefix, "ends with '/'")
	}
	positive(p, "store.etcd.dial_timeout", e.DialTimeout)
	if e.Password != "" && e.Username == "" {
		p.add("store.etcd.username", "", "is required with store.etcd.password")
	}
	if (e.TLS.Certificate == "") != (e.TLS.PrivateKey == "") {
		if e.TLS.Certificate == "" {
			p.add("store.etcd.tls.certificate", "", "is required with store.etcd.tls.private_key")
		} else {
			p.add("store.etcd.tls.private_key", "", "is required with store.etcd.tls.certificate")
		}
	}
}

func (c *Config) validateCluster(p *problems) {
	cl := &c.Cluster
	etcd := c.Store.Backend == BackendEtcd
	if why := badName(cl.MemberID); why != "" {
		p.add("cluster.member_id", cl.MemberID, "%s", why)
	}
	if why := badName(cl.Site); why != "" {
		p.add("cluster.site", cl.Site, "%s", why)
	}
	if cl.Capacity < 0 {
		p.add("cluster.capacity", strconv.Itoa(cl.Capacity), "is negative")
	}
	if etcd && len(cl.Addresses) == 0 {
		p.add("cluster.addresses", "", "is required with store.backend etcd: other members redirect clients to these addresses")
	}
	if etcd {
		switch id, err := ParseIdentity(c.IKE.Identity); {
		case c.IKE.Identity == "":
			p.add("ike.identity", "", "is required with store.backend etcd: every home agent of a cluster presents the same identity (RFC 5685 §3)")
		case err == nil:
			if _, isAddr := id.Addr(); isAddr {
				p.add("ike.identity", c.IKE.Identity, "is an address, which the home agents of a cluster cannot share (RFC 5685 §3): use a name")
			}
		}
	}
	addrs := map[netip.Addr]bool{}
	for _, s := range cl.Addresses {
		a, err := netip.ParseAddr(s)
		switch {
		case err != nil:
			p.add("cluster.addresses", s, "is not an IP address")
		case notUnicast(a) != "":
			p.add("cluster.addresses", s, "is %s", notUnicast(a))
		case addrs[a]:
			p.add("cluster.addresses", s, "is listed twice")
		}
		addrs[a] = true
	}
	for _, s := range cl.NATAddresses {
		ap, err := netip.ParseAddrPort(s)
		switch {
		case err != nil:
			p.add("cluster.nat_addresses", s, "is not ADDRESS:PORT ([ADDRESS]:PORT for IPv6)")
		case notUnicast(ap.Addr()) != "":
			p.add("cluster.nat_addresses", s, "is %s", notUnicast(ap.Addr()))
		case ap.Port() == 0:
			p.add("cluster.nat_addresses", s, "has port 0")
		case addrs[ap.Addr()]:
			p.add("cluster.nat_addresses", s, "repeats an address of cluster.addresses or cluster.nat_addresses")
		}
		addrs[ap.Addr()] = true
	}
	prefixes := map[netip.Prefix]int{}
	for i, sp := range cl.Sites {
		key := fmt.Sprintf("cluster.sites[%d]", i)
		pr, err := netip.ParsePrefix(sp.Prefix)
		switch {
		case sp.Prefix == "":
			p.add(key+".prefix", "", "is required")
		case err != nil || pr.Addr().Zone() != "":
			p.add(key+".prefix", sp.Prefix, "is not an IP prefix")
		case pr.Addr().Is4In6():
			p.add(key+".prefix", sp.Prefix, "is an IPv4-mapped prefix: write it in IPv4 form")
		case pr != pr.Masked():
			p.add(key+".prefix", sp.Prefix, "has host bits set (the prefix is %v)", pr.Masked())
		default:
			if j, dup := prefixes[pr]; dup {
				p.add(key+".prefix", sp.Prefix, "is already mapped by cluster.sites[%d]", j)
			}
			prefixes[pr] = i
		}
		if why := badName(sp.Site); why != "" {
			p.add(key+".site", sp.Site, "%s", why)
		}
	}
	type pair struct{ from, to string }
	pairs := map[pair]int{}
	for i, d := range cl.Distances {
		key := fmt.Sprintf("cluster.distances[%d]", i)
		if why := badName(d.From); why != "" {
			p.add(key+".from", d.From, "%s", why)
		}
		if why := badName(d.To); why != "" {
			p.add(key+".to", d.To, "%s", why)
		}
		if d.Cost < 0 || int64(d.Cost) > math.MaxUint32 {
			p.add(key+".cost", strconv.Itoa(d.Cost), "is outside 0..%d", uint32(math.MaxUint32))
		}
		if j, dup := pairs[pair{d.From, d.To}]; dup {
			p.add(key, "", "repeats the distance from %q to %q of cluster.distances[%d]", d.From, d.To, j)
		}
		pairs[pair{d.From, d.To}] = i
	}
	if !(cl.LoadMargin >= 0) || math.IsInf(cl.LoadMargin, 0) {
		p.add("cluster.load_margin", formatFloat(cl.LoadMargin), "is not a number of 0 or more")
	}
	if cl.DistanceMargin < 0 || int64(cl.DistanceMargin) > math.MaxUint32 {
		p.add("cluster.distance_margin", strconv.Itoa(cl.DistanceMargin), "is outside 0..%d", uint32(math.MaxUint32))
	}
	if cl.DefaultDistance < 1 || int64(cl.DefaultDistance) > math.MaxUint32 {
		p.add("cluster.default_distance", strconv.Itoa(cl.DefaultDistance), "is outside 1..%d", uint32(math.MaxUint32))
	}
	if cl.LoopWindow < 0 {
		p.add("cluster.loop_window", formatDuration(cl.LoopWindow), "is negative")
	}
	rate(p, "cluster.move_rate", cl.MoveRate)
	if cl.MoveBurst < 1 {
		p.add("cluster.move_burst", strconv.Itoa(cl.MoveBurst), "is not a positive number")
	}
	rate(p, "cluster.drain_rate", cl.DrainRate)
	if cl.MembershipTTL < minMembershipTTL {
		p.add("cluster.membership_ttl", formatDuration(cl.MembershipTTL), "is shorter than %s", formatDuration(minMembershipTTL))
	}
	if cl.TicketKey != "" {
		// The value is a secret: the problem is named, never the value.
		if k, err := ParseSecret(cl.TicketKey); err != nil {
			p.add("cluster.ticket_key", "", "%v", err)
		} else if len(k) < MinTicketKey {
			p.add("cluster.ticket_key", "", "has %d octets, fewer than %d", len(k), MinTicketKey)
		}
	}
	if p.has("cluster") {
		return
	}
	// The policy's own checks, on the view of this member alone: they
	// should find nothing the checks above did not.
	if _, err := policy.New(c.PolicyConfig(), c.View(nil)); err != nil {
		p.add("cluster", "", "is not usable by the placement policy: %v", err)
	}
}

func (c *Config) validateAdmin(p *problems) {
	if c.Admin.Listen == "" {
		return
	}
	if _, _, err := ParseListen(c.Admin.Listen); err != nil {
		p.add("admin.listen", c.Admin.Listen, "%v", err)
	}
}

func (c *Config) validateTelemetry(p *problems) {
	t := &c.Telemetry
	if t.ServiceName == "" {
		p.add("telemetry.service_name", "", "is required")
	}
	switch t.OTLPProtocol {
	case string(telemetry.ProtocolHTTP), string(telemetry.ProtocolGRPC):
	default:
		p.add("telemetry.otlp_protocol", t.OTLPProtocol, "is neither %q nor %q", telemetry.ProtocolHTTP, telemetry.ProtocolGRPC)
	}
	if !(t.SampleRatio > 0 && t.SampleRatio <= 1) {
		p.add("telemetry.sample_ratio", formatFloat(t.SampleRatio), "is outside (0, 1]; to record no traces, leave telemetry.otlp_endpoint empty")
	}
	positive(p, "telemetry.export_delay", t.ExportDelay)
	switch t.LogFormat {
	case string(telemetry.LogText), string(telemetry.LogJSON):
	default:
		p.add("telemetry.log_format", t.LogFormat, "is neither %q nor %q", telemetry.LogText, telemetry.LogJSON)
	}
	switch strings.ToLower(t.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		p.add("telemetry.log_level", t.LogLevel, "is not debug, info, warn or error")
	}
	// The endpoint and listener syntax are telemetry's: ask it, one field
	// at a time, so that each error names its own key.
	single := []struct {
		key, value string
		cfg        telemetry.Config
	}{
		{"telemetry.otlp_endpoint", t.OTLPEndpoint, telemetry.Config{OTLPEndpoint: t.OTLPEndpoint}},
		{"telemetry.prometheus_listen", t.PrometheusListen, telemetry.Config{PrometheusListen: t.PrometheusListen}},
	}
	for _, s := range single {
		if err := s.cfg.Validate(); err != nil {
			reason := err.Error()
			if _, after, ok := strings.Cut(reason, ": "+telemetryField(s.key)+": "); ok {
				reason = after
			}
			p.add(s.key, s.value, "is not usable: %s", reason)
		}
	}
}

// telemetryField names the telemetry.Config field of a telemetry key.
func telemetryField(key string) string {
	switch key {
	case "telemetry.otlp_endpoint":
		return "OTLPEndpoint"
	case "telemetry.prometheus_listen":
		return "PrometheusListen"
	}
	return ""
}

// positive records a problem unless d > 0.
func positive(p *problems, key string, d time.Duration) {
	if d <= 0 {
		p.add(key, formatDuration(d), "is not a positive duration")
	}
}

// rate records a problem unless r is a positive, finite rate up to a
// million per second.
func rate(p *problems, key string, r float64) {
	if !(r > 0 && r <= 1e6) {
		p.add(key, formatFloat(r), "is outside (0, 1000000] per second")
	}
}

// notUnicast returns why a cannot be a unicast address a client reaches the
// home agent at ("a link-local address"), or "".
func notUnicast(a netip.Addr) string {
	switch {
	case a.Is4In6():
		return "an IPv4-mapped address: write it in IPv4 form"
	case a.Zone() != "":
		return "an address with a zone"
	case a.IsUnspecified():
		return "the unspecified address"
	case a.IsMulticast():
		return "a multicast address"
	case a.IsLinkLocalUnicast():
		return "a link-local address"
	case a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return "the broadcast address"
	}
	return ""
}

// badInterfaceName returns why s cannot name a network interface, or "".
func badInterfaceName(s string) string {
	switch {
	case len(s) > 15:
		return "is longer than the 15 octets of an interface name"
	case s == "." || s == "..":
		return "is not an interface name"
	case strings.ContainsAny(s, "/:% \t\r\n\x00"):
		return "is not an interface name (no '/', ':', '%' or blanks)"
	}
	return ""
}

// badName returns why s cannot be a member or site name, or "". Names
// appear in store keys, logs and tables: letters, digits, '.', '-', '_'.
func badName(s string) string {
	if s == "" {
		return "is empty"
	}
	if len(s) > 64 {
		return "is longer than 64 characters"
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_'
		if !ok {
			return "is not a name of letters, digits, '.', '-' and '_'"
		}
	}
	return ""
}

// badEndpoint returns why s is not an etcd endpoint, or "".
func badEndpoint(s string) string {
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			return "is not a URL with a host"
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return "is not an http or https URL"
		}
		return ""
	}
	host, port, err := splitHostPort(s)
	if err != nil || host == "" {
		return "is neither a URL nor host:port"
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return "has no port number in 1..65535"
	}
	return ""
}

// parseRange parses "FIRST-LAST", two addresses of one family (IPv4 when
// v4 is set, else IPv6) with FIRST <= LAST.
func parseRange(s string, v4 bool) (first, last netip.Addr, err error) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return first, last, errors.New("is not FIRST-LAST")
	}
	first, err1 := netip.ParseAddr(strings.TrimSpace(a))
	last, err2 := netip.ParseAddr(strings.TrimSpace(b))
	family := "IPv6"
	if v4 {
		family = "IPv4"
	}
	switch {
	case err1 != nil || err2 != nil || first.Is4() != v4 || last.Is4() != v4 || first.Zone() != "" || last.Zone() != "" || first.Is4In6() || last.Is4In6():
		return first, last, fmt.Errorf("is not a range of two %s addresses FIRST-LAST", family)
	case last.Less(first):
		return first, last, errors.New("ends before it starts")
	}
	return first, last, nil
}

// parseIPv4Pool parses home.ipv4_pool: a prefix or a range.
func parseIPv4Pool(s string) (store.Pool, error) {
	if strings.Contains(s, "/") {
		pr, err := netip.ParsePrefix(s)
		switch {
		case err != nil || !pr.Addr().Is4():
			return store.Pool{}, errors.New("is neither an IPv4 prefix nor a range FIRST-LAST")
		case pr != pr.Masked():
			return store.Pool{}, fmt.Errorf("has host bits set (the prefix is %v)", pr.Masked())
		case pr.Bits() > 30:
			return store.Pool{}, errors.New("is longer than /30")
		case pr.Addr().IsMulticast() || pr.Addr().IsLoopback() || pr.Addr().IsUnspecified():
			return store.Pool{}, errors.New("is not a prefix of unicast addresses")
		}
		return store.NewPrefixPool(pr)
	}
	first, last, err := parseRange(s, true)
	if err != nil {
		return store.Pool{}, err
	}
	for _, a := range []netip.Addr{first, last} {
		if why := notUnicast(a); why != "" || a.IsLoopback() {
			return store.Pool{}, fmt.Errorf("includes %v, which is not a unicast address", a)
		}
	}
	return store.NewRangePool(first, last)
}

// homePrefix returns home.prefix parsed, and whether it is an IPv6 prefix
// with no host bits set.
func (c *Config) homePrefix() (netip.Prefix, bool) {
	pr, err := netip.ParsePrefix(c.Home.Prefix)
	if err != nil || !pr.Addr().Is6() || pr.Addr().Is4In6() || pr.Addr().Zone() != "" || pr != pr.Masked() {
		return netip.Prefix{}, false
	}
	return pr, true
}

// ownAddress reports whether a is one of cluster.addresses.
func (c *Config) ownAddress(a netip.Addr) bool {
	for _, s := range c.Cluster.Addresses {
		if b, err := netip.ParseAddr(s); err == nil && b == a {
			return true
		}
	}
	return false
}

// hasUnicast reports whether cluster.addresses has an address of the
// family (IPv4 when v4 is set).
func (c *Config) hasUnicast(v4 bool) bool {
	for _, s := range c.Cluster.Addresses {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() == v4 && notUnicast(a) == "" {
			return true
		}
	}
	return false
}
