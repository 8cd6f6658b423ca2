package graphpim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/cloudapi"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/graph"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/pim/caldav"
)

// Events is one Outlook calendar as a pim.Remote. Graph's calendarView
// delta returns instances (single events, occurrences and exceptions of
// series) within a window, never series masters (§8.1); Events turns them
// back into what a CalDAV calendar holds, one item per event: a single
// event is an item whose href is its id, a series is one item whose href is
// its master's id, with its RRULE, EXDATEs for the occurrences deleted or
// cancelled, and its exceptions as overrides, in the very pim.Fields the
// CalDAV side produces (same keys, same canonical values), so the engine
// and the CRM see the same thing from either provider.
type Events struct {
	c        *cloudapi.Client
	calendar string
	// Now is the clock the window moves with (default time.Now).
	Now func() time.Time
	// PageSize is the delta's odata.maxpagesize (default 200).
	PageSize int
}

// The window synced: a year back, two years ahead of now. It moves with
// time: a cursor whose window starts more than windowSlack before the
// current one is renewed (a new initial round of the view, §8.1).
const (
	windowBack  = -1 // years
	windowAhead = 2  // years
	windowSlack = 7 * 24 * time.Hour
	// maxOccurrences bounds a series' expansion.
	maxOccurrences = 20000
)

// uidProperty is the extended property holding the CRM's stamp on the
// events crmsync creates (§7.3: a named string property in crmsync's own
// property set).
const uidProperty = "String {d7f1a6c2-5b8e-4f3a-9c61-2e0b7a4d9f15} Name CrmsyncEventUID"

// NewEvents returns the calendar calendarID of the mailbox c reaches.
func NewEvents(c *cloudapi.Client, calendarID string) *Events {
	return &Events{c: c, calendar: calendarID, Now: time.Now, PageSize: 200}
}

// Calendars lists the calendars the user owns and can edit (shared and
// read-only ones are left out: crmsync writes into the calendar it
// syncs), the default one marked.
func Calendars(ctx context.Context, c *cloudapi.Client) ([]Collection, error) {
	var out []Collection
	_, err := pages(ctx, c, "/me/calendars?$top=100", 0, func(raw json.RawMessage) error {
		var cal struct {
			ID        string `json:"id"`
			Name      string `json:"name"`
			IsDefault bool   `json:"isDefaultCalendar"`
			CanEdit   bool   `json:"canEdit"`
		}
		if err := json.Unmarshal(raw, &cal); err != nil || cal.ID == "" {
			return protocol(c, "Microsoft Graph listed a calendar crmsync cannot read.")
		}
		if cal.CanEdit {
			out = append(out, Collection{ID: cal.ID, Name: cal.Name, Default: cal.IsDefault})
		}
		return nil
	})
	return out, err
}

// window is the span synced now.
func (r *Events) window() (from, to time.Time) {
	now := r.Now().UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	return day.AddDate(windowBack, 0, 0), day.AddDate(windowAhead, 0, 0)
}

func (r *Events) base() string { return "/me/calendars/" + url.PathEscape(r.calendar) }

// eventsToken is the cursor the engine keeps: the deltaLink, the window
// baked into it, and the series seen in it (a deleted series shows only as
// @removed occurrences, whose master the link does not name).
type eventsToken struct {
	Link   string   `json:"link"`
	From   int64    `json:"from"`
	To     int64    `json:"to"`
	Series []string `json:"series,omitempty"`
}

// Changes reads the calendar view's delta since token; "" starts a new
// round over the current window (Full). A window that moved is a new
// round too, after the old cursor's changes are read, without Full: the
// events that left the window are not deleted.
func (r *Events) Changes(ctx context.Context, token string) (pim.RemoteChanges, error) {
	from, to := r.window()
	if token == "" {
		ch, _, err := r.round(ctx, r.initialURL(from, to), nil, from, to)
		if err != nil {
			return pim.RemoteChanges{}, err
		}
		ch.Full = true
		return ch, nil
	}
	var t eventsToken
	if err := json.Unmarshal([]byte(token), &t); err != nil || t.Link == "" {
		return pim.RemoteChanges{}, &connerr.Error{Kind: connerr.CursorInvalid, Server: r.c.Server,
			Message: "crmsync could not read where the sync of this calendar stood; it reads the calendar again, without duplicates."}
	}
	ch, series, err := r.round(ctx, t.Link, t.Series, time.Unix(t.From, 0), time.Unix(t.To, 0))
	if err != nil || from.Sub(time.Unix(t.From, 0)) < windowSlack {
		return ch, err
	}
	moved, _, err := r.round(ctx, r.initialURL(from, to), series, from, to)
	if err != nil {
		return pim.RemoteChanges{}, err
	}
	seen := map[string]bool{}
	for _, ref := range ch.Items {
		seen[ref.Href] = true
	}
	for _, ref := range moved.Items {
		if !seen[ref.Href] {
			ch.Items = append(ch.Items, ref)
		}
	}
	ch.Token = moved.Token
	return ch, nil
}

func (r *Events) initialURL(from, to time.Time) string {
	return r.base() + "/calendarView/delta?startDateTime=" + url.QueryEscape(from.Format(time.RFC3339)) +
		"&endDateTime=" + url.QueryEscape(to.Format(time.RFC3339))
}

