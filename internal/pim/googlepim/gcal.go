package googlepim

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/caldav"
)

// A Google event series — its master and its exceptions, the modified or
// cancelled occurrences with recurringEventId and originalStartTime — is
// read as the iCalendar object Google itself exports for it (a VEVENT
// master with RRULE/EXDATE lines as Google stores them, one VEVENT with a
// RECURRENCE-ID per exception, STATUS:CANCELLED for a cancelled one) and
// decoded by the CalDAV codec: the Fields are those a CalDAV calendar
// gives for the same event, override rules included, so both kinds of
// account sync the same records the same way.

// gtime is Google's start, end or originalStartTime.
type gtime struct {
	Date     string `json:"date,omitempty"`
	DateTime string `json:"dateTime,omitempty"`
	TimeZone string `json:"timeZone,omitempty"`
}

func (g *gtime) zero() bool { return g == nil || g.Date == "" && g.DateTime == "" }

// gevent is the part of a Google event crmsync reads.
type gevent struct {
	ID                string   `json:"id"`
	Etag              string   `json:"etag"`
	Status            string   `json:"status"`
	ICalUID           string   `json:"iCalUID"`
	Summary           string   `json:"summary"`
	Description       string   `json:"description"`
	Location          string   `json:"location"`
	Start             *gtime   `json:"start"`
	End               *gtime   `json:"end"`
	Recurrence        []string `json:"recurrence"`
	RecurringEventID  string   `json:"recurringEventId"`
	OriginalStartTime *gtime   `json:"originalStartTime"`
	Updated           string   `json:"updated"`
	Attendees         []struct {
		Email string `json:"email"`
	} `json:"attendees"`
	ExtendedProperties struct {
		Private map[string]string `json:"private"`
	} `json:"extendedProperties"`
}

// eventStampKey is the private extended property of the CRM stamp.
const eventStampKey = "crmsyncUid"

