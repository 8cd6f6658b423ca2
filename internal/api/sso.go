package api

import (
	"errors"
	"net/http"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/sso"
)

// SSORequest is the body of PUT /api/v1/org/sso: the organisation's
// OpenID Connect provider.
type SSORequest struct {
	Name         string `json:"name"`
	Issuer       string `json:"issuer"`
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

func (s *Server) ssoRoutes() {
	s.authed("GET /api/v1/org/sso", s.getSSO)
	s.authed("PUT /api/v1/org/sso", s.putSSO)
	s.authed("DELETE /api/v1/org/sso", s.deleteSSO)
}

// ssoService is the single sign-on service, after the admin check (so
// that members learn nothing of the configuration, not even whether the
// server has single sign-on).
func (s *Server) ssoService(c *caller, what string) (*sso.Service, error) {
	if !c.Viewer.CanAdminister() {
		return nil, forbidden("Only an admin can %s the organisation's single sign-on.", what)
	}
	if s.cfg.SSO == nil {
		return nil, &Error{Status: http.StatusServiceUnavailable, Code: codeUnavailable, Message: "Single sign-on is not enabled on this server."}
	}
	return s.cfg.SSO, nil
}

func (s *Server) getSSO(w http.ResponseWriter, r *http.Request, c *caller) error {
	svc, err := s.ssoService(c, "see")
	if err != nil {
		return err
	}
	v, err := svc.Get(r.Context(), c.Viewer.OrgID)
	if err != nil {
		return ssoError(err)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) putSSO(w http.ResponseWriter, r *http.Request, c *caller) error {
	svc, err := s.ssoService(c, "set up")
	if err != nil {
		return err
	}
	var req SSORequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	v, err := svc.Set(r.Context(), c.Viewer.OrgID, sso.Input(req))
	if err != nil {
		return ssoError(err)
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

func (s *Server) deleteSSO(w http.ResponseWriter, r *http.Request, c *caller) error {
	svc, err := s.ssoService(c, "remove")
	if err != nil {
		return err
	}
	if err := svc.Delete(r.Context(), c.Viewer.OrgID); err != nil {
		return ssoError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// ssoError maps the sso package's refusals (and the provider's
// unreachability) to API errors with the same codes.
func ssoError(err error) error {
	var e *sso.Error
	if errors.As(err, &e) {
		status := http.StatusUnprocessableEntity
		if e.Code == sso.CodeNotConfigured {
			status = http.StatusNotFound
		}
		return &Error{Status: status, Code: e.Code, Field: e.Field, Message: e.Message}
	}
	if connerr.As(err) != nil {
		return verifyError(err)
	}
	return err
}
