package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/config"
	"github.com/mip6ha/mip6ha/homeagent/store"
)

// serve runs a Server for b on a unix socket in a test directory and
// returns the socket's path; the server stops, and is waited for, at the
// end of the test.
func serve(t *testing.T, b Backend, opts ServerOptions) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "admin.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(b, opts).Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket left behind after Serve: %v", err)
		}
	})
	return path
}

func client(t *testing.T, path string) *Client {
	t.Helper()
	c, err := NewClient(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// jsonEqual compares a and b by their JSON forms (times, addresses and
// enums as they travel).
func jsonEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if string(g) != string(w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// TestClientServer calls every route through a Client over a unix socket.
func TestClientServer(t *testing.T) {
	f := newFake()
	c := client(t, serve(t, f, ServerOptions{}))
	ctx := context.Background()

	st, err := c.Status(ctx)
	if err != nil || !reflect.DeepEqual(st, fakeStatus) {
		t.Errorf("Status = %+v, %v", st, err)
	}
	bs, err := c.Bindings(ctx)
	if err != nil || !reflect.DeepEqual(bs, fakeBindings) {
		t.Errorf("Bindings = %+v, %v", bs, err)
	}
	ls, err := c.Leases(ctx, store.Filter{Owner: "ha1", State: store.StateMoving})
	if err != nil || len(ls) != 1 || !reflect.DeepEqual(ls[0], fakeLeases[1]) {
		t.Errorf("Leases(owner ha1, moving) = %+v, %v", ls, err)
	}
	if got := f.filters[len(f.filters)-1]; got != (store.Filter{Owner: "ha1", State: store.StateMoving}) {
		t.Errorf("backend got filter %+v", got)
	}
	ms, err := c.Members(ctx)
	if err != nil || !reflect.DeepEqual(ms, fakeMembers) {
		t.Errorf("Members = %+v, %v", ms, err)
	}
	req := ExplainRequest{Locator: addr("2001:db8:b::9"), Identity: "mn1@example.net", Anycast: true, RedirectedFrom: addr("2001:db8:ffff::1")}
	e, err := c.Explain(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, "Explain", e, fakeExplain)
	if e.Decision.Target != "ha2" || len(e.Scores) != 2 {
		t.Errorf("Explain decision %+v", e.Decision)
	}
	if got := f.explains[0]; got != req {
		t.Errorf("backend got explain %+v, want %+v", got, req)
	}
	mv, err := c.Move(ctx, MoveRequest{HoA: addr("2001:db8:1::1000"), To: "ha2"})
	if err != nil || !reflect.DeepEqual(mv, fakeMove) {
		t.Errorf("Move = %+v, %v", mv, err)
	}
	if got := f.moves[0]; got != (MoveRequest{HoA: addr("2001:db8:1::1000"), To: "ha2"}) {
		t.Errorf("backend got move %+v", got)
	}
	for name, call := range map[string]func(context.Context) (DrainStatus, error){
		"Drain": c.Drain, "DrainStatus": c.DrainStatus, "CancelDrain": c.CancelDrain,
	} {
		d, err := call(ctx)
		if err != nil || d.Total != 3 {
			t.Errorf("%s = %+v, %v", name, d, err)
		}
	}
}

func TestConfigIsRedacted(t *testing.T) {
	f := newFake()
	path := serve(t, f, ServerOptions{})
	cfg, err := client(t, path).Config(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.IKE.PSKs[0].Secret != config.Redaction || cfg.Cluster.MemberID != "ha1" {
		t.Errorf("config over the API: psks %+v member %q", cfg.IKE.PSKs, cfg.Cluster.MemberID)
	}
	body := rawGet(t, path, PathConfig)
	if strings.Contains(body, "fake-secret") {
		t.Errorf("GET /v1/config shows the secret: %s", body)
	}
	if f.cfg.IKE.PSKs[0].Secret != "fake-secret" {
		t.Error("the server changed the backend's configuration")
	}
}

// rawGet returns the body of a GET over the unix socket.
func rawGet(t *testing.T, path, route string) string {
	t.Helper()
	status, _, body := raw(t, path, http.MethodGet, route, "")
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", route, status, body)
	}
	return body
}

// raw sends one request over the unix socket.
func raw(t *testing.T, path, method, route, body string) (int, http.Header, string) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequest(method, "http://homeagent"+route, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, route, ct)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestBadRequests(t *testing.T) {
	path := serve(t, newFake(), ServerOptions{})
	for _, tc := range []struct {
		method, route, body string
		status              int
		code                string
	}{
		{"GET", "/v1/nothing", "", 404, CodeNotFound},
		{"GET", "/", "", 404, CodeNotFound},
		{"POST", PathStatus, "", 405, CodeMethod},
		{"GET", PathMove, "", 405, CodeMethod},
		{"PUT", PathDrain, "", 405, CodeMethod},
		{"GET", PathExplain, "", 400, CodeInvalid},
		{"GET", PathExplain + "?locator=nowhere", "", 400, CodeInvalid},
		{"GET", PathExplain + "?locator=192.0.2.1&anycast=maybe", "", 400, CodeInvalid},
		{"GET", PathExplain + "?locator=192.0.2.1&redirected_from=x", "", 400, CodeInvalid},
		{"GET", PathLeases + "?state=lost", "", 400, CodeInvalid},
		{"POST", PathMove, "", 400, CodeInvalid},
		{"POST", PathMove, `{"identity": "a@b", "hoa": "2001:db8::1"}`, 400, CodeInvalid},
		{"POST", PathMove, `{"identity": "a@b", "too": "ha2"}`, 400, CodeInvalid},
		{"POST", PathMove, `{"hoa": "not an address"}`, 400, CodeInvalid},
		{"POST", PathMove, `{"identity": "a@b"} {"identity": "c@d"}`, 400, CodeInvalid},
		{"POST", PathMove, "[", 400, CodeInvalid},
		{"POST", PathMove, `{"identity": "` + strings.Repeat("a", maxBody) + `"}`, 400, CodeInvalid},
		{"POST", PathDrain, `{"rate": 5}`, 400, CodeInvalid},
	} {
		status, hdr, body := raw(t, path, tc.method, tc.route, tc.body)
		var e Error
		if err := json.Unmarshal([]byte(body), &e); err != nil || status != tc.status || e.Code != tc.code || e.Message == "" {
			t.Errorf("%s %s %.40q: %d %s, want %d with code %s", tc.method, tc.route, tc.body, status, body, tc.status, tc.code)
		}
		if status == 405 && hdr.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", tc.method, tc.route)
		}
	}
	if _, hdr, _ := raw(t, path, "PUT", PathDrain, ""); hdr.Get("Allow") != "DELETE, GET, POST" {
		t.Errorf("Allow of %s: %q", PathDrain, hdr.Get("Allow"))
	}
}

// TestBackendErrors: the backend's errors reach the client as the matching
// sentinel, with the HTTP status of their code.
func TestBackendErrors(t *testing.T) {
	f := newFake()
	c := client(t, serve(t, f, ServerOptions{}))
	for _, tc := range []struct {
		err    error
		status int
		is     error
	}{
		{fmt.Errorf("no node: %w", ErrNotFound), 404, ErrNotFound},
		{store.Errorf("lease", addr("2001:db8::1"), store.Lease{}, store.ErrNotFound, "none"), 404, ErrNotFound},
		{fmt.Errorf("moving already: %w", ErrConflict), 409, ErrConflict},
		{store.Errorf("transfer", addr("2001:db8::1"), store.Lease{}, store.ErrConflict, "lost"), 409, ErrConflict},
		{fmt.Errorf("single home agent: %w", ErrNotSupported), 501, ErrNotSupported},
		{fmt.Errorf("store: %w", store.ErrClosed), 503, ErrUnavailable},
		{fmt.Errorf("bad: %w", ErrInvalid), 400, ErrInvalid},
		{errors.New("disk on fire"), 500, ErrInternal},
	} {
		f.mu.Lock()
		f.err = tc.err
		f.mu.Unlock()
		_, err := c.Status(context.Background())
		var e *Error
		if !errors.As(err, &e) || e.Status != tc.status || !errors.Is(err, tc.is) || !strings.Contains(e.Message, tc.err.Error()) {
			t.Errorf("backend error %v: client got %#v (%v), want status %d wrapping %v", tc.err, e, err, tc.status, tc.is)
		}
	}
}

func TestRequestTimeout(t *testing.T) {
	f := newFake()
	f.block = true
	c := client(t, serve(t, f, ServerOptions{RequestTimeout: 20 * time.Millisecond}))
	_, err := c.Bindings(context.Background())
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusGatewayTimeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("blocked backend: %v, want a 504 timeout", err)
	}
}

func TestListenUnixSocket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	path := filepath.Join(dir, "admin.sock")
	ln, err := Listen("unix:" + path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Lstat(path)
	if err != nil || st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o600 {
		t.Errorf("socket %v, %v; want a socket of mode 0600", st.Mode(), err)
	}
	if dst, err := os.Stat(dir); err != nil || dst.Mode().Perm() != 0o750 {
		t.Errorf("directory %v, %v; want mode 0750", dst.Mode(), err)
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, "*tmp*")); len(matches) > 0 {
		t.Errorf("temporary names left: %v", matches)
	}
	// A second listener on a live socket is refused, and leaves it alone.
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "another process") {
		t.Errorf("second Listen: %v", err)
	}
	if c, err := net.Dial("unix", path); err != nil {
		t.Errorf("socket unusable after a refused Listen: %v", err)
	} else {
		c.Close()
	}
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after Close: %v", err)
	}
}

func TestListenReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin.sock")
	stale, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	stale.SetUnlinkOnClose(false)
	stale.Close() // the socket file stays, nobody listens: a crashed daemon's
	ln, err := Listen(path)
	if err != nil {
		t.Fatalf("over a stale socket: %v", err)
	}
	ln.Close()

	file := filepath.Join(t.TempDir(), "not-a-socket")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(file); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("over a regular file: %v", err)
	}
}

func TestListenTCP(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(newFake(), ServerOptions{}).Serve(ctx, ln) }()
	c, err := NewClient(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.Status(context.Background()); err != nil || st.Member != "ha1" {
		t.Errorf("Status over TCP: %+v, %v", st, err)
	}
	c.Close()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	for _, bad := range []string{"0.0.0.0:8086", "[2001:db8::1]:8086", "admin.sock", ""} {
		if _, err := Listen(bad); err == nil {
			t.Errorf("Listen(%q) accepted", bad)
		}
		if _, err := NewClient(bad); err == nil {
			t.Errorf("NewClient(%q) accepted", bad)
		}
	}
}

func TestClientUnreachable(t *testing.T) {
	c := client(t, filepath.Join(t.TempDir(), "none.sock"))
	if _, err := c.Status(context.Background()); err == nil || errors.As(err, new(*Error)) {
		t.Errorf("Status of no server: %v, want a transport error", err)
	}
}

