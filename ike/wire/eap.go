package wire

// EAP is the Extensible Authentication payload (RFC 7296 §3.16): one EAP
// message (RFC 3748), carried opaquely. Its body needs no parsing:
// EAP{Message: p.Body}.
type EAP struct {
	Message []byte
}

// PayloadType returns PayloadEAP.
func (EAP) PayloadType() PayloadType { return PayloadEAP }

// Len returns the length of the EAP message.
func (e EAP) Len() int { return len(e.Message) }

// Append appends the EAP message to b.
func (e EAP) Append(b []byte) []byte { return append(b, e.Message...) }
