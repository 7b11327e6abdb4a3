package mnclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/mip6ha/mip6ha/homeagent/dataplane"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/ike/wire"
)

// EventRedirected reports a redirect the client follows (RFC 5685): Stage
// is the exchange that carried the REDIRECT (IKE_SA_INIT, IKE_AUTH,
// INFORMATIONAL), From the gateway that sent it, To the new gateway's
// endpoint (Target the identity as the REDIRECT named it).
const EventRedirected = "redirected"

// RedirectConfig is how a client treats RFC 5685 redirects. The zero value
// announces REDIRECT_SUPPORTED and follows any redirect, at most
// ike.DefaultMaxRedirects within ike.DefaultRedirectLoopDetectPeriod.
type RedirectConfig struct {
	// Disable stops the client from announcing REDIRECT_SUPPORTED: no
	// gateway redirects it then.
	Disable bool
	// Extensions announces the project's private-use redirect extensions
	// (a target with a port, handover tickets, docs/redirect.md). Only for
	// our own home agents: standard gateways ignore it.
	Extensions bool
	// MaxRedirects and LoopDetectPeriod are RFC 5685 §7's MAX_REDIRECTS and
	// REDIRECT_LOOP_DETECT_PERIOD (0: 5 and 300 s). One more redirect
	// within the period fails the attachment with ike.ErrRedirectLoop.
	MaxRedirects     int
	LoopDetectPeriod time.Duration
	// Allow lists the gateways the client may be sent to: addresses or
	// prefixes ("2001:db8:1::/64"), domain names ("ha2.example.net"), or
	// domain suffixes (".example.net"). Empty: any gateway. The expected
	// gateway identity (HAID, the PAD entry) is the same whatever the
	// target (RFC 5685 §3).
	Allow []string
	// Resolve looks up the addresses of a target given as an FQDN (GW
	// Ident Type 3); nil: the system resolver.
	Resolve func(ctx context.Context, name string) ([]netip.Addr, error)
}

// ErrRedirectRefused reports a redirect to a gateway the client may not or
// cannot go to (not in RedirectConfig.Allow, a name that does not resolve).
var ErrRedirectRefused = errors.New("mnclient: redirect refused")

// resolveTimeout bounds the lookup of a redirect target's name.
const resolveTimeout = 5 * time.Second

// redirectState is the client's memory of redirects: the loop guard over
// the whole attachment, every hop included, and the make-before-break
// switch under way.
type redirectState struct {
	guard ike.RedirectGuard
	// from is the session the client is moving away from (an established
	// SA redirected with INFORMATIONAL, RFC 5685 §5) and to the session
	// being set up; from is deleted once to has its CHILD_SA.
	from, to *session
}

// configureRedirect applies the redirect settings to the initiator's IKE
// configuration.
func (c *Client) configureRedirect() error {
	r := c.cfg.Redirect
	if r.MaxRedirects < 0 {
		return fmt.Errorf("mnclient: max redirects (--max-redirects) %d is negative", r.MaxRedirects)
	}
	if r.LoopDetectPeriod < 0 {
		return fmt.Errorf("mnclient: redirect loop period (--redirect-loop-period) %v is negative", r.LoopDetectPeriod)
	}
	for _, a := range r.Allow {
		if _, _, err := parseAllow(a); err != nil {
			return err
		}
	}
	c.ikeCfg.DisableRedirect = r.Disable
	c.ikeCfg.RedirectExtensions = r.Extensions && !r.Disable
	c.redir.guard = ike.RedirectGuard{Max: r.MaxRedirects, Period: r.LoopDetectPeriod}
	return nil
}

// parseAllow parses an allow-list entry: a prefix or address, or a name.
func parseAllow(s string) (netip.Prefix, string, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), "", nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), "", nil
	}
	name := strings.ToLower(strings.TrimSuffix(s, "."))
	if name == "" || strings.ContainsAny(name, " /:[]") {
		return netip.Prefix{}, "", fmt.Errorf("mnclient: redirect allow-list entry %q: not an address, prefix or domain name", s)
	}
	return netip.Prefix{}, name, nil
}

// allowedName reports whether the allow-list lets the client follow a
// redirect naming the domain name.
func (r *RedirectConfig) allowedName(name string) bool {
	if len(r.Allow) == 0 {
		return true
	}
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	for _, a := range r.Allow {
		if _, n, _ := parseAllow(a); n != "" && (n == name || strings.HasPrefix(n, ".") && strings.HasSuffix(name, n)) {
			return true
		}
	}
	return false
}

