package api_test

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/accounts/accountstest"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// testEmail is a message as the sync loop would store it.
func testEmail(uidvalidity, uid uint32, subject string, date time.Time) crm.Email {
	return crm.Email{RemoteID: fmt.Sprintf("%d:%d", uidvalidity, uid), Hash: fmt.Sprintf("hash-%d-%d-%s", uidvalidity, uid, subject),
		MessageID: fmt.Sprintf("<%d.%d@mail.test>", uidvalidity, uid), Subject: subject, Date: date,
		Participants: crm.Participants{From: []crm.Address{{Name: "Carol Client", Email: "carol@client.test"}}, To: []crm.Address{{Email: "ann@acme.test"}}},
		Text:         "Hello, " + subject, HTML: "<p>Hello, " + subject + "</p>", Size: 1234}
}

// mailbox connects Ann's mailbox and stores messages in it as the sync
// loop would: five in INBOX (the third with attachments), one in Sent.
func (m *mailBundle) mailbox() (accountID int64, fence store.Fence, msgs []crm.Email) {
	m.t.Helper()
	accountID = m.connectAnn()
	fence = m.lease(accountID)
	folders := m.syncFolders(fence, accountID, store.FolderInfo{Name: "INBOX", Role: "inbox"}, store.FolderInfo{Name: "Sent", Role: "sent"})
	t0 := time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC)
	inbox := []crm.Email{
		testEmail(7, 1, "Meeting next week", t0),
		testEmail(7, 2, "Invoice 2030-001", t0.Add(1*time.Hour)),
		testEmail(7, 3, "Quote for the new office", t0.Add(2*time.Hour)),
		testEmail(7, 4, "Re: Quote for the new office", t0.Add(3*time.Hour)),
		testEmail(7, 5, "Lunch?", t0.Add(4*time.Hour)),
	}
	inbox[2].Attachments = []crm.AttachmentInfo{
		{Index: 0, Filename: "quote.pdf", ContentType: "application/pdf", Size: 52},
		{Index: 1, Filename: "naïve résumé.txt", ContentType: "text/plain; charset=utf-8", Size: 40},
		{Index: 2, Filename: "", ContentType: "", Size: 3},
	}
	inbox[4].Participants.From = []crm.Address{{Name: "Dave Friend", Email: "dave@friends.test"}}
	m.save(fence, folders["INBOX"], store.FolderCursor{Token: fmt.Sprint(6), ServerCount: 5}, inbox...)
	sent := m.save(fence, folders["Sent"], store.FolderCursor{Token: fmt.Sprint(2), ServerCount: 1},
		testEmail(9, 1, "Re: Invoice 2030-001", t0.Add(90*time.Minute)))
	// Newest first.
	msgs = []crm.Email{inbox[4], inbox[3], inbox[2], sent[0], inbox[1], inbox[0]}
	return accountID, fence, msgs
}

func emailIDs(msgs []crm.Email) []int64 {
	var out []int64
	for _, e := range msgs {
		out = append(out, e.ID)
	}
	return out
}

