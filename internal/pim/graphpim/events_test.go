package graphpim_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/graph"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/caldav"
	"github.com/crmsync/crmsync/internal/pim/graphpim"
	"github.com/crmsync/crmsync/internal/testpeer/graphfake"
)

// eventsNow is the tests' clock: the window is 2025-12-07 to 2028-12-07.
var eventsNow = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

func loc(t *testing.T, name string) *time.Location {
	t.Helper()
	l, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// eventsClient is a Graph client of the fake over HTTP; rt, when set,
// wraps its transport.
func eventsClient(t *testing.T, g *graphfake.Graph, rt func(http.RoundTripper) http.RoundTripper) *cloudapi.Client {
	t.Helper()
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	hc := srv.Client()
	if rt != nil {
		hc = &http.Client{Transport: rt(hc.Transport)}
	}
	c, err := graph.New(graph.Config{GraphURL: srv.URL, HTTP: hc, Backoff: time.Millisecond,
		Tokens: func(context.Context, string) (string, error) { return "token", nil }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func openEvents(t *testing.T) (*graphfake.Graph, *graphpim.Events) {
	t.Helper()
	g := graphfake.NewGraph()
	r := graphpim.NewEvents(eventsClient(t, g, nil), g.DefaultCalendar())
	r.Now = func() time.Time { return eventsNow }
	return g, r
}

// fetchOne fetches href and fails the test unless it is there.
func fetchOne(t *testing.T, r pim.Remote, href string) pim.RemoteItem {
	t.Helper()
	items, bad, missing, err := r.Fetch(context.Background(), []string{href})
	if err != nil || len(bad) > 0 || len(missing) > 0 || len(items) != 1 {
		t.Fatalf("fetch %s: %v, bad %v, missing %v", href, err, bad, missing)
	}
	return items[0]
}

func hrefs(refs []pim.RemoteRef) []string {
	var out []string
	for _, r := range refs {
		out = append(out, r.Href)
	}
	slices.Sort(out)
	return out
}

const weeklyParis = `{"pattern":{"type":"weekly","interval":1,"daysOfWeek":["monday"],"firstDayOfWeek":"sunday"},
 "range":{"type":"endDate","startDate":"2026-11-02","endDate":"2027-01-25","recurrenceTimeZone":"Romance Standard Time"}}`

// weeklyICS is the series addWeekly makes, as a CalDAV server holds it.
const weeklyICS = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\n" +
	"BEGIN:VEVENT\r\nUID:x\r\nDTSTAMP:20261101T000000Z\r\n" +
	"DTSTART;TZID=Europe/Paris:20261102T100000\r\nDTEND;TZID=Europe/Paris:20261102T103000\r\n" +
	"SUMMARY:Weekly sync\r\nDESCRIPTION:Agenda\r\nLOCATION:Room 1\r\nCATEGORIES:Customer\r\n" +
	"ATTENDEE:mailto:bob@example.com\r\nRRULE:FREQ=WEEKLY;BYDAY=MO;UNTIL=20270125\r\n" +
	"EXDATE;TZID=Europe/Paris:20261123T100000\r\nEND:VEVENT\r\n" +
	"BEGIN:VEVENT\r\nUID:x\r\nDTSTAMP:20261101T000000Z\r\nRECURRENCE-ID;TZID=Europe/Paris:20261116T100000\r\n" +
	"DTSTART;TZID=Europe/Paris:20261116T110000\r\nDTEND;TZID=Europe/Paris:20261116T113000\r\n" +
	"SUMMARY:Moved sync\r\nDESCRIPTION:Agenda\r\nLOCATION:Room 1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"

// addWeekly adds a weekly series on Mondays at 10:00 Paris time, its
// 16 November occurrence moved an hour later and renamed, its 23
// November one deleted.
func addWeekly(t *testing.T, g *graphfake.Graph) string {
	paris := loc(t, "Europe/Paris")
	id := g.AddEvent("", graphfake.EventSpec{Subject: "Weekly sync", Body: "Agenda", Location: "Room 1",
		Start: time.Date(2026, 11, 2, 10, 0, 0, 0, paris), End: time.Date(2026, 11, 2, 10, 30, 0, 0, paris),
		TimeZone: "Romance Standard Time", Categories: []string{"Customer"}, Attendees: []string{"bob@example.com"},
		Recurrence: weeklyParis})
	g.ModifyOccurrence(id, time.Date(2026, 11, 16, 10, 0, 0, 0, paris), func(s *graphfake.EventSpec) {
		s.Subject = "Moved sync"
		s.Start, s.End = s.Start.Add(time.Hour), s.End.Add(time.Hour)
	})
	g.CancelOccurrence(id, time.Date(2026, 11, 23, 10, 0, 0, 0, paris))
	return id
}

// TestEventsFirstSync: the first round lists single events and each
// series once (by its master), and a series reads as the CalDAV side
// reads the same series: RRULE, EXDATE for the deleted occurrence, the
// exception as an override.
func TestEventsFirstSync(t *testing.T) {
	g, r := openEvents(t)
	ctx := context.Background()
	tokyo := loc(t, "Asia/Tokyo")
	single := g.AddEvent("", graphfake.EventSpec{Subject: "Lunch", Start: time.Date(2026, 12, 10, 12, 0, 0, 0, tokyo),
		End: time.Date(2026, 12, 10, 13, 0, 0, 0, tokyo), TimeZone: "Tokyo Standard Time"})
	allDay := g.AddEvent("", graphfake.EventSpec{Subject: "Fair", AllDay: true,
		Start: time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), End: time.Date(2027, 3, 3, 0, 0, 0, 0, time.UTC)})
	series := addWeekly(t, g)
	g.AddEvent("", graphfake.EventSpec{Subject: "Long ago", Start: time.Date(2020, 1, 1, 9, 0, 0, 0, time.UTC), End: time.Date(2020, 1, 1, 10, 0, 0, 0, time.UTC)})

	ch, err := r.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{allDay, series, single}
	slices.Sort(want)
	if !ch.Full || !slices.Equal(hrefs(ch.Items), want) || ch.Token == "" {
		t.Fatalf("changes: full %v, items %v; want full, %v (the series once, nothing out of the window)", ch.Full, hrefs(ch.Items), want)
	}
	it := fetchOne(t, r, series)
	dec, err := caldav.Decode([]byte(weeklyICS))
	if err != nil {
		t.Fatal(err)
	}
	if !it.Fields.Equal(dec.Fields) {
		t.Errorf("series fields\n got %v\nwant %v (as CalDAV reads it)", it.Fields, dec.Fields)
	}
	if it.Type != pim.RecordEvent || it.Href != series || it.ETag == "" || it.Modified.IsZero() {
		t.Errorf("series item %+v", it)
	}
	if got := fetchOne(t, r, single).Fields; got[pim.FieldStart].Str != "2026-12-10T12:00:00[Asia/Tokyo]" || got[pim.FieldEnd].Str != "2026-12-10T13:00:00[Asia/Tokyo]" {
		t.Errorf("single event times %v, %v; want Tokyo's wall clock", got[pim.FieldStart], got[pim.FieldEnd])
	}
	if got := fetchOne(t, r, allDay).Fields; got[pim.FieldStart].Str != "2027-03-01" || got[pim.FieldEnd].Str != "2027-03-03" {
		t.Errorf("all-day event %v, %v; want dates, end exclusive", got[pim.FieldStart], got[pim.FieldEnd])
	}
}

// TestEventsDelta: changes, deletes of singles, occurrences and whole
// series, and an event moved out of the window.
func TestEventsDelta(t *testing.T) {
	g, r := openEvents(t)
	ctx := context.Background()
	at := func(d int) time.Time { return time.Date(2026, 12, d, 9, 0, 0, 0, time.UTC) }
	a := g.AddEvent("", graphfake.EventSpec{Subject: "A", Start: at(10), End: at(10).Add(time.Hour)})
	b := g.AddEvent("", graphfake.EventSpec{Subject: "B", Start: at(11), End: at(11).Add(time.Hour)})
	c := g.AddEvent("", graphfake.EventSpec{Subject: "C", Start: at(12), End: at(12).Add(time.Hour)})
	series := addWeekly(t, g)
	other := g.AddEvent("", graphfake.EventSpec{Subject: "Daily", Start: at(14), End: at(14).Add(time.Hour),
		Recurrence: `{"pattern":{"type":"daily","interval":1},"range":{"type":"numbered","startDate":"2026-12-14","numberOfOccurrences":3}}`})
	ch, err := r.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	tok := ch.Token

	// Nothing changed: nothing listed.
	if ch, err = r.Changes(ctx, tok); err != nil || len(ch.Items)+len(ch.Deleted) != 0 || ch.Full {
		t.Fatalf("no change: %+v, %v", ch, err)
	}
	tok = ch.Token

	g.UpdateEvent(a, func(s *graphfake.EventSpec) { s.Subject = "A2" })
	g.DeleteEvent(b)
	g.UpdateEvent(c, func(s *graphfake.EventSpec) { s.Start, s.End = s.Start.AddDate(5, 0, 0), s.End.AddDate(5, 0, 0) })
	g.CancelOccurrence(series, time.Date(2026, 12, 7, 10, 0, 0, 0, loc(t, "Europe/Paris")))
	g.DeleteEvent(other)
	ch, err = r.Changes(ctx, tok)
	if err != nil {
		t.Fatal(err)
	}
	wantItems := []string{a, c, series}
	slices.Sort(wantItems)
	if got := hrefs(ch.Items); !slices.Equal(got, wantItems) {
		t.Errorf("changed %v; want %v (A edited, C moved out of the window but not deleted, the series)", got, wantItems)
	}
	for _, d := range []string{b, other} {
		if !slices.Contains(ch.Deleted, d) {
			t.Errorf("deleted %v; want %s among them", ch.Deleted, d)
		}
	}
	for _, d := range []string{a, c, series} {
		if slices.Contains(ch.Deleted, d) {
			t.Errorf("deleted %v holds %s, which exists", ch.Deleted, d)
		}
	}
	for _, ref := range ch.Items {
		if ref.Href == a && ref.ETag == "" {
			t.Errorf("a single event's ref has no ETag")
		}
	}
	it := fetchOne(t, r, series)
	if ex := it.Fields[pim.FieldExDates].List; len(ex) != 2 || ex[1] != "2026-12-07T10:00:00[Europe/Paris]" {
		t.Errorf("exdates %v; want the two deleted occurrences", ex)
	}

	// Deleting the series itself.
	tok = ch.Token
	g.DeleteEvent(series)
	if ch, err = r.Changes(ctx, tok); err != nil || !slices.Contains(ch.Deleted, series) || len(ch.Items) != 0 {
		t.Errorf("series deleted: %+v, %v; want its master deleted", ch, err)
	}
}

// TestEventsExpiredToken: a token Graph forgot is ErrTokenInvalid; a
// garbled one too.
func TestEventsExpiredToken(t *testing.T) {
	g, r := openEvents(t)
	ctx := context.Background()
	g.AddEvent("", graphfake.EventSpec{Subject: "A", Start: eventsNow, End: eventsNow.Add(time.Hour)})
	ch, err := r.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	g.ExpireCalendarTokens(false)
	if _, err := r.Changes(ctx, ch.Token); !errors.Is(err, pim.ErrTokenInvalid) {
		t.Errorf("expired token: %v; want ErrTokenInvalid", err)
	}
	ch, err = r.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	g.ExpireCalendarTokens(true)
	if _, err := r.Changes(ctx, ch.Token); !errors.Is(err, pim.ErrTokenInvalid) {
		t.Errorf("token reset by maintenance: %v; want ErrTokenInvalid", err)
	}
	if _, err := r.Changes(ctx, "not a token"); !errors.Is(err, pim.ErrTokenInvalid) {
		t.Errorf("garbled token: %v; want ErrTokenInvalid", err)
	}
	if msg := func() string {
		_, err := r.Changes(ctx, ch.Token)
		return err.Error()
	}(); strings.Contains(msg, "delta") || strings.Contains(msg, "GET") {
		t.Errorf("message %q names the protocol", msg)
	}
}

// TestEventsMovingWindow: a cursor whose window is weeks old is renewed:
// the new window's events come in, none is reported deleted.
func TestEventsMovingWindow(t *testing.T) {
	g, r := openEvents(t)
	ctx := context.Background()
	old := g.AddEvent("", graphfake.EventSpec{Subject: "Old", Start: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC), End: time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)})
	far := time.Date(2028, 12, 20, 9, 0, 0, 0, time.UTC)
	farID := g.AddEvent("", graphfake.EventSpec{Subject: "Far", Start: far, End: far.Add(time.Hour)})
	ch, err := r.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := hrefs(ch.Items); !slices.Equal(got, []string{old}) {
		t.Fatalf("first window %v; want only %s", got, old)
	}
	r.Now = func() time.Time { return eventsNow.AddDate(0, 2, 0) }
	ch, err = r.Changes(ctx, ch.Token)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Full || len(ch.Deleted) != 0 || !slices.Contains(hrefs(ch.Items), farID) {
		t.Errorf("moved window: %+v; want Far listed, nothing deleted, not full", ch)
	}
}

// TestEventsPrecondition: a write over an event changed meanwhile is
// ErrPrecondition (412), over a deleted one ErrGone.
func TestEventsPrecondition(t *testing.T) {
	g, r := openEvents(t)
	ctx := context.Background()
	id := g.AddEvent("", graphfake.EventSpec{Subject: "A", Start: eventsNow, End: eventsNow.Add(time.Hour)})
	prev := fetchOne(t, r, id)
	g.UpdateEvent(id, func(s *graphfake.EventSpec) { s.Location = "Elsewhere" })
	f := prev.Fields.Clone()
	f[pim.FieldSummary] = pim.Str("B")
	if _, err := r.Update(ctx, prev, f); !errors.Is(err, pim.ErrPrecondition) {
		t.Fatalf("update over a change: %v; want ErrPrecondition", err)
	}
	if st, _ := g.Event(id); st.Subject != "A" {
		t.Errorf("subject %q after a refused write", st.Subject)
	}
	cur := fetchOne(t, r, id)
	f = cur.Fields.Clone()
	f[pim.FieldSummary] = pim.Str("B")
	got, err := r.Update(ctx, cur, f)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := g.Event(id); st.Subject != "B" || st.Location != "Elsewhere" || got.ETag == cur.ETag {
		t.Errorf("after update: %+v, etag %q", st, got.ETag)
	}
	g.DeleteEvent(id)
	if _, err := r.Update(ctx, got, f); !errors.Is(err, pim.ErrGone) {
		t.Errorf("update of a deleted event: %v; want ErrGone", err)
	}
}

// lossy drops the answer of the first create it forwards, as a
// connection lost after Graph created the event.
type lossy struct {
	next    http.RoundTripper
	mu      sync.Mutex
	dropped int
	posts   int
}

func (l *lossy) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(req)
	if req.Method != http.MethodPost {
		return resp, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.posts++
	if err == nil && l.dropped == 0 {
		l.dropped++
		resp.Body.Close()
		return nil, errors.New("connection reset by peer")
	}
	return resp, err
}

// TestEventsCreateDedupe: a create whose answer was lost is retried with
// the same transactionId and Graph keeps one event; a create for a uid
// already stamped is ErrExists with the event's href.
func TestEventsCreateDedupe(t *testing.T) {
	g := graphfake.NewGraph()
	l := &lossy{}
	r := graphpim.NewEvents(eventsClient(t, g, func(n http.RoundTripper) http.RoundTripper { l.next = n; return l }), g.DefaultCalendar())
	r.Now = func() time.Time { return eventsNow }
	ctx := context.Background()
	uid := pim.StampUID("event-7")
	f := pim.Fields{pim.FieldSummary: pim.Str("Demo"), pim.FieldStart: pim.Str("2026-12-15T14:00:00Z"), pim.FieldEnd: pim.Str("2026-12-15T15:00:00Z")}
	it, err := r.Create(ctx, uid, f)
	if err != nil {
		t.Fatal(err)
	}
	if l.dropped != 1 || l.posts != 2 {
		t.Fatalf("posts %d, dropped %d: the test did not lose an answer", l.posts, l.dropped)
	}
	if ids := g.EventIDs(""); len(ids) != 1 || ids[0] != it.Href {
		t.Fatalf("events %v after a retried create; want one, %s", ids, it.Href)
	}
	if it.UID != uid {
		t.Errorf("uid %q; want the stamp", it.UID)
	}
	st, _ := g.Event(it.Href)
	if st.TransactionID == "" || len(st.Props) != 1 {
		t.Errorf("stored event %+v: want a transactionId and the stamp", st)
	}
	again, err := r.Create(ctx, uid, f)
	if !errors.Is(err, pim.ErrExists) || again.Href != it.Href {
		t.Errorf("second create: %v, %q; want ErrExists with %s", err, again.Href, it.Href)
	}
	if ids := g.EventIDs(""); len(ids) != 1 {
		t.Errorf("events %v; want one", ids)
	}
}

// TestEventsTimeZones: zoned times are written in their Windows zone (or
// IANA when Windows has none) and read back as written.
func TestEventsTimeZones(t *testing.T) {
	g, r := openEvents(t)
	ctx := context.Background()
	for _, c := range []struct{ start, end, zone string }{
		{"2027-03-10T10:00:00[America/New_York]", "2027-03-10T11:00:00[America/New_York]", "Eastern Standard Time"},
		{"2027-03-10T10:00:00[Europe/Paris]", "2027-03-10T11:30:00[Europe/Paris]", "Romance Standard Time"},
		{"2027-03-10T10:00:00[Asia/Kolkata]", "2027-03-10T11:00:00[Asia/Kolkata]", "India Standard Time"},
		{"2027-03-10T10:00:00[Europe/Zurich]", "2027-03-10T11:00:00[Europe/Zurich]", "Europe/Zurich"},
		{"2027-03-10T10:00:00Z", "2027-03-10T11:00:00Z", "UTC"},
		{"2027-03-10", "2027-03-11", "UTC"},
	} {
		f := pim.Fields{pim.FieldSummary: pim.Str("TZ " + c.start), pim.FieldStart: pim.Str(c.start), pim.FieldEnd: pim.Str(c.end)}
		it, err := r.Create(ctx, pim.StampUID("tz-"+c.start), f)
		if err != nil {
			t.Fatalf("%s: %v", c.start, err)
		}
		st, _ := g.Event(it.Href)
		if st.TimeZone != c.zone {
			t.Errorf("%s: stored in %q; want %q", c.start, st.TimeZone, c.zone)
		}
		want, _ := crm.When(c.start).Time(time.UTC)
		if len(c.start) != 10 && !st.Start.Equal(want) {
			t.Errorf("%s: stored instant %v; want %v", c.start, st.Start, want)
		}
		if got := fetchOne(t, r, it.Href).Fields; got[pim.FieldStart].Str != c.start || got[pim.FieldEnd].Str != c.end {
			t.Errorf("%s: read back %v – %v", c.start, got[pim.FieldStart], got[pim.FieldEnd])
		}
	}
}

// TestEventsOverridesWrite: the CRM's exdates and overrides become deleted
// occurrences and exceptions; undoing one resets the series and writes the
// others again.
func TestEventsOverridesWrite(t *testing.T) {
	g, r := openEvents(t)
	ctx := context.Background()
	dec, err := caldav.Decode([]byte(weeklyICS))
	if err != nil {
		t.Fatal(err)
	}
	it, err := r.Create(ctx, pim.StampUID("event-1"), dec.Fields)
	if err != nil {
		t.Fatal(err)
	}
	if !it.Fields.Equal(dec.Fields) {
		t.Fatalf("created series reads\n %v\nwant %v", it.Fields, dec.Fields)
	}
	st, _ := g.Event(it.Href)
	if len(st.Exceptions) != 1 || len(st.Deleted) != 1 || st.Type != "seriesMaster" {
		t.Fatalf("stored series %+v; want one exception, one deleted occurrence", st)
	}
	// Undo the exdate, rename the series, cancel another occurrence.
	f := it.Fields.Clone()
	f[pim.FieldExDates] = pim.SetOf("2026-12-14T10:00:00[Europe/Paris]")
	f[pim.FieldSummary] = pim.Str("Weekly review")
	got, err := r.Update(ctx, it, f)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Fields.Equal(f) {
		t.Errorf("updated series reads\n %v\nwant %v", got.Fields, f)
	}
	st, _ = g.Event(it.Href)
	paris := loc(t, "Europe/Paris")
	if len(st.Deleted) != 1 || st.Deleted[0] != time.Date(2026, 12, 14, 10, 0, 0, 0, paris).Unix() {
		t.Errorf("deleted occurrences %v; want only 14 December", st.Deleted)
	}
	if ex, ok := st.Exceptions[time.Date(2026, 11, 16, 10, 0, 0, 0, paris).Unix()]; !ok || ex.Subject != "Moved sync" {
		t.Errorf("exceptions %+v; want 16 November kept", st.Exceptions)
	}
	// An override of no occurrence is refused with words.
	f2 := got.Fields.Clone()
	f2[pim.FieldOverrides] = pim.Str(`[{"recurrence_id":"2026-11-17T10:00:00[Europe/Paris]","summary":"x"}]`)
	if _, err := r.Update(ctx, got, f2); !errors.Is(err, pim.ErrRefused) || !strings.Contains(err.Error(), "not an occurrence") {
		t.Errorf("override of a Tuesday: %v; want ErrRefused", err)
	}
}

// TestEventsCategories: categories go both ways as Outlook's.
func TestEventsCategories(t *testing.T) {
	g, r := openEvents(t)
	ctx := context.Background()
	f := pim.Fields{pim.FieldSummary: pim.Str("Cat"), pim.FieldStart: pim.Str("2027-01-05T09:00:00Z"), pim.FieldEnd: pim.Str("2027-01-05T10:00:00Z"),
		pim.FieldCategories: pim.SetOf("Customer", "Base Lead")}
	it, err := r.Create(ctx, pim.StampUID("event-c"), f)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := g.Event(it.Href); !slices.Equal(st.Categories, []string{"Base Lead", "Customer"}) {
		t.Errorf("stored categories %v", st.Categories)
	}
	g.UpdateEvent(it.Href, func(s *graphfake.EventSpec) { s.Categories = []string{"Partner"} })
	if got := fetchOne(t, r, it.Href).Fields[pim.FieldCategories].List; !slices.Equal(got, []string{"Partner"}) {
		t.Errorf("read categories %v", got)
	}
}

// TestCalendars lists the user's editable calendars, the default marked.
func TestCalendars(t *testing.T) {
	g := graphfake.NewGraph()
	work := g.AddCalendar("Work", "")
	g.AddCalendar("Boss", "boss@contoso.example")
	cols, err := graphpim.Calendars(context.Background(), eventsClient(t, g, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) != 2 || !cols[0].Default || cols[0].ID != g.DefaultCalendar() || cols[1].ID != work || cols[1].Name != "Work" || cols[1].Default {
		t.Errorf("calendars %+v; want the default and Work, not the shared one", cols)
	}
}

// TestEventsCancelledAndHTML: an occurrence cancelled by its organizer is
// an EXDATE like a deleted one; an HTML body reads as text.
func TestEventsCancelledAndHTML(t *testing.T) {
	g, r := openEvents(t)
	paris := loc(t, "Europe/Paris")
	id := addWeekly(t, g)
	g.ModifyOccurrence(id, time.Date(2026, 11, 30, 10, 0, 0, 0, paris), func(s *graphfake.EventSpec) { s.Cancelled = true })
	g.UpdateEvent(id, func(s *graphfake.EventSpec) {
		s.HTML, s.Body = true, "<html><body><p>Agenda &amp; notes</p><div>Second line<br>third</div></body></html>"
	})
	f := fetchOne(t, r, id).Fields
	if ex := f[pim.FieldExDates].List; !slices.Equal(ex, []string{"2026-11-23T10:00:00[Europe/Paris]", "2026-11-30T10:00:00[Europe/Paris]"}) {
		t.Errorf("exdates %v; want the deleted and the cancelled occurrence", ex)
	}
	if d := f[pim.FieldDescription].Str; d != "Agenda & notes\nSecond line\nthird" {
		t.Errorf("description %q", d)
	}
}

// TestEventsPagingAndThrottling: a round over several pages, and Graph
// throttling mid-round, lose nothing.
func TestEventsPagingAndThrottling(t *testing.T) {
	g, r := openEvents(t)
	r.PageSize = 2
	var want []string
	for i := range 7 {
		at := time.Date(2027, 2, 1+i, 9, 0, 0, 0, time.UTC)
		want = append(want, g.AddEvent("", graphfake.EventSpec{Subject: "E", Start: at, End: at.Add(time.Hour)}))
	}
	slices.Sort(want)
	g.ThrottleAfter(2, time.Second)
	ch, err := r.Changes(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := hrefs(ch.Items); !slices.Equal(got, want) {
		t.Errorf("items %v; want %v", got, want)
	}
	if st := g.Stats(); st.Early != 0 || st.Requests < 5 {
		t.Errorf("fake stats %+v: want 4 pages and a retry after the Retry-After, none early", st)
	}
}

// TestEventsExceptionEdited: an occurrence edited in Outlook after the
// first sync reports its series, which then reads with the override.
func TestEventsExceptionEdited(t *testing.T) {
	g, r := openEvents(t)
	ctx := context.Background()
	paris := loc(t, "Europe/Paris")
	id := addWeekly(t, g)
	ch, err := r.Changes(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	g.ModifyOccurrence(id, time.Date(2027, 1, 11, 10, 0, 0, 0, paris), func(s *graphfake.EventSpec) { s.Location = "Room 2" })
	if ch, err = r.Changes(ctx, ch.Token); err != nil || !slices.Equal(hrefs(ch.Items), []string{id}) || len(ch.Deleted) != 0 {
		t.Fatalf("changes %+v, %v; want the series", ch, err)
	}
	var ovs []crm.EventOverride
	if err := json.Unmarshal([]byte(fetchOne(t, r, id).Fields[pim.FieldOverrides].Str), &ovs); err != nil {
		t.Fatal(err)
	}
	want := crm.EventOverride{RecurrenceID: "2027-01-11T10:00:00[Europe/Paris]", Location: "Room 2"}
	if len(ovs) != 2 || ovs[1] != want {
		t.Errorf("overrides %+v; want 16 November's and %+v", ovs, want)
	}
}
