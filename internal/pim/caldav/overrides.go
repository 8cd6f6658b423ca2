package caldav

import (
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/emersion/go-ical"
)

// series is what an override is read against: the master's values, as
// Fields hold them. An override's text fields are set only where they
// differ from the series', and its times only where they differ from the
// occurrence's natural ones, so that a series renamed in the CRM renames
// the occurrences that had its name, and an unchanged occurrence of an
// iCalendar override (clients copy every property) holds nothing.
type series struct {
	summary, description, location string
	start, end                     crm.When
}

func seriesOf(f pim.Fields) series {
	return series{
		summary:     f[pim.FieldSummary].Str,
		description: f[pim.FieldDescription].Str,
		location:    f[pim.FieldLocation].Str,
		start:       crm.When(f[pim.FieldStart].Str),
		end:         crm.When(f[pim.FieldEnd].Str),
	}
}

// norm normalizes one scalar as the field's value.
func norm(field, s string) string { return pim.Normalize(field, pim.Str(s)).Str }

// own returns an override's value of a text field when it differs from
// the series' one, "" otherwise. Bytes that are not UTF-8 are made U+FFFD
// first, as encoding/json would in the overrides field: the value is then
// the same string once written and read back.
func own(field, v, master string) string {
	v = strings.ToValidUTF8(norm(field, v), "\uFFFD")
	if v == strings.ToValidUTF8(master, "\uFFFD") {
		return ""
	}
	return v
}

// override reads one overriding component against s; ok is false when its
// RECURRENCE-ID is not a time.
func (o *object) override(c *ical.Component, s series) (crm.EventOverride, bool) {
	rid, ok := o.zones.when(c.Props.Get(ical.PropRecurrenceID))
	if !ok {
		return crm.EventOverride{}, false
	}
	ov := crm.EventOverride{
		RecurrenceID: rid,
		Cancelled:    strings.EqualFold(strings.TrimSpace(propValue(c, ical.PropStatus)), "CANCELLED"),
		Summary:      own(pim.FieldSummary, textProp(c, ical.PropSummary), s.summary),
		Description:  own(pim.FieldDescription, textProp(c, ical.PropDescription), s.description),
		Location:     own(pim.FieldLocation, textProp(c, ical.PropLocation), s.location),
	}
	start, end := o.span(c, rid)
	if !sameInstant(start, rid) {
		ov.Start = start
	}
	if end != "" && !sameInstant(end, naturalEnd(rid, s)) {
		ov.End = end
	}
	return ov, true
}

// overrideList reads every override against s, sorted by RecurrenceID; of
// two for the same occurrence, the first one in the object is taken.
func (o *object) overrideList(s series) []crm.EventOverride {
	var out []crm.EventOverride
	seen := make(map[crm.When]bool)
	for _, c := range o.overrides {
		if ov, ok := o.override(c, s); ok && !seen[ov.RecurrenceID] {
			seen[ov.RecurrenceID] = true
			out = append(out, ov)
		}
	}
	sortOverrides(out)
	return out
}

func sortOverrides(ovs []crm.EventOverride) {
	slices.SortStableFunc(ovs, func(a, b crm.EventOverride) int {
		return strings.Compare(string(a.RecurrenceID), string(b.RecurrenceID))
	})
}

// overridesJSON writes the overrides field: encoding/json on the struct,
// whose field order and omitempty make one spelling per value.
func overridesJSON(ovs []crm.EventOverride) string {
	b, err := json.Marshal(ovs)
	if err != nil {
		return "" // cannot happen: strings and a bool
	}
	return string(b)
}

// naturalEnd is the end an occurrence starting at rid has when it is not
// overridden: rid plus the series' duration, or the default end when the
// series has no start and end.
func naturalEnd(rid crm.When, s series) crm.When {
	ts, ok1 := instantOf(s.start)
	te, ok2 := instantOf(s.end)
	if ok1 && ok2 {
		if e, ok := shift(rid, te.Sub(ts)); ok {
			return e
		}
	}
	e, _ := defaultEnd(rid)
	return e
}

// shift returns w moved by the exact duration d, in w's form; a date moved
// by a duration that is not whole days becomes a UTC time.
func shift(w crm.When, d time.Duration) (crm.When, bool) {
	x, ok := splitWhen(w)
	if !ok {
		return "", false
	}
	switch x.form {
	case formDate:
		if d%(24*time.Hour) != 0 {
			return when{form: formUTC, wall: x.instant(time.UTC).Add(d)}.String()
		}
		x.wall = x.wall.Add(d)
	case formZoned:
		x = x.at(x.instant(nil).Add(d), nil)
	default:
		x.wall = x.wall.Add(d)
	}
	return x.String()
}

// parseOverrides reads the overrides field.
func parseOverrides(s string) ([]crm.EventOverride, error) {
	if s == "" {
		return nil, nil
	}
	var ovs []crm.EventOverride
	err := json.Unmarshal([]byte(s), &ovs)
	return ovs, err
}

