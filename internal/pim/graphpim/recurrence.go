package graphpim

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/caldav"
)

// patternedRecurrence is Graph's recurrence of an event or a To Do task
// (§8.2): a pattern (how often) and a range (from when, until when).
type patternedRecurrence struct {
	Pattern recurrencePattern `json:"pattern"`
	Range   recurrenceRange   `json:"range"`
}

type recurrencePattern struct {
	Type           string   `json:"type"`
	Interval       int      `json:"interval"`
	Month          int      `json:"month,omitempty"`
	DayOfMonth     int      `json:"dayOfMonth,omitempty"`
	DaysOfWeek     []string `json:"daysOfWeek,omitempty"`
	FirstDayOfWeek string   `json:"firstDayOfWeek,omitempty"`
	Index          string   `json:"index,omitempty"`
}

type recurrenceRange struct {
	Type                string `json:"type"`
	StartDate           string `json:"startDate"`
	EndDate             string `json:"endDate,omitempty"`
	RecurrenceTimeZone  string `json:"recurrenceTimeZone,omitempty"`
	NumberOfOccurrences int    `json:"numberOfOccurrences,omitempty"`
}

// Graph's day names in RRULE's order (BYDAY lists are written Monday
// first, so one set of days is one string).
var graphDays = []struct{ graph, ical string }{
	{"monday", "MO"}, {"tuesday", "TU"}, {"wednesday", "WE"}, {"thursday", "TH"},
	{"friday", "FR"}, {"saturday", "SA"}, {"sunday", "SU"},
}

func icalDay(graph string) (string, bool) {
	for _, d := range graphDays {
		if strings.EqualFold(d.graph, graph) {
			return d.ical, true
		}
	}
	return "", false
}

func graphDay(ical string) (string, bool) {
	for _, d := range graphDays {
		if d.ical == ical {
			return d.graph, true
		}
	}
	return "", false
}

