package homeagent

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"time"

	"github.com/mip6ha/mip6ha/ike"
)

// ErrConfig is wrapped by every configuration error (see ConfigError).
var ErrConfig = errors.New("homeagent: invalid configuration")

// ConfigError names the configuration key whose value is unusable.
type ConfigError struct {
	// Key is the name of the setting, as the command's flags (and later the
	// configuration file) spell it, e.g. "ipv6-prefix".
	Key string
	// Value is the offending value as given.
	Value string
	Err   error
}

// Error formats the error with the key and value.
func (e *ConfigError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("config %q: %v", e.Key, e.Err)
	}
	return fmt.Sprintf("config %q = %q: %v", e.Key, e.Value, e.Err)
}

// Unwrap returns ErrConfig and the cause.
func (e *ConfigError) Unwrap() []error { return []error{ErrConfig, e.Err} }

func badKey(key, value string, format string, args ...any) error {
	return &ConfigError{Key: key, Value: value, Err: fmt.Errorf(format, args...)}
}

// Config holds the runtime's settings as an operator writes them. Every field
// carries the name of its key (the flag of cmd/homeagent and cmd/mnclient);
// Validate reports a bad value by that name. Start from DefaultConfig.
//
// Wiring that is not an operator setting (a logger, an in-memory device, an
// address pool, an event observer) goes in Options.
type Config struct {
	// Listen ("listen") are the local addresses to serve IKE and ESP on;
	// "::" and "0.0.0.0" listen on every address of their family.
	Listen []string
	// IKEPort ("ike-port") and NATTPort ("natt-port") are the UDP ports
	// (500 and 4500 in service). 0 lets the kernel choose (tests; only with
	// a single listen address).
	IKEPort, NATTPort int

	// Identity ("identity") is our IKE identity: an address, an FQDN, an
	// RFC 822 name (with '@') or "keyid:HEX". Empty: taken from the
	// certificate, else the host name.
	Identity string
	// PSKFile ("psk-file") holds pre-shared keys, one peer per line:
	// "IDENTITY SECRET" (see LoadPSKFile).
	PSKFile string
	// Cert ("cert") is our certificate chain (PEM, end-entity first), Key
	// ("key") its private key (PEM: SEC 1, PKCS #1 or PKCS #8) and CA
	// ("ca") the CA certificates (PEM) that peers' certificates must chain
	// to. A configured certificate is what we authenticate with.
	Cert, Key, CA string

	// IPv6Prefix ("ipv6-prefix") is where inner IPv6 addresses (home
	// addresses) come from: INTERNAL_IP6_ADDRESS and MIP6_HOME_PREFIX.
	IPv6Prefix string
	// IPv4Pool ("ipv4-pool") is a prefix of inner IPv4 addresses
	// (INTERNAL_IP4_ADDRESS).
	IPv4Pool string
	// DNS ("dns") are DNS servers for INTERNAL_IP6_DNS / INTERNAL_IP4_DNS.
	DNS []string
	// LocalTS ("local-ts") are the prefixes we offer behind us as the
	// responder's TSr; empty: every address.
	LocalTS []string

	// TUN ("tun") is the name of the TUN device the inner packets use; "" lets
	// the kernel name it. MTU ("mtu") is its MTU.
	TUN string
	MTU int

	// KeyLog ("keylog") is a file that receives, for every IKE SA, one line of
	// tshark's ikev2_decryption_table, so captures can be decrypted. Lab use:
	// the file holds the IKE SA keys.
	KeyLog string
	// ForceEncap ("force-encap") forces UDP encapsulation of ESP (RFC 3948)
	// even without a NAT. The user-space dataplane only carries ESP in UDP,
	// so the default is true.
	ForceEncap bool

	// IKEProposals ("ike-proposals") and ESPProposals ("esp-proposals") in
	// strongSwan's syntax ("aes256gcm16-prfsha256-x25519"); empty: the
	// engine's defaults. ESP must be AEAD (AES-GCM, ChaCha20-Poly1305).
	IKEProposals, ESPProposals []string
	// IKERekey ("ike-rekey") and ChildRekey ("child-rekey") are the lifetimes
	// after which we rekey (0: never, the peer may still rekey); Liveness
	// ("liveness") is the silence after which we check the peer (0: never).
	IKERekey, ChildRekey, Liveness time.Duration

	// Shards ("shards") is the number of goroutines that own IKE SAs
	// (default: GOMAXPROCS). InboxDepth ("inbox-depth") bounds each shard's
	// queue of received IKE messages; more are dropped and counted.
	Shards, InboxDepth int
	// CookieThreshold ("cookie-threshold") is the number of half-open IKE
	// SAs from which COOKIEs are demanded (RFC 7296 §2.6); negative: always.
	CookieThreshold int
	// ShutdownTimeout ("shutdown-timeout") is how long Run waits, after its
	// context ends, for the peers to answer our deletes.
	ShutdownTimeout time.Duration

	// LogLevel ("log-level": debug, info, warn, error) and LogFormat
	// ("log-format": text, json) shape the logger NewLogger builds.
	LogLevel, LogFormat string
}

