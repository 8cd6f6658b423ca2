package googlepim_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/caldav"
	"github.com/crmsync/crmsync/internal/pim/googlepim"
	"github.com/crmsync/crmsync/internal/testpeer/googlefake"
)

const cal = googlefake.PrimaryCalendar

// weekly stores, as Google does, a weekly series with an EXDATE, one
// occurrence moved and retitled and one cancelled.
func weekly(p *peer) {
	p.api.PutEvent(cal, "abc123series", map[string]any{
		"summary": "Weekly sync", "description": "Agenda, then notes", "location": "Room 1",
		"start":      map[string]any{"dateTime": "2024-01-08T09:00:00+01:00", "timeZone": "Europe/Berlin"},
		"end":        map[string]any{"dateTime": "2024-01-08T09:30:00+01:00", "timeZone": "Europe/Berlin"},
		"recurrence": []any{"RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20240624T235959Z", "EXDATE;TZID=Europe/Berlin:20240122T090000"},
		"attendees":  []any{map[string]any{"email": "bob@example.com", "responseStatus": "accepted"}},
	})
	p.api.PutEvent(cal, "abc123series_20240115T080000Z", map[string]any{
		"recurringEventId": "abc123series", "summary": "Weekly sync (moved)", "description": "Agenda, then notes", "location": "Room 1",
		"originalStartTime": map[string]any{"dateTime": "2024-01-15T09:00:00+01:00", "timeZone": "Europe/Berlin"},
		"start":             map[string]any{"dateTime": "2024-01-15T10:00:00+01:00", "timeZone": "Europe/Berlin"},
		"end":               map[string]any{"dateTime": "2024-01-15T10:30:00+01:00", "timeZone": "Europe/Berlin"},
	})
	p.api.PutEvent(cal, "abc123series_20240129T080000Z", map[string]any{
		"recurringEventId": "abc123series", "status": "cancelled",
		"originalStartTime": map[string]any{"dateTime": "2024-01-29T09:00:00+01:00"},
	})
}

// weeklyICS is the same series as a CalDAV server holds it.
const weeklyICS = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n" +
	"BEGIN:VEVENT\r\nUID:abc123series@google.com\r\nDTSTAMP:20240101T000000Z\r\n" +
	"DTSTART;TZID=Europe/Berlin:20240108T090000\r\nDTEND;TZID=Europe/Berlin:20240108T093000\r\n" +
	"SUMMARY:Weekly sync\r\nDESCRIPTION:Agenda\\, then notes\r\nLOCATION:Room 1\r\n" +
	"RRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20240624T235959Z\r\nEXDATE;TZID=Europe/Berlin:20240122T090000\r\n" +
	"ATTENDEE;PARTSTAT=ACCEPTED:mailto:bob@example.com\r\nEND:VEVENT\r\n" +
	"BEGIN:VEVENT\r\nUID:abc123series@google.com\r\nDTSTAMP:20240101T000000Z\r\n" +
	"RECURRENCE-ID;TZID=Europe/Berlin:20240115T090000\r\n" +
	"DTSTART;TZID=Europe/Berlin:20240115T100000\r\nDTEND;TZID=Europe/Berlin:20240115T103000\r\n" +
	"SUMMARY:Weekly sync (moved)\r\nDESCRIPTION:Agenda\\, then notes\r\nLOCATION:Room 1\r\nEND:VEVENT\r\n" +
	"BEGIN:VEVENT\r\nUID:abc123series@google.com\r\nDTSTAMP:20240101T000000Z\r\n" +
	"RECURRENCE-ID;TZID=Europe/Berlin:20240129T090000\r\n" +
	"DTSTART;TZID=Europe/Berlin:20240129T090000\r\nDTEND;TZID=Europe/Berlin:20240129T093000\r\n" +
	"STATUS:CANCELLED\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"

func fetchOne(t *testing.T, r pim.Remote, href string) pim.RemoteItem {
	t.Helper()
	items, bad, missing, err := r.Fetch(context.Background(), []string{href})
	if err != nil || len(bad) > 0 || len(missing) > 0 || len(items) != 1 {
		t.Fatalf("fetch %s: %v %v %v %v", href, items, bad, missing, err)
	}
	return items[0]
}

