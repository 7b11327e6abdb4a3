package lab

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Capture is a running tcpdump writing a pcap file.
type Capture struct {
	proc *Proc
	path string

	stopOnce sync.Once
	stopErr  error
}

var tcpdumpReady = regexp.MustCompile(`listening on `)

// Capture starts tcpdump inside the host on iface ("any" for all
// interfaces) with a pcap-filter expression (empty for everything) and
// returns once tcpdump is capturing. Packets are written to the file as
// they arrive (-U, --immediate-mode), so WaitPackets sees them at once and
// Stop loses nothing. The capture is stopped at cleanup; the file lives in
// the test's temporary directory.
func (h *Host) Capture(iface, filter string) *Capture {
	t := h.lab.t
	t.Helper()
	path := filepath.Join(t.TempDir(), fmt.Sprintf("%s-%s.pcap", h.name, iface))
	// -Z root: Debian's tcpdump otherwise drops to user tcpdump before it
	// opens the output file.
	args := []string{"-i", iface, "-n", "-U", "--immediate-mode", "-s", "0", "-Z", "root", "-w", path}
	if filter != "" {
		args = append(args, filter)
	}
	p := h.StartWith(ProcOptions{StopSignal: syscall.SIGINT}, "tcpdump", args...)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := p.WaitOutput(ctx, tcpdumpReady); err != nil {
		t.Fatalf("lab: tcpdump in %s: %v", h.name, err)
	}
	return &Capture{proc: p, path: path}
}

// Path is the pcap file.
func (c *Capture) Path() string { return c.path }

// Packets returns the packets written so far.
func (c *Capture) Packets() ([]Packet, error) {
	b, err := os.ReadFile(c.path)
	if err != nil {
		return nil, err
	}
	pc, err := ParsePcap(b)
	if errors.Is(err, ErrPcapTruncated) {
		// tcpdump may be in the middle of writing a record.
		err = nil
	}
	return pc.Packets, err
}

// WaitPackets waits until the capture holds at least n packets.
func (c *Capture) WaitPackets(ctx context.Context, n int) error {
	return Poll(ctx, fmt.Sprintf("%d packets in %s", n, filepath.Base(c.path)), func(context.Context) error {
		pkts, err := c.Packets()
		if err != nil {
			return err
		}
		if len(pkts) < n {
			return fmt.Errorf("%d packets so far", len(pkts))
		}
		return nil
	})
}

// Stop stops tcpdump (SIGINT, then waits for it to exit so the file is
// complete) and returns the pcap path. It fails the test if tcpdump failed.
func (c *Capture) Stop() string {
	t := c.proc.host.lab.t
	t.Helper()
	c.stopOnce.Do(func() { c.stopErr = c.proc.Stop() })
	if c.stopErr != nil {
		t.Fatalf("lab: tcpdump: %v", c.stopErr)
	}
	return c.path
}

// Pcap is a parsed classic pcap file (the format tcpdump -w writes).
type Pcap struct {
	LinkType uint32 // LINKTYPE_*: 1 Ethernet, 113 Linux cooked (SLL), 276 SLL2
	Nanos    bool   // timestamps have nanosecond resolution
	Packets  []Packet
}

// Packet is one record of a pcap file.
type Packet struct {
	Time    time.Time
	OrigLen int    // length on the wire
	Data    []byte // captured bytes (a view into the parsed file)
}

// Errors of ParsePcap.
var (
	ErrPcapMagic     = errors.New("pcap: not a pcap file (bad magic number)")
	ErrPcapTruncated = errors.New("pcap: truncated")
	ErrPcapRecord    = errors.New("pcap: bad record")
)

// maxPcapRecord bounds the captured length of a record; tcpdump -s 0 uses
// 262144.
const maxPcapRecord = 1 << 20

// ParsePcap parses a classic pcap file in either byte order and either
// timestamp resolution. A file cut in the middle of a record (being
// written) yields the complete records and ErrPcapTruncated.
func ParsePcap(b []byte) (Pcap, error) {
	var pc Pcap
	if len(b) < 24 {
		return pc, fmt.Errorf("%w: %d-byte header", ErrPcapTruncated, len(b))
	}
	var bo binary.ByteOrder
	switch m := binary.LittleEndian.Uint32(b); m {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
		pc.Nanos = m == 0xa1b23c4d
	default:
		switch binary.BigEndian.Uint32(b) {
		case 0xa1b2c3d4:
			bo = binary.BigEndian
		case 0xa1b23c4d:
			bo, pc.Nanos = binary.BigEndian, true
		default:
			return pc, ErrPcapMagic
		}
	}
	pc.LinkType = bo.Uint32(b[20:]) & 0x0fffffff
	off := 24
	for off < len(b) {
		if len(b)-off < 16 {
			return pc, fmt.Errorf("%w: record header at offset %d", ErrPcapTruncated, off)
		}
		h := b[off : off+16]
		sec, frac := bo.Uint32(h), bo.Uint32(h[4:])
		incl, orig := bo.Uint32(h[8:]), bo.Uint32(h[12:])
		if incl > maxPcapRecord {
			return pc, fmt.Errorf("%w: captured length %d at offset %d", ErrPcapRecord, incl, off)
		}
		off += 16
		if uint32(len(b)-off) < incl {
			return pc, fmt.Errorf("%w: record data at offset %d", ErrPcapTruncated, off)
		}
		ns := int64(frac)
		if !pc.Nanos {
			ns *= 1000
		}
		pc.Packets = append(pc.Packets, Packet{
			Time:    time.Unix(int64(sec), ns),
			OrigLen: int(orig),
			Data:    b[off : off+int(incl) : off+int(incl)],
		})
		off += int(incl)
	}
	return pc, nil
}

// Tshark runs tshark on a pcap file with the given arguments (besides
// -r FILE) and returns its standard output.
func Tshark(ctx context.Context, pcap string, args ...string) (string, error) {
	if _, err := exec.LookPath("tshark"); err != nil {
		return "", fmt.Errorf("tshark is not installed: %w", err)
	}
	cmd := exec.CommandContext(ctx, "tshark", append([]string{"-r", pcap}, args...)...)
	cmd.WaitDelay = 5 * time.Second
	// tshark complains on stderr when run as root; keep stderr for errors only.
	return run(cmd)
}

// TsharkFields decodes a pcap file with tshark and returns, for each packet
// matching the display filter (empty: all), the values of the fields (for
// example "ipv6.src", "icmpv6.type", "isakmp.exchangetype"). A field that
// occurs more than once in a packet gives its values joined by ",";
// an absent field gives "". extra arguments go to tshark before the
// field list (for instance -o options with decryption keys).
func TsharkFields(ctx context.Context, pcap, filter string, fields []string, extra ...string) ([][]string, error) {
	if len(fields) == 0 {
		return nil, errors.New("TsharkFields: no fields")
	}
	args := append([]string{}, extra...)
	if filter != "" {
		args = append(args, "-Y", filter)
	}
	args = append(args, "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,")
	for _, f := range fields {
		args = append(args, "-e", f)
	}
	out, err := Tshark(ctx, pcap, args...)
	if err != nil {
		return nil, err
	}
	var rows [][]string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		row := strings.Split(line, "\t")
		if len(row) != len(fields) {
			return nil, fmt.Errorf("tshark: %d values for %d fields in %q", len(row), len(fields), line)
		}
		rows = append(rows, row)
	}
	return rows, nil
}
