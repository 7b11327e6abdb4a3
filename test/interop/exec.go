package interop

import (
	"context"
	"os/exec"
	"time"
)

// commandContext is exec.CommandContext with a bound on the wait for the
// output pipes after the command is killed.
func commandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}
