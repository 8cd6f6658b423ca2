package crm

// Viewer is who is asking: every read and write of CRM records is made on
// behalf of one. The store turns it into a query filter; nothing outside the
// viewer's organisation is ever returned.
type Viewer struct {
	OrgID  int64
	UserID int64
	Role   Role
}

// SeesAll reports whether the viewer sees every record of the organisation,
// regardless of owner.
func (v Viewer) SeesAll() bool { return v.Role == RoleAdmin }

// SeesTeam reports whether the viewer sees, besides their own records, those
// of the users who report to them directly or indirectly.
func (v Viewer) SeesTeam() bool { return v.Role == RoleManager }

// CanAdminister reports whether the viewer may manage users and the
// organisation's settings.
func (v Viewer) CanAdminister() bool { return v.Role == RoleAdmin }

// ActsFor reports whether the viewer may act on what owner connected — a
// mailbox's or address book's settings, sync, disconnection, and the flags
// crmsync writes back to the provider: the owner, and admins (who offboard
// people). Seeing is wider than acting: a manager reads their reports' mail
// but does not act on their mailboxes.
func (v Viewer) ActsFor(owner int64) bool { return v.UserID == owner || v.CanAdminister() }

// Reports returns the set of users who report to manager, directly or
// through others, given each user's manager. Cycles (which the store refuses
// to create, but a bad import could hold) end the walk instead of looping.
func Reports(manager int64, managerOf map[int64]int64) map[int64]bool {
	children := map[int64][]int64{}
	for u, m := range managerOf {
		children[m] = append(children[m], u)
	}
	seen := map[int64]bool{}
	queue := []int64{manager}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		for _, c := range children[id] {
			if c != manager && !seen[c] {
				seen[c] = true
				queue = append(queue, c)
			}
		}
	}
	return seen
}
