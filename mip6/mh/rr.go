package mh

import "encoding/binary"

// The return routability messages (RFC 6275 §5.2.5, §6.1.3-§6.1.6). A home
// agent only relays HoTI and HoT through the tunnel; this package encodes
// and decodes them so that captures and relays can be checked.

// HomeTestInit is the Home Test Init message (MH Type 1, RFC 6275 §6.1.3).
//
//	6: reserved (2)   8: Home Init Cookie (8)   16: options
type HomeTestInit struct {
	Cookie  [8]byte
	Options Options
}

// CareOfTestInit is the Care-of Test Init message (MH Type 2,
// RFC 6275 §6.1.4); same layout as [HomeTestInit].
type CareOfTestInit struct {
	Cookie  [8]byte
	Options Options
}

// HomeTest is the Home Test message (MH Type 3, RFC 6275 §6.1.5).
//
//	6: Home Nonce Index   8: Home Init Cookie (8)   16: Home Keygen Token (8)   24: options
type HomeTest struct {
	NonceIndex  uint16
	Cookie      [8]byte
	KeygenToken [8]byte
	Options     Options
}

// CareOfTest is the Care-of Test message (MH Type 4, RFC 6275 §6.1.6);
// same layout as [HomeTest].
type CareOfTest struct {
	NonceIndex  uint16
	Cookie      [8]byte
	KeygenToken [8]byte
	Options     Options
}

const (
	testInitFixed = 16
	testFixed     = 24
)

func appendTestInit(b []byte, t Type, cookie [8]byte, opts Options) []byte {
	b = appendHeader(b, t, testInitFixed+opts.areaLen(testInitFixed))
	b = append(append(b, 0, 0), cookie[:]...)
	return opts.appendArea(b, testInitFixed)
}

func parseTestInit(h Header, t Type) (cookie [8]byte, opts Options, err error) {
	if err = h.body(t); err != nil {
		return cookie, nil, err
	}
	opts = Options(h[testInitFixed:])
	if err = opts.check(testInitFixed, t.String()); err != nil {
		return cookie, nil, err
	}
	return [8]byte(h[8:16]), opts, nil
}

func appendTest(b []byte, t Type, index uint16, cookie, token [8]byte, opts Options) []byte {
	b = appendHeader(b, t, testFixed+opts.areaLen(testFixed))
	b = binary.BigEndian.AppendUint16(b, index)
	b = append(append(b, cookie[:]...), token[:]...)
	return opts.appendArea(b, testFixed)
}

func parseTest(h Header, t Type) (index uint16, cookie, token [8]byte, opts Options, err error) {
	if err = h.body(t); err != nil {
		return 0, cookie, token, nil, err
	}
	opts = Options(h[testFixed:])
	if err = opts.check(testFixed, t.String()); err != nil {
		return 0, cookie, token, nil, err
	}
	return binary.BigEndian.Uint16(h[6:]), [8]byte(h[8:16]), [8]byte(h[16:24]), opts, nil
}

// Type returns [TypeHomeTestInit].
func (HomeTestInit) Type() Type { return TypeHomeTestInit }

// Len is the length of the Mobility Header.
func (m HomeTestInit) Len() int { return testInitFixed + m.Options.areaLen(testInitFixed) }

// Append appends the Mobility Header with a zero checksum.
func (m HomeTestInit) Append(b []byte) []byte {
	return appendTestInit(b, TypeHomeTestInit, m.Cookie, m.Options)
}

// ParseHomeTestInit decodes a Home Test Init; Options is a view into h.
func ParseHomeTestInit(h Header) (HomeTestInit, error) {
	c, o, err := parseTestInit(h, TypeHomeTestInit)
	return HomeTestInit{Cookie: c, Options: o}, err
}

// Type returns [TypeCareOfTestInit].
func (CareOfTestInit) Type() Type { return TypeCareOfTestInit }

// Len is the length of the Mobility Header.
func (m CareOfTestInit) Len() int { return testInitFixed + m.Options.areaLen(testInitFixed) }

// Append appends the Mobility Header with a zero checksum.
func (m CareOfTestInit) Append(b []byte) []byte {
	return appendTestInit(b, TypeCareOfTestInit, m.Cookie, m.Options)
}

// ParseCareOfTestInit decodes a Care-of Test Init; Options is a view into h.
func ParseCareOfTestInit(h Header) (CareOfTestInit, error) {
	c, o, err := parseTestInit(h, TypeCareOfTestInit)
	return CareOfTestInit{Cookie: c, Options: o}, err
}

// Type returns [TypeHomeTest].
func (HomeTest) Type() Type { return TypeHomeTest }

// Len is the length of the Mobility Header.
func (m HomeTest) Len() int { return testFixed + m.Options.areaLen(testFixed) }

// Append appends the Mobility Header with a zero checksum.
func (m HomeTest) Append(b []byte) []byte {
	return appendTest(b, TypeHomeTest, m.NonceIndex, m.Cookie, m.KeygenToken, m.Options)
}

// ParseHomeTest decodes a Home Test; Options is a view into h.
func ParseHomeTest(h Header) (HomeTest, error) {
	i, c, k, o, err := parseTest(h, TypeHomeTest)
	return HomeTest{NonceIndex: i, Cookie: c, KeygenToken: k, Options: o}, err
}

// Type returns [TypeCareOfTest].
func (CareOfTest) Type() Type { return TypeCareOfTest }

// Len is the length of the Mobility Header.
func (m CareOfTest) Len() int { return testFixed + m.Options.areaLen(testFixed) }

// Append appends the Mobility Header with a zero checksum.
func (m CareOfTest) Append(b []byte) []byte {
	return appendTest(b, TypeCareOfTest, m.NonceIndex, m.Cookie, m.KeygenToken, m.Options)
}

// ParseCareOfTest decodes a Care-of Test; Options is a view into h.
func ParseCareOfTest(h Header) (CareOfTest, error) {
	i, c, k, o, err := parseTest(h, TypeCareOfTest)
	return CareOfTest{NonceIndex: i, Cookie: c, KeygenToken: k, Options: o}, err
}
