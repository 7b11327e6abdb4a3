package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mip6ha/mip6ha/homeagent/config"
	"github.com/mip6ha/mip6ha/homeagent/store"
)

// Routes of the admin API, version 1.
const (
	PathStatus   = "/v1/status"
	PathBindings = "/v1/bindings"
	PathLeases   = "/v1/leases"
	PathMembers  = "/v1/members"
	PathConfig   = "/v1/config"
	PathExplain  = "/v1/explain"
	PathMove     = "/v1/move"
	PathDrain    = "/v1/drain"
)

// maxBody bounds a request body: requests are a few fields.
const maxBody = 64 << 10

// DefaultRequestTimeout bounds the time a Backend call may take.
const DefaultRequestTimeout = 30 * time.Second

// ServerOptions tune a Server.
type ServerOptions struct {
	// Logger receives a line per failed request (Warn for server errors,
	// Debug for the client's); nil discards them.
	Logger *slog.Logger
	// RequestTimeout bounds each Backend call; zero means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
}

// Server is the admin API: an http.Handler over a Backend, JSON in and
// out. Errors are {"error": message, "code": code} with the HTTP status of
// the code (see Error).
type Server struct {
	backend Backend
	log     *slog.Logger
	timeout time.Duration
	routes  map[string]map[string]http.HandlerFunc
}

// NewServer returns the admin API of b.
func NewServer(b Backend, opts ServerOptions) *Server {
	s := &Server{backend: b, log: opts.Logger, timeout: opts.RequestTimeout}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.timeout <= 0 {
		s.timeout = DefaultRequestTimeout
	}
	s.routes = map[string]map[string]http.HandlerFunc{
		PathStatus:   {http.MethodGet: s.status},
		PathBindings: {http.MethodGet: s.bindings},
		PathLeases:   {http.MethodGet: s.leases},
		PathMembers:  {http.MethodGet: s.members},
		PathConfig:   {http.MethodGet: s.config},
		PathExplain:  {http.MethodGet: s.explain},
		PathMove:     {http.MethodPost: s.move},
		PathDrain:    {http.MethodGet: s.drainStatus, http.MethodPost: s.drain, http.MethodDelete: s.cancelDrain},
	}
	return s
}

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	methods, ok := s.routes[r.URL.Path]
	if !ok {
		s.fail(w, r, fmt.Errorf("%w: no route %s", ErrNotFound, r.URL.Path))
		return
	}
	h, ok := methods[r.Method]
	if !ok {
		allowed := make([]string, 0, len(methods))
		for m := range methods {
			allowed = append(allowed, m)
		}
		slices.Sort(allowed)
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		s.fail(w, r, fmt.Errorf("%w: %s takes %s", ErrMethod, r.URL.Path, strings.Join(allowed, ", ")))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.timeout)
	defer cancel()
	h(w, r.WithContext(ctx))
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st, err := s.backend.Status(r.Context())
	s.reply(w, r, st, err)
}

// Bindings is the body of GET /v1/bindings.
type Bindings struct {
	Bindings []Binding `json:"bindings"`
}

func (s *Server) bindings(w http.ResponseWriter, r *http.Request) {
	b, err := s.backend.Bindings(r.Context())
	s.reply(w, r, Bindings{Bindings: nonNil(b)}, err)
}

// Leases is the body of GET /v1/leases.
type Leases struct {
	Leases []Lease `json:"leases"`
}

func (s *Server) leases(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.Filter{Owner: q.Get("owner"), Identity: q.Get("identity")}
	if st := q.Get("state"); st != "" {
		if err := f.State.UnmarshalText([]byte(st)); err != nil {
			s.fail(w, r, fmt.Errorf("%w: state %q is not bound, moving or released", ErrInvalid, st))
			return
		}
	}
	l, err := s.backend.Leases(r.Context(), f)
	s.reply(w, r, Leases{Leases: nonNil(l)}, err)
}

// Members is the body of GET /v1/members.
type Members struct {
	Members []Member `json:"members"`
}

func (s *Server) members(w http.ResponseWriter, r *http.Request) {
	m, err := s.backend.Members(r.Context())
	s.reply(w, r, Members{Members: nonNil(m)}, err)
}

