package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/mip6ha/mip6ha/homeagent/config"
	"github.com/mip6ha/mip6ha/homeagent/store"
)

// EnvAdminListen is the variable that names the admin API for the CLI: the
// daemon's own admin.listen variable, so that one setting serves both.
const EnvAdminListen = config.EnvPrefix + "_ADMIN_LISTEN"

// Exit statuses of CLI.
const (
	ExitOK    = 0 // the command succeeded
	ExitError = 1 // the home agent refused the request or could not be reached
	ExitUsage = 2 // the command line is wrong
)

// CLI runs `homeagent ctl` with args, the words after "ctl", writing its
// output to stdout and its errors to stderr, and returns the exit status
// (ExitOK, ExitError, ExitUsage). Output is a human-readable table by
// default and JSON with --json. The admin API is found at --admin, else at
// $MIP6HA_ADMIN_LISTEN, else at config.DefaultAdminListen.
//
// A program adds it as a subcommand:
//
//	case "ctl":
//		os.Exit(admin.CLI(os.Args[2:], os.Stdout, os.Stderr))
func CLI(args []string, stdout, stderr io.Writer) int {
	dial := func(addr string) (Backend, error) { return NewClient(addr) }
	return runCLI(args, stdout, stderr, dial, os.Getenv)
}

// cliError marks an error of the home agent or of reaching it (ExitError),
// as opposed to a usage error.
type cliError struct{ err error }

func (e *cliError) Error() string { return e.err.Error() }
func (e *cliError) Unwrap() error { return e.err }

// cli is one run of the command line.
type cli struct {
	stdout   io.Writer
	dial     func(addr string) (Backend, error)
	admin    string
	json     bool
	timeout  time.Duration
	interval time.Duration // drain --wait polling
}

func runCLI(args []string, stdout, stderr io.Writer, dial func(string) (Backend, error), getenv func(string) string) int {
	c := &cli{stdout: stdout, dial: dial}
	root := c.command(getenv)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	fmt.Fprintf(stderr, "homeagent ctl: %v\n", err)
	var ce *cliError
	if errors.As(err, &ce) {
		return ExitError
	}
	fmt.Fprintln(stderr, "Run 'homeagent ctl --help' for usage.")
	return ExitUsage
}

