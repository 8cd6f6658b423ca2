package caldav

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/emersion/go-ical"
)

// Encode writes f as a calendar object resource of type typ.
//
// With prev, the remote's current body, it patches prev rather than
// rewriting it, because the remote holds far more than Fields do and other
// clients rely on it: only the properties of mapped fields whose value
// changed are rewritten (a field is compared as Decode reads it, so an
// unchanged value keeps prev's exact property, parameters and spelling
// included — a Windows TZID, a DURATION, an EXDATE list); overridden
// occurrences (RECURRENCE-ID components) are patched the same way, added
// or removed per f's overrides; and everything else is kept: VALARMs,
// VTIMEZONEs, X- properties, ORGANIZER, the parameters of the attendees
// still invited (PARTSTAT, CN), SEQUENCE, CLASS, TRANSP, unknown
// properties. prev's UID is kept (uid is then unused); a component that
// changed gets DTSTAMP (and LAST-MODIFIED, when it has one) set to now.
// A changed description drops X-ALT-DESC and ALTREP, Outlook's HTML copy
// of the old one, which it would show instead.
//
// Without prev (nil or empty), it writes a new VCALENDAR (VERSION:2.0,
// PRODID:-//crmsync//crmsync//EN) holding one VEVENT or VTODO with UID
// uid and DTSTAMP now.
//
// Times are written in their crm.When form: a date as VALUE=DATE, a UTC
// time with "Z", a zoned time with TZID set to its IANA name — with a
// VTIMEZONE generated from Go's zone data when the calendar has none for
// it — and a floating time without TZID. An event's end is written as
// DTEND, unless prev used DURATION and start + DURATION is still the end.
// EXDATEs and RDATEs are added one property per value. Fields that do not
// belong to typ are ignored; values that are not valid (a time that is not
// a crm.When, an unknown task status, overrides that are not JSON) are an
// error. Encode does not panic.
func Encode(prev []byte, uid string, typ Type, f pim.Fields) (out []byte, err error) {
	defer func() {
		// A bug here must fail one item's sync, not the server.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("caldav: encoding %s %q: internal error: %v", typ, uid, r)
		}
	}()
	if typ != TypeEvent && typ != TypeTask {
		return nil, fmt.Errorf("caldav: unknown item type %q", typ)
	}
	want, ovs, err := canonicalFields(typ, f)
	if err != nil {
		return nil, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	var o *object
	if len(prev) > 0 {
		if o, err = parseObject(prev); err != nil {
			return nil, err
		}
		if o.typ != typ {
			return nil, fmt.Errorf("caldav: the object is a %s, not a %s", o.typ, typ)
		}
	} else {
		o = newObject(uid, typ, now)
	}
	e := &encoder{o: o, want: want, now: now, zones: make(map[string]bool), touched: make(map[*ical.Component]bool)}
	if typ == TypeEvent {
		e.event(ovs)
	} else {
		e.task()
	}
	e.stamp()
	e.addTimezones()
	fillRequired(o.cal.Component, o.uid, now)
	return marshal(o.cal)
}

