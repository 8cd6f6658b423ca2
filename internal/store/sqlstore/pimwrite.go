package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// The CRM record writes of ApplyPIMWrite: the API's create and update
// paths (validation, visibility, child tables) run inside the PIM write's
// transaction. A replacement is the update path with an apply that refuses
// a record changed since the engine read it (ErrStale); the row is read
// with the dialect's FOR UPDATE, so no write slips in between the check and
// the update.

// replaceIfUnchanged returns an apply that replaces the stored record with
// rec, or fails with store.ErrStale when the stored record's UpdatedAt (as
// updatedAt reads it) is not want.
func replaceIfUnchanged[T any](rec T, want time.Time, updatedAt func(*T) time.Time) func(*T) error {
	return func(p *T) error {
		if micros(updatedAt(p)) != micros(want) {
			return store.ErrStale
		}
		*p = rec
		return nil
	}
}

func (db *DB) pimWriteContact(ctx context.Context, tx *sql.Tx, v crm.Viewer, a author, c crm.Contact) (crm.Contact, error) {
	if c.ID == 0 {
		return db.createContactTx(ctx, tx, v, a, c)
	}
	return db.updateContactTx(ctx, tx, v, a, c.ID, replaceIfUnchanged(c, c.UpdatedAt, func(x *crm.Contact) time.Time { return x.UpdatedAt }))
}

func (db *DB) pimWriteTask(ctx context.Context, tx *sql.Tx, v crm.Viewer, a author, t crm.Task) (crm.Task, error) {
	if t.ID == 0 {
		return db.createTaskTx(ctx, tx, v, a, t)
	}
	return db.updateTaskTx(ctx, tx, v, a, t.ID, replaceIfUnchanged(t, t.UpdatedAt, func(x *crm.Task) time.Time { return x.UpdatedAt }))
}

func (db *DB) pimWriteEvent(ctx context.Context, tx *sql.Tx, v crm.Viewer, a author, e crm.Event) (crm.Event, error) {
	if e.ID == 0 {
		return db.createEventTx(ctx, tx, v, a, e)
	}
	return db.updateEventTx(ctx, tx, v, a, e.ID, replaceIfUnchanged(e, e.UpdatedAt, func(x *crm.Event) time.Time { return x.UpdatedAt }))
}
