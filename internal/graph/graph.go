// Package graph is what every Microsoft Graph connector (mail in
// mail/graphmail, contacts, calendar and To Do in pim/graphpim) shares: the
// client of one mailbox — its Gate of 4 concurrent requests and
// Retry-After, the ImmutableId preference, bearer tokens — and the one
// classification of Graph's refusals into connerr's kinds and words
// (shared/reference/cloud-apis.md §4–§5). Requests go through
// internal/cloudapi, as Google's do.
package graph

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/connerr"
)

// MaxConcurrent is Outlook's limit of concurrent requests per app and
// mailbox.
const MaxConcurrent = 4

// NewGate returns the Gate of one mailbox, to share between its
// connectors.
func NewGate() *cloudapi.Gate { return cloudapi.NewGate(MaxConcurrent) }

// Config is how to reach one mailbox.
type Config struct {
	// GraphURL is Graph's root (default https://graph.microsoft.com);
	// other values serve national clouds and tests.
	GraphURL string
	HTTP     *http.Client // default http.DefaultClient
	Tokens   cloudapi.Tokens
	// Gate is the mailbox's, shared by its connectors (default: a new one).
	Gate *cloudapi.Gate
	// MaxWait is the longest Retry-After waited for inside a call; a
	// longer one is a Throttled error (default 1 min: the account shows
	// throttled past a minute).
	MaxWait time.Duration
	// Retries bounds attempts after the first (default 4); Backoff is the
	// first retry's delay when Graph gives none (default 1 s).
	Retries int
	Backoff time.Duration
	// Observer hears the client's attempts and waits (metrics); optional.
	Observer cloudapi.Observer
}

// New returns the client of one mailbox. It sends nothing.
func New(cfg Config) (*cloudapi.Client, error) {
	root := cfg.GraphURL
	if root == "" {
		root = "https://graph.microsoft.com"
	}
	return cloudapi.New(strings.TrimSuffix(root, "/")+"/v1.0", cloudapi.Settings{HTTP: cfg.HTTP, Tokens: cfg.Tokens, Gate: cfg.Gate,
		MaxWait: cfg.MaxWait, Retries: cfg.Retries, Backoff: cfg.Backoff, Observer: cfg.Observer}, Provider, MaxConcurrent, 4)
}

// Provider is Graph for cloudapi.
var Provider = cloudapi.Provider{
	Name:        "Microsoft Graph",
	Classify:    Classify,
	SignInAgain: SignInAgain,
	Decorate:    func(h http.Header) { h.Add("Prefer", `IdType="ImmutableId"`) },
}

// GetJSON reads a bounded JSON answer of GET u into v; prefer adds Prefer
// values (odata.maxpagesize, …).
func GetJSON(ctx context.Context, c *cloudapi.Client, u string, limit int64, v any, prefer ...string) error {
	var h http.Header
	if len(prefer) > 0 {
		h = http.Header{"Prefer": prefer}
	}
	return c.GetJSON(ctx, u, h, limit, v)
}

// ErrorCode walks Graph's error envelope and its nested inner errors
// (spelt innerError or innererror) for the most specific code; the message
// is never read.
func ErrorCode(body []byte) string {
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &env) != nil {
		return ""
	}
	raw, code := env.Error, ""
	for depth := 0; depth < 8 && len(raw) > 0; depth++ {
		var e map[string]json.RawMessage
		if json.Unmarshal(raw, &e) != nil {
			break
		}
		var c string
		if json.Unmarshal(e["code"], &c) == nil && c != "" && !isNumber(c) {
			code = c
		}
		raw = e["innerError"]
		if raw == nil {
			raw = e["innererror"]
		}
	}
	return code
}

func isNumber(s string) bool { _, err := strconv.Atoi(s); return err == nil }

// Classify turns a refused request into its kind and words. The cause is a
// *cloudapi.StatusError: callers that must tell a 412 from a 409 use
// cloudapi.Status.
func Classify(server string, f cloudapi.Failure) *connerr.Error {
	code := ErrorCode(f.Body)
	cause := &cloudapi.StatusError{Status: f.Status, Code: code}
	e := func(k connerr.Kind, msg string) *connerr.Error {
		return &connerr.Error{Kind: k, Server: server, Message: msg, Err: cause}
	}
	lc := strings.ToLower(code)
	switch {
	case f.Status == http.StatusUnauthorized:
		return SignInAgain(server, cause)
	case f.Status == http.StatusForbidden:
		return e(connerr.Blocked, "Microsoft refuses crmsync access to this mailbox: an administrator may need to grant the permission, or sign in to Microsoft again to consent.")
	case f.Status == http.StatusGone || lc == "syncstatenotfound" || lc == "resyncrequired" || lc == "syncstateinvalid":
		return e(connerr.CursorInvalid, "Microsoft forgot where the sync of this folder stood; crmsync reads it again, without duplicates.")
	case f.Status == http.StatusNotFound:
		return e(connerr.Gone, "The folder or item no longer exists in this mailbox.")
	case f.Status == http.StatusTooManyRequests:
		return Throttled(server, f.RetryAfter, cause)
	case f.Status == http.StatusInsufficientStorage || lc == "quotalimitreached" || lc == "errorquotaexceeded":
		return e(connerr.Quota, "This Microsoft mailbox is full.")
	case f.Status == http.StatusBadGateway || f.Status == http.StatusServiceUnavailable || f.Status == http.StatusGatewayTimeout || f.Status == http.StatusInternalServerError:
		return e(connerr.Unreachable, "Microsoft Graph is not answering for now.")
	}
	return e(connerr.Protocol, "Microsoft Graph refused a request crmsync made.")
}

// Throttled is Graph asking to wait d (0: not said).
func Throttled(server string, d time.Duration, cause error) *connerr.Error {
	return &connerr.Error{Kind: connerr.Throttled, Server: server, RetryAfter: d, Err: cause,
		Message: "Microsoft limits how fast this mailbox may be read; the sync resumes when it allows."}
}

// SignInAgain is a grant Graph no longer accepts.
func SignInAgain(server string, err error) *connerr.Error {
	return &connerr.Error{Kind: connerr.Auth, Server: server, Err: err,
		Message: "Microsoft no longer accepts crmsync's access to this mailbox. Sign in to Microsoft again."}
}
