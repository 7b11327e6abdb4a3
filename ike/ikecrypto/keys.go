package ikecrypto

import (
	"encoding/binary"
	"fmt"
)

// SKEYSEED returns prf(Ni | Nr, g^ir) (RFC 7296 §2.14) for a new IKE SA. ni
// and nr are the Nonce Data of the IKE_SA_INIT exchange without payload
// headers; gir is the D-H shared secret from PrivateKey.SharedSecret.
func SKEYSEED(prf PRF, ni, nr, gir []byte) []byte {
	key := make([]byte, 0, len(ni)+len(nr))
	key = append(append(key, ni...), nr...)
	return prf.Sum(key, gir)
}

// RekeySKEYSEED returns SKEYSEED for an IKE SA that replaces an old one
// through CREATE_CHILD_SA (RFC 7296 §2.18):
//
//	SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)
//
// oldPRF is the PRF of the old IKE SA: the rekeying exchange belongs to it.
// The seven new keys then come from Suite.DeriveKeys of the new suite, which uses
// the new IKE SA's PRF for prf+ as RFC 7296 §2.18 says. strongSwan (up to 6.x
// at least, keymat_v2.c) uses the old PRF for prf+ as well, so the two only
// agree when the PRF does not change; the state machine should therefore keep
// the PRF of the old IKE SA when it proposes or accepts an IKE SA rekey.
func RekeySKEYSEED(oldPRF PRF, oldSKd, gir, ni, nr []byte) []byte {
	return oldPRF.Sum(oldSKd, gir, ni, nr)
}

// Keys are the seven secrets of an IKE SA (RFC 7296 §2.14). The slices share
// one backing array and must not be appended to.
type Keys struct {
	SKd  []byte // derives CHILD_SA keys and the keys of a rekeyed IKE SA
	SKai []byte // integrity key, initiator to responder (empty with AEAD)
	SKar []byte // integrity key, responder to initiator (empty with AEAD)
	SKei []byte // encryption key, initiator to responder (salt included for AEAD)
	SKer []byte // encryption key, responder to initiator (salt included for AEAD)
	SKpi []byte // computes the initiator's AUTH payload
	SKpr []byte // computes the responder's AUTH payload
}

// Zero overwrites the seven keys with zeros, for an IKE SA that is gone:
// deleted, replaced by a rekey and retired, or never completed. The keys
// are useless afterwards. It wipes only these octets: the SK protectors
// made from them (Suite.NewSKPair) hold expanded cipher and HMAC state of
// their own that the standard library gives no way to overwrite; dropping
// them leaves that memory to the garbage collector.
func (k *Keys) Zero() {
	if k == nil {
		return
	}
	for _, key := range [...][]byte{k.SKd, k.SKai, k.SKar, k.SKei, k.SKer, k.SKpi, k.SKpr} {
		clear(key)
	}
}

// DeriveKeys derives the seven IKE SA secrets (RFC 7296 §2.14):
//
//	{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
//
// SK_d, SK_pi and SK_pr take the PRF's preferred key length, SK_a* the
// integrity key length (0 with AEAD) and SK_e* the cipher key plus salt. The
// SPIs are the IKE SA's (for a rekeyed SA, the new SPIs from the SA payloads),
// as 64-bit big-endian numbers.
func (s Suite) DeriveKeys(skeyseed, ni, nr []byte, spii, spir uint64) (*Keys, error) {
	var spis [16]byte
	binary.BigEndian.PutUint64(spis[:8], spii)
	binary.BigEndian.PutUint64(spis[8:], spir)
	km, err := s.prf.Plus(skeyseed, s.KeyMaterialSize(), ni, nr, spis[:])
	if err != nil {
		return nil, err
	}
	p, a, e := s.prf.KeySize(), s.integ.KeySize(), s.encr.KeySize()
	var k Keys
	for _, f := range []struct {
		key *[]byte
		n   int
	}{{&k.SKd, p}, {&k.SKai, a}, {&k.SKar, a}, {&k.SKei, e}, {&k.SKer, e}, {&k.SKpi, p}, {&k.SKpr, p}} {
		*f.key, km = km[:f.n:f.n], km[f.n:]
	}
	return &k, nil
}

// KEYMAT returns n octets of CHILD_SA key material (RFC 7296 §2.17):
//
//	KEYMAT = prf+(SK_d, Ni | Nr)                 without PFS (gir == nil)
//	KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr)    with a D-H exchange in CREATE_CHILD_SA
//
// prf and skd are the IKE SA's; ni and nr the nonces of the exchange that
// creates the CHILD_SA (the IKE_SA_INIT nonces for the first one).
func KEYMAT(prf PRF, skd, gir, ni, nr []byte, n int) ([]byte, error) {
	return prf.Plus(skd, n, gir, ni, nr)
}

// ChildKeys are a CHILD_SA pair's keys taken from KEYMAT (RFC 7296 §2.17):
// all keys of the SA that carries traffic from the initiator to the responder
// come first, and within an SA the encryption key precedes the integrity key.
// "Initiator" is the initiator of the exchange that created the CHILD_SA. For
// AEAD the encryption keys end with the salt (ESPSuite.SaltSize) and the
// integrity keys are empty.
type ChildKeys struct {
	EncrI, IntegI []byte // the SA from the initiator to the responder
	EncrR, IntegR []byte // the SA from the responder to the initiator
}

// SplitKEYMAT cuts KEYMAT into the CHILD_SA keys. keymat must hold at least
// KEYMATSize octets; the keys alias it.
func (e ESPSuite) SplitKEYMAT(keymat []byte) (ChildKeys, error) {
	if len(keymat) < e.KEYMATSize() {
		return ChildKeys{}, fmt.Errorf("%v: KEYMAT of %d octets, need %d: %w", e, len(keymat), e.KEYMATSize(), ErrKeyLength)
	}
	enc, integ := e.EncrKeySize(), e.IntegKeySize()
	var k ChildKeys
	for _, f := range []struct {
		key *[]byte
		n   int
	}{{&k.EncrI, enc}, {&k.IntegI, integ}, {&k.EncrR, enc}, {&k.IntegR, integ}} {
		*f.key, keymat = keymat[:f.n:f.n], keymat[f.n:]
	}
	return k, nil
}

// DeriveChildKeys derives KEYMAT for this ESP suite and splits it: see KEYMAT and
// SplitKEYMAT. gir is nil without PFS.
func (e ESPSuite) DeriveChildKeys(prf PRF, skd, gir, ni, nr []byte) (ChildKeys, error) {
	km, err := KEYMAT(prf, skd, gir, ni, nr, e.KEYMATSize())
	if err != nil {
		return ChildKeys{}, err
	}
	return e.SplitKEYMAT(km)
}
