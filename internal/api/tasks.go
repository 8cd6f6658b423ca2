package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/store"
)

// TaskCreationRequest is the body of POST /api/v1/tasks.
type TaskCreationRequest struct {
	Summary      string             `json:"summary"`
	Description  string             `json:"description"`
	Due          string             `json:"due"`
	Status       crm.TaskStatus     `json:"status"` // default: needs_action
	Priority     int                `json:"priority"`
	CompletedAt  string             `json:"completed_at"` // default: now when status is completed
	Categories   []string           `json:"categories"`
	ContactID    *int64             `json:"contact_id"`
	OwnerID      *int64             `json:"owner_id"` // default: the caller
	CustomFields map[string]*string `json:"custom_fields"`
}

// TaskUpdateRequest is the body of PATCH /api/v1/tasks/{id}: only the
// fields present change. custom_fields is merged as for contacts.
type TaskUpdateRequest struct {
	Summary      Opt[string]             `json:"summary"`
	Description  Opt[string]             `json:"description"`
	Due          Opt[string]             `json:"due"` // null or "": no due date
	Status       Opt[crm.TaskStatus]     `json:"status"`
	Priority     Opt[int]                `json:"priority"`
	CompletedAt  Opt[string]             `json:"completed_at"` // null or "": not completed
	Categories   Opt[[]string]           `json:"categories"`
	ContactID    Opt[int64]              `json:"contact_id"` // null: no contact
	OwnerID      Opt[int64]              `json:"owner_id"`
	CustomFields Opt[map[string]*string] `json:"custom_fields"`
}

// Limits of tasks and events.
const (
	maxSummary  = crm.MaxSummary
	maxPriority = 9
)

var taskStatuses = []crm.TaskStatus{crm.TaskNeedsAction, crm.TaskInProcess, crm.TaskCompleted, crm.TaskCancelled}

func cleanTask(t crm.Task) crm.Task {
	t.Categories = nonNil(t.Categories)
	if t.CustomFields == nil {
		t.CustomFields = map[string]string{}
	}
	return t
}

func checkTaskStatus(st crm.TaskStatus) error {
	if !st.Valid() {
		return invalid("status", "status must be one of %s.", joinQuoted(taskStatuses))
	}
	return nil
}

func checkPriority(p int) error {
	if p < 0 || p > maxPriority {
		return invalid("priority", "priority must be from 0 (undefined) to 9: 1 is the highest, 9 the lowest (got %d).", p)
	}
	return nil
}

// when checks a calendar time given in field. "" is no time, refused
// when mustHave.
func when(field, s string, mustHave bool) (crm.When, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		if mustHave {
			return "", required(field, `%s is required: a date like "2026-11-21" or a time like "2026-11-21T09:00:00Z" or "2026-11-21T10:00:00[Europe/Paris]".`, field)
		}
		return "", nil
	}
	w, err := crm.ParseWhen(s)
	if err != nil {
		return "", invalid(field, "%s (%q) is not accepted: %s.", field, s, strings.TrimSuffix(err.Error(), "."))
	}
	return w, nil
}

// fixedCategories says what to do with the categories crmsync computes
// itself (pim.FixedCategories) when a request lists one.
type fixedCategories int

const (
	fixedAllowed    fixedCategories = iota // tasks and events: any name
	fixedRefused                           // contacts: computed from the lifecycle and opportunities
	fixedNotImports                        // import filters: never imported
)

// normCategories trims each category of a list, refusing empty ones and
// commas (address books separate categories with commas).
func normCategories(field string, items []string, fixed fixedCategories) ([]string, error) {
	return normList(field, items, func(s string) (string, error) {
		s, err := crm.NormalizeCategory(s)
		switch {
		case err != nil:
			return "", err
		case fixed == fixedRefused && pim.IsFixed(s):
			return "", fmt.Errorf("is one of the categories crmsync sets itself from the lifecycle and the opportunities; it cannot be set by hand")
		case fixed == fixedNotImports && pim.IsFixed(s):
			return "", fmt.Errorf("is one of the categories crmsync sets itself; they are never imported")
		}
		return s, nil
	})
}