func (c *cli) command(getenv func(string) string) *cobra.Command {
	defAdmin := getenv(EnvAdminListen)
	if defAdmin == "" {
		defAdmin = config.DefaultAdminListen
	}
	root := &cobra.Command{
		Use:   "ctl",
		Short: "Operate a running home agent through its admin API",
		Long: "Operate a running home agent through its admin API (admin.listen).\n" +
			"Output is a table for people, or JSON with --json.",
		SilenceUsage:      true,
		SilenceErrors:     true,
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	pf := root.PersistentFlags()
	pf.StringVar(&c.admin, "admin", defAdmin, "admin API address: unix socket path or 127.0.0.1:PORT (also $"+EnvAdminListen+")")
	pf.BoolVar(&c.json, "json", false, "print JSON instead of a table")
	pf.DurationVar(&c.timeout, "timeout", 10*time.Second, "time allowed for each request")

	root.AddCommand(
		c.simple("status", "Show the home agent's state", func(ctx context.Context, b Backend) (any, func(io.Writer, any) error, error) {
			v, err := b.Status(ctx)
			return v, writeStatusAny, err
		}),
		c.simple("bindings", "List the mobile nodes served here", func(ctx context.Context, b Backend) (any, func(io.Writer, any) error, error) {
			v, err := b.Bindings(ctx)
			return Bindings{Bindings: nonNil(v)}, writeBindingsAny, err
		}),
		c.leasesCommand(),
		c.simple("members", "List the live members of the cluster", func(ctx context.Context, b Backend) (any, func(io.Writer, any) error, error) {
			v, err := b.Members(ctx)
			return Members{Members: nonNil(v)}, writeMembersAny, err
		}),
		c.configCommand(),
		c.explainCommand(),
		c.moveCommand(),
		c.drainCommand(),
	)
	return root
}

// call dials the admin API and runs f with a request context.
func (c *cli) call(f func(ctx context.Context, b Backend) error) error {
	b, err := c.dial(c.admin)
	if err != nil {
		return &cliError{err}
	}
	if cl, ok := b.(*Client); ok {
		defer cl.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if err := f(ctx, b); err != nil {
		return &cliError{err}
	}
	return nil
}

// print writes v as JSON with --json, else with human.
func (c *cli) print(v any, human func(io.Writer, any) error) error {
	if c.json {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	return human(c.stdout, v)
}

// simple is a command without arguments that prints one answer.
func (c *cli) simple(name, short string, get func(context.Context, Backend) (any, func(io.Writer, any) error, error)) *cobra.Command {
	return &cobra.Command{
		Use:   name,
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return c.call(func(ctx context.Context, b Backend) error {
				v, human, err := get(ctx, b)
				if err != nil {
					return err
				}
				return c.print(v, human)
			})
		},
	}
}

func (c *cli) leasesCommand() *cobra.Command {
	var f store.Filter
	var state string
	cmd := &cobra.Command{
		Use:   "leases",
		Short: "List the leases of the store",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if state != "" {
				if err := f.State.UnmarshalText([]byte(state)); err != nil {
					return fmt.Errorf("--state %q is not bound, moving or released", state)
				}
			}
			return c.call(func(ctx context.Context, b Backend) error {
				v, err := b.Leases(ctx, f)
				if err != nil {
					return err
				}
				return c.print(Leases{Leases: nonNil(v)}, writeLeasesAny)
			})
		},
	}
	cmd.Flags().StringVar(&f.Owner, "owner", "", "only the leases this member owns")
	cmd.Flags().StringVar(&f.Identity, "identity", "", "only the leases of this identity")
	cmd.Flags().StringVar(&state, "state", "", "only leases in this state: bound, moving or released")
	return cmd
}

func (c *cli) configCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "Show the configuration in force, secrets redacted (YAML, or JSON with --json)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return c.call(func(ctx context.Context, b Backend) error {
				cfg, err := b.Config(ctx)
				if err != nil {
					return err
				}
				f := config.FormatYAML
				if c.json {
					f = config.FormatJSON
				}
				out, err := cfg.Effective(f)
				if err != nil {
					return err
				}
				_, err = c.stdout.Write(out)
				return err
			})
		},
	}
}

func (c *cli) explainCommand() *cobra.Command {
	var r ExplainRequest
	var redirectedFrom string
	cmd := &cobra.Command{
		Use:   "explain LOCATOR",
		Short: "Explain where a client at LOCATOR (its outer address) would be served, and why",
		Long: "Explain where a client at LOCATOR (its outer address after NAT) would be\n" +
			"served: the placement decision and the scored table it was taken on, on the\n" +
			"live view of the cluster. With --identity, the decision at IKE_AUTH, where\n" +
			"the identity's lease counts, or, for a node bound here, the re-evaluation of\n" +
			"its binding from that locator.",
		Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			var err error
			if r.Locator, err = netip.ParseAddr(args[0]); err != nil {
				return fmt.Errorf("locator %q is not an IP address", args[0])
			}
			if redirectedFrom != "" {
				if r.RedirectedFrom, err = netip.ParseAddr(redirectedFrom); err != nil {
					return fmt.Errorf("--redirected-from %q is not an IP address", redirectedFrom)
				}
			}
			return c.call(func(ctx context.Context, b Backend) error {
				e, err := b.Explain(ctx, r)
				if err != nil {
					return err
				}
				return c.print(e, writeExplainAny)
			})
		},
	}
	cmd.Flags().StringVar(&r.Identity, "identity", "", "the client's IKE identity")
	cmd.Flags().BoolVar(&r.Anycast, "anycast", false, "the client reached the anycast address")
	cmd.Flags().StringVar(&redirectedFrom, "redirected-from", "", "the address in the client's REDIRECTED_FROM")
	return cmd
}

