package mailsync_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/mailfake"
	"github.com/crmsync/crmsync/internal/mail/mailsync"
	"github.com/crmsync/crmsync/internal/mail/mailsync/mailsynctest"
	"github.com/crmsync/crmsync/internal/mail/mimeparse"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

// These tests drive the engine against mailfake on both databases: the
// engine's own logic in milliseconds. The same algorithm against a real
// Dovecot is tested in package syncer.

type env struct {
	*mailsynctest.Env
	t   *testing.T
	ctx context.Context
	st  store.Store
	srv *mailfake.Server
	eng *mailsync.Engine
	v   crm.Viewer
}

func newEnv(t *testing.T, f storetest.Factory, present bool) *env {
	t.Helper()
	srv := mailfake.New("INBOX", "Sent", "Archive")
	srv.ReportPresent = present
	e := mailsynctest.New(t, f, "fake", srv.Dial(), mailsync.Config{})
	return &env{Env: e, t: t, ctx: e.Ctx, st: e.Store, srv: srv, eng: e.Engine, v: e.Viewer}
}

func raw(n int) []byte {
	return []byte(fmt.Sprintf("From: Bob <bob@globex.example>\r\nTo: ann@acme.example\r\nSubject: Message %d\r\nMessage-ID: <m%d@globex.example>\r\n"+
		"Date: Mon, 2 Nov 2026 %02d:%02d:00 +0000\r\n\r\nBody %d\r\n", n, n, n/60%24, n%60, n))
}

func TestEngineFirstSyncThenChanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		e := newEnv(t, f, false)
		var ids []mail.ID
		for i := 1; i <= 30; i++ {
			ids = append(ids, e.srv.Add("INBOX", raw(i), mail.Flags{Seen: i%2 == 0}))
		}
		e.srv.Add("Sent", raw(100), mail.Flags{Seen: true})
		e.srv.Add("Archive", raw(200), mail.Flags{}) // not selected by default
		res := e.Sync()
		got := e.Emails()
		if len(got) != 31 || res.Stored != 31 || res.Total != 31 || res.Inserted != 31 {
			t.Fatalf("%d stored (result %+v), want 31", len(got), res)
		}
		if !got["Message 2"].Flags.Seen || got["Message 3"].Flags.Seen || got["Message 100"].Folder != "Sent" {
			t.Fatalf("flags or folders wrong: %+v", got["Message 2"])
		}
		// The server changes: new mail, a flag, a removal. The user
		// flags a message in crmsync.
		e.srv.Add("INBOX", raw(31), mail.Flags{})
		e.srv.SetFlags("INBOX", ids[0], mail.Flags{Flagged: true})
		e.srv.Remove("INBOX", ids[1])
		if _, err := e.st.SetEmailFlags(e.ctx, e.v, got["Message 5"].ID, func(fl *crm.Flags) { fl.Answered = true }); err != nil {
			t.Fatal(err)
		}
		if res := e.Sync(); res.Inserted != 1 {
			t.Errorf("pass with one new message inserted %d", res.Inserted)
		}
		got = e.Emails()
		if _, ok := got["Message 31"]; !ok || !got["Message 1"].Flags.Flagged {
			t.Fatalf("new mail or server flag missing: %v", got["Message 1"].Flags)
		}
		if _, ok := got["Message 2"]; ok {
			t.Fatal("a message removed on the server is still listed")
		}
		if fl := e.srv.Flags("INBOX", ids[4]); !fl.Answered {
			t.Fatalf("the user's flag did not reach the server: %+v", fl)
		}
		// A pass with nothing new fetches nothing.
		before := e.srv.Calls("Fetch")
		if res := e.Sync(); res.Inserted != 0 {
			t.Errorf("pass with nothing new inserted %d", res.Inserted)
		}
		if n := e.srv.Calls("Fetch") - before; n != 0 {
			t.Fatalf("%d fetches on a pass with nothing new", n)
		}
	})
}

func TestEngineCursorInvalid(t *testing.T) {
	for _, renumber := range []bool{false, true} {
		t.Run(fmt.Sprint("renumber=", renumber), func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, f storetest.Factory) {
				e := newEnv(t, f, renumber)
				for i := 1; i <= 12; i++ {
					e.srv.Add("INBOX", raw(i), mail.Flags{})
				}
				e.Sync()
				before := e.Emails()
				// The provider forgets the cursors (an expired delta link, a
				// too old history id; with renumber: a UIDVALIDITY change, new
				// ids for the same messages). One message went meanwhile.
				e.srv.ForgetCursors(renumber)
				gone := e.srv.IDs("INBOX")[0]
				e.srv.Remove("INBOX", gone)
				e.Sync()
				after := e.Emails()
				if len(after) != 11 {
					t.Fatalf("%d messages after the restart, want 11", len(after))
				}
				for subj, m := range after {
					if before[subj].ID != m.ID {
						t.Fatalf("%s re-stored as %d, was %d: links would be lost", subj, m.ID, before[subj].ID)
					}
				}
				evs, _ := e.st.AccountEvents(e.ctx, e.eng.Account.ID, 10)
				if len(evs) == 0 || !strings.Contains(evs[0].Message, "starts again") {
					t.Fatalf("the restart is not in the history: %+v", evs)
				}
			})
		})
	}
}

