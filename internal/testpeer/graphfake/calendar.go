package graphfake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/pim/caldav"
)

// The calendar side of Graph (§8.1, §8.2): calendars, events with their
// changeKey and @odata.etag (If-Match → 412), transactionId dedupe on
// create, patternedRecurrence expanded into occurrences, exceptions and
// deleted occurrences, and calendarView delta over a window baked into
// its tokens. Times are written in the zone the client prefers
// (Prefer: outlook.timezone, UTC when absent); zones are Windows or IANA
// names.

func init() {
	for _, p := range []string{"calendar", "calendars", "events", "calendarView", "calendarview"} {
		routes = append(routes, route{prefix: p, serve: (*Graph).serveCalendar})
	}
}

type fakeCalendar struct {
	id, name, owner string
	isDefault       bool
	canEdit         bool
}

// fakeRecurrence is a patternedRecurrence as Graph writes it.
type fakeRecurrence struct {
	Pattern struct {
		Type           string   `json:"type"`
		Interval       int      `json:"interval"`
		Month          int      `json:"month,omitempty"`
		DayOfMonth     int      `json:"dayOfMonth,omitempty"`
		DaysOfWeek     []string `json:"daysOfWeek,omitempty"`
		FirstDayOfWeek string   `json:"firstDayOfWeek,omitempty"`
		Index          string   `json:"index,omitempty"`
	} `json:"pattern"`
	Range struct {
		Type                string `json:"type"`
		StartDate           string `json:"startDate"`
		EndDate             string `json:"endDate,omitempty"`
		RecurrenceTimeZone  string `json:"recurrenceTimeZone,omitempty"`
		NumberOfOccurrences int    `json:"numberOfOccurrences"`
	} `json:"range"`
}

// eventBody is what one event (or one exception) says of itself.
type eventBody struct {
	subject, bodyType, body, location string
	start, end                        time.Time // instants; all-day: midnight UTC of the dates
	startTZ, endTZ                    string
	allDay, cancelled                 bool
	categories, attendees             []string
}

type fakeEvent struct {
	eventBody
	id, calendar, typ string // typ: singleInstance or seriesMaster
	iCalUID           string
	transactionID     string
	props             map[string]string // singleValueExtendedProperties
	recurrence        *fakeRecurrence
	change            uint64 // bumped on every change of the event or its series
	created, modified time.Time
	exceptions        map[int64]*eventBody // by original start (unix)
	deleted           map[int64]bool       // occurrences deleted from the series
}

// instance is one entry of a calendar view: a single event, an
// occurrence or an exception of a series.
type instance struct {
	id, typ  string
	ev       *fakeEvent
	original time.Time // occurrences and exceptions
	body     eventBody
	version  uint64
}

type calToken struct {
	cal      string
	from, to time.Time
	tz       string
	pageSize int
	seen     map[string]uint64 // a deltatoken: the view the client holds
	seq      uint64            // a deltatoken: the store's seq when it was issued
	rest     []map[string]any  // a skiptoken: the round's remaining entries
	end      map[string]uint64 // a skiptoken: seen for the round's deltatoken
	endSeq   uint64
	dead     bool
}

type calRemoval struct {
	id, cal string
	seq     uint64
}

type calStore struct {
	seq       uint64
	calendars []*fakeCalendar
	events    map[string]*fakeEvent
	byTxn     map[string]string // transactionId → event id
	tokens    map[string]*calToken
	removals  []calRemoval
	location  bool // dead tokens answer 410 with a Location
}

// calendar returns the calendar store, made on first use with the
// mailbox's default calendar "Calendar". g.mu must be held.
func (g *Graph) calendar() *calStore {
	if g.cal == nil {
		g.cal = &calStore{events: map[string]*fakeEvent{}, byTxn: map[string]string{}, tokens: map[string]*calToken{}}
		g.cal.calendars = append(g.cal.calendars, &fakeCalendar{id: "AAMkCal" + randomID(), name: "Calendar", owner: "me", isDefault: true, canEdit: true})
	}
	return g.cal
}

func (s *calStore) findCalendar(id string) *fakeCalendar {
	for _, c := range s.calendars {
		if c.id == id {
			return c
		}
	}
	return nil
}

func (s *calStore) defaultCalendar() *fakeCalendar { return s.calendars[0] }

// occurrenceID names an occurrence: opaque to clients, as Graph's are.
func occurrenceID(master string, original time.Time) string {
	return "AAMkOcc" + base64.RawURLEncoding.EncodeToString([]byte(master+"|"+strconv.FormatInt(original.Unix(), 10)))
}

func parseOccurrenceID(id string) (master string, original int64, ok bool) {
	rest, ok := strings.CutPrefix(id, "AAMkOcc")
	if !ok {
		return "", 0, false
	}
	b, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return "", 0, false
	}
	m, u, ok := strings.Cut(string(b), "|")
	n, err := strconv.ParseInt(u, 10, 64)
	return m, n, ok && err == nil
}

// --- helpers: the calendar as another client changes it ---

// EventSpec is an event as a test writes it. Start and End are instants
// (for an all-day event, midnight UTC of its first day and of the day
// after its last); TimeZone is the Windows or IANA zone it was made in
// (default "UTC"). Recurrence is a patternedRecurrence as JSON, or "".
type EventSpec struct {
	Subject, Body, Location string
	Start, End              time.Time
	TimeZone                string
	AllDay                  bool
	// HTML says Body is HTML, as Outlook writes it; Cancelled marks an
	// event (or an occurrence) cancelled by its organizer.
	HTML, Cancelled       bool
	Categories, Attendees []string
	Recurrence            string
	// Props are singleValueExtendedProperties, id → value.
	Props map[string]string
}

// AddCalendar adds a calendar of the user (canEdit) or one shared with
// them by owner (not editable), and returns its id.
func (g *Graph) AddCalendar(name string, sharedBy string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.calendar()
	c := &fakeCalendar{id: "AAMkCal" + randomID(), name: name, owner: "me", canEdit: true}
	if sharedBy != "" {
		c.owner, c.canEdit = sharedBy, false
	}
	s.calendars = append(s.calendars, c)
	return c.id
}

