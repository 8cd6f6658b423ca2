package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// "end" is a reserved word in both dialects: it is always quoted.
const eventCols = `id, org_id, owner_id, summary, description, location, start, "end", rrule, exdates, rdates, overrides, attendees, categories, contact_id, custom_fields, created_at, updated_at`

func scanEvent(sc interface{ Scan(...any) error }) (crm.Event, error) {
	var e crm.Event
	var start, end, exdates, rdates, overrides, attendees, categories, custom string
	var contact sql.NullInt64
	var created, updated int64
	if err := sc.Scan(&e.ID, &e.OrgID, &e.OwnerID, &e.Summary, &e.Description, &e.Location, &start, &end, &e.RRule,
		&exdates, &rdates, &overrides, &attendees, &categories, &contact, &custom, &created, &updated); err != nil {
		return e, err
	}
	// All-day is what the start is (a date), not a column of its own.
	e.Start, e.End = crm.When(start), crm.When(end)
	e.AllDay = e.Start.IsDate()
	e.ContactID = fromOptInt(contact)
	e.CreatedAt, e.UpdatedAt = fromMicros(created), fromMicros(updated)
	for _, c := range []struct {
		src string
		dst any
	}{{exdates, &e.ExDates}, {rdates, &e.RDates}, {overrides, &e.Overrides}, {attendees, &e.Attendees}, {categories, &e.Categories}, {custom, &e.CustomFields}} {
		if err := json.Unmarshal([]byte(c.src), c.dst); err != nil {
			return e, err
		}
	}
	// The recurrence lists are optional (nil when empty); the others are
	// never nil, as for contacts.
	if len(e.ExDates) == 0 {
		e.ExDates = nil
	}
	if len(e.RDates) == 0 {
		e.RDates = nil
	}
	if len(e.Overrides) == 0 {
		e.Overrides = nil
	}
	if e.Attendees == nil {
		e.Attendees = []string{}
	}
	if e.Categories == nil {
		e.Categories = []string{}
	}
	if e.CustomFields == nil {
		e.CustomFields = map[string]string{}
	}
	return e, nil
}

// eventRow is what is written of an event besides its plain columns.
type eventRow struct {
	startAt                                                   int64
	seriesEndAt                                               any // int64 or nil
	exdates, rdates, overrides, attendees, categories, custom string
}

// prepareEvent fills e's derived and default values (AllDay, empty
// collections, normalized categories) and computes its row.
func prepareEvent(e *crm.Event) (eventRow, error) {
	var r eventRow
	e.AllDay = e.Start.IsDate()
	if e.Attendees == nil {
		e.Attendees = []string{}
	}
	e.Categories = normCategories(e.Categories)
	if e.CustomFields == nil {
		e.CustomFields = map[string]string{}
	}
	startAt, seriesEnd, err := eventSpan(*e)
	if err != nil {
		return r, err
	}
	r.startAt, r.seriesEndAt = micros(startAt), nil
	if seriesEnd != nil {
		r.seriesEndAt = micros(*seriesEnd)
	}
	r.exdates, r.rdates, r.overrides = jsonList(e.ExDates), jsonList(e.RDates), jsonList(e.Overrides)
	r.attendees, r.categories = jsonList(e.Attendees), jsonList(e.Categories)
	m, _ := json.Marshal(e.CustomFields)
	r.custom = string(m)
	return r, nil
}

