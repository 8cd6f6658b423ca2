package dav

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// This file decides, once, what kind of failure an error is (DESIGN §5):
// the user sees the Message, the sync loop reacts to the Kind. Outcomes the
// sync engine handles itself (an item that exists, changed or vanished, a
// sync token the server forgot) are the sentinel errors below, not Errors.

// Outcomes of item operations, to test with errors.Is. They are returned
// wrapped with the href concerned.
var (
	// ErrNotFound: the item or collection does not exist (404; RFC 4918
	// §9.4). From Delete it means someone deleted it first.
	ErrNotFound = errors.New("dav: not found")
	// ErrExists: Create found an item at the href already (If-None-Match: *
	// failed with 412; RFC 7232 §3.2): usually our own earlier create whose
	// answer was lost. Get it and compare.
	ErrExists = errors.New("dav: an item exists at this href")
	// ErrPrecondition: Update or Delete found the item changed since the
	// given ETag (If-Match failed with 412; RFC 7232 §3.1), or gone (some
	// servers, Radicale among them, answer 412 rather than 404 then).
	// Refetch, merge, retry.
	ErrPrecondition = errors.New("dav: the item changed on the server")
	// ErrInvalidSyncToken: the server no longer knows the sync token (RFC
	// 6578 §3.2, DAV:valid-sync-token precondition): list the collection
	// in full and match it against what is known.
	ErrInvalidSyncToken = errors.New("dav: invalid sync token")
	// ErrUIDConflict: the collection already holds another item with the
	// same UID (RFC 6352 §6.3.2.1 CARDDAV:no-uid-conflict, RFC 4791
	// §5.3.2.1 CALDAV:no-uid-conflict). A *UIDConflictError carries the
	// existing item's href when the server names it.
	ErrUIDConflict = errors.New("dav: another item in the collection has this UID")
)

// UIDConflictError is ErrUIDConflict with the href of the item that holds
// the UID, when the server says (Radicale does not).
type UIDConflictError struct {
	Href     string // the href written to
	Existing string // the item holding the UID; "" when not named
}

func (e *UIDConflictError) Error() string {
	if e.Existing != "" {
		return fmt.Sprintf("%v: %s (held by %s)", ErrUIDConflict, e.Href, e.Existing)
	}
	return fmt.Sprintf("%v: %s", ErrUIDConflict, e.Href)
}

func (e *UIDConflictError) Is(target error) bool { return target == ErrUIDConflict }

// ErrorKind classifies a failure so that the sync loop and the user see the
// same truth.
type ErrorKind string

const (
	KindAuth        ErrorKind = "auth_failed" // wrong password or revoked token: the user must act
	KindUnreachable ErrorKind = "unreachable" // DNS, refused, timed out, connection dropped, 502/504: retry later
	KindThrottled   ErrorKind = "throttled"   // 429, or 503 with Retry-After: retry after RetryAfter
	KindTLS         ErrorKind = "tls_error"   // certificate or handshake problem: the user (or admin) must act
	KindProtocol    ErrorKind = "protocol"    // anything else the server said or did
)

// Transient reports whether retrying later may succeed without the user
// doing anything.
func (k ErrorKind) Transient() bool {
	return k == KindUnreachable || k == KindThrottled || k == KindProtocol
}

// Error is a failure with its kind and a message for the user.
type Error struct {
	Kind       ErrorKind
	Message    string        // for the user: what happened and what to do
	RetryAfter time.Duration // for KindThrottled, when the server said (Retry-After)
	Status     int           // the HTTP status, 0 when there was no answer
	Err        error         // the underlying error, for logs
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("dav: %s: %s (%v)", e.Kind, e.Message, e.Err)
	}
	return fmt.Sprintf("dav: %s: %s", e.Kind, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of err: that of an *Error in its chain, else
// KindProtocol.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindProtocol
}

// statusError classifies an answer that is not one the operation expected.
// what names the operation for the message ("listing /user1/contacts/").
func (c *Client) statusError(resp *http.Response, body []byte, what string) *Error {
	code := resp.StatusCode
	e := &Error{Status: code, Err: fmt.Errorf("%s %s: %s", resp.Request.Method, resp.Request.URL.Path, resp.Status)}
	said := serverText(resp, body)
	switch {
	case code == http.StatusUnauthorized:
		// RFC 9110 §15.5.2. Servers answer 401 to a wrong password and
		// to a request without credentials alike.
		e.Kind = KindAuth
		e.Message = fmt.Sprintf("Incorrect password (or username) for %s on %s. Check them; if your provider requires it, use an app password.", c.Username, c.host())
	case code == http.StatusTooManyRequests || (code == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != ""):
		// RFC 6585 §4; RFC 9110 §15.6.4 and §10.2.3 (Retry-After).
		e.Kind = KindThrottled
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
		e.Message = fmt.Sprintf("%s is limiting requests (%s). crmsync will retry later.", c.host(), resp.Status)
	case code == http.StatusServiceUnavailable || code == http.StatusBadGateway || code == http.StatusGatewayTimeout:
		e.Kind = KindUnreachable
		e.Message = fmt.Sprintf("%s is temporarily unavailable (%s). crmsync will retry later.", c.host(), resp.Status)
	case code == http.StatusForbidden:
		e.Kind = KindProtocol
		e.Message = fmt.Sprintf("%s refused %s (%s)%s: the account may lack access to it.", c.host(), what, resp.Status, said)
	case code >= 500:
		e.Kind = KindProtocol
		e.Message = fmt.Sprintf("%s failed while %s (%s)%s. crmsync will retry later.", c.host(), what, resp.Status, said)
	default:
		e.Kind = KindProtocol
		e.Message = fmt.Sprintf("%s refused %s (%s)%s.", c.host(), what, resp.Status, said)
	}
	return e
}

