package vici

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// listSAEvent is a list-sa event packet (without its length prefix) as
// strongSwan 5.9.8's charon sent it for an IKE SA with one CHILD_SA.
func listSAEvent(t testing.TB) []byte {
	b, err := os.ReadFile("testdata/list-sa-event.bin")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseCharonEvent(t *testing.T) {
	typ, name, body, err := parsePacket(listSAEvent(t))
	if err != nil || typ != pktEvent || name != "list-sa" {
		t.Fatalf("parsePacket = %d %q %v", typ, name, err)
	}
	m, err := Parse(body)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Keys(); !reflect.DeepEqual(got, []string{"home"}) {
		t.Fatalf("top-level keys %q", got)
	}
	sa := m.Section("home")
	for k, want := range map[string]string{
		"state": "ESTABLISHED", "local-host": "2001:db8:2::100", "remote-port": "4500",
		"initiator-spi": "d6ffdc42caee63fa", "dh-group": "CURVE_25519",
	} {
		if got := sa.String(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if got := sa.List("local-vips"); !reflect.DeepEqual(got, []string{"2001:db8:1::1001"}) {
		t.Errorf("local-vips = %q", got)
	}
	child := sa.Section("child-sas").Section("home-1")
	if child.String("spi-in") != "aa855071" || !reflect.DeepEqual(child.List("remote-ts"), []string{"2001:db8:1::/64"}) {
		t.Errorf("child: %s", child.Format())
	}
	// Wrong-type lookups answer zero values, not panics.
	if sa.String("child-sas") != "" || sa.List("state") != nil || sa.Section("state") != nil || (*Message)(nil).Section("x") != nil {
		t.Error("typed lookups of the wrong type returned values")
	}
	// Charon's bytes are canonical: re-encoding gives them back.
	again, err := m.Append(nil)
	if err != nil || !bytes.Equal(again, body) {
		t.Errorf("re-encoded message differs from charon's (%v)", err)
	}
}

func TestMessageBuild(t *testing.T) {
	var m Message
	sub := NewMessage()
	sub.Set("key2", "value2")
	sub.Set("list1", []string{"item1", "item2"})
	for _, kv := range []struct {
		k string
		v any
	}{{"key1", "value1"}, {"section1", sub}, {"key1", "replaced"}} {
		if err := m.Set(kv.k, kv.v); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Set("bad", 42); !errors.Is(err, ErrBadValue) {
		t.Errorf("Set(int) = %v", err)
	}
	b, err := m.Append(nil)
	if err != nil {
		t.Fatal(err)
	}
	// The element encoding of the vici README, by hand.
	want := []byte{3, 4, 'k', 'e', 'y', '1', 0, 8}
	want = append(want, "replaced"...)
	want = append(want, 1, 8)
	want = append(want, "section1"...)
	want = append(want, 3, 4, 'k', 'e', 'y', '2', 0, 6)
	want = append(want, "value2"...)
	want = append(want, 4, 5)
	want = append(want, "list1"...)
	want = append(want, 5, 0, 5)
	want = append(want, "item1"...)
	want = append(want, 5, 0, 5)
	want = append(want, "item2"...)
	want = append(want, 6, 2)
	if !bytes.Equal(b, want) {
		t.Fatalf("encoding\n got % x\nwant % x", b, want)
	}
	if got, want := m.Format(), "{key1=replaced section1 {key2=value2 list1=[item1 item2]}}"; got != want {
		t.Errorf("Format = %s, want %s", got, want)
	}
	long := NewMessage()
	long.Set(strings.Repeat("k", 256), "v")
	if _, err := long.Append(nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("256-byte name: %v", err)
	}
	long = NewMessage()
	long.Set("k", strings.Repeat("v", 65536))
	if _, err := long.Append(nil); !errors.Is(err, ErrTooLarge) {
		t.Errorf("65536-byte value: %v", err)
	}
}

func TestParseMalformed(t *testing.T) {
	nested := bytes.Repeat([]byte{1, 1, 'a'}, maxDepth+1)
	for name, b := range map[string][]byte{
		"unknown element":      {9},
		"name past end":        {3, 5, 'a'},
		"value past end":       {3, 1, 'a', 0, 5, 'x'},
		"missing value length": {3, 1, 'a', 0},
		"section end alone":    {2},
		"open section":         {1, 1, 'a'},
		"item outside list":    {5, 0, 0},
		"list end alone":       {6},
		"open list":            {4, 1, 'l', 5, 0, 1, 'x'},
		"key inside list":      {4, 1, 'l', 3, 1, 'a', 0, 0, 6},
		"too deep":             nested,
	} {
		if _, err := Parse(b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: err = %v, want ErrMalformed", name, err)
		}
	}
	if _, _, _, err := parsePacket(nil); !errors.Is(err, ErrProtocol) {
		t.Errorf("empty packet: %v", err)
	}
	if _, _, _, err := parsePacket([]byte{8}); !errors.Is(err, ErrProtocol) {
		t.Errorf("packet type 8: %v", err)
	}
	if _, _, _, err := parsePacket([]byte{pktEvent, 4, 'a'}); !errors.Is(err, ErrProtocol) {
		t.Errorf("short event name: %v", err)
	}
}

// FuzzParse checks that Parse never panics and that what it accepts
// re-encodes to a message that parses to the same value.
func FuzzParse(f *testing.F) {
	_, _, body, err := parsePacket(listSAEvent(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	m := NewMessage()
	m.Set("a", []string{"", "x"})
	m.Set("s", NewMessage())
	b, _ := m.Append(nil)
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		enc, err := m.Append(nil)
		if err != nil {
			t.Fatalf("Append of a parsed message: %v", err)
		}
		m2, err := Parse(enc)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("re-parse differs:\n%s\n%s", m.Format(), m2.Format())
		}
		if len(enc) > len(b) {
			t.Fatalf("re-encoding grew from %d to %d bytes", len(b), len(enc))
		}
	})
}

// FuzzParsePacket checks that parsePacket never panics and round-trips.
func FuzzParsePacket(f *testing.F) {
	f.Add(listSAEvent(f))
	f.Add([]byte{pktCmdResponse, 3, 1, 'a', 0, 1, 'b'})
	f.Add([]byte{pktEventConfirm})
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, name, body, err := parsePacket(b)
		if err != nil {
			return
		}
		enc, err := appendPacket(nil, typ, name, body)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc[4:], b) || binary.BigEndian.Uint32(enc) != uint32(len(b)) {
			t.Fatalf("round trip: % x -> % x", b, enc)
		}
	})
}

