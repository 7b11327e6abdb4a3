package wire

import "encoding/binary"

// Notify is the Notify payload (RFC 7296 §3.10).
type Notify struct {
	// ProtocolID is the protocol of the SA named by SPI; sent as 0 and
	// ignored on receipt when there is no SPI.
	ProtocolID ProtocolID
	// SPI is empty for notifications about the IKE SA; 4 octets for AH and
	// ESP (REKEY_SA, INVALID_SELECTORS, CHILD_SA_NOT_FOUND).
	SPI []byte
	// Type is the Notify Message Type.
	Type NotifyType
	// Data is the Notification Data, whose format depends on Type.
	Data []byte
}

// ParseNotify parses the body of a Notify payload. It checks only the generic
// layout (the SPI fits); the data of particular types is checked by the
// accessors below (NATDetectionHash, Cookie, AcceptedDHGroup, ChildSPI,
// HashAlgorithms, Redirect, RedirectedFrom), because a malformed status
// notify is usually ignored rather than fatal.
func ParseNotify(b []byte) (Notify, error) {
	if len(b) < 4 {
		return Notify{}, syntaxError(PayloadNotify, 0, "Notify payload shorter than 4 octets")
	}
	spiSize := int(b[1])
	if 4+spiSize > len(b) {
		return Notify{}, syntaxError(PayloadNotify, 1, "SPI Size exceeds the Notify payload")
	}
	return Notify{
		ProtocolID: ProtocolID(b[0]),
		SPI:        orNil(b[4 : 4+spiSize : 4+spiSize]),
		Type:       NotifyType(binary.BigEndian.Uint16(b[2:4])),
		Data:       orNil(b[4+spiSize:]),
	}, nil
}

// PayloadType returns PayloadNotify.
func (Notify) PayloadType() PayloadType { return PayloadNotify }

// Len returns the length of the Notify payload body.
func (n Notify) Len() int { return 4 + len(n.SPI) + len(n.Data) }

// Append appends the Notify payload body to b.
func (n Notify) Append(b []byte) []byte {
	b = append(b, byte(n.ProtocolID), byte(len(n.SPI)))
	b = binary.BigEndian.AppendUint16(b, uint16(n.Type))
	b = append(b, n.SPI...)
	return append(b, n.Data...)
}

func (n Notify) validate() error {
	if len(n.SPI) > 255 {
		return valueError("%v notify SPI of %d octets", n.Type, len(n.SPI))
	}
	return nil
}

// NATDetectionHashLen is the length of NAT_DETECTION_SOURCE_IP and
// NAT_DETECTION_DESTINATION_IP data: a SHA-1 digest (RFC 7296 §2.23).
const NATDetectionHashLen = 20

// NATDetectionHash returns the data of a NAT_DETECTION_SOURCE_IP or
// NAT_DETECTION_DESTINATION_IP notify, which must be 20 octets.
func (n Notify) NATDetectionHash() ([]byte, error) {
	if len(n.Data) != NATDetectionHashLen {
		return nil, n.dataError("NAT detection data is not 20 octets")
	}
	return n.Data, nil
}

// Cookie returns the data of a COOKIE notify, which must be 1 to 64 octets
// (RFC 7296 §2.6, §3.10.1).
func (n Notify) Cookie() ([]byte, error) {
	if len(n.Data) < 1 || len(n.Data) > 64 {
		return nil, n.dataError("COOKIE data is not 1 to 64 octets")
	}
	return n.Data, nil
}

// AcceptedDHGroup returns the group of an INVALID_KE_PAYLOAD notify, whose
// data is the 2-octet accepted D-H Group Num (RFC 7296 §1.3, §3.10.1).
func (n Notify) AcceptedDHGroup() (DHGroup, error) {
	if len(n.Data) != 2 {
		return 0, n.dataError("INVALID_KE_PAYLOAD data is not a 2-octet group")
	}
	return DHGroup(binary.BigEndian.Uint16(n.Data)), nil
}

// ChildSPI returns the 4-octet AH or ESP SPI that REKEY_SA,
// INVALID_SELECTORS and CHILD_SA_NOT_FOUND carry in the SPI field (RFC 7296
// §3.10, §3.10.1).
func (n Notify) ChildSPI() (uint32, error) {
	if n.ProtocolID != ProtocolAH && n.ProtocolID != ProtocolESP || len(n.SPI) != 4 {
		return 0, syntaxError(PayloadNotify, 0, "notify does not name an AH or ESP SPI")
	}
	return binary.BigEndian.Uint32(n.SPI), nil
}

// HashAlgorithms returns the data of a SIGNATURE_HASH_ALGORITHMS notify: a
// list of 2-octet hash algorithm identifiers (RFC 7427 §4).
func (n Notify) HashAlgorithms() (HashAlgorithms, error) {
	h, err := ParseHashAlgorithms(n.Data)
	if err != nil {
		return nil, relocate(err, 4+len(n.SPI))
	}
	return h, nil
}

// dataError reports malformed Notification Data; the offset is that of the
// data in the Notify body.
func (n Notify) dataError(reason string) error {
	return syntaxError(PayloadNotify, 4+len(n.SPI), reason)
}

// InvalidKEPayload returns an INVALID_KE_PAYLOAD notify naming the group the
// responder accepts (RFC 7296 §1.3).
func InvalidKEPayload(g DHGroup) Notify {
	return Notify{Type: NotifyInvalidKEPayload, Data: binary.BigEndian.AppendUint16(nil, uint16(g))}
}

// RekeySA returns a REKEY_SA notify for the Child SA of protocol p (AH or
// ESP) whose inbound SPI is spi (RFC 7296 §1.3.3).
func RekeySA(p ProtocolID, spi uint32) Notify {
	return Notify{ProtocolID: p, SPI: binary.BigEndian.AppendUint32(nil, spi), Type: NotifyRekeySA}
}

// SignatureHashAlgorithms returns a SIGNATURE_HASH_ALGORITHMS notify listing
// hs (RFC 7427 §4).
func SignatureHashAlgorithms(hs ...HashAlgorithm) Notify {
	return Notify{Type: NotifySignatureHashAlgorithms, Data: AppendHashAlgorithms(nil, hs...)}
}