// graphEvent is the part of Graph's event crmsync reads (§8.2).
type graphEvent struct {
	ETag                  string                        `json:"@odata.etag"`
	ID                    string                        `json:"id"`
	Type                  string                        `json:"type"`
	SeriesMasterID        string                        `json:"seriesMasterId"`
	OriginalStart         string                        `json:"originalStart"`
	ICalUID               string                        `json:"iCalUId"`
	Subject               string                        `json:"subject"`
	Body                  *itemBody                     `json:"body"`
	Start                 *dateTimeTimeZone             `json:"start"`
	End                   *dateTimeTimeZone             `json:"end"`
	OriginalStartTimeZone string                        `json:"originalStartTimeZone"`
	IsAllDay              bool                          `json:"isAllDay"`
	IsCancelled           bool                          `json:"isCancelled"`
	Location              *struct{ DisplayName string } `json:"location"`
	Attendees             []struct {
		EmailAddress struct{ Address string } `json:"emailAddress"`
	} `json:"attendees"`
	Categories   []string                     `json:"categories"`
	Recurrence   *patternedRecurrence         `json:"recurrence"`
	LastModified string                       `json:"lastModifiedDateTime"`
	Props        []struct{ ID, Value string } `json:"singleValueExtendedProperties"`
	Removed      *struct{ Reason string }     `json:"@removed"`
}

type itemBody struct {
	ContentType string `json:"contentType"`
	Content     string `json:"content"`
}

type dateTimeTimeZone struct {
	DateTime string `json:"dateTime"`
	TimeZone string `json:"timeZone"`
}

// round reads one delta round from u. Instances are grouped by series:
// an occurrence or exception reports its master. An @removed entry is an
// event deleted, or one that changed outside the window (§8.1): each is
// looked up, and reported changed when it still exists. When one no
// longer does, the series known from earlier rounds are looked up too,
// since a deleted series shows only as its occurrences' ids.
func (r *Events) round(ctx context.Context, u string, known []string, from, to time.Time) (pim.RemoteChanges, []string, error) {
	items := map[string]string{} // href → etag ("" for a series: fetched every time it is reported)
	var order, removed []string
	add := func(href, etag string) {
		if _, ok := items[href]; !ok {
			order = append(order, href)
		}
		items[href] = etag
	}
	series := map[string]bool{}
	for _, s := range known {
		series[s] = true
	}
	link, err := pages(ctx, r.c, u, r.PageSize, func(raw json.RawMessage) error {
		var ev graphEvent
		if err := json.Unmarshal(raw, &ev); err != nil || ev.ID == "" {
			return protocol(r.c, "Microsoft Graph sent a calendar change crmsync cannot read.")
		}
		switch {
		case ev.Removed != nil:
			removed = append(removed, ev.ID)
		case ev.SeriesMasterID != "":
			series[ev.SeriesMasterID] = true
			add(ev.SeriesMasterID, "")
		case ev.Type == "seriesMaster":
			series[ev.ID] = true
			add(ev.ID, "")
		default:
			add(ev.ID, ev.ETag)
		}
		return nil
	})
	if err != nil {
		return pim.RemoteChanges{}, nil, err
	}
	if link == "" {
		return pim.RemoteChanges{}, nil, protocol(r.c, "Microsoft Graph ended a calendar sync without saying where it stood.")
	}
	var deleted []string
	for _, id := range slices.Compact(slices.Sorted(slices.Values(removed))) {
		if _, ok := items[id]; ok {
			continue // deleted and then listed again in the same round: it exists
		}
		ev, err := r.getEvent(ctx, id, false)
		switch {
		case connerr.KindOf(err) == connerr.Gone:
			deleted = append(deleted, id)
			delete(series, id)
		case err != nil:
			return pim.RemoteChanges{}, nil, err
		case ev.SeriesMasterID != "":
			add(ev.SeriesMasterID, "")
		case ev.Type == "seriesMaster":
			add(ev.ID, "")
		default:
			add(ev.ID, ev.ETag)
		}
	}
	if len(deleted) > 0 {
		for _, s := range slices.Sorted(maps.Keys(series)) {
			if _, ok := items[s]; ok {
				continue
			}
			if _, err := r.getEvent(ctx, s, false); connerr.KindOf(err) == connerr.Gone {
				deleted = append(deleted, s)
				delete(series, s)
			} else if err != nil {
				return pim.RemoteChanges{}, nil, err
			}
		}
	}
	ch := pim.RemoteChanges{Deleted: deleted}
	for _, href := range order {
		ch.Items = append(ch.Items, pim.RemoteRef{Href: href, ETag: items[href]})
	}
	list := make([]string, 0, len(series))
	for s := range series {
		list = append(list, s)
	}
	slices.Sort(list)
	tok, _ := json.Marshal(eventsToken{Link: link, From: from.Unix(), To: to.Unix(), Series: list})
	ch.Token = string(tok)
	return ch, list, nil
}

// getEvent reads one event (with the CRM stamp when stamp is set).
func (r *Events) getEvent(ctx context.Context, id string, stamp bool) (graphEvent, error) {
	u := "/me/events/" + url.PathEscape(id)
	if stamp {
		u += "?$expand=" + url.QueryEscape("singleValueExtendedProperties($filter=id eq '"+uidProperty+"')")
	}
	var ev graphEvent
	if err := graph.GetJSON(ctx, r.c, u, maxSmall, &ev); err != nil {
		return graphEvent{}, err
	}
	return ev, nil
}

