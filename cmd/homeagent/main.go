// Command homeagent is the mip6ha Mobile IPv6 home agent daemon and its
// operator command line.
//
//	homeagent run [--config FILE] [flags]   run the home agent
//	homeagent ctl [--admin ADDR] COMMAND    talk to a running one (status, bindings, leases, ...)
//	homeagent version                       print the version
//
// `homeagent run` takes its configuration from defaults, a YAML file, MIP6HA_*
// environment variables and flags (package homeagent/config,
// docs/configuration.md). With none of them it starts on the embedded
// defaults: IKE on UDP 500 and 4500 of every address, the embedded lease
// store in /var/lib/mip6ha, the admin API on /run/mip6ha/admin.sock and
// metrics on 127.0.0.1:9464. `homeagent run -h` lists the flags.
//
// Exit status: 0 after a graceful stop, 1 when the home agent could not
// start or failed while running, 2 for a command line or configuration
// that is not valid (every problem is printed, each naming its key, before
// anything starts).
//
// Signals: SIGINT and SIGTERM stop it gracefully (every IKE SA is deleted
// and the peers are told, bindings end, the home link's routes and proxy
// entries are withdrawn, the store is flushed and closed, telemetry is
// flushed); SIGUSR1 rekeys every IKE SA, SIGUSR2 every CHILD_SA. See
// docs/operations.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"go.opentelemetry.io/otel"

	"github.com/mip6ha/mip6ha/homeagent"
	"github.com/mip6ha/mip6ha/homeagent/admin"
	"github.com/mip6ha/mip6ha/homeagent/config"
	"github.com/mip6ha/mip6ha/homeagent/telemetry"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

const usage = `usage:
  homeagent run [--config FILE] [flags]   run the home agent (homeagent run -h lists the flags)
  homeagent ctl [--admin ADDR] COMMAND    talk to a running home agent (homeagent ctl -h)
  homeagent version                       print the version
`

func main() {
	os.Exit(command(os.Args[1:], os.Stdout, os.Stderr))
}

// command runs the command line args and returns the exit status.
func command(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return run(args[1:], stderr)
	case "ctl":
		return admin.CLI(args[1:], stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, version())
		return exitOK
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "homeagent: unknown command %q\n%s", args[0], usage)
	return exitUsage
}

// version is the module version the binary was built from.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// run is `homeagent run`.
func run(args []string, stderr io.Writer) int {
	fs := pflag.NewFlagSet("homeagent run", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return exitOK
		}
		fmt.Fprintf(stderr, "homeagent run: %v (homeagent run -h lists the flags)\n", err)
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "homeagent run: unexpected arguments %q\n", fs.Args())
		return exitUsage
	}
	cfg, err := config.Load(config.LoadOptions{Flags: fs})
	if err != nil {
		printConfigErrors(stderr, err)
		return exitUsage
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	tc := cfg.TelemetryConfig(version())
	tc.LogOutput = stderr
	tel, err := telemetry.Setup(ctx, tc)
	if err != nil {
		fmt.Fprintln(stderr, "homeagent: telemetry:", err)
		return exitFailure
	}
	log := tel.Logger()
	otel.SetErrorHandler(telemetry.ErrorHandler(log))
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(flushCtx); err != nil {
			log.Warn("telemetry not flushed", "err", err)
		}
	}()

	svc, err := homeagent.NewService(cfg, homeagent.ServiceOptions{Telemetry: tel, Version: version()})
	if err != nil {
		log.Error("home agent not started", "err", err)
		return exitFailure
	}
	if cfg.IKE.KeyLogFile != "" {
		log.Warn("key log on: IKE SA keys are written to a file", "file", cfg.IKE.KeyLogFile)
	}
	if addr := tel.MetricsAddr(); addr != nil {
		log.Info("metrics listening", "url", "http://"+addr.String()+"/metrics")
	}
	done := make(chan struct{})
	defer close(done)
	go rekeyOnSignal(ctx, svc.Runtime(), log, done)
	if err := svc.Run(ctx); err != nil {
		log.Error("home agent failed", "err", err)
		return exitFailure
	}
	return exitOK
}

// printConfigErrors prints every configuration problem on its own line.
func printConfigErrors(w io.Writer, err error) {
	kes := config.KeyErrors(err)
	if len(kes) == 0 {
		fmt.Fprintln(w, "homeagent:", err)
		return
	}
	for _, ke := range kes {
		fmt.Fprintln(w, ke.Error())
	}
	fmt.Fprintf(w, "homeagent: %d configuration problem(s); nothing was started\n", len(kes))
}

// rekeyOnSignal rekeys every IKE SA on SIGUSR1 and every CHILD_SA on
// SIGUSR2, until done is closed.
func rekeyOnSignal(ctx context.Context, rt *homeagent.Runtime, log *slog.Logger, done <-chan struct{}) {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(sigs)
	for {
		select {
		case sig := <-sigs:
			n, err := rt.RekeyAll(ctx, sig == syscall.SIGUSR1)
			log.Info("rekey requested", "signal", sig.String(), "ike_sas", sig == syscall.SIGUSR1, "started", n, "err", err)
		case <-done:
			return
		}
	}
}
