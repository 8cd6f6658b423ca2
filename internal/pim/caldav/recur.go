package caldav

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/teambition/rrule-go"
)

// Occurrence is one occurrence of an event.
type Occurrence struct {
	// Start and End are the occurrence's times: the override's when it
	// moved the occurrence, else the series' shifted to the occurrence.
	Start, End crm.When
	// RecurrenceID is the occurrence's original start, the key of its
	// override (iCalendar's RECURRENCE-ID), in the form of the series' start.
	RecurrenceID crm.When
	// Overridden is set when an override changes this occurrence.
	Overridden bool
}

// maxScan bounds the occurrences Occurrences looks at before the window
// (a minutely rule started years ago), so a hostile rule cannot hold a
// sync pass.
const maxScan = 1_000_000

// Occurrences expands an event's Fields: the occurrences that start in
// [from, to), sorted by start, at most limit of them (limit must be
// positive). The recurrence set is RFC 5545's: DTSTART, then RRULE and
// RDATE, less EXDATE; an overridden occurrence is moved to its override's
// start (it is in the window when that start is) or dropped when the
// override cancels it. An EXDATE that is a date skips the occurrences of
// that day. An event without RRULE is its start and its RDATEs.
//
// A zoned event is expanded in its zone, so a weekly meeting at 10:00 in
// Paris stays at 10:00 Paris time across daylight-saving changes; floating
// and all-day events are expanded in floating (UTC when nil), the zone of
// the calendar they are shown in.
//
// The start is always the first occurrence, as Google, Apple and libical
// have it, even when it does not match the rule (RFC 5545 leaves that case
// undefined); COUNT then counts the rule's occurrences only. The RRULE is
// expanded with rrule-go: go-ical's RecurrenceSet reads RDATE from the
// EXDATE properties and only the first value of a list, so it is not used.
func Occurrences(f pim.Fields, from, to time.Time, floating *time.Location, limit int) ([]Occurrence, error) {
	if limit <= 0 {
		return nil, errors.New("caldav: occurrences: limit must be positive")
	}
	if floating == nil {
		floating = time.UTC
	}
	f = f.Normalize()
	start, ok := splitWhen(crm.When(f[pim.FieldStart].Str))
	if !ok {
		return nil, fmt.Errorf("caldav: occurrences: start %q: %w", f[pim.FieldStart].Str, crm.ErrBadWhen)
	}
	dtstart := start.instant(floating)
	var dur time.Duration
	days := 0 // an all-day event's length in days, kept across DST
	if end, ok := splitWhen(crm.When(f[pim.FieldEnd].Str)); ok {
		dur = end.instant(floating).Sub(dtstart)
		if start.form == formDate && end.form == formDate {
			days = int(end.wall.Sub(start.wall) / (24 * time.Hour))
		}
	} else if start.form == formDate {
		days = 1
	}
	ovs, err := canonicalOverrides(f[pim.FieldOverrides].Str)
	if err != nil {
		return nil, err
	}
	byInstant := make(map[int64]crm.EventOverride, len(ovs))
	hi := to // the instances to look at: up to to, and up to the last override moved into the window
	var lastRID time.Time
	for _, ov := range ovs {
		x, _ := splitWhen(ov.RecurrenceID)
		rid := x.instant(floating)
		byInstant[rid.Unix()] = ov
		if rid.After(lastRID) {
			lastRID = rid
		}
		if s, ok := splitWhen(ov.Start); ok {
			if t := s.instant(floating); !t.Before(from) && t.Before(to) && rid.After(hi) {
				hi = rid
			}
		}
	}
	next, err := instances(f, start, dtstart, hi, floating)
	if err != nil {
		return nil, err
	}
	var out []Occurrence
	natural := 0 // occurrences in the window that are not moved, in order
	for n := 0; ; n++ {
		t, ok := next()
		if !ok || t.After(hi) {
			break
		}
		if n >= maxScan {
			return nil, errors.New("caldav: occurrences: too many occurrences before the window")
		}
		if natural >= limit && t.After(lastRID) {
			break // later occurrences cannot come before the ones found
		}
		occ := Occurrence{}
		occ.RecurrenceID, _ = start.at(t, floating).String()
		occ.Start = occ.RecurrenceID
		occ.End = endAt(start, t, dur, days, floating)
		if ov, ok := byInstant[t.Unix()]; ok {
			if ov.Cancelled {
				continue
			}
			occ.Overridden = true
			if ov.Start != "" {
				occ.Start = ov.Start
			}
			if ov.End != "" {
				occ.End = ov.End
			}
		}
		s, _ := splitWhen(occ.Start)
		if st := s.instant(floating); st.Before(from) || !st.Before(to) {
			continue
		}
		if occ.Start == occ.RecurrenceID {
			natural++
		}
		out = append(out, occ)
	}
	slices.SortStableFunc(out, func(a, b Occurrence) int {
		sa, _ := splitWhen(a.Start)
		sb, _ := splitWhen(b.Start)
		return sa.instant(floating).Compare(sb.instant(floating))
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// endAt is the natural end of the occurrence starting at t.
func endAt(start when, t time.Time, dur time.Duration, days int, floating *time.Location) crm.When {
	x := start.at(t, floating)
	if start.form == formDate {
		x.wall = x.wall.AddDate(0, 0, days)
	} else {
		x = start.at(t.Add(dur), floating)
	}
	w, _ := x.String()
	return w
}

// instances returns an iterator over the instants of the recurrence set,
// sorted, up to hi: DTSTART, RRULE and RDATE, without EXDATE.
func instances(f pim.Fields, start when, dtstart, hi time.Time, floating *time.Location) (func() (time.Time, bool), error) {
	set := &rrule.Set{}
	set.DTStart(dtstart)
	set.RDate(dtstart)
	if rule := f[pim.FieldRRule].Str; rule != "" {
		r, err := ruleFor(rule, start, dtstart, hi)
		if err != nil {
			return nil, err
		}
		set.RRule(r)
	}
	for _, w := range f[pim.FieldRDates].List {
		if x, ok := splitWhen(crm.When(w)); ok {
			set.RDate(x.instant(floating).In(dtstart.Location()))
		}
	}
	exDays := make(map[time.Time]bool)
	for _, w := range f[pim.FieldExDates].List {
		x, ok := splitWhen(crm.When(w))
		if !ok {
			continue
		}
		if x.form == formDate && start.form != formDate {
			exDays[x.wall] = true
		} else {
			set.ExDate(x.instant(floating))
		}
	}
	it := set.Iterator()
	return func() (time.Time, bool) {
		for {
			t, ok := it()
			if !ok {
				return t, false
			}
			if len(exDays) > 0 && exDays[start.at(t, floating).wall.Truncate(24*time.Hour)] {
				continue
			}
			return t, true
		}
	}, nil
}

// rruleKnown are the parts of a canonical RRULE rrule-go reads; others
// (RSCALE, SKIP, X- parts) are ignored.
var rruleKnown = map[string]bool{
	"FREQ": true, "UNTIL": true, "COUNT": true, "INTERVAL": true, "BYSECOND": true, "BYMINUTE": true,
	"BYHOUR": true, "BYDAY": true, "BYMONTHDAY": true, "BYYEARDAY": true, "BYWEEKNO": true,
	"BYMONTH": true, "BYSETPOS": true, "WKST": true,
}

// ruleFor builds the rrule-go rule of an RRULE value, expanded from
// dtstart in its location and stopped at hi (rrule-go has no lazy end: a
// rule without UNTIL or COUNT would otherwise run for 290 years). An UNTIL
// that is a date on a timed event includes that whole day, as clients
// mean it.
func ruleFor(rule string, start when, dtstart, hi time.Time) (*rrule.RRule, error) {
	parts := rruleParts(canonicalRRule(rule))
	var known []string
	for _, k := range rrulePartOrder {
		if v, ok := parts[k]; ok && rruleKnown[k] {
			known = append(known, k+"="+v)
		}
	}
	opt, err := rrule.StrToROptionInLocation(strings.Join(known, ";"), dtstart.Location())
	if err != nil {
		return nil, fmt.Errorf("caldav: occurrences: rrule %q: %w", rule, err)
	}
	if u := parts["UNTIL"]; len(u) == len(icalDate) && start.form != formDate {
		opt.Until = opt.Until.AddDate(0, 0, 1).Add(-time.Second)
	}
	if opt.Until.IsZero() || opt.Until.After(hi) {
		opt.Until = hi
	}
	if step := freqStep(opt.Freq); step > 0 {
		interval := max(opt.Interval, 1)
		if n := hi.Sub(dtstart) / (step * time.Duration(interval)); n > maxScan*10 {
			return nil, errors.New("caldav: occurrences: rule too frequent for the window")
		}
	}
	opt.Dtstart = dtstart
	return rrule.NewRRule(*opt)
}

// freqStep is the period of sub-daily frequencies, whose expansion walks
// every period whatever the BY parts; 0 for the others.
func freqStep(f rrule.Frequency) time.Duration {
	switch f {
	case rrule.HOURLY:
		return time.Hour
	case rrule.MINUTELY:
		return time.Minute
	case rrule.SECONDLY:
		return time.Second
	}
	return 0
}
