package caldav

import (
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
)

// TestOccurrencesBounded: a hostile rule is never expanded without bound,
// and years outside 1–9999 are not calendar times.
func TestOccurrencesBounded(t *testing.T) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f := pim.Fields{pim.FieldStart: pim.Str("2026-01-01T00:00:00Z"), pim.FieldRRule: pim.Str("FREQ=SECONDLY;COUNT=100000000")}
	began := time.Now()
	occ, err := Occurrences(f, from, from.AddDate(1, 0, 0), nil, 10)
	if err == nil && len(occ) > 10 {
		t.Fatalf("%d occurrences for a limit of 10", len(occ))
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("expansion took %v", d)
	}
	// Started long ago: stopped by the scan bound, not expanded for ever.
	f[pim.FieldStart] = pim.Str("2000-01-01T00:00:00Z")
	if _, err := Occurrences(f, from, from.Add(time.Hour), nil, 10); err == nil {
		t.Error("a secondly rule 26 years before the window was expanded")
	}
	for _, s := range []string{"0000-01-01", "0000-01-01T09:00:00Z", "0000-12-31T23:59:59"} {
		if _, ok := splitWhen(crm.When(s)); ok {
			t.Errorf("%s accepted", s)
		}
		if _, err := Occurrences(pim.Fields{pim.FieldStart: pim.Str(s)}, from, from, nil, 1); err == nil {
			t.Errorf("Occurrences accepted start %s", s)
		}
	}
	z := &zones{}
	for _, v := range []string{"00000101", "00000101T090000Z", "00000101T090000"} {
		if w, ok := z.value(v, "", ""); ok {
			t.Errorf("%s read as %s", v, w)
		}
	}
	if w, ok := z.value("00010101", "", ""); !ok || w != "0001-01-01" {
		t.Errorf("00010101 read as %q, %v", w, ok)
	}
}
