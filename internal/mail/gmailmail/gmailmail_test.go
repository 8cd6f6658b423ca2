package gmailmail_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/google"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/gmailmail"
	"github.com/crmsync/crmsync/internal/mail/mailsync/mailsynctest"
	"github.com/crmsync/crmsync/internal/testpeer/googlefake"
)

func raw(n int) []byte {
	return []byte(fmt.Sprintf("From: Bob <bob@globex.example>\r\nTo: ann@acme.example\r\nSubject: Message %d\r\nMessage-ID: <m%d@globex.example>\r\n"+
		"Date: Mon, 2 Nov 2026 %02d:%02d:00 +0000\r\n\r\nBody %d\r\n", n, n, n/60%24, n%60, n))
}

func tokens(context.Context, string) (string, error) { return "token", nil }

// open serves a over HTTP and opens a Mailbox on it; cfg tunes it.
func open(t testing.TB, a *googlefake.API, cfg func(*gmailmail.Config)) *gmailmail.Mailbox {
	t.Helper()
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)
	// Idle connections kept per host as the network guard's transport
	// keeps them (one per slot of the Gate), not http's default of 2.
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = google.MaxConcurrent
	c := gmailmail.Config{Config: google.Config{APIURL: srv.URL, HTTP: &http.Client{Transport: tr}, Tokens: tokens, Backoff: time.Millisecond}}
	if cfg != nil {
		cfg(&c)
	}
	m, err := gmailmail.Open(c)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// drain reads a folder's changes until More is false.
func drain(t testing.TB, m *gmailmail.Mailbox, folder string, cur mail.Cursor, limit int) (mail.Changes, int) {
	t.Helper()
	return mailsynctest.Drain(t, m, folder, cur, limit)
}

func ids(s ...string) []mail.ID {
	out := make([]mail.ID, len(s))
	for i, x := range s {
		out[i] = mail.ID(x)
	}
	return out
}

func TestLabelsAreFolders(t *testing.T) {
	a := googlefake.NewAPI()
	a.Gmail().AddLabel("Clients")
	a.Gmail().AddLabel("Clients/Acme")
	m := open(t, a, nil)
	list, err := m.Folders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]mail.Role{}
	for _, f := range list {
		got[f.Name] = f.Role
	}
	want := map[string]mail.Role{"INBOX": mail.RoleInbox, "SENT": mail.RoleSent, "DRAFT": mail.RoleDrafts, "SPAM": mail.RoleJunk,
		"TRASH": mail.RoleTrash, "Clients": "", "Clients/Acme": ""}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("folders %v, want %v (no UNREAD, STARRED, categories)", got, want)
	}
	if as := m.AutoSelect(); slices.Contains(as, string(mail.RoleTrash)) || slices.Contains(as, string(mail.RoleJunk)) || !slices.Contains(as, "") {
		t.Fatalf("auto-selected roles %v", as)
	}
	if _, err := m.Changes(context.Background(), "Nowhere", "", 10); !errors.Is(err, connerr.ErrGone) {
		t.Fatalf("an unknown label: %v, want gone", err)
	}
}

