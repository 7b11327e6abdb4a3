package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// maxSecretsFile bounds what ParseSecretsFile reads: a million peers' keys
// fit; a mistaken path to a large file is refused quickly.
const maxSecretsFile = 64 << 20

// PSKEntry is a peer's pre-shared key from ike.psks or the secrets file.
type PSKEntry struct {
	// Identity is the peer's identity as written (ParseIdentity syntax),
	// or AnyIdentity.
	Identity string
	// Secret is the decoded key.
	Secret []byte
	// Source is where the entry was written: "ike.psks[2]" or
	// "FILE:LINE".
	Source string
}

// ParseSecrets parses the content of a secrets file: one pre-shared key
// per line, "IDENTITY SECRET", with IDENTITY in ParseIdentity syntax (or
// AnyIdentity) and SECRET the rest of the line in ParseSecret syntax,
// separated by blanks. Blank lines and lines starting with '#' are
// skipped. An identity may appear once. name prefixes the Source of each
// entry and the line numbers of errors.
//
// The errors never contain a secret.
func ParseSecrets(name string, data []byte) ([]PSKEntry, error) {
	var out []PSKEntry
	first := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		at := fmt.Sprintf("%s:%d", name, n)
		i := strings.IndexAny(line, " \t")
		if i < 0 {
			return nil, fmt.Errorf("%s: want \"IDENTITY SECRET\"", at)
		}
		id, secret := line[:i], line[i+1:]
		if id != AnyIdentity {
			if _, err := ParseIdentity(id); err != nil {
				return nil, fmt.Errorf("%s: identity %q %v", at, id, err)
			}
		}
		key, err := ParseSecret(secret)
		if err != nil {
			return nil, fmt.Errorf("%s: the secret of %q %v", at, id, err)
		}
		if m, dup := first[id]; dup {
			return nil, fmt.Errorf("%s: identity %q already has a key on line %d", at, id, m)
		}
		first[id] = n
		out = append(out, PSKEntry{Identity: id, Secret: key, Source: at})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// ErrFileMode is wrapped by the error of a file holding secrets that others
// could read or change.
var ErrFileMode = errors.New("file holding secrets is accessible to others")

// readSecretFile reads a file that holds secrets (keys), refusing one that
// is not a regular file, is accessible to others, is writable by its group,
// or belongs to a user other than root and the caller.
func readSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if err := checkSecretMode(st); err != nil {
		return nil, err
	}
	if st.Size() > maxSecretsFile {
		return nil, fmt.Errorf("is larger than %d octets", maxSecretsFile)
	}
	var b bytes.Buffer
	if _, err := b.ReadFrom(f); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// checkSecretMode applies the permission rules of files holding secrets.
func checkSecretMode(st fs.FileInfo) error {
	if !st.Mode().IsRegular() {
		return errors.New("is not a regular file")
	}
	if perm := st.Mode().Perm(); perm&0o027 != 0 {
		return fmt.Errorf("%w: mode %04o; want no access for others and no write for the group (chmod 0600 or 0640)", ErrFileMode, perm)
	}
	return checkOwner(st)
}
