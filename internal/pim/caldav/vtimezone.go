package caldav

import (
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-ical"
)

// standardOffset returns the UTC offset of the calendar's VTIMEZONE tzid
// for a time whose zone is unknown: that of its STANDARD observance (the
// one that started last before wall, else the earliest), or of its first
// observance when it has no STANDARD one. Daylight-saving rules of a zone
// we cannot name are not applied: a time in summer may then be an hour
// off, which is better than reading it as UTC or floating.
func (z *zones) standardOffset(tzid string, wall time.Time) (time.Duration, bool) {
	c := z.vtz[tzid]
	if c == nil {
		return 0, false
	}
	var best, earliest *ical.Component
	var bestStart, earliestStart string
	for _, o := range c.Children {
		if o.Name != ical.CompTimezoneStandard {
			continue
		}
		if _, ok := parseOffset(propValue(o, ical.PropTimezoneOffsetTo)); !ok {
			continue
		}
		start := strings.ToUpper(propValue(o, ical.PropDateTimeStart))
		if earliest == nil || start < earliestStart {
			earliest, earliestStart = o, start
		}
		if start <= wall.Format(icalLocal) && (best == nil || start > bestStart) {
			best, bestStart = o, start
		}
	}
	if best == nil {
		best = earliest
	}
	if best == nil {
		for _, o := range c.Children {
			if off, ok := parseOffset(propValue(o, ical.PropTimezoneOffsetTo)); ok {
				return off, true
			}
		}
		return 0, false
	}
	off, _ := parseOffset(propValue(best, ical.PropTimezoneOffsetTo))
	return off, true
}

// parseOffset reads a UTC-OFFSET: "+0100", "-0530", "+013045".
func parseOffset(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if len(s) != 5 && len(s) != 7 || (s[0] != '+' && s[0] != '-') || !layoutDigits(s[1:], "000000"[:len(s)-1]) {
		return 0, false
	}
	n := func(i int) int { return int(s[i]-'0')*10 + int(s[i+1]-'0') }
	h, m, sec := n(1), n(3), 0
	if len(s) == 7 {
		sec = n(5)
	}
	if m > 59 || sec > 59 {
		return 0, false
	}
	off := time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(sec)*time.Second
	if s[0] == '-' {
		off = -off
	}
	return off, true
}

func formatOffset(secs int) string {
	sign := "+"
	if secs < 0 {
		sign, secs = "-", -secs
	}
	s := fmt.Sprintf("%s%02d%02d", sign, secs/3600, secs/60%60)
	if secs%60 != 0 {
		s += fmt.Sprintf("%02d", secs%60)
	}
	return s
}

func propValue(c *ical.Component, name string) string {
	if p := c.Props.Get(name); p != nil {
		return p.Value
	}
	return ""
}

// transition is a change of UTC offset.
type transition struct {
	at       time.Time // the instant
	wall     time.Time // the wall clock just before it, in UTC
	from, to int       // offsets in seconds
	name     string    // abbreviation after it
	dst      bool      // daylight-saving time after it
}

// transitionsIn returns the offset changes of loc during year.
func transitionsIn(loc *time.Location, year int) []transition {
	end := time.Date(year+1, 1, 1, 0, 0, 0, 0, loc)
	var out []transition
	t := time.Date(year, 1, 1, 0, 0, 0, 0, loc)
	for range 16 {
		_, next := t.ZoneBounds()
		if next.IsZero() || !next.Before(end) {
			break
		}
		_, from := t.Zone()
		name, to := next.Zone()
		if from != to {
			out = append(out, transition{
				at: next, wall: wallOf(next.UTC().Add(time.Duration(from) * time.Second)),
				from: from, to: to, name: name, dst: next.IsDST(),
			})
		}
		t = next
	}
	return out
}