// Fetch reads events by href, a series with its instances. An event that
// cannot be read (a time in an unknown zone, a pattern crmsync does not
// know, an answer too large) is in bad; it does not stop the others.
func (r *Events) Fetch(ctx context.Context, hrefs []string) ([]pim.RemoteItem, []pim.ItemError, []string, error) {
	var items []pim.RemoteItem
	var bad []pim.ItemError
	var missing []string
	for _, href := range hrefs {
		it, err := r.fetch(ctx, href)
		switch {
		case err == nil:
			items = append(items, it)
		case connerr.KindOf(err) == connerr.Gone:
			missing = append(missing, href)
		case errors.Is(err, errUndecodable), isProtocol(err):
			bad = append(bad, pim.ItemError{Href: href, Err: err})
		default:
			return nil, nil, nil, err
		}
	}
	return items, bad, missing, nil
}

var errUndecodable = errors.New("graphpim: the event cannot be read")

// isProtocol is Graph answering for one event with something crmsync
// cannot use (not a network failure, which KindOf also calls Protocol).
func isProtocol(err error) bool {
	e := connerr.As(err)
	return e != nil && e.Kind == connerr.Protocol
}

func undecodable(err error) error { return fmt.Errorf("%w: %v", errUndecodable, err) }

// fetch reads one event. Its Raw is the event as Graph sent it (the
// series master alone: its instances are read again whenever the series
// is, so a long series does not weigh on the mapping stored for it).
func (r *Events) fetch(ctx context.Context, href string) (pim.RemoteItem, error) {
	u := "/me/events/" + url.PathEscape(href) + "?$expand=" +
		url.QueryEscape("singleValueExtendedProperties($filter=id eq '"+uidProperty+"')")
	var raw json.RawMessage
	if err := graph.GetJSON(ctx, r.c, u, maxPage, &raw); err != nil {
		return pim.RemoteItem{}, err
	}
	var ev graphEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		return pim.RemoteItem{}, undecodable(err)
	}
	var inst []graphEvent
	if ev.Recurrence != nil {
		var err error
		if inst, err = r.instances(ctx, ev); err != nil {
			return pim.RemoteItem{}, err
		}
	}
	f, err := r.fields(ev, inst)
	if err != nil {
		return pim.RemoteItem{}, undecodable(err)
	}
	it := pim.RemoteItem{Href: href, ETag: ev.ETag, UID: ev.ICalUID, Type: pim.RecordEvent, Fields: f, Raw: raw}
	for _, p := range ev.Props {
		if strings.EqualFold(p.ID, uidProperty) && p.Value != "" {
			it.UID = p.Value
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, ev.LastModified); err == nil {
		it.Modified = t.UTC()
	}
	return it, nil
}

// instances lists a series' occurrences and exceptions from its start to
// the end of the window.
func (r *Events) instances(ctx context.Context, master graphEvent) ([]graphEvent, error) {
	lo, err := seriesStart(master)
	if err != nil {
		return nil, undecodable(err)
	}
	_, to := r.window()
	u := "/me/events/" + url.PathEscape(master.ID) + "/instances?startDateTime=" + url.QueryEscape(lo.AddDate(0, 0, -1).Format(time.RFC3339)) +
		"&endDateTime=" + url.QueryEscape(to.Format(time.RFC3339))
	var out []graphEvent
	_, err = pages(ctx, r.c, u, r.PageSize, func(m json.RawMessage) error {
		var in graphEvent
		if err := json.Unmarshal(m, &in); err != nil {
			return protocol(r.c, "Microsoft Graph sent an occurrence crmsync cannot read.")
		}
		out = append(out, in)
		return nil
	})
	return out, err
}

// seriesStart is the instant a series starts.
func seriesStart(ev graphEvent) (time.Time, error) {
	_, t, err := whenOf(ev.Start, ev.OriginalStartTimeZone, ev.IsAllDay)
	return t, err
}

// --- times ---

// parseGraphTime reads a dateTimeTimeZone as an instant (all-day: the
// date at midnight UTC).
func parseGraphTime(d *dateTimeTimeZone, allDay bool) (time.Time, error) {
	if d == nil || d.DateTime == "" {
		return time.Time{}, errors.New("the event has no start or end")
	}
	loc := time.UTC
	if !allDay && !isUTCName(d.TimeZone) {
		z, ok := caldav.IANAZone(d.TimeZone)
		if !ok {
			return time.Time{}, fmt.Errorf("unknown time zone %q", d.TimeZone)
		}
		if loc, _ = time.LoadLocation(z); loc == nil {
			return time.Time{}, fmt.Errorf("unknown time zone %q", d.TimeZone)
		}
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05.9999999", strings.TrimSuffix(d.DateTime, "Z"), loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date and time", d.DateTime)
	}
	if allDay {
		t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	return t, nil
}

func isUTCName(z string) bool {
	switch strings.ToLower(z) {
	case "", "utc", "etc/utc", "gmt", "etc/gmt", "uct", "etc/uct", "etc/universal", "universal", "zulu", "etc/zulu":
		return true
	}
	return false
}

