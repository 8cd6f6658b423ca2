package googlepim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/engine"
	"github.com/crmsync/crmsync/internal/pim/googlepim"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/sqlstore"
	"github.com/crmsync/crmsync/internal/store/storetest"
	"github.com/crmsync/crmsync/internal/testpeer/googlefake"
)

// eng is one user's account on a store, syncing one Google collection.
type eng struct {
	t      *testing.T
	ctx    context.Context
	st     *sqlstore.DB
	v      crm.Viewer
	fence  store.Fence
	collID int64
	acct   int64
	p      *peer
	k      kindCase
}

// kindCase is what differs between contacts, events and tasks: records
// are told apart by their name (first name, summary) and conflicts are on
// one text field.
type kindCase struct {
	kind      pim.CollectionKind
	pimKind   crm.PIMKind
	href      string
	nameField string
	confField string
	newRemote func(p *peer) pim.Remote
	crmCreate func(e *eng, name string)
	crmSet    func(e *eng, name, value string)
	crmValues func(e *eng) map[string]string // name → conflict field
	addRemote func(p *peer, name string)
	setRemote func(p *peer, href, value string)
}

func jsonField(m map[string]any, k string) string {
	var s string
	b, _ := json.Marshal(m[k])
	_ = json.Unmarshal(b, &s)
	return s
}

