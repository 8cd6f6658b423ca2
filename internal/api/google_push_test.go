package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/accounts/accountstest"
	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/cloudconn"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail/mailsync"
	"github.com/crmsync/crmsync/internal/mailconn"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/syncer"
	"github.com/crmsync/crmsync/internal/testpeer/googlefake"
)

const (
	gTopic     = "projects/crmsync-test/topics/gmail"
	gPushToken = "pubsub-push-secret-0123456789abcdef"
)

// gpushBundle is a Gmail mailbox signed in through the API, synced by a
// running syncer over the real connector, with the API also served on a
// "public" address that the fake's Pub/Sub push subscription posts to.
type gpushBundle struct {
	*googleBundle
	gm      *googlefake.Gmail
	public  *httptest.Server
	workers *syncer.Syncer
	id      int64
	ann     crm.Viewer
}

// setupGmailPush wires it; topic "" leaves push off (polled every poll).
func setupGmailPush(t *testing.T, opts bundleOpts, topic string, poll time.Duration) *gpushBundle {
	t.Helper()
	o := setupGoogle(t, opts)
	o.registerGoogle()
	o.g.Identity.AddUser(googlefake.User{Email: "ann@acme.test"})
	o.g.API.SetClock(o.clock.Now)
	gm := o.g.API.Gmail()
	gm.SetEmail("ann@acme.test")
	gm.AddMessage(graphMessage(1), "INBOX")

	p := &gpushBundle{googleBundle: o, gm: gm}
	p.public = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { p.srv.ServeHTTP(w, r) }))
	t.Cleanup(p.public.Close)
	gm.SetPushEndpoint(gTopic, p.public.URL+api.GoogleNotificationsPath+"?token="+gPushToken, p.public.Client())
	conn := &mailconn.Connector{Credentials: o.st, Keys: o.keys, Guard: testPeers, Cloud: &cloudconn.Clients{OAuth: o.svc, Guard: testPeers},
		GooglePush: mailconn.GooglePush{Topic: topic, Store: o.st, Poll: poll, Now: o.clock.Now}}
	log := slog.New(slog.NewJSONHandler(o.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p.workers = syncer.New(syncer.Config{Store: o.st, Logger: log,
		Mail: &syncer.MailConfig{Dial: conn.Dial, Engine: mailsync.Config{Parse: conn.Parse}, Scan: 20 * time.Millisecond}})
	o.srv = api.New(api.Config{Store: o.st, Now: o.clock.Now, OAuth: o.svc, Logger: log, Wake: p.workers.WakeMail,
		Mail: pushMail{accountstest.NewMail(), conn}, GooglePushToken: gPushToken})

	r := o.callback(o.googleSignIn("mail"), "application/json")
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
	waitSubject(t, o.st, p.ann, "graph message 1", 20*time.Second)
	return p
}

func (p *gpushBundle) watchRow(t *testing.T) *store.MailSubscription {
	t.Helper()
	s, err := p.st.MailSubscription(context.Background(), p.id)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// latencies measures n new inbox messages from their arrival to their
// storage, more than a second apart (Gmail pushes one a second at most).
func (p *gpushBundle) latencies(t *testing.T, first, n int, limit time.Duration) (lo, mean, worst time.Duration) {
	t.Helper()
	lo = time.Hour
	var sum time.Duration
	for i := first; i < first+n; i++ {
		p.gm.AddMessage(graphMessage(i), "INBOX", "UNREAD")
		d := waitSubject(t, p.st, p.ann, fmt.Sprintf("graph message %d", i), limit)
		sum += d
		lo, worst = min(lo, d), max(worst, d)
		time.Sleep(1100*time.Millisecond - d%time.Second)
	}
	return lo, sum / time.Duration(n), worst
}

// pushAs POSTs a Pub/Sub envelope for address with token, as anyone could.
func (p *gpushBundle) pushAs(t *testing.T, token, address string) {
	t.Helper()
	data := base64.StdEncoding.EncodeToString([]byte(`{"emailAddress":"` + address + `","historyId":"99999999"}`))
	body := `{"message":{"data":"` + data + `","messageId":"1"},"subscription":"projects/x/subscriptions/y"}`
	resp, err := p.public.Client().Post(p.public.URL+api.GoogleNotificationsPath+"?token="+token, "application/json", bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("push answered %d", resp.StatusCode)
	}
}

// With a Pub/Sub topic, a Gmail mailbox keeps a watch of its inbox: new
// mail is pushed, wakes the account's loop and is stored within moments
// although its history round runs only every 15 minutes and polling would
// take an hour; a push without the operator's token, or for an address
// nobody connected, wakes nothing and is answered the same; the watch is
// renewed a day later, not at every pass; disconnecting stops it.
func TestGmailPushBringsNewMail(t *testing.T) {
	onBothDBs(t, func(t *testing.T, opts bundleOpts) {
		p := setupGmailPush(t, opts, gTopic, time.Hour)
		waitFor(t, "the watch", 10*time.Second, func() bool { return p.gm.Watch() != nil && p.watchRow(t) != nil })
		w, row := p.gm.Watch(), p.watchRow(t)
		if w.TopicName != gTopic || len(w.LabelIDs) != 1 || w.LabelIDs[0] != "INBOX" || !row.ExpiresAt.Equal(w.Expiration.Truncate(time.Millisecond)) ||
			row.SubscriptionID != "gmail-watch-"+strconv.FormatInt(p.id, 10) {
			t.Fatalf("watch %+v, stored %+v", w, row)
		}

		lo, mean, hi := p.latencies(t, 2, 5, 10*time.Second)
		t.Logf("Gmail new-mail latency with push: min %s, mean %s, max %s (5 messages)", lo, mean, hi)
		d, _ := p.gm.Pushes()
		if len(d) < 5 {
			t.Errorf("%d pushes delivered, want one per message", len(d))
		}
		for _, x := range d {
			if x.Status != http.StatusNoContent || x.Latency > 2*time.Second {
				t.Errorf("delivery %+v", x)
			}
		}
		if got := p.gm.Watch(); !got.Expiration.Equal(w.Expiration) {
			t.Errorf("the watch was renewed before a day passed: %s, then %s", w.Expiration, got.Expiration)
		}

		// Mail outside the inbox is not pushed; forged pushes and pushes
		// for others wake nothing.
		p.gm.AddMessage(graphMessage(20), "SENT")
		p.pushAs(t, "wrong-"+gPushToken, "ann@acme.test")
		p.pushAs(t, "", "ann@acme.test")
		p.pushAs(t, gPushToken, "nobody@acme.test")
		resp, err := p.public.Client().Post(p.public.URL+api.GoogleNotificationsPath+"?token="+gPushToken, "application/json", bytes.NewReader([]byte("{garbage")))
		if err != nil || resp.StatusCode != http.StatusNoContent {
			t.Fatalf("garbage: %v %v", resp, err)
		}
		resp.Body.Close()
		time.Sleep(1500 * time.Millisecond)
		if stored(t, p.st, p.ann, "graph message 20") {
			t.Fatal("a forged push woke the mailbox")
		}
		if r := p.watchRow(t); r == nil || r.News {
			t.Fatalf("a forged push left news: %+v", r)
		}
		// The operator's push for the address: the round finds it.
		p.pushAs(t, gPushToken, "Ann@Acme.test")
		waitSubject(t, p.st, p.ann, "graph message 20", 10*time.Second)

		// A day later: renewed at the next pass.
		p.clock.Advance(mailconn.DefaultGoogleRenew + time.Minute)
		p.workers.WakeMail(p.id)
		waitFor(t, "renewed", 10*time.Second, func() bool {
			r := p.watchRow(t)
			return p.gm.Watch().Expiration.After(w.Expiration) && r != nil && r.ExpiresAt.Equal(p.gm.Watch().Expiration.Truncate(time.Millisecond))
		})
		p.latencies(t, 30, 1, 10*time.Second)

		// Disconnected: the watch is stopped, at Gmail and here.
		p.must(200, "DELETE", fmt.Sprintf("/api/v1/mail-accounts/%d?confirm_data_loss=true", p.id), p.annToken, nil)
		if w := p.gm.Watch(); w != nil || p.watchRow(t) != nil {
			t.Fatalf("after disconnecting: %+v, %+v", w, p.watchRow(t))
		}
	})
}

// Without a topic nothing is watched and the mailbox is polled every
// --google-poll: quickly at 400 ms, not before the hour at an hour.
func TestGmailPollsWithoutPush(t *testing.T) {
	const poll = 400 * time.Millisecond
	p := setupGmailPush(t, bundleOpts{}, "", poll)
	lo, mean, hi := p.latencies(t, 2, 5, 10*time.Second)
	t.Logf("Gmail new-mail latency polling every %s: min %s, mean %s, max %s (5 messages)", poll, lo, mean, hi)
	if hi > poll+2*time.Second {
		t.Errorf("latency %s polling every %s", hi, poll)
	}
	if w := p.gm.Watch(); w != nil || p.watchRow(t) != nil {
		t.Fatalf("watched without a topic: %+v", w)
	}

	slow := setupGmailPush(t, bundleOpts{}, "", time.Hour)
	slow.gm.AddMessage(graphMessage(2), "INBOX")
	time.Sleep(2 * time.Second)
	if stored(t, slow.st, slow.ann, "graph message 2") {
		t.Fatal("polled before --google-poll elapsed")
	}
	slow.workers.WakeMail(slow.id) // as a flag change would
	waitSubject(t, slow.st, slow.ann, "graph message 2", 10*time.Second)
}
