package api_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// mailFrom is a message from one address to others, as the sync loop
// would store it.
func mailFrom(uid uint32, subject string, date time.Time, from string, to ...string) crm.Email {
	e := testEmail(7, uid, subject, date)
	e.Participants = crm.Participants{From: []crm.Address{{Email: from}}}
	for _, a := range to {
		e.Participants.To = append(e.Participants.To, crm.Address{Email: a})
	}
	return e
}

// inbox connects Ann's mailbox and stores msgs in its INBOX under the sync
// lease; the messages come back with their ids.
func (m *mailBundle) inbox(msgs ...crm.Email) (accountID int64, fence store.Fence, saved []crm.Email) {
	m.t.Helper()
	accountID = m.connectAnn()
	fence = m.lease(accountID)
	folders := m.syncFolders(fence, accountID, store.FolderInfo{Name: "INBOX", Role: "inbox"})
	saved = m.save(fence, folders["INBOX"], store.FolderCursor{Token: fmt.Sprint(uint32(len(msgs) + 1)), ServerCount: uint32(len(msgs))}, msgs...)
	return accountID, fence, saved
}

// timeline lists a record's messages (GET /api/v1/messages?<param>=id).
func (m *mailBundle) timeline(token, param string, id int64) []int64 {
	m.t.Helper()
	r := m.mustCall(200, "GET", fmt.Sprintf("/api/v1/messages?%s=%d", param, id), token, nil)
	for _, it := range r.List {
		if l, ok := obj(it)["links"].([]any); !ok || len(l) != 0 {
			m.t.Errorf("a list item's links should be []: %v", obj(it)["links"])
		}
	}
	return ids(r.List)
}

// links returns a message's links as "type:id:source", sorted.
func (m *mailBundle) links(token string, emailID int64) []string {
	m.t.Helper()
	r := m.mustCall(200, "GET", fmt.Sprintf("/api/v1/messages/%d", emailID), token, nil)
	return linkStrings(m.t, r.Body["links"])
}

func linkStrings(t *testing.T, v any) []string {
	t.Helper()
	list, ok := v.([]any)
	if !ok {
		t.Fatalf("links is not a list: %v", v)
	}
	out := []string{}
	for _, it := range list {
		l := obj(it)
		if l["created_at"] == nil {
			t.Errorf("link without created_at: %v", l)
		}
		out = append(out, fmt.Sprintf("%s:%d:%s", l["type"], num(l["id"]), l["source"]))
	}
	slices.Sort(out)
	return out
}

func same(got []int64, want ...int64) bool {
	return slices.Equal(got, want) || (len(got) == 0 && len(want) == 0)
}

