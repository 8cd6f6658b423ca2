// Package api serves the REST API under /api/v1: users, companies, contacts,
// opportunities, tasks, events, API tokens and sign-in, mailboxes and PIM
// (address book and calendar) accounts, described by the OpenAPI document at
// /api/v1/openapi.json.
//
// Handlers are thin: they decode and validate a request strictly, call the
// store on behalf of the caller's crm.Viewer (the store decides what the
// caller may see), and map the store's errors to HTTP answers once, in
// errors.go. Every error answer is {"error":{"code","message","field"}}.
// There is one file per resource; routes are listed in routes().
package api

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/accounts"
	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/auth/limit"
	"github.com/crmsync/crmsync/internal/messages"
	"github.com/crmsync/crmsync/internal/oauth"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/signin"
	"github.com/crmsync/crmsync/internal/sso"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/users"
	"github.com/crmsync/crmsync/internal/webhooks"
)

// Config is what a Server needs. Zero values get the documented defaults.
type Config struct {
	Store  store.Store
	Logger *slog.Logger // default slog.Default()
	// Now is the clock for token expiry, last-use times and the login
	// limiter; tests set it to move time. Default time.Now.
	Now func() time.Time
	// MaxBodyBytes caps request bodies; larger ones get 413. Default 1 MiB.
	MaxBodyBytes int64
	// SessionTTL is how long a token from POST /api/v1/login lasts.
	// Default 12h.
	SessionTTL time.Duration
	// Mail connects mailboxes; without it the mail endpoints answer 503.
	Mail MailConnector
	// Wake, when set, tells this process's sync loop of an account that
	// work was queued for it (a flag change), so it is done at once.
	Wake func(accountID int64)
	// PIM connects address book and calendar servers (CardDAV, CalDAV);
	// without it the PIM account endpoints that reach a server (connect,
	// change, sync now) answer 503.
	PIM PIMConnector
	// WakePIM, when set, tells this process's PIM sync loop that an
	// account was connected, changed or asked to sync, so it runs at once.
	WakePIM func(accountID int64)
	// DropboxDomain is the mail domain of forwarding-mode dropboxes,
	// <token>@DropboxDomain, received by the inbound SMTP server (serve
	// --smtp … --dropbox-domain …). Empty: forwarding mode is not enabled
	// and no forwarding-mode mailbox can be created.
	DropboxDomain string
	// Retention is how long a disconnected mailbox's messages and links
	// are kept (and it may be reconnected with all of them) before the
	// maintenance job purges them. Default 30 days.
	Retention time.Duration
	// TrustForwardedFor takes the client's address, which sign-in
	// attempts are limited by, from the last X-Forwarded-For entry rather
	// than the connection: set it only behind a reverse proxy that sets
	// the header, or clients could name any address they like.
	TrustForwardedFor bool
	// PasswordHashMemory is the memory password hashing may take at once,
	// in bytes (auth.NewGate); default auth.DefaultHashBudget.
	PasswordHashMemory int64
	// Attempts limits password guessing, at sign-in, at current_password
	// and through the logins crmsync makes for a caller (mailboxes, PIM
	// accounts). Default: limit.New(limit.DefaultPolicy, Now).
	Attempts *limit.Limiter
	// OAuth signs users in with providers (Microsoft); without it those
	// endpoints answer 503.
	OAuth *oauth.Service
	// SSO is single sign-on with the organisation's OpenID Connect
	// provider; without it /api/v1/org/sso answers 503.
	SSO *sso.Service
	// Keys seal two-factor secrets (package signin); without them users
	// cannot turn two-factor authentication on.
	Keys *secret.Keyring
	// GooglePushToken is the secret in the token query parameter of the
	// operator's Pub/Sub push subscription (--google-pubsub-token): a
	// Gmail push without it is ignored. Empty: every push is ignored.
	GooglePushToken string
	// Metrics, when set, serves GET /metrics (the Prometheus text format);
	// without it /metrics answers 404.
	Metrics http.Handler
	// ObserveHTTP, when set, is told of every answer: the route's ServeMux
	// pattern (never the raw path, which holds ids), its status and how
	// long it took.
	ObserveHTTP func(route string, status int, d time.Duration)
	// Webhooks manages the organisation's webhook endpoints; without it
	// those endpoints answer 503.
	Webhooks *webhooks.Service
}

