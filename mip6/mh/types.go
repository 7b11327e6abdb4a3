package mh

import "strconv"

// ProtoMH is the IPv6 Next Header value of the Mobility Header (RFC 6275 §6.1).
const ProtoMH = 135

// ProtoNone is IPPROTO_NONE, the only valid Payload Proto of a Mobility
// Header (RFC 6275 §6.1.1, §9.2).
const ProtoNone = 59

// Type is the MH Type field (RFC 6275 §6.1.1, IANA "Mobility Header Types").
type Type uint8

// MH types this package encodes and decodes.
const (
	TypeBindingRefreshRequest Type = 0  // BRR, RFC 6275 §6.1.2
	TypeHomeTestInit          Type = 1  // HoTI, RFC 6275 §6.1.3
	TypeCareOfTestInit        Type = 2  // CoTI, RFC 6275 §6.1.4
	TypeHomeTest              Type = 3  // HoT, RFC 6275 §6.1.5
	TypeCareOfTest            Type = 4  // CoT, RFC 6275 §6.1.6
	TypeBindingUpdate         Type = 5  // BU, RFC 6275 §6.1.7
	TypeBindingAck            Type = 6  // BA, RFC 6275 §6.1.8
	TypeBindingError          Type = 7  // BE, RFC 6275 §6.1.9
	TypeHomeAgentSwitch       Type = 12 // HAS, RFC 5142 §4
)

var typeNames = map[Type]string{
	TypeBindingRefreshRequest: "Binding Refresh Request",
	TypeHomeTestInit:          "Home Test Init",
	TypeCareOfTestInit:        "Care-of Test Init",
	TypeHomeTest:              "Home Test",
	TypeCareOfTest:            "Care-of Test",
	TypeBindingUpdate:         "Binding Update",
	TypeBindingAck:            "Binding Acknowledgement",
	TypeBindingError:          "Binding Error",
	8:                         "Fast Binding Update",
	9:                         "Fast Binding Acknowledgement",
	10:                        "Fast Neighbor Advertisement",
	11:                        "Experimental Mobility Header",
	TypeHomeAgentSwitch:       "Home Agent Switch",
	13:                        "Heartbeat",
	14:                        "Handover Initiate",
	15:                        "Handover Acknowledge",
	16:                        "Binding Revocation",
	17:                        "Localized Routing Initiation",
	18:                        "Localized Routing Acknowledgment",
}

// String returns the message name of the IANA registry, or "MH Type(n)".
func (t Type) String() string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return "MH Type(" + strconv.Itoa(int(t)) + ")"
}

// Known reports whether this package understands messages of type t. A
// receiver answers any other type with a Binding Error, status
// [BEUnrecognizedType] (RFC 6275 §9.2).
func (t Type) Known() bool {
	return t <= TypeBindingError || t == TypeHomeAgentSwitch
}

// Status is the Status field of a Binding Acknowledgement (RFC 6275 §6.1.8).
// Values below 128 mean the Binding Update was accepted.
type Status uint8

// Binding Acknowledgement status values of RFC 6275 §6.1.8.
const (
	StatusAccepted                         Status = 0
	StatusAcceptedPrefixDiscovery          Status = 1
	StatusUnspecified                      Status = 128
	StatusAdministrativelyProhibited       Status = 129
	StatusInsufficientResources            Status = 130
	StatusHomeRegistrationNotSupported     Status = 131
	StatusNotHomeSubnet                    Status = 132
	StatusNotHomeAgentForThisMN            Status = 133
	StatusDADFailed                        Status = 134
	StatusSequenceOutOfWindow              Status = 135
	StatusExpiredHomeNonceIndex            Status = 136
	StatusExpiredCareOfNonceIndex          Status = 137
	StatusExpiredNonces                    Status = 138
	StatusRegistrationTypeChangeDisallowed Status = 139
	StatusInvalidCoA                       Status = 174
)

