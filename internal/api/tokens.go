package api

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/crmsync/crmsync/internal/access"
	"github.com/crmsync/crmsync/internal/crm"
)

const maxTokens = crm.MaxAPITokensPerUser

const maxTokenName = access.MaxTokenName

// TokenCreationRequest is the body of POST /api/v1/tokens and
// POST /api/v1/users/{id}/tokens.
type TokenCreationRequest struct {
	Name string `json:"name"`
}

// tokenCreated is the one answer that carries a token's secret.
type tokenCreated struct {
	crm.Token
	Secret string `json:"token"`
}

type tokenList struct {
	Data []crm.Token `json:"data"`
}

func (s *Server) createToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	return s.issueToken(w, r, c.User, "/api/v1/tokens/")
}

func (s *Server) listTokens(w http.ResponseWriter, r *http.Request, c *caller) error {
	return s.writeTokens(w, r, c.User)
}

func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	return s.revoke(w, r, c.User, "id")
}

func (s *Server) createUserToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	u, err := s.tokenOwner(r, c)
	if err != nil {
		return err
	}
	return s.issueToken(w, r, u, fmt.Sprintf("/api/v1/users/%d/tokens/", u.ID))
}

func (s *Server) listUserTokens(w http.ResponseWriter, r *http.Request, c *caller) error {
	u, err := s.tokenOwner(r, c)
	if err != nil {
		return err
	}
	return s.writeTokens(w, r, u)
}

func (s *Server) revokeUserToken(w http.ResponseWriter, r *http.Request, c *caller) error {
	u, err := s.tokenOwner(r, c)
	if err != nil {
		return err
	}
	return s.revoke(w, r, u, "token_id")
}

// tokenOwner is the user of /api/v1/users/{id}/tokens: the caller
// themself, or anyone of their organisation if they are an admin. The user
// is looked up first so that an id of another organisation is a 404 like
// every other.
func (s *Server) tokenOwner(r *http.Request, c *caller) (crm.User, error) {
	id, err := pathID(r, "id")
	if err != nil {
		return crm.User{}, err
	}
	u, err := s.st.GetUser(r.Context(), c.Viewer.OrgID, id)
	if err != nil {
		return crm.User{}, storeError(err, "user")
	}
	if u.ID != c.User.ID && !c.Viewer.CanAdminister() {
		return crm.User{}, forbidden("Only an admin can manage another user's tokens. You can manage your own.")
	}
	return u, nil
}

func (s *Server) issueToken(w http.ResponseWriter, r *http.Request, u crm.User, base string) error {
	var req TokenCreationRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	name, err := access.TokenName(req.Name)
	switch {
	case errors.Is(err, access.ErrTokenNameRequired):
		return required("name", "name is required: say what the token is for (\"laptop sync\", \"CI\"), so you know which to revoke later.")
	case errors.Is(err, access.ErrTokenNameTooLong):
		return invalid("name", "name must be at most %d characters.", maxTokenName)
	}
	tok, err := access.IssueAPIToken(r.Context(), s.st, u, name, s.cfg.Now())
	if err != nil {
		return storeError(err, "token")
	}
	return created(w, fmt.Sprintf("%s%d", base, tok.ID), tokenCreated{Token: tok.Token, Secret: tok.Secret})
}

func (s *Server) writeTokens(w http.ResponseWriter, r *http.Request, u crm.User) error {
	toks, err := access.APITokens(r.Context(), s.st, u, s.cfg.Now())
	if err != nil {
		return storeError(err, "token")
	}
	writeJSON(w, http.StatusOK, tokenList{Data: nonNil(toks)})
	return nil
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request, u crm.User, param string) error {
	id, err := pathID(r, param)
	if err != nil {
		return err
	}
	if err := access.RevokeAPIToken(r.Context(), s.st, u, id, s.cfg.Now()); err != nil {
		return storeError(err, "token")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
