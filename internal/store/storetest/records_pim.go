package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// The CRM records the two-way PIM sync writes besides contacts' base
// fields: the contact fields address books carry, tasks and events.
func init() {
	extraTests["RecordsContactFields"] = testRecContactFields
	extraTests["RecordsTasks"] = testRecTasks
	extraTests["RecordsVisibility"] = testRecVisibility
	extraTests["RecordsEvents"] = testRecEvents
	extraTests["RecordsEventRange"] = testRecEventRange
	extraTests["RecordsPagination"] = testRecPagination
}

func testRecContactFields(t *testing.T, f Factory) {
	b := setup(t, f)
	addr := crm.PostalAddress{Street: `12 rue de l'Église; bât. B`, City: `Saint-Étienne\Loire`, Region: "Auvergne-Rhône-Alpes",
		PostalCode: "42000", Country: "Ελλάδα 🇬🇷"}
	c, err := b.s.CreateContact(b.ctx, b.av, crm.Contact{FirstName: "Ada", LastName: "Lovelace", OwnerID: b.admin.ID, Lifecycle: crm.LifecycleLead,
		Title: "Chief Ünicode Officer", Notes: "first line\nsecond; line \\ with backslash",
		Address: addr, Categories: []string{" VIP ", "golf", "vip", "", "  ", "Golf club", "GOLF", "Board"}})
	must(t, err)
	wantCats := []string{"VIP", "golf", "Golf club", "Board"}
	if !reflect.DeepEqual(c.Categories, wantCats) {
		t.Fatalf("create returned categories %q, want %q", c.Categories, wantCats)
	}
	got, err := b.s.GetContact(b.ctx, b.av, c.ID)
	must(t, err)
	if got.Title != "Chief Ünicode Officer" || got.Notes != "first line\nsecond; line \\ with backslash" || got.Address != addr ||
		!reflect.DeepEqual(got.Categories, wantCats) {
		t.Fatalf("get = %+v", got)
	}
	if crm.ParsePostalAddress(got.Address.String()) != addr {
		t.Fatalf("address %q does not survive its text form", got.Address.String())
	}

	// A contact without them has a zero address and no categories (not nil).
	bare := b.contact(t, b.av, "Bare")
	bare, err = b.s.GetContact(b.ctx, b.av, bare.ID)
	must(t, err)
	if !bare.Address.IsZero() || bare.Categories == nil || len(bare.Categories) != 0 || bare.Title != "" || bare.Notes != "" {
		t.Fatalf("bare = %+v", bare)
	}

	// An update sees the current values and normalizes categories too.
	up, err := b.s.UpdateContact(b.ctx, b.av, c.ID, func(c *crm.Contact) error {
		if c.Title != "Chief Ünicode Officer" || c.Address != addr || !reflect.DeepEqual(c.Categories, wantCats) {
			return fmt.Errorf("apply sees %+v", *c)
		}
		c.Categories = append(c.Categories, "board ", "Investors")
		c.Address = crm.PostalAddress{City: "Zürich"}
		c.Title, c.Notes = "", "–"
		return nil
	})
	must(t, err)
	wantCats = []string{"VIP", "golf", "Golf club", "Board", "Investors"}
	got, err = b.s.GetContact(b.ctx, b.av, c.ID)
	must(t, err)
	if !reflect.DeepEqual(got.Categories, wantCats) || !reflect.DeepEqual(up.Categories, wantCats) ||
		got.Address != (crm.PostalAddress{City: "Zürich"}) || got.Title != "" || got.Notes != "–" || !got.UpdatedAt.Equal(up.UpdatedAt) {
		t.Fatalf("after update = %+v", got)
	}
	_, err = b.s.UpdateContact(b.ctx, b.av, c.ID, func(c *crm.Contact) error {
		c.Address, c.Categories = crm.PostalAddress{}, nil
		return nil
	})
	must(t, err)
	got, _ = b.s.GetContact(b.ctx, b.av, c.ID)
	if !got.Address.IsZero() || got.Categories == nil || len(got.Categories) != 0 {
		t.Fatalf("after clearing = %+v", got)
	}

	// Lists carry the fields; the text search does not look at them.
	_, err = b.s.UpdateContact(b.ctx, b.av, c.ID, func(c *crm.Contact) error {
		c.Title, c.Address, c.Categories = "Countess", addr, []string{"VIP"}
		return nil
	})
	must(t, err)
	page, err := b.s.ListContacts(b.ctx, b.av, store.ContactFilter{ListParams: store.ListParams{Q: "lovelace"}})
	must(t, err)
	if len(page.Items) != 1 || page.Items[0].Title != "Countess" || page.Items[0].Address != addr || fmt.Sprint(page.Items[0].Categories) != "[VIP]" {
		t.Fatalf("listed = %+v", page.Items)
	}
	for _, q := range []string{"countess", "vip", "zürich", "étienne"} {
		page, err := b.s.ListContacts(b.ctx, b.av, store.ContactFilter{ListParams: store.ListParams{Q: q}})
		must(t, err)
		if len(page.Items) != 0 {
			t.Fatalf("q %q matches a contact by a field the search does not cover", q)
		}
	}
}

