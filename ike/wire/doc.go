// Package wire is the IKEv2 wire codec: the message header, every payload of
// RFC 7296 §3, the Encrypted Fragment payload of RFC 7383, the REDIRECT
// notifies of RFC 5685, the RFC 7427 signature data and the RFC 5026
// MIP6_HOME_PREFIX attribute. It does no cryptography and no I/O.
//
// # Views and values
//
// Parsing never copies (the one exception: a gateway FQDN in a REDIRECT
// becomes a string). ParseMessage checks a whole message and fills a
// Message with a view of its header and one RawPayload per payload (type,
// critical bit, offset and a sub-slice of the input as body), reusing the
// Message's slices, so a receive loop parses without allocating. The typed
// parsers decode a body into a value whose byte fields are sub-slices of the
// input:
//
//	ParseSA(body, &sa)  ParseKE  ParseID  ParseCert  ParseCertReq  ParseAuth
//	ParseNonce  ParseNotify  ParseDelete  ParseTS(body, &ts)  ParseCP(body, &cp)
//
// Those that hold lists (SA, TS, CP) parse into a caller's value and reuse
// its storage. Vendor ID and EAP bodies are opaque. Notify data has typed
// accessors (NATDetectionHash, Cookie, AcceptedDHGroup, ChildSPI,
// HashAlgorithms) and the RFC 5685 receive rules (Notify.Redirect,
// Notify.RedirectedFrom). Unknown payloads, transforms, transform attributes,
// traffic selectors and configuration attributes are kept raw and encode
// back unchanged.
//
// # Encoding
//
// Every payload type implements Payload: PayloadType, Len and Append(b)
// for its body. A Builder writes the IKE header and the generic payload
// headers, chains the Next Payload fields and fills in every length:
//
//	var b wire.Builder
//	b.Reset(buf[:0], wire.HeaderFields{SPIi: spi, ExchangeType: wire.ExchangeIKESAInit, Flags: wire.FlagResponse})
//	b.Add(&wire.Redirect{Gateway: wire.GatewayAddr(ha2), Nonce: ni})
//	datagram, err := b.Finish()
//
// Add takes the Payload interface: a pointer to a payload value kept in
// reused storage encodes without allocating.
//
// # The SK flow
//
// Sending: Reset, BeginSK, then Add the inner payloads, which are encoded
// right after the SK header, where they will be encrypted. Seal(sk) asks the
// Sealer (the crypto layer's SK) for its overhead, writes the final SK
// Payload Length and message Length, which the associated data covers, and
// lets the Sealer insert the IV, pad, encrypt in place and append the ICV;
// it returns the datagram, in the caller's buffer when it has room:
//
//	b.Reset(buf[:0], hdr)
//	b.BeginSK()
//	b.Add(&idr)
//	b.Add(&auth)
//	datagram, err := b.Seal(sk)
//
// Receiving: ParseMessage, then Message.Open(sk) hands the message and the
// offset of the SK body to the Opener, which verifies and decrypts in place,
// and parses the inner chain, which starts with the SK payload's Next
// Payload type, into Message.Inner.
//
// A caller that runs a cipher itself uses the layout directly: FinishSK(ivLen,
// blockSize, icvLen) opens room for the IV, pads and reserves the ICV, and
// returns an Encrypted whose AssociatedData (IKE header through the SK
// header, lengths final) and Split (IV, content, ICV slices of the message)
// are what an AEAD Seal(content[:0], nonce, content, AssociatedData()) or a
// CBC encryption plus ICV over the message up to the ICV need. On receipt,
// Message.Encrypted gives the same layout and ParseDecrypted parses the
// padded plaintext.
//
// Fragments (RFC 7383): BeginSKF(Fragment) then Seal or FinishSK, one
// message per fragment, with the original header. On receipt each
// fragment's Encrypted layout is opened on its own (Opener.Open(e.Message,
// e.BodyOffset())), the chunks are reassembled in order, and ParsePayloads
// parses the result starting with fragment 1's Next Payload type.
//
// # Errors
//
// Malformed input yields a *SyntaxError (wrapping ErrSyntax) that names the
// payload and the offset; its wire answer is INVALID_SYNTAX. A major version
// other than 2 yields a *VersionError (ErrInvalidMajorVersion), with the
// header still readable for the INVALID_MAJOR_VERSION answer. An unknown
// payload with the critical bit yields a *CriticalPayloadError
// (ErrUnsupportedCriticalPayload) carrying the type that
// UNSUPPORTED_CRITICAL_PAYLOAD reports. ErrorNotify turns any of them into the
// Notify to answer with. Values that cannot be encoded make the Builder fail
// with ErrInvalidValue.
package wire
