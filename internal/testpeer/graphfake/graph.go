// Package graphfake is a stateful fake of Microsoft Graph (and, in the
// identity files, of the Microsoft identity platform) for tests, benchmarks
// and demos. It follows the reference (shared/reference/cloud-apis.md §4–§7,
// §15), not crmsync's connectors: where the two disagree, the reference
// wins, since acceptance runs against an independent implementation of the
// same documents.
//
// graph.go is the Graph side's skeleton: routing under /v1.0, bearer
// tokens, the error envelope and throttling per mailbox. The mail
// endpoints are in mail.go, contacts in contacts.go, Outlook's master
// categories in categories.go, the calendar's in calendar.go, To Do's in
// todo.go, JSON batching in batch.go; delta.go pages the delta rounds of
// every area.
package graphfake

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Graph serves Microsoft Graph for one mailbox (the signed-in user's,
// "/me"). The zero value is not usable: call NewGraph. Its switches and
// helpers are safe for concurrent use with the requests it serves.
type Graph struct {
	// CheckToken, when set, says whether a bearer token is valid; nil
	// accepts any non-empty token. The identity fake's tokens plug in
	// here.
	CheckToken func(token string) bool

	// Notifier sends change notifications and validation requests to
	// the subscribers' endpoints; nil: http.DefaultClient. Tests serving
	// their endpoint over TLS give the client that trusts it.
	Notifier *http.Client

	mu            sync.Mutex
	mail          *mailStore
	cal           *calStore      // calendar.go, made on first use
	contacts      *contactStore  // contacts.go, made on first use
	categories    *categoryStore // categories.go, made on first use
	subscriptions *subscriptions // subscriptions.go
	// throttling
	inflight, maxInflight int
	requests              int           // requests seen (every one, refused or not)
	throttleAfter         int           // 0: off; else 429 once requests passes it
	throttleFor           time.Duration // Retry-After of that 429
	unavailable           int           // the next n requests answer 503
	until                 time.Time     // throttled until then
	early                 int           // requests that came before Retry-After elapsed
	now                   func() time.Time

	todo *todoStore // todo.go, made on first use
}

// NewGraph returns a fake with a mailbox holding the well-known folders
// (Inbox, Sent Items, Drafts, Deleted Items, Junk Email, Archive, Outbox).
func NewGraph() *Graph {
	return &Graph{mail: newMailStore(), now: time.Now}
}

// MaxConcurrent is how many requests per mailbox Graph serves at once;
// one more is refused with 429 ApplicationThrottled (§5: 4 concurrent
// requests per app and mailbox).
const MaxConcurrent = 4

// ThrottleAfter makes the request after the next n answer 429 with
// Retry-After: retryAfter (whole seconds, at least one); requests before it
// elapses are refused again and counted in Stats().Early.
func (g *Graph) ThrottleAfter(n int, retryAfter time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.throttleAfter, g.throttleFor = g.requests+n+1, retryAfter
}

// Unavailable makes the next n requests answer 503 serviceNotAvailable
// with Retry-After: 1.
func (g *Graph) Unavailable(n int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.unavailable = n
}

// Stats is what the fake counted of its clients.
type Stats struct {
	Requests int // every request
	// MaxInflight is the most requests seen at once for the mailbox.
	MaxInflight int
	// Early counts requests that came while a Retry-After was running: a
	// client that obeys throttling sends none.
	Early int
}

// Stats returns the counts so far.
func (g *Graph) Stats() Stats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return Stats{Requests: g.requests, MaxInflight: g.maxInflight, Early: g.early}
}

