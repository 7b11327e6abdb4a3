// Command mnclient is the mobile node test client.
//
//	mnclient attach --ha HOST[:PORT] --id IDENTITY --psk-file FILE [--hoa ADDR] [--tun NAME] [--ha-addr ADDR] ...
//	mnclient attach --ha HOST --id IDENTITY --cert FILE --key FILE --ca FILE --ha-id IDENTITY
//	mnclient bulk --ha HOST[:PORT] --count N --id-template 'mn{n}@example.net' --psk-file FILE [--rate R] [--concurrency C] [--duration D] [--json]
//
// attach sets up an IKE SA and a CHILD_SA with the home agent as initiator,
// configures the home address it is given (CFG_REPLY) on a TUN device,
// routes the CHILD_SA's remote selectors into it, registers its binding
// with Binding Updates inside the tunnel (RFC 4877), refreshes it, follows
// its care-of address when its addresses or routes change, and prints one
// JSON line per event on standard output (docs/mnclient.md lists them).
// Logs go to standard error.
//
// Signals to attach: SIGHUP re-evaluates the care-of address and signals
// it to the home agent (a Binding Update and an empty INFORMATIONAL, also
// a liveness check); SIGUSR1 rekeys the IKE SA, SIGUSR2 the CHILD_SAs;
// SIGINT and SIGTERM detach (deregister, delete the IKE SA, wait for the
// answers) and exit. The exit status is 0 after a detach we asked for, 1
// when the home agent ended the SA or it failed, 2 for bad usage.
//
// A Home Agent Switch (RFC 5142) from the home agent moves the node to the
// home agent it names, make-before-break, keeping the home address (an
// event "switched" reports it); RFC 5685 redirects are followed
// (--redirect-extensions announces the project's tickets and ports to our
// own home agents). With --reattach a node that loses its home agent (with
// --liveness checks) attaches again at the next home agent it knows
// (--ha, then --reattach-ha), asking for its home address. With
// --otlp-endpoint the spans of the attachment and of every move go to an
// OTLP collector (service mip6ha-mnclient), joined to the home agents'
// trace of the move.
//
// bulk simulates many mobile nodes from one process, one identity each
// (mnclient.Bulk), and prints a summary; see docs/mnclient.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/mip6ha/mip6ha/homeagent/telemetry"
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

// list is a repeatable flag of comma-separated values.
type list []string

func (l *list) String() string { return strings.Join(*l, ",") }
func (l *list) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

const usage = `usage:
  mnclient attach --ha HOST[:PORT] --id IDENTITY --psk-file FILE ...   (mnclient attach -h lists the flags)
  mnclient bulk --ha HOST[:PORT] --count N --id-template 'mn{n}@example.net' --psk-file FILE ...   (mnclient bulk -h)`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "attach":
		os.Exit(attach(os.Args[2:]))
	case "bulk":
		os.Exit(bulk(os.Args[2:]))
	default:
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
}

