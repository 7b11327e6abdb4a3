package config

import (
	"net"
	"net/netip"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/store"
	"github.com/mip6ha/mip6ha/homeagent/telemetry"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/mip6"
	"github.com/mip6ha/mip6ha/policy"
)

// The converters below return the typed configuration of the packages the
// runtime drives. They are meant for a Config that passed Validate (as
// Load's does): a value that does not parse is left out (zero), not
// reported again.

// PolicyConfig returns the placement policy's knobs (cluster.*).
func (c *Config) PolicyConfig() policy.Config {
	cl := &c.Cluster
	return policy.Config{
		LoadMargin:      cl.LoadMargin,
		DistanceMargin:  uint32(max(cl.DistanceMargin, 0)),
		DefaultDistance: uint32(max(cl.DefaultDistance, 0)),
		LoopWindow:      cl.LoopWindow,
		CrossFamily:     cl.CrossFamily,
		SwitchInterval:  rateInterval(cl.MoveRate),
		SwitchBurst:     cl.MoveBurst,
	}
}

// DrainLimiter returns the Limiter that paces the moves of a drain
// (cluster.drain_rate, one at a time).
func (c *Config) DrainLimiter() (*policy.Limiter, error) {
	return policy.NewLimiter(rateInterval(c.Cluster.DrainRate), 1)
}

// TicketKey returns cluster.ticket_key decoded (ParseSecret), or nil when
// none is set: the key that authenticates handover tickets.
func (c *Config) TicketKey() []byte {
	if c.Cluster.TicketKey == "" {
		return nil
	}
	k, err := ParseSecret(c.Cluster.TicketKey)
	if err != nil || len(k) < MinTicketKey {
		return nil
	}
	return k
}

// rateInterval turns a rate per second into the mean time between events.
func rateInterval(perSecond float64) time.Duration {
	if !(perSecond > 0) {
		return 0
	}
	return time.Duration(float64(time.Second) / perSecond)
}

// SelfMember returns this home agent as a member of the cluster view:
// cluster.member_id, site, addresses, NAT addresses and capacity, healthy,
// not draining, with no load. The runtime updates load, health and drain.
func (c *Config) SelfMember() policy.Member {
	return policy.Member{
		ID:       c.Cluster.MemberID,
		Site:     c.Cluster.Site,
		Addrs:    parseAddrs(c.Cluster.Addresses),
		NATAddrs: parseAddrPorts(c.Cluster.NATAddresses),
		Capacity: c.Cluster.Capacity,
		Healthy:  true,
	}
}

// StoreMember returns the record this home agent publishes in the store
// (Members.Join): SelfMember's fields.
func (c *Config) StoreMember() store.Member {
	m := c.SelfMember()
	return store.Member{
		ID:       m.ID,
		Site:     m.Site,
		Addrs:    m.Addrs,
		NATAddrs: m.NATAddrs,
		Capacity: m.Capacity,
		Healthy:  m.Healthy,
	}
}

// PolicyMember converts a member record of the store to the policy's view
// of it.
func PolicyMember(m store.Member) policy.Member {
	return policy.Member{
		ID:       m.ID,
		Site:     m.Site,
		Addrs:    m.Addrs,
		NATAddrs: m.NATAddrs,
		Capacity: m.Capacity,
		Load:     m.Load,
		Healthy:  m.Healthy,
		Draining: m.Draining,
	}
}

// View returns the cluster view of this home agent: members as given (the
// live members from the store, converted with PolicyMember), with
// SelfMember added when members has no member of our ID, and the sites and
// distances of the configuration.
func (c *Config) View(members []policy.Member) policy.View {
	v := policy.View{Self: c.Cluster.MemberID}
	self := false
	for _, m := range members {
		self = self || m.ID == v.Self
	}
	if !self {
		v.Members = append(v.Members, c.SelfMember())
	}
	v.Members = append(v.Members, members...)
	for _, s := range c.Cluster.Sites {
		if p, err := netip.ParsePrefix(s.Prefix); err == nil {
			v.Sites = append(v.Sites, policy.SitePrefix{Prefix: p, Site: s.Site})
		}
	}
	for _, d := range c.Cluster.Distances {
		v.Distances = append(v.Distances, policy.Distance{From: d.From, To: d.To, Cost: uint32(max(d.Cost, 0))})
	}
	return v
}

// HomeAgentConfig returns the Mobile IPv6 home agent's configuration
// (mip6.*, home.prefix, home.dad). The binding cache's own timers keep
// their defaults.
func (c *Config) HomeAgentConfig() mip6.HomeAgentConfig {
	hc := mip6.HomeAgentConfig{
		MaxLifetime:           c.MIP6.MaxBindingLifetime,
		RefreshAdvice:         c.MIP6.RefreshAdvice,
		MaxBindings:           c.MIP6.MaxBindings,
		KeyManagementMobility: c.MIP6.KeyManagementMobility,
		SkipDAD:               !c.Home.DAD,
		HASRate:               c.MIP6.HASRate,
	}
	if p, ok := c.homePrefix(); ok {
		hc.HomePrefixes = []mip6.HomePrefix{{Prefix: p}}
	}
	return hc
}

