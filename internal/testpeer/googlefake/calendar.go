package googlefake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Calendar API (§11) under calendar/v3: the user's calendars, each with
// its events. An event is stored as the client wrote it (start, end,
// recurrence lines, texts…) plus what Google sets: id, iCalUID, status,
// etag, updated. Modified or cancelled occurrences of a series are events
// of their own with recurringEventId and originalStartTime, whose id is
// the series' id, "_" and the occurrence's original start in UTC
// ("20240115T080000Z", or "20240115" for an all-day series).

func init() {
	routes = append(routes, route{prefix: "calendar/v3", serve: serveCalendar})
}

// PrimaryCalendar is the id of the user's primary calendar.
const PrimaryCalendar = "user@example.com"

type calState struct {
	seq       int
	next      int
	calendars map[string]*calendar
	forgot    time.Time // sync tokens issued before are refused with 410
}

type calendar struct {
	summary  string
	timeZone string
	primary  bool
	events   map[string]*event
}

type event struct {
	body    map[string]json.RawMessage // without the fields Google sets
	seq     int
	updated time.Time
}

func (a *API) cal() *calState {
	return area(a, "calendar", func() *calState {
		return &calState{calendars: map[string]*calendar{
			PrimaryCalendar: {summary: PrimaryCalendar, timeZone: "Europe/Berlin", primary: true, events: map[string]*event{}},
		}}
	})
}

// AddCalendar adds a secondary calendar.
func (a *API) AddCalendar(id, summary string) {
	s := a.cal()
	a.mu.Lock()
	defer a.mu.Unlock()
	s.calendars[id] = &calendar{summary: summary, timeZone: "UTC", events: map[string]*event{}}
}

// ExpireCalendarTokens makes every Calendar sync token issued so far
// answer 410 fullSyncRequired.
func (a *API) ExpireCalendarTokens() {
	s := a.cal()
	a.mu.Lock()
	defer a.mu.Unlock()
	s.forgot = a.now().Add(time.Nanosecond)
}

func (e *event) str(k string) string {
	var v string
	_ = json.Unmarshal(e.body[k], &v)
	return v
}

func (e *event) etag() string { return `"` + strconv.Itoa(3181000000+e.seq) + `"` }

func (e *event) render() map[string]any {
	out := map[string]any{}
	for k, v := range e.body {
		out[k] = v
	}
	out["kind"] = "calendar#event"
	out["etag"] = e.etag()
	out["updated"] = e.updated.UTC().Format("2006-01-02T15:04:05.000Z")
	return out
}

var eventID = regexp.MustCompile(`^[a-v0-9]+$`)

// calendarOf resolves "primary". Caller holds a.mu.
func (s *calState) calendarOf(id string) *calendar {
	if id == "primary" {
		id = PrimaryCalendar
	}
	return s.calendars[id]
}

