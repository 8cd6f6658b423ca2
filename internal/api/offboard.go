package api

import (
	"errors"
	"net/http"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/users"
)

// Offboarding: DELETE /api/v1/users/{id} (with reassign_to) and PATCH
// /api/v1/users/{id} with active. The workflow is internal/users'; these
// handlers decode, call and encode.

// userActivationResponse is the answer of a PATCH that changes active:
// the user, and on deactivation what the offboarding did.
type userActivationResponse struct {
	userUpdateResponse
	Offboarding *users.Offboarding `json:"offboarding,omitempty"`
}

// usersError turns an error of the users service into the API's answer.
func usersError(err error) error {
	var ue *users.Error
	if errors.As(err, &ue) {
		out := &Error{Status: http.StatusConflict, Code: codeInUse, Field: ue.Field, Message: ue.Message}
		switch {
		case errors.Is(ue, users.ErrForbidden):
			out.Status, out.Code = http.StatusForbidden, codeForbidden
		case errors.Is(ue, users.ErrInvalid):
			out.Status, out.Code = http.StatusUnprocessableEntity, codeInvalidValue
		case errors.Is(ue, users.ErrConflict):
			out.Code = codeConflict
		}
		return out
	}
	var fe *crm.FieldError
	if errors.As(err, &fe) {
		return ruleError(err)
	}
	return accountError(err, "user")
}

func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	q, err := parseQuery(r, s.queries[r.Pattern])
	if err != nil {
		return err
	}
	to, err := q.id("reassign_to")
	if err != nil {
		return err
	}
	out, err := s.usr.Offboard(r.Context(), c.Viewer, id, users.OffboardRequest{Delete: true, ReassignTo: to, By: c.User.Email})
	if err != nil {
		return usersError(err)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// changeActive deactivates (offboards) or reactivates a user. It is a
// change of its own: combined with others, a failure half way would leave
// the user changed in part.
func (s *Server) changeActive(w http.ResponseWriter, r *http.Request, c *caller, id int64, req UserUpdateRequest) error {
	if req.Email.Set || req.Name.Set || req.Role.Set || req.ManagerID.Set || req.Password.Set || req.CurrentPassword.Set || req.Language.Set {
		return invalid("active", "Change active on its own, with reassign_to if you like; send the other changes in a separate request.")
	}
	if !req.Active.Set {
		return invalid("reassign_to", "reassign_to goes with active false: it names who takes over the records of the user being deactivated.")
	}
	active, err := req.Active.value("active", "give true to let the user sign in, false to deactivate them.")
	if err != nil {
		return err
	}
	var to *int64
	if req.ReassignTo.Set && !req.ReassignTo.Null {
		if active {
			return invalid("reassign_to", "reassign_to goes with active false: a user being reactivated hands nothing over.")
		}
		if err := refID("reassign_to", req.ReassignTo.Value); err != nil {
			return err
		}
		to = &req.ReassignTo.Value
	}
	if active {
		u, err := s.usr.Reactivate(r.Context(), c.Viewer, id)
		if err != nil {
			return usersError(err)
		}
		writeJSON(w, http.StatusOK, userActivationResponse{userUpdateResponse: userUpdateResponse{User: u}})
		return nil
	}
	out, err := s.usr.Offboard(r.Context(), c.Viewer, id, users.OffboardRequest{ReassignTo: to, By: c.User.Email})
	if err != nil {
		return usersError(err)
	}
	writeJSON(w, http.StatusOK, userActivationResponse{userUpdateResponse: userUpdateResponse{User: out.User}, Offboarding: &out})
	return nil
}