// canonicalFields checks f's values for typ and returns them normalized,
// in the forms Decode returns (a canonical RRULE, COMPLETED in UTC, a
// PRIORITY without leading zeros, overrides sorted), with the overrides
// parsed.
func canonicalFields(typ Type, f pim.Fields) (pim.Fields, []crm.EventOverride, error) {
	g := f.Normalize()
	checkWhen := func(field, w string) error {
		if _, ok := splitWhen(crm.When(w)); !ok {
			return fmt.Errorf("caldav: %s: %q: %w", field, w, crm.ErrBadWhen)
		}
		return nil
	}
	var times []string
	var ovs []crm.EventOverride
	if typ == TypeTask {
		times = []string{pim.FieldDue, pim.FieldCompleted}
		if s := crm.TaskStatus(g[pim.FieldStatus].Str); s != "" && !s.Valid() {
			return nil, nil, fmt.Errorf("caldav: status: unknown task status %q", s)
		}
		if p := g[pim.FieldPriority].Str; p != "" {
			n, err := strconv.Atoi(p)
			if err != nil || n < 0 || n > 9 {
				return nil, nil, fmt.Errorf("caldav: priority: %q is not 0 to 9", p)
			}
			g[pim.FieldPriority] = pim.Str(priority(p))
		}
	} else {
		times = []string{pim.FieldStart, pim.FieldEnd}
		for _, field := range []string{pim.FieldExDates, pim.FieldRDates} {
			for _, w := range g[field].List {
				if err := checkWhen(field, w); err != nil {
					return nil, nil, err
				}
			}
		}
		g[pim.FieldRRule] = pim.Str(canonicalRRule(g[pim.FieldRRule].Str))
		var err error
		if ovs, err = canonicalOverrides(g[pim.FieldOverrides].Str); err != nil {
			return nil, nil, err
		}
		if len(ovs) > 0 {
			g[pim.FieldOverrides] = pim.Str(overridesJSON(ovs))
		} else {
			delete(g, pim.FieldOverrides) // "[]", "null"
		}
	}
	for _, field := range times {
		if w := g[field].Str; w != "" {
			if err := checkWhen(field, w); err != nil {
				return nil, nil, err
			}
		}
	}
	if w := g[pim.FieldCompleted].Str; typ == TypeTask && w != "" {
		u, _ := utcWhen(crm.When(w))
		g[pim.FieldCompleted] = pim.Str(string(u))
	}
	return g.Normalize(), ovs, nil
}

// canonicalOverrides parses and checks the overrides field, normalizes its
// texts, and sorts it; of two overrides of one occurrence the first wins.
func canonicalOverrides(s string) ([]crm.EventOverride, error) {
	in, err := parseOverrides(s)
	if err != nil {
		return nil, fmt.Errorf("caldav: overrides: %w", err)
	}
	var out []crm.EventOverride
	seen := make(map[crm.When]bool)
	for _, ov := range in {
		for i, w := range []crm.When{ov.RecurrenceID, ov.Start, ov.End} {
			if _, ok := splitWhen(w); !ok && (i == 0 || w != "") { // Start and End may be empty
				return nil, fmt.Errorf("caldav: overrides: %q: %w", w, crm.ErrBadWhen)
			}
		}
		if seen[ov.RecurrenceID] {
			continue
		}
		seen[ov.RecurrenceID] = true
		ov.Summary = strings.ToValidUTF8(norm(pim.FieldSummary, ov.Summary), "\uFFFD")
		ov.Description = strings.ToValidUTF8(norm(pim.FieldDescription, ov.Description), "\uFFFD")
		ov.Location = strings.ToValidUTF8(norm(pim.FieldLocation, ov.Location), "\uFFFD")
		out = append(out, ov)
	}
	sortOverrides(out)
	return out, nil
}

func newObject(uid string, typ Type, now time.Time) *object {
	cal := ical.NewCalendar()
	cal.Props.SetText(ical.PropVersion, "2.0")
	cal.Props.SetText(ical.PropProductID, prodID)
	name := ical.CompEvent
	if typ == TypeTask {
		name = ical.CompToDo
	}
	uid = stripCRLF(uid)
	c := ical.NewComponent(name)
	p := ical.NewProp(ical.PropUID)
	p.Value = uid
	c.Props.Set(p)
	cal.Children = append(cal.Children, c)
	return &object{cal: cal, typ: typ, uid: uid, master: c, zones: newZones(cal.Component)}
}

// encoder patches one object towards want.
type encoder struct {
	o       *object
	want    pim.Fields
	now     time.Time
	zones   map[string]bool // IANA zones written as TZID
	touched map[*ical.Component]bool
}

