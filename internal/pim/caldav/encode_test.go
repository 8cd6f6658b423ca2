package caldav

import (
	"bytes"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
)

// The core promise: what Decode reads, Encode writes back unchanged, both
// as a patch of the original (which keeps every component and property)
// and as a new object.
func TestRoundTripFixtures(t *testing.T) {
	for _, name := range fixtures(t) {
		t.Run(name, func(t *testing.T) {
			prev := fixture(t, name)
			it := mustDecode(t, prev)

			out := mustEncode(t, prev, it.UID, it.Type, it.Fields)
			if got := mustDecode(t, out); !got.Fields.Equal(it.Fields) || got.UID != it.UID || got.Type != it.Type {
				t.Errorf("patched: fields\n%v\nwant\n%v", got.Fields, it.Fields)
			}
			if m, extra := missing(structure(t, prev), structure(t, out)), missing(structure(t, out), structure(t, prev)); len(m)+len(extra) > 0 {
				t.Errorf("patched without changes, yet lost %q and gained %q", m, extra)
			}

			out = mustEncode(t, nil, "new-"+it.UID, it.Type, it.Fields)
			got := mustDecode(t, out)
			if !got.Fields.Equal(it.Fields) || got.UID != "new-"+it.UID {
				t.Errorf("new: fields\n%v\nwant\n%v\n%s", got.Fields, it.Fields, out)
			}
			// The new object is valid to a second encoding pass too.
			again := mustEncode(t, out, got.UID, got.Type, got.Fields)
			if m := missing(structure(t, out), structure(t, again)); len(m) > 0 {
				t.Errorf("re-encoding the new object lost %q", m)
			}
		})
	}
}

func TestEncodeSummaryOnly(t *testing.T) {
	prev := fixture(t, "weekly-exceptions.ics")
	it := mustDecode(t, prev)
	f := it.Fields.Clone()
	f[pim.FieldSummary] = pim.Str("Point hebdo (renommé)")
	out := mustEncode(t, prev, it.UID, it.Type, f)
	if got := mustDecode(t, out); !got.Fields.Equal(f) {
		t.Fatalf("fields\n%v\nwant\n%v", got.Fields, f)
	}
	before, after := structure(t, prev), structure(t, out)
	for _, l := range missing(before, after) {
		_, rest, _ := strings.Cut(l, "|")
		name, _, _ := strings.Cut(rest, ";")
		// The master's summary, and that of the cancelled occurrence, which
		// had the series' one; DTSTAMP and LAST-MODIFIED of both.
		if name != "SUMMARY" && name != "DTSTAMP" && name != "LAST-MODIFIED" {
			t.Errorf("lost %s", l)
		}
		if strings.Contains(l, "décalé") {
			t.Errorf("the moved occurrence lost its own summary: %s", l)
		}
	}
	for _, prop := range []string{"EXDATE", "RDATE", "RRULE", "RECURRENCE-ID", "TRIGGER", "X-WR-ALARMUID", "TZOFFSETTO", "ATTENDEE", "SEQUENCE"} {
		if !slices.Equal(propLines(before, prop), propLines(after, prop)) {
			t.Errorf("%s changed:\n%q\n%q", prop, propLines(before, prop), propLines(after, prop))
		}
	}
	if n := strings.Count(string(out), "BEGIN:VEVENT"); n != 3 {
		t.Errorf("%d VEVENTs, want 3", n)
	}
}

