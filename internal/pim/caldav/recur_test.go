package caldav

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
)

func utc(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func starts(occs []Occurrence) []string {
	var out []string
	for _, o := range occs {
		out = append(out, string(o.Start))
	}
	return out
}

func mustOccur(t *testing.T, f pim.Fields, from, to string, floating *time.Location, limit int) []Occurrence {
	t.Helper()
	occs, err := Occurrences(f, utc(from), utc(to), floating, limit)
	if err != nil {
		t.Fatal(err)
	}
	return occs
}

func TestOccurrencesFixture(t *testing.T) {
	it := mustDecode(t, fixture(t, "weekly-exceptions.ics"))
	occs := mustOccur(t, it.Fields, "2026-03-01T00:00:00Z", "2026-06-01T00:00:00Z", nil, 100)
	p := func(s string) crm.When { return crm.When("2026-" + s + "[Europe/Paris]") }
	want := []Occurrence{
		{Start: p("03-02T10:00:00"), End: p("03-02T11:00:00"), RecurrenceID: p("03-02T10:00:00")},
		{Start: p("03-09T10:00:00"), End: p("03-09T11:00:00"), RecurrenceID: p("03-09T10:00:00")},
		// 16 March: EXDATE
		{Start: p("03-23T10:00:00"), End: p("03-23T11:00:00"), RecurrenceID: p("03-23T10:00:00")},
		{Start: p("03-25T15:00:00"), End: p("03-25T16:00:00"), RecurrenceID: p("03-25T15:00:00")}, // RDATE
		{Start: p("03-31T11:00:00"), End: p("03-31T12:00:00"), RecurrenceID: p("03-30T10:00:00"), Overridden: true},
		// 6 April: EXDATE; 13 April: cancelled
		{Start: p("04-20T10:00:00"), End: p("04-20T11:00:00"), RecurrenceID: p("04-20T10:00:00")},
		{Start: p("04-27T10:00:00"), End: p("04-27T11:00:00"), RecurrenceID: p("04-27T10:00:00")},
		{Start: p("05-04T10:00:00"), End: p("05-04T11:00:00"), RecurrenceID: p("05-04T10:00:00")}, // UNTIL, inclusive
	}
	if !slices.Equal(occs, want) {
		t.Errorf("got\n%v\nwant\n%v", occs, want)
	}

	// The limit keeps the first ones; the window cuts on the start.
	occs = mustOccur(t, it.Fields, "2026-03-09T09:00:00Z", "2026-03-31T09:00:00Z", nil, 3)
	if got := starts(occs); !slices.Equal(got, []string{"2026-03-09T10:00:00[Europe/Paris]", "2026-03-23T10:00:00[Europe/Paris]", "2026-03-25T15:00:00[Europe/Paris]"}) {
		t.Errorf("limited: %q", got)
	}
	// The moved occurrence is in the window of its new start only.
	occs = mustOccur(t, it.Fields, "2026-03-30T00:00:00Z", "2026-03-31T00:00:00Z", nil, 10)
	if len(occs) != 0 {
		t.Errorf("30 March: %v", occs)
	}
}

// A weekly meeting at 10:00 in Paris stays at 10:00 Paris time when
// Europe switches to summer time (29 March 2026): its UTC time moves.
func TestOccurrencesAcrossDST(t *testing.T) {
	f := pim.Fields{
		pim.FieldStart: pim.Str("2026-03-16T10:00:00[Europe/Paris]"),
		pim.FieldEnd:   pim.Str("2026-03-16T11:00:00[Europe/Paris]"),
		pim.FieldRRule: pim.Str("FREQ=WEEKLY;COUNT=5"),
	}
	occs := mustOccur(t, f, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", nil, 100)
	var utcs []string
	for _, o := range occs {
		if o.Start.Local()[11:] != "10:00:00" || o.End.Local()[11:] != "11:00:00" || o.Start.Zone() != "Europe/Paris" {
			t.Errorf("occurrence %v", o)
		}
		tm, _ := o.Start.Time(nil)
		utcs = append(utcs, tm.UTC().Format("01-02T15:04"))
	}
	if want := []string{"03-16T09:00", "03-23T09:00", "03-30T08:00", "04-06T08:00", "04-13T08:00"}; !slices.Equal(utcs, want) {
		t.Errorf("UTC times %q, want %q", utcs, want)
	}
	// And back in October, in New York (1 November 2026).
	f = pim.Fields{
		pim.FieldStart: pim.Str("2026-10-26T09:30:00[America/New_York]"),
		pim.FieldRRule: pim.Str("FREQ=DAILY;INTERVAL=7;UNTIL=20261110T000000Z"),
	}
	occs = mustOccur(t, f, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", nil, 100)
	if got := starts(occs); !slices.Equal(got, []string{"2026-10-26T09:30:00[America/New_York]", "2026-11-02T09:30:00[America/New_York]", "2026-11-09T09:30:00[America/New_York]"}) {
		t.Errorf("New York: %q", got)
	}
}

func TestOccurrencesUntilCount(t *testing.T) {
	for _, tc := range []struct {
		start, rrule string
		want         int
	}{
		{"2026-01-01T09:00:00Z", "FREQ=DAILY;COUNT=3", 3},
		{"2026-01-01T09:00:00Z", "FREQ=DAILY;UNTIL=20260105T090000Z", 5},
		{"2026-01-01T09:00:00Z", "FREQ=DAILY;UNTIL=20260105T085959Z", 4},
		{"2026-01-01T09:00:00", "FREQ=DAILY;UNTIL=20260105", 5}, // a date UNTIL takes its whole day
		{"2026-01-01", "FREQ=DAILY;UNTIL=20260105", 5},
		{"2026-01-01T09:00:00Z", "FREQ=WEEKLY;INTERVAL=2;COUNT=4", 4},
		{"2026-01-30T09:00:00Z", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;COUNT=12", 12}, // last weekdays
		{"2026-01-05T09:00:00Z", "FREQ=WEEKLY;BYDAY=TU;COUNT=2", 3},                            // a Monday: DTSTART counts as well
		{"2026-01-01T09:00:00Z", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", 1},
		{"2026-01-01T09:00:00Z", "FREQ=DAILY;COUNT=3;X-UNKNOWN=1;RSCALE=GREGORIAN", 3},
	} {
		f := pim.Fields{pim.FieldStart: pim.Str(tc.start), pim.FieldRRule: pim.Str(tc.rrule)}
		occs := mustOccur(t, f, "2025-01-01T00:00:00Z", "2036-01-01T00:00:00Z", nil, 1000)
		if len(occs) != tc.want {
			t.Errorf("%s %s: %d occurrences, want %d: %q", tc.start, tc.rrule, len(occs), tc.want, starts(occs))
		}
	}
}

func TestOccurrencesAllDayAndFloating(t *testing.T) {
	it := mustDecode(t, fixture(t, "allday-yearly.ics"))
	ny, _ := time.LoadLocation("America/New_York")
	occs := mustOccur(t, it.Fields, "2026-01-01T00:00:00Z", "2029-01-01T00:00:00Z", ny, 10)
	want := []Occurrence{
		{Start: "2026-11-21", End: "2026-11-22", RecurrenceID: "2026-11-21"},
		{Start: "2027-11-21", End: "2027-11-22", RecurrenceID: "2027-11-21"},
		{Start: "2028-11-21", End: "2028-11-22", RecurrenceID: "2028-11-21"},
	}
	if !slices.Equal(occs, want) {
		t.Errorf("got %v", occs)
	}
	// Floating: the window is read in the floating zone (midnight in New
	// York is 05:00 UTC, so a window ending at 04:00 UTC misses the day).
	occs = mustOccur(t, it.Fields, "2026-11-20T00:00:00Z", "2026-11-21T04:00:00Z", ny, 10)
	if len(occs) != 0 {
		t.Errorf("window before New York midnight: %v", occs)
	}
	occs = mustOccur(t, it.Fields, "2026-11-20T00:00:00Z", "2026-11-21T04:00:00Z", time.UTC, 10)
	if len(occs) != 1 {
		t.Errorf("window after UTC midnight: %v", occs)
	}
	// A multi-day event keeps its length in days across a DST change.
	f := pim.Fields{pim.FieldStart: pim.Str("2026-03-27"), pim.FieldEnd: pim.Str("2026-03-30"), pim.FieldRRule: pim.Str("FREQ=WEEKLY;COUNT=2")}
	paris, _ := time.LoadLocation("Europe/Paris")
	occs = mustOccur(t, f, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", paris, 10)
	if len(occs) != 2 || occs[0].End != "2026-03-30" || occs[1].End != "2026-04-06" {
		t.Errorf("multi-day: %v", occs)
	}
}

func TestOccurrencesOverrides(t *testing.T) {
	base := pim.Fields{
		pim.FieldStart: pim.Str("2026-01-05T09:00:00Z"),
		pim.FieldEnd:   pim.Str("2026-01-05T10:00:00Z"),
		pim.FieldRRule: pim.Str("FREQ=WEEKLY"),
		pim.FieldOverrides: overridesValue(
			// moved from January into February
			crm.EventOverride{RecurrenceID: "2026-01-05T09:00:00Z", Start: "2026-02-10T14:00:00Z", End: "2026-02-10T15:00:00Z"},
			crm.EventOverride{RecurrenceID: "2026-02-09T09:00:00Z", Cancelled: true},
			crm.EventOverride{RecurrenceID: "2026-02-16T09:00:00Z", Summary: "renamed only"},
			// not an occurrence: ignored
			crm.EventOverride{RecurrenceID: "2026-02-18T09:00:00Z", Start: "2026-02-18T10:00:00Z"},
		),
		pim.FieldExDates: pim.SetOf("2026-02-23"), // a date: that whole day
	}
	occs := mustOccur(t, base, "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", nil, 10)
	want := []Occurrence{
		{Start: "2026-02-02T09:00:00Z", End: "2026-02-02T10:00:00Z", RecurrenceID: "2026-02-02T09:00:00Z"},
		{Start: "2026-02-10T14:00:00Z", End: "2026-02-10T15:00:00Z", RecurrenceID: "2026-01-05T09:00:00Z", Overridden: true},
		{Start: "2026-02-16T09:00:00Z", End: "2026-02-16T10:00:00Z", RecurrenceID: "2026-02-16T09:00:00Z", Overridden: true},
	}
	if !slices.Equal(occs, want) {
		t.Errorf("got\n%v\nwant\n%v", occs, want)
	}
	// With a limit of 1 the moved occurrence still sorts after the 2nd.
	occs = mustOccur(t, base, "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", nil, 1)
	if !slices.Equal(occs, want[:1]) {
		t.Errorf("limit 1: %v", occs)
	}
}

func TestOccurrencesSingle(t *testing.T) {
	f := pim.Fields{
		pim.FieldStart:  pim.Str("2026-05-01T12:00:00"),
		pim.FieldEnd:    pim.Str("2026-05-01T12:30:00"),
		pim.FieldRDates: pim.SetOf("2026-05-08T12:00:00", "2026-04-01T12:00:00"),
	}
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	occs := mustOccur(t, f, "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", tokyo, 10)
	if got := fmt.Sprint(starts(occs)); got != "[2026-04-01T12:00:00 2026-05-01T12:00:00 2026-05-08T12:00:00]" {
		t.Errorf("got %s", got)
	}
	if occs[0].End != "2026-04-01T12:30:00" {
		t.Errorf("end %s", occs[0].End)
	}
	if occs := mustOccur(t, f, "2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z", nil, 10); len(occs) != 0 {
		t.Errorf("later window: %v", occs)
	}
}

func TestOccurrencesErrors(t *testing.T) {
	ok := pim.Fields{pim.FieldStart: pim.Str("2026-01-01T00:00:00Z")}
	for name, tc := range map[string]struct {
		f     pim.Fields
		limit int
	}{
		"limit":     {ok, 0},
		"no start":  {pim.Fields{pim.FieldRRule: pim.Str("FREQ=DAILY")}, 10},
		"bad rrule": {pim.Fields{pim.FieldStart: pim.Str("2026-01-01T00:00:00Z"), pim.FieldRRule: pim.Str("FREQ=SOMETIMES")}, 10},
		"too often": {pim.Fields{pim.FieldStart: pim.Str("2000-01-01T00:00:00Z"), pim.FieldRRule: pim.Str("FREQ=SECONDLY")}, 10},
		"overrides": {pim.Fields{pim.FieldStart: pim.Str("2026-01-01T00:00:00Z"), pim.FieldOverrides: pim.Str("[")}, 10},
	} {
		if _, err := Occurrences(tc.f, utc("2026-01-01T00:00:00Z"), utc("2027-01-01T00:00:00Z"), nil, tc.limit); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
