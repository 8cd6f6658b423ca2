package api

import (
	"net/http"

	"github.com/crmsync/crmsync/internal/store"
)

// The history of a record (store.History): GET …/{id}/history on every
// kind of CRM record, newest first, paged like any list. Whoever may see
// the record may read it; a deleted record's history stays readable by
// whoever could see it when it was deleted.

// historyRoutes registers the history of each kind of record.
func (s *Server) historyRoutes() {
	for _, k := range []struct {
		path string
		kind store.RecordKind
	}{
		{"companies", store.KindCompany},
		{"contacts", store.KindContact},
		{"opportunities", store.KindOpportunity},
		{"tasks", store.KindTask},
		{"events", store.KindEvent},
	} {
		s.queried("GET /api/v1/"+k.path+"/{id}/history", s.recordHistory(k.kind), "limit", "cursor")
	}
}

// recordHistory answers the history of a record of kind.
func (s *Server) recordHistory(kind store.RecordKind) authedFunc {
	return func(w http.ResponseWriter, r *http.Request, c *caller) error {
		id, err := pathID(r, "id")
		if err != nil {
			return err
		}
		_, lp, err := s.listRequest(r)
		if err != nil {
			return err
		}
		page, err := s.st.RecordHistory(r.Context(), c.Viewer, kind, id, lp)
		if err != nil {
			return storeError(err, string(kind))
		}
		return writeList(w, page, func(e store.HistoryEntry) store.HistoryEntry { return e })
	}
}