// whenOf reads a Graph time as a crm.When in the form the CalDAV side
// gives it: a date for an all-day event, a wall clock in the event's own
// zone (originalStartTimeZone, a Windows name mapped to IANA) when it has
// one, else a UTC time.
func whenOf(d *dateTimeTimeZone, zone string, allDay bool) (crm.When, time.Time, error) {
	t, err := parseGraphTime(d, allDay)
	if err != nil {
		return "", time.Time{}, err
	}
	if allDay {
		return crm.When(t.Format(time.DateOnly)), t, nil
	}
	return zonedWhen(t, zone), t, nil
}

// zonedWhen writes the instant t in zone (Windows or IANA; UTC when it
// names none).
func zonedWhen(t time.Time, zone string) crm.When {
	if z, ok := caldav.IANAZone(zone); ok && !isUTCName(z) {
		if loc, err := time.LoadLocation(z); err == nil {
			return crm.When(t.In(loc).Format("2006-01-02T15:04:05") + "[" + z + "]")
		}
	}
	return crm.When(t.UTC().Format("2006-01-02T15:04:05") + "Z")
}

// graphTime writes a crm.When as Graph's dateTimeTimeZone: a zoned time
// in its Windows zone (the IANA name when it has none: Graph takes both),
// a UTC or floating time in UTC, a date as midnight of an all-day event.
func graphTime(w crm.When) (dateTimeTimeZone, bool, error) {
	if w.IsDate() {
		t, err := time.Parse(time.DateOnly, string(w))
		if err != nil {
			return dateTimeTimeZone{}, false, fmt.Errorf("%q: %w", w, crm.ErrBadWhen)
		}
		return dateTimeTimeZone{DateTime: t.Format("2006-01-02T15:04:05"), TimeZone: "UTC"}, true, nil
	}
	t, err := w.Time(time.UTC)
	if err != nil {
		return dateTimeTimeZone{}, false, fmt.Errorf("%q: %w", w, err)
	}
	z := w.Zone()
	if z == "" || isUTCName(z) {
		return dateTimeTimeZone{DateTime: t.UTC().Format("2006-01-02T15:04:05"), TimeZone: "UTC"}, false, nil
	}
	name, ok := caldav.WindowsZone(z)
	if !ok {
		name = z
	}
	return dateTimeTimeZone{DateTime: w.Local(), TimeZone: name}, false, nil
}

// --- content ---

var htmlBreaks = regexp.MustCompile(`(?i)<br\s*/?>|</p\s*>|</div\s*>|</li\s*>|</tr\s*>`)
var htmlTags = regexp.MustCompile(`(?s)<!--.*?-->|<(?:script|style)[^>]*>.*?</(?:script|style)\s*>|<[^>]*>`)

// bodyText is an event body as text: Outlook writes HTML bodies, the CRM
// holds text.
func bodyText(b *itemBody) string {
	if b == nil {
		return ""
	}
	if !strings.EqualFold(b.ContentType, "html") {
		return b.Content
	}
	s := htmlBreaks.ReplaceAllString(b.Content, "\n")
	s = htmlTags.ReplaceAllString(s, "")
	return html.UnescapeString(s)
}

func location(ev graphEvent) string {
	if ev.Location == nil {
		return ""
	}
	return ev.Location.DisplayName
}

// fields reads an event, and a series' instances, as the CalDAV side's
// Fields.
func (r *Events) fields(ev graphEvent, inst []graphEvent) (pim.Fields, error) {
	start, st, err := whenOf(ev.Start, ev.OriginalStartTimeZone, ev.IsAllDay)
	if err != nil {
		return nil, err
	}
	end, _, err := whenOf(ev.End, ev.OriginalStartTimeZone, ev.IsAllDay)
	if err != nil {
		return nil, err
	}
	var atts []string
	for _, a := range ev.Attendees {
		atts = append(atts, a.EmailAddress.Address)
	}
	f := pim.Fields{
		pim.FieldSummary:     pim.Str(ev.Subject),
		pim.FieldDescription: pim.Str(bodyText(ev.Body)),
		pim.FieldLocation:    pim.Str(location(ev)),
		pim.FieldStart:       pim.Str(string(start)),
		pim.FieldEnd:         pim.Str(string(end)),
		pim.FieldCategories:  pim.SetOf(ev.Categories...),
		pim.FieldAttendees:   pim.SetOf(atts...),
	}
	if ev.Recurrence == nil {
		return f.Normalize(), nil
	}
	rule, err := rruleOf(ev.Recurrence)
	if err != nil {
		return nil, err
	}
	f[pim.FieldRRule] = pim.Str(rule)
	f = f.Normalize()
	_, to := r.window()
	naturals, err := naturalOccurrences(f, st, to)
	if err != nil {
		return nil, err
	}
	zone := ev.OriginalStartTimeZone
	present := map[string]bool{}
	var exdates []string
	var ovs []crm.EventOverride
	for _, in := range inst {
		k, err := originalKey(in, zone, ev.IsAllDay)
		if err != nil {
			return nil, err
		}
		occ, ok := naturals[k]
		if !ok {
			continue // not an occurrence of the pattern as crmsync expands it
		}
		present[k] = true
		if in.IsCancelled {
			exdates = append(exdates, string(occ.RecurrenceID))
			continue
		}
		if in.Type != "exception" {
			continue
		}
		ov := crm.EventOverride{
			RecurrenceID: occ.RecurrenceID,
			Summary:      own(pim.FieldSummary, in.Subject, f),
			Description:  own(pim.FieldDescription, bodyText(in.Body), f),
			Location:     own(pim.FieldLocation, location(in), f),
		}
		s, _, err := whenOf(in.Start, zone, ev.IsAllDay)
		if err != nil {
			return nil, err
		}
		e, _, err := whenOf(in.End, zone, ev.IsAllDay)
		if err != nil {
			return nil, err
		}
		if !sameTime(s, occ.RecurrenceID) {
			ov.Start = s
		}
		if !sameTime(e, occ.End) {
			ov.End = e
		}
		if ov != (crm.EventOverride{RecurrenceID: occ.RecurrenceID}) {
			ovs = append(ovs, ov)
		}
	}
	for k, occ := range naturals {
		if !present[k] {
			exdates = append(exdates, string(occ.RecurrenceID)) // deleted from the series
		}
	}
	f[pim.FieldExDates] = pim.SetOf(exdates...)
	if len(ovs) > 0 {
		f[pim.FieldOverrides] = pim.Str(overridesJSON(ovs))
	}
	return f.Normalize(), nil
}

