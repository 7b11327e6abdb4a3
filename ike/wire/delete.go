package wire

import "encoding/binary"

// Delete is the Delete payload (RFC 7296 §3.11). One Delete names SAs of a
// single protocol: the IKE SA itself (ProtocolIKE, no SPIs) or Child SAs by
// the SPIs the sender expects on inbound AH or ESP packets.
type Delete struct {
	ProtocolID ProtocolID
	// SPISize is 0 for IKE and 4 for AH and ESP.
	SPISize uint8
	// SPIs holds the SPIs back to back, SPISize octets each.
	SPIs []byte
}

// DeleteIKESA returns the Delete payload of the IKE SA (RFC 7296 §1.4.1).
func DeleteIKESA() Delete { return Delete{ProtocolID: ProtocolIKE} }

// DeleteChildSAs returns a Delete payload for Child SAs of protocol p (AH or
// ESP) with the given inbound SPIs.
func DeleteChildSAs(p ProtocolID, spis ...uint32) Delete {
	b := make([]byte, 0, 4*len(spis))
	for _, s := range spis {
		b = binary.BigEndian.AppendUint32(b, s)
	}
	return Delete{ProtocolID: p, SPISize: 4, SPIs: b}
}

// ParseDelete parses the body of a Delete payload. The SPIs must fill the
// payload exactly as SPI Size × Num of SPIs says, and an SPI Size of 0 allows
// no SPIs.
func ParseDelete(b []byte) (Delete, error) {
	if len(b) < 4 {
		return Delete{}, syntaxError(PayloadDelete, 0, "Delete payload shorter than 4 octets")
	}
	size := int(b[1])
	num := int(binary.BigEndian.Uint16(b[2:4]))
	if size == 0 && num != 0 {
		return Delete{}, syntaxError(PayloadDelete, 2, "Num of SPIs with SPI Size 0")
	}
	if size*num != len(b)-4 {
		return Delete{}, syntaxError(PayloadDelete, 2, "SPI Size × Num of SPIs does not match the payload")
	}
	return Delete{ProtocolID: ProtocolID(b[0]), SPISize: b[1], SPIs: orNil(b[4:])}, nil
}

// Count returns the number of SPIs.
func (d Delete) Count() int {
	if d.SPISize == 0 {
		return 0
	}
	return len(d.SPIs) / int(d.SPISize)
}

// SPI returns the i-th SPI.
func (d Delete) SPI(i int) []byte {
	n := int(d.SPISize)
	return d.SPIs[i*n : (i+1)*n : (i+1)*n]
}

// PayloadType returns PayloadDelete.
func (Delete) PayloadType() PayloadType { return PayloadDelete }

// Len returns the length of the Delete payload body.
func (d Delete) Len() int { return 4 + len(d.SPIs) }

// Append appends the Delete payload body to b.
func (d Delete) Append(b []byte) []byte {
	b = append(b, byte(d.ProtocolID), d.SPISize)
	b = binary.BigEndian.AppendUint16(b, uint16(d.Count()))
	return append(b, d.SPIs...)
}

func (d Delete) validate() error {
	switch {
	case d.SPISize == 0 && len(d.SPIs) != 0:
		return valueError("Delete with SPIs but SPI Size 0")
	case d.SPISize != 0 && len(d.SPIs)%int(d.SPISize) != 0:
		return valueError("Delete SPIs of %d octets are not a multiple of SPI Size %d", len(d.SPIs), d.SPISize)
	case d.Count() > 0xffff:
		return valueError("Delete with %d SPIs", d.Count())
	}
	return nil
}
