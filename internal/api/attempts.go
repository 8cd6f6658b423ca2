package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/crmsync/crmsync/internal/auth/limit"
	"github.com/crmsync/crmsync/internal/signin"
)

// Every password check the API makes (sign-in, current_password) goes
// through the server's limiter (package auth/limit) keyed by the client's
// address, and through its hashing gate (auth.Gate), so that neither
// guessing nor a flood of made-up sign-ins gets far; the logins crmsync
// makes elsewhere for a caller are limited by the accounts service.

// loginAccount is the limiter's name for the crmsync account of an email.
func loginAccount(email string) string { return signin.LimiterAccount(email) }

// client describes the client of r for the limiter and the sessions.
func (s *Server) client(r *http.Request) signin.Client {
	return signin.ClientOf(r, s.cfg.TrustForwardedFor)
}

// clientKey is the limiter's name for the client of r.
func (s *Server) clientKey(r *http.Request) string { return s.client(r).Key }

// clientAddr is the client's address, kept with its sessions.
func (s *Server) clientAddr(r *http.Request) string { return s.client(r).Addr }

// tooManyAttempts is the 429 answer to a refused attempt; what is "sign-ins"
// or "password checks".
func tooManyAttempts(err error, what string) error {
	var r *limit.Refused
	if !errors.As(err, &r) {
		return err
	}
	msg := fmt.Sprintf("Too many failed %s for this account from your address. Wait %s and try again, or ask an admin to set a new password.", what, roundWait(r.RetryAfter))
	if r.ByClient {
		msg = fmt.Sprintf("Too many %s from your address. Wait %s and try again.", what, roundWait(r.RetryAfter))
	}
	return &Error{Status: http.StatusTooManyRequests, Code: codeTooManyAttempts, Message: msg, RetryAfter: r.RetryAfter}
}

// retryAfter is the Retry-After value of a wait: whole seconds, rounded up.
func retryAfter(d time.Duration) string {
	return strconv.Itoa(max(1, int((d+time.Second-1)/time.Second)))
}

// roundWait says a wait in words.
func roundWait(d time.Duration) string {
	switch {
	case d <= time.Second:
		return "a second"
	case d < time.Minute:
		return fmt.Sprintf("%d seconds", int((d+time.Second-1)/time.Second))
	case d <= time.Minute:
		return "a minute"
	}
	return fmt.Sprintf("%d minutes", int((d+time.Minute-1)/time.Minute))
}
