package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/crmsync/crmsync/internal/store"
)

// ClaimLease takes a free, expired or already-held lease in one statement.
// The generation grows whenever the lease changes hands (or lapsed), which
// is what lets CheckFence refuse a stale holder's writes.
func (db *DB) ClaimLease(ctx context.Context, kind, key, owner string, ttl time.Duration) (store.Lease, error) {
	now := db.d.NowMicros
	l := store.Lease{Kind: kind, Key: key, Owner: owner}
	var exp int64
	err := db.w.QueryRowContext(ctx, db.q(`INSERT INTO leases (kind, lease_key, owner, generation, expires_at) VALUES (?, ?, ?, 1, `+now+` + ?)
		ON CONFLICT (kind, lease_key) DO UPDATE SET
			generation = CASE WHEN leases.owner = excluded.owner AND leases.expires_at > `+now+` THEN leases.generation ELSE leases.generation + 1 END,
			owner = excluded.owner,
			expires_at = excluded.expires_at
		WHERE leases.owner = excluded.owner OR leases.expires_at <= `+now+`
		RETURNING generation, expires_at`), kind, key, owner, ttl.Microseconds()).Scan(&l.Generation, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return l, store.ErrLeaseHeld
	}
	l.ExpiresAt = fromMicros(exp)
	return l, err
}

// RenewLease extends a lease still held at the same generation. A lease
// that lapsed but that nobody took is still ours: its generation did not
// move, so no other writer can have acted under it.
func (db *DB) RenewLease(ctx context.Context, l store.Lease, ttl time.Duration) (store.Lease, error) {
	var exp int64
	err := db.w.QueryRowContext(ctx, db.q(`UPDATE leases SET expires_at = `+db.d.NowMicros+` + ?
		WHERE kind = ? AND lease_key = ? AND owner = ? AND generation = ? RETURNING expires_at`),
		ttl.Microseconds(), l.Kind, l.Key, l.Owner, l.Generation).Scan(&exp)
	if errors.Is(err, sql.ErrNoRows) {
		return l, store.ErrLeaseLost
	}
	l.ExpiresAt = fromMicros(exp)
	return l, err
}

// ReleaseLease expires the lease now. The row stays, so the next holder's
// generation is still higher than every earlier one.
func (db *DB) ReleaseLease(ctx context.Context, l store.Lease) error {
	res, err := db.w.ExecContext(ctx, db.q(`UPDATE leases SET expires_at = 0 WHERE kind = ? AND lease_key = ? AND owner = ? AND generation = ?`),
		l.Kind, l.Key, l.Owner, l.Generation)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrLeaseLost
	}
	return nil
}

// GetLease returns a lease row.
func (db *DB) GetLease(ctx context.Context, kind, key string) (store.Lease, error) {
	l := store.Lease{Kind: kind, Key: key}
	var exp int64
	err := db.r.QueryRowContext(ctx, db.q(`SELECT owner, generation, expires_at FROM leases WHERE kind = ? AND lease_key = ?`), kind, key).Scan(&l.Owner, &l.Generation, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return l, store.ErrNotFound
	}
	l.ExpiresAt = fromMicros(exp)
	return l, err
}

// CheckFence reports whether the lease of f is still held.
func (db *DB) CheckFence(ctx context.Context, f store.Fence) error {
	return db.tx(ctx, func(tx *sql.Tx) error { return db.checkFence(ctx, tx, f) })
}

func (db *DB) checkFence(ctx context.Context, q queryer, f store.Fence) error {
	var gen int64
	err := q.QueryRowContext(ctx, db.q(`SELECT generation FROM leases
		WHERE kind = ? AND lease_key = ? AND owner = ? AND generation = ? AND expires_at > `+db.d.NowMicros+db.d.ForShare),
		f.Kind, f.Key, f.Owner, f.Generation).Scan(&gen)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrLeaseLost
	}
	return err
}

// ListLeases returns the unexpired leases.
func (db *DB) ListLeases(ctx context.Context) ([]store.Lease, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT kind, lease_key, owner, generation, expires_at FROM leases WHERE expires_at > `+db.d.NowMicros+` ORDER BY kind, lease_key`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Lease
	for rows.Next() {
		var l store.Lease
		var exp int64
		if err := rows.Scan(&l.Kind, &l.Key, &l.Owner, &l.Generation, &exp); err != nil {
			return nil, err
		}
		l.ExpiresAt = fromMicros(exp)
		out = append(out, l)
	}
	return out, rows.Err()
}
