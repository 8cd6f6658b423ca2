package mailconn

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/gmailmail"
	"github.com/crmsync/crmsync/internal/store"
)

// Defaults of GooglePush.
const (
	// DefaultGooglePoll is how often a Gmail mailbox without push is
	// asked for news (history.list).
	DefaultGooglePoll = 30 * time.Second
	// DefaultGoogleResync is how often a Gmail mailbox with push runs a
	// history round anyway: Gmail drops notifications past one a second
	// and watches only the inbox (§9.4).
	DefaultGoogleResync = 15 * time.Minute
	// DefaultGoogleRenew is how often a watch is renewed: daily, as §9.4
	// recommends, well within its 7 days.
	DefaultGoogleRenew = 24 * time.Hour
)

// GooglePush is how Gmail mailboxes learn of new mail: users.watch
// publishing to the operator's Pub/Sub topic, whose push subscription
// posts to crmsync's public endpoint, when configured; else polling
// (reference §9.4).
type GooglePush struct {
	// Topic is the Pub/Sub topic watches publish to
	// (projects/{project}/topics/{topic}); empty: no watches, mailboxes
	// are polled.
	Topic string
	// Store keeps the watches (nil: no watches).
	Store store.MailPush
	// Poll is the poll interval without push (DefaultGooglePoll), Resync
	// the round's interval with it (DefaultGoogleResync), Renew how often
	// a watch is renewed (DefaultGoogleRenew).
	Poll, Resync, Renew time.Duration
	Now                 func() time.Time // default time.Now
}

func (p GooglePush) withDefaults() GooglePush {
	p.Poll = cmp.Or(p.Poll, DefaultGooglePoll)
	p.Resync = cmp.Or(p.Resync, DefaultGoogleResync)
	p.Renew = cmp.Or(p.Renew, DefaultGoogleRenew)
	if p.Now == nil {
		p.Now = time.Now
	}
	return p
}

// Enabled says watches are made: a store and a topic.
func (p GooglePush) Enabled() bool { return p.Store != nil && p.Topic != "" }

// gmailWatchID is the id a Gmail watch is kept under in the store's
// subscriptions. Gmail gives a watch no id (one per mailbox), and its
// pushes name the address, not the watch: the endpoint finds the
// accounts by address (store.MailPush.MarkMailNewsByAddress). Nor is
// there a per-watch secret: pushes are authenticated by the token of the
// operator's push subscription (package api), so no client state is kept.
func gmailWatchID(account int64) string { return "gmail-watch-" + strconv.FormatInt(account, 10) }

// gmailMailbox is a Gmail mailbox with its watch kept alive: a
// mail.Watcher, the same scheduling as Graph's subscriptions.
type gmailMailbox struct {
	*gmailmail.Mailbox
	push    GooglePush
	account int64
	retryAt time.Time // no watch nor renewal before (after a failure)
}

var _ mail.Watcher = (*gmailMailbox)(nil)

// Watch starts the account's watch when it has none, renews it once Renew
// has passed since (the watch's expiry minus its 7 days), and takes the
// news left by the push endpoint. Without push the mailbox is polled
// every Poll.
func (g *gmailMailbox) Watch(ctx context.Context) (mail.Watch, error) {
	poll := mail.Watch{Wait: g.push.Poll}
	if !g.push.Enabled() {
		return poll, nil
	}
	st := g.push.Store
	news, err := st.TakeMailNews(ctx, g.account)
	if err != nil {
		return poll, err
	}
	poll.News = news
	sub, err := st.MailSubscription(ctx, g.account)
	if err != nil {
		return poll, err
	}
	now := g.push.Now()
	pushed := mail.Watch{Wait: g.push.Resync, News: news, Pushed: true}
	if sub != nil && !g.due(sub, now) {
		return pushed, nil
	}
	if now.Before(g.retryAt) {
		if sub != nil && now.Before(sub.ExpiresAt) {
			return pushed, nil
		}
		return poll, nil
	}
	w, err := g.Mailbox.Watch(ctx, g.push.Topic)
	if err != nil {
		g.retryAt = now.Add(subscribeRetry)
		if sub != nil && now.Before(sub.ExpiresAt) {
			// Still watched: renewed at a later pass.
			return pushed, fmt.Errorf("renewing the Gmail watch: %w", err)
		}
		return poll, fmt.Errorf("watching for new mail (polling every %s meanwhile): %w", g.push.Poll, err)
	}
	if err := st.PutMailSubscription(ctx, store.MailSubscription{AccountID: g.account, SubscriptionID: gmailWatchID(g.account),
		ExpiresAt: w.Expiration}); err != nil {
		return poll, err
	}
	if sub == nil {
		// What came before the watch is caught by a round now.
		pushed.News = true
	}
	return pushed, nil
}

// gmailWatchLife is how long Gmail keeps a watch (§9.4).
const gmailWatchLife = 7 * 24 * time.Hour

// due says a watch is to be renewed: Renew has passed since it was made
// or renewed (Gmail's expiry is 7 days after), or it expires within
// Renew whatever Gmail said.
func (g *gmailMailbox) due(sub *store.MailSubscription, now time.Time) bool {
	left := sub.ExpiresAt.Sub(now)
	return left <= gmailWatchLife-g.push.Renew || left < g.push.Renew
}

// News reports whether the push endpoint left news for Watch, or the
// watch is to be started or renewed (not while a failure waits for its
// retry).
func (g *gmailMailbox) News(ctx context.Context) bool {
	if !g.push.Enabled() {
		return false
	}
	sub, err := g.push.Store.MailSubscription(ctx, g.account)
	if err != nil {
		return false
	}
	if sub != nil && sub.News {
		return true
	}
	now := g.push.Now()
	return now.After(g.retryAt) && (sub == nil || g.due(sub, now))
}

// unwatchGoogle stops a Gmail mailbox's watch and forgets it.
func (c *Connector) unwatchGoogle(ctx context.Context, a crm.MailAccount, sub *store.MailSubscription) error {
	cfg, err := c.Cloud.Google(ctx, a.OrgID, a.CredentialID)
	if err != nil {
		return err
	}
	mb, err := gmailmail.Open(gmailmail.Config{Config: cfg})
	if err != nil {
		return err
	}
	if err := mb.Stop(ctx); err != nil {
		return err
	}
	return c.GooglePush.Store.DeleteMailSubscription(ctx, a.ID, sub.SubscriptionID)
}
