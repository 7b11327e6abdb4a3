package interop

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// PlutoState is one state (an IKE SA or a CHILD_SA) of pluto, as
// `whack --showstates` lists it:
//
//	#1: "mn"[1] 2001:db8:2::100:500 STATE_V2_ESTABLISHED_IKE_SA (established IKE SA); REKEY in 27840s; newest; idle;
type PlutoState struct {
	// Serial is pluto's state number (#1).
	Serial int
	// Conn is the connection's name; Instance the instance number of a
	// connection instantiated for one peer ("[1]"), or "".
	Conn, Instance string
	// Peer is what pluto prints between the connection and the state:
	// the peer's address and port for an instance, ":500" or "" for a
	// connection with a fixed peer.
	Peer string
	// Name is the state's name ("STATE_V2_ESTABLISHED_IKE_SA",
	// "STATE_V2_PARENT_I1").
	Name string
	// Detail is the rest of the line: the description in parentheses
	// and the pending events.
	Detail string
}

// Names of pluto's IKEv2 states that tests wait for. (A CHILD_SA would
// reach STATE_V2_ESTABLISHED_CHILD_SA, but pluto cannot install one on the
// lab kernel.)
const (
	// PlutoStateIKEInit: an initiator has sent IKE_SA_INIT and waits.
	PlutoStateIKEInit = "STATE_V2_PARENT_I1"
	// PlutoStateIKEEstablished: an IKE SA is up, on either side.
	PlutoStateIKEEstablished = "STATE_V2_ESTABLISHED_IKE_SA"
)

// String formats the state as whack lists it, without the detail.
func (s PlutoState) String() string {
	return fmt.Sprintf("#%d: %q%s %s %s", s.Serial, s.Conn, s.Instance, s.Peer, s.Name)
}

// ErrWhackOutput is wrapped by the errors of the whack output parsers.
var ErrWhackOutput = errors.New("interop: unexpected whack output")

// whackCode is the three-digit status code whack puts before each line
// it relays from pluto ("000 ").
var whackCode = regexp.MustCompile(`^\d{3} `)

// whackLines splits whack output into lines without their status codes.
func whackLines(out string) []string {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		lines[i] = whackCode.ReplaceAllString(strings.TrimRight(l, "\r"), "")
	}
	return lines
}

// plutoStateLine is one line of `whack --showstates`:
// #SERIAL: "CONN"[INSTANCE] PEER STATE_NAME DETAIL.
var plutoStateLine = regexp.MustCompile(`^#(\d+): "([^"]*)"(\[[^\]]*\])?(.*?)\s*\b(STATE_[A-Z0-9_]+)\s*(.*)$`)

// ParsePlutoStates parses the output of `whack --showstates`. Lines that
// are not states (such as `#4: pending CHILD SA for "ha"`) are skipped.
func ParsePlutoStates(out string) ([]PlutoState, error) {
	var states []PlutoState
	for _, l := range whackLines(out) {
		m := plutoStateLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		serial, err := strconv.Atoi(m[1])
		if err != nil || serial <= 0 {
			return nil, fmt.Errorf("%w: state number in %q", ErrWhackOutput, l)
		}
		states = append(states, PlutoState{
			Serial:   serial,
			Conn:     m[2],
			Instance: m[3],
			Peer:     strings.TrimSpace(m[4]),
			Name:     m[5],
			Detail:   m[6],
		})
	}
	return states, nil
}

// ParsePlutoGlobalStatus parses the output of `whack --globalstatus`:
// one "key=value" line per counter, every value a whole number
// ("total.ikev2.sent.notifies.status.REDIRECT=3").
func ParsePlutoGlobalStatus(out string) (map[string]int64, error) {
	counters := map[string]int64{}
	for _, l := range whackLines(out) {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: global status line %q", ErrWhackOutput, l)
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: global status %s=%q is not a number", ErrWhackOutput, k, v)
		}
		counters[k] = n
	}
	return counters, nil
}

// plutoInterfaceLine is an interface line of `whack --status`:
// "interface eth0 UDP [2001:db8:1::1]:500" or "interface eth0 UDP 198.51.100.1:4500".
var plutoInterfaceLine = regexp.MustCompile(`^interface (\S+) (UDP|TCP) (\S+)$`)

// PlutoInterface is an address and port pluto listens on.
type PlutoInterface struct {
	Device   string // "eth0"
	Protocol string // "UDP" or "TCP"
	Addr     netip.AddrPort
}

// ParsePlutoInterfaces returns the interfaces listed in the output of
// `whack --status`.
func ParsePlutoInterfaces(status string) ([]PlutoInterface, error) {
	var ifs []PlutoInterface
	for _, l := range whackLines(status) {
		m := plutoInterfaceLine.FindStringSubmatch(strings.TrimSpace(l))
		if m == nil {
			continue
		}
		ap, err := netip.ParseAddrPort(m[3])
		if err != nil {
			return nil, fmt.Errorf("%w: interface line %q: %v", ErrWhackOutput, l, err)
		}
		ifs = append(ifs, PlutoInterface{Device: m[1], Protocol: m[2], Addr: ap})
	}
	return ifs, nil
}

// plutoConnLine is the first line of a connection in `whack --status`:
// `"mn": 2001:db8:1::1[@ha.example]...%any[@mn.example]; unrouted; ...`.
var plutoConnLine = regexp.MustCompile(`^"([^"]+)"(\[[^\]]*\])?: \S`)

// ParsePlutoConns returns the names of the connections listed in the
// output of `whack --status`, each once, in order.
func ParsePlutoConns(status string) []string {
	var names []string
	seen := map[string]bool{}
	for _, l := range whackLines(status) {
		m := plutoConnLine.FindStringSubmatch(l)
		if m == nil || seen[m[1]] {
			continue
		}
		seen[m[1]] = true
		names = append(names, m[1])
	}
	return names
}
