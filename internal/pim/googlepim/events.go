package googlepim

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
)

// Calendars lists the calendars the user may write to; the primary one is
// Default.
func Calendars(ctx context.Context, c *cloudapi.Client) ([]Collection, error) {
	var out []Collection
	type calPage struct {
		pageEnd
		Items []struct {
			ID         string `json:"id"`
			Summary    string `json:"summary"`
			Primary    bool   `json:"primary"`
			AccessRole string `json:"accessRole"`
		} `json:"items"`
	}
	at := func(page string) string { return "/calendar/v3/users/me/calendarList" + query("pageToken", page) }
	err := eachPage(ctx, c, at, func(ans *calPage) error {
		for _, it := range ans.Items {
			if it.AccessRole == "owner" || it.AccessRole == "writer" {
				out = append(out, Collection{ID: it.ID, Name: it.Summary, Default: it.Primary})
			}
		}
		return nil
	})
	return out, err
}

// Events is one Google calendar as a pim.Remote. An item is a series (or
// a single event): its href is the event's id, its body the master and
// its exceptions, its ETag theirs together.
//
// Google has no event categories: an item's categories are always empty,
// so an account's event category filter selects no Google event and
// crmsync writes none; the user chooses the calendar instead.
type Events struct {
	c   *cloudapi.Client
	cal string

	listed listed[[]gevent] // whole series from the last listing, master first

	mu   sync.Mutex
	zone string // the calendar's time zone, for floating times
}

// NewEvents returns the calendar calendarID ("primary" or an id from
// Calendars). It sends nothing.
func NewEvents(c *cloudapi.Client, calendarID string) *Events {
	return &Events{c: c, cal: calendarID}
}

func (r *Events) base() string { return "/calendar/v3/calendars/" + url.PathEscape(r.cal) + "/events" }

// series is what an item's Raw holds.
type series struct {
	Master     json.RawMessage   `json:"master"`
	Exceptions []json.RawMessage `json:"exceptions,omitempty"`
}

// Changes lists the calendar (token "": cancelled series left out,
// cancelled occurrences in) or what changed since a sync token. A token
// Google forgot (410 fullSyncRequired) is pim.ErrTokenInvalid.
func (r *Events) Changes(ctx context.Context, token string) (pim.RemoteChanges, error) {
	out := pim.RemoteChanges{Full: token == ""}
	byID := map[string][]json.RawMessage{}
	var order []string
	type eventPage struct {
		pageEnd
		TimeZone      string            `json:"timeZone"`
		Items         []json.RawMessage `json:"items"`
		NextSyncToken string            `json:"nextSyncToken"`
	}
	at := func(page string) string {
		return r.base() + query("maxResults", "2500", "syncToken", token, "pageToken", page)
	}
	err := eachPage(ctx, r.c, at, func(ans *eventPage) error {
		if ans.TimeZone != "" {
			r.mu.Lock()
			r.zone = ans.TimeZone
			r.mu.Unlock()
		}
		for _, raw := range ans.Items {
			var e gevent
			if json.Unmarshal(raw, &e) != nil || e.ID == "" {
				continue
			}
			id := e.ID
			if e.RecurringEventID != "" {
				id = e.RecurringEventID
			}
			if byID[id] == nil {
				order = append(order, id)
			}
			byID[id] = append(byID[id], raw)
		}
		out.Token = ans.NextSyncToken
		return nil
	})
	if err != nil {
		return pim.RemoteChanges{}, err
	}
	if out.Token == "" {
		return pim.RemoteChanges{}, protocol(r.c, "Google ended a listing of events without saying where the next sync starts; crmsync tries again later.")
	}
	if out.Full {
		r.listed.forget("")
	}
	for _, id := range order {
		master, exceptions, complete := split(id, byID[id])
		switch {
		case master != nil && master.Status == "cancelled":
			out.Deleted = append(out.Deleted, id)
			r.listed.forget(id)
		case master == nil && out.Full:
			// Occurrences of a series the user was invited to without
			// the series: not an item crmsync syncs.
		case complete || out.Full:
			ev := append([]gevent{*master}, exceptions...)
			r.listed.put(id, ev)
			out.Items = append(out.Items, pim.RemoteRef{Href: id, ETag: seriesETag(ev)})
		default:
			// Part of a series changed: its ETag is known once it is read.
			r.listed.forget(id)
			out.Items = append(out.Items, pim.RemoteRef{Href: id})
		}
	}
	return out, nil
}

