package web

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/auth/limit"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/i18n"
	"github.com/crmsync/crmsync/internal/signin"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/users"
)

type loginData struct {
	Email string
	Next  string
	Error string
	// SSO are the single sign-on buttons (OpenID Connect) shown under
	// the form.
	SSO []ssoButton
}

// safeNext keeps a ?next= that is a path of this app, nothing else (no
// other site after sign-in).
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.HasPrefix(next, "/login") {
		return "/"
	}
	return next
}

func (s *Server) loginPage(p *Page) error {
	if p.SignedIn() {
		p.Redirect(safeNext(p.R.URL.Query().Get("next")))
		return nil
	}
	next := safeNext(p.R.URL.Query().Get("next"))
	return p.Render("login", loginData{Next: next, SSO: s.ssoButtons(p, next)})
}

func (s *Server) loginSubmit(p *Page) error {
	email := strings.TrimSpace(p.R.PostFormValue("email"))
	d := loginData{Email: email, Next: safeNext(p.R.PostFormValue("next"))}
	user, err := s.cfg.SignIn.Password(p.Ctx(), email, p.R.PostFormValue("password"), p.Client)
	var refused *limit.Refused
	switch {
	case errors.Is(err, signin.ErrBadCredentials):
		d.Error = p.P.T("login.failed")
	case errors.Is(err, signin.ErrDeactivated):
		d.Error = p.P.T("login.deactivated")
	case errors.As(err, &refused):
		d.Error = p.P.T("login.too_many", "Wait", waitWords(p.P, refused.RetryAfter))
	case err != nil:
		return err
	}
	if d.Error != "" {
		d.SSO = s.ssoButtons(p, d.Next)
		return p.RenderStatus(http.StatusUnauthorized, "login", d)
	}
	// With two-factor authentication the password opens no session: the
	// browser keeps a sealed, expiring note of who is half-way, and the
	// code page finishes (login_2fa.go).
	on, err := s.cfg.SignIn.HasTwoFactor(p.Ctx(), user)
	if err != nil {
		return err
	}
	if on {
		return s.beginSecondStep(p, user, d.Next)
	}
	return s.startSession(p, user.Language, func() (signin.Session, error) {
		return s.cfg.SignIn.StartSession(p.Ctx(), user, p.Client)
	}, d.Next)
}

// startSession opens the session, sets its cookie and goes on to next —
// or to the security page when the organisation requires two-factor
// authentication the user has not set up (they can do nothing else).
func (s *Server) startSession(p *Page, _ string, open func() (signin.Session, error), next string) error {
	sess, err := open()
	if err != nil {
		return err
	}
	p.SetSession(sess)
	if must, err := s.cfg.SignIn.MustEnrol(p.Ctx(), sess.User); err != nil {
		return err
	} else if must {
		next = securityPath
	}
	p.Redirect(next)
	return nil
}

func (s *Server) logout(p *Page) error {
	if err := s.cfg.Store.RevokeToken(p.Ctx(), p.Viewer.OrgID, p.User.ID, p.Session.ID, s.cfg.Now()); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	p.ClearSession()
	p.Redirect("/login")
	return nil
}

// waitWords says a wait in the user's language, rounded up to seconds or
// minutes.
func waitWords(pr *i18n.Printer, d time.Duration) string {
	if d < time.Minute {
		return pr.N("wait.seconds", max(1, int((d+time.Second-1)/time.Second)))
	}
	return pr.N("wait.minutes", int((d+time.Minute-1)/time.Minute))
}

func (s *Server) home(p *Page) error {
	return p.Render("home", nil)
}

type settingsData struct {
	Language string
}

func (s *Server) settingsPage(p *Page) error {
	return p.Render("settings", settingsData{Language: p.User.Language})
}

func (s *Server) settingsSubmit(p *Page) error {
	// The users service checks the language, as for the API's PATCH.
	lang := p.R.PostFormValue("language")
	var fe *crm.FieldError
	if _, err := s.cfg.Users.Update(p.Ctx(), p.Viewer, p.User.ID, users.Changes{Language: &lang}); errors.As(err, &fe) {
		return &FormError{Message: fmt.Sprintf("%s: %q", p.P.T("settings.language"), lang)}
	} else if err != nil {
		return err
	}
	p.Flash("settings.saved")
	p.Redirect("/settings")
	return nil
}
