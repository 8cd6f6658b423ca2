package caldav

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/emersion/go-ical"
)

// Type is what a calendar object resource holds.
type Type string

const (
	// TypeEvent is a VEVENT: a single event, or a recurring one with its
	// overridden occurrences (VEVENTs of the same UID with a RECURRENCE-ID).
	TypeEvent Type = "event"
	// TypeTask is a VTODO.
	TypeTask Type = "task"
)

// Item is a decoded calendar object.
type Item struct {
	// UID is the master component's UID, as written (CalDAV servers key
	// objects by it, so it is not unescaped or trimmed).
	UID  string
	Type Type
	// Fields are the synchronised values, normalized (pim.Fields.Normalize).
	Fields pim.Fields
	// Modified is the master's LAST-MODIFIED, else its DTSTAMP, zero if it
	// has neither: the remote side's time for pim.Merge's NewestWins.
	Modified time.Time
}

// Decode parses one calendar object resource: a VCALENDAR holding one VTODO,
// or one VEVENT and the overridden occurrences of that event (RFC 4791
// §4.1: one UID per resource). It fails on what is not iCalendar, on a
// calendar without VEVENT or VTODO, on components of several UIDs, and on
// a VEVENT and a VTODO mixed. Values it cannot read (a DTSTART that is not
// a time, a PRIORITY of 12) are left out of Fields rather than failing the
// object, and Encode leaves them as they are.
//
// The master is the component without RECURRENCE-ID. An object that only
// has overridden occurrences (an invitation to some occurrences of a series,
// RFC 6638) is read as its first one, a single event.
func Decode(data []byte) (Item, error) {
	o, err := parseObject(data)
	if err != nil {
		return Item{}, err
	}
	return Item{UID: o.uid, Type: o.typ, Fields: o.fields(), Modified: o.modified()}, nil
}

// object is a parsed calendar object resource.
type object struct {
	cal       *ical.Calendar
	typ       Type
	uid       string
	master    *ical.Component
	overrides []*ical.Component // other VEVENTs with a RECURRENCE-ID, in order
	zones     *zones
}

func parseObject(data []byte) (*object, error) {
	cal, err := parseCalendar(data)
	if err != nil {
		return nil, err
	}
	var comps []*ical.Component
	for _, c := range cal.Children {
		if c.Name == ical.CompEvent || c.Name == ical.CompToDo {
			comps = append(comps, c)
		}
	}
	if len(comps) == 0 {
		return nil, errors.New("caldav: no VEVENT or VTODO in the object")
	}
	o := &object{cal: cal, uid: propValue(comps[0], ical.PropUID), zones: newZones(cal.Component)}
	for _, c := range comps[1:] {
		if c.Name != comps[0].Name {
			return nil, errors.New("caldav: a VEVENT and a VTODO in one object")
		}
		if u := propValue(c, ical.PropUID); u != o.uid {
			return nil, fmt.Errorf("caldav: several UIDs in one object (%q, %q)", o.uid, u)
		}
	}
	o.typ = TypeTask
	if comps[0].Name == ical.CompEvent {
		o.typ = TypeEvent
	}
	for _, c := range comps {
		if c.Props.Get(ical.PropRecurrenceID) == nil {
			o.master = c
			break
		}
	}
	if o.master == nil {
		o.master = comps[0]
	}
	if o.typ == TypeEvent {
		for _, c := range comps {
			if c != o.master && c.Props.Get(ical.PropRecurrenceID) != nil {
				o.overrides = append(o.overrides, c)
			}
		}
	}
	return o, nil
}

