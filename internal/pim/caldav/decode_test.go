package caldav

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
)

func TestDecodeFixtures(t *testing.T) {
	for _, tc := range []struct {
		file     string
		uid      string
		typ      Type
		modified string
		want     pim.Fields // compared field by field; fields not listed must be empty
	}{
		{
			file: "weekly-exceptions.ics", uid: "weekly-sync-7c1f@crmsync.test", typ: TypeEvent,
			modified: "2026-02-21T08:30:00Z",
			want: pim.Fields{
				pim.FieldSummary:     pim.Str("Point hebdo grands comptes"),
				pim.FieldDescription: pim.Str("Revue des comptes stratégiques."),
				pim.FieldLocation:    pim.Str("Salle Seine"),
				pim.FieldStart:       pim.Str("2026-03-02T10:00:00[Europe/Paris]"),
				pim.FieldEnd:         pim.Str("2026-03-02T11:00:00[Europe/Paris]"),
				pim.FieldRRule:       pim.Str("FREQ=WEEKLY;UNTIL=20260504T080000Z;BYDAY=MO"),
				pim.FieldExDates:     pim.SetOf("2026-03-16T10:00:00[Europe/Paris]", "2026-04-06T10:00:00[Europe/Paris]"),
				pim.FieldRDates:      pim.SetOf("2026-03-25T15:00:00[Europe/Paris]"),
				pim.FieldAttendees:   pim.SetOf("lea.martin@example.fr", "hugo.bernard@example.fr", "chloe.petit@example.fr"),
				pim.FieldCategories:  pim.SetOf("Grands comptes"),
				pim.FieldOverrides: overridesValue(
					crm.EventOverride{RecurrenceID: "2026-03-30T10:00:00[Europe/Paris]", Summary: "Point hebdo grands comptes (décalé)",
						Location: "Salle Loire", Start: "2026-03-31T11:00:00[Europe/Paris]", End: "2026-03-31T12:00:00[Europe/Paris]"},
					crm.EventOverride{RecurrenceID: "2026-04-13T10:00:00[Europe/Paris]", Cancelled: true},
				),
			},
		},
		{
			file: "google-recurring.ics", uid: "7kukuqrfedlm2f9t0vr4aqjb5k@google.com", typ: TypeEvent,
			modified: "2026-01-05T18:15:11Z",
			want: pim.Fields{
				pim.FieldSummary: pim.Str("Sales standup"),
				pim.FieldDescription: pim.Str("Daily numbers, blockers, next steps.\n\nJoin with Google Meet: https://meet.google.com/abc-defg-hij\n\n" +
					"-::~:~::~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~:~::~:~::-"),
				pim.FieldStart:     pim.Str("2026-01-06T09:30:00[America/New_York]"),
				pim.FieldEnd:       pim.Str("2026-01-06T10:00:00[America/New_York]"),
				pim.FieldRRule:     pim.Str("FREQ=WEEKLY;BYDAY=TU,TH;WKST=SU"),
				pim.FieldExDates:   pim.SetOf("2026-01-20T09:30:00[America/New_York]"),
				pim.FieldAttendees: pim.SetOf("dana.whitaker@example.com", "marco.rossi@example.org", "c_1889abc@resource.calendar.google.com"),
				pim.FieldOverrides: overridesValue(crm.EventOverride{RecurrenceID: "2026-01-15T09:30:00[America/New_York]",
					Summary: "Sales standup (moved for the all-hands)",
					Start:   "2026-01-15T11:00:00[America/New_York]", End: "2026-01-15T11:30:00[America/New_York]"}),
			},
		},
		{
			file: "outlook-berlin.ics", typ: TypeEvent, modified: "2026-01-12T08:15:30Z",
			uid: "040000008200E00074C5B7101A82E00800000000D0F1B5C1E383DC01000000000000000010000000A8C2E0F9B1D2A44C9B8E5D7F6A3C2B1E",
			want: pim.Fields{
				pim.FieldSummary:     pim.Str("Quartalsplanung Vertrieb"),
				pim.FieldDescription: pim.Str("Quartalsplanung mit dem Vertriebsteam: Zahlen, Ziele, Risiken."),
				pim.FieldLocation:    pim.Str("Besprechungsraum 2.14"),
				pim.FieldStart:       pim.Str("2026-02-03T09:00:00[Europe/Berlin]"),
				pim.FieldEnd:         pim.Str("2026-02-03T10:30:00[Europe/Berlin]"),
				pim.FieldRRule:       pim.Str("FREQ=WEEKLY;COUNT=10;INTERVAL=2;BYDAY=TU;WKST=MO"),
				pim.FieldExDates:     pim.SetOf("2026-02-17T09:00:00[Europe/Berlin]", "2026-03-03T09:00:00[Europe/Berlin]"),
				pim.FieldAttendees:   pim.SetOf("jonas.becker@example.de", "aylin.demir@example.de"),
			},
		},
		{
			file: "outlook-eastern.ics", typ: TypeEvent, modified: "2026-03-02T15:45:00Z",
			uid: "040000008200E00074C5B7101A82E0080000000090A1B2C3D4E5DC0100000000000000001000000011223344556677889900AABBCCDDEEFF",
			want: pim.Fields{
				pim.FieldSummary:     pim.Str("Acme renewal call"),
				pim.FieldDescription: pim.Str("Renewal call. Bring the usage report."),
				pim.FieldLocation:    pim.Str("Microsoft Teams Meeting"),
				pim.FieldStart:       pim.Str("2026-03-10T14:00:00[America/New_York]"),
				pim.FieldEnd:         pim.Str("2026-03-10T14:30:00[America/New_York]"),
				pim.FieldAttendees:   pim.SetOf("sam.ortiz@example.com"),
			},
		},
		{
			file: "icloud.ics", uid: "3F2A6B1C-8D4E-4F5A-9B7C-2E1D0A9F8B7C", typ: TypeEvent, modified: "2026-02-01T10:11:48Z",
			want: pim.Fields{
				pim.FieldSummary:  pim.Str("Déjeuner avec Claire Fontaine"),
				pim.FieldLocation: pim.Str("Le Procope 13 Rue de l'Ancienne Comédie, 75006 Paris, France"),
				pim.FieldStart:    pim.Str("2026-02-19T12:00:00[Europe/Paris]"),
				pim.FieldEnd:      pim.Str("2026-02-19T13:30:00[Europe/Paris]"),
			},
		},
		{
			file: "icloud-allday.ics", uid: "9D8C7B6A-5E4F-4D3C-2B1A-0F9E8D7C6B5A", typ: TypeEvent, modified: "2026-01-15T19:22:25Z",
			want: pim.Fields{
				pim.FieldSummary: pim.Str("Salon Vinexpo – stand B42"),
				pim.FieldStart:   pim.Str("2026-04-06"),
				pim.FieldEnd:     pim.Str("2026-04-11"),
			},
		},
		{
			file: "allday-yearly.ics", uid: "birthday-4b1e@crmsync.test", typ: TypeEvent, modified: "2025-03-01T08:00:00Z",
			want: pim.Fields{
				pim.FieldSummary:    pim.Str("Anniversaire de Léa Martin"),
				pim.FieldStart:      pim.Str("2026-11-21"),
				pim.FieldEnd:        pim.Str("2026-11-22"), // no DTEND: the next day
				pim.FieldRRule:      pim.Str("FREQ=YEARLY"),
				pim.FieldCategories: pim.SetOf("Anniversaire"),
			},
		},
		{
			file: "thunderbird.ics", uid: "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9", typ: TypeEvent, modified: "2026-01-10T09:15:00Z",
			want: pim.Fields{
				pim.FieldSummary:     pim.Str("Revue de pipeline"),
				pim.FieldDescription: pim.Str("Tour des opportunités ouvertes, une par une."),
				pim.FieldLocation:    pim.Str("Salle Eiffel"),
				pim.FieldStart:       pim.Str("2026-03-02T14:00:00[Europe/Paris]"),
				pim.FieldEnd:         pim.Str("2026-03-02T15:00:00[Europe/Paris]"),
				pim.FieldRRule:       pim.Str("FREQ=MONTHLY;BYDAY=1MO"),
				pim.FieldCategories:  pim.SetOf("Travail", "Client", "Important"),
			},
		},
		{
			file: "duration.ics", uid: "e6f5d4c3-b2a1-4098-8f7e-6d5c4b3a2918", typ: TypeEvent, modified: "2026-05-20T12:00:00Z",
			want: pim.Fields{
				pim.FieldSummary: pim.Str("Demo for Harrow & Co"),
				pim.FieldStart:   pim.Str("2026-06-01T14:00:00[Europe/London]"),
				pim.FieldEnd:     pim.Str("2026-06-01T15:30:00[Europe/London]"),
			},
		},
		{
			// An unknown TZID is read with its VTIMEZONE's STANDARD offset.
			file: "outlook-custom-tz.ics", typ: TypeEvent, modified: "2026-01-10T12:00:00Z",
			uid: "040000008200E00074C5B7101A82E00800000000ABCDEF0123456789000000000000000010000000FEDCBA9876543210FEDCBA9876543210",
			want: pim.Fields{
				pim.FieldSummary: pim.Str("Kick-off Projekt Alpha"),
				pim.FieldStart:   pim.Str("2026-01-15T09:00:00Z"),
				pim.FieldEnd:     pim.Str("2026-01-15T10:30:00Z"),
			},
		},
		{
			file: "nextcloud-task-done.ics", uid: "a1b2c3d4-e5f6-4789-8abc-def012345678", typ: TypeTask, modified: "2026-01-12T16:30:00Z",
			want: pim.Fields{
				pim.FieldSummary:     pim.Str("Angebot an Müller GmbH schicken"),
				pim.FieldDescription: pim.Str("Version 2, mit Mengenrabatt; nach Q3 fragen."),
				pim.FieldDue:         pim.Str("2026-01-15T17:00:00[Europe/Berlin]"),
				pim.FieldStatus:      pim.Str("completed"),
				pim.FieldPriority:    pim.Str("1"),
				pim.FieldCompleted:   pim.Str("2026-01-12T16:30:00Z"),
				pim.FieldCategories:  pim.SetOf("Kunde", "Angebot"),
			},
		},
		{
			file: "nextcloud-task-open.ics", uid: "5f4e3d2c-1b0a-4987-a6b5-c4d3e2f1a0b9", typ: TypeTask, modified: "2026-02-03T09:10:00Z",
			want: pim.Fields{
				pim.FieldSummary:    pim.Str("Vertrag Nordlicht AG prüfen"),
				pim.FieldDue:        pim.Str("2026-02-20"),
				pim.FieldStatus:     pim.Str("in_process"),
				pim.FieldPriority:   pim.Str("5"),
				pim.FieldCategories: pim.SetOf("Recht"),
			},
		},
	} {
		t.Run(tc.file, func(t *testing.T) {
			it := mustDecode(t, fixture(t, tc.file))
			if it.UID != tc.uid || it.Type != tc.typ {
				t.Errorf("UID, Type = %q, %q; want %q, %q", it.UID, it.Type, tc.uid, tc.typ)
			}
			if got := it.Modified.UTC().Format(time.RFC3339); got != tc.modified {
				t.Errorf("Modified = %s, want %s", got, tc.modified)
			}
			want := tc.want.Normalize()
			for name, v := range it.Fields {
				if !v.Equal(want[name]) {
					t.Errorf("%s = %q, want %q", name, v.String(), want[name].String())
				}
			}
			for name, v := range want {
				if _, ok := it.Fields[name]; !ok {
					t.Errorf("%s missing, want %q", name, v.String())
				}
			}
		})
	}
}