func TestMessagesList(t *testing.T) {
	t.Parallel()
	m := setupMail(t)
	account, _, msgs := m.mailbox()
	all := emailIDs(msgs)

	r := m.mustCall(200, "GET", "/api/v1/messages", m.annToken, nil)
	if !slices.Equal(ids(r.List), all) {
		t.Errorf("list = %v, want newest first %v", ids(r.List), all)
	}
	first := obj(r.List[0])
	if first["subject"] != "Lunch?" || first["folder"] != "INBOX" || num(first["account_id"]) != account || first["date"] != "2030-01-01T12:00:00Z" ||
		obj(obj(first["participants"])["from"].([]any)[0])["email"] != "dave@friends.test" || obj(first["flags"])["seen"] != false {
		t.Errorf("first = %v", first)
	}
	for _, it := range r.List {
		if _, ok := obj(it)["text"]; ok {
			t.Errorf("a list carries bodies: %v", it)
		}
		for _, k := range []string{"in_reply_to", "references", "attachments", "warnings"} {
			if _, ok := obj(it)[k].([]any); !ok {
				t.Errorf("%s is not a list: %v", k, obj(it)[k])
			}
		}
	}
	if _, ok := r.Body["next_cursor"]; ok {
		t.Errorf("next_cursor on the only page")
	}

	// Pages of two walk the whole list, in order, and stop.
	var walked []int64
	cursor := ""
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		path := "/api/v1/messages?limit=2"
		if cursor != "" {
			path += "&cursor=" + url.QueryEscape(cursor)
		}
		r := m.mustCall(200, "GET", path, m.annToken, nil)
		if len(r.List) > 2 {
			t.Fatalf("page of %d", len(r.List))
		}
		walked = append(walked, ids(r.List)...)
		cursor = r.Str("next_cursor")
		if cursor == "" {
			break
		}
	}
	if !slices.Equal(walked, all) {
		t.Errorf("paginated = %v, want %v", walked, all)
	}

	for q, want := range map[string][]int64{
		"/api/v1/messages?q=quote":                             {msgs[1].ID, msgs[2].ID},
		"/api/v1/messages?q=INVOICE":                           {msgs[3].ID, msgs[4].ID},
		"/api/v1/messages?q=dave":                              {msgs[0].ID},
		"/api/v1/messages?q=friends.test":                      {msgs[0].ID},
		"/api/v1/messages?q=nothing+matches":                   nil,
		"/api/v1/messages?folder=Sent":                         {msgs[3].ID},
		fmt.Sprintf("/api/v1/messages?account_id=%d", account): all,
		fmt.Sprintf("/api/v1/messages?account_id=%d&folder=INBOX&q=quote&limit=1", account): {msgs[1].ID},
	} {
		r := m.mustCall(200, "GET", q, m.annToken, nil)
		if !slices.Equal(ids(r.List), want) {
			t.Errorf("%s = %v, want %v", q, ids(r.List), want)
		}
	}

	// The admin sees them; Bob, a colleague, and another organisation do not.
	if r := m.mustCall(200, "GET", "/api/v1/messages", m.token, nil); !slices.Equal(ids(r.List), all) {
		t.Errorf("admin sees %v", ids(r.List))
	}
	if r := m.mustCall(200, "GET", "/api/v1/messages", m.bobToken, nil); string(r.Raw) != "{\"data\":[]}\n" {
		t.Errorf("bob sees %s", r.Raw)
	}
	_, _, other := m.newOrg("Other", "admin@other.test")
	if r := m.mustCall(200, "GET", "/api/v1/messages?q=quote", other, nil); len(r.List) != 0 {
		t.Errorf("another org sees %s", r.Raw)
	}
	m.wantErr(m.call("GET", fmt.Sprintf("/api/v1/messages?account_id=%d", account), m.bobToken, nil), 404, "not_found", "")
	m.wantErr(m.call("GET", "/api/v1/messages?account_id=9999", m.annToken, nil), 404, "not_found", "")

	// Bad parameters.
	m.wantErr(m.call("GET", "/api/v1/messages?cursor=garbage", m.annToken, nil), 400, "invalid_cursor", "cursor")
	m.wantErr(m.call("GET", "/api/v1/messages?cursor="+store.EncodeCursor(3), m.annToken, nil), 400, "invalid_cursor", "cursor")
	m.wantErr(m.call("GET", "/api/v1/messages?limit=0", m.annToken, nil), 400, "invalid_parameter", "limit")
	m.wantErr(m.call("GET", "/api/v1/messages?limit=501", m.annToken, nil), 400, "invalid_parameter", "limit")
	m.wantErr(m.call("GET", "/api/v1/messages?account_id=x", m.annToken, nil), 400, "invalid_parameter", "account_id")
	m.wantErr(m.call("GET", "/api/v1/messages?owner_id=1", m.annToken, nil), 400, "invalid_parameter", "owner_id")
	m.wantErr(m.call("GET", "/api/v1/messages?q="+strings.Repeat("x", 201), m.annToken, nil), 400, "invalid_parameter", "q")
}