func TestTypes(t *testing.T) {
	for _, tc := range []struct {
		v    any
		json string
	}{
		{IKESPI(0x0123456789abcdef), `"0123456789abcdef"`},
		{ESPSPI(0xbeef), `"0000beef"`},
		{Seconds(1500 * time.Millisecond), `1.5`},
		{Seconds(0), `0`},
	} {
		b, err := json.Marshal(tc.v)
		if err != nil || string(b) != tc.json {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tc.v, b, err, tc.json)
		}
		p := reflect.New(reflect.TypeOf(tc.v))
		if err := json.Unmarshal(b, p.Interface()); err != nil || p.Elem().Interface() != tc.v {
			t.Errorf("Unmarshal(%s) = %v, %v", b, p.Elem(), err)
		}
	}
	for _, bad := range []string{`"0123"`, `"0123456789abcdeg"`} {
		var s IKESPI
		if err := json.Unmarshal([]byte(bad), &s); err == nil {
			t.Errorf("IKESPI %s accepted", bad)
		}
	}
	var sec Seconds
	if err := json.Unmarshal([]byte(`1e300`), &sec); err == nil {
		t.Error("Seconds 1e300 accepted")
	}
	for _, r := range []MoveRequest{{}, {Identity: "a", HoA: addr("2001:db8::1")}} {
		if err := r.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("MoveRequest %+v: %v", r, err)
		}
	}
	if err := (ExplainRequest{}).Validate(); !errors.Is(err, ErrInvalid) {
		t.Errorf("ExplainRequest without locator: %v", err)
	}
	l := LeaseOf(store.Lease{HoA: addr("2001:db8::1"), Identity: "a", Owner: "ha1", State: store.StateBound, Revision: 9,
		Attributes: store.Attributes{CareOf: addrPort("[2001:db8::2]:4500")}})
	if l.CareOf != addrPort("[2001:db8::2]:4500") || l.Revision != 9 || l.State != store.StateBound {
		t.Errorf("LeaseOf %+v", l)
	}
	if m := MemberOf(store.Member{ID: "ha2", Capacity: 3}, "ha1"); m.Self || m.Capacity != 3 {
		t.Errorf("MemberOf %+v", m)
	}
}
