package admin

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzServer sends arbitrary requests to the API: it never panics, always
// answers JSON, and an error answer carries a known code with its status.
func FuzzServer(f *testing.F) {
	for _, s := range []struct{ method, target, body string }{
		{"GET", PathStatus, ""},
		{"GET", PathLeases + "?owner=ha1&state=moving", ""},
		{"GET", PathExplain + "?locator=2001:db8::1&identity=a@b&anycast=true&redirected_from=192.0.2.1", ""},
		{"POST", PathMove, `{"identity": "mn1@example.net", "to": "ha2"}`},
		{"POST", PathMove, `{"hoa": "2001:db8:1::1000"}`},
		{"POST", PathDrain, `{}`},
		{"DELETE", PathDrain, ""},
		{"PATCH", "/v1/x", "{"},
	} {
		f.Add(s.method, s.target, s.body)
	}
	status := map[string]int{}
	for _, c := range codes {
		status[c.code] = c.status
	}
	srv := NewServer(newFake(), ServerOptions{})
	f.Fuzz(func(t *testing.T, method, target, body string) {
		if !validMethod(method) || !strings.HasPrefix(target, "/") {
			return
		}
		req, err := http.NewRequest(method, "http://homeagent"+target, strings.NewReader(body))
		if err != nil {
			return
		}
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%s %q: answer is not JSON: %q", method, target, w.Body.String())
		}
		if w.Code == http.StatusOK {
			return
		}
		var e Error
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Message == "" {
			t.Fatalf("%s %q: error answer %q", method, target, w.Body.String())
		}
		if want, ok := status[e.Code]; !ok || want != w.Code {
			t.Fatalf("%s %q: status %d with code %q", method, target, w.Code, e.Code)
		}
	})
}

// validMethod reports whether m is an HTTP token, as net/http requires.
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, r := range m {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) {
			return false
		}
	}
	return true
}
