package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/accounts/accountstest"
	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pimconn"
	"github.com/crmsync/crmsync/internal/store"
)

// The PIM account routes' bodies, checked against openapi.json like the
// others.
func init() {
	requestTypes["POST /api/v1/pim-accounts"] = api.PIMAccountCreationRequest{}
	requestTypes["PATCH /api/v1/pim-accounts/{id}"] = api.PIMAccountUpdateRequest{}
}

// fakePIM is a PIMConnector without a network: every server accepts one
// password, lists the collections set for its host, and some hosts fail
// the way real ones do.
type fakePIM struct {
	mu          sync.Mutex
	password    string
	collections map[string][]store.PIMCollection // by host
	failHost    map[string]*connerr.Error
	verified    []pimVerifyCall
}

type pimVerifyCall struct {
	Kind                    crm.PIMKind
	URL, Username, Password string
}

func newFakePIM() *fakePIM {
	return &fakePIM{
		password: goodPassword,
		collections: map[string][]store.PIMCollection{
			"dav.acme.test": {
				{Href: "/dav/ann/cal/", Kind: "events", DisplayName: "Calendar"},
				{Href: "/dav/ann/cal/", Kind: "tasks", DisplayName: "Calendar"},
				{Href: "/dav/ann/contacts/", Kind: "contacts", DisplayName: "Contacts"},
				{Href: "/dav/ann/meetings/", Kind: "events", DisplayName: "Meetings"},
				{Href: "/dav/ann/todo/", Kind: "tasks", DisplayName: "To do"},
				{Href: "/dav/ann/work/", Kind: "contacts", DisplayName: "Work"},
			},
			"other.acme.test": {
				{Href: "/books/main/", Kind: "contacts", DisplayName: "Main"},
			},
		},
		failHost: map[string]*connerr.Error{
			"badcert.example": {Kind: connerr.TLS, Message: "The certificate of badcert.example is not signed by a trusted authority (self-signed or private CA)."},
			"down.example":    {Kind: connerr.Unreachable, Message: "down.example refused the connection: is the address right and the server up?"},
			"busy.example":    {Kind: connerr.Throttled, Message: "busy.example is limiting requests (429 Too Many Requests)."},
			"odd.example":     {Kind: connerr.Protocol, Message: "odd.example does not say where the address books and calendars of ann are: is it a CardDAV or CalDAV server?"},
		},
	}
}

func (f *fakePIM) setPassword(p string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.password = p
}

func (f *fakePIM) Verify(ctx context.Context, kind crm.PIMKind, rawURL, username, password string) ([]store.PIMCollection, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.verified = append(f.verified, pimVerifyCall{Kind: kind, URL: rawURL, Username: username, Password: password})
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if e, ok := f.failHost[u.Host]; ok {
		return nil, e
	}
	if password != f.password {
		return nil, &connerr.Error{Kind: connerr.Auth, Message: "Incorrect password (or username) for " + username + " on " + u.Host + "."}
	}
	want := map[crm.PIMKind][]pim.CollectionKind{crm.PIMCardDAV: {pim.Contacts}, crm.PIMCalDAV: {pim.Events, pim.Tasks}}[kind]
	var out []store.PIMCollection
	for _, c := range f.collections[u.Host] {
		if slices.Contains(want, c.Kind) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, &connerr.Error{Kind: pimconn.KindNoCollections, Message: u.Host + " has no address book for " + username + "."}
	}
	return out, nil
}

func (f *fakePIM) Seal(credentialID string, password []byte) ([]byte, error) {
	return accountstest.Seal(credentialID, password), nil
}

func (f *fakePIM) verifyCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.verified)
}

func (f *fakePIM) lastVerify(t *testing.T) pimVerifyCall {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.verified) == 0 {
		t.Fatal("Verify was never called")
	}
	return f.verified[len(f.verified)-1]
}

// pimBundle is a mail bundle whose server also has the fake PIM
// connector, and records the accounts it woke.
type pimBundle struct {
	*mailBundle
	pim   *fakePIM
	mu    sync.Mutex
	woken []int64
}

