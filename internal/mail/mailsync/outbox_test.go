package mailsync_test

import (
	"context"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/compose"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

// queue enqueues a message from the account, as the API does.
func (e *env) queue(subject string) crm.OutboxItem {
	e.t.Helper()
	from := crm.Address{Email: e.eng.Account.Email}
	req := crm.SendRequest{To: []crm.Address{{Email: "bob@globex.example"}}, Subject: subject, Text: "x"}
	id := compose.NewMessageID(from.Email)
	raw, err := compose.Build(req, from, id, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	it, err := e.st.EnqueueMail(e.ctx, e.v, crm.OutboxItem{AccountID: e.eng.Account.ID, MessageID: id, From: from, Request: req, Raw: raw})
	if err != nil {
		e.t.Fatal(err)
	}
	return it
}

// sent returns the Sent folder's server count and stored messages.
func (e *env) sent() (server uint32, stored int64) {
	e.t.Helper()
	folders, err := e.st.Folders(e.ctx, e.eng.Account.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	counts, err := e.st.FolderCounts(e.ctx, e.eng.Account.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, f := range folders {
		if f.Name == "Sent" {
			return f.Cursor.ServerCount, counts["Sent"]
		}
	}
	e.t.Fatal("no Sent folder")
	return 0, 0
}

// A message the outbox files in Sent counts on the server's side at once,
// in the folder and in the pass's totals; one already stored is not
// counted twice.
func TestOutboxFiledCountsOnTheServer(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		e := newEnv(t, f, false)
		e.srv.Add("INBOX", raw(1), mail.Flags{})
		e.srv.Add("Sent", raw(2), mail.Flags{Seen: true})
		e.Sync()
		if server, stored := e.sent(); server != 1 || stored != 1 {
			t.Fatalf("before sending: Sent has %d on the server, %d stored; want 1 and 1", server, stored)
		}
		var handed int
		e.eng.Config.Send = func(ctx context.Context, a crm.MailAccount, from string, rcpts []string, raw []byte) error {
			handed++
			return nil
		}
		e.queue("Proposal")
		// A quick pass (not full): Sent is not visited, its count must
		// still be right.
		res, err := e.eng.Pass(e.ctx, false)
		if err != nil {
			t.Fatal(err)
		}
		if handed != 1 || len(e.srv.IDs("Sent")) != 2 {
			t.Fatalf("%d handed to SMTP, %d in Sent on the server; want 1 and 2", handed, len(e.srv.IDs("Sent")))
		}
		if server, stored := e.sent(); server != 2 || stored != 2 {
			t.Fatalf("after sending: Sent has %d on the server, %d stored; want 2 and 2", server, stored)
		}
		if res.Stored != 3 || res.Total != 3 {
			t.Fatalf("pass after sending: %d of %d; want 3 of 3", res.Stored, res.Total)
		}
		// A full pass recounts on the server: the same.
		if res = e.Sync(); res.Stored != 3 || res.Total != 3 {
			t.Fatalf("full pass: %d of %d; want 3 of 3", res.Stored, res.Total)
		}

		// An item left "sending" whose message reached Sent and was
		// stored by the sync meanwhile: filed again, counted once.
		it := e.queue("Interrupted")
		it.State, it.Attempts = crm.OutboxSending, 1
		if err := e.st.UpdateOutbox(e.ctx, e.eng.Fence, it); err != nil {
			t.Fatal(err)
		}
		e.srv.Add("Sent", it.Raw, mail.Flags{Seen: true})
		e.eng.Config.Send = nil // the sync alone
		e.Sync()
		if server, stored := e.sent(); server != 3 || stored != 3 {
			t.Fatalf("after the sync: Sent has %d on the server, %d stored; want 3 and 3", server, stored)
		}
		e.eng.Config.Send = func(context.Context, crm.MailAccount, string, []string, []byte) error {
			t.Error("an interrupted item was sent again")
			return nil
		}
		later := time.Now().Add(time.Hour) // the item is stale by then
		e.eng.Config.Now = func() time.Time { return later }
		if _, err := e.eng.Pass(e.ctx, false); err != nil {
			t.Fatal(err)
		}
		if got, err := e.st.GetOutboxItem(e.ctx, e.v, it.ID); err != nil || got.State != crm.OutboxSent || got.EmailID == nil {
			t.Fatalf("interrupted item: %+v, %v; want sent and filed", got, err)
		}
		if server, stored := e.sent(); server != 3 || stored != 3 {
			t.Fatalf("after filing a stored message: Sent has %d on the server, %d stored; want 3 and 3", server, stored)
		}
	})
}
