// Package mnclient is the mobile node test client: it attaches to a home
// agent (or any IKEv2 gateway, such as strongSwan) as an IKEv2 initiator
// through the home agent's own runtime (homeagent.Runtime in its initiator
// role), receives its inner addresses from CFG_REPLY, configures them on a
// TUN device, routes the CHILD_SA's remote traffic selectors into it, and
// reports what happens as a stream of events (one JSON line each in the
// mnclient command).
//
// The pieces of a mobile node come in stages that later work slots into:
//
//   - attach: the IKE SA and CHILD_SA (this package, Client.Run);
//   - bind: Binding Updates inside the tunnel (RFC 4877), driven by the
//     mip6 binding update list, started on EventChildInstalled;
//   - move: care-of address changes (Runtime.UpdatePeer-style moves of the
//     IKE SA, then a Binding Update) and home agent switches;
//   - bulk: many clients in one process, for load tests (one Runtime can
//     hold many initiator SAs already).
package mnclient

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/mip6ha/mip6ha/homeagent"
	"github.com/mip6ha/mip6ha/homeagent/dataplane"
	"github.com/mip6ha/mip6ha/ike"
)

// Config configures a Client.
type Config struct {
	// HA is the home agent: "HOST", "HOST:PORT" or "[IPv6]:PORT" (port
	// 500 by default). HANATTPort is its NAT-T port (0: 4500).
	HA         string
	HANATTPort uint16
	// HAID is the identity the home agent must prove; empty accepts any
	// identity our credentials accept (with a PSK: any gateway knowing it).
	HAID string
	// ID is our identity (homeagent.ParseID syntax). Required.
	ID string
	// PSK is the pre-shared key; or Cert, Key and CA (PEM files) for
	// certificates.
	PSK           []byte
	Cert, Key, CA string
	// HoA is a home address to ask for (a node keeping its address);
	// invalid: any. IPv4 also asks for an inner IPv4 address.
	HoA  netip.Addr
	IPv4 bool
	// RemoteTS are the prefixes to reach through the home agent (default:
	// every IPv6 address, and every IPv4 address with IPv4); the gateway
	// may narrow them.
	RemoteTS []netip.Prefix
	// TUN names the TUN device ("" lets the kernel name it) and MTU sets
	// its MTU (0: homeagent.DefaultMTU).
	TUN string
	MTU int
	// Listen, IKEPort and NATTPort are our sockets (default: every
	// address, 500 and 4500).
	Listen            []string
	IKEPort, NATTPort int
	// KeyLog appends the IKE SA keys for tshark to this file.
	KeyLog string
	// ForceEncap forces UDP encapsulation of ESP (the user-space dataplane
	// only carries ESP in UDP).
	ForceEncap bool
	// IKEProposals and ESPProposals override the defaults.
	IKEProposals, ESPProposals []string
	// Logger receives the runtime's log lines (default: discard).
	Logger *slog.Logger
	// Events receives the client's events; it is called from the runtime's
	// goroutines and must not block for long.
	Events func(Event)
}

// Client is one mobile node: a runtime with one initiator IKE SA towards
// its home agent.
type Client struct {
	cfg    Config
	ha     netip.AddrPort
	tun    *dataplane.TUN
	router *router
	rt     *homeagent.Runtime

	mu   sync.Mutex
	sa   homeagent.SAID
	down chan ike.IKEDown // the IKE SA's end, once
}

// ErrDetached reports that the IKE SA ended without our asking.
var ErrDetached = errors.New("mnclient: detached")

// New checks cfg, creates the TUN device and the runtime (binding the
// sockets). Run attaches.
func New(cfg Config) (*Client, error) {
	if cfg.ID == "" {
		return nil, errors.New("mnclient: no identity (--id)")
	}
	ha, err := resolveHA(cfg.HA)
	if err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Events == nil {
		cfg.Events = func(Event) {}
	}
	if len(cfg.RemoteTS) == 0 {
		cfg.RemoteTS = []netip.Prefix{netip.MustParsePrefix("::/0")}
		if cfg.IPv4 {
			cfg.RemoteTS = append(cfg.RemoteTS, netip.MustParsePrefix("0.0.0.0/0"))
		}
	}
	c := &Client{cfg: cfg, ha: ha, down: make(chan ike.IKEDown, 1)}

	rc := homeagent.DefaultConfig()
	rc.Identity = cfg.ID
	rc.Cert, rc.Key, rc.CA = cfg.Cert, cfg.Key, cfg.CA
	rc.KeyLog = cfg.KeyLog
	rc.ForceEncap = cfg.ForceEncap
	rc.IKEProposals, rc.ESPProposals = cfg.IKEProposals, cfg.ESPProposals
	rc.Shards = 1
	if len(cfg.Listen) > 0 {
		rc.Listen = cfg.Listen
	}
	if cfg.IKEPort != 0 || cfg.NATTPort != 0 {
		rc.IKEPort, rc.NATTPort = cfg.IKEPort, cfg.NATTPort
	}
	if err := rc.Validate(); err != nil {
		return nil, err
	}
	mtu := cfg.MTU
	if mtu == 0 {
		mtu = homeagent.DefaultMTU
	}
	c.tun, err = dataplane.CreateTUN(cfg.TUN, mtu)
	if err != nil {
		return nil, fmt.Errorf("mnclient: TUN: %w", err)
	}
	c.router = &router{tun: c.tun, ha: ha.Addr(), log: cfg.Logger}
	var psks []homeagent.PSK
	if cfg.PSK != nil {
		id := "*"
		if cfg.HAID != "" {
			id = cfg.HAID
		}
		psks = append(psks, homeagent.PSK{Identity: id, Secret: cfg.PSK})
	}
	c.rt, err = homeagent.New(rc, homeagent.Options{
		Logger:   cfg.Logger,
		Device:   c.tun,
		Router:   c.router,
		PSKs:     psks,
		Observer: c.observe,
	})
	if err != nil {
		c.tun.Close()
		return nil, err
	}
	return c, nil
}

