package homeagent

import (
	"flag"
	"strings"
)

// RegisterFlags defines one command-line flag per setting of c, named by
// its key and bound to its field, with c's current values as defaults:
// the one place where keys meet fields. Repeatable flags (listen, dns,
// local-ts, ike-proposals, esp-proposals) replace the default on first use
// and then append; they also take comma-separated lists.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.Var(newListFlag(&c.Listen), "listen", "local `address` to serve IKE and ESP on (repeatable)")
	fs.IntVar(&c.IKEPort, "ike-port", c.IKEPort, "UDP `port` of IKE")
	fs.IntVar(&c.NATTPort, "natt-port", c.NATTPort, "UDP `port` of NAT-T (IKE and ESP in UDP)")
	fs.StringVar(&c.Identity, "identity", c.Identity, "our IKE `identity` (FQDN, user@realm, address, keyid:HEX); default: from the certificate, else the host name")
	fs.StringVar(&c.PSKFile, "psk-file", c.PSKFile, "`file` of pre-shared keys, one \"IDENTITY SECRET\" per line")
	fs.StringVar(&c.Cert, "cert", c.Cert, "our certificate chain, PEM `file`, end-entity first")
	fs.StringVar(&c.Key, "key", c.Key, "private key of the certificate, PEM `file`")
	fs.StringVar(&c.CA, "ca", c.CA, "CA certificates that peers' certificates must chain to, PEM `file`")
	fs.StringVar(&c.IPv6Prefix, "ipv6-prefix", c.IPv6Prefix, "`prefix` of inner IPv6 (home) addresses to assign")
	fs.StringVar(&c.IPv4Pool, "ipv4-pool", c.IPv4Pool, "`prefix` of inner IPv4 addresses to assign")
	fs.Var(newListFlag(&c.DNS), "dns", "DNS server `address` to give peers (repeatable)")
	fs.Var(newListFlag(&c.LocalTS), "local-ts", "`prefix` reachable through us, offered as TSr (repeatable; default any)")
	fs.StringVar(&c.TUN, "tun", c.TUN, "TUN device `name`")
	fs.IntVar(&c.MTU, "mtu", c.MTU, "TUN device `MTU`")
	fs.StringVar(&c.KeyLog, "keylog", c.KeyLog, "append the IKE SA keys to `file` for tshark (lab use only)")
	fs.BoolVar(&c.ForceEncap, "force-encap", c.ForceEncap, "force UDP encapsulation of ESP (the user-space dataplane needs it)")
	fs.Var(newListFlag(&c.IKEProposals), "ike-proposals", "IKE `proposal` such as aes256gcm16-prfsha256-x25519 (repeatable)")
	fs.Var(newListFlag(&c.ESPProposals), "esp-proposals", "ESP `proposal` such as aes256gcm16 (repeatable; AEAD only)")
	fs.DurationVar(&c.IKERekey, "ike-rekey", c.IKERekey, "rekey IKE SAs after this `lifetime` (0: never)")
	fs.DurationVar(&c.ChildRekey, "child-rekey", c.ChildRekey, "rekey CHILD_SAs after this `lifetime` (0: never)")
	fs.DurationVar(&c.Liveness, "liveness", c.Liveness, "check a peer after this `silence` (0: never)")
	fs.IntVar(&c.Shards, "shards", c.Shards, "`number` of goroutines owning IKE SAs (0: one per CPU)")
	fs.IntVar(&c.InboxDepth, "inbox-depth", c.InboxDepth, "received IKE messages queued per shard before dropping")
	fs.IntVar(&c.CookieThreshold, "cookie-threshold", c.CookieThreshold, "half-open IKE SAs from which COOKIEs are demanded (negative: always)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long to wait for peers to answer our deletes at shutdown")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log `level`: debug (every IKE message), info, warn, error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log `format`: text or json")
}

// listFlag is a repeatable string flag whose first use replaces the default.
type listFlag struct {
	dst *[]string
	set bool
}

func newListFlag(dst *[]string) *listFlag { return &listFlag{dst: dst} }

func (l *listFlag) String() string {
	if l == nil || l.dst == nil {
		return ""
	}
	return strings.Join(*l.dst, ",")
}

func (l *listFlag) Set(v string) error {
	if !l.set {
		*l.dst = nil
		l.set = true
	}
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l.dst = append(*l.dst, s)
		}
	}
	return nil
}