// Defaults for Config.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultSessionTTL   = 12 * time.Hour
	DefaultRetention    = accounts.DefaultRetention
)

// Server is the REST API. It is an http.Handler.
type Server struct {
	cfg      Config
	st       store.Store
	log      *slog.Logger
	mux      *http.ServeMux
	routes   []string            // "GET /api/v1/companies/{id}", in registration order
	methods  map[string][]string // path pattern -> methods registered on it
	queries  map[string][]string // route -> query parameters it accepts
	attempts *limit.Limiter      // password guessing, by client and account
	hasher   *auth.Gate          // concurrent password hashing, by memory
	handler  http.Handler        // mux inside the middleware
	acc      *accounts.Service   // the mail and PIM account workflows
	usr      *users.Service      // offboarding and reactivating users
	signIn   *signin.Service     // passwords and sessions, shared with the web app
	msg      *messages.Service   // sending mail, attachments; shared with the web app
	web      http.Handler        // the web app, served for paths outside the API
}

// New returns a Server with every route registered.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = DefaultSessionTTL
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Attempts == nil {
		cfg.Attempts = limit.New(limit.DefaultPolicy, cfg.Now)
	}
	cfg.DropboxDomain = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(cfg.DropboxDomain), "."))
	s := &Server{
		cfg:     cfg,
		st:      cfg.Store,
		log:     cfg.Logger,
		mux:     http.NewServeMux(),
		methods: map[string][]string{},
		queries: map[string][]string{},
		acc:     newAccounts(cfg),

		attempts: cfg.Attempts,
		hasher:   auth.NewGate(cfg.PasswordHashMemory),
	}
	s.usr = users.New(users.Config{Store: cfg.Store, Accounts: s.acc, Now: cfg.Now})
	var fetch messages.AttachmentFetcher
	if cfg.Mail != nil {
		fetch = cfg.Mail
	}
	s.msg = messages.New(messages.Config{Store: cfg.Store, Mail: fetch, Wake: cfg.Wake, Now: cfg.Now, Logger: cfg.Logger})
	s.signIn = signin.New(signin.Config{Store: cfg.Store, Attempts: s.attempts, Hasher: s.hasher, Now: cfg.Now, SessionTTL: cfg.SessionTTL, Keys: cfg.Keys})
	s.registerRoutes()
	s.handler = s.middleware(s.mux)
	return s
}

