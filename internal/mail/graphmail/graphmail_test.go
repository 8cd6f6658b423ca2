package graphmail_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/graph"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/graphmail"
	"github.com/crmsync/crmsync/internal/mail/mailsync/mailsynctest"
	"github.com/crmsync/crmsync/internal/testpeer/graphfake"
)

func raw(n int) []byte {
	return []byte(fmt.Sprintf("From: Bob <bob@globex.example>\r\nTo: ann@acme.example\r\nSubject: Message %d\r\nMessage-ID: <m%d@globex.example>\r\n"+
		"Date: Mon, 2 Nov 2026 %02d:%02d:00 +0000\r\n\r\nBody %d\r\n", n, n, n/60%24, n%60, n))
}

func tokens(context.Context, string) (string, error) { return "token", nil }

func open(t *testing.T, g *graphfake.Graph, gate *graphmail.Gate) *graphmail.Mailbox {
	t.Helper()
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	m, err := graphmail.Open(graphmail.Config{Config: graph.Config{GraphURL: srv.URL, HTTP: srv.Client(), Tokens: tokens, Gate: gate, Backoff: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFoldersAndRoles(t *testing.T) {
	g := graphfake.NewGraph()
	g.AddFolder("inbox", "Clients")
	g.AddFolder("Inbox/Clients", "Acme")
	g.AddFolder("", "Projects")
	m := open(t, g, nil)
	list, err := m.Folders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]mail.Role{}
	for _, f := range list {
		got[f.Name] = f.Role
	}
	want := map[string]mail.Role{"Inbox": mail.RoleInbox, "Sent Items": mail.RoleSent, "Drafts": mail.RoleDrafts, "Deleted Items": mail.RoleTrash,
		"Junk Email": mail.RoleJunk, "Archive": mail.RoleArchive, "Inbox/Clients": "", "Inbox/Clients/Acme": "", "Projects": ""}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("folders %v, want %v", got, want)
	}
}

// drain reads a folder's changes until More is false.
func drain(t testing.TB, m *graphmail.Mailbox, folder string, cur mail.Cursor, limit int) (mail.Changes, int) {
	t.Helper()
	return mailsynctest.Drain(t, m, folder, cur, limit)
}

func TestDeltaPagingRemovedAndMoves(t *testing.T) {
	g := graphfake.NewGraph()
	var ids []string
	for i := 0; i < 25; i++ {
		ids = append(ids, g.AddMessage("inbox", raw(i), false))
	}
	m := open(t, g, nil)
	ch, pages := drain(t, m, "Inbox", "", 10)
	if pages != 3 || len(ch.Added) != 25 || ch.Total != 25 || len(ch.Flags) != 0 {
		t.Fatalf("first round: %d pages, %d added, total %d, %d flags", pages, len(ch.Added), ch.Total, len(ch.Flags))
	}
	_, archived := drain(t, m, "Archive", "", 10)
	_ = archived
	archiveCur := mail.Cursor("")
	a, _ := drain(t, m, "Archive", archiveCur, 10)
	archiveCur = a.Cursor

	g.SetRead(ids[0], true)
	g.SetFlag(ids[1], "flagged")
	g.DeleteMessage(ids[2])
	g.MoveMessage(ids[3], "archive")
	fresh := g.AddMessage("inbox", raw(99), false)
	g.DuplicateInRound(true)
	next, _ := drain(t, m, "Inbox", ch.Cursor, 2)
	flags := map[mail.ID]mail.Flags{}
	for _, f := range next.Flags {
		flags[f.ID] = f.Flags
	}
	if !flags[mail.ID(ids[0])].Seen || !flags[mail.ID(ids[1])].Flagged {
		t.Fatalf("flags %v", flags)
	}
	if fmt.Sprint(next.Removed) != fmt.Sprint([]mail.ID{mail.ID(ids[2]), mail.ID(ids[3])}) {
		t.Fatalf("removed %v", next.Removed)
	}
	found := false
	for _, id := range next.Added {
		found = found || id == mail.ID(fresh)
	}
	if !found {
		t.Fatalf("new mail not added: %v", next.Added)
	}
	// A message whose flags changed is known already: nothing to fetch.
	for _, id := range next.Added {
		if id == mail.ID(ids[0]) || id == mail.ID(ids[1]) {
			t.Fatalf("a flag change is also to fetch: %v", next.Added)
		}
	}
	moved, _ := drain(t, m, "Archive", archiveCur, 10)
	if fmt.Sprint(moved.Added) != fmt.Sprint([]mail.ID{mail.ID(ids[3])}) {
		t.Fatalf("the moved message arrives in Archive as %v, want its immutable id %s", moved.Added, ids[3])
	}
}

func TestExpiredDeltaIsCursorInvalid(t *testing.T) {
	for _, loc := range []bool{false, true} {
		g := graphfake.NewGraph()
		g.AddMessage("inbox", raw(1), false)
		m := open(t, g, nil)
		ch, _ := drain(t, m, "Inbox", "", 10)
		g.ExpireDeltaTokens(loc)
		_, err := m.Changes(context.Background(), "Inbox", ch.Cursor, 10)
		if !errors.Is(err, connerr.ErrCursorInvalid) {
			t.Fatalf("location %v: %v, want cursor_invalid", loc, err)
		}
	}
}

func TestFetchStreamsValueAndFlagsBothWays(t *testing.T) {
	g := graphfake.NewGraph()
	id := g.AddMessage("inbox", raw(7), true)
	m := open(t, g, nil)
	ch, _ := drain(t, m, "Inbox", "", 10)
	var got []byte
	err := m.Fetch(context.Background(), "Inbox", ch.Added, func(f *mail.Fetched) error {
		if !f.Flags.Seen || f.InternalDate.IsZero() {
			t.Errorf("fetched %+v", f)
		}
		got, _ = io.ReadAll(f.Body)
		return nil
	})
	if err != nil || !bytes.Equal(got, raw(7)) {
		t.Fatalf("fetched %q, %v", got, err)
	}
	if err := m.SetFlags(context.Background(), "Inbox", mail.ID(id), mail.Flags{Seen: false, Flagged: true}); err != nil {
		t.Fatal(err)
	}
	if st, _ := g.Message(id); st.IsRead || st.FlagStatus != "flagged" {
		t.Fatalf("on Graph: %+v", st)
	}
	g.SetFlag(id, "complete")
	next, _ := drain(t, m, "Inbox", ch.Cursor, 10)
	if len(next.Flags) != 1 || next.Flags[0].Flags.Flagged {
		t.Fatalf("a completed flag is not flagged: %+v", next.Flags)
	}
	g.DeleteMessage(id)
	if err := m.SetFlags(context.Background(), "Inbox", mail.ID(id), mail.Flags{}); !errors.Is(err, connerr.ErrGone) {
		t.Fatalf("flags of a deleted message: %v", err)
	}
}

func TestThrottlingObeyed(t *testing.T) {
	g := graphfake.NewGraph()
	for i := 0; i < 5; i++ {
		g.AddMessage("inbox", raw(i), false)
	}
	m := open(t, g, nil)
	g.ThrottleAfter(2, time.Second)
	g.Unavailable(0)
	ch, _ := drain(t, m, "Inbox", "", 2)
	if len(ch.Added) != 5 {
		t.Fatalf("%d added", len(ch.Added))
	}
	if s := g.Stats(); s.Early != 0 {
		t.Fatalf("%d requests came before Retry-After", s.Early)
	}

	// A Retry-After longer than the connector waits is the loop's: a
	// Throttled error, and no request until it elapses.
	srv := httptest.NewServer(g)
	defer srv.Close()
	short, _ := graphmail.Open(graphmail.Config{Config: graph.Config{GraphURL: srv.URL, Tokens: tokens, MaxWait: 10 * time.Millisecond, Backoff: time.Millisecond}})
	g.ThrottleAfter(0, 3*time.Second)
	for i := 0; i < 3; i++ {
		_, err := short.Folders(context.Background())
		if e := connerr.As(err); e == nil || e.Kind != connerr.Throttled || e.RetryAfter < time.Second {
			t.Fatalf("call %d: %v, want throttled with Retry-After", i, err)
		}
	}
	if s := g.Stats(); s.Early != 0 {
		t.Fatalf("%d requests came before Retry-After", s.Early)
	}
}

func TestUnavailableRetried(t *testing.T) {
	g := graphfake.NewGraph()
	m := open(t, g, nil)
	g.Unavailable(1)
	start := time.Now()
	if _, err := m.Folders(context.Background()); err != nil {
		t.Fatal(err)
	}
	if g.Stats().Early != 0 || time.Since(start) < time.Second {
		t.Fatal("503 with Retry-After was not waited")
	}
}

func TestAtMostFourConcurrentPerMailbox(t *testing.T) {
	g := graphfake.NewGraph()
	var ids []string
	for i := 0; i < 40; i++ {
		ids = append(ids, g.AddMessage("inbox", raw(i), false))
	}
	gate := graphmail.NewGate()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := 0; w < 8; w++ {
		m := open(t, g, gate) // one connector per loop (mail, contacts…), one gate per mailbox
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := w; i < len(ids); i += 8 {
				if err := m.SetFlags(context.Background(), "Inbox", mail.ID(ids[i]), mail.Flags{Seen: true}); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if s := g.Stats(); s.MaxInflight > graph.MaxConcurrent || s.Requests != 80 {
		t.Fatalf("stats %+v: want at most %d at once and no request refused", s, graph.MaxConcurrent)
	}
}

func TestRefusedTokenRefreshedThenAuth(t *testing.T) {
	g := graphfake.NewGraph()
	g.CheckToken = func(tok string) bool { return tok == "fresh" }
	srv := httptest.NewServer(g)
	defer srv.Close()
	var stale []string
	refresh := func(_ context.Context, s string) (string, error) {
		stale = append(stale, s)
		if s != "" {
			return "fresh", nil
		}
		return "old", nil
	}
	m, _ := graphmail.Open(graphmail.Config{Config: graph.Config{GraphURL: srv.URL, Tokens: refresh}})
	if _, err := m.Folders(context.Background()); err != nil {
		t.Fatal(err)
	}
	if stale[1] != "old" {
		t.Fatalf("the refused token was not given back: %v", stale)
	}
	g.CheckToken = func(string) bool { return false }
	_, err := m.Changes(context.Background(), "Inbox", "", 10)
	if e := connerr.As(err); e == nil || e.Kind != connerr.Auth {
		t.Fatalf("%v, want auth_failed", err)
	}
	if bytes.Contains([]byte(err.Error()), []byte("fresh")) {
		t.Fatal("a token in an error")
	}
}
