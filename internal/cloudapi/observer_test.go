package cloudapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/connerr"
)

// recordingObserver keeps what a Client reported.
type recordingObserver struct {
	mu       sync.Mutex
	attempts []string
	waits    []time.Duration
}

func (o *recordingObserver) Attempt(status int, code string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.attempts = append(o.attempts, fmt.Sprintf("%d %s", status, code))
}

func (o *recordingObserver) ThrottleWait(d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.waits = append(o.waits, d)
}

// The observer hears every attempt with its status and the provider's
// code, and the time a Retry-After held a request back.
func TestObserverHearsAttemptsAndThrottling(t *testing.T) {
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		switch {
		case r.URL.Path == "/gone":
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprint(w, "itemNotFound")
		case calls == 1:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, "TooManyRequests")
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	defer srv.Close()
	classify := func(server string, f cloudapi.Failure) *connerr.Error {
		kind := connerr.Protocol
		if f.Status == http.StatusTooManyRequests {
			kind = connerr.Throttled
		}
		return &connerr.Error{Kind: kind, Server: server, RetryAfter: f.RetryAfter, Err: &cloudapi.StatusError{Status: f.Status, Code: string(f.Body)}}
	}
	obs := &recordingObserver{}
	c := &cloudapi.Client{HTTP: srv.Client(), Base: srv.URL, Server: "test",
		Tokens: func(context.Context, string) (string, error) { return "t", nil }, Gate: cloudapi.NewGate(1),
		MaxWait: 5 * time.Second, Retries: 2, Backoff: time.Millisecond, Observer: obs,
		Provider: cloudapi.Provider{Name: "Test", Classify: classify,
			SignInAgain: func(server string, err error) *connerr.Error { return &connerr.Error{Kind: connerr.Auth, Err: err} }}}
	resp, err := c.Do(context.Background(), cloudapi.Request{Method: http.MethodGet, URL: "/items"})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := c.Do(context.Background(), cloudapi.Request{Method: http.MethodGet, URL: "/gone"}); cloudapi.Status(err) != http.StatusNotFound {
		t.Fatalf("gone: %v", err)
	}
	if want := []string{"429 TooManyRequests", "200 ", "404 itemNotFound"}; !slices.Equal(obs.attempts, want) {
		t.Errorf("attempts = %q, want %q", obs.attempts, want)
	}
	if len(obs.waits) != 1 || obs.waits[0] < 900*time.Millisecond || obs.waits[0] > 2*time.Second {
		t.Errorf("throttle waits = %v, want one of about 1 s", obs.waits)
	}
}