func testRecTasks(t *testing.T, f Factory) {
	b := setup(t, f)
	other := newOrg(t, b.s, "other")
	c := b.contact(t, b.av, "Hank")
	oc := other.contact(t, other.av, "Outsider")

	tk, err := b.s.CreateTask(b.ctx, b.av, crm.Task{OwnerID: b.admin.ID, Summary: "Call Hank", Description: "About the volcano;\nbring \\ notes",
		Due: "2026-11-21", Priority: 1, Categories: []string{"Sales", " sales", "Follow-up"}, ContactID: &c.ID,
		CustomFields: map[string]string{"source": "carddav", "région": "Île-de-France"}})
	must(t, err)
	if tk.ID == 0 || tk.OrgID != b.org.ID || tk.Status != crm.TaskNeedsAction || tk.CreatedAt.IsZero() || !tk.CreatedAt.Equal(tk.UpdatedAt) {
		t.Fatalf("created = %+v", tk)
	}
	got, err := b.s.GetTask(b.ctx, b.av, tk.ID)
	must(t, err)
	if !reflect.DeepEqual(got, tk) {
		t.Fatalf("get = %+v\nwant %+v", got, tk)
	}
	if got.Summary != "Call Hank" || got.Description != "About the volcano;\nbring \\ notes" || got.Due != "2026-11-21" || got.Priority != 1 ||
		got.Status != crm.TaskNeedsAction || got.CompletedAt != "" || fmt.Sprint(got.Categories) != "[Sales Follow-up]" ||
		got.ContactID == nil || *got.ContactID != c.ID || got.CustomFields["région"] != "Île-de-France" || len(got.CustomFields) != 2 {
		t.Fatalf("get = %+v", got)
	}
	bare, err := b.s.CreateTask(b.ctx, b.av, crm.Task{OwnerID: b.admin.ID, Summary: "Bare", Status: crm.TaskInProcess})
	must(t, err)
	bare, err = b.s.GetTask(b.ctx, b.av, bare.ID)
	must(t, err)
	if bare.Status != crm.TaskInProcess || bare.Categories == nil || bare.CustomFields == nil || bare.ContactID != nil || bare.Due != "" {
		t.Fatalf("bare = %+v", bare)
	}

	// References the viewer cannot see are refused as not found.
	_, err = b.s.CreateTask(b.ctx, b.av, crm.Task{OwnerID: b.admin.ID, Summary: "x", ContactID: &oc.ID})
	wantField(t, err, "contact_id", "not_found")
	_, err = b.s.CreateTask(b.ctx, b.av, crm.Task{OwnerID: b.admin.ID, Summary: "x", ContactID: ptr(c.ID + 1000)})
	wantField(t, err, "contact_id", "not_found")
	_, err = b.s.CreateTask(b.ctx, b.av, crm.Task{OwnerID: other.admin.ID, Summary: "x"})
	wantField(t, err, "owner_id", "not_found")
	_, err = b.s.CreateTask(b.ctx, b.av, crm.Task{OwnerID: b.admin.ID, Summary: "x", Status: "done"})
	wantField(t, err, "status", "invalid")

	// Update: apply sees the stored values; a refused apply writes nothing.
	up, err := b.s.UpdateTask(b.ctx, b.av, tk.ID, func(x *crm.Task) error {
		if x.Summary != "Call Hank" || x.ContactID == nil || *x.ContactID != c.ID || len(x.Categories) != 2 || x.CustomFields["source"] != "carddav" {
			return fmt.Errorf("apply sees %+v", *x)
		}
		x.Status, x.CompletedAt = crm.TaskCompleted, "2026-11-20T16:30:00Z"
		x.Due = "2026-11-21T10:00:00[Europe/Paris]"
		x.ContactID = nil
		x.Categories = append(x.Categories, "Done")
		delete(x.CustomFields, "source")
		x.ID, x.OrgID = 999999, 999999 // ignored
		return nil
	})
	must(t, err)
	got, err = b.s.GetTask(b.ctx, b.av, tk.ID)
	must(t, err)
	if !reflect.DeepEqual(got, up) || got.Status != crm.TaskCompleted || got.CompletedAt != "2026-11-20T16:30:00Z" ||
		got.Due != "2026-11-21T10:00:00[Europe/Paris]" || got.ContactID != nil || fmt.Sprint(got.Categories) != "[Sales Follow-up Done]" ||
		len(got.CustomFields) != 1 || got.UpdatedAt.Before(tk.UpdatedAt) || !got.CreatedAt.Equal(tk.CreatedAt) || got.ID != tk.ID || got.OrgID != b.org.ID {
		t.Fatalf("after update = %+v", got)
	}
	sentinel := errors.New("refused")
	_, err = b.s.UpdateTask(b.ctx, b.av, tk.ID, func(x *crm.Task) error { x.Summary = "nope"; return sentinel })
	wantErr(t, err, sentinel)
	_, err = b.s.UpdateTask(b.ctx, b.av, tk.ID, func(x *crm.Task) error { x.ContactID = &oc.ID; return nil })
	wantField(t, err, "contact_id", "not_found")
	_, err = b.s.UpdateTask(b.ctx, b.av, tk.ID, func(x *crm.Task) error { x.Status = ""; return nil })
	must(t, err) // an emptied status is the default again
	got, _ = b.s.GetTask(b.ctx, b.av, tk.ID)
	if got.Summary != "Call Hank" || got.ContactID != nil || got.Status != crm.TaskNeedsAction {
		t.Fatalf("a refused update was written: %+v", got)
	}

	// Filters.
	linked, err := b.s.CreateTask(b.ctx, b.av, crm.Task{OwnerID: b.admin.ID, Summary: "Send 100% of the quote_v2", ContactID: &c.ID, Status: crm.TaskCancelled})
	must(t, err)
	for _, tc := range []struct {
		name string
		f    store.TaskFilter
		want []int64
	}{
		{"all", store.TaskFilter{}, []int64{tk.ID, bare.ID, linked.ID}},
		{"q", store.TaskFilter{ListParams: store.ListParams{Q: "HANK"}}, []int64{tk.ID}},
		{"q percent literal", store.TaskFilter{ListParams: store.ListParams{Q: "100%"}}, []int64{linked.ID}},
		{"q underscore literal", store.TaskFilter{ListParams: store.ListParams{Q: "a_e"}}, nil},
		{"status", store.TaskFilter{Status: crm.TaskInProcess}, []int64{bare.ID}},
		{"contact", store.TaskFilter{ContactID: &c.ID}, []int64{linked.ID}},
		{"owner", store.TaskFilter{OwnerID: &b.admin.ID}, []int64{tk.ID, bare.ID, linked.ID}},
		{"other owner", store.TaskFilter{OwnerID: &other.admin.ID}, nil},
	} {
		page, err := b.s.ListTasks(b.ctx, b.av, tc.f)
		must(t, err)
		sameIDs(t, "tasks "+tc.name, ids(page.Items, func(x crm.Task) int64 { return x.ID }), append([]int64{}, tc.want...))
	}

	// Deleting the contact leaves its tasks, unlinked.
	must(t, b.s.DeleteContact(b.ctx, b.av, c.ID))
	got, err = b.s.GetTask(b.ctx, b.av, linked.ID)
	must(t, err)
	if got.ContactID != nil {
		t.Fatalf("task still points to deleted contact %d", *got.ContactID)
	}

	must(t, b.s.DeleteTask(b.ctx, b.av, tk.ID))
	_, err = b.s.GetTask(b.ctx, b.av, tk.ID)
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, b.s.DeleteTask(b.ctx, b.av, tk.ID), store.ErrNotFound)
	_, err = b.s.UpdateTask(b.ctx, b.av, tk.ID, func(*crm.Task) error { return nil })
	wantErr(t, err, store.ErrNotFound)
}

