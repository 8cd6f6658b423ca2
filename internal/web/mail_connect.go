package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync/internal/accounts"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/oauth"
)

// Connecting a mailbox, in two steps as the seeds describe: the address
// and the mode (or a "Sign in with …" button), then, in sync mode, the
// settings crmsync found for the address (the organisation's mail
// service, else autoconfiguration) and the password; "Advanced settings"
// shows the servers to change them. When an admin has set the
// organisation's mail service, only the password is asked.

// serverForm is one server's fields of "Advanced settings".
type serverForm struct {
	Host     string
	Port     string
	SSL      bool
	Username string
}

// formOf is a server as the form shows it.
func formOf(st *crm.ServerSettings) serverForm {
	if st == nil {
		return serverForm{SSL: true}
	}
	return serverForm{Host: st.Host, Port: strconv.Itoa(st.Port), SSL: st.Security == "tls", Username: st.Username}
}

// key is the form's values in one string, to tell whether the user
// changed what was found.
func (f serverForm) key() string {
	return strings.Join([]string{strings.TrimSpace(f.Host), strings.TrimSpace(f.Port), strconv.FormatBool(f.SSL), strings.TrimSpace(f.Username)}, "|")
}

// request is the form as the accounts service takes it (nil without a
// host); SSL off is STARTTLS, an unencrypted login being for admins'
// trusted networks only. A port that is not a number is refused by the
// service's own check (as 0 would mean "the default").
func (f serverForm) request() *accounts.ServerSettingsRequest {
	if strings.TrimSpace(f.Host) == "" {
		return nil
	}
	r := &accounts.ServerSettingsRequest{Host: f.Host, Username: f.Username, Security: "starttls"}
	if f.SSL {
		r.Security = "tls"
	}
	if port := strings.TrimSpace(f.Port); port != "" {
		n, err := strconv.Atoi(port)
		if err != nil {
			n = -1
		}
		r.Port = n
	}
	return r
}

// serverFromForm reads a server's fields, named prefix_host, prefix_port…
func serverFromForm(p *Page, prefix string) serverForm {
	return serverForm{Host: p.R.PostFormValue(prefix + "_host"), Port: p.R.PostFormValue(prefix + "_port"),
		SSL: p.R.PostFormValue(prefix+"_ssl") == "on", Username: p.R.PostFormValue(prefix + "_username")}
}

// signInButton is a "Sign in with …" button.
type signInButton struct {
	Provider string
	Label    string
}

type mailNewData struct {
	Email   string
	Mode    string
	Error   string
	SignIn  []signInButton
	Forward bool // forwarding mode is offered
}

// signInButtons are the providers the organisation has registered an app
// for; none without the OAuth service.
func (s *Server) signInButtons(p *Page) ([]signInButton, error) {
	if s.cfg.OAuth == nil {
		return nil, nil
	}
	names, err := s.cfg.OAuth.SignInProviders(p.Ctx(), p.Viewer.OrgID)
	if err != nil {
		return nil, err
	}
	var out []signInButton
	for _, n := range names {
		out = append(out, signInButton{Provider: n, Label: p.P.T("mail.signin_with", "Provider", s.cfg.OAuth.Display(n))})
	}
	return out, nil
}

func (s *Server) mailNew(p *Page) error {
	email := p.R.URL.Query().Get("email")
	if email == "" {
		email = p.User.Email
	}
	return s.renderMailNew(p, http.StatusOK, mailNewData{Email: email, Mode: string(crm.ModeSync)})
}

func (s *Server) renderMailNew(p *Page, status int, d mailNewData) error {
	var err error
	if d.SignIn, err = s.signInButtons(p); err != nil {
		return err
	}
	d.Forward = s.cfg.DropboxDomain != ""
	return p.RenderStatus(status, "mail_new", d)
}

// mailConnectData is the second step: the settings found and the
// password.
type mailConnectData struct {
	Email string
	// Source says where the settings come from: org, or
	// autoconfiguration's (builtin, autoconfig, srv…); "" when nothing
	// was found and the user enters them.
	Source   string
	Provider string
	Detail   string
	Org      bool
	IMAP     serverForm
	SMTP     serverForm
	// Found are the values found, to tell on submit whether the user
	// changed them.
	FoundIMAP, FoundSMTP string
	Advanced             bool // "Advanced settings" open
	Error                string
}

