package interop

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is a swanctl.conf, described in Go: connections, address pools,
// pre-shared keys, and the CA certificates to trust. Certificates and keys
// named in Auth are written by Charon.Load next to it.
type Config struct {
	Connections []Connection
	Pools       []Pool
	Secrets     []Secret
	// CAs are trust anchors, written to x509ca/.
	CAs []*CA
}

// Connection is a connections.<Name> section: one IKE SA configuration.
type Connection struct {
	Name        string
	LocalAddrs  []string // empty: %any
	RemoteAddrs []string // empty: %any
	LocalPort   int      // 0: charon's port
	RemotePort  int      // 0: 500
	Proposals   []string // IKE proposals, "aes128-sha256-x25519"; empty: charon's default
	// Encap forces UDP encapsulation of ESP (RFC 3948) even without a NAT.
	// With kernel-libipsec (DefaultPlugins) charon encapsulates anyway,
	// faking its NAT-D payloads: the peer then always sees a NAT.
	Encap bool
	// VIPs are virtual IPs to request as initiator: "::" or "0.0.0.0" for
	// any, or a specific address.
	VIPs []string
	// Pools name the address pools a responder assigns virtual IPs from.
	Pools []string
	// NoMobike turns MOBIKE (RFC 4555, on by default) off.
	NoMobike bool
	// RekeyTime, ReauthTime and DPDDelay are left to charon when 0.
	RekeyTime  time.Duration
	ReauthTime time.Duration
	DPDDelay   time.Duration
	// SendCert is "always", "never" or "ifasked" (the default when empty).
	SendCert string
	Local    Auth
	Remote   Auth
	Children []Child
	// Extra holds more settings of the connection ("fragmentation": "yes").
	Extra map[string]string
}

// Auth is the local or remote section of a connection: how one side
// authenticates.
type Auth struct {
	// Method is "psk" or "pubkey" (certificates); empty means pubkey.
	Method string
	// ID is the IKE identity: an FQDN ("ha.example"), an email-style ID
	// ("mn@example"), an address, a DN, or "%any" for a remote.
	ID string
	// Cert is the local end-entity certificate (with its private key).
	Cert *Cert
	// CA, for a remote, pins the CA its certificate must chain to.
	CA *CA
	// Extra holds more settings of the section.
	Extra map[string]string
}

// Child is a connections.<>.children.<Name> section: one CHILD_SA
// configuration.
type Child struct {
	Name         string
	LocalTS      []string // traffic selectors, "fd00:b::/64", "dynamic" (the default: own address or virtual IP)
	RemoteTS     []string
	ESPProposals []string // "aes128gcm16-x25519"; empty: charon's default
	// Mode is "tunnel" (default) or "transport".
	Mode string
	// StartAction is "none" (default), "trap" or "start".
	StartAction string
	// Updown is a script run when the CHILD_SA goes up or down.
	Updown    string
	RekeyTime time.Duration
	Extra     map[string]string
}

// Pool is a pools.<Name> section: virtual IPs a responder hands out.
type Pool struct {
	Name  string
	Addrs string // a prefix ("fd00:a::/120") or a range ("fd00:a::10-fd00:a::20")
	DNS   []string
}

// Secret is a secrets.ike-<Name> section: a pre-shared key for IDs.
type Secret struct {
	Name   string
	IDs    []string // the identities that share the key (empty: any)
	Secret string
}

// ErrConfig is wrapped by the errors of Config.Render.
var ErrConfig = errors.New("interop: invalid swanctl configuration")

// sectionName: swanctl section names may not hold '.', which separates
// the levels of a settings path, nor white space or braces.
var sectionName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Render returns the configuration as swanctl.conf text.
func (c Config) Render() (string, error) {
	var r renderer
	r.open("connections")
	seen := map[string]bool{}
	for _, conn := range c.Connections {
		if err := r.name("connection", conn.Name, seen); err != nil {
			return "", err
		}
		r.open(conn.Name)
		r.kv("version", "2")
		r.list("local_addrs", conn.LocalAddrs)
		r.list("remote_addrs", conn.RemoteAddrs)
		r.int("local_port", conn.LocalPort)
		r.int("remote_port", conn.RemotePort)
		r.list("proposals", conn.Proposals)
		if conn.Encap {
			r.kv("encap", "yes")
		}
		if conn.NoMobike {
			r.kv("mobike", "no")
		}
		r.list("vips", conn.VIPs)
		r.list("pools", conn.Pools)
		r.dur("rekey_time", conn.RekeyTime)
		r.dur("reauth_time", conn.ReauthTime)
		r.dur("dpd_delay", conn.DPDDelay)
		if conn.SendCert != "" {
			r.kv("send_cert", conn.SendCert)
		}
		r.extra(conn.Extra)
		if err := r.auth("local", conn.Local, true); err != nil {
			return "", fmt.Errorf("connection %s: %w", conn.Name, err)
		}
		if err := r.auth("remote", conn.Remote, false); err != nil {
			return "", fmt.Errorf("connection %s: %w", conn.Name, err)
		}
		r.open("children")
		seenChild := map[string]bool{}
		for _, ch := range conn.Children {
			if err := r.name("child", ch.Name, seenChild); err != nil {
				return "", fmt.Errorf("connection %s: %w", conn.Name, err)
			}
			r.open(ch.Name)
			r.list("local_ts", ch.LocalTS)
			r.list("remote_ts", ch.RemoteTS)
			r.list("esp_proposals", ch.ESPProposals)
			if ch.Mode != "" {
				r.kv("mode", ch.Mode)
			}
			if ch.StartAction != "" {
				r.kv("start_action", ch.StartAction)
			}
			if ch.Updown != "" {
				r.kv("updown", ch.Updown)
			}
			r.dur("rekey_time", ch.RekeyTime)
			r.extra(ch.Extra)
			r.close()
		}
		r.close()
		r.close()
	}
	r.close()

	r.open("pools")
	seen = map[string]bool{}
	for _, p := range c.Pools {
		if err := r.name("pool", p.Name, seen); err != nil {
			return "", err
		}
		if p.Addrs == "" {
			return "", fmt.Errorf("%w: pool %s has no addrs", ErrConfig, p.Name)
		}
		r.open(p.Name)
		r.kv("addrs", p.Addrs)
		r.list("dns", p.DNS)
		r.close()
	}
	r.close()

	r.open("secrets")
	seen = map[string]bool{}
	for _, s := range c.Secrets {
		if err := r.name("secret", s.Name, seen); err != nil {
			return "", err
		}
		r.open("ike-" + s.Name)
		for i, id := range s.IDs {
			r.kv(fmt.Sprintf("id-%d", i+1), id)
		}
		r.kv("secret", s.Secret)
		r.close()
	}
	r.close()
	if r.err != nil {
		return "", r.err
	}
	return r.b.String(), nil
}

