package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

const pimAccountCols = `id, org_id, owner_id, kind, service, url, username, credential_id, options, state, error_code, error_message,
	progress_done, progress_total, failures, last_sync_at, next_attempt_at, sync_requested, created_at, updated_at`

func scanPIMAccount(sc interface{ Scan(...any) error }) (crm.PIMAccount, error) {
	var a crm.PIMAccount
	var options string
	var cred sql.NullString
	var last, next sql.NullInt64
	var requested, created, updated int64
	err := sc.Scan(&a.ID, &a.OrgID, &a.UserID, &a.Kind, &a.Service, &a.URL, &a.Username, &cred, &options, &a.State, &a.ErrorCode, &a.ErrorMessage,
		&a.ProgressDone, &a.ProgressTotal, &a.Failures, &last, &next, &requested, &created, &updated)
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal([]byte(options), &a.Options); err != nil {
		return a, err
	}
	a.CredentialID = cred.String
	a.LastSyncAt, a.NextAttemptAt = fromOptMicros(last), fromOptMicros(next)
	a.SyncRequested = requested != 0
	a.CreatedAt, a.UpdatedAt = fromMicros(created), fromMicros(updated)
	return a, nil
}

func pimDuplicate() error {
	return &store.FieldError{Field: "url", Code: "duplicate",
		Message: "this account is already connected for this user (same kind, server and username)"}
}

// CreatePIMAccount stores a new PIM account owned by a.UserID.
func (db *DB) CreatePIMAccount(ctx context.Context, v crm.Viewer, a crm.PIMAccount) (crm.PIMAccount, error) {
	if !a.Kind.Valid() {
		return a, &store.FieldError{Field: "kind", Code: "invalid_value", Message: "must be carddav, caldav, microsoft or google"}
	}
	if a.Service == "" {
		a.Service = a.Kind.DefaultService()
	}
	if !a.Service.Valid() {
		return a, &store.FieldError{Field: "service", Code: "invalid_value", Message: "must be contacts, calendar or tasks"}
	}
	now := db.now()
	a.OrgID, a.CreatedAt, a.UpdatedAt = v.OrgID, now, now
	if a.State == "" {
		a.State = crm.StateConnecting
	}
	options, err := json.Marshal(a.Options)
	if err != nil {
		return a, err
	}
	err = db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.checkOwner(ctx, tx, v, a.UserID); err != nil {
			if fe, ok := err.(*store.FieldError); ok {
				fe.Field = "user_id"
				if fe.Code != "inactive" { // a deactivated owner is named as such
					fe.Message = "you can connect accounts only for yourself (admins: for anyone in the organisation)"
				}
			}
			return err
		}
		err := tx.QueryRowContext(ctx, db.q(`INSERT INTO pim_accounts (org_id, owner_id, kind, service, url, username, credential_id, options, state,
			error_code, error_message, failures, next_attempt_at, sync_requested, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
			a.OrgID, a.UserID, string(a.Kind), string(a.Service), a.URL, a.Username, optString(a.CredentialID), string(options), string(a.State),
			a.ErrorCode, a.ErrorMessage, a.Failures, optMicros(a.NextAttemptAt), boolInt(a.SyncRequested), micros(now), micros(now)).Scan(&a.ID)
		if err != nil && db.d.IsUnique(err) {
			return pimDuplicate()
		}
		return err
	})
	return a, err
}

func (db *DB) getPIMAccount(ctx context.Context, q queryer, v crm.Viewer, id int64, lock string) (crm.PIMAccount, error) {
	a, err := getVisible(ctx, db, q, "pim_accounts", pimAccountCols, v, id, lock, scanPIMAccount)
	return a, err
}

// GetPIMAccount returns an account v may see.
func (db *DB) GetPIMAccount(ctx context.Context, v crm.Viewer, id int64) (crm.PIMAccount, error) {
	return db.getPIMAccount(ctx, db.r, v, id, "")
}

// PIMAccountByID reads an account for a sync loop.
func (db *DB) PIMAccountByID(ctx context.Context, id int64) (crm.PIMAccount, error) {
	a, err := scanPIMAccount(db.r.QueryRowContext(ctx, db.q(`SELECT `+pimAccountCols+` FROM pim_accounts WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, store.ErrNotFound
	}
	return a, err
}

// ListPIMAccounts pages through the accounts v may see. Q matches the
// server URL and the username.
func (db *DB) ListPIMAccounts(ctx context.Context, v crm.Viewer, f store.PIMAccountFilter) (store.Page[crm.PIMAccount], error) {
	var w where
	visible(&w, v)
	if f.UserID != nil {
		w.add(`owner_id = ?`, *f.UserID)
	}
	if f.Q != "" {
		p := likePattern(f.Q)
		w.add(`(lower(url) LIKE ? ESCAPE '\' OR lower(username) LIKE ? ESCAPE '\')`, p, p)
	}
	return listPage(ctx, db, `SELECT `+pimAccountCols+` FROM pim_accounts`, w, f.ListParams, func(r *sql.Rows) (crm.PIMAccount, int64, error) {
		a, err := scanPIMAccount(r)
		return a, a.ID, err
	})
}

// UpdatePIMAccount changes an account in one transaction. The owner, the
// kind and the sync loop's progress and last sync stay as they are.
func (db *DB) UpdatePIMAccount(ctx context.Context, v crm.Viewer, id int64, apply func(*crm.PIMAccount) error) (crm.PIMAccount, error) {
	var out crm.PIMAccount
	err := db.tx(ctx, func(tx *sql.Tx) error {
		old, err := db.getPIMAccount(ctx, tx, v, id, db.d.ForUpdate)
		if err != nil {
			return err
		}
		a := old
		a.Options.ImportCategories = slices.Clone(old.Options.ImportCategories)
		a.Options.EventCategories = slices.Clone(old.Options.EventCategories)
		if err := apply(&a); err != nil {
			return err
		}
		a.ID, a.OrgID, a.UserID, a.Kind, a.Service, a.CreatedAt = old.ID, old.OrgID, old.UserID, old.Kind, old.Service, old.CreatedAt
		a.ProgressDone, a.ProgressTotal, a.LastSyncAt = old.ProgressDone, old.ProgressTotal, old.LastSyncAt
		if err := db.stateChanged(ctx, tx, a.OrgID, store.AccountKindPIM, id, string(old.State), old.ErrorCode, string(a.State), a.ErrorCode, a.ErrorMessage); err != nil {
			return err
		}
		a.UpdatedAt = db.now()
		options, err := json.Marshal(a.Options)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, db.q(`UPDATE pim_accounts SET url = ?, username = ?, credential_id = ?, options = ?, state = ?, error_code = ?, error_message = ?,
			failures = ?, next_attempt_at = ?, sync_requested = ?, updated_at = ? WHERE id = ?`),
			a.URL, a.Username, optString(a.CredentialID), string(options), string(a.State), a.ErrorCode, a.ErrorMessage,
			a.Failures, optMicros(a.NextAttemptAt), boolInt(a.SyncRequested), micros(a.UpdatedAt), id)
		if err != nil && db.d.IsUnique(err) {
			return pimDuplicate()
		}
		out = a
		return err
	})
	return out, err
}

