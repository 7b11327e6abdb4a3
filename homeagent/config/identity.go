package config

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/mip6ha/mip6ha/ike"
)

// AnyIdentity in ike.psks or the secrets file gives the key of every peer
// that has none of its own.
const AnyIdentity = "*"

// maxIdentity bounds an identity's length: an ID payload's data must fit in
// an IKE message, and nobody needs more.
const maxIdentity = 255

// ParseIdentity parses an IKE identity written as strongSwan writes them:
// an IP address (ID_IPV4_ADDR, ID_IPV6_ADDR), "keyid:HEX" (ID_KEY_ID), a name
// with '@' (ID_RFC822_ADDR, e.g. an NAI "mn1@example.net"), "@name" or any
// other name (ID_FQDN).
func ParseIdentity(s string) (ike.ID, error) {
	switch {
	case s == "":
		return ike.ID{}, errors.New("is empty")
	case len(s) > maxIdentity:
		return ike.ID{}, fmt.Errorf("is longer than %d octets", maxIdentity)
	case strings.TrimSpace(s) != s || strings.ContainsAny(s, " \t\r\n"):
		return ike.ID{}, errors.New("contains blanks")
	case strings.HasPrefix(s, "keyid:"):
		b, err := hex.DecodeString(strings.TrimPrefix(s, "keyid:"))
		if err != nil || len(b) == 0 {
			return ike.ID{}, errors.New("is not keyid: followed by hexadecimal octets")
		}
		return ike.KeyID(b), nil
	case strings.HasPrefix(s, "@"):
		if len(s) == 1 {
			return ike.ID{}, errors.New("is an empty name")
		}
		return ike.FQDN(s[1:]), nil
	}
	for _, r := range s {
		if r < 0x21 || r > 0x7e {
			return ike.ID{}, errors.New("is not printable ASCII")
		}
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return ike.ID{}, errors.New("is an address with a zone")
		}
		return ike.AddrID(a.Unmap()), nil
	}
	if strings.Contains(s, "@") {
		return ike.RFC822(s), nil
	}
	return ike.FQDN(s), nil
}

// ParseSecret decodes a pre-shared key as written in ike.psks or the secrets
// file: "0x" and hexadecimal octets, text in double quotes (kept as is
// between them), or the text itself without surrounding blanks. An empty
// key is an error.
func ParseSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "0x"):
		b, err := hex.DecodeString(s[2:])
		if err != nil {
			return nil, errors.New("is not 0x followed by hexadecimal octets")
		}
		if len(b) == 0 {
			return nil, errors.New("is empty")
		}
		return b, nil
	case len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"':
		s = s[1 : len(s)-1]
	}
	if s == "" {
		return nil, errors.New("is empty")
	}
	return []byte(s), nil
}