var kinds = []kindCase{
	{
		kind: pim.Contacts, pimKind: crm.PIMCardDAV, href: googlepim.ContactsID,
		nameField: pim.FieldFirstName, confField: pim.FieldTitle,
		newRemote: func(p *peer) pim.Remote { return googlepim.NewContacts(p.c) },
		crmCreate: func(e *eng, name string) {
			_, err := e.st.CreateContact(e.ctx, e.v, crm.Contact{OrgID: e.v.OrgID, OwnerID: e.v.UserID, FirstName: name, LastName: "Doe",
				Emails: []string{strings.ToLower(name) + "@crm.example"}, Lifecycle: crm.LifecycleLead})
			if err != nil {
				e.t.Fatal(err)
			}
		},
		crmSet: func(e *eng, name, value string) {
			for _, c := range e.crmContacts() {
				if c.FirstName == name {
					if _, err := e.st.UpdateContact(e.ctx, e.v, c.ID, func(c *crm.Contact) error { c.Title = value; return nil }); err != nil {
						e.t.Fatal(err)
					}
				}
			}
		},
		crmValues: func(e *eng) map[string]string {
			out := map[string]string{}
			for _, c := range e.crmContacts() {
				if _, dup := out[c.FirstName]; dup {
					e.t.Fatalf("two CRM contacts named %s", c.FirstName)
				}
				out[c.FirstName] = c.Title
			}
			return out
		},
		addRemote: func(p *peer, name string) { p.api.PutPerson("", named(name)) },
		setRemote: func(p *peer, href, value string) {
			m := p.api.Persons()[href]
			m["organizations"] = []any{map[string]any{"title": value}}
			p.api.PutPerson(href, m)
		},
	},
	{
		kind: pim.Events, pimKind: crm.PIMCalDAV, href: googlefake.PrimaryCalendar,
		nameField: pim.FieldSummary, confField: pim.FieldDescription,
		newRemote: func(p *peer) pim.Remote { return googlepim.NewEvents(p.c, googlefake.PrimaryCalendar) },
		crmCreate: func(e *eng, name string) {
			_, err := e.st.CreateEvent(e.ctx, e.v, crm.Event{OrgID: e.v.OrgID, OwnerID: e.v.UserID, Summary: name,
				Start: "2026-11-02T10:00:00[Europe/Paris]", End: "2026-11-02T11:00:00[Europe/Paris]", RRule: "FREQ=WEEKLY;COUNT=5",
				ExDates:   []crm.When{"2026-11-09T10:00:00[Europe/Paris]"},
				Overrides: []crm.EventOverride{{RecurrenceID: "2026-11-16T10:00:00[Europe/Paris]", Summary: name + " (moved)", Start: "2026-11-16T12:00:00[Europe/Paris]"}}})
			if err != nil {
				e.t.Fatal(err)
			}
		},
		crmSet: func(e *eng, name, value string) {
			for _, x := range e.crmEvents() {
				if x.Summary == name {
					if _, err := e.st.UpdateEvent(e.ctx, e.v, x.ID, func(x *crm.Event) error { x.Description = value; return nil }); err != nil {
						e.t.Fatal(err)
					}
				}
			}
		},
		crmValues: func(e *eng) map[string]string {
			out := map[string]string{}
			for _, x := range e.crmEvents() {
				if _, dup := out[x.Summary]; dup {
					e.t.Fatalf("two CRM events named %s", x.Summary)
				}
				out[x.Summary] = x.Description
			}
			return out
		},
		addRemote: func(p *peer, name string) {
			id := fmt.Sprintf("r%08d", len(p.api.Events(googlefake.PrimaryCalendar)))
			p.api.PutEvent(googlefake.PrimaryCalendar, id, map[string]any{"summary": name,
				"start":      map[string]any{"dateTime": "2026-11-03T09:00:00+01:00", "timeZone": "Europe/Berlin"},
				"end":        map[string]any{"dateTime": "2026-11-03T09:30:00+01:00", "timeZone": "Europe/Berlin"},
				"recurrence": []any{"RRULE:FREQ=DAILY;COUNT=3"}})
			p.api.PutEvent(googlefake.PrimaryCalendar, id+"_20261104T080000Z", map[string]any{"recurringEventId": id, "status": "cancelled",
				"originalStartTime": map[string]any{"dateTime": "2026-11-04T09:00:00+01:00", "timeZone": "Europe/Berlin"}})
		},
		setRemote: func(p *peer, href, value string) {
			m := p.api.Events(googlefake.PrimaryCalendar)[href]
			m["description"] = value
			p.api.PutEvent(googlefake.PrimaryCalendar, href, m)
		},
	},
	{
		kind: pim.Tasks, pimKind: crm.PIMCalDAV, href: googlefake.DefaultTaskList,
		nameField: pim.FieldSummary, confField: pim.FieldDescription,
		newRemote: func(p *peer) pim.Remote { return googlepim.NewTasks(p.c, googlefake.DefaultTaskList) },
		crmCreate: func(e *eng, name string) {
			_, err := e.st.CreateTask(e.ctx, e.v, crm.Task{OrgID: e.v.OrgID, OwnerID: e.v.UserID, Summary: name, Due: "2026-11-05", Status: crm.TaskNeedsAction})
			if err != nil {
				e.t.Fatal(err)
			}
		},
		crmSet: func(e *eng, name, value string) {
			for _, x := range e.crmTasks() {
				if x.Summary == name {
					if _, err := e.st.UpdateTask(e.ctx, e.v, x.ID, func(x *crm.Task) error { x.Description = value; return nil }); err != nil {
						e.t.Fatal(err)
					}
				}
			}
		},
		crmValues: func(e *eng) map[string]string {
			out := map[string]string{}
			for _, x := range e.crmTasks() {
				if _, dup := out[x.Summary]; dup {
					e.t.Fatalf("two CRM tasks named %s", x.Summary)
				}
				out[x.Summary] = x.Description
			}
			return out
		},
		addRemote: func(p *peer, name string) {
			p.api.PutTask("", map[string]any{"title": name, "due": "2026-11-06T00:00:00.000Z"})
		},
		setRemote: func(p *peer, href, value string) {
			notes := jsonField(p.api.Tasks()[href], "notes")
			stamp := notes[strings.LastIndexByte(notes, '\n')+1:]
			if _, ok := pim.ParseStamp(stamp); ok {
				value += "\n\n" + stamp
			}
			p.api.PutTask(href, map[string]any{"notes": value})
		},
	},
}