// allowedAddr reports whether the allow-list lets the client go to a.
func (r *RedirectConfig) allowedAddr(a netip.Addr) bool {
	if len(r.Allow) == 0 {
		return true
	}
	for _, x := range r.Allow {
		if p, _, _ := parseAllow(x); p.IsValid() && p.Contains(a) {
			return true
		}
	}
	return false
}

// onRedirectEvent is the redirect part of onIKEEvent: it runs before the
// client's own handling of each IKE event of session s.
func (c *Client) onRedirectEvent(now time.Time, s *session, e ike.Event) {
	switch x := e.(type) {
	case ike.RedirectReceived:
		c.followRedirect(now, s, x)
	case ike.ChildUp:
		if s == c.redir.to {
			c.completeSwitch(now)
		}
	case ike.IKEDown:
		if s == c.redir.to {
			// The new gateway did not take us: stay where we are (the old
			// gateway deletes its SA after its grace period).
			c.emit(Event{Event: EventError, SPIs: x.SPIs.String(), Stage: wire.ExchangeInformational.String(),
				Error: fmt.Sprintf("redirected IKE SA to %v failed; staying with %v: %v", s.gw, c.redir.from.gw, x.Err)})
			c.redir.from, c.redir.to = nil, nil
		}
	}
}

// followRedirect acts on a REDIRECT the engine accepted (nonce checked at
// IKE_SA_INIT, the gateway's AUTH verified at IKE_AUTH, inside the SK
// payload of an INFORMATIONAL): it checks the loop guard (RFC 5685 §7) and
// the allow-list, resolves an FQDN target, and starts an IKE SA with the
// new gateway with REDIRECTED_FROM, the same expected gateway identity and
// the handover ticket. At IKE_SA_INIT and IKE_AUTH the old SA ends by
// itself; an established SA is kept until the new one has its CHILD_SA
// (make-before-break), and the new one asks for the inner addresses the
// client holds now.
func (c *Client) followRedirect(now time.Time, s *session, x ike.RedirectReceived) {
	stage := x.Exchange.String()
	ev := Event{Event: EventRedirected, SPIs: x.SPIs.String(), Stage: stage, From: x.From.String(), Target: x.Target.Gateway.String()}
	fail := func(err error) {
		ev.Event, ev.Error = EventError, err.Error()
		c.emit(ev)
		c.log.Warn("redirect not followed", "stage", stage, "from", x.From.String(), "target", x.Target.Gateway.String(), "err", err)
		if x.Exchange != wire.ExchangeInformational && s == c.cur && c.result == nil {
			c.result = err // the old SA is ending: so does the attachment
		}
	}
	if c.detach.asked || (s != c.cur && s != c.redir.to) {
		return
	}
	if x.Exchange == wire.ExchangeInformational && c.redir.to != nil {
		fail(fmt.Errorf("%w: already moving to %v", ErrRedirectRefused, c.redir.to.gw))
		return
	}
	if err := c.redir.guard.Follow(now); err != nil {
		fail(err)
		return
	}
	gw, err := c.redirectEndpoint(x.Target.Gateway)
	if err != nil {
		fail(err)
		return
	}
	ev.To = gw.String()
	cfg := ike.FollowRedirect(&c.ikeCfg, x)
	cfg.PeerNATTPort = c.cfg.HANATTPort
	if a := c.attach; a != nil && s == c.cur {
		cfg.TraceContext = traceparent(a.ctx)
	}
	if x.Target.Gateway.Type == wire.GatewayIdentityIPv4Port || x.Target.Gateway.Type == wire.GatewayIdentityIPv6Port {
		cfg.PeerNATTPort = gw.Port() // the port is the gateway's NAT-T port: IKE starts there
	}
	if x.Exchange == wire.ExchangeInformational {
		// Keep the inner addresses: ask the new gateway for the ones we hold.
		if a := s.sa.Assignment(); a != nil {
			if a.IPv6.IsValid() {
				cfg.Request.SuggestIPv6 = netip.PrefixFrom(a.IPv6.Addr(), 128)
			}
			if a.IPv4.IsValid() {
				cfg.Request.SuggestIPv4 = a.IPv4
			}
		}
		// Both SAs are ours for a while: the new one must not make the
		// gateway drop the old one.
		cfg.InitialContact = false
	}
	if c.router != nil {
		if err := c.router.switchGateway(gw.Addr()); err != nil {
			fail(fmt.Errorf("keeping %v outside the tunnel: %w", gw.Addr(), err))
			return
		}
	}
	next, err := c.startSession(now, gw, cfg)
	if err != nil {
		fail(err)
		return
	}
	c.emit(ev)
	c.log.Info("following redirect", "stage", stage, "from", x.From.String(), "to", gw.String(), "ticket", x.Target.Ticket != nil,
		"redirects_in_window", c.redir.guard.Count())
	switch {
	case x.Exchange == wire.ExchangeInformational:
		c.redir.from, c.redir.to = s, next
	case s == c.redir.to:
		// The gateway we were moving to sent us on: keep moving, still from
		// the SA we hold.
		c.redir.to = next
	default:
		if !c.cfg.HAAddr.IsValid() && gw.Addr().Is6() && !c.bind.registered {
			// No binding exists yet, so no Mobile IPv6 state changes (RFC
			// 5685 §8): the gateway that will serve us is where Binding
			// Updates go.
			c.haAddr = gw.Addr()
		}
		c.cur = next
		c.ha = gw
	}
}

