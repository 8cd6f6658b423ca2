package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

const outboxCols = `id, org_id, owner_id, account_id, message_id, request, raw, state, attempts, next_attempt_at, last_error, email_id, created_at, updated_at`

// outboxRequest is what the request column holds: the request and the From.
type outboxRequest struct {
	From    crm.Address     `json:"from"`
	Request crm.SendRequest `json:"request"`
}

func scanOutbox(sc interface{ Scan(...any) error }) (crm.OutboxItem, error) {
	var it crm.OutboxItem
	var req string
	var next, created, updated int64
	var emailID sql.NullInt64
	if err := sc.Scan(&it.ID, &it.OrgID, &it.OwnerID, &it.AccountID, &it.MessageID, &req, &it.Raw, &it.State, &it.Attempts, &next, &it.LastError, &emailID, &created, &updated); err != nil {
		return it, err
	}
	var r outboxRequest
	if err := json.Unmarshal([]byte(req), &r); err != nil {
		return it, err
	}
	it.From, it.Request = r.From, r.Request
	it.NextAttemptAt, it.CreatedAt, it.UpdatedAt = fromMicros(next), fromMicros(created), fromMicros(updated)
	it.EmailID = fromOptInt(emailID)
	return it, nil
}

// EnqueueMail queues a message.
func (db *DB) EnqueueMail(ctx context.Context, v crm.Viewer, it crm.OutboxItem) (crm.OutboxItem, error) {
	req, err := json.Marshal(outboxRequest{From: it.From, Request: it.Request})
	if err != nil {
		return it, err
	}
	now := db.now()
	err = db.tx(ctx, func(tx *sql.Tx) error {
		a, err := db.getMailAccount(ctx, tx, v, it.AccountID, "")
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return &store.FieldError{Field: "account_id", Code: "not_found", Message: "no mail account with this id that you can see"}
			}
			return err
		}
		it.OrgID, it.OwnerID, it.State, it.CreatedAt, it.UpdatedAt = v.OrgID, a.UserID, crm.OutboxQueued, now, now
		if it.NextAttemptAt.IsZero() {
			it.NextAttemptAt = now
		}
		err = tx.QueryRowContext(ctx, db.q(`INSERT INTO outbox (org_id, owner_id, account_id, message_id, request, raw, state, attempts, next_attempt_at, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?) RETURNING id`),
			it.OrgID, it.OwnerID, it.AccountID, it.MessageID, string(req), it.Raw, string(it.State), micros(it.NextAttemptAt), micros(now), micros(now)).Scan(&it.ID)
		if err != nil && db.d.IsUnique(err) {
			return store.ErrConflict
		}
		return err
	})
	return it, err
}

// GetOutboxItem returns an item of an account v may see.
func (db *DB) GetOutboxItem(ctx context.Context, v crm.Viewer, id int64) (crm.OutboxItem, error) {
	return getVisible(ctx, db, db.r, "outbox", outboxCols, v, id, "", scanOutbox)
}

// DueOutbox lists the items to work on.
func (db *DB) DueOutbox(ctx context.Context, accountID int64, now time.Time, staleSending time.Duration, limit int) ([]crm.OutboxItem, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT `+outboxCols+` FROM outbox
		WHERE account_id = ? AND ((state = 'queued' AND next_attempt_at <= ?) OR (state = 'sending' AND updated_at <= ?)) ORDER BY id LIMIT ?`),
		accountID, micros(now), micros(now.Add(-staleSending)), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []crm.OutboxItem
	for rows.Next() {
		it, err := scanOutbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// UpdateOutbox records an attempt's outcome.
func (db *DB) UpdateOutbox(ctx context.Context, f store.Fence, it crm.OutboxItem) error {
	return db.fencedTx(ctx, f, func(tx *sql.Tx) error {
		var org int64
		var was string
		if err := tx.QueryRowContext(ctx, db.q(`SELECT org_id, state FROM outbox WHERE id = ?`), it.ID).Scan(&org, &was); errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		} else if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE outbox SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?, email_id = ?, updated_at = ? WHERE id = ?`),
			string(it.State), it.Attempts, micros(it.NextAttemptAt), it.LastError, optInt(it.EmailID), micros(db.now()), it.ID); err != nil {
			return err
		}
		if it.State != crm.OutboxSent || was == string(crm.OutboxSent) {
			return nil
		}
		return db.recordEvents(ctx, tx, org, []webhookEvent{{Type: store.EventMessageSent, Data: messageSentData{
			OutboxID: it.ID, AccountID: it.AccountID, OwnerID: it.OwnerID, MessageID: it.MessageID, EmailID: it.EmailID}}})
	})
}

// messageSentData is the data of a message.sent event.
type messageSentData struct {
	OutboxID  int64  `json:"outbox_id"`
	AccountID int64  `json:"account_id"`
	OwnerID   int64  `json:"owner_id"`
	MessageID string `json:"message_id"`
	EmailID   *int64 `json:"email_id,omitempty"`
}
