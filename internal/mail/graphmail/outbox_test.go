package graphmail_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/graph"
	"github.com/crmsync/crmsync/internal/mail/compose"
	"github.com/crmsync/crmsync/internal/mail/graphmail"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

// The outbox of a Microsoft mailbox, through the engine: sent once with
// Graph's sendMail, Graph's copy in Sent Items stored once and linked, an
// interrupted attempt decided by looking in Sent Items (never sent again),
// refusals failing the item with words for the user, throttling obeyed.

type outboxEnv struct {
	*syncEnv
	mb    *graphmail.Mailbox
	sends int           // attempts the engine made
	ahead time.Duration // the engine's clock is this far ahead of the real one
	// before, when set, runs before each attempt (a switch of the fake).
	before func()
	carol  crm.Contact
}

func newOutboxEnv(t *testing.T, f storetest.Factory) *outboxEnv {
	e := &outboxEnv{syncEnv: newSyncEnv(t, f)}
	e.mb = e.Engine.Mailbox.(*graphmail.Mailbox)
	e.Engine.Config.Send = func(ctx context.Context, a crm.MailAccount, from string, rcpts []string, raw []byte) error {
		e.sends++
		if e.before != nil {
			e.before()
		}
		return e.mb.Send(ctx, from, rcpts, raw)
	}
	e.Engine.Config.Now = func() time.Time { return time.Now().Add(e.ahead) }
	var err error
	e.carol, err = e.Store.CreateContact(e.Ctx, e.Viewer, crm.Contact{FirstName: "Carol", Lifecycle: crm.LifecycleLead, Emails: []string{"carol@client.example"}, OwnerID: e.Viewer.UserID})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// queue enqueues a message to Carol, linked to her contact, as the API does.
func (e *outboxEnv) queue(subject string) crm.OutboxItem {
	e.T.Helper()
	from := crm.Address{Email: e.Engine.Account.Email}
	req := crm.SendRequest{To: []crm.Address{{Email: "carol@client.example"}}, Bcc: []crm.Address{{Email: "dan@acme.example"}},
		Subject: subject, Text: "x", Links: []crm.LinkRef{{Type: crm.LinkContact, ID: e.carol.ID}}}
	id := compose.NewMessageID(from.Email)
	raw, err := compose.Build(req, from, id, time.Now())
	if err != nil {
		e.T.Fatal(err)
	}
	it, err := e.Store.EnqueueMail(e.Ctx, e.Viewer, crm.OutboxItem{AccountID: e.Engine.Account.ID, MessageID: id, From: from, Request: req, Raw: raw})
	if err != nil {
		e.T.Fatal(err)
	}
	return it
}

// pass runs one quick pass (the outbox's).
func (e *outboxEnv) pass() {
	e.T.Helper()
	if _, err := e.Engine.Pass(e.Ctx, false); err != nil {
		e.T.Fatalf("pass: %v", err)
	}
}

func (e *outboxEnv) item(id int64) crm.OutboxItem {
	e.T.Helper()
	it, err := e.Store.GetOutboxItem(e.Ctx, e.Viewer, id)
	if err != nil {
		e.T.Fatal(err)
	}
	return it
}

// filed checks that a sent item links to Graph's copy in Sent Items,
// stored once (Emails fails on a duplicate) with the manual link, also
// after a full sync has read Sent Items' delta.
func (e *outboxEnv) filed(it crm.OutboxItem, savedID string) {
	e.T.Helper()
	if it.State != crm.OutboxSent || it.EmailID == nil {
		e.T.Fatalf("item %q: %s, email %v (%s); want sent and filed", it.Request.Subject, it.State, it.EmailID, it.LastError)
	}
	em, err := e.Store.GetEmail(e.Ctx, e.Viewer, *it.EmailID)
	if err != nil {
		e.T.Fatal(err)
	}
	if em.Folder != "Sent Items" || em.RemoteID != savedID || em.Subject != it.Request.Subject {
		e.T.Errorf("filed as %q in %q at %q, want Graph's copy %q in Sent Items", em.Subject, em.Folder, em.RemoteID, savedID)
	}
	linked := false
	for _, l := range em.Links {
		linked = linked || l.Type == crm.LinkContact && l.ID == e.carol.ID && l.Source == "manual"
	}
	if !linked {
		e.T.Errorf("not linked to Carol: %+v", em.Links)
	}
	e.Sync()
	if got := e.Emails()[it.Request.Subject]; got.ID != *it.EmailID {
		e.T.Errorf("after the sync %q is email %d, want %d", it.Request.Subject, got.ID, *it.EmailID)
	}
}

func TestOutboxOverGraph(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		e := newOutboxEnv(t, f)
		e.g.AddMessage("sentitems", raw(1), true)
		e.Sync()

		// Sent once, Graph's copy filed and linked.
		it := e.queue("Proposal")
		e.pass()
		sent := e.g.SentMail()
		if e.sends != 1 || len(sent) != 1 {
			t.Fatalf("%d attempts, %d sent; want 1 and 1", e.sends, len(sent))
		}
		if strings.Join(sent[0].Recipients, ",") != "carol@client.example,dan@acme.example" {
			t.Errorf("recipients %v", sent[0].Recipients)
		}
		e.filed(e.item(it.ID), sent[0].SavedID)

		// A crash after Graph took the message, before the outcome was
		// recorded: the item is left sending. The next process finds it
		// in Sent Items and never sends it again.
		e.ahead += time.Hour // the item is stale by then
		it = e.queue("Interrupted")
		if err := e.mb.Send(e.Ctx, it.From.Email, compose.Recipients(it.Request), it.Raw); err != nil {
			t.Fatal(err)
		}
		it.State, it.Attempts = crm.OutboxSending, 1
		if err := e.Store.UpdateOutbox(e.Ctx, e.Engine.Fence, it); err != nil {
			t.Fatal(err)
		}
		e.ahead += time.Hour
		e.pass()
		if sent = e.g.SentMail(); e.sends != 1 || len(sent) != 2 {
			t.Fatalf("interrupted item: %d attempts, %d sent; want no new attempt", e.sends, len(sent))
		}
		e.filed(e.item(it.ID), sent[1].SavedID)

		// A crash before Graph took it: not in Sent Items, failed with
		// words for the user, not sent.
		it = e.queue("Lost")
		it.State, it.Attempts = crm.OutboxSending, 1
		if err := e.Store.UpdateOutbox(e.Ctx, e.Engine.Fence, it); err != nil {
			t.Fatal(err)
		}
		e.ahead += time.Hour
		e.pass()
		if got := e.item(it.ID); got.State != crm.OutboxFailed || !strings.Contains(got.LastError, "cannot tell whether it was sent") || e.sends != 1 || len(e.g.SentMail()) != 2 {
			t.Fatalf("lost item: %s %q, %d attempts; want failed, not sent", got.State, got.LastError, e.sends)
		}

		// Graph's answer is lost after it sent the message: uncertain,
		// decided from Sent Items at once.
		e.g.FailAfterSend(http.StatusGatewayTimeout)
		it = e.queue("Timed out")
		e.pass()
		if sent = e.g.SentMail(); e.sends != 2 || len(sent) != 3 {
			t.Fatalf("timed out: %d attempts, %d sent; want 2 and 3", e.sends, len(sent))
		}
		e.filed(e.item(it.ID), sent[2].SavedID)

		// Refused: failed with Microsoft's refusal in words, not retried.
		for _, c := range []struct {
			status int
			code   string
			says   string
		}{
			{http.StatusForbidden, "ErrorAccessDenied", "does not allow crmsync to send mail from this mailbox"},
			{http.StatusBadRequest, "ErrorMimeContentInvalidBase64String", "refused this message as invalid"},
		} {
			e.g.RefuseSend(c.status, c.code)
			it = e.queue("Refused")
			attempts := e.sends
			e.pass()
			e.ahead += time.Hour
			e.pass()
			got := e.item(it.ID)
			if got.State != crm.OutboxFailed || !strings.Contains(got.LastError, c.says) || e.sends != attempts+1 || len(e.g.SentMail()) != 3 {
				t.Fatalf("refused %d: %s %q, %d attempts; want failed once, saying %q", c.status, got.State, got.LastError, e.sends-attempts, c.says)
			}
			for _, bad := range []string{"sendMail", "POST", "/me/"} {
				if strings.Contains(got.LastError, bad) {
					t.Errorf("the user reads %q", got.LastError)
				}
			}
		}

		// 429 with a short Retry-After: waited out within the attempt,
		// no request before it elapses, sent once.
		early := e.g.Stats().Early
		e.before = func() { e.g.ThrottleAfter(0, time.Second) }
		it = e.queue("Throttled briefly")
		start := time.Now()
		e.pass()
		e.before = nil
		if sent = e.g.SentMail(); len(sent) != 4 || time.Since(start) < 900*time.Millisecond || e.g.Stats().Early != early {
			t.Fatalf("brief throttling: %d sent in %v, %d early requests", len(sent), time.Since(start), e.g.Stats().Early-early)
		}
		e.filed(e.item(it.ID), sent[3].SavedID)

		// 429 with a Retry-After longer than the client waits: the item
		// waits in the queue at least that long, then goes once.
		srv := httptest.NewServer(e.g)
		t.Cleanup(srv.Close)
		impatient, err := graphmail.Open(graphmail.Config{Config: graph.Config{GraphURL: srv.URL, HTTP: srv.Client(), Tokens: tokens, MaxWait: 50 * time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		e.mb = impatient
		e.before = func() { e.g.ThrottleAfter(0, 2*time.Second) }
		it = e.queue("Throttled long")
		e.pass()
		e.before = nil
		got := e.item(it.ID)
		if got.State != crm.OutboxQueued || !strings.Contains(got.LastError, "limits how fast") || got.NextAttemptAt.Before(time.Now().Add(e.ahead+2*time.Second)) || len(e.g.SentMail()) != 4 {
			t.Fatalf("long throttling: %s %q next %v (now %v), %d sent", got.State, got.LastError, got.NextAttemptAt, time.Now().Add(e.ahead), len(e.g.SentMail()))
		}
		time.Sleep(2 * time.Second) // the fake's Retry-After runs on its own clock
		e.ahead = time.Until(got.NextAttemptAt) + time.Second
		e.pass()
		if sent = e.g.SentMail(); len(sent) != 5 {
			t.Fatalf("after the throttling: %d sent, want 5", len(sent))
		}
		e.filed(e.item(it.ID), sent[4].SavedID)
	})
}
