// Package tshark lets tests check packets with Wireshark's dissectors, an
// implementation independent of ours: write packets to a pcap file
// (Writer, WriteFile), run tshark on it and read back the fields it
// decoded, per packet (Fields), or its whole dissection tree (JSON).
//
// tshark 4.0 (Debian 12) is what the project runs. Tests call Require,
// which skips them with a clear message when tshark is not installed.
// Preferences (-o, for instance an IKEv2 decryption table), decode-as
// rules (-d) and a display filter (-Y) go in Options.
//
//	path := filepath.Join(t.TempDir(), "bu.pcap")
//	if err := tshark.WriteFile(path, tshark.LinkTypeRaw, pkt1, pkt2); err != nil { ... }
//	pkts, err := tshark.Fields(ctx, path, []string{"mip6.mhtype", "mip6.bu.seqnr"}, tshark.Options{})
//	pkts[0].Value("mip6.bu.seqnr") // "1000"
package tshark

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// ErrNotInstalled is returned when tshark is not on the PATH.
var ErrNotInstalled = errors.New("tshark: not installed (Debian: apt-get install tshark)")

// Binary returns the path of the tshark executable.
func Binary() (string, error) {
	p, err := exec.LookPath("tshark")
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNotInstalled, err)
	}
	return p, nil
}

// Require returns the path of tshark, or skips the test saying that tshark
// is needed.
func Require(tb testing.TB) string {
	tb.Helper()
	p, err := Binary()
	if err != nil {
		tb.Skipf("skipping: this test checks packets with tshark, which is not installed (%v)", err)
	}
	return p
}

// DefaultTimeout bounds a tshark run when Options.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// Options adjust a tshark run.
type Options struct {
	// Filter is a display filter (-Y): only matching packets are returned.
	Filter string
	// Prefs are preferences, each "name:value" (-o), for example
	// "uat:ikev2_decryption_table:SPIi,SPIr,SK_ei,..." or
	// "mip6.some_pref:TRUE".
	Prefs []string
	// DecodeAs are decode-as rules (-d), each "layer==selector,protocol",
	// for example "udp.port==4191,ipv6".
	DecodeAs []string
	// Args are further arguments, placed before the output options.
	Args []string
	// Timeout bounds the run (default DefaultTimeout).
	Timeout time.Duration
}

func (o Options) args() []string {
	a := []string{"-n"} // no name resolution: addresses stay numeric
	for _, p := range o.Prefs {
		a = append(a, "-o", p)
	}
	for _, d := range o.DecodeAs {
		a = append(a, "-d", d)
	}
	if o.Filter != "" {
		a = append(a, "-Y", o.Filter)
	}
	return append(a, o.Args...)
}

// Run runs tshark -r pcap with the options and then args, and returns its
// standard output. A failure carries tshark's standard error.
func Run(ctx context.Context, pcap string, opt Options, args ...string) ([]byte, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	timeout := opt.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	all := append(append([]string{"-r", pcap}, opt.args()...), args...)
	cmd := exec.CommandContext(ctx, bin, all...)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("tshark %s: %w: %s", strings.Join(all, " "), err, tsharkErrors(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// tsharkErrors drops the warning tshark prints when run as root.
func tsharkErrors(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" && !strings.HasPrefix(l, "Running as user") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "; ")
}

// Packet is what tshark decoded of one packet: for each requested field,
// its values in the order they appear (a field present several times has
// several values, an absent field none). Values are tshark's text: numbers
// in decimal, booleans "1"/"0", addresses in their usual notation, some
// fields (checksums) in hex with 0x.
type Packet map[string][]string

// Value returns the first value of the field, or "".
func (p Packet) Value(field string) string {
	if v := p[field]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Values returns all values of the field.
func (p Packet) Values(field string) []string { return p[field] }

// Has reports whether the field is present.
func (p Packet) Has(field string) bool { return len(p[field]) > 0 }

type jsonPacket struct {
	Source struct {
		Layers json.RawMessage `json:"layers"`
	} `json:"_source"`
}

// Fields decodes the pcap file and returns, for each packet (matching
// opt.Filter), the values of the fields (-T json -e, so values may hold
// any character and repeated fields stay apart).
func Fields(ctx context.Context, pcap string, fields []string, opt Options) ([]Packet, error) {
	if len(fields) == 0 {
		return nil, errors.New("tshark.Fields: no fields")
	}
	args := []string{"-T", "json"}
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := Run(ctx, pcap, opt, args...)
	if err != nil {
		return nil, err
	}
	var raw []jsonPacket
	if err := json.Unmarshal(out, &raw); err != nil {
		return nil, fmt.Errorf("tshark.Fields: output is not the expected JSON: %w", err)
	}
	pkts := make([]Packet, len(raw))
	for i, r := range raw {
		pkts[i] = Packet{}
		if len(r.Source.Layers) == 0 {
			continue
		}
		if err := json.Unmarshal(r.Source.Layers, (*map[string][]string)(&pkts[i])); err != nil {
			return nil, fmt.Errorf("tshark.Fields: packet %d: %w", i+1, err)
		}
	}
	return pkts, nil
}

// JSON decodes the pcap file and returns each packet's dissection tree
// (the "layers" object of tshark -T json --no-duplicate-keys: protocol →
// field → value; a field present several times has an array). Use it to
// look at fields not known in advance; Fields is simpler otherwise.
func JSON(ctx context.Context, pcap string, opt Options) ([]map[string]any, error) {
	out, err := Run(ctx, pcap, opt, "-T", "json", "--no-duplicate-keys")
	if err != nil {
		return nil, err
	}
	var raw []jsonPacket
	if err := json.Unmarshal(out, &raw); err != nil {
		return nil, fmt.Errorf("tshark.JSON: output is not the expected JSON: %w", err)
	}
	trees := make([]map[string]any, len(raw))
	for i, r := range raw {
		if err := json.Unmarshal(r.Source.Layers, &trees[i]); err != nil {
			return nil, fmt.Errorf("tshark.JSON: packet %d: %w", i+1, err)
		}
	}
	return trees, nil
}
