package graphmail_test

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/graph"
	"github.com/crmsync/crmsync/internal/mail/graphmail"
	"github.com/crmsync/crmsync/internal/mail/mailsync"
	"github.com/crmsync/crmsync/internal/mail/mailsync/mailsynctest"
	"github.com/crmsync/crmsync/internal/store/storetest"
	"github.com/crmsync/crmsync/internal/testpeer/graphfake"
)

// The mail engine syncing several folders from the Graph fake through
// graphmail, on both databases.

type syncEnv struct {
	*mailsynctest.Env
	g *graphfake.Graph
}

func newSyncEnv(t *testing.T, f storetest.Factory) *syncEnv {
	t.Helper()
	g := graphfake.NewGraph()
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	mb, err := graphmail.Open(graphmail.Config{Config: graph.Config{GraphURL: srv.URL, HTTP: srv.Client(), Tokens: tokens, Backoff: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return &syncEnv{Env: mailsynctest.New(t, f, "microsoft", mb, mailsync.Config{AutoSelect: graphmail.AutoSelect}), g: g}
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

		e.Sync()
		got := e.Emails()
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
		e.Sync()
		got = e.Emails()
		if len(got) != 15 || got["Message 1"].ID != before || got["Message 1"].Folder != "Inbox/Clients" ||
			got["Message 50"].ID != before50 || got["Message 50"].Folder != "Inbox" {
			t.Fatalf("after moves: %d stored, Message 1 %d in %s (was %d), Message 50 in %s", len(got), got["Message 1"].ID, got["Message 1"].Folder, before, got["Message 50"].Folder)
		}

		// Flags both ways.
		e.g.SetFlag(inbox[1], "flagged")
		e.g.SetRead(inbox[2], true)
		if _, err := e.Store.SetEmailFlags(e.Ctx, e.Viewer, got["Message 4"].ID, func(f *crm.Flags) { f.Seen = false; f.Flagged = true }); err != nil {
			t.Fatal(err)
		}
		e.Sync()
		got = e.Emails()
		if !got["Message 2"].Flags.Flagged || !got["Message 3"].Flags.Seen {
			t.Fatalf("Graph's flags did not arrive: %+v %+v", got["Message 2"].Flags, got["Message 3"].Flags)
		}
		if st, _ := e.g.Message(inbox[3]); st.IsRead || st.FlagStatus != "flagged" {
			t.Fatalf("crmsync's flags did not reach Graph: %+v", st)
		}

		// A delete removes; a reset delta token duplicates nothing.
		e.g.DeleteMessage(inbox[4])
		ids := map[string]int64{}
		for s, m := range e.Emails() {
			ids[s] = m.ID
		}
		e.g.ExpireDeltaTokens(false)
		e.g.AddMessage("inbox", raw(13), false)
		e.Sync()
		got = e.Emails()
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
