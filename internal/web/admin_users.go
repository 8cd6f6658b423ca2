package web

import (
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/i18n"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/users"
)

func (s *Server) adminUserRoutes() {
	s.admin("GET /admin/users", s.adminUsers)
	s.admin("POST /admin/users", s.adminCreateUser)
	s.admin("GET /admin/users/{id}", s.adminUser)
	s.admin("POST /admin/users/{id}", s.adminUpdateUser)
	s.admin("POST /admin/users/{id}/deactivate", s.adminDeactivateUser)
	s.admin("POST /admin/users/{id}/reactivate", s.adminReactivateUser)
	s.admin("POST /admin/users/{id}/delete", s.adminDeleteUser)
}

// Roles in the order the forms offer them.
var roles = []crm.Role{crm.RoleMember, crm.RoleManager, crm.RoleAdmin}

// userRow is a user as the pages list them.
type userRow struct {
	crm.User
	Manager string // the manager's name, "" for none
}

// newUserForm is the creation form as the admin filled it.
type newUserForm struct {
	Email, Name, Role, Manager string
}

type adminUsersData struct {
	Users  []userRow
	Active []crm.User // who may be a manager
	Roles  []crm.Role
	Form   newUserForm
	Error  string
	Field  string
}

type adminUserData struct {
	User   userRow
	Others []crm.User // the other active users: managers, successors
	Roles  []crm.Role
	Error  string
	Field  string
}

