package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"

	"github.com/mip6ha/mip6ha/homeagent/config"
	"github.com/mip6ha/mip6ha/homeagent/store"
)

// maxResponse bounds a response body the Client reads: thousands of
// bindings fit.
const maxResponse = 64 << 20

// Client calls the admin API of a home agent. It implements Backend. It is
// safe for concurrent use.
type Client struct {
	base string
	hc   *http.Client
}

// NewClient returns a client of the admin API at addr, in admin.listen
// syntax (config.ParseListen): a unix socket path or a loopback host:port.
func NewClient(addr string) (*Client, error) {
	network, address, err := config.ParseListen(addr)
	if err != nil {
		return nil, fmt.Errorf("admin: address %q: %w", addr, err)
	}
	tr := &http.Transport{DisableCompression: true, MaxIdleConns: 4}
	base := "http://" + address
	if network == "unix" {
		var d net.Dialer
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", address)
		}
		base = "http://homeagent"
	}
	return &Client{base: base, hc: &http.Client{Transport: tr}}, nil
}

// Close releases the client's idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// do sends a request and decodes the JSON answer into out, or returns the
// *Error of an error response.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u := c.base + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("admin: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("admin: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return fmt.Errorf("admin: %s %s: %w", method, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		e := &Error{Status: resp.StatusCode}
		if json.Unmarshal(b, e) != nil || e.Code == "" {
			e.Code, e.Message = CodeInternal, fmt.Sprintf("%s %s: HTTP %s", method, path, resp.Status)
		}
		return e
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("admin: %s %s: decoding the answer: %w", method, path, err)
	}
	return nil
}

// Status calls GET /v1/status.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var s Status
	err := c.do(ctx, http.MethodGet, PathStatus, nil, nil, &s)
	return s, err
}

// Bindings calls GET /v1/bindings.
func (c *Client) Bindings(ctx context.Context) ([]Binding, error) {
	var b Bindings
	err := c.do(ctx, http.MethodGet, PathBindings, nil, nil, &b)
	return b.Bindings, err
}

// Leases calls GET /v1/leases with f as query parameters.
func (c *Client) Leases(ctx context.Context, f store.Filter) ([]Lease, error) {
	q := url.Values{}
	if f.Owner != "" {
		q.Set("owner", f.Owner)
	}
	if f.Identity != "" {
		q.Set("identity", f.Identity)
	}
	if f.State != 0 {
		q.Set("state", f.State.String())
	}
	var l Leases
	err := c.do(ctx, http.MethodGet, PathLeases, q, nil, &l)
	return l.Leases, err
}

// Members calls GET /v1/members.
func (c *Client) Members(ctx context.Context) ([]Member, error) {
	var m Members
	err := c.do(ctx, http.MethodGet, PathMembers, nil, nil, &m)
	return m.Members, err
}

// Config calls GET /v1/config: the configuration in force, its secrets
// redacted.
func (c *Client) Config(ctx context.Context) (*config.Config, error) {
	var cfg config.Config
	if err := c.do(ctx, http.MethodGet, PathConfig, nil, nil, &cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// Explain calls GET /v1/explain.
func (c *Client) Explain(ctx context.Context, r ExplainRequest) (Explain, error) {
	q := url.Values{}
	if r.Locator.IsValid() {
		q.Set("locator", r.Locator.String())
	}
	if r.Identity != "" {
		q.Set("identity", r.Identity)
	}
	if r.Anycast {
		q.Set("anycast", strconv.FormatBool(r.Anycast))
	}
	if r.RedirectedFrom.IsValid() {
		q.Set("redirected_from", r.RedirectedFrom.String())
	}
	var e Explain
	err := c.do(ctx, http.MethodGet, PathExplain, q, nil, &e)
	return e, err
}

// Move calls POST /v1/move.
func (c *Client) Move(ctx context.Context, r MoveRequest) (Move, error) {
	var m Move
	err := c.do(ctx, http.MethodPost, PathMove, nil, r, &m)
	return m, err
}

// Drain calls POST /v1/drain.
func (c *Client) Drain(ctx context.Context) (DrainStatus, error) {
	var d DrainStatus
	err := c.do(ctx, http.MethodPost, PathDrain, nil, struct{}{}, &d)
	return d, err
}

// DrainStatus calls GET /v1/drain.
func (c *Client) DrainStatus(ctx context.Context) (DrainStatus, error) {
	var d DrainStatus
	err := c.do(ctx, http.MethodGet, PathDrain, nil, nil, &d)
	return d, err
}

// CancelDrain calls DELETE /v1/drain.
func (c *Client) CancelDrain(ctx context.Context) (DrainStatus, error) {
	var d DrainStatus
	err := c.do(ctx, http.MethodDelete, PathDrain, nil, nil, &d)
	return d, err
}

var _ Backend = (*Client)(nil)
