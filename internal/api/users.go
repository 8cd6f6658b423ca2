package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
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
}

// userStoreError is storeError for user writes, where an email already
// taken is a conflict with another record (409), not a bad value.
func userStoreError(err error) error {
	var fe *store.FieldError
	if errors.Is(err, store.ErrConflict) || errors.As(err, &fe) && fe.Field == "email" && fe.Code == "duplicate" {
		return conflict("email", "Another user already has this email. Each email can belong to one user, since it is what they sign in with.")
	}
	return storeError(err, "user")
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

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	if !c.Viewer.CanAdminister() {
		return forbidden("Only an admin can create users. Ask an admin of your organisation.")
	}
	var req UserCreationRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	p := store.UserParams{Role: crm.RoleMember, ManagerID: req.ManagerID}
	if req.Email == "" {
		return required("email", "email is required: it is what the user signs in with.")
	}
	var err error
	if p.Email, err = crm.NormalizeEmail(req.Email); err != nil {
		return invalid("email", "email %s.", err)
	}
	if p.Name, err = text("name", req.Name, true, maxName); err != nil {
		return err
	}
	if req.Role != "" {
		if err := checkRole(req.Role); err != nil {
			return err
		}
		p.Role = req.Role
	}
	if p.ManagerID != nil {
		if err := refID("manager_id", *p.ManagerID); err != nil {
			return err
		}
	}
	if req.Password != "" {
		if p.PasswordHash, err = s.hashNewPassword(r.Context(), req.Password); err != nil {
			return err
		}
		p.SetPassword = true
	}
	u, err := s.st.CreateUser(r.Context(), c.Viewer.OrgID, p)
	if err != nil {
		return userStoreError(err)
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
	target, err := s.st.GetUser(r.Context(), c.Viewer.OrgID, id)
	if err != nil {
		return storeError(err, "user")
	}
	self, admin := target.ID == c.User.ID, c.Viewer.CanAdminister()
	if !admin {
		if !self {
			return forbidden("You can change only your own name and password. Ask an admin to change other users.")
		}
		for _, f := range []struct {
			set  bool
			name string
		}{{req.Email.Set, "email"}, {req.Role.Set, "role"}, {req.ManagerID.Set, "manager_id"}} {
			if f.set {
				e := forbidden("Only an admin can change a user's %s. Ask an admin of your organisation.", f.name)
				e.Field = f.name
				return e
			}
		}
	}

	var email, name, hash string
	if req.Email.Set {
		v, err := req.Email.value("email", "every user has an email.")
		if err != nil {
			return err
		}
		if email, err = crm.NormalizeEmail(v); err != nil {
			return invalid("email", "email %s.", err)
		}
	}
	if req.Name.Set {
		v, err := req.Name.value("name", "every user has a name.")
		if err != nil {
			return err
		}
		if name, err = text("name", v, true, maxName); err != nil {
			return err
		}
	}
	if req.Role.Set {
		v, err := req.Role.value("role", "give one of the roles.")
		if err != nil {
			return err
		}
		if err := checkRole(v); err != nil {
			return err
		}
		if target.Role == crm.RoleAdmin && v != crm.RoleAdmin {
			if err := s.checkNotLastAdmin(r.Context(), c.Viewer.OrgID, "role",
				"This user is the organisation's only admin, and an organisation needs one. Make another user admin first, then change this user's role."); err != nil {
				return err
			}
		}
	}
	if req.ManagerID.Set && !req.ManagerID.Null {
		if err := refID("manager_id", req.ManagerID.Value); err != nil {
			return err
		}
		if req.ManagerID.Value == id {
			return invalid("manager_id", "A user cannot be their own manager.")
		}
	}
	if req.CurrentPassword.Set && !req.Password.Set {
		return invalid("current_password", "current_password is only needed with password, to change it.")
	}
	if req.Password.Set {
		v, err := req.Password.value("password", "give the new password.")
		if err != nil {
			return err
		}
		if self {
			if err := s.checkCurrentPassword(r, target, req.CurrentPassword); err != nil {
				return err
			}
		}
		if hash, err = s.hashNewPassword(r.Context(), v); err != nil {
			return err
		}
	}

	u, err := s.st.UpdateUser(r.Context(), c.Viewer.OrgID, id, func(p *store.UserParams) error {
		if req.Email.Set {
			p.Email = email
		}
		if req.Name.Set {
			p.Name = name
		}
		if req.Role.Set {
			p.Role = req.Role.Value
		}
		if req.ManagerID.Set {
			if req.ManagerID.Null {
				p.ManagerID = nil
			} else {
				m := req.ManagerID.Value
				p.ManagerID = &m
			}
		}
		if req.Password.Set {
			p.PasswordHash, p.SetPassword = hash, true
		}
		return nil
	})
	if err != nil {
		return userStoreError(err)
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

// checkNotLastAdmin refuses a change that would leave the organisation
// without an admin, with a message naming what to do. The store makes the
// same check atomically (FieldError "last_admin"), which settles races.
func (s *Server) checkNotLastAdmin(ctx context.Context, orgID int64, field, msg string) error {
	page, err := s.st.ListUsers(ctx, orgID, store.UserFilter{ListParams: store.ListParams{Limit: 2}, Role: crm.RoleAdmin})
	if err != nil {
		return err
	}
	if len(page.Items) < 2 {
		return invalid(field, "%s", msg)
	}
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
