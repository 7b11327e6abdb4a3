package ikecrypto

import (
	"fmt"
)

// KeyLogLine returns one record of Wireshark's IKEv2 decryption table (the
// "ikev2_decryption_table" UAT), so that tshark can decrypt and verify the
// Encrypted payloads of the IKE SA:
//
//	ISPI,RSPI,SK_ei,SK_er,"<encryption>",SK_ai,SK_ar,"<integrity>"
//
// in lower-case hex, with the algorithm names tshark 4.0 expects, for example
// "AES-GCM-256 with 16 octet ICV [RFC5282]" and "NONE [RFC4306]". SK_e keeps
// the AEAD salt, as tshark wants it. Pass the line to tshark as
//
//	-o 'uat:ikev2_decryption_table:<line>'
//
// or write it to the ikev2_decryption_table file of a Wireshark profile. The
// line has no newline. A suite tshark 4.0 cannot decrypt (ChaCha20-Poly1305)
// returns an error wrapping ErrNoKeyLogName.
func KeyLogLine(spii, spir uint64, s Suite, k *Keys) (string, error) {
	enc, integ := s.encr.s.keyLogName, s.integ.s.keyLogName
	if enc == "" || integ == "" {
		return "", fmt.Errorf("%v: %w", s, ErrNoKeyLogName)
	}
	return fmt.Sprintf("%016x,%016x,%x,%x,%q,%x,%x,%q", spii, spir, k.SKei, k.SKer, enc, k.SKai, k.SKar, integ), nil
}
