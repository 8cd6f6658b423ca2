package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/crmsync/crmsync/internal/accounts"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// PIMConnector is what the PIM account endpoints need of the outside
// world: a real login, with discovery of the address books and calendars,
// before anything is saved, and sealing the password. cmd/crmsync wires
// the real one (pimconn); tests may wire fakes or the real one against
// Radicale.
type PIMConnector = accounts.PIMConnector

// PIMOptionsRequest is the options of a new PIM account.
type PIMOptionsRequest struct {
	ConflictPolicy   string   `json:"conflict_policy"`
	ImportCategories []string `json:"import_categories"`
	Collection       string   `json:"collection"`
	TaskCollection   string   `json:"task_collection"`
	EventCategories  []string `json:"event_categories"`
}

// UnmarshalJSON decodes the options strictly.
func (o *PIMOptionsRequest) UnmarshalJSON(b []byte) error {
	type plain PIMOptionsRequest
	return strictJSON(b, (*plain)(o), "options")
}

// PIMAccountCreationRequest is the body of POST /api/v1/pim-accounts.
type PIMAccountCreationRequest struct {
	Kind     string             `json:"kind"`
	URL      string             `json:"url"`
	Username string             `json:"username"`
	Password string             `json:"password"`
	UserID   *int64             `json:"user_id"` // default: the caller
	Options  *PIMOptionsRequest `json:"options"`
}

// PIMOptionsUpdateRequest changes some options: only the fields present
// change.
type PIMOptionsUpdateRequest struct {
	ConflictPolicy   Opt[string]   `json:"conflict_policy"`
	ImportCategories Opt[[]string] `json:"import_categories"`
	Collection       Opt[string]   `json:"collection"`
	TaskCollection   Opt[string]   `json:"task_collection"`
	EventCategories  Opt[[]string] `json:"event_categories"`
}

// UnmarshalJSON decodes the options strictly, also inside an Opt.
func (o *PIMOptionsUpdateRequest) UnmarshalJSON(b []byte) error {
	type plain PIMOptionsUpdateRequest
	return strictJSON(b, (*plain)(o), "options")
}

// PIMAccountUpdateRequest is the body of PATCH /api/v1/pim-accounts/{id}.
type PIMAccountUpdateRequest struct {
	URL      Opt[string]                  `json:"url"`
	Username Opt[string]                  `json:"username"`
	Password Opt[string]                  `json:"password"`
	Options  Opt[PIMOptionsUpdateRequest] `json:"options"`
}

// pimAccountSummary is an account as lists show it: its true state
// (accounts.SummarizePIM).
type pimAccountSummary struct {
	crm.PIMAccount
	Status   *errorView    `json:"status,omitempty"`
	Progress *progressView `json:"progress,omitempty"`
}

// pimAccountView is an account with what it syncs and how that went
// (accounts.Service.PIMView, which the web app shows too).
type pimAccountView struct {
	pimAccountSummary
	Collections []store.PIMCollection   `json:"collections"`
	Counts      accounts.PIMCounts      `json:"counts"`
	ItemErrors  []accounts.PIMItemError `json:"item_errors"`
	// Warnings are what the user should look at though nothing failed
	// (accounts.Service.PIMWarnings).
	Warnings []string             `json:"warnings"`
	History  []store.AccountEvent `json:"history"`
}

const maxUsername = 320

func pimSummary(a crm.PIMAccount) pimAccountSummary {
	return summaryView(accounts.SummarizePIM(a))
}

func summaryView(sum accounts.PIMSummary) pimAccountSummary {
	v := pimAccountSummary{PIMAccount: sum.Account}
	v.Progress = sum.Progress
	v.Status = sum.Failure
	return v
}

func (s *Server) pimAccountView(ctx context.Context, a crm.PIMAccount) (pimAccountView, error) {
	pv, err := s.acc.PIMView(ctx, a)
	if err != nil {
		return pimAccountView{}, err
	}
	return pimAccountView{pimAccountSummary: summaryView(pv.PIMSummary), Collections: pv.Collections, Counts: pv.Counts,
		ItemErrors: pv.ItemErrors, Warnings: pv.Warnings, History: pv.History}, nil
}

// createPIMAccount connects an address book or calendar server
// (accounts.Service.ConnectPIM).
func (s *Server) createPIMAccount(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req PIMAccountCreationRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	username, err := text("username", req.Username, true, maxUsername)
	if err != nil {
		return err
	}
	var ro PIMOptionsRequest
	if req.Options != nil {
		ro = *req.Options
	}
	opts := accounts.PIMOptionsRequest{ConflictPolicy: ro.ConflictPolicy, Collection: ro.Collection, TaskCollection: ro.TaskCollection}
	if opts.ImportCategories, err = normCategories("options.import_categories", ro.ImportCategories, fixedNotImports); err != nil {
		return err
	}
	if opts.EventCategories, err = normCategories("options.event_categories", ro.EventCategories, fixedAllowed); err != nil {
		return err
	}
	a, err := s.acc.ConnectPIM(r.Context(), c.Viewer, accounts.PIMConnectionRequest{Kind: req.Kind, URL: req.URL, Username: username,
		Password: req.Password, UserID: req.UserID, Options: opts})
	if err != nil {
		return accountError(verifyError(err), "user")
	}
	v, err := s.pimAccountView(r.Context(), a)
	if err != nil {
		return err
	}
	return created(w, fmt.Sprintf("/api/v1/pim-accounts/%d", a.ID), v)
}

