package api

import (
	"net/http"
)

// pimChanged wakes, in this process, the PIM loops that sync a record of
// owner's (accounts.Service.RecordChanged), so a change made in the CRM
// reaches the address book now rather than at the next poll.
func (s *Server) pimChanged(r *http.Request, orgID, owner int64) {
	s.acc.RecordChanged(r.Context(), orgID, owner)
}