// split parses a series' items; complete says whether they are the whole
// series (a single event's master alone).
func split(id string, raws []json.RawMessage) (master *gevent, exceptions []gevent, complete bool) {
	for _, raw := range raws {
		var e gevent
		_ = json.Unmarshal(raw, &e)
		if e.ID == id {
			m := e
			master = &m
		} else {
			exceptions = append(exceptions, e)
		}
	}
	return master, exceptions, master != nil && len(master.Recurrence) == 0 && len(exceptions) == 0
}

// seriesETag is the version of a series: its master's etag, and a digest
// of its exceptions' when it has some.
func seriesETag(ev []gevent) string {
	if len(ev) == 1 {
		return ev[0].Etag
	}
	var parts []string
	for _, e := range ev[1:] {
		parts = append(parts, e.ID+"="+e.Etag)
	}
	slices.Sort(parts)
	h := fnv.New64a()
	h.Write([]byte(strings.Join(parts, ",")))
	return fmt.Sprintf("%s+%016x", ev[0].Etag, h.Sum64())
}

// Fetch returns series from the last listing, reading the others: the
// master, and for a recurring one its exceptions (events.list by iCalUID).
func (r *Events) Fetch(ctx context.Context, hrefs []string) ([]pim.RemoteItem, []pim.ItemError, []string, error) {
	read := func(ctx context.Context, id string) ([]gevent, bool, error) {
		ev, err := r.read(ctx, id)
		return ev, ev != nil, err
	}
	return r.listed.fetch(ctx, hrefs, read, r.decode)
}

// read gets a series from Google; nil when it is gone or cancelled.
func (r *Events) read(ctx context.Context, id string) ([]gevent, error) {
	var m gevent
	err := r.c.GetJSON(ctx, r.base()+"/"+url.PathEscape(id), nil, maxSmall, &m)
	switch {
	case cloudapi.Status(err) == http.StatusNotFound || cloudapi.Status(err) == http.StatusGone:
		return nil, nil
	case err != nil:
		return nil, err
	case m.Status == "cancelled":
		return nil, nil
	case len(m.Recurrence) == 0 || m.ICalUID == "":
		return []gevent{m}, nil
	}
	ev := []gevent{m}
	type seriesPage struct {
		pageEnd
		Items []gevent `json:"items"`
	}
	at := func(page string) string {
		return r.base() + query("iCalUID", m.ICalUID, "showDeleted", "true", "maxResults", "2500", "pageToken", page)
	}
	err = eachPage(ctx, r.c, at, func(ans *seriesPage) error {
		for _, e := range ans.Items {
			if e.RecurringEventID == id {
				ev = append(ev, e)
			}
		}
		return nil
	})
	return ev, err
}

func (r *Events) decode(ev []gevent) (pim.RemoteItem, error) {
	m := ev[0]
	uid := m.ExtendedProperties.Private[eventStampKey]
	if uid == "" {
		uid = m.ICalUID
	}
	f, err := seriesFields(uid, m, ev[1:])
	// The series changed when its master or an exception last did, to
	// the millisecond Google gives (iCalendar's LAST-MODIFIED has seconds).
	var mod time.Time
	for _, e := range ev {
		if t, err := time.Parse(time.RFC3339Nano, e.Updated); err == nil && t.After(mod) {
			mod = t
		}
	}
	if err != nil {
		return pim.RemoteItem{}, fmt.Errorf("an event Google sent cannot be read: %v", err)
	}
	raw := series{}
	raw.Master, _ = json.Marshal(m)
	for _, x := range ev[1:] {
		b, _ := json.Marshal(x)
		raw.Exceptions = append(raw.Exceptions, b)
	}
	body, _ := json.Marshal(raw)
	return pim.RemoteItem{Href: m.ID, ETag: seriesETag(ev), UID: uid, Type: pim.RecordEvent, Fields: f, Modified: mod, Raw: body}, nil
}

