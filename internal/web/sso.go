package web

// Single sign-on (OpenID Connect) in the web app: the sign-in page's
// buttons, the way to the organisation's provider and back, the admin's
// page (/admin/sso), and the password an SSO user may set for clients
// that cannot sign in through the provider (/settings/password). The
// workflow is package sso's, shared with the REST API.

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/signin"
	"github.com/crmsync/crmsync/internal/sso"
)

// ssoButton is a "Sign in with …" button of the sign-in page: a link
// that starts single sign-on.
type ssoButton struct {
	Label string // already in the user's language
	URL   string
}

// ssoStateCookie carries the state of the sign-in this browser started,
// to the callback only: a provider's redirect carried to another browser
// (a link sent to a victim, to sign them in as someone else) is refused.
const ssoStateCookie = "crmsync_sso"

// ssoButtons lists the sign-in page's single sign-on buttons. The page
// does not know the organisation before sign-in: on a server with one
// organisation that set it up, "Sign in with <provider>"; on a server
// with several, "Sign in with single sign-on", which asks for the email
// first (DESIGN.md, "Single sign-on").
func (s *Server) ssoButtons(p *Page, next string) []ssoButton {
	if s.cfg.SSO == nil {
		return nil
	}
	lone, any, err := s.cfg.SSO.SignInChoices(p.Ctx())
	if err != nil {
		s.log.LogAttrs(p.Ctx(), slog.LevelWarn, "listing single sign-on providers", slog.Any("err", err))
		return nil
	}
	q := ""
	if next != "/" {
		q = "?next=" + url.QueryEscape(next)
	}
	switch {
	case lone != nil:
		return []ssoButton{{Label: p.P.T("sso.button", "Name", lone.Name), URL: "/sso/start" + q}}
	case any:
		return []ssoButton{{Label: p.P.T("sso.button_email"), URL: "/sso" + q}}
	}
	return nil
}

// ssoRoutes registers the area's pages (see routes in web.go).
func (s *Server) ssoRoutes() {
	s.anon("GET /sso", s.ssoEmailPage)
	s.anon("POST /sso", s.ssoEmailSubmit)
	s.anon("GET /sso/start", s.ssoStart)
	s.anon("GET "+sso.CallbackPath, s.ssoCallback)
	s.admin("GET /admin/sso", s.adminSSOPage)
	s.admin("POST /admin/sso", s.adminSSOSave)
	s.admin("POST /admin/sso/test", s.adminSSOTest)
	s.admin("POST /admin/sso/delete", s.adminSSODelete)
	s.authed("GET /settings/password", s.passwordPage)
	s.authed("POST /settings/password", s.passwordSubmit)
}

func (s *Server) ssoService() (*sso.Service, error) {
	if s.cfg.SSO == nil {
		return nil, ErrNotFound
	}
	return s.cfg.SSO, nil
}

type ssoEmailData struct {
	Email, Next, Error string
}

// ssoFormAction lets the email form's answer redirect to the provider: a
// browser applies form-action to the redirects that follow a form, and
// the provider is another site. Only this page gets it.
const ssoFormAction = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self' https: http://127.0.0.1:* http://localhost:* http://[::1]:*"

func (s *Server) ssoEmailPage(p *Page) error {
	if _, err := s.ssoService(); err != nil {
		return err
	}
	next := safeNext(p.R.URL.Query().Get("next"))
	if p.SignedIn() {
		p.Redirect(next)
		return nil
	}
	p.W.Header().Set("Content-Security-Policy", ssoFormAction)
	return p.Render("sso_email", ssoEmailData{Next: next})
}

func (s *Server) ssoEmailSubmit(p *Page) error {
	svc, err := s.ssoService()
	if err != nil {
		return err
	}
	d := ssoEmailData{Email: strings.TrimSpace(p.R.PostFormValue("email")), Next: safeNext(p.R.PostFormValue("next"))}
	started, err := svc.StartForEmail(p.Ctx(), d.Email, d.Next)
	if err != nil {
		status, msg, ferr := s.ssoRefusal(p, err)
		if ferr != nil {
			return ferr
		}
		d.Error = msg
		p.W.Header().Set("Content-Security-Policy", ssoFormAction)
		return p.RenderStatus(status, "sso_email", d)
	}
	s.toProvider(p, started)
	return nil
}

