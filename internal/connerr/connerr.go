// Package connerr is the one taxonomy of connector failures (DESIGN §5).
//
// Every connector — IMAP, SMTP, CardDAV/CalDAV, and next Graph, Google and
// EWS — classifies its failures once, into an *Error with a Kind and a
// sentence for the user. Everything above the connectors reacts to the Kind
// alone: the sync loops choose the account state and the next attempt from
// it (Retry), the API answers its code (Kind is the API error code), and
// the user reads the same words for the same fault whether it happened to
// their mailbox or to their address book.
//
// The package is a leaf: it imports nothing of crmsync, so protocol
// packages can use it without knowing of storage or of the API.
package connerr

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Kind classifies a failure. Its value is the error code the API answers
// and the account shows.
type Kind string

const (
	// Auth: wrong password, revoked or expired token. The user must act
	// (reconnect); retried rarely so the provider never locks them out.
	Auth Kind = "auth_failed"
	// Blocked: the provider refuses this app or this kind of access (IMAP
	// disabled, app password required, admin policy). The user or their
	// admin must act.
	Blocked Kind = "provider_blocked"
	// Unreachable: DNS, refused, timed out, connection dropped, 502/504.
	// Retried soon.
	Unreachable Kind = "unreachable"
	// TLS: a certificate or handshake problem. An admin must act.
	TLS Kind = "tls_error"
	// Throttled: too many connections or requests; RetryAfter says when
	// the provider wants to hear from us again, if it said.
	Throttled Kind = "throttled"
	// Protocol: anything else the server said or did that crmsync cannot
	// use: a malformed or oversized answer, an unexpected status.
	Protocol Kind = "protocol"
	// Gone: the folder, collection or account no longer exists on the
	// provider.
	Gone Kind = "gone"
	// CursorInvalid: the provider no longer accepts the cursor (UIDVALIDITY
	// changed, an expired delta link, a 404 historyId, an invalid sync
	// token). Not a failure of the account: the engine starts the folder
	// or collection again and re-attaches what it has.
	CursorInvalid Kind = "cursor_invalid"
	// Quota: the mailbox or the provider's storage is full.
	Quota Kind = "quota_exceeded"
	// NotAllowed: crmsync refused to connect, before sending anything,
	// because the address is loopback, private or otherwise internal and
	// the operator has not listed it (netguard, --private-hosts). Neither
	// the user's password nor the server is at fault: the user must give
	// another address, or an administrator allow this one.
	NotAllowed Kind = "destination_not_allowed"
)

// Error is a classified connector failure.
type Error struct {
	Kind Kind
	// Server names the server or service concerned ("imap.example.com:993",
	// "graph.microsoft.com"), so the user and their admin know whom to ask.
	Server string
	// Message is for the user: what happened and what to do.
	Message string
	// RetryAfter is when the provider asked us to come back (Throttled).
	RetryAfter time.Duration
	// Err is the underlying error, for logs.
	Err error
}

// New returns an *Error of kind with a message for the user.
func New(kind Kind, msg string, err error) *Error {
	return &Error{Kind: kind, Message: msg, Err: err}
}

func (e *Error) Error() string {
	s := string(e.Kind) + ": " + e.Message
	if e.Server != "" {
		s = string(e.Kind) + ": " + e.Server + ": " + e.Message
	}
	if e.Err != nil {
		return s + " (" + e.Err.Error() + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is(err, ErrCursorInvalid) match any *Error of kind
// CursorInvalid (and likewise for the other sentinel Errors below).
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Message == "" && t.Server == "" && t.Err == nil && t.Kind == e.Kind
}

// Sentinels to compare with errors.Is; they match any *Error of their kind.
var (
	ErrCursorInvalid = &Error{Kind: CursorInvalid}
	ErrGone          = &Error{Kind: Gone}
)

// KindOf returns the kind of the first *Error in err's chain; an
// unclassified error is Protocol (crmsync cannot say better, and a retry
// may help).
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Protocol
}

// As returns the first *Error in err's chain, or nil.
func As(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// Message is what the user reads for err: the classified sentence with the
// server (unless the sentence names it already), or "sync error: …" with
// the cause for an unclassified error.
func Message(err error) string {
	if e := As(err); e != nil && e.Message != "" {
		if e.Server != "" && !strings.Contains(e.Message, e.Server) {
			return e.Message + " (" + e.Server + ")"
		}
		return e.Message
	}
	return "sync error: " + err.Error()
}

// Transient reports whether retrying without anyone acting may succeed.
func (k Kind) Transient() bool {
	switch k {
	case Unreachable, Throttled, Protocol, CursorInvalid:
		return true
	}
	return false
}

// State is the account state a failure of kind k shows: the kind itself
// for the faults a user recognises, "sync_error" for the rest.
func (k Kind) State() string {
	switch k {
	case Auth, Blocked, Unreachable, Throttled:
		return string(k)
	}
	return "sync_error"
}

// Retry is the one retry policy for every account, mail and PIM alike: how
// long to wait before the next attempt after the n-th failure in a row
// (n ≥ 1) of kind k. Transient faults back off from seconds; faults the
// user must fix are retried rarely, so that a provider never locks an
// account out because crmsync hammered it with a wrong password. A
// provider's Retry-After is honoured when longer. ±20 % jitter spreads the
// retries of many accounts.
func Retry(k Kind, n int, retryAfter time.Duration) time.Duration {
	var d time.Duration
	switch k {
	case Auth:
		d = backoff(n, 15*time.Minute, 6*time.Hour)
	case Blocked:
		d = backoff(n, time.Hour, 12*time.Hour)
	case Unreachable:
		d = backoff(n, 2*time.Second, 15*time.Minute)
	case Throttled:
		d = backoff(n, time.Minute, time.Hour)
	case TLS:
		d = backoff(n, 5*time.Minute, 6*time.Hour)
	case Gone, Quota, NotAllowed:
		d = backoff(n, 30*time.Minute, 12*time.Hour)
	default:
		d = backoff(n, 30*time.Second, 30*time.Minute)
	}
	return max(d, retryAfter)
}

// RetryOf is Retry for an error.
func RetryOf(err error, n int) time.Duration {
	var after time.Duration
	if e := As(err); e != nil {
		after = e.RetryAfter
	}
	return Retry(KindOf(err), n, after)
}

// backoff returns base·2^(n-1) capped at max, ±20 % jitter.
func backoff(n int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d - d/5 + time.Duration(rand.Int64N(int64(d)/5*2+1))
}

// Errorf is New with a formatted message.
func Errorf(kind Kind, err error, format string, args ...any) *Error {
	return New(kind, fmt.Sprintf(format, args...), err)
}
