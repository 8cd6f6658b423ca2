package graphmail

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
)

// Tokens returns a bearer token for Graph. stale is "" or the token Graph
// just refused (401): the source then refreshes rather than hand it back.
// golang.org/x/oauth2 sources adapt to it in the wiring, so this package
// depends on no sign-in code. Tokens never appear in logs or errors.
type Tokens func(ctx context.Context, stale string) (string, error)

// Gate is what Graph allows one mailbox (§5): at most MaxConcurrent
// requests at once and none before a Retry-After has elapsed. Its limits
// are the app's per mailbox, so every connector of a mailbox (mail,
// contacts, calendar, tasks) must share one Gate; the wiring keeps one per
// mailbox. Safe for concurrent use.
type Gate struct {
	slots chan struct{}
	mu    sync.Mutex
	until time.Time
}

// MaxConcurrent is Outlook's limit of concurrent requests per app and
// mailbox.
const MaxConcurrent = 4

// NewGate returns a Gate for one mailbox.
func NewGate() *Gate { return &Gate{slots: make(chan struct{}, MaxConcurrent)} }

// hold forbids requests for d from now (a longer hold already set stays).
func (g *Gate) hold(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t := time.Now().Add(d); t.After(g.until) {
		g.until = t
	}
}

// enter takes a slot once no Retry-After runs. A wait longer than maxWait
// is not waited: it is a Throttled error for the loop, which comes back
// then.
func (g *Gate) enter(ctx context.Context, maxWait time.Duration, server string) error {
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	for {
		g.mu.Lock()
		wait := time.Until(g.until)
		g.mu.Unlock()
		if wait <= 0 {
			return nil
		}
		if wait > maxWait {
			<-g.slots
			return throttled(server, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			<-g.slots
			return ctx.Err()
		}
	}
}

func (g *Gate) leave() { <-g.slots }

// client sends Graph requests for one mailbox: the bearer token, the
// Prefer header every call needs, the Gate, and retries.
type client struct {
	http    *http.Client
	base    string // e.g. https://graph.microsoft.com/v1.0
	server  string // host, for messages
	tokens  Tokens
	gate    *Gate
	maxWait time.Duration
	retries int
	backoff time.Duration
}

// request is one call: an absolute URL (a link Graph gave) or a path
// under base.
type request struct {
	method, url string
	body        []byte // JSON
	prefer      []string
}

// do sends r and returns a 2xx answer whose body the caller must close
// (closing it frees the mailbox's slot). Throttling (429, 503 with
// Retry-After) is waited out when short, else returned as Throttled; 5xx
// and network failures are retried with exponential backoff and jitter;
// everything else is classified once, in classify.go.
func (c *client) do(ctx context.Context, r request) (*http.Response, error) {
	u := r.url
	if !strings.Contains(u, "://") {
		u = c.base + u
	}
	if !strings.HasPrefix(u, c.base+"/") {
		// A link elsewhere would carry the mailbox's token there.
		return nil, connerr.Errorf(connerr.Protocol, nil, "Microsoft Graph answered with a link to another server.")
	}
	stale := ""
	var last error
	for attempt := 0; ; attempt++ {
		if attempt > c.retries {
			return nil, last
		}
		if err := c.gate.enter(ctx, c.maxWait, c.server); err != nil {
			return nil, err
		}
		resp, tok, err := c.send(ctx, r, u, stale)
		if err != nil {
			c.gate.leave()
			if ctx.Err() != nil || connerr.As(err) != nil {
				return nil, err
			}
			last = unreachable(c.server, err)
			c.sleep(ctx, attempt)
			continue
		}
		if resp.StatusCode/100 == 2 {
			resp.Body = &gateBody{ReadCloser: resp.Body, gate: c.gate}
			return resp, nil
		}
		fail := readFailure(resp)
		c.gate.leave()
		switch {
		case resp.StatusCode == http.StatusUnauthorized && stale == "":
			stale = tok // once more, with a refreshed token
			continue
		case fail.retryAfter > 0 && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode/100 == 5):
			c.gate.hold(fail.retryAfter)
			last = throttled(c.server, fail.retryAfter)
			continue // the gate waits, or says Throttled when it lasts
		case resp.StatusCode == http.StatusTooManyRequests:
			c.gate.hold(time.Minute)
			last = throttled(c.server, time.Minute)
			continue
		case resp.StatusCode == http.StatusBadGateway || resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout:
			last = classify(c.server, fail)
			c.sleep(ctx, attempt)
			continue
		}
		return nil, classify(c.server, fail)
	}
}

// send makes one attempt. The token is asked for anew each time (stale
// says which one Graph refused).
func (c *client) send(ctx context.Context, r request, u, stale string) (*http.Response, string, error) {
	tok, err := c.tokens(ctx, stale)
	if err != nil {
		if connerr.As(err) != nil {
			return nil, "", err
		}
		return nil, "", signInAgain(c.server, err)
	}
	var body io.Reader
	if r.body != nil {
		body = bytes.NewReader(r.body)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, body)
	if err != nil {
		return nil, "", connerr.Errorf(connerr.Protocol, err, "crmsync could not build a request for Microsoft Graph.")
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	req.Header.Add("Prefer", `IdType="ImmutableId"`)
	for _, p := range r.prefer {
		req.Header.Add("Prefer", p)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	return resp, tok, err
}

// sleep waits before attempt+1: backoff doubled per attempt, ±20 % jitter
// so that many mailboxes do not retry in step.
func (c *client) sleep(ctx context.Context, attempt int) {
	d := c.backoff << min(attempt, 10)
	d += time.Duration((rand.Float64()*0.4 - 0.2) * float64(d))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// gateBody frees the mailbox's slot when the answer is closed: a streamed
// body ($value) holds its slot while it is read.
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