func TestFirstSyncNewestFirstThenRaw(t *testing.T) {
	a := googlefake.NewAPI()
	g := a.Gmail()
	var want []mail.ID
	for i := 1; i <= 25; i++ {
		labels := []string{"INBOX"}
		if i%2 == 1 {
			labels = append(labels, "UNREAD")
		}
		want = append(want, mail.ID(g.AddMessage(raw(i), labels...)))
	}
	g.AddMessage(raw(90), "SPAM", "INBOX") // spam hides from the inbox
	slices.Reverse(want)
	m := open(t, a, nil)
	ch, pages := drain(t, m, "INBOX", "", 10)
	if pages != 3 || !slices.Equal(ch.Added, want) || ch.Total != 25 {
		t.Fatalf("first round: %d pages, total %d, added %v; want 3 pages, newest first %v", pages, ch.Total, ch.Added, want)
	}
	if !strings.HasPrefix(string(ch.Cursor), "h ") {
		t.Fatalf("cursor after the listing %q", ch.Cursor)
	}
	n := 0
	err := m.Fetch(context.Background(), "INBOX", ch.Added, func(f *mail.Fetched) error {
		i := 25 - n
		n++
		body, _ := io.ReadAll(f.Body)
		if f.ID != want[n-1] || !bytes.Equal(body, raw(i)) || f.Flags.Seen != (i%2 == 0) || f.InternalDate.Hour() != i/60%24 || f.InternalDate.Minute() != i%60 {
			t.Errorf("message %d: id %s, flags %+v, date %v, body %q", i, f.ID, f.Flags, f.InternalDate, body)
		}
		return nil
	})
	if err != nil || n != 25 {
		t.Fatalf("fetched %d, %v", n, err)
	}
	// A message deleted meanwhile is skipped.
	g.Delete(string(want[0]))
	n = 0
	if err := m.Fetch(context.Background(), "INBOX", want[:3], func(*mail.Fetched) error { n++; return nil }); err != nil || n != 2 {
		t.Fatalf("fetch with one gone: %d, %v", n, err)
	}
}

func TestHistoryPerLabel(t *testing.T) {
	a := googlefake.NewAPI()
	g := a.Gmail()
	clients := g.AddLabel("Clients")
	var in []string
	for i := 0; i < 6; i++ {
		in = append(in, g.AddMessage(raw(i), "INBOX", "UNREAD"))
	}
	both := g.AddMessage(raw(10), "INBOX", clients)
	m := open(t, a, nil)
	inbox, _ := drain(t, m, "INBOX", "", 100)
	cl, _ := drain(t, m, "Clients", "", 100)
	if len(inbox.Added) != 7 || !slices.Equal(cl.Added, ids(both)) {
		t.Fatalf("first rounds: inbox %v, Clients %v", inbox.Added, cl.Added)
	}

	g.Modify(in[0], nil, []string{"UNREAD"})              // read
	g.Modify(in[1], []string{"STARRED"}, nil)             // starred
	g.Trash(in[2])                                        // to the trash: gone from the inbox
	g.Delete(in[3])                                       // deleted for good
	g.Modify(in[4], []string{clients}, nil)               // now in Clients too
	g.Modify(both, nil, []string{"INBOX"})                // archived: still in Clients
	fresh := g.AddMessage(raw(20), "INBOX", "UNREAD")     // new mail
	g.Modify(in[5], []string{"IMPORTANT"}, []string{"X"}) // nothing for crmsync

	next, _ := drain(t, m, "INBOX", inbox.Cursor, 100)
	flags := map[mail.ID]mail.Flags{}
	for _, f := range next.Flags {
		flags[f.ID] = f.Flags
	}
	if !flags[mail.ID(in[0])].Seen || !flags[mail.ID(in[1])].Flagged || flags[mail.ID(in[1])].Seen || flags[mail.ID(fresh)].Seen {
		t.Fatalf("flags %v", flags)
	}
	for _, id := range []string{in[2], in[3], both} {
		if !slices.Contains(next.Removed, mail.ID(id)) {
			t.Fatalf("%s not removed from INBOX: %v", id, next.Removed)
		}
	}
	if !slices.Equal(next.Added, ids(fresh)) {
		t.Fatalf("INBOX added %v, want only the new mail %s (a flag or label change elsewhere is nothing to fetch)", next.Added, fresh)
	}
	if next.Total != 5 {
		t.Fatalf("INBOX total %d, want 5", next.Total)
	}
	// Clients, from the same history id, takes its share of the same round.
	before := a.Stats().Requests
	cnext, _ := drain(t, m, "Clients", cl.Cursor, 100)
	if !slices.Contains(cnext.Added, mail.ID(in[4])) || !slices.Contains(cnext.Added, mail.ID(both)) {
		t.Fatalf("Clients added %v: want %s (labelled) and %s (left the inbox: re-attached here)", cnext.Added, in[4], both)
	}
	if slices.Contains(cnext.Removed, mail.ID(both)) || slices.Contains(cnext.Removed, mail.ID(in[4])) {
		t.Fatalf("Clients removed %v", cnext.Removed)
	}
	if a.Stats().Requests-before > 2 { // labels were listed: at most the count
		t.Fatalf("%d requests for a round already read", a.Stats().Requests-before)
	}
	// Nothing new: an empty round.
	again, _ := drain(t, m, "INBOX", next.Cursor, 100)
	if len(again.Added)+len(again.Flags)+len(again.Removed) != 0 {
		t.Fatalf("a quiet mailbox changed: %+v", again)
	}
}

