package sqlstore

import (
	"context"
	"database/sql"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// AccountCounts groups every mail and PIM account of the server; the
// oldest sync is taken over the accounts that sync (a forwarding-mode or
// disconnected mailbox has no sync to fall behind).
func (db *DB) AccountCounts(ctx context.Context) ([]store.AccountCount, error) {
	var out []store.AccountCount
	scan := func(kind, query string) error {
		rows, err := db.r.QueryContext(ctx, db.q(query))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c := store.AccountCount{Kind: kind}
			var state string
			var oldest sql.NullInt64
			if err := rows.Scan(&c.Provider, &state, &c.ErrorCode, &c.Count, &oldest); err != nil {
				return err
			}
			c.State = crm.AccountState(state)
			if oldest.Valid {
				t := fromMicros(oldest.Int64)
				c.OldestSync = &t
			}
			out = append(out, c)
		}
		return rows.Err()
	}
	if err := scan(store.AccountKindMail, `SELECT provider, state, error_code, COUNT(*),
		MIN(CASE WHEN mode = 'sync' AND disconnected_at IS NULL THEN COALESCE(last_sync_at, created_at) END)
		FROM mail_accounts GROUP BY provider, state, error_code ORDER BY provider, state, error_code`); err != nil {
		return nil, err
	}
	if err := scan(store.AccountKindPIM, `SELECT kind || '/' || service, state, error_code, COUNT(*),
		MIN(COALESCE(last_sync_at, created_at))
		FROM pim_accounts GROUP BY kind, service, state, error_code ORDER BY kind, service, state, error_code`); err != nil {
		return nil, err
	}
	return out, nil
}

// OutboxDepth counts the items queued and those being sent.
func (db *DB) OutboxDepth(ctx context.Context) (queued, sending int64, err error) {
	err = db.r.QueryRowContext(ctx, db.q(`SELECT
		COALESCE(SUM(CASE WHEN state = 'queued' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN state = 'sending' THEN 1 ELSE 0 END), 0)
		FROM outbox WHERE state IN ('queued', 'sending')`)).Scan(&queued, &sending)
	return queued, sending, err
}
