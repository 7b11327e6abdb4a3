package interop

import (
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"unicode"
)

// PlutoOptions configures a pluto started by StartPluto: the config setup
// section of its ipsec.conf, its connections, its pre-shared keys and its
// command line. The zero value is a pluto that listens on every address
// of its host, with no connection and no redirect.
//
// pluto 4.10 always listens on UDP ports 500 and 4500 (it has no option to
// move them; each lab host has its own network namespace, so they are
// never taken). A connection can add a port of its own with
// Extra{"leftikeport": "1500"}.
type PlutoOptions struct {
	// Listen is the one address pluto listens on (config setup listen=);
	// zero means every address of the host.
	Listen netip.Addr
	// GlobalRedirect is config setup global-redirect=: "yes" answers
	// every IKE_SA_INIT request with REDIRECT (RFC 5685 section 4.2),
	// "auto" does so only in DDoS mode, "no" never. Empty means "yes"
	// when GlobalRedirectTo is set, and pluto's default ("no") otherwise.
	GlobalRedirect string
	// GlobalRedirectTo is config setup global-redirect-to=: the gateways
	// (addresses or FQDNs) that IKE_SA_INIT redirects name; with several,
	// pluto spreads clients over them in turn.
	GlobalRedirectTo []string
	// Debug lists plutodebug= classes ("base", "tmi", "crypt").
	Debug []string
	// Setup holds more config setup settings ("ddos-mode": "busy"); they
	// override the harness's defaults (dnssec-enable=no, audit-log=no); an
	// empty value leaves the key unset.
	Setup map[string]string
	// Conns are the connections, loaded at start-up (auto=add unless a
	// connection says otherwise).
	Conns []PlutoConn
	// Secrets are the pre-shared keys of ipsec.secrets.
	Secrets []PlutoSecret
	// Args are more pluto command line arguments ("--force-busy").
	Args []string
}

// PlutoConn is one conn section of ipsec.conf: an IKEv2 connection, with
// pluto's end as "left" and the peer as "right". Identities use
// libreswan's syntax: "@ha.example" for an FQDN (without the @, pluto
// would resolve the name in the DNS), "mn@example" for a user FQDN, an
// address, or "%any" for a remote.
type PlutoConn struct {
	Name string
	// Local is left=, pluto's address; empty means PlutoOptions.Listen.
	Local string
	// Remote is right=, the peer's address; empty means "%any" (a
	// responder for anyone).
	Remote string
	// LocalID and RemoteID are leftid= and rightid=.
	LocalID, RemoteID string
	// LocalSubnet and RemoteSubnet are leftsubnet= and rightsubnet=, the
	// traffic selectors of the CHILD_SA; empty means the hosts themselves.
	LocalSubnet, RemoteSubnet string
	// AuthBy is authby=; empty means "secret" (a pre-shared key).
	AuthBy string
	// IKE and ESP are the ike= and esp= proposals
	// ("aes128-sha2_256-dh31", "aes_gcm128-null"); empty means pluto's
	// defaults.
	IKE, ESP string
	// Encapsulation is encapsulation=: "yes" forces ESP in UDP (RFC 3948),
	// "no" never, empty leaves pluto's "auto".
	Encapsulation string
	// SendRedirect and RedirectTo redirect the peer during IKE_AUTH, once
	// its AUTH is verified (RFC 5685 section 4.3): send-redirect=yes and
	// redirect-to=RedirectTo (an address or FQDN).
	SendRedirect bool
	RedirectTo   string
	// AcceptRedirect lets pluto as initiator follow a REDIRECT from its
	// peer (accept-redirect=yes; pluto's default is no), to any gateway
	// or, if AcceptRedirectTo is set, only to those
	// (accept-redirect-to=).
	AcceptRedirect   bool
	AcceptRedirectTo []string
	// Auto is auto=: "add" (the default: wait for the peer or a whack
	// --initiate), "start" (initiate at start-up) or "ignore".
	Auto string
	// KeyingTries is keyingtries=, how often pluto tries to set the
	// connection up before it gives up; 0 means 1 (pluto's own default is
	// to try forever, which outlives a test).
	KeyingTries int
	// Extra holds more settings of the conn section ("narrowing": "yes").
	Extra map[string]string
}

// PlutoSecret is one pre-shared key entry of ipsec.secrets: the
// identities (libreswan syntax, as in PlutoConn) that share Secret; no
// IDs means any.
type PlutoSecret struct {
	IDs    []string
	Secret string
}

