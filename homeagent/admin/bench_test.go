package admin

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

// manyBindings is a backend with n bindings, to measure the encoding of a
// large answer.
type manyBindings struct {
	*fake
	b []Binding
}

func (m manyBindings) Bindings(context.Context) ([]Binding, error) { return m.b, nil }

// BenchmarkBindings10k measures GET /v1/bindings of 10,000 nodes through
// the handler (no socket).
func BenchmarkBindings10k(b *testing.B) {
	m := manyBindings{fake: newFake()}
	base := fakeBindings[0]
	for i := range 10000 {
		x := base
		x.Identity = fmt.Sprintf("mn%d@example.net", i)
		x.HoA = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 14: byte(i >> 8), 15: byte(i)})
		m.b = append(m.b, x)
	}
	srv := NewServer(m, ServerOptions{})
	req := httptest.NewRequest(http.MethodGet, PathBindings, nil)
	b.ReportAllocs()
	for b.Loop() {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
	}
}

// BenchmarkStatusOverSocket measures one GET /v1/status through a Client
// over a unix socket: the round trip of `homeagent ctl status`.
func BenchmarkStatusOverSocket(b *testing.B) {
	path := b.TempDir() + "/admin.sock"
	ln, err := Listen(path)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- NewServer(newFake(), ServerOptions{}).Serve(ctx, ln) }()
	c, err := NewClient(path)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Status(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	c.Close()
	cancel()
	<-done
}
