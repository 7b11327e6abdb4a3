package ike

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/mip6ha/mip6ha/ike/ikecrypto"
	"github.com/mip6ha/mip6ha/ike/wire"
)

// The AUTH concern (RFC 7296 §2.15, RFC 7427): the octets each side signs,
// our AUTH payload and CERTs, and the check of the peer's.

// signedOctets returns the octets an AUTH covers. ours says whether it is
// our AUTH or the peer's.
func (sa *SA) signedOctets(ike *ikeSA, ours bool, idBody []byte) []byte {
	st := sa.init
	fromInitiator := ours == sa.initiatorRole
	if fromInitiator {
		return ikecrypto.SignedOctets(ike.suite.PRF(), ike.keys.SKpi, st.request, st.nr, idBody)
	}
	return ikecrypto.SignedOctets(ike.suite.PRF(), ike.keys.SKpr, st.response, st.ni, idBody)
}

// buildAuth returns our AUTH payload and the CERT payloads that go with
// it. peer is the PAD entry of the peer, whose PSK we use if our credential
// has none.
func (sa *SA) buildAuth(ike *ikeSA, idBody []byte, peer *PeerCredential) (*wire.Auth, []wire.Payload, error) {
	lc := sa.local
	octets := sa.signedOctets(ike, true, idBody)
	if lc.Signer != nil {
		method, scheme, err := signatureMethod(lc, sa.init.peerHashes)
		if err != nil {
			return nil, nil, err
		}
		data, err := ikecrypto.SignAuthData(sa.cfg.Rand, lc.Signer, ikecrypto.AuthMethod(method), scheme, octets)
		if err != nil {
			return nil, nil, err
		}
		var certs []wire.Payload
		for _, c := range lc.Certificates {
			certs = append(certs, &wire.Cert{Encoding: wire.CertX509Signature, Data: c})
		}
		return &wire.Auth{Method: method, Data: data}, certs, nil
	}
	psk := lc.PSK
	if psk == nil && peer != nil {
		psk = peer.PSK
	}
	if len(psk) == 0 {
		return nil, nil, fmt.Errorf("%w: no pre-shared key or signer for %v", ErrConfig, lc.ID)
	}
	return &wire.Auth{Method: wire.AuthSharedKeyMIC, Data: ikecrypto.SharedKeyMIC(ike.suite.PRF(), psk, octets)}, nil, nil
}

// signatureMethod picks the AUTH method of a signer: the Digital Signature
// method (RFC 7427) if the peer announced hashes, else the key's classic
// method (RFC 7296 §3.8, RFC 4754).
func signatureMethod(lc *LocalCredential, peerHashes []wire.HashAlgorithm) (wire.AuthMethod, ikecrypto.SignatureScheme, error) {
	method := lc.Method
	if method == 0 {
		if len(peerHashes) > 0 {
			method = wire.AuthDigitalSignature
		} else {
			method = classicMethod(lc.Signer.Public())
		}
	}
	if method != wire.AuthDigitalSignature {
		return method, 0, nil
	}
	hs := make([]ikecrypto.HashAlgorithm, len(peerHashes))
	for i, h := range peerHashes {
		hs[i] = ikecrypto.HashAlgorithm(h)
	}
	scheme, err := ikecrypto.ChooseSignatureScheme(lc.Signer.Public(), hs, lc.RSAPSS)
	return method, scheme, err
}

// classicMethod returns the AUTH method of RFC 7296 §3.8 / RFC 4754 for a key.
func classicMethod(pub crypto.PublicKey) wire.AuthMethod {
	if k, ok := pub.(*ecdsa.PublicKey); ok {
		switch k.Curve {
		case elliptic.P384():
			return wire.AuthECDSASHA384P384
		case elliptic.P521():
			return wire.AuthECDSASHA512P521
		}
		return wire.AuthECDSASHA256P256
	}
	if _, ok := pub.(*rsa.PublicKey); ok {
		return wire.AuthRSASignature
	}
	return wire.AuthDigitalSignature
}

// verifyAuth checks the peer's AUTH payload: a Shared Key MIC with the PAD
// entry's PSK, or a signature by the key of a certificate that chains to
// the PAD entry's roots and names the peer's identity (RFC 7296 §2.15, RFC
// 4945 §3.1). idBody is the peer's ID payload body as received.
func (sa *SA) verifyAuth(ike *ikeSA, in *inbound, id wire.ID, idBody []byte, peer *PeerCredential, now time.Time) error {
	ap, ok := in.first(wire.PayloadAUTH)
	if !ok {
		return notifyErr(ErrAuthentication, wire.NotifyAuthenticationFailed, false, "no AUTH payload")
	}
	auth, err := wire.ParseAuth(ap.Body)
	if err != nil {
		return notifyErr(ErrAuthentication, wire.NotifyAuthenticationFailed, false, "%v", err)
	}
	octets := sa.signedOctets(ike, false, idBody)
	if auth.Method == wire.AuthSharedKeyMIC {
		if len(peer.PSK) == 0 {
			return notifyErr(ErrAuthentication, wire.NotifyAuthenticationFailed, false, "%v may not use a pre-shared key", idFromWire(id))
		}
		if err := ikecrypto.VerifySharedKeyMIC(ike.suite.PRF(), peer.PSK, octets, auth.Data); err != nil {
			return notifyErr(ErrAuthentication, wire.NotifyAuthenticationFailed, false, "%v", err)
		}
		return nil
	}
	if peer.Roots == nil {
		return notifyErr(ErrAuthentication, wire.NotifyAuthenticationFailed, false, "%v may not use a certificate", idFromWire(id))
	}
	var certs [][]byte
	for _, p := range in.ps {
		if p.Type != wire.PayloadCERT {
			continue
		}
		if c, err := wire.ParseCert(p.Body); err == nil && c.Encoding == wire.CertX509Signature {
			certs = append(certs, c.Data)
		}
	}
	if len(certs) == 0 {
		return notifyErr(ErrAuthentication, wire.NotifyAuthenticationFailed, false, "no certificate from %v", idFromWire(id))
	}
	cert, err := ikecrypto.VerifyPeerCertificate(certs, peer.Roots, now, ikecrypto.IDType(id.Type), id.Data)
	if err != nil {
		return notifyErr(ErrAuthentication, wire.NotifyAuthenticationFailed, false, "%v", err)
	}
	// RFC 7427 §3: the Digital Signature method is allowed only if we
	// announced SIGNATURE_HASH_ALGORITHMS: always as initiator, as
	// responder only in answer to the peer's.
	var announced []ikecrypto.HashAlgorithm
	if sa.initiatorRole || sa.init.peerHashes != nil {
		for _, h := range sa.cfg.hashes {
			announced = append(announced, ikecrypto.HashAlgorithm(h))
		}
	}
	if err := ikecrypto.VerifyAuthData(cert.PublicKey, ikecrypto.AuthMethod(auth.Method), auth.Data, octets, announced); err != nil {
		return notifyErr(ErrAuthentication, wire.NotifyAuthenticationFailed, false, "%v", err)
	}
	return nil
}

// spkiHash returns the CERTREQ Certification Authority value for a CA: the
// SHA-1 hash of its SubjectPublicKeyInfo (RFC 7296 §3.7).
func spkiHash(ca *x509.Certificate) []byte {
	h := sha1.Sum(ca.RawSubjectPublicKeyInfo)
	return h[:]
}

// idBody encodes an ID payload body (RESERVED octets zero).
func idBody(id ID) []byte { return id.payload().Append(nil) }
