// Command flowprobe measures the continuity of a TCP transfer (package
// test/flow): one side sends numbered, timestamped chunks at a steady
// pace, the other notes their arrival, and reports the longest gap, the
// 99th percentile of the gaps and whether the connection was reset.
//
//	flowprobe recv --listen ADDR:PORT                  accept one connection, receive, report
//	flowprobe recv --connect ADDR:PORT                 connect, receive, report
//	flowprobe send --connect ADDR:PORT [--interval 5ms] [--payload 1024] [--duration 10s]
//	flowprobe send --listen ADDR:PORT ...              accept one connection, send
//
// Either side may listen. The report is one JSON line on standard output
// (package flow's Report or SendReport); with --text a sentence instead.
// SIGINT and SIGTERM end the transfer: the sender closes normally (FIN),
// the receiver reports what it saw. The exit status is 0 when the
// connection ended normally, 1 after a reset or another failure, 2 for
// bad usage.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/mip6ha/mip6ha/test/flow"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "send" && os.Args[1] != "recv" {
		fmt.Fprintln(os.Stderr, "usage: flowprobe send|recv --listen ADDR:PORT|--connect ADDR:PORT ...   (flowprobe send -h)")
		os.Exit(2)
	}
	role := os.Args[1]
	var (
		listen, connect, local string
		text                   bool
		cfg                    flow.SendConfig
	)
	fs := flag.NewFlagSet("flowprobe "+role, flag.ExitOnError)
	fs.StringVar(&listen, "listen", "", "accept one connection on `ADDR:PORT`")
	fs.StringVar(&connect, "connect", "", "connect to `ADDR:PORT`")
	fs.StringVar(&local, "local", "", "with --connect, the local `ADDR[:PORT]` to bind")
	fs.BoolVar(&text, "text", false, "print the report as a sentence instead of JSON")
	if role == "send" {
		fs.IntVar(&cfg.Payload, "payload", 1024, "payload `octets` per chunk")
		fs.DurationVar(&cfg.Interval, "interval", 5*time.Millisecond, "time between chunks (0: as fast as TCP takes them)")
		fs.DurationVar(&cfg.Duration, "duration", 0, "send this `long` (0: until SIGINT or SIGTERM)")
		fs.Int64Var(&cfg.Chunks, "chunks", 0, "send this many `chunks` (0: no limit)")
	}
	_ = fs.Parse(os.Args[2:])
	if (listen == "") == (connect == "") {
		fmt.Fprintln(os.Stderr, "flowprobe: give one of --listen and --connect")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	conn, err := open(ctx, listen, connect, local)
	if err != nil {
		fmt.Fprintln(os.Stderr, "flowprobe:", err)
		os.Exit(1)
	}
	defer conn.Close()

	var report any
	ok := false
	if role == "send" {
		r := flow.Send(ctx, conn, cfg)
		report, ok = r, r.Err == ""
		if text {
			report = fmt.Sprintf("sent %d bytes in %d chunks, reset %v %s", r.Bytes, r.Chunks, r.Reset, r.Err)
		}
	} else {
		r := flow.Receive(ctx, conn, nil)
		report, ok = r, r.Closed
		if text {
			report = r.String()
		}
	}
	if s, isText := report.(string); isText {
		fmt.Println(s)
	} else {
		_ = json.NewEncoder(os.Stdout).Encode(report)
	}
	if !ok {
		os.Exit(1)
	}
}

// open accepts one connection on listen, or connects to connect.
func open(ctx context.Context, listen, connect, local string) (net.Conn, error) {
	if listen != "" {
		l, err := net.Listen("tcp", listen)
		if err != nil {
			return nil, err
		}
		defer l.Close()
		stop := context.AfterFunc(ctx, func() { l.Close() })
		defer stop()
		return l.Accept()
	}
	d := net.Dialer{}
	if local != "" {
		addr, err := net.ResolveTCPAddr("tcp", local)
		if err != nil {
			if addr, err = net.ResolveTCPAddr("tcp", net.JoinHostPort(local, "0")); err != nil {
				return nil, fmt.Errorf("--local: %w", err)
			}
		}
		d.LocalAddr = addr
	}
	return d.DialContext(ctx, "tcp", connect)
}
