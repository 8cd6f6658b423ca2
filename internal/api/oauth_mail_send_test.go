package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/cloudconn"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/mailsync"
	"github.com/crmsync/crmsync/internal/mailconn"
	"github.com/crmsync/crmsync/internal/testpeer/graphfake"
)

// microsoftMail is Ann's mailbox signed in with Microsoft, over the Graph
// fake, with the real connector the sync loops and the API use.
type microsoftMail struct {
	o    *oauthBundle
	g    *graphfake.Graph
	conn *mailconn.Connector
	id   int64 // the mail account

	mu    sync.Mutex
	paths []string // asked of Graph
}

// asked returns the paths asked of Graph since the n-th request, and how
// many were asked in all.
func (m *microsoftMail) asked(n int) ([]string, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.paths[n:]...), len(m.paths)
}

// connectMicrosoft signs Ann in with Microsoft for mail; fill, when set,
// puts mail in the fake's mailbox before.
func connectMicrosoft(t *testing.T, o *oauthBundle, fill func(*graphfake.Graph)) *microsoftMail {
	t.Helper()
	g := graphfake.NewGraph()
	g.CheckToken = func(tok string) bool {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		_, ok := o.fake.Identity.UserOf(r)
		return ok
	}
	m := &microsoftMail{o: o, g: g}
	// Graph's mail beside the identity's /me, the paths asked for noted.
	o.fake.Mux.Handle("/v1.0/me/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.paths = append(m.paths, r.URL.Path)
		m.mu.Unlock()
		g.ServeHTTP(w, r)
	}))
	o.registerApp("")
	o.fake.Identity.AddUser(graphfake.User{Email: "ann@acme.test"})
	if fill != nil {
		fill(g)
	}
	r := o.callback(o.signIn("mail"), "application/json")
	if r.Status != 200 || r.Body["mail_account_id"] == nil {
		t.Fatalf("callback: %d %s", r.Status, r.Raw)
	}
	m.id = int64(r.Body["mail_account_id"].(float64))
	m.conn = &mailconn.Connector{Credentials: o.st, Keys: o.keys, Guard: testPeers, Cloud: &cloudconn.Clients{OAuth: o.svc, Guard: testPeers}}
	return m
}

// connectorMail is the real connector as the API's MailConnector; no
// discovery (a Microsoft mailbox needs none).
type connectorMail struct{ *mailconn.Connector }

func (connectorMail) Discover(context.Context, string) (api.Discovery, error) {
	return api.Discovery{}, api.ErrSettingsNotFound
}