func TestEngineFaults(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		e := newEnv(t, f, true)
		var ids []mail.ID
		for i := 1; i <= 20; i++ {
			ids = append(ids, e.srv.Add("INBOX", raw(i), mail.Flags{}))
		}
		// Throttled: the kind and the provider's wait reach the loop.
		e.srv.Throttle(1, 90*time.Second)
		_, err := e.eng.Pass(e.ctx, true)
		if ce := connerr.As(err); ce == nil || ce.Kind != connerr.Throttled || connerr.RetryOf(err, 1) < 90*time.Second {
			t.Fatalf("throttled pass: %v", err)
		}
		// The connection drops in the middle of a fetch: the next pass
		// resumes, nothing lost, nothing twice.
		e.srv.FailFetchAfter(3)
		if _, err := e.eng.Pass(e.ctx, true); connerr.KindOf(err) != connerr.Unreachable {
			t.Fatalf("dropped fetch: %v", err)
		}
		// A message the server never delivers is reported by the audit.
		e.srv.Never(ids[7])
		res := e.Sync()
		if len(e.Emails()) != 19 || !strings.Contains(res.Audit, "1 messages of INBOX could not be stored") {
			t.Fatalf("%d stored, audit %q", len(e.Emails()), res.Audit)
		}
		// A lost reply to a flag change: applied on the server, pushed
		// again (harmlessly) until acknowledged.
		m := e.Emails()["Message 1"]
		if _, err := e.st.SetEmailFlags(e.ctx, e.v, m.ID, func(fl *crm.Flags) { fl.Seen = true }); err != nil {
			t.Fatal(err)
		}
		e.srv.LoseReplies(1)
		if _, err := e.eng.Pass(e.ctx, false); connerr.KindOf(err) != connerr.Unreachable {
			t.Fatalf("lost reply: %v", err)
		}
		e.Sync()
		if p, _ := e.st.PendingFlags(e.ctx, e.eng.Account.ID, 10); len(p) != 0 || !e.srv.Flags("INBOX", ids[0]).Seen {
			t.Fatalf("pending after the retry: %+v", p)
		}
	})
}

// TestEngineFolderCap: a server listing 300,000 folders leaves the account
// with MaxFolders of them, the special ones first, and says so once.
func TestEngineFolderCap(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		e := newEnv(t, f, false)
		names := make([]string, 0, 300_000)
		for i := 0; i < 300_000-2; i++ {
			names = append(names, fmt.Sprintf("Lists/%06d", i))
		}
		names = append(names, "Sent", "INBOX") // the special ones come last in the server's list
		e.srv = mailfake.New(names...)
		e.eng.Mailbox = e.srv.Dial()
		e.srv.Add("INBOX", raw(1), mail.Flags{})
		e.Sync()
		e.Sync() // a second full pass: still capped, said once
		folders, err := e.st.Folders(e.ctx, e.eng.Account.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(folders) != mailsync.DefaultMaxFolders {
			t.Fatalf("%d folders kept, want %d", len(folders), mailsync.DefaultMaxFolders)
		}
		kept := map[string]bool{}
		for _, f := range folders {
			kept[f.Name] = true
		}
		if !kept["INBOX"] || !kept["Sent"] || len(e.Emails()) != 1 {
			t.Fatalf("the inbox or sent folder was left out, or the inbox not synced")
		}
		evs, _ := e.st.AccountEvents(e.ctx, e.eng.Account.ID, 50)
		said := 0
		for _, ev := range evs {
			if strings.Contains(ev.Message, "lists 300000 folders or more") {
				said++
			}
		}
		if said != 1 {
			t.Fatalf("the cap was said %d times: %+v", said, evs)
		}
	})
}

// TestEngineMessageTooLarge: a message past the connector's size limit is
// stored cut, with a warning the user reads, and the folder goes on.
func TestEngineMessageTooLarge(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		e := newEnv(t, f, false)
		e.srv.MaxMessageBytes = 4 << 10
		big := append(raw(1), []byte(strings.Repeat("attachment data\r\n", 20000))...)
		e.srv.Add("INBOX", big, mail.Flags{})
		e.srv.Add("INBOX", raw(2), mail.Flags{})
		e.Sync()
		got := e.Emails()
		if len(got) != 2 {
			t.Fatalf("%d stored, want 2", len(got))
		}
		m, err := e.st.GetEmail(e.ctx, e.v, got["Message 1"].ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Warnings) == 0 || !strings.Contains(m.Warnings[len(m.Warnings)-1], "larger than crmsync keeps") {
			t.Fatalf("warnings of the cut message: %q", m.Warnings)
		}
		if w := got["Message 2"].Warnings; len(w) != 0 {
			t.Fatalf("warnings of a small message: %q", w)
		}
	})
}

// TestEngineKeepsForwardedMail: a mailbox switched from forwarding back to
// sync keeps its forwarded mail: the dropbox folder is crmsync's own, no
// server lists it, and the sync neither drops it nor asks for it.
func TestEngineKeepsForwardedMail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		e := newEnv(t, f, false)
		p, _, err := mimeparse.Parse(strings.NewReader(string(raw(500))), nil)
		if err != nil {
			t.Fatal(err)
		}
		fwd := mailsync.Email(p, mail.ID("fwd:"+p.Hash), mail.Flags{}, time.Now())
		if _, stored, err := e.st.StoreForwarded(e.ctx, e.eng.Account.ID, fwd); err != nil || !stored {
			t.Fatalf("forwarded: %v %v", stored, err)
		}
		e.srv.Add("INBOX", raw(1), mail.Flags{})
		e.Sync()
		e.Sync()
		got := e.Emails()
		if _, ok := got["Message 500"]; !ok || len(got) != 2 {
			t.Fatalf("after syncing: %d messages, forwarded one kept: %v", len(got), ok)
		}
		if got["Message 500"].Folder == "" {
			t.Fatal("the forwarded message lost its folder")
		}
	})
}