// fields reads the master (and, for an event, its overrides) as Fields.
func (o *object) fields() pim.Fields {
	m := o.master
	f := pim.Fields{
		pim.FieldSummary:     pim.Str(textProp(m, ical.PropSummary)),
		pim.FieldDescription: pim.Str(textProp(m, ical.PropDescription)),
		pim.FieldCategories:  pim.SetOf(categories(m)...),
	}
	if o.typ == TypeTask {
		due, _ := o.zones.when(m.Props.Get(ical.PropDue))
		completed, _ := o.zones.when(m.Props.Get(ical.PropCompleted))
		if completed != "" {
			completed, _ = utcWhen(completed)
		}
		f[pim.FieldDue] = pim.Str(string(due))
		f[pim.FieldStatus] = pim.Str(string(taskStatus(propValue(m, ical.PropStatus))))
		f[pim.FieldPriority] = pim.Str(priority(propValue(m, ical.PropPriority)))
		f[pim.FieldCompleted] = pim.Str(string(completed))
		return f.Normalize()
	}
	start, end := o.span(m, "")
	f[pim.FieldLocation] = pim.Str(textProp(m, ical.PropLocation))
	f[pim.FieldStart] = pim.Str(string(start))
	f[pim.FieldEnd] = pim.Str(string(end))
	if p := m.Props.Get(ical.PropRecurrenceRule); p != nil {
		f[pim.FieldRRule] = pim.Str(canonicalRRule(p.Value))
	}
	f[pim.FieldExDates] = pim.SetOf(o.dates(m, ical.PropExceptionDates)...)
	f[pim.FieldRDates] = pim.SetOf(o.dates(m, ical.PropRecurrenceDates)...)
	f[pim.FieldAttendees] = pim.SetOf(attendees(m)...)
	f = f.Normalize()
	if ovs := o.overrideList(seriesOf(f)); len(ovs) > 0 {
		f[pim.FieldOverrides] = pim.Str(overridesJSON(ovs))
	}
	return f.Normalize()
}

// modified returns the master's LAST-MODIFIED, else its DTSTAMP.
func (o *object) modified() time.Time {
	for _, name := range []string{ical.PropLastModified, ical.PropDateTimeStamp} {
		if w, ok := o.zones.when(o.master.Props.Get(name)); ok {
			t, _ := instantOf(w)
			return t
		}
	}
	return time.Time{}
}

// span returns the start and end of an event component: DTSTART (else
// fallback), and DTEND, else DTSTART + DURATION, else the default end
// (RFC 5545 §3.6.1: the next day for an all-day event, the start for a
// timed one). An end that cannot be computed is "".
func (o *object) span(c *ical.Component, fallback crm.When) (start, end crm.When) {
	start, ok := o.zones.when(c.Props.Get(ical.PropDateTimeStart))
	if !ok {
		start = fallback
	}
	if e, ok := o.zones.when(c.Props.Get(ical.PropDateTimeEnd)); ok {
		return start, e
	}
	if start == "" {
		return "", ""
	}
	if p := c.Props.Get(ical.PropDuration); p != nil {
		if d, ok := parseDuration(p.Value); ok {
			if e, ok := addDuration(start, d); ok {
				return start, e
			}
		}
	}
	end, _ = defaultEnd(start)
	return start, end
}

// dates returns every value of every name property (EXDATE, RDATE).
func (o *object) dates(c *ical.Component, name string) []string {
	var out []string
	for i := range c.Props[name] {
		for _, w := range o.zones.whens(&c.Props[name][i]) {
			out = append(out, string(w))
		}
	}
	return out
}

// attendees returns the addresses of the ATTENDEEs that are mailto: URIs;
// others (urn:uuid:, tel:) are not addresses the CRM can hold.
func attendees(c *ical.Component) []string {
	var out []string
	for _, p := range c.Props[ical.PropAttendee] {
		if a, ok := attendeeAddr(p.Value); ok {
			out = append(out, a)
		}
	}
	return out
}

func attendeeAddr(v string) (string, bool) {
	v = strings.TrimSpace(v)
	if len(v) < 7 || !strings.EqualFold(v[:7], "mailto:") {
		return "", false
	}
	a := pim.NormalizeEmail(v)
	return a, a != ""
}

// categories returns the elements of every CATEGORIES property.
func categories(c *ical.Component) []string {
	var out []string
	for _, p := range c.Props[ical.PropCategories] {
		out = append(out, textValues(p.Value)...)
	}
	return out
}

var taskStatuses = map[string]crm.TaskStatus{
	"NEEDS-ACTION": crm.TaskNeedsAction,
	"IN-PROCESS":   crm.TaskInProcess,
	"COMPLETED":    crm.TaskCompleted,
	"CANCELLED":    crm.TaskCancelled,
}

// taskStatus maps a VTODO STATUS; an absent or unknown one is "".
func taskStatus(v string) crm.TaskStatus {
	return taskStatuses[strings.ToUpper(strings.TrimSpace(v))]
}

// priority maps PRIORITY to "1".."9"; 0 (undefined), absent or invalid is "".
func priority(v string) string {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 || n > 9 {
		return ""
	}
	return strconv.Itoa(n)
}