// mailNewSubmit is the first step's answer: a forwarding-mode mailbox is
// connected at once (nothing to log in to); in sync mode the settings
// for the address are looked up and the password asked.
func (s *Server) mailNewSubmit(p *Page) error {
	d := mailNewData{Email: strings.TrimSpace(p.R.PostFormValue("email")), Mode: p.R.PostFormValue("mode")}
	if d.Mode == string(crm.ModeForward) {
		a, _, err := s.cfg.Accounts.ConnectMail(p.Ctx(), p.Viewer, accounts.MailConnectionRequest{Email: d.Email, Mode: crm.ModeForward})
		if msg := mailFailure(p, err); msg != nil {
			d.Error = *msg
			return s.renderMailNew(p, http.StatusUnprocessableEntity, d)
		} else if err != nil {
			return err
		}
		p.Flash("mail.connected")
		p.Redirect(mailPath(a.ID))
		return nil
	}
	email, err := crm.NormalizeEmail(d.Email)
	if err != nil {
		d.Error = p.P.T("mail.email_invalid")
		return s.renderMailNew(p, http.StatusUnprocessableEntity, d)
	}
	c := mailConnectData{Email: email}
	found, err := s.cfg.Accounts.MailSettingsFor(p.Ctx(), p.Viewer, email)
	switch {
	case errors.Is(err, accounts.ErrSettingsNotFound):
		c.Advanced, c.IMAP, c.SMTP = true, formOf(nil), formOf(nil)
		c.Error = p.P.Coded(accounts.CodeSettingsNotFound, "No server settings could be found for this address. Enter them in Advanced settings.")
		return p.Render("mail_connect", c)
	case err != nil:
		if msg := mailFailure(p, err); msg != nil {
			d.Error = *msg
			return s.renderMailNew(p, http.StatusUnprocessableEntity, d)
		}
		return err
	}
	c.Source, c.Provider, c.Detail, c.Org = found.Source, found.Provider, found.Hint, found.Source == "org"
	c.IMAP, c.SMTP = formOf(found.IMAP), formOf(found.SMTP)
	if found.SMTP == nil {
		c.SMTP = serverForm{SSL: true}
	}
	c.FoundIMAP, c.FoundSMTP = c.IMAP.key(), c.SMTP.key()
	return p.Render("mail_connect", c)
}

// mailConnect connects a sync-mode mailbox (accounts.Service.ConnectMail,
// as POST /api/v1/mail-accounts): servers changed in Advanced settings
// are given by hand; unchanged, the service finds them again as it would
// for the API.
func (s *Server) mailConnect(p *Page) error {
	c := mailConnectData{Email: p.R.PostFormValue("email"), Source: p.R.PostFormValue("source"), Org: p.R.PostFormValue("source") == "org",
		IMAP: serverFromForm(p, "imap"), SMTP: serverFromForm(p, "smtp"),
		FoundIMAP: p.R.PostFormValue("found_imap"), FoundSMTP: p.R.PostFormValue("found_smtp")}
	req := accounts.MailConnectionRequest{Email: c.Email, Password: p.R.PostFormValue("password"), Mode: crm.ModeSync}
	if !c.Org && (c.IMAP.key() != c.FoundIMAP || c.SMTP.key() != c.FoundSMTP) {
		req.IMAP, req.SMTP = c.IMAP.request(), c.SMTP.request()
		c.Advanced = true
	}
	a, _, err := s.cfg.Accounts.ConnectMail(p.Ctx(), p.Viewer, req)
	if msg := mailFailure(p, err); msg != nil {
		c.Error = *msg
		return p.RenderStatus(http.StatusUnprocessableEntity, "mail_connect", c)
	} else if err != nil {
		return err
	}
	p.Flash("mail.connected")
	p.Redirect(mailPath(a.ID))
	return nil
}

// mailSignIn starts signing in with a provider to connect the user's
// mailbox (oauth.Service.Start, as POST /api/v1/oauth/{provider}/start),
// and sends the browser to the provider. It is a link, not a form: the
// page's Content-Security-Policy lets forms post only to crmsync.
func (s *Server) mailSignIn(p *Page) error {
	if s.cfg.OAuth == nil {
		return ErrNotFound
	}
	u, err := s.cfg.OAuth.Start(p.Ctx(), oauth.StartRequest{OrgID: p.Viewer.OrgID, UserID: p.Viewer.UserID,
		Provider: p.R.PathValue("provider"), Services: []string{"mail"}, Mode: "sync"})
	var oe *oauth.Error
	if errors.As(err, &oe) {
		if oe.Code == oauth.CodeUnknownProvider || oe.Code == oauth.CodeNotConfigured {
			return ErrNotFound
		}
		return &FormError{Message: oe.Message}
	}
	if err != nil {
		return err
	}
	http.Redirect(p.W, p.R, u, http.StatusSeeOther)
	return nil
}