// newVTimezone builds the VTIMEZONE of the IANA zone name from Go's zone
// data, with the rules in force in year: a STANDARD and a DAYLIGHT
// observance, each with a yearly RRULE from 1970 (the n-th or last weekday
// of a month, or a weekday on or after a day of the month, whichever holds
// for the following years too; see yearlyRule), or a single STANDARD
// observance for a zone without daylight-saving time. Past rules are not described: clients that
// have zone data of their own (Thunderbird, Apple, Radicale's clients) use
// the TZID, the others get the offsets of today.
func newVTimezone(name string, year int) (*ical.Component, bool) {
	loc, ok := loadZone(name)
	if !ok {
		return nil, false
	}
	tz := ical.NewComponent(ical.CompTimezone)
	tzid := ical.NewProp(ical.PropTimezoneID)
	tzid.Value = name
	tz.Props.Set(tzid)
	trans := transitionsIn(loc, year)
	if len(trans) == 0 {
		abbr, off := time.Date(year, 1, 1, 0, 0, 0, 0, loc).Zone()
		tz.Children = append(tz.Children, observance(ical.CompTimezoneStandard, "19700101T000000", off, off, abbr, ""))
		return tz, true
	}
	for i, tr := range trans {
		kind := ical.CompTimezoneStandard
		if tr.dst {
			kind = ical.CompTimezoneDaylight
		}
		r := yearlyRule(loc, year, i, tr)
		start := time.Date(1970, tr.wall.Month(), r.dayIn(1970), tr.wall.Hour(), tr.wall.Minute(), tr.wall.Second(), 0, time.UTC)
		tz.Children = append(tz.Children, observance(kind, start.Format(icalLocal), tr.from, tr.to, tr.name, r.String()))
	}
	return tz, true
}

func observance(kind, start string, from, to int, name, rule string) *ical.Component {
	o := ical.NewComponent(kind)
	set := func(n, v string) {
		p := ical.NewProp(n)
		p.Value = v
		o.Props.Set(p)
	}
	set(ical.PropDateTimeStart, start)
	set(ical.PropTimezoneOffsetFrom, formatOffset(from))
	set(ical.PropTimezoneOffsetTo, formatOffset(to))
	if name != "" {
		o.Props.SetText(ical.PropTimezoneName, name)
	}
	if rule != "" {
		set(ical.PropRecurrenceRule, rule)
	}
	return o
}

// dayRule is a yearly transition day: the n-th weekday of a month (n = -1
// for the last), or the first weekday on or after a day of the month.
type dayRule struct {
	month   time.Month
	weekday time.Weekday
	nth     int // 1..4, -1 for the last; 0 for onOrAfter
	after   int
}

var icalWeekdays = [...]string{"SU", "MO", "TU", "WE", "TH", "FR", "SA"}

func (r dayRule) String() string {
	s := fmt.Sprintf("FREQ=YEARLY;BYMONTH=%d;", r.month)
	if r.nth != 0 {
		return s + fmt.Sprintf("BYDAY=%d%s", r.nth, icalWeekdays[r.weekday])
	}
	days := make([]string, 7)
	for i := range days {
		days[i] = fmt.Sprint(r.after + i)
	}
	return s + "BYMONTHDAY=" + strings.Join(days, ",") + ";BYDAY=" + icalWeekdays[r.weekday]
}

// dayIn returns the day of the month r falls on in year.
func (r dayRule) dayIn(year int) int {
	first := r.after
	if r.nth > 0 {
		first = 1 + 7*(r.nth-1)
	}
	if r.nth < 0 {
		first = daysIn(year, r.month) - 6
	}
	wd := time.Date(year, r.month, first, 0, 0, 0, 0, time.UTC).Weekday()
	return first + (int(r.weekday)-int(wd)+7)%7
}

func daysIn(year int, m time.Month) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// yearlyRule finds the dayRule of the i-th transition of year: among the
// rules that give its day (the last weekday of the month, the n-th, the
// first on or after a day), the one that also gives the days of the
// matching transitions of the next years. When none does (Morocco's
// transitions follow Ramadan, Egypt's end of DST sometimes falls in
// November), it is the first one, which holds for year at least.
func yearlyRule(loc *time.Location, year, i int, tr transition) dayRule {
	w := tr.wall
	d := w.Day()
	var later []transition
	for y := year + 1; y <= year+6; y++ {
		tt := transitionsIn(loc, y)
		if len(tt) <= i || tt[i].to != tr.to || tt[i].wall.Month() != w.Month() {
			break
		}
		later = append(later, tt[i])
	}
	minDay := d
	for _, t := range later {
		minDay = min(minDay, t.wall.Day())
	}
	var cands []dayRule
	if d+7 > daysIn(year, w.Month()) {
		cands = append(cands, dayRule{month: w.Month(), weekday: w.Weekday(), nth: -1})
	}
	if n := (d-1)/7 + 1; n <= 4 {
		cands = append(cands, dayRule{month: w.Month(), weekday: w.Weekday(), nth: n})
	}
	if minDay+6 <= 28 {
		cands = append(cands, dayRule{month: w.Month(), weekday: w.Weekday(), after: minDay})
	}
	best, bestYears := cands[0], -1
	for _, r := range cands {
		years := 0
		for _, t := range later {
			if r.dayIn(t.wall.Year()) != t.wall.Day() {
				break
			}
			years++
		}
		if r.dayIn(year) == d && years > bestYears {
			best, bestYears = r, years
		}
	}
	return best
}
