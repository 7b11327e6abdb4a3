package wire

// NotifyType is the Notify Message Type of a Notify payload (RFC 7296
// §3.10.1): 0–16383 are errors, 16384–65535 status types.
type NotifyType uint16

// Error types (RFC 7296 §3.10.1 unless noted).
const (
	NotifyUnsupportedCriticalPayload NotifyType = 1
	NotifyInvalidIKESPI              NotifyType = 4
	NotifyInvalidMajorVersion        NotifyType = 5
	NotifyInvalidSyntax              NotifyType = 7
	NotifyInvalidMessageID           NotifyType = 9
	NotifyInvalidSPI                 NotifyType = 11
	NotifyNoProposalChosen           NotifyType = 14
	NotifyInvalidKEPayload           NotifyType = 17
	NotifyAuthenticationFailed       NotifyType = 24
	NotifySinglePairRequired         NotifyType = 34
	NotifyNoAdditionalSAs            NotifyType = 35
	NotifyInternalAddressFailure     NotifyType = 36
	NotifyFailedCPRequired           NotifyType = 37
	NotifyTSUnacceptable             NotifyType = 38
	NotifyInvalidSelectors           NotifyType = 39
	NotifyUnacceptableAddresses      NotifyType = 40 // RFC 4555 §6
	NotifyUnexpectedNATDetected      NotifyType = 41 // RFC 4555 §6
	NotifyUseAssignedHoA             NotifyType = 42 // RFC 5026 §10
	NotifyTemporaryFailure           NotifyType = 43
	NotifyChildSANotFound            NotifyType = 44
	NotifyStateNotFound              NotifyType = 47 // RFC 9370
)

// Status types (RFC 7296 §3.10.1 unless noted).
const (
	NotifyInitialContact                  NotifyType = 16384
	NotifySetWindowSize                   NotifyType = 16385
	NotifyAdditionalTSPossible            NotifyType = 16386
	NotifyIPCompSupported                 NotifyType = 16387
	NotifyNATDetectionSourceIP            NotifyType = 16388
	NotifyNATDetectionDestinationIP       NotifyType = 16389
	NotifyCookie                          NotifyType = 16390
	NotifyUseTransportMode                NotifyType = 16391
	NotifyHTTPCertLookupSupported         NotifyType = 16392
	NotifyRekeySA                         NotifyType = 16393
	NotifyESPTFCPaddingNotSupported       NotifyType = 16394
	NotifyNonFirstFragmentsAlso           NotifyType = 16395
	NotifyMOBIKESupported                 NotifyType = 16396 // RFC 4555 §6
	NotifyAdditionalIP4Address            NotifyType = 16397 // RFC 4555 §6
	NotifyAdditionalIP6Address            NotifyType = 16398 // RFC 4555 §6
	NotifyNoAdditionalAddresses           NotifyType = 16399 // RFC 4555 §6
	NotifyUpdateSAAddresses               NotifyType = 16400 // RFC 4555 §6
	NotifyCookie2                         NotifyType = 16401 // RFC 4555 §6
	NotifyNoNATsAllowed                   NotifyType = 16402 // RFC 4555 §6
	NotifyAuthLifetime                    NotifyType = 16403 // RFC 4478
	NotifyMultipleAuthSupported           NotifyType = 16404 // RFC 4739
	NotifyAnotherAuthFollows              NotifyType = 16405 // RFC 4739
	NotifyRedirectSupported               NotifyType = 16406 // RFC 5685 §9.1
	NotifyRedirect                        NotifyType = 16407 // RFC 5685 §9.2
	NotifyRedirectedFrom                  NotifyType = 16408 // RFC 5685 §9.3
	NotifyTicketLTOpaque                  NotifyType = 16409 // RFC 5723 §7
	NotifyTicketRequest                   NotifyType = 16410 // RFC 5723 §7
	NotifyTicketAck                       NotifyType = 16411 // RFC 5723 §7
	NotifyTicketNack                      NotifyType = 16412 // RFC 5723 §7
	NotifyTicketOpaque                    NotifyType = 16413 // RFC 5723 §7
	NotifyLinkID                          NotifyType = 16414 // RFC 5739 §5.3
	NotifyEAPOnlyAuthentication           NotifyType = 16417 // RFC 5998
	NotifyChildlessIKEv2Supported         NotifyType = 16418 // RFC 6023
	NotifyQuickCrashDetection             NotifyType = 16419 // RFC 6290
	NotifyIKEv2MessageIDSyncSupported     NotifyType = 16420 // RFC 6311 §12
	NotifyIPsecReplayCounterSyncSupported NotifyType = 16421 // RFC 6311 §12
	NotifyIKEv2MessageIDSync              NotifyType = 16422 // RFC 6311 §12
	NotifyIPsecReplayCounterSync          NotifyType = 16423 // RFC 6311 §12
	NotifyIFOMCapability                  NotifyType = 16428 // 3GPP TS 24.303
	NotifyIKEv2FragmentationSupported     NotifyType = 16430 // RFC 7383 §2.3
	NotifySignatureHashAlgorithms         NotifyType = 16431 // RFC 7427 §4
	NotifyPuzzle                          NotifyType = 16434 // RFC 8019 §11
	NotifyUsePPK                          NotifyType = 16435 // RFC 8784
	NotifyPPKIdentity                     NotifyType = 16436 // RFC 8784
	NotifyNoPPKAuth                       NotifyType = 16437 // RFC 8784
	NotifyIntermediateExchangeSupported   NotifyType = 16438 // RFC 9242
	NotifyAdditionalKeyExchange           NotifyType = 16441 // RFC 9370
)