func (c *cli) moveCommand() *cobra.Command {
	var r MoveRequest
	cmd := &cobra.Command{
		Use:   "move (HOA | IDENTITY | --identity IDENTITY) [--to MEMBER]",
		Short: "Move one node to another member, make-before-break",
		Long: "Move one node to another member, make-before-break: a Home Agent Switch\n" +
			"for a Mobile IPv6 node, an IKEv2 REDIRECT for a VPN-only peer. An argument\n" +
			"that is an IP address is a home address; an identity that is an address is\n" +
			"given with --identity. Without --to (or with --to best) the placement policy\n" +
			"picks the member, as a drain does.",
		Args: cobra.MaximumNArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if len(args) == 1 {
				if r.Identity != "" {
					return errors.New("give the node as an argument or with --identity, not both")
				}
				if a, err := netip.ParseAddr(args[0]); err == nil {
					r.HoA = a
				} else {
					r.Identity = args[0]
				}
			}
			if err := r.Validate(); err != nil {
				return err
			}
			return c.call(func(ctx context.Context, b Backend) error {
				m, err := b.Move(ctx, r)
				if err != nil {
					return err
				}
				return c.print(m, writeMoveAny)
			})
		},
	}
	cmd.Flags().StringVar(&r.Identity, "identity", "", "the node's IKE identity")
	cmd.Flags().StringVar(&r.To, "to", "", `the member to move it to; empty or "best": the placement policy chooses`)
	return cmd
}

func (c *cli) drainCommand() *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "drain",
		Short: "Move every node away at the drain rate and take no new ones",
		Long: "Move every node away at the drain rate (cluster.drain_rate) and take no\n" +
			"new ones. With --wait, follow the progress until the drain ends.\n" +
			"'drain status' shows the progress, 'drain cancel' stops the drain.",
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			return c.call(func(ctx context.Context, b Backend) error {
				d, err := b.Drain(ctx)
				if err != nil {
					return err
				}
				if !wait {
					return c.print(d, writeDrainAny)
				}
				return c.waitDrain(b, d)
			})
		},
	}
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the drain until it ends, asking every --interval")
	cmd.Flags().DurationVar(&c.interval, "interval", time.Second, "with --wait, how often to ask for progress")
	cmd.AddCommand(
		c.simple("status", "Show the progress of the latest drain", func(ctx context.Context, b Backend) (any, func(io.Writer, any) error, error) {
			v, err := b.DrainStatus(ctx)
			return v, writeDrainAny, err
		}),
		c.simple("cancel", "Stop the drain and take new nodes again", func(ctx context.Context, b Backend) (any, func(io.Writer, any) error, error) {
			v, err := b.CancelDrain(ctx)
			return v, writeDrainAny, err
		}),
	)
	return cmd
}

// waitDrain polls the drain's progress until it is no longer running,
// printing each change (a table line per poll, or the final JSON).
func (c *cli) waitDrain(b Backend, d DrainStatus) error {
	if !c.json {
		if err := writeDrainProgress(c.stdout, d); err != nil {
			return err
		}
	}
	tick := time.NewTicker(max(c.interval, time.Millisecond))
	defer tick.Stop()
	for d.State == DrainRunning {
		<-tick.C
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		next, err := b.DrainStatus(ctx)
		cancel()
		if err != nil {
			return err
		}
		if !c.json && (next.Moved != d.Moved || next.Failed != d.Failed || next.State != d.State) {
			if err := writeDrainProgress(c.stdout, next); err != nil {
				return err
			}
		}
		d = next
	}
	return c.print(d, writeDrainAny)
}
