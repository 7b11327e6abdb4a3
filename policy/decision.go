package policy

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Decision is the outcome of one policy evaluation. Its JSON form is what
// the admin API's explain command returns.
type Decision struct {
	// Stage is the decision point.
	Stage Stage `json:"stage"`
	// Action is stay or redirect.
	Action Action `json:"action"`
	// Reason is the rule that settled the decision.
	Reason Reason `json:"reason"`
	// Self is the ID of the member that decided.
	Self string `json:"self"`
	// Target is the member that serves the node afterwards: Self for
	// ActionStay, and for a redirect of an anycast request to our own
	// unicast address.
	Target string `json:"target"`
	// Addr is, for ActionRedirect, the target's address to name in the
	// REDIRECT notify (or Home Agent Switch): of the client's address
	// family where the target has one.
	Addr netip.Addr `json:"addr,omitzero"`
	// Port is non-zero when the target is reachable only through a
	// port-forwarding NAT at that UDP port (Member.NATAddrs); zero means
	// the standard IKE ports 500 and 4500.
	Port uint16 `json:"port,omitempty"`
	// ClientSite is the site the client's address maps to, "" if unknown.
	ClientSite string `json:"client_site,omitempty"`
	// Scores is the table the decision was taken on, filled by Explain
	// only: eligible members first, in rank order, then the others.
	Scores []Score `json:"scores,omitempty"`
}

// Score is one member's line in the explain table.
type Score struct {
	Member   string `json:"member"`
	Site     string `json:"site"`
	Self     bool   `json:"self,omitempty"`
	Distance uint32 `json:"distance"`
	Load     int    `json:"load"`
	Capacity int    `json:"capacity"`
	// LoadRatio is Load/Capacity, 1 when Capacity is 0.
	LoadRatio float64 `json:"load_ratio"`
	// Excluded says why the member is not eligible; ExcludedNone if it is.
	Excluded Exclusion `json:"excluded,omitempty"`
	// Rank is the member's position among the eligible members, 1 first;
	// 0 when excluded.
	Rank int `json:"rank,omitempty"`
	// Addr and Port are the address the client would be sent to.
	Addr netip.Addr `json:"addr,omitzero"`
	Port uint16     `json:"port,omitempty"`
}

// Endpoint returns the redirect address as text: "addr" for the standard
// ports, "addr:port" (IPv6 in brackets) for a forwarded port, "" when the
// decision names no address.
func (d Decision) Endpoint() string {
	return endpoint(d.Addr, d.Port)
}

func endpoint(a netip.Addr, port uint16) string {
	switch {
	case !a.IsValid():
		return ""
	case port == 0:
		return a.String()
	}
	return netip.AddrPortFrom(a, port).String()
}

// String summarises the decision on one line, e.g.
// "redirect to ha2 at 2001:db8:2::1 (nearer)" or "stay on ha1 (best)".
func (d Decision) String() string {
	var b strings.Builder
	b.WriteString(d.Action.String())
	if d.Action == ActionRedirect {
		b.WriteString(" to ")
	} else {
		b.WriteString(" on ")
	}
	b.WriteString(d.Target)
	if ep := d.Endpoint(); ep != "" && d.Action == ActionRedirect {
		b.WriteString(" at ")
		b.WriteString(ep)
	}
	b.WriteString(" (")
	b.WriteString(d.Reason.String())
	b.WriteString(")")
	return b.String()
}

// WriteTable renders the decision for an operator: the summary line, the
// stage, deciding member and client site, then one aligned row per member
// of Scores with the chosen one marked.
func (d Decision) WriteTable(w io.Writer) error {
	site := d.ClientSite
	if site == "" {
		site = "unknown"
	}
	if _, err := fmt.Fprintf(w, "%s\nstage %s, decided by %s, client site %s\n", d, d.Stage, d.Self, site); err != nil {
		return err
	}
	if len(d.Scores) == 0 {
		return nil
	}
	var buf strings.Builder
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tSITE\tDISTANCE\tLOAD\tRATIO\tELIGIBLE\tRANK\tADDRESS\t")
	for _, s := range d.Scores {
		name := s.Member
		if s.Self {
			name += " (self)"
		}
		eligible, rank := "yes", strconv.Itoa(s.Rank)
		if s.Excluded != ExcludedNone {
			eligible, rank = "no: "+s.Excluded.String(), "-"
		}
		chosen := ""
		if s.Member == d.Target {
			chosen = "<- chosen"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d/%d\t%.2f\t%s\t%s\t%s\t%s\n",
			name, s.Site, s.Distance, s.Load, s.Capacity, s.LoadRatio, eligible, rank, endpoint(s.Addr, s.Port), chosen)
	}
	tw.Flush() // into a strings.Builder: cannot fail
	for line := range strings.Lines(buf.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

// table scores every member for loc: eligible members in rank order, then
// the excluded ones by distance, load ratio and ID.
func (p *Policy) table(ms []member, loc locator, mode selfMode) []Score {
	type row struct {
		i int
		e eval
	}
	rows := make([]row, len(ms))
	for i := range ms {
		rows[i] = row{i, p.judge(ms, i, loc, mode)}
	}
	slices.SortFunc(rows, func(a, b row) int {
		ea, eb := a.e.excl == ExcludedNone, b.e.excl == ExcludedNone
		switch {
		case ea != eb:
			if ea {
				return -1
			}
			return 1
		case a.i == b.i:
			return 0
		case ea:
			if p.ranksBefore(ms, a.i, a.e.dist, b.i, b.e.dist, loc.key) {
				return -1
			}
			return 1
		}
		return cmp.Or(
			cmp.Compare(a.e.dist, b.e.dist),
			cmp.Compare(ms[a.i].ratio, ms[b.i].ratio),
			cmp.Compare(ms[a.i].id, ms[b.i].id),
		)
	})
	scores := make([]Score, len(rows))
	rank := 0
	for k, r := range rows {
		m := &ms[r.i]
		addr, port, _ := p.reach(m, loc)
		s := Score{
			Member:    m.id,
			Site:      m.siteName,
			Self:      r.i == p.c.self,
			Distance:  r.e.dist,
			Load:      m.load,
			Capacity:  m.capacity,
			LoadRatio: m.ratio,
			Excluded:  r.e.excl,
			Addr:      addr,
			Port:      port,
		}
		if r.e.excl == ExcludedNone {
			rank++
			s.Rank = rank
		}
		scores[k] = s
	}
	return scores
}
