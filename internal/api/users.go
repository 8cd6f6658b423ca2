package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/users"
)

// UserCreationRequest is the body of POST /api/v1/users (admins only).
type UserCreationRequest struct {
	Email     string   `json:"email"`
	Name      string   `json:"name"`
	Role      crm.Role `json:"role"` // default: member
	ManagerID *int64   `json:"manager_id"`
	Password  string   `json:"password"` // optional: without one the user signs in with tokens only
}

// UserUpdateRequest is the body of PATCH /api/v1/users/{id}. Users may
// change their own name and password (giving current_password); admins may
// change anything of anyone.
type UserUpdateRequest struct {
	Email           Opt[string]   `json:"email"`
	Name            Opt[string]   `json:"name"`
	Role            Opt[crm.Role] `json:"role"`
	ManagerID       Opt[int64]    `json:"manager_id"` // null: no manager
	Password        Opt[string]   `json:"password"`
	CurrentPassword Opt[string]   `json:"current_password"`
	// Active false deactivates the user (offboarding: they cannot sign
	// in, their mailboxes are disconnected, their tokens revoked), with
	// ReassignTo naming who takes over their records; true reactivates.
	// Admins only, and on its own.
	Active     Opt[bool]  `json:"active"`
	ReassignTo Opt[int64] `json:"reassign_to"`
	// Language is the language of the web app and of the API's messages
	// for this user ("en", "fr", "sv", "it"; "" or null: the one the
	// browser or client asks for in Accept-Language).
	Language Opt[string] `json:"language"`
}

// hashNewPassword hashes a password being set, refusing weak ones, within
// the server's hashing gate.
func (s *Server) hashNewPassword(ctx context.Context, pw string) (string, error) {
	h, err := s.hasher.HashPassword(ctx, pw)
	if errors.Is(err, auth.ErrWeakPassword) {
		return "", invalid("password", "password %s.", auth.ErrWeakPassword)
	}
	return h, err
}

// The workflows of users (who may change what, the last admin, a taken
// email) are internal/users'; these handlers decode, call and encode.

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	if !c.Viewer.CanAdminister() {
		return forbidden("Only an admin can create users. Ask an admin of your organisation.")
	}
	var req UserCreationRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	in := users.NewUser{Email: req.Email, Name: req.Name, Role: req.Role, ManagerID: req.ManagerID}
	if req.Password != "" {
		in.Password = func(ctx context.Context, _ crm.User) (string, error) { return s.hashNewPassword(ctx, req.Password) }
	}
	u, err := s.usr.Create(r.Context(), c.Viewer, in)
	if err != nil {
		return usersError(err)
	}
	return created(w, fmt.Sprintf("/api/v1/users/%d", u.ID), u)
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	u, err := s.st.GetUser(r.Context(), c.Viewer.OrgID, id)
	if err != nil {
		return storeError(err, "user")
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) updateUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req UserUpdateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.Active.Set || req.ReassignTo.Set {
		return s.changeActive(w, r, c, id, req)
	}
	var ch users.Changes
	if ch.Email, err = given(req.Email, "email", "every user has an email."); err != nil {
		return err
	}
	if ch.Name, err = given(req.Name, "name", "every user has a name."); err != nil {
		return err
	}
	if ch.Role, err = given(req.Role, "role", "give one of the roles."); err != nil {
		return err
	}
	if req.ManagerID.Set {
		ch.SetManager = true
		if !req.ManagerID.Null {
			m := req.ManagerID.Value
			ch.ManagerID = &m
		}
	}
	if req.Language.Set {
		// null, like "", goes back to the language the client asks for.
		l := req.Language.Value
		ch.Language = &l
	}
	if req.CurrentPassword.Set && !req.Password.Set {
		return invalid("current_password", "current_password is only needed with password, to change it.")
	}
	if req.Password.Set {
		pw, err := req.Password.value("password", "give the new password.")
		if err != nil {
			return err
		}
		ch.Password = func(ctx context.Context, target crm.User) (string, error) {
			if target.ID == c.User.ID {
				if err := s.checkCurrentPassword(r, target, req.CurrentPassword); err != nil {
					return "", err
				}
			}
			return s.hashNewPassword(ctx, pw)
		}
	}
	u, err := s.usr.Update(r.Context(), c.Viewer, id, ch)
	if err != nil {
		return usersError(err)
	}
	out := userUpdateResponse{User: u}
	if req.Password.Set {
		if out.PasswordChange, err = s.endOtherSessions(r.Context(), c, u); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// checkCurrentPassword makes users changing their own password prove they
// know the current one, so that a stolen session cannot lock them out. A
// user without a password (token-only so far) sets a first one freely.
// The check is limited like a sign-in, and shares its counts: a stolen
// session guesses no faster than a stranger at the sign-in form.
func (s *Server) checkCurrentPassword(r *http.Request, u crm.User, current Opt[string]) error {
	ctx := r.Context()
	_, hash, err := s.st.UserForLogin(ctx, u.Email)
	if err != nil {
		return storeError(err, "user")
	}
	if hash == "" {
		return nil
	}
	if !current.Set || current.Null || current.Value == "" {
		return required("current_password", "To change your password, also send your current one as current_password.")
	}
	att, err := s.attempts.Begin(loginAccount(u.Email), s.clientKey(r))
	if err != nil {
		return tooManyAttempts(err, "password checks")
	}
	ok, err := s.hasher.CheckPassword(ctx, hash, current.Value)
	switch {
	case err != nil:
		att.Abandon()
		return err
	case !ok:
		att.Failed()
		return invalid("current_password", "current_password is not your current password. Check it and try again.")
	}
	att.Succeeded()
	return nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request, c *caller) error {
	q, lp, err := s.listRequest(r)
	if err != nil {
		return err
	}
	f := store.UserFilter{ListParams: lp}
	if q.has("role") {
		f.Role = crm.Role(q.str("role"))
		if err := checkRole(f.Role); err != nil {
			return param("role", err)
		}
	}
	if f.ManagerID, err = q.id("manager_id"); err != nil {
		return err
	}
	page, err := s.st.ListUsers(r.Context(), c.Viewer.OrgID, f)
	if err != nil {
		return storeError(err, "user")
	}
	return writeList(w, page, func(u crm.User) crm.User { return u })
}
