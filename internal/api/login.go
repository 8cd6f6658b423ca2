package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// LoginRequest is the body of POST /api/v1/login.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type loginResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	User      crm.User  `json:"user"`
}

// Brute-force limit: after loginMaxFailures failed sign-ins for one email
// within loginWindow, further attempts are refused until the oldest ages out.
const (
	loginMaxFailures = 5
	loginWindow      = 15 * time.Minute
)

const badCredentials = "The email or password is wrong. Check both and try again."

// dummyHash is checked against when the email is unknown or has no
// password, so that such a sign-in takes as long as a wrong password and
// does not reveal which emails have accounts.
var dummyHash = sync.OnceValue(func() string {
	h, err := auth.HashPassword("crmsync-timing-equaliser")
	if err != nil {
		panic(err)
	}
	return h
})

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var req LoginRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	email := strings.ToLower(strings.TrimSpace(req.Email))
	if email == "" {
		return required("email", "email is required.")
	}
	if req.Password == "" {
		return required("password", "password is required.")
	}
	now := s.cfg.Now()
	if wait, ok := s.limiter.attempt(email, now); !ok {
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		return &Error{Status: http.StatusTooManyRequests, Code: codeTooManyAttempts, Message: fmt.Sprintf(
			"Too many failed sign-ins for this email. Wait %s and try again, or ask an admin to set a new password.", roundWait(wait))}
	}

	user, hash, err := s.st.UserForLogin(r.Context(), email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.limiter.forget(email, now)
		return err
	}
	if err != nil || hash == "" {
		auth.CheckPassword(dummyHash(), req.Password)
		return &Error{Status: http.StatusUnauthorized, Code: codeInvalidCreds, Message: badCredentials}
	}
	if !auth.CheckPassword(hash, req.Password) {
		return &Error{Status: http.StatusUnauthorized, Code: codeInvalidCreds, Message: badCredentials}
	}
	s.limiter.succeeded(email)

	secret, prefix, tokenHash := auth.NewToken()
	expires := now.Add(s.cfg.SessionTTL)
	if _, err := s.st.CreateToken(r.Context(), store.TokenParams{
		OrgID:     user.OrgID,
		UserID:    user.ID,
		Name:      "session",
		Kind:      crm.TokenSession,
		Hash:      tokenHash,
		Prefix:    prefix,
		CreatedAt: now,
		ExpiresAt: &expires,
	}); err != nil {
		return storeError(err, "token")
	}
	writeJSON(w, http.StatusOK, loginResponse{Token: secret, ExpiresAt: expires, User: user})
	return nil
}

func roundWait(d time.Duration) string {
	if d <= time.Minute {
		return "a minute"
	}
	return fmt.Sprintf("%d minutes", int((d+time.Minute-1)/time.Minute))
}

// logout revokes the token the request carries.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := s.st.RevokeToken(r.Context(), c.Viewer.OrgID, c.User.ID, c.Token.ID, s.cfg.Now()); err != nil {
		return storeError(err, "token")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, c *caller) error {
	writeJSON(w, http.StatusOK, c.User)
	return nil
}

func (s *Server) org(w http.ResponseWriter, r *http.Request, c *caller) error {
	o, err := s.st.GetOrg(r.Context(), c.Viewer.OrgID)
	if err != nil {
		return storeError(err, "organisation")
	}
	writeJSON(w, http.StatusOK, o)
	return nil
}

// loginLimiter counts sign-in attempts per email, in memory. Each attempt
// is counted as a failure before the password is checked and forgotten if
// it succeeds, so concurrent guesses cannot slip past the limit. It is per
// process: with several servers an attacker gets that many times the
// budget, which is still far too little to guess a password.
type loginLimiter struct {
	mu       sync.Mutex
	attempts map[string][]time.Time
}

// loginLimiterSweep is the map size at which expired entries are dropped.
const loginLimiterSweep = 10000

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{attempts: map[string][]time.Time{}}
}

// attempt records an attempt for key at now, or, if the key has used up
// its failures, says how long to wait.
func (l *loginLimiter) attempt(key string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.attempts) >= loginLimiterSweep {
		for k, ts := range l.attempts {
			if len(prune(ts, now)) == 0 {
				delete(l.attempts, k)
			}
		}
	}
	ts := prune(l.attempts[key], now)
	if len(ts) >= loginMaxFailures {
		l.attempts[key] = ts
		return ts[0].Add(loginWindow).Sub(now), false
	}
	l.attempts[key] = append(ts, now)
	return 0, true
}

// succeeded clears the failures of key.
func (l *loginLimiter) succeeded(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.attempts, key)
}

// forget takes back the attempt made at now (it failed on our side, not
// the user's).
func (l *loginLimiter) forget(key string, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ts := l.attempts[key]
	for i := len(ts) - 1; i >= 0; i-- {
		if ts[i].Equal(at) {
			l.attempts[key] = append(ts[:i:i], ts[i+1:]...)
			return
		}
	}
}

// prune drops the times that fell out of the window.
func prune(ts []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) >= loginWindow {
		i++
	}
	return ts[i:]
}
