package googlepim_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/google"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/googlepim"
	"github.com/crmsync/crmsync/internal/testpeer/googlefake"
)

// peer is the fake behind an httptest server and a client of it. drop,
// when it returns true for a request, lets the fake serve it and then
// breaks the connection before the answer: a lost answer.
type peer struct {
	api  *googlefake.API
	srv  *httptest.Server
	c    *cloudapi.Client
	drop atomic.Pointer[func(*http.Request) bool]
}

func newPeer(t *testing.T) *peer {
	t.Helper()
	p := &peer{api: googlefake.NewAPI()}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f := p.drop.Load(); f != nil && (*f)(r) {
			p.api.ServeHTTP(httptest.NewRecorder(), r)
			if hj, ok := w.(http.Hijacker); ok {
				conn, _, err := hj.Hijack()
				if err == nil {
					conn.Close()
				}
			}
			return
		}
		p.api.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	c, err := google.New(google.Config{APIURL: p.srv.URL, HTTP: p.srv.Client(), Backoff: 20 * time.Millisecond, MaxWait: 10 * time.Second,
		Tokens: func(context.Context, string) (string, error) { return "tok", nil }})
	if err != nil {
		t.Fatal(err)
	}
	p.c = c
	return p
}

// dropOnce loses the answer of the first request f matches.
func (p *peer) dropOnce(f func(*http.Request) bool) {
	var done atomic.Bool
	g := func(r *http.Request) bool { return f(r) && done.CompareAndSwap(false, true) }
	p.drop.Store(&g)
}

func ada() map[string]any {
	return map[string]any{
		"names":          []any{map[string]any{"givenName": "Ada", "familyName": "Lovelace", "middleName": "King"}},
		"emailAddresses": []any{map[string]any{"value": "ada@example.com", "type": "work"}},
		"phoneNumbers":   []any{map[string]any{"value": "+44 20 7946 0000"}},
		"organizations":  []any{map[string]any{"name": "Analytical Engines", "title": "Countess"}},
	}
}

func named(first string) map[string]any {
	return map[string]any{"names": []any{map[string]any{"givenName": first, "familyName": "Doe"}},
		"emailAddresses": []any{map[string]any{"value": strings.ToLower(first) + "@example.com"}}}
}

func hrefs(refs []pim.RemoteRef) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Href)
	}
	slices.Sort(out)
	return out
}

func TestContactsFirstSyncChangesDeletes(t *testing.T) {
	p := newPeer(t)
	ctx := context.Background()
	a := p.api.PutPerson("", ada())
	b := p.api.PutPerson("", named("Bob"))
	r := googlepim.NewContacts(p.c)
	ch, err := r.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Full || ch.Token == "" || len(ch.Items) != 2 {
		t.Fatalf("first listing: %+v", ch)
	}
	before := p.api.Stats().Requests
	items, bad, missing, err := r.Fetch(ctx, []string{a, b})
	if err != nil || len(bad) > 0 || len(missing) > 0 || len(items) != 2 {
		t.Fatalf("fetch: %v %v %v %v", items, bad, missing, err)
	}
	// One request: the groups, read once; persons come from the listing.
	if n := p.api.Stats().Requests - before; n != 1 {
		t.Errorf("fetch after a listing sent %d requests, want 1", n)
	}
	f := items[0].Fields
	if f[pim.FieldFirstName].Str != "Ada" || f[pim.FieldCompany].Str != "Analytical Engines" || f[pim.FieldTitle].Str != "Countess" ||
		!slices.Equal(f[pim.FieldEmails].List, []string{"ada@example.com"}) || len(f[pim.FieldPhones].List) != 1 {
		t.Errorf("ada read as %v", f)
	}

	// Another client changes Ada and deletes Bob.
	x := ada()
	x["names"] = []any{map[string]any{"givenName": "Augusta", "familyName": "Lovelace"}}
	p.api.PutPerson(a, x)
	p.api.DeletePerson(b)
	ch2, err := r.Changes(ctx, ch.Token)
	if err != nil {
		t.Fatal(err)
	}
	if ch2.Full || !slices.Equal(hrefs(ch2.Items), []string{a}) || !slices.Equal(ch2.Deleted, []string{b}) || ch2.Token == "" {
		t.Fatalf("changes: %+v", ch2)
	}
	items, _, _, err = r.Fetch(ctx, []string{a})
	if err != nil || items[0].Fields[pim.FieldFirstName].Str != "Augusta" {
		t.Fatalf("changed ada: %v %v", items, err)
	}
	// A person no longer there is missing, not an error.
	_, _, missing, err = r.Fetch(ctx, []string{b})
	if err != nil || !slices.Equal(missing, []string{b}) {
		t.Fatalf("deleted bob: %v %v", missing, err)
	}

	// An expired token is ErrTokenInvalid; the full listing then has what is.
	p.api.ExpirePeopleTokens()
	_, err = r.Changes(ctx, ch2.Token)
	if !errors.Is(err, pim.ErrTokenInvalid) {
		t.Fatalf("expired token: %v", err)
	}
	if ce := connerr.As(err); ce == nil || strings.Contains(ce.Message, "token") {
		t.Errorf("expired token error words: %v", err)
	}
	full, err := r.Changes(ctx, "")
	if err != nil || !full.Full || !slices.Equal(hrefs(full.Items), []string{a}) {
		t.Fatalf("relisting: %+v %v", full, err)
	}
}

