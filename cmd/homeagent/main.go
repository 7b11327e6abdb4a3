// Command homeagent runs the mip6ha Mobile IPv6 home agent.
//
//	homeagent run [flags]
//
// With no flags it serves IKEv2 on every address, ports 500 and 4500, over a
// TUN device named mip6ha0, and logs that no peer can authenticate until
// credentials are configured (-psk-file, or -cert/-key/-ca). Every flag is a
// key of homeagent.Config; `homeagent run -h` lists them. See
// docs/operations.md.
//
// Signals: SIGINT and SIGTERM stop it gracefully (every IKE SA is deleted,
// the peers are told); SIGUSR1 rekeys every IKE SA, SIGUSR2 every CHILD_SA.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/mip6ha/mip6ha/homeagent"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "run" {
		fmt.Fprintln(os.Stderr, "usage: homeagent run [flags]   (homeagent run -h lists the flags)")
		os.Exit(2)
	}
	cfg := homeagent.DefaultConfig()
	fs := flag.NewFlagSet("homeagent run", flag.ExitOnError)
	cfg.RegisterFlags(fs)
	_ = fs.Parse(os.Args[2:])
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "homeagent run: unexpected arguments %q\n", fs.Args())
		os.Exit(2)
	}
	log, err := cfg.NewLogger(os.Stderr)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "homeagent:", err)
		os.Exit(2)
	}
	if err := run(cfg, log); err != nil {
		log.Error("home agent stopped", "err", err)
		var ce *homeagent.ConfigError
		if errors.As(err, &ce) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func run(cfg homeagent.Config, log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rt, err := homeagent.New(cfg, homeagent.Options{Logger: log})
	if err != nil {
		return err
	}
	if cfg.IPv6Prefix == "" && cfg.IPv4Pool == "" {
		log.Info("no ipv6-prefix or ipv4-pool: address requests are answered with INTERNAL_ADDRESS_FAILURE")
	}
	if cfg.KeyLog != "" {
		log.Warn("key log on: IKE SA keys are written to a file", "keylog", cfg.KeyLog)
	}
	rekeys := make(chan os.Signal, 4)
	signal.Notify(rekeys, syscall.SIGUSR1, syscall.SIGUSR2)
	defer signal.Stop(rekeys)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case sig := <-rekeys:
				n, err := rt.RekeyAll(ctx, sig == syscall.SIGUSR1)
				log.Info("rekey requested", "signal", sig.String(), "ike_sas", sig == syscall.SIGUSR1, "started", n, "err", err)
			case <-done:
				return
			}
		}
	}()
	err = rt.Run(ctx)
	close(done)
	return err
}
