package ikecrypto_test

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/mip6ha/mip6ha/ike/ikecrypto"
)

// A new IKE SA between two ends: X25519, AES-GCM-16-256 and
// PRF_HMAC_SHA2_256, then one message from the initiator to the responder.
func Example() {
	suite, err := ikecrypto.NewSuite(ikecrypto.EncrAESGCM16, 256, ikecrypto.IntegNone, ikecrypto.PRFHMACSHA2_256)
	if err != nil {
		panic(err)
	}
	group, err := ikecrypto.LookupGroup(ikecrypto.Curve25519)
	if err != nil {
		panic(err)
	}
	ni, nr := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	spii, spir := uint64(0x0102030405060708), uint64(0x1112131415161718)

	// Each end: a key pair, the peer's public value from its KE payload,
	// SKEYSEED and the seven keys.
	deriveKeys := func(own *ikecrypto.PrivateKey, peerKE []byte) *ikecrypto.Keys {
		gir, err := own.SharedSecret(peerKE)
		if err != nil {
			panic(err)
		}
		skeyseed := ikecrypto.SKEYSEED(suite.PRF(), ni, nr, gir)
		keys, err := suite.DeriveKeys(skeyseed, ni, nr, spii, spir)
		if err != nil {
			panic(err)
		}
		return keys
	}
	dhI, _ := group.GenerateKey(rand.Reader)
	dhR, _ := group.GenerateKey(rand.Reader)
	keysI := deriveKeys(dhI, dhR.PublicValue())
	keysR := deriveKeys(dhR, dhI.PublicValue())

	outI, _, err := suite.NewSKPair(keysI, true, rand.Reader)
	if err != nil {
		panic(err)
	}
	_, inR, err := suite.NewSKPair(keysR, false, rand.Reader)
	if err != nil {
		panic(err)
	}

	// The wire builder writes the IKE header and the SK payload header with
	// their final lengths, then seals the inner payloads behind them.
	inner := []byte{0, 0, 0, 8, 0, 0, 0x40, 0x16} // N(REDIRECT_SUPPORTED)
	body := len(inner) + outI.Overhead(len(inner))
	msg := make([]byte, 28+4)
	binary.BigEndian.PutUint64(msg[0:], spii)
	binary.BigEndian.PutUint64(msg[8:], spir)
	msg[16], msg[17], msg[18], msg[19] = 46, 0x20, 37, 0x08 // SK, IKEv2, INFORMATIONAL, I
	binary.BigEndian.PutUint32(msg[24:], uint32(len(msg)+body))
	msg[28] = 41 // first inner payload: Notify
	binary.BigEndian.PutUint16(msg[30:], uint16(4+body))
	msg, err = outI.Seal(msg, inner)
	if err != nil {
		panic(err)
	}

	got, err := inR.Open(msg, 28+4)
	fmt.Printf("%d-octet message, inner payloads %x, %v\n", len(msg), got, err)

	// The key log tshark needs to decrypt this IKE SA (keys elided here).
	line, _ := ikecrypto.KeyLogLine(spii, spir, suite, keysI)
	fields := strings.Split(line, ",")
	fmt.Println(fields[0], fields[1], fields[4], fields[7])
	// Output:
	// 65-octet message, inner payloads 0000000800004016, <nil>
	// 0102030405060708 1112131415161718 "AES-GCM-256 with 16 octet ICV [RFC5282]" "NONE [RFC4306]"
}
