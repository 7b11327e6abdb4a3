package homeagent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/mip6ha/mip6ha/mip6/mh"
)

// The handover option is how a home agent that moves a node with a binding
// gives it, beside the Home Agent Switch (RFC 5142), what RFC 5142 has no
// field for: the handover ticket, the move's trace context and the IKE
// endpoint of the new home agent (docs/cluster.md). It is an Experimental
// Mobility Option (RFC 5096 §5, type 18) in the Home Agent Switch; a node
// that does not know it skips it, as RFC 6275 §6.2.1 requires of unknown
// options, so standard mobile nodes are safe. The Home Agent Switch travels
// inside the node's ESP tunnel (RFC 4877 §3): the option is authenticated
// and confidential.
//
//	offset  size  field
//	0       4     "M6HA", telling this option apart from other experiments
//	4       1     version, 1
//	5       ...   sub-options, each Type (1), Length (1), Value:
//	              1 HANDOVER_TICKET  the ticket to present in IKE_AUTH
//	                                 (ike/wire.NotifyHandoverTicket)
//	              2 TRACE_CONTEXT    the W3C traceparent of the move
//	                                 (55 ASCII octets, as in the lease)
//	              3 GATEWAY          the new home agent's IKE address (4 or
//	                                 16 octets) and, when it is not on the
//	                                 standard ports 500/4500, its port (2)
//
// Unknown sub-options are skipped; a sub-option may appear once.
const (
	// OptExperimentalMobility is the Experimental Mobility Option's type
	// (RFC 5096 §5, IANA Mobility Options registry).
	OptExperimentalMobility mh.OptionType = 18

	handoverMagic   = "M6HA"
	handoverVersion = 1
	handoverFixed   = len(handoverMagic) + 1

	subTicket       = 1
	subTraceContext = 2
	subGateway      = 3
)

// ErrHandoverOption is wrapped by the errors of a handover option that does
// not parse.
var ErrHandoverOption = errors.New("homeagent: malformed handover option")

// HandoverOption is what a home agent tells a node it switches to another
// home agent, beside the addresses of the Home Agent Switch. Every field is
// optional.
type HandoverOption struct {
	// Ticket is the handover ticket the node presents to the new home
	// agent in IKE_AUTH (private-use notify HANDOVER_TICKET).
	Ticket []byte
	// TraceContext is the W3C traceparent of the move's span: the node's
	// own spans of the move join its trace.
	TraceContext string
	// Gateway is where the node sets up its IKE SA with the new home
	// agent; port 0 means the standard ports (500, then 4500).
	Gateway netip.AddrPort
}

// Len returns the length of the option's data (without the option's Type
// and Length octets). Fields that do not fit (a ticket or trace context of
// more than 255 octets, or a data area beyond 255) are not encoded.
func (o HandoverOption) Len() int {
	n := handoverFixed
	for _, s := range o.subOptions() {
		if n+2+len(s.v) <= 255 {
			n += 2 + len(s.v)
		}
	}
	return n
}

type subOption struct {
	t byte
	v []byte
}

// subOptions lists the sub-options to encode, in order.
func (o HandoverOption) subOptions() []subOption {
	var subs []subOption
	if len(o.Ticket) > 0 && len(o.Ticket) <= 255 {
		subs = append(subs, subOption{subTicket, o.Ticket})
	}
	if o.TraceContext != "" && len(o.TraceContext) <= 255 {
		subs = append(subs, subOption{subTraceContext, []byte(o.TraceContext)})
	}
	if a := o.Gateway.Addr().Unmap(); a.IsValid() {
		v := a.AsSlice()
		if p := o.Gateway.Port(); p != 0 {
			v = binary.BigEndian.AppendUint16(v, p)
		}
		subs = append(subs, subOption{subGateway, v})
	}
	return subs
}

// AppendData appends the option's data (what follows the option's Length
// octet) to b.
func (o HandoverOption) AppendData(b []byte) []byte {
	start := len(b)
	b = append(b, handoverMagic...)
	b = append(b, handoverVersion)
	for _, s := range o.subOptions() {
		if len(b)-start+2+len(s.v) > 255 {
			continue
		}
		b = append(b, s.t, byte(len(s.v)))
		b = append(b, s.v...)
	}
	return b
}

// Append appends the option (Type 18, Length, data) to a mobility option
// area, as the option values of package mh do.
func (o HandoverOption) Append(opts mh.Options) mh.Options {
	return mh.Option{Type: OptExperimentalMobility, Data: o.AppendData(nil)}.Append(opts)
}

// ParseHandoverOption finds the handover option among opts (the options of
// a Home Agent Switch) and parses it. found is false when opts holds none
// (no Experimental Mobility Option with our marker); err is non-nil when
// one is there but malformed. It never panics.
func ParseHandoverOption(opts mh.Options) (o HandoverOption, found bool, err error) {
	for opt := range opts.All() {
		if opt.Type != OptExperimentalMobility || len(opt.Data) < len(handoverMagic) ||
			string(opt.Data[:len(handoverMagic)]) != handoverMagic {
			continue
		}
		o, err = ParseHandoverData(opt.Data)
		return o, true, err
	}
	return HandoverOption{}, false, nil
}

// ParseHandoverData parses the data of a handover option. The values are
// views into data. It never panics.
func ParseHandoverData(data []byte) (HandoverOption, error) {
	var o HandoverOption
	fail := func(off int, format string, args ...any) (HandoverOption, error) {
		return HandoverOption{}, fmt.Errorf("%w: %s at offset %d", ErrHandoverOption, fmt.Sprintf(format, args...), off)
	}
	if len(data) > 255 {
		return fail(255, "%d octets, longer than an option's data can be", len(data))
	}
	if len(data) < handoverFixed || string(data[:len(handoverMagic)]) != handoverMagic {
		return fail(0, "no %q marker", handoverMagic)
	}
	if v := data[len(handoverMagic)]; v != handoverVersion {
		return fail(len(handoverMagic), "version %d", v)
	}
	var seen [256]bool
	for i := handoverFixed; i < len(data); {
		if i+2 > len(data) {
			return fail(i, "truncated sub-option header")
		}
		t, l := data[i], int(data[i+1])
		v := data[i+2 : min(i+2+l, len(data))]
		if len(v) != l {
			return fail(i, "sub-option %d of %d octets overruns the option", t, l)
		}
		if seen[t] {
			return fail(i, "sub-option %d repeated", t)
		}
		seen[t] = true
		switch t {
		case subTicket:
			if l == 0 {
				return fail(i, "empty ticket")
			}
			o.Ticket = v[:l:l]
		case subTraceContext:
			if l == 0 {
				return fail(i, "empty trace context")
			}
			o.TraceContext = string(v)
		case subGateway:
			var port uint16
			switch l {
			case 4, 16:
			case 6, 18:
				port = binary.BigEndian.Uint16(v[l-2:])
				if port == 0 {
					return fail(i, "gateway port 0")
				}
				v = v[:l-2]
			default:
				return fail(i, "gateway of %d octets", l)
			}
			a, _ := netip.AddrFromSlice(v)
			if a.Is4In6() {
				return fail(i, "IPv4-mapped gateway address")
			}
			o.Gateway = netip.AddrPortFrom(a, port)
		}
		i += 2 + l
	}
	return o, nil
}
