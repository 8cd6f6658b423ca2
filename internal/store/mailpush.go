package store

import (
	"context"
	"time"
)

// MailPush keeps the push subscriptions of mailboxes whose provider
// notifies crmsync of news (Microsoft Graph's change notifications): one
// per mail account. The sync loop creates and renews them; the public
// notification endpoint, in whichever process receives a notification,
// finds the subscription by its id, checks the client state against the
// hash kept here and leaves news for the loop.
type MailPush interface {
	// MailSubscription returns the account's subscription, nil if none.
	MailSubscription(ctx context.Context, accountID int64) (*MailSubscription, error)
	// MailSubscriptionByID returns a subscription by the provider's id,
	// nil if none.
	MailSubscriptionByID(ctx context.Context, subscriptionID string) (*MailSubscription, error)
	// PutMailSubscription records the account's subscription, replacing
	// the one it had (news is kept).
	PutMailSubscription(ctx context.Context, s MailSubscription) error
	// RenewMailSubscription records a renewal's new expiry if the account
	// still has that subscription; false if it was removed meanwhile (the
	// provider said so through the lifecycle endpoint, or the account was
	// disconnected), so that a renewal racing a removal never brings the
	// removed subscription back.
	RenewMailSubscription(ctx context.Context, accountID int64, subscriptionID string, expires time.Time) (bool, error)
	// DeleteMailSubscription forgets the account's subscription if it is
	// still subscriptionID ("" : whichever it is).
	DeleteMailSubscription(ctx context.Context, accountID int64, subscriptionID string) error
	// ExpireMailSubscription makes a subscription due for renewal now
	// (the provider asked to reauthorize it).
	ExpireMailSubscription(ctx context.Context, subscriptionID string, now time.Time) error
	// MarkMailNews records that the provider announced news (or missed
	// some) for the subscription's account.
	MarkMailNews(ctx context.Context, subscriptionID string) error
	// MarkMailNewsByAddress records news for every connected account of
	// provider at address (case-insensitive) that has a subscription, and
	// returns them: Gmail's push names the mailbox by its address only
	// (one watch per mailbox, several crmsync users may have connected
	// it).
	MarkMailNewsByAddress(ctx context.Context, provider, address string) ([]int64, error)
	// TakeMailNews reports whether news was recorded for the account
	// since the last call, and clears it in the same statement.
	TakeMailNews(ctx context.Context, accountID int64) (bool, error)
}

// MailSubscription is a mailbox's push subscription.
type MailSubscription struct {
	AccountID      int64
	SubscriptionID string
	// ClientStateHash is the hex SHA-256 of the client state the
	// provider sends with every notification; the state itself is kept
	// nowhere.
	ClientStateHash string
	ExpiresAt       time.Time
	News            bool
	UpdatedAt       time.Time
}
