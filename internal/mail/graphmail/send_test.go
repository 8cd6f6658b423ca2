package graphmail_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/graph"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/graphmail"
	"github.com/crmsync/crmsync/internal/testpeer/graphfake"
)

// outgoing is a message Ann sends to Carol (and, by Bcc, to Dan).
func outgoing(id string) []byte {
	return []byte("From: Ann <ann@acme.example>\r\nTo: Carol <carol@client.example>\r\nSubject: Proposal " + id + "\r\n" +
		"Message-ID: <" + id + "@acme.example>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\nHere it is.\r\n")
}

var rcpts = []string{"carol@client.example", "dan@acme.example"}

// noWords checks that a user's message names no HTTP method, path or token.
func noWords(t *testing.T, err error) {
	t.Helper()
	msg := connerr.Message(err)
	for _, bad := range []string{"POST", "sendMail", "/me/", "HTTP", "token", "$"} {
		if strings.Contains(msg, bad) {
			t.Errorf("message %q names %q", msg, bad)
		}
	}
}

// A message goes out once through sendMail, to its Bcc recipient too
// (who is in no header of the delivered copy), and Graph's copy in Sent
// Items is found by its Message-ID.
func TestSendAndFindInSentItems(t *testing.T) {
	g := graphfake.NewGraph()
	m := open(t, g, nil)
	ctx := context.Background()
	other := g.AddMessage("sentitems", raw(1), true)
	if err := m.Send(ctx, "ann@acme.example", rcpts, outgoing("p1")); err != nil {
		t.Fatal(err)
	}
	sent := g.SentMail()
	if len(sent) != 1 {
		t.Fatalf("%d sent, want 1", len(sent))
	}
	if got := strings.Join(sent[0].Recipients, ","); got != "carol@client.example,dan@acme.example" {
		t.Errorf("recipients %s", got)
	}
	if bytes.Contains(sent[0].Raw, []byte("dan@acme.example")) || sent[0].MessageID != "<p1@acme.example>" {
		t.Errorf("delivered copy shows the Bcc or lost its Message-ID: %q", sent[0].Raw)
	}
	if st, ok := g.Message(sent[0].SavedID); !ok || st.Folder != "Sent Items" {
		t.Fatalf("saved copy: %+v %v", st, ok)
	}
	if !m.SavesSentMail() {
		t.Error("Graph saves sent mail itself")
	}
	ids, err := m.SearchMessageID(ctx, "Sent Items", "p1@acme.example")
	if err != nil || len(ids) != 1 || string(ids[0]) != sent[0].SavedID {
		t.Fatalf("search: %v %v, want [%s]", ids, err, sent[0].SavedID)
	}
	if ids, err := m.SearchMessageID(ctx, "Sent Items", "m1@globex.example"); err != nil || len(ids) != 1 || string(ids[0]) != other {
		t.Fatalf("search of another: %v %v", ids, err)
	}
	if ids, err := m.SearchMessageID(ctx, "Inbox", "p1@acme.example"); err != nil || len(ids) != 0 {
		t.Fatalf("search in the inbox: %v %v, want none", ids, err)
	}
	if ids, err := m.SearchMessageID(ctx, "Sent Items", "it's-not@there"); err != nil || len(ids) != 0 {
		t.Fatalf("search of a missing one: %v %v", ids, err)
	}
}

// Refusals are permanent, with words for the user and nothing sent.
func TestSendRefused(t *testing.T) {
	for _, c := range []struct {
		status int
		code   string
		kind   connerr.Kind
		says   string
	}{
		{http.StatusBadRequest, "ErrorMimeContentInvalidBase64String", connerr.Protocol, "refused this message as invalid"},
		{http.StatusForbidden, "ErrorAccessDenied", connerr.Blocked, "does not allow crmsync to send"},
		{http.StatusRequestEntityTooLarge, "ErrorMessageSizeExceeded", connerr.Protocol, "too large"},
	} {
		g := graphfake.NewGraph()
		m := open(t, g, nil)
		g.RefuseSend(c.status, c.code)
		err := m.Send(context.Background(), "ann@acme.example", rcpts, outgoing("r1"))
		if !errors.Is(err, mail.ErrPermanent) || connerr.KindOf(err) != c.kind || !strings.Contains(connerr.Message(err), c.says) {
			t.Errorf("%d: %v (%s), want permanent %s saying %q", c.status, err, connerr.KindOf(err), c.kind, c.says)
		}
		noWords(t, err)
		if n := len(g.SentMail()); n != 0 {
			t.Errorf("%d: %d sent", c.status, n)
		}
	}
}

