package caldav

import (
	"slices"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/emersion/go-ical"
)

// The encoder's property writers. Each marks the component it changes
// (touch), so that stamp gives it a new DTSTAMP.

var textProps = map[string]string{
	pim.FieldSummary:     ical.PropSummary,
	pim.FieldDescription: ical.PropDescription,
	pim.FieldLocation:    ical.PropLocation,
}

// texts rewrites the text properties of the fields whose value read from c
// (cur) is not the wanted one.
func (e *encoder) texts(c *ical.Component, cur pim.Fields, fields ...string) {
	for _, f := range fields {
		if !cur[f].Equal(e.want[f]) {
			e.setText(c, textProps[f], e.want[f].Str)
		}
	}
}

// cloneProp returns a copy of p that shares nothing with it.
func cloneProp(p *ical.Prop) *ical.Prop {
	q := &ical.Prop{Name: p.Name, Value: p.Value, Params: make(ical.Params, len(p.Params))}
	for k, v := range p.Params {
		q.Params[k] = slices.Clone(v)
	}
	return q
}

// baseProp returns a copy of c's first name property, to be rewritten
// with its parameters kept, or a new one.
func baseProp(c *ical.Component, name string) *ical.Prop {
	if p := c.Props.Get(name); p != nil {
		return cloneProp(p)
	}
	return ical.NewProp(name)
}

// setText replaces c's name properties by one with text v, or removes
// them when v is "".
func (e *encoder) setText(c *ical.Component, name, v string) {
	e.touch(c)
	if name == ical.PropDescription {
		c.Props.Del("X-ALT-DESC")
	}
	if v == "" {
		c.Props.Del(name)
		return
	}
	p := baseProp(c, name)
	p.Params.Del(ical.ParamAltRep)
	setTextList(p, v)
	c.Props.Set(p)
}

// setRaw replaces c's name properties by one with value v as is (an
// RRULE, a STATUS, a PRIORITY), or removes them when v is "".
func (e *encoder) setRaw(c *ical.Component, name, v string) {
	e.touch(c)
	if v == "" {
		c.Props.Del(name)
		return
	}
	p := baseProp(c, name)
	p.Value = v
	c.Props.Set(p)
}

// setTime replaces c's name properties by one with time w (see writeTime),
// or removes them when w is "".
func (e *encoder) setTime(c *ical.Component, name string, w crm.When) {
	e.touch(c)
	if w == "" {
		c.Props.Del(name)
		return
	}
	p := baseProp(c, name)
	if zone := writeTime(p, w); zone != "" {
		e.zones[zone] = true
	}
	c.Props.Set(p)
}

// dates brings c's name properties (EXDATE, RDATE) to the set want: a
// property all of whose values are still wanted is kept as it is (its
// TZID, its list), the others are removed, and the wanted values no kept
// property holds are added one property per value.
func (e *encoder) dates(c *ical.Component, name string, want []string) {
	e.patchList(c, name, want, func(p *ical.Prop) ([]string, bool) {
		var out []string
		for _, w := range e.o.zones.whens(p) {
			out = append(out, string(w))
		}
		return out, true
	}, func(missing []string) []*ical.Prop {
		var out []*ical.Prop
		for _, w := range missing {
			p := ical.NewProp(name)
			if zone := writeTime(p, crm.When(w)); zone != "" {
				e.zones[zone] = true
			}
			out = append(out, p)
		}
		return out
	})
}

// attendees brings c's ATTENDEEs to want: those still invited keep their
// parameters (PARTSTAT, CN, ROLE…), those that are not mailto: addresses
// are left alone, new ones are added as bare mailto: URIs.
func (e *encoder) attendees(c *ical.Component, want []string) {
	e.patchList(c, ical.PropAttendee, want, func(p *ical.Prop) ([]string, bool) {
		a, ok := attendeeAddr(p.Value)
		return []string{a}, ok
	}, func(missing []string) []*ical.Prop {
		var out []*ical.Prop
		for _, a := range missing {
			p := ical.NewProp(ical.PropAttendee)
			p.Value = "mailto:" + a
			out = append(out, p)
		}
		return out
	})
}

// categories brings c's CATEGORIES to want: a property all of whose
// categories are still wanted is kept, new ones are added in one property.
func (e *encoder) categories(c *ical.Component, want []string) {
	e.patchList(c, ical.PropCategories, want, func(p *ical.Prop) ([]string, bool) {
		return pim.Normalize(pim.FieldCategories, pim.SetOf(textValues(p.Value)...)).List, true
	}, func(missing []string) []*ical.Prop {
		p := ical.NewProp(ical.PropCategories)
		setTextList(p, missing...)
		return []*ical.Prop{p}
	})
}

// patchList is the common part of dates, attendees and categories. read
// returns the normalized values of one property (ok false: a property the
// field does not map, always kept); add makes the properties of the
// values missing.
func (e *encoder) patchList(c *ical.Component, name string, want []string,
	read func(*ical.Prop) ([]string, bool), add func([]string) []*ical.Prop) {
	wanted := make(map[string]bool, len(want))
	for _, w := range want {
		wanted[w] = true
	}
	covered := make(map[string]bool)
	var keep []ical.Prop
	for i := range c.Props[name] {
		p := &c.Props[name][i]
		vals, ok := read(p)
		all := true
		for _, v := range vals {
			all = all && wanted[v]
		}
		if ok && !all {
			continue
		}
		for _, v := range vals {
			covered[v] = true
		}
		keep = append(keep, *p)
	}
	changed := len(keep) != len(c.Props[name])
	var missing []string
	for _, w := range want {
		if !covered[w] {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		for _, p := range add(missing) {
			keep = append(keep, *p)
		}
		changed = true
	}
	if !changed {
		return
	}
	e.touch(c)
	if len(keep) == 0 {
		c.Props.Del(name)
	} else {
		c.Props[name] = keep
	}
}
