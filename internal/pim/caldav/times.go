package caldav

import (
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/emersion/go-ical"
)

// form is one of the four ways a crm.When writes a time, which are the
// four ways iCalendar does: a DATE, a UTC DATE-TIME ("…Z"), a DATE-TIME
// with a TZID, and a floating DATE-TIME.
type form uint8

const (
	formDate form = iota + 1
	formUTC
	formZoned
	formFloating
)

const (
	icalDate  = "20060102"
	icalLocal = "20060102T150405"
	whenDate  = "2006-01-02"
	whenLocal = "2006-01-02T15:04:05"
)

// when is a crm.When taken apart: its form, its wall clock (a time.Time
// in UTC whose fields are the local date and time, so that a wall clock in
// a daylight-saving gap is kept as written) and, for a zoned time, its zone.
type when struct {
	form form
	wall time.Time
	zone string
}

// splitWhen checks w and takes it apart. It is stricter than
// crm.ParseWhen: years are four digits, without sign or fraction.
func splitWhen(w crm.When) (when, bool) {
	s := string(w)
	if w.IsDate() {
		if !layoutDigits(s, whenDate) {
			return when{}, false
		}
		t, err := time.Parse(whenDate, s)
		return when{form: formDate, wall: t}, err == nil && crm.InYearRange(t)
	}
	local := w.Local()
	if !layoutDigits(local, whenLocal) {
		return when{}, false
	}
	t, err := time.Parse(whenLocal, local)
	if err != nil || !crm.InYearRange(t) {
		return when{}, false
	}
	switch rest := s[len(local):]; {
	case rest == "":
		return when{form: formFloating, wall: t}, true
	case rest == "Z":
		return when{form: formUTC, wall: t}, true
	case len(rest) > 2 && rest[0] == '[' && rest[len(rest)-1] == ']':
		zone := rest[1 : len(rest)-1]
		if _, ok := loadZone(zone); !ok || zone == "UTC" {
			return when{}, false
		}
		return when{form: formZoned, wall: t, zone: zone}, true
	}
	return when{}, false
}

// layoutDigits reports whether s has layout's shape, digits where layout
// has them.
func layoutDigits(s, layout string) bool {
	if len(s) != len(layout) {
		return false
	}
	for i := 0; i < len(s); i++ {
		l, c := layout[i], s[i]
		if l >= '0' && l <= '9' {
			if c < '0' || c > '9' {
				return false
			}
		} else if c != l {
			return false
		}
	}
	return true
}

// String writes x back as a crm.When; ok is false when its year is not
// one of the four-digit years iCalendar can write.
func (x when) String() (crm.When, bool) {
	if y := x.wall.Year(); y < 0 || y > 9999 {
		return "", false
	}
	switch x.form {
	case formDate:
		return crm.When(x.wall.Format(whenDate)), true
	case formUTC:
		return crm.When(x.wall.Format(whenLocal) + "Z"), true
	case formZoned:
		return crm.When(x.wall.Format(whenLocal) + "[" + x.zone + "]"), true
	case formFloating:
		return crm.When(x.wall.Format(whenLocal)), true
	}
	return "", false
}

// instant returns the instant x stands for; dates and floating times are
// read in floating.
func (x when) instant(floating *time.Location) time.Time {
	loc := floating
	switch x.form {
	case formUTC:
		return x.wall
	case formZoned:
		loc, _ = loadZone(x.zone)
	}
	if loc == nil {
		loc = time.UTC
	}
	w := x.wall
	return time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, loc)
}

// at returns t (an instant) in x's form: in x's zone, in UTC, or as the
// wall clock of t in floating for dates and floating times.
func (x when) at(t time.Time, floating *time.Location) when {
	switch x.form {
	case formUTC:
		t = t.UTC()
	case formZoned:
		if loc, ok := loadZone(x.zone); ok {
			t = t.In(loc)
		}
	default:
		if floating != nil {
			t = t.In(floating)
		}
	}
	x.wall = wallOf(t)
	if x.form == formDate {
		x.wall = time.Date(x.wall.Year(), x.wall.Month(), x.wall.Day(), 0, 0, 0, 0, time.UTC)
	}
	return x
}

// wallOf returns t's wall clock as a time in UTC.
func wallOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
}

