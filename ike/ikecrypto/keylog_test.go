package ikecrypto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// vectors.md §9.2 gives the key-log line tshark decrypted the constructed
// AES-GCM messages with.
func TestKeyLogLineGCMVector(t *testing.T) {
	s := mustSuite(t, EncrAESGCM16, 128, IntegNone, PRFHMACSHA2_256)
	k := &Keys{
		SKei: unhex(t, "000102030405060708090a0b0c0d0e0fa0a1a2a3"),
		SKer: unhex(t, "101112131415161718191a1b1c1d1e1fb0b1b2b3"),
	}
	got, err := KeyLogLine(0x0102030405060708, 0x1112131415161718, s, k)
	if err != nil {
		t.Fatal(err)
	}
	want := `0102030405060708,1112131415161718,000102030405060708090a0b0c0d0e0fa0a1a2a3,101112131415161718191a1b1c1d1e1fb0b1b2b3,"AES-GCM-128 with 16 octet ICV [RFC5282]",,,"NONE [RFC4306]"`
	if got != want {
		t.Errorf("key log\n%s\nwant\n%s", got, want)
	}
}

// The strongSwan capture's .uat line (lab/samples) is what KeyLogLine writes
// for its AES-CBC-128 / HMAC-SHA2-256-128 IKE SA.
func TestKeyLogLineCapture(t *testing.T) {
	s := mustSuite(t, EncrAESCBC, 128, IntegHMACSHA2_256_128, PRFHMACSHA2_256)
	k := &Keys{
		SKei: unhex(t, "5022ae1cdabd18345c18e75e98cd4823"),
		SKer: unhex(t, capturedCBC.sker),
		SKai: unhex(t, "68a96a33d4def2f1c955d32aaa087ad55560423ce22903dcbb860fbef105246f"),
		SKar: unhex(t, capturedCBC.skar),
	}
	got, err := KeyLogLine(0x613145f75678a967, 0x231f60ca33246156, s, k)
	if err != nil {
		t.Fatal(err)
	}
	want := `613145f75678a967,231f60ca33246156,5022ae1cdabd18345c18e75e98cd4823,eb016fe88e5a39801cd7e20e84f536a1,"AES-CBC-128 [RFC3602]",68a96a33d4def2f1c955d32aaa087ad55560423ce22903dcbb860fbef105246f,3b6b7db72f5873ec105338748dfa3feab2d204daeef1573c660516e5742bbae3,"HMAC_SHA2_256_128 [RFC4868]"`
	if got != want {
		t.Errorf("key log\n%s\nwant\n%s", got, want)
	}
}

func TestKeyLogLineChaCha20(t *testing.T) {
	s := mustSuite(t, EncrChaCha20Poly1305, 0, IntegNone, PRFHMACSHA2_256)
	if _, err := KeyLogLine(1, 2, s, &Keys{}); !errors.Is(err, ErrNoKeyLogName) {
		t.Fatalf("err = %v, want ErrNoKeyLogName", err)
	}
}

