package homelink_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps the package's dependencies to what the architecture
// allows it: the standard library, golang.org/x/sys, golang.org/x/net and
// netlink. In particular no ike, mip6, policy or homeagent.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	allowed := []string{"golang.org/x/sys/", "golang.org/x/net/", "github.com/vishvananda/netlink"}
	for _, imp := range strings.Fields(string(out)) {
		first, _, _ := strings.Cut(imp, "/")
		if !strings.Contains(first, ".") {
			continue // standard library
		}
		ok := false
		for _, a := range allowed {
			ok = ok || strings.HasPrefix(imp, a)
		}
		if !ok {
			t.Errorf("homelink imports %s", imp)
		}
	}
}