// instantOf returns the instant of w (dates and floating times in UTC).
func instantOf(w crm.When) (time.Time, bool) {
	x, ok := splitWhen(w)
	if !ok {
		return time.Time{}, false
	}
	return x.instant(time.UTC), true
}

// sameInstant reports whether a and b are the same time; two values that
// are not times are the same when they are the same string.
func sameInstant(a, b crm.When) bool {
	ta, oka := instantOf(a)
	tb, okb := instantOf(b)
	if !oka || !okb {
		return a == b
	}
	return ta.Equal(tb)
}

// zones reads the times of one calendar: TZIDs are mapped to IANA zones,
// and unknown ones read with the calendar's VTIMEZONE of that TZID.
type zones struct {
	vtz map[string]*ical.Component // VTIMEZONE by TZID, the first one wins
}

func newZones(cal *ical.Component) *zones {
	z := &zones{vtz: make(map[string]*ical.Component)}
	for _, c := range cal.Children {
		if c.Name != ical.CompTimezone {
			continue
		}
		if p := c.Props.Get(ical.PropTimezoneID); p != nil {
			if _, dup := z.vtz[p.Value]; !dup {
				z.vtz[p.Value] = c
			}
		}
	}
	return z
}

// when reads a DATE or DATE-TIME property; ok is false when p is nil or
// its value is not a time.
func (z *zones) when(p *ical.Prop) (crm.When, bool) {
	if p == nil {
		return "", false
	}
	return z.value(p.Value, p.Params.Get(ical.ParamValue), p.Params.Get(ical.ParamTimezoneID))
}

// whens reads every value of a list property (EXDATE, RDATE), skipping
// those that are not times. A PERIOD (RDATE;VALUE=PERIOD) stands for its
// start.
func (z *zones) whens(p *ical.Prop) []crm.When {
	vt := strings.ToUpper(p.Params.Get(ical.ParamValue))
	period := vt == string(ical.ValuePeriod)
	if period {
		vt = string(ical.ValueDateTime)
	}
	var out []crm.When
	for _, v := range strings.Split(p.Value, ",") {
		if period {
			v, _, _ = strings.Cut(v, "/")
		}
		if w, ok := z.value(v, vt, p.Params.Get(ical.ParamTimezoneID)); ok {
			out = append(out, w)
		}
	}
	return out
}

// value reads one DATE or DATE-TIME value:
//
//   - a DATE is a date;
//   - a DATE-TIME ending in "Z" is a UTC time, whatever its TZID;
//   - with a TZID IANAZone knows, a zoned time (in UTC when the zone is "UTC");
//   - with a TZID it does not know, the UTC instant that the wall clock is
//     under the offset of the calendar's VTIMEZONE for that TZID (its
//     STANDARD observance: an unknown zone's daylight-saving rules are not
//     applied), or a floating time when the calendar has no such VTIMEZONE;
//   - without a TZID, a floating time.
func (z *zones) value(v, valueType, tzid string) (crm.When, bool) {
	v = strings.ToUpper(strings.TrimSpace(v))
	vt := strings.ToUpper(valueType)
	var x when
	switch {
	case vt == string(ical.ValueDate) || (vt == "" && len(v) == len(icalDate)):
		if !layoutDigits(v, "00000000") {
			return "", false
		}
		t, err := time.Parse(icalDate, v)
		if err != nil || !crm.InYearRange(t) {
			return "", false
		}
		x = when{form: formDate, wall: t}
	case vt == "" || vt == string(ical.ValueDateTime):
		utc := strings.HasSuffix(v, "Z")
		v = strings.TrimSuffix(v, "Z")
		if !layoutDigits(v, "00000000T000000") {
			return "", false
		}
		t, err := time.Parse(icalLocal, v)
		if err != nil || !crm.InYearRange(t) {
			return "", false
		}
		x = when{form: formFloating, wall: t}
		switch zone, known := IANAZone(tzid); {
		case utc || (known && zone == "UTC"):
			x.form = formUTC
		case known:
			x.form, x.zone = formZoned, zone
		case tzid != "":
			if off, ok := z.standardOffset(tzid, t); ok {
				x.form, x.wall = formUTC, t.Add(-off)
			}
		}
	default:
		return "", false
	}
	return x.String()
}

