package mip6

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/mip6ha/mip6ha/mip6/mh"
)

// Protocol constants of RFC 6275 §12-§13 and RFC 5142 §8.
const (
	// InitialBindackTimeout is the first retransmission timeout of a
	// Binding Update to a home agent that already has a binding.
	InitialBindackTimeout = time.Second
	// InitialBindackTimeoutFirstReg is the first retransmission timeout of
	// a first registration, long enough for the home agent's DAD.
	InitialBindackTimeoutFirstReg = 1500 * time.Millisecond
	// MaxBindackTimeout caps the doubling of Binding Update retransmissions.
	MaxBindackTimeout = 32 * time.Second
	// MaxDeleteBCETimeout is how long a deregistered binding cache entry is
	// kept, invalid, so that a delayed Binding Update gets status 135.
	MaxDeleteBCETimeout = 10 * time.Second
	// MaxUpdateRate is the most Mobility Header messages of one type a
	// mobile node sends to one destination per second.
	MaxUpdateRate = 3
	// InitialHASwitchTimeout is the first retransmission timeout of a Home
	// Agent Switch (RFC 5142 §8: INITIAL-HA-SWITCH-TIMEOUT).
	InitialHASwitchTimeout = 5 * time.Second
	// MaxHASwitchTimeout caps the doubling of Home Agent Switch
	// retransmissions (MAX-HA-SWITCH-TIMEOUT).
	MaxHASwitchTimeout = 20 * time.Second
	// MaxHASwitchTransmitRate is the default number of mobile nodes told to
	// switch per second (MAX-HA-SWITCH-TRANSMIT-RATE).
	MaxHASwitchTransmitRate = 1
	// NATKeepaliveTimeout is the default NAT binding refresh time a home
	// agent suggests in the NAT Detection option (RFC 5555 §6: NATKATIMEOUT).
	NATKeepaliveTimeout = 110 * time.Second
)

// Defaults of HomeAgentConfig.
const (
	// DefaultMaxBindingLifetime caps granted lifetimes: an hour bounds how
	// long a vanished mobile node's route and defended address linger.
	DefaultMaxBindingLifetime = time.Hour
	// DefaultDADTimeout is how long a new binding waits for CompleteDAD.
	DefaultDADTimeout = 5 * time.Second
	// DefaultShards is the number of binding cache shards.
	DefaultShards = 64
	// DefaultBindingErrorRate is the number of Binding Errors a home agent
	// sends per second (RFC 6275 §9.3.3 asks for ICMPv6-like limiting).
	DefaultBindingErrorRate = 10
)

// HomePrefix is a prefix of the home link (the home agent's Prefix List,
// RFC 6275 §10.3.1). Home addresses must be on-link for one of them.
type HomePrefix struct {
	Prefix netip.Prefix
	// ValidUntil ends the prefix's valid lifetime; no binding outlives it.
	// The zero time means infinite.
	ValidUntil time.Time
	// PreferredUntil ends the preferred lifetime: a binding that reaches
	// it is accepted with status 1 (prefix discovery necessary). The zero
	// time means infinite.
	PreferredUntil time.Time
}

// HomeAgentConfig configures a BindingCache and a HomeAgent. Zero fields
// take the defaults documented on each.
type HomeAgentConfig struct {
	// HomePrefixes is the home link's prefix list. Empty means the node is
	// not configured as a home agent: home registrations get status 131.
	HomePrefixes []HomePrefix
	// MaxLifetime caps the granted lifetime (default
	// DefaultMaxBindingLifetime; at most 65535 units of 4 s).
	MaxLifetime time.Duration
	// RefreshAdvice, if positive, puts a Binding Refresh Advice with this
	// interval (capped below the granted lifetime) in accepting Binding
	// Acknowledgements. Zero: none (default).
	RefreshAdvice time.Duration
	// MaxBindings refuses new bindings beyond this many with status 130
	// (insufficient resources). Zero: no limit.
	MaxBindings int
	// KeyManagementMobility says the home agent can move its IKE endpoint
	// to a new care-of address, so it echoes the K bit (RFC 6275 §10.3.1).
	KeyManagementMobility bool
	// SkipDAD accepts new bindings without Duplicate Address Detection.
	// RFC 6275 §10.3.1 requires DAD before the first Binding
	// Acknowledgement (the default); skip it only where the home address
	// is known unique, e.g. it is leased from a shared store.
	SkipDAD bool
	// DADTimeout is how long a new binding waits for CompleteDAD before it
	// is forgotten (default DefaultDADTimeout).
	DADTimeout time.Duration
	// DeleteDelay keeps deregistered entries, invalid, this long (default
	// MaxDeleteBCETimeout).
	DeleteDelay time.Duration
	// RefreshRequestBefore, if positive, sends one Binding Refresh Request
	// when a binding has this much lifetime left; a binding granted no
	// longer than that gets none. Zero: never (default).
	RefreshRequestBefore time.Duration
	// HASInitialTimeout and HASMaxTimeout bound Home Agent Switch
	// retransmissions (defaults InitialHASwitchTimeout, MaxHASwitchTimeout).
	HASInitialTimeout, HASMaxTimeout time.Duration
	// HASRate is the number of mobile nodes told to switch per second
	// (default MaxHASwitchTransmitRate, RFC 5142 §7). Retransmissions to
	// nodes already told are not counted: they create no registrations.
	HASRate float64
	// BindingErrorRate is the number of Binding Errors sent per second
	// (default DefaultBindingErrorRate); a home agent's ICMPv6 Parameter
	// Problems for bad Mobility Headers count against the same rate.
	BindingErrorRate float64
	// NATKeepalive is the refresh time suggested in the NAT Detection
	// option when a NAT is detected (default NATKeepaliveTimeout).
	NATKeepalive time.Duration
	// Shards is the number of binding cache shards, rounded up to a power
	// of two (default DefaultShards).
	Shards int
}