// Graph's week-of-month index and RRULE's ordinal (BYSETPOS, or the number
// before a BYDAY day).
var graphIndexes = map[string]int{"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}

func graphIndex(n int) (string, bool) {
	for k, v := range graphIndexes {
		if v == n {
			return k, true
		}
	}
	return "", false
}

// rruleOf writes a patternedRecurrence as the canonical RRULE the CalDAV
// side holds for the same rule:
//
//	daily            FREQ=DAILY
//	weekly           FREQ=WEEKLY;BYDAY=MO,WE (WKST when the interval makes it matter)
//	absoluteMonthly  FREQ=MONTHLY;BYMONTHDAY=15
//	relativeMonthly  FREQ=MONTHLY;BYDAY=2TU, or BYDAY=MO,TU;BYSETPOS=-1 for several days
//	absoluteYearly   FREQ=YEARLY;BYMONTHDAY=15;BYMONTH=3
//	relativeYearly   FREQ=YEARLY;BYDAY=-1FR;BYMONTH=3
//
// with INTERVAL, and COUNT for a numbered range or UNTIL for an end date.
// UNTIL is the end date as a DATE: Graph's end date includes its whole
// day, which is how the CalDAV side reads a DATE UNTIL on a timed event.
func rruleOf(r *patternedRecurrence) (string, error) {
	p := r.Pattern
	var parts []string
	days := func() (string, error) {
		var out []string
		for _, d := range graphDays {
			if slices.ContainsFunc(p.DaysOfWeek, func(x string) bool { return strings.EqualFold(x, d.graph) }) {
				out = append(out, d.ical)
			}
		}
		if len(out) == 0 || len(out) != len(p.DaysOfWeek) {
			return "", fmt.Errorf("the days of week %v are not all days", p.DaysOfWeek)
		}
		return strings.Join(out, ","), nil
	}
	relative := func() error {
		ds, err := days()
		if err != nil {
			return err
		}
		idx := p.Index
		if idx == "" {
			idx = "first"
		}
		n, ok := graphIndexes[strings.ToLower(idx)]
		if !ok {
			return fmt.Errorf("unknown week index %q", p.Index)
		}
		if len(p.DaysOfWeek) == 1 {
			parts = append(parts, "BYDAY="+strconv.Itoa(n)+ds)
		} else {
			parts = append(parts, "BYDAY="+ds, "BYSETPOS="+strconv.Itoa(n))
		}
		return nil
	}
	switch p.Type {
	case "daily":
		parts = append(parts, "FREQ=DAILY")
	case "weekly":
		ds, err := days()
		if err != nil {
			return "", err
		}
		parts = append(parts, "FREQ=WEEKLY", "BYDAY="+ds)
		if wk, ok := icalDay(p.FirstDayOfWeek); ok && wk != "MO" && p.Interval > 1 {
			parts = append(parts, "WKST="+wk)
		}
	case "absoluteMonthly":
		parts = append(parts, "FREQ=MONTHLY", "BYMONTHDAY="+strconv.Itoa(p.DayOfMonth))
	case "relativeMonthly":
		parts = append(parts, "FREQ=MONTHLY")
		if err := relative(); err != nil {
			return "", err
		}
	case "absoluteYearly":
		parts = append(parts, "FREQ=YEARLY", "BYMONTHDAY="+strconv.Itoa(p.DayOfMonth), "BYMONTH="+strconv.Itoa(p.Month))
	case "relativeYearly":
		parts = append(parts, "FREQ=YEARLY", "BYMONTH="+strconv.Itoa(p.Month))
		if err := relative(); err != nil {
			return "", err
		}
	default:
		return "", fmt.Errorf("unknown recurrence pattern %q", p.Type)
	}
	if p.Interval > 1 {
		parts = append(parts, "INTERVAL="+strconv.Itoa(p.Interval))
	}
	switch r.Range.Type {
	case "endDate":
		d, err := time.Parse(time.DateOnly, r.Range.EndDate)
		if err != nil {
			return "", fmt.Errorf("the recurrence's end date %q is not a date", r.Range.EndDate)
		}
		parts = append(parts, "UNTIL="+d.Format("20060102"))
	case "numbered":
		if r.Range.NumberOfOccurrences < 1 {
			return "", fmt.Errorf("the recurrence's number of occurrences is %d", r.Range.NumberOfOccurrences)
		}
		parts = append(parts, "COUNT="+strconv.Itoa(r.Range.NumberOfOccurrences))
	case "noEnd", "":
	default:
		return "", fmt.Errorf("unknown recurrence range %q", r.Range.Type)
	}
	return caldav.CanonicalRRule(strings.Join(parts, ";")), nil
}

// rruleParts allowed per frequency; anything else is a rule Outlook
// cannot hold.
var graphRRuleParts = map[string][]string{
	"DAILY":   {"FREQ", "INTERVAL", "UNTIL", "COUNT"},
	"WEEKLY":  {"FREQ", "INTERVAL", "UNTIL", "COUNT", "BYDAY", "WKST"},
	"MONTHLY": {"FREQ", "INTERVAL", "UNTIL", "COUNT", "BYDAY", "BYMONTHDAY", "BYSETPOS", "WKST"},
	"YEARLY":  {"FREQ", "INTERVAL", "UNTIL", "COUNT", "BYDAY", "BYMONTHDAY", "BYSETPOS", "BYMONTH", "WKST"},
}

// recurrenceOf reads an RRULE as a patternedRecurrence for a series whose
// first occurrence is start (its wall clock in its zone) in the Windows
// (or IANA) zone tz. A rule Outlook cannot repeat an event by (hourly,
// BYHOUR, several months or month days, the second-to-last week…) is
// pim.ErrRefused with words saying which part.
func recurrenceOf(rule string, start time.Time, tz string) (*patternedRecurrence, error) {
	rule = caldav.CanonicalRRule(rule)
	parts := map[string]string{}
	for _, p := range strings.Split(rule, ";") {
		if k, v, ok := strings.Cut(p, "="); ok {
			parts[k] = v
		}
	}
	refuse := func(why string, args ...any) error {
		return fmt.Errorf("%w: Outlook cannot repeat an event by the rule %q: %s", pim.ErrRefused, rule, fmt.Sprintf(why, args...))
	}
	freq := parts["FREQ"]
	allowed, ok := graphRRuleParts[freq]
	if !ok {
		return nil, refuse("it repeats only daily, weekly, monthly or yearly")
	}
	for k := range parts {
		if !slices.Contains(allowed, k) {
			return nil, refuse("%s is not something it can repeat by", k)
		}
	}
	r := &patternedRecurrence{}
	r.Pattern.Interval = 1
	if v, ok := parts["INTERVAL"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 999 {
			return nil, refuse("the interval %q is not a number from 1 to 999", v)
		}
		r.Pattern.Interval = n
	}
	// BYDAY: plain days, or one day with an ordinal.
	var days []string
	ordinal := 0
	if v, ok := parts["BYDAY"]; ok {
		for _, d := range strings.Split(v, ",") {
			i := strings.IndexFunc(d, func(c rune) bool { return c >= 'A' && c <= 'Z' })
			if i < 0 {
				return nil, refuse("the day %q is not a day", d)
			}
			g, ok := graphDay(d[i:])
			if !ok {
				return nil, refuse("the day %q is not a day", d)
			}
			if i > 0 {
				n, err := strconv.Atoi(strings.TrimPrefix(d[:i], "+"))
				if err != nil || ordinal != 0 || len(strings.Split(v, ",")) > 1 {
					return nil, refuse("only one day may have a week number")
				}
				ordinal = n
			}
			days = append(days, g)
		}
	}
	setpos := 0
	if v, ok := parts["BYSETPOS"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, refuse("only one position in the month is possible")
		}
		setpos = n
	}
	if setpos != 0 && (ordinal != 0 || len(days) == 0) {
		return nil, refuse("a position in the month goes with plain days only")
	}
	monthDay := 0
	if v, ok := parts["BYMONTHDAY"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 31 {
			return nil, refuse("only one day of the month, from 1 to 31, is possible")
		}
		monthDay = n
	}
	month := int(start.Month())
	if v, ok := parts["BYMONTH"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 12 {
			return nil, refuse("only one month is possible")
		}
		month = n
	}
	relative := func() error {
		n := ordinal
		if setpos != 0 {
			n = setpos
		}
		idx, ok := graphIndex(n)
		if !ok {
			return refuse("the week of the month must be the first to fourth or the last")
		}
		r.Pattern.DaysOfWeek, r.Pattern.Index = days, idx
		return nil
	}
	p := &r.Pattern
	switch freq {
	case "DAILY":
		p.Type = "daily"
	case "WEEKLY":
		if ordinal != 0 {
			return nil, refuse("a weekly rule's days have no week number")
		}
		p.Type = "weekly"
		p.DaysOfWeek = days
		if len(days) == 0 {
			d, _ := graphDay(strings.ToUpper(start.Weekday().String()[:2]))
			p.DaysOfWeek = []string{d}
		}
		p.FirstDayOfWeek = "monday" // RFC 5545's default week start
		if wk, ok := parts["WKST"]; ok {
			if p.FirstDayOfWeek, ok = graphDay(wk); !ok {
				return nil, refuse("the week start %q is not a day", wk)
			}
		}
	case "MONTHLY", "YEARLY":
		if monthDay != 0 && len(days) > 0 {
			return nil, refuse("a day of the month and days of the week cannot be combined")
		}
		rel := len(days) > 0
		switch {
		case freq == "MONTHLY" && rel:
			p.Type = "relativeMonthly"
		case freq == "MONTHLY":
			p.Type = "absoluteMonthly"
		case rel:
			p.Type, p.Month = "relativeYearly", month
		default:
			p.Type, p.Month = "absoluteYearly", month
		}
		if rel {
			if ordinal == 0 && setpos == 0 {
				return nil, refuse("days of the week need a week of the month")
			}
			if err := relative(); err != nil {
				return nil, err
			}
		} else {
			p.DayOfMonth = monthDay
			if p.DayOfMonth == 0 {
				p.DayOfMonth = start.Day()
			}
		}
	}
	r.Range.StartDate = start.Format(time.DateOnly)
	r.Range.RecurrenceTimeZone = tz
	r.Range.Type = "noEnd"
	_, hasUntil := parts["UNTIL"]
	_, hasCount := parts["COUNT"]
	switch {
	case hasUntil && hasCount:
		return nil, refuse("it has both an end date and a count")
	case hasCount:
		n, err := strconv.Atoi(parts["COUNT"])
		if err != nil || n < 1 {
			return nil, refuse("the count %q is not a positive number", parts["COUNT"])
		}
		r.Range.Type, r.Range.NumberOfOccurrences = "numbered", n
	case hasUntil:
		d, err := untilDate(parts["UNTIL"], start.Location())
		if err != nil {
			return nil, refuse("the end %q is not a date", parts["UNTIL"])
		}
		r.Range.Type, r.Range.EndDate = "endDate", d.Format(time.DateOnly)
	}
	return r, nil
}

// untilDate is the day of an UNTIL in the series' zone: a DATE as is, a
// UTC DATE-TIME converted, a floating one as written.
func untilDate(v string, loc *time.Location) (time.Time, error) {
	if len(v) == 8 {
		return time.Parse("20060102", v)
	}
	if t, err := time.Parse("20060102T150405Z", v); err == nil {
		t = t.In(loc)
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
	}
	t, err := time.Parse("20060102T150405", v)
	if err != nil {
		return time.Time{}, err
	}
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), nil
}
