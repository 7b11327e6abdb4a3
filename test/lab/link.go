package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
)

// Iface is a network interface inside a host.
type Iface struct {
	Host *Host
	Name string
}

// String names the interface as host:name.
func (i *Iface) String() string { return i.Host.name + ":" + i.Name }

// Link is a veth pair: a cable between two hosts (or two interfaces of one
// host).
type Link struct {
	A, B *Iface
}

// ifName accepts what the kernel accepts as an interface name (IFNAMSIZ-1
// = 15 bytes, no '/', ':' or white space).
var ifName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)

func (l *Lab) checkIfName(name string) {
	l.t.Helper()
	if !ifName.MatchString(name) {
		l.t.Fatalf("lab: interface name %q: want 1-15 characters of [A-Za-z0-9_.-]", name)
	}
}

// Link connects host a (interface aName) and host b (interface bName) with a
// veth pair and sets both ends up. Interface names are local to each
// namespace, so the same name ("eth0") can be used in every host. The two
// ends are created directly inside their namespaces and never appear in the
// test process's namespace.
func (l *Lab) Link(a *Host, aName string, b *Host, bName string) *Link {
	l.t.Helper()
	l.checkIfName(aName)
	l.checkIfName(bName)
	if a == b && aName == bName {
		l.t.Fatalf("lab: link %s:%s to itself", a.name, aName)
	}
	l.must(runCmd(context.Background(), "ip", "link", "add", aName, "netns", a.ns,
		"type", "veth", "peer", "name", bName, "netns", b.ns))
	lk := &Link{A: &Iface{a, aName}, B: &Iface{b, bName}}
	lk.A.Up()
	lk.B.Up()
	return lk
}

// Bridge creates a bridge device named name inside the host and sets it up.
// Attach interfaces of the same host with SetMaster. Ports forward at once
// (no spanning tree), and multicast goes to every port: with MLD snooping
// on, a neighbour solicitation sent before a port's host has reported its
// solicited-node group is dropped, and resolution waits a second for the
// retransmission.
func (h *Host) Bridge(name string) *Iface {
	h.lab.t.Helper()
	h.lab.checkIfName(name)
	h.IP("link", "add", name, "type", "bridge", "stp_state", "0", "forward_delay", "0", "mcast_snooping", "0")
	br := &Iface{h, name}
	br.Up()
	return br
}

// Iface returns the interface named name of the host (no check that it
// exists).
func (h *Host) Iface(name string) *Iface { return &Iface{h, name} }

// Up sets the interface up.
func (i *Iface) Up() { i.Host.lab.t.Helper(); i.Host.IP("link", "set", i.Name, "up") }

// Down sets the interface down: the link loses carrier, and the kernel
// removes the interface's IPv6 addresses (unless the host's
// net.ipv6.conf.IFACE.keep_addr_on_down is set) and the routes through it.
func (i *Iface) Down() { i.Host.lab.t.Helper(); i.Host.IP("link", "set", i.Name, "down") }

// SetMaster makes the interface a port of bridge br (in the same host),
// moving it off the bridge it was on: the way to re-plug a host into another
// link without touching the host itself.
func (i *Iface) SetMaster(br *Iface) {
	i.Host.lab.t.Helper()
	if br.Host != i.Host {
		i.Host.lab.t.Fatalf("lab: %s cannot join bridge %s of another host", i, br)
	}
	i.Host.IP("link", "set", i.Name, "master", br.Name)
}

// NoMaster removes the interface from its bridge.
func (i *Iface) NoMaster() { i.Host.lab.t.Helper(); i.Host.IP("link", "set", i.Name, "nomaster") }

// AddAddr adds addresses in prefix notation ("2001:db8:2::100/64",
// "192.0.2.100/24"). IPv6 addresses are added without duplicate address
// detection.
func (i *Iface) AddAddr(prefixes ...string) {
	i.Host.lab.t.Helper()
	for _, s := range prefixes {
		p := mustPrefix(i.Host.lab, s)
		args := []string{"addr", "add", p.String(), "dev", i.Name}
		if p.Addr().Is6() {
			args = append(args, "nodad")
		}
		i.Host.IP(args...)
	}
}

// DelAddr removes addresses given in prefix notation.
func (i *Iface) DelAddr(prefixes ...string) {
	i.Host.lab.t.Helper()
	for _, s := range prefixes {
		p := mustPrefix(i.Host.lab, s)
		i.Host.IP("addr", "del", p.String(), "dev", i.Name)
	}
}

// FlushAddrs removes the interface's global addresses of both families
// (link-local addresses stay).
func (i *Iface) FlushAddrs() {
	i.Host.lab.t.Helper()
	i.Host.IP("addr", "flush", "dev", i.Name, "scope", "global")
}

// Addrs lists the interface's addresses in prefix notation, with their
// state.
func (i *Iface) Addrs(ctx context.Context) ([]AddrInfo, error) {
	out, err := i.Host.ip(ctx, "-j", "addr", "show", "dev", i.Name)
	if err != nil {
		return nil, err
	}
	return parseAddrJSON(out)
}

// AddrInfo is an address of an interface as the kernel reports it.
type AddrInfo struct {
	Prefix    netip.Prefix
	Scope     string // "global", "link", "host"
	Tentative bool   // IPv6 duplicate address detection has not finished
	DADFailed bool
}

// Usable reports whether the address can be used as a source: assigned and
// not waiting for (or failed) duplicate address detection.
func (a AddrInfo) Usable() bool { return !a.Tentative && !a.DADFailed }

func parseAddrJSON(s string) ([]AddrInfo, error) {
	var links []struct {
		AddrInfo []struct {
			Local     string `json:"local"`
			PrefixLen int    `json:"prefixlen"`
			Scope     string `json:"scope"`
			Tentative bool   `json:"tentative"`
			DADFailed bool   `json:"dadfailed"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal([]byte(s), &links); err != nil {
		return nil, fmt.Errorf("parsing ip -j addr: %w", err)
	}
	var out []AddrInfo
	for _, l := range links {
		for _, a := range l.AddrInfo {
			addr, err := netip.ParseAddr(a.Local)
			if err != nil {
				return nil, fmt.Errorf("parsing ip -j addr: %w", err)
			}
			p := netip.PrefixFrom(addr, a.PrefixLen)
			if !p.IsValid() {
				return nil, fmt.Errorf("parsing ip -j addr: prefix length %d of %s", a.PrefixLen, addr)
			}
			out = append(out, AddrInfo{Prefix: p, Scope: a.Scope, Tentative: a.Tentative, DADFailed: a.DADFailed})
		}
	}
	return out, nil
}

// LinkState is the operational state of an interface ("UP", "DOWN",
// "LOWERLAYERDOWN", ...), as `ip link` reports it.
func (i *Iface) LinkState(ctx context.Context) (string, error) {
	out, err := i.Host.ip(ctx, "-j", "link", "show", "dev", i.Name)
	if err != nil {
		return "", err
	}
	var links []struct {
		OperState string `json:"operstate"`
	}
	if err := json.Unmarshal([]byte(out), &links); err != nil || len(links) != 1 {
		return "", fmt.Errorf("%s: parsing ip -j link: %q", i, strings.TrimSpace(out))
	}
	return links[0].OperState, nil
}

func mustPrefix(l *Lab, s string) netip.Prefix {
	l.t.Helper()
	p, err := netip.ParsePrefix(s)
	if err != nil {
		l.t.Fatalf("lab: address %q: want prefix notation such as 2001:db8::1/64: %v", s, err)
	}
	return p
}