func TestMessageGetAndFlags(t *testing.T) {
	t.Parallel()
	m := setupMail(t)
	account, _, msgs := m.mailbox()
	quote := msgs[2]
	path := fmt.Sprintf("/api/v1/messages/%d", quote.ID)

	r := m.mustCall(200, "GET", path, m.annToken, nil)
	if r.Str("text") != "Hello, Quote for the new office" || r.Str("html") != "<p>Hello, Quote for the new office</p>" ||
		r.Str("subject") != quote.Subject || r.Str("message_id") != quote.MessageID || num(r.Body["size"]) != 1234 {
		t.Errorf("get: %s", r.Raw)
	}
	atts, _ := r.Body["attachments"].([]any)
	if len(atts) != 3 || obj(atts[0])["filename"] != "quote.pdf" || obj(atts[0])["content_type"] != "application/pdf" || num(obj(atts[1])["index"]) != 1 {
		t.Errorf("attachments: %v", atts)
	}
	for _, tok := range []string{m.bobToken} {
		m.wantErr(m.call("GET", path, tok, nil), 404, "not_found", "")
		m.wantErr(m.call("PATCH", path, tok, map[string]any{"flags": map[string]any{"seen": true}}), 404, "not_found", "")
	}
	m.wantErr(m.call("GET", "/api/v1/messages/0", m.annToken, nil), 400, "invalid_id", "id")
	m.wantErr(m.call("GET", "/api/v1/messages/99999", m.annToken, nil), 404, "not_found", "")

	// Flags changed in crmsync show at once and wait to be written back.
	r = m.mustCall(200, "PATCH", path, m.annToken, map[string]any{"flags": map[string]any{"seen": true, "flagged": true}})
	if fmt.Sprint(r.Body["flags"]) != "map[answered:false draft:false flagged:true seen:true]" || r.Str("text") == "" {
		t.Errorf("after PATCH: %s", r.Raw)
	}
	pending, err := m.st.PendingFlags(m.ctx, account, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0].EmailID != quote.ID || pending[0].Folder != "INBOX" || pending[0].RemoteID != "7:3" ||
		pending[0].Flags != (crm.Flags{Seen: true, Flagged: true}) {
		t.Errorf("pending = %+v", pending)
	}
	// Absent flags stay.
	r = m.mustCall(200, "PATCH", path, m.annToken, map[string]any{"flags": map[string]any{"seen": false}})
	if fmt.Sprint(r.Body["flags"]) != "map[answered:false draft:false flagged:true seen:false]" {
		t.Errorf("after unseen: %s", r.Raw)
	}
	if r = m.mustCall(200, "GET", path, m.annToken, nil); fmt.Sprint(r.Body["flags"]) != "map[answered:false draft:false flagged:true seen:false]" {
		t.Errorf("get after PATCH: %s", r.Raw)
	}
	l := m.mustCall(200, "GET", "/api/v1/messages?q=quote", m.annToken, nil)
	for _, it := range l.List {
		if num(obj(it)["id"]) == quote.ID && obj(obj(it)["flags"])["flagged"] != true {
			t.Errorf("list flags: %v", it)
		}
	}
	if pending, _ = m.st.PendingFlags(m.ctx, account, 10); len(pending) != 1 || pending[0].Flags != (crm.Flags{Flagged: true}) {
		t.Errorf("pending after second change = %+v", pending)
	}

	m.wantErr(m.call("PATCH", path, m.annToken, map[string]any{}), 422, "required", "flags")
	// Inside flags the decoder does not yet name the nested field (it says
	// "deleted", not "flags.deleted"): only the code is checked.
	wantCode(t, m.call("PATCH", path, m.annToken, map[string]any{"flags": map[string]any{"deleted": true}}), 400, "unknown_field")
	wantCode(t, m.call("PATCH", path, m.annToken, map[string]any{"flags": map[string]any{"seen": "yes"}}), 400, "invalid_type")
	m.wantErr(m.call("PATCH", path, m.annToken, raw(`{"flags":{"seen":true}`)), 400, "malformed_json", "")
}

