// Package signin is how people sign in to crmsync, once for the REST API
// (POST /api/v1/login) and the web app: the password check behind the
// guessing limiter and the hashing gate, the rules on deactivated users,
// and the session that follows. The API answers in JSON and the web app
// sets a cookie; neither checks a password on its own.
package signin

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/auth/limit"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
)

// The refusals of a sign-in, for errors.Is. A *limit.Refused (too many
// attempts) comes back as it is, with its wait.
var (
	// ErrBadCredentials: unknown email, no password, or a wrong one; the
	// three look the same from outside, and take as long.
	ErrBadCredentials = errors.New("signin: the email or password is wrong")
	// ErrDeactivated: the password was right but an admin deactivated
	// the user. Said only to whoever knows the password.
	ErrDeactivated = errors.New("signin: the user was deactivated")
)

// DefaultSessionTTL is how long a session lasts.
const DefaultSessionTTL = 12 * time.Hour

// Config is what a Service needs.
type Config struct {
	Store store.Store
	// Attempts limits password guessing by account and client; the API
	// and the web app share it, so neither is a way around the other.
	Attempts *limit.Limiter
	// Hasher bounds the memory of concurrent password checks.
	Hasher *auth.Gate
	// Now is the clock; default time.Now.
	Now func() time.Time
	// SessionTTL: default DefaultSessionTTL.
	SessionTTL time.Duration
	// Keys seal two-factor secrets and the pending second step of a
	// sign-in; without them two-factor authentication cannot be turned
	// on (ErrNoKeys).
	Keys *secret.Keyring
}

// Service signs people in. It is safe for concurrent use.
type Service struct {
	cfg Config
}

// New returns a Service.
func New(cfg Config) *Service {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Attempts == nil {
		cfg.Attempts = limit.New(limit.DefaultPolicy, cfg.Now)
	}
	if cfg.Hasher == nil {
		cfg.Hasher = auth.NewGate(0)
	}
	return &Service{cfg: cfg}
}

// Attempts is the limiter the service checks passwords behind.
func (s *Service) Attempts() *limit.Limiter { return s.cfg.Attempts }

// Hasher is the gate the service hashes passwords behind.
func (s *Service) Hasher() *auth.Gate { return s.cfg.Hasher }

// Client is who is signing in, as far as the server can tell.
type Client struct {
	// Addr is the client's address (the last X-Forwarded-For entry
	// behind a trusted proxy), kept with the session.
	Addr string
	// Key is the limiter's name for the client: its address, IPv6 by
	// /64, the block one machine usually gets.
	Key string
	// UserAgent, trimmed to MaxUserAgent characters, is kept with the
	// session so that the user can tell their sessions apart.
	UserAgent string
}

// MaxUserAgent bounds the User-Agent kept with a session, in characters:
// enough to tell browsers and apps apart, not a place to store data.
const MaxUserAgent = 256

// ClientOf describes the client of r. trustForwardedFor takes its address
// from the last X-Forwarded-For entry: only behind a reverse proxy that
// sets it, or clients could name any address they like.
func ClientOf(r *http.Request, trustForwardedFor bool) Client {
	raw := r.RemoteAddr
	if host, _, err := net.SplitHostPort(raw); err == nil {
		raw = host
	}
	if trustForwardedFor {
		if xff := r.Header.Values("X-Forwarded-For"); len(xff) > 0 {
			parts := strings.Split(xff[len(xff)-1], ",")
			if last := strings.TrimSpace(parts[len(parts)-1]); last != "" {
				raw = last
			}
		}
	}
	c := Client{Addr: raw, Key: "addr:" + raw}
	if addr, err := netip.ParseAddr(raw); err == nil {
		addr = addr.Unmap()
		c.Addr, c.Key = addr.String(), "addr:"+addr.String()
		if addr.Is6() {
			p, _ := addr.Prefix(64)
			c.Key = "addr:" + p.String()
		}
	}
	ua := strings.ToValidUTF8(strings.TrimSpace(r.UserAgent()), "\uFFFD")
	if utf8.RuneCountInString(ua) > MaxUserAgent {
		ua = string([]rune(ua)[:MaxUserAgent])
	}
	c.UserAgent = ua
	return c
}

// LimiterAccount is the limiter's name for the crmsync account of an
// email.
func LimiterAccount(email string) string { return "login:" + email }

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

// Password checks an email and password. It returns the user, or
// ErrBadCredentials, ErrDeactivated, a *limit.Refused, or the context's
// error when the client went away while waiting for its turn.
func (s *Service) Password(ctx context.Context, email, password string, c Client) (crm.User, error) {
	email = strings.ToLower(strings.TrimSpace(email))
	att, err := s.cfg.Attempts.Begin(LimiterAccount(email), c.Key)
	if err != nil {
		return crm.User{}, err
	}
	user, hash, err := s.cfg.Store.UserForLogin(ctx, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		att.Abandon()
		return crm.User{}, err
	}
	known := err == nil && hash != ""
	if !known {
		hash = dummyHash()
	}
	ok, err := s.cfg.Hasher.CheckPassword(ctx, hash, password)
	if err != nil {
		att.Abandon()
		return crm.User{}, err
	}
	if !ok || !known {
		att.Failed()
		return crm.User{}, ErrBadCredentials
	}
	att.Succeeded()
	if !user.Active {
		return crm.User{}, ErrDeactivated
	}
	return user, nil
}

// Session is a signed-in session: its secret (shown once: the client
// keeps it, crmsync only its hash) and when it ends.
type Session struct {
	Secret    string
	Token     crm.Token
	ExpiresAt time.Time
	// User is whose session it is.
	User crm.User
}

// StartSession opens a session for a user who proved who they are.
func (s *Service) StartSession(ctx context.Context, user crm.User, c Client) (Session, error) {
	now := s.cfg.Now()
	secret, prefix, hash := auth.NewToken()
	expires := now.Add(s.cfg.SessionTTL)
	tok, err := s.cfg.Store.CreateToken(ctx, store.TokenParams{
		OrgID: user.OrgID, UserID: user.ID, Name: "session", Kind: crm.TokenSession,
		Hash: hash, Prefix: prefix, CreatedAt: now, ExpiresAt: &expires,
		UserAgent: c.UserAgent, ClientIP: c.Addr,
	})
	if err != nil {
		return Session{}, err
	}
	return Session{Secret: secret, Token: tok, ExpiresAt: expires, User: user}, nil
}
