package graphpim_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/graph"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/graphpim"
	"github.com/crmsync/crmsync/internal/testpeer/graphfake"
)

// counter counts the HTTP requests a client sends.
type counter struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

// open serves g over HTTP and returns a Graph client of it, with the
// count of requests it sends.
func open(tb testing.TB, g *graphfake.Graph) (*cloudapi.Client, *counter) {
	tb.Helper()
	srv := httptest.NewServer(g)
	tb.Cleanup(srv.Close)
	cnt := &counter{next: srv.Client().Transport}
	c, err := graph.New(graph.Config{GraphURL: srv.URL, HTTP: &http.Client{Transport: cnt},
		Tokens: func(context.Context, string) (string, error) { return "token", nil }, Backoff: time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	return c, cnt
}

// ada is a contact as Outlook holds it, with what crmsync does not map.
var ada = map[string]any{
	"givenName": "Ada", "surname": "Lovelace", "middleName": "Augusta", "birthday": "1815-12-10T00:00:00Z",
	"emailAddresses": []map[string]string{{"name": "Ada L.", "address": "Ada@Example.com"}, {"address": "ada@home.example"}},
	"businessPhones": []string{"+44 20 7946 0000"}, "mobilePhone": "+44 7700 900123", "homePhones": []string{"020 7946 0999"},
	"companyName": "Analytical Engines", "jobTitle": "Programmer", "personalNotes": "First programmer.",
	"homeAddress": map[string]string{"street": "12 St James's Square", "city": "London", "postalCode": "SW1Y 4JH", "countryOrRegion": "UK"},
	"categories":  []string{"Friends"},
}

func TestContactFolders(t *testing.T) {
	g := graphfake.NewGraph()
	clients := g.AddContactFolder("Clients")
	c, _ := open(t, g)
	got, err := graphpim.ContactFolders(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	want := []graphpim.Collection{{ID: g.DefaultContactFolder(), Name: "Contacts", Default: true}, {ID: clients, Name: "Clients"}}
	if !slices.Equal(got, want) {
		t.Fatalf("folders %+v, want %+v", got, want)
	}
}

// TestContactFoldersWithoutDefault: a listing without the default folder
// (only the user's own at the top) still offers it, reached as
// /me/contacts.
func TestContactFoldersWithoutDefault(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"value":[{"id":"AAMkClients","displayName":"Clients","parentFolderId":"AAMkRoot"}]}`))
	}))
	defer srv.Close()
	c, err := graph.New(graph.Config{GraphURL: srv.URL, Tokens: func(context.Context, string) (string, error) { return "t", nil }})
	if err != nil {
		t.Fatal(err)
	}
	got, err := graphpim.ContactFolders(context.Background(), c)
	want := []graphpim.Collection{{ID: graphpim.DefaultFolder, Name: "Contacts", Default: true}, {ID: "AAMkClients", Name: "Clients"}}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("folders %+v (%v), want %+v", got, err, want)
	}
}

func TestFetchMapsFields(t *testing.T) {
	g := graphfake.NewGraph()
	id := g.AddContact("", ada)
	c, _ := open(t, g)
	r := graphpim.NewContacts(c, g.DefaultContactFolder())
	items, bad, missing, err := r.Fetch(context.Background(), []string{id, "AAkALgAAAAgone"})
	if err != nil || len(bad) > 0 || !slices.Equal(missing, []string{"AAkALgAAAAgone"}) || len(items) != 1 {
		t.Fatalf("items %v bad %v missing %v err %v", items, bad, missing, err)
	}
	want := pim.Fields{
		pim.FieldFirstName: pim.Str("Ada"), pim.FieldLastName: pim.Str("Lovelace"),
		pim.FieldEmails:  pim.ListOf("ada@example.com", "ada@home.example"),
		pim.FieldPhones:  pim.ListOf("+442079460000", "+447700900123", "02079460999"),
		pim.FieldCompany: pim.Str("Analytical Engines"), pim.FieldTitle: pim.Str("Programmer"),
		pim.FieldNotes:      pim.Str("First programmer."),
		pim.FieldAddress:    pim.Str("12 St James's Square;London;;SW1Y 4JH;UK"),
		pim.FieldCategories: pim.SetOf("Friends"),
	}
	it := items[0]
	if !it.Fields.Equal(want) {
		t.Fatalf("fields %v\nwant %v", it.Fields, want)
	}
	st, _ := g.Contact(id)
	if it.Href != id || it.ETag != st.ETag || it.UID != "" || it.Modified.IsZero() || len(it.Raw) == 0 {
		t.Fatalf("item %+v", it)
	}
}

// TestChanges: a full round over several pages, then what changed: an
// update (Graph sends its changed properties only), a new contact and a
// deletion; a forgotten token is pim.ErrTokenInvalid.
func TestChanges(t *testing.T) {
	g := graphfake.NewGraph()
	folder := g.AddContactFolder("Clients")
	var ids []string
	for i := range 1200 {
		ids = append(ids, g.AddContact(folder, map[string]any{"givenName": fmt.Sprint("n", i), "surname": "Doe"}))
	}
	g.AddContact("", map[string]any{"givenName": "elsewhere"})
	c, cnt := open(t, g)
	r := graphpim.NewContacts(c, folder)
	ctx := context.Background()
	ch, err := r.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Full || len(ch.Items) != 1200 || len(ch.Deleted) != 0 || ch.Token == "" {
		t.Fatalf("full round: full %v, %d items, %d deleted", ch.Full, len(ch.Items), len(ch.Deleted))
	}
	if n := cnt.n.Load(); n != 3 { // 500 + 500 + 200
		t.Fatalf("%d requests for 1,200 contacts at %d a page", n, graphpim.DeltaPageSize)
	}
	g.UpdateContact(ids[5], map[string]any{"jobTitle": "CEO"})
	g.DeleteContact(ids[7])
	added := g.AddContact(folder, map[string]any{"givenName": "new"})
	ch2, err := r.Changes(ctx, ch.Token)
	if err != nil {
		t.Fatal(err)
	}
	var changed []string
	for _, ref := range ch2.Items {
		changed = append(changed, ref.Href)
	}
	sort.Strings(changed)
	want := []string{ids[5], added}
	sort.Strings(want)
	if ch2.Full || !slices.Equal(changed, want) || !slices.Equal(ch2.Deleted, []string{ids[7]}) {
		t.Fatalf("changes %v deleted %v, want %v and %v", changed, ch2.Deleted, want, ids[7])
	}
	st, _ := g.Contact(ids[5])
	for _, ref := range ch2.Items {
		if ref.Href == ids[5] && ref.ETag != st.ETag {
			t.Fatalf("etag %q, fake has %q", ref.ETag, st.ETag)
		}
	}
	items, _, _, err := r.Fetch(ctx, []string{ids[5]})
	if err != nil || items[0].Fields[pim.FieldTitle].Str != "CEO" || items[0].Fields[pim.FieldFirstName].Str != "n5" {
		t.Fatalf("fetched %+v, %v", items, err)
	}
	for _, loc := range []bool{false, true} {
		g.ExpireContactTokens(loc)
		if _, err := r.Changes(ctx, ch2.Token); !errors.Is(err, pim.ErrTokenInvalid) {
			t.Fatalf("expired token (location %v): %v", loc, err)
		}
	}
}

// TestFetchFromRound: the contacts a round carried whole are not asked
// again, but those crmsync wrote (a fixed category), whose stamp only a
// read of each can return; a contact written since the round is asked
// again.
func TestFetchFromRound(t *testing.T) {
	g := graphfake.NewGraph()
	var native, ours []string
	for i := range 30 {
		native = append(native, g.AddContact("", map[string]any{"givenName": fmt.Sprint("o", i), "jobTitle": "Buyer"}))
		ours = append(ours, g.AddContact("", map[string]any{"givenName": fmt.Sprint("c", i), "categories": []string{pim.CategoryPerson},
			"singleValueExtendedProperties": []map[string]string{{"id": graphpim.StampProperty, "value": pim.StampUID(fmt.Sprint("contact-", i))}}}))
	}
	c, cnt := open(t, g)
	r := graphpim.NewContacts(c, g.DefaultContactFolder())
	ctx := context.Background()
	ch, err := r.Changes(ctx, "")
	if err != nil || len(ch.Items) != 60 {
		t.Fatalf("%d items, %v", len(ch.Items), err)
	}
	before := cnt.n.Load()
	items, _, _, err := r.Fetch(ctx, append(slices.Clone(native[1:]), ours...))
	if err != nil || len(items) != 59 {
		t.Fatalf("%d items, %v", len(items), err)
	}
	if n := cnt.n.Load() - before; n != 2 { // 30 stamped contacts, 20 to a batch
		t.Errorf("%d requests, want 2", n)
	}
	for _, it := range items {
		_, stamped := pim.ParseStamp(it.UID)
		if it.Fields[pim.FieldFirstName].Str[0] == 'c' != stamped || it.Fields[pim.FieldFirstName].Str[0] == 'o' && it.Fields[pim.FieldTitle].Str != "Buyer" {
			t.Errorf("item %v, uid %q", it.Fields, it.UID)
		}
	}
	// native[0] changes after the round; the engine's update of the
	// round's copy is refused, and the refetch reads the new one.
	g.UpdateContact(native[0], map[string]any{"jobTitle": "CEO"})
	prev := pim.RemoteItem{Href: native[0], ETag: ch.Items[0].ETag}
	if _, err := r.Update(ctx, prev, pim.Fields{pim.FieldFirstName: pim.Str("o0"), pim.FieldNotes: pim.Str("x")}); !errors.Is(err, pim.ErrPrecondition) {
		t.Fatalf("update: %v", err)
	}
	got, _, _, err := r.Fetch(ctx, []string{native[0]})
	if err != nil || len(got) != 1 || got[0].Fields[pim.FieldTitle].Str != "CEO" {
		t.Fatalf("refetch %v, %v", got, err)
	}
}

// TestDuplicatesInRound: a round that repeats an item lists it once.
func TestDuplicatesInRound(t *testing.T) {
	g := graphfake.NewGraph()
	for i := range 1100 {
		g.AddContact("", map[string]any{"givenName": fmt.Sprint("n", i)})
	}
	g.DuplicateInRound(true)
	c, _ := open(t, g)
	ch, err := graphpim.NewContacts(c, g.DefaultContactFolder()).Changes(context.Background(), "")
	if err != nil || len(ch.Items) != 1100 {
		t.Fatalf("%d items, %v", len(ch.Items), err)
	}
}

func TestCreateAndUpdate(t *testing.T) {
	g := graphfake.NewGraph()
	c, _ := open(t, g)
	r := graphpim.NewContacts(c, g.DefaultContactFolder())
	ctx := context.Background()
	f := pim.Fields{pim.FieldFirstName: pim.Str("Grace"), pim.FieldLastName: pim.Str("Hopper"),
		pim.FieldEmails: pim.ListOf("grace@navy.example"), pim.FieldPhones: pim.ListOf("+1 202 555 0100", "+1 202 555 0199"),
		pim.FieldCompany: pim.Str("US Navy"), pim.FieldAddress: pim.Str("1 Navy Way;Arlington;VA;22202;USA"),
		pim.FieldCategories: pim.SetOf("Base Person", "VIP")}.Normalize()
	uid := pim.StampUID("contact-7")
	it, err := r.Create(ctx, uid, f)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := g.Contact(it.Href)
	if !ok || st.Extended[graphpim.StampProperty] != uid || st.Props["displayName"] != "Grace Hopper" || st.ETag != it.ETag {
		t.Fatalf("stored %+v", st)
	}
	got, _, _, err := r.Fetch(ctx, []string{it.Href})
	if err != nil || len(got) != 1 || got[0].UID != uid || !got[0].Fields.Equal(f) {
		t.Fatalf("read back %d items (%v): uid %q, fields %v", len(got), err, got[0].UID, got[0].Fields)
	}

	// The user adds what crmsync does not map, and a mobile number.
	g.UpdateContact(it.Href, map[string]any{"birthday": "1906-12-09T00:00:00Z", "mobilePhone": "+1 202 555 0111"})
	stale := f.Clone()
	stale[pim.FieldTitle] = pim.Str("Commodore")
	if _, err := r.Update(ctx, got[0], stale); !errors.Is(err, pim.ErrPrecondition) {
		t.Fatalf("update with an old etag: %v", err)
	}
	got, _, _, _ = r.Fetch(ctx, []string{it.Href})
	f2 := got[0].Fields.Clone()
	f2[pim.FieldTitle] = pim.Str("Rear Admiral")
	f2[pim.FieldPhones] = pim.ListOf("+12025550100", "+12025550111", "+12025550122", "+12025550199")
	up, err := r.Update(ctx, got[0], f2)
	if err != nil {
		t.Fatal(err)
	}
	st, _ = g.Contact(it.Href)
	if st.Props["birthday"] != "1906-12-09T00:00:00Z" || st.Props["mobilePhone"] != "+1 202 555 0111" || st.Props["jobTitle"] != "Rear Admiral" {
		t.Fatalf("after update %+v", st.Props)
	}
	back, _, _, _ := r.Fetch(ctx, []string{it.Href})
	if !back[0].Fields.Equal(f2) || back[0].ETag != up.ETag || up.UID != uid {
		t.Fatalf("read back %v\nwant %v", back[0].Fields, f2.Normalize())
	}
	g.DeleteContact(it.Href)
	if _, err := r.Update(ctx, back[0], stale); !errors.Is(err, pim.ErrGone) {
		t.Fatalf("update of a deleted contact: %v", err)
	}
}

// TestLostCreateAnswer: the contact was made but its answer lost: the
// create finds it by its stamp and says ErrExists, never a second one.
func TestLostCreateAnswer(t *testing.T) {
	g := graphfake.NewGraph()
	c, _ := open(t, g)
	r := graphpim.NewContacts(c, g.DefaultContactFolder())
	g.LoseContactReplies(1)
	it, err := r.Create(context.Background(), pim.StampUID("contact-1"), pim.Fields{pim.FieldFirstName: pim.Str("Once")})
	ids := g.ContactIDs("")
	if !errors.Is(err, pim.ErrExists) || len(ids) != 1 || it.Href != ids[0] {
		t.Fatalf("err %v, href %q, contacts %v", err, it.Href, ids)
	}
}

func TestKeepCategories(t *testing.T) {
	g := graphfake.NewGraph()
	g.AddCategory("Friends", "preset2")
	c, _ := open(t, g)
	r := graphpim.NewContacts(c, g.DefaultContactFolder())
	ctx := context.Background()
	if err := r.KeepCategories(ctx, pim.FixedCategories); err != nil {
		t.Fatal(err)
	}
	names := func() map[string]string {
		out := map[string]string{}
		for _, c := range g.Categories() {
			out[c.DisplayName] = c.Color
		}
		return out
	}
	got := names()
	if len(got) != 8 || got["Friends"] != "preset2" || got[pim.CategoryPerson] != "preset7" || got[pim.CategoryLead] != "preset1" {
		t.Fatalf("categories %v", got)
	}
	// The user renames one, deletes another, recolors a third.
	g.RenameCategory(pim.CategoryLead, "Leads")
	g.DeleteCategory(pim.CategoryPerson)
	g.DeleteCategory(pim.CategoryCompany)
	g.AddCategory(pim.CategoryCompany, "preset0")
	if err := r.KeepCategories(ctx, pim.FixedCategories); err != nil {
		t.Fatal(err)
	}
	got = names()
	if len(got) != 9 || got["Leads"] != "preset1" || got[pim.CategoryLead] != "preset1" || got[pim.CategoryPerson] != "preset7" || got[pim.CategoryCompany] != "preset0" {
		t.Fatalf("categories %v", got)
	}
}

// TestThrottled: a 429 (or 503) is waited out for its Retry-After, for a
// request and for the parts of a batch; nothing is sent while it runs.
func TestThrottled(t *testing.T) {
	g := graphfake.NewGraph()
	var ids []string
	for i := range 5 {
		// Written by crmsync: read with its stamp, in a batch.
		ids = append(ids, g.AddContact("", map[string]any{"givenName": fmt.Sprint("n", i), "categories": []string{pim.CategoryPerson}}))
	}
	c, _ := open(t, g)
	r := graphpim.NewContacts(c, g.DefaultContactFolder())
	ctx := context.Background()
	g.ThrottleAfter(0, time.Second)
	start := time.Now()
	ch, err := r.Changes(ctx, "")
	if err != nil || len(ch.Items) != 5 {
		t.Fatalf("changes %v, %v", ch, err)
	}
	if d := time.Since(start); d < time.Second || g.Stats().Early != 0 {
		t.Fatalf("took %v, %d requests during Retry-After", d, g.Stats().Early)
	}
	// The batch's first part is refused; the others of the same batch
	// come early, unavoidably; the batch sent again waits.
	g.ThrottleAfter(0, time.Second)
	start = time.Now()
	items, _, _, err := r.Fetch(ctx, ids)
	if err != nil || len(items) != 5 {
		t.Fatalf("fetched %d, %v", len(items), err)
	}
	if d := time.Since(start); d < time.Second || g.Stats().Early != len(ids)-1 {
		t.Fatalf("took %v, %d parts during Retry-After", d, g.Stats().Early)
	}
	// 503 with Retry-After: waited out and asked again too.
	g.Unavailable(2)
	if _, err := r.Changes(ctx, ch.Token); err != nil {
		t.Fatalf("after 503s: %v", err)
	}
}