func TestMessageAttachments(t *testing.T) {
	t.Parallel()
	m := setupMail(t)
	account, _, msgs := m.mailbox()
	quote := msgs[2]
	att := func(n string) string { return fmt.Sprintf("/api/v1/messages/%d/attachments/%s", quote.ID, n) }

	for n, want := range []struct{ filename, contentType string }{
		{"quote.pdf", "application/pdf"},
		{"naïve résumé.txt", "text/plain; charset=utf-8"},
		{"", "application/octet-stream"},
	} {
		r := m.mustCall(200, "GET", att(fmt.Sprint(n)), m.annToken, nil)
		if string(r.Raw) != accountstest.AttachmentContent(quote, n) {
			t.Errorf("attachment %d = %q", n, r.Raw)
		}
		if got := r.Header.Get("Content-Type"); got != want.contentType {
			t.Errorf("attachment %d: Content-Type %q, want %q", n, got, want.contentType)
		}
		disp, params, err := mime.ParseMediaType(r.Header.Get("Content-Disposition"))
		if err != nil || disp != "attachment" || params["filename"] != want.filename {
			t.Errorf("attachment %d: Content-Disposition %q (%v)", n, r.Header.Get("Content-Disposition"), err)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Content-Security-Policy") != "sandbox" {
			t.Errorf("attachment %d: headers %v", n, r.Header)
		}
	}
	if c := m.fake.AttachmentCalls()[0]; c.AccountID != account || c.EmailID != quote.ID || c.Index != 0 {
		t.Errorf("connector asked for %+v", c)
	}
	// The admin may download it; Bob may not.
	m.mustCall(200, "GET", att("0"), m.token, nil)
	m.wantErr(m.call("GET", att("0"), m.bobToken, nil), 404, "not_found", "")

	calls := len(m.fake.AttachmentCalls())
	m.wantErr(m.call("GET", att("3"), m.annToken, nil), 404, "not_found", "n")
	m.wantErr(m.call("GET", fmt.Sprintf("/api/v1/messages/%d/attachments/0", msgs[0].ID), m.annToken, nil), 404, "not_found", "n")
	m.wantErr(m.call("GET", att("x"), m.annToken, nil), 400, "invalid_id", "n")
	m.wantErr(m.call("GET", att("-1"), m.annToken, nil), 400, "invalid_id", "n")
	m.wantErr(m.call("GET", "/api/v1/messages/abc/attachments/0", m.annToken, nil), 400, "invalid_id", "id")
	m.wantErr(m.call("GET", "/api/v1/messages/99999/attachments/0", m.annToken, nil), 404, "not_found", "")
	if len(m.fake.AttachmentCalls()) != calls {
		t.Error("the connector was asked for an attachment that does not exist")
	}

	// The server cannot be reached: a proper error, not a download.
	m.fake.SetAttachmentError(&connerr.Error{Kind: connerr.Unreachable, Message: "imap.acme.test could not be reached."}, 0)
	r := m.call("GET", att("0"), m.annToken, nil)
	m.wantErr(r, 502, "unreachable", "")
	if r.Header.Get("Content-Disposition") != "" || r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("error answer labelled as the attachment: %v", r.Header)
	}
	m.fake.SetAttachmentError(errors.New("boom"), 0)
	m.wantErr(m.call("GET", att("0"), m.annToken, nil), 500, "internal", "")

	// Failing halfway: the download is cut short, never completed with an
	// error answer appended.
	m.fake.SetAttachmentError(errors.New("connection reset"), 10)
	srv := httptest.NewServer(m.srv)
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+att("0"), nil)
	req.Header.Set("Authorization", "Bearer "+m.annToken)
	res, err := srv.Client().Do(req)
	if err == nil {
		body, rerr := io.ReadAll(res.Body)
		res.Body.Close()
		if rerr == nil {
			t.Errorf("a failed download looks complete: %d %q", res.StatusCode, body)
		}
		if strings.Contains(string(body), "error") {
			t.Errorf("an error answer was appended to the download: %q", body)
		}
	}
	if !strings.Contains(m.logs.String(), "attachment download cut short") {
		t.Errorf("the cut was not logged: %s", m.logs.String())
	}
}

// wantCode checks an error answer's status and code, not its field.
func wantCode(t *testing.T, r *resp, status int, code string) {
	t.Helper()
	if got, _, _ := r.Err(); r.Status != status || got != code {
		t.Errorf("got %d %q, want %d %q\n%s", r.Status, got, status, code, r.Raw)
	}
}

// TestMessageRemoteImages: images from the sender's servers are off until
// the reader asks (a tracking pixel tells the sender the mail was read).
func TestMessageRemoteImages(t *testing.T) {
	t.Parallel()
	m := setupMail(t)
	account := m.connectAnn()
	fence := m.lease(account)
	folders := m.syncFolders(fence, account, store.FolderInfo{Name: "INBOX", Role: "inbox"})
	e := testEmail(7, 1, "Newsletter", time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC))
	e.HTML = `<p>News</p><img src="https://track.example/open.gif?u=ann" alt=""><img src="cid:logo@x">`
	saved := m.save(fence, folders["INBOX"], store.FolderCursor{Token: "2", ServerCount: 1}, e)
	path := fmt.Sprintf("/api/v1/messages/%d", saved[0].ID)

	r := m.mustCall(200, "GET", path, m.annToken, nil)
	if num(r.Body["remote_images"]) != 1 || strings.Contains(r.Str("html"), ` src="https://track`) ||
		!strings.Contains(r.Str("html"), `data-remote-src="https://track.example/open.gif?u=ann"`) || !strings.Contains(r.Str("html"), `src="cid:logo@x"`) {
		t.Fatalf("by default: %s", r.Raw)
	}
	r = m.mustCall(200, "GET", path+"?remote_images=show", m.annToken, nil)
	if r.Body["remote_images"] != nil || !strings.Contains(r.Str("html"), ` src="https://track.example/open.gif?u=ann"`) {
		t.Fatalf("shown: %s", r.Raw)
	}
	m.wantErr(m.call("GET", path+"?remote_images=yes", m.annToken, nil), 400, "invalid_parameter", "remote_images")
}
