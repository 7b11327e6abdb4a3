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
	// Key is the name of the setting as the configuration file spells it
	// (package homeagent/config), e.g. "ike.listen".
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

// Config holds the IKE runtime's settings. Each field names the key of the
// home agent's configuration (package homeagent/config, the one source of
// key names) that sets it; Validate reports a bad value by that key. The
// home agent builds it from its configuration (Service); the mobile node
// client fills it in itself. Start from DefaultConfig.
//
// Wiring that is not an operator setting (a logger, an in-memory device, an
// address pool, an event observer) goes in Options.
type Config struct {
	// Listen ("ike.listen") are the local addresses to serve IKE and ESP on;
	// "::" and "0.0.0.0" listen on every address of their family.
	Listen []string
	// IKEPort ("ike.port") and NATTPort ("ike.natt_port") are the UDP ports
	// (500 and 4500 in service). 0 lets the kernel choose (tests; only with
	// a single listen address).
	IKEPort, NATTPort int

	// Identity ("ike.identity") is our IKE identity: an address, an FQDN, an
	// RFC 822 name (with '@') or "keyid:HEX". Empty: taken from the
	// certificate, else the host name.
	Identity string
	// PSKFile ("ike.secrets_file") holds pre-shared keys, one peer per line:
	// "IDENTITY SECRET" (see LoadPSKFile).
	PSKFile string
	// Cert ("ike.certificate") is our certificate chain (PEM, end-entity
	// first), Key ("ike.private_key") its private key (PEM: SEC 1, PKCS #1
	// or PKCS #8) and CA ("ike.ca") the CA certificates (PEM) that peers' certificates must chain
	// to. A configured certificate is what we authenticate with.
	Cert, Key, CA string

	// LocalTS ("ike.local_ts") are the prefixes we offer behind us as the
	// responder's TSr; empty: every address.
	LocalTS []string

	// TUN ("home.tun") is the name of the TUN device the inner packets
	// use; "" lets the kernel name it. MTU ("home.mtu") is its MTU.
	TUN string
	MTU int

	// KeyLog ("ike.keylog_file") is a file that receives, for every IKE SA, one line of
	// tshark's ikev2_decryption_table, so captures can be decrypted. Lab use:
	// the file holds the IKE SA keys.
	KeyLog string
	// ForceEncap ("ike.force_encapsulation") forces UDP encapsulation of ESP (RFC 3948)
	// even without a NAT. The user-space dataplane only carries ESP in UDP,
	// so the default is true.
	ForceEncap bool

	// IKEProposals ("ike.proposals") and ESPProposals ("ike.esp_proposals") in
	// strongSwan's syntax ("aes256gcm16-prfsha256-x25519"); empty: the
	// engine's defaults. ESP must be AEAD (AES-GCM, ChaCha20-Poly1305).
	IKEProposals, ESPProposals []string
	// IKERekey ("ike.rekey_time") and ChildRekey ("ike.child_rekey_time")
	// are the lifetimes after which we rekey (0: never, the peer may still
	// rekey); Liveness ("ike.liveness_interval") is the silence after which
	// we check the peer (0: never).
	IKERekey, ChildRekey, Liveness time.Duration
	// HalfOpenTimeout ("ike.half_open_timeout") is how long a half-open
	// IKE SA waits for IKE_AUTH (0: the engine's default, 30 s).
	HalfOpenTimeout time.Duration

	// Shards ("ike.shards") is the number of goroutines that own IKE SAs
	// (default: GOMAXPROCS). InboxDepth ("ike.inbox_depth") bounds each shard's
	// queue of received IKE messages; more are dropped and counted.
	Shards, InboxDepth int
	// CookieThreshold ("ike.cookie_threshold") is the number of half-open IKE
	// SAs from which COOKIEs are demanded (RFC 7296 §2.6); negative: always.
	CookieThreshold int
	// ShutdownTimeout ("ike.shutdown_timeout") is how long Run waits, after its
	// context ends, for the peers to answer our deletes.
	ShutdownTimeout time.Duration

	// LogLevel ("telemetry.log_level": debug, info, warn, error) and
	// LogFormat ("telemetry.log_format": text, json) shape the logger
	// NewLogger builds.
	LogLevel, LogFormat string
}

