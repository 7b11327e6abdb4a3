package wire

// Cert is the Certificate payload (RFC 7296 §3.6).
type Cert struct {
	Encoding CertEncoding
	// Data is the Certificate Data, in the format of Encoding (for example
	// a DER X.509 certificate for CertX509Signature).
	Data []byte
}

// ParseCert parses the body of a CERT payload.
func ParseCert(b []byte) (Cert, error) {
	if len(b) < 1 {
		return Cert{}, syntaxError(PayloadCERT, 0, "CERT payload without Cert Encoding")
	}
	return Cert{Encoding: CertEncoding(b[0]), Data: orNil(b[1:])}, nil
}

// PayloadType returns PayloadCERT.
func (Cert) PayloadType() PayloadType { return PayloadCERT }

// Len returns the length of the CERT payload body.
func (c Cert) Len() int { return 1 + len(c.Data) }

// Append appends the CERT payload body to b.
func (c Cert) Append(b []byte) []byte { return append(append(b, byte(c.Encoding)), c.Data...) }

// CertReq is the Certificate Request payload (RFC 7296 §3.7).
type CertReq struct {
	Encoding CertEncoding
	// Authorities is the Certification Authority field; for X.509 it is a
	// concatenation of 20-octet SHA-1 hashes of trusted CAs' public keys.
	Authorities []byte
}

// ParseCertReq parses the body of a CERTREQ payload.
func ParseCertReq(b []byte) (CertReq, error) {
	if len(b) < 1 {
		return CertReq{}, syntaxError(PayloadCERTREQ, 0, "CERTREQ payload without Cert Encoding")
	}
	return CertReq{Encoding: CertEncoding(b[0]), Authorities: orNil(b[1:])}, nil
}

// PayloadType returns PayloadCERTREQ.
func (CertReq) PayloadType() PayloadType { return PayloadCERTREQ }

// Len returns the length of the CERTREQ payload body.
func (c CertReq) Len() int { return 1 + len(c.Authorities) }

// Append appends the CERTREQ payload body to b.
func (c CertReq) Append(b []byte) []byte {
	return append(append(b, byte(c.Encoding)), c.Authorities...)
}

// CertEncoding is the Cert Encoding of CERT and CERTREQ payloads
// (RFC 7296 §3.6).
type CertEncoding uint8

// Certificate encodings (RFC 7296 §3.6; 14 RFC 4806, 15 RFC 7670).
const (
	CertPKCS7X509     CertEncoding = 1
	CertPGP           CertEncoding = 2
	CertDNSSignedKey  CertEncoding = 3
	CertX509Signature CertEncoding = 4
	CertKerberosToken CertEncoding = 6
	CertCRL           CertEncoding = 7
	CertARL           CertEncoding = 8
	CertSPKI          CertEncoding = 9
	CertX509Attribute CertEncoding = 10
	CertRawRSAKey     CertEncoding = 11
	CertHashURLX509   CertEncoding = 12
	CertHashURLBundle CertEncoding = 13
	CertOCSPContent   CertEncoding = 14
	CertRawPublicKey  CertEncoding = 15
)

var certNames = map[CertEncoding]string{
	CertPKCS7X509: "PKCS #7 wrapped X.509 certificate", CertPGP: "PGP Certificate",
	CertDNSSignedKey: "DNS Signed Key", CertX509Signature: "X.509 Certificate - Signature",
	CertKerberosToken: "Kerberos Token", CertCRL: "Certificate Revocation List (CRL)",
	CertARL: "Authority Revocation List (ARL)", CertSPKI: "SPKI Certificate",
	CertX509Attribute: "X.509 Certificate - Attribute", CertRawRSAKey: "Raw RSA Key",
	CertHashURLX509: "Hash and URL of X.509 certificate", CertHashURLBundle: "Hash and URL of X.509 bundle",
	CertOCSPContent: "OCSP Content", CertRawPublicKey: "Raw Public Key",
}

// String returns the RFC name of the encoding.
func (e CertEncoding) String() string { return name(certNames, e, "CertEncoding") }
