package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/crmsync/crmsync/internal/store"
)

// SSOProvider returns the organisation's provider, nil if none.
func (db *DB) SSOProvider(ctx context.Context, orgID int64) (*store.SSOProvider, error) {
	p := store.SSOProvider{OrgID: orgID}
	var updated int64
	err := db.r.QueryRowContext(ctx, db.q(`SELECT name, issuer, client_id, credential_id, updated_at
		FROM sso_providers WHERE org_id = ?`), orgID).
		Scan(&p.Name, &p.Issuer, &p.ClientID, &p.CredentialID, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p.UpdatedAt = fromMicros(updated)
	return &p, nil
}

// PutSSOProvider creates or replaces the organisation's provider.
func (db *DB) PutSSOProvider(ctx context.Context, p store.SSOProvider) error {
	_, err := db.exec(ctx, db.q(`INSERT INTO sso_providers (org_id, name, issuer, client_id, credential_id, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (org_id) DO UPDATE SET name = excluded.name, issuer = excluded.issuer,
			client_id = excluded.client_id, credential_id = excluded.credential_id, updated_at = excluded.updated_at`),
		p.OrgID, p.Name, p.Issuer, p.ClientID, p.CredentialID, micros(db.now()))
	return err
}

// DeleteSSOProvider removes the organisation's provider.
func (db *DB) DeleteSSOProvider(ctx context.Context, orgID int64) error {
	res, err := db.exec(ctx, db.q(`DELETE FROM sso_providers WHERE org_id = ?`), orgID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// SSOSignInChoices counts the organisations and lists up to limit
// configured providers.
func (db *DB) SSOSignInChoices(ctx context.Context, limit int) (int, []store.SSOProvider, error) {
	var orgs int
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM orgs`).Scan(&orgs); err != nil {
		return 0, nil, err
	}
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT org_id, name, issuer, client_id, credential_id, updated_at
		FROM sso_providers ORDER BY org_id LIMIT ?`), limit)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	var out []store.SSOProvider
	for rows.Next() {
		var p store.SSOProvider
		var updated int64
		if err := rows.Scan(&p.OrgID, &p.Name, &p.Issuer, &p.ClientID, &p.CredentialID, &updated); err != nil {
			return 0, nil, err
		}
		p.UpdatedAt = fromMicros(updated)
		out = append(out, p)
	}
	return orgs, out, rows.Err()
}

// PutSSOState records a sign-in in progress and sweeps the expired ones.
func (db *DB) PutSSOState(ctx context.Context, s store.SSOState, now time.Time) error {
	if _, err := db.exec(ctx, db.q(`DELETE FROM sso_states WHERE expires_at < ?`), micros(now)); err != nil {
		return err
	}
	_, err := db.exec(ctx, db.q(`INSERT INTO sso_states (state_hash, org_id, verifier, nonce_hash, next_path, expires_at)
		VALUES (?, ?, ?, ?, ?, ?)`),
		s.StateHash, s.OrgID, s.Verifier, s.NonceHash, s.Next, micros(s.ExpiresAt))
	return err
}

// TakeSSOState deletes the sign-in and returns it.
func (db *DB) TakeSSOState(ctx context.Context, stateHash string) (store.SSOState, error) {
	s := store.SSOState{StateHash: stateHash}
	var expires int64
	err := db.w.QueryRowContext(ctx, db.q(`DELETE FROM sso_states WHERE state_hash = ?
		RETURNING org_id, verifier, nonce_hash, next_path, expires_at`), stateHash).
		Scan(&s.OrgID, &s.Verifier, &s.NonceHash, &s.Next, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return s, store.ErrNotFound
	}
	if err != nil {
		return s, err
	}
	s.ExpiresAt = fromMicros(expires)
	return s, nil
}