func overridesValue(ovs ...crm.EventOverride) pim.Value {
	b, _ := json.Marshal(ovs)
	return pim.Str(string(b))
}

// ics wraps VEVENT/VTODO bodies (and VTIMEZONEs) in a VCALENDAR.
func ics(components ...string) []byte {
	return []byte("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n" +
		strings.ReplaceAll(strings.Join(components, ""), "\n", "\r\n") + "END:VCALENDAR\r\n")
}

func vevent(lines ...string) string {
	return "BEGIN:VEVENT\nUID:u1\nDTSTAMP:20260101T000000Z\n" + strings.Join(lines, "\n") + "\nEND:VEVENT\n"
}

func TestDecodeErrors(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":         nil,
		"vcard":         []byte("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:x\r\nEND:VCARD\r\n"),
		"truncated":     []byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\n"),
		"no items":      ics("BEGIN:VJOURNAL\nUID:j\nDTSTAMP:20260101T000000Z\nEND:VJOURNAL\n"),
		"two uids":      ics(vevent("SUMMARY:a"), strings.Replace(vevent("RECURRENCE-ID:20260101T000000Z"), "UID:u1", "UID:u2", 1)),
		"event + task":  ics(vevent("SUMMARY:a"), "BEGIN:VTODO\nUID:u1\nEND:VTODO\n"),
		"param panic":   []byte("BEGIN:VCALENDAR\r\nX;A=b"),            // go-ical panics on this one
		"quote panic":   []byte("BEGIN:VCALENDAR\r\nX;A=\"b\"c:d\r\n"), // and this one
		"huge params":   []byte("BEGIN:VCALENDAR\r\nX;A=" + strings.Repeat("a", 9000) + ":v\r\n"),
		"costly params": []byte("BEGIN:VCALENDAR\r\n" + strings.Repeat("X;A="+strings.Repeat("a", 8000)+":v\r\n", 10)),
		"unmatched end": []byte("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"),
	} {
		if it, err := Decode(data); err == nil {
			t.Errorf("%s: Decode succeeded: %+v", name, it)
		}
	}
	if _, err := Decode([]byte("garbage")); !errors.Is(err, errNotICal) {
		t.Errorf("garbage: %v, want errNotICal", err)
	}
}

