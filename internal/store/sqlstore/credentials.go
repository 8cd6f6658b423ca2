package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/crmsync/crmsync/internal/store"
)

// PutCredential inserts or replaces a credential.
func (db *DB) PutCredential(ctx context.Context, c store.Credential) error {
	now := db.now()
	_, err := db.exec(ctx, db.q(`INSERT INTO credentials (id, org_id, purpose, ciphertext, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET purpose = excluded.purpose, ciphertext = excluded.ciphertext, updated_at = excluded.updated_at
		WHERE credentials.org_id = excluded.org_id`),
		c.ID, c.OrgID, c.Purpose, c.Ciphertext, micros(now))
	return err
}

func scanCredential(sc interface{ Scan(...any) error }) (store.Credential, error) {
	var c store.Credential
	var updated int64
	err := sc.Scan(&c.ID, &c.OrgID, &c.Purpose, &c.Ciphertext, &updated)
	c.UpdatedAt = fromMicros(updated)
	return c, err
}

// GetCredential returns a credential of the organisation.
func (db *DB) GetCredential(ctx context.Context, orgID int64, id string) (store.Credential, error) {
	c, err := scanCredential(db.r.QueryRowContext(ctx, db.q(`SELECT id, org_id, purpose, ciphertext, updated_at FROM credentials WHERE id = ? AND org_id = ?`), id, orgID))
	if errors.Is(err, sql.ErrNoRows) {
		return c, store.ErrNotFound
	}
	return c, err
}

// DeleteCredential removes a credential no account uses any more. One a
// mail or PIM account still refers to is kept and nil returned: a token
// set of a provider is shared by every account the sign-in connected
// (mail, contacts, calendar, tasks), and goes with the last of them.
func (db *DB) DeleteCredential(ctx context.Context, orgID int64, id string) error {
	res, err := db.exec(ctx, db.q(`DELETE FROM credentials WHERE id = ? AND org_id = ?`+unusedCredential), id, orgID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var one int
		err := db.r.QueryRowContext(ctx, db.q(`SELECT 1 FROM credentials WHERE id = ? AND org_id = ?`), id, orgID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		return err
	}
	return nil
}

// unusedCredential is the condition that no account refers to the
// credential a DELETE FROM credentials removes.
const unusedCredential = ` AND NOT EXISTS (SELECT 1 FROM mail_accounts m WHERE m.credential_id = credentials.id)
	AND NOT EXISTS (SELECT 1 FROM pim_accounts p WHERE p.credential_id = credentials.id)`

// ListCredentials pages through all credentials by id.
func (db *DB) ListCredentials(ctx context.Context, afterID string, limit int) ([]store.Credential, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT id, org_id, purpose, ciphertext, updated_at FROM credentials WHERE id > ? ORDER BY id LIMIT ?`), afterID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Credential
	for rows.Next() {
		c, err := scanCredential(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ReplaceCiphertext swaps a ciphertext if it is still old.
func (db *DB) ReplaceCiphertext(ctx context.Context, id string, old, new []byte) error {
	res, err := db.exec(ctx, db.q(`UPDATE credentials SET ciphertext = ?, updated_at = ? WHERE id = ? AND ciphertext = ?`),
		new, micros(db.now()), id, old)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrStale
	}
	return nil
}
