package api

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"strings"

	"github.com/crmsync/crmsync/internal/accounts"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/oauth"
)

// OAuthAppRequest is the body of PUT /api/v1/org/oauth-apps/{provider}:
// tenant, login_url and graph_url are Microsoft's settings; auth_url,
// token_url and api_url Google's.
type OAuthAppRequest struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
	Tenant       string `json:"tenant"`
	LoginURL     string `json:"login_url"`
	GraphURL     string `json:"graph_url"`
	AuthURL      string `json:"auth_url"`
	TokenURL     string `json:"token_url"`
	APIURL       string `json:"api_url"`
}

// OAuthStartRequest is the body of POST /api/v1/oauth/{provider}/start.
type OAuthStartRequest struct {
	Services []string `json:"services"`
	Mode     string   `json:"mode"`
}

// oauthSignIn is the JSON answer of a finished sign-in. The credential is
// the id of the stored (sealed) token set, never a token.
type oauthSignIn struct {
	Provider     string   `json:"provider"`
	Email        string   `json:"email"`
	Services     []string `json:"services"`
	Mode         string   `json:"mode"`
	CredentialID string   `json:"credential_id"`
	// MailAccountID is the mailbox connected or reattached (absent when
	// mail was not asked for); Reattached says it was disconnected and
	// came back with its messages and links.
	MailAccountID *int64 `json:"mail_account_id,omitempty"`
	Reattached    bool   `json:"reattached"`
	// PIMAccountIDs are the accounts of the other services signed in for
	// (contacts, calendar, tasks), in the order asked.
	PIMAccountIDs []int64 `json:"pim_account_ids,omitempty"`
	// Notes say what was signed in for but not connected.
	Notes []string `json:"notes,omitempty"`
}

func (s *Server) oauthRoutes() {
	s.authed("GET /api/v1/org/oauth-apps/{provider}", s.getOAuthApp)
	s.authed("PUT /api/v1/org/oauth-apps/{provider}", s.putOAuthApp)
	s.authed("DELETE /api/v1/org/oauth-apps/{provider}", s.deleteOAuthApp)
	s.authed("POST /api/v1/oauth/{provider}/start", s.startOAuth)
	// The provider sends the browser back here: no bearer token, the
	// state says who.
	s.queriedPublic("GET /oauth/{provider}/callback", s.oauthCallback, "code", "state", "error", "error_description")
}

func (s *Server) oauthService() (*oauth.Service, error) {
	if s.cfg.OAuth == nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Message: "Signing in with a provider is not enabled on this server."}
	}
	return s.cfg.OAuth, nil
}

