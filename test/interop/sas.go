package interop

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/mip6ha/mip6ha/test/interop/vici"
)

// IKE SA and CHILD_SA states as charon names them.
const (
	StateEstablished = "ESTABLISHED"
	StateConnecting  = "CONNECTING"
	StateRekeying    = "REKEYING"
	StateDeleting    = "DELETING"
	StateInstalled   = "INSTALLED"
)

// IKESA is an IKE SA as charon's list-sas reports it.
type IKESA struct {
	Name       string // connection name
	UniqueID   uint32 // charon's id; a rekeyed IKE SA gets a new one
	State      string // StateEstablished, StateConnecting, ...
	LocalHost  netip.AddrPort
	LocalID    string
	RemoteHost netip.AddrPort
	RemoteID   string
	Initiator  bool // this charon initiated the IKE SA
	// SPIi and SPIr are the initiator's and responder's SPIs.
	SPIi, SPIr uint64
	// NATLocal/NATRemote: the local/remote end is behind a NAT (NAT-D
	// mismatch); NATFake: a NAT was faked (encap = yes); NATAny: any.
	NATLocal, NATRemote, NATFake, NATAny bool
	EncrAlg                              string // "AES_CBC", "AES_GCM_16", ...
	EncrKeySize                          int    // bits
	IntegAlg                             string // "HMAC_SHA2_256_128", "" for AEAD
	PRFAlg                               string // "PRF_HMAC_SHA2_256"
	DHGroup                              string // "CURVE_25519"
	Established                          time.Duration
	RekeyIn                              time.Duration // 0: no rekeying scheduled
	LocalVIPs                            []netip.Addr  // virtual IPs the peer assigned to us
	RemoteVIPs                           []netip.Addr  // virtual IPs we assigned to the peer
	Children                             []ChildSA
}

// ChildSA is a CHILD_SA as charon's list-sas reports it.
type ChildSA struct {
	Name        string
	UniqueID    uint32 // a rekeyed CHILD_SA gets a new one
	ReqID       uint32 // stays across rekeying
	State       string // StateInstalled, StateRekeying, ...
	Mode        string // "TUNNEL", "TRANSPORT"
	Protocol    string // "ESP", "AH"
	Encap       bool   // ESP in UDP (RFC 3948)
	SPIIn       uint32
	SPIOut      uint32
	EncrAlg     string
	EncrKeySize int
	IntegAlg    string
	DHGroup     string
	BytesIn     uint64
	PacketsIn   uint64
	BytesOut    uint64
	PacketsOut  uint64
	RekeyIn     time.Duration
	LifeIn      time.Duration
	Installed   time.Duration
	LocalTS     []string // "fd00:a::1/128", "10.0.0.0/24[udp/500]"
	RemoteTS    []string
}

// Child returns the CHILD_SA named name, preferring an INSTALLED one and,
// among equals, the newest (a rekeying leaves the old one for a moment).
func (sa IKESA) Child(name string) (ChildSA, bool) {
	var best ChildSA
	found := false
	for _, c := range sa.Children {
		if c.Name == name && (!found || betterChild(c, best)) {
			best, found = c, true
		}
	}
	return best, found
}

func betterChild(a, b ChildSA) bool {
	if ai, bi := a.State == StateInstalled, b.State == StateInstalled; ai != bi {
		return ai
	}
	return a.UniqueID > b.UniqueID
}

// String summarises the SA for test logs: name, id, state, endpoints and
// CHILD_SA states.
func (sa IKESA) String() string {
	var ch []string
	for _, c := range sa.Children {
		ch = append(ch, c.Name+":"+c.State)
	}
	return fmt.Sprintf("%s#%d %s %s-%s [%s]", sa.Name, sa.UniqueID, sa.State, sa.LocalHost, sa.RemoteHost, strings.Join(ch, " "))
}

// ErrListSAs is wrapped by errors in parsing list-sas answers.
var ErrListSAs = errors.New("interop: unexpected list-sas content")

// saParser reads typed fields from a list-sas section, remembering the
// first malformed one.
type saParser struct {
	m   *vici.Message
	err error
}

func (p *saParser) fail(key, v string) {
	if p.err == nil {
		p.err = fmt.Errorf("%w: %s = %q", ErrListSAs, key, v)
	}
}

func (p *saParser) str(key string) string { return p.m.String(key) }

func (p *saParser) yes(key string) bool {
	switch v := p.m.String(key); v {
	case "yes":
		return true
	case "", "no":
		return false
	default:
		p.fail(key, v)
		return false
	}
}