func setupPIM(t *testing.T, opts ...bundleOpts) *pimBundle {
	t.Helper()
	m := setupMail(t, opts...)
	p := &pimBundle{mailBundle: m, pim: newFakePIM()}
	m.srv = api.New(api.Config{
		Store:   m.st,
		Logger:  slog.New(slog.NewJSONHandler(m.logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		Now:     m.clock.Now,
		Mail:    m.fake,
		PIM:     p.pim,
		WakePIM: p.wake,
	})
	return p
}

func (p *pimBundle) wake(id int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.woken = append(p.woken, id)
}

// wokenCount returns how many times id was woken.
func (p *pimBundle) wokenCount(id int64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, w := range p.woken {
		if w == id {
			n++
		}
	}
	return n
}

func (p *pimBundle) pimAccount(id int64) crm.PIMAccount {
	p.t.Helper()
	a, err := p.st.GetPIMAccount(p.ctx, p.adminView, id)
	if err != nil {
		p.t.Fatal(err)
	}
	return a
}

// connect connects Ann's address book on dav.acme.test.
func (p *pimBundle) connect(body map[string]any) *resp {
	p.t.Helper()
	b := map[string]any{"kind": "carddav", "url": "https://dav.acme.test/dav/", "username": "ann", "password": goodPassword}
	for k, v := range body {
		if v == nil {
			delete(b, k)
		} else {
			b[k] = v
		}
	}
	return p.call("POST", "/api/v1/pim-accounts", p.annToken, b)
}

func pimPath(id int64, rest ...string) string {
	return fmt.Sprintf("/api/v1/pim-accounts/%d", id) + strings.Join(rest, "")
}

func strs(v any) []string {
	var out []string
	list, _ := v.([]any)
	for _, x := range list {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func TestPIMConnect(t *testing.T) {
	t.Parallel()
	p := setupPIM(t)

	r := p.connect(map[string]any{"url": " HTTPS://DAV.Acme.test/dav/ ", "options": map[string]any{"import_categories": []string{" VIP ", "Clients"}}})
	if r.Status != 201 {
		t.Fatalf("connect: %d %s", r.Status, r.Raw)
	}
	id := r.ID()
	if got := r.Header.Get("Location"); got != pimPath(id) {
		t.Errorf("Location = %q", got)
	}
	opts := obj(r.Body["options"])
	if r.Str("kind") != "carddav" || r.Str("url") != "https://dav.acme.test/dav/" || r.Str("username") != "ann" || num(r.Body["user_id"]) != p.ann ||
		r.Str("state") != "connecting" || opts["conflict_policy"] != "newest_wins" || opts["collection"] != "/dav/ann/contacts/" ||
		fmt.Sprint(strs(opts["import_categories"])) != "[VIP Clients]" || fmt.Sprint(opts["event_categories"]) != "[]" {
		t.Errorf("created %s", r.Raw)
	}
	if _, ok := opts["task_collection"]; ok {
		t.Errorf("task_collection on a carddav account: %s", r.Raw)
	}
	counts := obj(r.Body["counts"])
	if _, ok := counts["contacts"]; !ok || num(counts["contacts"]) != 0 || counts["events"] != nil || counts["tasks"] != nil || num(counts["errors"]) != 0 {
		t.Errorf("counts = %v", counts)
	}
	for _, k := range []string{"collections", "item_errors", "history"} {
		if l, ok := r.Body[k].([]any); !ok || len(l) != 0 {
			t.Errorf("%s = %v, want []", k, r.Body[k])
		}
	}
	for _, k := range []string{"password", "credential_id", "status", "progress", "sync_requested"} {
		if _, ok := r.Body[k]; ok {
			t.Errorf("%s in the answer: %s", k, r.Raw)
		}
	}
	// It logged in before saving, with what it saved; the loop was woken.
	if v := p.pim.lastVerify(t); v != (pimVerifyCall{crm.PIMCardDAV, "https://dav.acme.test/dav/", "ann", goodPassword}) {
		t.Errorf("verified %+v", v)
	}
	if p.wokenCount(id) != 1 {
		t.Errorf("woken %v", p.woken)
	}

	// The password is stored sealed, bound to the account's credential.
	a := p.pimAccount(id)
	cred, err := p.st.GetCredential(p.ctx, p.orgID, a.CredentialID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cred.Ciphertext), goodPassword) || unseal(t, a.CredentialID, cred.Ciphertext) != goodPassword {
		t.Errorf("credential %q", cred.Ciphertext)
	}

	// Ann and the admin see it; Bob, another member, does not.
	p.mustCall(200, "GET", pimPath(id), p.annToken, nil)
	p.mustCall(200, "GET", pimPath(id), p.token, nil)
	for _, rq := range []struct{ method, path string }{{"GET", pimPath(id)}, {"PATCH", pimPath(id)}, {"DELETE", pimPath(id)}, {"POST", pimPath(id, "/sync")}} {
		var body any
		if rq.method == "PATCH" {
			body = map[string]any{"options": map[string]any{"conflict_policy": "crm_wins"}}
		}
		p.wantErr(p.call(rq.method, rq.path, p.bobToken, body), 404, "not_found", "")
	}
	l := p.mustCall(200, "GET", "/api/v1/pim-accounts", p.annToken, nil)
	if fmt.Sprint(ids(l.List)) != fmt.Sprint([]int64{id}) || obj(l.List[0])["state"] != "connecting" {
		t.Errorf("list: %s", l.Raw)
	}
	if l := p.mustCall(200, "GET", "/api/v1/pim-accounts", p.bobToken, nil); len(l.List) != 0 {
		t.Errorf("bob's list: %s", l.Raw)
	}
	if l := p.mustCall(200, "GET", fmt.Sprintf("/api/v1/pim-accounts?user_id=%d", p.ann), p.token, nil); len(l.List) != 1 {
		t.Errorf("admin's filtered list: %s", l.Raw)
	}
	if l := p.mustCall(200, "GET", fmt.Sprintf("/api/v1/pim-accounts?user_id=%d&limit=5", p.bob), p.token, nil); len(l.List) != 0 {
		t.Errorf("bob's accounts: %s", l.Raw)
	}
	p.wantErr(p.call("GET", "/api/v1/pim-accounts?cursor=nope", p.token, nil), 400, "invalid_cursor", "cursor")
	p.wantErr(p.call("GET", "/api/v1/pim-accounts?owner_id=1", p.token, nil), 400, "invalid_parameter", "owner_id")

	// The same server and username again is a conflict, and leaves no
	// orphan credential.
	p.wantErr(p.connect(nil), 409, "conflict", "url")
	if n := len(p.credentials()); n != 1 {
		t.Errorf("%d credentials after the conflict, want 1", n)
	}

	// Members connect their own accounts; an admin may connect anyone's.
	p.wantErr(p.call("POST", "/api/v1/pim-accounts", p.annToken, map[string]any{"kind": "carddav", "url": "https://dav.acme.test/", "username": "bob",
		"password": goodPassword, "user_id": p.bob}), 403, "forbidden", "")
	r = p.mustCall(201, "POST", "/api/v1/pim-accounts", p.token, map[string]any{"kind": "carddav", "url": "https://dav.acme.test/", "username": "bob",
		"password": goodPassword, "user_id": p.bob})
	if num(r.Body["user_id"]) != p.bob {
		t.Errorf("admin's connection for bob: %s", r.Raw)
	}
	p.mustCall(200, "GET", pimPath(r.ID()), p.bobToken, nil)
}

func TestPIMConnectCalDAV(t *testing.T) {
	t.Parallel()
	p := setupPIM(t)

	// Defaults: the first calendar of events, and its tasks since it holds
	// them too.
	r := p.mustCall(201, "POST", "/api/v1/pim-accounts", p.annToken, map[string]any{"kind": "CalDAV", "url": "https://dav.acme.test/", "username": "ann",
		"password": goodPassword, "options": map[string]any{"conflict_policy": "provider_wins", "event_categories": []string{"Work"}}})
	opts := obj(r.Body["options"])
	if r.Str("kind") != "caldav" || opts["collection"] != "/dav/ann/cal/" || opts["task_collection"] != "/dav/ann/cal/" ||
		opts["conflict_policy"] != "provider_wins" || fmt.Sprint(strs(opts["event_categories"])) != "[Work]" {
		t.Errorf("created %s", r.Raw)
	}
	counts := obj(r.Body["counts"])
	if counts["contacts"] != nil || counts["events"] == nil || counts["tasks"] == nil {
		t.Errorf("counts %v", counts)
	}
	if v := p.pim.lastVerify(t); v.Kind != crm.PIMCalDAV {
		t.Errorf("verified %+v", v)
	}

	// Chosen collections (without their trailing slash is fine).
	r = p.mustCall(201, "POST", "/api/v1/pim-accounts", p.annToken, map[string]any{"kind": "caldav", "url": "https://dav.acme.test/", "username": "ann2",
		"password": goodPassword, "options": map[string]any{"collection": "/dav/ann/meetings", "task_collection": "/dav/ann/todo/"}})
	opts = obj(r.Body["options"])
	if opts["collection"] != "/dav/ann/meetings/" || opts["task_collection"] != "/dav/ann/todo/" {
		t.Errorf("chosen: %s", r.Raw)
	}
	// A calendar of events only: its tasks come from the first that has some.
	r = p.mustCall(201, "POST", "/api/v1/pim-accounts", p.annToken, map[string]any{"kind": "caldav", "url": "https://dav.acme.test/", "username": "ann3",
		"password": goodPassword, "options": map[string]any{"collection": "/dav/ann/meetings/"}})
	if opts := obj(r.Body["options"]); opts["task_collection"] != "/dav/ann/cal/" {
		t.Errorf("tasks picked: %s", r.Raw)
	}

	// Collections of the wrong kind are refused, listing the right ones.
	r = p.call("POST", "/api/v1/pim-accounts", p.annToken, map[string]any{"kind": "caldav", "url": "https://dav.acme.test/", "username": "ann4",
		"password": goodPassword, "options": map[string]any{"task_collection": "/dav/ann/meetings/"}})
	p.wantErr(r, 422, "invalid_value", "options.task_collection")
	if _, _, msg := r.Err(); !strings.Contains(msg, `"/dav/ann/cal/" (Calendar), "/dav/ann/todo/" (To do)`) {
		t.Errorf("message %q", msg)
	}
	r = p.call("POST", "/api/v1/pim-accounts", p.annToken, map[string]any{"kind": "caldav", "url": "https://dav.acme.test/", "username": "ann4",
		"password": goodPassword, "options": map[string]any{"collection": "/dav/ann/contacts/"}})
	p.wantErr(r, 422, "invalid_value", "options.collection")
}

func TestPIMConnectRefusals(t *testing.T) {
	t.Parallel()
	p := setupPIM(t)

	// Wrong password: the connector's words, and nothing stored.
	r := p.connect(map[string]any{"password": "hunter2"})
	p.wantErr(r, 422, "auth_failed", "")
	if _, _, msg := r.Err(); msg != "Incorrect password (or username) for ann on dav.acme.test." {
		t.Errorf("message = %q", msg)
	}
	// Each way a login fails has its code and the connector's message.
	for host, code := range map[string]string{"badcert.example": "tls_error", "down.example": "unreachable", "busy.example": "throttled", "odd.example": "protocol"} {
		r := p.connect(map[string]any{"url": "https://" + host + "/"})
		p.wantErr(r, 422, code, "")
		if _, _, msg := r.Err(); msg != p.pim.failHost[host].Message {
			t.Errorf("%s: message %q", host, msg)
		}
	}
	// A server without any address book for the user.
	r = p.connect(map[string]any{"url": "https://empty.acme.test/"})
	p.wantErr(r, 422, "no_collections", "")
	if _, _, msg := r.Err(); !strings.Contains(msg, "no address book for ann") {
		t.Errorf("no_collections message %q", msg)
	}
	// A collection that is not on the server: the available ones are named.
	r = p.connect(map[string]any{"options": map[string]any{"collection": "/dav/ann/nope/"}})
	p.wantErr(r, 422, "invalid_value", "options.collection")
	if _, _, msg := r.Err(); !strings.Contains(msg, `"/dav/ann/contacts/" (Contacts), "/dav/ann/work/" (Work)`) {
		t.Errorf("collection message %q", msg)
	}

	before := p.pim.verifyCount()
	for _, tc := range []struct {
		body   map[string]any
		status int
		code   string
		field  string
	}{
		{map[string]any{"kind": nil}, 422, "required", "kind"},
		{map[string]any{"kind": "exchange"}, 422, "invalid_value", "kind"},
		{map[string]any{"url": nil}, 422, "required", "url"},
		{map[string]any{"url": "  "}, 422, "required", "url"},
		{map[string]any{"url": "dav.acme.test"}, 422, "invalid_value", "url"},
		{map[string]any{"url": "ftp://dav.acme.test/"}, 422, "invalid_value", "url"},
		{map[string]any{"url": "https:///dav/"}, 422, "invalid_value", "url"},
		{map[string]any{"url": "https://ann:secret@dav.acme.test/"}, 422, "invalid_value", "url"},
		{map[string]any{"url": "https://dav.acme.test/#x"}, 422, "invalid_value", "url"},
		{map[string]any{"username": nil}, 422, "required", "username"},
		{map[string]any{"password": nil}, 422, "required", "password"},
		{map[string]any{"user_id": 0}, 422, "invalid_value", "user_id"},
		{map[string]any{"options": map[string]any{"conflict_policy": "loudest_wins"}}, 422, "invalid_value", "options.conflict_policy"},
		{map[string]any{"options": map[string]any{"import_categories": []string{"VIP", " "}}}, 422, "invalid_value", "options.import_categories[1]"},
		{map[string]any{"options": map[string]any{"import_categories": []string{"base lead"}}}, 422, "invalid_value", "options.import_categories[0]"},
		{map[string]any{"options": map[string]any{"import_categories": []string{"a,b"}}}, 422, "invalid_value", "options.import_categories[0]"},
		{map[string]any{"options": map[string]any{"event_categories": []string{"Work"}}}, 422, "invalid_value", "options.event_categories"},
		{map[string]any{"options": map[string]any{"task_collection": "/dav/ann/todo/"}}, 422, "invalid_value", "options.task_collection"},
		{map[string]any{"options": map[string]any{"colection": "/dav/ann/work/"}}, 400, "unknown_field", "options.colection"},
		{map[string]any{"options": map[string]any{"import_categories": "VIP"}}, 400, "invalid_type", "options.import_categories"},
		{map[string]any{"options": "all"}, 400, "invalid_type", "options"},
		{map[string]any{"pasword": goodPassword}, 400, "unknown_field", "pasword"},
		{map[string]any{"kind": 1}, 400, "invalid_type", "kind"},
	} {
		r := p.connect(tc.body)
		p.wantErr(r, tc.status, tc.code, tc.field)
	}
	if p.pim.verifyCount() != before {
		t.Error("Verify called for a refused request")
	}
	if len(p.credentials()) != 0 || len(p.mustCall(200, "GET", "/api/v1/pim-accounts", p.token, nil).List) != 0 {
		t.Error("something was stored after refusals")
	}
}

func TestPIMUnavailable(t *testing.T) {
	t.Parallel()
	b := setup(t) // no PIM connector
	body := map[string]any{"kind": "carddav", "url": "https://dav.acme.test/", "username": "admin", "password": goodPassword}
	b.wantErr(b.do("POST", "/api/v1/pim-accounts", b.token, body), 503, "unavailable", "")
	b.wantErr(b.do("PATCH", "/api/v1/pim-accounts/1", b.token, map[string]any{}), 503, "unavailable", "")
	b.wantErr(b.do("POST", "/api/v1/pim-accounts/1/sync", b.token, nil), 503, "unavailable", "")
	if l := b.must(200, "GET", "/api/v1/pim-accounts", b.token, nil); len(l.List) != 0 {
		t.Errorf("list: %s", l.Raw)
	}
	b.wantErr(b.do("GET", "/api/v1/pim-accounts/1", b.token, nil), 404, "not_found", "")
}

// fence takes an account's sync lease, as the PIM loop does.
func (p *pimBundle) fence(accountID int64) store.Fence {
	p.t.Helper()
	l, err := p.st.ClaimLease(p.ctx, "pim", strconv.FormatInt(accountID, 10), "test-loop", time.Hour)
	if err != nil {
		p.t.Fatal(err)
	}
	return l.Fence()
}

func TestPIMUpdate(t *testing.T) {
	t.Parallel()
	p := setupPIM(t)
	id := p.connect(map[string]any{"options": map[string]any{"import_categories": []string{"VIP"}}}).ID()
	credID := p.pimAccount(id).CredentialID
	verified, woken := p.pim.verifyCount(), p.wokenCount(id)

	// Options alone: only those sent change, without a login.
	r := p.mustCall(200, "PATCH", pimPath(id), p.annToken, map[string]any{"options": map[string]any{"conflict_policy": "crm_wins"}})
	opts := obj(r.Body["options"])
	if opts["conflict_policy"] != "crm_wins" || fmt.Sprint(strs(opts["import_categories"])) != "[VIP]" || opts["collection"] != "/dav/ann/contacts/" {
		t.Errorf("after conflict_policy: %s", r.Raw)
	}
	r = p.mustCall(200, "PATCH", pimPath(id), p.annToken, map[string]any{"options": map[string]any{"import_categories": []string{}}})
	opts = obj(r.Body["options"])
	if opts["conflict_policy"] != "crm_wins" || fmt.Sprint(opts["import_categories"]) != "[]" {
		t.Errorf("after import_categories: %s", r.Raw)
	}
	if p.pim.verifyCount() != verified {
		t.Error("options alone logged in")
	}
	if p.wokenCount(id) != woken+2 {
		t.Errorf("woken %d times, want %d", p.wokenCount(id), woken+2)
	}
	if r.Str("state") != "connecting" || p.pimAccount(id).CredentialID != credID {
		t.Errorf("options changed the connection: %s", r.Raw)
	}

	// A collection the sync has not listed needs the password.
	r = p.call("PATCH", pimPath(id), p.annToken, map[string]any{"options": map[string]any{"collection": "/dav/ann/work/"}})
	p.wantErr(r, 422, "invalid_value", "options.collection")
	if _, _, msg := r.Err(); !strings.Contains(msg, "password") {
		t.Errorf("message %q", msg)
	}
	// Once the sync has listed it, it may be chosen alone.
	f := p.fence(id)
	for _, c := range []store.PIMCollection{{Href: "/dav/ann/contacts/", Kind: "contacts"}, {Href: "/dav/ann/work/", Kind: "contacts", DisplayName: "Work"}} {
		c.AccountID = id
		if _, err := p.st.PutPIMCollection(p.ctx, f, c); err != nil {
			t.Fatal(err)
		}
	}
	r = p.mustCall(200, "PATCH", pimPath(id), p.annToken, map[string]any{"options": map[string]any{"collection": "/dav/ann/work/"}})
	if obj(r.Body["options"])["collection"] != "/dav/ann/work/" || len(r.Body["collections"].([]any)) != 2 {
		t.Errorf("collection: %s", r.Raw)
	}
	p.wantErr(p.call("PATCH", pimPath(id), p.annToken, map[string]any{"options": map[string]any{"collection": "/dav/ann/other/"}}), 422, "invalid_value", "options.collection")

	// Validation of the options is the creation's.
	p.wantErr(p.call("PATCH", pimPath(id), p.annToken, map[string]any{"options": map[string]any{"conflict_policy": "mine"}}), 422, "invalid_value", "options.conflict_policy")
	p.wantErr(p.call("PATCH", pimPath(id), p.annToken, map[string]any{"options": map[string]any{"conflict_policy": nil}}), 422, "invalid_value", "options.conflict_policy")
	p.wantErr(p.call("PATCH", pimPath(id), p.annToken, map[string]any{"options": map[string]any{"event_categories": []string{"x"}}}), 422, "invalid_value", "options.event_categories")
	p.wantErr(p.call("PATCH", pimPath(id), p.annToken, map[string]any{"options": map[string]any{"colour": "red"}}), 400, "unknown_field", "options.colour")
	p.wantErr(p.call("PATCH", pimPath(id), p.annToken, map[string]any{"options": nil}), 422, "invalid_value", "options")
	p.wantErr(p.call("PATCH", pimPath(id), p.annToken, map[string]any{"url": "mailto:ann@acme.test"}), 422, "invalid_value", "url")
	// The password would travel in clear to another machine.
	p.wantErr(p.call("PATCH", pimPath(id), p.annToken, map[string]any{"url": "http://dav.acme.test/", "password": goodPassword}), 422, "plaintext_refused", "url")
	p.wantErr(p.call("POST", "/api/v1/pim-accounts", p.annToken, map[string]any{"kind": "carddav", "url": "http://10.0.0.5/dav/", "username": "ann", "password": goodPassword}),
		422, "plaintext_refused", "url")

	// A new server or username needs the password; a wrong one changes
	// nothing.
	p.wantErr(p.call("PATCH", pimPath(id), p.annToken, map[string]any{"url": "https://other.acme.test/"}), 422, "required", "password")
	p.wantErr(p.call("PATCH", pimPath(id), p.annToken, map[string]any{"username": "ann2"}), 422, "required", "password")
	p.wantErr(p.call("PATCH", pimPath(id), p.annToken, map[string]any{"password": ""}), 422, "required", "password")
	p.wantErr(p.call("PATCH", pimPath(id), p.annToken, map[string]any{"password": "hunter2"}), 422, "auth_failed", "")
	if a := p.pimAccount(id); a.URL != "https://dav.acme.test/dav/" || a.Options.Collection != "/dav/ann/work/" {
		t.Errorf("changed after a failed login: %+v", a)
	}

	// The sync met a changed password.
	if err := p.st.RecordPIMStatus(p.ctx, f, id, store.AccountStatus{State: crm.StateAuthFailed, ErrorCode: "auth_failed",
		ErrorMessage: "Incorrect password (or username) for ann on dav.acme.test.", Failures: 3}, false,
		&store.AccountEvent{At: p.clock.Now(), Kind: "error", Message: "Incorrect password."}); err != nil {
		t.Fatal(err)
	}
	r = p.mustCall(200, "GET", pimPath(id), p.annToken, nil)
	if st := obj(r.Body["status"]); r.Str("state") != "auth_failed" || st["code"] != "auth_failed" || !strings.Contains(st["message"].(string), "Incorrect password") {
		t.Errorf("in error: %s", r.Raw)
	}
	if h := r.Body["history"].([]any); len(h) != 1 || obj(h[0])["kind"] != "error" {
		t.Errorf("history %v", r.Body["history"])
	}
	if l := p.mustCall(200, "GET", "/api/v1/pim-accounts", p.annToken, nil); obj(obj(l.List[0])["status"])["code"] != "auth_failed" {
		t.Errorf("list: %s", l.Raw)
	}

	// The new password: verified, sealed in the same credential, and the
	// account reconnects at once.
	const newPassword = "new horse battery staple"
	p.secrets = append(p.secrets, newPassword)
	p.pim.setPassword(newPassword)
	woken = p.wokenCount(id)
	r = p.mustCall(200, "PATCH", pimPath(id), p.annToken, map[string]any{"password": newPassword})
	if r.Str("state") != "connecting" || r.Body["status"] != nil {
		t.Errorf("reconnected: %s", r.Raw)
	}
	if v := p.pim.lastVerify(t); v.Password != newPassword || v.URL != "https://dav.acme.test/dav/" {
		t.Errorf("verified %+v", v)
	}
	a := p.pimAccount(id)
	cred, err := p.st.GetCredential(p.ctx, p.orgID, a.CredentialID)
	if err != nil || a.CredentialID != credID || unseal(t, credID, cred.Ciphertext) != newPassword {
		t.Errorf("credential %s %v", a.CredentialID, err)
	}
	if a.Failures != 0 || a.ErrorCode != "" || a.NextAttemptAt != nil || p.wokenCount(id) != woken+1 {
		t.Errorf("after reconnect: %+v, woken %d", a, p.wokenCount(id))
	}

	// Another server: its collections; the one chosen before is not there,
	// so the first is picked.
	r = p.mustCall(200, "PATCH", pimPath(id), p.annToken, map[string]any{"url": "https://other.acme.test/", "password": newPassword})
	if r.Str("url") != "https://other.acme.test/" || obj(r.Body["options"])["collection"] != "/books/main/" {
		t.Errorf("moved: %s", r.Raw)
	}
	// A chosen collection is checked against the new server's.
	p.wantErr(p.call("PATCH", pimPath(id), p.annToken, map[string]any{"url": "https://dav.acme.test/", "password": newPassword,
		"options": map[string]any{"collection": "/books/main/"}}), 422, "invalid_value", "options.collection")
	r = p.mustCall(200, "PATCH", pimPath(id), p.annToken, map[string]any{"url": "https://dav.acme.test/", "password": newPassword,
		"options": map[string]any{"collection": "/dav/ann/work/"}})
	if obj(r.Body["options"])["collection"] != "/dav/ann/work/" {
		t.Errorf("moved back: %s", r.Raw)
	}

	// Two accounts of Ann cannot become the same one.
	other := p.mustCall(201, "POST", "/api/v1/pim-accounts", p.annToken, map[string]any{"kind": "carddav", "url": "https://other.acme.test/",
		"username": "ann", "password": newPassword}).ID()
	p.wantErr(p.call("PATCH", pimPath(other), p.annToken, map[string]any{"url": "https://dav.acme.test/", "password": newPassword}), 409, "conflict", "url")
}

func TestPIMSyncAndDelete(t *testing.T) {
	t.Parallel()
	p := setupPIM(t)
	id := p.connect(nil).ID()
	woken := p.wokenCount(id)

	r := p.mustCall(202, "POST", pimPath(id, "/sync"), p.annToken, nil)
	if r.ID() != id || !p.pimAccount(id).SyncRequested || p.wokenCount(id) != woken+1 {
		t.Errorf("sync: %s, requested %v, woken %d", r.Raw, p.pimAccount(id).SyncRequested, p.wokenCount(id))
	}
	p.mustCall(202, "POST", pimPath(id, "/sync"), p.token, nil) // an admin may too
	p.wantErr(p.call("POST", pimPath(id+100, "/sync"), p.annToken, nil), 404, "not_found", "")
	p.wantErr(p.call("POST", "/api/v1/pim-accounts/x/sync", p.annToken, nil), 400, "invalid_id", "id")

	// Deleting forgets the account and its password.
	credID := p.pimAccount(id).CredentialID
	p.wantErr(p.call("DELETE", pimPath(id), p.bobToken, nil), 404, "not_found", "")
	r = p.mustCall(204, "DELETE", pimPath(id), p.annToken, nil)
	if len(r.Raw) != 0 {
		t.Errorf("204 with a body: %s", r.Raw)
	}
	p.wantErr(p.call("GET", pimPath(id), p.annToken, nil), 404, "not_found", "")
	p.wantErr(p.call("DELETE", pimPath(id), p.annToken, nil), 404, "not_found", "")
	if _, err := p.st.GetCredential(p.ctx, p.orgID, credID); err == nil {
		t.Error("the credential outlived its account")
	}
	// It can be connected again.
	p.mustCall(201, "POST", "/api/v1/pim-accounts", p.annToken, map[string]any{"kind": "carddav", "url": "https://dav.acme.test/dav/", "username": "ann", "password": goodPassword})
}

func TestPIMAccountView(t *testing.T) {
	t.Parallel()
	p := setupPIM(t)
	id := p.mustCall(201, "POST", "/api/v1/pim-accounts", p.annToken, map[string]any{"kind": "caldav", "url": "https://dav.acme.test/", "username": "ann", "password": goodPassword}).ID()
	f := p.fence(id)
	annView := crm.Viewer{OrgID: p.orgID, UserID: p.ann, Role: crm.RoleMember}
	var cols []store.PIMCollection
	for _, c := range []store.PIMCollection{{Href: "/dav/ann/cal/", Kind: "events", DisplayName: "Calendar"}, {Href: "/dav/ann/cal/", Kind: "tasks", DisplayName: "Calendar"}} {
		c.AccountID = id
		c, err := p.st.PutPIMCollection(p.ctx, f, c)
		if err != nil {
			t.Fatal(err)
		}
		cols = append(cols, c)
	}
	now := p.clock.Now()
	crmID := int64(0)
	put := func(col store.PIMCollection, typ pim.RecordType, href, tomb, errMsg string) {
		t.Helper()
		crmID++
		it := &store.PIMItem{CollectionID: col.ID, RecordType: typ, CRMID: crmID, Href: href, UID: href, TombstoneSide: tomb, Error: errMsg}
		if errMsg != "" {
			it.CRMID = 0 // an unreadable item never reaches the CRM
		}
		if tomb != "" {
			it.TombstonedAt = &now
		}
		if _, err := p.st.ApplyPIMWrite(p.ctx, f, annView, store.PIMWrite{Item: it}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		put(cols[0], pim.RecordEvent, fmt.Sprintf("/dav/ann/cal/e%d.ics", i), "", "")
	}
	put(cols[0], pim.RecordEvent, "/dav/ann/cal/gone.ics", "remote", "")
	put(cols[0], pim.RecordEvent, "/dav/ann/cal/bad.ics", "", "the calendar object has no DTSTART")
	put(cols[1], pim.RecordTask, "/dav/ann/cal/t.ics", "", "")
	if err := p.st.RecordPIMStatus(p.ctx, f, id, store.AccountStatus{State: crm.StateInitialSync, ProgressDone: 6, ProgressTotal: 10}, false,
		&store.AccountEvent{At: now, Kind: "state", Message: "Matching both sides."}); err != nil {
		t.Fatal(err)
	}

	r := p.mustCall(200, "GET", pimPath(id), p.annToken, nil)
	counts := obj(r.Body["counts"])
	if num(counts["events"]) != 3 || num(counts["tasks"]) != 1 || num(counts["tombstoned"]) != 1 || num(counts["errors"]) != 1 ||
		num(counts["not_imported"]) != 1 || counts["contacts"] != nil {
		t.Errorf("counts %v", counts)
	}
	if ie := r.Body["item_errors"].([]any); len(ie) != 1 || obj(ie[0])["href"] != "/dav/ann/cal/bad.ics" || obj(ie[0])["record_type"] != "event" ||
		obj(ie[0])["error"] != "the calendar object has no DTSTART" {
		t.Errorf("item_errors %v", r.Body["item_errors"])
	}
	if c := r.Body["collections"].([]any); len(c) != 2 || obj(c[0])["href"] != "/dav/ann/cal/" || obj(c[0])["display_name"] != "Calendar" {
		t.Errorf("collections %v", r.Body["collections"])
	}
	if pr := obj(r.Body["progress"]); num(pr["done"]) != 6 || num(pr["total"]) != 10 || r.Body["status"] != nil || r.Str("state") != "initial_sync" {
		t.Errorf("progress: %s", r.Raw)
	}
	if h := r.Body["history"].([]any); len(h) != 1 || obj(h[0])["message"] != "Matching both sides." {
		t.Errorf("history %v", r.Body["history"])
	}
}

// TestContactPIMFields covers the contact fields address books carry:
// title, address, notes and categories.
func TestContactPIMFields(t *testing.T) {
	t.Parallel()
	b := setup(t)
	r := b.must(201, "POST", "/api/v1/contacts", b.token, map[string]any{"first_name": "Alice", "title": " CEO ", "notes": "Met at the fair.\nLikes tea.",
		"address":    map[string]any{"street": "1 Main St\nSuite 2", "city": " Springfield ", "postal_code": "12345", "country": "USA"},
		"categories": []string{" VIP ", "Fair 2030", "VIP"}})
	id := r.ID()
	addr := obj(r.Body["address"])
	if r.Str("title") != "CEO" || r.Str("notes") != "Met at the fair.\nLikes tea." || addr["street"] != "1 Main St\nSuite 2" || addr["city"] != "Springfield" ||
		addr["postal_code"] != "12345" || addr["country"] != "USA" || addr["region"] != nil || fmt.Sprint(r.Body["categories"]) != "[VIP Fair 2030]" {
		t.Errorf("created %s", r.Raw)
	}
	// A contact without them has them empty.
	r = b.must(201, "POST", "/api/v1/contacts", b.token, map[string]any{"first_name": "Bob"})
	if r.Str("title") != "" || r.Str("notes") != "" || len(obj(r.Body["address"])) != 0 || fmt.Sprint(r.Body["categories"]) != "[]" {
		t.Errorf("bare contact %s", r.Raw)
	}

	// PATCH: only the fields sent; the address is replaced whole, null
	// removes it.
	p := fmt.Sprintf("/api/v1/contacts/%d", id)
	r = b.must(200, "PATCH", p, b.token, map[string]any{"address": map[string]any{"city": "Shelbyville"}})
	if addr := obj(r.Body["address"]); len(addr) != 1 || addr["city"] != "Shelbyville" || r.Str("title") != "CEO" || fmt.Sprint(r.Body["categories"]) != "[VIP Fair 2030]" {
		t.Errorf("after address: %s", r.Raw)
	}
	r = b.must(200, "PATCH", p, b.token, map[string]any{"title": "", "categories": []string{"Partner"}, "notes": "Moved."})
	if r.Str("title") != "" || fmt.Sprint(r.Body["categories"]) != "[Partner]" || r.Str("notes") != "Moved." || obj(r.Body["address"])["city"] != "Shelbyville" {
		t.Errorf("after title: %s", r.Raw)
	}
	r = b.must(200, "PATCH", p, b.token, map[string]any{"address": nil})
	if len(obj(r.Body["address"])) != 0 {
		t.Errorf("address removed: %s", r.Raw)
	}
	if r := b.must(200, "GET", p, b.token, nil); fmt.Sprint(r.Body["categories"]) != "[Partner]" || r.Str("notes") != "Moved." {
		t.Errorf("read back %s", r.Raw)
	}

	// Validation names the field.
	b.wantErr(b.do("POST", "/api/v1/contacts", b.token, map[string]any{"first_name": "A", "title": strings.Repeat("t", 201)}), 422, "invalid_value", "title")
	b.wantErr(b.do("POST", "/api/v1/contacts", b.token, map[string]any{"first_name": "A", "address": map[string]any{"zip": "1"}}), 400, "unknown_field", "address.zip")
	b.wantErr(b.do("POST", "/api/v1/contacts", b.token, map[string]any{"first_name": "A", "address": map[string]any{"city": 1}}), 400, "invalid_type", "address.city")
	b.wantErr(b.do("POST", "/api/v1/contacts", b.token, map[string]any{"first_name": "A", "address": map[string]any{"street": strings.Repeat("s", 1001)}}), 422, "invalid_value", "address.street")
	b.wantErr(b.do("POST", "/api/v1/contacts", b.token, map[string]any{"first_name": "A", "categories": []string{"ok", ""}}), 422, "invalid_value", "categories[1]")
	b.wantErr(b.do("POST", "/api/v1/contacts", b.token, map[string]any{"first_name": "A", "categories": []string{"Base Lead"}}), 422, "invalid_value", "categories[0]")
	b.wantErr(b.do("PATCH", p, b.token, map[string]any{"address": map[string]any{"zip": "1"}}), 400, "unknown_field", "address.zip")
	b.wantErr(b.do("PATCH", p, b.token, map[string]any{"categories": nil}), 422, "invalid_value", "categories")
	b.wantErr(b.do("PATCH", p, b.token, map[string]any{"notes": nil}), 422, "invalid_value", "notes")
}

// TestPIMWakeOnRecordChange: a contact, task or event written through the
// API wakes the PIM loops of its owner and of the managers above them.
func TestPIMWakeOnRecordChange(t *testing.T) {
	t.Parallel()
	p := setupPIM(t)
	annAcct := p.connect(nil)
	if annAcct.Status != 201 {
		t.Fatalf("connect: %d %v", annAcct.Status, annAcct.Body)
	}
	id := annAcct.ID()
	// Ann's manager has an account too.
	mgr, mgrToken := p.user("boss@acme.test", "manager", 0)
	p.mustCall(200, "PATCH", fmt.Sprintf("/api/v1/users/%d", p.ann), p.token, map[string]any{"manager_id": mgr})
	mgrAcct := p.mustCall(201, "POST", "/api/v1/pim-accounts", mgrToken, map[string]any{"kind": "carddav", "url": "https://dav.acme.test/dav/",
		"username": "boss", "password": goodPassword}).ID()
	before, beforeMgr := p.wokenCount(id), p.wokenCount(mgrAcct)
	ct := p.mustCall(201, "POST", "/api/v1/contacts", p.annToken, map[string]any{"first_name": "Grace", "emails": []string{"grace@navy.example"}}).ID()
	p.mustCall(200, "PATCH", fmt.Sprintf("/api/v1/contacts/%d", ct), p.annToken, map[string]any{"title": "Rear Admiral"})
	p.mustCall(201, "POST", "/api/v1/tasks", p.annToken, map[string]any{"summary": "Call Grace"})
	p.mustCall(201, "POST", "/api/v1/events", p.annToken, map[string]any{"summary": "Lunch", "start": "2026-12-01T12:00:00Z", "end": "2026-12-01T13:00:00Z"})
	if got := p.wokenCount(id) - before; got != 4 {
		t.Errorf("Ann's loop woken %d times for 4 changes", got)
	}
	if got := p.wokenCount(mgrAcct) - beforeMgr; got != 4 {
		t.Errorf("her manager's loop woken %d times for 4 changes", got)
	}
}

// TestPIMCollectionFromURL: without options.collection, the collection the
// account's address names is the one synced (users copy an address
// book's own URL from their app), else the first.
func TestPIMCollectionFromURL(t *testing.T) {
	t.Parallel()
	p := setupPIM(t)
	r := p.connect(map[string]any{"url": "https://dav.acme.test/dav/ann/work"})
	if r.Status != 201 || obj(r.Body["options"])["collection"] != "/dav/ann/work/" {
		t.Fatalf("address of the Work book: %d %v", r.Status, r.Body["options"])
	}
	r = p.mustCall(201, "POST", "/api/v1/pim-accounts", p.annToken, map[string]any{"kind": "caldav", "url": "https://dav.acme.test/dav/ann/meetings/",
		"username": "ann", "password": goodPassword})
	if o := obj(r.Body["options"]); o["collection"] != "/dav/ann/meetings/" || o["task_collection"] != "/dav/ann/cal/" {
		t.Errorf("address of the Meetings calendar: %v", o)
	}
}