// Defaults.
const (
	DefaultTUN             = "mip6ha0"
	DefaultMTU             = 1400
	DefaultInboxDepth      = 1024
	DefaultCookieThreshold = 30
	DefaultShutdownTimeout = 3 * time.Second
)

// DefaultConfig returns the settings of a home agent started without any:
// IKE on every address, ports 500 and 4500, a TUN device named DefaultTUN,
// forced UDP encapsulation, text logs at info level, and no credentials (no
// peer can authenticate until some are configured).
func DefaultConfig() Config {
	return Config{
		Listen:          []string{"::", "0.0.0.0"},
		IKEPort:         500,
		NATTPort:        4500,
		TUN:             DefaultTUN,
		MTU:             DefaultMTU,
		ForceEncap:      true,
		InboxDepth:      DefaultInboxDepth,
		CookieThreshold: DefaultCookieThreshold,
		ShutdownTimeout: DefaultShutdownTimeout,
		LogLevel:        "info",
		LogFormat:       "text",
	}
}

// settings are the parsed values of a valid Config.
type settings struct {
	cfg          Config
	listen       []netip.Addr
	ikePort      uint16
	nattPort     uint16
	identity     ike.ID // zero: derive
	ipv6Prefix   netip.Prefix
	ipv4Pool     netip.Prefix
	dns          []netip.Addr
	localTS      []netip.Prefix
	ikeProposals []ike.Proposal
	espProposals []ike.Proposal
	shards       int
	inboxDepth   int
}

// Validate checks every setting and reports the first unusable one as a
// *ConfigError naming its key. It reads no file.
func (c Config) Validate() error {
	_, err := c.parse()
	return err
}

