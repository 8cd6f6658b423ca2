package api

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
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

// dummyHash is checked against when the email is unknown or has no
// password, so that such a sign-in takes as long as a wrong password and
// does not reveal which emails have accounts.
var dummyHash = sync.OnceValue(func() string {
	h, err := auth.HashPassword("crmsync-timing-equaliser")
	if err != nil {
		panic(err)
	}
	return h
})

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
	att, err := s.attempts.Begin(loginAccount(email), s.clientKey(r))
	if err != nil {
		return tooManyAttempts(err, "sign-ins")
	}
	user, hash, err := s.st.UserForLogin(r.Context(), email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		att.Abandon()
		return err
	}
	known := err == nil && hash != ""
	if !known {
		hash = dummyHash()
	}
	ok, err := s.hasher.CheckPassword(r.Context(), hash, req.Password)
	if err != nil { // the client went away while waiting for its turn
		att.Abandon()
		return err
	}
	if !ok || !known {
		att.Failed()
		return &Error{Status: http.StatusUnauthorized, Code: codeInvalidCreds, Message: badCredentials}
	}
	att.Succeeded()
	if !user.Active {
		// Said only to whoever knows the password: to anyone else a
		// deactivated user is a wrong password like any other.
		return forbidden("Your account was deactivated by an admin of your organisation, so you cannot sign in. Ask them to reactivate it.")
	}

	now := s.cfg.Now()
	secret, prefix, tokenHash := auth.NewToken()
	expires := now.Add(s.cfg.SessionTTL)
	if _, err := s.st.CreateToken(r.Context(), store.TokenParams{
		OrgID:     user.OrgID,
		UserID:    user.ID,
		Name:      "session",
		Kind:      crm.TokenSession,
		Hash:      tokenHash,
		Prefix:    prefix,
		CreatedAt: now,
		ExpiresAt: &expires,
		UserAgent: userAgent(r),
		ClientIP:  s.clientAddr(r),
	}); err != nil {
		return storeError(err, "token")
	}
	writeJSON(w, http.StatusOK, loginResponse{Token: secret, ExpiresAt: expires, User: user})
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