func location(zone string) *time.Location {
	if zone == "" {
		return time.UTC
	}
	if z, ok := caldav.IANAZone(zone); ok {
		zone = z
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// icsTime writes g as an iCalendar property's parameters and value
// (";TZID=Europe/Berlin:20240108T090000"); zone stands for a time zone g
// does not name (an exception's time, in its series' zone).
func icsTime(g *gtime, zone string) (string, bool) {
	if g.zero() {
		return "", false
	}
	if g.Date != "" {
		t, err := time.Parse("2006-01-02", g.Date)
		if err != nil {
			return "", false
		}
		return ";VALUE=DATE:" + t.Format("20060102"), true
	}
	z := g.TimeZone
	if z == "" {
		z = zone
	}
	loc := location(z)
	t, err := time.Parse(time.RFC3339, g.DateTime)
	if err != nil {
		// A dateTime without offset is a wall time in its timeZone.
		if t, err = time.ParseInLocation("2006-01-02T15:04:05", g.DateTime, loc); err != nil {
			return "", false
		}
	}
	if z == "" || loc == time.UTC {
		return ":" + t.UTC().Format("20060102T150405Z"), true
	}
	return ";TZID=" + loc.String() + ":" + t.In(loc).Format("20060102T150405"), true
}

// googleTime writes a crm.When as Google's start or end. Google has no
// floating times: one is read in zone, the calendar's.
func googleTime(w crm.When, zone string) (*gtime, error) {
	if w == "" {
		return nil, nil
	}
	t, err := w.Time(location(zone))
	if err != nil {
		return nil, err
	}
	switch z := w.Zone(); {
	case w.IsDate():
		return &gtime{Date: t.Format("2006-01-02")}, nil
	case z == "UTC":
		return &gtime{DateTime: t.UTC().Format(time.RFC3339)}, nil
	case z != "":
		return &gtime{DateTime: t.In(location(z)).Format(time.RFC3339), TimeZone: z}, nil
	default:
		loc := location(zone)
		return &gtime{DateTime: t.In(loc).Format(time.RFC3339), TimeZone: loc.String()}, nil
	}
}

// dateLine writes an EXDATE or RDATE line for w as Google stores them.
func dateLine(name string, w crm.When) string {
	switch z := w.Zone(); {
	case w.IsDate():
		return name + ";VALUE=DATE:" + strings.ReplaceAll(string(w), "-", "")
	case z == "UTC":
		t, _ := w.Time(nil)
		return name + ":" + t.UTC().Format("20060102T150405Z")
	case z != "":
		t, _ := w.Time(nil)
		return name + ";TZID=" + z + ":" + t.In(location(z)).Format("20060102T150405")
	default:
		t, _ := w.Time(nil)
		return name + ":" + t.Format("20060102T150405")
	}
}

// instanceID is the id Google gives the occurrence of series starting at
// rid: the series id, "_", and the original start in UTC (or its date).
func instanceID(series string, rid crm.When, zone string) (string, error) {
	t, err := rid.Time(location(zone))
	if err != nil {
		return "", err
	}
	if rid.IsDate() {
		return series + "_" + t.Format("20060102"), nil
	}
	return series + "_" + t.UTC().Format("20060102T150405Z"), nil
}

// escapeText escapes an iCalendar TEXT value.
var escapeText = strings.NewReplacer(`\`, `\\`, ";", `\;`, ",", `\,`, "\r\n", `\n`, "\n", `\n`, "\r", `\n`)

// seriesFields decodes a series (its master first) through the CalDAV
// codec; occurrences that differ in nothing from the series (an exception
// put back as it was: Google keeps it) are not overrides.
func seriesFields(uid string, master gevent, exceptions []gevent) (pim.Fields, error) {
	var b strings.Builder
	zone := ""
	if master.Start != nil {
		zone = master.Start.TimeZone
	}
	line := func(s string) { b.WriteString(s); b.WriteString("\r\n") }
	comp := func(e gevent, rid *gtime) {
		line("BEGIN:VEVENT")
		line("UID:" + escapeText.Replace(uid))
		if t, err := time.Parse(time.RFC3339, e.Updated); err == nil {
			line("DTSTAMP:" + t.UTC().Format("20060102T150405Z"))
			line("LAST-MODIFIED:" + t.UTC().Format("20060102T150405Z"))
		}
		if rid != nil {
			if v, ok := icsTime(rid, zone); ok {
				line("RECURRENCE-ID" + v)
			}
		}
		start, end := e.Start, e.End
		if start.zero() && rid != nil {
			// A cancelled occurrence has only its original start: it
			// spans what the series' occurrences do.
			start, end = rid, naturalEnd(rid, master)
		}
		if v, ok := icsTime(start, zone); ok {
			line("DTSTART" + v)
		}
		if v, ok := icsTime(end, zone); ok {
			line("DTEND" + v)
		}
		for k, v := range map[string]string{"SUMMARY": e.Summary, "DESCRIPTION": e.Description, "LOCATION": e.Location} {
			if v != "" {
				line(k + ":" + escapeText.Replace(v))
			}
		}
		if e.Status == "cancelled" {
			line("STATUS:CANCELLED")
		}
		for _, a := range e.Attendees {
			if a.Email != "" {
				line("ATTENDEE:mailto:" + a.Email)
			}
		}
		if rid == nil {
			for _, r := range e.Recurrence {
				if strings.ContainsAny(r, "\r\n") {
					continue
				}
				line(r)
			}
		}
		line("END:VEVENT")
	}
	line("BEGIN:VCALENDAR")
	line("VERSION:2.0")
	line("PRODID:-//crmsync//googlepim//EN")
	comp(master, nil)
	for _, x := range exceptions {
		if !x.OriginalStartTime.zero() {
			comp(x, x.OriginalStartTime)
		}
	}
	line("END:VCALENDAR")
	it, err := caldav.Decode([]byte(b.String()))
	if err != nil {
		return nil, err
	}
	f := it.Fields
	if s := f[pim.FieldOverrides].Str; s != "" {
		var ovs []crm.EventOverride
		if err := json.Unmarshal([]byte(s), &ovs); err != nil {
			return nil, fmt.Errorf("overrides: %v", err)
		}
		kept := ovs[:0]
		for _, ov := range ovs {
			if ov != (crm.EventOverride{RecurrenceID: ov.RecurrenceID}) {
				kept = append(kept, ov)
			}
		}
		if len(kept) == 0 {
			delete(f, pim.FieldOverrides)
		} else {
			out, _ := json.Marshal(kept)
			f[pim.FieldOverrides] = pim.Str(string(out))
		}
	}
	delete(f, pim.FieldCategories)
	return f.Normalize(), nil
}

// naturalEnd is the end of the occurrence of master starting at rid: rid
// plus the series' length.
func naturalEnd(rid *gtime, master gevent) *gtime {
	if master.Start.zero() || master.End.zero() {
		return nil
	}
	if rid.Date != "" {
		s, err1 := time.Parse("2006-01-02", master.Start.Date)
		e, err2 := time.Parse("2006-01-02", master.End.Date)
		r, err3 := time.Parse("2006-01-02", rid.Date)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil
		}
		return &gtime{Date: r.Add(e.Sub(s)).Format("2006-01-02")}
	}
	s, err1 := time.Parse(time.RFC3339, master.Start.DateTime)
	e, err2 := time.Parse(time.RFC3339, master.End.DateTime)
	r, err3 := time.Parse(time.RFC3339, rid.DateTime)
	if err1 != nil || err2 != nil || err3 != nil {
		return nil
	}
	return &gtime{DateTime: r.Add(e.Sub(s)).Format(time.RFC3339), TimeZone: rid.TimeZone}
}
