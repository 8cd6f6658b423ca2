package api

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/auth/limit"
)

// Every password check the API makes (sign-in, current_password) goes
// through the server's limiter (package auth/limit) keyed by the client's
// address, and through its hashing gate (auth.Gate), so that neither
// guessing nor a flood of made-up sign-ins gets far; the logins crmsync
// makes elsewhere for a caller are limited by the accounts service.

// loginAccount is the limiter's name for the crmsync account of an email.
func loginAccount(email string) string { return "login:" + email }

// clientKey is the limiter's name for the client of r (clientAddr). IPv6
// addresses count by /64, the block one machine usually gets.
func (s *Server) clientKey(r *http.Request) string {
	raw := s.clientAddr(r)
	addr, err := netip.ParseAddr(raw)
	if err != nil {
		return "addr:" + raw
	}
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return "addr:" + p.String()
	}
	return "addr:" + addr.String()
}

// clientAddr is the address of the client of r: from the connection, or
// from the last X-Forwarded-For entry (what the proxy in front saw) when
// the operator says a proxy is there.
func (s *Server) clientAddr(r *http.Request) string {
	raw := r.RemoteAddr
	if host, _, err := net.SplitHostPort(raw); err == nil {
		raw = host
	}
	if s.cfg.TrustForwardedFor {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if last := strings.TrimSpace(parts[len(parts)-1]); last != "" {
				raw = last
			}
		}
	}
	if addr, err := netip.ParseAddr(raw); err == nil {
		return addr.Unmap().String()
	}
	return raw
}

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
