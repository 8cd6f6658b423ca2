package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// ListOutbox lists the items v may see, newest first (DESIGN §4). It reads
// the From, recipients and subject out of the request column's JSON in the
// database, so that a page never carries the attachments of its items.
func (db *DB) ListOutbox(ctx context.Context, v crm.Viewer, f store.OutboxFilter) (store.Page[crm.OutboxItem], error) {
	var page store.Page[crm.OutboxItem]
	before, err := store.DecodeCursor(f.Cursor)
	if err != nil {
		return page, err
	}
	var w where
	visible(&w, v)
	if f.State != "" {
		w.add(`state = ?`, string(f.State))
	}
	if f.AccountID != 0 {
		w.add(`account_id = ?`, f.AccountID)
	}
	if before > 0 {
		w.add(`id < ?`, before)
	}
	limit := store.NormLimit(f.Limit)
	at := func(keys ...string) string { return db.d.JSONAt("request", keys...) }
	cols := `id, org_id, owner_id, account_id, message_id, state, attempts, next_attempt_at, last_error, email_id, created_at, updated_at, ` +
		at("from") + `, ` + at("request", "to") + `, ` + at("request", "cc") + `, ` + at("request", "bcc") + `, ` + at("request", "subject")
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+cols+` FROM outbox`+w.sql()+` ORDER BY id DESC LIMIT ?`), append(w.args, limit+1)...)
	if err != nil {
		return page, err
	}
	defer rows.Close()
	page.Items = make([]crm.OutboxItem, 0, limit)
	for rows.Next() {
		if len(page.Items) == limit {
			page.NextCursor = store.EncodeCursor(page.Items[limit-1].ID)
			break
		}
		var it crm.OutboxItem
		var next, created, updated int64
		var emailID sql.NullInt64
		var from, to, cc, bcc, subject sql.NullString
		if err := rows.Scan(&it.ID, &it.OrgID, &it.OwnerID, &it.AccountID, &it.MessageID, &it.State, &it.Attempts, &next, &it.LastError, &emailID,
			&created, &updated, &from, &to, &cc, &bcc, &subject); err != nil {
			return page, err
		}
		for _, p := range []struct {
			s   sql.NullString
			dst any
		}{{from, &it.From}, {to, &it.Request.To}, {cc, &it.Request.Cc}, {bcc, &it.Request.Bcc}, {subject, &it.Request.Subject}} {
			if p.s.Valid {
				if err := json.Unmarshal([]byte(p.s.String), p.dst); err != nil {
					return page, err
				}
			}
		}
		it.NextAttemptAt, it.CreatedAt, it.UpdatedAt = fromMicros(next), fromMicros(created), fromMicros(updated)
		it.EmailID = fromOptInt(emailID)
		page.Items = append(page.Items, it)
	}
	return page, rows.Err()
}
