package users

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/i18n"
	"github.com/crmsync/crmsync/internal/store"
)

// ErrConflict: the email is another user's already (each email belongs
// to one user, since it is what they sign in with).
var ErrConflict = errors.New("users: conflict")

// PasswordFunc returns the hash of a password being set. It is called
// only once every other check of the request has passed, so that a
// refused request costs no password hashing (and a weak password is
// reported after the fields before it).
type PasswordFunc func(ctx context.Context, target crm.User) (hash string, err error)

// NewUser is an admin's creation of a user.
type NewUser struct {
	Email     string
	Name      string
	Role      crm.Role // "" : member
	ManagerID *int64
	// Password, when set, hashes the user's first password; without one
	// the user signs in with tokens (or single sign-on) only.
	Password PasswordFunc
}

// Create adds a user to the viewer's organisation (admins only).
// Refusals: *Error (ErrForbidden; ErrConflict on email), *crm.FieldError
// naming the field, and the store's *FieldError (an unknown manager).
func (s *Service) Create(ctx context.Context, v crm.Viewer, in NewUser) (crm.User, error) {
	if !v.CanAdminister() {
		return crm.User{}, &Error{Kind: ErrForbidden, Message: "Only an admin can create users. Ask an admin of your organisation."}
	}
	p := store.UserParams{Role: crm.RoleMember, ManagerID: in.ManagerID}
	if in.Email == "" {
		return crm.User{}, &crm.FieldError{Field: "email", Code: crm.CodeRequired, Message: "email is required: it is what the user signs in with."}
	}
	var err error
	if p.Email, err = normalizeEmail(in.Email); err != nil {
		return crm.User{}, err
	}
	if p.Name, err = crm.Text("name", in.Name, true, crm.MaxName); err != nil {
		return crm.User{}, err
	}
	if in.Role != "" {
		if err := checkRole(in.Role); err != nil {
			return crm.User{}, err
		}
		p.Role = in.Role
	}
	if p.ManagerID != nil {
		if err := refID("manager_id", *p.ManagerID); err != nil {
			return crm.User{}, err
		}
	}
	if in.Password != nil {
		if p.PasswordHash, err = in.Password(ctx, crm.User{OrgID: v.OrgID, Email: p.Email, Name: p.Name, Role: p.Role}); err != nil {
			return crm.User{}, err
		}
		p.SetPassword = true
	}
	u, err := s.st.CreateUser(ctx, v.OrgID, p)
	return u, emailTaken(err)
}

// Changes is a change to a user: nil fields stay as they are.
type Changes struct {
	Email *string
	Name  *string
	Role  *crm.Role
	// SetManager changes the manager to ManagerID (nil: no manager).
	SetManager bool
	ManagerID  *int64
	// Language is the language of the web app and of the API's messages
	// ("" : the browser's).
	Language *string
	// Password sets a new password (see PasswordFunc); the caller checks
	// the current one first when users change their own.
	Password PasswordFunc
}