func (s *Server) config(w http.ResponseWriter, r *http.Request) {
	c, err := s.backend.Config(r.Context())
	if err == nil && c == nil {
		err = fmt.Errorf("%w: no configuration", ErrUnavailable)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.reply(w, r, c.Redacted(), nil)
}

func (s *Server) explain(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var req ExplainRequest
	var err error
	addr := func(name string) netip.Addr {
		v := q.Get(name)
		if v == "" || err != nil {
			return netip.Addr{}
		}
		a, perr := netip.ParseAddr(v)
		if perr != nil {
			err = fmt.Errorf("%w: %s %q is not an IP address", ErrInvalid, name, v)
		}
		return a
	}
	req.Locator = addr("locator")
	req.RedirectedFrom = addr("redirected_from")
	req.Identity = q.Get("identity")
	if v := q.Get("anycast"); v != "" && err == nil {
		if req.Anycast, err = strconv.ParseBool(v); err != nil {
			err = fmt.Errorf("%w: anycast %q is not true or false", ErrInvalid, v)
		}
	}
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	e, err := s.backend.Explain(r.Context(), req)
	s.reply(w, r, e, err)
}

func (s *Server) move(w http.ResponseWriter, r *http.Request) {
	var req MoveRequest
	if err := decodeBody(r, &req); err != nil {
		s.fail(w, r, err)
		return
	}
	if err := req.Validate(); err != nil {
		s.fail(w, r, err)
		return
	}
	m, err := s.backend.Move(r.Context(), req)
	s.reply(w, r, m, err)
}

func (s *Server) drain(w http.ResponseWriter, r *http.Request) {
	var empty struct{}
	if err := decodeBody(r, &empty); err != nil {
		s.fail(w, r, err)
		return
	}
	d, err := s.backend.Drain(r.Context())
	s.reply(w, r, d, err)
}

func (s *Server) drainStatus(w http.ResponseWriter, r *http.Request) {
	d, err := s.backend.DrainStatus(r.Context())
	s.reply(w, r, d, err)
}

func (s *Server) cancelDrain(w http.ResponseWriter, r *http.Request) {
	d, err := s.backend.CancelDrain(r.Context())
	s.reply(w, r, d, err)
}

// decodeBody decodes a JSON body into v, strictly; an empty body is an
// empty object.
func decodeBody(r *http.Request, v any) error {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return fmt.Errorf("%w: reading the body: %v", ErrInvalid, err)
	}
	if len(b) > maxBody {
		return fmt.Errorf("%w: body larger than %d octets", ErrInvalid, maxBody)
	}
	if strings.TrimSpace(string(b)) == "" {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: body: %v", ErrInvalid, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: body holds more than one JSON value", ErrInvalid)
	}
	return nil
}

// reply writes v as JSON, or the error.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, v any, err error) {
	if err != nil {
		s.fail(w, r, err)
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		s.fail(w, r, fmt.Errorf("%w: encoding the answer: %v", ErrInternal, err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(append(b, '\n'))
}

// fail writes the error response of err.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	e := errorOf(err)
	level := slog.LevelDebug
	if e.Status >= 500 {
		level = slog.LevelWarn
	}
	s.log.Log(r.Context(), level, "admin request failed", "method", r.Method, "path", r.URL.Path, "status", e.Status, "code", e.Code, "error", e.Message)
	b, _ := json.Marshal(e) // strings only: cannot fail
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	w.Write(append(b, '\n'))
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Serve answers admin requests on ln until ctx ends, then shuts down: it
// waits (up to five seconds) for the requests under way and closes ln.
// It returns nil after ctx ended, else the error that stopped it.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := hs.Shutdown(sctx)
	<-errc
	if err != nil {
		hs.Close()
	}
	return nil
}

// Listen opens the admin API's listener at addr (config.ParseListen
// syntax). A unix socket gets mode 0600 before it accepts connections (it
// is bound under a temporary name, restricted, then renamed into place);
// its directory is created with mode 0750 if missing; a stale socket left
// by a process that died is replaced, but a socket something still listens
// on is an error. Closing the listener removes the socket.
func Listen(addr string) (net.Listener, error) {
	network, address, err := config.ParseListen(addr)
	if err != nil {
		return nil, fmt.Errorf("admin: listen %q: %w", addr, err)
	}
	if network == "tcp" {
		return net.Listen("tcp", address)
	}
	return listenUnix(address)
}

func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	if st, err := os.Lstat(path); err == nil {
		if st.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("admin: %s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("admin: %s: another process is listening there", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("admin: removing the stale socket: %w", err)
		}
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	if len(tmp) > 107 {
		tmp = filepath.Join(filepath.Dir(path), fmt.Sprintf(".a%d", os.Getpid()))
	}
	os.Remove(tmp)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, 0o600); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("admin: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("admin: %w", err)
	}
	return &unixListener{UnixListener: ln, path: path}, nil
}

// unixListener removes its socket file when closed.
type unixListener struct {
	*net.UnixListener
	path string
	once sync.Once
}

// Close stops listening and removes the socket.
func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if rerr := os.Remove(l.path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) && err == nil {
			err = rerr
		}
	})
	return err
}
