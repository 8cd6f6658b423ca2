package api

import (
	"net/http"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// maxManagerChain bounds the walk up a record owner's managers.
const maxManagerChain = 32

// pimChanged wakes, in this process, the PIM loops that sync a record of
// owner's: the owner's own accounts and those of the managers above them
// (a manager's address book holds their reports' contacts), so a change
// made in the CRM reaches the address book now rather than at the next
// poll. Loops in other processes see it at their next poll. It is best
// effort: a failure to look the accounts up only delays the sync.
func (s *Server) pimChanged(r *http.Request, orgID, owner int64) {
	if s.cfg.WakePIM == nil {
		return
	}
	ctx := r.Context()
	all := crm.Viewer{OrgID: orgID, Role: crm.RoleAdmin}
	seen := map[int64]bool{}
	for uid := owner; uid != 0 && !seen[uid] && len(seen) < maxManagerChain; {
		seen[uid] = true
		p, err := s.st.ListPIMAccounts(ctx, all, store.PIMAccountFilter{UserID: &uid, ListParams: store.ListParams{Limit: store.MaxLimit}})
		if err == nil {
			for _, a := range p.Items {
				s.cfg.WakePIM(a.ID)
			}
		}
		u, err := s.st.GetUser(ctx, orgID, uid)
		if err != nil || u.ManagerID == nil {
			return
		}
		uid = *u.ManagerID
	}
}