// own is an exception's text when it is not the series' (as the CalDAV
// side's overrides hold only what differs).
func own(field, v string, series pim.Fields) string {
	v = strings.ToValidUTF8(pim.Normalize(field, pim.Str(v)).Str, "\uFFFD")
	if v == strings.ToValidUTF8(series[field].Str, "\uFFFD") {
		return ""
	}
	return v
}

func sameTime(a, b crm.When) bool {
	ta, err1 := a.Time(time.UTC)
	tb, err2 := b.Time(time.UTC)
	if err1 != nil || err2 != nil {
		return a == b
	}
	return ta.Equal(tb)
}

func overridesJSON(ovs []crm.EventOverride) string {
	slices.SortStableFunc(ovs, func(a, b crm.EventOverride) int {
		return strings.Compare(string(a.RecurrenceID), string(b.RecurrenceID))
	})
	b, _ := json.Marshal(ovs)
	return string(b)
}

// naturalOccurrences expands a series' rule (without its exceptions) from
// its start to to, keyed by occurrenceKey.
func naturalOccurrences(f pim.Fields, start, to time.Time) (map[string]caldav.Occurrence, error) {
	core := pim.Fields{pim.FieldStart: f[pim.FieldStart], pim.FieldEnd: f[pim.FieldEnd], pim.FieldRRule: f[pim.FieldRRule]}
	occs, err := caldav.Occurrences(core, start.AddDate(0, 0, -1), to, nil, maxOccurrences)
	if err != nil {
		return nil, err
	}
	out := make(map[string]caldav.Occurrence, len(occs))
	for _, o := range occs {
		t, err := o.RecurrenceID.Time(time.UTC)
		if err != nil {
			return nil, err
		}
		out[occurrenceKey(t, o.RecurrenceID.IsDate())] = o
	}
	return out, nil
}

// occurrenceKey matches an occurrence of crmsync's expansion with Graph's
// originalStart: the instant, or the day of an all-day series.
func occurrenceKey(t time.Time, allDay bool) string {
	if allDay {
		return t.Format(time.DateOnly)
	}
	return strconv.FormatInt(t.Unix(), 10)
}

// originalKey is the key of an instance's original start, read in the
// series' zone for an all-day series (its days are the zone's).
func originalKey(in graphEvent, zone string, allDay bool) (string, error) {
	t, err := time.Parse(time.RFC3339Nano, in.OriginalStart)
	if err != nil {
		if in.OriginalStart == "" && in.Start != nil {
			t, err = parseGraphTime(in.Start, allDay)
		}
		if err != nil {
			return "", fmt.Errorf("an occurrence's original start %q is not a time", in.OriginalStart)
		}
	}
	if allDay {
		if z, ok := caldav.IANAZone(zone); ok && !isUTCName(z) {
			if loc, err := time.LoadLocation(z); err == nil {
				t = t.In(loc)
			}
		}
		t = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	}
	return occurrenceKey(t, allDay), nil
}

// --- writes ---

