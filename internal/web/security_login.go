package web

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/crmsync/crmsync/internal/auth/limit"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/signin"
)

// The second step of a sign-in with two-factor authentication. After the
// right password the browser gets no session but a cookie holding the
// sign-in's pending state, sealed by package signin with the server's
// key for this one purpose and expiring after signin.PendingTTL; the code
// page opens it, checks the code (or a recovery code) and only then
// starts the session.

const pendingCookie = "crmsync_2fa"

// securityPath is the page where users set up two-factor authentication.
const securityPath = "/settings/security"

func (s *Server) beginSecondStep(p *Page, u crm.User, next string) error {
	v, err := s.cfg.SignIn.PendingSecondStep(u)
	if err != nil {
		return err
	}
	http.SetCookie(p.W, &http.Cookie{Name: pendingCookie, Value: v, Path: "/login", MaxAge: int(signin.PendingTTL.Seconds()),
		HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	p.Redirect("/login/2fa?next=" + url.QueryEscape(next))
	return nil
}

func (s *Server) clearPending(p *Page) {
	http.SetCookie(p.W, &http.Cookie{Name: pendingCookie, Value: "", Path: "/login", MaxAge: -1,
		HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
}

// pendingUser is who is half-way through signing in, or an error the
// page says (expired: sign in again).
func (s *Server) pendingUser(p *Page) (crm.User, error) {
	c, err := p.R.Cookie(pendingCookie)
	if err != nil {
		return crm.User{}, signin.ErrPendingExpired
	}
	return s.cfg.SignIn.OpenSecondStep(p.Ctx(), c.Value)
}

type login2FAData struct {
	Next  string
	Error string
	// Recovery: the error is about the recovery code form.
	Recovery bool
}

func (s *Server) login2FAPage(p *Page) error {
	next := safeNext(p.R.URL.Query().Get("next"))
	if p.SignedIn() {
		p.Redirect(next)
		return nil
	}
	if _, err := s.pendingUser(p); err != nil {
		return s.pendingExpired(p, err)
	}
	return p.Render("login_2fa", login2FAData{Next: next})
}

func (s *Server) pendingExpired(p *Page, err error) error {
	if !errors.Is(err, signin.ErrPendingExpired) && !errors.Is(err, signin.ErrDeactivated) {
		return err
	}
	s.clearPending(p)
	if errors.Is(err, signin.ErrDeactivated) {
		return p.RenderStatus(http.StatusUnauthorized, "login", loginData{Error: p.P.T("login.deactivated"), Next: "/"})
	}
	p.Flash("security.login_expired")
	p.Redirect("/login")
	return nil
}

func (s *Server) login2FASubmit(p *Page) error {
	d := login2FAData{Next: safeNext(p.R.PostFormValue("next"))}
	u, err := s.pendingUser(p)
	if err != nil {
		return s.pendingExpired(p, err)
	}
	code, recovery := strings.TrimSpace(p.R.PostFormValue("code")), strings.TrimSpace(p.R.PostFormValue("recovery_code"))
	switch {
	case code != "":
		err = s.cfg.SignIn.CheckCode(p.Ctx(), u, code, p.Client)
	case recovery != "":
		d.Recovery = true
		err = s.cfg.SignIn.CheckRecoveryCode(p.Ctx(), u, recovery, p.Client)
	default:
		err = signin.ErrBadCode
	}
	if err != nil {
		msg, ok := securityCodeError(p, err)
		if !ok {
			return err
		}
		d.Error = msg
		return p.RenderStatus(http.StatusUnauthorized, "login_2fa", d)
	}
	s.clearPending(p)
	return s.startSession(p, u.Language, func() (signin.Session, error) {
		return s.cfg.SignIn.StartSession(p.Ctx(), u, p.Client)
	}, d.Next)
}

// securityCodeError says why a code was refused, in the user's language; ok is
// false for an error that is not about the code.
func securityCodeError(p *Page, err error) (string, bool) {
	var refused *limit.Refused
	switch {
	case errors.Is(err, signin.ErrBadCode):
		return p.P.T("security.code_wrong"), true
	case errors.Is(err, signin.ErrCodeUsed):
		return p.P.T("security.code_used"), true
	case errors.Is(err, signin.ErrBadRecoveryCode):
		return p.P.T("security.recovery_wrong"), true
	case errors.Is(err, signin.ErrBadCredentials):
		return p.P.T("security.password_wrong"), true
	case errors.As(err, &refused):
		return p.P.T("login.too_many", "Wait", waitWords(p.P, refused.RetryAfter)), true
	}
	return "", false
}
