package syncer_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/lease"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/caldav"
	"github.com/crmsync/crmsync/internal/pim/carddav"
	"github.com/crmsync/crmsync/internal/pim/dav"
	"github.com/crmsync/crmsync/internal/pimconn"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/sqlstore"
	"github.com/crmsync/crmsync/internal/store/storetest"
	"github.com/crmsync/crmsync/internal/syncer"
	"github.com/crmsync/crmsync/internal/testpeer/radicale"
)

// pimEnv is a Radicale, a store, and one PIM account of its admin on the
// user's address book, calendar or task list.
type pimEnv struct {
	t       *testing.T
	srv     *radicale.Server
	st      *sqlstore.DB
	viewer  crm.Viewer
	account crm.PIMAccount
	user    string
	coll    string // collection path
	kind    pim.CollectionKind
	// wrap, when set, wraps the Remote of the next passes (fault tests).
	wrap func(pim.Remote) pim.Remote
	logs *strings.Builder
	mu   sync.Mutex
}

func newPIMEnv(t *testing.T, f storetest.Factory, srv *radicale.Server, kind pim.CollectionKind, opts crm.PIMOptions) *pimEnv {
	st, _ := f(t)
	ctx := context.Background()
	_, p, h := auth.NewToken()
	org, admin, _, err := st.CreateOrg(ctx, store.CreateOrgParams{Name: "acme", AdminEmail: "admin@acme.example", TokenName: "t", TokenHash: h, TokenPrefix: p})
	if err != nil {
		t.Fatal(err)
	}
	e := &pimEnv{t: t, srv: srv, st: st, viewer: crm.Viewer{OrgID: org.ID, UserID: admin.ID, Role: crm.RoleAdmin}, kind: kind, logs: &strings.Builder{}}
	e.user, _ = srv.User(1)
	name := fmt.Sprintf("%s-%d", kind, time.Now().UnixNano())
	pk := crm.PIMCalDAV
	switch kind {
	case pim.Contacts:
		e.coll = srv.CreateAddressBook(t, e.user, name, "Contacts")
		pk = crm.PIMCardDAV
	case pim.Events:
		e.coll = srv.CreateCalendar(t, e.user, name, "Calendar", "VEVENT")
	default:
		e.coll = srv.CreateCalendar(t, e.user, name, "Tasks", "VTODO")
	}
	opts.Collection = e.coll
	e.account, err = st.CreatePIMAccount(ctx, e.viewer, crm.PIMAccount{UserID: admin.ID, Kind: pk, URL: srv.URL(), Username: e.user,
		Options: opts, State: crm.StateConnecting})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *pimEnv) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.logs.Write(p)
}

// plainRemote reaches the collection as the engine does, without the
// test's faults: what the server really holds.
func (e *pimEnv) plainRemote() pim.Remote {
	_, pass := e.srv.User(1)
	return &pimconn.Remote{Client: &dav.Client{BaseURL: e.srv.URL(), Username: e.user, Password: pass},
		Href: e.coll, Kind: e.kind, SupportsSync: true}
}

func (e *pimEnv) remote() pim.Remote {
	r := e.plainRemote()
	if e.wrap != nil {
		r = e.wrap(r)
	}
	return r
}