// ssoStart sends the browser to the provider of the server's one
// organisation (the sign-in page's "Sign in with <provider>").
func (s *Server) ssoStart(p *Page) error {
	svc, err := s.ssoService()
	if err != nil {
		return err
	}
	next := safeNext(p.R.URL.Query().Get("next"))
	lone, _, err := svc.SignInChoices(p.Ctx())
	if err != nil {
		return err
	}
	if lone == nil {
		p.Redirect("/sso?next=" + url.QueryEscape(next))
		return nil
	}
	started, err := svc.Start(p.Ctx(), lone.OrgID, next)
	if err != nil {
		return s.ssoFailed(p, err)
	}
	s.toProvider(p, started)
	return nil
}

// toProvider keeps the sign-in's state in this browser and sends it to
// the provider.
func (s *Server) toProvider(p *Page, started sso.Started) {
	http.SetCookie(p.W, &http.Cookie{Name: ssoStateCookie, Value: started.State, Path: sso.CallbackPath,
		MaxAge: int(sso.StateLifetime.Seconds()), HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	http.Redirect(p.W, p.R, started.URL, http.StatusSeeOther)
}

// ssoCallback is where the provider sends the browser back: the sign-in
// is finished by package sso and the session opened at once (no
// password; a second factor is the provider's business).
func (s *Server) ssoCallback(p *Page) error {
	svc, err := s.ssoService()
	if err != nil {
		return err
	}
	bound := ""
	if c, err := p.R.Cookie(ssoStateCookie); err == nil {
		bound = c.Value
	}
	http.SetCookie(p.W, &http.Cookie{Name: ssoStateCookie, Value: "", Path: sso.CallbackPath, MaxAge: -1,
		HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
	res, err := svc.Finish(p.Ctx(), p.R.URL.Query(), bound)
	if err != nil {
		return s.ssoFailed(p, err)
	}
	return s.startSession(p, res.User.Language, func() (signin.Session, error) {
		return s.cfg.SignIn.StartSession(p.Ctx(), res.User, p.Client)
	}, safeNext(res.Next))
}

// ssoFailed shows a refused sign-in on the sign-in page, in words.
func (s *Server) ssoFailed(p *Page, err error) error {
	status, msg, ferr := s.ssoRefusal(p, err)
	if ferr != nil {
		return ferr
	}
	return p.RenderStatus(status, "login", loginData{Next: "/", Error: msg, SSO: s.ssoButtons(p, "/")})
}

// ssoRefusal says a refusal of package sso (or the provider's
// unreachability) in the user's language; anything else is returned as
// it is (a 500).
func (s *Server) ssoRefusal(p *Page, err error) (int, string, error) {
	var e *sso.Error
	if errors.As(err, &e) {
		status := http.StatusForbidden
		var msg string
		switch e.Code {
		case sso.CodeStateInvalid:
			status, msg = http.StatusBadRequest, p.P.T("sso.error.state")
		case sso.CodeDenied:
			msg = p.P.T("sso.error.denied")
		case sso.CodeTokenInvalid:
			status, msg = http.StatusBadGateway, p.P.T("sso.error.token")
		case sso.CodeUnverified:
			msg = p.P.T("sso.error.unverified")
		case sso.CodeNotMember:
			msg = p.P.T("sso.error.not_member", "Email", e.Email)
		case sso.CodeDeactivated:
			msg = p.P.T("sso.error.deactivated")
		case sso.CodeNotConfigured:
			status, msg = http.StatusUnprocessableEntity, p.P.T("sso.error.not_configured")
			if e.Field == "email" {
				msg = p.P.T("sso.error.no_sso_for_email")
			}
		case sso.CodeDiscovery:
			status, msg = http.StatusBadGateway, p.P.T("sso.error.discovery")
		default:
			status, msg = http.StatusUnprocessableEntity, e.Message
		}
		return status, msg, nil
	}
	if ce := connerr.As(err); ce != nil {
		return http.StatusBadGateway, p.P.Coded(string(ce.Kind), connerr.Message(ce)), nil
	}
	return 0, "", err
}

// The admin's page.

type adminSSOData struct {
	Configured  bool
	View        sso.View
	RedirectURI string
	Name        string
	Issuer      string
	ClientID    string
	Error       string
	ErrorField  string
	Discovery   *sso.Discovery
}

func (s *Server) adminSSOData(p *Page) (adminSSOData, error) {
	svc, err := s.ssoService()
	if err != nil {
		return adminSSOData{}, err
	}
	d := adminSSOData{RedirectURI: svc.RedirectURI()}
	v, err := svc.Get(p.Ctx(), p.Viewer.OrgID)
	var e *sso.Error
	switch {
	case err == nil:
		d.Configured, d.View, d.Name, d.Issuer, d.ClientID = true, v, v.Name, v.Issuer, v.ClientID
	case errors.As(err, &e) && e.Code == sso.CodeNotConfigured:
	default:
		return d, err
	}
	return d, nil
}

func (s *Server) adminSSOPage(p *Page) error {
	d, err := s.adminSSOData(p)
	if err != nil {
		return err
	}
	return p.Render("sso_admin", d)
}

func (s *Server) adminSSOSave(p *Page) error {
	d, err := s.adminSSOData(p)
	if err != nil {
		return err
	}
	in := sso.Input{Name: p.R.PostFormValue("name"), Issuer: p.R.PostFormValue("issuer"),
		ClientID: p.R.PostFormValue("client_id"), ClientSecret: p.R.PostFormValue("client_secret")}
	if _, err := s.cfg.SSO.Set(p.Ctx(), p.Viewer.OrgID, in); err != nil {
		d.Name, d.Issuer, d.ClientID = in.Name, in.Issuer, in.ClientID
		var e *sso.Error
		if errors.As(err, &e) && (e.Code == sso.CodeRequired || e.Code == sso.CodeInvalid) {
			d.ErrorField = e.Field
			d.Error = p.P.T("sso.admin.error."+e.Code, "Field", p.P.T("sso.admin."+e.Field))
			if e.Field == "issuer" && e.Code == sso.CodeInvalid {
				d.Error = p.P.T("sso.admin.error.issuer")
			}
			return p.RenderStatus(http.StatusUnprocessableEntity, "sso_admin", d)
		}
		status, msg, ferr := s.ssoRefusal(p, err)
		if ferr != nil {
			return ferr
		}
		if errors.As(err, &e) && e.Code == sso.CodeDiscovery {
			msg = p.P.T("sso.admin.error.discovery", "Issuer", in.Issuer)
		}
		d.Error, d.ErrorField = msg, "issuer"
		return p.RenderStatus(status, "sso_admin", d)
	}
	p.Flash("sso.admin.saved")
	p.Redirect("/admin/sso")
	return nil
}

func (s *Server) adminSSOTest(p *Page) error {
	d, err := s.adminSSOData(p)
	if err != nil {
		return err
	}
	disc, err := s.cfg.SSO.Test(p.Ctx(), p.Viewer.OrgID)
	if err != nil {
		status, msg, ferr := s.ssoRefusal(p, err)
		if ferr != nil {
			return ferr
		}
		d.Error = msg
		return p.RenderStatus(status, "sso_admin", d)
	}
	d.Discovery = &disc
	return p.Render("sso_admin", d)
}

func (s *Server) adminSSODelete(p *Page) error {
	if _, err := s.ssoService(); err != nil {
		return err
	}
	if err := s.cfg.SSO.Delete(p.Ctx(), p.Viewer.OrgID); err != nil {
		var e *sso.Error
		if !errors.As(err, &e) || e.Code != sso.CodeNotConfigured {
			return err
		}
	}
	p.Flash("sso.admin.removed")
	p.Redirect("/admin/sso")
	return nil
}

// The password of a user who signs in through single sign-on.

type passwordData struct {
	HasPassword bool
	Error       string
}

func (s *Server) passwordPage(p *Page) error {
	has, err := s.cfg.SignIn.HasPassword(p.Ctx(), p.User)
	if err != nil {
		return err
	}
	return p.Render("sso_password", passwordData{HasPassword: has})
}

func (s *Server) passwordSubmit(p *Page) error {
	pw, again := p.R.PostFormValue("password"), p.R.PostFormValue("password_again")
	d := passwordData{}
	if pw != again {
		d.Error = p.P.T("sso.password.mismatch")
		return p.RenderStatus(http.StatusUnprocessableEntity, "sso_password", d)
	}
	err := s.cfg.SignIn.SetFirstPassword(p.Ctx(), p.User, pw)
	switch {
	case errors.Is(err, auth.ErrWeakPassword):
		d.Error = p.P.T("sso.password.weak", "Min", auth.MinPasswordLength)
		return p.RenderStatus(http.StatusUnprocessableEntity, "sso_password", d)
	case errors.Is(err, signin.ErrHasPassword):
		d.HasPassword = true
		return p.RenderStatus(http.StatusConflict, "sso_password", d)
	case err != nil:
		return err
	}
	p.Flash("sso.password.saved")
	p.Redirect("/settings/password")
	return nil
}
