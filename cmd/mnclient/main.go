// Command mnclient is the mobile node test client.
//
//	mnclient attach --ha HOST[:PORT] --id IDENTITY --psk-file FILE [--hoa ADDR] [--tun NAME] [--keylog FILE] [--force-encap]
//	mnclient attach --ha HOST --id IDENTITY --cert FILE --key FILE --ca FILE --ha-id IDENTITY
//
// It sets up an IKE SA and a CHILD_SA with the home agent as initiator,
// configures the inner address it is given (CFG_REPLY) on a TUN device,
// routes the CHILD_SA's remote selectors into it, and prints one JSON line
// per event on standard output: tun, attached, nat_detected, home_address,
// child_installed, child_rekeyed, child_deleted, ike_rekeyed, peer_moved,
// detached, error. Logs go to standard error.
//
// Signals: SIGUSR1 rekeys the IKE SA, SIGUSR2 the CHILD_SAs, SIGHUP checks
// the home agent's liveness; SIGINT and SIGTERM detach (delete the IKE SA,
// wait for the answer) and exit. The exit status is 0 after a detach we
// asked for, 1 when the home agent ended the SA or it failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mip6ha/mip6ha/homeagent"
	"github.com/mip6ha/mip6ha/test/mnclient"
)

type prefixes []netip.Prefix

func (p *prefixes) String() string { return fmt.Sprint(*p) }
func (p *prefixes) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		x, err := netip.ParsePrefix(strings.TrimSpace(s))
		if err != nil {
			return err
		}
		*p = append(*p, x)
	}
	return nil
}

func main() {
	if len(os.Args) < 2 || os.Args[1] != "attach" {
		fmt.Fprintln(os.Stderr, "usage: mnclient attach --ha HOST[:PORT] --id IDENTITY --psk-file FILE ...   (mnclient attach -h lists the flags)")
		os.Exit(2)
	}
	var (
		cfg      = mnclient.Config{ForceEncap: true}
		log      = homeagent.DefaultConfig()
		pskFile  string
		hoa      string
		remoteTS prefixes
		natt     uint
	)
	fs := flag.NewFlagSet("mnclient attach", flag.ExitOnError)
	fs.StringVar(&cfg.HA, "ha", "", "home agent `HOST[:PORT]`")
	fs.UintVar(&natt, "ha-natt-port", 0, "home agent's NAT-T `port` (default 4500)")
	fs.StringVar(&cfg.HAID, "ha-id", "", "`identity` the home agent must prove (default: any our credentials accept)")
	fs.StringVar(&cfg.ID, "id", "", "our IKE `identity`")
	fs.StringVar(&pskFile, "psk-file", "", "`file` holding the pre-shared key (0xHEX, \"quoted\" or plain text)")
	fs.StringVar(&cfg.Cert, "cert", "", "our certificate chain, PEM `file`")
	fs.StringVar(&cfg.Key, "key", "", "its private key, PEM `file`")
	fs.StringVar(&cfg.CA, "ca", "", "CA certificates the home agent's certificate must chain to, PEM `file`")
	fs.StringVar(&hoa, "hoa", "", "home `address` to ask for (default: any)")
	fs.BoolVar(&cfg.IPv4, "ipv4", false, "also ask for an inner IPv4 address")
	fs.Var(&remoteTS, "remote-ts", "`prefix` to reach through the home agent (repeatable; default ::/0)")
	fs.StringVar(&cfg.TUN, "tun", "mn0", "TUN device `name`")
	fs.IntVar(&cfg.MTU, "mtu", 0, "TUN device `MTU` (default 1400)")
	fs.StringVar(&cfg.KeyLog, "keylog", "", "append IKE SA keys for tshark to `file`")
	fs.BoolVar(&cfg.ForceEncap, "force-encap", true, "force UDP encapsulation of ESP")
	fs.IntVar(&cfg.IKEPort, "ike-port", 0, "our IKE `port` (default 500)")
	fs.IntVar(&cfg.NATTPort, "natt-port", 0, "our NAT-T `port` (default 4500)")
	fs.StringVar(&log.LogLevel, "log-level", "info", "log `level` on standard error: debug, info, warn, error")
	fs.StringVar(&log.LogFormat, "log-format", "text", "log `format`: text or json")
	_ = fs.Parse(os.Args[2:])
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "mnclient:", err)
		os.Exit(2)
	}
	if cfg.IKEPort != 0 || cfg.NATTPort != 0 {
		cfg.IKEPort, cfg.NATTPort = or(cfg.IKEPort, 500), or(cfg.NATTPort, 4500)
	}
	cfg.HANATTPort = uint16(natt)
	cfg.RemoteTS = remoteTS
	if hoa != "" {
		a, err := netip.ParseAddr(hoa)
		if err != nil {
			fail(fmt.Errorf("--hoa: %w", err))
		}
		cfg.HoA = a
	}
	if pskFile != "" {
		b, err := os.ReadFile(pskFile)
		if err != nil {
			fail(err)
		}
		if cfg.PSK, err = homeagent.ParseSecret(string(b)); err != nil {
			fail(fmt.Errorf("--psk-file: %w", err))
		}
	}
	if cfg.PSK == nil && cfg.Cert == "" {
		fail(errors.New("no credentials: --psk-file, or --cert, --key and --ca"))
	}
	logger, err := log.NewLogger(os.Stderr)
	if err != nil {
		fail(err)
	}
	cfg.Logger = logger
	cfg.Events = mnclient.JSONLines(os.Stdout)

	c, err := mnclient.New(cfg)
	if err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cmds := make(chan os.Signal, 4)
	signal.Notify(cmds, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGHUP)
	go func() {
		for sig := range cmds {
			var err error
			switch sig {
			case syscall.SIGUSR1:
				err = c.RekeyIKE(ctx)
			case syscall.SIGUSR2:
				err = c.RekeyChild(ctx)
			case syscall.SIGHUP:
				err = c.CheckLiveness(ctx)
			}
			if err != nil {
				cfg.Events(mnclient.Event{Event: mnclient.EventError, Error: fmt.Sprintf("%v: %v", sig, err)})
			}
		}
	}()
	if err := c.Run(ctx); err != nil {
		logger.Error("mnclient stopped", "err", err)
		os.Exit(1)
	}
}

func or(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
