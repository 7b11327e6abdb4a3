package wire

import (
	"testing"
)

func TestPadLength(t *testing.T) {
	// RFC 7296 §3.14: the minimum that aligns inner payloads, Padding and
	// Pad Length to the block size.
	for _, tt := range []struct{ n, block, pad int }{
		{26, 16, 5}, {207, 16, 0}, {230, 16, 9}, {15, 16, 0}, {16, 16, 15}, {100, 1, 0}, {0, 8, 7},
	} {
		if got := padLength(tt.n, tt.block); got != tt.pad {
			t.Errorf("padLength(%d, %d) = %d, want %d", tt.n, tt.block, got, tt.pad)
		}
	}
}

func TestTrimPadding(t *testing.T) {
	// Receivers accept any Pad Length that fits (RFC 7296 §3.14).
	inner, err := TrimPadding([]byte{1, 2, 3, 9, 9, 9, 9, 4})
	if err != nil || string(inner) != "\x01\x02\x03" {
		t.Errorf("TrimPadding = %x, %v", inner, err)
	}
	_, err = TrimPadding(nil)
	syntaxAt(t, err, PayloadSK, 0)
	_, err = TrimPadding([]byte{1, 2})
	syntaxAt(t, err, PayloadSK, 1)
}

func FuzzTrimPadding(f *testing.F) {
	f.Add([]byte{0})
	f.Add([]byte{1, 2, 3, 0, 0, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		inner, err := TrimPadding(data)
		if err != nil {
			return
		}
		if len(inner)+1+int(data[len(data)-1]) != len(data) || string(inner) != string(data[:len(inner)]) {
			t.Fatalf("TrimPadding(%x) = %x", data, inner)
		}
	})
}