// eventIDs makes an event id from a CRM stamp: base32hex (the alphabet
// Google allows, §11.2) of its bytes, so a create retried after a lost
// answer meets the first one (409) instead of making a second.
var eventIDs = base32.HexEncoding.WithPadding(base32.NoPadding)

func eventID(uid string) string { return strings.ToLower(eventIDs.EncodeToString([]byte(uid))) }

// Create inserts the event with an id made from uid (ErrExists, with the
// href, when Google has it already), then writes its overrides as
// exceptions.
func (r *Events) Create(ctx context.Context, uid string, f pim.Fields) (pim.RemoteItem, error) {
	id := eventID(uid)
	body, err := r.masterBody(nil, uid, f)
	if err != nil {
		return pim.RemoteItem{}, err
	}
	body["id"] = id
	var m gevent
	err = call(ctx, r.c, http.MethodPost, r.base(), nil, body, &m)
	switch {
	case cloudapi.Status(err) == http.StatusConflict:
		return pim.RemoteItem{Href: id}, fmt.Errorf("%w: %v", pim.ErrExists, err)
	case err != nil:
		return pim.RemoteItem{}, refused(err)
	}
	ev, err := r.writeExceptions(ctx, m, nil, f)
	if err != nil {
		return pim.RemoteItem{}, err
	}
	return r.decode(ev)
}

// Update patches the master (If-Match its etag: ErrPrecondition when it
// changed) and each exception that must change (If-Match its own).
func (r *Events) Update(ctx context.Context, prev pim.RemoteItem, f pim.Fields) (pim.RemoteItem, error) {
	var raw series
	var m gevent
	if json.Unmarshal(prev.Raw, &raw) != nil || json.Unmarshal(raw.Master, &m) != nil || m.ID == "" {
		return pim.RemoteItem{}, fmt.Errorf("%w: the event's stored copy cannot be read", pim.ErrRefused)
	}
	var cur map[string]any
	_ = json.Unmarshal(raw.Master, &cur)
	var exc []gevent
	for _, x := range raw.Exceptions {
		var e gevent
		if json.Unmarshal(x, &e) == nil {
			exc = append(exc, e)
		}
	}
	body, err := r.masterBody(cur, prev.UID, f)
	if err != nil {
		return pim.RemoteItem{}, err
	}
	var got gevent
	err = call(ctx, r.c, http.MethodPatch, r.base()+"/"+url.PathEscape(m.ID), http.Header{"If-Match": {m.Etag}}, body, &got)
	if err != nil {
		return pim.RemoteItem{}, r.writeError(err)
	}
	ev, err := r.writeExceptions(ctx, got, exc, f)
	if err != nil {
		return pim.RemoteItem{}, err
	}
	return r.decode(ev)
}

func (r *Events) writeError(err error) error {
	switch cloudapi.Status(err) {
	case http.StatusPreconditionFailed:
		return fmt.Errorf("%w: %v", pim.ErrPrecondition, err)
	case http.StatusNotFound, http.StatusGone:
		return fmt.Errorf("%w: %v", pim.ErrGone, err)
	}
	return refused(err)
}

func (r *Events) calZone() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.zone
}

