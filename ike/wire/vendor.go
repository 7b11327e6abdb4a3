package wire

// VendorID is the Vendor ID payload (RFC 7296 §3.12): an opaque constant that
// receivers that do not recognise it ignore. Its body needs no parsing:
// VendorID{Data: p.Body}.
type VendorID struct {
	Data []byte
}

// PayloadType returns PayloadVendorID.
func (VendorID) PayloadType() PayloadType { return PayloadVendorID }

// Len returns the length of the Vendor ID.
func (v VendorID) Len() int { return len(v.Data) }

// Append appends the Vendor ID to b.
func (v VendorID) Append(b []byte) []byte { return append(b, v.Data...) }