func TestRecordChangesLinkPastEmails(t *testing.T) {
	t.Parallel()
	m := setupMail(t)
	t0 := time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC)
	_, _, msgs := m.inbox(
		mailFrom(1, "Hello from Carol", t0, "carol@client.test", "ann@acme.test"),
		mailFrom(2, "Globex order", t0.Add(1*time.Hour), "buyer@globex.test", "ann@acme.test"),
		mailFrom(3, "EU subsidiary", t0.Add(2*time.Hour), "hans@eu.globex.test", "ann@acme.test", "Carol@Client.test"),
		mailFrom(4, "Personal", t0.Add(3*time.Hour), "globex.fan@gmail.com", "ann@acme.test"),
		mailFrom(5, "Internal", t0.Add(4*time.Hour), "bob@acme.test", "ann@acme.test"),
	)
	e1, e2, e3, e4, e5 := msgs[0].ID, msgs[1].ID, msgs[2].ID, msgs[3].ID, msgs[4].ID

	// Adding a contact links its past emails, newest first.
	carol := m.mustCall(201, "POST", "/api/v1/contacts", m.annToken, map[string]any{"first_name": "Carol", "emails": []string{"CAROL@client.test"}}).ID()
	if got := m.timeline(m.annToken, "contact_id", carol); !same(got, e3, e1) {
		t.Errorf("Carol's timeline = %v, want %v", got, []int64{e3, e1})
	}
	// A contact gaining an address links that address's past emails too.
	dave := m.mustCall(201, "POST", "/api/v1/contacts", m.annToken, map[string]any{"first_name": "Dave"}).ID()
	if got := m.timeline(m.annToken, "contact_id", dave); !same(got) {
		t.Errorf("Dave without an address has %v", got)
	}
	m.mustCall(200, "PATCH", fmt.Sprintf("/api/v1/contacts/%d", dave), m.annToken, map[string]any{"emails": []string{"globex.fan@gmail.com"}})
	if got := m.timeline(m.annToken, "contact_id", dave); !same(got, e4) {
		t.Errorf("Dave's timeline = %v, want %v", got, []int64{e4})
	}

	// Adding a company domain links its past emails, subdomains included.
	globex := m.mustCall(201, "POST", "/api/v1/companies", m.annToken, map[string]any{"name": "Globex"}).ID()
	if got := m.timeline(m.annToken, "company_id", globex); !same(got) {
		t.Errorf("Globex without a domain has %v", got)
	}
	m.mustCall(200, "PATCH", fmt.Sprintf("/api/v1/companies/%d", globex), m.annToken, map[string]any{"domains": []string{"globex.test"}})
	if got := m.timeline(m.annToken, "company_id", globex); !same(got, e3, e2) {
		t.Errorf("Globex's timeline = %v, want %v", got, []int64{e3, e2})
	}
	// A company created with a domain links at once. Never through a
	// free-mail domain.
	initech := m.mustCall(201, "POST", "/api/v1/companies", m.annToken, map[string]any{"name": "Client Inc", "domains": []string{"client.test"}}).ID()
	if got := m.timeline(m.annToken, "company_id", initech); !same(got, e3, e1) {
		t.Errorf("Client Inc's timeline = %v", got)
	}
	gmail := m.mustCall(201, "POST", "/api/v1/companies", m.annToken, map[string]any{"name": "Google", "domains": []string{"gmail.com"}}).ID()
	if got := m.timeline(m.annToken, "company_id", gmail); !same(got) {
		t.Errorf("a free-mail domain linked %v", got)
	}

	// Never through the organisation's own domains, once an admin has said
	// which they are; existing links follow at the company's next change.
	acme := m.mustCall(201, "POST", "/api/v1/companies", m.annToken, map[string]any{"name": "Acme", "domains": []string{"acme.test"}}).ID()
	if got := m.timeline(m.annToken, "company_id", acme); len(got) != 5 {
		t.Errorf("before own domains are set, acme.test links every message: %v", got)
	}
	m.mustCall(200, "PUT", "/api/v1/org/linking", m.token, map[string]any{"own_domains": []string{"acme.test"}, "freemail_domains": []string{}})
	m.mustCall(200, "PATCH", fmt.Sprintf("/api/v1/companies/%d", acme), m.annToken, map[string]any{"name": "Acme Corp"})
	if got := m.timeline(m.annToken, "company_id", acme); !same(got) {
		t.Errorf("the organisation's own domain links %v", got)
	}

	// Open opportunities of the linked companies and contacts.
	deal := m.mustCall(201, "POST", "/api/v1/opportunities", m.annToken, map[string]any{"name": "Globex deal", "company_id": globex}).ID()
	if got := m.timeline(m.annToken, "opportunity_id", deal); !same(got, e3, e2) {
		t.Errorf("the deal's timeline = %v", got)
	}
	carolDeal := m.mustCall(201, "POST", "/api/v1/opportunities", m.annToken, map[string]any{"name": "Carol's deal", "contact_ids": []int64{carol}}).ID()
	if got := m.timeline(m.annToken, "opportunity_id", carolDeal); !same(got, e3, e1) {
		t.Errorf("Carol's deal's timeline = %v", got)
	}
	// A won deal keeps the history of how it was won.
	m.mustCall(200, "PATCH", fmt.Sprintf("/api/v1/opportunities/%d", deal), m.annToken, map[string]any{"status": "won"})
	if got := m.timeline(m.annToken, "opportunity_id", deal); !same(got, e3, e2) {
		t.Errorf("the won deal's timeline = %v", got)
	}
	if got := m.links(m.annToken, e2); !slices.Equal(got, []string{fmt.Sprintf("company:%d:auto", globex), fmt.Sprintf("opportunity:%d:auto", deal)}) {
		t.Errorf("links of e2 = %v", got)
	}

	// Removing an address unlinks its emails, and the opportunities that
	// came through it.
	m.mustCall(200, "PATCH", fmt.Sprintf("/api/v1/contacts/%d", carol), m.annToken, map[string]any{"emails": []string{}})
	if got := m.timeline(m.annToken, "contact_id", carol); !same(got) {
		t.Errorf("Carol without her address still has %v", got)
	}
	if got := m.timeline(m.annToken, "opportunity_id", carolDeal); !same(got) {
		t.Errorf("Carol's deal still has %v", got)
	}
	// Deleting a record unlinks it.
	m.mustCall(204, "DELETE", fmt.Sprintf("/api/v1/contacts/%d", dave), m.annToken, nil)
	if got := m.links(m.annToken, e4); len(got) != 0 {
		t.Errorf("links of e4 after Dave's deletion = %v", got)
	}
	if got := m.links(m.annToken, e5); len(got) != 0 {
		t.Errorf("an internal message is linked: %v", got)
	}

	// A timeline is one record's, seen by whoever may see the record.
	m.wantErr(m.call("GET", fmt.Sprintf("/api/v1/messages?company_id=%d", globex), m.bobToken, nil), 404, "not_found", "")
	m.wantErr(m.call("GET", fmt.Sprintf("/api/v1/messages?contact_id=%d", carol), m.bobToken, nil), 404, "not_found", "")
	m.wantErr(m.call("GET", fmt.Sprintf("/api/v1/messages?opportunity_id=%d", deal), m.bobToken, nil), 404, "not_found", "")
	m.wantErr(m.call("GET", "/api/v1/messages?company_id=99999", m.annToken, nil), 404, "not_found", "")
	m.wantErr(m.call("GET", fmt.Sprintf("/api/v1/messages?company_id=%d&contact_id=%d", globex, carol), m.annToken, nil), 400, "invalid_parameter", "contact_id")
	m.wantErr(m.call("GET", "/api/v1/messages?opportunity_id=x", m.annToken, nil), 400, "invalid_parameter", "opportunity_id")
	if r := m.mustCall(200, "GET", fmt.Sprintf("/api/v1/messages?company_id=%d", globex), m.token, nil); !same(ids(r.List), e3, e2) {
		t.Errorf("the admin sees Globex's timeline as %v", ids(r.List))
	}
	r := m.mustCall(200, "GET", fmt.Sprintf("/api/v1/messages?company_id=%d&limit=1", globex), m.annToken, nil)
	if !same(ids(r.List), e3) || r.Str("next_cursor") == "" {
		t.Errorf("first page of a timeline: %s", r.Raw)
	}
}