func TestEncodeOverrides(t *testing.T) {
	prev := fixture(t, "weekly-exceptions.ics")
	it := mustDecode(t, prev)
	var ovs []crm.EventOverride
	if err := json.Unmarshal([]byte(it.Fields[pim.FieldOverrides].Str), &ovs); err != nil {
		t.Fatal(err)
	}
	// Cancel the moved one, reinstate the cancelled one, move another.
	ovs[0].Cancelled = true
	ovs = ovs[:1]
	ovs = append(ovs, crm.EventOverride{RecurrenceID: "2026-04-20T10:00:00[Europe/Paris]",
		Start: "2026-04-21T09:00:00[Europe/Paris]", End: "2026-04-21T09:45:00[Europe/Paris]", Description: "Mardi cette fois"})
	f := it.Fields.Clone()
	f[pim.FieldOverrides] = overridesValue(ovs...)
	out := mustEncode(t, prev, it.UID, it.Type, f)
	if got := mustDecode(t, out); !got.Fields.Equal(f) {
		t.Fatalf("fields\n%v\nwant\n%v", got.Fields, f)
	}
	s := structure(t, out)
	if l := propLines(s, "RECURRENCE-ID"); len(l) != 2 {
		t.Errorf("RECURRENCE-IDs: %q", l)
	}
	moved := "/VCALENDAR/VEVENT<20260330T100000>"
	for _, want := range []string{
		moved + "|STATUS;:CANCELLED",
		moved + "|LOCATION;:Salle Loire",  // kept
		moved + "/VALARM|TRIGGER;:-PT10M", // kept
		moved + "|ATTENDEE;CN=Hugo Bernard;PARTSTAT=DECLINED;ROLE=REQ-PARTICIPANT:mailto:hugo.bernard@example.fr",
		"/VCALENDAR/VEVENT<20260420T100000>|DTSTART;TZID=Europe/Paris:20260421T090000",
		"/VCALENDAR/VEVENT<20260420T100000>|DTEND;TZID=Europe/Paris:20260421T094500",
		"/VCALENDAR/VEVENT<20260420T100000>|SUMMARY;:Point hebdo grands comptes",
		"/VCALENDAR/VEVENT<20260420T100000>|LOCATION;:Salle Seine",
		"/VCALENDAR/VEVENT<20260420T100000>|DESCRIPTION;:Mardi cette fois",
		"/VCALENDAR/VEVENT<20260420T100000>|ORGANIZER;CN=Léa Martin:mailto:lea.martin@example.fr", // copied from the master
		"/VCALENDAR/VEVENT<20260420T100000>|UID;:weekly-sync-7c1f@crmsync.test",
	} {
		if !slices.Contains(s, want) {
			t.Errorf("missing %s", want)
		}
	}
	if slices.ContainsFunc(s, func(l string) bool { return strings.Contains(l, "20260413T100000") }) {
		t.Error("the override of 13 April is still there")
	}
}

