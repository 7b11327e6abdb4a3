package ike

import "github.com/mip6ha/mip6ha/ike/wire"

// payloadSet is a set of payload types.
type payloadSet uint64

func setOf(ts ...wire.PayloadType) payloadSet {
	var s payloadSet
	for _, t := range ts {
		s |= 1 << (t - wire.PayloadSA)
	}
	return s
}

func (s payloadSet) has(t wire.PayloadType) bool {
	return t >= wire.PayloadSA && t < wire.PayloadSA+64 && s&(1<<(t-wire.PayloadSA)) != 0
}

// messageRule says which payloads a message may carry and which it must
// (RFC 7296 §1.2–§1.4, §2.19; RFC 4555, RFC 5685 notifies ride in N).
// Payloads of unknown types without the critical bit are skipped (RFC 7296
// §2.5); a known payload a message may not carry is a syntax error, as in
// strongSwan's message rules.
type messageRule struct {
	allowed, required payloadSet
}

type ruleKey struct {
	exchange wire.ExchangeType
	response bool
}

// messageRules is the table of what each exchange carries. Requirements that
// depend on content (an IKE_AUTH response without AUTH is an error answer)
// are checked by the exchange concerns.
var messageRules = map[ruleKey]messageRule{
	{wire.ExchangeIKESAInit, false}: {
		allowed:  setOf(wire.PayloadSA, wire.PayloadKE, wire.PayloadNonce, wire.PayloadNotify, wire.PayloadVendorID),
		required: setOf(wire.PayloadSA, wire.PayloadKE, wire.PayloadNonce),
	},
	{wire.ExchangeIKESAInit, true}: {
		allowed: setOf(wire.PayloadSA, wire.PayloadKE, wire.PayloadNonce, wire.PayloadNotify, wire.PayloadVendorID, wire.PayloadCERTREQ),
	},
	{wire.ExchangeIKEAuth, false}: {
		allowed: setOf(wire.PayloadIDi, wire.PayloadCERT, wire.PayloadCERTREQ, wire.PayloadIDr, wire.PayloadAUTH,
			wire.PayloadCP, wire.PayloadNotify, wire.PayloadSA, wire.PayloadTSi, wire.PayloadTSr, wire.PayloadVendorID, wire.PayloadEAP),
		required: setOf(wire.PayloadIDi),
	},
	{wire.ExchangeIKEAuth, true}: {
		allowed: setOf(wire.PayloadIDr, wire.PayloadCERT, wire.PayloadAUTH, wire.PayloadCP, wire.PayloadNotify,
			wire.PayloadSA, wire.PayloadTSi, wire.PayloadTSr, wire.PayloadVendorID, wire.PayloadEAP),
	},
	{wire.ExchangeCreateChildSA, false}: {
		allowed:  setOf(wire.PayloadSA, wire.PayloadNonce, wire.PayloadKE, wire.PayloadTSi, wire.PayloadTSr, wire.PayloadNotify, wire.PayloadVendorID),
		required: setOf(wire.PayloadSA, wire.PayloadNonce),
	},
	{wire.ExchangeCreateChildSA, true}: {
		allowed: setOf(wire.PayloadSA, wire.PayloadNonce, wire.PayloadKE, wire.PayloadTSi, wire.PayloadTSr, wire.PayloadNotify, wire.PayloadVendorID),
	},
	{wire.ExchangeInformational, false}: {
		allowed: setOf(wire.PayloadNotify, wire.PayloadDelete, wire.PayloadCP, wire.PayloadVendorID),
	},
	{wire.ExchangeInformational, true}: {
		allowed: setOf(wire.PayloadNotify, wire.PayloadDelete, wire.PayloadCP, wire.PayloadVendorID),
	},
}

// checkRules checks the payloads of a request (the message's, or its
// decrypted content) against the table. Unknown exchanges have no rule and
// fail with INVALID_SYNTAX, the catch-all error (RFC 7296 §3.10.1).
func checkRules(ex wire.ExchangeType, response bool, ps wire.Payloads) error {
	r, ok := messageRules[ruleKey{ex, response}]
	if !ok {
		return notifyErr(ErrProtocol, wire.NotifyInvalidSyntax, false, "exchange %v not supported", ex)
	}
	var seen payloadSet
	for _, p := range ps {
		if !p.Type.Known() {
			continue
		}
		if !r.allowed.has(p.Type) {
			return notifyErr(ErrProtocol, wire.NotifyInvalidSyntax, false, "%v payload not allowed in %v", p.Type, ex)
		}
		seen |= setOf(p.Type)
	}
	if missing := r.required &^ seen; missing != 0 {
		for t := wire.PayloadSA; t < wire.PayloadSA+64; t++ {
			if missing.has(t) {
				return notifyErr(ErrProtocol, wire.NotifyInvalidSyntax, false, "%v lacks its %v payload", ex, t)
			}
		}
	}
	return nil
}

// allowedOnly returns ps without the known payloads the table does not
// allow in this message: an authenticated answer with an unexpected
// payload is processed without it.
func allowedOnly(ex wire.ExchangeType, response bool, ps wire.Payloads) wire.Payloads {
	r := messageRules[ruleKey{ex, response}]
	out := ps[:0]
	for _, p := range ps {
		if !p.Type.Known() || r.allowed.has(p.Type) {
			out = append(out, p)
		}
	}
	return out
}