func newEng(t *testing.T, k kindCase) *eng {
	st, _ := storetest.SQLite(t)
	ctx := context.Background()
	_, pfx, h := auth.NewToken()
	org, admin, _, err := st.CreateOrg(ctx, store.CreateOrgParams{Name: "acme", AdminEmail: "admin@acme.example", TokenName: "t", TokenHash: h, TokenPrefix: pfx})
	if err != nil {
		t.Fatal(err)
	}
	v := crm.Viewer{OrgID: org.ID, UserID: admin.ID, Role: crm.RoleAdmin}
	a, err := st.CreatePIMAccount(ctx, v, crm.PIMAccount{UserID: admin.ID, Kind: k.pimKind, URL: "https://www.googleapis.com/", Username: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	l, err := st.ClaimLease(ctx, "pim", fmt.Sprint(a.ID), "test", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	coll, err := st.PutPIMCollection(ctx, l.Fence(), store.PIMCollection{AccountID: a.ID, Href: k.href, Kind: k.kind, DisplayName: "Google"})
	if err != nil {
		t.Fatal(err)
	}
	return &eng{t: t, ctx: ctx, st: st, v: v, fence: l.Fence(), collID: coll.ID, acct: a.ID, p: newPeer(t), k: k}
}

func (e *eng) crmContacts() []crm.Contact {
	p, err := e.st.ListContacts(e.ctx, e.v, store.ContactFilter{ListParams: store.ListParams{Limit: store.MaxLimit}})
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Items
}

func (e *eng) crmEvents() []crm.Event {
	p, err := e.st.ListEvents(e.ctx, e.v, store.EventFilter{ListParams: store.ListParams{Limit: store.MaxLimit}})
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Items
}

func (e *eng) crmTasks() []crm.Task {
	p, err := e.st.ListTasks(e.ctx, e.v, store.TaskFilter{ListParams: store.ListParams{Limit: store.MaxLimit}})
	if err != nil {
		e.t.Fatal(err)
	}
	return p.Items
}

func (e *eng) collection() store.PIMCollection {
	colls, err := e.st.PIMCollections(e.ctx, e.acct)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, c := range colls {
		if c.ID == e.collID {
			return c
		}
	}
	e.t.Fatal("no collection")
	return store.PIMCollection{}
}

// pass runs passes until no backlog is left, each with a new Remote (as
// after a restart: nothing remembered but the stored cursor).
func (e *eng) pass(policy pim.Policy) engine.Stats {
	e.t.Helper()
	var total engine.Stats
	for range 5 {
		res, err := e.tryPass(policy)
		if err != nil {
			e.t.Fatalf("pass: %v", err)
		}
		if len(res.ItemErrors) > 0 {
			e.t.Fatalf("item errors: %v", res.ItemErrors)
		}
		total = total.Add(res.Stats)
		if res.Backlog == 0 {
			return total
		}
	}
	e.t.Fatal("backlog after 5 passes")
	return total
}

// tryPass runs one pass.
func (e *eng) tryPass(policy pim.Policy) (engine.Result, error) {
	return engine.Run(e.ctx, engine.Config{Port: engine.StorePort{Store: e.st, Fence: e.fence, Viewer: e.v},
		Remote: e.k.newRemote(e.p), Collection: e.collection(), Policy: policy})
}

// remote returns the collection's items by name, read through a new
// Remote; two of one name fail the test.
func (e *eng) remote() map[string]pim.RemoteItem {
	e.t.Helper()
	r := e.k.newRemote(e.p)
	ch, err := r.Changes(e.ctx, "")
	if err != nil {
		e.t.Fatal(err)
	}
	var hs []string
	for _, x := range ch.Items {
		hs = append(hs, x.Href)
	}
	items, bad, _, err := r.Fetch(e.ctx, hs)
	if err != nil || len(bad) > 0 {
		e.t.Fatalf("fetch: %v %v", bad, err)
	}
	out := map[string]pim.RemoteItem{}
	for _, it := range items {
		n := it.Fields[e.k.nameField].Str
		if _, dup := out[n]; dup {
			e.t.Fatalf("two remote items named %q", n)
		}
		out[n] = it
	}
	return out
}

// expire makes the provider forget the stored cursor.
func (e *eng) expire() {
	switch e.k.kind {
	case pim.Contacts:
		e.p.api.ExpirePeopleTokens()
	case pim.Events:
		e.p.api.ExpireCalendarTokens()
	default:
		// Tasks keep no token: a cursor crmsync cannot read is the same.
		if err := e.st.SetPIMCursor(e.ctx, e.fence, e.collID, "garbage", ""); err != nil {
			e.t.Fatal(err)
		}
	}
}

// TestEngineBothWays: a pass of the PIM engine over each Google Remote
// syncs both ways, settles, keeps no duplicate after the provider forgot
// the cursor, and decides a conflict as each policy says.
func TestEngineBothWays(t *testing.T) {
	for _, k := range kinds {
		for _, pol := range []pim.Policy{pim.NewestWins, pim.CRMWins, pim.ProviderWins} {
			t.Run(string(k.kind)+"/"+string(pol), func(t *testing.T) {
				e := newEng(t, k)
				k.crmCreate(e, "Crmone")
				k.addRemote(e.p, "Remoteone")
				e.pass(pol)
				crmSide, remote := k.crmValues(e), e.remote()
				if len(crmSide) != 2 || len(remote) != 2 || remote["Crmone"].Href == "" {
					t.Fatalf("after the first pass: CRM %v, remote %v", crmSide, remote)
				}
				if k.kind == pim.Events {
					// The CRM's series went with its exception and EXDATE,
					// and Google's with its cancelled occurrence.
					f := remote["Crmone"].Fields
					if f[pim.FieldRRule].Str != "FREQ=WEEKLY;COUNT=5" || len(f[pim.FieldExDates].List) != 1 || !strings.Contains(f[pim.FieldOverrides].Str, "Crmone (moved)") {
						t.Errorf("CRM series on Google: %v", f)
					}
					for _, x := range e.crmEvents() {
						if x.Summary == "Remoteone" && (x.RRule != "FREQ=DAILY;COUNT=3" || len(x.Overrides) != 1 || !x.Overrides[0].Cancelled) {
							t.Errorf("Google series in the CRM: %+v", x)
						}
					}
				}
				if st := e.pass(pol); st.ToRemote+st.CreatedRemote+st.ToCRM+st.CreatedCRM != 0 {
					t.Errorf("a pass with nothing changed wrote: %+v", st)
				}

				// The provider forgets the cursor: a full listing, matched.
				e.expire()
				e.pass(pol)
				if c, r := k.crmValues(e), e.remote(); len(c) != 2 || len(r) != 2 {
					t.Fatalf("after the cursor was forgotten: CRM %v, remote %v", c, r)
				}

				// Both sides change the same record.
				k.crmSet(e, "Crmone", "CRM value")
				time.Sleep(20 * time.Millisecond)
				k.setRemote(e.p, remote["Crmone"].Href, "Remote value")
				e.pass(pol)
				want := "Remote value"
				if pol == pim.CRMWins {
					want = "CRM value"
				}
				if got := k.crmValues(e)["Crmone"]; got != want {
					t.Errorf("CRM after the conflict: %q, want %q", got, want)
				}
				if got := e.remote()["Crmone"].Fields[k.confField].Str; got != want {
					t.Errorf("Google after the conflict: %q, want %q", got, want)
				}
				// A change on one side only goes to the other.
				k.setRemote(e.p, e.remote()["Remoteone"].Href, "From Google")
				e.pass(pol)
				if got := k.crmValues(e)["Remoteone"]; got != "From Google" {
					t.Errorf("a Google change reached the CRM as %q", got)
				}
			})
		}
	}
}

// TestEngineBaseGroups: the engine's pass keeps the fixed categories as
// contact groups: a CRM lead is in Base Person and Base Lead on Google; a
// group the user renamed or deleted is back after the next pass, with its
// members.
func TestEngineBaseGroups(t *testing.T) {
	e := newEng(t, kinds[0])
	kinds[0].crmCreate(e, "Lea")
	e.pass(pim.NewestWins)
	href := e.remote()["Lea"].Href
	want := []string{pim.CategoryLead, pim.CategoryPerson, "myContacts"}
	if got := e.p.api.PersonGroups(href); !slices.Equal(got, want) {
		t.Fatalf("groups of a CRM lead: %v, want %v", got, want)
	}
	byName := map[string]string{}
	for rn, n := range e.p.api.Groups() {
		byName[n] = rn
	}
	for _, c := range pim.FixedCategories {
		if byName[c] == "" {
			t.Fatalf("no group %q after a pass: %v", c, byName)
		}
	}
	e.p.api.RenameGroup(byName[pim.CategoryLead], "My leads")
	e.p.api.DeleteGroup(byName[pim.CategoryPerson])
	e.pass(pim.NewestWins)
	if got := e.p.api.PersonGroups(href); !slices.Equal(got, want) {
		t.Fatalf("groups after the user renamed and deleted them: %v, want %v", got, want)
	}
	n := 0
	for _, name := range e.p.api.Groups() {
		if pim.IsFixed(name) {
			n++
		}
	}
	if n != len(pim.FixedCategories) {
		t.Errorf("%d fixed groups, want %d: %v", n, len(pim.FixedCategories), e.p.api.Groups())
	}
	if c := e.crmContacts(); len(c) != 1 {
		t.Errorf("%d CRM contacts", len(c))
	}
}

// TestEngineLostCreateAnswer: the answer to a create is lost after Google
// made the item. Events carry an id made from the CRM stamp: the client's
// retry meets the first one and the pass links it. Persons and tasks have
// no such id: the create is not sent again, the pass fails as unreachable,
// and the next one finds the item by its stamp. Never a duplicate.
func TestEngineLostCreateAnswer(t *testing.T) {
	for _, k := range kinds {
		t.Run(string(k.kind), func(t *testing.T) {
			e := newEng(t, k)
			e.pass(pim.NewestWins)
			k.crmCreate(e, "Once")
			e.p.dropOnce(func(r *http.Request) bool {
				return r.Method == http.MethodPost && !strings.Contains(r.URL.Path, "contactGroups")
			})
			_, err := e.tryPass(pim.NewestWins)
			if k.kind == pim.Events {
				if err != nil {
					t.Fatalf("pass with a lost answer: %v", err)
				}
			} else if connerr.As(err) == nil || connerr.As(err).Kind != connerr.Unreachable {
				t.Fatalf("pass with a lost answer: %v, want unreachable", err)
			}
			e.pass(pim.NewestWins)
			if r, c := e.remote(), k.crmValues(e); len(r) != 1 || len(c) != 1 || r["Once"].Href == "" {
				t.Fatalf("remote %v, CRM %v", r, c)
			}
			if st := e.pass(pim.NewestWins); st.CreatedRemote+st.CreatedCRM != 0 {
				t.Fatalf("later pass created: %+v", st)
			}
			if r := e.remote(); len(r) != 1 {
				t.Fatalf("remote %v", r)
			}
		})
	}
}

// TestEngineThrottled: Google's quota refusals (403 userRateLimitExceeded,
// 429) in a pass are waited out as Retry-After says, and the pass ends.
func TestEngineThrottled(t *testing.T) {
	for i, k := range kinds {
		t.Run(string(k.kind), func(t *testing.T) {
			e := newEng(t, k)
			k.crmCreate(e, "Crmone")
			k.addRemote(e.p, "Remoteone")
			status, reason := http.StatusTooManyRequests, "rateLimitExceeded"
			if i%2 == 0 {
				status, reason = http.StatusForbidden, "userRateLimitExceeded"
			}
			e.p.api.FailAfter(1, status, reason, time.Second)
			e.pass(pim.NewestWins)
			if early := e.p.api.Stats().Early; early != 0 {
				t.Errorf("%d requests before Retry-After", early)
			}
			if r := e.remote(); len(r) != 2 {
				t.Fatalf("remote %v", r)
			}
		})
	}
}