// ErrConfig is wrapped by configuration errors.
var ErrConfig = errors.New("mip6: invalid configuration")

func (c HomeAgentConfig) withDefaults() (HomeAgentConfig, error) {
	for _, p := range c.HomePrefixes {
		if !p.Prefix.IsValid() || !p.Prefix.Addr().Is6() || p.Prefix.Addr().Is4In6() {
			return c, fmt.Errorf("%w: home prefix %v is not an IPv6 prefix", ErrConfig, p.Prefix)
		}
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.MaxLifetime, DefaultMaxBindingLifetime)
	def(&c.DADTimeout, DefaultDADTimeout)
	def(&c.DeleteDelay, MaxDeleteBCETimeout)
	def(&c.HASInitialTimeout, InitialHASwitchTimeout)
	def(&c.HASMaxTimeout, MaxHASwitchTimeout)
	def(&c.NATKeepalive, NATKeepaliveTimeout)
	if c.HASRate <= 0 {
		c.HASRate = MaxHASwitchTransmitRate
	}
	if c.BindingErrorRate <= 0 {
		c.BindingErrorRate = DefaultBindingErrorRate
	}
	if c.Shards <= 0 {
		c.Shards = DefaultShards
	}
	n := 1
	for n < c.Shards {
		n <<= 1
	}
	c.Shards = n
	if mh.LifetimeOf(c.MaxLifetime) == 0 {
		return c, fmt.Errorf("%w: MaxLifetime %v is below one 4-second unit", ErrConfig, c.MaxLifetime)
	}
	if c.HASMaxTimeout < c.HASInitialTimeout {
		c.HASMaxTimeout = c.HASInitialTimeout
	}
	return c, nil
}

// MobileNodeConfig configures a BindingUpdateList. Zero fields take the
// defaults documented on each.
type MobileNodeConfig struct {
	// Lifetime is the binding lifetime requested when a Registration does
	// not name one (default DefaultRequestedLifetime).
	Lifetime time.Duration
	// InitialBindackTimeoutFirstReg, InitialBindackTimeout and
	// MaxBindackTimeout drive retransmissions (RFC 6275 §11.8; defaults:
	// the constants of the same names).
	InitialBindackTimeoutFirstReg, InitialBindackTimeout, MaxBindackTimeout time.Duration
	// MaxUpdateRate limits Binding Updates to one home agent per second
	// (default MaxUpdateRate).
	MaxUpdateRate int
	// RefreshFraction is the part of the granted lifetime after which the
	// binding is refreshed, unless a Binding Refresh Advice asks earlier
	// (default 0.75).
	RefreshFraction float64
	// BindingErrorRate is the number of Binding Errors sent per second
	// (default DefaultBindingErrorRate).
	BindingErrorRate float64
}

// DefaultRequestedLifetime is the binding lifetime a mobile node requests
// by default.
const DefaultRequestedLifetime = 10 * time.Minute

func (c MobileNodeConfig) withDefaults() MobileNodeConfig {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Lifetime, DefaultRequestedLifetime)
	def(&c.InitialBindackTimeoutFirstReg, InitialBindackTimeoutFirstReg)
	def(&c.InitialBindackTimeout, InitialBindackTimeout)
	def(&c.MaxBindackTimeout, MaxBindackTimeout)
	if c.MaxUpdateRate <= 0 {
		c.MaxUpdateRate = MaxUpdateRate
	}
	if c.RefreshFraction <= 0 || c.RefreshFraction >= 1 {
		c.RefreshFraction = 0.75
	}
	if c.BindingErrorRate <= 0 {
		c.BindingErrorRate = DefaultBindingErrorRate
	}
	return c
}
