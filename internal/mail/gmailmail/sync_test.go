package gmailmail_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail/compose"
	"github.com/crmsync/crmsync/internal/mail/gmailmail"
	"github.com/crmsync/crmsync/internal/mail/mailsync"
	"github.com/crmsync/crmsync/internal/mail/mailsync/mailsynctest"
	"github.com/crmsync/crmsync/internal/store/storetest"
	"github.com/crmsync/crmsync/internal/testpeer/googlefake"
)

// The mail engine syncing labels from the Gmail fake through gmailmail,
// on both databases.

type syncEnv struct {
	*mailsynctest.Env
	a *googlefake.API
	g *googlefake.Gmail
}

func newSyncEnv(t *testing.T, f storetest.Factory, cfg func(*gmailmail.Config)) *syncEnv {
	t.Helper()
	a := googlefake.NewAPI()
	mb := open(t, a, cfg)
	return &syncEnv{Env: mailsynctest.New(t, f, "google", mb, mailsync.Config{AutoSelect: gmailmail.AutoSelect}), a: a, g: a.Gmail()}
}

// rows returns the stored emails' row ids by subject.
func (e *syncEnv) rows() map[string]int64 {
	out := map[string]int64{}
	for s, m := range e.Emails() {
		out[s] = m.ID
	}
	return out
}

func TestEngineOverGmail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		e := newSyncEnv(t, f, nil)
		clients, projects := e.g.AddLabel("Clients"), e.g.AddLabel("Projects")
		var inbox []string
		for i := 1; i <= 12; i++ {
			labels := []string{"INBOX"}
			if i%2 == 1 {
				labels = append(labels, "UNREAD")
			}
			inbox = append(inbox, e.g.AddMessage(raw(i), labels...))
		}
		// One message under three labels is one message.
		multi := e.g.AddMessage(raw(50), "INBOX", clients, projects, "STARRED")
		e.g.AddMessage(raw(60), "SENT")
		e.g.AddMessage(raw(70), projects)
		e.g.AddMessage(raw(80), "TRASH") // not selected by default
		e.g.AddMessage(raw(90), "SPAM")  // nor spam
		e.g.AddMessage(raw(91), "SPAM", clients)

		res := e.Sync()
		got := e.Emails()
		if len(got) != 15 || res.Stored != 15 {
			t.Fatalf("%d stored (pass says %d), want 15: inbox, sent, labels, no trash nor spam, the labelled message once", len(got), res.Stored)
		}
		if !got["Message 2"].Flags.Seen || got["Message 3"].Flags.Seen || !got["Message 50"].Flags.Flagged {
			t.Fatalf("flags wrong: %+v / %+v / %+v", got["Message 2"].Flags, got["Message 3"].Flags, got["Message 50"].Flags)
		}
		if f := got["Message 50"].Folder; f != "INBOX" && f != "Clients" && f != "Projects" {
			t.Fatalf("Message 50 in %q", f)
		}
		rows := e.rows()

		// Changes on Gmail: read, starred, a label added and one taken
		// away, trash, a delete, new mail.
		e.g.Modify(inbox[0], nil, []string{"UNREAD"})
		e.g.Modify(inbox[1], []string{"STARRED"}, nil)
		e.g.Modify(inbox[2], []string{clients}, nil)
		e.g.Modify(multi, nil, []string{"INBOX", projects}) // now only in Clients
		e.g.Trash(inbox[3])
		e.g.Delete(inbox[4])
		e.g.AddMessage(raw(13), "INBOX", "UNREAD")
		// crmsync's side: Message 6 unread and starred.
		if _, err := e.Store.SetEmailFlags(e.Ctx, e.Viewer, got["Message 6"].ID, func(f *crm.Flags) { f.Seen = false; f.Flagged = true }); err != nil {
			t.Fatal(err)
		}
		e.Sync()
		got = e.Emails()
		if len(got) != 14 || got["Message 4"].ID != 0 || got["Message 5"].ID != 0 || got["Message 13"].ID == 0 {
			t.Fatalf("after changes: %d stored (trashed %d, deleted %d, new %d)", len(got), got["Message 4"].ID, got["Message 5"].ID, got["Message 13"].ID)
		}
		if !got["Message 1"].Flags.Seen || !got["Message 2"].Flags.Flagged || got["Message 50"].Folder != "Clients" {
			t.Fatalf("Gmail's changes did not arrive: %+v %+v, Message 50 in %s", got["Message 1"].Flags, got["Message 2"].Flags, got["Message 50"].Folder)
		}
		if st, _ := e.g.Message(inbox[5]); !slices.Contains(st.Labels, "UNREAD") || !slices.Contains(st.Labels, "STARRED") {
			t.Fatalf("crmsync's flags did not reach Gmail: %v", st.Labels)
		}
		for s, id := range rows {
			if s != "Message 4" && s != "Message 5" && got[s].ID != id {
				t.Fatalf("%s is row %d, was %d: a label change lost its links", s, got[s].ID, id)
			}
		}

		// Gmail forgets the history: the folders are listed again and every
		// message re-attaches to its row; nothing doubles.
		rows = e.rows()
		e.g.AddMessage(raw(14), "INBOX")
		e.g.Delete(inbox[6])
		e.g.ExpireHistory()
		e.Sync()
		got = e.Emails()
		if len(got) != 14 || got["Message 14"].ID == 0 || got["Message 7"].ID != 0 {
			t.Fatalf("after expiry: %d stored (new %d, deleted %d)", len(got), got["Message 14"].ID, got["Message 7"].ID)
		}
		evs, err := e.Store.AccountEvents(e.Ctx, e.Engine.Account.ID, 50)
		if err != nil {
			t.Fatal(err)
		}
		restarts := 0
		for _, ev := range evs {
			if ev.Kind == "folder" && strings.Contains(ev.Message, "reads the folder again") {
				restarts++
			}
		}
		if restarts == 0 {
			t.Fatal("no folder was listed again after the history expired")
		}
		for s, id := range rows {
			if s != "Message 7" && got[s].ID != id {
				t.Fatalf("%s is row %d after the history expired, was %d: links lost", s, got[s].ID, id)
			}
		}
	})
}

