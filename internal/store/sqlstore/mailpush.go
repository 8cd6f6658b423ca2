package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/crmsync/crmsync/internal/store"
)

const mailSubscriptionColumns = `account_id, subscription_id, client_state_hash, expires_at, news, updated_at`

func (db *DB) mailSubscription(ctx context.Context, where string, arg any) (*store.MailSubscription, error) {
	var s store.MailSubscription
	var expires, updated int64
	var news int
	err := db.r.QueryRowContext(ctx, db.q(`SELECT `+mailSubscriptionColumns+` FROM mail_subscriptions WHERE `+where+` = ?`), arg).
		Scan(&s.AccountID, &s.SubscriptionID, &s.ClientStateHash, &expires, &news, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.ExpiresAt, s.UpdatedAt, s.News = fromMicros(expires), fromMicros(updated), news != 0
	return &s, nil
}

// MailSubscription returns the account's subscription, nil if none.
func (db *DB) MailSubscription(ctx context.Context, accountID int64) (*store.MailSubscription, error) {
	return db.mailSubscription(ctx, "account_id", accountID)
}

// MailSubscriptionByID returns a subscription by the provider's id.
func (db *DB) MailSubscriptionByID(ctx context.Context, subscriptionID string) (*store.MailSubscription, error) {
	return db.mailSubscription(ctx, "subscription_id", subscriptionID)
}

// PutMailSubscription records the account's subscription; news is kept.
func (db *DB) PutMailSubscription(ctx context.Context, s store.MailSubscription) error {
	// Only for a connected account: a loop that subscribes while the
	// account is being disconnected must not leave a row (and a
	// subscription at the provider) behind; it unsubscribes on
	// ErrNotFound.
	res, err := db.exec(ctx, db.q(`INSERT INTO mail_subscriptions (`+mailSubscriptionColumns+`) SELECT ?, ?, ?, ?, 0, ?
		WHERE EXISTS (SELECT 1 FROM mail_accounts WHERE id = ? AND disconnected_at IS NULL)
		ON CONFLICT (account_id) DO UPDATE SET subscription_id = excluded.subscription_id,
			client_state_hash = excluded.client_state_hash, expires_at = excluded.expires_at, updated_at = excluded.updated_at`),
		s.AccountID, s.SubscriptionID, s.ClientStateHash, micros(s.ExpiresAt), micros(db.now()), s.AccountID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// RenewMailSubscription records a renewal if the subscription is still
// the account's.
func (db *DB) RenewMailSubscription(ctx context.Context, accountID int64, subscriptionID string, expires time.Time) (bool, error) {
	res, err := db.exec(ctx, db.q(`UPDATE mail_subscriptions SET expires_at = ?, updated_at = ? WHERE account_id = ? AND subscription_id = ?`),
		micros(expires), micros(db.now()), accountID, subscriptionID)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// DeleteMailSubscription forgets the account's subscription if it is
// still subscriptionID ("": whichever).
func (db *DB) DeleteMailSubscription(ctx context.Context, accountID int64, subscriptionID string) error {
	if subscriptionID == "" {
		_, err := db.exec(ctx, db.q(`DELETE FROM mail_subscriptions WHERE account_id = ?`), accountID)
		return err
	}
	_, err := db.exec(ctx, db.q(`DELETE FROM mail_subscriptions WHERE account_id = ? AND subscription_id = ?`), accountID, subscriptionID)
	return err
}

// ExpireMailSubscription makes a subscription due for renewal at now.
func (db *DB) ExpireMailSubscription(ctx context.Context, subscriptionID string, now time.Time) error {
	_, err := db.exec(ctx, db.q(`UPDATE mail_subscriptions SET expires_at = ?, updated_at = ? WHERE subscription_id = ? AND expires_at > ?`),
		micros(now), micros(db.now()), subscriptionID, micros(now))
	return err
}

// MarkMailNews records news for the subscription's account.
func (db *DB) MarkMailNews(ctx context.Context, subscriptionID string) error {
	_, err := db.exec(ctx, db.q(`UPDATE mail_subscriptions SET news = 1 WHERE subscription_id = ? AND news = 0`), subscriptionID)
	return err
}

// MarkMailNewsByAddress records news for the subscribed, connected
// accounts of provider at address and returns them.
func (db *DB) MarkMailNewsByAddress(ctx context.Context, provider, address string) ([]int64, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT s.account_id FROM mail_subscriptions s JOIN mail_accounts m ON m.id = s.account_id
		WHERE m.provider = ? AND lower(m.email) = lower(?) AND m.disconnected_at IS NULL ORDER BY s.account_id`), provider, address)
	if err != nil {
		return nil, err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, id := range ids {
		if _, err := db.exec(ctx, db.q(`UPDATE mail_subscriptions SET news = 1 WHERE account_id = ? AND news = 0`), id); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// TakeMailNews clears the account's news and says whether there was any,
// in one statement: two takers cannot both have it.
func (db *DB) TakeMailNews(ctx context.Context, accountID int64) (bool, error) {
	res, err := db.exec(ctx, db.q(`UPDATE mail_subscriptions SET news = 0 WHERE account_id = ? AND news = 1`), accountID)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// IdleTokenSets lists the token sets of connected mailboxes signed in
// with a provider, last written before cutoff, oldest first.
func (db *DB) IdleTokenSets(ctx context.Context, cutoff time.Time, limit int) ([]store.TokenSetRef, error) {
	rows, err := db.r.QueryContext(ctx, db.q(`SELECT DISTINCT c.org_id, m.provider, c.id, c.updated_at
		FROM credentials c JOIN mail_accounts m ON m.credential_id = c.id AND m.org_id = c.org_id
		WHERE c.purpose = 'oauth_token' AND c.updated_at < ? AND m.disconnected_at IS NULL AND m.state <> 'auth_failed'
		ORDER BY c.updated_at, c.id LIMIT ?`), micros(cutoff), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.TokenSetRef
	for rows.Next() {
		var r store.TokenSetRef
		var updated int64
		if err := rows.Scan(&r.OrgID, &r.Provider, &r.CredentialID, &updated); err != nil {
			return nil, err
		}
		r.UpdatedAt = fromMicros(updated)
		out = append(out, r)
	}
	return out, rows.Err()
}