// allUsers reads every user of the organisation, by name.
func (s *Server) allUsers(p *Page) ([]crm.User, error) {
	var out []crm.User
	f := store.UserFilter{ListParams: store.ListParams{Limit: store.MaxLimit}}
	for {
		page, err := s.cfg.Store.ListUsers(p.Ctx(), p.Viewer.OrgID, f)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.NextCursor == "" {
			break
		}
		f.Cursor = page.NextCursor
	}
	slices.SortFunc(out, func(a, b crm.User) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	return out, nil
}

func rows(all []crm.User) []userRow {
	names := map[int64]string{}
	for _, u := range all {
		names[u.ID] = u.Name
	}
	out := make([]userRow, len(all))
	for i, u := range all {
		out[i] = userRow{User: u}
		if u.ManagerID != nil {
			out[i].Manager = names[*u.ManagerID]
		}
	}
	return out
}

func activeExcept(all []crm.User, id int64) []crm.User {
	var out []crm.User
	for _, u := range all {
		if u.Active && u.ID != id {
			out = append(out, u)
		}
	}
	return out
}

func (s *Server) adminUsers(p *Page) error {
	return s.renderUsers(p, http.StatusOK, adminUsersData{Form: newUserForm{Role: string(crm.RoleMember)}})
}

func (s *Server) renderUsers(p *Page, status int, d adminUsersData) error {
	all, err := s.allUsers(p)
	if err != nil {
		return err
	}
	d.Users, d.Active, d.Roles = rows(all), activeExcept(all, 0), roles
	return p.RenderStatus(status, "admin_users", d)
}

// formID reads an optional id of a form's select ("" : none).
func formID(v string) (*int64, bool) {
	if v == "" {
		return nil, true
	}
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 {
		return nil, false
	}
	return &id, true
}

func (s *Server) adminCreateUser(p *Page) error {
	f := newUserForm{Email: strings.TrimSpace(p.R.PostFormValue("email")), Name: p.R.PostFormValue("name"),
		Role: p.R.PostFormValue("role"), Manager: p.R.PostFormValue("manager_id")}
	manager, ok := formID(f.Manager)
	if !ok {
		return s.renderUsers(p, http.StatusUnprocessableEntity, adminUsersData{Form: f, Field: "manager_id", Error: p.P.T("admin.users.refused.manager_id.not_found")})
	}
	u, err := s.cfg.Users.Create(p.Ctx(), p.Viewer, users.NewUser{Email: f.Email, Name: f.Name, Role: crm.Role(f.Role), ManagerID: manager})
	if err != nil {
		field, msg, ok := userRefusal(p, err)
		if !ok {
			return err
		}
		return s.renderUsers(p, http.StatusUnprocessableEntity, adminUsersData{Form: f, Field: field, Error: msg})
	}
	p.Flash("admin.users.created")
	p.Redirect("/admin/users/" + strconv.FormatInt(u.ID, 10))
	return nil
}

// pathUser reads the user of the page's {id}; another organisation's
// is a 404 like one that does not exist.
func (s *Server) pathUser(p *Page) (int64, error) {
	id, err := strconv.ParseInt(p.R.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, ErrNotFound
	}
	return id, nil
}

func (s *Server) adminUser(p *Page) error {
	id, err := s.pathUser(p)
	if err != nil {
		return err
	}
	return s.renderUser(p, http.StatusOK, id, "", "")
}

func (s *Server) renderUser(p *Page, status int, id int64, field, msg string) error {
	u, err := s.cfg.Store.GetUser(p.Ctx(), p.Viewer.OrgID, id)
	if err != nil {
		return err
	}
	all, err := s.allUsers(p)
	if err != nil {
		return err
	}
	row := userRow{User: u}
	for _, r := range rows(all) {
		if r.ID == id {
			row = r
		}
	}
	return p.RenderStatus(status, "admin_user", adminUserData{User: row, Others: activeExcept(all, id), Roles: roles, Field: field, Error: msg})
}

// adminUpdateUser changes a user's name, role and manager.
func (s *Server) adminUpdateUser(p *Page) error {
	id, err := s.pathUser(p)
	if err != nil {
		return err
	}
	manager, ok := formID(p.R.PostFormValue("manager_id"))
	if !ok {
		return s.renderUser(p, http.StatusUnprocessableEntity, id, "manager_id", p.P.T("admin.users.refused.manager_id.not_found"))
	}
	name, role := p.R.PostFormValue("name"), crm.Role(p.R.PostFormValue("role"))
	_, err = s.cfg.Users.Update(p.Ctx(), p.Viewer, id, users.Changes{Name: &name, Role: &role, SetManager: true, ManagerID: manager})
	return s.userDone(p, id, err, "admin.users.saved")
}

func (s *Server) adminDeactivateUser(p *Page) error {
	id, err := s.pathUser(p)
	if err != nil {
		return err
	}
	to, ok := formID(p.R.PostFormValue("reassign_to"))
	if !ok {
		return s.renderUser(p, http.StatusUnprocessableEntity, id, "reassign_to", p.P.T("admin.users.refused.reassign_to.not_found"))
	}
	_, err = s.cfg.Users.Offboard(p.Ctx(), p.Viewer, id, users.OffboardRequest{ReassignTo: to, By: p.User.Email})
	return s.userDone(p, id, err, "admin.users.deactivated")
}

func (s *Server) adminReactivateUser(p *Page) error {
	id, err := s.pathUser(p)
	if err != nil {
		return err
	}
	_, err = s.cfg.Users.Reactivate(p.Ctx(), p.Viewer, id)
	return s.userDone(p, id, err, "admin.users.reactivated")
}

func (s *Server) adminDeleteUser(p *Page) error {
	id, err := s.pathUser(p)
	if err != nil {
		return err
	}
	to, ok := formID(p.R.PostFormValue("reassign_to"))
	if !ok {
		return s.renderUser(p, http.StatusUnprocessableEntity, id, "delete_reassign_to", p.P.T("admin.users.refused.reassign_to.not_found"))
	}
	if p.R.PostFormValue("confirm") != "yes" {
		return s.renderUser(p, http.StatusUnprocessableEntity, id, "confirm", p.P.T("admin.users.delete_confirm_needed"))
	}
	_, err = s.cfg.Users.Offboard(p.Ctx(), p.Viewer, id, users.OffboardRequest{Delete: true, ReassignTo: to, By: p.User.Email})
	if err == nil {
		p.Flash("admin.users.deleted")
		p.Redirect("/admin/users")
		return nil
	}
	return s.userDone(p, id, err, "")
}

// userDone answers a change of a user's page: back to the page with a
// message, or the page again with the refusal in the admin's language.
func (s *Server) userDone(p *Page, id int64, err error, flash string) error {
	if err != nil {
		field, msg, ok := userRefusal(p, err)
		if !ok {
			return err
		}
		return s.renderUser(p, http.StatusUnprocessableEntity, id, field, msg)
	}
	p.Flash(flash)
	p.Redirect("/admin/users/" + strconv.FormatInt(id, 10))
	return nil
}

// userRefusal says a refusal of the users service in the admin's
// language, with the field it concerns; ok is false for an error that is
// no refusal (a 404, a failure).
func userRefusal(p *Page, err error) (field, msg string, ok bool) {
	var ue *users.Error
	var ce *crm.FieldError
	var se *store.FieldError
	switch {
	case errors.As(err, &ue):
		switch {
		case errors.Is(ue, users.ErrConflict):
			return "email", p.P.T("admin.users.email_taken"), true
		case errors.Is(ue, users.ErrInUse):
			return "delete_reassign_to", p.P.T("admin.users.in_use"), true
		case errors.Is(ue, users.ErrInvalid):
			return ue.Field, p.P.T("admin.users.not_yourself"), true
		case errors.Is(ue, users.ErrForbidden):
			return ue.Field, p.P.T("error.forbidden"), true
		}
		return ue.Field, ue.Message, true
	case errors.As(err, &ce):
		id := "admin.users.invalid." + ce.Field
		switch {
		case ce.Field == "role" && strings.Contains(ce.Message, "only admin"):
			id = "admin.users.refused.role.last_admin"
		case ce.Field == "manager_id":
			id = "admin.users.refused.manager_id.cycle"
		}
		if i18n.Has(id) {
			return ce.Field, p.P.T(id), true
		}
		return ce.Field, ce.Message, true
	case errors.As(err, &se):
		if id := "admin.users.refused." + se.Field + "." + se.Code; i18n.Has(id) {
			return se.Field, p.P.T(id), true
		}
		return se.Field, se.Message, true
	}
	return "", "", false
}