// tshark 4.0 decrypts and verifies what Seal produces, for every suite it
// knows, in both directions, with the keys of KeyLogLine: an independent
// check of the SK format, the key-log names and the salt handling.
func TestTsharkDecryptsSealedMessages(t *testing.T) {
	if testing.Short() {
		t.Skip("runs tshark")
	}
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Skip("tshark not installed")
	}
	var frames [][]byte
	var args []string
	for i, s := range allSuites(t) {
		if s.Encr().ID() == EncrChaCha20Poly1305 {
			continue
		}
		spii, spir := uint64(0x1000+i), uint64(0x2000+i)
		k, err := s.DeriveKeys(repeat(byte(i), 32), repeat(1, 32), repeat(2, 32), spii, spir)
		if err != nil {
			t.Fatal(err)
		}
		line, err := KeyLogLine(spii, spir, s, k)
		if err != nil {
			t.Fatal(err)
		}
		args = append(args, "-o", "uat:ikev2_decryption_table:"+line)
		iOut, _, err := s.NewSKPair(k, true, &countingReader{})
		if err != nil {
			t.Fatal(err)
		}
		rOut, _, err := s.NewSKPair(k, false, &countingReader{})
		if err != nil {
			t.Fatal(err)
		}
		// INFORMATIONAL request from the initiator (I flag) and its response
		// from the responder, each carrying REDIRECT 2001:db8:1::2.
		inner := unhex(t, "0000001a00004017021020010db8000100000000000000000002")
		for _, dir := range []struct {
			sk    *SK
			flags byte
		}{{iOut, 0x08}, {rOut, 0x20}} {
			h := header(dir.sk, len(inner))
			binary.BigEndian.PutUint64(h[0:], spii)
			binary.BigEndian.PutUint64(h[8:], spir)
			h[19] = dir.flags
			msg, err := dir.sk.Seal(h, inner)
			if err != nil {
				t.Fatal(err)
			}
			frames = append(frames, msg)
		}
	}
	// A control: a copy of the first message with its last octet flipped
	// must not be reported correct.
	tampered := bytes.Clone(frames[0])
	tampered[len(tampered)-1] ^= 1
	pcap := filepath.Join(t.TempDir(), "sk.pcap")
	if err := os.WriteFile(pcap, pcapUDP500(append(frames, tampered)), 0o644); err != nil {
		t.Fatal(err)
	}
	args = append(args, "-r", pcap, "-V")
	out, err := exec.Command(tshark, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("tshark: %v\n%s", err, out)
	}
	text := string(out)
	if n := strings.Count(text, "[correct]"); n != len(frames) {
		t.Errorf("tshark verified %d of %d integrity checksums\n%s", n, len(frames), text)
	}
	if !strings.Contains(text, "[incorrect") {
		t.Errorf("tshark did not flag the tampered message\n%s", text)
	}
	if n := strings.Count(text, "New Responder Gateway Identity (IPv6): 2001:db8:1::2"); n < len(frames) {
		t.Errorf("tshark decrypted %d of %d REDIRECT payloads\n%s", n, len(frames), text)
	}
}

// pcapUDP500 wraps IKE messages in Ethernet/IPv4/UDP 500 frames of a
// classic pcap file.
func pcapUDP500(msgs [][]byte) []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	hdr := make([]byte, 24)
	le.PutUint32(hdr[0:], 0xa1b2c3d4)
	le.PutUint16(hdr[4:], 2)
	le.PutUint16(hdr[6:], 4)
	le.PutUint32(hdr[16:], 65535)
	le.PutUint32(hdr[20:], 1) // Ethernet
	b.Write(hdr)
	for i, m := range msgs {
		frame := make([]byte, 14+20+8, 14+20+8+len(m))
		frame[12], frame[13] = 0x08, 0x00
		ip := frame[14:34]
		ip[0], ip[8], ip[9] = 0x45, 64, 17
		binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(m)))
		copy(ip[12:], []byte{192, 0, 2, 1})
		copy(ip[16:], []byte{192, 0, 2, 2})
		var sum uint32
		for j := 0; j < 20; j += 2 {
			sum += uint32(binary.BigEndian.Uint16(ip[j:]))
		}
		sum = (sum >> 16) + (sum & 0xffff)
		sum += sum >> 16
		binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
		udp := frame[34:42]
		binary.BigEndian.PutUint16(udp[0:], 500)
		binary.BigEndian.PutUint16(udp[2:], 500)
		binary.BigEndian.PutUint16(udp[4:], uint16(8+len(m)))
		frame = append(frame, m...)
		rec := make([]byte, 16)
		le.PutUint32(rec[0:], uint32(1700000000+i))
		le.PutUint32(rec[8:], uint32(len(frame)))
		le.PutUint32(rec[12:], uint32(len(frame)))
		b.Write(rec)
		b.Write(frame)
	}
	return b.Bytes()
}
