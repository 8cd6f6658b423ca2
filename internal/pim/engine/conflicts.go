package engine

import (
	"context"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/store"
)

// Under every policy the value a conflict overwrote stays findable: the
// store writes each conflict to the record's history with the write that
// settles it (store.PIMWrite.Conflicts), and the account's history names
// the record and both values. Newest-wins also keeps it in a
// replaced_<field>_<date> custom field.

// Bounds of the conflicts a pass names one by one in the account's
// history (a first sync against a diverged address book may have
// thousands); the record histories keep every one.
const (
	maxConflictEvents = 20
	maxEventValue     = 200 // characters of a value quoted in an event
)

// saveConflicts writes the mapping m with the conflicts its merge decided
// (none: a plain save) and names them in the account's history.
func (p *collectionPass) saveConflicts(ctx context.Context, m *store.PIMItem, href string, id int64, cs []pim.Conflict) error {
	w, err := p.port.ApplyPIMWrite(ctx, store.PIMWrite{Item: m, AccountID: p.coll.AccountID, Conflicts: cs})
	if err != nil {
		return err
	}
	*m = *w.Item
	p.conflictEvents(ctx, href, id, cs)
	return nil
}

// conflictEvents writes a "conflict" event per conflict to the account's
// history (the first maxConflictEvents of the pass; the others are
// counted by conflictsLeftOut).
func (p *collectionPass) conflictEvents(ctx context.Context, href string, id int64, cs []pim.Conflict) {
	for _, c := range cs {
		p.conflicted++
		if p.conflicted > maxConflictEvents {
			continue
		}
		kept, lost := c.CRM, c.Remote
		keptBy, lostBy := "the CRM", "the server"
		if c.Winner == pim.SideRemote {
			kept, lost, keptBy, lostBy = c.Remote, c.CRM, lostBy, keptBy
		}
		p.event(ctx, "conflict", fmt.Sprintf("%s %d (%s): %s was changed on both sides; kept %s from %s, replaced %s from %s, which is kept in the record's history.",
			p.side.recordType(), id, href, c.Field, quoteCut(kept.String()), keptBy, quoteCut(lost.String()), lostBy))
	}
}

// conflictsLeftOut writes, at the end of a pass, how many conflicts were
// not named one by one.
func (p *collectionPass) conflictsLeftOut(ctx context.Context) {
	if n := p.conflicted - maxConflictEvents; n > 0 {
		p.event(ctx, "conflict", fmt.Sprintf("%s: %d more fields were changed on both sides; each record's history keeps the values replaced.", p.coll.DisplayName, n))
	}
}

// quoteCut quotes a value for an event, cut past maxEventValue characters.
func quoteCut(s string) string {
	if s == "" {
		return "an empty value"
	}
	if utf8.RuneCountInString(s) > maxEventValue {
		s = string([]rune(s)[:maxEventValue]) + "…"
	}
	return strconv.Quote(s)
}