func serveCalendar(a *API, w http.ResponseWriter, r *http.Request, path string) {
	if !a.Admit(w, 1) {
		return
	}
	s := a.cal()
	rest := strings.TrimPrefix(path, "calendar/v3/")
	notFound := func() { Error(w, http.StatusNotFound, "notFound", "NOT_FOUND", "Not Found") }
	if rest == "users/me/calendarList" && r.Method == http.MethodGet {
		a.mu.Lock()
		defer a.mu.Unlock()
		var ids []string
		for id := range s.calendars {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		items := []map[string]any{}
		for _, id := range ids {
			c := s.calendars[id]
			items = append(items, map[string]any{"kind": "calendar#calendarListEntry", "id": id, "summary": c.summary,
				"timeZone": c.timeZone, "primary": c.primary, "accessRole": "owner"})
		}
		JSON(w, map[string]any{"kind": "calendar#calendarList", "items": items})
		return
	}
	parts := strings.Split(rest, "/")
	if len(parts) < 3 || parts[0] != "calendars" || parts[2] != "events" || len(parts) > 4 {
		notFound()
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	c := s.calendarOf(parts[1])
	if c == nil {
		notFound()
		return
	}
	if len(parts) == 3 {
		switch r.Method {
		case http.MethodGet:
			a.listEvents(s, c, parts[1], w, r)
		case http.MethodPost:
			a.insertEvent(s, c, w, r)
		default:
			notFound()
		}
		return
	}
	id := parts[3]
	e := c.events[id]
	if e == nil {
		e = a.virtualInstance(c, id)
	}
	if e == nil {
		notFound()
		return
	}
	if m := r.Header.Get("If-Match"); m != "" && r.Method != http.MethodGet && m != e.etag() {
		Error(w, http.StatusPreconditionFailed, "conditionNotMet", "FAILED_PRECONDITION", "Precondition Failed")
		return
	}
	switch r.Method {
	case http.MethodGet:
		JSON(w, e.render())
	case http.MethodDelete:
		if e.str("status") == "cancelled" {
			Error(w, http.StatusGone, "deleted", "FAILED_PRECONDITION", "Resource has been deleted")
			return
		}
		a.cancelLocked(s, c, id, e)
		w.WriteHeader(http.StatusNoContent)
	case http.MethodPut, http.MethodPatch:
		var in map[string]json.RawMessage
		if readBody(r, &in) != nil {
			Error(w, http.StatusBadRequest, "badRequest", "INVALID_ARGUMENT", "Invalid JSON payload")
			return
		}
		body := map[string]json.RawMessage{}
		if r.Method == http.MethodPatch {
			for k, v := range e.body {
				body[k] = v
			}
		} else {
			for _, k := range []string{"id", "iCalUID", "recurringEventId", "originalStartTime", "status"} {
				if v, ok := e.body[k]; ok {
					body[k] = v
				}
			}
		}
		for k, v := range in {
			switch k {
			case "id", "iCalUID", "recurringEventId", "originalStartTime", "etag", "updated", "kind":
				continue
			}
			if string(v) == "null" {
				delete(body, k)
			} else {
				body[k] = v
			}
		}
		if !validTimes(body) {
			Error(w, http.StatusBadRequest, "required", "INVALID_ARGUMENT", "Missing end time.")
			return
		}
		s.seq++
		e.body, e.seq, e.updated = body, s.seq, a.now()
		c.events[id] = e
		JSON(w, e.render())
	default:
		notFound()
	}
}

func validTimes(b map[string]json.RawMessage) bool {
	_, s := b["start"]
	_, e := b["end"]
	return s && e
}

// virtualInstance returns the occurrence id names of a stored series, not
// yet stored as an exception (a write to it stores it), or nil. Caller
// holds a.mu.
func (a *API) virtualInstance(c *calendar, id string) *event {
	i := strings.LastIndexByte(id, '_')
	if i < 0 {
		return nil
	}
	m := c.events[id[:i]]
	if m == nil || m.body["recurrence"] == nil || m.str("status") == "cancelled" {
		return nil
	}
	var start struct{ Date, DateTime, TimeZone string }
	var end struct{ Date, DateTime string }
	_ = json.Unmarshal(m.body["start"], &start)
	_ = json.Unmarshal(m.body["end"], &end)
	stamp := id[i+1:]
	var orig, st, en map[string]string
	if start.Date != "" {
		d, err := time.Parse("20060102", stamp)
		if err != nil {
			return nil
		}
		sd, _ := time.Parse("2006-01-02", start.Date)
		ed, _ := time.Parse("2006-01-02", end.Date)
		orig = map[string]string{"date": d.Format("2006-01-02")}
		st, en = orig, map[string]string{"date": d.Add(ed.Sub(sd)).Format("2006-01-02")}
	} else {
		t, err := time.Parse("20060102T150405Z", stamp)
		if err != nil {
			return nil
		}
		ts, _ := time.Parse(time.RFC3339, start.DateTime)
		te, _ := time.Parse(time.RFC3339, end.DateTime)
		loc := time.UTC
		if l, err := time.LoadLocation(start.TimeZone); err == nil && start.TimeZone != "" {
			loc = l
		}
		orig = map[string]string{"dateTime": t.In(loc).Format(time.RFC3339)}
		if start.TimeZone != "" {
			orig["timeZone"] = start.TimeZone
		}
		st = orig
		en = map[string]string{"dateTime": t.Add(te.Sub(ts)).In(loc).Format(time.RFC3339)}
		if start.TimeZone != "" {
			en["timeZone"] = start.TimeZone
		}
	}
	body := map[string]json.RawMessage{}
	for k, v := range m.body {
		if k != "recurrence" && k != "id" {
			body[k] = v
		}
	}
	set := func(k string, v any) { body[k], _ = json.Marshal(v) }
	set("id", id)
	set("recurringEventId", m.str("id"))
	set("originalStartTime", orig)
	set("start", st)
	set("end", en)
	set("status", "confirmed")
	return &event{body: body, seq: m.seq, updated: m.updated}
}

// cancelLocked cancels an event (and a series' exceptions). Caller holds
// a.mu.
func (a *API) cancelLocked(s *calState, c *calendar, id string, e *event) {
	s.seq++
	e.body["status"] = json.RawMessage(`"cancelled"`)
	e.seq, e.updated = s.seq, a.now()
	c.events[id] = e
	for _, x := range c.events {
		if x.str("recurringEventId") == id && x.str("status") != "cancelled" {
			s.seq++
			x.body["status"] = json.RawMessage(`"cancelled"`)
			x.seq, x.updated = s.seq, a.now()
		}
	}
}

func (a *API) insertEvent(s *calState, c *calendar, w http.ResponseWriter, r *http.Request) {
	var in map[string]json.RawMessage
	if readBody(r, &in) != nil {
		Error(w, http.StatusBadRequest, "badRequest", "INVALID_ARGUMENT", "Invalid JSON payload")
		return
	}
	var id string
	_ = json.Unmarshal(in["id"], &id)
	switch {
	case id == "":
		s.next++
		id = fmt.Sprintf("ev%06d0abc", s.next)
	case len(id) < 5 || len(id) > 1024 || !eventID.MatchString(id):
		Error(w, http.StatusBadRequest, "invalid", "INVALID_ARGUMENT", "Invalid resource id value.")
		return
	case c.events[id] != nil:
		Error(w, http.StatusConflict, "duplicate", "ALREADY_EXISTS", "The requested identifier already exists.")
		return
	}
	body := map[string]json.RawMessage{}
	for k, v := range in {
		switch k {
		case "etag", "updated", "kind", "recurringEventId", "originalStartTime":
			continue
		}
		body[k] = v
	}
	if !validTimes(body) {
		Error(w, http.StatusBadRequest, "required", "INVALID_ARGUMENT", "Missing end time.")
		return
	}
	body["id"], _ = json.Marshal(id)
	if _, ok := body["iCalUID"]; !ok {
		body["iCalUID"], _ = json.Marshal(id + "@google.com")
	}
	if _, ok := body["status"]; !ok {
		body["status"] = json.RawMessage(`"confirmed"`)
	}
	s.seq++
	e := &event{body: body, seq: s.seq, updated: a.now()}
	c.events[id] = e
	JSON(w, e.render())
}

// listEvents is events.list (§11.1) with singleEvents=false.
func (a *API) listEvents(s *calState, c *calendar, calID string, w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	bad := func(msg string) { Error(w, http.StatusBadRequest, "invalid", "INVALID_ARGUMENT", msg) }
	size := 250
	if v := q.Get("maxResults"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			bad("Invalid value for maxResults")
			return
		}
		size = min(n, 2500)
	}
	if q.Get("singleEvents") == "true" {
		bad("singleEvents is not supported by this fake")
		return
	}
	syncTok := q.Get("syncToken")
	if syncTok != "" {
		for _, p := range []string{"iCalUID", "orderBy", "privateExtendedProperty", "q", "sharedExtendedProperty", "timeMin", "timeMax", "updatedMin"} {
			if q.Has(p) {
				bad("Sync token cannot be used with " + p)
				return
			}
		}
		if q.Get("showDeleted") == "false" {
			bad("showDeleted=false cannot be used with a sync token")
			return
		}
	}
	sig := calID + "|" + syncTok + "|" + q.Get("showDeleted") + "|" + q.Get("iCalUID") + "|" + q.Get("privateExtendedProperty")
	since, sync := 0, syncTok != ""
	if sync {
		cur, ok := decodeCursor(syncTok)
		if !ok || cur.Sig != calID {
			Error(w, http.StatusGone, "fullSyncRequired", "FAILED_PRECONDITION", "Sync token is no longer valid, a full sync is required.")
			return
		}
		if time.Unix(0, cur.Issued).Before(s.forgot) {
			Error(w, http.StatusGone, "fullSyncRequired", "FAILED_PRECONDITION", "Sync token is no longer valid, a full sync is required.")
			return
		}
		since = cur.Seq
	}
	off, at := 0, s.seq
	if pt := q.Get("pageToken"); pt != "" {
		cur, ok := decodeCursor(pt)
		if !ok || cur.Sig != sig {
			bad("Invalid page token")
			return
		}
		off, at = cur.Off, cur.Seq
	}
	showDeleted := q.Get("showDeleted") == "true"
	var prop [2]string
	if p := q.Get("privateExtendedProperty"); p != "" {
		k, v, _ := strings.Cut(p, "=")
		prop = [2]string{k, v}
	}
	var ids []string
	for id, e := range c.events {
		switch {
		case sync && e.seq <= since:
			continue
		case !sync && !showDeleted && e.str("status") == "cancelled" && e.str("recurringEventId") == "":
			// Cancelled occurrences of a series stay listed (§11.1).
			continue
		case q.Has("iCalUID") && e.str("iCalUID") != q.Get("iCalUID"):
			continue
		case prop[0] != "" && !hasPrivate(e, prop[0], prop[1]):
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	ids = ids[min(off, len(ids)):]
	out := map[string]any{"kind": "calendar#events", "summary": c.summary, "timeZone": c.timeZone, "accessRole": "owner"}
	if len(ids) > size {
		out["nextPageToken"] = encodeCursor(cursor{Seq: at, Off: off + size, Sig: sig})
		ids = ids[:size]
	} else {
		out["nextSyncToken"] = encodeCursor(cursor{Seq: at, Issued: a.now().UnixNano(), Sig: calID})
	}
	items := []map[string]any{}
	for _, id := range ids {
		items = append(items, c.events[id].render())
	}
	out["items"] = items
	JSON(w, out)
}

func hasPrivate(e *event, k, v string) bool {
	var x struct {
		Private map[string]string `json:"private"`
	}
	_ = json.Unmarshal(e.body["extendedProperties"], &x)
	return x.Private[k] == v
}

// Test side.

// PutEvent stores an event as another client would (creating it when id
// is new), fields as the API shows them.
func (a *API) PutEvent(calID, id string, fields map[string]any) {
	s := a.cal()
	b, _ := json.Marshal(fields)
	var body map[string]json.RawMessage
	_ = json.Unmarshal(b, &body)
	a.mu.Lock()
	defer a.mu.Unlock()
	c := s.calendarOf(calID)
	body["id"], _ = json.Marshal(id)
	if _, ok := body["iCalUID"]; !ok {
		if e := c.events[id]; e != nil {
			body["iCalUID"] = e.body["iCalUID"]
		} else if rid, ok := fields["recurringEventId"].(string); ok && c.events[rid] != nil {
			body["iCalUID"] = c.events[rid].body["iCalUID"]
		} else {
			body["iCalUID"], _ = json.Marshal(id + "@google.com")
		}
	}
	if _, ok := body["status"]; !ok {
		body["status"] = json.RawMessage(`"confirmed"`)
	}
	s.seq++
	c.events[id] = &event{body: body, seq: s.seq, updated: a.now()}
}

// CancelEvent deletes an event (or an occurrence, by its instance id) as
// another client would.
func (a *API) CancelEvent(calID, id string) {
	s := a.cal()
	a.mu.Lock()
	defer a.mu.Unlock()
	c := s.calendarOf(calID)
	e := c.events[id]
	if e == nil {
		e = a.virtualInstance(c, id)
	}
	if e != nil {
		a.cancelLocked(s, c, id, e)
	}
}

// Events returns a calendar's events (cancelled ones included) as the API
// shows them, by id.
func (a *API) Events(calID string) map[string]map[string]any {
	s := a.cal()
	a.mu.Lock()
	defer a.mu.Unlock()
	out := map[string]map[string]any{}
	for id, e := range s.calendarOf(calID).events {
		out[id] = e.render()
	}
	return out
}
