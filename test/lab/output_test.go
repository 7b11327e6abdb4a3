package lab

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestTail(t *testing.T) {
	for _, c := range []struct {
		s    string
		n    int
		want string
	}{
		{"", 3, ""},
		{"abc", 3, "abc"},
		{"abcdef", 3, "...def"},
		{"abcdef", 0, "..."},
	} {
		if got := Tail(c.s, c.n); got != c.want {
			t.Errorf("Tail(%q, %d) = %q, want %q", c.s, c.n, got, c.want)
		}
	}
}

func TestJSONLines(t *testing.T) {
	type ev struct{ Event string }
	s := "{\"Event\":\"a\"}\nnot json\n{\"Event\":\"b\"}\n[1]\n{\"Event\":\"c\"}"
	vals, bad := JSONLines[ev](s)
	if want := []ev{{"a"}, {"b"}, {"c"}}; !slices.Equal(vals, want) {
		t.Errorf("values %v, want %v", vals, want)
	}
	if len(bad) != 2 || !strings.HasPrefix(bad[0].Error(), `"not json": `) || !strings.HasPrefix(bad[1].Error(), `"[1]": `) {
		t.Errorf("bad lines %v, want the two that are not objects, quoted", bad)
	}
}

// rec is a caller's own type of log record, as the suites declare.
type rec map[string]any

func TestLogRecordsAndLogText(t *testing.T) {
	p := fakeProc()
	p.stderr.Write([]byte(`{"msg":"up","sa":"1","n":3,"nat":true}` + "\n" +
		"panic: not a record\n" +
		`{"msg":"down","sa":"1"}` + "\n" +
		`{"msg":"up","sa":"2","n":0.5}` + "\n"))
	p.stdout.Write([]byte(`{"msg":"up","sa":"stdout"}` + "\n"))
	ups := LogRecords[rec](p, "up")
	if len(ups) != 2 || ups[0]["sa"] != "1" || ups[1]["sa"] != "2" {
		t.Fatalf("records of msg up: %v", ups)
	}
	for key, want := range map[string]string{"sa": "1", "n": "3", "nat": "true", "absent": ""} {
		if got := LogText(ups[0], key); got != want {
			t.Errorf("LogText(%v, %q) = %q, want %q", ups[0], key, got, want)
		}
	}
	if got := LogText(ups[1], "n"); got != "0.5" {
		t.Errorf("LogText of 0.5 = %q", got)
	}
	if got := LogRecords[map[string]any](p, "none"); got != nil {
		t.Errorf("records of an absent message: %v", got)
	}
}