func TestEncodeSeriesChangeMovesNaturalOverrides(t *testing.T) {
	// A series made longer: the override that only renamed its occurrence
	// gets the new length too; the moved one keeps its own times.
	prev := ics(
		vevent("DTSTART:20260301T100000Z", "DTEND:20260301T110000Z", "RRULE:FREQ=DAILY;COUNT=5", "SUMMARY:S"),
		vevent("RECURRENCE-ID:20260302T100000Z", "DTSTART:20260302T100000Z", "DTEND:20260302T110000Z", "SUMMARY:renamed"),
		vevent("RECURRENCE-ID:20260303T100000Z", "DTSTART:20260303T140000Z", "DTEND:20260303T143000Z", "SUMMARY:S"),
	)
	it := mustDecode(t, prev)
	f := it.Fields.Clone()
	f[pim.FieldEnd] = pim.Str("2026-03-01T12:00:00Z")
	out := mustEncode(t, prev, it.UID, it.Type, f)
	if got := mustDecode(t, out); !got.Fields.Equal(f) {
		t.Fatalf("fields\n%v\nwant\n%v", got.Fields, f)
	}
	s := structure(t, out)
	for _, want := range []string{
		"/VCALENDAR/VEVENT<20260302T100000Z>|DTEND;:20260302T120000Z",
		"/VCALENDAR/VEVENT<20260303T100000Z>|DTEND;:20260303T143000Z",
	} {
		if !slices.Contains(s, want) {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
}

func TestEncodeWindowsZone(t *testing.T) {
	prev := fixture(t, "outlook-berlin.ics")
	it := mustDecode(t, prev)

	// The end and the exdates unchanged keep Outlook's properties; the new
	// start is written with the IANA name, and a VTIMEZONE for it.
	f := it.Fields.Clone()
	f[pim.FieldStart] = pim.Str("2026-02-03T09:30:00[Europe/Berlin]")
	out := mustEncode(t, prev, it.UID, it.Type, f)
	if got := mustDecode(t, out); !got.Fields.Equal(f) {
		t.Fatalf("fields\n%v\nwant\n%v", got.Fields, f)
	}
	s := structure(t, out)
	for _, want := range []string{
		"/VCALENDAR/VEVENT|DTSTART;TZID=Europe/Berlin:20260203T093000",
		"/VCALENDAR/VEVENT|DTEND;TZID=W. Europe Standard Time:20260203T103000",
		"/VCALENDAR/VEVENT|EXDATE;TZID=W. Europe Standard Time:20260217T090000,20260303T090000",
		"/VCALENDAR/VTIMEZONE<Europe/Berlin>|TZID;:Europe/Berlin",
		"/VCALENDAR/VTIMEZONE<W. Europe Standard Time>|TZID;:W. Europe Standard Time",
		"/VCALENDAR/VTIMEZONE<Europe/Berlin>/DAYLIGHT|RRULE;:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU",
	} {
		if !slices.Contains(s, want) {
			t.Errorf("missing %s", want)
		}
	}

	// One more exdate: the list is kept, the new date added on its own.
	f = it.Fields.Clone()
	f[pim.FieldExDates] = pim.SetOf(append(slices.Clone(f[pim.FieldExDates].List), "2026-03-17T09:00:00[Europe/Berlin]")...)
	out = mustEncode(t, prev, it.UID, it.Type, f)
	s = structure(t, out)
	if got := propLines(s, "EXDATE"); !slices.Equal(got, []string{
		"/VCALENDAR/VEVENT|EXDATE;TZID=Europe/Berlin:20260317T090000",
		"/VCALENDAR/VEVENT|EXDATE;TZID=W. Europe Standard Time:20260217T090000,20260303T090000",
	}) {
		t.Errorf("EXDATEs: %q", got)
	}
	// One exdate fewer: the list is rewritten.
	f = it.Fields.Clone()
	f[pim.FieldExDates] = pim.SetOf("2026-03-03T09:00:00[Europe/Berlin]")
	out = mustEncode(t, prev, it.UID, it.Type, f)
	if got := propLines(structure(t, out), "EXDATE"); !slices.Equal(got, []string{"/VCALENDAR/VEVENT|EXDATE;TZID=Europe/Berlin:20260303T090000"}) {
		t.Errorf("EXDATEs: %q", got)
	}
	if got := mustDecode(t, out); !got.Fields.Equal(f) {
		t.Fatalf("fields\n%v\nwant\n%v", got.Fields, f)
	}

	// A new description drops Outlook's HTML copy of the old one.
	f = it.Fields.Clone()
	f[pim.FieldDescription] = pim.Str("Neue Agenda")
	out = mustEncode(t, prev, it.UID, it.Type, f)
	if bytes.Contains(out, []byte("X-ALT-DESC")) || !bytes.Contains(out, []byte("DESCRIPTION:Neue Agenda")) {
		t.Errorf("description:\n%s", out)
	}
}

func TestEncodeDuration(t *testing.T) {
	prev := fixture(t, "duration.ics")
	it := mustDecode(t, prev)
	// Moved by a day, same length: DURATION still fits.
	f := it.Fields.Clone()
	f[pim.FieldStart] = pim.Str("2026-06-02T14:00:00[Europe/London]")
	f[pim.FieldEnd] = pim.Str("2026-06-02T15:30:00[Europe/London]")
	out := mustEncode(t, prev, it.UID, it.Type, f)
	s := structure(t, out)
	if !slices.Contains(s, "/VCALENDAR/VEVENT|DURATION;:PT1H30M") || len(propLines(s, "DTEND")) > 0 {
		t.Errorf("moved:\n%s", out)
	}
	// Longer: DTEND replaces DURATION.
	f[pim.FieldEnd] = pim.Str("2026-06-02T16:00:00[Europe/London]")
	out = mustEncode(t, prev, it.UID, it.Type, f)
	s = structure(t, out)
	if len(propLines(s, "DURATION")) > 0 || !slices.Contains(s, "/VCALENDAR/VEVENT|DTEND;TZID=Europe/London:20260602T160000") {
		t.Errorf("longer:\n%s", out)
	}
	if got := mustDecode(t, out); !got.Fields.Equal(f) {
		t.Fatalf("fields\n%v\nwant\n%v", got.Fields, f)
	}
}

func TestEncodeAllDayWithoutEnd(t *testing.T) {
	// Moved by a day, an all-day event without DTEND still needs none.
	prev := fixture(t, "allday-yearly.ics")
	it := mustDecode(t, prev)
	f := it.Fields.Clone()
	f[pim.FieldStart] = pim.Str("2026-11-22")
	f[pim.FieldEnd] = pim.Str("2026-11-23")
	out := mustEncode(t, prev, it.UID, it.Type, f)
	s := structure(t, out)
	if len(propLines(s, "DTEND")) > 0 || !slices.Contains(s, "/VCALENDAR/VEVENT|DTSTART;VALUE=DATE:20261122") {
		t.Errorf("\n%s", out)
	}
}

func TestEncodeAttendees(t *testing.T) {
	prev := fixture(t, "google-recurring.ics")
	it := mustDecode(t, prev)
	f := it.Fields.Clone()
	f[pim.FieldAttendees] = pim.SetOf("dana.whitaker@example.com", "c_1889abc@resource.calendar.google.com", "New.Person@Example.com")
	out := mustEncode(t, prev, it.UID, it.Type, f)
	if got := mustDecode(t, out); !got.Fields.Equal(f) {
		t.Fatalf("fields\n%v\nwant\n%v", got.Fields, f)
	}
	var master []string
	for _, l := range propLines(structure(t, out), "ATTENDEE") {
		if strings.HasPrefix(l, "/VCALENDAR/VEVENT|") {
			master = append(master, l)
		}
	}
	want := []string{
		"/VCALENDAR/VEVENT|ATTENDEE;:mailto:new.person@example.com",
		"/VCALENDAR/VEVENT|ATTENDEE;CN=Dana Whitaker;CUTYPE=INDIVIDUAL;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT;X-NUM-GUESTS=0:mailto:dana.whitaker@example.com",
		"/VCALENDAR/VEVENT|ATTENDEE;CN=NYC-4-Hudson (8);CUTYPE=RESOURCE;PARTSTAT=ACCEPTED;ROLE=REQ-PARTICIPANT;X-NUM-GUESTS=0:mailto:c_1889abc@resource.calendar.google.com",
	}
	if !slices.Equal(master, want) {
		t.Errorf("attendees:\n%q\nwant\n%q", master, want)
	}
}

func TestEncodeTask(t *testing.T) {
	prev := fixture(t, "nextcloud-task-done.ics")
	it := mustDecode(t, prev)
	f := it.Fields.Clone()
	f[pim.FieldStatus] = pim.Str(string(crm.TaskNeedsAction))
	delete(f, pim.FieldCompleted)
	f[pim.FieldPriority] = pim.Str("9")
	f[pim.FieldDue] = pim.Str("2026-01-20")
	f[pim.FieldCategories] = pim.SetOf("Kunde", "Angebot", "Dringend")
	out := mustEncode(t, prev, it.UID, it.Type, f)
	if got := mustDecode(t, out); !got.Fields.Equal(f) {
		t.Fatalf("fields\n%v\nwant\n%v", got.Fields, f)
	}
	s := structure(t, out)
	for _, want := range []string{
		"/VCALENDAR/VTODO|STATUS;:NEEDS-ACTION",
		"/VCALENDAR/VTODO|PRIORITY;:9",
		"/VCALENDAR/VTODO|DUE;VALUE=DATE:20260120",
		"/VCALENDAR/VTODO|CATEGORIES;:Kunde,Angebot",
		"/VCALENDAR/VTODO|CATEGORIES;:Dringend",
		"/VCALENDAR/VTODO|RELATED-TO;RELTYPE=PARENT:f0e1d2c3-b4a5-4697-8877-665544332211",
		"/VCALENDAR/VTODO|X-APPLE-SORT-ORDER;:789456123",
		"/VCALENDAR/VTODO/VALARM|TRIGGER;RELATED=END:-PT1H",
	} {
		if !slices.Contains(s, want) {
			t.Errorf("missing %s", want)
		}
	}
	for _, gone := range []string{"COMPLETED", "PERCENT-COMPLETE"} {
		if l := propLines(s, gone); len(l) > 0 {
			t.Errorf("still there: %q", l)
		}
	}

	// Completed in the CRM: COMPLETED in UTC, PERCENT-COMPLETE 100.
	prev = fixture(t, "nextcloud-task-open.ics")
	it = mustDecode(t, prev)
	f = it.Fields.Clone()
	f[pim.FieldStatus] = pim.Str(string(crm.TaskCompleted))
	f[pim.FieldCompleted] = pim.Str("2026-02-05T18:00:00[Europe/Berlin]")
	out = mustEncode(t, prev, it.UID, it.Type, f)
	s = structure(t, out)
	for _, want := range []string{
		"/VCALENDAR/VTODO|STATUS;:COMPLETED",
		"/VCALENDAR/VTODO|COMPLETED;:20260205T170000Z",
		"/VCALENDAR/VTODO|PERCENT-COMPLETE;:100",
		"/VCALENDAR/VTODO|PRIORITY;:05", // unchanged: kept as written
	} {
		if !slices.Contains(s, want) {
			t.Errorf("missing %s\n%s", want, out)
		}
	}
}

func TestEncodeNew(t *testing.T) {
	f := pim.Fields{
		pim.FieldSummary:   pim.Str("Call, then notes; done\\"),
		pim.FieldStart:     pim.Str("2026-03-27T10:00:00[Europe/Paris]"),
		pim.FieldEnd:       pim.Str("2026-03-27T10:30:00[America/New_York]"),
		pim.FieldRRule:     pim.Str("freq=weekly;interval=1;count=4"),
		pim.FieldExDates:   pim.SetOf("2026-04-03T10:00:00[Europe/Paris]"),
		pim.FieldRDates:    pim.SetOf("2026-04-05", "2026-04-06T08:00:00Z", "2026-04-07T08:00:00"),
		pim.FieldAttendees: pim.SetOf("a@example.com"),
	}
	out := mustEncode(t, nil, "uid-1", TypeEvent, f)
	it := mustDecode(t, out)
	want := f.Clone()
	want[pim.FieldRRule] = pim.Str("FREQ=WEEKLY;COUNT=4")
	if !it.Fields.Equal(want) || it.UID != "uid-1" || it.Type != TypeEvent {
		t.Errorf("got %v\nwant %v", it.Fields, want.Normalize())
	}
	s := structure(t, out)
	for _, want := range []string{
		"/VCALENDAR|VERSION;:2.0",
		"/VCALENDAR|PRODID;:-//crmsync//crmsync//EN",
		"/VCALENDAR/VTIMEZONE<Europe/Paris>",
		"/VCALENDAR/VTIMEZONE<America/New_York>",
		"/VCALENDAR/VEVENT|SUMMARY;:Call\\, then notes\\; done\\\\",
		"/VCALENDAR/VEVENT|RDATE;VALUE=DATE:20260405",
	} {
		if !slices.Contains(s, want) {
			t.Errorf("missing %s\n%s", want, out)
		}
	}
	if len(propLines(s, "DTSTAMP")) != 1 {
		t.Errorf("DTSTAMP: %q", propLines(s, "DTSTAMP"))
	}
	if d := time.Since(it.Modified); d < 0 || d > time.Minute {
		t.Errorf("Modified = %v, want now (DTSTAMP)", it.Modified)
	}

	task := mustEncode(t, nil, "t-1", TypeTask, pim.Fields{pim.FieldSummary: pim.Str("x"), pim.FieldPriority: pim.Str("0")})
	if got := mustDecode(t, task); got.Type != TypeTask || got.Fields[pim.FieldPriority].Str != "" || bytes.Contains(task, []byte("PRIORITY")) {
		t.Errorf("task:\n%s", task)
	}
}

func TestEncodeErrors(t *testing.T) {
	event := fixture(t, "icloud.ics")
	for name, tc := range map[string]struct {
		prev []byte
		typ  Type
		f    pim.Fields
	}{
		"bad type":       {nil, "journal", nil},
		"bad start":      {nil, TypeEvent, pim.Fields{pim.FieldStart: pim.Str("tomorrow")}},
		"unknown zone":   {nil, TypeEvent, pim.Fields{pim.FieldStart: pim.Str("2026-01-01T10:00:00[Mars/Olympus]")}},
		"UTC as zone":    {nil, TypeEvent, pim.Fields{pim.FieldStart: pim.Str("2026-01-01T10:00:00[UTC]")}},
		"bad exdate":     {nil, TypeEvent, pim.Fields{pim.FieldExDates: pim.SetOf("2026-13-01")}},
		"bad overrides":  {nil, TypeEvent, pim.Fields{pim.FieldOverrides: pim.Str("{")}},
		"override rid":   {nil, TypeEvent, pim.Fields{pim.FieldOverrides: pim.Str(`[{"recurrence_id":""}]`)}},
		"override start": {nil, TypeEvent, pim.Fields{pim.FieldOverrides: pim.Str(`[{"recurrence_id":"2026-01-01","start":"x"}]`)}},
		"bad status":     {nil, TypeTask, pim.Fields{pim.FieldStatus: pim.Str("done")}},
		"bad priority":   {nil, TypeTask, pim.Fields{pim.FieldPriority: pim.Str("high")}},
		"bad due":        {nil, TypeTask, pim.Fields{pim.FieldDue: pim.Str("2026-1-1")}},
		"type mismatch":  {event, TypeTask, nil},
		"bad prev":       {[]byte("nope"), TypeEvent, nil},
	} {
		if out, err := Encode(tc.prev, "u", tc.typ, tc.f); err == nil {
			t.Errorf("%s: no error\n%s", name, out)
		}
	}
}

func TestFold(t *testing.T) {
	long := strings.Repeat("é", 100) + strings.Repeat("a", 100) + "日本語のテキスト"
	out := mustEncode(t, nil, "u", TypeEvent, pim.Fields{pim.FieldDescription: pim.Str(long)})
	for _, line := range strings.Split(strings.TrimSuffix(string(out), "\r\n"), "\r\n") {
		if len(line) > 75 || !utf8.ValidString(line) {
			t.Errorf("line of %d octets, valid UTF-8 %v: %q", len(line), utf8.ValidString(line), line)
		}
	}
	if got := mustDecode(t, out).Fields[pim.FieldDescription].Str; got != long {
		t.Errorf("description = %q", got)
	}
}
