package config

import (
	"bytes"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// FuzzLoad feeds arbitrary files to the loader: it must never panic, and a
// configuration it accepts must render (YAML) to a file that loads back to
// the same configuration.
func FuzzLoad(f *testing.F) {
	examples, _ := filepath.Glob("testdata/examples/*.yaml")
	for _, name := range examples {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	for _, c := range []*Config{testDefault(f), exampleConfig(f)} {
		y, err := c.YAML()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(y)
	}
	f.Add([]byte("ike: {listen: [\"::\"], port: 0}\nhome: {prefix: \"2001:db8::/129\"}\n"))
	f.Add([]byte("a: &a [1, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := load("fuzz.yaml", data, map[string]string{}, nil, false)
		if err != nil {
			if KeyErrors(err) == nil && cfg != nil {
				t.Fatalf("a Config with an error: %v", err)
			}
			return
		}
		y, err := cfg.YAML()
		if err != nil {
			t.Fatalf("YAML of an accepted configuration: %v", err)
		}
		again, err := load("again.yaml", y, map[string]string{}, nil, false)
		if err != nil {
			t.Fatalf("rendered configuration does not load:\n%s\n%v", y, err)
		}
		if !reflect.DeepEqual(again, cfg) {
			t.Fatalf("round trip changed the configuration:\n%s", y)
		}
	})
}

// FuzzParseSecrets: the secrets file parser never panics, and what it
// accepts survives being written back in hexadecimal.
func FuzzParseSecrets(f *testing.F) {
	f.Add([]byte("# keys\nmn1@example.net 0x00112233\n* \"any key \"\n2001:db8::1\ttext\n"))
	f.Add([]byte("keyid:00ff secret\n@ha.example.net s\n"))
	f.Add([]byte("a"))
	f.Fuzz(func(t *testing.T, data []byte) {
		entries, err := ParseSecrets("f", data)
		if err != nil {
			return
		}
		var b bytes.Buffer
		for _, e := range entries {
			b.WriteString(e.Identity + " 0x" + hex.EncodeToString(e.Secret) + "\n")
		}
		again, err := ParseSecrets("g", b.Bytes())
		if err != nil || len(again) != len(entries) {
			t.Fatalf("rewritten file %q: %v", b.String(), err)
		}
		for i := range entries {
			if again[i].Identity != entries[i].Identity || !bytes.Equal(again[i].Secret, entries[i].Secret) {
				t.Fatalf("entry %d: %+v became %+v", i, entries[i], again[i])
			}
		}
	})
}

// FuzzParseListen: the admin address parser never panics, and accepts only
// a unix path or a loopback TCP address.
func FuzzParseListen(f *testing.F) {
	for _, s := range []string{DefaultAdminListen, "unix:/a", "127.0.0.1:0", "[::1]:8086", "localhost:1", "0.0.0.0:1", "./a.sock"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		network, addr, err := ParseListen(s)
		if err != nil {
			return
		}
		if network != "unix" && network != "tcp" || addr == "" {
			t.Fatalf("ParseListen(%q) = %q, %q", s, network, addr)
		}
	})
}
