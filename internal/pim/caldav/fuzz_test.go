package caldav

import (
	"fmt"
	"os"
	"testing"
	"time"
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
		start := time.Now()
		done := make(chan bool)
		go func() {
			select {
			case <-done:
			case <-time.After(2 * time.Second):
				os.WriteFile(fmt.Sprintf("/tmp/slow-%d.ics", time.Now().UnixNano()), data, 0o644)
			}
		}()
		defer func() { close(done); _ = start }()
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