func TestHistoryPagesAndExpiry(t *testing.T) {
	a := googlefake.NewAPI()
	g := a.Gmail()
	g.AddMessage(raw(0), "INBOX")
	m := open(t, a, nil)
	first, _ := drain(t, m, "INBOX", "", 10)
	var want []mail.ID
	for i := 1; i <= 23; i++ {
		want = append(want, mail.ID(g.AddMessage(raw(i), "INBOX")))
	}
	next, pages := drain(t, m, "INBOX", first.Cursor, 5)
	if pages != 5 || !slices.Equal(next.Added, want) {
		t.Fatalf("%d pages, added %v; want 5 pages of new mail oldest first %v", pages, next.Added, want)
	}
	g.AddMessage(raw(99), "INBOX")
	g.ExpireHistory()
	_, err := m.Changes(context.Background(), "INBOX", next.Cursor, 10)
	if !errors.Is(err, connerr.ErrCursorInvalid) {
		t.Fatalf("expired history: %v, want cursor_invalid", err)
	}
	for _, bad := range []mail.Cursor{"x", "h abc", "i 12", "d https://graph.example/delta"} {
		if _, err := m.Changes(context.Background(), "INBOX", bad, 10); !errors.Is(err, connerr.ErrCursorInvalid) {
			t.Fatalf("cursor %q: %v, want cursor_invalid", bad, err)
		}
	}
	if e := connerr.As(err); strings.Contains(e.Message, "history") || strings.Contains(e.Message, "404") {
		t.Fatalf("the user's words name the protocol: %q", e.Message)
	}
}

