// Package mh is the Mobility Header codec of Mobile IPv6 (RFC 6275 §6.1,
// §6.2) with the Home Agent Switch message (RFC 5142 §4), the Mobile Node
// Identifier option (RFC 4283) and the DSMIPv6 options (RFC 5555 §3).
//
// Layout of the package:
//
//   - [Parse] frames a Mobility Header ([Header], a view over the caller's
//     bytes); [Header.Check] applies the receive tests of RFC 6275 §9.2 in
//     their order (checksum, MH Type, Payload Proto, Header Len).
//   - One value type per message ([BindingUpdate], [BindingAck],
//     [BindingError], [BindingRefreshRequest], [HomeAgentSwitch],
//     [HomeTestInit], [CareOfTestInit], [HomeTest], [CareOfTest]), each with
//     Len, Append and a ParseXxx function; [Decode] dispatches on the type.
//     Append writes the Mobility Header with a zero checksum; [SetChecksum]
//     fills it in.
//   - [Options] is the mobility option area: a view with typed accessors and
//     an iterator; the option values ([AlternateCoA], [BindingRefreshAdvice],
//     [MobileNodeIdentifier], ...) append themselves to it. A message's Append
//     places every option at its alignment (RFC 6275 §6.2.1) and pads the
//     header to a multiple of 8 octets.
//   - [IPv6] describes the IPv6 header of a packet carrying a Mobility Header,
//     with the Home Address destination option and the type 2 routing header
//     (RFC 6275 §6.3, §6.4); [AppendPacket] and [ParsePacket] build and parse
//     whole packets with the checksum computed over the right pseudo-header.
//
// Parsers never copy the caller's bytes (Options, identifiers and
// authenticators are views into the input) and never panic. Nothing here
// does I/O.
package mh