func (c Config) parse() (*settings, error) {
	s := &settings{cfg: c}
	if len(c.Listen) == 0 {
		return nil, badKey("listen", "", "no address to listen on")
	}
	for _, a := range c.Listen {
		addr, err := netip.ParseAddr(strings.TrimSpace(a))
		if err != nil || addr.Zone() != "" {
			return nil, badKey("listen", a, "not an IP address")
		}
		s.listen = append(s.listen, addr.Unmap())
	}
	port := func(key string, v int) (uint16, error) {
		if v < 0 || v > 65535 {
			return 0, badKey(key, fmt.Sprint(v), "not a UDP port")
		}
		if v == 0 && len(s.listen) > 1 {
			return 0, badKey(key, "0", "a kernel-chosen port needs a single listen address")
		}
		return uint16(v), nil
	}
	var err error
	if s.ikePort, err = port("ike-port", c.IKEPort); err != nil {
		return nil, err
	}
	if s.nattPort, err = port("natt-port", c.NATTPort); err != nil {
		return nil, err
	}
	if s.ikePort != 0 && s.ikePort == s.nattPort {
		return nil, badKey("natt-port", fmt.Sprint(c.NATTPort), "same as ike-port")
	}
	if c.Identity != "" {
		if s.identity, err = ParseID(c.Identity); err != nil {
			return nil, badKey("identity", c.Identity, "%v", err)
		}
	}
	if (c.Cert == "") != (c.Key == "") {
		if c.Cert == "" {
			return nil, badKey("cert", "", "a key without its certificate")
		}
		return nil, badKey("key", "", "a certificate without its key")
	}
	if c.IPv6Prefix != "" {
		p, err := netip.ParsePrefix(c.IPv6Prefix)
		if err != nil || !p.Addr().Is6() || p.Addr().Is4In6() || p.Bits() > 126 {
			return nil, badKey("ipv6-prefix", c.IPv6Prefix, "not an IPv6 prefix of /126 or shorter")
		}
		s.ipv6Prefix = p.Masked()
	}
	if c.IPv4Pool != "" {
		p, err := netip.ParsePrefix(c.IPv4Pool)
		if err != nil || !p.Addr().Is4() || p.Bits() > 30 {
			return nil, badKey("ipv4-pool", c.IPv4Pool, "not an IPv4 prefix of /30 or shorter")
		}
		s.ipv4Pool = p.Masked()
	}
	for _, d := range c.DNS {
		a, err := netip.ParseAddr(strings.TrimSpace(d))
		if err != nil {
			return nil, badKey("dns", d, "not an IP address")
		}
		s.dns = append(s.dns, a.Unmap())
	}
	for _, t := range c.LocalTS {
		p, err := netip.ParsePrefix(strings.TrimSpace(t))
		if err != nil {
			return nil, badKey("local-ts", t, "not a prefix")
		}
		s.localTS = append(s.localTS, p.Masked())
	}
	if c.TUN != "" && (len(c.TUN) > 15 || strings.ContainsAny(c.TUN, "/ \t")) {
		return nil, badKey("tun", c.TUN, "not an interface name")
	}
	if c.MTU != 0 && (c.MTU < 1280 || c.MTU > 65535) {
		return nil, badKey("mtu", fmt.Sprint(c.MTU), "outside 1280..65535 (IPv6 needs 1280)")
	}
	for _, p := range c.IKEProposals {
		pp, err := ike.ParseProposal(p)
		if err != nil {
			return nil, badKey("ike-proposals", p, "%v", err)
		}
		s.ikeProposals = append(s.ikeProposals, pp)
	}
	for _, p := range c.ESPProposals {
		pp, err := ike.ParseProposal(p)
		if err != nil {
			return nil, badKey("esp-proposals", p, "%v", err)
		}
		if err := espSupported(pp); err != nil {
			return nil, badKey("esp-proposals", p, "%v", err)
		}
		s.espProposals = append(s.espProposals, pp)
	}
	for key, d := range map[string]time.Duration{"ike-rekey": c.IKERekey, "child-rekey": c.ChildRekey,
		"liveness": c.Liveness, "shutdown-timeout": c.ShutdownTimeout} {
		if d < 0 {
			return nil, badKey(key, d.String(), "negative duration")
		}
	}
	s.shards = c.Shards
	if s.shards < 0 || s.shards > maxShards {
		return nil, badKey("shards", fmt.Sprint(c.Shards), "outside 0..%d", maxShards)
	}
	if s.shards == 0 {
		s.shards = runtime.GOMAXPROCS(0)
	}
	s.inboxDepth = c.InboxDepth
	if s.inboxDepth < 0 {
		return nil, badKey("inbox-depth", fmt.Sprint(c.InboxDepth), "negative")
	}
	if s.inboxDepth == 0 {
		s.inboxDepth = DefaultInboxDepth
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return nil, badKey("log-level", c.LogLevel, "%v", err)
	}
	switch c.LogFormat {
	case "", "text", "json":
	default:
		return nil, badKey("log-format", c.LogFormat, "not text or json")
	}
	return s, nil
}

// maxShards bounds Config.Shards: shard numbers live in SAID's low octet.
const maxShards = 256

func parseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("not debug, info, warn or error")
}

// NewLogger returns the logger that LogLevel and LogFormat describe,
// writing to w.
func (c Config) NewLogger(w io.Writer) (*slog.Logger, error) {
	level, err := parseLevel(c.LogLevel)
	if err != nil {
		return nil, badKey("log-level", c.LogLevel, "%v", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.LogFormat {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, badKey("log-format", c.LogFormat, "not text or json")
}
