package api

import (
	"net/http"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// listOutbox lists the caller's messages being sent, sent and refused,
// newest first (DESIGN §4): where each stands, how many attempts, why the
// last one failed, and the stored copy once sent. Members see their own,
// managers also their reports', admins the organisation's, like mailboxes.
func (s *Server) listOutbox(w http.ResponseWriter, r *http.Request, c *caller) error {
	q, lp, err := s.listRequest(r)
	if err != nil {
		return err
	}
	f := store.OutboxFilter{Limit: lp.Limit, Cursor: lp.Cursor}
	switch st := crm.OutboxState(q.str("state")); st {
	case "":
	case crm.OutboxQueued, crm.OutboxSending, crm.OutboxSent, crm.OutboxFailed:
		f.State = st
	default:
		return badRequest(codeInvalidParameter, "state", "%q is not a state of the outbox: choose queued, sending, sent or failed.", st)
	}
	account, err := q.id("account_id")
	if err != nil {
		return err
	}
	if account != nil {
		f.AccountID = *account
	}
	page, err := s.st.ListOutbox(r.Context(), c.Viewer, f)
	if err != nil {
		return storeError(err, "outbox item")
	}
	out := store.Page[outboxView]{NextCursor: page.NextCursor}
	for _, it := range page.Items {
		out.Items = append(out.Items, viewOutbox(it))
	}
	return writeList(w, out, func(v outboxView) outboxView { return v })
}