// eventPatch is the body that makes an event cur (nil: a new one) into
// want: only the properties whose reading differs. A change of the rule or
// of a series' times sends the recurrence anew (Outlook then drops the
// series' exceptions: reset).
func eventPatch(cur, want pim.Fields) (body map[string]any, reset bool, err error) {
	body = map[string]any{}
	differs := func(field string) bool { return cur == nil || !cur[field].Equal(want[field]) }
	if differs(pim.FieldSummary) {
		body["subject"] = want[pim.FieldSummary].Str
	}
	if differs(pim.FieldDescription) {
		body["body"] = itemBody{ContentType: "text", Content: want[pim.FieldDescription].Str}
	}
	if differs(pim.FieldLocation) {
		body["location"] = map[string]string{"displayName": want[pim.FieldLocation].Str}
	}
	if differs(pim.FieldCategories) {
		body["categories"] = append([]string{}, want[pim.FieldCategories].List...)
	}
	if differs(pim.FieldAttendees) {
		atts := []map[string]any{}
		for _, a := range want[pim.FieldAttendees].List {
			atts = append(atts, map[string]any{"type": "required", "emailAddress": map[string]string{"address": a}})
		}
		body["attendees"] = atts
	}
	start, end := crm.When(want[pim.FieldStart].Str), crm.When(want[pim.FieldEnd].Str)
	if start == "" {
		return nil, false, fmt.Errorf("%w: the event has no start", pim.ErrRefused)
	}
	times := differs(pim.FieldStart) || differs(pim.FieldEnd)
	if times {
		s, allDay, err := graphTime(start)
		if err != nil {
			return nil, false, fmt.Errorf("%w: start: %v", pim.ErrRefused, err)
		}
		if end == "" {
			end = start
			if allDay {
				t, _ := time.Parse(time.DateOnly, string(start))
				end = crm.When(t.AddDate(0, 0, 1).Format(time.DateOnly))
			}
		}
		e, endAllDay, err := graphTime(end)
		if err != nil {
			return nil, false, fmt.Errorf("%w: end: %v", pim.ErrRefused, err)
		}
		if allDay != endAllDay {
			return nil, false, fmt.Errorf("%w: the start and end must both be dates or both times", pim.ErrRefused)
		}
		body["start"], body["end"], body["isAllDay"] = s, e, allDay
	}
	rule := want[pim.FieldRRule].Str
	if differs(pim.FieldRRule) || rule != "" && times {
		body["recurrence"] = nil
		if rule != "" {
			rec, err := seriesRecurrence(want)
			if err != nil {
				return nil, false, err
			}
			body["recurrence"] = rec
		}
		reset = cur != nil
	}
	return body, reset, nil
}

// seriesRecurrence is want's RRULE as Graph's recurrence, starting on the
// day of want's start in its zone (dates and floating times: UTC).
func seriesRecurrence(want pim.Fields) (*patternedRecurrence, error) {
	start := crm.When(want[pim.FieldStart].Str)
	d, _, err := graphTime(start)
	if err != nil {
		return nil, fmt.Errorf("%w: start: %v", pim.ErrRefused, err)
	}
	t, err := start.Time(time.UTC)
	if start.IsDate() {
		t, err = time.Parse(time.DateOnly, string(start))
	}
	if err != nil {
		return nil, fmt.Errorf("%w: start: %v", pim.ErrRefused, err)
	}
	return recurrenceOf(want[pim.FieldRRule].Str, t, d.TimeZone)
}

// occurrenceOps are the writes to a series' occurrences that make its
// exdates and overrides what want says, given what cur has (all of want's
// after a reset).
type occurrenceOps struct {
	deletes []crm.When          // occurrences to delete, by recurrence id
	patches []crm.EventOverride // occurrences to make exceptions
	series  pim.Fields          // the series' values an override falls back to
}

func parseOverrides(s string) ([]crm.EventOverride, error) {
	if s == "" {
		return nil, nil
	}
	var ovs []crm.EventOverride
	if err := json.Unmarshal([]byte(s), &ovs); err != nil {
		return nil, fmt.Errorf("%w: overrides: %v", pim.ErrRefused, err)
	}
	return ovs, nil
}

// planOccurrences compares cur's exceptions with want's. An exdate or an
// override that cur has and want has not cannot be undone occurrence by
// occurrence in Outlook: the series is then reset (its recurrence sent
// anew) and every one of want's written again.
func planOccurrences(cur, want pim.Fields, reset bool) (occurrenceOps, bool, error) {
	wantOvs, err := parseOverrides(want[pim.FieldOverrides].Str)
	if err != nil {
		return occurrenceOps{}, false, err
	}
	var curOvs []crm.EventOverride
	if cur != nil {
		if curOvs, err = parseOverrides(cur[pim.FieldOverrides].Str); err != nil {
			return occurrenceOps{}, false, err
		}
	}
	curEx := map[string]bool{}
	for _, x := range cur[pim.FieldExDates].List {
		curEx[x] = true
	}
	wantEx := map[string]bool{}
	for _, x := range want[pim.FieldExDates].List {
		wantEx[x] = true
	}
	curBy := map[crm.When]crm.EventOverride{}
	for _, o := range curOvs {
		curBy[o.RecurrenceID] = o
	}
	wantBy := map[crm.When]crm.EventOverride{}
	for _, o := range wantOvs {
		wantBy[o.RecurrenceID] = o
	}
	for x := range curEx {
		if !wantEx[x] {
			reset = true
		}
	}
	for rid := range curBy {
		if _, ok := wantBy[rid]; !ok {
			reset = true
		}
	}
	texts := cur == nil || !cur[pim.FieldSummary].Equal(want[pim.FieldSummary]) ||
		!cur[pim.FieldDescription].Equal(want[pim.FieldDescription]) || !cur[pim.FieldLocation].Equal(want[pim.FieldLocation])
	ops := occurrenceOps{series: want}
	for _, x := range want[pim.FieldExDates].List {
		if reset || !curEx[x] {
			ops.deletes = append(ops.deletes, crm.When(x))
		}
	}
	for _, o := range wantOvs {
		if o.Cancelled {
			if reset || !curBy[o.RecurrenceID].Cancelled {
				ops.deletes = append(ops.deletes, o.RecurrenceID)
			}
			continue
		}
		// A series renamed rewrites its exceptions: Outlook's copy the
		// series' old texts where the override has none.
		if c, ok := curBy[o.RecurrenceID]; reset || !ok || c != o || texts {
			ops.patches = append(ops.patches, o)
		}
	}
	return ops, reset, nil
}