func (s *Server) getPIMAccount(w http.ResponseWriter, r *http.Request, c *caller) error {
	return getRecord(w, r, c, "PIM account", s.st.GetPIMAccount, s.pimAccountView)
}

func (s *Server) listPIMAccounts(w http.ResponseWriter, r *http.Request, c *caller) error {
	q, lp, err := s.listRequest(r)
	if err != nil {
		return err
	}
	f := store.PIMAccountFilter{ListParams: lp}
	if f.UserID, err = q.id("user_id"); err != nil {
		return err
	}
	page, err := s.st.ListPIMAccounts(r.Context(), c.Viewer, f)
	if err != nil {
		return storeError(err, "PIM account")
	}
	out := store.Page[pimAccountSummary]{NextCursor: page.NextCursor}
	for _, a := range page.Items {
		out.Items = append(out.Items, pimSummary(a))
	}
	return writeList(w, out, func(v pimAccountSummary) pimAccountSummary { return v })
}

// updatePIMAccount changes an account's server, login or options
// (accounts.Service.UpdatePIM).
func (s *Server) updatePIMAccount(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := s.acc.PIMEnabled(); err != nil {
		return accountError(err, "")
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req PIMAccountUpdateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	mod, err := req.modification()
	if err != nil {
		return err
	}
	a, err := s.acc.UpdatePIM(r.Context(), c.Viewer, id, mod)
	if err != nil {
		return accountError(verifyError(err), "PIM account")
	}
	v, err := s.pimAccountView(r.Context(), a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, v)
	return nil
}

// modification is the service's request: absent fields nil, nulls
// refused, username and categories checked as every record's are.
func (req PIMAccountUpdateRequest) modification() (accounts.PIMAccountModificationRequest, error) {
	var m accounts.PIMAccountModificationRequest
	var err error
	if m.URL, err = given(req.URL, "url", "give the server's address."); err != nil {
		return m, err
	}
	if m.Username, err = given(req.Username, "username", "give the username to log in with."); err != nil {
		return m, err
	}
	if m.Username != nil {
		if *m.Username, err = text("username", *m.Username, true, maxUsername); err != nil {
			return m, err
		}
	}
	if m.Password, err = given(req.Password, "password", "give the new password."); err != nil {
		return m, err
	}
	o, err := given(req.Options, "options", "send the options to change, as an object.")
	if err != nil || o == nil {
		return m, err
	}
	if m.ConflictPolicy, err = given(o.ConflictPolicy, "options.conflict_policy", `send "newest_wins" for the default.`); err != nil {
		return m, err
	}
	if m.ImportCategories, err = categories(o.ImportCategories, "options.import_categories", "send [] to import every category.", fixedNotImports); err != nil {
		return m, err
	}
	if m.EventCategories, err = categories(o.EventCategories, "options.event_categories", "send [] to sync events of every category.", fixedAllowed); err != nil {
		return m, err
	}
	if m.Collection, err = given(o.Collection, "options.collection", `send "" for the first one on the server.`); err != nil {
		return m, err
	}
	m.TaskCollection, err = given(o.TaskCollection, "options.task_collection", `send "" for one chosen by crmsync.`)
	return m, err
}

// categories reads a list of categories of a partial update.
func categories(o Opt[[]string], field, hint string, fixed fixedCategories) (*[]string, error) {
	v, err := given(o, field, hint)
	if err != nil || v == nil {
		return nil, err
	}
	if *v, err = normCategories(field, *v, fixed); err != nil {
		return nil, err
	}
	return v, nil
}

// deletePIMAccount stops an account's sync and forgets it
// (accounts.Service.DeletePIM): nothing is deleted on the server, and the
// CRM records it brought in stay.
func (s *Server) deletePIMAccount(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.acc.DeletePIM(r.Context(), c.Viewer, id); err != nil {
		return accountError(err, "PIM account")
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// syncPIMAccount asks for a sync now: the account's loop runs at once
// rather than at its next due time.
func (s *Server) syncPIMAccount(w http.ResponseWriter, r *http.Request, c *caller) error {
	if err := s.acc.PIMEnabled(); err != nil {
		return accountError(err, "")
	}
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	a, err := s.acc.SyncPIMNow(r.Context(), c.Viewer, id)
	if err != nil {
		return accountError(err, "PIM account")
	}
	v, err := s.pimAccountView(r.Context(), a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, v)
	return nil
}
