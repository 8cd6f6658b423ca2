package web

import (
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync/internal/access"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/signin"
	"github.com/crmsync/crmsync/internal/store"
)

// The security area: a user's two-factor authentication (TOTP and
// recovery codes), app passwords (API tokens) and sessions on
// /settings/security, the organisation's policy on /admin/security, and
// the second step of sign-in (security_login.go). The workflows are
// package signin's and package access's, which the REST API calls too.

// securityRoutes registers the pages of this area (see routes in web.go).
func (s *Server) securityRoutes() {
	s.anon("GET /login/2fa", s.login2FAPage)
	s.anon("POST /login/2fa", s.login2FASubmit)

	s.authed("GET /settings/security", s.securityPage)
	s.authed("POST /settings/security/2fa", s.securityStartTOTP)
	s.authed("POST /settings/security/2fa/confirm", s.securityConfirmTOTP)
	s.authed("POST /settings/security/2fa/disable", s.securityDisableTOTP)
	s.authed("POST /settings/security/2fa/recovery-codes", s.securityRecoveryCodes)
	s.authed("POST /settings/security/tokens", s.securityCreateToken)
	s.authed("POST /settings/security/tokens/{id}/revoke", s.securityRevokeToken)
	s.authed("POST /settings/security/sessions/{id}/revoke", s.securityEndSession)
	s.authed("POST /settings/security/sessions/revoke-all", s.securitySignOutEverywhere)

	s.admin("GET /admin/security", s.adminSecurityPage)
	s.admin("POST /admin/security", s.adminSecuritySubmit)
}

// enrolmentGate keeps a user whose organisation requires two-factor
// authentication they have not set up on the security page: every other
// page sends them there (a form is refused). It reports whether it
// answered.
func (s *Server) enrolmentGate(p *Page) bool {
	path := p.R.URL.Path
	if path == securityPath || strings.HasPrefix(path, securityPath+"/2fa") || path == "/logout" {
		return false
	}
	must, err := s.cfg.SignIn.MustEnrol(p.Ctx(), p.User)
	if err != nil {
		s.fail(p, err)
		return true
	}
	if !must {
		return false
	}
	if p.R.Method == http.MethodGet || p.R.Method == http.MethodHead {
		p.Redirect(securityPath)
		return true
	}
	s.renderError(p, http.StatusForbidden, "security.must_enrol")
	return true
}

type securityData struct {
	State signin.TwoFactorState
	// Enrolment is the TOTP set-up in progress (QR code and key).
	Enrolment *enrolmentView
	// RecoveryCodes are shown once, just after they were made.
	RecoveryCodes []string
	// NewToken is an app password just made: its secret is shown once.
	NewToken *access.IssuedToken
	Tokens   []crm.Token
	Sessions []crm.Token
	Current  int64
	// Error is a refused form's message; Form names the form.
	Error     string
	Form      string
	TokenName string
	MaxTokens int
}

type enrolmentView struct {
	QR  template.URL
	Key string
}

func (s *Server) securityData(p *Page) (*securityData, error) {
	d := &securityData{Current: p.Session.ID, MaxTokens: crm.MaxAPITokensPerUser}
	var err error
	if d.State, err = s.cfg.SignIn.TwoFactor(p.Ctx(), p.User); err != nil {
		return nil, err
	}
	if d.State.Pending {
		e, err := s.cfg.SignIn.PendingTOTP(p.Ctx(), p.User)
		if err != nil {
			return nil, err
		}
		d.Enrolment = &enrolmentView{QR: template.URL("data:image/png;base64," + base64.StdEncoding.EncodeToString(e.QRCode)), Key: e.Grouped()}
	}
	now := s.cfg.Now()
	if d.Tokens, err = access.APITokens(p.Ctx(), s.cfg.Store, p.User, now); err != nil {
		return nil, err
	}
	if d.Sessions, err = access.Sessions(p.Ctx(), s.cfg.Store, p.User, now); err != nil {
		return nil, err
	}
	return d, nil
}

func (s *Server) securityPage(p *Page) error {
	d, err := s.securityData(p)
	if err != nil {
		return err
	}
	return p.Render("security", d)
}

// securityRefused shows the page again with a form's error.
func (s *Server) securityRefused(p *Page, status int, form, msg string) error {
	d, err := s.securityData(p)
	if err != nil {
		return err
	}
	d.Form, d.Error = form, msg
	d.TokenName = p.R.PostFormValue("name")
	return p.RenderStatus(status, "security", d)
}

func (s *Server) securityStartTOTP(p *Page) error {
	_, err := s.cfg.SignIn.BeginTOTP(p.Ctx(), p.User)
	switch {
	case errors.Is(err, signin.ErrTwoFactorOn):
		p.Redirect(securityPath)
		return nil
	case errors.Is(err, signin.ErrNoKeys):
		return s.securityRefused(p, http.StatusServiceUnavailable, "totp", p.P.T("security.no_keys"))
	case err != nil:
		return err
	}
	p.Redirect(securityPath + "#two-factor")
	return nil
}

func (s *Server) securityConfirmTOTP(p *Page) error {
	codes, err := s.cfg.SignIn.ConfirmTOTP(p.Ctx(), p.User, p.R.PostFormValue("code"), p.Client)
	if errors.Is(err, signin.ErrNotEnrolling) {
		p.Redirect(securityPath)
		return nil
	}
	if err != nil {
		msg, ok := securityCodeError(p, err)
		if !ok {
			return err
		}
		return s.securityRefused(p, http.StatusUnprocessableEntity, "confirm", msg)
	}
	d, err := s.securityData(p)
	if err != nil {
		return err
	}
	d.RecoveryCodes = codes
	return p.Render("security", d)
}

