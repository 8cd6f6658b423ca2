package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

const tokenCols = `t.id, t.org_id, t.user_id, t.name, t.kind, t.prefix, t.created_at, t.last_used_at, t.expires_at, t.user_agent, t.client_ip`

func scanToken(sc interface{ Scan(...any) error }, extra ...any) (crm.Token, error) {
	var t crm.Token
	var created int64
	var used, expires sql.NullInt64
	dest := append([]any{&t.ID, &t.OrgID, &t.UserID, &t.Name, &t.Kind, &t.Prefix, &created, &used, &expires, &t.UserAgent, &t.ClientIP}, extra...)
	if err := sc.Scan(dest...); err != nil {
		return t, err
	}
	t.CreatedAt = fromMicros(created)
	t.LastUsedAt, t.ExpiresAt = fromOptMicros(used), fromOptMicros(expires)
	return t, nil
}

// CreateToken stores a token, refusing an API token beyond the limit. The
// user's row is locked first so two concurrent creations cannot both pass
// the count.
func (db *DB) CreateToken(ctx context.Context, p store.TokenParams) (t crm.Token, err error) {
	err = db.tx(ctx, func(tx *sql.Tx) error {
		var uid int64
		err := tx.QueryRowContext(ctx, db.q(`SELECT id FROM users WHERE id = ? AND org_id = ?`+db.d.ForUpdate), p.UserID, p.OrgID).Scan(&uid)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		t, err = db.insertToken(ctx, tx, p)
		return err
	})
	return t, err
}

func (db *DB) insertToken(ctx context.Context, tx *sql.Tx, p store.TokenParams) (crm.Token, error) {
	if p.CreatedAt.IsZero() {
		p.CreatedAt = db.now()
	}
	p.CreatedAt = p.CreatedAt.UTC().Truncate(time.Microsecond)
	if p.Kind == crm.TokenAPI {
		var n int
		if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM api_tokens WHERE user_id = ? AND kind = 'api' AND revoked_at IS NULL`), p.UserID).Scan(&n); err != nil {
			return crm.Token{}, err
		}
		if n >= crm.MaxAPITokensPerUser {
			return crm.Token{}, store.ErrTokenLimit
		}
	}
	t := crm.Token{OrgID: p.OrgID, UserID: p.UserID, Name: p.Name, Kind: p.Kind, Prefix: p.Prefix, CreatedAt: p.CreatedAt,
		UserAgent: p.UserAgent, ClientIP: p.ClientIP}
	if p.ExpiresAt != nil {
		e := p.ExpiresAt.UTC().Truncate(time.Microsecond)
		t.ExpiresAt = &e
	}
	err := tx.QueryRowContext(ctx, db.q(`INSERT INTO api_tokens (org_id, user_id, name, kind, hash, prefix, created_at, expires_at, user_agent, client_ip)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		p.OrgID, p.UserID, p.Name, string(p.Kind), p.Hash, p.Prefix, micros(p.CreatedAt), optMicros(t.ExpiresAt), p.UserAgent, p.ClientIP).Scan(&t.ID)
	if err != nil && db.d.IsUnique(err) {
		return t, store.ErrConflict
	}
	return t, err
}

// TokenByHash authenticates a request.
func (db *DB) TokenByHash(ctx context.Context, hash []byte, now time.Time) (crm.Token, crm.User, error) {
	var u crm.User
	var mgr sql.NullInt64
	var ucreated, uupdated int64
	t, err := scanToken(db.r.QueryRowContext(ctx, db.q(`SELECT `+tokenCols+`, u.id, u.org_id, u.email, u.name, u.role, u.manager_id, u.created_at, u.updated_at, u.language
		FROM api_tokens t JOIN users u ON u.id = t.user_id
		WHERE t.hash = ? AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?) AND u.deactivated_at IS NULL`), hash, micros(now)),
		&u.ID, &u.OrgID, &u.Email, &u.Name, &u.Role, &mgr, &ucreated, &uupdated, &u.Language)
	if errors.Is(err, sql.ErrNoRows) {
		return t, u, store.ErrNotFound
	}
	u.ManagerID, u.Active = fromOptInt(mgr), true // a deactivated user's tokens are refused
	u.CreatedAt, u.UpdatedAt = fromMicros(ucreated), fromMicros(uupdated)
	return t, u, err
}

// TouchToken records when a token was last used.
func (db *DB) TouchToken(ctx context.Context, id int64, at time.Time) error {
	_, err := db.exec(ctx, db.q(`UPDATE api_tokens SET last_used_at = ? WHERE id = ?`), micros(at), id)
	return err
}

// ListTokens lists a user's active tokens of one kind.
func (db *DB) ListTokens(ctx context.Context, orgID, userID int64, kind crm.TokenKind, now time.Time) ([]crm.Token, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+tokenCols+` FROM api_tokens t
		WHERE t.org_id = ? AND t.user_id = ? AND t.kind = ? AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?)
		ORDER BY t.id`), orgID, userID, string(kind), micros(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []crm.Token{}
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken revokes one of a user's tokens.
func (db *DB) RevokeToken(ctx context.Context, orgID, userID, id int64, at time.Time) error {
	res, err := db.exec(ctx, db.q(`UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND org_id = ? AND user_id = ? AND revoked_at IS NULL`),
		micros(at), id, orgID, userID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// PurgeTokens deletes expired session tokens and tokens revoked before the
// cutoff, under the maintenance lease.
func (db *DB) PurgeTokens(ctx context.Context, f store.Fence, cutoff time.Time) (n int64, err error) {
	err = db.fencedTx(ctx, f, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(`DELETE FROM api_tokens WHERE (expires_at IS NOT NULL AND expires_at <= ?) OR (revoked_at IS NOT NULL AND revoked_at <= ?)`),
			micros(cutoff), micros(cutoff))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// RevokeUserTokens revokes a user's active tokens of one kind but one.
func (db *DB) RevokeUserTokens(ctx context.Context, orgID, userID int64, kind crm.TokenKind, except int64, at time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, db.q(`UPDATE api_tokens SET revoked_at = ?
		WHERE org_id = ? AND user_id = ? AND kind = ? AND id <> ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)`),
		micros(at), orgID, userID, string(kind), except, micros(at))
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