// common are the flags attach and bulk share.
type common struct {
	cfg       mnclient.Config
	pskFile   string
	remoteTS  prefixes
	natt      uint
	haAddr    string
	logLevel  string
	logFormat string
	allow     list
	reattach  list
	tel       telemetry.Config
	otlpProto string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.cfg.HA, "ha", "", "home agent `HOST[:PORT]`")
	fs.UintVar(&c.natt, "ha-natt-port", 0, "home agent's NAT-T `port` (default 4500)")
	fs.StringVar(&c.cfg.HAID, "ha-id", "", "`identity` the home agent must prove (default: any our credentials accept)")
	fs.StringVar(&c.haAddr, "ha-addr", "", "home agent `address` Binding Updates go to (default: the --ha address if IPv6; needed with an IPv4 --ha)")
	fs.StringVar(&c.pskFile, "psk-file", "", "`file` holding the pre-shared key (0xHEX, \"quoted\" or plain text)")
	fs.StringVar(&c.cfg.Cert, "cert", "", "our certificate chain, PEM `file`")
	fs.StringVar(&c.cfg.Key, "key", "", "its private key, PEM `file`")
	fs.StringVar(&c.cfg.CA, "ca", "", "CA certificates the home agent's certificate must chain to, PEM `file`")
	fs.BoolVar(&c.cfg.NoBinding, "no-binding", false, "attach without registering a binding (a gateway without Mobile IPv6)")
	fs.DurationVar(&c.cfg.Lifetime, "lifetime", 0, "binding `lifetime` to request (default 10m)")
	fs.BoolVar(&c.cfg.ForceEncap, "force-encap", true, "force UDP encapsulation of ESP")
	fs.StringVar(&c.logLevel, "log-level", "info", "log `level` on standard error: debug, info, warn, error")
	fs.StringVar(&c.logFormat, "log-format", "text", "log `format` on standard error: text or json")
	fs.BoolVar(&c.cfg.Redirect.Disable, "no-redirect", false, "do not announce REDIRECT_SUPPORTED (RFC 5685): no gateway redirects us")
	fs.BoolVar(&c.cfg.Redirect.Extensions, "redirect-extensions", false,
		"announce the project's private redirect extensions (targets with a port, handover tickets): for our own home agents")
	fs.IntVar(&c.cfg.Redirect.MaxRedirects, "max-redirects", 0,
		"redirects followed within --redirect-loop-period before giving up (RFC 5685 MAX_REDIRECTS; default 5)")
	fs.DurationVar(&c.cfg.Redirect.LoopDetectPeriod, "redirect-loop-period", 0,
		"the `period` --max-redirects counts over (RFC 5685 REDIRECT_LOOP_DETECT_PERIOD; default 5m)")
	fs.Var(&c.allow, "redirect-allow", "`gateway` (address, prefix, name or .suffix) a redirect or Home Agent Switch may send us to (repeatable; default any)")
	fs.BoolVar(&c.cfg.Reattach.Enable, "reattach", false,
		"attach again, keeping the home address, when the home agent is lost (its IKE SA ended without our asking)")
	fs.Var(&c.reattach, "reattach-ha", "more home agent `HOST[:PORT]`s to try when re-attaching, after --ha (repeatable)")
	fs.DurationVar(&c.cfg.LivenessInterval, "liveness", 0, "check the home agent is alive after this `long` without IKE messages (default: never)")
	fs.DurationVar(&c.cfg.Retransmit.Timeout, "ike-timeout", 0, "first IKE retransmission `timeout` (default 4s, growing 1.8 times)")
	fs.IntVar(&c.cfg.Retransmit.Tries, "ike-tries", 0, "IKE retransmissions before a request fails (default 5)")
	fs.StringVar(&c.tel.OTLPEndpoint, "otlp-endpoint", "", "send spans over OTLP to `host:port` or an http(s) URL (default: no tracing)")
	fs.StringVar(&c.otlpProto, "otlp-protocol", string(telemetry.ProtocolHTTP), "OTLP `transport`: http or grpc")
	fs.BoolVar(&c.tel.Insecure, "otlp-insecure", false, "OTLP without TLS to a host:port endpoint (a URL's scheme decides on its own)")
}

// finish checks the shared flags and fills in cfg.
func (c *common) finish() error {
	c.cfg.HANATTPort = uint16(c.natt)
	c.cfg.RemoteTS = c.remoteTS
	c.cfg.Redirect.Allow = c.allow
	c.cfg.Reattach.HAs = c.reattach
	if c.cfg.Retransmit.Timeout < 0 || c.cfg.Retransmit.Tries < 0 {
		return errors.New("--ike-timeout and --ike-tries must not be negative")
	}
	if c.haAddr != "" {
		a, err := netip.ParseAddr(c.haAddr)
		if err != nil {
			return fmt.Errorf("--ha-addr: %w", err)
		}
		c.cfg.HAAddr = a
	}
	if c.pskFile != "" {
		k, err := mnclient.ReadPSKFile(c.pskFile)
		if err != nil {
			return fmt.Errorf("--psk-file: %w", err)
		}
		c.cfg.PSK = k
	}
	if c.cfg.PSK == nil && c.cfg.Cert == "" {
		return errors.New("no credentials: --psk-file, or --cert, --key and --ca")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	var w io.Writer = os.Stderr
	switch c.logFormat {
	case "json":
		c.cfg.Logger = slog.New(slog.NewJSONHandler(w, opts))
	case "text":
		c.cfg.Logger = slog.New(slog.NewTextHandler(w, opts))
	default:
		return fmt.Errorf("--log-format: %q is neither text nor json", c.logFormat)
	}
	c.tel.ServiceName = "mip6ha-mnclient"
	c.tel.OTLPProtocol = telemetry.Protocol(c.otlpProto)
	c.tel.ExportDelay = time.Second // a client has few spans: show them soon
	if err := c.tel.Validate(); err != nil {
		return err
	}
	return nil
}

// startTelemetry exports the client's spans when --otlp-endpoint is given
// (service mip6ha-mnclient, instance = instance); the returned function
// flushes and stops the export.
func (c *common) startTelemetry(instance string) (stop func(), err error) {
	if c.tel.OTLPEndpoint == "" {
		return func() {}, nil
	}
	c.tel.ServiceInstance = instance
	c.tel.LogOutput = io.Discard // the client logs through its own logger
	tel, err := telemetry.Setup(context.Background(), c.tel)
	if err != nil {
		return nil, err
	}
	otel.SetErrorHandler(telemetry.ErrorHandler(c.cfg.Logger))
	c.cfg.TracerProvider = tel.TracerProvider()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tel.Shutdown(ctx); err != nil {
			c.cfg.Logger.Warn("spans not all exported", "err", err)
		}
	}, nil
}

