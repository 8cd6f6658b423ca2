// Package cloudapi sends one account's requests to a provider's REST API
// (Microsoft Graph, Google's APIs): a bearer token asked for on every
// attempt and replaced once when the provider refuses it, a Gate that keeps
// the provider's per-account limits (concurrent requests, Retry-After),
// retries with exponential backoff and jitter, and every refusal turned
// into a *connerr.Error by the provider's own Classify. The connectors of
// every provider share it, so throttling is obeyed the same way
// everywhere; what differs — error bodies, headers every call carries — is
// the provider package's (internal/graph, internal/google).
//
// It knows nothing of storage nor of sign-in: a Tokens function adapts
// the token source in the wiring.
package cloudapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
)

// Tokens returns a bearer token. stale is "" or the token the provider
// just refused (401): the source then refreshes rather than hand it back.
// Tokens never appear in logs or errors.
type Tokens func(ctx context.Context, stale string) (string, error)

// Gate is what a provider allows one account: at most a number of
// requests at once and none before a Retry-After has elapsed. The limits
// are per account (per mailbox for Graph, per user for Google), so every
// connector of an account (mail, contacts, calendar, tasks) must share one
// Gate; the wiring keeps one per account. Safe for concurrent use.
type Gate struct {
	slots chan struct{}
	mu    sync.Mutex
	until time.Time
}

// NewGate returns a Gate letting max requests run at once.
func NewGate(max int) *Gate { return &Gate{slots: make(chan struct{}, max)} }

// Hold forbids requests for d from now (a longer hold already set stays).
func (g *Gate) Hold(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t := time.Now().Add(d); t.After(g.until) {
		g.until = t
	}
}

// Until is when requests may go again (zero or past: now).
func (g *Gate) Until() time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.until
}

// enter takes a slot once no Retry-After runs, and says how long it
// waited for one to end. A wait longer than maxWait is not waited:
// throttled(wait) is returned for the loop, which comes back then.
func (g *Gate) enter(ctx context.Context, maxWait time.Duration, throttled func(time.Duration) error) (waited time.Duration, err error) {
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	for {
		wait := time.Until(g.Until())
		if wait <= 0 {
			return waited, nil
		}
		if wait > maxWait {
			<-g.slots
			return waited, throttled(wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
			waited += wait
		case <-ctx.Done():
			t.Stop()
			<-g.slots
			return waited, ctx.Err()
		}
	}
}

func (g *Gate) leave() { <-g.slots }

// MaxErrorBody bounds an error answer read for its code.
const MaxErrorBody = 64 << 10

// Failure is a refused request as the provider's Classify sees it.
type Failure struct {
	Status     int
	Header     http.Header
	Body       []byte // at most MaxErrorBody
	RetryAfter time.Duration
}

// StatusError is the cause (connerr.Error.Err) of every refusal Do
// returns: the status and the provider's error code, never its message,
// the URL or a token.
type StatusError struct {
	Status int
	Code   string
}

func (e *StatusError) Error() string {
	if e.Code == "" {
		return fmt.Sprintf("HTTP %d", e.Status)
	}
	return fmt.Sprintf("HTTP %d %s", e.Status, e.Code)
}

// Status returns the HTTP status of a refusal Do returned, 0 for any other
// error (a network failure, a token that could not be had).
func Status(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Status
	}
	return 0
}

// Provider is what differs between providers.
type Provider struct {
	// Name is how messages name it: "Microsoft Graph", "Google".
	Name string
	// Classify turns a refusal into its kind and words; Err of the result
	// should be a *StatusError. Kind Throttled is waited out and retried
	// (RetryAfter, or backoff when zero); Unreachable on a 5xx is retried
	// with backoff; anything else is returned.
	Classify func(server string, f Failure) *connerr.Error
	// SignInAgain is the error of a token that cannot be had or is
	// refused twice.
	SignInAgain func(server string, err error) *connerr.Error
	// Decorate adds the headers every request carries (Graph's Prefer).
	Decorate func(h http.Header)
}

// Client sends one account's requests.
type Client struct {
	HTTP   *http.Client // default http.DefaultClient
	Base   string       // e.g. https://graph.microsoft.com/v1.0; every URL must be under it
	Server string       // host, for messages
	Tokens Tokens
	Gate   *Gate
	// MaxWait is the longest Retry-After waited for inside a call; a
	// longer one is a Throttled error (the account shows throttled).
	MaxWait time.Duration
	// Retries bounds attempts after the first; Backoff is the first
	// retry's delay when the provider gives none.
	Retries  int
	Backoff  time.Duration
	Provider Provider
	// Observer, when set, is told of every attempt and every wait on a
	// Retry-After (the process's metrics); the wiring sets it.
	Observer Observer
}

// Observer hears what a Client's requests met. It must be quick and safe
// for concurrent use; it never sees a URL, a token or a message.
type Observer interface {
	// Attempt is one attempt's outcome: its HTTP status (0 when no answer
	// came) and, for a refusal, the provider's error code ("" when it
	// gave none).
	Attempt(status int, code string)
	// ThrottleWait is a request held back for d by a Retry-After.
	ThrottleWait(d time.Duration)
}