func TestContactsTokenAge(t *testing.T) {
	p := newPeer(t)
	ctx := context.Background()
	p.api.PutPerson("", named("Ann"))
	p.api.SetPeopleTokenAge(50 * time.Millisecond)
	r := googlepim.NewContacts(p.c)
	ch, err := r.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Changes(ctx, ch.Token); err != nil {
		t.Fatalf("young token: %v", err)
	}
	time.Sleep(80 * time.Millisecond)
	if _, err := r.Changes(ctx, ch.Token); !errors.Is(err, pim.ErrTokenInvalid) {
		t.Fatalf("old token: %v", err)
	}
}

func TestContactsWriteRoundTripAndPrecondition(t *testing.T) {
	p := newPeer(t)
	ctx := context.Background()
	a := p.api.PutPerson("", ada())
	r := googlepim.NewContacts(p.c)
	if _, err := r.Changes(ctx, ""); err != nil {
		t.Fatal(err)
	}
	items, _, _, err := r.Fetch(ctx, []string{a})
	if err != nil {
		t.Fatal(err)
	}
	prev := items[0]
	f := prev.Fields.Clone()
	f[pim.FieldLastName] = pim.Str("Byron")
	f[pim.FieldNotes] = pim.Str("Met at the\nRoyal Society")
	f[pim.FieldAddress] = pim.Str("12 St James's Square;London;;SW1Y 4JH;UK")
	f[pim.FieldEmails] = pim.ListOf("ada@example.com", "countess@example.com")
	f[pim.FieldCategories] = pim.SetOf(pim.CategoryPerson, "Friends")
	got, err := r.Update(ctx, prev, f)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Fields.Equal(f) {
		t.Errorf("written %v\nread back %v", f.Normalize(), got.Fields)
	}
	stored := p.api.Persons()[a]
	b, _ := jsonString(stored)
	// What crmsync does not map is kept: the middle name, the email's type,
	// and the person stays in My Contacts.
	if !strings.Contains(b, `"middleName":"King"`) || !strings.Contains(b, `"type":"work"`) || !strings.Contains(b, "contactGroups/myContacts") {
		t.Errorf("unmapped values lost: %s", b)
	}
	if g := p.api.PersonGroups(a); !slices.Equal(g, []string{pim.CategoryPerson, "Friends", "myContacts"}) {
		t.Errorf("groups %v", g)
	}

	// The user changes the person meanwhile: the stale etag is refused.
	p.api.PutPerson(a, ada())
	_, err = r.Update(ctx, got, f)
	if !errors.Is(err, pim.ErrPrecondition) {
		t.Fatalf("stale etag: %v", err)
	}
	// The engine refetches: the person is read again, not from the listing.
	items, _, _, err = r.Fetch(ctx, []string{a})
	if err != nil || items[0].Fields[pim.FieldLastName].Str != "Lovelace" || items[0].ETag == got.ETag {
		t.Fatalf("refetch: %v %v", items, err)
	}
	if _, err := r.Update(ctx, items[0], f); err != nil {
		t.Fatalf("update with the fresh etag: %v", err)
	}
	p.api.DeletePerson(a)
	if _, err := r.Update(ctx, items[0], f); !errors.Is(err, pim.ErrGone) {
		t.Fatalf("deleted: %v", err)
	}
}

