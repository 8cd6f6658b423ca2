package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/signin"
)

// LoginRequest is the body of POST /api/v1/login.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type loginResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	User      crm.User  `json:"user"`
}

const badCredentials = "The email or password is wrong. Check both and try again."

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var req LoginRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	email := strings.ToLower(strings.TrimSpace(req.Email))
	if email == "" {
		return required("email", "email is required.")
	}
	if req.Password == "" {
		return required("password", "password is required.")
	}
	client := s.client(r)
	user, err := s.signIn.Password(r.Context(), email, req.Password, client)
	switch {
	case errors.Is(err, signin.ErrBadCredentials):
		return &Error{Status: http.StatusUnauthorized, Code: codeInvalidCreds, Message: badCredentials}
	case errors.Is(err, signin.ErrDeactivated):
		return forbidden("Your account was deactivated by an admin of your organisation, so you cannot sign in. Ask them to reactivate it.")
	case err != nil:
		return tooManyAttempts(err, "sign-ins")
	}
	sess, err := s.signIn.StartSession(r.Context(), user, client)
	if err != nil {
		return storeError(err, "token")
	}
	writeJSON(w, http.StatusOK, loginResponse{Token: sess.Secret, ExpiresAt: sess.ExpiresAt, User: user})
	return nil
}

// logout revokes the token the request carries.
func (s *Server) logout(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := s.st.RevokeToken(r.Context(), c.Viewer.OrgID, c.User.ID, c.Token.ID, s.cfg.Now()); err != nil {
		return storeError(err, "token")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, c *caller) error {
	writeJSON(w, http.StatusOK, c.User)
	return nil
}

func (s *Server) org(w http.ResponseWriter, r *http.Request, c *caller) error {
	o, err := s.st.GetOrg(r.Context(), c.Viewer.OrgID)
	if err != nil {
		return storeError(err, "organisation")
	}
	writeJSON(w, http.StatusOK, o)
	return nil
}
