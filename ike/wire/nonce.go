package wire

// Nonce is the Nonce payload, Ni or Nr (RFC 7296 §3.9).
type Nonce struct {
	// Data is the Nonce Data: 16 to 256 random octets, at least half the
	// PRF key size (RFC 7296 §2.10).
	Data []byte
}

// Nonce Data length limits (RFC 7296 §3.9).
const (
	MinNonceLen = 16
	MaxNonceLen = 256
)

// ParseNonce parses the body of a Nonce payload, whose Nonce Data must be 16
// to 256 octets (RFC 7296 §3.9).
func ParseNonce(b []byte) (Nonce, error) {
	if len(b) < MinNonceLen || len(b) > MaxNonceLen {
		return Nonce{}, syntaxError(PayloadNonce, 0, "Nonce Data is not 16 to 256 octets")
	}
	return Nonce{Data: b}, nil
}

// PayloadType returns PayloadNonce.
func (Nonce) PayloadType() PayloadType { return PayloadNonce }

// Len returns the length of the Nonce payload body.
func (n Nonce) Len() int { return len(n.Data) }

// Append appends the Nonce Data to b.
func (n Nonce) Append(b []byte) []byte { return append(b, n.Data...) }

func (n Nonce) validate() error {
	if len(n.Data) < MinNonceLen || len(n.Data) > MaxNonceLen {
		return valueError("Nonce Data of %d octets", len(n.Data))
	}
	return nil
}
