//go:build unix

package config

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkOwner refuses a file that belongs to a user other than root and the
// one running the program: that user could change the secrets.
func checkOwner(st fs.FileInfo) error {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if uid := sys.Uid; uid != 0 && int(uid) != os.Geteuid() {
		return fmt.Errorf("%w: owned by uid %d, neither root nor this process's user (uid %d)", ErrFileMode, uid, os.Geteuid())
	}
	return nil
}