func (p *saParser) uint(key string, bits int, base int) uint64 {
	v := p.m.String(key)
	if v == "" {
		return 0
	}
	n, err := strconv.ParseUint(v, base, bits)
	if err != nil {
		p.fail(key, v)
	}
	return n
}

func (p *saParser) seconds(key string) time.Duration {
	return time.Duration(p.uint(key, 32, 10)) * time.Second
}

func (p *saParser) addr(hostKey, portKey string) netip.AddrPort {
	h := p.m.String(hostKey)
	if h == "" {
		return netip.AddrPort{}
	}
	a, err := netip.ParseAddr(h)
	if err != nil {
		p.fail(hostKey, h)
	}
	return netip.AddrPortFrom(a, uint16(p.uint(portKey, 16, 10)))
}

func (p *saParser) addrs(key string) []netip.Addr {
	var out []netip.Addr
	for _, s := range p.m.List(key) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			p.fail(key, s)
			continue
		}
		out = append(out, a)
	}
	return out
}

// parseIKESA converts one entry of a list-sa event.
func parseIKESA(name string, m *vici.Message) (IKESA, error) {
	if m == nil {
		return IKESA{}, fmt.Errorf("%w: %s is not a section", ErrListSAs, name)
	}
	p := saParser{m: m}
	sa := IKESA{
		Name:        name,
		UniqueID:    uint32(p.uint("uniqueid", 32, 10)),
		State:       p.str("state"),
		LocalHost:   p.addr("local-host", "local-port"),
		LocalID:     p.str("local-id"),
		RemoteHost:  p.addr("remote-host", "remote-port"),
		RemoteID:    p.str("remote-id"),
		Initiator:   p.yes("initiator"),
		SPIi:        p.uint("initiator-spi", 64, 16),
		SPIr:        p.uint("responder-spi", 64, 16),
		NATLocal:    p.yes("nat-local"),
		NATRemote:   p.yes("nat-remote"),
		NATFake:     p.yes("nat-fake"),
		NATAny:      p.yes("nat-any"),
		EncrAlg:     p.str("encr-alg"),
		EncrKeySize: int(p.uint("encr-keysize", 16, 10)),
		IntegAlg:    p.str("integ-alg"),
		PRFAlg:      p.str("prf-alg"),
		DHGroup:     p.str("dh-group"),
		Established: p.seconds("established"),
		RekeyIn:     p.seconds("rekey-time"),
		LocalVIPs:   p.addrs("local-vips"),
		RemoteVIPs:  p.addrs("remote-vips"),
	}
	children := m.Section("child-sas")
	for _, k := range children.Keys() {
		cm := children.Section(k)
		if cm == nil {
			return sa, fmt.Errorf("%w: child-sas.%s is not a section", ErrListSAs, k)
		}
		cp := saParser{m: cm}
		sa.Children = append(sa.Children, ChildSA{
			Name:        cp.str("name"),
			UniqueID:    uint32(cp.uint("uniqueid", 32, 10)),
			ReqID:       uint32(cp.uint("reqid", 32, 10)),
			State:       cp.str("state"),
			Mode:        cp.str("mode"),
			Protocol:    cp.str("protocol"),
			Encap:       cp.yes("encap"),
			SPIIn:       uint32(cp.uint("spi-in", 32, 16)),
			SPIOut:      uint32(cp.uint("spi-out", 32, 16)),
			EncrAlg:     cp.str("encr-alg"),
			EncrKeySize: int(cp.uint("encr-keysize", 16, 10)),
			IntegAlg:    cp.str("integ-alg"),
			DHGroup:     cp.str("dh-group"),
			BytesIn:     cp.uint("bytes-in", 64, 10),
			PacketsIn:   cp.uint("packets-in", 64, 10),
			BytesOut:    cp.uint("bytes-out", 64, 10),
			PacketsOut:  cp.uint("packets-out", 64, 10),
			RekeyIn:     cp.seconds("rekey-time"),
			LifeIn:      cp.seconds("life-time"),
			Installed:   cp.seconds("install-time"),
			LocalTS:     cm.List("local-ts"),
			RemoteTS:    cm.List("remote-ts"),
		})
		if cp.err != nil {
			return sa, fmt.Errorf("IKE SA %s, CHILD_SA %s: %w", name, k, cp.err)
		}
	}
	if p.err != nil {
		return sa, fmt.Errorf("IKE SA %s: %w", name, p.err)
	}
	return sa, nil
}