func (e *pimEnv) config() syncer.Config {
	logger := slog.New(slog.NewTextHandler(e, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return syncer.Config{Store: e.st, Logger: logger, Owner: lease.NewOwner(), Lease: lease.Config{TTL: 5 * time.Second},
		PIM: &syncer.PIMConfig{Open: func(ctx context.Context, a crm.PIMAccount) ([]syncer.PIMTarget, error) {
			return []syncer.PIMTarget{{Collection: store.PIMCollection{Href: e.coll, Kind: e.kind, DisplayName: string(e.kind)}, Remote: e.remote()}}, nil
		}}}
}

// sync runs one pass and fails the test on an error.
func (e *pimEnv) sync() {
	e.t.Helper()
	if err := e.trySync(); err != nil {
		e.mu.Lock()
		logs := e.logs.String()
		e.mu.Unlock()
		e.t.Fatalf("sync: %v\nlogs:\n%s", err, tail(logs, 3000))
	}
}

// trySync runs passes as the loop does: again at once while the last one
// left fixed categories to write.
func (e *pimEnv) trySync() error {
	for range 10 {
		backlog, err := syncer.SyncPIMOnce(context.Background(), e.config(), e.account.ID)
		if err != nil || backlog == 0 {
			return err
		}
	}
	return fmt.Errorf("still a backlog after 10 passes")
}

func (e *pimEnv) acct() crm.PIMAccount {
	a, err := e.st.GetPIMAccount(context.Background(), e.viewer, e.account.ID)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

// remoteItems returns every item of the collection, decoded, by UID.
func (e *pimEnv) remoteItems() map[string]pim.RemoteItem {
	e.t.Helper()
	ctx := context.Background()
	r := e.plainRemote()
	ch, err := r.Changes(ctx, "")
	if err != nil {
		e.t.Fatal(err)
	}
	var hrefs []string
	for _, it := range ch.Items {
		hrefs = append(hrefs, it.Href)
	}
	items, bad, _, err := r.Fetch(ctx, hrefs)
	if err != nil || len(bad) > 0 {
		e.t.Fatalf("fetching remote items: %v %v", err, bad)
	}
	out := map[string]pim.RemoteItem{}
	for _, it := range items {
		if _, dup := out[it.UID]; dup {
			e.t.Fatalf("two remote items with UID %s", it.UID)
		}
		out[it.UID] = it
	}
	return out
}

// byName returns the remote items by "first last" (contacts) or summary.
func (e *pimEnv) remoteByName() map[string]pim.RemoteItem {
	out := map[string]pim.RemoteItem{}
	for _, it := range e.remoteItems() {
		n := it.Fields[pim.FieldSummary].Str
		if e.kind == pim.Contacts {
			n = strings.TrimSpace(it.Fields[pim.FieldFirstName].Str + " " + it.Fields[pim.FieldLastName].Str)
		}
		if _, dup := out[n]; dup {
			e.t.Fatalf("two remote items named %q", n)
		}
		out[n] = it
	}
	return out
}

func (e *pimEnv) contacts() map[string]crm.Contact {
	e.t.Helper()
	out := map[string]crm.Contact{}
	p, err := e.st.ListContacts(context.Background(), e.viewer, store.ContactFilter{ListParams: store.ListParams{Limit: store.MaxLimit}})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range p.Items {
		n := strings.TrimSpace(c.FirstName + " " + c.LastName)
		if _, dup := out[n]; dup {
			e.t.Fatalf("two CRM contacts named %q", n)
		}
		out[n] = c
	}
	return out
}

func (e *pimEnv) createContact(c crm.Contact) crm.Contact {
	e.t.Helper()
	c.OrgID, c.OwnerID = e.viewer.OrgID, e.viewer.UserID
	if c.Lifecycle == "" {
		c.Lifecycle = crm.LifecycleLead
	}
	c, err := e.st.CreateContact(context.Background(), e.viewer, c)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *pimEnv) updateContact(id int64, fn func(*crm.Contact)) {
	e.t.Helper()
	if _, err := e.st.UpdateContact(context.Background(), e.viewer, id, func(c *crm.Contact) error { fn(c); return nil }); err != nil {
		e.t.Fatal(err)
	}
}

// put stores a body on the server under name (no conditions: another
// client).
func (e *pimEnv) put(name, body string) string {
	return e.srv.Put(e.t, e.user, e.coll+name, body)
}

// edit rewrites a remote item with fn applied to its fields, as another
// client would (patching its body).
func (e *pimEnv) edit(it pim.RemoteItem, fn func(pim.Fields)) {
	e.t.Helper()
	f := it.Fields.Clone()
	fn(f)
	var body []byte
	var err error
	switch e.kind {
	case pim.Contacts:
		body, err = carddav.Encode(it.Raw, it.UID, f)
	case pim.Events:
		body, err = caldav.Encode(it.Raw, it.UID, caldav.TypeEvent, f)
	default:
		body, err = caldav.Encode(it.Raw, it.UID, caldav.TypeTask, f)
	}
	if err != nil {
		e.t.Fatal(err)
	}
	e.srv.Put(e.t, e.user, it.Href, string(body))
}

func vcard(uid, first, last, email string, extra ...string) string {
	lines := []string{"BEGIN:VCARD", "VERSION:3.0", "UID:" + uid, "FN:" + first + " " + last, "N:" + last + ";" + first + ";;;"}
	if email != "" {
		lines = append(lines, "EMAIL;TYPE=INTERNET:"+email)
	}
	lines = append(lines, extra...)
	lines = append(lines, "END:VCARD", "")
	return strings.Join(lines, "\r\n")
}

func cats(it pim.RemoteItem) []string { return it.Fields[pim.FieldCategories].List }

// TestPIMContactsFirstSync: records on both sides come in both ways, a
// contact on both (same email) is merged, not duplicated, duplicates on
// the remote side each come in, every remote item gets the fixed
// categories, and a second pass changes nothing.
func TestPIMContactsFirstSync(t *testing.T) {
	srv := radicale.Start(t, nil)
	eachStore(t, func(t *testing.T, f storetest.Factory) {
		e := newPIMEnv(t, f, srv, "contacts", crm.PIMOptions{})
		e.createContact(crm.Contact{FirstName: "Ada", LastName: "Lovelace", Emails: []string{"ada@analytical.example"}, Title: "Countess",
			Address: crm.PostalAddress{Street: "12 St James's Sq", City: "London", Country: "UK"}, Lifecycle: crm.LifecycleCustomer})
		e.createContact(crm.Contact{FirstName: "Alan", LastName: "Turing", Emails: []string{"alan@bletchley.example"}, Phones: []string{"+44 20 7946 0000"}})
		e.put("grace.vcf", vcard("grace-1", "Grace", "Hopper", "grace@navy.example", "ORG:US Navy", "TEL;TYPE=CELL:+1 555 0100", "NOTE:Invented the compiler"))
		e.put("alan.vcf", vcard("alan-phone", "Alan", "Turing", "ALAN@bletchley.example", "TITLE:Mathematician"))
		e.put("dup1.vcf", vcard("dup-1", "Dup", "One", "same@dup.example"))
		e.put("dup2.vcf", vcard("dup-2", "Dup", "Two", "same@dup.example"))

		e.sync()
		cs := e.contacts()
		if len(cs) != 5 {
			t.Fatalf("CRM contacts: %v, want Ada, Alan, Grace, Dup One, Dup Two", keys(cs))
		}
		if g := cs["Grace Hopper"]; g.Notes != "Invented the compiler" || len(g.Phones) != 1 || g.CompanyID == nil {
			t.Errorf("Grace in the CRM: %+v", g)
		}
		if a := cs["Alan Turing"]; a.Title != "Mathematician" || len(a.Phones) != 1 {
			t.Errorf("Alan merged: title %q phones %v", a.Title, a.Phones)
		}
		rs := e.remoteByName()
		if len(rs) != 5 {
			t.Fatalf("remote contacts: %v", keys(rs))
		}
		ada := rs["Ada Lovelace"]
		if _, ok := pim.ParseStamp(ada.UID); !ok {
			t.Errorf("Ada created on the server without the CRM stamp: UID %q", ada.UID)
		}
		if ada.Fields[pim.FieldTitle].Str != "Countess" || !strings.Contains(ada.Fields[pim.FieldAddress].Str, "London") {
			t.Errorf("Ada on the server: %v", ada.Fields)
		}
		if c := cats(ada); !slices.Equal(c, []string{"Base Current Customer", "Base Person"}) {
			t.Errorf("Ada's categories %v", c)
		}
		if c := cats(rs["Grace Hopper"]); !slices.Equal(c, []string{"Base Lead", "Base Person"}) {
			t.Errorf("Grace's categories %v", c)
		}
		if rs["Alan Turing"].UID != "alan-phone" {
			t.Errorf("Alan's remote item replaced: UID %q", rs["Alan Turing"].UID)
		}
		etags := map[string]string{}
		for uid, it := range e.remoteItems() {
			etags[uid] = it.ETag
		}
		e.sync()
		for uid, it := range e.remoteItems() {
			if etags[uid] != it.ETag {
				t.Errorf("a pass with no change rewrote %s", uid)
			}
		}
		if len(e.contacts()) != 5 {
			t.Fatal("second pass changed the CRM")
		}
		if a := e.acct(); a.State != crm.StateSynced {
			t.Errorf("state %s (%s)", a.State, a.ErrorMessage)
		}
	})
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestPIMConflictPolicies edits the same field on both sides between two
// passes, under each policy.
func TestPIMConflictPolicies(t *testing.T) {
	srv := radicale.Start(t, nil)
	for _, tc := range []struct {
		policy   string
		crmFirst bool   // the CRM edit is the older one
		want     string // the title both sides end with
		replaced string // the value kept in replaced_title_<day>, "" none
	}{
		{"newest_wins", true, "Remote title", "CRM title"},
		{"newest_wins", false, "CRM title", "Remote title"},
		{"crm_wins", true, "CRM title", ""},
		{"provider_wins", false, "Remote title", ""},
	} {
		t.Run(fmt.Sprintf("%s/crm_first=%v", tc.policy, tc.crmFirst), func(t *testing.T) {
			eachStore(t, func(t *testing.T, f storetest.Factory) {
				e := newPIMEnv(t, f, srv, "contacts", crm.PIMOptions{ConflictPolicy: tc.policy})
				c := e.createContact(crm.Contact{FirstName: "Ada", LastName: "Lovelace", Emails: []string{"ada@analytical.example"}, Title: "Base title"})
				e.sync()
				editCRM := func() {
					e.updateContact(c.ID, func(c *crm.Contact) { c.Title = "CRM title"; c.Phones = []string{"+44 1"} })
				}
				editRemote := func() {
					e.edit(e.remoteByName()["Ada Lovelace"], func(f pim.Fields) {
						f[pim.FieldTitle] = pim.Str("Remote title")
						f[pim.FieldNotes] = pim.Str("met at the RSA")
					})
				}
				if tc.crmFirst {
					editCRM()
					time.Sleep(1100 * time.Millisecond) // the server dates items to the second
					editRemote()
				} else {
					editRemote()
					time.Sleep(1100 * time.Millisecond)
					editCRM()
				}
				e.sync()
				got := e.contacts()["Ada Lovelace"]
				rem := e.remoteByName()["Ada Lovelace"]
				if got.Title != tc.want || rem.Fields[pim.FieldTitle].Str != tc.want {
					t.Errorf("title: CRM %q, remote %q, want %q", got.Title, rem.Fields[pim.FieldTitle].Str, tc.want)
				}
				// Fields changed on one side only apply under every policy.
				if got.Notes != "met at the RSA" || len(rem.Fields[pim.FieldPhones].List) != 1 || len(got.Phones) != 1 {
					t.Errorf("one-sided changes lost: CRM notes %q phones %v, remote phones %v", got.Notes, got.Phones, rem.Fields[pim.FieldPhones].List)
				}
				field := pim.CustomFieldName("title", time.Now())
				if got.CustomFields[field] != tc.replaced {
					t.Errorf("custom field %s = %q, want %q (all: %v)", field, got.CustomFields[field], tc.replaced, got.CustomFields)
				}
				// And it is stable: another pass writes nothing.
				etag := rem.ETag
				e.sync()
				if e.remoteByName()["Ada Lovelace"].ETag != etag {
					t.Error("the pass after the merge rewrote the item (echo)")
				}
			})
		})
	}
}

// TestPIMFixedCategoriesAndImportFilter: a fixed category renamed or
// removed on the server comes back; only the chosen categories are
// imported, and the others stay on the server untouched.
func TestPIMFixedCategoriesAndImportFilter(t *testing.T) {
	srv := radicale.Start(t, nil)
	eachStore(t, func(t *testing.T, f storetest.Factory) {
		e := newPIMEnv(t, f, srv, "contacts", crm.PIMOptions{ImportCategories: []string{"Clients"}})
		e.put("a.vcf", vcard("a", "Anna", "Client", "anna@client.example", "CATEGORIES:Clients,Golf"))
		e.put("b.vcf", vcard("b", "Bob", "Private", "bob@home.example", "CATEGORIES:Family"))
		e.put("c.vcf", vcard("c", "Carl", "None", "carl@none.example"))
		e.sync()
		cs := e.contacts()
		if len(cs) != 1 || !slices.Equal(cs["Anna Client"].Categories, []string{"Clients"}) {
			t.Fatalf("imported: %v (Anna's categories %v), want Anna with [Clients] only", keys(cs), cs["Anna Client"].Categories)
		}
		rs := e.remoteByName()
		if c := cats(rs["Anna Client"]); !slices.Equal(c, []string{"Base Lead", "Base Person", "Clients", "Golf"}) {
			t.Errorf("Anna's remote categories %v", c)
		}
		if c := cats(rs["Bob Private"]); !slices.Equal(c, []string{"Family"}) {
			t.Errorf("an item not imported was changed: %v", c)
		}
		// The user renames one fixed category and removes the other.
		e.edit(rs["Anna Client"], func(f pim.Fields) { f[pim.FieldCategories] = pim.SetOf("Clients", "Golf", "base  lead") })
		e.sync()
		if c := cats(e.remoteByName()["Anna Client"]); !slices.Equal(c, []string{"Base Lead", "Base Person", "Clients", "Golf"}) {
			t.Errorf("fixed categories not restored: %v", c)
		}
		// The CRM status changes: the fixed category follows.
		e.updateContact(cs["Anna Client"].ID, func(c *crm.Contact) { c.Lifecycle = crm.LifecycleCustomer })
		e.sync()
		if c := cats(e.remoteByName()["Anna Client"]); !slices.Equal(c, []string{"Base Current Customer", "Base Person", "Clients", "Golf"}) {
			t.Errorf("fixed categories after the contact became a customer: %v", c)
		}
		// Bob gets the imported category: he comes in.
		e.edit(e.remoteByName()["Bob Private"], func(f pim.Fields) { f[pim.FieldCategories] = pim.SetOf("Family", "Clients") })
		e.sync()
		if _, ok := e.contacts()["Bob Private"]; !ok {
			t.Error("an item given an imported category was not imported")
		}
		// The user now imports every category: the items left out come in.
		if _, err := e.st.UpdatePIMAccount(context.Background(), e.viewer, e.account.ID, func(a *crm.PIMAccount) error {
			a.Options.ImportCategories = nil
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		e.sync()
		if _, ok := e.contacts()["Carl None"]; !ok {
			t.Errorf("an item left out is not imported once every category is: %v", keys(e.contacts()))
		}
	})
}

// TestPIMDeletionsNotPropagated: an item deleted on one side stays on the
// other, and is never recreated.
func TestPIMDeletionsNotPropagated(t *testing.T) {
	srv := radicale.Start(t, nil)
	eachStore(t, func(t *testing.T, f storetest.Factory) {
		e := newPIMEnv(t, f, srv, "contacts", crm.PIMOptions{})
		a := e.createContact(crm.Contact{FirstName: "Ada", LastName: "Lovelace", Emails: []string{"ada@analytical.example"}})
		e.put("grace.vcf", vcard("grace-1", "Grace", "Hopper", "grace@navy.example"))
		e.sync()
		// Deleted on the server: kept in the CRM, not pushed back even
		// after a CRM edit.
		e.srv.Delete(t, e.user, e.remoteByName()["Ada Lovelace"].Href)
		e.sync()
		e.updateContact(a.ID, func(c *crm.Contact) { c.Title = "Countess" })
		e.sync()
		if _, ok := e.remoteByName()["Ada Lovelace"]; ok {
			t.Error("a contact deleted on the server was recreated")
		}
		if _, ok := e.contacts()["Ada Lovelace"]; !ok {
			t.Error("a deletion on the server was propagated to the CRM")
		}
		// Deleted in the CRM: kept on the server, not imported again even
		// after a server edit.
		g := e.contacts()["Grace Hopper"]
		if err := e.st.DeleteContact(context.Background(), e.viewer, g.ID); err != nil {
			t.Fatal(err)
		}
		e.sync()
		e.edit(e.remoteByName()["Grace Hopper"], func(f pim.Fields) { f[pim.FieldTitle] = pim.Str("Rear Admiral") })
		e.sync()
		if _, ok := e.contacts()["Grace Hopper"]; ok {
			t.Error("a contact deleted in the CRM was imported again")
		}
		if _, ok := e.remoteByName()["Grace Hopper"]; !ok {
			t.Error("a deletion in the CRM was propagated to the server")
		}
	})
}

// flakyRemote fails every write after the first n, as a connection
// dropped mid-pass would.
type flakyRemote struct {
	pim.Remote
	mu sync.Mutex
	n  int
}

func (r *flakyRemote) tick() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n <= 0 {
		return &connerr.Error{Kind: connerr.Unreachable, Message: "connection reset (test)"}
	}
	r.n--
	return nil
}

func (r *flakyRemote) Create(ctx context.Context, uid string, f pim.Fields) (pim.RemoteItem, error) {
	if err := r.tick(); err != nil {
		return pim.RemoteItem{}, err
	}
	return r.Remote.Create(ctx, uid, f)
}

func (r *flakyRemote) Update(ctx context.Context, prev pim.RemoteItem, f pim.Fields) (pim.RemoteItem, error) {
	if err := r.tick(); err != nil {
		return pim.RemoteItem{}, err
	}
	return r.Remote.Update(ctx, prev, f)
}

// lostReplyRemote makes its writes on the server but reports them failed,
// as a connection dropped before the answer arrived would.
type lostReplyRemote struct{ pim.Remote }

func (r lostReplyRemote) Create(ctx context.Context, uid string, f pim.Fields) (pim.RemoteItem, error) {
	if _, err := r.Remote.Create(ctx, uid, f); err != nil {
		return pim.RemoteItem{}, err
	}
	return pim.RemoteItem{}, &connerr.Error{Kind: connerr.Unreachable, Message: "connection reset before the answer (test)"}
}

// TestPIMInterruptedAndTokenReset: a pass cut off mid-way resumes without
// duplicates on either side; a sync token the server forgot leads to a
// full comparison, again without duplicates.
func TestPIMInterruptedAndTokenReset(t *testing.T) {
	srv := radicale.Start(t, nil)
	eachStore(t, func(t *testing.T, f storetest.Factory) {
		e := newPIMEnv(t, f, srv, "contacts", crm.PIMOptions{})
		for i := range 12 {
			e.createContact(crm.Contact{FirstName: "Crm", LastName: fmt.Sprint(i), Emails: []string{fmt.Sprintf("crm%d@x.example", i)}})
			e.put(fmt.Sprintf("r%d.vcf", i), vcard(fmt.Sprintf("r%d", i), "Remote", fmt.Sprint(i), fmt.Sprintf("remote%d@y.example", i)))
		}
		for _, n := range []int{3, 7} {
			e.wrap = func(r pim.Remote) pim.Remote { return &flakyRemote{Remote: r, n: n} }
			if err := e.trySync(); err == nil {
				t.Fatalf("the pass with writes failing after %d did not fail", n)
			}
			if a := e.acct(); a.State != crm.StateUnreachable {
				t.Errorf("state after a dropped connection: %s", a.State)
			}
		}
		// A create that reached the server but whose answer was lost.
		e.createContact(crm.Contact{FirstName: "Lost", LastName: "Reply", Emails: []string{"lost@x.example"}})
		e.wrap = func(r pim.Remote) pim.Remote { return lostReplyRemote{r} }
		if err := e.trySync(); err == nil {
			t.Fatal("the pass whose create lost its answer did not fail")
		}
		e.wrap = nil
		e.sync()
		if n := len(e.contacts()); n != 25 {
			t.Errorf("CRM contacts after resuming: %d, want 25", n)
		}
		if n := len(e.remoteByName()); n != 25 {
			t.Errorf("remote contacts after resuming: %d, want 25", n)
		}
		e.put("late.vcf", vcard("late", "Late", "Comer", "late@z.example"))
		e.srv.ExpireSyncTokens(t, e.coll)
		e.sync()
		if n := len(e.contacts()); n != 26 {
			t.Errorf("CRM contacts after a token reset: %d, want 26", n)
		}
		if n := len(e.remoteByName()); n != 26 {
			t.Errorf("remote contacts after a token reset: %d, want 26", n)
		}
		evs, _ := e.st.PIMAccountEvents(context.Background(), e.account.ID, 50)
		found := false
		for _, ev := range evs {
			found = found || ev.Kind == "token_reset"
		}
		if !found {
			t.Errorf("no token_reset event in the history: %+v", evs)
		}
	})
}

const recurringICS = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\n" +
	"BEGIN:VTIMEZONE\r\nTZID:W. Europe Standard Time\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\n" +
	"RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:16010101T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n" +
	"RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r\nEND:DAYLIGHT\r\nEND:VTIMEZONE\r\n" +
	"BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20261101T090000Z\r\nSUMMARY:Weekly pipeline review\r\n" +
	"DTSTART;TZID=W. Europe Standard Time:20261102T100000\r\nDTEND;TZID=W. Europe Standard Time:20261102T110000\r\n" +
	"RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20270301T000000Z\r\nEXDATE;TZID=W. Europe Standard Time:20261116T100000\r\n" +
	"CATEGORIES:Sales\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:Reminder\r\nEND:VALARM\r\nEND:VEVENT\r\n" +
	"BEGIN:VEVENT\r\nUID:weekly-1\r\nDTSTAMP:20261101T090000Z\r\nRECURRENCE-ID;TZID=W. Europe Standard Time:20261123T100000\r\n" +
	"SUMMARY:Weekly pipeline review (moved)\r\nDTSTART;TZID=W. Europe Standard Time:20261124T140000\r\n" +
	"DTEND;TZID=W. Europe Standard Time:20261124T150000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"

const allDayICS = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\nBEGIN:VEVENT\r\nUID:offsite-1\r\nDTSTAMP:20261101T090000Z\r\n" +
	"SUMMARY:Team offsite\r\nDTSTART;VALUE=DATE:20261210\r\nDTEND;VALUE=DATE:20261212\r\nCATEGORIES:Internal\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"

// TestPIMEvents: a recurring event with an exception and an excluded date
// comes into the CRM whole, survives a CRM edit of its summary unchanged
// otherwise (alarm, time zone, exception), and CRM events go out; the
// event category filter keeps others out.
func TestPIMEvents(t *testing.T) {
	srv := radicale.Start(t, nil)
	eachStore(t, func(t *testing.T, f storetest.Factory) {
		e := newPIMEnv(t, f, srv, "events", crm.PIMOptions{EventCategories: []string{"Sales"}})
		e.put("weekly.ics", recurringICS)
		e.put("offsite.ics", allDayICS)
		ctx := context.Background()
		_, err := e.st.CreateEvent(ctx, e.viewer, crm.Event{OrgID: e.viewer.OrgID, OwnerID: e.viewer.UserID, Summary: "Demo at Acme",
			Start: "2026-12-01T15:00:00[America/New_York]", End: "2026-12-01T16:00:00[America/New_York]", Categories: []string{"Sales"},
			Attendees: []string{"buyer@acme.example"}})
		if err != nil {
			t.Fatal(err)
		}
		e.sync()
		p, err := e.st.ListEvents(ctx, e.viewer, store.EventFilter{ListParams: store.ListParams{Limit: 50}})
		if err != nil {
			t.Fatal(err)
		}
		var weekly *crm.Event
		for i := range p.Items {
			if p.Items[i].Summary == "Weekly pipeline review" {
				weekly = &p.Items[i]
			}
			if p.Items[i].Summary == "Team offsite" {
				t.Error("an event outside the chosen categories was imported")
			}
		}
		if weekly == nil || len(p.Items) != 2 {
			t.Fatalf("CRM events: %+v", p.Items)
		}
		if weekly.Start != "2026-11-02T10:00:00[Europe/Berlin]" && !strings.HasPrefix(string(weekly.Start), "2026-11-02T10:00:00[Europe/") {
			t.Errorf("start %q: the Windows zone name was not mapped", weekly.Start)
		}
		if !strings.Contains(weekly.RRule, "FREQ=WEEKLY") || len(weekly.ExDates) != 1 || len(weekly.Overrides) != 1 {
			t.Errorf("recurrence lost: rrule %q exdates %v overrides %+v", weekly.RRule, weekly.ExDates, weekly.Overrides)
		}
		before := e.remoteByName()["Weekly pipeline review"]
		if _, err := e.st.UpdateEvent(ctx, e.viewer, weekly.ID, func(ev *crm.Event) error { ev.Summary = "Weekly pipeline review (CRM)"; return nil }); err != nil {
			t.Fatal(err)
		}
		e.sync()
		after := e.remoteByName()["Weekly pipeline review (CRM)"]
		for _, f := range []string{pim.FieldStart, pim.FieldEnd, pim.FieldRRule, pim.FieldExDates, pim.FieldOverrides, pim.FieldCategories} {
			if !before.Fields[f].Equal(after.Fields[f]) {
				t.Errorf("%s changed on the server: %v → %v", f, before.Fields[f], after.Fields[f])
			}
		}
		for _, s := range []string{"VALARM", "RECURRENCE-ID", "EXDATE"} {
			if !strings.Contains(string(after.Raw), s) {
				t.Errorf("the server's event lost its %s:\n%s", s, after.Raw)
			}
		}
		demo, ok := e.remoteByName()["Demo at Acme"]
		if !ok || demo.Fields[pim.FieldStart].Str != "2026-12-01T15:00:00[America/New_York]" {
			t.Errorf("CRM event on the server: %+v", demo.Fields)
		}
	})
}

// TestPIMTasks: tasks both ways, and a completion on the server.
func TestPIMTasks(t *testing.T) {
	srv := radicale.Start(t, nil)
	eachStore(t, func(t *testing.T, f storetest.Factory) {
		e := newPIMEnv(t, f, srv, "tasks", crm.PIMOptions{})
		ctx := context.Background()
		if _, err := e.st.CreateTask(ctx, e.viewer, crm.Task{OrgID: e.viewer.OrgID, OwnerID: e.viewer.UserID, Summary: "Send the quote",
			Due: "2026-11-25", Priority: 1}); err != nil {
			t.Fatal(err)
		}
		e.put("call.ics", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Test//EN\r\nBEGIN:VTODO\r\nUID:call-1\r\nDTSTAMP:20261101T090000Z\r\n"+
			"SUMMARY:Call Grace\r\nDUE;VALUE=DATE:20261124\r\nSTATUS:NEEDS-ACTION\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
		e.sync()
		rs := e.remoteByName()
		if q, ok := rs["Send the quote"]; !ok || q.Fields[pim.FieldDue].Str != "2026-11-25" || q.Fields[pim.FieldPriority].Str != "1" {
			t.Errorf("CRM task on the server: %+v", rs["Send the quote"].Fields)
		}
		e.edit(rs["Call Grace"], func(f pim.Fields) {
			f[pim.FieldStatus] = pim.Str("completed")
			f[pim.FieldCompleted] = pim.Str("2026-11-21T10:00:00Z")
		})
		e.sync()
		p, err := e.st.ListTasks(ctx, e.viewer, store.TaskFilter{ListParams: store.ListParams{Limit: 50}})
		if err != nil {
			t.Fatal(err)
		}
		done := false
		for _, tk := range p.Items {
			done = done || (tk.Summary == "Call Grace" && tk.Status == crm.TaskCompleted)
		}
		if len(p.Items) != 2 || !done {
			t.Errorf("CRM tasks: %+v", p.Items)
		}
	})
}

// racingRemote changes the item on the server, as another client would,
// right before the engine's first conditional update of it.
type racingRemote struct {
	pim.Remote
	once sync.Once
	race func(prev pim.RemoteItem)
}

func (r *racingRemote) Update(ctx context.Context, prev pim.RemoteItem, f pim.Fields) (pim.RemoteItem, error) {
	r.once.Do(func() { r.race(prev) })
	return r.Remote.Update(ctx, prev, f)
}

// TestPIMConcurrentChangeAndBadItem: an update refused with 412 (the item
// changed meanwhile) is refetched and merged, losing neither change; an
// item the codec cannot read is reported and skipped while the others
// sync; a manager's address book holds their report's contacts.
func TestPIMConcurrentChangeAndBadItem(t *testing.T) {
	srv := radicale.Start(t, nil)
	eachStore(t, func(t *testing.T, f storetest.Factory) {
		e := newPIMEnv(t, f, srv, "contacts", crm.PIMOptions{})
		ctx := context.Background()
		rep, err := e.st.CreateUser(ctx, e.viewer.OrgID, store.UserParams{Email: "rep@acme.example", Name: "Rep", Role: crm.RoleMember, ManagerID: &e.viewer.UserID})
		if err != nil {
			t.Fatal(err)
		}
		repView := crm.Viewer{OrgID: e.viewer.OrgID, UserID: rep.ID, Role: crm.RoleMember}
		if _, err := e.st.CreateContact(ctx, repView, crm.Contact{OrgID: e.viewer.OrgID, OwnerID: rep.ID, FirstName: "Rita", LastName: "Report",
			Emails: []string{"rita@client.example"}, Lifecycle: crm.LifecycleProspect}); err != nil {
			t.Fatal(err)
		}
		a := e.createContact(crm.Contact{FirstName: "Ada", LastName: "Lovelace", Emails: []string{"ada@analytical.example"}})
		e.put("broken.vcf", vcard("broken", "Broken", "Card", "broken@x.example"))
		e.sync()
		if _, ok := e.remoteByName()["Rita Report"]; !ok {
			t.Error("the report's contact is not in the manager's address book")
		}
		// An item that cannot be read (Radicale refuses malformed vCards
		// itself, so the connector reports it as the codec would).
		e.put("broken.vcf", vcard("broken", "Broken", "Card", "broken@x.example", "TITLE:v2"))
		e.wrap = func(r pim.Remote) pim.Remote {
			return &racingRemote{Remote: &badRemote{Remote: r, href: e.coll + "broken.vcf"}, race: func(prev pim.RemoteItem) {
				it := e.remoteItems()[prev.UID]
				body, err := carddav.Encode(it.Raw, it.UID, func() pim.Fields {
					f := it.Fields.Clone()
					f[pim.FieldNotes] = pim.Str("written by another client meanwhile")
					return f
				}())
				if err != nil {
					t.Error(err)
					return
				}
				e.srv.Put(t, e.user, it.Href, string(body))
			}}
		}
		e.updateContact(a.ID, func(c *crm.Contact) { c.Title = "Countess" })
		e.sync()
		e.wrap = nil
		ada := e.remoteByName()["Ada Lovelace"]
		if ada.Fields[pim.FieldTitle].Str != "Countess" || ada.Fields[pim.FieldNotes].Str != "written by another client meanwhile" {
			t.Errorf("after a 412: remote %v", ada.Fields)
		}
		if c := e.contacts()["Ada Lovelace"]; c.Notes != "written by another client meanwhile" {
			t.Errorf("after a 412: CRM notes %q", c.Notes)
		}
		items, err := e.st.PIMItems(ctx, e.collection().ID)
		if err != nil {
			t.Fatal(err)
		}
		bad := 0
		for _, it := range items {
			if it.Error != "" {
				bad++
			}
		}
		if bad != 1 {
			t.Errorf("%d items carry an error, want the unreadable one", bad)
		}
		if a := e.acct(); a.State != crm.StateSynced {
			t.Errorf("one bad item must not fail the account: %s %s", a.State, a.ErrorMessage)
		}
	})
}

// badRemote reports the item at href as unreadable.
type badRemote struct {
	pim.Remote
	href string
}

func (r *badRemote) Fetch(ctx context.Context, hrefs []string) ([]pim.RemoteItem, []pim.ItemError, []string, error) {
	items, bad, missing, err := r.Remote.Fetch(ctx, hrefs)
	for i := 0; i < len(items); i++ {
		if items[i].Href == r.href {
			bad = append(bad, pim.ItemError{Href: r.href, Err: fmt.Errorf("carddav: unreadable vCard (test)")})
			items = slices.Delete(items, i, i+1)
			i--
		}
	}
	return items, bad, missing, err
}

func (e *pimEnv) collection() store.PIMCollection {
	e.t.Helper()
	cs, err := e.st.PIMCollections(context.Background(), e.account.ID)
	if err != nil || len(cs) != 1 {
		e.t.Fatalf("collections: %v %v", cs, err)
	}
	return cs[0]
}

// TestPIMScenarios: edits on both sides whose outcome the review of the
// engine pinned down.
func TestPIMScenarios(t *testing.T) {
	srv := radicale.Start(t, nil)
	eachStore(t, func(t *testing.T, f storetest.Factory) {
		e := newPIMEnv(t, f, srv, "contacts", crm.PIMOptions{ImportCategories: []string{"Clients"}})
		c := e.createContact(crm.Contact{FirstName: "Ada", LastName: "Lovelace", Emails: []string{"ada@old.example"},
			Phones: []string{"+44 (0)20 7946 0000"}, Categories: []string{"VIP"}, CustomFields: map[string]string{"source": "trade fair"}})
		e.sync()
		if c := cats(e.remoteByName()["Ada Lovelace"]); !slices.Equal(c, []string{"Base Lead", "Base Person", "VIP"}) {
			t.Fatalf("Ada's categories on the server %v", c)
		}
		// The same address replaced differently on each side, the server
		// last; the CRM also changes the title.
		e.updateContact(c.ID, func(c *crm.Contact) { c.Emails = []string{"ada@crm.example"}; c.Title = "Countess" })
		time.Sleep(1100 * time.Millisecond)
		e.edit(e.remoteByName()["Ada Lovelace"], func(f pim.Fields) { f[pim.FieldEmails] = pim.ListOf("ada@server.example") })
		e.sync()
		got := e.contacts()["Ada Lovelace"]
		rem := e.remoteByName()["Ada Lovelace"]
		if !slices.Equal(got.Emails, []string{"ada@server.example"}) || !slices.Equal(rem.Fields[pim.FieldEmails].List, []string{"ada@server.example"}) {
			t.Errorf("emails: CRM %v, server %v, want the newest [ada@server.example] on both", got.Emails, rem.Fields[pim.FieldEmails].List)
		}
		if v := got.CustomFields[pim.CustomFieldName(pim.FieldEmails, time.Now().UTC())]; v != "ada@crm.example" {
			t.Errorf("replaced email kept as %q (custom fields %v)", v, got.CustomFields)
		}
		if got.CustomFields["source"] != "trade fair" {
			t.Errorf("a custom field of the record was lost: %v", got.CustomFields)
		}
		if got.Phones[0] != "+44 (0)20 7946 0000" {
			t.Errorf("a field nobody changed was rewritten in the CRM: %q", got.Phones[0])
		}
		if !slices.Equal(got.Categories, []string{"VIP"}) || rem.Fields[pim.FieldTitle].Str != "Countess" {
			t.Errorf("CRM categories %v (VIP must stay: it is the record's own), server title %q", got.Categories, rem.Fields[pim.FieldTitle].Str)
		}
		// The contact's company is renamed in the CRM: its vCard follows.
		co, err := e.st.CreateCompany(context.Background(), e.viewer, crm.Company{OrgID: e.viewer.OrgID, OwnerID: e.viewer.UserID, Name: "Analytical Engines"})
		if err != nil {
			t.Fatal(err)
		}
		e.updateContact(c.ID, func(c *crm.Contact) { c.CompanyID = &co.ID })
		e.sync()
		if _, err := e.st.UpdateCompany(context.Background(), e.viewer, co.ID, func(c *crm.Company) error { c.Name = "Babbage & Co"; return nil }); err != nil {
			t.Fatal(err)
		}
		e.sync()
		if got := e.remoteByName()["Ada Lovelace"].Fields[pim.FieldCompany].Str; got != "Babbage & Co" {
			t.Errorf("the server's ORG after the company was renamed: %q", got)
		}
		// A fixed category renamed on the server is renamed back, and the
		// new name does not reach the CRM.
		e.edit(e.remoteByName()["Ada Lovelace"], func(f pim.Fields) { f[pim.FieldCategories] = pim.SetOf("Leads", "Base Person", "VIP") })
		e.sync()
		if c := cats(e.remoteByName()["Ada Lovelace"]); !slices.Equal(c, []string{"Base Lead", "Base Person", "VIP"}) {
			t.Errorf("after renaming Base Lead to Leads: %v", c)
		}
		if got := e.contacts()["Ada Lovelace"]; slices.Contains(got.Categories, "Leads") {
			t.Errorf("the renamed fixed category reached the CRM: %v", got.Categories)
		}
	})
}

// TestPIMOutOfSight: a contact reassigned to someone the account's owner
// does not see is not taken for deleted; given back, it syncs again.
func TestPIMOutOfSight(t *testing.T) {
	srv := radicale.Start(t, nil)
	eachStore(t, func(t *testing.T, f storetest.Factory) {
		ctx := context.Background()
		e := newPIMEnv(t, f, srv, "contacts", crm.PIMOptions{})
		admin := e.viewer
		ann, err := e.st.CreateUser(ctx, admin.OrgID, store.UserParams{Email: "ann@acme.example", Name: "Ann", Role: crm.RoleMember})
		if err != nil {
			t.Fatal(err)
		}
		bob, err := e.st.CreateUser(ctx, admin.OrgID, store.UserParams{Email: "bob@acme.example", Name: "Bob", Role: crm.RoleMember})
		if err != nil {
			t.Fatal(err)
		}
		// The account is Ann's.
		if err := e.st.DeletePIMAccount(ctx, admin, e.account.ID); err != nil {
			t.Fatal(err)
		}
		e.viewer = crm.Viewer{OrgID: admin.OrgID, UserID: ann.ID, Role: crm.RoleMember}
		e.account, err = e.st.CreatePIMAccount(ctx, e.viewer, crm.PIMAccount{UserID: ann.ID, Kind: crm.PIMCardDAV, URL: srv.URL(), Username: e.user,
			Options: crm.PIMOptions{Collection: e.coll}, State: crm.StateConnecting})
		if err != nil {
			t.Fatal(err)
		}
		c := e.createContact(crm.Contact{FirstName: "Ada", LastName: "Lovelace", Emails: []string{"ada@analytical.example"}})
		e.sync()
		if _, err := e.st.UpdateContact(ctx, admin, c.ID, func(c *crm.Contact) error { c.OwnerID = bob.ID; return nil }); err != nil {
			t.Fatal(err)
		}
		e.sync()
		if _, err := e.st.UpdateContact(ctx, admin, c.ID, func(c *crm.Contact) error { c.OwnerID = ann.ID; c.Title = "Countess"; return nil }); err != nil {
			t.Fatal(err)
		}
		e.sync()
		if got := e.remoteByName()["Ada Lovelace"].Fields[pim.FieldTitle].Str; got != "Countess" {
			t.Errorf("a contact back in sight did not sync again: title %q on the server", got)
		}
	})
}

// refusingRemote refuses every create, as a server refusing a record's
// content would, and counts the attempts.
type refusingRemote struct {
	pim.Remote
	creates *int
}

func (r refusingRemote) Create(ctx context.Context, uid string, f pim.Fields) (pim.RemoteItem, error) {
	*r.creates++
	return pim.RemoteItem{}, fmt.Errorf("%w: 415 the server does not accept this card (test)", pim.ErrRefused)
}

// TestPIMRefusedCreate: a record the server refuses is reported, the rest
// syncs, and it is not tried again until it changes.
func TestPIMRefusedCreate(t *testing.T) {
	srv := radicale.Start(t, nil)
	eachStore(t, func(t *testing.T, f storetest.Factory) {
		e := newPIMEnv(t, f, srv, "contacts", crm.PIMOptions{})
		c := e.createContact(crm.Contact{FirstName: "Ada", LastName: "Lovelace", Emails: []string{"ada@analytical.example"}})
		e.put("grace.vcf", vcard("grace-1", "Grace", "Hopper", "grace@navy.example"))
		creates := 0
		e.wrap = func(r pim.Remote) pim.Remote { return refusingRemote{r, &creates} }
		e.sync()
		e.sync()
		if creates != 1 {
			t.Errorf("%d create attempts over two passes, want 1", creates)
		}
		if _, ok := e.contacts()["Grace Hopper"]; !ok {
			t.Error("a refused record blocked the others")
		}
		st, err := e.st.PIMItemStats(context.Background(), e.account.ID, 10)
		if err != nil || st.Errors != 1 || len(st.ItemErrors) != 1 || st.ItemErrors[0].CRMID != c.ID {
			t.Errorf("stats %+v, %v: want the refused record reported", st, err)
		}
		e.wrap = nil
		e.updateContact(c.ID, func(c *crm.Contact) { c.Title = "Countess" })
		e.sync()
		if got := e.remoteByName()["Ada Lovelace"].Fields[pim.FieldTitle].Str; got != "Countess" {
			t.Errorf("the record was not created once it changed: %q", got)
		}
		if st, _ := e.st.PIMItemStats(context.Background(), e.account.ID, 10); st.Errors != 0 || st.Synced[pim.RecordContact] != 2 {
			t.Errorf("stats after the create %+v", st)
		}
	})
}
