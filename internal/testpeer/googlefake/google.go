// Package googlefake is a stateful fake of Google's OAuth 2.0 endpoints
// and of the Gmail, People, Calendar and Tasks APIs, for tests, benchmarks
// and demos. It follows the reference (shared/reference/cloud-apis.md §3,
// §9–§13, §15), not crmsync's connectors: where the two disagree, the
// reference wins, since acceptance runs against an independent
// implementation of the same documents.
//
// google.go is the API side's skeleton: one server for every API under one
// root (as an app's api_url points to), bearer tokens, Google's error
// envelope, and per-user quota units with 429/403 on demand. Each API is in
// its own file (gmail.go, people.go, calendar.go, tasks.go) and adds its
// paths to routes in an init function; the identity side is identity.go.
package googlefake

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// API serves Google's APIs for one user ("me"). The zero value is not
// usable: call NewAPI. Its switches and helpers are safe for concurrent use
// with the requests it serves.
type API struct {
	// CheckToken, when set, says whether a bearer token is valid; nil
	// accepts any non-empty token. The identity fake's tokens plug in here.
	CheckToken func(token string) bool

	mu    sync.Mutex
	areas map[string]any // each API's state, by route prefix (see area)
	// quota and throttling
	units       int           // quota units spent (every admitted call)
	requests    int           // requests seen
	failAfter   int           // 0: off; else the request after it fails once
	failStatus  int           // 403 or 429
	failReason  string        // userRateLimitExceeded, rateLimitExceeded, …
	failRetry   time.Duration // Retry-After of that failure (0: none)
	until       time.Time     // a Retry-After runs until then
	early       int           // requests that came before Retry-After elapsed
	unitsPerMin int           // 0: no per-minute limit; else 429/403 past it
	windowStart time.Time
	windowUnits int
	now         func() time.Time
}

// NewAPI returns an empty fake.
func NewAPI() *API { return &API{areas: map[string]any{}, now: time.Now} }

// SetClock sets the clock of expiries (a Gmail watch's, quota windows).
// Call it before the first request: each API takes the clock when first
// used.
func (a *API) SetClock(now func() time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.now = now
}

// route serves the paths under one prefix ("gmail/v1/users/me",
// "v1/people", "calendar/v3", "tasks/v1"): path is what follows the root,
// without its leading slash. cost is the quota units of a request (§9.6).
type route struct {
	prefix string
	serve  func(a *API, w http.ResponseWriter, r *http.Request, path string)
}

var routes []route

// area returns the state an API keeps in the fake, made by mk the first
// time. Callers hold no lock; mk runs under a.mu.
func area[T any](a *API, key string, mk func() *T) *T {
	a.mu.Lock()
	defer a.mu.Unlock()
	if v, ok := a.areas[key]; ok {
		return v.(*T)
	}
	v := mk()
	a.areas[key] = v
	return v
}

// Stats is what the fake counted of its clients.
type Stats struct {
	Requests int
	Units    int // quota units spent by admitted requests
	// Early counts requests that came while a Retry-After was running or
	// during the back-off a quota error asked for: a client that obeys
	// sends none.
	Early int
}

// Stats returns the counts so far.
func (a *API) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	return Stats{Requests: a.requests, Units: a.units, Early: a.early}
}

// FailAfter makes the request after the next n fail once with status (403
// or 429) and reason (userRateLimitExceeded, rateLimitExceeded, …), with
// Retry-After: retryAfter when it is not zero. Requests before retryAfter
// elapses fail again and count in Stats().Early.
func (a *API) FailAfter(n, status int, reason string, retryAfter time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.failAfter, a.failStatus, a.failReason, a.failRetry = a.requests+n+1, status, reason, retryAfter
}

// LimitUnits refuses requests past units quota units per minute (per user)
// with 403 userRateLimitExceeded, as Gmail does (§9.6); 0 lifts the limit.
func (a *API) LimitUnits(units int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.unitsPerMin = units
}

func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" || (a.CheckToken != nil && !a.CheckToken(tok)) {
		Error(w, http.StatusUnauthorized, "authError", "UNAUTHENTICATED", "Invalid Credentials")
		return
	}
	path := strings.TrimPrefix(r.URL.Path, "/")
	for _, rt := range routes {
		if path == rt.prefix || strings.HasPrefix(path, rt.prefix+"/") || strings.HasPrefix(path, rt.prefix+":") {
			rt.serve(a, w, r, path)
			return
		}
	}
	Error(w, http.StatusNotFound, "notFound", "NOT_FOUND", "Not Found")
}

// Admit counts a request of cost quota units and refuses it (writing the
// answer) when a failure is due, a Retry-After runs, or the per-minute
// units are spent. Every route calls it first, with its method's cost.
func (a *API) Admit(w http.ResponseWriter, cost int) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.requests++
	now := a.now()
	fail := func(status int, reason string, d time.Duration) bool {
		if d > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int((d+time.Second-1)/time.Second))))
		}
		st := "RESOURCE_EXHAUSTED"
		if status == http.StatusForbidden {
			st = "PERMISSION_DENIED"
		}
		Error(w, status, reason, st, "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user'.")
		return false
	}
	switch {
	case now.Before(a.until):
		a.early++
		return fail(a.failStatus, a.failReason, a.until.Sub(now))
	case a.failAfter > 0 && a.requests >= a.failAfter:
		a.failAfter = 0
		// Without Retry-After, Google's guides ask for an exponential
		// back-off from about a second: earlier requests count as early.
		d := a.failRetry
		hold := d
		if hold <= 0 {
			hold = 500 * time.Millisecond
		}
		a.until = now.Add(hold)
		return fail(a.failStatus, a.failReason, d)
	}
	if a.unitsPerMin > 0 {
		if now.Sub(a.windowStart) >= time.Minute {
			a.windowStart, a.windowUnits = now, 0
		}
		if a.windowUnits+cost > a.unitsPerMin {
			return fail(http.StatusForbidden, "userRateLimitExceeded", 0)
		}
		a.windowUnits += cost
	}
	a.units += cost
	return true
}

// Error writes Google's error envelope (§9.7): code, message, status and
// errors[].reason.
func Error(w http.ResponseWriter, status int, reason, statusText, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": status, "message": msg, "status": statusText,
		"errors": []map[string]string{{"domain": "global", "reason": reason, "message": msg}},
	}})
}

// badRequest refuses a malformed request: 400 badRequest (§9.7).
func badRequest(w http.ResponseWriter, msg string) {
	Error(w, http.StatusBadRequest, "badRequest", "INVALID_ARGUMENT", msg)
}

// JSON answers 200 with v.
func JSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(v) // a client gone meanwhile is its own business
}