// fail reports a usage or set-up error (the library's errors name the
// package already) and returns exit status 2.
func fail(err error) int {
	msg := err.Error()
	if !strings.HasPrefix(msg, "mnclient") {
		msg = "mnclient: " + msg
	}
	fmt.Fprintln(os.Stderr, msg)
	return 2
}

func attach(args []string) int {
	var (
		c   = common{cfg: mnclient.Config{ForceEncap: true, FollowLinks: true}}
		hoa string
	)
	fs := flag.NewFlagSet("mnclient attach", flag.ExitOnError)
	c.register(fs)
	fs.StringVar(&c.cfg.ID, "id", "", "our IKE `identity` (also the NAI of the Binding Update)")
	fs.StringVar(&hoa, "hoa", "", "home `address` to ask for (default: any)")
	fs.BoolVar(&c.cfg.IPv4, "ipv4", false, "also ask for an inner IPv4 address")
	fs.Var(&c.remoteTS, "remote-ts", "`prefix` to reach through the home agent (repeatable; default ::/0)")
	fs.StringVar(&c.cfg.TUN, "tun", "mn0", "TUN device `name`")
	fs.IntVar(&c.cfg.MTU, "mtu", 0, "TUN device `MTU` (default 1400)")
	fs.StringVar(&c.cfg.KeyLog, "keylog", "", "append IKE SA keys for tshark to `file`")
	fs.IntVar(&c.cfg.IKEPort, "ike-port", 0, "our IKE `port` (default 500; -1: any)")
	fs.IntVar(&c.cfg.NATTPort, "natt-port", 0, "our NAT-T `port` (default 4500; -1: any)")
	fs.BoolVar(&c.cfg.FollowLinks, "follow-links", true, "follow care-of address changes through netlink")
	_ = fs.Parse(args)
	if err := c.finish(); err != nil {
		return fail(err)
	}
	if hoa != "" {
		a, err := netip.ParseAddr(hoa)
		if err != nil {
			return fail(fmt.Errorf("--hoa: %w", err))
		}
		c.cfg.HoA = a
	}
	c.cfg.Events = mnclient.JSONLines(os.Stdout)
	stopTelemetry, err := c.startTelemetry(c.cfg.ID)
	if err != nil {
		return fail(err)
	}
	defer stopTelemetry()
	client, err := mnclient.New(c.cfg)
	if err != nil {
		return fail(err)
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
				err = client.RekeyIKE(ctx)
			case syscall.SIGUSR2:
				err = client.RekeyChild(ctx)
			case syscall.SIGHUP:
				err = client.Move(ctx, true)
			}
			if err != nil && ctx.Err() == nil {
				c.cfg.Events(mnclient.Event{Time: time.Now(), Event: mnclient.EventError, Error: fmt.Sprintf("%v: %v", sig, err)})
			}
		}
	}()
	if err := client.Run(ctx); err != nil {
		c.cfg.Logger.Error("mnclient stopped", "err", err)
		return 1
	}
	return 0
}