// ErrPlutoConfig is wrapped by the errors of PlutoOptions.Render.
var ErrPlutoConfig = errors.New("interop: invalid libreswan configuration")

var (
	// plutoKey is a setting name of ipsec.conf.
	plutoKey = regexp.MustCompile(`^[a-z][a-z0-9-]{0,63}$`)
	// plutoBareName is an identity pluto would resolve in the DNS.
	plutoBareName = regexp.MustCompile(`^[A-Za-z0-9.-]*[A-Za-z][A-Za-z0-9.-]*$`)
	// plutoPlainPSK is a key that can go between double quotes as is.
	plutoPlainPSK = regexp.MustCompile(`^[A-Za-z0-9 !$%&'()*+,./:;<=>?@\[\]^_{|}~-]+$`)
)

// Render returns the text of ipsec.conf and ipsec.secrets for these
// options. Keys the secrets file cannot hold between double quotes are
// written in hexadecimal (PSK 0x...).
func (o PlutoOptions) Render() (conf, secrets string, err error) {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	// kv writes one setting; an empty value leaves the key unset (pluto's
	// default), in config setup as in a connection.
	kv := func(key, value string) error {
		if value == "" {
			return nil
		}
		v, err := plutoValue(value)
		if err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		w("\t%s=%s", key, v)
		return nil
	}
	w("# generated by the mip6ha interop harness")
	w("config setup")
	setup := map[string]string{"dnssec-enable": "no", "audit-log": "no"}
	if o.Listen.IsValid() {
		setup["listen"] = o.Listen.String()
	}
	redirect := o.GlobalRedirect
	if redirect == "" && len(o.GlobalRedirectTo) > 0 {
		redirect = "yes"
	}
	switch redirect {
	case "", "yes", "no", "auto":
	default:
		return "", "", fmt.Errorf("%w: global-redirect=%q: want yes, no or auto", ErrPlutoConfig, redirect)
	}
	if redirect == "yes" && len(o.GlobalRedirectTo) == 0 {
		return "", "", fmt.Errorf("%w: global-redirect=yes needs global-redirect-to", ErrPlutoConfig)
	}
	if redirect != "" {
		setup["global-redirect"] = redirect
	}
	if len(o.GlobalRedirectTo) > 0 {
		setup["global-redirect-to"] = strings.Join(o.GlobalRedirectTo, ",")
	}
	if len(o.Debug) > 0 {
		setup["plutodebug"] = strings.Join(o.Debug, " ")
	}
	maps.Copy(setup, o.Setup)
	for _, k := range slices.Sorted(maps.Keys(setup)) {
		if !plutoKey.MatchString(k) {
			return "", "", fmt.Errorf("%w: config setup key %q", ErrPlutoConfig, k)
		}
		if err := kv(k, setup[k]); err != nil {
			return "", "", fmt.Errorf("%w: config setup %w", ErrPlutoConfig, err)
		}
	}
	seen := map[string]bool{}
	for _, c := range o.Conns {
		if !sectionName.MatchString(c.Name) {
			return "", "", fmt.Errorf("%w: connection name %q: want letters, digits, '-' and '_'", ErrPlutoConfig, c.Name)
		}
		if seen[c.Name] {
			return "", "", fmt.Errorf("%w: connection %q defined twice", ErrPlutoConfig, c.Name)
		}
		seen[c.Name] = true
		w("")
		w("conn %s", c.Name)
		if err := c.render(o, kv); err != nil {
			return "", "", fmt.Errorf("%w: conn %s: %w", ErrPlutoConfig, c.Name, err)
		}
	}

	var s strings.Builder
	s.WriteString("# generated by the mip6ha interop harness\n")
	for i, sec := range o.Secrets {
		line, err := sec.render()
		if err != nil {
			return "", "", fmt.Errorf("%w: secret %d: %w", ErrPlutoConfig, i, err)
		}
		s.WriteString(line + "\n")
	}
	return b.String(), s.String(), nil
}

