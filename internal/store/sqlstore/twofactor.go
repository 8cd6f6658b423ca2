package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/crmsync/crmsync/internal/store"
)

// GetTOTP returns the user's TOTP enrolment.
func (db *DB) GetTOTP(ctx context.Context, orgID, userID int64) (store.TOTP, error) {
	t := store.TOTP{UserID: userID, OrgID: orgID}
	var created int64
	var enabled sql.NullInt64
	err := db.r.QueryRowContext(ctx, db.q(`SELECT credential_id, created_at, enabled_at, last_step FROM user_totp WHERE user_id = ? AND org_id = ?`),
		userID, orgID).Scan(&t.CredentialID, &created, &enabled, &t.LastStep)
	if errors.Is(err, sql.ErrNoRows) {
		return t, store.ErrNotFound
	}
	t.CreatedAt, t.EnabledAt = fromMicros(created), fromOptMicros(enabled)
	return t, err
}

// StartTOTP records a pending enrolment. The user's row is locked so that
// two enrolments at once end with one pending row.
func (db *DB) StartTOTP(ctx context.Context, orgID, userID int64, credentialID string, at time.Time) (replaced string, err error) {
	err = db.tx(ctx, func(tx *sql.Tx) error {
		var uid int64
		err := tx.QueryRowContext(ctx, db.q(`SELECT id FROM users WHERE id = ? AND org_id = ?`+db.d.ForUpdate), userID, orgID).Scan(&uid)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		var old string
		var enabled sql.NullInt64
		err = tx.QueryRowContext(ctx, db.q(`SELECT credential_id, enabled_at FROM user_totp WHERE user_id = ?`), userID).Scan(&old, &enabled)
		switch {
		case err == nil && enabled.Valid:
			return store.ErrConflict
		case err == nil:
			replaced = old
			if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM user_totp WHERE user_id = ?`), userID); err != nil {
				return err
			}
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err = tx.ExecContext(ctx, db.q(`INSERT INTO user_totp (user_id, org_id, credential_id, created_at, last_step) VALUES (?, ?, ?, ?, 0)`),
			userID, orgID, credentialID, micros(at))
		return err
	})
	return replaced, err
}

// EnableTOTP confirms a pending enrolment and stores the recovery codes.
func (db *DB) EnableTOTP(ctx context.Context, orgID, userID, step int64, recoveryHashes [][]byte, at time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, db.q(`UPDATE user_totp SET enabled_at = ?, last_step = ? WHERE user_id = ? AND org_id = ? AND enabled_at IS NULL`),
			micros(at), step, userID, orgID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return db.replaceRecoveryCodes(ctx, tx, orgID, userID, recoveryHashes, at)
	})
}

// UseTOTPStep moves the last accepted step forward, only forward: of two
// requests with the same code, one wins.
func (db *DB) UseTOTPStep(ctx context.Context, orgID, userID, step int64) error {
	res, err := db.exec(ctx, db.q(`UPDATE user_totp SET last_step = ? WHERE user_id = ? AND org_id = ? AND enabled_at IS NOT NULL AND last_step < ?`),
		step, userID, orgID, step)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := db.GetTOTP(ctx, orgID, userID); err != nil {
			return err
		}
		return store.ErrStale
	}
	return nil
}

// DeleteTOTP removes the user's TOTP and recovery codes.
func (db *DB) DeleteTOTP(ctx context.Context, orgID, userID int64) (credentialID string, err error) {
	err = db.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, db.q(`DELETE FROM user_totp WHERE user_id = ? AND org_id = ? RETURNING credential_id`), userID, orgID).Scan(&credentialID)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, db.q(`DELETE FROM user_recovery_codes WHERE user_id = ? AND org_id = ?`), userID, orgID)
		return err
	})
	return credentialID, err
}

// ReplaceRecoveryCodes replaces the user's recovery codes.
func (db *DB) ReplaceRecoveryCodes(ctx context.Context, orgID, userID int64, hashes [][]byte, at time.Time) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, db.q(`SELECT 1 FROM user_totp WHERE user_id = ? AND org_id = ? AND enabled_at IS NOT NULL`), userID, orgID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		return db.replaceRecoveryCodes(ctx, tx, orgID, userID, hashes, at)
	})
}

func (db *DB) replaceRecoveryCodes(ctx context.Context, tx *sql.Tx, orgID, userID int64, hashes [][]byte, at time.Time) error {
	if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM user_recovery_codes WHERE user_id = ? AND org_id = ?`), userID, orgID); err != nil {
		return err
	}
	for _, h := range hashes {
		if _, err := tx.ExecContext(ctx, db.q(`INSERT INTO user_recovery_codes (user_id, org_id, hash, created_at) VALUES (?, ?, ?, ?)`),
			userID, orgID, h, micros(at)); err != nil {
			return err
		}
	}
	return nil
}

// UseRecoveryCode marks a recovery code used, once.
func (db *DB) UseRecoveryCode(ctx context.Context, orgID, userID int64, hash []byte, at time.Time) error {
	res, err := db.exec(ctx, db.q(`UPDATE user_recovery_codes SET used_at = ? WHERE user_id = ? AND org_id = ? AND hash = ? AND used_at IS NULL`),
		micros(at), userID, orgID, hash)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// RecoveryCodesLeft counts the user's unused recovery codes.
func (db *DB) RecoveryCodesLeft(ctx context.Context, orgID, userID int64) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM user_recovery_codes WHERE user_id = ? AND org_id = ? AND used_at IS NULL`), userID, orgID).Scan(&n)
	return n, err
}

// SecurityPolicy returns the organisation's sign-in policy.
func (db *DB) SecurityPolicy(ctx context.Context, orgID int64) (store.SecurityPolicy, error) {
	var req int64
	err := db.r.QueryRowContext(ctx, db.q(`SELECT require_two_factor FROM org_security WHERE org_id = ?`), orgID).Scan(&req)
	if errors.Is(err, sql.ErrNoRows) {
		return store.SecurityPolicy{}, nil
	}
	return store.SecurityPolicy{RequireTwoFactor: req != 0}, err
}

// SetSecurityPolicy stores the organisation's sign-in policy.
func (db *DB) SetSecurityPolicy(ctx context.Context, orgID int64, p store.SecurityPolicy, at time.Time) error {
	req := 0
	if p.RequireTwoFactor {
		req = 1
	}
	_, err := db.exec(ctx, db.q(`INSERT INTO org_security (org_id, require_two_factor, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (org_id) DO UPDATE SET require_two_factor = excluded.require_two_factor, updated_at = excluded.updated_at`),
		orgID, req, micros(at))
	return err
}
