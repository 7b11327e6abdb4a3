package homeagent

import (
	"context"
	"encoding/json"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/admin"
	"github.com/mip6ha/mip6ha/test/lab"
)

// TestHomeAgentREADMECommand runs the README's first command, `homeagent
// run` with no file, environment or flag, in a lab host: it starts on the
// embedded defaults, binds UDP 500 and 4500, answers `homeagent ctl status`
// on the default admin socket with the embedded store, and stops cleanly on
// SIGTERM. The default data directory and /run are private tmpfs mounts of
// the daemon's mount namespace, so the test leaves nothing on the machine
// and meets no other home agent's store (the daemon itself is given no
// setting at all).
func TestHomeAgentREADMECommand(t *testing.T) {
	tp := lab.NewTopology(t, lab.TopologyConfig{HAs: 1})
	ctx := haCtx(t, 90*time.Second)
	bin := lab.Binary(t, "./cmd/homeagent")
	proc := tp.HA1.StartWith(lab.ProcOptions{StopTimeout: 20 * time.Second}, "unshare", "--mount", "--propagation", "private",
		"sh", "-c", `mkdir -p /var/lib/mip6ha /run && mount -t tmpfs tmpfs /var/lib/mip6ha && mount -t tmpfs tmpfs /run && exec "$0" run`, bin)
	if _, err := proc.WaitOutput(ctx, regexp.MustCompile(`msg="home agent started"`)); err != nil {
		t.Fatalf("%v\n%s", err, proc.Stderr())
	}
	for _, port := range []int{500, 4500} {
		if err := tp.HA1.WaitListening(ctx, "udp", port); err != nil {
			t.Fatal(err)
		}
	}
	// homeagent ctl, in the daemon's network and mount namespaces.
	out, err := exec.CommandContext(ctx, "nsenter", "--target", strconv.Itoa(proc.Pid()), "--mount", "--net",
		bin, "ctl", "--json", "status").Output()
	if err != nil {
		t.Fatalf("homeagent ctl status: %v\n%s", err, proc.Stderr())
	}
	var st admin.Status
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("status %q: %v", out, err)
	}
	if st.Store != "embedded" || !st.Healthy || st.Members != 1 || st.IKESAs != 0 || len(st.Listen) == 0 {
		t.Errorf("status of a fresh home agent: %+v", st)
	}
	for _, port := range st.Listen {
		if port.Port() != 500 {
			t.Errorf("IKE listening on %v, want port 500", port)
		}
	}
	if err := proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := proc.Wait(waitCtx); err != nil {
		t.Errorf("exit after SIGTERM: %v\n%s", err, logTail(proc.Stderr(), 3000))
	}
}
