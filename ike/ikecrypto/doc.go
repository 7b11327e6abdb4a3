// Package ikecrypto is the cryptographic layer of the IKEv2 engine
// (RFC 7296): the transform catalog, Diffie-Hellman groups, prf and prf+,
// the key schedule of IKE and CHILD SAs, protection of the Encrypted (SK)
// payload, and the AUTH payload computations.
//
// The package knows nothing of the wire codec: transforms, groups and
// methods are plain IANA numbers (EncrID, PRFID, IntegID, DHGroup,
// AuthMethod, HashAlgorithm), and messages are byte slices. It does no I/O
// and reads no clock; every random value comes from an io.Reader the caller
// passes in (nil means crypto/rand.Reader), so a test can replay a transcript.
//
// # Model
//
// Catalog. Lookup, LookupEncr, LookupInteg, LookupPRF and LookupGroup turn
// the transforms of a received proposal into catalog entries or an error
// wrapping ErrUnsupportedTransform. NewSuite checks a selected IKE proposal
// (an AEAD cipher goes without INTEG, AES-CBC needs one) and returns the
// Suite, which knows every key size. LookupESP does the same for the ESP
// transforms of the user-space dataplane.
//
// Key exchange. Group.GenerateKey makes an ephemeral key whose PublicValue is
// the KE payload's Key Exchange Data; PrivateKey.SharedSecret checks the
// peer's value (RFC 6989) and returns g^ir.
//
// Key schedule (RFC 7296 §2.13-§2.18):
//
//	SKEYSEED                      SKEYSEED(prf, Ni, Nr, g^ir)
//	SK_d | SK_ai | ... | SK_pr    Suite.DeriveKeys(SKEYSEED, Ni, Nr, SPIi, SPIr)
//	IKE SA rekey                  RekeySKEYSEED(oldPRF, oldSK_d, g^ir, Ni, Nr), then DeriveKeys
//	CHILD_SA KEYMAT               KEYMAT(prf, SK_d, g^ir or nil, Ni, Nr, n)
//	CHILD_SA keys                 ESPSuite.DeriveChildKeys / ESPSuite.SplitKEYMAT
//
// Encrypted payload. Suite.NewSKPair gives one end of an IKE SA its outbound
// and inbound SK. The wire builder writes the IKE header and the SK generic
// header with final lengths (SK.Overhead tells how long the payload will
// be), then SK.Seal appends IV | ciphertext | ICV; SK.Open verifies and
// decrypts a received message in place. An Open failure wrapping
// ErrIntegrity means: drop the message silently.
//
// Authentication (RFC 7296 §2.15, RFC 7427). SignedOctets builds what AUTH
// covers; SharedKeyMIC and VerifySharedKeyMIC implement pre-shared keys;
// SignAuthData and VerifyAuthData the signature methods 1, 9-11 and 14;
// ChooseSignatureScheme picks a method 14 scheme the peer accepts;
// VerifyPeerCertificate checks the peer's certificate chain and that it names
// the peer's ID.
//
// Also: NATDetectionHash for the NAT_DETECTION_*_IP notifies, and KeyLogLine,
// which writes the keys of an IKE SA in the form tshark's IKEv2 decryption
// table reads.
//
// # Wiping key material
//
// Keys.Zero wipes the seven keys of an IKE SA that is gone, and
// PrivateKey.Zero destroys a D-H private key once the shared secret is
// computed (the exponent of a MODP key is overwritten; crypto/ecdh keys can
// only be dropped). SKEYSEED, g^ir and KEYMAT are plain slices the caller
// owns and wipes with clear; prf+ leaves no unreturned octets behind. What
// this package cannot reach stays until the garbage collector reuses the
// memory: the key schedules inside cipher.AEAD, cipher.Block and HMAC
// values (an SK's, and the HMAC state prf and prf+ key with SK_d or
// SKEYSEED), the scalar inside an ecdh.PrivateKey, and math/big
// temporaries of the MODP exponentiations.
//
// # Errors
//
// Every error wraps one of the sentinels of type *Error. Its NotifyType is the
// Notify message type the state machine answers with (NO_PROPOSAL_CHOSEN,
// INVALID_SYNTAX, AUTHENTICATION_FAILED), or 0 when the message is dropped.
//
// # Concurrency
//
// Catalog entries, suites and groups are immutable and safe for concurrent
// use; so are private keys, until Zero. An SK holds the IV counter and scratch space of one
// direction and belongs to the single owner of its IKE SA.
//
// # Example
//
// The key schedule of a new IKE SA, as both ends compute it:
//
//	suite, _ := ikecrypto.NewSuite(ikecrypto.EncrAESGCM16, 256, ikecrypto.IntegNone, ikecrypto.PRFHMACSHA2_256)
//	group, _ := ikecrypto.LookupGroup(ikecrypto.Curve25519)
//	dh, _ := group.GenerateKey(rand.Reader)         // dh.PublicValue() goes into KEi
//	gir, err := dh.SharedSecret(keData)              // keData from the peer's KEr
//	skeyseed := ikecrypto.SKEYSEED(suite.PRF(), ni, nr, gir)
//	keys, _ := suite.DeriveKeys(skeyseed, ni, nr, spii, spir)
//	out, in, _ := suite.NewSKPair(keys, true, rand.Reader)
//
// The runnable version is Example.
package ikecrypto