// eventSpan returns the instants an event's occurrences lie within, for
// range queries: from the first start to the end of the series (nil when
// unknown, which matches every range after the start).
//
// Dates count as midnight UTC and floating times as UTC (a floating event
// is then off by the viewer's UTC offset, at most 14 hours). Without an
// end, an all-day event lasts one day and a timed one no time (RFC 5545).
//
// The series ends with the last occurrence: the event's own end for a
// single event; for a rule with UNTIL, the UNTIL instant plus the event's
// duration (a date UNTIL counting to the end of its day for a timed event).
// A rule with COUNT (and no UNTIL) or neither is taken as open-ended:
// finding its last occurrence would need the whole RFC 5545 expansion, and
// an event listed in a range it has no occurrence in is harmless where one
// left out is not. RDATEs and overrides moved elsewhere widen the span.
func eventSpan(e crm.Event) (start time.Time, seriesEnd *time.Time, err error) {
	start, err = e.Start.Time(nil)
	if err != nil {
		return start, nil, &store.FieldError{Field: "start", Code: "invalid", Message: err.Error()}
	}
	end := start
	switch {
	case e.End != "":
		if end, err = e.End.Time(nil); err != nil {
			return start, nil, &store.FieldError{Field: "end", Code: "invalid", Message: err.Error()}
		}
	case e.Start.IsDate():
		end = start.AddDate(0, 0, 1)
	}
	dur := end.Sub(start)
	if dur < 0 {
		dur = 0
	}
	first, last := start, start.Add(dur)
	widen := func(s, en time.Time) {
		if s.Before(first) {
			first = s
		}
		if en.After(last) {
			last = en
		}
	}
	// Lists are not refused for a value that is not a time (they hold no
	// occurrence then), only left out of the span.
	for _, d := range e.RDates {
		if t, err := d.Time(nil); err == nil {
			widen(t, t.Add(dur))
		}
	}
	for _, o := range e.Overrides {
		if o.Cancelled {
			continue
		}
		s := o.Start
		if s == "" {
			s = o.RecurrenceID
		}
		st, err := s.Time(nil)
		if err != nil {
			continue
		}
		en := st.Add(dur)
		if o.End != "" {
			if t, err := o.End.Time(nil); err == nil && t.After(st) {
				en = t
			}
		}
		widen(st, en)
	}
	if e.RRule != "" {
		until, ok := rruleUntil(e.RRule, start.Location(), e.Start.IsDate())
		if !ok {
			return first, nil, nil
		}
		widen(until, until.Add(dur))
	}
	return first, &last, nil
}

// rruleUntil returns the UNTIL of an RFC 5545 recurrence rule, ok false
// when it has none (COUNT or open-ended) or one that is not a date or a
// date-time. A local date-time is in loc, the zone of the event's start. A
// date is its midnight for an all-day event and the end of its day (in
// loc) otherwise, since a timed occurrence that day may still start.
func rruleUntil(rule string, loc *time.Location, allDay bool) (time.Time, bool) {
	if len(rule) >= 6 && strings.EqualFold(rule[:6], "RRULE:") {
		rule = rule[6:]
	}
	for _, part := range strings.Split(rule, ";") {
		k, val, found := strings.Cut(part, "=")
		if !found || !strings.EqualFold(strings.TrimSpace(k), "UNTIL") {
			continue
		}
		val = strings.ToUpper(strings.TrimSpace(val))
		switch len(val) {
		case len("20060102"):
			d, err := time.ParseInLocation("20060102", val, loc)
			if err != nil {
				return time.Time{}, false
			}
			if !allDay {
				d = d.AddDate(0, 0, 1)
			}
			return d, true
		case len("20060102T150405"):
			t, err := time.ParseInLocation("20060102T150405", val, loc)
			return t, err == nil
		case len("20060102T150405Z"):
			t, err := time.Parse("20060102T150405Z", val)
			return t, err == nil
		}
		return time.Time{}, false
	}
	return time.Time{}, false
}

// CreateEvent stores a new event.
func (db *DB) CreateEvent(ctx context.Context, v crm.Viewer, e crm.Event) (crm.Event, error) {
	var out crm.Event
	err := db.tx(ctx, func(tx *sql.Tx) (err error) {
		out, err = db.createEventTx(ctx, tx, v, byUser(v), e)
		return err
	})
	return out, err
}

// createEventTx is CreateEvent inside tx (also the PIM sync's writes).
// a is who makes the change, for the record's history.
func (db *DB) createEventTx(ctx context.Context, tx *sql.Tx, v crm.Viewer, a author, e crm.Event) (crm.Event, error) {
	now := db.now()
	e.OrgID, e.CreatedAt, e.UpdatedAt = v.OrgID, now, now
	r, err := prepareEvent(&e)
	if err != nil {
		return e, err
	}
	if err := db.checkRecordRefs(ctx, tx, v, e.OwnerID, 0, e.ContactID, nil, true); err != nil {
		return e, err
	}
	err = tx.QueryRowContext(ctx, db.q(`INSERT INTO events (org_id, owner_id, summary, description, location, start, "end", start_at, series_end_at,
		rrule, exdates, rdates, overrides, attendees, categories, contact_id, custom_fields, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`),
		e.OrgID, e.OwnerID, e.Summary, e.Description, e.Location, string(e.Start), string(e.End), r.startAt, r.seriesEndAt,
		e.RRule, r.exdates, r.rdates, r.overrides, r.attendees, r.categories, optInt(e.ContactID), r.custom, micros(now), micros(now)).Scan(&e.ID)
	if err != nil {
		return e, err
	}
	return e, db.logCreate(ctx, tx, recordRef{e.OrgID, store.KindEvent, e.ID, e.OwnerID}, a)
}

