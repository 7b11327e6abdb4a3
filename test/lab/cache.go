package lab

import (
	"os"
	"path/filepath"
)

// CacheDirs returns the directories where the scripts of test/deps.d keep
// what they build or unpack, in the order tests look in them:
// $MIP6HA_CACHE if set, /var/cache/mip6ha (the scripts' default for root),
// then ${XDG_CACHE_HOME:-$HOME/.cache}/mip6ha (their default for other
// users).
func CacheDirs() []string {
	var dirs []string
	if d := os.Getenv("MIP6HA_CACHE"); d != "" {
		dirs = append(dirs, d)
	}
	dirs = append(dirs, "/var/cache/mip6ha")
	if d, err := os.UserCacheDir(); err == nil {
		dirs = append(dirs, filepath.Join(d, "mip6ha"))
	}
	return dirs
}

// IsExecutable reports whether path is a regular file with an execute
// permission bit set.
func IsExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}