// testRecVisibility checks that tasks and events follow the owner rules
// of contacts.
func testRecVisibility(t *testing.T, f Factory) {
	b := setup(t, f)
	m, mv := b.user(t, "m@acme.example", crm.RoleManager, nil)
	a, av := b.user(t, "a@acme.example", crm.RoleMember, &m.ID)
	z, zv := b.user(t, "z@acme.example", crm.RoleMember, nil)
	other := newOrg(t, b.s, "other")

	own := map[string]crm.Viewer{"m": mv, "a": av, "z": zv, "admin": b.av}
	tasks := map[string]crm.Task{}
	events := map[string]crm.Event{}
	for name, v := range own {
		tk, err := b.s.CreateTask(b.ctx, v, crm.Task{OwnerID: v.UserID, Summary: name + " task"})
		must(t, err)
		tasks[name] = tk
		ev, err := b.s.CreateEvent(b.ctx, v, crm.Event{OwnerID: v.UserID, Summary: name + " event", Start: "2026-11-21T09:00:00Z", End: "2026-11-21T10:00:00Z"})
		must(t, err)
		events[name] = ev
	}
	sees := map[string][]string{
		"a":     {"a"},
		"z":     {"z"},
		"m":     {"m", "a"},
		"admin": {"m", "a", "z", "admin"},
	}
	for viewer, names := range sees {
		v := own[viewer]
		vis := map[string]bool{}
		var wantT, wantE []int64
		for _, n := range names {
			vis[n] = true
			wantT, wantE = append(wantT, tasks[n].ID), append(wantE, events[n].ID)
		}
		tp, err := b.s.ListTasks(b.ctx, v, store.TaskFilter{})
		must(t, err)
		sameIDs(t, viewer+" tasks", ids(tp.Items, func(x crm.Task) int64 { return x.ID }), wantT)
		ep, err := b.s.ListEvents(b.ctx, v, store.EventFilter{})
		must(t, err)
		sameIDs(t, viewer+" events", ids(ep.Items, func(x crm.Event) int64 { return x.ID }), wantE)
		for n := range own {
			_, err1 := b.s.GetTask(b.ctx, v, tasks[n].ID)
			_, err2 := b.s.GetEvent(b.ctx, v, events[n].ID)
			for _, err := range []error{err1, err2} {
				if vis[n] && err != nil {
					t.Fatalf("%s cannot read %s's record: %v", viewer, n, err)
				}
				if !vis[n] && !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("%s reads %s's record: err = %v", viewer, n, err)
				}
			}
			if !vis[n] {
				_, err := b.s.UpdateTask(b.ctx, v, tasks[n].ID, func(x *crm.Task) error { x.Summary = "hacked"; return nil })
				wantErr(t, err, store.ErrNotFound)
				_, err = b.s.UpdateEvent(b.ctx, v, events[n].ID, func(x *crm.Event) error { x.Summary = "hacked"; return nil })
				wantErr(t, err, store.ErrNotFound)
				wantErr(t, b.s.DeleteTask(b.ctx, v, tasks[n].ID), store.ErrNotFound)
				wantErr(t, b.s.DeleteEvent(b.ctx, v, events[n].ID), store.ErrNotFound)
			}
		}
	}
	// Another organisation's admin sees nothing of ours, by any path.
	ov := other.av
	for n := range own {
		_, err := b.s.GetTask(b.ctx, ov, tasks[n].ID)
		wantErr(t, err, store.ErrNotFound)
		_, err = b.s.GetEvent(b.ctx, ov, events[n].ID)
		wantErr(t, err, store.ErrNotFound)
		_, err = b.s.UpdateTask(b.ctx, ov, tasks[n].ID, func(*crm.Task) error { return nil })
		wantErr(t, err, store.ErrNotFound)
		_, err = b.s.UpdateEvent(b.ctx, ov, events[n].ID, func(*crm.Event) error { return nil })
		wantErr(t, err, store.ErrNotFound)
		wantErr(t, b.s.DeleteTask(b.ctx, ov, tasks[n].ID), store.ErrNotFound)
		wantErr(t, b.s.DeleteEvent(b.ctx, ov, events[n].ID), store.ErrNotFound)
	}
	tp, _ := b.s.ListTasks(b.ctx, ov, store.TaskFilter{})
	ep, _ := b.s.ListEvents(b.ctx, ov, store.EventFilter{})
	if len(tp.Items) != 0 || len(ep.Items) != 0 {
		t.Fatalf("other org lists %d of our tasks and %d of our events", len(tp.Items), len(ep.Items))
	}

	// Owners: a member gives nothing away, a manager gives to a report.
	_, err := b.s.CreateTask(b.ctx, av, crm.Task{OwnerID: z.ID, Summary: "x"})
	wantField(t, err, "owner_id", "forbidden_owner")
	_, err = b.s.CreateEvent(b.ctx, av, crm.Event{OwnerID: z.ID, Summary: "x", Start: "2026-11-21"})
	wantField(t, err, "owner_id", "forbidden_owner")
	given, err := b.s.CreateTask(b.ctx, mv, crm.Task{OwnerID: a.ID, Summary: "for a"})
	must(t, err)
	_, err = b.s.GetTask(b.ctx, av, given.ID)
	must(t, err)
	_, err = b.s.UpdateEvent(b.ctx, mv, events["a"].ID, func(x *crm.Event) error { x.OwnerID = z.ID; return nil })
	wantField(t, err, "owner_id", "forbidden_owner")
	moved, err := b.s.UpdateEvent(b.ctx, mv, events["a"].ID, func(x *crm.Event) error { x.OwnerID = m.ID; return nil })
	must(t, err)
	if moved.OwnerID != m.ID {
		t.Fatalf("owner = %d", moved.OwnerID)
	}
	_, err = b.s.GetEvent(b.ctx, av, events["a"].ID)
	wantErr(t, err, store.ErrNotFound)
	// A contact the viewer cannot see is not found, for tasks and events.
	zc := b.contact(t, zv, "z's contact")
	_, err = b.s.CreateTask(b.ctx, av, crm.Task{OwnerID: a.ID, Summary: "x", ContactID: &zc.ID})
	wantField(t, err, "contact_id", "not_found")
	_, err = b.s.CreateEvent(b.ctx, mv, crm.Event{OwnerID: m.ID, Summary: "x", Start: "2026-11-21", ContactID: &zc.ID})
	wantField(t, err, "contact_id", "not_found")
	_, err = b.s.CreateEvent(b.ctx, b.av, crm.Event{OwnerID: b.admin.ID, Summary: "x", Start: "2026-11-21", ContactID: &zc.ID})
	must(t, err)
}