// completeSwitch ends a make-before-break move: the new SA has its
// CHILD_SA (its outbound SA already carries the routes), so it becomes the
// current one and the old SA is deleted (RFC 5685 §5).
func (c *Client) completeSwitch(now time.Time) {
	from, to := c.redir.from, c.redir.to
	c.redir.from, c.redir.to = nil, nil
	c.cur, c.ha = to, to.gw
	c.setStatus(func(st *Status) { st.Attached = true })
	if err := from.sa.Delete(now); err != nil {
		c.log.Warn("old IKE SA not deleted after the redirect", "gateway", from.gw.String(), "err", err)
		return
	}
	c.log.Info("moved to the new gateway; deleting the old IKE SA", "old", from.gw.String(), "new", to.gw.String())
}

// redirectEndpoint turns a REDIRECT's gateway identity into the endpoint
// to start IKE at: an address on UDP 500, an address and its NAT-T port
// (the private-use types 241 and 242), or an FQDN resolved (RFC 5685
// §9.2), preferring the address family of the gateway we use now. The
// allow-list is checked on the name and on the address.
func (c *Client) redirectEndpoint(g wire.GatewayIdentity) (netip.AddrPort, error) {
	r := &c.cfg.Redirect
	var a netip.Addr
	port := uint16(dataplane.IKEPort)
	switch g.Type {
	case wire.GatewayIdentityIPv4, wire.GatewayIdentityIPv6:
		a = g.AddrPort.Addr()
	case wire.GatewayIdentityIPv4Port, wire.GatewayIdentityIPv6Port:
		a, port = g.AddrPort.Addr(), g.AddrPort.Port()
	case wire.GatewayIdentityFQDN:
		if !r.allowedName(g.FQDN) {
			return netip.AddrPort{}, fmt.Errorf("%w: %s is not in the allow-list", ErrRedirectRefused, g.FQDN)
		}
		addrs, err := c.resolve(g.FQDN)
		if err != nil || len(addrs) == 0 {
			return netip.AddrPort{}, fmt.Errorf("%w: %s does not resolve: %v", ErrRedirectRefused, g.FQDN, err)
		}
		a = addrs[0]
		for _, x := range addrs {
			if x.Unmap().Is4() == c.ha.Addr().Is4() {
				a = x
				break
			}
		}
		return netip.AddrPortFrom(a.Unmap(), port), nil // the allow-list let the name through
	default:
		return netip.AddrPort{}, fmt.Errorf("%w: gateway identity type %v", ErrRedirectRefused, g.Type)
	}
	if !r.allowedAddr(a) {
		return netip.AddrPort{}, fmt.Errorf("%w: %v is not in the allow-list", ErrRedirectRefused, a)
	}
	return netip.AddrPortFrom(a, port), nil
}

// resolve looks up a target's name.
func (c *Client) resolve(name string) ([]netip.Addr, error) {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	if f := c.cfg.Redirect.Resolve; f != nil {
		return f(ctx, name)
	}
	return net.DefaultResolver.LookupNetIP(ctx, "ip", name)
}

// switchGateway makes gw the gateway the router keeps outside the tunnel.
// When the tunnel's routes already cover it (an established SA is being
// replaced), its host route goes in now, before the first IKE message to
// it; the previous gateway's stays until clear, since its SA carries
// traffic until the new one is up.
func (r *router) switchGateway(gw netip.Addr) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if gw == r.ha {
		return nil
	}
	prev := r.bypass
	r.ha, r.bypass = gw, nil
	if prev != nil {
		r.left = append(r.left, prev)
	}
	for p := range r.routes {
		if p.Contains(gw) {
			return r.addBypassLocked()
		}
	}
	return nil
}

// clearLeft removes the host routes of gateways the client left.
func (r *router) clearLeft() {
	for _, route := range r.left {
		if err := netlink.RouteDel(route); err != nil {
			r.log.Warn("host route to a former gateway not removed", "dst", route.Dst.String(), "err", err)
		}
	}
	r.left = nil
}
