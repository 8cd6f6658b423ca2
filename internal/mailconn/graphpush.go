package mailconn

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/graphmail"
	"github.com/crmsync/crmsync/internal/store"
)

// Defaults of GraphPush.
const (
	// DefaultGraphPoll is how often a Microsoft mailbox without
	// notifications is asked for news.
	DefaultGraphPoll = 30 * time.Second
	// DefaultGraphResync is how often a Microsoft mailbox with
	// notifications runs a delta round anyway, for what they missed.
	DefaultGraphResync = 15 * time.Minute
	// DefaultGraphLifetime is the lifetime asked for a subscription: the
	// 4,230 minutes of the reference's table (§6.6; §16 says the figure is
	// unsettled, hence the option).
	DefaultGraphLifetime = graphmail.DefaultLifetime
	// subscribeRetry is how long after a failed creation the next try
	// waits (the mailbox is polled meanwhile).
	subscribeRetry = 10 * time.Minute
)

// GraphPush is how Microsoft mailboxes learn of new mail: Graph's change
// notifications when crmsync has a public HTTPS address, else polling
// (reference §6.6).
type GraphPush struct {
	// NotificationURL and LifecycleURL are the public endpoints Graph
	// notifies ({public_url}/graph/notifications, …/lifecycle). Without an
	// https NotificationURL there are no subscriptions: mailboxes are
	// polled.
	NotificationURL, LifecycleURL string
	// Store keeps the subscriptions (nil: no subscriptions).
	Store store.MailPush
	// Lifetime is the lifetime asked for (default DefaultGraphLifetime);
	// a subscription is renewed once half of it has passed.
	Lifetime time.Duration
	// Poll is the poll interval without notifications (DefaultGraphPoll),
	// Resync the round's interval with them (DefaultGraphResync).
	Poll, Resync time.Duration
	Now          func() time.Time // default time.Now
}

func (p GraphPush) withDefaults() GraphPush {
	p.Lifetime = cmp.Or(p.Lifetime, DefaultGraphLifetime)
	p.Poll = cmp.Or(p.Poll, DefaultGraphPoll)
	p.Resync = cmp.Or(p.Resync, DefaultGraphResync)
	if p.Now == nil {
		p.Now = time.Now
	}
	return p
}

// Enabled says subscriptions are made: a store and a public HTTPS
// endpoint.
func (p GraphPush) Enabled() bool {
	u, err := url.Parse(p.NotificationURL)
	return p.Store != nil && err == nil && u.Scheme == "https" && u.Host != ""
}

// graphMailbox is a Graph mailbox with its subscription kept alive: a
// mail.Watcher.
type graphMailbox struct {
	*graphmail.Mailbox
	push    GraphPush
	account int64
	retryAt time.Time // no creation nor renewal before (after a failure)
}

var _ mail.Watcher = (*graphMailbox)(nil)

// Watch creates the account's subscription when it has none (or Graph
// removed it), renews it when half its lifetime has passed or Graph asked
// to reauthorize, and takes the news left by the notification endpoint.
// Without notifications the mailbox is polled every Poll.
func (g *graphMailbox) Watch(ctx context.Context) (mail.Watch, error) {
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
	if sub != nil && g.due(sub, now) && !now.Before(g.retryAt) {
		renewed, err := g.Renew(ctx, sub.SubscriptionID, now.Add(g.push.Lifetime))
		switch {
		case connerr.KindOf(err) == connerr.Gone:
			// Lapsed or removed: create another below.
			if err := st.DeleteMailSubscription(ctx, g.account, sub.SubscriptionID); err != nil {
				return poll, err
			}
			sub = nil
		case err != nil && now.Before(sub.ExpiresAt):
			// Still alive: renewed at a later pass.
			g.retryAt = now.Add(subscribeRetry)
			return mail.Watch{Wait: g.push.Resync, News: news, Pushed: true}, fmt.Errorf("renewing the mail subscription: %w", err)
		case err != nil:
			g.retryAt = now.Add(subscribeRetry)
			return poll, fmt.Errorf("renewing the mail subscription: %w", err)
		default:
			kept, err := st.RenewMailSubscription(ctx, g.account, sub.SubscriptionID, renewed.Expires)
			if err != nil {
				return poll, err
			}
			if !kept {
				// Removed while it was being renewed (Graph's
				// subscriptionRemoved, or a disconnect): never bring it
				// back; drop it at Graph and subscribe again below (a
				// disconnected account refuses the new row).
				g.Unsubscribe(context.WithoutCancel(ctx), sub.SubscriptionID)
				sub = nil
			}
		}
	}
	if sub == nil {
		if now.Before(g.retryAt) {
			return poll, nil
		}
		state := graphmail.NewClientState()
		created, err := g.Subscribe(ctx, graphmail.Subscribe{NotificationURL: g.push.NotificationURL, LifecycleURL: g.push.LifecycleURL,
			ClientState: state, Expires: now.Add(g.push.Lifetime)})
		if err != nil {
			g.retryAt = now.Add(subscribeRetry)
			return poll, fmt.Errorf("subscribing to new mail (polling every %s meanwhile): %w", g.push.Poll, err)
		}
		err = st.PutMailSubscription(ctx, store.MailSubscription{AccountID: g.account, SubscriptionID: created.ID,
			ClientStateHash: graphmail.ClientStateHash(state), ExpiresAt: created.Expires})
		if err != nil {
			// Disconnected meanwhile, or not stored: nobody could check
			// its notifications.
			g.Unsubscribe(context.WithoutCancel(ctx), created.ID)
			return poll, err
		}
		// What came before the subscription is caught by a round now.
		return mail.Watch{Wait: g.push.Resync, News: true, Pushed: true}, nil
	}
	return mail.Watch{Wait: g.push.Resync, News: news, Pushed: true}, nil
}

// due says a subscription is to be renewed: half its lifetime has
// passed, or Graph asked to reauthorize it (the endpoint then made it due
// now).
func (g *graphMailbox) due(sub *store.MailSubscription, now time.Time) bool {
	return sub.ExpiresAt.Sub(now) < g.push.Lifetime/2
}

// News reports whether the notification endpoint left work for Watch:
// news, or a subscription Graph removed or asked to reauthorize (the
// endpoint may run in another process). Work that failed a moment ago
// waits for its retry.
func (g *graphMailbox) News(ctx context.Context) bool {
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

// Unwatch deletes a mailbox's subscription, at Graph and in the store, or
// stops its Gmail watch: a disconnected mailbox is notified no more. Nothing to do for a mailbox
// without one.
func (c *Connector) Unwatch(ctx context.Context, a crm.MailAccount) error {
	st := c.GraphPush.Store
	if a.Provider == google {
		st = c.GooglePush.Store
	}
	if a.Provider != microsoft && a.Provider != google || st == nil {
		return nil
	}
	sub, err := st.MailSubscription(ctx, a.ID)
	if err != nil || sub == nil {
		return err
	}
	if a.Provider == google {
		return c.unwatchGoogle(ctx, a, sub)
	}
	cfg, err := c.Cloud.Graph(ctx, a.OrgID, a.CredentialID)
	if err != nil {
		return err
	}
	mb, err := graphmail.Open(graphmail.Config{Config: cfg})
	if err != nil {
		return err
	}
	if err := mb.Unsubscribe(ctx, sub.SubscriptionID); err != nil {
		return err
	}
	return st.DeleteMailSubscription(ctx, a.ID, sub.SubscriptionID)
}