// run runs the mail engine of the account, as its sync loop does, until
// it is done; send is the engine's Config.Send (nil: no outbox).
func (m *microsoftMail) run(t *testing.T, send func(context.Context, crm.MailAccount, string, []string, []byte) error) {
	t.Helper()
	ctx := context.Background()
	acct, err := m.o.st.MailAccountByID(ctx, m.id)
	if err != nil {
		t.Fatal(err)
	}
	mb, err := m.conn.Dial(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	defer mb.Close()
	as, ok := mb.(mail.AutoSelecter)
	if !ok {
		t.Fatal("a Graph mailbox does not say which folders it syncs")
	}
	l, err := m.o.st.ClaimLease(ctx, "mail", fmt.Sprint(m.id), "test", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	defer m.o.st.ReleaseLease(ctx, l)
	eng := &mailsync.Engine{Store: m.o.st, Mailbox: mb, Fence: l.Fence(), Account: acct, Log: slog.New(slog.DiscardHandler),
		Config: mailsync.Config{Parse: m.conn.Parse, AutoSelect: as.AutoSelect(), Send: send}.WithDefaults()}
	for i := 0; ; i++ {
		res, err := eng.Pass(ctx, true)
		if err != nil {
			t.Fatalf("pass: %v", err)
		}
		if res.Done {
			return
		}
		if i == 50 {
			t.Fatal("the sync never finished")
		}
	}
}

// A Microsoft mailbox sends through the API and the outbox (Graph's
// sendMail, no SMTP server), and its attachments download through the
// API, each fetched alone from Graph.
func TestMicrosoftMailSendsAndServesAttachments(t *testing.T) {
	t.Parallel()
	onBothDBs(t, func(t *testing.T, opts bundleOpts) {
		o := setupOAuth(t, opts)
		big := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB
		m := connectMicrosoft(t, o, func(g *graphfake.Graph) {
			g.AddMessage("inbox", []byte("From: Carol <carol@client.test>\r\nTo: ann@acme.test\r\nSubject: Files\r\nMessage-ID: <files@client.test>\r\n"+
				"Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n"+
				"--b\r\nContent-Type: text/plain\r\n\r\nTwo files.\r\n"+
				"--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"a.txt\"\r\n\r\nfirst file\r\n"+
				"--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; filename=\"big.bin\"\r\n\r\n"+big+"\r\n"+
				"--b--\r\n"), false)
		})
		o.srv = api.New(api.Config{Store: o.st, Now: o.clock.Now, OAuth: o.svc, Mail: connectorMail{m.conn}, Logger: slog.New(slog.DiscardHandler)})
		a := o.must(200, "GET", fmt.Sprintf("/api/v1/mail-accounts/%d", m.id), o.annToken, nil)
		if a.Body["can_send"] != true {
			t.Errorf("a Microsoft mailbox cannot send: %s", a.Raw)
		}
		m.run(t, nil)

		// Attachments on demand.
		list := o.must(200, "GET", "/api/v1/messages?limit=10", o.annToken, nil)
		items := list.List
		if len(items) != 1 {
			t.Fatalf("messages: %s", list.Raw)
		}
		msgID := int64(items[0].(map[string]any)["id"].(float64))
		_, before := m.asked(0)
		r := o.do("GET", fmt.Sprintf("/api/v1/messages/%d/attachments/1", msgID), o.annToken, nil)
		if r.Status != 200 || string(r.Raw) != big {
			t.Fatalf("big attachment: %d, %d bytes", r.Status, len(r.Raw))
		}
		if r = o.do("GET", fmt.Sprintf("/api/v1/messages/%d/attachments/0", msgID), o.annToken, nil); r.Status != 200 || string(r.Raw) != "first file" {
			t.Fatalf("small attachment: %d %q", r.Status, r.Raw)
		}
		paths, _ := m.asked(before)
		values := 0
		for _, p := range paths {
			if strings.HasSuffix(p, "/$value") {
				values++
				if !strings.Contains(p, "/attachments/") {
					t.Errorf("the whole message was fetched for an attachment: %s", p)
				}
			}
		}
		if len(paths) != 4 || values != 2 {
			t.Errorf("asked %v for two attachments, want a listing and the bytes of each", paths)
		}

		// Sending: queued through the API, sent by the outbox with
		// sendMail, Graph's copy in Sent Items filed.
		r = o.must(202, "POST", "/api/v1/messages/send", o.annToken, map[string]any{"account_id": m.id,
			"to": []map[string]any{{"email": "carol@client.test"}}, "bcc": []map[string]any{{"email": "dan@acme.test"}},
			"subject": "Proposal", "text": "Here it is."})
		m.run(t, m.conn.Send)
		sent := m.g.SentMail()
		if len(sent) != 1 || strings.Join(sent[0].Recipients, ",") != "carol@client.test,dan@acme.test" {
			t.Fatalf("sent %+v", sent)
		}
		it := o.must(200, "GET", r.Header.Get("Location"), o.annToken, nil)
		if it.Str("state") != "sent" || it.Body["email_id"] == nil {
			t.Fatalf("outbox item: %s", it.Raw)
		}
		em := o.must(200, "GET", fmt.Sprintf("/api/v1/messages/%d", int64(it.Body["email_id"].(float64))), o.annToken, nil)
		if em.Str("folder") != "Sent Items" || em.Str("subject") != "Proposal" {
			t.Errorf("filed: %s", em.Raw)
		}
	})
}