// Private-use status types of this project. RFC 7296 §3.10.1 reserves
// 40960–65535 for private use among consenting peers; a peer that does not
// know them ignores them, as it ignores every unknown status type. Our home
// agents and mobile nodes use these three:
const (
	// NotifyRedirectPortSupported (no data) is sent by a client in its
	// IKE_SA_INIT request, beside REDIRECT_SUPPORTED, to announce that it
	// understands the Gateway Identity Types GatewayIdentityIPv4Port and
	// GatewayIdentityIPv6Port (address and UDP port). A gateway sends those
	// types only to clients that sent this notify.
	NotifyRedirectPortSupported NotifyType = 40960
	// NotifyHandoverTicket carries an opaque handover ticket that lets the
	// home agent a node was redirected to take over the node's home address
	// lease (make-before-break handover).
	NotifyHandoverTicket NotifyType = 40961
	// NotifyTraceContext carries trace context (W3C traceparent) so that a
	// handover across home agents is one trace.
	NotifyTraceContext NotifyType = 40962
)

var notifyNames = map[NotifyType]string{
	NotifyUnsupportedCriticalPayload:      "UNSUPPORTED_CRITICAL_PAYLOAD",
	NotifyInvalidIKESPI:                   "INVALID_IKE_SPI",
	NotifyInvalidMajorVersion:             "INVALID_MAJOR_VERSION",
	NotifyInvalidSyntax:                   "INVALID_SYNTAX",
	NotifyInvalidMessageID:                "INVALID_MESSAGE_ID",
	NotifyInvalidSPI:                      "INVALID_SPI",
	NotifyNoProposalChosen:                "NO_PROPOSAL_CHOSEN",
	NotifyInvalidKEPayload:                "INVALID_KE_PAYLOAD",
	NotifyAuthenticationFailed:            "AUTHENTICATION_FAILED",
	NotifySinglePairRequired:              "SINGLE_PAIR_REQUIRED",
	NotifyNoAdditionalSAs:                 "NO_ADDITIONAL_SAS",
	NotifyInternalAddressFailure:          "INTERNAL_ADDRESS_FAILURE",
	NotifyFailedCPRequired:                "FAILED_CP_REQUIRED",
	NotifyTSUnacceptable:                  "TS_UNACCEPTABLE",
	NotifyInvalidSelectors:                "INVALID_SELECTORS",
	NotifyUnacceptableAddresses:           "UNACCEPTABLE_ADDRESSES",
	NotifyUnexpectedNATDetected:           "UNEXPECTED_NAT_DETECTED",
	NotifyUseAssignedHoA:                  "USE_ASSIGNED_HoA",
	NotifyTemporaryFailure:                "TEMPORARY_FAILURE",
	NotifyChildSANotFound:                 "CHILD_SA_NOT_FOUND",
	NotifyStateNotFound:                   "STATE_NOT_FOUND",
	NotifyInitialContact:                  "INITIAL_CONTACT",
	NotifySetWindowSize:                   "SET_WINDOW_SIZE",
	NotifyAdditionalTSPossible:            "ADDITIONAL_TS_POSSIBLE",
	NotifyIPCompSupported:                 "IPCOMP_SUPPORTED",
	NotifyNATDetectionSourceIP:            "NAT_DETECTION_SOURCE_IP",
	NotifyNATDetectionDestinationIP:       "NAT_DETECTION_DESTINATION_IP",
	NotifyCookie:                          "COOKIE",
	NotifyUseTransportMode:                "USE_TRANSPORT_MODE",
	NotifyHTTPCertLookupSupported:         "HTTP_CERT_LOOKUP_SUPPORTED",
	NotifyRekeySA:                         "REKEY_SA",
	NotifyESPTFCPaddingNotSupported:       "ESP_TFC_PADDING_NOT_SUPPORTED",
	NotifyNonFirstFragmentsAlso:           "NON_FIRST_FRAGMENTS_ALSO",
	NotifyMOBIKESupported:                 "MOBIKE_SUPPORTED",
	NotifyAdditionalIP4Address:            "ADDITIONAL_IP4_ADDRESS",
	NotifyAdditionalIP6Address:            "ADDITIONAL_IP6_ADDRESS",
	NotifyNoAdditionalAddresses:           "NO_ADDITIONAL_ADDRESSES",
	NotifyUpdateSAAddresses:               "UPDATE_SA_ADDRESSES",
	NotifyCookie2:                         "COOKIE2",
	NotifyNoNATsAllowed:                   "NO_NATS_ALLOWED",
	NotifyAuthLifetime:                    "AUTH_LIFETIME",
	NotifyMultipleAuthSupported:           "MULTIPLE_AUTH_SUPPORTED",
	NotifyAnotherAuthFollows:              "ANOTHER_AUTH_FOLLOWS",
	NotifyRedirectSupported:               "REDIRECT_SUPPORTED",
	NotifyRedirect:                        "REDIRECT",
	NotifyRedirectedFrom:                  "REDIRECTED_FROM",
	NotifyTicketLTOpaque:                  "TICKET_LT_OPAQUE",
	NotifyTicketRequest:                   "TICKET_REQUEST",
	NotifyTicketAck:                       "TICKET_ACK",
	NotifyTicketNack:                      "TICKET_NACK",
	NotifyTicketOpaque:                    "TICKET_OPAQUE",
	NotifyLinkID:                          "LINK_ID",
	NotifyEAPOnlyAuthentication:           "EAP_ONLY_AUTHENTICATION",
	NotifyChildlessIKEv2Supported:         "CHILDLESS_IKEV2_SUPPORTED",
	NotifyQuickCrashDetection:             "QUICK_CRASH_DETECTION",
	NotifyIKEv2MessageIDSyncSupported:     "IKEV2_MESSAGE_ID_SYNC_SUPPORTED",
	NotifyIPsecReplayCounterSyncSupported: "IPSEC_REPLAY_COUNTER_SYNC_SUPPORTED",
	NotifyIKEv2MessageIDSync:              "IKEV2_MESSAGE_ID_SYNC",
	NotifyIPsecReplayCounterSync:          "IPSEC_REPLAY_COUNTER_SYNC",
	NotifyIFOMCapability:                  "IFOM_CAPABILITY",
	NotifyIKEv2FragmentationSupported:     "IKEV2_FRAGMENTATION_SUPPORTED",
	NotifySignatureHashAlgorithms:         "SIGNATURE_HASH_ALGORITHMS",
	NotifyPuzzle:                          "PUZZLE",
	NotifyUsePPK:                          "USE_PPK",
	NotifyPPKIdentity:                     "PPK_IDENTITY",
	NotifyNoPPKAuth:                       "NO_PPK_AUTH",
	NotifyIntermediateExchangeSupported:   "INTERMEDIATE_EXCHANGE_SUPPORTED",
	NotifyAdditionalKeyExchange:           "ADDITIONAL_KEY_EXCHANGE",
	NotifyRedirectPortSupported:           "REDIRECT_PORT_SUPPORTED",
	NotifyHandoverTicket:                  "HANDOVER_TICKET",
	NotifyTraceContext:                    "TRACE_CONTEXT",
}

// String returns the IANA name of the notify type (this project's name for
// its private-use types).
func (t NotifyType) String() string { return name(notifyNames, t, "NotifyType") }

// IsError reports whether t is an error type (below 16384). RFC 7296 §3.10.1:
// an unknown error type in a response means the request failed; unknown
// status types are ignored.
func (t NotifyType) IsError() bool { return t < 16384 }

// IsPrivateUse reports whether t is in a private-use range: 8192–16383 for
// errors, 40960–65535 for status types (RFC 7296 §3.10.1).
func (t NotifyType) IsPrivateUse() bool { return t >= 8192 && t <= 16383 || t >= 40960 }
