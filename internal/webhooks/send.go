package webhooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crmsync/crmsync/internal/netguard"
)

// Limits of one attempt.
const (
	// DefaultAttemptTimeout bounds one attempt: connecting, sending and
	// reading the answer.
	DefaultAttemptTimeout = 10 * time.Second
	// maxResponseRead is how much of an answer's body is read (the rest
	// is dropped with the connection).
	maxResponseRead = 64 << 10
	// ExcerptBytes is how much of the last answer's body is kept for the
	// delivery log.
	ExcerptBytes = 1024
)

// Schedule is when attempts are made: Delay(n) is the pause after the
// n-th failed attempt (n from 1), Attempts how many attempts are made in
// all before the delivery is shown as failed.
type Schedule struct {
	Attempts int
	Base     time.Duration // pause after the first failure
	Max      time.Duration // longest pause
	Jitter   float64       // ± this fraction of each pause, at random
}

// DefaultSchedule makes 13 attempts (12 retries) over about 20 hours:
// 30 s, 1, 2, 4, 8, 16, 32 min, ~1, 2, 4.3, then 6 h twice, each ±20 %.
var DefaultSchedule = Schedule{Attempts: 13, Base: 30 * time.Second, Max: 6 * time.Hour, Jitter: 0.2}

// Delay is the pause after the n-th failed attempt.
func (s Schedule) Delay(n int) time.Duration {
	d := s.Base
	for i := 1; i < n && d < s.Max; i++ {
		d *= 2
	}
	d = min(d, s.Max)
	if s.Jitter > 0 {
		d += time.Duration((rand.Float64()*2 - 1) * s.Jitter * float64(d))
	}
	return max(d, 0)
}

// Total is the span of the schedule without jitter (documentation, tests).
func (s Schedule) Total() time.Duration {
	j := s.Jitter
	s.Jitter = 0
	var t time.Duration
	for n := 1; n < s.Attempts; n++ {
		t += s.Delay(n)
	}
	s.Jitter = j
	return t
}

// NewHTTPClient is the client deliveries go through: every connection
// through the network guard (the one connectors use), no proxy, no
// redirect followed (a 3xx is an answer, and following it could lead
// inside), each attempt bounded by timeout.
func NewHTTPClient(guard *netguard.Guard, timeout time.Duration) *http.Client {
	if timeout <= 0 {
		timeout = DefaultAttemptTimeout
	}
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           guard.DialContext,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// Request is one attempt to send.
type Request struct {
	URL        string
	Secret     []byte
	EventID    string
	EventType  string
	DeliveryID int64
	Attempt    int
	Body       []byte
	Now        time.Time
}

// Result is an attempt's outcome.
type Result struct {
	Status  int    // 0: no answer
	Excerpt string // the answer's body, at most ExcerptBytes, valid UTF-8
	Err     string // why it failed ("" on a 2xx)
}

// OK reports a 2xx answer.
func (r Result) OK() bool { return r.Err == "" }

// Send makes one attempt.
func Send(ctx context.Context, c *http.Client, rq Request) Result {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rq.URL, bytes.NewReader(rq.Body))
	if err != nil {
		return Result{Err: "the endpoint's address cannot be used: " + err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "crmsync-webhooks/1")
	req.Header.Set(HeaderEventID, rq.EventID)
	req.Header.Set(HeaderEventType, rq.EventType)
	req.Header.Set(HeaderDeliveryID, strconv.FormatInt(rq.DeliveryID, 10))
	req.Header.Set(HeaderAttempt, strconv.Itoa(rq.Attempt))
	req.Header.Set(HeaderSignature, Sign(rq.Secret, rq.Now, rq.Body))
	resp, err := c.Do(req)
	if err != nil {
		return Result{Err: describe(err)}
	}
	defer resp.Body.Close()
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, maxResponseRead))
	res := Result{Status: resp.StatusCode, Excerpt: excerpt(b)}
	switch {
	case resp.StatusCode/100 != 2:
		res.Err = fmt.Sprintf("the endpoint answered %d %s", resp.StatusCode, http.StatusText(resp.StatusCode))
	case rerr != nil:
		// A 2xx whose body broke off still says the event arrived.
	}
	return res
}

// describe words a transport failure for the delivery log.
func describe(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, netguard.ErrNotAllowed):
		return "crmsync does not connect to this address: it is loopback, private or otherwise internal (the operator may allow it with --private-hosts)"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "no answer within the time allowed for an attempt"
	}
	return "no answer: " + err.Error()
}

func excerpt(b []byte) string {
	if len(b) > ExcerptBytes {
		b = b[:ExcerptBytes]
		// Drop a character cut in half at the end.
		for i := 1; i < utf8.UTFMax && len(b) > 0; i++ {
			if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size != 1 {
				break
			}
			b = b[:len(b)-1]
		}
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
