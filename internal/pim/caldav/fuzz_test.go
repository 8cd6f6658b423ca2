package caldav

import (
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/pim"
)

// FuzzDecode checks that Decode never panics, and that what it reads is
// what Encode writes: patched into the original, and as a new object.
func FuzzDecode(f *testing.F) {
	for _, name := range fixtures(f) {
		f.Add(fixture(f, name))
	}
	f.Add(ics(vevent("DTSTART;VALUE=DATE:99991231", "RRULE:FREQ=DAILY;INTERVAL=1", "EXDATE;VALUE=DATE:20260101,x")))
	f.Add(ics(vevent("DTSTART;TZID=Nowhere:20260101T100000", "DURATION:P1W2DT3H", "ATTENDEE:MAILTO:A@B"),
		vevent("RECURRENCE-ID;VALUE=DATE:20260102", "STATUS:CANCELLED")))
	f.Add(ics("BEGIN:VTODO\nUID:t\nDUE:20260101T100000\nPRIORITY:0\nSTATUS:in-process\nCOMPLETED;TZID=Europe/Paris:20260101T100000\nEND:VTODO\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		it, err := Decode(data)
		if err != nil {
			return
		}
		out, err := Encode(data, it.UID, it.Type, it.Fields)
		if err != nil {
			t.Fatalf("Encode(prev): %v", err)
		}
		got, err := Decode(out)
		if err != nil {
			t.Fatalf("Decode(Encode(prev)): %v\n%s", err, out)
		}
		if !got.Fields.Equal(it.Fields) || got.UID != it.UID || got.Type != it.Type {
			t.Fatalf("patched round trip:\n%v\n%v\n%s", it.Fields, got.Fields, out)
		}
		out, err = Encode(nil, "u", it.Type, it.Fields)
		if err != nil {
			t.Fatalf("Encode(nil): %v", err)
		}
		got, err = Decode(out)
		if err != nil {
			t.Fatalf("Decode(Encode(nil)): %v\n%s", err, out)
		}
		if !got.Fields.Equal(it.Fields) || got.Type != it.Type {
			t.Fatalf("new round trip:\n%v\n%v\n%s", it.Fields, got.Fields, out)
		}
	})
}

// FuzzEncode checks that Encode never panics on Fields a CRM could send,
// and that what it writes, new or patched, Decode reads.
func FuzzEncode(f *testing.F) {
	f.Add(uint8(0), "Lunch, then walk", "2026-03-02T10:00:00[Europe/Paris]", "2026-03-02T11:00:00[Europe/Paris]",
		"FREQ=WEEKLY;BYDAY=MO", "2026-03-09T10:00:00[Europe/Paris]",
		`[{"recurrence_id":"2026-03-16T10:00:00[Europe/Paris]","start":"2026-03-17T10:00:00[Europe/Paris]"}]`, "a@b.c")
	f.Add(uint8(1), "Task", "2026-03-02", "completed", "5", "2026-03-02T10:00:00Z", "", "x")
	f.Add(uint8(2), "", "9999-12-31", "0000-01-01", "", "2026-03-09", `[{"recurrence_id":"9999-12-31","cancelled":true}]`, "")
	prev := map[Type][]byte{TypeEvent: fixture(f, "weekly-exceptions.ics"), TypeTask: fixture(f, "nextcloud-task-done.ics")}
	f.Fuzz(func(t *testing.T, kind uint8, summary, a, b, c, d, overrides, addr string) {
		typ := TypeEvent
		fields := pim.Fields{pim.FieldSummary: pim.Str(summary), pim.FieldDescription: pim.Str(summary + "\n" + c)}
		if kind%2 == 1 {
			typ = TypeTask
			fields[pim.FieldDue] = pim.Str(a)
			fields[pim.FieldStatus] = pim.Str(b)
			fields[pim.FieldPriority] = pim.Str(c)
			fields[pim.FieldCompleted] = pim.Str(d)
		} else {
			fields[pim.FieldStart] = pim.Str(a)
			fields[pim.FieldEnd] = pim.Str(b)
			fields[pim.FieldRRule] = pim.Str(c)
			fields[pim.FieldExDates] = pim.SetOf(d, a)
			fields[pim.FieldRDates] = pim.SetOf(d)
			fields[pim.FieldOverrides] = pim.Str(overrides)
			fields[pim.FieldAttendees] = pim.SetOf(addr)
			fields[pim.FieldLocation] = pim.Str(addr)
		}
		fields[pim.FieldCategories] = pim.SetOf(summary, addr)
		for _, p := range [][]byte{nil, prev[typ]} {
			out, err := Encode(p, "uid", typ, fields)
			if err != nil {
				continue
			}
			if _, err := Decode(out); err != nil {
				t.Fatalf("Decode(Encode(%v)): %v\n%s", fields, err, out)
			}
		}
	})
}

// FuzzOccurrences checks that Occurrences never panics nor hangs on rules
// and overrides a CRM or a server could hold, and keeps its promises.
func FuzzOccurrences(f *testing.F) {
	f.Add("2026-03-02T10:00:00[Europe/Paris]", "2026-03-02T11:00:00[Europe/Paris]", "FREQ=WEEKLY;UNTIL=20260504T080000Z;BYDAY=MO",
		"2026-03-16T10:00:00[Europe/Paris]", `[{"recurrence_id":"2026-03-30T10:00:00[Europe/Paris]","start":"2026-03-31T11:00:00[Europe/Paris]"}]`, int64(0), uint16(400), uint8(10))
	f.Add("2026-01-01", "", "FREQ=MONTHLY;BYDAY=-1FR;BYSETPOS=1", "2026-02-27", "", int64(-86400*30), uint16(1000), uint8(3))
	f.Add("2026-01-01T00:00:00", "2026-01-01T00:00:01", "FREQ=MINUTELY;INTERVAL=7;BYHOUR=3", "", "", int64(0), uint16(2), uint8(255))
	f.Fuzz(func(t *testing.T, start, end, rule, exdate, overrides string, offset int64, days uint16, limit uint8) {
		fields := pim.Fields{
			pim.FieldStart: pim.Str(start), pim.FieldEnd: pim.Str(end), pim.FieldRRule: pim.Str(rule),
			pim.FieldExDates: pim.SetOf(exdate), pim.FieldRDates: pim.SetOf(exdate), pim.FieldOverrides: pim.Str(overrides),
		}
		from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(offset%(1<<40)) * time.Second)
		to := from.Add(time.Duration(days) * 24 * time.Hour)
		occs, err := Occurrences(fields, from, to, time.UTC, int(limit))
		if err != nil {
			return
		}
		if len(occs) > int(limit) {
			t.Fatalf("%d occurrences, limit %d", len(occs), limit)
		}
		var last time.Time
		for _, o := range occs {
			s, err := o.Start.Time(time.UTC)
			if err != nil || s.Before(from) || !s.Before(to) || s.Before(last) {
				t.Fatalf("occurrence %v (%v) outside [%v, %v) or unsorted", o, err, from, to)
			}
			last = s
		}
	})
}