func (s *Server) createTask(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req TaskCreationRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	t := crm.Task{OrgID: c.Viewer.OrgID, OwnerID: c.User.ID, Status: crm.TaskNeedsAction}
	var err error
	if t.Summary, err = text("summary", req.Summary, true, maxSummary); err != nil {
		return err
	}
	if t.Description, err = text("description", req.Description, false, maxLongText); err != nil {
		return err
	}
	if t.Due, err = when("due", req.Due, false); err != nil {
		return err
	}
	if req.Status != "" {
		if err := checkTaskStatus(req.Status); err != nil {
			return err
		}
		t.Status = req.Status
	}
	if err := checkPriority(req.Priority); err != nil {
		return err
	}
	t.Priority = req.Priority
	if t.CompletedAt, err = when("completed_at", req.CompletedAt, false); err != nil {
		return err
	}
	if t.Status == crm.TaskCompleted && t.CompletedAt == "" {
		t.CompletedAt = crm.WhenOf(s.cfg.Now().UTC(), false)
	}
	if t.Categories, err = normCategories("categories", req.Categories, fixedAllowed); err != nil {
		return err
	}
	if err := setCreationRefs(req.ContactID, req.OwnerID, &t.ContactID, &t.OwnerID); err != nil {
		return err
	}
	if t.CustomFields, err = creationCustomFields(req.CustomFields); err != nil {
		return err
	}
	t, err = s.st.CreateTask(r.Context(), c.Viewer, t)
	if err != nil {
		return storeError(err, "task")
	}
	s.pimChanged(r, c.Viewer.OrgID, t.OwnerID)
	return created(w, fmt.Sprintf("/api/v1/tasks/%d", t.ID), cleanTask(t))
}

func (s *Server) getTask(w http.ResponseWriter, r *http.Request, c *caller) error {
	return getRecord(w, r, c, "task", s.st.GetTask, plain(cleanTask))
}

func (s *Server) updateTask(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req TaskUpdateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	var due, completedAt crm.When
	summary, err := patchText(req.Summary, "summary", "every task has a summary.", true, maxSummary)
	if err != nil {
		return err
	}
	description, err := patchText(req.Description, "description", `send "" to remove the description.`, false, maxLongText)
	if err != nil {
		return err
	}
	if req.Due.Set && !req.Due.Null {
		if due, err = when("due", req.Due.Value, false); err != nil {
			return err
		}
	}
	if req.Status.Set {
		v, err := req.Status.value("status", "give one of the task statuses.")
		if err != nil {
			return err
		}
		if err := checkTaskStatus(v); err != nil {
			return err
		}
	}
	if req.Priority.Set {
		v, err := req.Priority.value("priority", "send 0 for no priority.")
		if err != nil {
			return err
		}
		if err := checkPriority(v); err != nil {
			return err
		}
	}
	if req.CompletedAt.Set && !req.CompletedAt.Null {
		if completedAt, err = when("completed_at", req.CompletedAt.Value, false); err != nil {
			return err
		}
	}
	categories, err := patchCategories(req.Categories)
	if err != nil {
		return err
	}
	refs := refsPatch{ContactID: req.ContactID, OwnerID: req.OwnerID, CustomFields: req.CustomFields}
	if err := refs.check("task"); err != nil {
		return err
	}
	now := crm.WhenOf(s.cfg.Now().UTC(), false)
	t, err := s.st.UpdateTask(r.Context(), c.Viewer, id, func(t *crm.Task) error {
		if req.Summary.Set {
			t.Summary = summary
		}
		if req.Description.Set {
			t.Description = description
		}
		if req.Due.Set {
			t.Due = due
		}
		if req.Status.Set {
			// Completion goes with its time: set when a task is completed
			// (unless given), cleared when it is reopened.
			switch {
			case req.Status.Value == crm.TaskCompleted && t.Status != crm.TaskCompleted && !req.CompletedAt.Set:
				t.CompletedAt = now
			case req.Status.Value != crm.TaskCompleted && !req.CompletedAt.Set:
				t.CompletedAt = ""
			}
			t.Status = req.Status.Value
		}
		if req.Priority.Set {
			t.Priority = req.Priority.Value
		}
		if req.CompletedAt.Set {
			t.CompletedAt = completedAt
		}
		if req.Categories.Set {
			t.Categories = categories
		}
		refs.apply(&t.ContactID, &t.OwnerID, &t.CustomFields)
		return nil
	})
	if err != nil {
		return storeError(err, "task")
	}
	s.pimChanged(r, c.Viewer.OrgID, t.OwnerID)
	writeJSON(w, http.StatusOK, cleanTask(t))
	return nil
}

func (s *Server) deleteTask(w http.ResponseWriter, r *http.Request, c *caller) error {
	return deleteRecord(w, r, c, "task", s.st.DeleteTask)
}

func (s *Server) listTasks(w http.ResponseWriter, r *http.Request, c *caller) error {
	q, lp, err := s.listRequest(r)
	if err != nil {
		return err
	}
	f := store.TaskFilter{ListParams: lp}
	if f.OwnerID, f.ContactID, err = ownerContactParams(q); err != nil {
		return err
	}
	if q.has("status") {
		f.Status = crm.TaskStatus(q.str("status"))
		if err := checkTaskStatus(f.Status); err != nil {
			return param("status", err)
		}
	}
	page, err := s.st.ListTasks(r.Context(), c.Viewer, f)
	if err != nil {
		return storeError(err, "task")
	}
	return writeList(w, page, cleanTask)
}