func (g *Graph) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path, ok := strings.CutPrefix(r.URL.Path, "/v1.0/")
	if !ok {
		graphError(w, http.StatusNotFound, "invalidRequest", "Unknown API version.")
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" || (g.CheckToken != nil && !g.CheckToken(tok)) {
		graphError(w, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty or invalid.")
		return
	}
	if path == "$batch" {
		g.serveBatch(w, r) // batch.go: each part is admitted on its own
		return
	}
	if !g.admit(w) {
		return
	}
	defer func() {
		g.mu.Lock()
		g.inflight--
		g.mu.Unlock()
	}()
	for _, rt := range topRoutes {
		if path == rt.prefix || strings.HasPrefix(path, rt.prefix+"/") {
			rt.serve(g, w, r, path)
			return
		}
	}
	path, ok = strings.CutPrefix(path, "me/")
	if !ok {
		graphError(w, http.StatusNotFound, "ResourceNotFound", "Only /me is served.")
		return
	}
	for _, rt := range routes {
		if path == rt.prefix || strings.HasPrefix(path, rt.prefix+"/") {
			rt.serve(g, w, r, path)
			return
		}
	}
	g.serveMail(w, r, path)
}

// route serves the paths under /v1.0/me/{prefix}. Each area of the fake
// (contacts.go, calendar.go, todo.go, subscriptions.go, …) adds its own in
// an init function, so that none edits another's routing; mail serves
// what no route claims.
type route struct {
	prefix string
	serve  func(g *Graph, w http.ResponseWriter, r *http.Request, path string)
}

var routes []route

// topRoutes serve the paths under /v1.0/{prefix} outside /me
// (subscriptions.go), added the same way.
var topRoutes []route

// admit counts a request and refuses it when the mailbox is throttled,
// unavailable or already serving MaxConcurrent requests.
func (g *Graph) admit(w http.ResponseWriter) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.requests++
	now := g.now()
	retry := func(d time.Duration, status int, code, inner, msg string) bool {
		secs := max(1, int((d+time.Second-1)/time.Second))
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeGraphError(w, status, code, msg, inner)
		return false
	}
	switch {
	case now.Before(g.until):
		g.early++
		return retry(g.until.Sub(now), http.StatusTooManyRequests, "TooManyRequests", "429", "Please retry again later.")
	case g.throttleAfter > 0 && g.requests >= g.throttleAfter:
		g.throttleAfter = 0
		d := max(time.Second, g.throttleFor.Round(time.Second))
		g.until = now.Add(d)
		return retry(d, http.StatusTooManyRequests, "TooManyRequests", "429", "Please retry again later.")
	case g.unavailable > 0:
		g.unavailable--
		return retry(time.Second, http.StatusServiceUnavailable, "serviceNotAvailable", "", "The service is temporarily unavailable.")
	case g.inflight >= MaxConcurrent:
		return retry(time.Second, http.StatusTooManyRequests, "ApplicationThrottled", "MailboxConcurrency",
			"Application is over its MailboxConcurrency limit.")
	}
	g.inflight++
	g.maxInflight = max(g.maxInflight, g.inflight)
	return true
}

// ifMatch refuses a write whose If-Match is none of the item's current
// versions (its etag, or its quoted changeKey) with 412 resourceModified
// ([G-ERR]); no If-Match, or "*", writes whatever the version.
func ifMatch(w http.ResponseWriter, r *http.Request, versions ...string) bool {
	m := r.Header.Get("If-Match")
	if m == "" || m == "*" || slices.Contains(versions, m) {
		return true
	}
	graphError(w, http.StatusPreconditionFailed, "resourceModified", "The resource has changed since the caller last read it.")
	return false
}

// graphError writes Graph's error envelope (§4).
func graphError(w http.ResponseWriter, status int, code, msg string) {
	writeGraphError(w, status, code, msg, "")
}

func writeGraphError(w http.ResponseWriter, status int, code, msg, innerCode string) {
	inner := map[string]any{"request-id": "00000000-0000-0000-0000-000000000000", "date": time.Now().UTC().Format(time.RFC3339)}
	if innerCode != "" {
		inner["code"] = innerCode
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg, "innerError": inner}})
}

// writeGraphJSON answers 200 with v as JSON.
func writeGraphJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; odata.metadata=minimal")
	_ = json.NewEncoder(w).Encode(v) // a client gone meanwhile is its own business
}
