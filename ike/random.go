package ike

import (
	"encoding/binary"
	"fmt"
	"io"
)

// nonceLen is the length of our nonces: 32 octets, at least half the key
// size of every PRF we use and within 16..256 (RFC 7296 §2.10, §3.9).
const nonceLen = 32

func readFull(r io.Reader, b []byte) (int, error) {
	n, err := io.ReadFull(r, b)
	if err != nil {
		return n, fmt.Errorf("%w: random source: %w", ErrConfig, err)
	}
	return n, nil
}

// newNonce returns fresh Nonce Data.
func (sa *SA) newNonce() ([]byte, error) {
	b := make([]byte, nonceLen)
	_, err := readFull(sa.cfg.Rand, b)
	return b, err
}

// newIKESPI returns a new local IKE SPI (never 0).
func (sa *SA) newIKESPI() (uint64, error) { return newIKESPI(sa.cfg) }

func newIKESPI(cfg *config) (uint64, error) {
	if cfg.SPIs != nil {
		spi, err := cfg.SPIs.IKESPI()
		if err == nil && spi == 0 {
			err = fmt.Errorf("%w: SPIAllocator returned IKE SPI 0", ErrConfig)
		}
		return spi, err
	}
	var b [8]byte
	for {
		if _, err := readFull(cfg.Rand, b[:]); err != nil {
			return 0, err
		}
		if spi := binary.BigEndian.Uint64(b[:]); spi != 0 {
			return spi, nil
		}
	}
}

// newChildSPI returns a new local CHILD_SA SPI (never below 256, RFC 4303
// §2.1).
func (sa *SA) newChildSPI() (uint32, error) {
	if sa.cfg.SPIs != nil {
		spi, err := sa.cfg.SPIs.ChildSPI()
		if err == nil && spi < 256 {
			err = fmt.Errorf("%w: SPIAllocator returned reserved CHILD_SA SPI %d", ErrConfig, spi)
		}
		return spi, err
	}
	var b [4]byte
	for {
		if _, err := readFull(sa.cfg.Rand, b[:]); err != nil {
			return 0, err
		}
		if spi := binary.BigEndian.Uint32(b[:]); spi >= 256 {
			return spi, nil
		}
	}
}

// jitter returns d shortened by a random amount of up to the configured
// jitter (RFC 7296 §2.8.1: rekey timers SHOULD be jittered).
func (sa *SA) jitter(d int64) int64 {
	j := int64(sa.cfg.RekeyJitter)
	if j < 0 {
		return d
	}
	if j == 0 {
		j = d / 10
	}
	if j <= 0 || j >= d {
		return d
	}
	var b [8]byte
	if _, err := readFull(sa.cfg.Rand, b[:]); err != nil {
		return d
	}
	return d - int64(binary.BigEndian.Uint64(b[:])%uint64(j))
}