// Update changes a user. Users may change their own name, language and
// password; admins may change anything of anyone, but never leave the
// organisation without an admin. Refusals: *Error (ErrForbidden with the
// field, ErrConflict on email), *crm.FieldError naming the field,
// store.ErrNotFound, and the store's *FieldError.
func (s *Service) Update(ctx context.Context, v crm.Viewer, id int64, ch Changes) (crm.User, error) {
	target, err := s.st.GetUser(ctx, v.OrgID, id)
	if err != nil {
		return crm.User{}, err
	}
	self, admin := target.ID == v.UserID, v.CanAdminister()
	if !admin {
		if !self {
			return crm.User{}, &Error{Kind: ErrForbidden, Message: "You can change only your own name and password. Ask an admin to change other users."}
		}
		for _, f := range []struct {
			set  bool
			name string
		}{{ch.Email != nil, "email"}, {ch.Role != nil, "role"}, {ch.SetManager, "manager_id"}} {
			if f.set {
				return crm.User{}, &Error{Kind: ErrForbidden, Field: f.name,
					Message: fmt.Sprintf("Only an admin can change a user's %s. Ask an admin of your organisation.", f.name)}
			}
		}
	}

	var email, name, hash string
	if ch.Email != nil {
		if email, err = normalizeEmail(*ch.Email); err != nil {
			return crm.User{}, err
		}
	}
	if ch.Name != nil {
		if name, err = crm.Text("name", *ch.Name, true, crm.MaxName); err != nil {
			return crm.User{}, err
		}
	}
	if ch.Role != nil {
		if err := checkRole(*ch.Role); err != nil {
			return crm.User{}, err
		}
		if target.Role == crm.RoleAdmin && *ch.Role != crm.RoleAdmin {
			if err := s.checkNotLastAdmin(ctx, v.OrgID); err != nil {
				return crm.User{}, err
			}
		}
	}
	if ch.SetManager && ch.ManagerID != nil {
		if err := refID("manager_id", *ch.ManagerID); err != nil {
			return crm.User{}, err
		}
		if *ch.ManagerID == id {
			return crm.User{}, &crm.FieldError{Field: "manager_id", Code: crm.CodeInvalid, Message: "A user cannot be their own manager."}
		}
	}
	if ch.Language != nil && *ch.Language != "" && !i18n.Supported(*ch.Language) {
		return crm.User{}, &crm.FieldError{Field: "language", Code: crm.CodeInvalid, Message: fmt.Sprintf(
			"language must be one of %s, or \"\" for the language the browser asks for.", quoted(i18n.Langs))}
	}
	if ch.Password != nil {
		if hash, err = ch.Password(ctx, target); err != nil {
			return crm.User{}, err
		}
	}

	u, err := s.st.UpdateUser(ctx, v.OrgID, id, func(p *store.UserParams) error {
		if ch.Email != nil {
			p.Email = email
		}
		if ch.Name != nil {
			p.Name = name
		}
		if ch.Role != nil {
			p.Role = *ch.Role
		}
		if ch.SetManager {
			p.ManagerID = ch.ManagerID
		}
		if ch.Language != nil {
			p.Language = *ch.Language
		}
		if ch.Password != nil {
			p.PasswordHash, p.SetPassword = hash, true
		}
		return nil
	})
	return u, emailTaken(err)
}

// checkNotLastAdmin refuses a change that would leave the organisation
// without an admin, with a message naming what to do. The store makes the
// same check atomically (FieldError "last_admin"), which settles races.
func (s *Service) checkNotLastAdmin(ctx context.Context, orgID int64) error {
	page, err := s.st.ListUsers(ctx, orgID, store.UserFilter{ListParams: store.ListParams{Limit: 2}, Role: crm.RoleAdmin})
	if err != nil {
		return err
	}
	if len(page.Items) < 2 {
		return &crm.FieldError{Field: "role", Code: crm.CodeInvalid, Message: "This user is the organisation's only admin, and an organisation needs one. Make another user admin first, then change this user's role."}
	}
	return nil
}

// emailTaken turns the store's refusal of an email already taken into
// ErrConflict; other errors pass unchanged.
func emailTaken(err error) error {
	var fe *store.FieldError
	if errors.Is(err, store.ErrConflict) || errors.As(err, &fe) && fe.Field == "email" && fe.Code == "duplicate" {
		return &Error{Kind: ErrConflict, Field: "email", Message: "Another user already has this email. Each email can belong to one user, since it is what they sign in with."}
	}
	return err
}

func normalizeEmail(s string) (string, error) {
	e, err := crm.NormalizeEmail(s)
	if err != nil {
		return "", &crm.FieldError{Field: "email", Code: crm.CodeInvalid, Message: fmt.Sprintf("email %s.", err)}
	}
	return e, nil
}

func checkRole(r crm.Role) error {
	if !r.Valid() {
		return &crm.FieldError{Field: "role", Code: crm.CodeInvalid, Message: fmt.Sprintf("role must be one of %s.",
			quoted([]crm.Role{crm.RoleAdmin, crm.RoleManager, crm.RoleMember}))}
	}
	return nil
}

func refID(field string, id int64) error {
	if id <= 0 {
		return &crm.FieldError{Field: field, Code: crm.CodeInvalid, Message: fmt.Sprintf("%s must be a positive id, as returned in the id field of a record.", field)}
	}
	return nil
}

func quoted[T ~string](xs []T) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = `"` + string(x) + `"`
	}
	return strings.Join(q, ", ")
}
