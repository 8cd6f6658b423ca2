package accounts

import "github.com/crmsync/crmsync/internal/crm"

// mayAct refuses a change to an account the viewer can see but does not act
// for (crm.Viewer.ActsFor): a manager sees a report's mailbox and its mail,
// but its settings, sync and disconnection are the owner's (and admins').
func mayAct(v crm.Viewer, owner int64, what, email string) error {
	if v.ActsFor(owner) {
		return nil
	}
	return forbidden("Only its owner or an admin can %s %s; you can read what it syncs, but not act on it.", what, email)
}
