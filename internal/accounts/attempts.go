package accounts

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/auth/limit"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
)

// Connecting an account, or changing its password, makes crmsync log in
// to someone's server with a password the caller gives. Without a limit
// crmsync would be a password-guessing proxy, from its own address, with
// its own reputation. Every such login goes through the limiter
// (Config.Attempts): keyed by the caller and by the login it tries (server
// and username), with the same backoff as crmsync's own sign-in.

// ErrTooManyAttempts is the kind of a *TooManyAttemptsError.
var ErrTooManyAttempts = errors.New("accounts: too many attempts")

// TooManyAttemptsError refuses a login crmsync would make for the caller,
// who failed too often on that login, or tried too many: try again after
// RetryAfter. Front ends answer it as the REST API does (429 with
// Retry-After).
type TooManyAttemptsError struct {
	RetryAfter time.Duration
	Message    string
}

func (e *TooManyAttemptsError) Error() string { return "accounts: " + e.Message }

// Unwrap makes errors.Is(err, ErrTooManyAttempts) work.
func (e *TooManyAttemptsError) Unwrap() error { return ErrTooManyAttempts }

// callerKey is the limiter's name for the user on whose behalf crmsync
// logs in.
func callerKey(v crm.Viewer) string { return fmt.Sprintf("user:%d/%d", v.OrgID, v.UserID) }

// mailLogin is the limiter's name for an IMAP login.
func mailLogin(s crm.MailSettings) string {
	if s.IMAP == nil {
		return "mail:"
	}
	return "mail:" + strings.ToLower(s.IMAP.Host) + "/" + strings.ToLower(s.IMAP.Username)
}

// pimLogin is the limiter's name for a DAV login: the server's host, not
// its whole URL, so that changing the path does not make a new login.
func pimLogin(rawURL, username string) string {
	host := rawURL
	if u, err := url.Parse(rawURL); err == nil && u.Host != "" {
		host = u.Host
	}
	return "pim:" + strings.ToLower(host) + "/" + strings.ToLower(username)
}

// limitedLogin runs login, a login crmsync makes for v on target, within
// the limiter. A refused login counts as a failure; a login that says
// nothing of the password (unreachable, a TLS or protocol error) counts
// against the caller's attempts only; the caller going away, or a
// destination the network guard refused before anything was sent, not at
// all.
func (s *Service) limitedLogin(ctx context.Context, v crm.Viewer, target string, login func() error) error {
	att, err := s.attempts.Begin(target, callerKey(v))
	if err != nil {
		var r *limit.Refused
		if !errors.As(err, &r) {
			return err
		}
		msg := "Too many failed logins to this account. crmsync does not try further passwords for now: wait %s, check the password (or create an app password), and try again."
		if r.ByClient {
			msg = "Too many logins tried on your behalf. Wait %s and try again."
		}
		return &TooManyAttemptsError{RetryAfter: r.RetryAfter, Message: fmt.Sprintf(msg, r.RetryAfter.Round(time.Second))}
	}
	err = login()
	switch {
	case err == nil:
		att.Succeeded()
	case ctx.Err() != nil || connerr.KindOf(err) == connerr.NotAllowed:
		att.Abandon()
	case connerr.KindOf(err) == connerr.Auth || connerr.KindOf(err) == connerr.Blocked:
		att.Failed()
	default:
		att.Inconclusive()
	}
	return err
}