// serverText is a short quote of a plain-text error body, or "".
func serverText(resp *http.Response, body []byte) string {
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		return ""
	}
	s := strings.TrimSpace(string(body))
	if s == "" {
		return ""
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return fmt.Sprintf(": %q", s)
}

// retryAfter parses a Retry-After value: delay-seconds or an HTTP-date
// (RFC 9110 §10.2.3). Unparseable or past values give 0.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(min(n, int64(7*24*3600))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now).Round(time.Second)
	}
	return 0
}

// transportError classifies a failure to get an answer at all.
func (c *Client) transportError(err error, what string) *Error {
	if e := c.tlsError(err); e != nil {
		return e
	}
	e := &Error{Kind: KindUnreachable, Err: err}
	var dns *net.DNSError
	var ne net.Error
	s := err.Error()
	switch {
	case errors.As(err, &dns):
		e.Message = fmt.Sprintf("Cannot find the server %s (DNS lookup failed).", c.host())
	case errors.Is(err, syscall.ECONNREFUSED):
		e.Message = fmt.Sprintf("%s refused the connection: is the address right and the server up?", c.host())
	case errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH):
		e.Message = fmt.Sprintf("No route to %s: check the network.", c.host())
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		e.Message = fmt.Sprintf("%s did not answer in time while %s.", c.host(), what)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) || strings.Contains(s, "connection reset"):
		e.Message = fmt.Sprintf("The connection to %s was lost while %s.", c.host(), what)
	default:
		e.Message = fmt.Sprintf("Network error talking to %s while %s.", c.host(), what)
	}
	return e
}

// tlsError classifies certificate and handshake failures, or returns nil.
func (c *Client) tlsError(err error) *Error {
	var (
		unknown   x509.UnknownAuthorityError
		hostErr   x509.HostnameError
		invalid   x509.CertificateInvalidError
		roots     x509.SystemRootsError
		record    tls.RecordHeaderError
		alert     tls.AlertError
		verifyErr *tls.CertificateVerificationError
	)
	var msg string
	switch {
	case errors.As(err, &unknown):
		msg = fmt.Sprintf("The certificate of %s is not signed by a trusted authority (self-signed or private CA).", c.host())
	case errors.As(err, &hostErr):
		msg = fmt.Sprintf("The certificate of %s is not valid for the name %q: check the server address.", c.host(), hostErr.Host)
	case errors.As(err, &invalid):
		if invalid.Reason == x509.Expired {
			msg = fmt.Sprintf("The certificate of %s has expired or is not yet valid (check this machine's clock too).", c.host())
		} else {
			msg = fmt.Sprintf("The certificate of %s is invalid: %v.", c.host(), invalid.Error())
		}
	case errors.As(err, &roots):
		msg = "This machine has no trusted certificate authorities to check the server's certificate."
	case errors.As(err, &verifyErr):
		msg = fmt.Sprintf("The certificate of %s could not be verified: %v.", c.host(), verifyErr.Err)
	case errors.As(err, &record) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		msg = fmt.Sprintf("%s did not answer with TLS: check that the address starts with http:// or https:// as the server expects.", c.host())
	case errors.As(err, &alert):
		msg = fmt.Sprintf("The TLS handshake with %s failed: %v.", c.host(), alert.Error())
	case strings.Contains(err.Error(), "tls: "):
		msg = fmt.Sprintf("The TLS handshake with %s failed: %v.", c.host(), err)
	default:
		return nil
	}
	return &Error{Kind: KindTLS, Message: msg, Err: err}
}

// readError classifies a failure while reading or decoding an answer.
func (c *Client) readError(err error, what string) *Error {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return c.transportError(err, what)
	}
	return &Error{Kind: KindProtocol, Err: err,
		Message: fmt.Sprintf("%s sent an answer crmsync cannot read while %s.", c.host(), what)}
}