var statusNames = map[Status]string{
	StatusAccepted:                         "Binding Update accepted",
	StatusAcceptedPrefixDiscovery:          "Accepted but prefix discovery necessary",
	StatusUnspecified:                      "Reason unspecified",
	StatusAdministrativelyProhibited:       "Administratively prohibited",
	StatusInsufficientResources:            "Insufficient resources",
	StatusHomeRegistrationNotSupported:     "Home registration not supported",
	StatusNotHomeSubnet:                    "Not home subnet",
	StatusNotHomeAgentForThisMN:            "Not home agent for this mobile node",
	StatusDADFailed:                        "Duplicate Address Detection failed",
	StatusSequenceOutOfWindow:              "Sequence number out of window",
	StatusExpiredHomeNonceIndex:            "Expired home nonce index",
	StatusExpiredCareOfNonceIndex:          "Expired care-of nonce index",
	StatusExpiredNonces:                    "Expired nonces",
	StatusRegistrationTypeChangeDisallowed: "Registration type change disallowed",
	StatusInvalidCoA:                       "Invalid Care-of Address",
}

// Accepted reports whether the status means the Binding Update was
// accepted (a value below 128, RFC 6275 §6.1.8).
func (s Status) Accepted() bool { return s < 128 }

// String returns the RFC 6275 name of the status, or "Status(n)".
func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// BEStatus is the Status field of a Binding Error (RFC 6275 §6.1.9).
type BEStatus uint8

// Binding Error status values.
const (
	// BEUnknownBinding: a Home Address destination option arrived without
	// a matching binding (RFC 6275 §9.3.1).
	BEUnknownBinding BEStatus = 1
	// BEUnrecognizedType: the MH Type is not known to the receiver
	// (RFC 6275 §9.2).
	BEUnrecognizedType BEStatus = 2
)

// String returns the RFC 6275 name of the status, or "BE Status(n)".
func (s BEStatus) String() string {
	switch s {
	case BEUnknownBinding:
		return "Unknown binding for Home Address destination option"
	case BEUnrecognizedType:
		return "Unrecognized MH Type value"
	}
	return "BE Status(" + strconv.Itoa(int(s)) + ")"
}

// BUFlags is the flags word of a Binding Update (offset 8 of the header).
// Bits this package does not name are kept as they are on receive.
type BUFlags uint16

// Binding Update flags.
const (
	BUFlagA BUFlags = 0x8000 // Acknowledge (RFC 6275 §6.1.7)
	BUFlagH BUFlags = 0x4000 // Home Registration (RFC 6275 §6.1.7)
	BUFlagL BUFlags = 0x2000 // Link-Local Address Compatibility (RFC 6275 §6.1.7)
	BUFlagK BUFlags = 0x1000 // Key Management Mobility Capability (RFC 6275 §6.1.7)
	BUFlagM BUFlags = 0x0800 // MAP Registration (RFC 4140)
	BUFlagR BUFlags = 0x0400 // Mobile Router (RFC 3963)
	BUFlagP BUFlags = 0x0200 // Proxy Registration (RFC 5213)
	BUFlagF BUFlags = 0x0100 // Force UDP encapsulation (RFC 5555 §3.1.3)
)

// BAFlags is the flags octet of a Binding Acknowledgement (offset 7).
type BAFlags uint8

// Binding Acknowledgement flags.
const (
	BAFlagK BAFlags = 0x80 // Key Management Mobility Capability (RFC 6275 §6.1.8)
	BAFlagR BAFlags = 0x40 // Mobile Router (RFC 3963)
	BAFlagP BAFlags = 0x20 // Proxy Registration (RFC 5213)
)

// OptionType is the type of a mobility option (RFC 6275 §6.2, IANA
// "Mobility Options").
type OptionType uint8

