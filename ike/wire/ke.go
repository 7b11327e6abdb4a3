package wire

import "encoding/binary"

// KE is the Key Exchange payload (RFC 7296 §3.4).
type KE struct {
	// Group is the Diffie-Hellman Group Num.
	Group DHGroup
	// Data is the Key Exchange Data: the public value, left-padded to the
	// group's length for MODP (RFC 7296 §3.4), x‖y for ECP (RFC 5903 §7),
	// 32 octets for Curve25519 (RFC 8031 §3). Checking it is the crypto
	// layer's job.
	Data []byte
}

// ParseKE parses the body of a KE payload.
func ParseKE(b []byte) (KE, error) {
	if len(b) < 4 {
		return KE{}, syntaxError(PayloadKE, 0, "KE payload shorter than 4 octets")
	}
	return KE{Group: DHGroup(binary.BigEndian.Uint16(b)), Data: orNil(b[4:])}, nil
}

// PayloadType returns PayloadKE.
func (KE) PayloadType() PayloadType { return PayloadKE }

// Len returns the length of the KE payload body.
func (k KE) Len() int { return 4 + len(k.Data) }

// Append appends the KE payload body to b.
func (k KE) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(k.Group))
	b = append(b, 0, 0)
	return append(b, k.Data...)
}
