package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// MailService returns the organisation's mail service, nil if none is set.
func (db *DB) MailService(ctx context.Context, orgID int64) (*crm.MailService, error) {
	var raw string
	err := db.r.QueryRowContext(ctx, db.q(`SELECT mail_service FROM org_settings WHERE org_id = ?`), orgID).Scan(&raw)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && raw == "") {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s crm.MailService
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// PutMailService sets (or, with nil, clears) the organisation's mail service.
func (db *DB) PutMailService(ctx context.Context, orgID int64, s *crm.MailService) error {
	raw := ""
	if s != nil {
		b, err := json.Marshal(s)
		if err != nil {
			return err
		}
		raw = string(b)
	}
	_, err := db.exec(ctx, db.q(`INSERT INTO org_settings (org_id, mail_service, updated_at) VALUES (?, ?, ?)
		ON CONFLICT (org_id) DO UPDATE SET mail_service = excluded.mail_service, updated_at = excluded.updated_at`),
		orgID, raw, micros(db.now()))
	return err
}

const mailAccountCols = `id, org_id, owner_id, email, provider, mode, settings, credential_id, state, error_code, error_message,
	progress_done, progress_total, failures, last_sync_at, next_attempt_at, audit, disconnected_at, retained_until, created_at, updated_at, dropbox_token`

func scanMailAccount(sc interface{ Scan(...any) error }) (crm.MailAccount, error) {
	var a crm.MailAccount
	var settings string
	var cred, dropbox sql.NullString
	var last, next, disc, ret sql.NullInt64
	var created, updated int64
	err := sc.Scan(&a.ID, &a.OrgID, &a.UserID, &a.Email, &a.Provider, &a.Mode, &settings, &cred, &a.State, &a.ErrorCode, &a.ErrorMessage,
		&a.ProgressDone, &a.ProgressTotal, &a.Failures, &last, &next, &a.Audit, &disc, &ret, &created, &updated, &dropbox)
	if err != nil {
		return a, err
	}
	if err := json.Unmarshal([]byte(settings), &a.Settings); err != nil {
		return a, err
	}
	a.CredentialID, a.DropboxToken = cred.String, dropbox.String
	a.LastSyncAt, a.NextAttemptAt = fromOptMicros(last), fromOptMicros(next)
	a.DisconnectedAt, a.RetainedUntil = fromOptMicros(disc), fromOptMicros(ret)
	a.CreatedAt, a.UpdatedAt = fromMicros(created), fromMicros(updated)
	return a, nil
}

func optString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// CreateMailAccount stores a new mail account.
func (db *DB) CreateMailAccount(ctx context.Context, v crm.Viewer, a crm.MailAccount) (crm.MailAccount, error) {
	now := db.now()
	a.OrgID, a.CreatedAt, a.UpdatedAt = v.OrgID, now, now
	a.Email = strings.ToLower(a.Email)
	settings, err := json.Marshal(a.Settings)
	if err != nil {
		return a, err
	}
	err = db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.checkOwner(ctx, tx, v, a.UserID); err != nil {
			if fe, ok := err.(*store.FieldError); ok {
				fe.Field = "user_id"
				if fe.Code != "inactive" { // a deactivated owner is named as such
					fe.Message = "you can connect mailboxes only for yourself (admins: for anyone in the organisation)"
				}
			}
			return err
		}
		err := tx.QueryRowContext(ctx, db.q(`INSERT INTO mail_accounts (org_id, owner_id, email, provider, mode, settings, credential_id, state, dropbox_token, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
			a.OrgID, a.UserID, a.Email, a.Provider, string(a.Mode), string(settings), optString(a.CredentialID), string(a.State), optString(a.DropboxToken), micros(now), micros(now)).Scan(&a.ID)
		if err != nil && db.d.IsUnique(err) {
			return &store.FieldError{Field: "email", Code: "duplicate", Message: "this mailbox is already connected for this user"}
		}
		return err
	})
	return a, err
}

func (db *DB) getMailAccount(ctx context.Context, q queryer, v crm.Viewer, id int64, lock string) (crm.MailAccount, error) {
	a, err := getVisible(ctx, db, q, "mail_accounts", mailAccountCols, v, id, lock, scanMailAccount)
	return a, err
}

// GetMailAccount returns an account v may see.
func (db *DB) GetMailAccount(ctx context.Context, v crm.Viewer, id int64) (crm.MailAccount, error) {
	return db.getMailAccount(ctx, db.r, v, id, "")
}

// MailAccountByID reads an account for a sync loop.
func (db *DB) MailAccountByID(ctx context.Context, id int64) (crm.MailAccount, error) {
	a, err := scanMailAccount(db.r.QueryRowContext(ctx, db.q(`SELECT `+mailAccountCols+` FROM mail_accounts WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, store.ErrNotFound
	}
	return a, err
}

// ListMailAccounts pages through the accounts v may see.
func (db *DB) ListMailAccounts(ctx context.Context, v crm.Viewer, f store.MailAccountFilter) (store.Page[crm.MailAccount], error) {
	var w where
	visible(&w, v)
	if f.UserID != nil {
		w.add(`owner_id = ?`, *f.UserID)
	}
	if f.Q != "" {
		w.add(`email LIKE ? ESCAPE '\'`, likePattern(f.Q))
	}
	return listPage(ctx, db, `SELECT `+mailAccountCols+` FROM mail_accounts`, w, f.ListParams, func(r *sql.Rows) (crm.MailAccount, int64, error) {
		a, err := scanMailAccount(r)
		return a, a.ID, err
	})
}

// UpdateMailAccount changes an account in one transaction.
func (db *DB) UpdateMailAccount(ctx context.Context, v crm.Viewer, id int64, apply func(*crm.MailAccount) error) (crm.MailAccount, error) {
	var out crm.MailAccount
	err := db.tx(ctx, func(tx *sql.Tx) error {
		a, err := db.getMailAccount(ctx, tx, v, id, db.d.ForUpdate)
		if err != nil {
			return err
		}
		wasState, wasCode := string(a.State), a.ErrorCode
		if err := apply(&a); err != nil {
			return err
		}
		if err := db.stateChanged(ctx, tx, a.OrgID, store.AccountKindMail, id, wasState, wasCode, string(a.State), a.ErrorCode, a.ErrorMessage); err != nil {
			return err
		}
		a.UpdatedAt = db.now()
		settings, err := json.Marshal(a.Settings)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, db.q(`UPDATE mail_accounts SET email = ?, provider = ?, mode = ?, settings = ?, credential_id = ?, state = ?, error_code = ?, error_message = ?,
			failures = ?, next_attempt_at = ?, disconnected_at = ?, retained_until = ?, dropbox_token = ?, updated_at = ? WHERE id = ?`),
			strings.ToLower(a.Email), a.Provider, string(a.Mode), string(settings), optString(a.CredentialID), string(a.State), a.ErrorCode, a.ErrorMessage,
			a.Failures, optMicros(a.NextAttemptAt), optMicros(a.DisconnectedAt), optMicros(a.RetainedUntil), optString(a.DropboxToken), micros(a.UpdatedAt), id)
		if err != nil && db.d.IsUnique(err) {
			return &store.FieldError{Field: "email", Code: "duplicate", Message: "this mailbox is already connected for this user"}
		}
		out = a
		return err
	})
	return out, err
}

// SyncableAccounts lists the accounts due for a sync loop.
func (db *DB) SyncableAccounts(ctx context.Context, now time.Time) ([]crm.MailAccount, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+mailAccountCols+` FROM mail_accounts
		WHERE mode = 'sync' AND disconnected_at IS NULL AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY id`), micros(now))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []crm.MailAccount
	for rows.Next() {
		a, err := scanMailAccount(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

// RecordAccountStatus writes an account's state under its lease.
func (db *DB) RecordAccountStatus(ctx context.Context, f store.Fence, id int64, st store.AccountStatus, ev *store.AccountEvent) error {
	return db.fencedTx(ctx, f, func(tx *sql.Tx) error {
		var org int64
		var wasState, wasCode string
		if err := tx.QueryRowContext(ctx, db.q(`SELECT state, error_code FROM mail_accounts WHERE id = ?`), id).Scan(&wasState, &wasCode); err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		err := tx.QueryRowContext(ctx, db.q(`UPDATE mail_accounts SET state = ?, error_code = ?, error_message = ?, progress_done = ?, progress_total = ?,
			failures = ?, last_sync_at = COALESCE(?, last_sync_at), next_attempt_at = ?, audit = ?, updated_at = ? WHERE id = ? AND disconnected_at IS NULL RETURNING org_id`),
			string(st.State), st.ErrorCode, st.ErrorMessage, st.ProgressDone, st.ProgressTotal, st.Failures,
			optMicros(st.LastSyncAt), optMicros(st.NextAttemptAt), st.Audit, micros(db.now()), id).Scan(&org)
		if errors.Is(err, sql.ErrNoRows) {
			// Disconnected meanwhile: that state stays the truth, and the
			// loop stops at its next pass. Gone: say so.
			var n int
			if err := tx.QueryRowContext(ctx, db.q(`SELECT COUNT(*) FROM mail_accounts WHERE id = ?`), id).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		if err := db.stateChanged(ctx, tx, org, store.AccountKindMail, id, wasState, wasCode, string(st.State), st.ErrorCode, st.ErrorMessage); err != nil {
			return err
		}
		if ev == nil {
			return nil
		}
		return db.insertEvent(ctx, tx, org, id, *ev)
	})
}

func (db *DB) insertEvent(ctx context.Context, q queryer, orgID, accountID int64, ev store.AccountEvent) error {
	if ev.At.IsZero() {
		ev.At = db.now()
	}
	_, err := q.ExecContext(ctx, db.q(`INSERT INTO account_events (org_id, account_id, at, kind, message) VALUES (?, ?, ?, ?, ?)`),
		orgID, accountID, micros(ev.At), ev.Kind, ev.Message)
	return err
}

// AddAccountEvent appends to an account's history.
func (db *DB) AddAccountEvent(ctx context.Context, accountID int64, ev store.AccountEvent) error {
	return db.tx(ctx, func(tx *sql.Tx) error {
		var org int64
		if err := tx.QueryRowContext(ctx, db.q(`SELECT org_id FROM mail_accounts WHERE id = ?`), accountID).Scan(&org); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return store.ErrNotFound
			}
			return err
		}
		return db.insertEvent(ctx, tx, org, accountID, ev)
	})
}

// AccountEvents returns the most recent events, newest first.
func (db *DB) AccountEvents(ctx context.Context, accountID int64, limit int) ([]store.AccountEvent, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT at, kind, message FROM account_events WHERE account_id = ? ORDER BY id DESC LIMIT ?`), accountID, limit)
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

// accountStateData is the data of an account.state_changed event.
type accountStateData struct {
	Kind          string `json:"kind"` // mail or pim
	AccountID     int64  `json:"account_id"`
	State         string `json:"state"`
	ErrorCode     string `json:"error_code,omitempty"`
	ErrorMessage  string `json:"error_message,omitempty"`
	PreviousState string `json:"previous_state"`
	PreviousCode  string `json:"previous_error_code,omitempty"`
}

// stateChanged records an account.state_changed event when the state or
// its error code changed.
func (db *DB) stateChanged(ctx context.Context, tx *sql.Tx, orgID int64, kind string, id int64, wasState, wasCode, state, code, message string) error {
	if wasState == state && wasCode == code {
		return nil
	}
	return db.recordEvents(ctx, tx, orgID, []webhookEvent{{Type: store.EventAccountStateChanged, Data: accountStateData{
		Kind: kind, AccountID: id, State: state, ErrorCode: code, ErrorMessage: message, PreviousState: wasState, PreviousCode: wasCode}}})
}