// fakeCharon serves one vici session on the server end of a socket pair
// with a scripted handler.
func fakeCharon(t *testing.T, serve func(read func() (byte, string, []byte), write func(byte, string, *Message))) *Conn {
	t.Helper()
	client, server := net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	go func() {
		read := func() (byte, string, []byte) {
			var h [4]byte
			if _, err := io.ReadFull(server, h[:]); err != nil {
				return 255, "", nil
			}
			b := make([]byte, binary.BigEndian.Uint32(h[:]))
			io.ReadFull(server, b)
			typ, name, body, _ := parsePacket(b)
			return typ, name, body
		}
		write := func(typ byte, name string, m *Message) {
			body, _ := m.Append(nil)
			b, _ := appendPacket(nil, typ, name, body)
			server.Write(b)
		}
		serve(read, write)
	}()
	return &Conn{c: client}
}

func TestStreamedRequest(t *testing.T) {
	c := fakeCharon(t, func(read func() (byte, string, []byte), write func(byte, string, *Message)) {
		if typ, name, _ := read(); typ != pktEventRegister || name != "list-sa" {
			return
		}
		write(pktEvent, "log", NewMessage()) // an unrelated event first
		write(pktEventConfirm, "", nil)
		if typ, name, _ := read(); typ != pktCmdRequest || name != "list-sas" {
			return
		}
		for _, n := range []string{"a", "b"} {
			m := NewMessage()
			sa := NewMessage()
			sa.Set("state", "ESTABLISHED")
			m.Set(n, sa)
			write(pktEvent, "list-sa", m)
		}
		write(pktCmdResponse, "", NewMessage())
		if typ, name, _ := read(); typ != pktEventUnregister || name != "list-sa" {
			return
		}
		write(pktEventConfirm, "", nil)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []string
	_, err := c.StreamedRequest(ctx, "list-sas", "list-sa", nil, func(m *Message) error {
		got = append(got, m.Keys()...)
		return nil
	})
	if err != nil || !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Fatalf("StreamedRequest: %q, %v", got, err)
	}
}

func TestRequestErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c := fakeCharon(t, func(read func() (byte, string, []byte), write func(byte, string, *Message)) {
		read()
		m := NewMessage()
		m.Set("success", "no")
		m.Set("errmsg", "no config named 'x'")
		write(pktCmdResponse, "", m)
		read()
		write(pktCmdUnknown, "", nil)
		read()
		write(pktEventUnknown, "", nil)
	})
	_, err := c.Request(ctx, "initiate", nil)
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Command != "initiate" || ce.Message != "no config named 'x'" {
		t.Errorf("failed command: %v", err)
	}
	if _, err := c.Request(ctx, "frobnicate", nil); !errors.Is(err, ErrUnknownCommand) {
		t.Errorf("unknown command: %v", err)
	}
	if _, err := c.StreamedRequest(ctx, "list-sas", "no-such-event", nil, nil); !errors.Is(err, ErrUnknownEvent) {
		t.Errorf("unknown event: %v", err)
	}
}

func TestRequestHonoursContext(t *testing.T) {
	c := fakeCharon(t, func(read func() (byte, string, []byte), write func(byte, string, *Message)) {
		read() // and never answer
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Request(ctx, "version", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
}

func TestListen(t *testing.T) {
	c := fakeCharon(t, func(read func() (byte, string, []byte), write func(byte, string, *Message)) {
		for range 2 {
			read()
			write(pktEventConfirm, "", nil)
		}
		m := NewMessage()
		m.Set("up", "yes")
		write(pktEvent, "ike-updown", m)
		write(pktEvent, "child-rekey", NewMessage())
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var got []string
	stop := errors.New("stop")
	err := c.Listen(ctx, []string{"ike-updown", "child-rekey"}, func(ev string, m *Message) error {
		got = append(got, ev+":"+m.String("up"))
		if len(got) == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || !reflect.DeepEqual(got, []string{"ike-updown:yes", "child-rekey:"}) {
		t.Fatalf("Listen: %q, %v", got, err)
	}
}

func BenchmarkParseListSA(b *testing.B) {
	_, _, body, err := parsePacket(listSAEvent(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, err := Parse(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendListSA(b *testing.B) {
	_, _, body, _ := parsePacket(listSAEvent(b))
	m, err := Parse(body)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 2*len(body))
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if buf, err = m.Append(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
}