func TestAwaitNth(t *testing.T) {
	lines := func(p *Proc) func() []rec {
		return func() []rec { return LogRecords[rec](p, "ev") }
	}
	isB := func(r rec) bool { return r["k"] == "b" }

	t.Run("n-th match, written while waiting", func(t *testing.T) {
		p := fakeProc()
		p.stderr.Write([]byte(`{"msg":"ev","k":"b","i":1}` + "\n" + `{"msg":"ev","k":"a","i":2}` + "\n"))
		type result struct {
			r   rec
			err error
		}
		done := make(chan result, 1)
		go func() {
			r, err := AwaitNth(testCtx(t, 10*time.Second), p, "second b", 2, lines(p), isB, nil)
			done <- result{r, err}
		}()
		p.stderr.Write([]byte(`{"msg":"ev","k":"b","i":3}` + "\n" + `{"msg":"ev","k":"b","i":4}` + "\n"))
		res := <-done
		if res.err != nil || LogText(res.r, "i") != "3" {
			t.Fatalf("AwaitNth = %v, %v; want the record i=3", res.r, res.err)
		}
	})

	t.Run("end", func(t *testing.T) {
		p := fakeProc()
		p.stderr.Write([]byte(`{"msg":"ev","k":"b"}` + "\n" + `{"msg":"ev","k":"fatal"}` + "\n" + `{"msg":"ev","k":"b"}` + "\n"))
		errFatal := errors.New("fatal record")
		end := func(r rec) error {
			if r["k"] == "fatal" {
				return errFatal
			}
			return nil
		}
		// The first b comes before the fatal record, the second after it.
		if _, err := AwaitNth(testCtx(t, 10*time.Second), p, "first b", 1, lines(p), isB, end); err != nil {
			t.Errorf("first b: %v", err)
		}
		_, err := AwaitNth(testCtx(t, 10*time.Second), p, "second b", 2, lines(p), isB, end)
		if !errors.Is(err, errFatal) || !strings.Contains(err.Error(), "second b") {
			t.Errorf("second b after a fatal record: %v", err)
		}
	})

	t.Run("exit", func(t *testing.T) {
		p := fakeProc()
		p.stderr.Write([]byte(`{"msg":"ev","k":"b"}` + "\n" + "last words\n"))
		p.err = errors.New("exit status 2")
		close(p.done)
		// What it printed before exiting still counts.
		if _, err := AwaitNth(testCtx(t, 10*time.Second), p, "b", 1, lines(p), isB, nil); err != nil {
			t.Errorf("b printed before the exit: %v", err)
		}
		_, err := AwaitNth(testCtx(t, 10*time.Second), p, "second b", 2, lines(p), isB, nil)
		if err == nil || !strings.Contains(err.Error(), "h-fake-1 exited (exit status 2)") || !strings.Contains(err.Error(), "last words") {
			t.Errorf("after the exit: %v", err)
		}
	})

	t.Run("timeout", func(t *testing.T) {
		p := fakeProc()
		p.stderr.Write([]byte(`{"msg":"ev","k":"b"}` + "\n"))
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		_, err := AwaitNth(ctx, p, "second b", 2, lines(p), isB, nil)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 of 2 seen") {
			t.Errorf("timeout: %v", err)
		}
	})

	t.Run("AwaitLogRecord", func(t *testing.T) {
		p := fakeProc()
		p.stderr.Write([]byte(`{"msg":"other","k":"b"}` + "\n" + `{"msg":"ev","k":"a"}` + "\n" + `{"msg":"ev","k":"b","i":7}` + "\n"))
		r, err := AwaitLogRecord(testCtx(t, 10*time.Second), p, "ev", 1, isB)
		if err != nil || LogText(r, "i") != "7" {
			t.Errorf("AwaitLogRecord = %v, %v", r, err)
		}
		r, err = AwaitLogRecord[rec](testCtx(t, 10*time.Second), p, "ev", 2, nil)
		if err != nil || r["k"] != "b" {
			t.Errorf("second ev record, any: %v, %v", r, err)
		}
	})
}

// fakeProc is a Proc without a process: the test writes its output and
// ends it.
func fakeProc() *Proc {
	return &Proc{name: "h-fake-1", stdout: &logFile{notify: make(chan struct{})},
		stderr: &logFile{notify: make(chan struct{})}, done: make(chan struct{})}
}

func TestCacheDirs(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", xdg)
	t.Setenv("MIP6HA_CACHE", "")
	if got, want := CacheDirs(), []string{"/var/cache/mip6ha", filepath.Join(xdg, "mip6ha")}; !slices.Equal(got, want) {
		t.Errorf("CacheDirs() = %q, want %q", got, want)
	}
	t.Setenv("MIP6HA_CACHE", "/srv/cache")
	if got, want := CacheDirs(), []string{"/srv/cache", "/var/cache/mip6ha", filepath.Join(xdg, "mip6ha")}; !slices.Equal(got, want) {
		t.Errorf("with MIP6HA_CACHE: CacheDirs() = %q, want %q", got, want)
	}
}

func TestIsExecutable(t *testing.T) {
	dir := t.TempDir()
	exe, plain := filepath.Join(dir, "exe"), filepath.Join(dir, "plain")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(plain, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]bool{exe: true, plain: false, dir: false, filepath.Join(dir, "absent"): false} {
		if got := IsExecutable(path); got != want {
			t.Errorf("IsExecutable(%s) = %v, want %v", path, got, want)
		}
	}
}
