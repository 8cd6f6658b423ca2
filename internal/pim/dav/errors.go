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

	"github.com/crmsync/crmsync/internal/connerr"
)

// This file decides, once, what kind of failure an error is (DESIGN §5),
// as a *connerr.Error: the user sees the Message, the sync loop reacts to
// the Kind. Outcomes the sync engine handles itself (an item that exists,
// changed or vanished) are the sentinel errors below, not failures; a sync
// token the server forgot is both ErrInvalidSyncToken and a
// connerr.CursorInvalid.

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

// fault is a classified failure of this client's server.
func (c *Client) fault(kind connerr.Kind, err error, format string, args ...any) *connerr.Error {
	return &connerr.Error{Kind: kind, Server: c.host(), Message: fmt.Sprintf(format, args...), Err: err}
}

// StatusError is the HTTP answer behind a classified failure, in its chain:
// callers that must tell an item the server refused from an account that
// fails read its Code (StatusOf).
type StatusError struct {
	Method, Path string
	Code         int
	Status       string // "412 Precondition Failed"
	Err          error  // what went wrong after the answer, if anything
}

func newStatusError(resp *http.Response, err error) *StatusError {
	return &StatusError{Method: resp.Request.Method, Path: resp.Request.URL.Path, Code: resp.StatusCode, Status: resp.Status, Err: err}
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s %s: %s", e.Method, e.Path, e.Status)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *StatusError) Unwrap() error { return e.Err }

// StatusOf returns the HTTP status behind err, 0 when there was no answer.
func StatusOf(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// statusError classifies an answer that is not one the operation expected.
// what names the operation for the message ("listing /user1/contacts/").
func (c *Client) statusError(resp *http.Response, body []byte, what string) *connerr.Error {
	code := resp.StatusCode
	status := shownStatus(resp)
	e := c.fault(connerr.Protocol, newStatusError(resp, nil), "%s refused %s (%s)%s.", c.host(), what, status, serverText(resp, body))
	switch {
	case code == http.StatusUnauthorized:
		// RFC 9110 §15.5.2. Servers answer 401 to a wrong password and
		// to a request without credentials alike.
		e.Kind = connerr.Auth
		e.Message = fmt.Sprintf("Incorrect password (or username) for %s on %s. Check them; if your provider requires it, use an app password.", c.Username, c.host())
	case code == http.StatusTooManyRequests || (code == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != ""):
		// RFC 6585 §4; RFC 9110 §15.6.4 and §10.2.3 (Retry-After).
		e.Kind = connerr.Throttled
		e.RetryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
		e.Message = fmt.Sprintf("%s is limiting requests (%s).", c.host(), status)
	case code == http.StatusServiceUnavailable || code == http.StatusBadGateway || code == http.StatusGatewayTimeout:
		e.Kind = connerr.Unreachable
		e.Message = fmt.Sprintf("%s is temporarily unavailable (%s).", c.host(), status)
	case code == http.StatusInsufficientStorage:
		// RFC 4918 §11.5: the server has no room for what was written.
		e.Kind = connerr.Quota
		e.Message = fmt.Sprintf("%s has no room left while %s (%s). Free some space in the account, or ask its provider for more.", c.host(), what, status)
	case code == http.StatusForbidden:
		e.Message = fmt.Sprintf("%s refused %s (%s)%s: the account may lack access to it.", c.host(), what, status, serverText(resp, body))
	case code >= 500:
		e.Message = fmt.Sprintf("%s failed while %s (%s)%s.", c.host(), what, status, serverText(resp, body))
	}
	return e
}

// shownStatus is the status line to show the user: the server's own over
// TLS, the standard wording of its code otherwise. Why: without TLS,
// anything listening on the port the user typed could be answering, and
// crmsync must not read internal services back to the user (issue 10).
func shownStatus(resp *http.Response) string {
	if resp.TLS != nil {
		return resp.Status
	}
	return strings.TrimSpace(fmt.Sprintf("%d %s", resp.StatusCode, http.StatusText(resp.StatusCode)))
}

// serverText is a short quote of a plain-text error body, or "": only over
// TLS, where the server proved who it is (see shownStatus).
func serverText(resp *http.Response, body []byte) string {
	if resp.TLS == nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
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
func (c *Client) transportError(err error, what string) *connerr.Error {
	if e := connerr.As(err); e != nil {
		return e // classified already: the network guard's refusal
	}
	if e := c.tlsError(err); e != nil {
		return e
	}
	e := c.fault(connerr.Unreachable, err, "")
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
func (c *Client) tlsError(err error) *connerr.Error {
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
	return c.fault(connerr.TLS, err, "%s", msg)
}

// readError classifies a failure while reading or decoding an answer.
func (c *Client) readError(err error, what string) *connerr.Error {
	if e, ok := tooLarge(err); ok {
		return c.fault(connerr.Protocol, err, "%s sent more than %s while %s; crmsync stopped reading there.", c.host(), byteSize(e.limit), what)
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return c.transportError(err, what)
	}
	return c.fault(connerr.Protocol, err, "%s sent an answer crmsync cannot read while %s.", c.host(), what)
}
