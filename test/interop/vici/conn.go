package vici

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// Packet types of the vici transport.
const (
	pktCmdRequest      = 0
	pktCmdResponse     = 1
	pktCmdUnknown      = 2
	pktEventRegister   = 3
	pktEventUnregister = 4
	pktEventConfirm    = 5
	pktEventUnknown    = 6
	pktEvent           = 7
)

// maxPacket bounds a packet's length; charon's own limit is 512 KiB.
const maxPacket = 512 << 10

// Errors of a session.
var (
	ErrUnknownCommand = errors.New("vici: unknown command")
	ErrUnknownEvent   = errors.New("vici: unknown event")
	ErrProtocol       = errors.New("vici: protocol error")
)

// CommandError is a command that charon carried out and answered with
// success=no.
type CommandError struct {
	Command string
	Message string // charon's errmsg
}

// Error names the command and charon's message.
func (e *CommandError) Error() string {
	return fmt.Sprintf("vici: %s failed: %s", e.Command, e.Message)
}

// Conn is a session with charon over its vici socket. A Conn serves one
// request at a time and is not safe for concurrent use; open one per
// goroutine (charon serves many).
type Conn struct {
	c net.Conn
}

// Dial opens a session on the unix socket at path.
func Dial(ctx context.Context, path string) (*Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	return &Conn{c: c}, nil
}

// Close ends the session.
func (c *Conn) Close() error { return c.c.Close() }

// Request sends the command cmd with the message msg (nil for none) and
// returns charon's response. A response with success=no becomes a
// *CommandError.
func (c *Conn) Request(ctx context.Context, cmd string, msg *Message) (*Message, error) {
	return c.StreamedRequest(ctx, cmd, "", msg, nil)
}

// StreamedRequest sends the command cmd and passes each event named event
// that charon emits while it works on it (list-sas emits "list-sa" per SA)
// to fn, then returns the final response. If fn returns an error the
// session is closed and the error returned.
func (c *Conn) StreamedRequest(ctx context.Context, cmd, event string, msg *Message, fn func(*Message) error) (*Message, error) {
	stop := c.deadline(ctx)
	defer stop()
	if event != "" {
		if err := c.register(pktEventRegister, event); err != nil {
			return nil, c.ctxErr(ctx, err)
		}
	}
	payload, err := msg.Append(nil)
	if err != nil {
		return nil, err
	}
	if err := c.write(pktCmdRequest, cmd, payload); err != nil {
		return nil, c.ctxErr(ctx, err)
	}
	for {
		typ, name, body, err := c.read()
		if err != nil {
			return nil, c.ctxErr(ctx, err)
		}
		switch typ {
		case pktEvent:
			if name != event || fn == nil {
				continue
			}
			m, err := Parse(body)
			if err != nil {
				return nil, fmt.Errorf("event %s: %w", name, err)
			}
			if err := fn(m); err != nil {
				c.c.Close()
				return nil, err
			}
		case pktCmdResponse:
			m, err := Parse(body)
			if err != nil {
				return nil, fmt.Errorf("response to %s: %w", cmd, err)
			}
			if event != "" {
				if err := c.register(pktEventUnregister, event); err != nil {
					return nil, c.ctxErr(ctx, err)
				}
			}
			if s := m.String("success"); s == "no" {
				return m, &CommandError{Command: cmd, Message: m.String("errmsg")}
			}
			return m, nil
		case pktCmdUnknown:
			return nil, fmt.Errorf("%w: %s", ErrUnknownCommand, cmd)
		default:
			return nil, fmt.Errorf("%w: packet type %d in answer to %s", ErrProtocol, typ, cmd)
		}
	}
}

// Subscribe registers for the named events; once it returns, charon
// queues every such event for Next.
func (c *Conn) Subscribe(ctx context.Context, events ...string) error {
	stop := c.deadline(ctx)
	defer stop()
	for _, e := range events {
		if err := c.register(pktEventRegister, e); err != nil {
			return c.ctxErr(ctx, err)
		}
	}
	return nil
}

// Next waits for the next event the session subscribed to and returns its
// name and message.
func (c *Conn) Next(ctx context.Context) (event string, m *Message, err error) {
	stop := c.deadline(ctx)
	defer stop()
	typ, name, body, err := c.read()
	if err != nil {
		return "", nil, c.ctxErr(ctx, err)
	}
	if typ != pktEvent {
		return "", nil, fmt.Errorf("%w: packet type %d while listening", ErrProtocol, typ)
	}
	if m, err = Parse(body); err != nil {
		return "", nil, fmt.Errorf("event %s: %w", name, err)
	}
	return name, m, nil
}