func TestContactsLostCreateAnswer(t *testing.T) {
	p := newPeer(t)
	ctx := context.Background()
	r := googlepim.NewContacts(p.c)
	ch, err := r.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	uid := pim.StampUID("contact-7")
	p.dropOnce(func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, ":createContact") })
	_, err = r.Create(ctx, uid, pim.Fields{pim.FieldFirstName: pim.Str("Lost")})
	if err == nil || errors.Is(err, pim.ErrRefused) {
		t.Fatalf("lost answer: %v", err)
	}
	if n := len(p.api.Persons()); n != 1 {
		t.Fatalf("%d persons after a lost answer, want 1 (never sent twice)", n)
	}
	// The next pass lists the person with its stamp: a new create is
	// ErrExists with its href.
	ch, err = r.Changes(ctx, ch.Token)
	if err != nil || len(ch.Items) != 1 {
		t.Fatalf("changes: %+v %v", ch, err)
	}
	it, err := r.Create(ctx, uid, pim.Fields{pim.FieldFirstName: pim.Str("Lost")})
	if !errors.Is(err, pim.ErrExists) || it.Href != ch.Items[0].Href {
		t.Fatalf("retried create: %v %v", it, err)
	}
	got, _, _, err := r.Fetch(ctx, []string{it.Href})
	if err != nil || got[0].UID != uid {
		t.Fatalf("fetch: %v %v", got, err)
	}
	if n := len(p.api.Persons()); n != 1 {
		t.Fatalf("%d persons, want 1", n)
	}
}

func TestContactsBaseGroupsKept(t *testing.T) {
	p := newPeer(t)
	ctx := context.Background()
	r := googlepim.NewContacts(p.c)
	if err := r.KeepCategories(ctx, pim.FixedCategories); err != nil {
		t.Fatal(err)
	}
	byName := map[string]string{}
	for rn, n := range p.api.Groups() {
		byName[n] = rn
	}
	for _, c := range pim.FixedCategories {
		if byName[c] == "" {
			t.Fatalf("no group %q: %v", c, byName)
		}
	}
	// A second pass creates nothing.
	n := len(p.api.Groups())
	if err := r.KeepCategories(ctx, pim.FixedCategories); err != nil || len(p.api.Groups()) != n {
		t.Fatalf("second keep: %v, %d groups", err, len(p.api.Groups()))
	}
	uid := pim.StampUID("contact-1")
	it, err := r.Create(ctx, uid, pim.Fields{pim.FieldFirstName: pim.Str("Lea"), pim.FieldCategories: pim.SetOf(pim.CategoryLead, pim.CategoryPerson)})
	if err != nil {
		t.Fatal(err)
	}
	// The user renames Base Lead and deletes Base Person.
	p.api.RenameGroup(byName[pim.CategoryLead], "Leads")
	p.api.DeleteGroup(byName[pim.CategoryPerson])
	r2 := googlepim.NewContacts(p.c) // a new pass: nothing remembered
	if err := r2.KeepCategories(ctx, pim.FixedCategories); err != nil {
		t.Fatal(err)
	}
	g := p.api.Groups()
	if g[byName[pim.CategoryLead]] != pim.CategoryLead {
		t.Errorf("renamed group not renamed back: %v", g)
	}
	if slices.Contains(slices.Collect(mapValues(g)), "Leads") {
		t.Errorf("the renamed name is still there: %v", g)
	}
	// Members of the renamed group are kept; the deleted group is back.
	if got := p.api.PersonGroups(it.Href); !slices.Contains(got, pim.CategoryLead) {
		t.Errorf("member lost: %v", got)
	}
	found := 0
	for _, n := range g {
		if n == pim.CategoryPerson {
			found++
		}
	}
	if found != 1 {
		t.Errorf("Base Person groups: %d", found)
	}
}

func TestContactsThrottled(t *testing.T) {
	for _, tc := range []struct {
		status int
		reason string
	}{{http.StatusForbidden, "userRateLimitExceeded"}, {http.StatusTooManyRequests, "rateLimitExceeded"}} {
		t.Run(tc.reason, func(t *testing.T) {
			p := newPeer(t)
			ctx := context.Background()
			for i := range 5 {
				p.api.PutPerson("", named("P"+string(rune('a'+i))))
			}
			p.api.FailAfter(0, tc.status, tc.reason, time.Second)
			r := googlepim.NewContacts(p.c)
			start := time.Now()
			ch, err := r.Changes(ctx, "")
			if err != nil || len(ch.Items) != 5 {
				t.Fatalf("%+v %v", ch, err)
			}
			if p.api.Stats().Early != 0 {
				t.Errorf("%d requests before Retry-After", p.api.Stats().Early)
			}
			if time.Since(start) < time.Second {
				t.Errorf("did not wait")
			}
		})
	}
}
