package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mip6ha/mip6ha/homeagent/config"
	"github.com/mip6ha/mip6ha/homeagent/store"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/cli")

// runFake runs the CLI against f directly, recording the admin address it
// dialled.
func runFake(f *fake, env map[string]string, args ...string) (code int, stdout, stderr string, dialled string) {
	var out, errOut bytes.Buffer
	dial := func(a string) (Backend, error) {
		dialled = a
		return f, nil
	}
	code = runCLI(args, &out, &errOut, dial, func(k string) string { return env[k] })
	return code, out.String(), errOut.String(), dialled
}

// TestCLIGolden checks the output of every command, as a table and as JSON,
// against testdata/cli/*.golden (rewritten with -update).
func TestCLIGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"status", []string{"status"}},
		{"status.json", []string{"status", "--json"}},
		{"bindings", []string{"bindings"}},
		{"bindings.json", []string{"--json", "bindings"}},
		{"leases", []string{"leases"}},
		{"leases-moving", []string{"leases", "--owner", "ha1", "--state", "moving"}},
		{"leases.json", []string{"leases", "--json"}},
		{"members", []string{"members"}},
		{"members.json", []string{"members", "--json"}},
		{"config", []string{"config"}},
		{"config.json", []string{"config", "--json"}},
		{"explain", []string{"explain", "2001:db8:b::9", "--identity", "mn1@example.net"}},
		{"explain.json", []string{"explain", "2001:db8:b::9", "--json"}},
		{"move", []string{"move", "2001:db8:1::1000", "--to", "ha2"}},
		{"move.json", []string{"move", "mn1@example.net", "--json"}},
		{"drain", []string{"drain"}},
		{"drain-status", []string{"drain", "status"}},
		{"drain-cancel", []string{"drain", "cancel"}},
		{"drain-cancel.json", []string{"drain", "cancel", "--json"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut, _ := runFake(newFake(), nil, tc.args...)
			if code != ExitOK || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			if strings.HasSuffix(tc.name, ".json") && !json.Valid([]byte(out)) {
				t.Errorf("--json output is not JSON:\n%s", out)
			}
			golden(t, tc.name, out)
		})
	}
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "cli", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update after checking):\n--- got\n%s--- want\n%s", path, got, want)
	}
}

// TestCLIRequests: the CLI sends what its arguments say.
func TestCLIRequests(t *testing.T) {
	f := newFake()
	runFake(f, nil, "leases", "--owner", "ha2", "--identity", "mn1@example.net", "--state", "released")
	if got := f.filters[0]; got != (store.Filter{Owner: "ha2", Identity: "mn1@example.net", State: store.StateReleased}) {
		t.Errorf("leases filter %+v", got)
	}
	runFake(f, nil, "explain", "198.51.100.7", "--anycast", "--redirected-from", "2001:db8:ffff::1")
	if got := f.explains[0]; got != (ExplainRequest{Locator: addr("198.51.100.7"), Anycast: true, RedirectedFrom: addr("2001:db8:ffff::1")}) {
		t.Errorf("explain request %+v", got)
	}
	runFake(f, nil, "move", "2001:db8:1::1000", "--to", "ha2")
	runFake(f, nil, "move", "mn1@example.net")
	runFake(f, nil, "move", "--identity", "2001:db8::7", "--to", "ha3")
	want := []MoveRequest{
		{HoA: addr("2001:db8:1::1000"), To: "ha2"},
		{Identity: "mn1@example.net"},
		{Identity: "2001:db8::7", To: "ha3"},
	}
	for i, w := range want {
		if i >= len(f.moves) || f.moves[i] != w {
			t.Errorf("move %d: %+v, want %+v", i, f.moves, w)
		}
	}
}