// resolveHA parses HOST[:PORT], resolving a name.
func resolveHA(s string) (netip.AddrPort, error) {
	if s == "" {
		return netip.AddrPort{}, errors.New("mnclient: no home agent (--ha)")
	}
	host, port := s, uint16(dataplane.IKEPort)
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("mnclient: home agent %q: bad port", s)
		}
		host, port = h, uint16(n)
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return netip.AddrPortFrom(a.Unmap(), port), nil
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("mnclient: home agent %q: %v", s, err)
	}
	a, _ := netip.AddrFromSlice(ips[0])
	return netip.AddrPortFrom(a.Unmap(), port), nil
}

// TUN returns the client's TUN device name.
func (c *Client) TUN() string { return c.tun.Name() }

// Run attaches to the home agent and stays attached until ctx ends (then
// it deletes the IKE SA, waits for the answer, and removes its routes and
// device) or the IKE SA ends without our asking (ErrDetached).
func (c *Client) Run(ctx context.Context) error {
	runCtx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- c.rt.Run(runCtx) }()
	c.emit(Event{Event: EventTUN, TUN: c.tun.Name()})

	req := ike.CPRequest{IPv6: true, IPv4: c.cfg.IPv4}
	if c.cfg.HoA.IsValid() {
		req.SuggestIPv6 = netip.PrefixFrom(c.cfg.HoA, 128)
	}
	id, err := c.rt.Initiate(ctx, homeagent.Peer{
		Remote:         c.ha,
		NATTPort:       c.cfg.HANATTPort,
		ID:             c.cfg.HAID,
		Request:        req,
		RequireAddress: true,
		RemoteTS:       c.cfg.RemoteTS,
		InitialContact: true,
	})
	if err == nil {
		c.mu.Lock()
		c.sa = id
		c.mu.Unlock()
		select {
		case d := <-c.down:
			err = fmt.Errorf("%w: %v: %v", ErrDetached, d.Reason, d.Err)
		case <-ctx.Done():
		case err = <-done:
			if err == nil {
				err = errors.New("mnclient: runtime stopped")
			}
			c.router.clear()
			return err
		}
	} else {
		c.emit(Event{Event: EventError, Error: err.Error()})
	}
	// The runtime deletes the IKE SA when it stops.
	stop()
	rtErr := <-done
	c.router.clear()
	return errors.Join(err, rtErr)
}

// observe turns runtime events into client events; it runs on the
// runtime's shard goroutine.
func (c *Client) observe(e homeagent.Event) {
	if a, ok := e.IKE.(ike.AddressAssigned); ok && a.ToUs {
		for _, p := range []netip.Prefix{a.Assignment.IPv6, prefixOf(a.Assignment.IPv4)} {
			if p.IsValid() {
				if err := c.router.ensureAddress(p.Addr()); err != nil {
					c.emit(Event{Event: EventError, Error: fmt.Sprintf("configuring %v on %s: %v", p.Addr(), c.tun.Name(), err)})
				}
			}
		}
	}
	if d, ok := e.IKE.(ike.IKEDown); ok {
		select {
		case c.down <- d:
		default:
		}
	}
	if ev, ok := translate(e); ok {
		c.emit(ev)
	}
}

func prefixOf(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	return netip.PrefixFrom(a, a.BitLen())
}

func (c *Client) emit(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	c.cfg.Events(e)
}

func (c *Client) id() homeagent.SAID {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sa
}

// RekeyIKE rekeys the IKE SA.
func (c *Client) RekeyIKE(ctx context.Context) error { return c.rt.RekeyIKE(ctx, c.id()) }

// RekeyChild rekeys every CHILD_SA.
func (c *Client) RekeyChild(ctx context.Context) error { return c.rt.RekeyChild(ctx, c.id(), 0) }

// CheckLiveness sends an empty INFORMATIONAL request.
func (c *Client) CheckLiveness(ctx context.Context) error { return c.rt.CheckLiveness(ctx, c.id()) }

// Delete deletes the IKE SA (Run then returns ErrDetached with reason
// "deleted").
func (c *Client) Delete(ctx context.Context) error { return c.rt.Delete(ctx, c.id()) }