// registerRoutes is the table of contents of the API.
func (s *Server) registerRoutes() {
	s.public("GET /healthz", s.health)
	s.public("GET /readyz", s.ready)
	s.public("GET /metrics", s.metrics)
	s.public("GET /api/v1/openapi.json", s.openAPI)
	s.public("POST /api/v1/login", s.login)
	s.authed("POST /api/v1/logout", s.logout)
	s.authed("GET /api/v1/me", s.me)
	s.authed("GET /api/v1/me/two_factor", s.getTwoFactor)
	s.authed("POST /api/v1/me/two_factor", s.beginTwoFactor)
	s.authed("POST /api/v1/me/two_factor/confirm", s.confirmTwoFactor)
	s.authed("POST /api/v1/me/two_factor/disable", s.disableTwoFactor)
	s.authed("POST /api/v1/me/two_factor/recovery_codes", s.newRecoveryCodes)
	s.authed("GET /api/v1/org", s.org)
	s.authed("GET /api/v1/org/linking", s.getLinking)
	s.authed("PUT /api/v1/org/linking", s.putLinking)

	s.authed("POST /api/v1/users", s.createUser)
	s.list("GET /api/v1/users", s.listUsers, "role", "manager_id")
	s.authed("GET /api/v1/users/{id}", s.getUser)
	s.authed("PATCH /api/v1/users/{id}", s.updateUser)
	s.queried("DELETE /api/v1/users/{id}", s.deleteUser, "reassign_to")
	s.authed("POST /api/v1/users/{id}/tokens", s.createUserToken)
	s.authed("GET /api/v1/users/{id}/tokens", s.listUserTokens)
	s.authed("DELETE /api/v1/users/{id}/tokens/{token_id}", s.revokeUserToken)

	s.authed("POST /api/v1/tokens", s.createToken)
	s.authed("GET /api/v1/tokens", s.listTokens)
	s.authed("DELETE /api/v1/tokens/{id}", s.revokeToken)

	s.authed("GET /api/v1/sessions", s.listSessions)
	s.authed("DELETE /api/v1/sessions/{id}", s.revokeSession)
	s.queried("DELETE /api/v1/sessions", s.revokeAllSessions, "keep_current")

	s.authed("POST /api/v1/companies", s.createCompany)
	s.list("GET /api/v1/companies", s.listCompanies, "domain", "owner_id")
	s.authed("GET /api/v1/companies/{id}", s.getCompany)
	s.authed("PATCH /api/v1/companies/{id}", s.updateCompany)
	s.authed("DELETE /api/v1/companies/{id}", s.deleteCompany)

	s.authed("POST /api/v1/contacts", s.createContact)
	s.list("GET /api/v1/contacts", s.listContacts, "email", "company_id", "owner_id", "lifecycle")
	s.authed("GET /api/v1/contacts/{id}", s.getContact)
	s.authed("PATCH /api/v1/contacts/{id}", s.updateContact)
	s.authed("DELETE /api/v1/contacts/{id}", s.deleteContact)

	s.authed("POST /api/v1/opportunities", s.createOpportunity)
	s.list("GET /api/v1/opportunities", s.listOpportunities, "company_id", "contact_id", "owner_id", "status")
	s.authed("GET /api/v1/opportunities/{id}", s.getOpportunity)
	s.authed("PATCH /api/v1/opportunities/{id}", s.updateOpportunity)
	s.authed("DELETE /api/v1/opportunities/{id}", s.deleteOpportunity)

	s.authed("POST /api/v1/tasks", s.createTask)
	s.list("GET /api/v1/tasks", s.listTasks, "owner_id", "contact_id", "status")
	s.authed("GET /api/v1/tasks/{id}", s.getTask)
	s.authed("PATCH /api/v1/tasks/{id}", s.updateTask)
	s.authed("DELETE /api/v1/tasks/{id}", s.deleteTask)

	s.authed("POST /api/v1/events", s.createEvent)
	s.list("GET /api/v1/events", s.listEvents, "owner_id", "contact_id", "from", "to")
	s.authed("GET /api/v1/events/{id}", s.getEvent)
	s.authed("PATCH /api/v1/events/{id}", s.updateEvent)
	s.authed("DELETE /api/v1/events/{id}", s.deleteEvent)
	s.historyRoutes()

	s.queried("GET /api/v1/autoconfig", s.autoconfig, "email")
	s.authed("GET /api/v1/org/mail-service", s.getMailService)
	s.authed("PUT /api/v1/org/mail-service", s.putMailService)
	s.authed("DELETE /api/v1/org/mail-service", s.deleteMailService)
	s.authed("POST /api/v1/mail-accounts", s.createMailAccount)
	s.list("GET /api/v1/mail-accounts", s.listMailAccounts, "user_id")
	s.authed("GET /api/v1/mail-accounts/{id}", s.getMailAccount)
	s.authed("PATCH /api/v1/mail-accounts/{id}", s.updateMailAccount)
	s.queried("DELETE /api/v1/mail-accounts/{id}", s.disconnectMailAccount, "confirm_data_loss")
	s.queried("GET /api/v1/mail-accounts/{id}/folders", s.listFolders, "limit", "cursor")
	s.authed("PUT /api/v1/mail-accounts/{id}/folders", s.selectFolders)

	s.authed("POST /api/v1/pim-accounts", s.createPIMAccount)
	s.list("GET /api/v1/pim-accounts", s.listPIMAccounts, "user_id")
	s.authed("GET /api/v1/pim-accounts/{id}", s.getPIMAccount)
	s.authed("PATCH /api/v1/pim-accounts/{id}", s.updatePIMAccount)
	s.authed("DELETE /api/v1/pim-accounts/{id}", s.deletePIMAccount)
	s.authed("POST /api/v1/pim-accounts/{id}/sync", s.syncPIMAccount)
	s.authed("GET /api/v1/pim-accounts/{id}/categories", s.listPIMCategories)
	s.authed("POST /api/v1/mail-accounts/{id}/sync", s.syncMailAccount)

	s.list("GET /api/v1/messages", s.listMessages, "account_id", "folder", "company_id", "contact_id", "opportunity_id")
	s.queried("GET /api/v1/messages/{id}", s.getMessage, "remote_images")
	s.authed("PATCH /api/v1/messages/{id}", s.updateMessage)
	s.authed("GET /api/v1/messages/{id}/attachments/{n}", s.getAttachment)
	s.authed("POST /api/v1/messages/{id}/links", s.linkMessage)
	s.authed("DELETE /api/v1/messages/{id}/links/{type}/{target_id}", s.unlinkMessage)
	s.authed("POST /api/v1/messages/send", s.sendMessage)
	s.queried("GET /api/v1/outbox", s.listOutbox, "limit", "cursor", "state", "account_id")
	s.authed("GET /api/v1/outbox/{id}", s.getOutboxItem)
	s.oauthRoutes()
	s.ssoRoutes()
	s.webhookRoutes()
	s.graphRoutes()
	s.googleRoutes()

	// A path registered for some methods answers others with 405 and an
	// Allow header, in our error format rather than ServeMux's text.
	for path, methods := range s.methods {
		s.otherMethods(path, methods)
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if s.web != nil && r.URL.Path != "/api" && !strings.HasPrefix(r.URL.Path, "/api/") {
			s.web.ServeHTTP(w, r)
			return
		}
		writeJSON(w, http.StatusNotFound, errorBody{Error: &Error{Status: http.StatusNotFound, Code: codeNotFound,
			Message: "There is nothing at this address: check it against the API's description (its OpenAPI document)."}})
	})
}