func TestCLIAdminAddress(t *testing.T) {
	f := newFake()
	if _, _, _, d := runFake(f, nil, "status"); d != config.DefaultAdminListen {
		t.Errorf("default address %q, want %q", d, config.DefaultAdminListen)
	}
	env := map[string]string{EnvAdminListen: "127.0.0.1:8086"}
	if _, _, _, d := runFake(f, env, "status"); d != "127.0.0.1:8086" {
		t.Errorf("with $%s: %q", EnvAdminListen, d)
	}
	if _, _, _, d := runFake(f, env, "--admin", "/tmp/x.sock", "status"); d != "/tmp/x.sock" {
		t.Errorf("with --admin: %q", d)
	}
}

func TestCLIExitStatus(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  error
		code int
		says string
	}{
		{[]string{}, nil, ExitOK, ""},
		{[]string{"frobnicate"}, nil, ExitUsage, "unknown command"},
		{[]string{"status", "--color"}, nil, ExitUsage, "unknown flag"},
		{[]string{"status", "extra"}, nil, ExitUsage, "unknown command"},
		{[]string{"explain"}, nil, ExitUsage, "accepts 1 arg"},
		{[]string{"explain", "here"}, nil, ExitUsage, "not an IP address"},
		{[]string{"move"}, nil, ExitUsage, "needs an identity or a home address"},
		{[]string{"move", "a@b", "--identity", "c@d"}, nil, ExitUsage, "not both"},
		{[]string{"leases", "--state", "lost"}, nil, ExitUsage, "bound, moving or released"},
		{[]string{"move", "mn1@example.net"}, &Error{Status: 404, Code: CodeNotFound, Message: "no such node"}, ExitError, "no such node"},
		{[]string{"drain"}, errors.New("unreachable"), ExitError, "unreachable"},
	} {
		f := newFake()
		f.err = tc.err
		code, _, errOut, _ := runFake(f, nil, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.says) {
			t.Errorf("ctl %q: exit %d, stderr %q; want %d saying %q", tc.args, code, errOut, tc.code, tc.says)
		}
	}
}

// TestCLIDrainWait follows a drain through its progress to the end.
func TestCLIDrainWait(t *testing.T) {
	f := newFake()
	f.drains = []DrainStatus{fakeDrain(DrainRunning, 1), fakeDrain(DrainRunning, 1), fakeDrain(DrainRunning, 2), fakeDrain(DrainDone, 3)}
	code, out, errOut, _ := runFake(f, nil, "drain", "--wait", "--interval", "1ms")
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "drain-wait", out)
	if f.drainCalls != 4 {
		t.Errorf("%d progress requests, want 4 (until done)", f.drainCalls)
	}

	f = newFake()
	f.drains = []DrainStatus{fakeDrain(DrainDone, 3)}
	_, out, _, _ = runFake(f, nil, "drain", "--wait", "--interval", "1ms", "--json")
	var d DrainStatus
	if err := json.Unmarshal([]byte(out), &d); err != nil || d.State != DrainDone {
		t.Errorf("drain --wait --json: %s (%v), want the final status", out, err)
	}
}

// TestCLIOverSocket runs the public CLI against a server on a unix socket.
func TestCLIOverSocket(t *testing.T) {
	path := serve(t, newFake(), ServerOptions{})
	var out, errOut bytes.Buffer
	if code := CLI([]string{"--admin", path, "members"}, &out, &errOut); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	golden(t, "members", out.String())

	out.Reset()
	errOut.Reset()
	if code := CLI([]string{"--admin", path, "leases", "--state", "moving", "--json"}, &out, &errOut); code != ExitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	var l Leases
	if err := json.Unmarshal(out.Bytes(), &l); err != nil || len(l.Leases) != 1 || l.Leases[0].MovingTo != "ha2" {
		t.Errorf("leases over the socket: %s %v", out.String(), err)
	}

	errOut.Reset()
	if code := CLI([]string{"--admin", filepath.Join(t.TempDir(), "none.sock"), "status"}, &out, &errOut); code != ExitError {
		t.Errorf("no server: exit %d, want %d; %s", code, ExitError, errOut.String())
	}
}
