package graphmail

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
)

// Every Graph failure is classified here, once (§5 of the design, §5 of
// the reference). Messages name no method, path or query, and no token.

// maxErrorBody bounds an error answer read for its code.
const maxErrorBody = 64 << 10

// failure is a refused request: its status, Graph's most specific error
// code and its Retry-After.
type failure struct {
	status     int
	code       string
	retryAfter time.Duration
}

// readFailure reads (a bounded part of) a non-2xx answer and closes it.
func readFailure(resp *http.Response) failure {
	defer resp.Body.Close()
	f := failure{status: resp.StatusCode, retryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, maxErrorBody)).Decode(&env) == nil {
		f.code = errorCode(env.Error)
	}
	return f
}

// errorCode walks nested inner errors (spelt innerError or innererror)
// for the most specific code; the message is never read.
func errorCode(raw json.RawMessage) string {
	code := ""
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

// retryAfter reads Retry-After: seconds or an HTTP date; 0 when absent.
func retryAfter(v string) time.Duration {
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

func (f failure) err() error {
	if f.code == "" {
		return fmt.Errorf("graph: HTTP %d", f.status)
	}
	return fmt.Errorf("graph: HTTP %d %s", f.status, f.code)
}

// classify turns a refused request into its kind and words.
func classify(server string, f failure) *connerr.Error {
	e := func(k connerr.Kind, msg string) *connerr.Error {
		return &connerr.Error{Kind: k, Server: server, Message: msg, Err: f.err()}
	}
	code := strings.ToLower(f.code)
	switch {
	case f.status == http.StatusUnauthorized:
		return signInAgain(server, f.err())
	case f.status == http.StatusForbidden:
		return e(connerr.Blocked, "Microsoft refuses crmsync access to this mailbox: an administrator may need to grant the permission, or sign in to Microsoft again to consent.")
	case f.status == http.StatusGone || code == "syncstatenotfound" || code == "resyncrequired" || code == "syncstateinvalid":
		return e(connerr.CursorInvalid, "Microsoft forgot where the sync of this folder stood; crmsync reads the folder again, without duplicates.")
	case f.status == http.StatusNotFound:
		return e(connerr.Gone, "The folder or message no longer exists in this mailbox.")
	case f.status == http.StatusTooManyRequests:
		return throttled(server, f.retryAfter)
	case f.status == http.StatusInsufficientStorage || code == "quotalimitreached" || code == "errorquotaexceeded":
		return e(connerr.Quota, "This Microsoft mailbox is full.")
	case f.status == http.StatusBadGateway || f.status == http.StatusServiceUnavailable || f.status == http.StatusGatewayTimeout:
		return e(connerr.Unreachable, "Microsoft Graph is not answering for now.")
	}
	return e(connerr.Protocol, "Microsoft Graph refused a request crmsync made.")
}

func throttled(server string, d time.Duration) *connerr.Error {
	return &connerr.Error{Kind: connerr.Throttled, Server: server, RetryAfter: d,
		Message: "Microsoft limits how fast this mailbox may be read; the sync resumes when it allows."}
}

func signInAgain(server string, err error) *connerr.Error {
	return &connerr.Error{Kind: connerr.Auth, Server: server, Err: err,
		Message: "Microsoft no longer accepts crmsync's access to this mailbox. Sign in to Microsoft again."}
}

// unreachable is a request that got no answer; the URL (which carries
// delta tokens) is left out of the cause.
func unreachable(server string, err error) *connerr.Error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &connerr.Error{Kind: connerr.Unreachable, Server: server, Err: err, Message: "Microsoft Graph is not answering."}
}
