package ikecrypto

import (
	"crypto/subtle"
	"fmt"
)

// keyPad is the PSK key pad of RFC 7296 §2.15: 17 ASCII octets, no NUL.
const keyPad = "Key Pad for IKEv2"

// SignedOctets returns the octets an AUTH payload signs or MACs
// (RFC 7296 §2.15):
//
//	InitiatorSignedOctets = RealMessage1 | NonceRData | MACedIDForI
//	ResponderSignedOctets = RealMessage2 | NonceIData | MACedIDForR
//	MACedIDForX           = prf(SK_px, IDx')
//
// realMessage is this side's IKE_SA_INIT message as sent or received (the
// last version if it was resent for a COOKIE or INVALID_KE_PAYLOAD), from the
// first octet of the IKE header, without the non-ESP marker. nonce is the
// peer's Nonce Data. skp is SK_pi for the initiator's AUTH and SK_pr for the
// responder's. idBody is IDx', the ID payload without its generic header: ID
// Type, the three RESERVED octets as received, and the identification data.
func SignedOctets(prf PRF, skp, realMessage, nonce, idBody []byte) []byte {
	out := make([]byte, 0, len(realMessage)+len(nonce)+prf.Size())
	out = append(append(out, realMessage...), nonce...)
	return append(out, prf.Sum(skp, idBody)...)
}

// SharedKeyMIC returns the Authentication Data of the Shared Key Message
// Integrity Code method (RFC 7296 §2.15):
//
//	AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)
//
// secret is the pre-shared key exactly as configured (no NUL added), or the
// EAP MSK.
func SharedKeyMIC(prf PRF, secret, signedOctets []byte) []byte {
	return prf.Sum(prf.Sum(secret, []byte(keyPad)), signedOctets)
}

// VerifySharedKeyMIC recomputes the Shared Key MIC and compares it with the
// received Authentication Data in constant time. A mismatch returns an error
// wrapping ErrAuthenticationFailed.
func VerifySharedKeyMIC(prf PRF, secret, signedOctets, authData []byte) error {
	want := SharedKeyMIC(prf, secret, signedOctets)
	if subtle.ConstantTimeCompare(want, authData) != 1 {
		return fmt.Errorf("%v: %w", AuthSharedKeyMIC, ErrAuthenticationFailed)
	}
	return nil
}