// Mount serves the web app for every path outside /api/ that no API
// route has (the pages under /, their assets). Call it before serving.
func (s *Server) Mount(web http.Handler) { s.web = web }

// Accounts is the accounts service the API runs its mailbox and PIM
// workflows through; the web app takes the same one, so that no workflow
// is written twice.
func (s *Server) Accounts() *accounts.Service { return s.acc }

// Users is the users service (offboarding, reactivation).
func (s *Server) Users() *users.Service { return s.usr }

// SignIn is the sign-in service (passwords behind the server's limiter,
// sessions).
func (s *Server) SignIn() *signin.Service { return s.signIn }

// Messages is the messages service (sending mail, attachments).
func (s *Server) Messages() *messages.Service { return s.msg }

// Routes returns every route the server answers, as ServeMux patterns
// ("GET /api/v1/companies/{id}"). The OpenAPI test checks the document
// against it.
func (s *Server) Routes() []string { return slices.Clone(s.routes) }

// QueryParams returns the query parameters a route accepts (lists, and the
// few other routes registered with queried).
func (s *Server) QueryParams(route string) []string { return slices.Clone(s.queries[route]) }

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// handlerFunc is a handler that returns its error instead of writing it.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// authedFunc is a handler for a signed-in caller.
type authedFunc func(w http.ResponseWriter, r *http.Request, c *caller) error

func (s *Server) register(pattern string, h http.Handler) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		panic("api: route without method: " + pattern)
	}
	s.routes = append(s.routes, pattern)
	s.methods[path] = append(s.methods[path], method)
	s.mux.Handle(pattern, h)
}

// public registers a route anyone may call.
func (s *Server) public(pattern string, h handlerFunc) {
	s.register(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.writeError(w, r, err)
		}
	}))
}

// authed registers a route that needs a bearer token.
func (s *Server) authed(pattern string, h authedFunc) {
	s.register(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := s.authenticate(w, r)
		if err == nil {
			err = h(w, r, c)
		}
		if err != nil {
			if c != nil {
				r = withUserLanguage(r, c.User.Language)
			}
			s.writeError(w, r, err)
		}
	}))
}

// list registers a list route and the filters it accepts besides q, limit
// and cursor.
func (s *Server) list(pattern string, h authedFunc, filters ...string) {
	s.queries[pattern] = append([]string{"q", "limit", "cursor"}, filters...)
	s.authed(pattern, h)
}

// queried registers a route that is not a list but reads the given query
// parameters (and refuses any other).
func (s *Server) queried(pattern string, h authedFunc, params ...string) {
	s.queries[pattern] = params
	s.authed(pattern, h)
}

// queriedPublic registers a route anyone may call that reads the given
// query parameters.
func (s *Server) queriedPublic(pattern string, h handlerFunc, params ...string) {
	s.queries[pattern] = params
	s.public(pattern, h)
}

// otherMethods registers the 405 answer for the methods path does not
// serve. A path with a fixed segment where another has a wildcard (POST
// /api/v1/messages/send beside GET /api/v1/messages/{id}) cannot take a
// method-less pattern, which ServeMux finds in conflict with the other's:
// it gets one pattern per method instead.
func (s *Server) otherMethods(path string, methods []string) {
	h := s.methodNotAllowed(methods)
	if !s.shadowsWildcard(path) {
		s.mux.Handle(path, h)
		return
	}
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if !slices.Contains(methods, m) {
			s.mux.Handle(m+" "+path, h)
		}
	}
}

