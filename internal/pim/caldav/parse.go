package caldav

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-ical"
)

// go-ical builds a parameter value one byte at a time, each step copying
// what it has so far: a content line whose parameters take n bytes costs
// n²/2 byte copies (300 ms for 16 KB). A hostile or broken server could
// stall a sync pass with a few such lines, so a content line's parameters
// are bounded, and so is the total cost of a calendar's. Real ones are far
// below: Apple's X-APPLE-STRUCTURED-LOCATION, among the longest, is a few
// hundred bytes.
const (
	maxParams     = 8 << 10
	maxParamsCost = 1 << 27
)

var errNotICal = errors.New("caldav: not an iCalendar object")

// parseCalendar parses an iCalendar stream with go-ical, then tidies the
// tree (see tidy). go-ical panics on some malformed content lines (a
// parameter without a colon after it, "X;A=b"), which is recovered as an
// error.
func parseCalendar(data []byte) (cal *ical.Calendar, err error) {
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	if longParams(data) {
		return nil, fmt.Errorf("%w: property parameters too long", errNotICal)
	}
	defer func() {
		if r := recover(); r != nil {
			cal, err = nil, fmt.Errorf("%w: %v", errNotICal, r)
		}
	}()
	cal, err = ical.NewDecoder(bytes.NewReader(data)).Decode()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNotICal, err)
	}
	tidy(cal.Component)
	return cal, nil
}

// longParams reports whether data has a content line (folded lines
// joined) whose parameters — what comes before its value, the first colon
// outside double quotes — are over maxParams bytes, or whose parameters
// together cost more than maxParamsCost to parse.
func longParams(data []byte) bool {
	n, cost, inValue, quoted := 0, 0, false, false
	for i := 0; i <= len(data); i++ {
		if i == len(data) || data[i] == '\n' {
			if i+1 < len(data) && (data[i+1] == ' ' || data[i+1] == '\t') {
				i++
				continue
			}
			if cost += n * n / 2; cost > maxParamsCost {
				return true
			}
			n, inValue, quoted = 0, false, false
			continue
		}
		if inValue {
			continue
		}
		switch data[i] {
		case '"':
			quoted = !quoted
		case ':':
			inValue = !quoted
		}
		if n++; n > maxParams {
			return true
		}
	}
	return false
}

// atMostOne lists, per component, the properties go-ical's encoder
// refuses to write more than once (RFC 5545's "MUST NOT occur more than
// once"), the ones it wants exactly once included.
var atMostOne = map[string][]string{
	ical.CompCalendar: {ical.PropProductID, ical.PropVersion, ical.PropCalendarScale, ical.PropMethod,
		ical.PropUID, ical.PropLastModified, ical.PropURL, ical.PropRefreshInterval, ical.PropSource, ical.PropColor},
	ical.CompEvent: {ical.PropDateTimeStamp, ical.PropUID, ical.PropDateTimeStart, ical.PropClass,
		ical.PropCreated, ical.PropDescription, ical.PropGeo, ical.PropLastModified, ical.PropLocation,
		ical.PropOrganizer, ical.PropPriority, ical.PropRecurrenceRule, ical.PropSequence, ical.PropStatus,
		ical.PropSummary, ical.PropTransparency, ical.PropURL, ical.PropRecurrenceID, ical.PropDateTimeEnd,
		ical.PropDuration, ical.PropColor},
	ical.CompToDo: {ical.PropDateTimeStamp, ical.PropUID, ical.PropClass, ical.PropCompleted,
		ical.PropCreated, ical.PropDescription, ical.PropDateTimeStart, ical.PropGeo, ical.PropLastModified,
		ical.PropLocation, ical.PropOrganizer, ical.PropPercentComplete, ical.PropPriority,
		ical.PropRecurrenceID, ical.PropSequence, ical.PropStatus, ical.PropSummary, ical.PropURL,
		ical.PropDue, ical.PropDuration, ical.PropColor},
	ical.CompJournal: {ical.PropDateTimeStamp, ical.PropUID, ical.PropClass, ical.PropCreated,
		ical.PropDateTimeStart, ical.PropLastModified, ical.PropOrganizer, ical.PropRecurrenceID,
		ical.PropSequence, ical.PropStatus, ical.PropSummary, ical.PropURL, ical.PropColor},
	ical.CompFreeBusy: {ical.PropDateTimeStamp, ical.PropUID, ical.PropContact, ical.PropDateTimeStart,
		ical.PropDateTimeEnd, ical.PropOrganizer, ical.PropURL},
	ical.CompTimezone:         {ical.PropTimezoneID, ical.PropLastModified, ical.PropTimezoneURL},
	ical.CompTimezoneStandard: {ical.PropDateTimeStart, ical.PropTimezoneOffsetTo, ical.PropTimezoneOffsetFrom},
	ical.CompTimezoneDaylight: {ical.PropDateTimeStart, ical.PropTimezoneOffsetTo, ical.PropTimezoneOffsetFrom},
}