func (db *DB) getEvent(ctx context.Context, q queryer, v crm.Viewer, id int64, lock string) (crm.Event, error) {
	e, err := getVisible(ctx, db, q, "events", eventCols, v, id, lock, scanEvent)
	return e, err
}

// GetEvent returns an event v may see.
func (db *DB) GetEvent(ctx context.Context, v crm.Viewer, id int64) (crm.Event, error) {
	return db.getEvent(ctx, db.r, v, id, "")
}

// UpdateEvent changes an event in one transaction.
func (db *DB) UpdateEvent(ctx context.Context, v crm.Viewer, id int64, apply func(*crm.Event) error) (crm.Event, error) {
	var out crm.Event
	err := db.tx(ctx, func(tx *sql.Tx) (err error) {
		out, err = db.updateEventTx(ctx, tx, v, byUser(v), id, apply)
		return err
	})
	return out, err
}

// updateEventTx is UpdateEvent inside tx (also the PIM sync's writes): it
// reads the event with the dialect's row lock, lets apply change it and
// writes it back.
func (db *DB) updateEventTx(ctx context.Context, tx *sql.Tx, v crm.Viewer, a author, id int64, apply func(*crm.Event) error) (crm.Event, error) {
	old, err := db.getEvent(ctx, tx, v, id, db.d.ForUpdate)
	if err != nil {
		return old, err
	}
	e := old
	e.ExDates = append([]crm.When(nil), old.ExDates...)
	e.RDates = append([]crm.When(nil), old.RDates...)
	e.Overrides = append([]crm.EventOverride(nil), old.Overrides...)
	e.Attendees = append([]string(nil), old.Attendees...)
	e.Categories = append([]string(nil), old.Categories...)
	e.ContactID = copyOptInt(old.ContactID)
	e.CustomFields = copyMap(old.CustomFields)
	if err := apply(&e); err != nil {
		return old, err
	}
	e.ID, e.OrgID, e.CreatedAt = id, v.OrgID, old.CreatedAt
	r, err := prepareEvent(&e)
	if err != nil {
		return old, err
	}
	if err := db.checkRecordRefs(ctx, tx, v, e.OwnerID, old.OwnerID, e.ContactID, old.ContactID, false); err != nil {
		return old, err
	}
	e.UpdatedAt = db.now()
	if _, err := tx.ExecContext(ctx, db.q(`UPDATE events SET owner_id = ?, summary = ?, description = ?, location = ?, start = ?, "end" = ?,
		start_at = ?, series_end_at = ?, rrule = ?, exdates = ?, rdates = ?, overrides = ?, attendees = ?, categories = ?, contact_id = ?,
		custom_fields = ?, updated_at = ? WHERE id = ?`),
		e.OwnerID, e.Summary, e.Description, e.Location, string(e.Start), string(e.End),
		r.startAt, r.seriesEndAt, e.RRule, r.exdates, r.rdates, r.overrides, r.attendees, r.categories, optInt(e.ContactID),
		r.custom, micros(e.UpdatedAt), id); err != nil {
		return old, err
	}
	return e, db.logUpdate(ctx, tx, recordRef{e.OrgID, store.KindEvent, e.ID, e.OwnerID}, a, old, e)
}

// DeleteEvent removes an event.
func (db *DB) DeleteEvent(ctx context.Context, v crm.Viewer, id int64) error {
	return db.deleteVisible(ctx, v, store.KindEvent, id, "")
}

// ListEvents pages through the events v may see, by id.
func (db *DB) ListEvents(ctx context.Context, v crm.Viewer, f store.EventFilter) (store.Page[crm.Event], error) {
	var w where
	visible(&w, v)
	if f.Q != "" {
		w.add(`lower(summary) LIKE ? ESCAPE '\'`, likePattern(f.Q))
	}
	if f.OwnerID != nil {
		w.add(`owner_id = ?`, *f.OwnerID)
	}
	if f.ContactID != nil {
		w.add(`contact_id = ?`, *f.ContactID)
	}
	if f.To != nil {
		w.add(`start_at < ?`, micros(*f.To))
	}
	if f.From != nil {
		w.add(`(series_end_at IS NULL OR series_end_at >= ?)`, micros(*f.From))
	}
	return listPage(ctx, db, `SELECT `+eventCols+` FROM events`, w, f.ListParams, func(r *sql.Rows) (crm.Event, int64, error) {
		e, err := scanEvent(r)
		return e, e.ID, err
	})
}
