package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime"

	"golang.org/x/sys/unix"
)

// Sockets in a host, owned by the test process.
//
// A socket belongs to the network namespace of the thread that created it,
// for its whole life. Listen, ListenPacket and Dial create theirs through
// InNamespace, on a fresh goroutine locked to its OS thread, switched into
// the host's namespace and back; the work they do there is one socket call
// on a literal address (no name resolution, no helper goroutines), so no
// other goroutine ever runs in the wrong namespace. If the thread cannot be switched back it is left locked,
// and the Go runtime discards it when the goroutine returns.

// Listen opens a TCP listener inside the host. addr is a literal
// address and port ("[2001:db8:3::3]:8080", "0.0.0.0:0"); network is "tcp",
// "tcp4" or "tcp6". The listener is closed at cleanup.
func (h *Host) Listen(network, addr string) (net.Listener, error) {
	if _, err := netip.ParseAddrPort(addr); err != nil {
		return nil, fmt.Errorf("Listen in %s: want a literal address and port: %w", h.name, err)
	}
	var ln net.Listener
	err := h.InNamespace(func() (err error) {
		ln, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		return nil, err
	}
	h.lab.t.Cleanup(func() { ln.Close() })
	return ln, nil
}

// ListenPacket opens a UDP socket inside the host; addr is a literal
// address and port, network "udp", "udp4" or "udp6". The socket is closed
// at cleanup.
func (h *Host) ListenPacket(network, addr string) (net.PacketConn, error) {
	if _, err := netip.ParseAddrPort(addr); err != nil {
		return nil, fmt.Errorf("ListenPacket in %s: want a literal address and port: %w", h.name, err)
	}
	var pc net.PacketConn
	err := h.InNamespace(func() (err error) {
		pc, err = net.ListenPacket(network, addr)
		return err
	})
	if err != nil {
		return nil, err
	}
	h.lab.t.Cleanup(func() { pc.Close() })
	return pc, nil
}

// Dial connects from inside the host to a literal address and port
// (network "tcp", "tcp6", "udp", ...). local, if not empty, is the literal
// local address and port to bind ("[2001:db8:2::100]:0"). The connection
// is closed at cleanup.
func (h *Host) Dial(ctx context.Context, network, local, remote string) (net.Conn, error) {
	if _, err := netip.ParseAddrPort(remote); err != nil {
		return nil, fmt.Errorf("Dial from %s: want a literal address and port: %w", h.name, err)
	}
	var d net.Dialer
	if local != "" {
		ap, err := netip.ParseAddrPort(local)
		if err != nil {
			return nil, fmt.Errorf("Dial from %s: local address: %w", h.name, err)
		}
		switch network {
		case "udp", "udp4", "udp6":
			d.LocalAddr = net.UDPAddrFromAddrPort(ap)
		default:
			d.LocalAddr = net.TCPAddrFromAddrPort(ap)
		}
	}
	var c net.Conn
	// One literal address: the dialer connects on the calling goroutine,
	// without the parallel attempts it makes for resolved names.
	err := h.InNamespace(func() (err error) {
		c, err = d.DialContext(ctx, network, remote)
		return err
	})
	if err != nil {
		return nil, err
	}
	h.lab.t.Cleanup(func() { c.Close() })
	return c, nil
}

// InNamespace runs f on a fresh goroutine locked to an OS thread switched
// into the host's network namespace, and returns f's error (prefixed with
// the host's name). Sockets and devices f creates live in the host's
// namespace for good; goroutines f starts run on other threads, in the
// test's namespace. The thread returns to the test's namespace afterwards:
// one left behind could become the process's main thread, which the lab's
// cleanup takes as the process's namespace (it would kill the test process
// with the lab). See also the comment at the top of this file.
func (h *Host) InNamespace(f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("%s: opening own network namespace: %w", h.name, err)
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open("/run/netns/"+h.ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("%s: opening network namespace: %w", h.name, err)
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("%s: entering network namespace: %w", h.name, err)
			return
		}
		ferr := f()
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			errc <- fmt.Errorf("%s: leaving network namespace: %w (after: %v)", h.name, err, ferr)
			return
		}
		runtime.UnlockOSThread()
		if ferr != nil {
			ferr = fmt.Errorf("%s: %w", h.name, ferr)
		}
		errc <- ferr
	}()
	return <-errc
}
