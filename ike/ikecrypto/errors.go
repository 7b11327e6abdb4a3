package ikecrypto

// Notify message types (RFC 7296 §3.10.1) that the errors of this package map
// to. The package does not import the wire codec, so the numbers are repeated
// here; they are the IANA values.
const (
	notifyNone                 uint16 = 0
	notifyInvalidSyntax        uint16 = 7
	notifyNoProposalChosen     uint16 = 14
	notifyAuthenticationFailed uint16 = 24
)

// Error is the type of this package's sentinel errors. Errors returned by the
// package wrap one of them with %w, so callers classify a failure with
// errors.Is and find the Notify to answer with through errors.As:
//
//	var e *ikecrypto.Error
//	if errors.As(err, &e) && e.NotifyType() != 0 { /* send Notify e.NotifyType() */ }
type Error struct {
	msg    string
	notify uint16
}

// Error returns the description of the failure.
func (e *Error) Error() string { return "ikecrypto: " + e.msg }

// NotifyType returns the Notify message type (RFC 7296 §3.10.1) that the
// failure maps to, or 0 if the offending message is dropped without an answer.
func (e *Error) NotifyType() uint16 { return e.notify }

var (
	// ErrUnsupportedTransform reports a transform ID, key length or
	// combination of transforms that this package does not implement. During
	// proposal selection it means "not this proposal"; if no proposal is left
	// the answer is NO_PROPOSAL_CHOSEN.
	ErrUnsupportedTransform = &Error{"unsupported transform", notifyNoProposalChosen}

	// ErrKeyLength reports key material whose length does not match the
	// transform. It is a programming error in the caller, never peer input.
	ErrKeyLength = &Error{"key material of the wrong length", notifyNone}

	// ErrIntegrity reports an Encrypted payload whose ICV or AEAD tag does not
	// verify, or that is too short or misaligned to carry one. RFC 7296 §2.21.2
	// and §3.14: the message is dropped silently and no state changes.
	ErrIntegrity = &Error{"encrypted payload failed the integrity check", notifyNone}

	// ErrPadding reports an Encrypted payload that authenticated but whose Pad
	// Length is longer than the decrypted data. The peer sent a malformed
	// message: INVALID_SYNTAX.
	ErrPadding = &Error{"encrypted payload has an invalid pad length", notifyInvalidSyntax}

	// ErrIVExhausted reports that the 64-bit AEAD IV counter of an SK has run
	// out; the IKE SA must be rekeyed before it can send again (RFC 5282 §3.1).
	ErrIVExhausted = &Error{"AEAD IV counter exhausted, rekey the IKE SA", notifyNone}

	// ErrLength reports a message prefix handed to Seal whose IKE header
	// Length field does not already hold the final message length.
	ErrLength = &Error{"IKE header length does not match the sealed message", notifyNone}

	// ErrInvalidKeyExchange reports Key Exchange data that fails the checks of
	// RFC 6989 §2 (wrong length, not on the curve, out of range, low order).
	// RFC 6989 §2.5: in IKE_SA_INIT the message is dropped; in a
	// CREATE_CHILD_SA request the answer is INVALID_SYNTAX, the NotifyType.
	ErrInvalidKeyExchange = &Error{"invalid key exchange data", notifyInvalidSyntax}

	// ErrAuthenticationFailed reports an AUTH payload that does not verify, or
	// a signature algorithm, hash or key the local policy does not accept:
	// AUTHENTICATION_FAILED (RFC 7296 §2.15, §2.21.2).
	ErrAuthenticationFailed = &Error{"authentication failed", notifyAuthenticationFailed}

	// ErrMalformedAuthData reports Authentication Data that cannot be parsed
	// (RFC 7427 §3). It is an authentication failure towards the peer.
	ErrMalformedAuthData = &Error{"malformed authentication data", notifyAuthenticationFailed}

	// ErrSignatureKey reports a local signing key that does not fit the
	// requested authentication method or signature scheme, or a peer whose
	// announced hashes leave no scheme for the key. It is a configuration
	// error on this side.
	ErrSignatureKey = &Error{"signing key does not fit the authentication method", notifyNone}

	// ErrKeyZeroed reports a D-H private key used after PrivateKey.Zero. It
	// is a programming error in the caller, never peer input.
	ErrKeyZeroed = &Error{"private key already zeroed", notifyNone}

	// ErrRandomSource reports that the injected random source failed.
	ErrRandomSource = &Error{"random source failed", notifyNone}

	// ErrSigner reports that the crypto.Signer holding the local private key
	// failed to sign.
	ErrSigner = &Error{"signer failed", notifyNone}

	// ErrCertificate reports a peer certificate that does not chain to a
	// trusted root or does not match the peer's identity (RFC 7296 §3.5,
	// RFC 4945 §3.1): AUTHENTICATION_FAILED.
	ErrCertificate = &Error{"certificate not acceptable", notifyAuthenticationFailed}

	// ErrNoKeyLogName reports a transform that tshark 4.0's IKEv2 decryption
	// table has no name for, so no key-log line can be written for it.
	ErrNoKeyLogName = &Error{"transform unknown to the tshark IKEv2 decryption table", notifyNone}
)
