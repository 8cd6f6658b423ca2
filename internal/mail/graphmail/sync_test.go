package graphmail_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/graphmail"
	"github.com/crmsync/crmsync/internal/mail/mailsync"
	"github.com/crmsync/crmsync/internal/mail/mimeparse"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/storetest"
	"github.com/crmsync/crmsync/internal/testpeer/graphfake"
)

// The mail engine syncing several folders from the Graph fake through
// graphmail, on both databases.

type syncEnv struct {
	t   *testing.T
	ctx context.Context
	st  store.Store
	g   *graphfake.Graph
	eng *mailsync.Engine
	v   crm.Viewer
}

func newSyncEnv(t *testing.T, f storetest.Factory) *syncEnv {
	t.Helper()
	ctx := context.Background()
	st, _ := f(t)
	_, prefix, hash := auth.NewToken()
	org, admin, _, err := st.CreateOrg(ctx, store.CreateOrgParams{Name: "Acme", AdminEmail: "ann@acme.example", TokenName: "t", TokenHash: hash, TokenPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	v := crm.Viewer{OrgID: org.ID, UserID: admin.ID, Role: crm.RoleAdmin}
	a, err := st.CreateMailAccount(ctx, v, crm.MailAccount{UserID: admin.ID, Email: "ann@acme.example", Provider: "microsoft", Mode: crm.ModeSync, State: crm.StateConnecting})
	if err != nil {
		t.Fatal(err)
	}
	l, err := st.ClaimLease(ctx, "mail", fmt.Sprint(a.ID), "test", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	g := graphfake.NewGraph()
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	mb, err := graphmail.Open(graphmail.Config{GraphURL: srv.URL, HTTP: srv.Client(), Tokens: tokens, Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	parse := func(r io.Reader) (*mail.Message, error) { m, _, err := mimeparse.Parse(r, nil); return m, err }
	eng := &mailsync.Engine{Store: st, Mailbox: mb, Fence: l.Fence(), Account: a, Log: slog.New(slog.DiscardHandler),
		Config: mailsync.Config{Parse: parse, BatchSize: 4, AutoSelect: graphmail.AutoSelect}.WithDefaults()}
	return &syncEnv{t: t, ctx: ctx, st: st, g: g, eng: eng, v: v}
}

func (e *syncEnv) sync() mailsync.Result {
	e.t.Helper()
	for i := 0; i < 100; i++ {
		res, err := e.eng.Pass(e.ctx, true)
		if err != nil {
			e.t.Fatalf("pass: %v", err)
		}
		if res.Done {
			return res
		}
	}
	e.t.Fatal("the sync never finished")
	return mailsync.Result{}
}

// emails returns the live stored emails by subject, failing on a duplicate.
func (e *syncEnv) emails() map[string]crm.Email {
	e.t.Helper()
	out := map[string]crm.Email{}
	cursor := ""
	for {
		page, err := e.st.ListEmails(e.ctx, e.v, store.EmailFilter{ListParams: store.ListParams{Limit: 500, Cursor: cursor}})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, m := range page.Items {
			if _, dup := out[m.Subject]; dup {
				e.t.Fatalf("%q stored twice", m.Subject)
			}
			out[m.Subject] = m
		}
		if cursor = page.NextCursor; cursor == "" {
			return out
		}
	}
}

func TestEngineOverGraph(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		e := newSyncEnv(t, f)
		e.g.AddFolder("inbox", "Clients")
		var inbox []string
		for i := 1; i <= 12; i++ {
			inbox = append(inbox, e.g.AddMessage("inbox", raw(i), i%2 == 0))
		}
		client := e.g.AddMessage("Inbox/Clients", raw(50), true)
		e.g.AddMessage("sentitems", raw(60), true)
		e.g.AddMessage("archive", raw(70), true)
		e.g.AddMessage("deleteditems", raw(80), false) // not selected by default
		e.g.AddMessage("junkemail", raw(90), false)    // nor junk

		e.sync()
		got := e.emails()
		if len(got) != 15 {
			t.Fatalf("%d stored, want 15 (inbox, Clients, sent, archive; no trash nor junk)", len(got))
		}
		if !got["Message 2"].Flags.Seen || got["Message 3"].Flags.Seen || got["Message 50"].Folder != "Inbox/Clients" {
			t.Fatalf("flags or folders wrong: %+v / %+v", got["Message 2"].Flags, got["Message 50"].Folder)
		}

		// A move either way round stays one message, the same row.
		before, before50 := got["Message 1"].ID, got["Message 50"].ID
		e.g.MoveMessage(inbox[0], "Inbox/Clients")
		e.g.MoveMessage(client, "inbox")
		e.sync()
		got = e.emails()
		if len(got) != 15 || got["Message 1"].ID != before || got["Message 1"].Folder != "Inbox/Clients" ||
			got["Message 50"].ID != before50 || got["Message 50"].Folder != "Inbox" {
			t.Fatalf("after moves: %d stored, Message 1 %d in %s (was %d), Message 50 in %s", len(got), got["Message 1"].ID, got["Message 1"].Folder, before, got["Message 50"].Folder)
		}

		// Flags both ways.
		e.g.SetFlag(inbox[1], "flagged")
		e.g.SetRead(inbox[2], true)
		if _, err := e.st.SetEmailFlags(e.ctx, e.v, got["Message 4"].ID, func(f *crm.Flags) { f.Seen = false; f.Flagged = true }); err != nil {
			t.Fatal(err)
		}
		e.sync()
		got = e.emails()
		if !got["Message 2"].Flags.Flagged || !got["Message 3"].Flags.Seen {
			t.Fatalf("Graph's flags did not arrive: %+v %+v", got["Message 2"].Flags, got["Message 3"].Flags)
		}
		if st, _ := e.g.Message(inbox[3]); st.IsRead || st.FlagStatus != "flagged" {
			t.Fatalf("crmsync's flags did not reach Graph: %+v", st)
		}

		// A delete removes; a reset delta token duplicates nothing.
		e.g.DeleteMessage(inbox[4])
		ids := map[string]int64{}
		for s, m := range e.emails() {
			ids[s] = m.ID
		}
		e.g.ExpireDeltaTokens(false)
		e.g.AddMessage("inbox", raw(13), false)
		e.sync()
		got = e.emails()
		if len(got) != 15 || got["Message 5"].ID != 0 || got["Message 13"].ID == 0 {
			t.Fatalf("after reset: %d stored (Message 5 %v, Message 13 %v)", len(got), got["Message 5"].ID, got["Message 13"].ID)
		}
		for s, id := range ids {
			if s != "Message 5" && got[s].ID != id {
				t.Fatalf("%s is row %d after the reset, was %d: links lost", s, got[s].ID, id)
			}
		}
	})
}