// observe reports an attempt to the Observer, if any.
func (c *Client) observe(status int, code string) {
	if c.Observer != nil {
		c.Observer.Attempt(status, code)
	}
}

// Settings are what every provider's configuration of one account holds.
type Settings struct {
	HTTP    *http.Client // default http.DefaultClient
	Tokens  Tokens
	Gate    *Gate // the account's, shared by its connectors (default: a new one)
	MaxWait time.Duration
	Retries int
	Backoff time.Duration
	// Observer hears the client's attempts and waits (metrics); optional.
	Observer Observer
}

// New returns the client of one account of provider p whose API is at
// base (its root, the version's path included). Unset settings take the
// defaults every provider shares: a new Gate of maxConcurrent, waits of up
// to a minute inside a call (the account shows throttled past it),
// retries attempts after the first, a first backoff of one second.
func New(base string, s Settings, p Provider, maxConcurrent, retries int) (*Client, error) {
	if s.Tokens == nil {
		return nil, fmt.Errorf("%s: no token source", p.Name)
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("%s: bad API address", p.Name)
	}
	if s.HTTP == nil {
		s.HTTP = http.DefaultClient
	}
	if s.Gate == nil {
		s.Gate = NewGate(maxConcurrent)
	}
	if s.MaxWait <= 0 {
		s.MaxWait = time.Minute
	}
	if s.Retries <= 0 {
		s.Retries = retries
	}
	if s.Backoff <= 0 {
		s.Backoff = time.Second
	}
	return &Client{HTTP: s.HTTP, Base: strings.TrimSuffix(base, "/"), Server: u.Host, Tokens: s.Tokens, Gate: s.Gate,
		MaxWait: s.MaxWait, Retries: s.Retries, Backoff: s.Backoff, Provider: p, Observer: s.Observer}, nil
}

// Request is one call: an absolute URL (a link the provider gave) or a
// path under Base.
type Request struct {
	Method, URL string
	Body        []byte
	ContentType string // default application/json when Body is set
	Header      http.Header
	// Unrepeatable marks a request that must not be carried out twice
	// (sending mail). Only refusals that prove nothing was done are
	// retried: 401 (with a fresh token), 429 and 503. A request that may
	// have reached the provider and got no answer, or got a 500, 502 or
	// 504, is returned at once with ErrOutcomeUnknown in its chain: the
	// caller finds out whether it was done before doing it again.
	Unrepeatable bool
}

// ErrOutcomeUnknown is in the chain of the error of an Unrepeatable
// request that may have been carried out: the connection failed after
// the request was written, or the provider failed without saying whether
// it did it.
var ErrOutcomeUnknown = errors.New("cloudapi: the request may have been carried out")

// Do sends r and returns a 2xx answer whose body the caller must close
// (closing it frees the account's slot: a streamed body holds its slot
// while it is read).
func (c *Client) Do(ctx context.Context, r Request) (*http.Response, error) {
	u := r.URL
	if !strings.Contains(u, "://") {
		u = c.Base + u
	}
	if !strings.HasPrefix(u, c.Base+"/") && u != c.Base {
		// A link elsewhere would carry the account's token there.
		return nil, connerr.Errorf(connerr.Protocol, nil, "%s answered with a link to another server.", c.Provider.Name)
	}
	throttled := func(d time.Duration) error { return c.throttled(d) }
	stale := ""
	var last error
	for attempt := 0; ; attempt++ {
		// The try with a refreshed token after a 401 is not a retry (last
		// is nil then): a client with Retries 0 still gets it.
		if attempt > c.Retries && last != nil {
			return nil, last
		}
		waited, err := c.Gate.enter(ctx, c.MaxWait, throttled)
		if waited > 0 && c.Observer != nil {
			c.Observer.ThrottleWait(waited)
		}
		if err != nil {
			return nil, err
		}
		resp, tok, wrote, err := c.send(ctx, r, u, stale)
		if err != nil {
			c.Gate.leave()
			if ctx.Err() == nil && connerr.As(err) == nil {
				c.observe(0, "") // no answer; a token refused before sending is not a request
			}
			if r.Unrepeatable && wrote {
				ue := c.unreachable(err)
				ue.Err = errors.Join(ue.Err, ErrOutcomeUnknown)
				return nil, ue
			}
			if ctx.Err() != nil || connerr.As(err) != nil {
				return nil, err
			}
			last = c.unreachable(err)
			c.sleep(ctx, attempt)
			continue
		}
		if resp.StatusCode/100 == 2 {
			c.observe(resp.StatusCode, "")
			resp.Body = &gateBody{ReadCloser: resp.Body, gate: c.Gate}
			return resp, nil
		}
		f := readFailure(resp)
		c.Gate.leave()
		if f.Status == http.StatusUnauthorized {
			c.observe(f.Status, "")
			if stale == "" {
				stale = tok // once more, with a refreshed token
				continue
			}
			return nil, c.Provider.SignInAgain(c.Server, &StatusError{Status: f.Status})
		}
		ce := c.Provider.Classify(c.Server, f)
		var se *StatusError
		code := ""
		if errors.As(ce, &se) {
			code = se.Code
		}
		c.observe(f.Status, code)
		switch {
		case ce.Kind == connerr.Throttled:
			d := ce.RetryAfter
			if d <= 0 {
				d = c.backoff(attempt)
			}
			c.Gate.Hold(d)
			last = ce
			if ce.RetryAfter <= 0 {
				ce.RetryAfter = d
			}
			continue // the gate waits, or says Throttled when it lasts
		case ce.Kind == connerr.Unreachable && f.Status/100 == 5:
			if r.Unrepeatable && f.Status != http.StatusServiceUnavailable {
				ce.Err = errors.Join(ce.Err, ErrOutcomeUnknown)
				return nil, ce
			}
			last = ce
			if f.RetryAfter > 0 {
				c.Gate.Hold(f.RetryAfter)
			} else {
				c.sleep(ctx, attempt)
			}
			continue
		}
		return nil, ce
	}
}

