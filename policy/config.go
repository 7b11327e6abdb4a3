package policy

import (
	"errors"
	"math"
	"strconv"
	"time"
)

// ErrInvalidConfig is wrapped by every error Config.Validate returns.
var ErrInvalidConfig = errors.New("invalid policy configuration")

// ConfigError names the Config field that failed validation. It wraps
// ErrInvalidConfig.
type ConfigError struct {
	Field  string // the Go field name, e.g. "LoadMargin"
	Reason string // what is wrong with its value
}

// Error returns "policy: config <Field>: <Reason>".
func (e *ConfigError) Error() string { return "policy: config " + e.Field + ": " + e.Reason }

// Unwrap returns ErrInvalidConfig.
func (e *ConfigError) Unwrap() error { return ErrInvalidConfig }

// Defaults of the configuration knobs (DefaultConfig).
const (
	// DefaultLoadMargin is the load-ratio difference another member must
	// beat this one by before a node is sent there for load alone.
	DefaultLoadMargin = 0.2
	// DefaultDistanceMargin: any strictly smaller site distance counts as
	// nearer.
	DefaultDistanceMargin = 0
	// DefaultDistance is the cost of a pair of sites that the view's
	// distance table does not list, and of every member when the client's
	// site is unknown. It is large against typical configured costs
	// (tens to hundreds) so that any listed pair is preferred.
	DefaultDistance = 1000
	// DefaultLoopWindow is RFC 5685 §7's REDIRECT_LOOP_DETECT_PERIOD: a
	// bound node is never moved back to the member it came from within
	// this time.
	DefaultLoopWindow = 300 * time.Second
	// DefaultSwitchInterval is RFC 5142 §7's MAX-HA-SWITCH-TRANSMIT-RATE,
	// 1 Home Agent Switch per second per home agent, as an interval.
	DefaultSwitchInterval = time.Second
	// DefaultSwitchBurst lets one switch go out at once, no more.
	DefaultSwitchBurst = 1
)

// Config holds the tuning knobs of the policy. Start from DefaultConfig;
// the zero Config is not valid (DefaultDistance and the switch rate must
// be positive).
type Config struct {
	// LoadMargin is the hysteresis on load: a node moves to a member at
	// the same or smaller distance for load alone only if that member's
	// load ratio (load/capacity) is lower than this one's by more than
	// LoadMargin. Default 0.2. A margin of 1 or more turns load moves off.
	// Reevaluate never moves a bound node for load.
	LoadMargin float64
	// DistanceMargin is the hysteresis on distance: a member is nearer
	// only if its site distance is smaller by more than DistanceMargin.
	// Default 0 (any strictly smaller distance).
	DistanceMargin uint32
	// DefaultDistance is the distance of any site pair the view does not
	// list, and of every member when the client's address matches no
	// site prefix. Default 1000. Must be positive.
	DefaultDistance uint32
	// LoopWindow is how long a bound node is not moved back to the member
	// it came from (Binding.ArrivedFrom). Default 300 s, RFC 5685 §7's
	// REDIRECT_LOOP_DETECT_PERIOD. Zero turns the guard off. The guard on
	// REDIRECTED_FROM at IKE_SA_INIT and IKE_AUTH needs no window: the
	// notify only appears right after a redirect.
	LoopWindow time.Duration
	// CrossFamily lets a redirect name an address of the other IP family
	// than the client's locator when the target has none of the client's
	// family. Default false: a client that reached us over IPv4 may have
	// no IPv6 at all, and the reverse.
	CrossFamily bool
	// SwitchInterval is the mean time between two moves (Home Agent
	// Switch messages, or IKE redirects of established SAs) that one home
	// agent starts. Default 1 s (RFC 5142 §7).
	SwitchInterval time.Duration
	// SwitchBurst is how many moves may start back to back after a quiet
	// period. Default 1.
	SwitchBurst int
}

// DefaultConfig returns the documented defaults.
func DefaultConfig() Config {
	return Config{
		LoadMargin:      DefaultLoadMargin,
		DistanceMargin:  DefaultDistanceMargin,
		DefaultDistance: DefaultDistance,
		LoopWindow:      DefaultLoopWindow,
		SwitchInterval:  DefaultSwitchInterval,
		SwitchBurst:     DefaultSwitchBurst,
	}
}

// Validate reports the first field with an unusable value as a
// *ConfigError wrapping ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case math.IsNaN(c.LoadMargin) || math.IsInf(c.LoadMargin, 0) || c.LoadMargin < 0:
		return &ConfigError{"LoadMargin", "must be a finite number >= 0, not " + strconv.FormatFloat(c.LoadMargin, 'g', -1, 64)}
	case c.DefaultDistance == 0:
		return &ConfigError{"DefaultDistance", "must be > 0"}
	case c.LoopWindow < 0:
		return &ConfigError{"LoopWindow", "must be >= 0, not " + c.LoopWindow.String()}
	case c.SwitchInterval <= 0:
		return &ConfigError{"SwitchInterval", "must be > 0, not " + c.SwitchInterval.String()}
	case c.SwitchBurst < 1:
		return &ConfigError{"SwitchBurst", "must be >= 1, not " + strconv.Itoa(c.SwitchBurst)}
	}
	return nil
}
