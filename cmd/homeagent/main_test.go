package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCommandUsage checks the exit statuses and messages of the command
// line that need no running home agent.
func TestCommandUsage(t *testing.T) {
	dir := t.TempDir()
	unknownKey := filepath.Join(dir, "unknown.yaml")
	if err := os.WriteFile(unknownKey, []byte("home:\n  prefx: 2001:db8:1::/64\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		args   []string
		status int
		stderr []string // substrings
	}{
		{"no command", nil, exitUsage, []string{"usage:"}},
		{"unknown command", []string{"start"}, exitUsage, []string{`unknown command "start"`}},
		{"unknown flag", []string{"run", "--nope"}, exitUsage, []string{"unknown flag: --nope"}},
		{"stray argument", []string{"run", "now"}, exitUsage, []string{"unexpected arguments"}},
		{"unknown key", []string{"run", "--config", unknownKey}, exitUsage,
			[]string{"home.prefx: is not a known key", `did you mean "home.prefix"`, "nothing was started"}},
		{"invalid prefix", []string{"run", "--prefix", "2001:db8::/129"}, exitUsage,
			[]string{`home.prefix: "2001:db8::/129" is not a valid IPv6 prefix (--home.prefix)`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("MIP6HA_CONFIG", "")
			var stdout, stderr bytes.Buffer
			if got := command(tc.args, &stdout, &stderr); got != tc.status {
				t.Errorf("exit status %d, want %d; stderr:\n%s", got, tc.status, stderr.String())
			}
			for _, want := range tc.stderr {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
				}
			}
		})
	}
	var stdout bytes.Buffer
	if command([]string{"version"}, &stdout, &bytes.Buffer{}) != exitOK || stdout.Len() == 0 {
		t.Error("version printed nothing")
	}
}
