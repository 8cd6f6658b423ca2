package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// teamCTE selects a user and everyone who reports to them, directly or
// not. UNION (not UNION ALL) ends the recursion even if a cycle slipped in.
const teamCTE = `WITH RECURSIVE team(id) AS (
	SELECT CAST(? AS BIGINT)
	UNION
	SELECT u.id FROM users u JOIN team t ON u.manager_id = t.id WHERE u.org_id = ?
) SELECT id FROM team`

// where accumulates AND-ed conditions and their arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) sql() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// visible adds the conditions that limit a table (alias-free, with org_id
// and owner_id columns) to what v may see.
func visible(w *where, v crm.Viewer) { visibleAs(w, v, "") }

// visibleAs is visible for a table aliased in the query ("m.").
func visibleAs(w *where, v crm.Viewer, alias string) {
	w.add(alias+`org_id = ?`, v.OrgID)
	switch {
	case v.SeesAll():
	case v.SeesTeam():
		w.add(alias+`owner_id IN (`+teamCTE+`)`, v.UserID, v.OrgID)
	default:
		w.add(alias+`owner_id = ?`, v.UserID)
	}
}

// team returns the users who report to userID, transitively (not userID).
func (db *DB) team(ctx context.Context, q queryer, orgID, userID int64) (map[int64]bool, error) {
	rows, err := q.QueryContext(ctx, db.q(teamCTE), userID, orgID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		if id != userID {
			out[id] = true
		}
	}
	return out, rows.Err()
}

// checkOwner verifies that v may give a record to owner: themself, for a
// manager one of their reports, for an admin anyone in the organisation.
func (db *DB) checkOwner(ctx context.Context, q queryer, v crm.Viewer, owner int64) error {
	if owner == v.UserID {
		return nil
	}
	if err := db.checkUserRef(ctx, q, v.OrgID, owner, "owner_id"); err != nil {
		return err
	}
	if v.SeesAll() {
		return nil
	}
	if v.SeesTeam() {
		t, err := db.team(ctx, q, v.OrgID, v.UserID)
		if err != nil {
			return err
		}
		if t[owner] {
			return nil
		}
	}
	return &store.FieldError{Field: "owner_id", Code: "forbidden_owner",
		Message: "you can give records only to yourself or, as a manager, to the people who report to you"}
}

// checkVisibleRef verifies that a referenced record (company, contact) is
// one v may see; otherwise it is reported as not found.
func (db *DB) checkVisibleRef(ctx context.Context, q queryer, v crm.Viewer, table string, id int64, field, what string) error {
	var w where
	w.add(`id = ?`, id)
	visible(&w, v)
	var n int
	if err := q.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM `+table+w.sql()), w.args...).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return &store.FieldError{Field: field, Code: "not_found", Message: "no " + what + " with this id that you can see"}
	}
	return nil
}

// listPage runs a keyset-paginated list: rows after the cursor, by id, one
// more than the limit to know whether a next page exists.
func listPage[T any](ctx context.Context, db *DB, selectFrom string, w where, lp store.ListParams,
	scan func(*sql.Rows) (T, int64, error)) (store.Page[T], error) {
	var page store.Page[T]
	after, err := store.DecodeCursor(lp.Cursor)
	if err != nil {
		return page, err
	}
	limit := store.NormLimit(lp.Limit)
	if after > 0 {
		w.add(`id > ?`, after)
	}
	args := append(w.args, limit+1)
	rows, err := db.r.QueryContext(ctx, db.q(selectFrom+w.sql()+` ORDER BY id LIMIT ?`), args...)
	if err != nil {
		return page, err
	}
	defer rows.Close()
	var lastID int64
	page.Items = make([]T, 0, limit)
	for rows.Next() {
		if len(page.Items) == limit {
			page.NextCursor = store.EncodeCursor(lastID)
			break
		}
		item, id, err := scan(rows)
		if err != nil {
			return page, err
		}
		page.Items = append(page.Items, item)
		lastID = id
	}
	return page, rows.Err()
}

// getVisible reads the row of table with id if v may see it, with lock
// ("" or the dialect's row lock); store.ErrNotFound otherwise, so that
// "not yours" and "does not exist" look the same.
func getVisible[T any](ctx context.Context, db *DB, q queryer, table, cols string, v crm.Viewer, id int64, lock string,
	scan func(interface{ Scan(...any) error }) (T, error)) (T, error) {
	var w where
	w.add(`id = ?`, id)
	visible(&w, v)
	rec, err := scan(q.QueryRowContext(ctx, db.q(`SELECT `+cols+` FROM `+table+w.sql()+lock), w.args...))
	if errors.Is(err, sql.ErrNoRows) {
		return rec, store.ErrNotFound
	}
	return rec, err
}
