package graphpim_test

import (
	"slices"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/engine"
	"github.com/crmsync/crmsync/internal/pim/engine/enginetest"
	"github.com/crmsync/crmsync/internal/pim/graphpim"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/storetest"
	"github.com/crmsync/crmsync/internal/testpeer/graphfake"
)

// calendarEnv is a store with one user's account syncing the fake's
// default calendar through the PIM engine.
type calendarEnv struct {
	*enginetest.Env
	g      *graphfake.Graph
	remote *graphpim.Events
	policy pim.Policy
}

func newCalendarEnv(t *testing.T, policy pim.Policy) *calendarEnv {
	g, r := openEvents(t)
	b := enginetest.New(t, storetest.SQLite, crm.PIMCalDAV, store.PIMCollection{Href: g.DefaultCalendar(), Kind: pim.Events, DisplayName: "Calendar"})
	return &calendarEnv{Env: b, g: g, remote: r, policy: policy}
}

// sync runs passes until no backlog is left.
func (e *calendarEnv) sync() engine.Stats {
	e.T.Helper()
	return enginetest.Sync(e.T, func() (engine.Result, error) {
		return e.Pass(engine.Config{Remote: e.remote, Policy: e.policy})
	})
}

// events returns the CRM's events by summary; two of one summary fail
// the test (a duplicate).
func (e *calendarEnv) events() map[string]crm.Event {
	e.T.Helper()
	p, err := e.Store.ListEvents(e.Ctx, e.Viewer, store.EventFilter{ListParams: store.ListParams{Limit: store.MaxLimit}})
	if err != nil {
		e.T.Fatal(err)
	}
	out := map[string]crm.Event{}
	for _, ev := range p.Items {
		if _, dup := out[ev.Summary]; dup {
			e.T.Fatalf("two CRM events named %q", ev.Summary)
		}
		out[ev.Summary] = ev
	}
	return out
}

// remoteSubjects returns the calendar's events' subjects, sorted.
func (e *calendarEnv) remoteSubjects() []string {
	var out []string
	for _, id := range e.g.EventIDs("") {
		st, _ := e.g.Event(id)
		out = append(out, st.Subject)
	}
	slices.Sort(out)
	return out
}

// TestEventsEngine: a pass of the PIM engine over the Outlook calendar,
// under each conflict policy: events go both ways (a series with its
// exception and deleted occurrence comes into the CRM as one record),
// an occurrence the CRM cancels is deleted in Outlook, a conflict is
// settled by the policy, and an expired cursor brings no duplicate.
func TestEventsEngine(t *testing.T) {
	for _, policy := range pim.Policies {
		t.Run(string(policy), func(t *testing.T) {
			e := newCalendarEnv(t, policy)
			series := addWeekly(t, e.g)
			lunch := e.g.AddEvent("", graphfake.EventSpec{Subject: "Lunch", Start: time.Date(2026, 12, 10, 12, 0, 0, 0, time.UTC),
				End: time.Date(2026, 12, 10, 13, 0, 0, 0, time.UTC)})
			if _, err := e.Store.CreateEvent(e.Ctx, e.Viewer, crm.Event{OrgID: e.Viewer.OrgID, OwnerID: e.Viewer.UserID, Summary: "Demo",
				Start: "2026-12-15T14:00:00[Europe/Berlin]", End: "2026-12-15T15:00:00[Europe/Berlin]", Categories: []string{"Customer"}}); err != nil {
				t.Fatal(err)
			}

			st := e.sync()
			if st.CreatedCRM != 2 || st.CreatedRemote != 1 || st.Failed != 0 {
				t.Errorf("first pass %+v: want 2 new in the CRM, 1 in Outlook", st)
			}
			evs := e.events()
			weekly := evs["Weekly sync"]
			if weekly.RRule != "FREQ=WEEKLY;UNTIL=20270125;BYDAY=MO" || len(weekly.ExDates) != 1 || len(weekly.Overrides) != 1 ||
				weekly.Overrides[0].Summary != "Moved sync" || weekly.Start != "2026-11-02T10:00:00[Europe/Paris]" {
				t.Errorf("series in the CRM: %+v", weekly)
			}
			if got := e.remoteSubjects(); !slices.Equal(got, []string{"Demo", "Lunch", "Weekly sync"}) {
				t.Fatalf("Outlook holds %v", got)
			}
			var demoID string
			for _, id := range e.g.EventIDs("") {
				if s, _ := e.g.Event(id); s.Subject == "Demo" {
					demoID = id
					if s.TimeZone != "W. Europe Standard Time" || !slices.Equal(s.Categories, []string{"Customer"}) {
						t.Errorf("Demo in Outlook: %+v", s)
					}
				}
			}

			// The CRM skips an occurrence of the series.
			paris := loc(t, "Europe/Paris")
			if _, err := e.Store.UpdateEvent(e.Ctx, e.Viewer, weekly.ID, func(ev *crm.Event) error {
				ev.ExDates = append(ev.ExDates, "2027-01-04T10:00:00[Europe/Paris]")
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if st := e.sync(); st.ToRemote != 1 || st.Failed != 0 {
				t.Errorf("exdate pass %+v: want 1 update in Outlook", st)
			}
			if s, _ := e.g.Event(series); !slices.Contains(s.Deleted, time.Date(2027, 1, 4, 10, 0, 0, 0, paris).Unix()) || len(s.Exceptions) != 1 {
				t.Errorf("series in Outlook after the CRM skipped 4 January: deleted %v, exceptions %d", s.Deleted, len(s.Exceptions))
			}

			// Both sides change Lunch's title: the policy decides.
			if _, err := e.Store.UpdateEvent(e.Ctx, e.Viewer, evs["Lunch"].ID, func(ev *crm.Event) error { ev.Summary = "Lunch (CRM)"; return nil }); err != nil {
				t.Fatal(err)
			}
			time.Sleep(20 * time.Millisecond)
			e.g.UpdateEvent(lunch, func(s *graphfake.EventSpec) { s.Subject = "Lunch (Outlook)" })
			e.sync()
			want := "Lunch (Outlook)" // newest wins: Outlook changed last
			if policy == pim.CRMWins {
				want = "Lunch (CRM)"
			}
			if _, ok := e.events()[want]; !ok {
				t.Errorf("CRM after the conflict: %v; want %q", keys(e.events()), want)
			}
			if s, _ := e.g.Event(lunch); s.Subject != want {
				t.Errorf("Outlook after the conflict: %q; want %q", s.Subject, want)
			}

			// Outlook changes Demo; the cursor expires: no duplicate either side.
			e.g.UpdateEvent(demoID, func(s *graphfake.EventSpec) { s.Location = "Room 9" })
			e.g.ExpireCalendarTokens(false)
			st = e.sync()
			if st.CreatedCRM != 0 || st.CreatedRemote != 0 || st.Failed != 0 {
				t.Errorf("pass after expiry %+v: nothing new expected", st)
			}
			evs = e.events()
			if len(evs) != 3 || evs["Demo"].Location != "Room 9" {
				t.Errorf("CRM after expiry: %v, Demo %+v", keys(evs), evs["Demo"])
			}
			if got := e.remoteSubjects(); len(got) != 3 {
				t.Errorf("Outlook after expiry: %v", got)
			}
			// And a quiet pass writes nothing.
			if st := e.sync(); st != (engine.Stats{}) {
				t.Errorf("quiet pass %+v", st)
			}
		})
	}
}

func keys(m map[string]crm.Event) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