// The keys of the settings (package homeagent/config's names).
const (
	keyListen          = "ike.listen"
	keyIKEPort         = "ike.port"
	keyNATTPort        = "ike.natt_port"
	keyIdentity        = "ike.identity"
	keySecretsFile     = "ike.secrets_file"
	keyCert            = "ike.certificate"
	keyKey             = "ike.private_key"
	keyCA              = "ike.ca"
	keyLocalTS         = "ike.local_ts"
	keyTUN             = "home.tun"
	keyMTU             = "home.mtu"
	keyKeyLog          = "ike.keylog_file"
	keyIKEProposals    = "ike.proposals"
	keyESPProposals    = "ike.esp_proposals"
	keyIKERekey        = "ike.rekey_time"
	keyChildRekey      = "ike.child_rekey_time"
	keyLiveness        = "ike.liveness_interval"
	keyHalfOpenTimeout = "ike.half_open_timeout"
	keyShards          = "ike.shards"
	keyInboxDepth      = "ike.inbox_depth"
	keyShutdownTimeout = "ike.shutdown_timeout"
	keyLogLevel        = "telemetry.log_level"
	keyLogFormat       = "telemetry.log_format"
)

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
		return nil, badKey(keyListen, "", "no address to listen on")
	}
	for _, a := range c.Listen {
		addr, err := netip.ParseAddr(strings.TrimSpace(a))
		if err != nil || addr.Zone() != "" {
			return nil, badKey(keyListen, a, "not an IP address")
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
	if s.ikePort, err = port(keyIKEPort, c.IKEPort); err != nil {
		return nil, err
	}
	if s.nattPort, err = port(keyNATTPort, c.NATTPort); err != nil {
		return nil, err
	}
	if s.ikePort != 0 && s.ikePort == s.nattPort {
		return nil, badKey(keyNATTPort, fmt.Sprint(c.NATTPort), "same as "+keyIKEPort)
	}
	if c.Identity != "" {
		if s.identity, err = ParseID(c.Identity); err != nil {
			return nil, badKey(keyIdentity, c.Identity, "%v", err)
		}
	}
	if (c.Cert == "") != (c.Key == "") {
		if c.Cert == "" {
			return nil, badKey(keyCert, "", "a key without its certificate")
		}
		return nil, badKey(keyKey, "", "a certificate without its key")
	}
	for _, t := range c.LocalTS {
		p, err := netip.ParsePrefix(strings.TrimSpace(t))
		if err != nil {
			return nil, badKey(keyLocalTS, t, "not a prefix")
		}
		s.localTS = append(s.localTS, p.Masked())
	}
	if c.TUN != "" && (len(c.TUN) > 15 || strings.ContainsAny(c.TUN, "/ \t")) {
		return nil, badKey(keyTUN, c.TUN, "not an interface name")
	}
	if c.MTU != 0 && (c.MTU < 1280 || c.MTU > 65535) {
		return nil, badKey(keyMTU, fmt.Sprint(c.MTU), "outside 1280..65535 (IPv6 needs 1280)")
	}
	for _, p := range c.IKEProposals {
		pp, err := ike.ParseProposal(p)
		if err != nil {
			return nil, badKey(keyIKEProposals, p, "%v", err)
		}
		s.ikeProposals = append(s.ikeProposals, pp)
	}
	for _, p := range c.ESPProposals {
		pp, err := ike.ParseProposal(p)
		if err != nil {
			return nil, badKey(keyESPProposals, p, "%v", err)
		}
		if err := espSupported(pp); err != nil {
			return nil, badKey(keyESPProposals, p, "%v", err)
		}
		s.espProposals = append(s.espProposals, pp)
	}
	for key, d := range map[string]time.Duration{keyIKERekey: c.IKERekey, keyChildRekey: c.ChildRekey,
		keyLiveness: c.Liveness, keyHalfOpenTimeout: c.HalfOpenTimeout, keyShutdownTimeout: c.ShutdownTimeout} {
		if d < 0 {
			return nil, badKey(key, d.String(), "negative duration")
		}
	}
	s.shards = c.Shards
	if s.shards < 0 || s.shards > maxShards {
		return nil, badKey(keyShards, fmt.Sprint(c.Shards), "outside 0..%d", maxShards)
	}
	if s.shards == 0 {
		s.shards = runtime.GOMAXPROCS(0)
	}
	s.inboxDepth = c.InboxDepth
	if s.inboxDepth < 0 {
		return nil, badKey(keyInboxDepth, fmt.Sprint(c.InboxDepth), "negative")
	}
	if s.inboxDepth == 0 {
		s.inboxDepth = DefaultInboxDepth
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		return nil, badKey(keyLogLevel, c.LogLevel, "%v", err)
	}
	switch c.LogFormat {
	case "", "text", "json":
	default:
		return nil, badKey(keyLogFormat, c.LogFormat, "not text or json")
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
		return nil, badKey(keyLogLevel, c.LogLevel, "%v", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch c.LogFormat {
	case "", "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, badKey(keyLogFormat, c.LogFormat, "not text or json")
}