func testRecEvents(t *testing.T, f Factory) {
	b := setup(t, f)
	other := newOrg(t, b.s, "other")
	c := b.contact(t, b.av, "Hank")
	oc := other.contact(t, other.av, "Outsider")

	const paris = "[Europe/Paris]"
	in := crm.Event{OwnerID: b.admin.ID, Summary: "Weekly sync; «team»", Description: "Line 1\nLine 2 \\ end", Location: "Salle 2, 3ᵉ étage",
		Start: "2026-11-02T10:00:00" + paris, End: "2026-11-02T11:00:00" + paris, AllDay: true, // AllDay follows Start
		RRule:   "FREQ=WEEKLY;BYDAY=MO;UNTIL=20261214T085959Z",
		ExDates: []crm.When{"2026-11-09T10:00:00" + paris, "2026-11-30T10:00:00" + paris},
		RDates:  []crm.When{"2026-11-05T15:00:00" + paris},
		Overrides: []crm.EventOverride{
			{RecurrenceID: "2026-11-16T10:00:00" + paris, Summary: "Weekly sync (moved)", Location: "Online",
				Start: "2026-11-16T14:00:00" + paris, End: "2026-11-16T15:30:00" + paris},
			{RecurrenceID: "2026-11-23T10:00:00" + paris, Cancelled: true},
		},
		Attendees:    []string{"hank@globex.example", "ann@acme.example"},
		Categories:   []string{"Meeting", "meeting ", "Sales"},
		ContactID:    &c.ID,
		CustomFields: map[string]string{"uid": "abc@example"},
	}
	e, err := b.s.CreateEvent(b.ctx, b.av, in)
	must(t, err)
	if e.ID == 0 || e.OrgID != b.org.ID || e.AllDay || e.CreatedAt.IsZero() || fmt.Sprint(e.Categories) != "[Meeting Sales]" {
		t.Fatalf("created = %+v", e)
	}
	got, err := b.s.GetEvent(b.ctx, b.av, e.ID)
	must(t, err)
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("get = %+v\nwant %+v", got, e)
	}
	if got.Summary != in.Summary || got.Description != in.Description || got.Location != in.Location || got.Start != in.Start || got.End != in.End ||
		got.RRule != in.RRule || !reflect.DeepEqual(got.ExDates, in.ExDates) || !reflect.DeepEqual(got.RDates, in.RDates) ||
		!reflect.DeepEqual(got.Overrides, in.Overrides) || !reflect.DeepEqual(got.Attendees, in.Attendees) ||
		got.ContactID == nil || *got.ContactID != c.ID || !reflect.DeepEqual(got.CustomFields, in.CustomFields) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, in)
	}

	// All-day: a date start, whatever AllDay says; a single event has no
	// recurrence lists and empty (not nil) attendees and categories.
	day, err := b.s.CreateEvent(b.ctx, b.av, crm.Event{OwnerID: b.admin.ID, Summary: "Holiday", Start: "2026-12-24", End: "2026-12-26"})
	must(t, err)
	day, err = b.s.GetEvent(b.ctx, b.av, day.ID)
	must(t, err)
	if !day.AllDay || day.Start != "2026-12-24" || day.End != "2026-12-26" || day.RRule != "" || day.ExDates != nil || day.RDates != nil ||
		day.Overrides != nil || day.Attendees == nil || day.Categories == nil || day.CustomFields == nil || day.ContactID != nil {
		t.Fatalf("all-day = %+v", day)
	}
	for _, start := range []crm.When{"2026-12-24T09:00:00Z", "2026-12-24T09:00:00", "2026-12-24T09:00:00[America/New_York]"} {
		ev, err := b.s.CreateEvent(b.ctx, b.av, crm.Event{OwnerID: b.admin.ID, Summary: "timed", Start: start, AllDay: true})
		must(t, err)
		ev, _ = b.s.GetEvent(b.ctx, b.av, ev.ID)
		if ev.AllDay || ev.Start != start || ev.End != "" {
			t.Fatalf("timed = %+v", ev)
		}
	}

	// Refused: a start that is no time, a contact not visible.
	for _, bad := range []crm.When{"", "tomorrow", "2026-11-21T10:00", "2026-11-21T10:00:00[Mars/Olympus]"} {
		_, err = b.s.CreateEvent(b.ctx, b.av, crm.Event{OwnerID: b.admin.ID, Summary: "x", Start: bad})
		wantField(t, err, "start", "invalid")
	}
	_, err = b.s.CreateEvent(b.ctx, b.av, crm.Event{OwnerID: b.admin.ID, Summary: "x", Start: "2026-11-21", End: "soon"})
	wantField(t, err, "end", "invalid")
	_, err = b.s.CreateEvent(b.ctx, b.av, crm.Event{OwnerID: b.admin.ID, Summary: "x", Start: "2026-11-21", ContactID: &oc.ID})
	wantField(t, err, "contact_id", "not_found")

	// Update: apply sees the stored values, including the recurrence.
	up, err := b.s.UpdateEvent(b.ctx, b.av, e.ID, func(x *crm.Event) error {
		if x.RRule != in.RRule || !reflect.DeepEqual(x.ExDates, in.ExDates) || !reflect.DeepEqual(x.RDates, in.RDates) ||
			!reflect.DeepEqual(x.Overrides, in.Overrides) || x.Summary != in.Summary || x.ContactID == nil || *x.ContactID != c.ID ||
			len(x.Attendees) != 2 || x.CustomFields["uid"] != "abc@example" {
			return fmt.Errorf("apply sees %+v", *x)
		}
		x.ExDates = append(x.ExDates, "2026-12-07T10:00:00"+paris)
		x.Overrides[0].Summary = "Moved again"
		x.Overrides = x.Overrides[:1]
		x.RDates = nil
		x.RRule = "FREQ=WEEKLY;BYDAY=MO,TH"
		x.Attendees = x.Attendees[:1]
		x.ContactID = nil
		x.CustomFields["etag"] = `"42"`
		return nil
	})
	must(t, err)
	got, err = b.s.GetEvent(b.ctx, b.av, e.ID)
	must(t, err)
	if !reflect.DeepEqual(got, up) || got.RRule != "FREQ=WEEKLY;BYDAY=MO,TH" || len(got.ExDates) != 3 || got.ExDates[2] != "2026-12-07T10:00:00"+paris ||
		got.RDates != nil || len(got.Overrides) != 1 || got.Overrides[0].Summary != "Moved again" || got.Overrides[0].Start != in.Overrides[0].Start ||
		fmt.Sprint(got.Attendees) != "[hank@globex.example]" || got.ContactID != nil || got.CustomFields["etag"] != `"42"` ||
		!got.CreatedAt.Equal(e.CreatedAt) || got.UpdatedAt.Before(e.UpdatedAt) {
		t.Fatalf("after update = %+v", got)
	}
	// Changing the start to a date makes it all-day; a bad one is refused.
	up, err = b.s.UpdateEvent(b.ctx, b.av, e.ID, func(x *crm.Event) error { x.Start, x.End = "2026-11-02", "2026-11-03"; return nil })
	must(t, err)
	if !up.AllDay {
		t.Fatal("all_day not set by a date start")
	}
	_, err = b.s.UpdateEvent(b.ctx, b.av, e.ID, func(x *crm.Event) error { x.Start = "2026-13-02"; return nil })
	wantField(t, err, "start", "invalid")
	sentinel := errors.New("refused")
	_, err = b.s.UpdateEvent(b.ctx, b.av, e.ID, func(x *crm.Event) error { x.Summary = "nope"; return sentinel })
	wantErr(t, err, sentinel)
	got, _ = b.s.GetEvent(b.ctx, b.av, e.ID)
	if got.Summary != in.Summary || !got.AllDay {
		t.Fatalf("a refused update was written: %+v", got)
	}

	// Filters other than the range.
	linked, err := b.s.CreateEvent(b.ctx, b.av, crm.Event{OwnerID: b.admin.ID, Summary: "Lunch with Hank", Start: "2026-11-21T12:00:00Z", ContactID: &c.ID})
	must(t, err)
	for _, tc := range []struct {
		name string
		f    store.EventFilter
		want []int64
	}{
		{"q", store.EventFilter{ListParams: store.ListParams{Q: "hank"}}, []int64{linked.ID}},
		{"q accents", store.EventFilter{ListParams: store.ListParams{Q: "«team»"}}, []int64{e.ID}},
		{"contact", store.EventFilter{ContactID: &c.ID}, []int64{linked.ID}},
		{"other owner", store.EventFilter{OwnerID: &other.admin.ID}, nil},
	} {
		page, err := b.s.ListEvents(b.ctx, b.av, tc.f)
		must(t, err)
		sameIDs(t, "events "+tc.name, ids(page.Items, func(x crm.Event) int64 { return x.ID }), append([]int64{}, tc.want...))
	}
	page, err := b.s.ListEvents(b.ctx, b.av, store.EventFilter{ListParams: store.ListParams{Q: "weekly"}})
	must(t, err)
	if len(page.Items) != 1 || !reflect.DeepEqual(page.Items[0], got) {
		t.Fatalf("listed = %+v\nwant %+v", page.Items, got)
	}

	must(t, b.s.DeleteEvent(b.ctx, b.av, e.ID))
	_, err = b.s.GetEvent(b.ctx, b.av, e.ID)
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, b.s.DeleteEvent(b.ctx, b.av, e.ID), store.ErrNotFound)
	_, err = b.s.UpdateEvent(b.ctx, b.av, e.ID, func(*crm.Event) error { return nil })
	wantErr(t, err, store.ErrNotFound)
	must(t, b.s.DeleteContact(b.ctx, b.av, c.ID))
	got, err = b.s.GetEvent(b.ctx, b.av, linked.ID)
	must(t, err)
	if got.ContactID != nil {
		t.Fatal("event still points to a deleted contact")
	}
}

