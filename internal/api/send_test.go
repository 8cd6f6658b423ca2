package api_test

import (
	"bytes"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"

	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail/mimeparse"
)

func init() {
	requestTypes["POST /api/v1/messages/send"] = api.SendMessageRequest{}
}

// setupSend is the mail bundle with the wake-ups recorded, Ann's mailbox
// (ann@acme.test, with SMTP) connected, and a company each for Ann and Bob.
func setupSend(t *testing.T, opts ...bundleOpts) (m *mailBundle, account int64, woken func() []int64, annCompany, bobCompany int64) {
	m = setupMail(t, opts...)
	var mu sync.Mutex
	var wakes []int64
	m.srv = api.New(api.Config{Store: m.st, Logger: slog.New(slog.NewJSONHandler(m.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Now: m.clock.Now, Mail: m.fake, Wake: func(id int64) { mu.Lock(); wakes = append(wakes, id); mu.Unlock() }})
	account = m.connectAnn()
	annCompany = m.mustCall(201, "POST", "/api/v1/companies", m.annToken, map[string]any{"name": "Client Ltd", "domains": []string{"client.test"}}).ID()
	bobCompany = m.mustCall(201, "POST", "/api/v1/companies", m.bobToken, map[string]any{"name": "Bob's Co"}).ID()
	return m, account, func() []int64 { mu.Lock(); defer mu.Unlock(); return append([]int64(nil), wakes...) }, annCompany, bobCompany
}

func TestSendQueues(t *testing.T) {
	t.Parallel()
	m, account, woken, company, _ := setupSend(t)
	pdf := bytes.Repeat([]byte("%PDF\x00\xff"), 1000)
	r := m.mustCall(202, "POST", "/api/v1/messages/send", m.annToken, map[string]any{
		"account_id":  account,
		"to":          []any{"Bob Client <bob@client.test>", map[string]any{"name": "Carol", "email": "Carol@Client.test"}},
		"cc":          []any{"dave@client.test"},
		"bcc":         []any{map[string]any{"email": "hidden@elsewhere.test"}},
		"subject":     "Quote — 2030",
		"text":        "Hello Bob",
		"html":        "<p>Hello <b>Bob</b></p>",
		"attachments": []any{map[string]any{"filename": "quote.pdf", "content_type": "application/pdf", "content": pdf}},
		"links":       []any{map[string]any{"type": "company", "id": company}},
		"in_reply_to": "<orig@client.test>",
	})
	id := r.ID()
	if r.Str("state") != "queued" || !strings.HasSuffix(r.Str("message_id"), "@acme.test") || r.Str("subject") != "Quote — 2030" ||
		num(r.Body["account_id"]) != account || num(r.Body["attempts"]) != 0 || num(r.Body["user_id"]) != m.ann ||
		obj(r.Body["from"])["email"] != "ann@acme.test" || r.Header.Get("Location") != fmt.Sprintf("/api/v1/outbox/%d", id) {
		t.Fatalf("answer = %s", r.Raw)
	}
	if _, ok := r.Body["raw"]; ok {
		t.Error("the raw message is in the answer")
	}
	if w := woken(); len(w) != 1 || w[0] != account {
		t.Errorf("woken = %v, want the account's loop", w)
	}
	g := m.mustCall(200, "GET", fmt.Sprintf("/api/v1/outbox/%d", id), m.annToken, nil)
	if g.ID() != id || g.Str("state") != "queued" || g.Str("message_id") != r.Str("message_id") {
		t.Errorf("GET = %s", g.Raw)
	}
	m.mustCall(404, "GET", fmt.Sprintf("/api/v1/outbox/%d", id), m.bobToken, nil)

	// What was queued: the message built once, From the mailbox, no Bcc
	// header; the envelope's Bcc in the request.
	it, err := m.st.GetOutboxItem(m.ctx, m.adminView, id)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := netmail.ReadMessage(bytes.NewReader(it.Raw))
	if err != nil {
		t.Fatal(err)
	}
	if msg.Header.Get("From") != "ann@acme.test" || msg.Header.Get("Bcc") != "" || bytes.Contains(it.Raw, []byte("hidden@")) ||
		msg.Header.Get("Message-Id") != "<"+it.MessageID+">" || msg.Header.Get("In-Reply-To") != "<orig@client.test>" {
		t.Errorf("header = %v", msg.Header)
	}
	p, kept, _ := mimeparse.Parse(bytes.NewReader(it.Raw), &mimeparse.Options{KeepAttachmentsUnder: 1 << 20})
	if len(p.To) != 2 || p.To[1].Email != "carol@client.test" || len(p.Cc) != 1 || p.Text != "Hello Bob" || len(kept) != 1 || !bytes.Equal(kept[0].Data, pdf) {
		t.Errorf("parsed = %+v", p)
	}
	if len(it.Request.Bcc) != 1 || it.Request.Bcc[0].Email != "hidden@elsewhere.test" || len(it.Request.Links) != 1 || it.Request.Links[0] != (crm.LinkRef{Type: crm.LinkCompany, ID: company}) {
		t.Errorf("request = %+v", it.Request)
	}
	if len(it.Request.Attachments) != 1 || it.Request.Attachments[0].Filename != "quote.pdf" || it.Request.Attachments[0].Content != nil {
		t.Errorf("attachments kept twice: %+v", it.Request.Attachments)
	}
}

func TestSendRefusals(t *testing.T) {
	t.Parallel()
	m, account, woken, company, bobCompany := setupSend(t)
	ok := func() map[string]any {
		return map[string]any{"account_id": account, "to": []any{"bob@client.test"}, "subject": "Hi", "text": "Hello"}
	}
	with := func(k string, v any) map[string]any { b := ok(); b[k] = v; return b }
	without := func(k string) map[string]any { b := ok(); delete(b, k); return b }

	// Bob's mailbox has another address than his profile's.
	bobAccount := m.mustCall(201, "POST", "/api/v1/mail-accounts", m.bobToken, map[string]any{"email": "bob.sales@acme.test", "password": goodPassword}).ID()
	// So has the admin's, who may change his profile.
	adminAccount := m.mustCall(201, "POST", "/api/v1/mail-accounts", m.token, map[string]any{"email": "admin.sales@acme.test", "password": goodPassword}).ID()
	// Ann's second mailbox has no SMTP server.
	noSMTP := m.mustCall(201, "POST", "/api/v1/mail-accounts", m.annToken, map[string]any{"email": "ann@nosmtp.test", "password": goodPassword}).ID()

	for _, tc := range []struct {
		name   string
		token  string
		body   any
		status int
		code   string
		field  string
		msg    string // in the message
	}{
		{"no account", m.annToken, without("account_id"), 422, "required", "account_id", ""},
		{"another user's mailbox", m.bobToken, ok(), 422, "not_found", "account_id", ""},
		{"an admin, from Ann's mailbox", m.token, ok(), 403, "forbidden", "account_id", "your own"},
		{"no SMTP server", m.annToken, with("account_id", noSMTP), 422, "cannot_send", "account_id", "no SMTP server"},
		// Bob is a member: only an admin may change his profile's address.
		{"from mismatch", m.bobToken, with("account_id", bobAccount), 422, "from_mismatch", "account_id",
			"Ask an admin of your organisation to change the address on your profile to bob.sales@acme.test, or send from the mailbox with the address bob@acme.test."},
		{"from mismatch, an admin", m.token, with("account_id", adminAccount), 422, "from_mismatch", "account_id",
			"this mailbox is admin.sales@acme.test. Change the address on your profile to admin.sales@acme.test"},
		{"no recipient", m.annToken, without("to"), 422, "required", "to", "at least one recipient"},
		{"bad recipient", m.annToken, with("to", []any{"bob@client.test", "not an address"}), 422, "invalid_value", "to[1]", ""},
		{"blank recipient", m.annToken, with("cc", []any{map[string]any{"name": "X", "email": " "}}), 422, "required", "cc[0]", ""},
		{"number as recipient", m.annToken, with("bcc", []any{5}), 422, "invalid_value", "bcc[0]", "must be an address"},
		{"unknown address field", m.annToken, with("to", []any{map[string]any{"mail": "x@y.test"}}), 422, "invalid_value", "to[0]", "name"},
		{"long name", m.annToken, with("to", []any{map[string]any{"name": strings.Repeat("n", 201), "email": "x@y.test"}}), 422, "invalid_value", "to[0].name", ""},
		{"long subject", m.annToken, with("subject", strings.Repeat("s", 999)), 422, "invalid_value", "subject", "998"},
		{"no filename", m.annToken, with("attachments", []any{map[string]any{"content": []byte("x")}}), 422, "required", "attachments[0].filename", ""},
		{"bad content type", m.annToken, with("attachments", []any{map[string]any{"filename": "a", "content_type": "multipart/mixed", "content": []byte("x")}}), 422, "invalid_value", "attachments[0].content_type", ""},
		{"content not base64", m.annToken, with("attachments", []any{map[string]any{"filename": "a", "content": "@@@"}}), 422, "invalid_value", "attachments[0]", "base64"},
		{"bad link type", m.annToken, with("links", []any{map[string]any{"type": "deal", "id": 1}}), 422, "invalid_value", "links[0].type", ""},
		{"link without id", m.annToken, with("links", []any{map[string]any{"type": "company"}}), 422, "required", "links[0].id", ""},
		{"link to a record not visible", m.annToken, with("links", []any{map[string]any{"type": "company", "id": company}, map[string]any{"type": "company", "id": bobCompany}}), 422, "not_found", "links[1].id", ""},
		{"bad in_reply_to", m.annToken, with("in_reply_to", "not an id"), 422, "invalid_value", "in_reply_to", ""},
		{"unknown field", m.annToken, with("from", "x@y.test"), 400, "unknown_field", "from", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := m.call("POST", "/api/v1/messages/send", tc.token, tc.body)
			code, field, msg := r.Err()
			if r.Status != tc.status || (tc.code != "" && code != tc.code) || field != tc.field || !strings.Contains(msg, tc.msg) {
				t.Fatalf("status %d %s %s %q, want %d %s %s %q", r.Status, code, field, msg, tc.status, tc.code, tc.field, tc.msg)
			}
		})
	}
	if w := woken(); len(w) != 0 {
		t.Errorf("refusals woke loops: %v", w)
	}
	// Nothing was queued.
	if r := m.mustCall(202, "POST", "/api/v1/messages/send", m.annToken, ok()); r.ID() != 1 {
		t.Errorf("first queued item has id %d: a refusal queued something", r.ID())
	}
}

func TestSendSizes(t *testing.T) {
	t.Parallel()
	m, account, _, _, _ := setupSend(t)
	// 20 MiB of attachments fit in this route's body (27 MiB of base64)…
	big := bytes.Repeat([]byte{0xAB}, 10<<20)
	body := map[string]any{"account_id": account, "to": []any{"bob@client.test"}, "subject": "Files",
		"attachments": []any{map[string]any{"filename": "a.bin", "content": big}, map[string]any{"filename": "b.bin", "content": big[:10<<20-1]}}}
	m.mustCall(202, "POST", "/api/v1/messages/send", m.annToken, body)
	// …one byte more is refused by name…
	body["attachments"] = []any{map[string]any{"filename": "a.bin", "content": big}, map[string]any{"filename": "b.bin", "content": big}, map[string]any{"filename": "c.bin", "content": []byte("x")}}
	r := m.call("POST", "/api/v1/messages/send", m.annToken, body)
	if code, field, _ := r.Err(); r.Status != 422 || code != "invalid_value" || field != "attachments" {
		t.Fatalf("over 20 MiB: %d %s", r.Status, r.Raw)
	}
	// …a body over 30 MiB is too large…
	r = m.call("POST", "/api/v1/messages/send", m.annToken, raw(`{"text": "`+strings.Repeat("x", 31<<20)+`"}`))
	if code, _, msg := r.Err(); r.Status != 413 || code != "body_too_large" || !strings.Contains(msg, "30 MiB") {
		t.Fatalf("31 MiB body: %d %s", r.Status, r.Raw)
	}
	// …and other routes keep their 1 MiB.
	r = m.call("POST", "/api/v1/companies", m.annToken, raw(`{"name": "`+strings.Repeat("x", 2<<20)+`"}`))
	if r.Status != 413 {
		t.Fatalf("2 MiB company: %d", r.Status)
	}
}

func TestSendRouteMethods(t *testing.T) {
	t.Parallel()
	m, _, _, _, _ := setupSend(t)
	r := m.call("GET", "/api/v1/messages/send", m.annToken, nil)
	if code, _, _ := r.Err(); r.Status != 405 || code != "method_not_allowed" || r.Header.Get("Allow") != "POST" {
		t.Fatalf("GET …/send: %d %s %v", r.Status, r.Raw, r.Header)
	}
	// The message routes beside it are unchanged.
	if r := m.call("GET", "/api/v1/messages/12345", m.annToken, nil); r.Status != 404 {
		t.Errorf("GET a message: %d", r.Status)
	}
	if r := m.call("PUT", "/api/v1/messages/12345", m.annToken, raw(`{}`)); r.Status != 405 {
		t.Errorf("PUT a message: %d", r.Status)
	}
	if r := m.call("POST", "/api/v1/outbox/1", m.annToken, raw(`{}`)); r.Status != 405 {
		t.Errorf("POST an outbox item: %d", r.Status)
	}
	if r := m.call("GET", "/api/v1/outbox/x", m.annToken, nil); r.Status != 400 {
		t.Errorf("GET outbox/x: %d", r.Status)
	}
}