func TestDecodeTimes(t *testing.T) {
	paris := "BEGIN:VTIMEZONE\nTZID:Custom Paris\nBEGIN:STANDARD\nDTSTART:19701025T030000\nTZOFFSETFROM:+0200\nTZOFFSETTO:+0100\nEND:STANDARD\n" +
		"BEGIN:DAYLIGHT\nDTSTART:19700329T020000\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0200\nEND:DAYLIGHT\nEND:VTIMEZONE\n"
	for _, tc := range []struct{ dtstart, want string }{
		{"DTSTART;VALUE=DATE:20261121", "2026-11-21"},
		{"DTSTART:20261121", "2026-11-21"},
		{"DTSTART:20261121T090000Z", "2026-11-21T09:00:00Z"},
		{"DTSTART:20261121t090000z", "2026-11-21T09:00:00Z"},
		{"DTSTART;TZID=Europe/Paris:20261121T100000Z", "2026-11-21T10:00:00Z"}, // Z wins
		{"DTSTART;TZID=Europe/Paris:20261121T100000", "2026-11-21T10:00:00[Europe/Paris]"},
		{"DTSTART;TZID=\"Europe/Paris\":20261121T100000", "2026-11-21T10:00:00[Europe/Paris]"},
		{"DTSTART;TZID=UTC:20261121T100000", "2026-11-21T10:00:00Z"},
		{"DTSTART;TZID=Etc/UTC:20261121T100000", "2026-11-21T10:00:00[Etc/UTC]"},
		{"DTSTART;TZID=Romance Standard Time:20261121T100000", "2026-11-21T10:00:00[Europe/Paris]"},
		{"DTSTART;TZID=Pacific Standard Time:20261121T100000", "2026-11-21T10:00:00[America/Los_Angeles]"},
		{"DTSTART;TZID=/mozilla.org/20050126_1/Europe/Paris:20261121T100000", "2026-11-21T10:00:00[Europe/Paris]"},
		{"DTSTART;TZID=/citadel.org/20190914_1/America/Argentina/Buenos_Aires:20261121T100000",
			"2026-11-21T10:00:00[America/Argentina/Buenos_Aires]"},
		{"DTSTART;TZID=Custom Paris:20260715T100000", "2026-07-15T09:00:00Z"}, // STANDARD offset, even in summer
		{"DTSTART;TZID=Nowhere:20261121T100000", "2026-11-21T10:00:00"},       // no VTIMEZONE: floating
		{"DTSTART:20261121T100000", "2026-11-21T10:00:00"},
		{"DTSTART;VALUE=DATE;TZID=Europe/Paris:20261121", "2026-11-21"},
		{"DTSTART:2026-11-21T10:00:00", ""},
		{"DTSTART:20261321T100000", ""},
		{"DTSTART:+0261121", ""},
		{"DTSTART;VALUE=PERIOD:20261121T100000", ""},
		{"DTSTART:20261121T100000.5", ""},
	} {
		it := mustDecode(t, ics(paris, vevent(tc.dtstart)))
		if got := it.Fields[pim.FieldStart].Str; got != tc.want {
			t.Errorf("%s: start = %q, want %q", tc.dtstart, got, tc.want)
		}
	}
}