// failingRelink is a store whose relinking fails.
type failingRelink struct {
	store.Store
}

func (failingRelink) Relink(ctx context.Context, orgID int64, t crm.LinkType, id int64) error {
	return errors.New("relink exploded")
}

func TestRelinkFailureIsLoggedNotFatal(t *testing.T) {
	t.Parallel()
	b := setup(t, bundleOpts{wrap: func(s store.Store) store.Store { return failingRelink{s} }})
	r := b.must(201, "POST", "/api/v1/companies", b.token, map[string]any{"name": "Globex", "domains": []string{"globex.test"}})
	id := r.ID()
	b.must(200, "GET", fmt.Sprintf("/api/v1/companies/%d", id), b.token, nil) // the record is saved
	rid := r.Header.Get("X-Request-Id")
	var line string
	for l := range strings.SplitSeq(b.logs.String(), "\n") {
		if strings.Contains(l, "relinking emails failed") {
			line = l
		}
	}
	if !strings.Contains(line, `"level":"ERROR"`) || !strings.Contains(line, rid) || !strings.Contains(line, "relink exploded") {
		t.Errorf("the failure is not logged at error level with the request id %s:\n%s", rid, b.logs.String())
	}
	b.must(200, "PATCH", fmt.Sprintf("/api/v1/companies/%d", id), b.token, map[string]any{"name": "Globex Corp"})
	b.must(201, "POST", "/api/v1/contacts", b.token, map[string]any{"first_name": "Carol"})
	b.must(201, "POST", "/api/v1/opportunities", b.token, map[string]any{"name": "Deal"})
	if n := strings.Count(b.logs.String(), "relinking emails failed"); n != 4 {
		t.Errorf("%d relink failures logged, want 4", n)
	}
}