// masterBody is the master as f wants it, patched over cur (Google's
// copy; nil for a new one): recurrence lines crmsync does not map
// (EXRULE) and attendees' answers are kept.
func (r *Events) masterBody(cur map[string]any, uid string, f pim.Fields) (map[string]any, error) {
	f = f.Normalize()
	zone := r.calZone()
	body := map[string]any{
		"summary":     f[pim.FieldSummary].Str,
		"description": f[pim.FieldDescription].Str,
		"location":    f[pim.FieldLocation].Str,
	}
	start, err := googleTime(crm.When(f[pim.FieldStart].Str), zone)
	if err != nil {
		return nil, fmt.Errorf("%w: start: %v", pim.ErrRefused, err)
	}
	end, err := googleTime(crm.When(f[pim.FieldEnd].Str), zone)
	if err != nil {
		return nil, fmt.Errorf("%w: end: %v", pim.ErrRefused, err)
	}
	if start == nil {
		return nil, fmt.Errorf("%w: an event without a start cannot be written to Google", pim.ErrRefused)
	}
	if end == nil {
		end = start
	}
	body["start"], body["end"] = start, end
	var rec []string
	if s := f[pim.FieldRRule].Str; s != "" {
		rec = append(rec, "RRULE:"+s)
	}
	for _, d := range f[pim.FieldExDates].List {
		rec = append(rec, dateLine("EXDATE", crm.When(d)))
	}
	for _, d := range f[pim.FieldRDates].List {
		rec = append(rec, dateLine("RDATE", crm.When(d)))
	}
	if l, ok := cur["recurrence"].([]any); ok {
		for _, x := range l {
			if s, ok := x.(string); ok && strings.HasPrefix(strings.ToUpper(s), "EXRULE") {
				rec = append(rec, s)
			}
		}
	}
	body["recurrence"] = rec
	old := map[string]any{}
	if l, ok := cur["attendees"].([]any); ok {
		for _, a := range l {
			if m, ok := a.(map[string]any); ok {
				if e, ok := m["email"].(string); ok {
					old[pim.NormalizeEmail(e)] = m
				}
			}
		}
	}
	att := []any{}
	for _, e := range f[pim.FieldAttendees].List {
		if m, ok := old[e]; ok {
			att = append(att, m)
		} else {
			att = append(att, map[string]any{"email": e})
		}
	}
	body["attendees"] = att
	priv := map[string]any{}
	if ep, ok := cur["extendedProperties"].(map[string]any); ok {
		if p, ok := ep["private"].(map[string]any); ok {
			priv = p
		}
	}
	if uid != "" {
		priv[eventStampKey] = uid
	}
	body["extendedProperties"] = map[string]any{"private": priv}
	return body, nil
}