// testRecEventRange checks EventFilter.From/To: the events that may have
// an occurrence in [From, To).
func testRecEventRange(t *testing.T, f Factory) {
	b := setup(t, f)
	mk := func(e crm.Event) int64 {
		t.Helper()
		e.OwnerID = b.admin.ID
		if e.Summary == "" {
			e.Summary = "event"
		}
		got, err := b.s.CreateEvent(b.ctx, b.av, e)
		must(t, err)
		return got.ID
	}
	at := func(s string) *time.Time {
		t.Helper()
		tm, err := time.Parse(time.RFC3339, s)
		must(t, err)
		return &tm
	}
	single := mk(crm.Event{Start: "2026-03-10T09:00:00Z", End: "2026-03-10T10:00:00Z"})
	allDay := mk(crm.Event{Start: "2026-03-20"}) // one day without an end
	weekly := mk(crm.Event{Start: "2026-04-06T09:00:00Z", End: "2026-04-06T10:00:00Z", RRule: "FREQ=WEEKLY;UNTIL=20260427T090000Z"})
	daily := mk(crm.Event{Start: "2026-06-01", End: "2026-06-02", RRule: "FREQ=DAILY;UNTIL=20260605"})
	open := mk(crm.Event{Start: "2026-05-01T08:00:00Z", End: "2026-05-01T09:00:00Z", RRule: "FREQ=MONTHLY"})
	rdate := mk(crm.Event{Start: "2026-01-05T09:00:00Z", End: "2026-01-05T10:00:00Z", RDates: []crm.When{"2026-09-01T09:00:00Z"}})
	zoned := mk(crm.Event{Start: "2026-07-01T23:30:00[Europe/Paris]", End: "2026-07-02T00:30:00[Europe/Paris]"}) // 21:30Z
	floating := mk(crm.Event{Start: "2026-08-01T09:00:00", End: "2026-08-01T10:00:00"})                          // as UTC
	moved := mk(crm.Event{Start: "2026-10-05T09:00:00Z", End: "2026-10-05T10:00:00Z", RRule: "FREQ=DAILY;UNTIL=20261007T090000Z",
		Overrides: []crm.EventOverride{{RecurrenceID: "2026-10-07T09:00:00Z", Start: "2026-10-20T09:00:00Z", End: "2026-10-20T10:00:00Z"}}})
	// A COUNT rule ends somewhere: the store may keep it open-ended, so it
	// is only checked where every answer agrees.
	counted := mk(crm.Event{Start: "2026-02-01T08:00:00Z", End: "2026-02-01T09:00:00Z", RRule: "FREQ=DAILY;COUNT=3"})

	for _, tc := range []struct {
		name     string
		from, to *time.Time
		want     []int64
	}{
		{"march", at("2026-03-01T00:00:00Z"), at("2026-03-15T00:00:00Z"), []int64{single, rdate}},
		{"from at an end", at("2026-03-10T10:00:00Z"), at("2026-03-11T00:00:00Z"), []int64{single, rdate}},
		{"to at a start", at("2026-03-10T08:00:00Z"), at("2026-03-10T09:00:00Z"), []int64{rdate}},
		{"all-day", at("2026-03-20T12:00:00Z"), at("2026-03-20T13:00:00Z"), []int64{allDay, rdate}},
		{"until, inside", at("2026-04-20T00:00:00Z"), at("2026-04-21T00:00:00Z"), []int64{weekly, rdate}},
		{"until, last occurrence", at("2026-04-27T09:30:00Z"), at("2026-04-27T09:45:00Z"), []int64{weekly, rdate}},
		{"until, after", at("2026-04-28T00:00:00Z"), at("2026-04-29T00:00:00Z"), []int64{rdate}},
		{"until date, last day", at("2026-06-05T12:00:00Z"), at("2026-06-05T13:00:00Z"), []int64{daily, open, rdate}},
		{"until date, after", at("2026-06-06T01:00:00Z"), at("2026-06-07T00:00:00Z"), []int64{open, rdate}},
		{"open-ended, before", at("2026-04-01T00:00:00Z"), at("2026-05-01T08:00:00Z"), []int64{weekly, rdate}},
		{"open-ended, years later", at("2030-01-01T00:00:00Z"), at("2030-02-01T00:00:00Z"), []int64{open}},
		{"rdate", at("2026-09-01T09:30:00Z"), at("2026-09-01T09:45:00Z"), []int64{open, rdate}},
		{"zoned", at("2026-07-01T21:00:00Z"), at("2026-07-01T22:00:00Z"), []int64{open, rdate, zoned}},
		{"zoned, before its UTC start", at("2026-07-01T20:00:00Z"), at("2026-07-01T21:30:00Z"), []int64{open, rdate}},
		{"floating", at("2026-08-01T09:15:00Z"), at("2026-08-01T09:30:00Z"), []int64{open, rdate, floating}},
		{"override moved later", at("2026-10-15T00:00:00Z"), at("2026-10-25T00:00:00Z"), []int64{open, moved}},
		{"from only", at("2026-10-21T00:00:00Z"), nil, []int64{open}},
		{"to only", nil, at("2026-03-10T09:00:01Z"), []int64{single, rdate}},
	} {
		page, err := b.s.ListEvents(b.ctx, b.av, store.EventFilter{From: tc.from, To: tc.to})
		must(t, err)
		var got []int64
		for _, e := range page.Items {
			if e.ID != counted {
				got = append(got, e.ID)
			}
		}
		sameIDs(t, tc.name, ids(got, func(id int64) int64 { return id }), append([]int64{}, tc.want...))
	}
	for _, tc := range []struct {
		name     string
		from, to *time.Time
		want     bool
	}{
		{"count, first occurrence", at("2026-02-01T08:30:00Z"), at("2026-02-01T08:45:00Z"), true},
		{"count, last occurrence", at("2026-02-03T08:30:00Z"), at("2026-02-03T08:45:00Z"), true},
		{"count, before", at("2026-01-31T00:00:00Z"), at("2026-02-01T08:00:00Z"), false},
	} {
		page, err := b.s.ListEvents(b.ctx, b.av, store.EventFilter{From: tc.from, To: tc.to})
		must(t, err)
		found := false
		for _, e := range page.Items {
			found = found || e.ID == counted
		}
		if found != tc.want {
			t.Fatalf("%s: listed %v, want %v", tc.name, found, tc.want)
		}
	}

	// An update recomputes the range: the weekly series now runs to June,
	// and the single event moves to December.
	_, err := b.s.UpdateEvent(b.ctx, b.av, weekly, func(e *crm.Event) error { e.RRule = "FREQ=WEEKLY;UNTIL=20260601T090000Z"; return nil })
	must(t, err)
	_, err = b.s.UpdateEvent(b.ctx, b.av, single, func(e *crm.Event) error {
		e.Start, e.End = "2026-12-01T09:00:00Z", "2026-12-01T10:00:00Z"
		return nil
	})
	must(t, err)
	for _, tc := range []struct {
		name     string
		from, to time.Time
		want     []int64
	}{
		{"extended series", *at("2026-05-20T00:00:00Z"), *at("2026-05-21T00:00:00Z"), []int64{weekly, open, rdate}},
		{"moved single, old place", *at("2026-03-10T09:00:00Z"), *at("2026-03-10T10:00:00Z"), []int64{rdate}},
		{"moved single, new place", *at("2026-12-01T09:00:00Z"), *at("2026-12-01T10:00:00Z"), []int64{single, open}},
	} {
		page, err := b.s.ListEvents(b.ctx, b.av, store.EventFilter{From: &tc.from, To: &tc.to})
		must(t, err)
		var got []int64
		for _, e := range page.Items {
			if e.ID != counted {
				got = append(got, e.ID)
			}
		}
		sameIDs(t, tc.name, ids(got, func(id int64) int64 { return id }), append([]int64{}, tc.want...))
	}
}