func TestEventsRecurringAsCalDAV(t *testing.T) {
	p := newPeer(t)
	ctx := context.Background()
	weekly(p)
	p.api.PutEvent(cal, "single001", map[string]any{"summary": "Lunch",
		"start": map[string]any{"date": "2024-02-01"}, "end": map[string]any{"date": "2024-02-02"}})
	r := googlepim.NewEvents(p.c, "primary")
	ch, err := r.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Full || !slices.Equal(hrefs(ch.Items), []string{"abc123series", "single001"}) {
		t.Fatalf("listing: %+v", ch)
	}
	before := p.api.Stats().Requests
	got := fetchOne(t, r, "abc123series")
	if p.api.Stats().Requests != before {
		t.Errorf("a listed series was read again")
	}
	want, err := caldav.Decode([]byte(weeklyICS))
	if err != nil {
		t.Fatal(err)
	}
	delete(want.Fields, pim.FieldCategories)
	if !got.Fields.Equal(want.Fields) {
		t.Fatalf("Google's series read as\n%v\nCalDAV's as\n%v", got.Fields, want.Fields)
	}
	var ovs []crm.EventOverride
	_ = json.Unmarshal([]byte(got.Fields[pim.FieldOverrides].Str), &ovs)
	if len(ovs) != 2 || !ovs[1].Cancelled || ovs[0].Summary != "Weekly sync (moved)" {
		t.Errorf("overrides %+v", ovs)
	}
	if got.Fields[pim.FieldCategories].List != nil {
		t.Errorf("categories on a Google event: %v", got.Fields[pim.FieldCategories])
	}

	// The same Fields written as a new event read back the same.
	uid := pim.StampUID("event-1")
	created, err := r.Create(ctx, uid, got.Fields)
	if err != nil {
		t.Fatal(err)
	}
	if !created.Fields.Equal(got.Fields) || created.UID != uid {
		t.Fatalf("created\n%v\nwanted\n%v", created.Fields, got.Fields)
	}
	ch2, err := r.Changes(ctx, ch.Token)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(hrefs(ch2.Items), []string{created.Href}) {
		t.Fatalf("changes after create: %+v", ch2)
	}
	again := fetchOne(t, r, created.Href)
	if !again.Fields.Equal(got.Fields) || again.ETag != created.ETag {
		t.Fatalf("read back\n%v %s\nwanted\n%v %s", again.Fields, again.ETag, got.Fields, created.ETag)
	}
	stored := p.api.Events(cal)[created.Href]
	if rec, _ := json.Marshal(stored["recurrence"]); !strings.Contains(string(rec), `EXDATE;TZID=Europe/Berlin:20240122T090000`) {
		t.Errorf("recurrence stored as %s", rec)
	}

	// Update: retitle the series, put the moved occurrence back, cancel
	// another.
	f := again.Fields.Clone()
	f[pim.FieldSummary] = pim.Str("Weekly team sync")
	f[pim.FieldOverrides] = pim.Str(`[{"recurrence_id":"2024-01-29T09:00:00[Europe/Berlin]","cancelled":true},{"recurrence_id":"2024-02-05T09:00:00[Europe/Berlin]","cancelled":true}]`)
	upd, err := r.Update(ctx, again, f)
	if err != nil {
		t.Fatal(err)
	}
	if !upd.Fields.Equal(f) {
		t.Fatalf("updated\n%v\nwanted\n%v", upd.Fields, f.Normalize())
	}
	ch3, err := r.Changes(ctx, ch2.Token)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(hrefs(ch3.Items), created.Href) {
		t.Fatalf("changes after update: %+v", ch3)
	}
	if back := fetchOne(t, r, created.Href); !back.Fields.Equal(f) || back.ETag != upd.ETag {
		t.Fatalf("read back after update\n%v\nwanted\n%v", back.Fields, f.Normalize())
	}
}