// send makes one attempt. The token is asked for anew each time (stale
// says which one the provider refused). wrote reports that (some of) the
// request went out on a connection: a failure after that may be after the
// provider acted on it.
func (c *Client) send(ctx context.Context, r Request, u, stale string) (resp *http.Response, tok string, wrote bool, err error) {
	tok, err = c.Tokens(ctx, stale)
	if err != nil {
		if connerr.As(err) != nil {
			return nil, "", false, err
		}
		return nil, "", false, c.Provider.SignInAgain(c.Server, err)
	}
	var mu sync.Mutex
	if r.Unrepeatable {
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			WroteHeaders: func() { mu.Lock(); wrote = true; mu.Unlock() },
		})
	}
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, u, body)
	if err != nil {
		return nil, "", false, connerr.Errorf(connerr.Protocol, err, "crmsync could not build a request for %s.", c.Provider.Name)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if c.Provider.Decorate != nil {
		c.Provider.Decorate(req.Header)
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if r.Body != nil {
		ct := r.ContentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err = hc.Do(req)
	mu.Lock()
	defer mu.Unlock()
	return resp, tok, wrote, err
}

// GetJSON reads the bounded JSON answer of GET u (header added) into v.
func (c *Client) GetJSON(ctx context.Context, u string, header http.Header, limit int64, v any) error {
	resp, err := c.Do(ctx, Request{Method: http.MethodGet, URL: u, Header: header})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return c.DecodeJSON(resp.Body, limit, v)
}

// DecodeJSON decodes at most limit bytes of body into v; a longer or
// malformed answer is a Protocol error.
func (c *Client) DecodeJSON(body io.Reader, limit int64, v any) error {
	lr := &io.LimitedReader{R: body, N: limit + 1}
	if err := json.NewDecoder(lr).Decode(v); err != nil {
		if lr.N <= 0 {
			return &connerr.Error{Kind: connerr.Protocol, Server: c.Server, Message: fmt.Sprintf("%s sent an answer larger than %d MiB; crmsync does not read it.", c.Provider.Name, max(limit>>20, 1))}
		}
		return &connerr.Error{Kind: connerr.Protocol, Server: c.Server, Err: err, Message: c.Provider.Name + " sent an answer crmsync cannot read."}
	}
	return nil
}

// backoff is the delay before attempt+1: Backoff doubled per attempt, ±20 %
// jitter so that many accounts do not retry in step.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.Backoff << min(attempt, 10)
	return d + time.Duration((rand.Float64()*0.4-0.2)*float64(d))
}

func (c *Client) sleep(ctx context.Context, attempt int) {
	t := time.NewTimer(c.backoff(attempt))
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

func (c *Client) throttled(d time.Duration) *connerr.Error {
	return &connerr.Error{Kind: connerr.Throttled, Server: c.Server, RetryAfter: d,
		Message: fmt.Sprintf("%s limits how fast this account may be read; the sync resumes when it allows.", c.Provider.Name)}
}

// unreachable is a request that got no answer; the URL (which may carry
// cursors) is left out of the cause.
func (c *Client) unreachable(err error) *connerr.Error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &connerr.Error{Kind: connerr.Unreachable, Server: c.Server, Err: err, Message: c.Provider.Name + " is not answering."}
}

// readFailure reads (a bounded part of) a non-2xx answer and closes it.
func readFailure(resp *http.Response) Failure {
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxErrorBody))
	return Failure{Status: resp.StatusCode, Header: resp.Header, Body: body, RetryAfter: RetryAfter(resp.Header.Get("Retry-After"))}
}

// RetryAfter reads a Retry-After value: seconds or an HTTP date; 0 when
// absent or unreadable.
func RetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), time.Second)
	}
	return 0
}

// gateBody frees the account's slot when the answer is closed.
type gateBody struct {
	io.ReadCloser
	gate *Gate
	once sync.Once
}

func (b *gateBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.gate.leave)
	return err
}