// TelemetryConfig returns the telemetry configuration: telemetry.*, with
// cluster.member_id as the service instance. version becomes
// service.version; LogOutput is left nil (standard error).
func (c *Config) TelemetryConfig(version string) telemetry.Config {
	t := &c.Telemetry
	return telemetry.Config{
		ServiceName:      t.ServiceName,
		ServiceInstance:  c.Cluster.MemberID,
		ServiceVersion:   version,
		OTLPEndpoint:     t.OTLPEndpoint,
		OTLPProtocol:     telemetry.Protocol(t.OTLPProtocol),
		Insecure:         t.OTLPInsecure,
		SampleRatio:      t.SampleRatio,
		ExportDelay:      t.ExportDelay,
		PrometheusListen: t.PrometheusListen,
		LogLevel:         t.LogLevel,
		LogFormat:        telemetry.LogFormat(t.LogFormat),
	}
}

// HomePool returns the pool IPv6 home addresses are allocated from:
// home.host_range, else home.prefix.
func (c *Config) HomePool() store.Pool {
	prefix, ok := c.homePrefix()
	if !ok {
		return store.Pool{}
	}
	if c.Home.HostRange != "" {
		first, last, err := parseRange(c.Home.HostRange, false)
		if err != nil {
			return store.Pool{}
		}
		p, _ := store.NewRangePool(first, last)
		return p
	}
	p, _ := store.NewPrefixPool(prefix)
	return p
}

// IPv4Pool returns the pool of IPv4 home addresses (home.ipv4_pool) and
// whether there is one.
func (c *Config) IPv4Pool() (store.Pool, bool) {
	if c.Home.IPv4Pool == "" {
		return store.Pool{}, false
	}
	p, err := parseIPv4Pool(c.Home.IPv4Pool)
	return p, err == nil
}

// HomePrefix returns home.prefix.
func (c *Config) HomePrefix() netip.Prefix {
	p, _ := c.homePrefix()
	return p
}

// ListenAddrs returns ike.listen.
func (c *Config) ListenAddrs() []netip.Addr { return parseAddrs(c.IKE.Listen) }

// DNSServers returns home.dns.
func (c *Config) DNSServers() []netip.Addr { return parseAddrs(c.Home.DNS) }

// LocalTS returns ike.local_ts.
func (c *Config) LocalTS() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range c.IKE.LocalTS {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
		}
	}
	return out
}

// IKEProposals returns ike.proposals parsed, or nil for the engine's
// defaults.
func (c *Config) IKEProposals() []ike.Proposal { return parseProposals(c.IKE.Proposals) }

// ESPProposals returns ike.esp_proposals parsed, or nil for the engine's
// defaults.
func (c *Config) ESPProposals() []ike.Proposal { return parseProposals(c.IKE.ESPProposals) }

func parseProposals(ss []string) []ike.Proposal {
	var out []ike.Proposal
	for _, s := range ss {
		if p, err := ike.ParseProposal(s); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Retransmit returns the retransmission schedule (ike.retransmit.*).
func (c *Config) Retransmit() ike.Retransmit {
	r := &c.IKE.Retransmit
	return ike.Retransmit{Timeout: r.Timeout, Base: r.Base, Tries: r.Tries, MaxTimeout: r.MaxTimeout}
}

// Anycast maps each address of ike.redirect.anycast to the unicast
// address of this home agent that a client reaching it is redirected to
// when no other member is better: the first cluster.addresses entry of its
// family (ike.ResponderConfig.Anycast).
func (c *Config) Anycast() map[netip.Addr]netip.Addr {
	if len(c.IKE.Redirect.Anycast) == 0 {
		return nil
	}
	own := parseAddrs(c.Cluster.Addresses)
	m := map[netip.Addr]netip.Addr{}
	for _, a := range parseAddrs(c.IKE.Redirect.Anycast) {
		for _, u := range own {
			if u.Is4() == a.Is4() {
				m[a] = u
				break
			}
		}
	}
	return m
}

func parseAddrs(ss []string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, a.Unmap())
		}
	}
	return out
}

func parseAddrPorts(ss []string) []netip.AddrPort {
	var out []netip.AddrPort
	for _, s := range ss {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			out = append(out, ap)
		}
	}
	return out
}

func netipFromIP(ip net.IP) (netip.Addr, bool) {
	a, ok := netip.AddrFromSlice(ip)
	return a.Unmap(), ok
}

func splitHostPort(s string) (host, port string, err error) { return net.SplitHostPort(s) }
