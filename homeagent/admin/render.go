package admin

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"
)

// The human-readable forms of the answers: aligned tables and key-value
// lists, times in UTC (RFC 3339), "-" for an empty value.

func timeText(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return "-"
	}
	return a.String()
}

func addrPortText(a netip.AddrPort) string {
	if !a.IsValid() {
		return "-"
	}
	return a.String()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func join[T fmt.Stringer](items []T) string {
	if len(items) == 0 {
		return "-"
	}
	s := make([]string, len(items))
	for i, it := range items {
		s[i] = it.String()
	}
	return strings.Join(s, ",")
}

// table writes rows aligned in columns, without trailing blanks.
func table(w io.Writer, header string, rows [][]string) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	tw.Flush() // into a strings.Builder: cannot fail
	for line := range strings.Lines(b.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

func writeStatus(w io.Writer, s Status) error {
	health := "healthy"
	if !s.Healthy {
		health = "unhealthy"
	}
	if s.Draining {
		health += ", draining"
	}
	listen := make([]string, len(s.Listen))
	for i, l := range s.Listen {
		listen[i] = l.String()
	}
	rows := [][]string{
		{"member", fmt.Sprintf("%s (site %s)", s.Member, s.Site)},
		{"version", orDash(s.Version)},
		{"started", timeText(s.StartedAt)},
		{"listen", orDash(strings.Join(listen, ", "))},
		{"store", s.Store},
		{"dataplane", s.Dataplane},
		{"health", health},
		{"IKE SAs", fmt.Sprintf("%d (%d half-open)", s.IKESAs, s.HalfOpen)},
		{"CHILD_SAs", fmt.Sprint(s.ChildSAs)},
		{"bindings", fmt.Sprint(s.Bindings)},
		{"leases", fmt.Sprintf("%d of capacity %d", s.Leases, s.Capacity)},
		{"members", fmt.Sprint(s.Members)},
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\n", r[0], r[1])
	}
	tw.Flush()
	_, err := io.WriteString(w, b.String())
	return err
}

func writeBindings(w io.Writer, bs []Binding) error {
	rows := make([][]string, len(bs))
	for i, b := range bs {
		lifetime := "-"
		if b.State != "" {
			lifetime = b.Lifetime.String()
		}
		rows[i] = []string{b.Identity, addrText(b.HoA), addrText(b.CoA), addrPortText(b.Remote), yesNo(b.NAT),
			orDash(b.State), lifetime, timeText(b.Since), b.IKESPI.Initiator.String() + "_i " + b.IKESPI.Responder.String() + "_r",
			childText(b.ChildSAs)}
	}
	return table(w, "IDENTITY\tHOA\tCOA\tREMOTE\tNAT\tSTATE\tLIFETIME\tSINCE\tIKE SPIS\tCHILD SPIS (IN/OUT)", rows)
}

func childText(cs []ChildSA) string {
	if len(cs) == 0 {
		return "-"
	}
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = c.Inbound.String() + "/" + c.Outbound.String()
	}
	return strings.Join(s, ",")
}

func writeLeases(w io.Writer, ls []Lease) error {
	rows := make([][]string, len(ls))
	for i, l := range ls {
		moving := "-"
		if l.MovingTo != "" {
			moving = l.MovingTo + " by " + timeText(l.Deadline)
		}
		rows[i] = []string{addrText(l.HoA), l.Identity, orDash(l.Owner), l.State.String(), moving,
			addrPortText(l.CareOf), timeText(l.UpdatedAt), fmt.Sprint(l.Revision)}
	}
	return table(w, "HOA\tIDENTITY\tOWNER\tSTATE\tMOVING TO\tCARE-OF\tUPDATED\tREVISION", rows)
}

func writeMembers(w io.Writer, ms []Member) error {
	rows := make([][]string, len(ms))
	for i, m := range ms {
		id := m.ID
		if m.Self {
			id += " (self)"
		}
		addrs := join(m.Addrs)
		if len(m.NATAddrs) > 0 {
			addrs += " nat " + join(m.NATAddrs)
		}
		rows[i] = []string{id, m.Site, addrs, fmt.Sprintf("%d/%d", m.Load, m.Capacity), yesNo(m.Healthy),
			yesNo(m.Draining), timeText(m.Heartbeat)}
	}
	return table(w, "MEMBER\tSITE\tADDRESSES\tLOAD\tHEALTHY\tDRAINING\tHEARTBEAT", rows)
}

func writeExplain(w io.Writer, e Explain) error {
	if e.Lease != nil {
		if _, err := fmt.Fprintf(w, "lease %s of %s: %s at %s\n", e.Lease.HoA, e.Lease.Identity, e.Lease.State, orDash(e.Lease.Owner)); err != nil {
			return err
		}
	}
	return e.Decision.WriteTable(w)
}

func writeMove(w io.Writer, m Move) error {
	_, err := fmt.Fprintf(w, "moving %s (%s) from %s to %s at %s by %s; deadline %s\n",
		m.Identity, addrText(m.HoA), m.From, m.To, addrText(m.Addr), m.Method, timeText(m.Deadline))
	if err == nil && m.TraceID != "" {
		_, err = fmt.Fprintf(w, "trace %s\n", m.TraceID)
	}
	return err
}

func writeDrain(w io.Writer, d DrainStatus) error {
	if _, err := fmt.Fprintf(w, "drain %s: moved %d of %d, failed %d, remaining %d, at %g per second\nstarted %s, finished %s\n",
		d.State, d.Moved, d.Total, d.Failed, d.Remaining, d.Rate, timeText(d.StartedAt), timeText(d.FinishedAt)); err != nil {
		return err
	}
	if len(d.Unplaced) > 0 {
		if _, err := fmt.Fprintf(w, "unplaced (no member can take them): %s\n", strings.Join(d.Unplaced, ", ")); err != nil {
			return err
		}
	}
	if d.Error != "" {
		if _, err := fmt.Fprintf(w, "error: %s\n", d.Error); err != nil {
			return err
		}
	}
	return nil
}

// writeDrainProgress writes one line of a drain being followed.
func writeDrainProgress(w io.Writer, d DrainStatus) error {
	_, err := fmt.Fprintf(w, "%s: moved %d of %d, failed %d, remaining %d\n", d.State, d.Moved, d.Total, d.Failed, d.Remaining)
	return err
}

// The same, taking the answer as any, for cli.print.

func writeStatusAny(w io.Writer, v any) error   { return writeStatus(w, v.(Status)) }
func writeBindingsAny(w io.Writer, v any) error { return writeBindings(w, v.(Bindings).Bindings) }
func writeLeasesAny(w io.Writer, v any) error   { return writeLeases(w, v.(Leases).Leases) }
func writeMembersAny(w io.Writer, v any) error  { return writeMembers(w, v.(Members).Members) }
func writeExplainAny(w io.Writer, v any) error  { return writeExplain(w, v.(Explain)) }
func writeMoveAny(w io.Writer, v any) error     { return writeMove(w, v.(Move)) }
func writeDrainAny(w io.Writer, v any) error    { return writeDrain(w, v.(DrainStatus)) }
