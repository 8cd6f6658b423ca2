package engine

import (
	"fmt"
	"strings"
)

// Stats counts what a pass did, for the account's history.
type Stats struct {
	ToCRM, ToRemote, CreatedCRM, CreatedRemote, Linked, Conflicts, Tombstoned, Skipped, Failed int
	// Categories counts the records given their fixed categories alone.
	Categories int
	// Warned counts the items stored without some values (see
	// Result.ItemWarnings).
	Warned int
}

// String says what the pass did, in the words of the account's history;
// "" when it did nothing.
func (s Stats) String() string {
	var parts []string
	add := func(n int, what string) {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, what))
		}
	}
	add(s.CreatedCRM, "new in the CRM")
	add(s.CreatedRemote, "new on the server")
	add(s.ToCRM, "updated in the CRM")
	add(s.ToRemote, "updated on the server")
	add(s.Linked, "matched")
	add(s.Categories, "given their CRM categories on the server")
	add(s.Conflicts, "conflicts resolved")
	add(s.Tombstoned, "deleted on one side (kept on the other)")
	add(s.Failed, "could not be synced")
	add(s.Warned, "stored without some values")
	return strings.Join(parts, ", ")
}

// Any reports whether the pass did anything.
func (s Stats) Any() bool { return s != Stats{} }

// Add returns the sum of two passes' counts.
func (s Stats) Add(b Stats) Stats {
	s.ToCRM += b.ToCRM
	s.ToRemote += b.ToRemote
	s.CreatedCRM += b.CreatedCRM
	s.CreatedRemote += b.CreatedRemote
	s.Linked += b.Linked
	s.Conflicts += b.Conflicts
	s.Tombstoned += b.Tombstoned
	s.Skipped += b.Skipped
	s.Failed += b.Failed
	s.Categories += b.Categories
	s.Warned += b.Warned
	return s
}
