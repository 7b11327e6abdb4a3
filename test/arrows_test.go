package test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/mip6ha/mip6ha"

// forbidden lists, per package prefix, the repository packages it must not
// import (docs/architecture.md, "Packages and the direction of imports").
var forbidden = map[string][]string{
	"/ike":                 {"/mip6", "/policy", "/homeagent", "/test", "/cmd"},
	"/mip6":                {"/ike", "/policy", "/homeagent", "/test", "/cmd"},
	"/policy":              {"/ike", "/mip6", "/homeagent", "/test", "/cmd"},
	"/homeagent/dataplane": {"/ike", "/mip6", "/policy", "/homeagent", "/test", "/cmd"},
	"/homeagent/homelink":  {"/ike", "/mip6", "/policy", "/homeagent", "/test", "/cmd"},
	"/homeagent/store":     {"/ike", "/mip6", "/policy", "/homeagent/dataplane", "/homeagent/homelink", "/test", "/cmd"},
	"/homeagent/telemetry": {"/ike", "/mip6", "/policy", "/homeagent/dataplane", "/homeagent/homelink", "/homeagent/store", "/test", "/cmd"},
	"/homeagent":           {"/test", "/cmd"},
}

// forbiddenExternal lists third-party modules the protocol cores must not use.
var forbiddenExternal = map[string][]string{
	"/ike":    {"go.etcd.io/", "go.opentelemetry.io/otel/sdk", "github.com/vishvananda/"},
	"/mip6":   {"go.etcd.io/", "go.opentelemetry.io/otel/sdk", "github.com/vishvananda/"},
	"/policy": {"go.etcd.io/", "go.opentelemetry.io/", "github.com/", "golang.org/x/"},
}

func within(pkg, prefix string) bool {
	p := module + prefix
	return pkg == p || strings.HasPrefix(pkg, p+"/")
}

// TestImportArrows keeps the package dependency rules of the architecture.
func TestImportArrows(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg, imports := f[0], f[1:]
		// The most specific rule applies: homeagent/dataplane's, not homeagent's.
		prefix := ""
		for p := range forbidden {
			if within(pkg, p) && len(p) > len(prefix) {
				prefix = p
			}
		}
		if bans := forbidden[prefix]; prefix != "" {
			for _, imp := range imports {
				for _, ban := range bans {
					if within(imp, ban) && !within(imp, prefix) {
						t.Errorf("%s imports %s (forbidden: %s must not import %s)", pkg, imp, prefix, ban)
					}
				}
			}
		}
		for prefix, bans := range forbiddenExternal {
			if !within(pkg, prefix) {
				continue
			}
			for _, imp := range imports {
				for _, ban := range bans {
					if strings.HasPrefix(imp, ban) {
						t.Errorf("%s imports %s (forbidden in %s)", pkg, imp, prefix)
					}
				}
			}
		}
	}
}
