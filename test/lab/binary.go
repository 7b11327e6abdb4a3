package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Binaries are built once per test process into one directory, registered
// like a lab so that a crashed run's directory is removed by the next one.
var (
	binMu    sync.Mutex
	binDir   string
	binRoot  string
	binBuilt = map[string]*binBuild{}
)

type binBuild struct {
	once sync.Once
	path string
	err  error
}

// Binary builds the main package pkg of this module (a path relative to
// the module root, such as "./cmd/homeagent") with `go build`, once per
// test process, and returns the executable's path. It fails the test if
// the build fails.
func Binary(t testing.TB, pkg string) string {
	t.Helper()
	if !strings.HasPrefix(pkg, "./") {
		t.Fatalf("lab.Binary(%q): want a path relative to the module root, starting with ./", pkg)
	}
	pkg = "./" + filepath.ToSlash(filepath.Clean(pkg))
	if pkg == "./." {
		t.Fatalf("lab.Binary(%q): name the directory of a main package", pkg)
	}
	binMu.Lock()
	b := binBuilt[pkg]
	if b == nil {
		b = &binBuild{}
		binBuilt[pkg] = b
	}
	binMu.Unlock()
	b.once.Do(func() { b.path, b.err = build(pkg) })
	if b.err != nil {
		t.Fatalf("lab.Binary: %v", b.err)
	}
	return b.path
}

func build(pkg string) (string, error) {
	dir, root, err := binaryDir()
	if err != nil {
		return "", err
	}
	// dir/cmd_homeagent/homeagent: the program keeps its own name.
	sub := filepath.Join(dir, strings.ReplaceAll(strings.TrimPrefix(pkg, "./"), "/", "_"))
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(sub, filepath.Base(pkg))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	cmd.WaitDelay = 5 * time.Second
	if _, err := run(cmd); err != nil {
		return "", err
	}
	return out, nil
}

// binaryDir creates (once) the directory for built binaries and finds the
// module root.
func binaryDir() (dir, root string, err error) {
	binMu.Lock()
	defer binMu.Unlock()
	if binDir != "" {
		return binDir, binRoot, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	gomod, err := runCmd(ctx, "go", "env", "GOMOD")
	if err != nil {
		return "", "", err
	}
	gomod = strings.TrimSpace(gomod)
	if gomod == "" || gomod == os.DevNull {
		return "", "", errors.New("not inside a Go module")
	}
	id := newID()
	d, err := os.MkdirTemp("", id+"-bin-")
	if err != nil {
		return "", "", err
	}
	if os.Geteuid() == 0 {
		if err := register(id, d); err != nil {
			os.RemoveAll(d)
			return "", "", fmt.Errorf("registering %s: %w", d, err)
		}
	}
	binDir, binRoot = d, filepath.Dir(gomod)
	return binDir, binRoot, nil
}