// DefaultCalendar returns the default calendar's id.
func (g *Graph) DefaultCalendar() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calendar().defaultCalendar().id
}

// AddEvent creates an event in calendar ("" the default) and returns its
// id; it panics on a spec Graph would refuse.
func (g *Graph) AddEvent(calendar string, spec EventSpec) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.calendar()
	if calendar == "" {
		calendar = s.defaultCalendar().id
	}
	ev, err := g.newEvent(calendar, specBody(spec), spec.Recurrence, spec.Props)
	if err != nil {
		panic("graphfake: " + err.Error())
	}
	return ev.id
}

func specBody(spec EventSpec) eventBody {
	tz := spec.TimeZone
	if tz == "" {
		tz = "UTC"
	}
	bt := "text"
	if spec.HTML {
		bt = "html"
	}
	return eventBody{subject: spec.Subject, bodyType: bt, body: spec.Body, location: spec.Location,
		start: spec.Start, end: spec.End, startTZ: tz, endTZ: tz, allDay: spec.AllDay, cancelled: spec.Cancelled,
		categories: spec.Categories, attendees: spec.Attendees}
}

func (g *Graph) newEvent(calendar string, b eventBody, recurrence string, props map[string]string) (*fakeEvent, error) {
	s := g.calendar()
	ev := &fakeEvent{eventBody: b, id: "AAMkEv" + randomID(), calendar: calendar, typ: "singleInstance",
		iCalUID: "040000008200E00074C5B7101A82E008" + randomID(), props: map[string]string{},
		created: g.now().UTC(), exceptions: map[int64]*eventBody{}, deleted: map[int64]bool{}}
	for k, v := range props {
		ev.props[k] = v
	}
	if recurrence != "" {
		var r fakeRecurrence
		if err := checkRecurrence([]byte(recurrence), &r); err != nil {
			return nil, err
		}
		ev.recurrence, ev.typ = &r, "seriesMaster"
	}
	s.events[ev.id] = ev
	s.touch(ev, g.now())
	return ev, nil
}

func (s *calStore) touch(ev *fakeEvent, now time.Time) {
	s.seq++
	ev.change = s.seq
	ev.modified = now.UTC()
}

// UpdateEvent changes an event (a single event or a series master) as
// another client would; a new Recurrence resets the series' exceptions
// and deleted occurrences, as Outlook does.
func (g *Graph) UpdateEvent(id string, fn func(*EventSpec)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.calendar()
	ev := s.events[id]
	spec := EventSpec{Subject: ev.subject, Body: ev.body, Location: ev.location, Start: ev.start, End: ev.end,
		TimeZone: ev.startTZ, AllDay: ev.allDay, Categories: ev.categories, Attendees: ev.attendees, Props: ev.props,
		HTML: ev.bodyType == "html", Cancelled: ev.cancelled}
	if ev.recurrence != nil {
		b, _ := json.Marshal(ev.recurrence)
		spec.Recurrence = string(b)
	}
	old := spec.Recurrence
	fn(&spec)
	ev.eventBody = specBody(spec)
	ev.props = spec.Props
	if spec.Recurrence != old {
		ev.recurrence, ev.typ = nil, "singleInstance"
		if spec.Recurrence != "" {
			var r fakeRecurrence
			if err := checkRecurrence([]byte(spec.Recurrence), &r); err != nil {
				panic("graphfake: " + err.Error())
			}
			ev.recurrence, ev.typ = &r, "seriesMaster"
		}
		clear(ev.exceptions)
		clear(ev.deleted)
	}
	s.touch(ev, g.now())
}

// CancelOccurrence deletes the occurrence of series master that starts at
// original, as Outlook does when one occurrence is deleted.
func (g *Graph) CancelOccurrence(master string, original time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.calendar()
	ev := s.events[master]
	ev.deleted[original.Unix()] = true
	delete(ev.exceptions, original.Unix())
	s.removals = append(s.removals, calRemoval{id: occurrenceID(master, original), cal: ev.calendar, seq: s.seq + 1})
	s.touch(ev, g.now())
}

// ModifyOccurrence makes the occurrence of master that starts at original
// an exception changed by fn.
func (g *Graph) ModifyOccurrence(master string, original time.Time, fn func(*EventSpec)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.calendar()
	ev := s.events[master]
	b := ev.occurrenceBody(original)
	spec := EventSpec{Subject: b.subject, Body: b.body, Location: b.location, Start: b.start, End: b.end,
		TimeZone: b.startTZ, AllDay: b.allDay, Categories: b.categories, Attendees: b.attendees,
		HTML: b.bodyType == "html", Cancelled: b.cancelled}
	fn(&spec)
	nb := specBody(spec)
	ev.exceptions[original.Unix()] = &nb
	s.touch(ev, g.now())
}

// DeleteEvent deletes an event (a whole series for a master).
func (g *Graph) DeleteEvent(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.calendar().deleteEvent(id, g.now())
}

func (s *calStore) deleteEvent(id string, now time.Time) {
	ev := s.events[id]
	s.seq++
	s.removals = append(s.removals, calRemoval{id: id, cal: ev.calendar, seq: s.seq})
	delete(s.events, id)
}

// EventState is an event as the fake holds it.
type EventState struct {
	Type, Subject, Body, Location string
	Start, End                    time.Time
	TimeZone                      string
	AllDay                        bool
	Categories, Attendees         []string
	Recurrence                    string // patternedRecurrence JSON
	Props                         map[string]string
	TransactionID                 string
	// Exceptions by original start (unix seconds); Deleted occurrences.
	Exceptions map[int64]EventSpec
	Deleted    []int64
	Change     uint64
}

