package syncer_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"mime"
	netmail "net/mail"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/lease"
	"github.com/crmsync/crmsync/internal/mail/compose"
	"github.com/crmsync/crmsync/internal/mail/mailsync"
	"github.com/crmsync/crmsync/internal/mail/smtpout/smtptest"
	"github.com/crmsync/crmsync/internal/store/storetest"
	"github.com/crmsync/crmsync/internal/syncer"
)

// offsetClock is the loops' clock, moved forward to make retries due.
type offsetClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *offsetClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *offsetClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// startSending runs the loops with sending wired, as serve does.
func (e *mailEnv) startSending(clock *offsetClock) {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan struct{})
	logger := slog.New(slog.NewTextHandler(e, &slog.HandlerOptions{Level: slog.LevelDebug}))
	go func() {
		defer close(e.done)
		syncer.Run(ctx, syncer.Config{Store: e.st, Logger: logger, Owner: lease.NewOwner(), Now: clock.Now,
			Lease: lease.Config{TTL: 3 * time.Second},
			Mail: &syncer.MailConfig{Dial: e.conn.Dial, Engine: mailsync.Config{Parse: e.conn.Parse, Send: e.conn.Send, BatchSize: 100},
				Scan: 100 * time.Millisecond, IdleMax: time.Second, PollInterval: 2 * time.Second}})
	}()
	e.t.Cleanup(e.stop)
}

// queue builds and enqueues a message from the account, as the API does.
func (e *mailEnv) queue(req crm.SendRequest) crm.OutboxItem {
	e.t.Helper()
	from := crm.Address{Name: "Ann Sender", Email: e.account.Email}
	id := compose.NewMessageID(from.Email)
	raw, err := compose.Build(req, from, id, time.Now())
	if err != nil {
		e.t.Fatal(err)
	}
	it, err := e.st.EnqueueMail(context.Background(), e.viewer, crm.OutboxItem{AccountID: e.account.ID, MessageID: id, From: from, Request: req, Raw: raw})
	if err != nil {
		e.t.Fatal(err)
	}
	return it
}

func (e *mailEnv) item(id int64) crm.OutboxItem {
	e.t.Helper()
	it, err := e.st.GetOutboxItem(context.Background(), e.viewer, id)
	if err != nil {
		e.t.Fatal(err)
	}
	it.Raw = nil // not to print
	return it
}

// inSent counts the messages of the server's Sent folder with a Message-ID.
func (e *mailEnv) inSent(messageID string) int {
	c := e.srv.Dial(e.t, e.user)
	defer c.Logout()
	if _, err := c.Select("Sent", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		e.t.Fatal(err)
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: "<" + messageID + ">"}}}, nil).Wait()
	if err != nil {
		e.t.Fatal(err)
	}
	return len(data.AllUIDs())
}

// sentByServer returns the messages the SMTP server accepted with a
// Message-ID.
func sentByServer(t *testing.T, s *smtptest.Server, messageID string) []smtptest.Message {
	var out []smtptest.Message
	for _, m := range s.Messages() {
		msg, err := netmail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatal(err)
		}
		if msg.Header.Get("Message-Id") == "<"+messageID+">" {
			out = append(out, m)
		}
	}
	return out
}