func (c PlutoConn) render(o PlutoOptions, kv func(key, value string) error) error {
	local := c.Local
	if local == "" {
		if !o.Listen.IsValid() {
			return errors.New("no local address: set Local or PlutoOptions.Listen")
		}
		local = o.Listen.String()
	}
	remote := c.Remote
	if remote == "" {
		remote = "%any"
	}
	authBy := c.AuthBy
	if authBy == "" {
		authBy = "secret"
	}
	auto := c.Auto
	if auto == "" {
		auto = "add"
	}
	tries := c.KeyingTries
	if tries == 0 {
		tries = 1
	}
	if c.SendRedirect && c.RedirectTo == "" {
		return errors.New("send-redirect needs redirect-to")
	}
	if len(c.AcceptRedirectTo) > 0 && !c.AcceptRedirect {
		return errors.New("accept-redirect-to without accept-redirect")
	}
	for _, id := range []string{c.LocalID, c.RemoteID} {
		if err := checkPlutoID(id); err != nil {
			return err
		}
	}
	type setting struct{ key, value string }
	settings := []setting{
		{"left", local},
		{"leftid", c.LocalID},
		{"leftsubnet", c.LocalSubnet},
		{"right", remote},
		{"rightid", c.RemoteID},
		{"rightsubnet", c.RemoteSubnet},
		{"authby", authBy},
		{"ike", c.IKE},
		{"esp", c.ESP},
		{"encapsulation", c.Encapsulation},
		{"keyingtries", fmt.Sprint(tries)},
		{"auto", auto},
	}
	if c.SendRedirect {
		settings = append(settings, setting{"send-redirect", "yes"})
	}
	if c.RedirectTo != "" {
		settings = append(settings, setting{"redirect-to", c.RedirectTo})
	}
	if c.AcceptRedirect {
		settings = append(settings, setting{"accept-redirect", "yes"})
	}
	if len(c.AcceptRedirectTo) > 0 {
		settings = append(settings, setting{"accept-redirect-to", strings.Join(c.AcceptRedirectTo, ",")})
	}
	for _, k := range slices.Sorted(maps.Keys(c.Extra)) {
		if !plutoKey.MatchString(k) {
			return fmt.Errorf("key %q", k)
		}
		if slices.ContainsFunc(settings, func(s setting) bool { return s.key == k }) {
			return fmt.Errorf("extra key %q is a field of PlutoConn", k)
		}
		settings = append(settings, setting{k, c.Extra[k]})
	}
	for _, s := range settings {
		if err := kv(s.key, s.value); err != nil {
			return err
		}
	}
	return nil
}

// plutoValue returns v as an ipsec.conf value: as is, or in double quotes
// if it holds white space.
func plutoValue(v string) (string, error) {
	if strings.ContainsAny(v, "\"#\\") || strings.ContainsFunc(v, isControl) {
		return "", fmt.Errorf("value %q: ipsec.conf cannot hold '\"', '#', '\\', line breaks or other control characters", v)
	}
	if strings.ContainsFunc(v, unicode.IsSpace) {
		return `"` + v + `"`, nil
	}
	return v, nil
}

// isControl reports control characters other than the tab.
func isControl(r rune) bool { return r != '\t' && unicode.IsControl(r) }

// checkPlutoID refuses identities pluto would misread: a bare host name
// (resolved in the DNS) or one with characters that end a setting.
func checkPlutoID(id string) error {
	if id == "" {
		return nil
	}
	if strings.ContainsFunc(id, unicode.IsControl) {
		return fmt.Errorf("identity %q: control characters", id)
	}
	if (strings.ContainsAny(id, "\"#") || strings.ContainsFunc(id, unicode.IsSpace)) && !strings.Contains(id, "=") {
		return fmt.Errorf("identity %q: white space or quotes outside a DN", id)
	}
	if _, err := netip.ParseAddr(id); err != nil && plutoBareName.MatchString(id) {
		return fmt.Errorf("identity %q: pluto would resolve it in the DNS; write @%s for an FQDN", id, id)
	}
	return nil
}

func (s PlutoSecret) render() (string, error) {
	if s.Secret == "" {
		return "", errors.New("empty secret")
	}
	var b strings.Builder
	for _, id := range s.IDs {
		// ": " ends the list of identities.
		if id == "" || strings.ContainsAny(id, "\"#") || strings.HasSuffix(id, ":") || strings.ContainsFunc(id, unicode.IsSpace) {
			return "", fmt.Errorf("identity %q in ipsec.secrets: empty, ending in ':', or with white space, '\"' or '#'", id)
		}
		if err := checkPlutoID(id); err != nil {
			return "", err
		}
		b.WriteString(id + " ")
	}
	b.WriteString(": PSK ")
	if plutoPlainPSK.MatchString(s.Secret) {
		b.WriteString(`"` + s.Secret + `"`)
	} else {
		b.WriteString("0x" + hex.EncodeToString([]byte(s.Secret)))
	}
	return b.String(), nil
}