// shadowsWildcard reports whether another registered path matches some of
// path's requests with a wildcard where path has a fixed segment.
func (s *Server) shadowsWildcard(path string) bool {
	segs := strings.Split(path, "/")
	for other := range s.methods {
		o := strings.Split(other, "/")
		if other == path || len(o) != len(segs) {
			continue
		}
		overlap, shadow := true, false
		for i := range segs {
			wp, wo := strings.HasPrefix(segs[i], "{"), strings.HasPrefix(o[i], "{")
			switch {
			case wo && !wp:
				shadow = true
			case !wo && !wp && o[i] != segs[i]:
				overlap = false
			}
		}
		if overlap && shadow {
			return true
		}
	}
	return false
}

func (s *Server) methodNotAllowed(methods []string) http.Handler {
	allow := slices.Clone(methods)
	if slices.Contains(allow, http.MethodGet) {
		allow = append(allow, http.MethodHead)
	}
	slices.Sort(allow)
	allowed := strings.Join(allow, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allowed)
		writeJSON(w, http.StatusMethodNotAllowed, errorBody{Error: &Error{Status: http.StatusMethodNotAllowed, Code: codeMethodNotAllowed,
			Message: r.Method + " is not supported here; use " + allowed + "."}})
	})
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // answers are JSON, never HTML; keep "<token>" readable
	if err := enc.Encode(v); err != nil {
		// Only a bug gets here (a type that cannot be marshalled); the
		// recover middleware logs it.
		panic("api: encoding response: " + err.Error())
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// created answers 201 with the new record and where it lives.
func created(w http.ResponseWriter, location string, v any) error {
	w.Header().Set("Location", location)
	writeJSON(w, http.StatusCreated, v)
	return nil
}

// listBody is the envelope of every list.
type listBody[T any] struct {
	Data       []T    `json:"data"`
	NextCursor string `json:"next_cursor,omitempty"`
}

func writeList[T any](w http.ResponseWriter, p store.Page[T], clean func(T) T) error {
	out := make([]T, 0, len(p.Items))
	for _, it := range p.Items {
		out = append(out, clean(it))
	}
	writeJSON(w, http.StatusOK, listBody[T]{Data: out, NextCursor: p.NextCursor})
	return nil
}

// nonNil makes empty lists marshal as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// health answers whether the database does.
func (s *Server) health(w http.ResponseWriter, r *http.Request) error {
	if _, _, err := s.st.SchemaVersion(r.Context()); err != nil {
		s.log.LogAttrs(r.Context(), slog.LevelError, "health check failed", slog.String("request_id", requestID(r.Context())), slog.Any("err", err))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": codeUnavailable})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// ready answers 200 when the server can do its work: the database answers
// and its schema is the one this binary needs. A load balancer sends no
// traffic to a process that is not (while a migration runs, say); the
// reason is for the operator and names no address or secret.
func (s *Server) ready(w http.ResponseWriter, r *http.Request) error {
	cur, latest, err := s.st.SchemaVersion(r.Context())
	reason := ""
	switch {
	case err != nil:
		s.log.LogAttrs(r.Context(), slog.LevelError, "readiness check failed", slog.String("request_id", requestID(r.Context())), slog.Any("err", err))
		reason = "The database does not answer."
	default:
		if err := store.RequireCurrent(r.Context(), s.st); err != nil {
			reason = strings.TrimPrefix(strings.TrimPrefix(err.Error(), store.ErrSchemaBehind.Error()+": "), store.ErrSchemaAhead.Error()+": ")
		}
	}
	if reason != "" {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": codeUnavailable, "reason": reason,
			"schema_version": cur, "schema_wanted": latest})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "schema_version": cur, "schema_wanted": latest})
	return nil
}

// metrics serves the process's metrics, when it keeps any.
func (s *Server) metrics(w http.ResponseWriter, r *http.Request) error {
	if s.cfg.Metrics == nil {
		return &Error{Status: http.StatusNotFound, Code: codeNotFound, Message: "Metrics are not enabled on this server."}
	}
	s.cfg.Metrics.ServeHTTP(w, r)
	return nil
}
