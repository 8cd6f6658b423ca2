package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

const taskCols = `id, org_id, owner_id, summary, description, due, status, priority, completed_at, categories, contact_id, custom_fields, created_at, updated_at`

func scanTask(sc interface{ Scan(...any) error }) (crm.Task, error) {
	var t crm.Task
	var due, status, completed, categories, custom string
	var contact sql.NullInt64
	var created, updated int64
	if err := sc.Scan(&t.ID, &t.OrgID, &t.OwnerID, &t.Summary, &t.Description, &due, &status, &t.Priority, &completed,
		&categories, &contact, &custom, &created, &updated); err != nil {
		return t, err
	}
	t.Due, t.Status, t.CompletedAt = crm.When(due), crm.TaskStatus(status), crm.When(completed)
	t.ContactID = fromOptInt(contact)
	t.CreatedAt, t.UpdatedAt = fromMicros(created), fromMicros(updated)
	if err := json.Unmarshal([]byte(categories), &t.Categories); err != nil {
		return t, err
	}
	if err := json.Unmarshal([]byte(custom), &t.CustomFields); err != nil {
		return t, err
	}
	if t.Categories == nil {
		t.Categories = []string{}
	}
	if t.CustomFields == nil {
		t.CustomFields = map[string]string{}
	}
	return t, nil
}

// prepareTask fills t's defaults (status needs_action, empty collections),
// normalizes its categories and returns the values of its JSON columns.
func prepareTask(t *crm.Task) (categories, custom string, err error) {
	if t.Status == "" {
		t.Status = crm.TaskNeedsAction
	}
	if !t.Status.Valid() {
		return "", "", &store.FieldError{Field: "status", Code: "invalid",
			Message: "must be needs_action, in_process, completed or cancelled"}
	}
	t.Categories = normCategories(t.Categories)
	if t.CustomFields == nil {
		t.CustomFields = map[string]string{}
	}
	m, _ := json.Marshal(t.CustomFields)
	return jsonList(t.Categories), string(m), nil
}

// checkRecordRefs verifies the owner and the contact of a task or an event
// being written: each only when new or changed, as for contacts.
func (db *DB) checkRecordRefs(ctx context.Context, tx *sql.Tx, v crm.Viewer, owner, oldOwner int64, contact, oldContact *int64, isNew bool) error {
	if isNew || owner != oldOwner {
		if err := db.checkOwner(ctx, tx, v, owner); err != nil {
			return err
		}
	}
	if contact != nil && (isNew || oldContact == nil || *oldContact != *contact) {
		return db.checkVisibleRef(ctx, tx, v, "contacts", *contact, "contact_id", "contact")
	}
	return nil
}

// CreateTask stores a new task.
func (db *DB) CreateTask(ctx context.Context, v crm.Viewer, t crm.Task) (crm.Task, error) {
	var out crm.Task
	err := db.tx(ctx, func(tx *sql.Tx) (err error) {
		out, err = db.createTaskTx(ctx, tx, v, byUser(v), t)
		return err
	})
	return out, err
}