// A failure after Graph took the message is uncertain and never retried:
// one message went out.
func TestSendOutcomeUnknownIsNotRepeated(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusGatewayTimeout} {
		g := graphfake.NewGraph()
		m := open(t, g, nil)
		g.FailAfterSend(status)
		err := m.Send(context.Background(), "ann@acme.example", rcpts, outgoing("u1"))
		if !errors.Is(err, mail.ErrUncertain) {
			t.Errorf("%d: %v, want uncertain", status, err)
		}
		noWords(t, err)
		if n := len(g.SentMail()); n != 1 {
			t.Errorf("%d: sent %d times, want once", status, n)
		}
	}

	// The connection drops once the request is in: the same.
	g := graphfake.NewGraph()
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/sendMail") {
			dropped := false
			once.Do(func() {
				rec := httptest.NewRecorder()
				g.ServeHTTP(rec, r)
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
					dropped = true
				}
			})
			if dropped {
				return
			}
		}
		g.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	m, err := graphmail.Open(graphmail.Config{Config: graph.Config{GraphURL: srv.URL, HTTP: srv.Client(), Tokens: tokens, Backoff: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(context.Background(), "ann@acme.example", rcpts, outgoing("u2"))
	if !errors.Is(err, mail.ErrUncertain) || connerr.KindOf(err) != connerr.Unreachable {
		t.Errorf("dropped connection: %v, want uncertain", err)
	}
	if n := len(g.SentMail()); n != 1 {
		t.Errorf("dropped connection: sent %d times, want once", n)
	}
}

// 429 and 503 prove nothing was sent: they are waited out (Retry-After)
// and the message goes out once. A Retry-After longer than the client
// waits is a throttled error, not a failure.
func TestSendThrottled(t *testing.T) {
	g := graphfake.NewGraph()
	m := open(t, g, nil)
	g.ThrottleAfter(0, time.Second)
	start := time.Now()
	if err := m.Send(context.Background(), "ann@acme.example", rcpts, outgoing("t1")); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 900*time.Millisecond {
		t.Errorf("sent after %v, before Retry-After", el)
	}
	g.Unavailable(1)
	if err := m.Send(context.Background(), "ann@acme.example", rcpts, outgoing("t2")); err != nil {
		t.Fatal(err)
	}
	if n, early := len(g.SentMail()), g.Stats().Early; n != 2 || early != 0 {
		t.Errorf("%d sent (want 2), %d requests before Retry-After (want 0)", n, early)
	}

	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	impatient, err := graphmail.Open(graphmail.Config{Config: graph.Config{GraphURL: srv.URL, HTTP: srv.Client(), Tokens: tokens, MaxWait: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	g.ThrottleAfter(0, 5*time.Second)
	err = impatient.Send(context.Background(), "ann@acme.example", rcpts, outgoing("t3"))
	if ce := connerr.As(err); ce == nil || ce.Kind != connerr.Throttled || ce.RetryAfter < 4*time.Second || errors.Is(err, mail.ErrPermanent) || errors.Is(err, mail.ErrUncertain) {
		t.Fatalf("long throttling: %v, want throttled for 5s", err)
	}
	noWords(t, err)
	if n := len(g.SentMail()); n != 2 {
		t.Errorf("%d sent while throttled", n)
	}
}

// withAttachments is a message with two attachments of the same name and
// an inline image, as an email client makes them.
func withAttachments() []byte {
	return []byte("From: Bob <bob@globex.example>\r\nTo: ann@acme.example\r\nSubject: Files\r\nMessage-ID: <files@globex.example>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n" +
		"--b1\r\nContent-Type: multipart/related; boundary=\"b2\"\r\n\r\n" +
		"--b2\r\nContent-Type: text/html\r\n\r\n<p>see <img src=\"cid:logo@globex\"></p>\r\n" +
		"--b2\r\nContent-Type: image/png; name=\"logo.png\"\r\nContent-ID: <logo@globex>\r\nContent-Disposition: inline; filename=\"logo.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		"iVBORw0KGgo=\r\n--b2--\r\n" +
		"--b1\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"notes.txt\"\r\n\r\nfirst notes\r\n" +
		"--b1\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"notes.txt\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nsecond =\r\nnotes\r\n" +
		"--b1--\r\n")
}

// An attachment is fetched alone, matched to the stored message's list
// (MIME order) by content id, else by name and rank; bounded.
func TestFetchAttachment(t *testing.T) {
	g := graphfake.NewGraph()
	m := open(t, g, nil)
	ctx := context.Background()
	id := g.AddMessage("inbox", withAttachments(), false)
	atts := []mail.Attachment{
		{Index: 0, Filename: "logo.png", ContentType: "image/png", ContentID: "logo@globex", Inline: true},
		{Index: 1, Filename: "notes.txt", ContentType: "text/plain"},
		{Index: 2, Filename: "notes.txt", ContentType: "text/plain"},
		{Index: 3, Filename: "missing.pdf"},
	}
	for i, want := range []string{"\x89PNG\r\n\x1a\n", "first notes", "second notes"} {
		var b bytes.Buffer
		found, err := m.FetchAttachment(ctx, "Inbox", mail.ID(id), atts, i, 1<<20, &b)
		if err != nil || !found || b.String() != want {
			t.Errorf("attachment %d: %q found=%v %v, want %q", i, b.String(), found, err, want)
		}
	}
	var b bytes.Buffer
	if found, err := m.FetchAttachment(ctx, "Inbox", mail.ID(id), atts, 3, 1<<20, &b); found || err != nil || b.Len() != 0 {
		t.Errorf("an attachment Graph does not list: found=%v %v", found, err)
	}
	found, err := m.FetchAttachment(ctx, "Inbox", mail.ID(id), atts, 1, 4, io.Discard)
	if connerr.KindOf(err) != connerr.Protocol || !strings.Contains(connerr.Message(err), "larger than") {
		t.Errorf("over the bound: found=%v %v", found, err)
	}
	g.DeleteMessage(id)
	if _, err := m.FetchAttachment(ctx, "Inbox", mail.ID(id), atts, 1, 1<<20, io.Discard); connerr.KindOf(err) != connerr.Gone {
		t.Errorf("message gone: %v, want gone", err)
	}
}

// A server that refuses the filter, or ignores it, still finds the right
// message and no other: every candidate's Message-ID is compared.
func TestSearchWithoutFilter(t *testing.T) {
	for _, refuse := range []bool{true, false} {
		g := graphfake.NewGraph()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Has("$filter") {
				if refuse {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusBadRequest)
					io.WriteString(w, `{"error":{"code":"ErrorInvalidProperty","message":"unsupported"}}`)
					return
				}
				q := r.URL.Query()
				q.Del("$filter")
				r.URL.RawQuery = q.Encode()
			}
			g.ServeHTTP(w, r)
		}))
		t.Cleanup(srv.Close)
		m, err := graphmail.Open(graphmail.Config{Config: graph.Config{GraphURL: srv.URL, HTTP: srv.Client(), Tokens: tokens, Backoff: time.Millisecond}})
		if err != nil {
			t.Fatal(err)
		}
		var want string
		for i := 1; i <= 150; i++ { // two pages of candidates
			id := g.AddMessage("sentitems", raw(i), true)
			if i == 7 {
				want = id
			}
		}
		ids, err := m.SearchMessageID(context.Background(), "Sent Items", "m7@globex.example")
		if err != nil || len(ids) != 1 || string(ids[0]) != want {
			t.Errorf("refuse=%v: %v %v, want [%s]", refuse, ids, err, want)
		}
		if ids, err := m.SearchMessageID(context.Background(), "Sent Items", "m999@globex.example"); err != nil || len(ids) != 0 {
			t.Errorf("refuse=%v: a missing one found: %v %v", refuse, ids, err)
		}
	}
}