// writeExceptions makes the series' exceptions what f's overrides say:
// an overridden occurrence is patched (cancelled, moved, retitled), one
// no longer overridden is put back as the series has it (Google keeps
// the exception). It returns the series as written.
func (r *Events) writeExceptions(ctx context.Context, m gevent, prev []gevent, f pim.Fields) ([]gevent, error) {
	var ovs []crm.EventOverride
	if s := f.Normalize()[pim.FieldOverrides].Str; s != "" {
		if err := json.Unmarshal([]byte(s), &ovs); err != nil {
			return nil, fmt.Errorf("%w: overrides: %v", pim.ErrRefused, err)
		}
	}
	zone := ""
	if m.Start != nil {
		zone = m.Start.TimeZone
	}
	if zone == "" {
		zone = r.calZone()
	}
	byID := map[string]gevent{}
	for _, e := range prev {
		byID[e.ID] = e
	}
	want := map[string]crm.EventOverride{}
	for _, ov := range ovs {
		id, err := instanceID(m.ID, ov.RecurrenceID, zone)
		if err != nil {
			return nil, fmt.Errorf("%w: override %s: %v", pim.ErrRefused, ov.RecurrenceID, err)
		}
		want[id] = ov
	}
	write := func(id string, ov crm.EventOverride) error {
		rid, err := googleTime(ov.RecurrenceID, zone)
		if err != nil {
			return fmt.Errorf("%w: override: %v", pim.ErrRefused, err)
		}
		body := map[string]any{"summary": orStr(ov.Summary, m.Summary), "description": orStr(ov.Description, m.Description),
			"location": orStr(ov.Location, m.Location), "status": "confirmed"}
		if ov.Cancelled {
			body["status"] = "cancelled"
		}
		start := rid
		if ov.Start != "" {
			if start, err = googleTime(ov.Start, zone); err != nil {
				return fmt.Errorf("%w: override: %v", pim.ErrRefused, err)
			}
		}
		end := naturalEnd(rid, m)
		if ov.End != "" {
			if end, err = googleTime(ov.End, zone); err != nil {
				return fmt.Errorf("%w: override: %v", pim.ErrRefused, err)
			}
		}
		if end == nil {
			end = start
		}
		body["start"], body["end"] = start, end
		var h http.Header
		if old, ok := byID[id]; ok {
			h = http.Header{"If-Match": {old.Etag}}
		}
		var got gevent
		if err := call(ctx, r.c, http.MethodPatch, r.base()+"/"+url.PathEscape(id), h, body, &got); err != nil {
			return r.writeError(err)
		}
		byID[id] = got
		return nil
	}
	for id, ov := range want {
		if old, ok := byID[id]; ok && sameException(old, ov, m) {
			continue
		}
		if err := write(id, ov); err != nil {
			return nil, err
		}
	}
	for _, e := range prev {
		if _, ok := want[e.ID]; ok {
			continue
		}
		// No longer overridden: the occurrence as the series has it.
		rid := ridOf(e, zone)
		if rid == "" || sameException(e, crm.EventOverride{RecurrenceID: rid}, m) {
			continue
		}
		if err := write(e.ID, crm.EventOverride{RecurrenceID: rid}); err != nil {
			return nil, err
		}
	}
	out := []gevent{m}
	ids := make([]string, 0, len(byID))
	for id := range byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		out = append(out, byID[id])
	}
	return out, nil
}

// sameException reports whether e already is what ov asks of it.
func sameException(e gevent, ov crm.EventOverride, m gevent) bool {
	got, err := seriesFieldsOf(e, m)
	if err != nil {
		return false
	}
	for _, g := range got {
		if g.RecurrenceID == ov.RecurrenceID {
			return g == ov
		}
	}
	return ov == crm.EventOverride{RecurrenceID: ov.RecurrenceID}
}

// seriesFieldsOf reads one exception of m as the override it stands for.
func seriesFieldsOf(e, m gevent) ([]crm.EventOverride, error) {
	f, err := seriesFields("x", m, []gevent{e})
	if err != nil {
		return nil, err
	}
	var ovs []crm.EventOverride
	if s := f[pim.FieldOverrides].Str; s != "" {
		err = json.Unmarshal([]byte(s), &ovs)
	}
	return ovs, err
}

// ridOf is an exception's original start as a crm.When, read as the
// CalDAV codec reads a RECURRENCE-ID.
func ridOf(e gevent, zone string) crm.When {
	v, ok := icsTime(e.OriginalStartTime, zone)
	if !ok {
		return ""
	}
	name, val, _ := strings.Cut(v, ":")
	switch {
	case strings.Contains(name, "VALUE=DATE"):
		return crm.When(val[:4] + "-" + val[4:6] + "-" + val[6:8])
	case strings.HasSuffix(val, "Z"):
		return crm.When(val[:4] + "-" + val[4:6] + "-" + val[6:8] + "T" + val[9:11] + ":" + val[11:13] + ":" + val[13:15] + "Z")
	default:
		w := crm.When(val[:4] + "-" + val[4:6] + "-" + val[6:8] + "T" + val[9:11] + ":" + val[11:13] + ":" + val[13:15])
		if tz, ok := strings.CutPrefix(name, ";TZID="); ok {
			w += crm.When("[" + tz + "]")
		}
		return w
	}
}

func orStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

var _ pim.Remote = (*Events)(nil)