// renderer writes strongSwan's settings syntax: nested "name {" sections
// and one "key = value" per line.
type renderer struct {
	b     strings.Builder
	depth int
	err   error
}

func (r *renderer) line(s string) {
	r.b.WriteString(strings.Repeat("  ", r.depth))
	r.b.WriteString(s)
	r.b.WriteByte('\n')
}

func (r *renderer) open(name string) { r.line(name + " {"); r.depth++ }
func (r *renderer) close()           { r.depth--; r.line("}") }

func (r *renderer) name(what, name string, seen map[string]bool) error {
	if !sectionName.MatchString(name) {
		return fmt.Errorf("%w: %s name %q: want 1-64 of [A-Za-z0-9_-]", ErrConfig, what, name)
	}
	if seen[name] {
		return fmt.Errorf("%w: %s %q defined twice", ErrConfig, what, name)
	}
	seen[name] = true
	return nil
}

var settingKey = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

func (r *renderer) kv(key, value string) {
	if !settingKey.MatchString(key) {
		if r.err == nil {
			r.err = fmt.Errorf("%w: setting name %q", ErrConfig, key)
		}
		return
	}
	r.line(key + " = " + quote(value))
}

func (r *renderer) list(key string, values []string) {
	if len(values) > 0 {
		r.kv(key, strings.Join(values, ","))
	}
}

func (r *renderer) int(key string, v int) {
	if v != 0 {
		r.kv(key, strconv.Itoa(v))
	}
}

func (r *renderer) dur(key string, d time.Duration) {
	if d != 0 {
		r.kv(key, strconv.Itoa(int(d.Round(time.Second).Seconds()))+"s")
	}
}

func (r *renderer) extra(m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		r.kv(k, m[k])
	}
}

func (r *renderer) auth(section string, a Auth, local bool) error {
	method := a.Method
	if method == "" {
		method = "pubkey"
	}
	if method != "psk" && method != "pubkey" {
		return fmt.Errorf("%w: %s auth %q: want psk or pubkey", ErrConfig, section, method)
	}
	if a.Cert != nil && !local {
		return fmt.Errorf("%w: a remote names its CA, not its certificate", ErrConfig)
	}
	if a.CA != nil && local {
		return fmt.Errorf("%w: CA pinning belongs to the remote section", ErrConfig)
	}
	r.open(section)
	r.kv("auth", method)
	if a.ID != "" {
		r.kv("id", a.ID)
	}
	if a.Cert != nil {
		r.kv("certs", a.Cert.fileName())
	}
	if a.CA != nil {
		r.kv("cacerts", a.CA.fileName())
	}
	r.extra(a.Extra)
	r.close()
	return nil
}

// quote renders a settings value: bare when it is made only of characters
// the settings parser reads literally, else double-quoted with '"' and
// '\' escaped.
func quote(v string) string {
	if v != "" && !strings.ContainsFunc(v, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("%_.,:/@+*-", c))
	}) {
		return v
	}
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range v {
		switch c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteRune(c)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// writeCredentials writes the CAs and the certificates named in the
// connections, with their keys, into the folders swanctl reads under dir.
func (c Config) writeCredentials(dir string) error {
	for _, ca := range c.CAs {
		if err := ca.writeSwanctl(dir); err != nil {
			return err
		}
	}
	for _, conn := range c.Connections {
		if conn.Local.Cert != nil {
			if err := conn.Local.Cert.WriteSwanctl(dir); err != nil {
				return err
			}
		}
		if conn.Remote.CA != nil {
			if err := conn.Remote.CA.writeSwanctl(dir); err != nil {
				return err
			}
		}
	}
	return nil
}