func TestEventsTokenDeletesPreconditionLostCreate(t *testing.T) {
	p := newPeer(t)
	ctx := context.Background()
	weekly(p)
	r := googlepim.NewEvents(p.c, "primary")
	ch, err := r.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	it := fetchOne(t, r, "abc123series")

	// Another client cancels an occurrence: the series changed.
	p.api.CancelEvent(cal, "abc123series_20240205T080000Z")
	ch2, err := r.Changes(ctx, ch.Token)
	if err != nil || !slices.Equal(hrefs(ch2.Items), []string{"abc123series"}) || len(ch2.Deleted) != 0 {
		t.Fatalf("changes: %+v %v", ch2, err)
	}
	changed := fetchOne(t, r, "abc123series")
	if changed.ETag == it.ETag || !strings.Contains(changed.Fields[pim.FieldOverrides].Str, "2024-02-05T09:00:00[Europe/Berlin]") {
		t.Fatalf("changed series: %s %v", changed.ETag, changed.Fields[pim.FieldOverrides])
	}

	// A write over the stale copy: the master changed meanwhile → 412.
	p.api.PutEvent(cal, "abc123series", map[string]any{"summary": "Renamed elsewhere",
		"start":      map[string]any{"dateTime": "2024-01-08T09:00:00+01:00", "timeZone": "Europe/Berlin"},
		"end":        map[string]any{"dateTime": "2024-01-08T09:30:00+01:00", "timeZone": "Europe/Berlin"},
		"recurrence": []any{"RRULE:FREQ=WEEKLY;BYDAY=MO"}})
	f := changed.Fields.Clone()
	f[pim.FieldLocation] = pim.Str("Room 2")
	if _, err := r.Update(ctx, changed, f); !errors.Is(err, pim.ErrPrecondition) {
		t.Fatalf("stale write: %v", err)
	}

	// The series is deleted: it comes as deleted.
	p.api.CancelEvent(cal, "abc123series")
	ch3, err := r.Changes(ctx, ch2.Token)
	if err != nil || !slices.Equal(ch3.Deleted, []string{"abc123series"}) || len(ch3.Items) != 0 {
		t.Fatalf("deleted: %+v %v", ch3, err)
	}
	if _, _, missing, err := r.Fetch(ctx, []string{"abc123series"}); err != nil || len(missing) != 1 {
		t.Fatalf("fetch deleted: %v %v", missing, err)
	}

	// 410: the token is forgotten.
	p.api.ExpireCalendarTokens()
	if _, err := r.Changes(ctx, ch3.Token); !errors.Is(err, pim.ErrTokenInvalid) {
		t.Fatalf("expired: %v", err)
	}

	// A create whose answer is lost: retried by the client, refused as a
	// duplicate, ErrExists with the event's href.
	uid := pim.StampUID("event-9")
	p.dropOnce(func(r *http.Request) bool { return r.Method == http.MethodPost })
	fields := pim.Fields{pim.FieldSummary: pim.Str("Call"), pim.FieldStart: pim.Str("2024-03-01T10:00:00Z"), pim.FieldEnd: pim.Str("2024-03-01T10:30:00Z")}
	w, err := r.Create(ctx, uid, fields)
	if !errors.Is(err, pim.ErrExists) || w.Href == "" {
		t.Fatalf("lost create: %v %v", w, err)
	}
	got := fetchOne(t, r, w.Href)
	if got.UID != uid || !got.Fields.Equal(fields) {
		t.Fatalf("the event: %v", got)
	}
	n := 0
	for _, e := range p.api.Events(cal) {
		if b, _ := json.Marshal(e["summary"]); string(b) == `"Call"` {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d events for one create", n)
	}
}

func TestCalendars(t *testing.T) {
	p := newPeer(t)
	p.api.AddCalendar("team@group.calendar.google.com", "Team")
	cs, err := googlepim.Calendars(context.Background(), p.c)
	if err != nil || len(cs) != 2 {
		t.Fatalf("%v %v", cs, err)
	}
	for _, c := range cs {
		if c.Default != (c.ID == cal) {
			t.Errorf("%+v", c)
		}
	}
}
