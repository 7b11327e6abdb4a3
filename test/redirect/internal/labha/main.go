// Command labha is the home agent of the redirect acceptance tests: the
// home agent service (homeagent.NewService, as `homeagent run` builds it)
// with the RFC 5685 settings a test needs that the configuration file does
// not hold yet: a static view of the cluster (until the cluster store gives
// the live one), where identities are served, the handover ticket key, and
// redirects of established IKE SAs on command.
//
//	labha --config FILE [homeagent run flags] [--member ID=ADDRESS]... [--draining]
//	      [--identity-member IDENTITY=MEMBER]... [--ticket-key-file FILE]
//
// It reads commands from standard input, one per line, and answers each
// with one JSON line on standard output:
//
//	redirect IDENTITY TARGET   redirect the established IKE SAs of IDENTITY
//	                           (RFC 5685 §5) to TARGET (address, ADDRESS:PORT,
//	                           [IPv6]:PORT or domain name)
//	                           -> {"command":"redirect","redirected":N,"error":"..."}
//	counts                     -> {"command":"counts","counts":[{Stage,Reason,Count}]}
//
// Logs go to standard error as `homeagent run` writes them. SIGINT and
// SIGTERM stop it gracefully.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/mip6ha/mip6ha/homeagent"
	"github.com/mip6ha/mip6ha/homeagent/config"
	"github.com/mip6ha/mip6ha/homeagent/telemetry"
	"github.com/mip6ha/mip6ha/ike"
	"github.com/mip6ha/mip6ha/policy"
)

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// flags are labha's own settings.
type flags struct {
	members, identityMembers []string
	draining                 bool
	ticketKeyFile            string
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("labha", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var f flags
	fs.StringArrayVar(&f.members, "member", nil, "cluster member `ID=ADDRESS` or ID=ADDRESS:PORT (a forwarded NAT-T port); repeatable")
	fs.StringArrayVar(&f.identityMembers, "identity-member", nil, "`IDENTITY=MEMBER`: the member serving an identity; repeatable")
	fs.BoolVar(&f.draining, "draining", false, "this member takes no new nodes")
	fs.StringVar(&f.ticketKeyFile, "ticket-key-file", "", "`file` with the handover ticket key the home agents share")
	config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.Load(config.LoadOptions{Flags: fs})
	if err != nil {
		fmt.Fprintln(stderr, "labha:", err)
		return 2
	}
	ro, err := f.redirectOptions(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "labha:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	tc := cfg.TelemetryConfig("labha")
	tc.LogOutput = stderr
	tel, err := telemetry.Setup(ctx, tc)
	if err != nil {
		fmt.Fprintln(stderr, "labha: telemetry:", err)
		return 1
	}
	defer tel.Shutdown(context.Background())
	svc, err := homeagent.NewService(cfg, homeagent.ServiceOptions{Telemetry: tel, Version: "labha", Redirect: ro})
	if err != nil {
		tel.Logger().Error("home agent not started", "err", err)
		return 1
	}
	go serveCommands(ctx, svc.Runtime(), stdin, stdout)
	if err := svc.Run(ctx); err != nil {
		tel.Logger().Error("home agent failed", "err", err)
		return 1
	}
	return 0
}

// redirectOptions builds the service's RFC 5685 wiring: the configuration's
// anycast addresses and grace period, a static view of the members given,
// the identities' members and the ticket key.
func (f *flags) redirectOptions(cfg *config.Config) (*homeagent.RedirectOptions, error) {
	ro := &homeagent.RedirectOptions{Anycast: cfg.Anycast(), Grace: cfg.IKE.Redirect.Grace, Member: cfg.Cluster.MemberID}
	if len(f.members) > 0 {
		v := policy.View{Self: cfg.Cluster.MemberID}
		index := map[string]int{}
		for _, m := range f.members {
			id, addr, ok := strings.Cut(m, "=")
			if !ok || id == "" {
				return nil, fmt.Errorf("--member %q: not ID=ADDRESS", m)
			}
			i, seen := index[id]
			if !seen {
				i = len(v.Members)
				index[id] = i
				v.Members = append(v.Members, policy.Member{ID: id, Site: "lab", Capacity: 1000, Healthy: true,
					Draining: f.draining && id == cfg.Cluster.MemberID})
			}
			if a, err := netip.ParseAddr(addr); err == nil {
				v.Members[i].Addrs = append(v.Members[i].Addrs, a)
			} else if ap, err := netip.ParseAddrPort(addr); err == nil {
				v.Members[i].NATAddrs = append(v.Members[i].NATAddrs, ap)
			} else {
				return nil, fmt.Errorf("--member %q: not an address or address:port", m)
			}
		}
		view, err := homeagent.NewStaticView(cfg.PolicyConfig(), v)
		if err != nil {
			return nil, fmt.Errorf("--member: %w", err)
		}
		ro.View = view
	}
	if len(f.identityMembers) > 0 {
		leases := homeagent.StaticLeases{}
		for _, im := range f.identityMembers {
			idText, member, ok := strings.Cut(im, "=")
			id, err := config.ParseIdentity(idText)
			if !ok || err != nil {
				return nil, fmt.Errorf("--identity-member %q: not IDENTITY=MEMBER", im)
			}
			leases[id] = member
		}
		ro.Leases = leases
	}
	if f.ticketKeyFile != "" {
		b, err := os.ReadFile(f.ticketKeyFile)
		if err != nil {
			return nil, fmt.Errorf("--ticket-key-file: %w", err)
		}
		if ro.TicketKey, err = homeagent.ParseSecret(strings.TrimSpace(string(b))); err != nil {
			return nil, fmt.Errorf("--ticket-key-file: %w", err)
		}
	}
	return ro, nil
}

// answer is one line of labha's standard output.
type answer struct {
	Command    string                    `json:"command"`
	Redirected int                       `json:"redirected,omitempty"`
	Counts     []homeagent.RedirectCount `json:"counts,omitempty"`
	Error      string                    `json:"error,omitempty"`
}

// serveCommands runs the commands of standard input until it ends.
func serveCommands(ctx context.Context, rt *homeagent.Runtime, in io.Reader, out io.Writer) {
	enc := json.NewEncoder(out)
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		a := answer{Command: f[0]}
		var err error
		switch {
		case f[0] == "redirect" && len(f) == 3:
			a.Redirected, err = redirect(ctx, rt, f[1], f[2])
		case f[0] == "counts" && len(f) == 1:
			a.Counts = rt.RedirectCounts()
		default:
			err = errors.New("usage: redirect IDENTITY TARGET | counts")
		}
		if err != nil {
			a.Error = err.Error()
		}
		_ = enc.Encode(a)
	}
}

func redirect(ctx context.Context, rt *homeagent.Runtime, identity, target string) (int, error) {
	id, err := config.ParseIdentity(identity)
	if err != nil {
		return 0, err
	}
	gw, err := homeagent.ParseGateway(target)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return rt.RedirectPeer(ctx, id, ike.RedirectTarget{Gateway: gw})
}
