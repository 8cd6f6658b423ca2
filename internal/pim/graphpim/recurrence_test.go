package graphpim_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/caldav"
)

// TestRRuleRoundTrip: every pattern Outlook has is written from an RRULE
// and read back as the same RRULE, and Graph's occurrences (as the fake
// expands the pattern) are the RRULE's (as the CalDAV side expands it).
func TestRRuleRoundTrip(t *testing.T) {
	g, r := openEvents(t)
	ctx := context.Background()
	from, to := time.Date(2025, 12, 7, 0, 0, 0, 0, time.UTC), time.Date(2028, 12, 7, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct{ rule, start, end string }{
		{"FREQ=DAILY;COUNT=5;INTERVAL=2", "2027-01-04T09:00:00Z", "2027-01-04T10:00:00Z"},
		{"FREQ=DAILY", "2027-01-04T09:00:00[Europe/Paris]", "2027-01-04T10:00:00[Europe/Paris]"},
		{"FREQ=WEEKLY;UNTIL=20270301;BYDAY=MO,WE,FR", "2027-01-04T10:00:00[Europe/Paris]", "2027-01-04T11:00:00[Europe/Paris]"},
		{"FREQ=WEEKLY;COUNT=10;INTERVAL=2;BYDAY=TU,TH;WKST=SU", "2027-01-05T08:30:00[America/New_York]", "2027-01-05T09:00:00[America/New_York]"},
		{"FREQ=MONTHLY;BYMONTHDAY=15", "2027-01-15T14:00:00Z", "2027-01-15T15:00:00Z"},
		{"FREQ=MONTHLY;COUNT=6;BYDAY=2TU", "2027-01-12T10:00:00[Europe/Paris]", "2027-01-12T11:00:00[Europe/Paris]"},
		{"FREQ=MONTHLY;UNTIL=20271231;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1", "2027-01-29T16:00:00Z", "2027-01-29T17:00:00Z"},
		{"FREQ=MONTHLY;INTERVAL=3;BYDAY=1MO", "2027-02-01T09:00:00Z", "2027-02-01T09:30:00Z"},
		{"FREQ=YEARLY;BYMONTHDAY=10;BYMONTH=3", "2027-03-10", "2027-03-11"},
		{"FREQ=YEARLY;COUNT=3;BYDAY=-1FR;BYMONTH=11", "2027-11-26T12:00:00[Asia/Tokyo]", "2027-11-26T13:00:00[Asia/Tokyo]"},
	} {
		f := pim.Fields{pim.FieldSummary: pim.Str(c.rule), pim.FieldStart: pim.Str(c.start), pim.FieldEnd: pim.Str(c.end), pim.FieldRRule: pim.Str(c.rule)}
		it, err := r.Create(ctx, pim.StampUID("rule-"+c.rule), f)
		if err != nil {
			t.Errorf("%s: %v", c.rule, err)
			continue
		}
		if got := it.Fields[pim.FieldRRule].Str; got != c.rule {
			t.Errorf("%s: read back as %s", c.rule, got)
		}
		if !it.Fields.Equal(f) {
			t.Errorf("%s: read back %v", c.rule, it.Fields)
		}
		occs, err := caldav.Occurrences(f, from, to, nil, 10000)
		if err != nil {
			t.Fatal(err)
		}
		graphOccs := g.Occurrences(it.Href, from, to)
		if len(occs) != len(graphOccs) {
			t.Errorf("%s: %d occurrences on Graph, %d by the RRULE", c.rule, len(graphOccs), len(occs))
			continue
		}
		for i, o := range occs {
			want, _ := o.Start.Time(time.UTC)
			if !want.Equal(graphOccs[i]) {
				t.Errorf("%s: occurrence %d at %v on Graph, %v by the RRULE", c.rule, i, graphOccs[i], want)
				break
			}
		}
	}
}

// TestRRuleRefused: rules Outlook cannot hold are refused, with words,
// before anything is written.
func TestRRuleRefused(t *testing.T) {
	g, r := openEvents(t)
	for _, rule := range []string{
		"FREQ=HOURLY", "FREQ=MONTHLY;BYDAY=-2MO", "FREQ=YEARLY;BYMONTH=1,6", "FREQ=DAILY;BYDAY=MO,TU",
		"FREQ=MONTHLY;BYMONTHDAY=1,15", "FREQ=WEEKLY;BYHOUR=9", "FREQ=DAILY;COUNT=3;UNTIL=20270101",
	} {
		f := pim.Fields{pim.FieldSummary: pim.Str("x"), pim.FieldStart: pim.Str("2027-01-04T09:00:00Z"), pim.FieldRRule: pim.Str(rule)}
		_, err := r.Create(context.Background(), pim.StampUID("bad-"+rule), f)
		if !errors.Is(err, pim.ErrRefused) || !strings.Contains(err.Error(), "Outlook cannot repeat") {
			t.Errorf("%s: %v; want ErrRefused saying why", rule, err)
		}
	}
	if ids := g.EventIDs(""); len(ids) != 0 {
		t.Errorf("events %v written for refused rules", ids)
	}
	_ = crm.When("")
}