// TestOutboxDovecot sends through the sync loop against a real Dovecot and
// the SMTP test server: a message with Cc, Bcc and links; a 451 then
// success; a 550; a connection lost after DATA; and two items a dead
// process left "sending", one of which reached the Sent folder.
func TestOutboxDovecot(t *testing.T) {
	eachStore(t, func(t *testing.T, f storetest.Factory) {
		e := newMailEnv(t, f)
		ctx := context.Background()
		smtp := smtptest.Start(t, &smtptest.Options{User: e.user, Password: e.pass, MaxMessageBytes: 10 << 20})
		a, err := e.st.UpdateMailAccount(ctx, e.viewer, e.account.ID, func(a *crm.MailAccount) error {
			a.Settings.SMTP = &crm.ServerSettings{Host: smtp.Host, Port: smtp.Port, Security: "none", Username: e.user}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		e.account = a
		company, err := e.st.CreateCompany(ctx, e.viewer, crm.Company{Name: "Client Ltd", Domains: []string{"client.test"}, OwnerID: e.viewer.UserID})
		if err != nil {
			t.Fatal(err)
		}
		contact, err := e.st.CreateContact(ctx, e.viewer, crm.Contact{FirstName: "Carol", Emails: []string{"carol@elsewhere.test"}, OwnerID: e.viewer.UserID, Lifecycle: crm.LifecycleLead})
		if err != nil {
			t.Fatal(err)
		}

		// Left "sending" by a process that died: one reached Sent, one not.
		crashedSent := e.queue(crm.SendRequest{To: []crm.Address{{Email: "crash1@client.test"}}, Subject: "Crashed after sending", Text: "x"})
		crashedLost := e.queue(crm.SendRequest{To: []crm.Address{{Email: "crash2@client.test"}}, Subject: "Crashed, outcome unknown", Text: "x"})
		e.srv.Append(t, e.user, "Sent", crashedSent.Raw, []string{`\Seen`}, time.Time{})
		e.st.Clock = func() time.Time { return time.Now().Add(-10 * time.Minute) }
		l, err := e.st.ClaimLease(ctx, syncer.MailLeaseKind, strconv.FormatInt(e.account.ID, 10), "dead-process", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range []crm.OutboxItem{crashedSent, crashedLost} {
			it.State, it.Attempts = crm.OutboxSending, 1
			if err := e.st.UpdateOutbox(ctx, l.Fence(), it); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.st.ReleaseLease(ctx, l); err != nil {
			t.Fatal(err)
		}
		e.st.Clock = time.Now

		main := e.queue(crm.SendRequest{
			To:      []crm.Address{{Name: "Bob Client", Email: "bob@client.test"}, {Email: "dan@client.test"}},
			Cc:      []crm.Address{{Name: "Carol", Email: "carol@elsewhere.test"}},
			Bcc:     []crm.Address{{Name: "Hidden", Email: "hidden@elsewhere.test"}},
			Subject: "Offre — 2030", Text: "Hello Bob", HTML: "<p>Hello <b>Bob</b></p>",
			Attachments: []crm.SendAttachment{{Filename: "offre.pdf", ContentType: "application/pdf", Content: []byte("%PDF-1.4 …")}},
			Links:       []crm.LinkRef{{Type: crm.LinkCompany, ID: company.ID}, {Type: crm.LinkContact, ID: contact.ID}, {Type: crm.LinkOpportunity, ID: 999999}},
		})
		smtp.FailNext(smtptest.Fault{Step: smtptest.StepRcpt, Rcpt: "retry@client.test", Code: 451, Message: "greylisted, try later"})
		retried := e.queue(crm.SendRequest{To: []crm.Address{{Email: "retry@client.test"}}, Subject: "Greylisted", Text: "x"})
		smtp.FailAlways(smtptest.Fault{Step: smtptest.StepRcpt, Rcpt: "nobody@client.test", Code: 550, Message: "no such user"})
		refused := e.queue(crm.SendRequest{To: []crm.Address{{Email: "nobody@client.test"}}, Subject: "Bounced", Text: "x"})
		smtp.FailNext(smtptest.Fault{Step: smtptest.StepData, Rcpt: "cut@client.test", HangUp: true})
		cut := e.queue(crm.SendRequest{To: []crm.Address{{Email: "cut@client.test"}}, Subject: "Cut", Text: "x"})

		clock := &offsetClock{}
		e.startSending(clock)
		// Sent is recorded at once, the stored email's id once it is filed.
		state := func(it crm.OutboxItem, want crm.OutboxState) func() bool {
			return func() bool {
				x := e.item(it.ID)
				return x.State == want && (want != crm.OutboxSent || x.EmailID != nil)
			}
		}
		e.waitFor("main message sent", 20*time.Second, state(main, crm.OutboxSent))
		e.waitFor("a 451 queued again", 20*time.Second, func() bool {
			it := e.item(retried.ID)
			return it.State == crm.OutboxQueued && it.Attempts == 1
		})
		for _, it := range []crm.OutboxItem{crashedSent, crashedLost, refused, cut} {
			want := crm.OutboxFailed
			if it.ID == crashedSent.ID {
				want = crm.OutboxSent
			}
			e.waitFor(fmt.Sprintf("%q %s", it.Request.Subject, want), 20*time.Second, state(it, want))
		}

		// The main message: one submission, the right header, Bcc only in
		// the envelope.
		got := sentByServer(t, smtp, main.MessageID)
		if len(got) != 1 {
			t.Fatalf("main message submitted %d times", len(got))
		}
		m := got[0]
		if m.From != e.account.Email || !slices.Equal(m.To, []string{"bob@client.test", "dan@client.test", "carol@elsewhere.test", "hidden@elsewhere.test"}) {
			t.Errorf("envelope = %s → %v", m.From, m.To)
		}
		hdr, _ := netmail.ReadMessage(bytes.NewReader(m.Data))
		if hdr.Header.Get("Bcc") != "" || bytes.Contains(m.Data, []byte("hidden@")) {
			t.Errorf("the Bcc recipient is in the message:\n%s", m.Data)
		}
		from, _ := hdr.Header.AddressList("From")
		to, _ := hdr.Header.AddressList("To")
		subject, _ := new(mime.WordDecoder).DecodeHeader(hdr.Header.Get("Subject"))
		if len(from) != 1 || from[0].Address != e.account.Email || len(to) != 2 || to[0].Name != "Bob Client" || subject != "Offre — 2030" {
			t.Errorf("header: from %v to %v subject %q", from, to, subject)
		}
		// In Sent on the server once, stored there with its links.
		if n := e.inSent(main.MessageID); n != 1 {
			t.Errorf("main message %d times in Sent", n)
		}
		// Counted on the server's side as soon as it is stored: never more
		// stored than on the server.
		folders, err := e.st.Folders(ctx, e.account.ID)
		if err != nil {
			t.Fatal(err)
		}
		counts, err := e.st.FolderCounts(ctx, e.account.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range folders {
			if f.Name == "Sent" && (counts["Sent"] == 0 || int64(f.Cursor.ServerCount) < counts["Sent"]) {
				t.Errorf("Sent: %d stored, %d on the server", counts["Sent"], f.Cursor.ServerCount)
			}
		}
		it := e.item(main.ID)
		if it.Attempts != 1 || it.LastError != "" {
			t.Errorf("main item = %+v", it)
		}
		email, err := e.st.GetEmail(ctx, e.viewer, *it.EmailID)
		if err != nil {
			t.Fatal(err)
		}
		if email.Folder != "Sent" || email.MessageID != main.MessageID || email.Subject != "Offre — 2030" || len(email.Attachments) != 1 ||
			len(email.Participants.Bcc) != 1 || !email.Flags.Seen {
			t.Errorf("stored email = %+v", email)
		}
		links, err := e.st.EmailLinks(ctx, e.viewer, email.ID)
		if err != nil {
			t.Fatal(err)
		}
		manual := map[crm.LinkType]int64{}
		for _, lk := range links {
			if lk.Source == "manual" {
				manual[lk.Type] = lk.ID
			}
		}
		if manual[crm.LinkCompany] != company.ID || manual[crm.LinkContact] != contact.ID || len(manual) != 2 {
			t.Errorf("links = %+v", links)
		}

		// 451, then accepted once the backoff has passed.
		if it := e.item(retried.ID); !strings.Contains(it.LastError, "451") || it.NextAttemptAt.Before(time.Now().Add(20*time.Second)) {
			t.Errorf("after a 451: %+v", it)
		}
		clock.Advance(90 * time.Second)
		e.waitFor("retry sent", 20*time.Second, state(retried, crm.OutboxSent))
		if it := e.item(retried.ID); it.Attempts != 2 || it.EmailID == nil {
			t.Errorf("retried item = %+v", it)
		}

		// Refused for good: the server's answer for the user.
		if it := e.item(refused.ID); !strings.Contains(it.LastError, "550") || !strings.Contains(it.LastError, "nobody@client.test") || it.Attempts != 1 {
			t.Errorf("refused item = %+v", it)
		}
		// Cut after DATA, and died "sending" without reaching Sent: failed,
		// saying why, never sent again.
		for _, x := range []crm.OutboxItem{cut, crashedLost} {
			if it := e.item(x.ID); !strings.Contains(it.LastError, "cannot tell whether it was sent") {
				t.Errorf("%q: %+v", x.Request.Subject, it)
			}
		}
		if it := e.item(crashedSent.ID); it.EmailID == nil || it.Attempts != 1 {
			t.Errorf("crashed but sent item = %+v", it)
		}

		// Nothing is ever sent twice, whatever time passes.
		clock.Advance(3 * time.Hour)
		passes := 0
		last := e.acct().LastSyncAt
		e.waitFor("a few more passes", 30*time.Second, func() bool {
			if a := e.acct(); a.LastSyncAt != nil && (last == nil || a.LastSyncAt.After(*last)) {
				passes++
				last = a.LastSyncAt
			}
			return passes >= 3
		})
		for addr, want := range map[string]int{"crash1@client.test": 0, "crash2@client.test": 0, "bob@client.test": 1, "retry@client.test": 2,
			"nobody@client.test": 1, "cut@client.test": 1} {
			if n := smtp.RcptAttempts(addr); n != want {
				t.Errorf("%s asked for %d times, want %d", addr, n, want)
			}
		}
		if n := len(smtp.Messages()); n != 2 {
			t.Errorf("%d messages accepted, want 2", n)
		}
		for _, x := range []crm.OutboxItem{main, retried, crashedSent} {
			if n := e.inSent(x.MessageID); n != 1 {
				t.Errorf("%q is %d times in Sent", x.Request.Subject, n)
			}
		}
		for _, x := range []crm.OutboxItem{crashedLost, refused, cut} {
			if n := e.inSent(x.MessageID); n != 0 {
				t.Errorf("%q is in Sent", x.Request.Subject)
			}
		}
		e.assertNoDuplicates()
		stored := e.emails()
		for _, x := range []crm.OutboxItem{main, retried, crashedSent} {
			if len(stored["Sent|"+x.MessageID]) != 1 || stored["Sent|"+x.MessageID][0].ID != *e.item(x.ID).EmailID {
				t.Errorf("%q stored as %v", x.Request.Subject, ids(stored["Sent|"+x.MessageID]))
			}
		}
		evs, _ := e.st.AccountEvents(ctx, e.account.ID, 100)
		var sent, failed int
		for _, ev := range evs {
			switch ev.Kind {
			case "sent":
				sent++
				if strings.Contains(ev.Message, "Offre") && !strings.Contains(ev.Message, "not linked to opportunity 999999") {
					t.Errorf("the skipped link is not said: %q", ev.Message)
				}
			case "send_failed":
				failed++
			}
		}
		if sent != 3 || failed != 3 {
			t.Errorf("history: %d sent, %d failed: %+v", sent, failed, evs)
		}
	})
}