// checkOccurrences refuses overrides that are not occurrences of want's
// rule (Outlook keys exceptions by an existing occurrence); exdates of no
// occurrence mean nothing and are dropped.
func (r *Events) checkOccurrences(want pim.Fields, ops *occurrenceOps) (map[string]caldav.Occurrence, error) {
	if len(ops.deletes) == 0 && len(ops.patches) == 0 {
		return nil, nil
	}
	if want[pim.FieldRRule].Str == "" {
		return nil, fmt.Errorf("%w: the event has overridden or skipped occurrences but no recurrence rule", pim.ErrRefused)
	}
	st, err := crm.When(want[pim.FieldStart].Str).Time(time.UTC)
	if err != nil {
		return nil, fmt.Errorf("%w: start: %v", pim.ErrRefused, err)
	}
	_, to := r.window()
	naturals, err := naturalOccurrences(want, st, to)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", pim.ErrRefused, err)
	}
	keyOf := func(w crm.When) (string, bool) {
		t, err := w.Time(time.UTC)
		if err != nil {
			return "", false
		}
		k := occurrenceKey(t, w.IsDate())
		_, ok := naturals[k]
		return k, ok
	}
	var dels []crm.When
	for _, d := range ops.deletes {
		if _, ok := keyOf(d); ok {
			dels = append(dels, d)
		}
	}
	ops.deletes = dels
	for _, o := range ops.patches {
		if _, ok := keyOf(o.RecurrenceID); !ok {
			return nil, fmt.Errorf("%w: the overridden occurrence of %s is not an occurrence of the series (or is more than %d years ahead)", pim.ErrRefused, o.RecurrenceID, windowAhead)
		}
	}
	return naturals, nil
}

// applyOccurrences deletes and patches the occurrences ops names, found
// among the series' instances by their original start.
func (r *Events) applyOccurrences(ctx context.Context, id string, ops occurrenceOps, naturals map[string]caldav.Occurrence) error {
	if len(ops.deletes) == 0 && len(ops.patches) == 0 {
		return nil
	}
	master, err := r.getEvent(ctx, id, false)
	if err != nil {
		return err
	}
	inst, err := r.instances(ctx, master)
	if err != nil {
		return err
	}
	byKey := map[string]graphEvent{}
	for _, in := range inst {
		k, err := originalKey(in, master.OriginalStartTimeZone, master.IsAllDay)
		if err != nil {
			return protocol(r.c, "Microsoft Graph sent an occurrence crmsync cannot read.")
		}
		byKey[k] = in
	}
	find := func(w crm.When) (graphEvent, bool) {
		t, err := w.Time(time.UTC)
		if err != nil {
			return graphEvent{}, false
		}
		in, ok := byKey[occurrenceKey(t, w.IsDate())]
		return in, ok
	}
	for _, d := range ops.deletes {
		in, ok := find(d)
		if !ok {
			continue // already gone
		}
		resp, err := r.c.Do(ctx, cloudapi.Request{Method: http.MethodDelete, URL: "/me/events/" + url.PathEscape(in.ID)})
		if connerr.KindOf(err) == connerr.Gone {
			continue
		}
		if err != nil {
			return writeError(err)
		}
		resp.Body.Close()
	}
	s := ops.series
	for _, o := range ops.patches {
		in, ok := find(o.RecurrenceID)
		if !ok {
			return fmt.Errorf("%w: the occurrence of %s is no longer in the series", pim.ErrRefused, o.RecurrenceID)
		}
		t, _ := o.RecurrenceID.Time(time.UTC)
		occ := naturals[occurrenceKey(t, o.RecurrenceID.IsDate())]
		start, end := orWhen(o.Start, o.RecurrenceID), orWhen(o.End, occ.End)
		sd, _, err := graphTime(start)
		if err != nil {
			return fmt.Errorf("%w: override start: %v", pim.ErrRefused, err)
		}
		ed, _, err := graphTime(end)
		if err != nil {
			return fmt.Errorf("%w: override end: %v", pim.ErrRefused, err)
		}
		body, _ := json.Marshal(map[string]any{
			"subject":  orStr(o.Summary, s[pim.FieldSummary].Str),
			"body":     itemBody{ContentType: "text", Content: orStr(o.Description, s[pim.FieldDescription].Str)},
			"location": map[string]string{"displayName": orStr(o.Location, s[pim.FieldLocation].Str)},
			"start":    sd, "end": ed,
		})
		resp, err := r.c.Do(ctx, cloudapi.Request{Method: http.MethodPatch, URL: "/me/events/" + url.PathEscape(in.ID), Body: body})
		if err != nil {
			return writeError(err)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, maxSmall))
		resp.Body.Close()
	}
	return nil
}

func orWhen(a, b crm.When) crm.When {
	if a != "" {
		return a
	}
	return b
}

func orStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// writeError turns a refused write into the engine's errors: 412 the item
// changed meanwhile, 404 it was deleted, another 4xx (but those about the
// account) its content refused.
func writeError(err error) error {
	switch s := cloudapi.Status(err); {
	case s == http.StatusPreconditionFailed:
		return fmt.Errorf("%w: %v", pim.ErrPrecondition, err)
	case s == http.StatusNotFound:
		return fmt.Errorf("%w: %v", pim.ErrGone, err)
	case s >= 400 && s < 500 && s != 401 && s != 403 && s != 429:
		return fmt.Errorf("%w: %v", pim.ErrRefused, err)
	}
	return err
}