// patchOverrides brings the overriding components in line with the
// overrides field: those of an occurrence still overridden are patched
// (see patchOverride), the others removed, new ones added at the end.
// Components whose RECURRENCE-ID is not a time are left alone.
func (e *encoder) patchOverrides(want []crm.EventOverride) {
	s := seriesOf(e.want)
	byRID := make(map[crm.When]crm.EventOverride, len(want))
	for _, ov := range want {
		byRID[ov.RecurrenceID] = ov
	}
	isOverride := make(map[*ical.Component]bool, len(e.o.overrides))
	for _, c := range e.o.overrides {
		isOverride[c] = true
	}
	seen := make(map[crm.When]bool)
	var kids []*ical.Component
	for _, c := range e.o.cal.Children {
		if !isOverride[c] {
			kids = append(kids, c)
			continue
		}
		cur, ok := e.o.override(c, s)
		if !ok {
			kids = append(kids, c)
			continue
		}
		w, keep := byRID[cur.RecurrenceID]
		if !keep || seen[cur.RecurrenceID] {
			e.touch(e.o.master)
			continue
		}
		seen[cur.RecurrenceID] = true
		e.patchOverride(c, cur, w, s)
		kids = append(kids, c)
	}
	for _, w := range want {
		if !seen[w.RecurrenceID] {
			kids = append(kids, e.newOverride(w, s))
			e.touch(e.o.master)
		}
	}
	e.o.cal.Children = kids
}

// patchOverride rewrites the properties of c whose reading (cur) differs
// from w. A text field that w leaves empty is the series' value; a time
// it leaves empty is the occurrence's natural one.
func (e *encoder) patchOverride(c *ical.Component, cur, w crm.EventOverride, s series) {
	if cur.Cancelled != w.Cancelled {
		status := ""
		if w.Cancelled {
			status = "CANCELLED"
		} else if ms := strings.ToUpper(strings.TrimSpace(propValue(e.o.master, ical.PropStatus))); ms != "CANCELLED" {
			status = ms
		}
		e.setRaw(c, ical.PropStatus, status)
	}
	for _, t := range []struct {
		prop           string
		cur, w, master string
	}{
		{ical.PropSummary, cur.Summary, w.Summary, s.summary},
		{ical.PropDescription, cur.Description, w.Description, s.description},
		{ical.PropLocation, cur.Location, w.Location, s.location},
	} {
		if t.cur != t.w {
			v := t.w
			if v == "" {
				v = t.master
			}
			e.setText(c, t.prop, v)
		}
	}
	if cur.Start != w.Start {
		e.setTime(c, ical.PropDateTimeStart, orWhen(w.Start, w.RecurrenceID))
		cur, _ = e.o.override(c, s)
	}
	if cur.End != w.End {
		c.Props.Del(ical.PropDuration)
		e.setTime(c, ical.PropDateTimeEnd, orWhen(w.End, naturalEnd(w.RecurrenceID, s)))
	}
}

// orWhen returns the first of a, b that is not empty.
func orWhen(a, b crm.When) crm.When {
	if a != "" {
		return a
	}
	return b
}

// overrideCopied are the master's properties a new override does not copy:
// those of the series, and those it has its own values of.
var overrideCopied = map[string]bool{
	ical.PropUID: true, ical.PropDateTimeStamp: true, ical.PropRecurrenceID: true,
	ical.PropRecurrenceRule: true, "EXRULE": true, ical.PropRecurrenceDates: true, ical.PropExceptionDates: true,
	ical.PropDateTimeStart: true, ical.PropDateTimeEnd: true, ical.PropDuration: true,
	ical.PropSummary: true, ical.PropDescription: true, "X-ALT-DESC": true, ical.PropLocation: true,
	ical.PropStatus: true, ical.PropCreated: true, ical.PropLastModified: true,
}

// newOverride builds the component of an occurrence the CRM overrode: a
// copy of the master's other properties (organizer, attendees, class… as
// clients do), with the occurrence's times, texts and status.
func (e *encoder) newOverride(w crm.EventOverride, s series) *ical.Component {
	m := e.o.master
	c := ical.NewComponent(ical.CompEvent)
	for name, props := range m.Props {
		if !overrideCopied[name] {
			for _, p := range props {
				c.Props.Add(cloneProp(&p))
			}
		}
	}
	uid := ical.NewProp(ical.PropUID)
	uid.Value = e.o.uid
	c.Props.Set(uid)
	e.setTime(c, ical.PropRecurrenceID, w.RecurrenceID)
	e.setTime(c, ical.PropDateTimeStart, orWhen(w.Start, w.RecurrenceID))
	e.setTime(c, ical.PropDateTimeEnd, orWhen(w.End, naturalEnd(w.RecurrenceID, s)))
	e.setText(c, ical.PropSummary, orStr(w.Summary, s.summary))
	e.setText(c, ical.PropDescription, orStr(w.Description, s.description))
	e.setText(c, ical.PropLocation, orStr(w.Location, s.location))
	status := strings.ToUpper(strings.TrimSpace(propValue(m, ical.PropStatus)))
	if w.Cancelled || status == "CANCELLED" {
		status = ""
		if w.Cancelled {
			status = "CANCELLED"
		}
	}
	e.setRaw(c, ical.PropStatus, status)
	e.touch(c)
	return c
}

func orStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