// DeletePIMAccount removes an account v may see, with its collections,
// mappings and history (ON DELETE CASCADE) and its credential. The CRM
// records it brought in stay.
func (db *DB) DeletePIMAccount(ctx context.Context, v crm.Viewer, id int64) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		a, err := db.getPIMAccount(ctx, tx, v, id, db.d.ForUpdate)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM pim_accounts WHERE id = ?`), id); err != nil {
			return err
		}
		if a.CredentialID != "" {
			// The secret must not outlive its account. Callers that delete
			// it themselves ignore ErrNotFound.
			if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM credentials WHERE id = ? AND org_id = ?`+unusedCredential), a.CredentialID, a.OrgID); err != nil {
				return err
			}
		}
		return nil
	})
}

// SyncablePIMAccounts lists the accounts due for a sync loop or with a
// sync requested.
func (db *DB) SyncablePIMAccounts(ctx context.Context, now time.Time) ([]crm.PIMAccount, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+pimAccountCols+` FROM pim_accounts
		WHERE next_attempt_at IS NULL OR next_attempt_at <= ? OR sync_requested <> 0 ORDER BY id`), micros(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []crm.PIMAccount
	for rows.Next() {
		a, err := scanPIMAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// RecordPIMStatus writes an account's state under its lease. st.Audit is
// not kept (PIM accounts have no audit line).
func (db *DB) RecordPIMStatus(ctx context.Context, f store.Fence, id int64, st store.AccountStatus, clearRequest bool, ev *store.AccountEvent) error {
	clear := ""
	if clearRequest {
		clear = `sync_requested = 0, `
	}
	return db.fencedTx(ctx, f, func(tx *sql.Tx) error {
		var org int64
		var wasState, wasCode string
		if err := tx.QueryRowContext(ctx, db.q(`SELECT state, error_code FROM pim_accounts WHERE id = ?`), id).Scan(&wasState, &wasCode); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		err := tx.QueryRowContext(ctx, db.q(`UPDATE pim_accounts SET state = ?, error_code = ?, error_message = ?, progress_done = ?, progress_total = ?,
			failures = ?, last_sync_at = COALESCE(?, last_sync_at), next_attempt_at = ?, `+clear+`updated_at = ? WHERE id = ? RETURNING org_id`),
			string(st.State), st.ErrorCode, st.ErrorMessage, st.ProgressDone, st.ProgressTotal, st.Failures,
			optMicros(st.LastSyncAt), optMicros(st.NextAttemptAt), micros(db.now()), id).Scan(&org)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := db.stateChanged(ctx, tx, org, store.AccountKindPIM, id, wasState, wasCode, string(st.State), st.ErrorCode, st.ErrorMessage); err != nil {
			return err
		}
		if ev == nil {
			return nil
		}
		at := ev.At
		if at.IsZero() {
			at = db.now()
		}
		_, err = tx.ExecContext(ctx, db.q(`INSERT INTO pim_account_events (org_id, account_id, at, kind, message) VALUES (?, ?, ?, ?, ?)`),
			org, id, micros(at), ev.Kind, ev.Message)
		return err
	})
}

// PIMAccountEvents returns an account's most recent events, newest first.
func (db *DB) PIMAccountEvents(ctx context.Context, accountID int64, limit int) ([]store.AccountEvent, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT at, kind, message FROM pim_account_events WHERE account_id = ? ORDER BY id DESC LIMIT ?`), accountID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []store.AccountEvent{}
	for rows.Next() {
		var ev store.AccountEvent
		var at int64
		if err := rows.Scan(&at, &ev.Kind, &ev.Message); err != nil {
			return nil, err
		}
		ev.At = fromMicros(at)
		out = append(out, ev)
	}
	return out, rows.Err()
}
