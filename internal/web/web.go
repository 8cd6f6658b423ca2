// Package web is crmsync's web app: server-rendered pages for the people
// who click (the seeds' "Menu > Settings > Email settings"), served by
// `crmsync serve` at / beside the REST API.
//
// Pages are html/template files embedded in the binary, with one small
// script of our own (static/app.js) for what a form cannot do (live
// account states, copy buttons, dialogs); nothing is fetched from another
// site. Every workflow is a call to the same services the REST API calls
// (accounts, users, signin, the store on behalf of the user's crm.Viewer),
// so a page only decodes a form, calls the service and shows the answer
// in the user's language (package i18n).
//
// Security: the session is a crmsync session token in an HttpOnly,
// SameSite=Lax cookie (Secure behind https); every POST carries a CSRF
// token bound to the session (a double-submit cookie before sign-in) and
// is refused from another site; pages send a strict Content-Security-
// Policy. A record of another organisation, or one the user may not see,
// is a 404 like a page that does not exist.
package web

import (
	"embed"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/crmsync/crmsync/internal/accounts"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/i18n"
	"github.com/crmsync/crmsync/internal/messages"
	"github.com/crmsync/crmsync/internal/oauth"
	"github.com/crmsync/crmsync/internal/signin"
	"github.com/crmsync/crmsync/internal/sso"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/users"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Config is what the web app needs: the services the REST API has too.
type Config struct {
	Store    store.Store
	Accounts *accounts.Service
	Users    *users.Service
	SignIn   *signin.Service
	// Messages sends mail and fetches attachments (the REST API's
	// service); nil hides the compose page and attachment downloads.
	Messages *messages.Service
	// OAuth signs users in with Microsoft and Google; nil hides those
	// buttons.
	OAuth  *oauth.Service
	Logger *slog.Logger
	Now    func() time.Time
	// SecureCookies marks cookies Secure (and names the session cookie
	// __Host-…): set it when users reach crmsync over https.
	SecureCookies bool
	// TrustForwardedFor: as api.Config's (the client's address from the
	// last X-Forwarded-For entry, behind a reverse proxy that sets it).
	TrustForwardedFor bool
	// DropboxDomain is the domain of forwarding-mode dropboxes ("" : no
	// forwarding mode).
	DropboxDomain string
	// Retention is how long a disconnected mailbox's data is kept, said
	// in the disconnect dialog.
	Retention time.Duration
	// SSO signs users in through their organisation's OpenID Connect
	// provider (sso.go); nil hides single sign-on.
	SSO *sso.Service
}

// Server is the web app, an http.Handler.
type Server struct {
	cfg   Config
	log   *slog.Logger
	mux   *http.ServeMux
	pages *pages
}

// New returns the web app with every page registered.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Retention <= 0 {
		cfg.Retention = accounts.DefaultRetention
	}
	s := &Server{cfg: cfg, log: cfg.Logger, mux: http.NewServeMux(), pages: mustParse()}
	s.routes()
	return s
}

// routes is the web app's table of contents; each area registers its
// pages in its own file.
func (s *Server) routes() {
	static, _ := fs.Sub(staticFiles, "static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(static)))
	s.anon("GET /login", s.loginPage)
	s.anon("POST /login", s.loginSubmit)
	s.authed("POST /logout", s.logout)
	s.authed("GET /{$}", s.home)
	s.authed("GET /settings", s.settingsPage)
	s.authed("POST /settings", s.settingsSubmit)

	s.securityRoutes()
	s.mailRoutes()
	s.pimRoutes()
	s.recordRoutes()
	s.adminRoutes()
	s.ssoRoutes()

	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.serve(w, r, false, func(p *Page) error { return ErrNotFound })
	})
}

// ServeHTTP serves the pages.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Only our own scripts, styles and images; no frames, no plugins,
	// forms only to ourselves.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	s.mux.ServeHTTP(w, r)
}

// Handler is a page: it writes its answer through p, or returns an error
// the server turns into an error page in the user's language.
type Handler func(p *Page) error

// anon registers a page for people not signed in (sign-in, the second
// step, OpenID Connect's return).
func (s *Server) anon(pattern string, h Handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, false, h) })
}

// authed registers a page that needs a signed-in user; others are sent
// to the sign-in page and come back after.
func (s *Server) authed(pattern string, h Handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, true, h) })
}

// admin registers a page for the organisation's admins only (others get
// a 404: they need not know it exists).
func (s *Server) admin(pattern string, h Handler) {
	s.authed(pattern, func(p *Page) error {
		if p.Viewer.Role != crm.RoleAdmin {
			return ErrNotFound
		}
		return h(p)
	})
}

// The errors a Handler may return besides its own; anything else is a
// 500 with a reference in the log.
var (
	ErrNotFound  = errors.New("web: not found")
	ErrForbidden = errors.New("web: forbidden")
)

func staticHandler(fsys fs.FS) http.Handler {
	files := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Assets change only with the binary; an hour of caching is
		// enough and a new version is picked up soon after.
		w.Header().Set("Cache-Control", "public, max-age=3600")
		files.ServeHTTP(w, r)
	})
}

// i18nFor is the printer of a language.
func i18nFor(lang string) *i18n.Printer { return i18n.For(lang) }