func (s *Server) securityDisableTOTP(p *Page) error {
	st, err := s.cfg.SignIn.TwoFactor(p.Ctx(), p.User)
	if err != nil {
		return err
	}
	if st.Required {
		return s.securityRefused(p, http.StatusForbidden, "disable", p.P.T("security.disable_required"))
	}
	if err := s.cfg.SignIn.ProveIdentity(p.Ctx(), p.User, p.R.PostFormValue("code"), p.R.PostFormValue("password"), p.Client); err != nil {
		msg, ok := securityCodeError(p, err)
		if !ok {
			return err
		}
		return s.securityRefused(p, http.StatusUnprocessableEntity, "disable", msg)
	}
	if err := s.cfg.SignIn.DisableTOTP(p.Ctx(), p.User); err != nil && !errors.Is(err, signin.ErrNoTwoFactor) {
		return err
	}
	p.Flash("security.disabled")
	p.Redirect(securityPath)
	return nil
}

func (s *Server) securityRecoveryCodes(p *Page) error {
	codes, err := s.cfg.SignIn.RegenerateRecoveryCodes(p.Ctx(), p.User)
	if errors.Is(err, signin.ErrNoTwoFactor) {
		p.Redirect(securityPath)
		return nil
	}
	if err != nil {
		return err
	}
	d, err := s.securityData(p)
	if err != nil {
		return err
	}
	d.RecoveryCodes = codes
	return p.Render("security", d)
}

func (s *Server) securityCreateToken(p *Page) error {
	name, err := access.TokenName(p.R.PostFormValue("name"))
	switch {
	case errors.Is(err, access.ErrTokenNameRequired):
		return s.securityRefused(p, http.StatusUnprocessableEntity, "token", p.P.T("security.token_name_required"))
	case errors.Is(err, access.ErrTokenNameTooLong):
		return s.securityRefused(p, http.StatusUnprocessableEntity, "token", p.P.T("security.token_name_long", "Max", access.MaxTokenName))
	}
	tok, err := access.IssueAPIToken(p.Ctx(), s.cfg.Store, p.User, name, s.cfg.Now())
	if errors.Is(err, store.ErrTokenLimit) {
		return s.securityRefused(p, http.StatusConflict, "token", p.P.T("security.token_limit", "Max", crm.MaxAPITokensPerUser))
	}
	if err != nil {
		return err
	}
	d, err := s.securityData(p)
	if err != nil {
		return err
	}
	d.NewToken = &tok
	return p.Render("security", d)
}

func securityID(p *Page) (int64, error) {
	id, err := strconv.ParseInt(p.R.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, ErrNotFound
	}
	return id, nil
}

func (s *Server) securityRevokeToken(p *Page) error {
	id, err := securityID(p)
	if err != nil {
		return err
	}
	// Only an API token of the user: a session id is not one.
	toks, err := access.APITokens(p.Ctx(), s.cfg.Store, p.User, s.cfg.Now())
	if err != nil {
		return err
	}
	found := false
	for _, t := range toks {
		found = found || t.ID == id
	}
	if !found {
		return ErrNotFound
	}
	if err := access.RevokeAPIToken(p.Ctx(), s.cfg.Store, p.User, id, s.cfg.Now()); err != nil {
		return err
	}
	p.Flash("security.token_revoked")
	p.Redirect(securityPath + "#app-passwords")
	return nil
}

func (s *Server) securityEndSession(p *Page) error {
	id, err := securityID(p)
	if err != nil {
		return err
	}
	if err := access.EndSession(p.Ctx(), s.cfg.Store, p.User, id, s.cfg.Now()); err != nil {
		return err
	}
	if id == p.Session.ID {
		p.ClearSession()
		p.Redirect("/login")
		return nil
	}
	p.Flash("security.session_ended")
	p.Redirect(securityPath + "#sessions")
	return nil
}

func (s *Server) securitySignOutEverywhere(p *Page) error {
	if _, err := access.SignOutEverywhere(p.Ctx(), s.cfg.Store, p.User, 0, s.cfg.Now()); err != nil {
		return err
	}
	p.ClearSession()
	p.Flash("security.signed_out_everywhere")
	p.Redirect("/login")
	return nil
}

type adminSecurityData struct {
	RequireTwoFactor bool
}

func (s *Server) adminSecurityPage(p *Page) error {
	pol, err := s.cfg.Store.SecurityPolicy(p.Ctx(), p.Viewer.OrgID)
	if err != nil {
		return err
	}
	return p.Render("admin_security", adminSecurityData{RequireTwoFactor: pol.RequireTwoFactor})
}

func (s *Server) adminSecuritySubmit(p *Page) error {
	if err := s.cfg.SignIn.SetRequireTwoFactor(p.Ctx(), p.Viewer.OrgID, p.R.PostFormValue("require_two_factor") == "on"); err != nil {
		return err
	}
	p.Flash("security.policy_saved")
	// An admin without two-factor authentication who just required it
	// goes to set it up: it is the one page left to them.
	if must, err := s.cfg.SignIn.MustEnrol(p.Ctx(), p.User); err != nil {
		return err
	} else if must {
		p.Redirect(securityPath)
		return nil
	}
	p.Redirect("/admin/security")
	return nil
}