// createTaskTx is CreateTask inside tx (also the PIM sync's writes).
// a is who makes the change, for the record's history.
func (db *DB) createTaskTx(ctx context.Context, tx *sql.Tx, v crm.Viewer, a author, t crm.Task) (crm.Task, error) {
	now := db.now()
	t.OrgID, t.CreatedAt, t.UpdatedAt = v.OrgID, now, now
	categories, custom, err := prepareTask(&t)
	if err != nil {
		return t, err
	}
	if err := db.checkRecordRefs(ctx, tx, v, t.OwnerID, 0, t.ContactID, nil, true); err != nil {
		return t, err
	}
	err = tx.QueryRowContext(ctx, db.q(`INSERT INTO tasks (org_id, owner_id, summary, description, due, status, priority, completed_at, categories, contact_id, custom_fields, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		t.OrgID, t.OwnerID, t.Summary, t.Description, string(t.Due), string(t.Status), t.Priority, string(t.CompletedAt),
		categories, optInt(t.ContactID), custom, micros(now), micros(now)).Scan(&t.ID)
	if err != nil {
		return t, err
	}
	return t, db.logCreate(ctx, tx, recordRef{t.OrgID, store.KindTask, t.ID, t.OwnerID}, a)
}

func (db *DB) getTask(ctx context.Context, q queryer, v crm.Viewer, id int64, lock string) (crm.Task, error) {
	t, err := getVisible(ctx, db, q, "tasks", taskCols, v, id, lock, scanTask)
	return t, err
}

// GetTask returns a task v may see.
func (db *DB) GetTask(ctx context.Context, v crm.Viewer, id int64) (crm.Task, error) {
	return db.getTask(ctx, db.r, v, id, "")
}

// UpdateTask changes a task in one transaction.
func (db *DB) UpdateTask(ctx context.Context, v crm.Viewer, id int64, apply func(*crm.Task) error) (crm.Task, error) {
	var out crm.Task
	err := db.tx(ctx, func(tx *sql.Tx) (err error) {
		out, err = db.updateTaskTx(ctx, tx, v, byUser(v), id, apply)
		return err
	})
	return out, err
}

// updateTaskTx is UpdateTask inside tx (also the PIM sync's writes): it
// reads the task with the dialect's row lock, lets apply change it and
// writes it back.
func (db *DB) updateTaskTx(ctx context.Context, tx *sql.Tx, v crm.Viewer, a author, id int64, apply func(*crm.Task) error) (crm.Task, error) {
	old, err := db.getTask(ctx, tx, v, id, db.d.ForUpdate)
	if err != nil {
		return old, err
	}
	t := old
	t.Categories = append([]string(nil), old.Categories...)
	t.ContactID = copyOptInt(old.ContactID)
	t.CustomFields = copyMap(old.CustomFields)
	if err := apply(&t); err != nil {
		return old, err
	}
	t.ID, t.OrgID, t.CreatedAt = id, v.OrgID, old.CreatedAt
	categories, custom, err := prepareTask(&t)
	if err != nil {
		return old, err
	}
	if err := db.checkRecordRefs(ctx, tx, v, t.OwnerID, old.OwnerID, t.ContactID, old.ContactID, false); err != nil {
		return old, err
	}
	t.UpdatedAt = db.now()
	if _, err := tx.ExecContext(ctx, db.q(`UPDATE tasks SET owner_id = ?, summary = ?, description = ?, due = ?, status = ?, priority = ?, completed_at = ?,
		categories = ?, contact_id = ?, custom_fields = ?, updated_at = ? WHERE id = ?`),
		t.OwnerID, t.Summary, t.Description, string(t.Due), string(t.Status), t.Priority, string(t.CompletedAt),
		categories, optInt(t.ContactID), custom, micros(t.UpdatedAt), id); err != nil {
		return old, err
	}
	return t, db.logUpdate(ctx, tx, recordRef{t.OrgID, store.KindTask, t.ID, t.OwnerID}, a, old, t)
}

// DeleteTask removes a task.
func (db *DB) DeleteTask(ctx context.Context, v crm.Viewer, id int64) error {
	return db.deleteVisible(ctx, v, store.KindTask, id, "")
}

// ListTasks pages through the tasks v may see.
func (db *DB) ListTasks(ctx context.Context, v crm.Viewer, f store.TaskFilter) (store.Page[crm.Task], error) {
	var w where
	visible(&w, v)
	if f.Q != "" {
		w.add(`lower(summary) LIKE ? ESCAPE '\'`, likePattern(f.Q))
	}
	if f.OwnerID != nil {
		w.add(`owner_id = ?`, *f.OwnerID)
	}
	if f.ContactID != nil {
		w.add(`contact_id = ?`, *f.ContactID)
	}
	if f.Status != "" {
		w.add(`status = ?`, string(f.Status))
	}
	return listPage(ctx, db, `SELECT `+taskCols+` FROM tasks`, w, f.ListParams, func(r *sql.Rows) (crm.Task, int64, error) {
		t, err := scanTask(r)
		return t, t.ID, err
	})
}

func copyOptInt(p *int64) *int64 {
	if p == nil {
		return nil
	}
	x := *p
	return &x
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