func (e *encoder) event(ovs []crm.EventOverride) {
	m, cur, want := e.o.master, e.o.fields(), e.want
	e.texts(m, cur, pim.FieldSummary, pim.FieldDescription, pim.FieldLocation)
	if !cur[pim.FieldStart].Equal(want[pim.FieldStart]) {
		e.setTime(m, ical.PropDateTimeStart, crm.When(want[pim.FieldStart].Str))
	}
	// The end is compared once the start is written: a DURATION, or no
	// DTEND at all, may still give the wanted end from the new start.
	if _, end := e.o.span(m, ""); string(end) != want[pim.FieldEnd].Str {
		m.Props.Del(ical.PropDuration)
		e.setTime(m, ical.PropDateTimeEnd, crm.When(want[pim.FieldEnd].Str))
	}
	if !cur[pim.FieldRRule].Equal(want[pim.FieldRRule]) {
		e.setRaw(m, ical.PropRecurrenceRule, want[pim.FieldRRule].Str)
	}
	e.dates(m, ical.PropExceptionDates, want[pim.FieldExDates].List)
	e.dates(m, ical.PropRecurrenceDates, want[pim.FieldRDates].List)
	e.attendees(m, want[pim.FieldAttendees].List)
	e.categories(m, want[pim.FieldCategories].List)
	e.patchOverrides(ovs)
}

func (e *encoder) task() {
	m, cur, want := e.o.master, e.o.fields(), e.want
	e.texts(m, cur, pim.FieldSummary, pim.FieldDescription)
	if !cur[pim.FieldDue].Equal(want[pim.FieldDue]) {
		m.Props.Del(ical.PropDuration)
		e.setTime(m, ical.PropDue, crm.When(want[pim.FieldDue].Str))
	}
	if !cur[pim.FieldStatus].Equal(want[pim.FieldStatus]) {
		e.setStatus(m, crm.TaskStatus(want[pim.FieldStatus].Str))
	}
	if !cur[pim.FieldPriority].Equal(want[pim.FieldPriority]) {
		e.setRaw(m, ical.PropPriority, want[pim.FieldPriority].Str)
	}
	if !cur[pim.FieldCompleted].Equal(want[pim.FieldCompleted]) {
		e.setTime(m, ical.PropCompleted, crm.When(want[pim.FieldCompleted].Str))
	}
	e.categories(m, want[pim.FieldCategories].List)
}

// setStatus writes a task's STATUS, and keeps PERCENT-COMPLETE (which
// Nextcloud Tasks and Thunderbird show as progress) in line when it is
// there: 100 once completed, gone when reopened from 100.
func (e *encoder) setStatus(c *ical.Component, s crm.TaskStatus) {
	v := ""
	for k, ts := range taskStatuses {
		if ts == s {
			v = k
		}
	}
	e.setRaw(c, ical.PropStatus, v)
	if p := c.Props.Get(ical.PropPercentComplete); p != nil {
		switch {
		case s == crm.TaskCompleted:
			e.setRaw(c, ical.PropPercentComplete, "100")
		case p.Value == "100":
			e.setRaw(c, ical.PropPercentComplete, "")
		}
	}
}

// touch records that c changed: stamp gives it a new DTSTAMP.
func (e *encoder) touch(c *ical.Component) { e.touched[c] = true }

// stamp sets DTSTAMP, and LAST-MODIFIED where there is one, of every
// component that changed to now.
func (e *encoder) stamp() {
	v := e.now.Format(icalLocal) + "Z"
	for c := range e.touched {
		for _, name := range []string{ical.PropDateTimeStamp, ical.PropLastModified} {
			if name == ical.PropDateTimeStamp || c.Props.Get(name) != nil {
				p := baseProp(c, name)
				p.Params.Del(ical.ParamTimezoneID)
				p.Params.Del(ical.ParamValue)
				p.Value = v
				c.Props.Set(p)
			}
		}
	}
}

// addTimezones adds a VTIMEZONE, generated from Go's zone data, for every
// zone written as TZID that the calendar has none for, after its other
// VTIMEZONEs.
func (e *encoder) addTimezones() {
	cal := e.o.cal
	have := make(map[string]bool)
	at := 0
	for i, c := range cal.Children {
		if c.Name == ical.CompTimezone {
			have[propValue(c, ical.PropTimezoneID)] = true
			at = i + 1
		}
	}
	var add []*ical.Component
	for _, zone := range slices.Sorted(maps.Keys(e.zones)) {
		if have[zone] {
			continue
		}
		if tz, ok := newVTimezone(zone, e.now.Year()); ok {
			add = append(add, tz)
		}
	}
	cal.Children = slices.Insert(cal.Children, at, add...)
}
