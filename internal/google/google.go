// Package google is what every Google connector (Gmail in
// mail/gmailmail, People, Calendar and Tasks in pim/googlepim) shares: the
// client of one user — the Gate that keeps Google's per-user limits,
// bearer tokens — and the one classification of Google's refusals into
// connerr's kinds and words (shared/reference/cloud-apis.md §3, §9.6–§9.7,
// §11.3, §13). Requests go through internal/cloudapi, as Graph's do.
//
// Every API is reached under the organisation's app's api_url (Google's
// own hosts by default, one fake in tests): Gmail under /gmail/v1, People
// under /v1, Calendar under /calendar/v3, Tasks under /tasks/v1.
package google

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/connerr"
)

// DefaultAPIURL is where Google's APIs are when the app says nothing:
// Google serves each API at its own host but also every one of them at
// www.googleapis.com under the same paths.
const DefaultAPIURL = "https://www.googleapis.com"

// MaxConcurrent bounds one user's requests at once: Google answers 429
// past a per-user concurrency it does not publish (§9.7); a handful keeps
// a first sync fast without meeting it.
const MaxConcurrent = 4

// NewGate returns the Gate of one user, to share between its connectors.
func NewGate() *cloudapi.Gate { return cloudapi.NewGate(MaxConcurrent) }

// Config is how to reach one user's data.
type Config struct {
	// APIURL is the root of Google's APIs (default DefaultAPIURL).
	APIURL string
	HTTP   *http.Client // default http.DefaultClient
	Tokens cloudapi.Tokens
	// Gate is the user's, shared by its connectors (default: a new one).
	Gate *cloudapi.Gate
	// MaxWait is the longest wait inside a call; a longer one is a
	// Throttled error (default 1 min: the account shows throttled past a
	// minute).
	MaxWait time.Duration
	// Retries bounds attempts after the first (default 5); Backoff is the
	// first retry's delay when Google gives no Retry-After (default 1 s,
	// doubled each time, with jitter, as Google's guides prescribe).
	Retries int
	Backoff time.Duration
	// Observer hears the client's attempts and waits (metrics); optional.
	Observer cloudapi.Observer
}

// New returns the client of one user. It sends nothing.
func New(cfg Config) (*cloudapi.Client, error) {
	root := cfg.APIURL
	if root == "" {
		root = DefaultAPIURL
	}
	return cloudapi.New(root, cloudapi.Settings{HTTP: cfg.HTTP, Tokens: cfg.Tokens, Gate: cfg.Gate,
		MaxWait: cfg.MaxWait, Retries: cfg.Retries, Backoff: cfg.Backoff, Observer: cfg.Observer}, Provider, MaxConcurrent, 5)
}

// Provider is Google for cloudapi.
var Provider = cloudapi.Provider{Name: "Google", Classify: Classify, SignInAgain: SignInAgain}

// Reason returns the reason of Google's error envelope: the first
// details[].reason (a google.rpc.ErrorInfo: People's EXPIRED_SYNC_TOKEN is
// only there, under a status that varies, §10.1), else the first
// errors[].reason, else its status string ("FAILED_PRECONDITION"); the
// message is never read.
func Reason(body []byte) string {
	var env struct {
		Error struct {
			Status string `json:"status"`
			Errors []struct {
				Reason string `json:"reason"`
			} `json:"errors"`
			Details []struct {
				Reason string `json:"reason"`
			} `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &env) != nil {
		return ""
	}
	for _, e := range env.Error.Details {
		if e.Reason != "" {
			return e.Reason
		}
	}
	for _, e := range env.Error.Errors {
		if e.Reason != "" {
			return e.Reason
		}
	}
	return env.Error.Status
}

// Classify turns a refused request into its kind and words. The cause is
// a *cloudapi.StatusError with the reason as its code: callers that must
// tell a 412 or a failedPrecondition from other refusals read it
// (cloudapi.Status, or errors.As for the code).
func Classify(server string, f cloudapi.Failure) *connerr.Error {
	reason := Reason(f.Body)
	cause := &cloudapi.StatusError{Status: f.Status, Code: reason}
	e := func(k connerr.Kind, msg string) *connerr.Error {
		return &connerr.Error{Kind: k, Server: server, Message: msg, Err: cause}
	}
	switch reason {
	case "rateLimitExceeded", "userRateLimitExceeded", "RESOURCE_EXHAUSTED":
		return Throttled(server, f.RetryAfter, cause)
	case "dailyLimitExceeded", "quotaExceeded":
		d := f.RetryAfter
		if d <= 0 {
			d = time.Hour
		}
		return &connerr.Error{Kind: connerr.Throttled, Server: server, RetryAfter: d, Err: cause,
			Message: "Google's daily limit for crmsync is reached; the sync resumes when Google allows it again. If this happens every day, an administrator should raise the project's quota."}
	case "domainPolicy":
		return e(connerr.Blocked, "Your Google Workspace administrator does not allow crmsync to reach this account. Ask them to allow the app in the Admin console (Security > API controls), or use forwarding mode meanwhile.")
	case "fullSyncRequired", "updatedMinTooLongAgo", "EXPIRED_SYNC_TOKEN":
		return e(connerr.CursorInvalid, "Google forgot where the sync stood; crmsync reads everything again, without duplicates.")
	}
	switch {
	case f.Status == http.StatusUnauthorized:
		return SignInAgain(server, cause)
	case f.Status == http.StatusTooManyRequests:
		return Throttled(server, f.RetryAfter, cause)
	case f.Status == http.StatusForbidden:
		return e(connerr.Blocked, "Google refuses crmsync access to this account: sign in to Google again and allow what crmsync asks for, or ask your administrator to allow the app.")
	case f.Status == http.StatusGone:
		return e(connerr.CursorInvalid, "Google forgot where the sync stood; crmsync reads everything again, without duplicates.")
	case f.Status == http.StatusNotFound:
		return e(connerr.Gone, "The item or list no longer exists in this Google account.")
	case f.Status/100 == 5:
		return e(connerr.Unreachable, "Google is not answering for now.")
	}
	return e(connerr.Protocol, "Google refused a request crmsync made.")
}

// Throttled is Google asking to slow down; d is its Retry-After (0: back
// off exponentially).
func Throttled(server string, d time.Duration, cause error) *connerr.Error {
	return &connerr.Error{Kind: connerr.Throttled, Server: server, RetryAfter: d, Err: cause,
		Message: "Google limits how fast this account may be read; the sync resumes when it allows."}
}

// SignInAgain is a grant Google no longer accepts.
func SignInAgain(server string, err error) *connerr.Error {
	return &connerr.Error{Kind: connerr.Auth, Server: server, Err: err,
		Message: "Google no longer accepts crmsync's access to this account. Sign in to Google again."}
}
