package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/accounts/accountstest"
	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/cloudconn"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail/graphmail"
	"github.com/crmsync/crmsync/internal/mail/mailsync"
	"github.com/crmsync/crmsync/internal/mailconn"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/syncer"
	"github.com/crmsync/crmsync/internal/testpeer/graphfake"
)

// pushMail is the API's mail connector in these tests: the fake for
// IMAP settings, the real connector for deleting subscriptions.
type pushMail struct {
	*accountstest.Mail
	conn *mailconn.Connector
}

func (m pushMail) Unwatch(ctx context.Context, a crm.MailAccount) error {
	return m.conn.Unwatch(ctx, a)
}

// pushBundle is a Microsoft mailbox signed in through the API, synced by a
// running syncer over the real connector, with the API also served on a
// "public" address (TLS or not) that the Graph fake notifies.
type pushBundle struct {
	*oauthBundle
	g       *graphfake.Graph
	public  *httptest.Server
	conn    *mailconn.Connector
	workers *syncer.Syncer
	id      int64
	ann     crm.Viewer
}

func setupPush(t *testing.T, opts bundleOpts, https bool, poll time.Duration, before func(g *graphfake.Graph)) *pushBundle {
	t.Helper()
	o := setupOAuth(t, opts)
	g := graphfake.NewGraph()
	g.SetClock(o.clock.Now)
	g.CheckToken = func(tok string) bool {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		_, ok := o.fake.Identity.UserOf(r)
		return ok
	}
	for _, p := range []string{"/v1.0/me/", "/v1.0/subscriptions", "/v1.0/subscriptions/"} {
		o.fake.Mux.Handle(p, g)
	}
	o.registerApp("")
	o.fake.Identity.AddUser(graphfake.User{Email: "ann@acme.test"})
	g.AddMessage("inbox", graphMessage(1), false)
	if before != nil {
		before(g)
	}

	p := &pushBundle{oauthBundle: o, g: g}
	p.public = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.srv.ServeHTTP(w, r) }))
	if https {
		p.public.StartTLS()
	} else {
		p.public.Start()
	}
	t.Cleanup(p.public.Close)
	g.Notifier = p.public.Client()
	p.conn = &mailconn.Connector{Credentials: o.st, Keys: o.keys, Guard: testPeers, Cloud: &cloudconn.Clients{OAuth: o.svc, Guard: testPeers},
		GraphPush: mailconn.GraphPush{NotificationURL: p.public.URL + api.GraphNotificationsPath, LifecycleURL: p.public.URL + api.GraphLifecyclePath,
			Store: o.st, Poll: poll, Now: o.clock.Now}}
	log := slog.New(slog.NewJSONHandler(o.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p.workers = syncer.New(syncer.Config{Store: o.st, Logger: log,
		Mail: &syncer.MailConfig{Dial: p.conn.Dial, Engine: mailsync.Config{Parse: p.conn.Parse}, Scan: 20 * time.Millisecond}})
	o.srv = api.New(api.Config{Store: o.st, Now: o.clock.Now, OAuth: o.svc, Logger: log, Wake: p.workers.WakeMail,
		Mail: pushMail{accountstest.NewMail(), p.conn}})

	r := o.callback(o.signIn("mail"), "application/json")
	if r.Status != 200 || r.Body["mail_account_id"] == nil {
		t.Fatalf("callback: %d %s", r.Status, r.Raw)
	}
	p.id = int64(r.Body["mail_account_id"].(float64))
	a, err := o.st.MailAccountByID(context.Background(), p.id)
	if err != nil {
		t.Fatal(err)
	}
	p.ann = crm.Viewer{OrgID: o.orgID, UserID: a.UserID, Role: crm.RoleMember}
	p.workers.Start(context.Background())
	t.Cleanup(p.workers.Stop)
	p.waitMail(t, "graph message 1", 20*time.Second)
	return p
}

// waitMail waits until a message with subject is stored and returns how
// long that took.
func (p *pushBundle) waitMail(t *testing.T, subject string, max time.Duration) time.Duration {
	t.Helper()
	return waitSubject(t, p.st, p.ann, subject, max)
}

// waitSubject waits until a message with subject is stored for v and
// returns how long that took.
func waitSubject(t *testing.T, st store.Store, v crm.Viewer, subject string, max time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		if stored(t, st, v, subject) {
			return time.Since(start)
		}
		if time.Since(start) > max {
			t.Fatalf("%q not stored after %s", subject, max)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stored reports whether a message with subject is stored for v.
func stored(t *testing.T, st store.Store, v crm.Viewer, subject string) bool {
	t.Helper()
	page, err := st.ListEmails(context.Background(), v, store.EmailFilter{ListParams: store.ListParams{Limit: 100}})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range page.Items {
		if m.Subject == subject {
			return true
		}
	}
	return false
}

// waitFor waits until cond holds.
func waitFor(t *testing.T, what string, max time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(max)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, max)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (p *pushBundle) stored(t *testing.T) *store.MailSubscription {
	t.Helper()
	s, err := p.st.MailSubscription(context.Background(), p.id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// latencies measures n new messages from their arrival in the inbox to
// their storage.
func (p *pushBundle) latencies(t *testing.T, first, n int, limit time.Duration) (lo, mean, worst time.Duration) {
	t.Helper()
	lo = time.Hour
	var sum time.Duration
	for i := first; i < first+n; i++ {
		p.g.AddMessage("inbox", graphMessage(i), false)
		d := p.waitMail(t, fmt.Sprintf("graph message %d", i), limit)
		sum += d
		lo, worst = min(lo, d), max(worst, d)
		time.Sleep(20 * time.Millisecond) // not always mid-pass
	}
	return lo, sum / time.Duration(n), worst
}

// With an https public address, a Microsoft mailbox keeps a subscription
// (validated by Graph, its client state kept only hashed): new mail is
// announced, wakes the account's loop and is stored within moments
// although the loop's round runs only every 15 minutes; lifecycle events
// make it run a round (missed), renew (reauthorizationRequired) or
// subscribe again (subscriptionRemoved); half-way through its lifetime it
// is renewed; disconnecting the mailbox deletes it.
func TestGraphNotificationsBringNewMail(t *testing.T) {
	t.Parallel() // waits on the loops, not the CPU
	onBothDBs(t, func(t *testing.T, opts bundleOpts) {
		p := setupPush(t, opts, true, time.Hour, nil) // polling would take an hour: only notifications can be quick
		g := p.g
		waitFor(t, "the subscription", 10*time.Second, func() bool { return len(g.Subscriptions()) == 1 && p.stored(t) != nil })
		sub, row := g.Subscriptions()[0], p.stored(t)
		if sub.NotificationURL != p.public.URL+api.GraphNotificationsPath || sub.LifecycleURL != p.public.URL+api.GraphLifecyclePath ||
			sub.Resource != graphmail.InboxResource || row.SubscriptionID != sub.ID {
			t.Fatalf("subscription %+v, stored %+v", sub, row)
		}
		if row.ClientStateHash != graphmail.ClientStateHash(sub.ClientState) || row.ClientStateHash == sub.ClientState {
			t.Fatal("the client state is not kept hashed")
		}
		if !sub.Expires.Equal(p.clock.Now().Add(mailconn.DefaultGraphLifetime).Truncate(time.Second)) && !sub.Expires.Equal(p.clock.Now().Add(mailconn.DefaultGraphLifetime)) {
			t.Errorf("expires %s, want now + %s", sub.Expires, mailconn.DefaultGraphLifetime)
		}

		lo, mean, hi := p.latencies(t, 2, 5, 20*time.Second)
		t.Logf("new-mail latency with notifications: min %s, mean %s, max %s (5 messages)", lo, mean, hi)
		for _, d := range g.Deliveries() {
			if d.Status != http.StatusAccepted {
				t.Errorf("delivery answered %+v", d)
			}
			if d.Latency > 2*time.Second {
				t.Errorf("the endpoint took %s to answer a notification", d.Latency)
			}
		}

		// missed: mail that no notification announced comes in a round.
		g.AddMessage("archive", graphMessage(50), false)
		if st, err := g.Lifecycle(sub.ID, "missed"); err != nil || st != http.StatusAccepted {
			t.Fatalf("missed: %d %v", st, err)
		}
		p.waitMail(t, "graph message 50", 10*time.Second)

		// reauthorizationRequired: renewed at once.
		if st, err := g.Lifecycle(sub.ID, "reauthorizationRequired"); err != nil || st != http.StatusAccepted {
			t.Fatalf("reauthorizationRequired: %d %v", st, err)
		}
		waitFor(t, "reauthorized", 10*time.Second, func() bool { s := g.Subscriptions(); return len(s) == 1 && !s[0].NeedsReauthorization })

		// Half of the lifetime passed: renewed at the next pass.
		old := g.Subscriptions()[0].Expires
		p.clock.Advance(mailconn.DefaultGraphLifetime/2 + time.Hour)
		p.workers.WakeMail(p.id)
		waitFor(t, "renewed", 10*time.Second, func() bool { s := g.Subscriptions(); return len(s) == 1 && s[0].Expires.After(old) })
		if s := g.Subscriptions()[0]; s.ID != sub.ID || !s.Expires.After(p.clock.Now().Add(mailconn.DefaultGraphLifetime/2)) {
			t.Fatalf("renewed %+v", s)
		}

		// subscriptionRemoved: another subscription, and mail still comes.
		if st, err := g.Lifecycle(sub.ID, "subscriptionRemoved"); err != nil || st != http.StatusAccepted {
			t.Fatalf("subscriptionRemoved: %d %v", st, err)
		}
		waitFor(t, "subscribed again", 10*time.Second, func() bool {
			s := g.Subscriptions()
			r := p.stored(t)
			return len(s) == 1 && s[0].ID != sub.ID && r != nil && r.SubscriptionID == s[0].ID
		})
		p.latencies(t, 60, 1, 10*time.Second)

		// Disconnected: the subscription goes, at Graph and here.
		p.must(200, "DELETE", fmt.Sprintf("/api/v1/mail-accounts/%d?confirm_data_loss=true", p.id), p.annToken, nil)
		if s := g.Subscriptions(); len(s) != 0 || p.stored(t) != nil {
			t.Fatalf("after disconnecting: %+v, %+v", s, p.stored(t))
		}
	})
}

// Without an https public address Graph cannot notify: nothing is
// subscribed and the mailbox is polled every --graph-poll. The same when
// subscribing fails (an app without the permission): polled, the failure
// logged, the account synced.
func TestGraphPollsWithoutNotifications(t *testing.T) {
	t.Parallel()
	const poll = 400 * time.Millisecond
	t.Run("http", func(t *testing.T) {
		p := setupPush(t, bundleOpts{}, false, poll, nil)
		lo, mean, hi := p.latencies(t, 2, 5, 30*time.Second)
		t.Logf("new-mail latency polling every %s: min %s, mean %s, max %s (5 messages)", poll, lo, mean, hi)
		if s := p.g.Subscriptions(); len(s) != 0 || p.stored(t) != nil {
			t.Fatalf("subscribed without an https address: %+v", s)
		}
	})
	t.Run("refused", func(t *testing.T) {
		p := setupPush(t, bundleOpts{}, true, poll, func(g *graphfake.Graph) { g.FailSubscriptions(true) })
		p.latencies(t, 2, 2, 30*time.Second)
		if s := p.g.Subscriptions(); len(s) != 0 || p.stored(t) != nil {
			t.Fatalf("subscribed: %+v", s)
		}
		if !contains(p.logs.String(), "mail notifications unavailable") {
			t.Error("the failed subscription is not logged")
		}
		a, err := p.st.MailAccountByID(context.Background(), p.id)
		if err != nil || a.State != crm.StateSynced {
			t.Errorf("account %s (%v): a failed subscription is not the account's failure", a.State, err)
		}
	})
}
