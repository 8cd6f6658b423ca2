package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/i18n"
	"github.com/crmsync/crmsync/internal/signin"
	"github.com/crmsync/crmsync/internal/store"
)

// Page is one request to a page: who asks, in which language, and how to
// answer.
type Page struct {
	W http.ResponseWriter
	R *http.Request
	// Signed in (zero on anonymous pages with nobody signed in).
	User   crm.User
	Viewer crm.Viewer
	// Session is the session token the cookie carries.
	Session crm.Token
	// P writes words, numbers and dates in the user's language.
	P *i18n.Printer
	// CSRF is the token every form of the page carries (csrfField).
	CSRF string
	// Client is who is asking (for the limiter and sessions).
	Client signin.Client

	s      *Server
	secret string // the session's secret, from the cookie
	flash  string // a message from the previous page (after a redirect)
}

// Ctx is the request's context.
func (p *Page) Ctx() context.Context { return p.R.Context() }

// SignedIn reports whether someone is signed in.
func (p *Page) SignedIn() bool { return p.User.ID != 0 }

// Cookie names. Behind https the session cookie is __Host- prefixed: the
// browser then keeps it for this host only, Secure, on path /.
const (
	sessionCookie = "crmsync_session"
	csrfCookie    = "crmsync_csrf"
	flashCookie   = "crmsync_flash"
)

func (s *Server) sessionCookieName() string {
	if s.cfg.SecureCookies {
		return "__Host-" + sessionCookie
	}
	return sessionCookie
}

// serve runs a page: the session from the cookie, the language, the CSRF
// check of a POST, then h; its error becomes an error page.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, needUser bool, h Handler) {
	p := &Page{W: w, R: r, s: s, Client: signin.ClientOf(r, s.cfg.TrustForwardedFor)}
	if c, err := r.Cookie(s.sessionCookieName()); err == nil && strings.HasPrefix(c.Value, auth.TokenPrefix) {
		tok, user, err := s.cfg.Store.TokenByHash(r.Context(), auth.HashToken(c.Value), s.cfg.Now())
		switch {
		case err == nil && tok.Kind == crm.TokenSession:
			p.User, p.Session, p.secret = user, tok, c.Value
			p.Viewer = crm.Viewer{OrgID: user.OrgID, UserID: user.ID, Role: user.Role}
		case err != nil && !errors.Is(err, store.ErrNotFound):
			s.fail(p, err)
			return
		}
	}
	p.P = i18n.For(i18n.Negotiate(p.User.Language, r.Header.Get("Accept-Language")))
	p.CSRF = s.csrfToken(p)
	if c, err := r.Cookie(flashCookie); err == nil {
		if v, err := url.QueryUnescape(c.Value); err == nil && i18n.Has(v) {
			p.flash = v
		}
		http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	}
	if needUser && !p.SignedIn() {
		if r.Method == http.MethodGet {
			p.Redirect("/login?next=" + url.QueryEscape(r.URL.RequestURI()))
			return
		}
		p.W.WriteHeader(http.StatusForbidden)
		s.renderError(p, http.StatusForbidden, "error.csrf")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !s.sameOrigin(p) {
		s.renderError(p, http.StatusForbidden, "error.csrf")
		return
	}
	if needUser && s.enrolmentGate(p) {
		return
	}
	if err := h(p); err != nil {
		s.fail(p, err)
	}
}

// sameOrigin is the CSRF check of a state-changing request: not sent by
// another site (Sec-Fetch-Site, where the browser says), and carrying the
// page's token, in the form ("csrf") or the X-CSRF-Token header.
func (s *Server) sameOrigin(p *Page) bool {
	if site := p.R.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	got := p.R.Header.Get("X-CSRF-Token")
	if got == "" {
		got = p.R.PostFormValue("csrf")
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(p.CSRF)) == 1
}

// csrfToken is bound to the session (an HMAC of its secret, so it needs
// no storage and dies with the session); before sign-in it is a random
// value in a cookie of its own (double submit).
func (s *Server) csrfToken(p *Page) string {
	if p.secret != "" {
		m := hmac.New(sha256.New, []byte(p.secret))
		m.Write([]byte("crmsync web csrf"))
		return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	if c, err := p.R.Cookie(csrfCookie); err == nil && len(c.Value) == 43 {
		return c.Value
	}
	var b [32]byte
	rand.Read(b[:])
	v := base64.RawURLEncoding.EncodeToString(b[:])
	http.SetCookie(p.W, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	return v
}

// SetSession signs the browser in with a session (after sign-in).
func (p *Page) SetSession(sess signin.Session) {
	http.SetCookie(p.W, &http.Cookie{Name: p.s.sessionCookieName(), Value: sess.Secret, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, Secure: p.s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
}

// ClearSession forgets the session cookie (sign out).
func (p *Page) ClearSession() {
	http.SetCookie(p.W, &http.Cookie{Name: p.s.sessionCookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: p.s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
}

// Redirect answers a form with 303 See Other to a path of the app.
func (p *Page) Redirect(path string) {
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") || strings.HasPrefix(path, "/\\") {
		path = "/"
	}
	http.Redirect(p.W, p.R, path, http.StatusSeeOther)
}

// Flash shows a message (a catalogue id) on the next page, after a
// redirect.
func (p *Page) Flash(id string) {
	http.SetCookie(p.W, &http.Cookie{Name: flashCookie, Value: url.QueryEscape(id), Path: "/", HttpOnly: true,
		Secure: p.s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
}

// fail turns a page's error into an error page.
func (s *Server) fail(p *Page, err error) {
	var fe *FormError
	switch {
	case errors.Is(err, ErrNotFound), errors.Is(err, store.ErrNotFound):
		s.renderError(p, http.StatusNotFound, "error.not_found")
	case errors.Is(err, ErrForbidden):
		s.renderError(p, http.StatusForbidden, "error.forbidden")
	case errors.As(err, &fe):
		s.renderErrorText(p, http.StatusUnprocessableEntity, fe.Message)
	case errors.Is(err, context.Canceled):
		// The browser went away.
	default:
		ref := newRef()
		s.log.LogAttrs(p.Ctx(), slog.LevelError, "serving a page", slog.String("ref", ref),
			slog.String("method", p.R.Method), slog.String("path", p.R.URL.Path), slog.Any("err", err))
		s.renderErrorText(p, http.StatusInternalServerError, p.P.T("error.internal", "Ref", ref))
	}
}

func newRef() string {
	var b [6]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// FormError is a refused form that the handler could not show beside its
// field: the message is shown as it is (already in the user's language).
type FormError struct{ Message string }

func (e *FormError) Error() string { return e.Message }
