package api

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

type ctxKey int

const requestIDKey ctxKey = 0

// requestID is the id of the request being served, as sent back in
// X-Request-Id and written in every log line about it.
func requestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// middleware gives each request an id, sets the headers every answer
// carries, logs it, and turns a panic into a logged 500 that tells the
// client nothing but the request id.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := newRequestID()
		ctx := context.WithValue(r.Context(), requestIDKey, id)
		r = r.WithContext(ctx)
		setBaseHeaders(w.Header(), id)
		rec := &recorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.LogAttrs(ctx, slog.LevelError, "panic serving request",
					slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
					slog.Any("panic", p), slog.String("stack", string(debug.Stack())))
				if rec.status != 0 {
					// Part of the answer is on its way; all we can do is
					// cut it short so the client sees an error.
					panic(http.ErrAbortHandler)
				}
				// Drop whatever the handler had set (a Location…).
				clear(w.Header())
				setBaseHeaders(w.Header(), id)
				writeJSON(rec, http.StatusInternalServerError, errorBody{Error: internalError(ctx)})
			}
			took := time.Since(start)
			s.log.LogAttrs(ctx, slog.LevelDebug, "request",
				slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", rec.status), slog.Duration("duration", took))
			if s.cfg.ObserveHTTP != nil {
				// The mux set the pattern it matched on r; a path no
				// route has is under the catch-all "/".
				s.cfg.ObserveHTTP(cmp.Or(r.Pattern, "unmatched"), cmp.Or(rec.status, http.StatusOK), took)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

func setBaseHeaders(h http.Header, id string) {
	h.Set("X-Request-Id", id)
	// Answers hold CRM data and sometimes secrets: no cache may keep them.
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

// recorder remembers the status for the log and whether the answer started.
type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// caller is who a request is made by.
type caller struct {
	Viewer crm.Viewer
	User   crm.User
	Token  crm.Token // the token the request carried
}

// touchEvery throttles last-use updates: a token used in a loop should not
// cost a write per request.
const touchEvery = time.Minute

const howToGetAToken = "Sign in to get one, or use an API token (the first admin's is the one `crmsync init` printed)."

func unauthorized(w http.ResponseWriter, msg string, invalidToken bool) *Error {
	if invalidToken {
		w.Header().Set("WWW-Authenticate", `Bearer realm="crmsync", error="invalid_token"`)
	} else {
		w.Header().Set("WWW-Authenticate", `Bearer realm="crmsync"`)
	}
	return &Error{Status: http.StatusUnauthorized, Code: codeUnauthorized, Message: msg + " " + howToGetAToken}
}

// authenticate finds the caller from the bearer token
// (RFC 6750 section 2.1).
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (*caller, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, unauthorized(w, "This endpoint needs a token.", false)
	}
	scheme, secret, _ := strings.Cut(h, " ")
	secret = strings.TrimSpace(secret)
	if !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return nil, unauthorized(w, "The Authorization header must use the Bearer scheme.", false)
	}
	if !strings.HasPrefix(secret, auth.TokenPrefix) {
		return nil, unauthorized(w, "The token is not a crmsync token (they start with "+auth.TokenPrefix+").", true)
	}
	now := s.cfg.Now()
	tok, user, err := s.st.TokenByHash(r.Context(), auth.HashToken(secret), now)
	if errors.Is(err, store.ErrNotFound) {
		return nil, unauthorized(w, "The token is unknown, expired or revoked.", true)
	}
	if err != nil {
		return nil, err
	}
	if tok.Kind == crm.TokenSession && r.URL.Path != "/api/v1/logout" && !strings.HasPrefix(r.URL.Path, twoFactorPath) {
		// A sign-in session of a user who must set up two-factor
		// authentication is good for nothing else (API tokens are app
		// passwords made on purpose, and keep working).
		must, err := s.signIn.MustEnrol(r.Context(), user)
		if err != nil {
			return nil, err
		}
		if must {
			return nil, twoFactorSetup()
		}
	}
	if tok.LastUsedAt == nil || now.Sub(*tok.LastUsedAt) >= touchEvery {
		if err := s.st.TouchToken(r.Context(), tok.ID, now); err != nil {
			// Not worth failing the request for.
			s.log.LogAttrs(r.Context(), slog.LevelWarn, "recording token use",
				slog.String("request_id", requestID(r.Context())), slog.Int64("token_id", tok.ID), slog.Any("err", err))
		}
	}
	return &caller{
		Viewer: crm.Viewer{OrgID: user.OrgID, UserID: user.ID, Role: user.Role},
		User:   user,
		Token:  tok,
	}, nil
}