// The outbox sends through messages.send: the message is sent once and
// the copy stored is Gmail's, in SENT, under its id; an answer lost is
// recovered from SENT, never sent twice.
func TestOutboxOverGmail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		lost := &lostAnswer{drop: func(*http.Request) bool { return false }}
		e := newSyncEnv(t, f, func(c *gmailmail.Config) {
			lost.next = c.HTTP.Transport
			c.HTTP = &http.Client{Transport: lost}
		})
		sender := open(t, e.a, func(c *gmailmail.Config) { c.HTTP = &http.Client{Transport: lost} }) // mailconn dials its own
		sends := 0
		e.Engine.Config.Send = func(ctx context.Context, a crm.MailAccount, from string, rcpts []string, raw []byte) error {
			sends++
			err := sender.Send(ctx, from, rcpts, raw)
			return err
		}
		e.Sync()
		queue := func(subject string) crm.OutboxItem {
			from := crm.Address{Email: "ann@acme.example"}
			req := crm.SendRequest{To: []crm.Address{{Email: "bob@globex.example"}}, Bcc: []crm.Address{{Email: "eve@initech.example"}}, Subject: subject, Text: "x"}
			id := compose.NewMessageID(from.Email)
			raw, err := compose.Build(req, from, id, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			it, err := e.Store.EnqueueMail(e.Ctx, e.Viewer, crm.OutboxItem{AccountID: e.Engine.Account.ID, MessageID: id, From: from, Request: req, Raw: raw})
			if err != nil {
				t.Fatal(err)
			}
			return it
		}
		item := func(id int64) crm.OutboxItem {
			it, err := e.Store.GetOutboxItem(e.Ctx, e.Viewer, id)
			if err != nil {
				t.Fatal(err)
			}
			return it
		}

		it := queue("Proposal")
		e.Sync()
		sent := e.g.Messages("SENT")
		got := e.Emails()
		if sends != 1 || len(sent) != 1 || got["Proposal"].RemoteID != sent[0] || got["Proposal"].Folder != "SENT" {
			t.Fatalf("%d sends, SENT %v, stored %+v: want one message, Gmail's copy stored", sends, sent, got["Proposal"])
		}
		if st, _ := e.g.Message(sent[0]); !strings.Contains(string(st.Raw), "eve@initech.example") {
			t.Fatal("the Bcc recipient was not given to Gmail")
		}
		if it = item(it.ID); it.State != crm.OutboxSent || it.EmailID == nil || *it.EmailID != got["Proposal"].ID {
			t.Fatalf("outbox item %+v", it)
		}

		// Gmail took the message but its answer was lost: found in SENT,
		// filed once, not sent again.
		lost.drop = func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/messages/send") }
		it = queue("Lost answer")
		e.Sync()
		lost.drop = func(*http.Request) bool { return false }
		e.Sync()
		if it = item(it.ID); it.State != crm.OutboxSent || sends != 2 || len(e.g.Messages("SENT")) != 2 {
			t.Fatalf("after a lost answer: item %s, %d sends, %d in SENT", it.State, sends, len(e.g.Messages("SENT")))
		}
		if got := e.Emails(); got["Lost answer"].ID == 0 {
			t.Fatal("the sent message is not stored")
		}
	})
}
