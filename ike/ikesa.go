package ike

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/mip6ha/mip6ha/ike/ikecrypto"
	"github.com/mip6ha/mip6ha/ike/wire"
)

// ikeSA is one IKE SA of an SA: its SPIs, keys, Message ID windows, the
// request in flight and the cached last response. An SA holds the current
// one and, during a rekey, the replaced or redundant ones until they are
// deleted. The window size is 1 in both directions (RFC 7296 §2.3): we
// never announce a larger one, and send one request at a time.
type ikeSA struct {
	spis      SPIs
	initiator bool // we are its original initiator (I flag on our messages)

	prop  chosen
	suite ikecrypto.Suite
	keys  *ikecrypto.Keys
	enc   *ikecrypto.SK // seals what we send
	dec   *ikecrypto.SK // opens what we receive

	// ni and nr are the nonces of the exchange that created this IKE SA;
	// they seed the first CHILD_SA and settle rekey collisions.
	ni, nr []byte

	nextID   uint32 // Message ID of our next request
	peerNext uint32 // Message ID expected in the peer's next request

	pending *request   // our request in flight
	queue   []exchange // our requests waiting for the window

	lastReqHash [sha256.Size]byte // of the peer's last request, to spot retransmissions
	lastResp    []byte            // our response to it
	lastRespDg  Datagram

	// deleting is set once a Delete of this IKE SA is sent or received;
	// the SA then takes no new requests.
	deleting bool
	// retired is set when the IKE SA is gone (deleted after a rekey).
	retired bool
	// retireAt is when a replaced IKE SA that nobody deleted is retired.
	retireAt time.Time
	// announced is set once IKERekeyed reported the IKE SA.
	announced bool
}

// request is a request of ours in flight.
type request struct {
	id      uint32
	ex      exchange
	msg     []byte // the message as sent, retransmitted bit for bit (RFC 7296 §2.1)
	sent    int    // transmissions so far
	next    time.Time
	created time.Time
}

// flags returns the header flags of our messages on this IKE SA.
func (ike *ikeSA) flags(response bool) wire.Flags {
	var f wire.Flags
	if ike.initiator {
		f |= wire.FlagInitiator
	}
	if response {
		f |= wire.FlagResponse
	}
	return f
}

// localSPI returns our SPI of the pair.
func (ike *ikeSA) localSPI() uint64 {
	if ike.initiator {
		return ike.spis.I
	}
	return ike.spis.R
}

// setKeys installs the keys of the IKE SA and its SK protectors.
func (ike *ikeSA) setKeys(c chosen, keys *ikecrypto.Keys, cfg *config) error {
	suite, err := c.suite()
	if err != nil {
		return err
	}
	enc, dec, err := suite.NewSKPair(keys, ike.initiator, cfg.Rand)
	if err != nil {
		return err
	}
	ike.prop, ike.suite, ike.keys, ike.enc, ike.dec = c, suite, keys, enc, dec
	if cfg.KeyLog != nil {
		if line, err := ikecrypto.KeyLogLine(ike.spis.I, ike.spis.R, suite, keys); err == nil {
			fmt.Fprintln(cfg.KeyLog, line)
		}
	}
	return nil
}

// protect builds a protected message: the IKE header h (NextPayload and
// Length are filled in) and an SK payload holding the encoded chain inner,
// whose first payload type is first (RFC 7296 §3.14).
func (ike *ikeSA) protect(h wire.HeaderFields, first wire.PayloadType, inner []byte) ([]byte, error) {
	n := len(inner)
	over := ike.enc.Overhead(n)
	skLen := 4 + n + over
	if skLen > 0xffff {
		return nil, fmt.Errorf("%w: message of %d octets", ErrProtocol, skLen)
	}
	h.NextPayload = wire.PayloadSK
	h.Length = uint32(wire.HeaderLen + skLen)
	msg := h.Append(make([]byte, 0, int(h.Length)))
	msg = append(msg, byte(first), 0, 0, 0)
	binary.BigEndian.PutUint16(msg[wire.HeaderLen+2:], uint16(skLen))
	return ike.enc.Seal(msg, inner)
}

// unprotect verifies and decrypts the SK payload of m (in place) and parses
// its content into m.Inner. It fails with an error wrapping
// ikecrypto.ErrIntegrity (drop silently), a wire error (answer
// INVALID_SYNTAX or UNSUPPORTED_CRITICAL_PAYLOAD) or ErrProtocol (no SK
// payload).
func (ike *ikeSA) unprotect(m *wire.Message) error {
	e, ok := m.Encrypted()
	if !ok || e.TotalFragments != 0 {
		return fmt.Errorf("%w: no Encrypted payload", ErrProtocol)
	}
	if ike.dec == nil {
		return fmt.Errorf("%w: IKE SA not keyed yet", ErrProtocol)
	}
	body := len(e.AssociatedData())
	pt, err := ike.dec.Open(e.Message, body)
	if err != nil {
		return err
	}
	m.Inner, err = wire.ParsePayloads(pt, e.Next, m.Inner[:0])
	return err
}

// forget drops the requests of an IKE SA that is gone and wipes its keys
// and the D-H key of its request in flight. The SK protectors stay: their
// cipher state cannot be wiped (ikecrypto.Keys.Zero) and goes with the
// ikeSA.
func (ike *ikeSA) forget() {
	if ike.pending != nil {
		zeroSecrets(ike.pending.ex)
	}
	ike.pending, ike.queue = nil, nil
	ike.keys.Zero()
}

// retransmitAt returns when the request in flight needs attention.
func (ike *ikeSA) retransmitAt() time.Time {
	if ike.pending == nil {
		return time.Time{}
	}
	return ike.pending.next
}