func TestManualLinks(t *testing.T) {
	t.Parallel()
	m := setupMail(t)
	t0 := time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC)
	_, _, msgs := m.inbox(
		mailFrom(1, "Hello from Carol", t0, "carol@client.test", "ann@acme.test"),
		mailFrom(2, "Another", t0.Add(time.Hour), "carol@client.test", "ann@acme.test"),
	)
	e1, e2 := msgs[0].ID, msgs[1].ID
	carol := m.mustCall(201, "POST", "/api/v1/contacts", m.annToken, map[string]any{"first_name": "Carol", "emails": []string{"carol@client.test"}}).ID()
	globex := m.mustCall(201, "POST", "/api/v1/companies", m.annToken, map[string]any{"name": "Globex"}).ID()
	secret := m.mustCall(201, "POST", "/api/v1/companies", m.bobToken, map[string]any{"name": "Bob's secret client"}).ID()
	linksPath := fmt.Sprintf("/api/v1/messages/%d/links", e1)
	if got := m.links(m.annToken, e1); !slices.Equal(got, []string{fmt.Sprintf("contact:%d:auto", carol)}) {
		t.Fatalf("links of e1 = %v", got)
	}

	// A manual link says so, and shows in the record's timeline.
	r := m.mustCall(201, "POST", linksPath, m.annToken, map[string]any{"type": "company", "id": globex})
	want := []string{fmt.Sprintf("company:%d:manual", globex), fmt.Sprintf("contact:%d:auto", carol)}
	if got := linkStrings(t, r.Body["links"]); !slices.Equal(got, want) {
		t.Errorf("after linking: %v, want %v", got, want)
	}
	if got := m.timeline(m.annToken, "company_id", globex); !same(got, e1) {
		t.Errorf("Globex's timeline = %v", got)
	}
	// Linking again is harmless.
	m.mustCall(201, "POST", linksPath, m.annToken, map[string]any{"type": "company", "id": globex})

	// A manual unlink survives relinking, whatever triggers it.
	m.mustCall(204, "DELETE", fmt.Sprintf("%s/contact/%d", linksPath, carol), m.annToken, nil)
	if got := m.links(m.annToken, e1); !slices.Equal(got, []string{fmt.Sprintf("company:%d:manual", globex)}) {
		t.Errorf("after unlinking Carol: %v", got)
	}
	m.mustCall(200, "PATCH", fmt.Sprintf("/api/v1/contacts/%d", carol), m.annToken, map[string]any{"emails": []string{"carol@client.test", "carol@home.test"}})
	if err := m.st.Relink(m.ctx, m.orgID, crm.LinkContact, carol); err != nil {
		t.Fatal(err)
	}
	if got := m.timeline(m.annToken, "contact_id", carol); !same(got, e2) {
		t.Errorf("Carol's timeline after relinking = %v, want only %d", got, e2)
	}
	// And so does a manual link: a domain change relinks the company.
	m.mustCall(200, "PATCH", fmt.Sprintf("/api/v1/companies/%d", globex), m.annToken, map[string]any{"domains": []string{"globex.test"}})
	if got := m.links(m.annToken, e1); !slices.Equal(got, []string{fmt.Sprintf("company:%d:manual", globex)}) {
		t.Errorf("after relinking Globex: %v", got)
	}
	// A manual link brings an unlinked record back.
	r = m.mustCall(201, "POST", linksPath, m.annToken, map[string]any{"type": "contact", "id": carol})
	if got := linkStrings(t, r.Body["links"]); !slices.Contains(got, fmt.Sprintf("contact:%d:manual", carol)) {
		t.Errorf("relinked by hand: %v", got)
	}
	// Removing a manual link.
	m.mustCall(204, "DELETE", fmt.Sprintf("%s/company/%d", linksPath, globex), m.annToken, nil)
	if got := m.timeline(m.annToken, "company_id", globex); !same(got) {
		t.Errorf("Globex's timeline after the unlink = %v", got)
	}
	// Unlinking ahead of time: a record not linked yet, never linked then.
	m.mustCall(204, "DELETE", fmt.Sprintf("/api/v1/messages/%d/links/company/%d", e2, globex), m.annToken, nil)
	m.mustCall(200, "PATCH", fmt.Sprintf("/api/v1/companies/%d", globex), m.annToken, map[string]any{"domains": []string{"client.test"}})
	if got := m.timeline(m.annToken, "company_id", globex); !same(got) {
		t.Errorf("Globex's timeline after the domain change = %v", got)
	}

	// Validation names the field.
	m.wantErr(m.call("POST", linksPath, m.annToken, map[string]any{"id": globex}), 422, "required", "type")
	m.wantErr(m.call("POST", linksPath, m.annToken, map[string]any{"type": "deal", "id": globex}), 422, "invalid_value", "type")
	m.wantErr(m.call("POST", linksPath, m.annToken, map[string]any{"type": "company"}), 422, "required", "id")
	m.wantErr(m.call("POST", linksPath, m.annToken, map[string]any{"type": "company", "id": 0}), 422, "invalid_value", "id")
	m.wantErr(m.call("POST", linksPath, m.annToken, map[string]any{"type": "company", "id": secret}), 422, "not_found", "id")
	m.wantErr(m.call("POST", linksPath, m.annToken, map[string]any{"type": "opportunity", "id": 99999}), 422, "not_found", "id")
	m.wantErr(m.call("POST", linksPath, m.annToken, map[string]any{"type": "company", "id": "1"}), 400, "invalid_type", "id")
	m.wantErr(m.call("POST", linksPath, m.annToken, map[string]any{"type": "company", "id": globex, "source": "manual"}), 400, "unknown_field", "source")
	m.wantErr(m.call("POST", linksPath, m.bobToken, map[string]any{"type": "company", "id": secret}), 404, "not_found", "")
	m.wantErr(m.call("POST", "/api/v1/messages/99999/links", m.annToken, map[string]any{"type": "company", "id": globex}), 404, "not_found", "")
	m.wantErr(m.call("DELETE", fmt.Sprintf("%s/deal/%d", linksPath, globex), m.annToken, nil), 400, "invalid_parameter", "type")
	m.wantErr(m.call("DELETE", linksPath+"/company/0", m.annToken, nil), 400, "invalid_id", "target_id")
	m.wantErr(m.call("DELETE", linksPath+"/company/99999", m.annToken, nil), 404, "not_found", "")
	m.wantErr(m.call("DELETE", fmt.Sprintf("%s/company/%d", linksPath, secret), m.annToken, nil), 404, "not_found", "")
	m.wantErr(m.call("DELETE", fmt.Sprintf("%s/contact/%d", linksPath, carol), m.bobToken, nil), 404, "not_found", "")
	if got := m.links(m.annToken, e1); !slices.Equal(got, []string{fmt.Sprintf("contact:%d:manual", carol)}) {
		t.Errorf("refused requests changed the links: %v", got)
	}
}

