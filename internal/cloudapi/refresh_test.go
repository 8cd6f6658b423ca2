package cloudapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/connerr"
)

// A client that must not retry (Retries 0: a create whose answer could be
// lost) still tries once more with a refreshed token after a 401: the
// refresh is not a retry of a request the provider looked at.
func TestRefreshIsNotARetry(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer fresh" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	tokens := func(_ context.Context, stale string) (string, error) {
		if stale == "old" {
			return "fresh", nil
		}
		return "old", nil
	}
	classify := func(server string, f cloudapi.Failure) *connerr.Error {
		return &connerr.Error{Kind: connerr.Protocol, Server: server, Err: &cloudapi.StatusError{Status: f.Status}}
	}
	auth := func(server string, err error) *connerr.Error {
		return &connerr.Error{Kind: connerr.Auth, Server: server, Err: err}
	}
	c := &cloudapi.Client{HTTP: srv.Client(), Base: srv.URL, Server: "test", Tokens: tokens, Gate: cloudapi.NewGate(1),
		MaxWait: time.Second, Retries: 0, Backoff: time.Millisecond,
		Provider: cloudapi.Provider{Name: "Test", Classify: classify, SignInAgain: auth}}
	resp, err := c.Do(context.Background(), cloudapi.Request{Method: http.MethodPost, URL: "/items", Body: []byte("{}")})
	if err != nil || resp == nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("Do: %v, %v", resp, err)
	}
	resp.Body.Close()
}