func (s *Server) getOAuthApp(w http.ResponseWriter, r *http.Request, c *caller) error {
	o, err := s.oauthService()
	if err != nil {
		return err
	}
	if !c.Viewer.CanAdminister() {
		return forbidden("Only an admin can see the organisation's sign-in apps.")
	}
	v, err := o.GetApp(r.Context(), c.Viewer.OrgID, r.PathValue("provider"))
	if err != nil {
		return oauthError(err)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) putOAuthApp(w http.ResponseWriter, r *http.Request, c *caller) error {
	o, err := s.oauthService()
	if err != nil {
		return err
	}
	if !c.Viewer.CanAdminister() {
		return forbidden("Only an admin can register the organisation's sign-in apps.")
	}
	var req OAuthAppRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	v, err := o.SetApp(r.Context(), c.Viewer.OrgID, r.PathValue("provider"), oauth.AppInput(req))
	if err != nil {
		return oauthError(err)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) deleteOAuthApp(w http.ResponseWriter, r *http.Request, c *caller) error {
	o, err := s.oauthService()
	if err != nil {
		return err
	}
	if !c.Viewer.CanAdminister() {
		return forbidden("Only an admin can remove the organisation's sign-in apps.")
	}
	if err := o.DeleteApp(r.Context(), c.Viewer.OrgID, r.PathValue("provider")); err != nil {
		return oauthError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) startOAuth(w http.ResponseWriter, r *http.Request, c *caller) error {
	o, err := s.oauthService()
	if err != nil {
		return err
	}
	var req OAuthStartRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	u, err := o.Start(r.Context(), oauth.StartRequest{OrgID: c.Viewer.OrgID, UserID: c.Viewer.UserID,
		Provider: r.PathValue("provider"), Services: req.Services, Mode: req.Mode})
	if err != nil {
		return oauthError(err)
	}
	writeJSON(w, http.StatusOK, map[string]string{"authorize_url": u})
	return nil
}

// oauthCallback finishes a sign-in. A browser is sent on to the web UI
// (303 to the public address; a refusal adds its code as oauth_error); a
// client that accepts JSON gets the result or the error as JSON.
func (s *Server) oauthCallback(w http.ResponseWriter, r *http.Request) error {
	o, err := s.oauthService()
	if err != nil {
		return err
	}
	var out oauthSignIn
	res, err := o.Finish(r.Context(), r.PathValue("provider"), r.URL.Query())
	if err != nil {
		err = oauthError(err)
	} else {
		out, err = s.connectSignIn(r.Context(), res)
	}
	if !acceptsJSON(r) {
		target := o.PublicURL() + "/"
		if err != nil {
			var ae *Error
			if !errors.As(err, &ae) {
				return err
			}
			target += "?oauth_error=" + ae.Code
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
		return nil
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// connectSignIn connects what a finished sign-in was for, as the user who
// started it (accounts.ConnectOAuth); the token set is deleted when
// nothing could be connected.
func (s *Server) connectSignIn(ctx context.Context, res *oauth.Result) (oauthSignIn, error) {
	out := oauthSignIn{Provider: res.Provider, Email: res.Email, Services: res.Services, Mode: res.Mode, CredentialID: res.CredentialID}
	u, err := s.cfg.Store.GetUser(ctx, res.OrgID, res.UserID)
	if err == nil && !u.Active {
		err = forbidden("Your user is deactivated: nothing was connected.")
	}
	if err != nil {
		_ = s.cfg.OAuth.DeleteTokens(context.WithoutCancel(ctx), res.OrgID, res.CredentialID)
		return out, err
	}
	v := crm.Viewer{OrgID: u.OrgID, UserID: u.ID, Role: u.Role}
	c, err := s.acc.ConnectOAuth(ctx, v, accounts.OAuthConnectionRequest{Provider: res.Provider, Email: res.Email,
		CredentialID: res.CredentialID, Services: res.Services})
	if err != nil {
		return out, accountError(err, "mail account")
	}
	if c.MailAccount != nil {
		id := c.MailAccount.ID
		out.MailAccountID, out.CredentialID = &id, c.MailAccount.CredentialID
	}
	for _, a := range c.PIMAccounts {
		out.PIMAccountIDs = append(out.PIMAccountIDs, a.ID)
	}
	out.Reattached, out.Notes = c.Reattached, c.Notes
	return out, nil
}

func acceptsJSON(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		if mt, _, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && mt == "application/json" {
			return true
		}
	}
	return false
}

// oauthError maps the oauth package's refusals and the provider's
// classified failures to answers; anything else is ours (500).
func oauthError(err error) error {
	var oe *oauth.Error
	if errors.As(err, &oe) {
		status := http.StatusUnprocessableEntity
		switch oe.Code {
		case oauth.CodeUnknownProvider:
			status = http.StatusNotFound
		case oauth.CodeNotConfigured:
			status = http.StatusConflict
		case oauth.CodeDenied, oauth.CodeConsumerAccount:
			status = http.StatusForbidden
		case oauth.CodeStateInvalid:
			status = http.StatusBadRequest
		}
		return &Error{Status: status, Code: oe.Code, Field: oe.Field, Message: oe.Message}
	}
	if connerr.As(err) != nil {
		return verifyError(err)
	}
	return err
}

// signInAdvice keeps a discovery's sign_in (the provider whose sign-in
// connects the mailbox through its own API) only when the organisation
// has registered that provider's app, and then says to choose it; the
// IMAP settings stay, for those who prefer an app password.
func (s *Server) signInAdvice(ctx context.Context, orgID int64, d Discovery) (Discovery, error) {
	if d.SignIn == "" {
		return d, nil
	}
	provider := d.SignIn
	d.SignIn = ""
	if s.cfg.OAuth == nil {
		return d, nil
	}
	ok, err := s.cfg.OAuth.HasApp(ctx, orgID, provider)
	if err != nil || !ok {
		return d, err // not registered, or a provider this server does not sign in with
	}
	d.SignIn = provider
	d.Hint = strings.TrimSpace("Your organisation lets you sign in with " + s.cfg.OAuth.Display(provider) +
		" to connect this mailbox: choose that. " + d.Hint)
	return d, nil
}
