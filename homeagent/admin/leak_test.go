package admin

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests if a goroutine outlives them: a
// server that does not stop, a client connection left open.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
