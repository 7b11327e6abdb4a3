// Command homeagent runs the mip6ha Mobile IPv6 home agent.
//
//	homeagent run [-listen ADDR]...
//
// With no configuration it serves IKEv2 on [::]:500 and [::]:4500.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if len(os.Args) < 2 || os.Args[1] != "run" {
		fmt.Fprintln(os.Stderr, "usage: homeagent run [-listen ADDR:PORT]...")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	var listen listFlag
	fs.Var(&listen, "listen", "UDP address to serve IKEv2 on (repeatable; default [::]:500 and [::]:4500)")
	_ = fs.Parse(os.Args[2:])
	if len(listen) == 0 {
		listen = listFlag{"[::]:500", "[::]:4500"}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, listen); err != nil {
		log.Error("homeagent stopped", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, listen []string) error {
	var conns []net.PacketConn
	for _, a := range listen {
		c, err := net.ListenPacket("udp", a)
		if err != nil {
			for _, c := range conns {
				c.Close()
			}
			return fmt.Errorf("listen %s: %w", a, err)
		}
		conns = append(conns, c)
		log.Info("serving IKEv2", "addr", c.LocalAddr().String())
	}
	log.Info("home agent started (the IKE engine is not wired in yet: datagrams are counted and dropped)")
	var dropped atomic.Uint64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func(c net.PacketConn) {
			defer wg.Done()
			buf := make([]byte, 65536)
			for {
				if _, _, err := c.ReadFrom(buf); err != nil {
					if !errors.Is(err, net.ErrClosed) {
						log.Error("read", "addr", c.LocalAddr().String(), "err", err)
					}
					return
				}
				dropped.Add(1)
			}
		}(c)
	}
	<-ctx.Done()
	for _, c := range conns {
		c.Close()
	}
	wg.Wait()
	log.Info("home agent stopped", "datagrams_dropped", dropped.Load())
	return nil
}
