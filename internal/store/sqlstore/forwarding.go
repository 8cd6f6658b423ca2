package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// DropboxFolder is the folder that holds a forwarding account's mail.
const DropboxFolder = "Dropbox"

// MailAccountByDropbox finds a forwarding account by its token.
func (db *DB) MailAccountByDropbox(ctx context.Context, token string) (crm.MailAccount, error) {
	a, err := scanMailAccount(db.r.QueryRowContext(ctx, db.q(`SELECT `+mailAccountCols+` FROM mail_accounts WHERE dropbox_token = ? AND mode = 'forward' AND disconnected_at IS NULL`), token))
	if errors.Is(err, sql.ErrNoRows) {
		return a, store.ErrNotFound
	}
	return a, err
}

// StoreForwarded stores a message received in a dropbox, once (by its
// RemoteID), through the same path as synced mail.
func (db *DB) StoreForwarded(ctx context.Context, accountID int64, e crm.Email) (crm.Email, bool, error) {
	stored := false
	err := db.tx(ctx, func(tx *sql.Tx) error {
		var org, owner int64
		if err := tx.QueryRowContext(ctx, db.q(`SELECT org_id, owner_id FROM mail_accounts WHERE id = ?`), accountID).Scan(&org, &owner); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return store.ErrNotFound
			}
			return err
		}
		var folderID int64
		err := tx.QueryRowContext(ctx, db.q(`SELECT id FROM mail_folders WHERE account_id = ? AND name = ?`), accountID, DropboxFolder).Scan(&folderID)
		if errors.Is(err, sql.ErrNoRows) {
			err = tx.QueryRowContext(ctx, db.q(`INSERT INTO mail_folders (org_id, account_id, name, role, selected, local) VALUES (?, ?, ?, 'inbox', 1, 1) RETURNING id`),
				org, accountID, DropboxFolder).Scan(&folderID)
		}
		if err != nil {
			return err
		}
		batch := []crm.Email{e}
		res, err := db.saveBatch(ctx, tx, folderID, batch)
		if err != nil {
			return err
		}
		e = batch[0]
		if res.Skipped > 0 {
			return nil // an SMTP retry of a message stored already
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE mail_folders SET server_count = server_count + 1 WHERE id = ?`), folderID); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, db.q(`UPDATE mail_accounts SET last_sync_at = ?, progress_done = progress_done + 1, progress_total = progress_total + 1 WHERE id = ?`),
			micros(db.now()), accountID); err != nil {
			return err
		}
		stored = true
		return nil
	})
	return e, stored, err
}

// PurgeExpiredAccounts deletes accounts whose retention ended.
func (db *DB) PurgeExpiredAccounts(ctx context.Context, f store.Fence, now time.Time) (int, error) {
	n := 0
	err := db.fencedTx(ctx, f, func(tx *sql.Tx) error {
		// Locked, so that a reconnect at the very moment the retention ends
		// either comes first (and the account is no longer due) or waits.
		rows, err := tx.QueryContext(ctx, db.q(`SELECT id, org_id, COALESCE(credential_id, '') FROM mail_accounts
			WHERE retained_until IS NOT NULL AND retained_until <= ? AND disconnected_at IS NOT NULL`+db.d.ForUpdate), micros(now))
		if err != nil {
			return err
		}
		type acct struct {
			id, org int64
			cred    string
		}
		var due []acct
		for rows.Next() {
			var a acct
			if err := rows.Scan(&a.id, &a.org, &a.cred); err != nil {
				rows.Close()
				return err
			}
			due = append(due, a)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, a := range due {
			// Links and addresses go with the messages (ON DELETE CASCADE),
			// folders and history with the account.
			for _, q := range []string{`DELETE FROM messages WHERE account_id = ?`, `DELETE FROM outbox WHERE account_id = ?`, `DELETE FROM mail_accounts WHERE id = ?`} {
				if _, err := tx.ExecContext(ctx, db.q(q), a.id); err != nil {
					return err
				}
			}
			if a.cred != "" {
				// The mailbox's credential and its SMTP server's own, if any.
				if _, err := tx.ExecContext(ctx, db.q(`DELETE FROM credentials WHERE id IN (?, ?) AND org_id = ?`+unusedCredential), a.cred, crm.SMTPCredentialOf(a.cred), a.org); err != nil {
					return err
				}
			}
			n++
		}
		return nil
	})
	return n, err
}