// Listen subscribes to the named events and passes each one to fn until
// ctx ends (it then returns nil) or fn returns an error.
func (c *Conn) Listen(ctx context.Context, events []string, fn func(event string, m *Message) error) error {
	if err := c.Subscribe(ctx, events...); err != nil {
		if ended(ctx, err) {
			return nil
		}
		return err
	}
	for {
		name, m, err := c.Next(ctx)
		if err != nil {
			if ended(ctx, err) {
				return nil
			}
			return err
		}
		if err := fn(name, m); err != nil {
			return err
		}
	}
}

// register sends EVENT_REGISTER or EVENT_UNREGISTER and awaits the
// confirmation, passing over events that arrive meanwhile.
func (c *Conn) register(typ byte, event string) error {
	if err := c.write(typ, event, nil); err != nil {
		return err
	}
	for {
		t, _, _, err := c.read()
		if err != nil {
			return err
		}
		switch t {
		case pktEventConfirm:
			return nil
		case pktEventUnknown:
			return fmt.Errorf("%w: %s", ErrUnknownEvent, event)
		case pktEvent:
			continue
		default:
			return fmt.Errorf("%w: packet type %d in answer to event registration", ErrProtocol, t)
		}
	}
}

// deadline makes the socket's operations end when ctx does.
func (c *Conn) deadline(ctx context.Context) (stop func()) {
	if d, ok := ctx.Deadline(); ok {
		c.c.SetDeadline(d)
	}
	s := context.AfterFunc(ctx, func() { c.c.SetDeadline(time.Unix(1, 0)) })
	return func() { s(); c.c.SetDeadline(time.Time{}) }
}

// ended reports whether ctx ended the I/O that failed with err. The
// socket deadline is set only from ctx, so a deadline error means ctx is
// done or about to be (its timer may fire a moment after the socket's).
func ended(ctx context.Context, err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		<-ctx.Done()
	}
	return ctx.Err() != nil
}

// ctxErr reports an I/O error as the context's error when the context
// ended it.
func (c *Conn) ctxErr(ctx context.Context, err error) error {
	if ended(ctx, err) {
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return err
}

func (c *Conn) write(typ byte, name string, payload []byte) error {
	b, err := appendPacket(nil, typ, name, payload)
	if err != nil {
		return err
	}
	_, err = c.c.Write(b)
	return err
}

func (c *Conn) read() (typ byte, name string, body []byte, err error) {
	var hdr [4]byte
	if _, err := io.ReadFull(c.c, hdr[:]); err != nil {
		return 0, "", nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n == 0 || n > maxPacket {
		return 0, "", nil, fmt.Errorf("%w: packet length %d", ErrProtocol, n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(c.c, b); err != nil {
		return 0, "", nil, err
	}
	return parsePacket(b)
}

// named reports whether packets of type typ carry a name.
func named(typ byte) bool {
	switch typ {
	case pktCmdRequest, pktEventRegister, pktEventUnregister, pktEvent:
		return true
	}
	return false
}

// appendPacket encodes a vici packet onto b: 32-bit length, type, the name
// for the named types, payload.
func appendPacket(b []byte, typ byte, name string, payload []byte) ([]byte, error) {
	if len(name) > 255 {
		return b, fmt.Errorf("%w: name %q", ErrTooLarge, name)
	}
	n := 1 + len(payload)
	if named(typ) {
		n += 1 + len(name)
	}
	if n > maxPacket {
		return b, fmt.Errorf("%w: packet of %d bytes", ErrTooLarge, n)
	}
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = append(b, typ)
	if named(typ) {
		b = append(b, byte(len(name)))
		b = append(b, name...)
	}
	return append(b, payload...), nil
}

// parsePacket splits a vici packet (without its length prefix) into type,
// name (for the named types) and message bytes.
func parsePacket(b []byte) (typ byte, name string, body []byte, err error) {
	if len(b) == 0 {
		return 0, "", nil, fmt.Errorf("%w: empty packet", ErrProtocol)
	}
	typ = b[0]
	if typ > pktEvent {
		return 0, "", nil, fmt.Errorf("%w: packet type %d", ErrProtocol, typ)
	}
	if !named(typ) {
		return typ, "", b[1:], nil
	}
	name, n, err := name8(b, 1)
	if err != nil {
		return 0, "", nil, fmt.Errorf("%w: packet type %d: %v", ErrProtocol, typ, err)
	}
	return typ, name, b[1+n:], nil
}
