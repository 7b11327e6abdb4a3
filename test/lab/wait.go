package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// ErrNotYet is what a Poll condition returns (wrapped or as is) to say
// "not yet" without anything more specific to report.
var ErrNotYet = errors.New("condition not met yet")

// Permanent wraps an error that a Poll condition returns to stop waiting at
// once: the awaited state can no longer come (the daemon died).
func Permanent(err error) error { return &permanentError{err} }

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Poll calls cond until it returns nil, returns an error made with
// Permanent, or ctx ends, with a back-off from
// 5 ms to 200 ms between calls. Use it for state that no event announces
// (a socket appearing in a namespace, an address finishing DAD); await an
// event directly wherever there is one. On timeout the error wraps the
// context's error and carries cond's last error, so a failing test says
// what it was waiting for and what it saw.
func Poll(ctx context.Context, what string, cond func(context.Context) error) error {
	delay := 5 * time.Millisecond
	for {
		err := cond(ctx)
		if err == nil {
			return nil
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return fmt.Errorf("waiting for %s: %w", what, perm.err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (last: %v)", what, ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 200*time.Millisecond)
	}
}

// WaitAddr waits until the host has addr (an address, no prefix length)
// on some interface and can use it as a source (not tentative).
func (h *Host) WaitAddr(ctx context.Context, addr string) error {
	want, err := netip.ParseAddr(addr)
	if err != nil {
		return fmt.Errorf("WaitAddr: %w", err)
	}
	return Poll(ctx, fmt.Sprintf("address %s usable in %s", want, h.name), func(ctx context.Context) error {
		out, err := h.ip(ctx, "-j", "addr", "show")
		if err != nil {
			return err
		}
		addrs, err := parseAddrJSON(out)
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if a.Prefix.Addr() == want {
				if a.Usable() {
					return nil
				}
				return fmt.Errorf("%s is tentative=%v dadfailed=%v", want, a.Tentative, a.DADFailed)
			}
		}
		return fmt.Errorf("%s not assigned", want)
	})
}

// WaitListening waits until a socket in the host listens on port:
// network "tcp" (a listening socket) or "udp" (a bound socket).
func (h *Host) WaitListening(ctx context.Context, network string, port int) error {
	var flag string
	switch network {
	case "tcp":
		flag = "-t"
	case "udp":
		flag = "-u"
	default:
		return fmt.Errorf("WaitListening: network %q: want tcp or udp", network)
	}
	return Poll(ctx, fmt.Sprintf("%s port %d listening in %s", network, port, h.name), func(ctx context.Context) error {
		out, err := h.Output(ctx, "ss", "-Hln", flag)
		if err != nil {
			return err
		}
		if listensOn(out, port) {
			return nil
		}
		return ErrNotYet
	})
}

// listensOn reports whether `ss -Hln` output has a socket whose local port
// is port. Lines look like
// "UNCONN 0 0 [2001:db8::1]%eth0:500 [::]:*" or "LISTEN 0 4096 *:5201 *:*".
func listensOn(ss string, port int) bool {
	suffix := ":" + strconv.Itoa(port)
	for _, line := range strings.Split(ss, "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && strings.HasSuffix(f[3], suffix) {
			return true
		}
	}
	return false
}

// WaitCommand runs a short command inside the host until it succeeds (exit
// status 0). Each attempt gets at most attempt of time; the error of the
// last attempt is reported on timeout.
func (h *Host) WaitCommand(ctx context.Context, attempt time.Duration, name string, args ...string) error {
	return Poll(ctx, fmt.Sprintf("%q to succeed", quoteArgs(append([]string{name}, args...))), func(ctx context.Context) error {
		actx, cancel := context.WithTimeout(ctx, attempt)
		defer cancel()
		return h.Run(actx, name, args...)
	})
}

// WaitPing waits until the host gets an answer to a ping to dst (IPv4 or
// IPv6), optionally from a source address (empty: the kernel's choice).
func (h *Host) WaitPing(ctx context.Context, dst, src string) error {
	args := []string{"-c", "1", "-w", "2", "-n"}
	if src != "" {
		args = append(args, "-I", src)
	}
	return h.WaitCommand(ctx, 3*time.Second, "ping", append(args, dst)...)
}

// Ping sends count pings to dst (optionally from src), one every 100 ms,
// and fails unless all are answered within a few seconds. (A deadline,
// ping -w: with -W, ping waits for the last answer only twice the round
// trip time seen so far, and a user-space tunnel can take longer.)
func (h *Host) Ping(ctx context.Context, dst, src string, count int) error {
	deadline := 3 + count/10
	args := []string{"-c", strconv.Itoa(count), "-i", "0.1", "-w", strconv.Itoa(deadline), "-n"}
	if src != "" {
		args = append(args, "-I", src)
	}
	out, err := h.Output(ctx, "ping", append(args, dst)...)
	if err != nil {
		return err
	}
	// With -w, ping sends until count answers arrive; more may come.
	if m := pingReceived.FindStringSubmatch(out); m == nil || atoi(m[1]) < count {
		return fmt.Errorf("%s: ping %s: not all answered:\n%s", h.name, dst, out)
	}
	return nil
}

var pingReceived = regexp.MustCompile(`(\d+) (?:packets )?received`)

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