// Event returns an event's state, false when it does not exist.
func (g *Graph) Event(id string) (EventState, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	ev := g.calendar().events[id]
	if ev == nil {
		return EventState{}, false
	}
	st := EventState{Type: ev.typ, Subject: ev.subject, Body: ev.body, Location: ev.location, Start: ev.start, End: ev.end,
		TimeZone: ev.startTZ, AllDay: ev.allDay, Categories: slices.Clone(ev.categories), Attendees: slices.Clone(ev.attendees),
		Props: map[string]string{}, TransactionID: ev.transactionID, Exceptions: map[int64]EventSpec{}, Change: ev.change}
	for k, v := range ev.props {
		st.Props[k] = v
	}
	if ev.recurrence != nil {
		b, _ := json.Marshal(ev.recurrence)
		st.Recurrence = string(b)
	}
	for k, b := range ev.exceptions {
		st.Exceptions[k] = EventSpec{Subject: b.subject, Body: b.body, Location: b.location, Start: b.start, End: b.end, TimeZone: b.startTZ}
	}
	for k := range ev.deleted {
		st.Deleted = append(st.Deleted, k)
	}
	slices.Sort(st.Deleted)
	return st, true
}

// EventIDs returns the ids of the events (singles and series masters) of
// calendar ("" the default), sorted.
func (g *Graph) EventIDs(calendar string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.calendar()
	if calendar == "" {
		calendar = s.defaultCalendar().id
	}
	var out []string
	for id, ev := range s.events {
		if ev.calendar == calendar {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// ExpireCalendarTokens forgets every calendarView delta token issued so
// far: their next use answers 410 syncStateNotFound, or, withLocation,
// 410 resyncRequired with a Location naming a new round of the token's
// window and an empty $deltatoken (§5, tenant maintenance).
func (g *Graph) ExpireCalendarTokens(withLocation bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.calendar()
	for _, t := range s.tokens {
		t.dead = true
	}
	s.location = withLocation
}

// --- recurrence ---

var weekdays = map[string]time.Weekday{"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday,
	"wednesday": time.Wednesday, "thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday}

var indexes = map[string]int{"first": 0, "second": 1, "third": 2, "fourth": 3, "last": -1}

// checkRecurrence reads a patternedRecurrence and refuses what Graph
// refuses: unknown types, and properties the pattern type does not take
// (§8.2: unsupported extra properties cause an error).
func checkRecurrence(raw []byte, r *fakeRecurrence) error {
	var shape struct {
		Pattern map[string]any `json:"pattern"`
		Range   map[string]any `json:"range"`
	}
	if err := json.Unmarshal(raw, &shape); err != nil {
		return fmt.Errorf("recurrence is not JSON")
	}
	if err := json.Unmarshal(raw, r); err != nil {
		return fmt.Errorf("recurrence: %v", err)
	}
	allowed := map[string][]string{
		"daily":           {"interval"},
		"weekly":          {"interval", "daysOfWeek", "firstDayOfWeek"},
		"absoluteMonthly": {"interval", "dayOfMonth"},
		"relativeMonthly": {"interval", "daysOfWeek", "index"},
		"absoluteYearly":  {"interval", "dayOfMonth", "month"},
		"relativeYearly":  {"interval", "daysOfWeek", "month", "index"},
	}
	p := r.Pattern
	ok, known := allowed[p.Type]
	if !known {
		return fmt.Errorf("recurrence: unknown pattern type %q", p.Type)
	}
	for k, v := range shape.Pattern {
		if k == "type" || slices.Contains(ok, k) || v == nil || v == 0.0 || v == "" {
			continue
		}
		if l, isList := v.([]any); isList && len(l) == 0 {
			continue
		}
		if k == "firstDayOfWeek" || k == "index" && v == "first" {
			continue // defaults Graph writes on every pattern
		}
		return fmt.Errorf("recurrence: %s is not a property of a %s pattern", k, p.Type)
	}
	if p.Interval < 1 {
		return fmt.Errorf("recurrence: interval must be at least 1")
	}
	for _, d := range p.DaysOfWeek {
		if _, ok := weekdays[d]; !ok {
			return fmt.Errorf("recurrence: unknown day %q", d)
		}
	}
	switch p.Type {
	case "weekly", "relativeMonthly", "relativeYearly":
		if len(p.DaysOfWeek) == 0 {
			return fmt.Errorf("recurrence: daysOfWeek is required")
		}
	}
	if strings.HasPrefix(p.Type, "relative") {
		if _, ok := indexes[p.Index]; !ok && p.Index != "" {
			return fmt.Errorf("recurrence: unknown index %q", p.Index)
		}
	}
	if strings.HasPrefix(p.Type, "absolute") && (p.DayOfMonth < 1 || p.DayOfMonth > 31) {
		return fmt.Errorf("recurrence: dayOfMonth must be 1 to 31")
	}
	if strings.HasSuffix(p.Type, "Yearly") && (p.Month < 1 || p.Month > 12) {
		return fmt.Errorf("recurrence: month must be 1 to 12")
	}
	if _, err := time.Parse(time.DateOnly, r.Range.StartDate); err != nil {
		return fmt.Errorf("recurrence: range startDate is not a date")
	}
	switch r.Range.Type {
	case "endDate":
		if _, err := time.Parse(time.DateOnly, r.Range.EndDate); err != nil {
			return fmt.Errorf("recurrence: range endDate is not a date")
		}
	case "numbered":
		if r.Range.NumberOfOccurrences < 1 {
			return fmt.Errorf("recurrence: numberOfOccurrences must be at least 1")
		}
	case "noEnd":
	default:
		return fmt.Errorf("recurrence: unknown range type %q", r.Range.Type)
	}
	return nil
}

// loadTZ loads a Windows or IANA zone name.
func loadTZ(name string) (*time.Location, bool) {
	if name == "" || strings.EqualFold(name, "UTC") {
		return time.UTC, true
	}
	z, ok := caldav.IANAZone(name)
	if !ok {
		return nil, false
	}
	loc, err := time.LoadLocation(z)
	return loc, err == nil
}

// originals are the original starts of a series' occurrences up to to
// (deleted ones included), by the pattern: each day from the range's
// start that matches it, at the master's time of day in its zone.
func (ev *fakeEvent) originals(to time.Time) []time.Time {
	r := ev.recurrence
	loc, _ := loadTZ(ev.startTZ)
	if ev.allDay || loc == nil {
		loc = time.UTC
	}
	st := ev.start.In(loc)
	first, _ := time.Parse(time.DateOnly, r.Range.StartDate)
	last := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	if r.Range.Type == "endDate" {
		last, _ = time.Parse(time.DateOnly, r.Range.EndDate)
	}
	var out []time.Time
	for d := first; !d.After(last) && d.Sub(first) < 30*366*24*time.Hour; d = d.AddDate(0, 0, 1) {
		if !matches(r, first, d) {
			continue
		}
		t := time.Date(d.Year(), d.Month(), d.Day(), st.Hour(), st.Minute(), st.Second(), 0, loc)
		if t.After(to) {
			break
		}
		out = append(out, t)
		if r.Range.Type == "numbered" && len(out) >= r.Range.NumberOfOccurrences {
			break
		}
	}
	return out
}

func matches(r *fakeRecurrence, first, d time.Time) bool {
	p := r.Pattern
	days := int(d.Sub(first).Hours() / 24)
	months := (d.Year()-first.Year())*12 + int(d.Month()-first.Month())
	years := d.Year() - first.Year()
	inDays := func() bool {
		for _, w := range p.DaysOfWeek {
			if weekdays[w] == d.Weekday() {
				return true
			}
		}
		return false
	}
	relative := func() bool {
		if !inDays() {
			return false
		}
		var same []int // the month's days that are one of daysOfWeek
		for x := time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC); x.Month() == d.Month(); x = x.AddDate(0, 0, 1) {
			for _, w := range p.DaysOfWeek {
				if weekdays[w] == x.Weekday() {
					same = append(same, x.Day())
					break
				}
			}
		}
		i := indexes[p.Index]
		if i < 0 {
			return same[len(same)-1] == d.Day()
		}
		return i < len(same) && same[i] == d.Day()
	}
	switch p.Type {
	case "daily":
		return days%p.Interval == 0
	case "weekly":
		fdow := weekdays[p.FirstDayOfWeek]
		if p.FirstDayOfWeek == "" {
			fdow = time.Sunday
		}
		weekStart := func(x time.Time) time.Time { return x.AddDate(0, 0, -((int(x.Weekday()) - int(fdow) + 7) % 7)) }
		weeks := int(weekStart(d).Sub(weekStart(first)).Hours() / (24 * 7))
		return inDays() && weeks%p.Interval == 0
	case "absoluteMonthly":
		return d.Day() == p.DayOfMonth && months%p.Interval == 0
	case "relativeMonthly":
		return months%p.Interval == 0 && relative()
	case "absoluteYearly":
		return int(d.Month()) == p.Month && d.Day() == p.DayOfMonth && years%p.Interval == 0
	case "relativeYearly":
		return int(d.Month()) == p.Month && years%p.Interval == 0 && relative()
	}
	return false
}

// occurrenceBody is an occurrence's content: its exception's, else the
// master's moved to original.
func (ev *fakeEvent) occurrenceBody(original time.Time) eventBody {
	if b := ev.exceptions[original.Unix()]; b != nil {
		return *b
	}
	b := ev.eventBody
	d := ev.end.Sub(ev.start)
	b.start, b.end = original, original.Add(d)
	if ev.allDay {
		b.start = time.Date(original.Year(), original.Month(), original.Day(), 0, 0, 0, 0, time.UTC)
		b.end = b.start.Add(d)
	}
	return b
}

// instances are the entries of ev that overlap [from, to): the event
// itself, or its occurrences and exceptions.
func (ev *fakeEvent) instances(from, to time.Time) []instance {
	overlaps := func(b eventBody) bool { return b.start.Before(to) && b.end.After(from) || b.start.Equal(from) }
	if ev.recurrence == nil {
		if overlaps(ev.eventBody) {
			return []instance{{id: ev.id, typ: "singleInstance", ev: ev, body: ev.eventBody, version: ev.change}}
		}
		return nil
	}
	var out []instance
	// An exception may have moved far from its original start: look a
	// year past to.
	for _, o := range ev.originals(to.AddDate(1, 0, 0)) {
		if ev.deleted[o.Unix()] {
			continue
		}
		b := ev.occurrenceBody(o)
		if !overlaps(b) {
			continue
		}
		typ := "occurrence"
		if ev.exceptions[o.Unix()] != nil {
			typ = "exception"
		}
		out = append(out, instance{id: occurrenceID(ev.id, o), typ: typ, ev: ev, original: o, body: b, version: ev.change})
	}
	return out
}

// view is the calendar view of cal over [from, to), by id.
func (s *calStore) view(cal string, from, to time.Time) map[string]instance {
	out := map[string]instance{}
	for _, ev := range s.events {
		if ev.calendar != cal {
			continue
		}
		for _, in := range ev.instances(from, to) {
			out[in.id] = in
		}
	}
	return out
}

// --- HTTP ---

var calendarNotFound = func(w http.ResponseWriter) {
	graphError(w, http.StatusNotFound, "ErrorItemNotFound", "The specified object was not found in the store.")
}

// serveCalendar answers the calendar paths (after /v1.0/me/).
func (g *Graph) serveCalendar(w http.ResponseWriter, r *http.Request, path string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.calendar()
	seg := strings.Split(strings.Trim(path, "/"), "/")
	for i := range seg {
		if i%2 == 0 || seg[0] == "calendar" {
			seg[i] = strings.ToLower(seg[i])
		}
	}
	if seg[0] == "calendar" { // the default calendar: calendars/{id}
		seg = append([]string{"calendars", s.defaultCalendar().id}, seg[1:]...)
	}
	tz := strings.Trim(prefer(r)["outlook.timezone"], `"`)
	if tz == "" {
		tz = "UTC"
	}
	if _, ok := loadTZ(tz); !ok {
		graphError(w, http.StatusBadRequest, "TimeZoneNotSupportedException", "The time zone is not supported.")
		return
	}
	switch {
	case seg[0] == "calendars" && len(seg) == 1 && r.Method == http.MethodGet:
		var list []map[string]any
		for _, c := range s.calendars {
			list = append(list, calendarJSON(c))
		}
		writeGraphJSON(w, map[string]any{"value": list})
	case seg[0] == "calendars" && len(seg) >= 2:
		c := s.findCalendar(seg[1])
		if c == nil {
			calendarNotFound(w)
			return
		}
		switch {
		case len(seg) == 2 && r.Method == http.MethodGet:
			writeGraphJSON(w, calendarJSON(c))
		case len(seg) == 3 && seg[2] == "events" && r.Method == http.MethodGet:
			g.listEvents(w, r, c, tz)
		case len(seg) == 3 && seg[2] == "events" && r.Method == http.MethodPost:
			g.createEvent(w, r, c, tz)
		case len(seg) == 4 && seg[2] == "calendarview" && strings.EqualFold(seg[3], "delta") && r.Method == http.MethodGet:
			g.calendarDelta(w, r, c, tz)
		default:
			graphError(w, http.StatusBadRequest, "invalidRequest", "Unsupported request.")
		}
	case (seg[0] == "calendarview") && len(seg) == 2 && strings.EqualFold(seg[1], "delta") && r.Method == http.MethodGet:
		g.calendarDelta(w, r, s.defaultCalendar(), tz)
	case seg[0] == "events" && len(seg) == 1 && r.Method == http.MethodGet:
		g.listEvents(w, r, s.defaultCalendar(), tz)
	case seg[0] == "events" && len(seg) == 1 && r.Method == http.MethodPost:
		g.createEvent(w, r, s.defaultCalendar(), tz)
	case seg[0] == "events" && len(seg) >= 2:
		g.serveEvent(w, r, seg, tz)
	default:
		graphError(w, http.StatusBadRequest, "invalidRequest", "Unsupported request.")
	}
}

func calendarJSON(c *fakeCalendar) map[string]any {
	addr := c.owner
	if addr == "me" {
		addr = "me@contoso.example"
	}
	return map[string]any{"id": c.id, "name": c.name, "isDefaultCalendar": c.isDefault, "canEdit": c.canEdit,
		"canShare": c.canEdit, "owner": map[string]any{"name": addr, "address": addr}, "changeKey": "nfZy"}
}

// serveEvent answers events/{id}[/instances].
func (g *Graph) serveEvent(w http.ResponseWriter, r *http.Request, seg []string, tz string) {
	s := g.calendar()
	id := seg[1]
	ev := s.events[id]
	var original time.Time
	isOcc := false
	if ev == nil {
		m, o, ok := parseOccurrenceID(id)
		if ev = s.events[m]; !ok || ev == nil || ev.recurrence == nil || ev.deleted[o] || !slices.ContainsFunc(ev.originals(time.Unix(o, 0)), func(t time.Time) bool { return t.Unix() == o }) {
			calendarNotFound(w)
			return
		}
		original, isOcc = time.Unix(o, 0), true
	}
	expand := expandedProps(r)
	switch {
	case len(seg) == 2 && r.Method == http.MethodGet:
		if isOcc {
			writeGraphJSON(w, g.instanceJSON(instanceOf(ev, original), tz, expand))
			return
		}
		writeGraphJSON(w, g.eventJSON(ev, tz, expand))
	case len(seg) == 3 && strings.EqualFold(seg[2], "instances") && r.Method == http.MethodGet && !isOcc:
		from, err1 := time.Parse(time.RFC3339, r.URL.Query().Get("startDateTime"))
		to, err2 := time.Parse(time.RFC3339, r.URL.Query().Get("endDateTime"))
		if err1 != nil || err2 != nil {
			graphError(w, http.StatusBadRequest, "ErrorInvalidParameter", "startDateTime and endDateTime are required.")
			return
		}
		list := ev.instances(from, to)
		sort.Slice(list, func(i, j int) bool { return list[i].body.start.Before(list[j].body.start) })
		value := []map[string]any{}
		for _, in := range list {
			value = append(value, g.instanceJSON(in, tz, nil))
		}
		writeGraphJSON(w, map[string]any{"value": value})
	case len(seg) == 2 && r.Method == http.MethodPatch:
		if !ifMatch(w, r, etagOf(ev.change)) {
			return
		}
		var body map[string]json.RawMessage
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
			graphError(w, http.StatusBadRequest, "invalidRequest", "The body is not JSON.")
			return
		}
		if isOcc {
			b := ev.occurrenceBody(original)
			if err := applyEvent(&b, body); err != nil {
				graphError(w, http.StatusBadRequest, "invalidRequest", err.Error())
				return
			}
			ev.exceptions[original.Unix()] = &b
			s.touch(ev, g.now())
			writeGraphJSON(w, g.instanceJSON(instanceOf(ev, original), tz, nil))
			return
		}
		b := ev.eventBody
		if err := applyEvent(&b, body); err != nil {
			graphError(w, http.StatusBadRequest, "invalidRequest", err.Error())
			return
		}
		if raw, ok := body["recurrence"]; ok {
			if string(raw) == "null" {
				ev.recurrence, ev.typ = nil, "singleInstance"
			} else {
				var rec fakeRecurrence
				if err := checkRecurrence(raw, &rec); err != nil {
					graphError(w, http.StatusBadRequest, "invalidRequest", err.Error())
					return
				}
				ev.recurrence, ev.typ = &rec, "seriesMaster"
			}
			clear(ev.exceptions)
			clear(ev.deleted)
		}
		if err := applyProps(ev, body); err != nil {
			graphError(w, http.StatusBadRequest, "invalidRequest", err.Error())
			return
		}
		ev.eventBody = b
		s.touch(ev, g.now())
		writeGraphJSON(w, g.eventJSON(ev, tz, nil))
	case len(seg) == 2 && r.Method == http.MethodDelete:
		if !ifMatch(w, r, etagOf(ev.change)) {
			return
		}
		if isOcc {
			ev.deleted[original.Unix()] = true
			delete(ev.exceptions, original.Unix())
			s.removals = append(s.removals, calRemoval{id: id, cal: ev.calendar, seq: s.seq + 1})
			s.touch(ev, g.now())
		} else {
			s.deleteEvent(ev.id, g.now())
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		graphError(w, http.StatusMethodNotAllowed, "invalidRequest", "Unsupported method.")
	}
}

func instanceOf(ev *fakeEvent, original time.Time) instance {
	typ := "occurrence"
	if ev.exceptions[original.Unix()] != nil {
		typ = "exception"
	}
	return instance{id: occurrenceID(ev.id, original), typ: typ, ev: ev, original: original, body: ev.occurrenceBody(original), version: ev.change}
}

func etagOf(change uint64) string { return fmt.Sprintf(`W/"DwAAABYAAA%d"`, change) }

// dateTimeTZ is Graph's dateTimeTimeZone.
type dateTimeTZ struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone"`
}

func (d dateTimeTZ) instant() (time.Time, error) {
	loc, ok := loadTZ(d.TimeZone)
	if !ok {
		return time.Time{}, fmt.Errorf("unknown time zone %q", d.TimeZone)
	}
	s := strings.TrimSuffix(d.DateTime, "Z")
	t, err := time.ParseInLocation("2006-01-02T15:04:05.9999999", s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("dateTime %q is not a date and time", d.DateTime)
	}
	return t, nil
}

func writeDT(t time.Time, tz string, allDay bool) map[string]any {
	if !allDay {
		loc, _ := loadTZ(tz)
		t = t.In(loc)
	}
	return map[string]any{"dateTime": t.Format("2006-01-02T15:04:05.0000000"), "timeZone": tz}
}

// applyEvent applies the properties of a POST or PATCH body to b.
func applyEvent(b *eventBody, body map[string]json.RawMessage) error {
	str := func(k string, dst *string) error {
		if raw, ok := body[k]; ok {
			return json.Unmarshal(raw, dst)
		}
		return nil
	}
	if err := str("subject", &b.subject); err != nil {
		return fmt.Errorf("subject: %v", err)
	}
	if raw, ok := body["body"]; ok {
		var v struct{ ContentType, Content string }
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("body: %v", err)
		}
		b.bodyType, b.body = strings.ToLower(v.ContentType), v.Content
		if b.bodyType == "" {
			b.bodyType = "text"
		}
	}
	if raw, ok := body["location"]; ok {
		var v struct{ DisplayName string }
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("location: %v", err)
		}
		b.location = v.DisplayName
	}
	if raw, ok := body["isAllDay"]; ok {
		if err := json.Unmarshal(raw, &b.allDay); err != nil {
			return fmt.Errorf("isAllDay: %v", err)
		}
	}
	if raw, ok := body["isCancelled"]; ok {
		if err := json.Unmarshal(raw, &b.cancelled); err != nil {
			return fmt.Errorf("isCancelled: %v", err)
		}
	}
	if raw, ok := body["categories"]; ok {
		b.categories = nil
		if err := json.Unmarshal(raw, &b.categories); err != nil {
			return fmt.Errorf("categories: %v", err)
		}
	}
	if raw, ok := body["attendees"]; ok {
		var v []struct {
			EmailAddress struct{ Address string } `json:"emailAddress"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return fmt.Errorf("attendees: %v", err)
		}
		if len(v) > 500 {
			return fmt.Errorf("attendees: at most 500")
		}
		b.attendees = nil
		for _, a := range v {
			b.attendees = append(b.attendees, a.EmailAddress.Address)
		}
	}
	for _, t := range []struct {
		key string
		at  *time.Time
		tz  *string
	}{{"start", &b.start, &b.startTZ}, {"end", &b.end, &b.endTZ}} {
		raw, ok := body[t.key]
		if !ok {
			continue
		}
		var d dateTimeTZ
		if err := json.Unmarshal(raw, &d); err != nil {
			return fmt.Errorf("%s: %v", t.key, err)
		}
		at, err := d.instant()
		if err != nil {
			return fmt.Errorf("%s: %v", t.key, err)
		}
		*t.at, *t.tz = at, d.TimeZone
	}
	if b.allDay {
		for _, t := range []*time.Time{&b.start, &b.end} {
			// All-day times are dates: midnight, whatever the zone.
			if t.Hour() != 0 || t.Minute() != 0 || t.Second() != 0 {
				return fmt.Errorf("an all-day event must start and end at midnight")
			}
			*t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		}
	}
	if b.end.Before(b.start) {
		return fmt.Errorf("the end is before the start")
	}
	return nil
}

func applyProps(ev *fakeEvent, body map[string]json.RawMessage) error {
	raw, ok := body["singleValueExtendedProperties"]
	if !ok {
		return nil
	}
	var v []struct{ ID, Value string }
	if err := json.Unmarshal(raw, &v); err != nil {
		return fmt.Errorf("singleValueExtendedProperties: %v", err)
	}
	for _, p := range v {
		if p.ID == "" {
			return fmt.Errorf("singleValueExtendedProperties: id is required")
		}
		ev.props[p.ID] = p.Value
	}
	return nil
}

// createEvent answers POST …/events. A transactionId already used answers
// the event it created, not a second one (§8.2).
func (g *Graph) createEvent(w http.ResponseWriter, r *http.Request, c *fakeCalendar, tz string) {
	s := g.calendar()
	if !c.canEdit {
		graphError(w, http.StatusForbidden, "ErrorAccessDenied", "Access is denied.")
		return
	}
	var body map[string]json.RawMessage
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&body); err != nil {
		graphError(w, http.StatusBadRequest, "invalidRequest", "The body is not JSON.")
		return
	}
	var txn string
	if raw, ok := body["transactionId"]; ok {
		json.Unmarshal(raw, &txn)
	}
	if id, ok := s.byTxn[txn]; ok && txn != "" {
		if ev := s.events[id]; ev != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(g.eventJSON(ev, tz, nil))
			return
		}
	}
	b := eventBody{bodyType: "text", startTZ: "UTC", endTZ: "UTC"}
	if _, ok := body["start"]; !ok {
		graphError(w, http.StatusBadRequest, "ErrorInvalidRequest", "start is required.")
		return
	}
	if err := applyEvent(&b, body); err != nil {
		graphError(w, http.StatusBadRequest, "invalidRequest", err.Error())
		return
	}
	rec := ""
	if raw, ok := body["recurrence"]; ok && string(raw) != "null" {
		rec = string(raw)
	}
	ev, err := g.newEvent(c.id, b, rec, nil)
	if err != nil {
		graphError(w, http.StatusBadRequest, "invalidRequest", err.Error())
		return
	}
	if err := applyProps(ev, body); err != nil {
		delete(s.events, ev.id)
		graphError(w, http.StatusBadRequest, "invalidRequest", err.Error())
		return
	}
	if txn != "" {
		ev.transactionID = txn
		s.byTxn[txn] = ev.id
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(g.eventJSON(ev, tz, nil))
}

var (
	anyPropFilter = regexp.MustCompile(`^singleValueExtendedProperties/Any\(ep: ep/id eq '([^']*)' and ep/value eq '((?:[^']|'')*)'\)$`)
	expandFilter  = regexp.MustCompile(`^singleValueExtendedProperties\(\$filter=id eq '([^']*)'\)$`)
)

// expandedProps is the extended property id a $expand asks for (§7.3).
func expandedProps(r *http.Request) []string {
	if m := expandFilter.FindStringSubmatch(r.URL.Query().Get("$expand")); m != nil {
		return []string{m[1]}
	}
	return nil
}

// listEvents answers GET …/events: the calendar's single events and
// series masters, optionally filtered on an extended property (§7.3).
func (g *Graph) listEvents(w http.ResponseWriter, r *http.Request, c *fakeCalendar, tz string) {
	s := g.calendar()
	q := r.URL.Query()
	var propID, propValue string
	if f := q.Get("$filter"); f != "" {
		m := anyPropFilter.FindStringSubmatch(f)
		if m == nil {
			graphError(w, http.StatusBadRequest, "ErrorInvalidUrlQueryFilter", "The filter is not supported.")
			return
		}
		propID, propValue = m[1], strings.ReplaceAll(m[2], "''", "'")
	}
	var list []*fakeEvent
	for _, ev := range s.events {
		if ev.calendar == c.id && (propID == "" || ev.props[propID] == propValue && ev.props[propID] != "") {
			list = append(list, ev)
		}
	}
	sort.Slice(list, func(i, j int) bool {
		return list[i].created.Before(list[j].created) || list[i].created.Equal(list[j].created) && list[i].id < list[j].id
	})
	value := []map[string]any{}
	for _, ev := range list {
		value = append(value, g.eventJSON(ev, tz, expandedProps(r)))
	}
	writeGraphJSON(w, map[string]any{"value": value})
}

// common writes the properties every kind of event has.
func (g *Graph) common(b eventBody, tz string) map[string]any {
	atts := []map[string]any{}
	for _, a := range b.attendees {
		atts = append(atts, map[string]any{"type": "required", "status": map[string]any{"response": "none"},
			"emailAddress": map[string]any{"address": a, "name": a}})
	}
	cats := b.categories
	if cats == nil {
		cats = []string{}
	}
	return map[string]any{
		"subject": b.subject, "body": map[string]any{"contentType": b.bodyType, "content": b.body},
		"start": writeDT(b.start, tz, b.allDay), "end": writeDT(b.end, tz, b.allDay),
		"originalStartTimeZone": b.startTZ, "originalEndTimeZone": b.endTZ,
		"isAllDay": b.allDay, "isCancelled": b.cancelled, "location": map[string]any{"displayName": b.location},
		"categories": cats, "attendees": atts, "showAs": "busy", "isOrganizer": true,
		"organizer": map[string]any{"emailAddress": map[string]any{"address": "me@contoso.example"}},
	}
}

func (g *Graph) eventJSON(ev *fakeEvent, tz string, expand []string) map[string]any {
	out := g.common(ev.eventBody, tz)
	out["@odata.etag"] = etagOf(ev.change)
	out["id"], out["type"], out["changeKey"] = ev.id, ev.typ, fmt.Sprintf("DwAAABYAAA%d", ev.change)
	out["iCalUId"] = ev.iCalUID
	out["createdDateTime"] = ev.created.Format(time.RFC3339Nano)
	out["lastModifiedDateTime"] = ev.modified.Format(time.RFC3339Nano)
	out["seriesMasterId"] = nil
	out["recurrence"] = nil
	if ev.recurrence != nil {
		out["recurrence"] = ev.recurrence
	}
	if ev.transactionID != "" {
		out["transactionId"] = ev.transactionID
	}
	if len(expand) > 0 {
		var props []map[string]any
		for _, id := range expand {
			if v, ok := ev.props[id]; ok {
				props = append(props, map[string]any{"id": id, "value": v})
			}
		}
		if props != nil {
			out["singleValueExtendedProperties"] = props
		}
	}
	return out
}

func (g *Graph) instanceJSON(in instance, tz string, expand []string) map[string]any {
	if in.typ == "singleInstance" {
		return g.eventJSON(in.ev, tz, expand)
	}
	out := g.common(in.body, tz)
	out["@odata.etag"] = etagOf(in.version)
	out["id"], out["type"], out["changeKey"] = in.id, in.typ, fmt.Sprintf("DwAAABYAAA%d", in.version)
	out["iCalUId"] = in.ev.iCalUID + strconv.FormatInt(in.original.Unix(), 16)
	out["seriesMasterId"] = in.ev.id
	out["originalStart"] = in.original.UTC().Format(time.RFC3339)
	out["recurrence"] = nil
	out["lastModifiedDateTime"] = in.ev.modified.Format(time.RFC3339Nano)
	return out
}

// calendarDelta answers one page of a calendar's calendarView delta
// (§8.1): a new round from the first request (startDateTime and
// endDateTime required) or a $deltatoken, the next page from a
// $skiptoken. The window and options are in the token.
func (g *Graph) calendarDelta(w http.ResponseWriter, r *http.Request, c *fakeCalendar, tz string) {
	s := g.calendar()
	q := r.URL.Query()
	for _, k := range []string{"$select", "$expand", "$filter", "$orderby", "$search"} {
		if q.Has(k) {
			graphError(w, http.StatusBadRequest, "ErrorInvalidUrlQuery", "The query parameter "+k+" is not supported with delta.")
			return
		}
	}
	base := scheme(r) + "://" + r.Host + "/v1.0/me/calendars/" + url.PathEscape(c.id) + "/calendarView/delta?"
	var round *calToken
	if key := q.Get("$skiptoken") + q.Get("$deltatoken"); key != "" {
		t := s.tokens[key]
		switch {
		case t != nil && t.dead && s.location:
			w.Header().Set("Location", base+"startDateTime="+url.QueryEscape(t.from.Format(time.RFC3339))+
				"&endDateTime="+url.QueryEscape(t.to.Format(time.RFC3339))+"&$deltatoken=")
			graphError(w, http.StatusGone, "resyncRequired", "The sync state was reset; resync.")
			return
		case t == nil || t.dead:
			graphError(w, http.StatusGone, "syncStateNotFound", "The sync state generation is not found.")
			return
		case t.cal != c.id:
			graphError(w, http.StatusBadRequest, "invalidRequest", "The token belongs to another calendar.")
			return
		}
		if q.Has("$skiptoken") {
			round = t
		} else {
			round = g.calendarRound(c, t)
		}
	} else {
		from, err1 := time.Parse(time.RFC3339, q.Get("startDateTime"))
		to, err2 := time.Parse(time.RFC3339, q.Get("endDateTime"))
		if err1 != nil || err2 != nil || !to.After(from) {
			graphError(w, http.StatusBadRequest, "ErrorInvalidParameter", "startDateTime and endDateTime are required.")
			return
		}
		size := 0
		if v, ok := prefer(r)["odata.maxpagesize"]; ok {
			size, _ = strconv.Atoi(v)
		}
		if size <= 0 || size > 1000 {
			size = 100
		}
		round = g.calendarRound(c, &calToken{cal: c.id, from: from, to: to, tz: tz, pageSize: size})
	}
	n := min(round.pageSize, len(round.rest))
	page := map[string]any{"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(event)", "value": round.rest[:n]}
	next := &calToken{cal: c.id, from: round.from, to: round.to, tz: round.tz, pageSize: round.pageSize}
	key := randomID()
	s.tokens[key] = next
	if n < len(round.rest) {
		next.rest, next.end, next.endSeq = round.rest[n:], round.end, round.endSeq
		page["@odata.nextLink"] = base + "$skiptoken=" + url.QueryEscape(key)
	} else {
		next.seen, next.seq = round.end, round.endSeq
		page["@odata.deltaLink"] = base + "$deltatoken=" + url.QueryEscape(key)
	}
	writeGraphJSON(w, page)
}

// calendarRound lists what changed in the view since t (everything when
// t has seen nothing): new and changed instances in full, @removed for
// the ones that left the view, and for events that changed or were
// deleted outside the window (§8.1: the client filters by its window).
func (g *Graph) calendarRound(c *fakeCalendar, t *calToken) *calToken {
	s := g.calendar()
	view := s.view(c.id, t.from, t.to)
	round := &calToken{cal: c.id, from: t.from, to: t.to, tz: t.tz, pageSize: t.pageSize, end: map[string]uint64{}, endSeq: s.seq}
	var ins []instance
	for id, in := range view {
		round.end[id] = in.version
		if v, ok := t.seen[id]; !ok || v != in.version {
			ins = append(ins, in)
		}
	}
	sort.Slice(ins, func(i, j int) bool {
		return ins[i].body.start.Before(ins[j].body.start) || ins[i].body.start.Equal(ins[j].body.start) && ins[i].id < ins[j].id
	})
	for _, in := range ins {
		round.rest = append(round.rest, g.instanceJSON(in, t.tz, nil))
	}
	if t.seen == nil {
		return round
	}
	removed := func(id string) map[string]any {
		return map[string]any{"@odata.type": "#microsoft.graph.event", "id": id, "@removed": map[string]any{"reason": "deleted"}}
	}
	var gone []string
	for id := range t.seen {
		if _, ok := view[id]; !ok {
			gone = append(gone, id)
		}
	}
	for _, ev := range s.events {
		if ev.calendar == c.id && ev.change > t.seq && len(ev.instances(t.from, t.to)) == 0 && t.seen[ev.id] == 0 {
			gone = append(gone, ev.id)
		}
	}
	for _, rm := range s.removals {
		if rm.cal == c.id && rm.seq > t.seq && t.seen[rm.id] == 0 {
			gone = append(gone, rm.id)
		}
	}
	slices.Sort(gone)
	for _, id := range slices.Compact(gone) {
		round.rest = append(round.rest, removed(id))
	}
	return round
}

// Occurrences returns the original starts of the occurrences of series
// master (exceptions included, deleted ones not) that overlap [from, to),
// as the fake expands its pattern.
func (g *Graph) Occurrences(master string, from, to time.Time) []time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	ev := g.calendar().events[master]
	var out []time.Time
	for _, in := range ev.instances(from, to) {
		out = append(out, in.original)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}
