package ike

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"net/netip"
	"sync/atomic"
	"time"
)

// Stateless cookies (RFC 7296 §2.6):
//
//	Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)
//
// VersionIDofSecret is the low octet of the epoch, now / CookieRotation;
// the secret of an epoch is HMAC-SHA-256(master, epoch), so rotation needs
// no state and no lock: it follows the time each call gives. A cookie of the
// previous epoch is still accepted, so one made just before a rotation
// works for between one and two rotation periods.

const (
	cookieLen = 1 + 16
	// DefaultCookieRotation is how often the cookie secret changes.
	DefaultCookieRotation = 2 * time.Minute
)

type cookieSecret struct {
	epoch uint64
	key   [sha256.Size]byte
}

type cookieJar struct {
	master   [32]byte
	rotation time.Duration
	cur      atomic.Pointer[cookieSecret]
}

func (j *cookieJar) secret(epoch uint64) [sha256.Size]byte {
	if s := j.cur.Load(); s != nil && s.epoch == epoch {
		return s.key
	}
	m := hmac.New(sha256.New, j.master[:])
	m.Write(binary.BigEndian.AppendUint64(nil, epoch))
	s := &cookieSecret{epoch: epoch}
	m.Sum(s.key[:0])
	if c := j.cur.Load(); c == nil || c.epoch < epoch {
		j.cur.Store(s)
	}
	return s.key
}

func (j *cookieJar) epoch(now time.Time) uint64 {
	return uint64(now.UnixNano()) / uint64(j.rotation)
}

// make returns the cookie for an initiator.
func (j *cookieJar) make(now time.Time, ni []byte, ip netip.Addr, spii uint64) []byte {
	e := j.epoch(now)
	return j.compute(e, ni, ip, spii)
}

func (j *cookieJar) compute(epoch uint64, ni []byte, ip netip.Addr, spii uint64) []byte {
	key := j.secret(epoch)
	m := hmac.New(sha256.New, key[:])
	m.Write(ni)
	a := ip.Unmap().AsSlice()
	m.Write(a)
	m.Write(binary.BigEndian.AppendUint64(nil, spii))
	out := make([]byte, 0, cookieLen)
	out = append(out, byte(epoch))
	return append(out, m.Sum(nil)[:cookieLen-1]...)
}

// valid checks a cookie returned by an initiator: made by us, for this
// initiator, in this or the previous epoch.
func (j *cookieJar) valid(now time.Time, cookie, ni []byte, ip netip.Addr, spii uint64) bool {
	if len(cookie) != cookieLen {
		return false
	}
	e := j.epoch(now)
	for _, ep := range []uint64{e, e - 1} {
		if byte(ep) == cookie[0] {
			return subtle.ConstantTimeCompare(j.compute(ep, ni, ip, spii), cookie) == 1
		}
	}
	return false
}
