//go:build !unix

package config

import "io/fs"

// checkOwner is a no-op where files have no Unix owner.
func checkOwner(fs.FileInfo) error { return nil }