// transactionID is the create's idempotency key (§8.2): the same for
// every attempt to create the same record in the same calendar.
func (r *Events) transactionID(uid string) string {
	h := sha256.Sum256([]byte(r.calendar + "\x00" + uid))
	return "crmsync-" + hex.EncodeToString(h[:16])
}

// findStamped returns the id of the event of this calendar carrying uid.
func (r *Events) findStamped(ctx context.Context, uid string) (string, error) {
	filter := "singleValueExtendedProperties/Any(ep: ep/id eq '" + uidProperty + "' and ep/value eq '" + strings.ReplaceAll(uid, "'", "''") + "')"
	var found string
	_, err := pages(ctx, r.c, r.base()+"/events?$filter="+url.QueryEscape(filter)+"&$select=id", 0, func(raw json.RawMessage) error {
		var ev graphEvent
		if err := json.Unmarshal(raw, &ev); err == nil && found == "" {
			found = ev.ID
		}
		return nil
	})
	return found, err
}

// Create writes a new event stamped with uid. An event of this calendar
// already carrying uid (a create whose answer was lost, retried in a
// later pass) is ErrExists with its href; within one attempt the
// transactionId makes Graph drop a repeated create.
func (r *Events) Create(ctx context.Context, uid string, f pim.Fields) (pim.RemoteItem, error) {
	want := f.Normalize()
	body, _, err := eventPatch(nil, want)
	if err != nil {
		return pim.RemoteItem{}, err
	}
	ops, _, err := planOccurrences(nil, want, true)
	if err != nil {
		return pim.RemoteItem{}, err
	}
	naturals, err := r.checkOccurrences(want, &ops)
	if err != nil {
		return pim.RemoteItem{}, err
	}
	if id, err := r.findStamped(ctx, uid); err != nil {
		return pim.RemoteItem{}, err
	} else if id != "" {
		return pim.RemoteItem{Href: id}, fmt.Errorf("%w: event %s", pim.ErrExists, id)
	}
	body["transactionId"] = r.transactionID(uid)
	body["singleValueExtendedProperties"] = []map[string]string{{"id": uidProperty, "value": uid}}
	b, _ := json.Marshal(body)
	resp, err := r.c.Do(ctx, cloudapi.Request{Method: http.MethodPost, URL: r.base() + "/events", Body: b})
	if err != nil {
		return pim.RemoteItem{}, writeError(err)
	}
	var ev graphEvent
	err = r.c.DecodeJSON(resp.Body, maxSmall, &ev)
	resp.Body.Close()
	if err != nil {
		return pim.RemoteItem{}, err
	}
	if ev.ID == "" {
		return pim.RemoteItem{}, protocol(r.c, "Microsoft Graph created an event without saying its id.")
	}
	if err := r.applyOccurrences(ctx, ev.ID, ops, naturals); err != nil {
		return pim.RemoteItem{}, err
	}
	return r.fetch(ctx, ev.ID)
}

// current is what prev holds: its Fields as the engine has them (read
// from the event and its instances when it was fetched), else as Graph
// has it now (the write is still conditional on prev.ETag).
func (r *Events) current(ctx context.Context, prev pim.RemoteItem) (pim.Fields, error) {
	if len(prev.Fields) > 0 {
		return prev.Fields.Normalize(), nil
	}
	it, err := r.fetch(ctx, prev.Href)
	if err != nil {
		return nil, err
	}
	return it.Fields, nil
}

// Update writes f over prev: a PATCH of what changed, only if the event
// still has prev.ETag, then the series' occurrences.
func (r *Events) Update(ctx context.Context, prev pim.RemoteItem, f pim.Fields) (pim.RemoteItem, error) {
	cur, err := r.current(ctx, prev)
	if err != nil {
		return pim.RemoteItem{}, writeError(err)
	}
	want := f.Normalize()
	body, reset, err := eventPatch(cur, want)
	if err != nil {
		return pim.RemoteItem{}, err
	}
	ops, reset2, err := planOccurrences(cur, want, reset)
	if err != nil {
		return pim.RemoteItem{}, err
	}
	if reset2 && !reset {
		// Undoing an exception: send the recurrence anew, which drops
		// them all, and write want's again.
		rec, err := seriesRecurrence(want)
		if err != nil {
			return pim.RemoteItem{}, err
		}
		body["recurrence"] = rec
	}
	naturals, err := r.checkOccurrences(want, &ops)
	if err != nil {
		return pim.RemoteItem{}, err
	}
	b, _ := json.Marshal(body)
	resp, err := r.c.Do(ctx, cloudapi.Request{Method: http.MethodPatch, URL: "/me/events/" + url.PathEscape(prev.Href), Body: b,
		Header: http.Header{"If-Match": {prev.ETag}}})
	if err != nil {
		return pim.RemoteItem{}, writeError(err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, maxSmall))
	resp.Body.Close()
	if err := r.applyOccurrences(ctx, prev.Href, ops, naturals); err != nil {
		return pim.RemoteItem{}, err
	}
	return r.fetch(ctx, prev.Href)
}
