package ikecrypto

import (
	"bytes"
	"errors"
	"testing"
)

// Known answers computed with Python's hmac module (an independent HMAC):
//
//	maced = HMAC-SHA256(SK_p, IDType | RESERVED | ID data)
//	auth  = HMAC-SHA256(HMAC-SHA256(secret, "Key Pad for IKEv2"), real | nonce | maced)
var pskVector = struct {
	real, idBody, maced, auth, auth512 string
	skp, nonce, secret                 []byte
}{
	real:   "01020304050607080000000000000000212022080000000000000030494b455f53415f494e4954207265717565737420626f6479",
	idBody: "02000000" + "6d6e2e6578616d706c652e6e6574", // ID_FQDN mn.example.net
	maced:  "02dcd97530e95f6d2d1c789f6628c7920740ff9e07d30d53726929c1041cd6ff",
	auth:   "964f3395dfbff50a4023ac4cccd278cea6befbb2ab83331b3219a0c1c3508e11",
	auth512: "d6370e725470013c31ac295284847917a16927a8079ba499dab69d8aedcf4750" +
		"70661d92789779bbe4444528dd548f1a8813d2a75047a63bf1c95f9f65d8994e",
	skp: repeat(0x5a, 32),
	nonce: func() []byte {
		b := make([]byte, 32)
		for i := range b {
			b[i] = byte(i)
		}
		return b
	}(),
	secret: []byte("correct horse battery staple"),
}

func TestSignedOctets(t *testing.T) {
	prf := mustPRF(t, PRFHMACSHA2_256)
	real := unhex(t, pskVector.real)
	got := SignedOctets(prf, pskVector.skp, real, pskVector.nonce, unhex(t, pskVector.idBody))
	want := append(append(bytes.Clone(real), pskVector.nonce...), unhex(t, pskVector.maced)...)
	if !bytes.Equal(got, want) {
		t.Errorf("signed octets\n%x\nwant\n%x", got, want)
	}
}

func TestSharedKeyMIC(t *testing.T) {
	prf := mustPRF(t, PRFHMACSHA2_256)
	signed := SignedOctets(prf, pskVector.skp, unhex(t, pskVector.real), pskVector.nonce, unhex(t, pskVector.idBody))
	auth := SharedKeyMIC(prf, pskVector.secret, signed)
	if want := unhex(t, pskVector.auth); !bytes.Equal(auth, want) {
		t.Fatalf("AUTH = %x, want %x", auth, want)
	}
	// The PRF of the suite is used throughout: with SHA-512 the MIC differs
	// (the signed octets stay those of the SHA-256 vector).
	if got := SharedKeyMIC(mustPRF(t, PRFHMACSHA2_512), pskVector.secret, signed); !bytes.Equal(got, unhex(t, pskVector.auth512)) {
		t.Errorf("AUTH with PRF_HMAC_SHA2_512 = %x", got)
	}
	if err := VerifySharedKeyMIC(prf, pskVector.secret, signed, auth); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	bad := []struct {
		name                 string
		secret, signed, auth []byte
	}{
		{"wrong secret", []byte("correct horse battery stapler"), signed, auth},
		{"other signed octets", pskVector.secret, append(bytes.Clone(signed), 0), auth},
		{"truncated AUTH", pskVector.secret, signed, auth[:31]},
		{"empty AUTH", pskVector.secret, signed, nil},
		{"flipped bit", pskVector.secret, signed, func() []byte { b := bytes.Clone(auth); b[7] ^= 0x10; return b }()},
	}
	for _, b := range bad {
		err := VerifySharedKeyMIC(prf, b.secret, b.signed, b.auth)
		var e *Error
		if !errors.Is(err, ErrAuthenticationFailed) || !errors.As(err, &e) || e.NotifyType() != 24 {
			t.Errorf("%s: err = %v, want ErrAuthenticationFailed (AUTHENTICATION_FAILED)", b.name, err)
		}
	}
}