func TestLinkingSettings(t *testing.T) {
	t.Parallel()
	m := setupMail(t)
	r := m.mustCall(200, "GET", "/api/v1/org/linking", m.annToken, nil)
	builtin, _ := r.Body["builtin_freemail_domains"].([]any)
	if fmt.Sprint(r.Body["own_domains"]) != "[]" || fmt.Sprint(r.Body["freemail_domains"]) != "[]" || !slices.Contains(builtin, any("gmail.com")) ||
		!slices.IsSortedFunc(builtin, func(a, b any) int { return strings.Compare(a.(string), b.(string)) }) {
		t.Errorf("initial settings: %s", r.Raw)
	}

	m.wantErr(m.call("PUT", "/api/v1/org/linking", m.annToken, map[string]any{"own_domains": []string{}, "freemail_domains": []string{}}), 403, "forbidden", "")
	m.wantErr(m.call("PUT", "/api/v1/org/linking", m.token, map[string]any{"own_domains": []string{"acme.test"}}), 422, "required", "freemail_domains")
	m.wantErr(m.call("PUT", "/api/v1/org/linking", m.token, map[string]any{"freemail_domains": []string{}}), 422, "required", "own_domains")
	m.wantErr(m.call("PUT", "/api/v1/org/linking", m.token, map[string]any{"own_domains": []string{"acme.test", "acme.io", "not a domain"}, "freemail_domains": []string{}}), 422, "invalid_value", "own_domains[2]")
	m.wantErr(m.call("PUT", "/api/v1/org/linking", m.token, map[string]any{"own_domains": []string{}, "freemail_domains": []string{"x"}}), 422, "invalid_value", "freemail_domains[0]")
	m.wantErr(m.call("PUT", "/api/v1/org/linking", m.token, map[string]any{"own_domains": []string{}, "freemail_domains": []string{}, "builtin_freemail_domains": []string{}}), 400, "unknown_field", "builtin_freemail_domains")

	r = m.mustCall(200, "PUT", "/api/v1/org/linking", m.token, map[string]any{
		"own_domains": []string{"Acme.test", "https://www.acme.test/", "acme-corp.test"}, "freemail_domains": []string{"@Mail.Example."}})
	if fmt.Sprint(r.Body["own_domains"]) != "[acme.test acme-corp.test]" || fmt.Sprint(r.Body["freemail_domains"]) != "[mail.example]" || r.Body["builtin_freemail_domains"] == nil {
		t.Errorf("saved settings: %s", r.Raw)
	}
	if got := m.mustCall(200, "GET", "/api/v1/org/linking", m.annToken, nil); fmt.Sprint(got.Body["own_domains"]) != "[acme.test acme-corp.test]" {
		t.Errorf("read back: %s", got.Raw)
	}
	own, freemail, err := m.st.LinkingRules(m.ctx, m.orgID)
	if err != nil || fmt.Sprint(own, freemail) != "[acme.test acme-corp.test] [mail.example]" {
		t.Errorf("stored rules: %v %v %v", own, freemail, err)
	}

	// New mail follows the rules: an added free-mail domain links no
	// company.
	t0 := time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC)
	mailCo := m.mustCall(201, "POST", "/api/v1/companies", m.annToken, map[string]any{"name": "Mail Example", "domains": []string{"mail.example"}}).ID()
	client := m.mustCall(201, "POST", "/api/v1/companies", m.annToken, map[string]any{"name": "Client", "domains": []string{"client.test"}}).ID()
	_, _, msgs := m.inbox(mailFrom(1, "From a free-mail user", t0, "someone@mail.example", "ann@acme.test"),
		mailFrom(2, "From a client", t0.Add(time.Hour), "carol@client.test", "ann@acme.test"))
	if got := m.timeline(m.annToken, "company_id", mailCo); !same(got) {
		t.Errorf("a free-mail domain of the organisation's list linked %v", got)
	}
	if got := m.timeline(m.annToken, "company_id", client); !same(got, msgs[1].ID) {
		t.Errorf("Client's timeline = %v", got)
	}

	// An empty PUT clears the lists.
	r = m.mustCall(200, "PUT", "/api/v1/org/linking", m.token, map[string]any{"own_domains": []string{}, "freemail_domains": []string{}})
	if fmt.Sprint(r.Body["own_domains"]) != "[]" || fmt.Sprint(r.Body["freemail_domains"]) != "[]" {
		t.Errorf("cleared: %s", r.Raw)
	}
}