// writeTime sets p's value (and its VALUE and TZID parameters) to w,
// which must be valid. It returns the zone of a zoned time, "" otherwise.
func writeTime(p *ical.Prop, w crm.When) string {
	x, _ := splitWhen(w)
	p.Params.Del(ical.ParamValue)
	p.Params.Del(ical.ParamTimezoneID)
	switch x.form {
	case formDate:
		p.Params.Set(ical.ParamValue, string(ical.ValueDate))
		p.Value = x.wall.Format(icalDate)
	case formUTC:
		p.Value = x.wall.Format(icalLocal) + "Z"
	case formZoned:
		p.Params.Set(ical.ParamTimezoneID, x.zone)
		p.Value = x.wall.Format(icalLocal)
	default:
		p.Value = x.wall.Format(icalLocal)
	}
	return x.zone
}

// duration is an RFC 5545 duration: nominal days (a day is a calendar day,
// 23 or 25 hours across a daylight-saving change) and exact seconds.
type duration struct {
	days int
	secs int64
}

const (
	maxDurationDays = 4_000_000     // beyond any four-digit year
	maxDurationSecs = 9_000_000_000 // fits a time.Duration
)

// parseDuration reads "P1W", "P1DT2H30M", "-PT15M"…
func parseDuration(s string) (duration, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimLeft(s, "+-")
	if !strings.HasPrefix(s, "P") || len(s) < 3 {
		return duration{}, false
	}
	s = s[1:]
	var d duration
	inTime := false
	for s != "" {
		if s[0] == 'T' {
			if inTime {
				return duration{}, false
			}
			inTime = true
			s = s[1:]
			continue
		}
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		if i == 0 || i > 10 || i == len(s) {
			return duration{}, false
		}
		var n int64
		for _, c := range s[:i] {
			n = n*10 + int64(c-'0')
		}
		unit := s[i]
		s = s[i+1:]
		switch {
		case !inTime && unit == 'W':
			d.days += int(min(n, maxDurationDays) * 7)
		case !inTime && unit == 'D':
			d.days += int(min(n, maxDurationDays))
		case inTime && unit == 'H':
			d.secs += min(n, maxDurationSecs) * 3600
		case inTime && unit == 'M':
			d.secs += min(n, maxDurationSecs) * 60
		case inTime && unit == 'S':
			d.secs += min(n, maxDurationSecs)
		default:
			return duration{}, false
		}
		if d.days > maxDurationDays || d.secs > maxDurationSecs {
			return duration{}, false
		}
	}
	if neg {
		d.days, d.secs = -d.days, -d.secs
	}
	return d, true
}

// addDuration returns w + d in w's form: days are added to the wall clock
// (in w's zone), seconds to the instant. On a date, seconds count as whole
// days, rounded down.
func addDuration(w crm.When, d duration) (crm.When, bool) {
	x, ok := splitWhen(w)
	if !ok {
		return "", false
	}
	switch x.form {
	case formDate:
		days := int64(d.days) + floorDiv(d.secs, 86400)
		x.wall = x.wall.AddDate(0, 0, int(days))
	case formZoned:
		loc, _ := loadZone(x.zone)
		t := x.instant(loc).AddDate(0, 0, d.days).Add(time.Duration(d.secs) * time.Second)
		x.wall = wallOf(t.In(loc))
	default:
		x.wall = x.wall.AddDate(0, 0, d.days).Add(time.Duration(d.secs) * time.Second)
	}
	return x.String()
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// defaultEnd is the end of an event that has neither DTEND nor DURATION
// (RFC 5545 §3.6.1): the next day for an all-day event, its start for a
// timed one.
func defaultEnd(start crm.When) (crm.When, bool) {
	if start.IsDate() {
		return addDuration(start, duration{days: 1})
	}
	return start, start != ""
}

// utcWhen returns w as a UTC time: a zoned time converted, a floating time
// or a date read in UTC. COMPLETED is always in UTC (RFC 5545 §3.8.2.1).
func utcWhen(w crm.When) (crm.When, bool) {
	x, ok := splitWhen(w)
	if !ok {
		return "", false
	}
	return when{form: formUTC, wall: x.instant(time.UTC).UTC()}.String()
}