// testRecPagination pages through tasks and events by id, with a filter
// kept across pages.
func testRecPagination(t *testing.T, f Factory) {
	b := setup(t, f)
	var wantT, wantE, wantInRange []int64
	for i := 0; i < 11; i++ {
		tk, err := b.s.CreateTask(b.ctx, b.av, crm.Task{OwnerID: b.admin.ID, Summary: fmt.Sprintf("t%02d", i)})
		must(t, err)
		wantT = append(wantT, tk.ID)
		start := crm.When(fmt.Sprintf("2026-01-%02dT09:00:00Z", i+1))
		ev, err := b.s.CreateEvent(b.ctx, b.av, crm.Event{OwnerID: b.admin.ID, Summary: fmt.Sprintf("e%02d", i), Start: start})
		must(t, err)
		wantE = append(wantE, ev.ID)
		if i%2 == 0 {
			wantInRange = append(wantInRange, ev.ID)
		}
		// Odd events are moved out of January.
		if i%2 == 1 {
			_, err := b.s.UpdateEvent(b.ctx, b.av, ev.ID, func(e *crm.Event) error { e.Start = "2026-03-01T09:00:00Z"; return nil })
			must(t, err)
		}
	}
	from, to := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)

	collect := func(name string, list func(cursor string) ([]int64, string, error), wantPages int, want []int64) {
		t.Helper()
		var got []int64
		cursor, pages := "", 0
		for {
			items, next, err := list(cursor)
			must(t, err)
			pages++
			got = append(got, items...)
			if next == "" {
				break
			}
			cursor = next
			if pages > 10 {
				t.Fatalf("%s: pagination does not end", name)
			}
		}
		if pages != wantPages || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("%s: %d pages, ids %v, want %d pages, %v", name, pages, got, wantPages, want)
		}
	}
	collect("tasks", func(cursor string) ([]int64, string, error) {
		p, err := b.s.ListTasks(b.ctx, b.av, store.TaskFilter{ListParams: store.ListParams{Limit: 4, Cursor: cursor}})
		var out []int64
		for _, x := range p.Items {
			out = append(out, x.ID)
		}
		return out, p.NextCursor, err
	}, 3, wantT)
	collect("events", func(cursor string) ([]int64, string, error) {
		p, err := b.s.ListEvents(b.ctx, b.av, store.EventFilter{ListParams: store.ListParams{Limit: 4, Cursor: cursor}})
		var out []int64
		for _, x := range p.Items {
			out = append(out, x.ID)
		}
		return out, p.NextCursor, err
	}, 3, wantE)
	collect("events in range", func(cursor string) ([]int64, string, error) {
		p, err := b.s.ListEvents(b.ctx, b.av, store.EventFilter{ListParams: store.ListParams{Limit: 2, Cursor: cursor}, From: &from, To: &to})
		var out []int64
		for _, x := range p.Items {
			out = append(out, x.ID)
		}
		return out, p.NextCursor, err
	}, 3, wantInRange)
	// An exactly full last page has no next cursor.
	p, err := b.s.ListEvents(b.ctx, b.av, store.EventFilter{ListParams: store.ListParams{Limit: 11}})
	must(t, err)
	if len(p.Items) != 11 || p.NextCursor != "" {
		t.Fatalf("full page: %d items, cursor %q", len(p.Items), p.NextCursor)
	}
	for _, bad := range []string{"garbage", store.EncodeCursor(1) + "x"} {
		_, err := b.s.ListTasks(b.ctx, b.av, store.TaskFilter{ListParams: store.ListParams{Cursor: bad}})
		wantErr(t, err, store.ErrBadCursor)
		_, err = b.s.ListEvents(b.ctx, b.av, store.EventFilter{ListParams: store.ListParams{Cursor: bad}})
		wantErr(t, err, store.ErrBadCursor)
	}
}