func TestFlagsBothWays(t *testing.T) {
	a := googlefake.NewAPI()
	g := a.Gmail()
	id := g.AddMessage(raw(1), "INBOX", "UNREAD")
	m := open(t, a, nil)
	ctx := context.Background()
	if err := m.SetFlags(ctx, "INBOX", mail.ID(id), mail.Flags{Seen: true, Flagged: true}); err != nil {
		t.Fatal(err)
	}
	if st, _ := g.Message(id); slices.Contains(st.Labels, "UNREAD") || !slices.Contains(st.Labels, "STARRED") {
		t.Fatalf("labels %v, want read and starred", st.Labels)
	}
	if err := m.SetFlags(ctx, "INBOX", mail.ID(id), mail.Flags{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := g.Message(id); !slices.Contains(st.Labels, "UNREAD") || slices.Contains(st.Labels, "STARRED") || !slices.Contains(st.Labels, "INBOX") {
		t.Fatalf("labels %v, want unread, not starred, still in the inbox", st.Labels)
	}
	g.Delete(id)
	if err := m.SetFlags(ctx, "INBOX", mail.ID(id), mail.Flags{}); !errors.Is(err, connerr.ErrGone) {
		t.Fatalf("flags of a deleted message: %v, want gone", err)
	}
}

func TestQuotaRefusalsObeyed(t *testing.T) {
	for _, c := range []struct {
		status int
		reason string
		retry  time.Duration
	}{
		{http.StatusTooManyRequests, "rateLimitExceeded", time.Second},
		{http.StatusForbidden, "userRateLimitExceeded", time.Second},
		// Without Retry-After the client backs off exponentially from its
		// first delay (1 s, Google's guides): the fake holds 0.5 s.
		{http.StatusForbidden, "userRateLimitExceeded", 0},
		{http.StatusTooManyRequests, "rateLimitExceeded", 0},
	} {
		a := googlefake.NewAPI()
		for i := 0; i < 8; i++ {
			a.Gmail().AddMessage(raw(i), "INBOX")
		}
		m := open(t, a, func(c *gmailmail.Config) { c.Backoff = 0 }) // the default, 1 s
		a.FailAfter(3, c.status, c.reason, c.retry)
		start := time.Now()
		ch, _ := drain(t, m, "INBOX", "", 3)
		n := 0
		if err := m.Fetch(context.Background(), "INBOX", ch.Added, func(*mail.Fetched) error { n++; return nil }); err != nil || n != 8 {
			t.Fatalf("%d %s: fetched %d, %v", c.status, c.reason, n, err)
		}
		if s := a.Stats(); s.Early != 0 || time.Since(start) < 500*time.Millisecond {
			t.Fatalf("%d %s (Retry-After %v): %d requests came early, after %v", c.status, c.reason, c.retry, s.Early, time.Since(start))
		}
	}

	// A wait longer than the client waits is the loop's: Throttled, and
	// nothing sent before it elapses.
	a := googlefake.NewAPI()
	short := open(t, a, func(c *gmailmail.Config) { c.MaxWait = 10 * time.Millisecond })
	a.FailAfter(0, http.StatusTooManyRequests, "rateLimitExceeded", 3*time.Second)
	for i := 0; i < 3; i++ {
		_, err := short.Folders(context.Background())
		if e := connerr.As(err); e == nil || e.Kind != connerr.Throttled || e.RetryAfter < time.Second {
			t.Fatalf("call %d: %v, want throttled with its wait", i, err)
		}
	}
	if s := a.Stats(); s.Early != 0 {
		t.Fatalf("%d requests came before Retry-After", s.Early)
	}
}

func TestQuotaUnitsPerMinute(t *testing.T) {
	a := googlefake.NewAPI()
	for i := 0; i < 5; i++ {
		a.Gmail().AddMessage(raw(i), "INBOX")
	}
	m := open(t, a, func(c *gmailmail.Config) { c.MaxWait = 50 * time.Millisecond })
	a.LimitUnits(12) // labels 1 + profile 1 + list 5 + one get 5
	ch, err := m.Changes(context.Background(), "INBOX", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	err = m.Fetch(context.Background(), "INBOX", ch.Added, func(*mail.Fetched) error { return nil })
	if e := connerr.As(err); e == nil || e.Kind != connerr.Throttled {
		t.Fatalf("past the per-minute units: %v, want throttled", err)
	}
	if s := a.Stats(); s.Units != 12 {
		t.Fatalf("%d units spent, want 12 (labels 1, profile 1, list 5, get 5)", s.Units)
	}
}

func TestSearchMessageIDChecksTheHeader(t *testing.T) {
	a := googlefake.NewAPI()
	g := a.Gmail()
	g.AddMessage(raw(1), "SENT")
	id := g.AddMessage(raw(2), "SENT")
	m := open(t, a, nil)
	got, err := m.SearchMessageID(context.Background(), "SENT", "<m2@globex.example>")
	if err != nil || !slices.Equal(got, ids(id)) {
		t.Fatalf("found %v, %v; want %s", got, err, id)
	}
	if got, err := m.SearchMessageID(context.Background(), "SENT", "m9@globex.example"); err != nil || len(got) != 0 {
		t.Fatalf("found %v, %v for an unknown Message-ID", got, err)
	}
}

func TestSendOnceIntoSent(t *testing.T) {
	a := googlefake.NewAPI()
	m := open(t, a, nil)
	msg := []byte("From: ann@acme.example\r\nTo: bob@globex.example\r\nSubject: Offer\r\nMessage-ID: <o1@acme.example>\r\n\r\nHello\r\n")
	if err := m.Send(context.Background(), "ann@acme.example", []string{"bob@globex.example", "carl@initech.example"}, msg); err != nil {
		t.Fatal(err)
	}
	sent := a.Gmail().Messages("SENT")
	if len(sent) != 1 {
		t.Fatalf("SENT holds %v, want one message", sent)
	}
	st, _ := a.Gmail().Message(sent[0])
	if !bytes.Contains(st.Raw, []byte("Bcc: carl@initech.example\r\n")) || !bytes.HasSuffix(st.Raw, msg) {
		t.Fatalf("sent %q: want the Bcc recipient in a Bcc header, the message unchanged", st.Raw)
	}
	if s := a.Stats(); s.Units != 100 || s.Requests != 1 {
		t.Fatalf("send cost %+v, want one request of 100 units", s)
	}

	// Refused for good: permanent, not sent.
	err := m.Send(context.Background(), "ann@acme.example", nil, []byte("Subject: no one\r\n\r\nx"))
	if !errors.Is(err, mail.ErrPermanent) || len(a.Gmail().Messages("SENT")) != 1 {
		t.Fatalf("no recipient: %v", err)
	}
}

// lostAnswer forwards a request and drops Gmail's answer: the message may
// (here: did) go out.
type lostAnswer struct {
	next  http.RoundTripper
	drop  func(*http.Request) bool
	count int
}

func (l *lostAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if err == nil && l.drop(r) {
		l.count++
		resp.Body.Close()
		return nil, errors.New("connection reset by peer")
	}
	return resp, err
}

func TestSendAnswerLostIsUncertainNotRetried(t *testing.T) {
	a := googlefake.NewAPI()
	lost := &lostAnswer{drop: func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/messages/send") }}
	m := open(t, a, func(c *gmailmail.Config) {
		lost.next = c.HTTP.Transport
		c.HTTP = &http.Client{Transport: lost}
	})
	msg := []byte("From: ann@acme.example\r\nTo: bob@globex.example\r\nSubject: Offer\r\n\r\nHello\r\n")
	err := m.Send(context.Background(), "ann@acme.example", []string{"bob@globex.example"}, msg)
	if !errors.Is(err, mail.ErrUncertain) || errors.Is(err, mail.ErrPermanent) {
		t.Fatalf("answer lost: %v, want uncertain", err)
	}
	if lost.count != 1 || len(a.Gmail().Messages("SENT")) != 1 {
		t.Fatalf("sent %d times, %d in SENT: a send is never repeated", lost.count, len(a.Gmail().Messages("SENT")))
	}
}

func TestLargeMessageCut(t *testing.T) {
	a := googlefake.NewAPI()
	big := append(raw(1), bytes.Repeat([]byte("0123456789"), 1<<17)...) // 1.25 MiB: its answer is past what is read
	id := a.Gmail().AddMessage(big, "INBOX", "STARRED")
	srv := httptest.NewServer(a)
	defer srv.Close()
	m, err := gmailmail.Open(gmailmail.Config{Config: google.Config{APIURL: srv.URL, Tokens: tokens}, MaxMessageBytes: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	err = m.Fetch(context.Background(), "INBOX", ids(id), func(f *mail.Fetched) error {
		n++
		body, _ := io.ReadAll(f.Body)
		if !f.Truncated || !bytes.Equal(body, big[:1000]) || !f.Flags.Flagged || f.InternalDate.IsZero() || f.Size < int64(len(big)) {
			t.Errorf("cut message: truncated %v, %d bytes, flags %+v, date %v, size %d", f.Truncated, len(body), f.Flags, f.InternalDate, f.Size)
		}
		return nil
	})
	if err != nil || n != 1 {
		t.Fatalf("fetched %d, %v", n, err)
	}
}

func TestRefusedTokenRefreshedThenSignInAgain(t *testing.T) {
	a := googlefake.NewAPI()
	a.CheckToken = func(tok string) bool { return tok == "fresh" }
	var stale []string
	m := open(t, a, func(c *gmailmail.Config) {
		c.Tokens = func(_ context.Context, s string) (string, error) {
			stale = append(stale, s)
			if s != "" {
				return "fresh", nil
			}
			return "old", nil
		}
	})
	if _, err := m.Folders(context.Background()); err != nil || len(stale) != 2 || stale[1] != "old" {
		t.Fatalf("%v; tokens asked %q: want the refused one given back once", err, stale)
	}
	a.CheckToken = func(string) bool { return false }
	_, err := m.Changes(context.Background(), "INBOX", "", 10)
	if e := connerr.As(err); e == nil || e.Kind != connerr.Auth || !strings.Contains(e.Message, "Sign in to Google again") {
		t.Fatalf("%v, want auth_failed", err)
	}
}

func TestSendRefusals(t *testing.T) {
	msg := []byte("From: ann@acme.example\r\nTo: bob@globex.example\r\nSubject: Offer\r\n\r\nHello\r\n")
	// A 500 may follow a message Gmail took: uncertain, and never repeated.
	a := googlefake.NewAPI()
	m := open(t, a, nil)
	a.FailAfter(0, http.StatusInternalServerError, "backendError", 0)
	err := m.Send(context.Background(), "ann@acme.example", []string{"bob@globex.example"}, msg)
	if !errors.Is(err, mail.ErrUncertain) || a.Stats().Requests != 1 {
		t.Fatalf("500: %v after %d requests, want uncertain after one", err, a.Stats().Requests)
	}
	// A 503 says the service did not take it (cloudapi retries it, as for
	// every provider): sent once.
	a = googlefake.NewAPI()
	m = open(t, a, nil)
	a.FailAfter(0, http.StatusServiceUnavailable, "backendError", 0)
	if err := m.Send(context.Background(), "ann@acme.example", []string{"bob@globex.example"}, msg); err != nil || len(a.Gmail().Messages("SENT")) != 1 {
		t.Fatalf("503: %v, SENT %v", err, a.Gmail().Messages("SENT"))
	}
	// The sending limit (429) refused the message: nothing was sent, try
	// again later.
	a = googlefake.NewAPI()
	m = open(t, a, func(c *gmailmail.Config) { c.MaxWait = 10 * time.Millisecond })
	a.FailAfter(0, http.StatusTooManyRequests, "rateLimitExceeded", time.Hour)
	err = m.Send(context.Background(), "ann@acme.example", []string{"bob@globex.example"}, msg)
	if e := connerr.As(err); e == nil || e.Kind != connerr.Throttled || errors.Is(err, mail.ErrUncertain) || errors.Is(err, mail.ErrPermanent) {
		t.Fatalf("429: %v, want throttled, neither uncertain nor permanent", err)
	}
	if len(a.Gmail().Messages("SENT")) != 0 {
		t.Fatal("a refused message was filed")
	}
	// Too large for Gmail: permanent, nothing asked.
	err = m.Send(context.Background(), "ann@acme.example", []string{"bob@globex.example"}, append(msg, bytes.Repeat([]byte("x"), gmailmail.MaxSendBytes)...))
	if !errors.Is(err, mail.ErrPermanent) || a.Stats().Requests != 1 {
		t.Fatalf("too large: %v", err)
	}
}

func TestCallsPacedToTheQuota(t *testing.T) {
	a := googlefake.NewAPI()
	for i := 0; i < 10; i++ {
		a.Gmail().AddMessage(raw(i), "INBOX")
	}
	m := open(t, a, func(c *gmailmail.Config) { c.UnitsPerMinute = 1200 }) // 20 a second
	start := time.Now()
	ch, _ := drain(t, m, "INBOX", "", 10) // labels 1, profile 1, list 5
	if err := m.Fetch(context.Background(), "INBOX", ch.Added, func(*mail.Fetched) error { return nil }); err != nil {
		t.Fatal(err)
	}
	// 57 units: the first 20 at once, 37 more at 20 a second.
	if d := time.Since(start); d < 1700*time.Millisecond || d > 5*time.Second || a.Stats().Units != 57 {
		t.Fatalf("57 units at 20 a second took %v (%d units)", d, a.Stats().Units)
	}
}
