package web

import (
	"errors"
	"net/http"
	"strings"

	"github.com/crmsync/crmsync/internal/i18n"
	"github.com/crmsync/crmsync/internal/oauth"
)

// The organisation's apps registered with Microsoft and Google, which
// users sign in through to connect their mailboxes. The client secret is
// sealed by the oauth service and never shown again: the form says
// whether one is kept, and an empty secret keeps it.

func (s *Server) adminOAuthRoutes() {
	s.admin("GET /admin/oauth", s.adminOAuth)
	s.admin("POST /admin/oauth/{provider}", s.adminOAuthSave)
	s.admin("POST /admin/oauth/{provider}/delete", s.adminOAuthDelete)
}

// oauthProviders are the providers the page offers, in its order.
var oauthProviders = []string{"microsoft", "google"}

// oauthApp is one provider's section of the page.
type oauthApp struct {
	Provider   string
	Display    string
	Configured bool
	App        oauth.AppView
	// Form values shown again after a refusal.
	ClientID, Tenant string
	Error, Field     string
}

type adminOAuthData struct {
	Enabled bool // the server signs in with providers at all
	Apps    []oauthApp
}

func (s *Server) adminOAuth(p *Page) error {
	return s.renderOAuth(p, http.StatusOK, nil)
}

// renderOAuth shows both apps; failed, when set, replaces one section by
// the form as the admin sent it, with its refusal.
func (s *Server) renderOAuth(p *Page, status int, failed *oauthApp) error {
	d := adminOAuthData{Enabled: s.cfg.OAuth != nil}
	if d.Enabled {
		for _, name := range oauthProviders {
			a := oauthApp{Provider: name, Display: s.cfg.OAuth.Display(name)}
			redirect, err := s.cfg.OAuth.RedirectURI(name)
			if err != nil {
				return err
			}
			v, err := s.cfg.OAuth.GetApp(p.Ctx(), p.Viewer.OrgID, name)
			var oe *oauth.Error
			switch {
			case err == nil:
				a.Configured, a.App, a.ClientID = true, v, v.ClientID
				if name == "microsoft" {
					a.Tenant = v.Tenant
				}
			case errors.As(err, &oe) && oe.Code == oauth.CodeNotConfigured:
			default:
				return err
			}
			a.App.RedirectURI = redirect
			if failed != nil && failed.Provider == name {
				a.ClientID, a.Tenant, a.Error, a.Field = failed.ClientID, failed.Tenant, failed.Error, failed.Field
			}
			d.Apps = append(d.Apps, a)
		}
	}
	return p.RenderStatus(status, "admin_oauth", d)
}

// oauthProvider reads the page's {provider}: one of ours, else a 404.
func (s *Server) oauthProvider(p *Page) (string, error) {
	name := p.R.PathValue("provider")
	for _, pr := range oauthProviders {
		if pr == name && s.cfg.OAuth != nil {
			return name, nil
		}
	}
	return "", ErrNotFound
}

func (s *Server) adminOAuthSave(p *Page) error {
	name, err := s.oauthProvider(p)
	if err != nil {
		return err
	}
	in := oauth.AppInput{ClientID: p.R.PostFormValue("client_id"), ClientSecret: strings.TrimSpace(p.R.PostFormValue("client_secret"))}
	if name == "microsoft" {
		in.Tenant = p.R.PostFormValue("tenant")
	}
	// The provider's addresses are not on the page (the API sets them,
	// for a national cloud or a test double): a change here keeps them.
	if cur, err := s.cfg.OAuth.GetApp(p.Ctx(), p.Viewer.OrgID, name); err == nil {
		in.LoginURL, in.GraphURL, in.AuthURL, in.TokenURL, in.APIURL = cur.LoginURL, cur.GraphURL, cur.AuthURL, cur.TokenURL, cur.APIURL
	}
	if _, err := s.cfg.OAuth.SetApp(p.Ctx(), p.Viewer.OrgID, name, in); err != nil {
		var oe *oauth.Error
		if !errors.As(err, &oe) {
			return err
		}
		msg := oe.Message
		if id := "admin.oauth.refused." + oe.Field; oe.Field != "" && i18n.Has(id) {
			msg = p.P.T(id)
		}
		return s.renderOAuth(p, http.StatusUnprocessableEntity, &oauthApp{Provider: name, ClientID: in.ClientID, Tenant: in.Tenant, Error: msg, Field: oe.Field})
	}
	p.Flash("admin.oauth.saved")
	p.Redirect("/admin/oauth")
	return nil
}

func (s *Server) adminOAuthDelete(p *Page) error {
	name, err := s.oauthProvider(p)
	if err != nil {
		return err
	}
	var oe *oauth.Error
	if err := s.cfg.OAuth.DeleteApp(p.Ctx(), p.Viewer.OrgID, name); err != nil && !(errors.As(err, &oe) && oe.Code == oauth.CodeNotConfigured) {
		return err
	}
	p.Flash("admin.oauth.removed")
	p.Redirect("/admin/oauth")
	return nil
}
