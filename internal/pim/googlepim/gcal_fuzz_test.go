package googlepim

import (
	"encoding/json"
	"testing"

	"github.com/crmsync/crmsync/internal/pim"
)

// FuzzSeriesFields: whatever event Google sends, reading it does not
// panic, and a master read without exceptions, written back as crmsync
// writes it and read again, gives the same Fields.
func FuzzSeriesFields(f *testing.F) {
	f.Add(`{"id":"abc12","summary":"Weekly, sync; \\ ok","start":{"dateTime":"2024-01-08T09:00:00+01:00","timeZone":"Europe/Berlin"},"end":{"dateTime":"2024-01-08T09:30:00+01:00","timeZone":"Europe/Berlin"},"recurrence":["RRULE:FREQ=WEEKLY;BYDAY=MO","EXDATE;TZID=Europe/Berlin:20240122T090000"]}`,
		`{"id":"abc12_20240115T080000Z","recurringEventId":"abc12","status":"cancelled","originalStartTime":{"dateTime":"2024-01-15T09:00:00+01:00"}}`)
	f.Add(`{"id":"d1","start":{"date":"2024-02-01"},"end":{"date":"2024-02-02"},"description":"a\nb","attendees":[{"email":"A@x.example"}]}`, `{}`)
	f.Add(`{"id":"z","start":{"dateTime":"2024-02-01T10:00:00","timeZone":"Windows/Nowhere"},"end":{"dateTime":"bad"}}`, `{"originalStartTime":{"date":"x"}}`)
	f.Fuzz(func(t *testing.T, master, exception string) {
		var m, x gevent
		if json.Unmarshal([]byte(master), &m) != nil || json.Unmarshal([]byte(exception), &x) != nil {
			return
		}
		_, _ = seriesFields("u", m, []gevent{x})
		got, err := seriesFields("u", m, nil)
		if err != nil || got[pim.FieldStart].Str == "" {
			return
		}
		r := &Events{}
		body, err := r.masterBody(nil, "u", got)
		if err != nil {
			return
		}
		b, _ := json.Marshal(body)
		var back gevent
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		again, err := seriesFields("u", back, nil)
		if err != nil {
			t.Fatalf("written %s cannot be read: %v", b, err)
		}
		if !again.Equal(got) {
			t.Fatalf("read %v\nwritten %s\nread back %v", got, b, again)
		}
	})
}
