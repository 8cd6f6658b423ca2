package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/store"
)

// OAuthApp returns the organisation's app for provider, nil if none.
func (db *DB) OAuthApp(ctx context.Context, orgID int64, provider string) (*store.OAuthApp, error) {
	a := store.OAuthApp{OrgID: orgID, Provider: provider}
	var updated int64
	err := db.r.QueryRowContext(ctx, db.q(`SELECT client_id, tenant, login_url, graph_url, credential_id, updated_at
		FROM oauth_apps WHERE org_id = ? AND provider = ?`), orgID, provider).
		Scan(&a.ClientID, &a.Tenant, &a.LoginURL, &a.GraphURL, &a.CredentialID, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	a.UpdatedAt = fromMicros(updated)
	return &a, nil
}

// PutOAuthApp creates or replaces the organisation's app.
func (db *DB) PutOAuthApp(ctx context.Context, a store.OAuthApp) error {
	_, err := db.exec(ctx, db.q(`INSERT INTO oauth_apps (org_id, provider, client_id, tenant, login_url, graph_url, credential_id, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (org_id, provider) DO UPDATE SET client_id = excluded.client_id, tenant = excluded.tenant,
			login_url = excluded.login_url, graph_url = excluded.graph_url, credential_id = excluded.credential_id,
			updated_at = excluded.updated_at`),
		a.OrgID, a.Provider, a.ClientID, a.Tenant, a.LoginURL, a.GraphURL, a.CredentialID, micros(db.now()))
	return err
}

// DeleteOAuthApp removes the organisation's app.
func (db *DB) DeleteOAuthApp(ctx context.Context, orgID int64, provider string) error {
	res, err := db.exec(ctx, db.q(`DELETE FROM oauth_apps WHERE org_id = ? AND provider = ?`), orgID, provider)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// PutOAuthState records a pending sign-in and sweeps the expired ones.
func (db *DB) PutOAuthState(ctx context.Context, s store.OAuthState, now time.Time) error {
	if _, err := db.exec(ctx, db.q(`DELETE FROM oauth_states WHERE expires_at < ?`), micros(now)); err != nil {
		return err
	}
	_, err := db.exec(ctx, db.q(`INSERT INTO oauth_states (state_hash, org_id, user_id, provider, services, mode, verifier, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
		s.StateHash, s.OrgID, s.UserID, s.Provider, strings.Join(s.Services, " "), s.Mode, s.Verifier, micros(s.ExpiresAt))
	return err
}

// TakeOAuthState deletes the pending sign-in and returns it.
func (db *DB) TakeOAuthState(ctx context.Context, stateHash string) (store.OAuthState, error) {
	s := store.OAuthState{StateHash: stateHash}
	var services string
	var expires int64
	err := db.w.QueryRowContext(ctx, db.q(`DELETE FROM oauth_states WHERE state_hash = ?
		RETURNING org_id, user_id, provider, services, mode, verifier, expires_at`), stateHash).
		Scan(&s.OrgID, &s.UserID, &s.Provider, &services, &s.Mode, &s.Verifier, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return s, store.ErrNotFound
	}
	if err != nil {
		return s, err
	}
	s.Services = strings.Fields(services)
	s.ExpiresAt = fromMicros(expires)
	return s, nil
}