// Mobility option types this package knows.
const (
	OptPad1                     OptionType = 0  // RFC 6275 §6.2.2
	OptPadN                     OptionType = 1  // RFC 6275 §6.2.3
	OptBindingRefreshAdvice     OptionType = 2  // RFC 6275 §6.2.4
	OptAlternateCoA             OptionType = 3  // RFC 6275 §6.2.5
	OptNonceIndices             OptionType = 4  // RFC 6275 §6.2.6
	OptBindingAuthorizationData OptionType = 5  // RFC 6275 §6.2.7
	OptMobileNodeIdentifier     OptionType = 8  // RFC 4283 §3
	OptIPv4HomeAddress          OptionType = 29 // RFC 5555 §3.1.1
	OptIPv4AddressAck           OptionType = 30 // RFC 5555 §3.2.1 (§8 says 29: erratum)
	OptNATDetection             OptionType = 31 // RFC 5555 §3.2.2
	OptIPv4CoA                  OptionType = 32 // RFC 5555 §3.1.2
)

var optionNames = map[OptionType]string{
	OptPad1:                     "Pad1",
	OptPadN:                     "PadN",
	OptBindingRefreshAdvice:     "Binding Refresh Advice",
	OptAlternateCoA:             "Alternate Care-of Address",
	OptNonceIndices:             "Nonce Indices",
	OptBindingAuthorizationData: "Binding Authorization Data",
	OptMobileNodeIdentifier:     "Mobile Node Identifier",
	OptIPv4HomeAddress:          "IPv4 Home Address",
	OptIPv4AddressAck:           "IPv4 Address Acknowledgement",
	OptNATDetection:             "NAT Detection",
	OptIPv4CoA:                  "IPv4 Care-of Address",
}

// String returns the option's name, or "Option(n)".
func (t OptionType) String() string {
	if s, ok := optionNames[t]; ok {
		return s
	}
	return "Option(" + strconv.Itoa(int(t)) + ")"
}

// MNIdentifierSubtype is the Subtype of a Mobile Node Identifier option
// (RFC 4283 §3).
type MNIdentifierSubtype uint8

// MNIdentifierNAI is the Network Access Identifier subtype (user@realm),
// mandatory to implement (RFC 4283 §3.1).
const MNIdentifierNAI MNIdentifierSubtype = 1

// IPv4AckStatus is the Status of an IPv4 Address Acknowledgement option
// (RFC 5555 §3.2.1). Values below 128 mean success.
type IPv4AckStatus uint8

// IPv4 Address Acknowledgement status values (RFC 5555 §3.2.1).
const (
	IPv4AckSuccess                  IPv4AckStatus = 0
	IPv4AckUnspecified              IPv4AckStatus = 128
	IPv4AckAdministrativelyProhibit IPv4AckStatus = 129
	IPv4AckIncorrectHoA             IPv4AckStatus = 130
	IPv4AckInvalidAddress           IPv4AckStatus = 131
	IPv4AckDynamicNotAvailable      IPv4AckStatus = 132
	IPv4AckPrefixUnauthorized       IPv4AckStatus = 133
)

// Accepted reports whether the status means success (below 128).
func (s IPv4AckStatus) Accepted() bool { return s < 128 }

// String returns the RFC 5555 meaning of the status, or "IPv4 Ack Status(n)".
func (s IPv4AckStatus) String() string {
	switch s {
	case IPv4AckSuccess:
		return "Success"
	case IPv4AckUnspecified:
		return "Failure, reason unspecified"
	case IPv4AckAdministrativelyProhibit:
		return "Administratively prohibited"
	case IPv4AckIncorrectHoA:
		return "Incorrect IPv4 home address"
	case IPv4AckInvalidAddress:
		return "Invalid IPv4 address"
	case IPv4AckDynamicNotAvailable:
		return "Dynamic IPv4 home address assignment not available"
	case IPv4AckPrefixUnauthorized:
		return "Prefix allocation unauthorized"
	}
	return "IPv4 Ack Status(" + strconv.Itoa(int(s)) + ")"
}