func TestDecodeEnd(t *testing.T) {
	for _, tc := range []struct {
		lines      []string
		start, end string
	}{
		{[]string{"DTSTART;TZID=Europe/Paris:20260328T120000", "DURATION:P1D"}, // across the DST change: a calendar day
			"2026-03-28T12:00:00[Europe/Paris]", "2026-03-29T12:00:00[Europe/Paris]"},
		{[]string{"DTSTART;TZID=Europe/Paris:20260329T013000", "DURATION:PT1H"}, // an exact hour, over the gap
			"2026-03-29T01:30:00[Europe/Paris]", "2026-03-29T03:30:00[Europe/Paris]"},
		{[]string{"DTSTART:20260101T100000Z", "DURATION:P1W"}, "2026-01-01T10:00:00Z", "2026-01-08T10:00:00Z"},
		{[]string{"DTSTART:20260101T100000Z", "DURATION:-PT30M"}, "2026-01-01T10:00:00Z", "2026-01-01T09:30:00Z"},
		{[]string{"DTSTART:20260101T100000", "DURATION:P1DT2H3M4S"}, "2026-01-01T10:00:00", "2026-01-02T12:03:04"},
		{[]string{"DTSTART;VALUE=DATE:20260101", "DURATION:P2D"}, "2026-01-01", "2026-01-03"},
		{[]string{"DTSTART;VALUE=DATE:20260101"}, "2026-01-01", "2026-01-02"},
		{[]string{"DTSTART:20260101T100000Z"}, "2026-01-01T10:00:00Z", "2026-01-01T10:00:00Z"},
		{[]string{"DTSTART:20260101T100000Z", "DURATION:bogus"}, "2026-01-01T10:00:00Z", "2026-01-01T10:00:00Z"},
		{[]string{"DTSTART:20260101T100000Z", "DTEND:20260101T110000Z", "DURATION:PT5H"}, "2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z"},
		{[]string{"DTEND:20260101T110000Z"}, "", "2026-01-01T11:00:00Z"},
		{[]string{"DTSTART;VALUE=DATE:99991231"}, "9999-12-31", ""},
	} {
		it := mustDecode(t, ics(vevent(tc.lines...)))
		if s, e := it.Fields[pim.FieldStart].Str, it.Fields[pim.FieldEnd].Str; s != tc.start || e != tc.end {
			t.Errorf("%v: %q–%q, want %q–%q", tc.lines, s, e, tc.start, tc.end)
		}
	}
}