// tidy makes a parsed tree one go-ical's encoder accepts, the way a
// lenient reader reads it, so that what Decode reads is exactly what Encode
// writes back:
//
//   - a property that may occur once keeps its first occurrence;
//   - a VEVENT with both DTEND and DURATION keeps DTEND, a VTODO with both
//     DUE and DURATION keeps DUE, one with DURATION but no DTSTART drops it;
//   - VEVENT and VTODO keep only their VALARMs (go-ical cannot write
//     RFC 9073's VLOCATION or PARTICIPANT), VJOURNAL and VFREEBUSY nothing;
//   - a VTIMEZONE keeps its STANDARD and DAYLIGHT observances that have a
//     DTSTART, TZOFFSETFROM and TZOFFSETTO, and is dropped without one or
//     without a TZID; an observance elsewhere is dropped the same way;
//   - a nested, empty VCALENDAR is dropped;
//   - carriage returns and line feeds in values (a bare CR can get through
//     a content line) are removed.
//
// Missing required properties (DTSTAMP, UID, PRODID, VERSION) are added at
// encoding time by fillRequired, since they do not change what is read.
// It reports whether c is to be kept.
func tidy(c *ical.Component) bool {
	for name, props := range c.Props {
		for i := range props {
			props[i].Value = stripCRLF(props[i].Value)
			for k, vs := range props[i].Params {
				for j := range vs {
					vs[j] = strings.ReplaceAll(stripCRLF(vs[j]), `"`, "")
				}
				props[i].Params[k] = vs
			}
		}
		if len(props) > 1 && oneOnly(c.Name, name) {
			c.Props[name] = props[:1]
		}
	}
	kids := c.Children[:0]
	for _, k := range c.Children {
		if !tidy(k) || (k.Name == ical.CompCalendar && len(k.Children) == 0) {
			continue
		}
		switch c.Name {
		case ical.CompEvent, ical.CompToDo:
			if k.Name != ical.CompAlarm {
				continue
			}
		case ical.CompJournal, ical.CompFreeBusy:
			continue
		case ical.CompTimezone:
			if k.Name != ical.CompTimezoneStandard && k.Name != ical.CompTimezoneDaylight {
				continue
			}
		}
		kids = append(kids, k)
	}
	clear(c.Children[len(kids):])
	c.Children = kids
	has := func(name string) bool { return len(c.Props[name]) > 0 }
	switch c.Name {
	case ical.CompEvent:
		if has(ical.PropDateTimeEnd) {
			c.Props.Del(ical.PropDuration)
		}
	case ical.CompToDo:
		if has(ical.PropDue) || !has(ical.PropDateTimeStart) {
			c.Props.Del(ical.PropDuration)
		}
	case ical.CompTimezone:
		return has(ical.PropTimezoneID) && len(c.Children) > 0
	case ical.CompTimezoneStandard, ical.CompTimezoneDaylight:
		return has(ical.PropDateTimeStart) && has(ical.PropTimezoneOffsetTo) && has(ical.PropTimezoneOffsetFrom)
	}
	return true
}

func oneOnly(comp, prop string) bool {
	for _, p := range atMostOne[comp] {
		if p == prop {
			return true
		}
	}
	return false
}

func stripCRLF(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r", "", "\n", "").Replace(s)
}

// fillRequired adds what go-ical's encoder requires and a tidy tree may
// lack: PRODID and VERSION to a VCALENDAR, DTSTAMP (now) and UID (uid) to
// a VEVENT, VTODO, VJOURNAL or VFREEBUSY. It also tidies again, for the
// values written since.
func fillRequired(c *ical.Component, uid string, now time.Time) {
	tidy(c)
	var walk func(*ical.Component)
	walk = func(c *ical.Component) {
		add := func(name, value string) {
			if len(c.Props[name]) == 0 {
				p := ical.NewProp(name)
				p.Value = value
				c.Props.Set(p)
			}
		}
		switch c.Name {
		case ical.CompCalendar:
			add(ical.PropVersion, "2.0")
			add(ical.PropProductID, prodID)
		case ical.CompEvent, ical.CompToDo, ical.CompJournal, ical.CompFreeBusy:
			add(ical.PropDateTimeStamp, now.UTC().Format(icalLocal)+"Z")
			add(ical.PropUID, uid)
		}
		for _, k := range c.Children {
			walk(k)
		}
	}
	walk(c)
}

const prodID = "-//crmsync//crmsync//EN"

// marshal encodes cal with go-ical and folds the lines it writes.
func marshal(cal *ical.Calendar) ([]byte, error) {
	var buf bytes.Buffer
	if err := ical.NewEncoder(&buf).Encode(cal); err != nil {
		return nil, fmt.Errorf("caldav: %w", err)
	}
	return fold(buf.Bytes()), nil
}

// fold folds content lines longer than 75 octets (RFC 5545 §3.1), which
// go-ical does not do, without splitting a UTF-8 sequence.
func fold(data []byte) []byte {
	const limit = 75
	var out bytes.Buffer
	out.Grow(len(data) + len(data)/limit*3)
	for len(data) > 0 {
		line, rest, _ := bytes.Cut(data, []byte("\r\n"))
		data = rest
		for first := true; ; first = false {
			max := limit
			if !first {
				out.WriteByte(' ')
				max--
			}
			if len(line) <= max {
				out.Write(line)
				break
			}
			cut := max
			for cut > max-3 && cut > 0 && line[cut]&0xC0 == 0x80 {
				cut--
			}
			out.Write(line[:cut])
			out.WriteString("\r\n")
			line = line[cut:]
		}
		out.WriteString("\r\n")
	}
	return out.Bytes()
}