// TestRelinkLargeMailbox checks that a new contact and a new company
// domain link the past emails of a 10,000-message mailbox within seconds.
func TestRelinkLargeMailbox(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("stores 10,000 messages and measures time: not in -short mode, nor under the race detector")
	}
	t.Parallel()
	m := setupMail(t)
	account := m.connectAnn()
	fence := m.lease(account)
	inbox := m.syncFolders(fence, account, store.FolderInfo{Name: "INBOX", Role: "inbox"})["INBOX"]
	t0 := time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)
	const total, batch = 10000, 500
	for lo := 0; lo < total; lo += batch {
		var msgs []crm.Email
		for i := lo; i < lo+batch; i++ {
			from := fmt.Sprintf("person%d@domain%d.test", i%700, i%300)
			if i%10 == 0 {
				from = "carol@bigclient.test" // 1,000 of them
			}
			msgs = append(msgs, mailFrom(uint32(i+1), fmt.Sprintf("Message %d", i), t0.Add(time.Duration(i)*time.Minute), from, "ann@acme.test"))
		}
		m.save(fence, inbox, store.FolderCursor{Token: fmt.Sprint(uint32(lo + batch + 1)), ServerCount: uint32(lo + batch)}, msgs...)
	}

	start := time.Now()
	carol := m.mustCall(201, "POST", "/api/v1/contacts", m.annToken, map[string]any{"first_name": "Carol", "emails": []string{"carol@bigclient.test"}}).ID()
	contactTook := time.Since(start)
	start = time.Now()
	co := m.mustCall(201, "POST", "/api/v1/companies", m.annToken, map[string]any{"name": "Domain 7", "domains": []string{"domain7.test"}}).ID()
	companyTook := time.Since(start)
	t.Logf("linking a contact took %v, a company domain %v", contactTook, companyTook)
	if contactTook > 10*time.Second || companyTook > 10*time.Second {
		t.Errorf("linking is too slow: contact %v, company %v", contactTook, companyTook)
	}
	count := func(param string, id int64) int {
		n := 0
		cursor := ""
		for {
			path := fmt.Sprintf("/api/v1/messages?%s=%d&limit=500", param, id)
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			r := m.mustCall(200, "GET", path, m.annToken, nil)
			n += len(r.List)
			if cursor = r.Str("next_cursor"); cursor == "" {
				return n
			}
		}
	}
	// i%10 == 0 is Carol's; the others from domain7 are i%300 == 7.
	wantCompany := 0
	for i := range total {
		if i%10 != 0 && i%300 == 7 {
			wantCompany++
		}
	}
	if n := count("contact_id", carol); n != total/10 {
		t.Errorf("Carol's timeline has %d messages, want %d", n, total/10)
	}
	if n := count("company_id", co); n != wantCompany {
		t.Errorf("the company's timeline has %d messages, want %d", n, wantCompany)
	}
}
