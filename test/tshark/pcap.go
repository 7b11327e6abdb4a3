package tshark

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// LinkType is the link-layer header type of a pcap file (LINKTYPE_*).
type LinkType uint32

// Link types for test captures. tshark 4.0 decodes all four.
const (
	// LinkTypeEthernet: Ethernet II frames.
	LinkTypeEthernet LinkType = 1
	// LinkTypeRaw: raw IP, IPv4 or IPv6 told apart by the version nibble.
	// The usual choice for packets built by the code under test.
	LinkTypeRaw LinkType = 101
	// LinkTypeIPv4: raw IPv4 only.
	LinkTypeIPv4 LinkType = 228
	// LinkTypeIPv6: raw IPv6 only.
	LinkTypeIPv6 LinkType = 229
)

// MaxPacket is the snapshot length written in the file header; longer
// packets are refused.
const MaxPacket = 262144

// Writer writes a classic pcap file: little-endian, microsecond
// timestamps, one link type.
type Writer struct {
	w io.Writer
}

// NewWriter writes the pcap file header to w.
func NewWriter(w io.Writer, link LinkType) (*Writer, error) {
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], 2) // version 2.4
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], MaxPacket)
	binary.LittleEndian.PutUint32(h[20:], uint32(link))
	if _, err := w.Write(h[:]); err != nil {
		return nil, err
	}
	return &Writer{w: w}, nil
}

// ErrTooLong is returned for packets longer than MaxPacket.
var ErrTooLong = errors.New("tshark: packet longer than the pcap snapshot length")

// WritePacket appends one packet captured at t.
func (w *Writer) WritePacket(t time.Time, data []byte) error {
	if len(data) > MaxPacket {
		return fmt.Errorf("%w: %d octets", ErrTooLong, len(data))
	}
	var h [16]byte
	binary.LittleEndian.PutUint32(h[0:], uint32(t.Unix()))
	binary.LittleEndian.PutUint32(h[4:], uint32(t.Nanosecond()/1000))
	binary.LittleEndian.PutUint32(h[8:], uint32(len(data)))
	binary.LittleEndian.PutUint32(h[12:], uint32(len(data)))
	if _, err := w.w.Write(h[:]); err != nil {
		return err
	}
	_, err := w.w.Write(data)
	return err
}

// Epoch is the time of the first packet WriteFile writes; the others
// follow a second apart, so files are reproducible.
var Epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// WriteFile writes the packets to a new pcap file at path, the first at
// Epoch and each next one a second later.
func WriteFile(path string, link LinkType, packets ...[]byte) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	bw := bufio.NewWriter(f)
	w, err := NewWriter(bw, link)
	if err != nil {
		return err
	}
	for i, p := range packets {
		if err := w.WritePacket(Epoch.Add(time.Duration(i)*time.Second), p); err != nil {
			return err
		}
	}
	return bw.Flush()
}