func TestDecodeLenient(t *testing.T) {
	it := mustDecode(t, ics(vevent(
		"SUMMARY:Lunch, then walk", // an unescaped comma is text, not a list
		`DESCRIPTION:a\:b\N\qc\`,   // unknown escapes stand for the character
		"CATEGORIES:Sales,  VIP ,,Golf\\, Tennis",
		"ATTENDEE;CN=x:MAILTO:X@Example.COM",
		"ATTENDEE:urn:uuid:1234",
		"ATTENDEE:mailto:",
		"EXDATE:20260101T100000Z,bogus,20260108T100000Z",
		"EXDATE;VALUE=DATE:20260115",
		"RDATE;VALUE=PERIOD:20260201T100000Z/PT1H,20260202T100000Z/20260202T120000Z",
		"RRULE:freq=weekly; interval=1;byday=MO;;X-FOO=bar;COUNT=3;BYDAY=TU",
		"PRIORITY:3", // not mapped for events
	)))
	f := it.Fields
	want := pim.Fields{
		pim.FieldSummary:     pim.Str("Lunch, then walk"),
		pim.FieldDescription: pim.Str("a:b\nqc\\"),
		pim.FieldCategories:  pim.SetOf("Golf, Tennis", "Sales", "VIP"),
		pim.FieldAttendees:   pim.SetOf("x@example.com"),
		pim.FieldExDates:     pim.SetOf("2026-01-01T10:00:00Z", "2026-01-08T10:00:00Z", "2026-01-15"),
		pim.FieldRDates:      pim.SetOf("2026-02-01T10:00:00Z", "2026-02-02T10:00:00Z"),
		pim.FieldRRule:       pim.Str("FREQ=WEEKLY;COUNT=3;BYDAY=MO;X-FOO=BAR"),
	}
	if !f.Equal(want) {
		t.Errorf("got  %v\nwant %v", f, want.Normalize())
	}
}

func TestCanonicalRRule(t *testing.T) {
	for in, want := range map[string]string{
		"FREQ=WEEKLY;BYDAY=MO,WE;UNTIL=20261231T000000Z":        "FREQ=WEEKLY;UNTIL=20261231T000000Z;BYDAY=MO,WE",
		"BYMONTH=3;BYDAY=-1SU;FREQ=YEARLY;INTERVAL=1":           "FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3",
		"freq=daily;interval=2;count=5":                         "FREQ=DAILY;COUNT=5;INTERVAL=2",
		"FREQ=MONTHLY;BYSETPOS=-1;BYDAY=MO,TU,WE,TH,FR;WKST=SU": "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;WKST=SU",
		"FREQ=YEARLY;RSCALE=GREGORIAN;SKIP=FORWARD;BYMONTH=2":   "FREQ=YEARLY;BYMONTH=2;RSCALE=GREGORIAN;SKIP=FORWARD",
		"FREQ=HOURLY;BYSECOND=0;BYMINUTE=30;BYHOUR=9,17":        "FREQ=HOURLY;BYSECOND=0;BYMINUTE=30;BYHOUR=9,17",
		"FREQ=YEARLY;BYWEEKNO=20;BYYEARDAY=1;BYMONTHDAY=1":      "FREQ=YEARLY;BYMONTHDAY=1;BYYEARDAY=1;BYWEEKNO=20",
		";;=x;FREQ;": "",
	} {
		got := canonicalRRule(in)
		if got != want {
			t.Errorf("canonicalRRule(%q) = %q, want %q", in, got, want)
		}
		if again := canonicalRRule(got); again != got {
			t.Errorf("canonicalRRule not idempotent: %q → %q", got, again)
		}
	}
}

func TestDecodeMasterless(t *testing.T) {
	// An invitation to one occurrence only: the first override is the item.
	it := mustDecode(t, ics(
		vevent("RECURRENCE-ID:20260301T100000Z", "DTSTART:20260301T110000Z", "SUMMARY:b"),
		vevent("RECURRENCE-ID:20260308T100000Z", "DTSTART:20260308T100000Z", "SUMMARY:c"),
	))
	if got := it.Fields[pim.FieldStart].Str; got != "2026-03-01T11:00:00Z" {
		t.Errorf("start = %q", got)
	}
	if got := it.Fields[pim.FieldOverrides].Str; got != `[{"recurrence_id":"2026-03-08T10:00:00Z","summary":"c"}]` {
		t.Errorf("overrides = %s", got)
	}
}

func TestDecodeOverrideInheritance(t *testing.T) {
	// An override without DTSTART or DTEND keeps the occurrence's times;
	// one whose texts are the series' holds none; a duplicate is ignored.
	it := mustDecode(t, ics(
		vevent("DTSTART:20260301T100000Z", "DTEND:20260301T113000Z", "RRULE:FREQ=DAILY", "SUMMARY:S", "LOCATION:L"),
		vevent("RECURRENCE-ID:20260302T100000Z", "SUMMARY:S", "LOCATION:L2", "DTSTART:20260302T100000Z", "DTEND:20260302T113000Z"),
		vevent("RECURRENCE-ID:20260303T100000Z", "SUMMARY:S", "DTEND:20260303T120000Z"),
		vevent("RECURRENCE-ID:20260303T100000Z", "SUMMARY:other"),
	))
	var ovs []crm.EventOverride
	if err := json.Unmarshal([]byte(it.Fields[pim.FieldOverrides].Str), &ovs); err != nil {
		t.Fatal(err)
	}
	want := []crm.EventOverride{
		{RecurrenceID: "2026-03-02T10:00:00Z", Location: "L2"},
		{RecurrenceID: "2026-03-03T10:00:00Z", End: "2026-03-03T12:00:00Z"},
	}
	if len(ovs) != len(want) || ovs[0] != want[0] || ovs[1] != want[1] {
		t.Errorf("overrides = %+v, want %+v", ovs, want)
	}
}
