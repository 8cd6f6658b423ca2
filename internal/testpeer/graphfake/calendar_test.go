package graphfake

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// calClient speaks raw HTTP to the fake, as the reference describes Graph.
type calClient struct {
	t   *testing.T
	srv *httptest.Server
}

func newCalClient(t *testing.T, g *Graph) *calClient {
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return &calClient{t: t, srv: srv}
}

// do sends one request (u a path under /v1.0/me or an absolute link) and
// decodes the JSON answer into out when set.
func (c *calClient) do(method, u string, body any, header map[string]string, out any) int {
	c.t.Helper()
	if !strings.HasPrefix(u, "http") {
		u = c.srv.URL + "/v1.0/me" + u
	}
	var rd *bytes.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, u, rd)
	req.Header.Set("Authorization", "Bearer t")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

type deltaPage struct {
	Value     []map[string]any `json:"value"`
	NextLink  string           `json:"@odata.nextLink"`
	DeltaLink string           `json:"@odata.deltaLink"`
}

// round reads a whole delta round from u.
func (c *calClient) round(u string, pageSize int) (entries []map[string]any, deltaLink string, pages int) {
	c.t.Helper()
	h := map[string]string{}
	if pageSize > 0 {
		h["Prefer"] = "odata.maxpagesize=" + itoa(pageSize)
	}
	for {
		var p deltaPage
		if s := c.do(http.MethodGet, u, nil, h, &p); s != http.StatusOK {
			c.t.Fatalf("delta page: %d", s)
		}
		pages++
		entries = append(entries, p.Value...)
		if p.NextLink == "" {
			if p.DeltaLink == "" {
				c.t.Fatal("a round ended without a deltaLink")
			}
			return entries, p.DeltaLink, pages
		}
		u = p.NextLink
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestCalendarViewDelta: instances only (no series master), paging with
// maxpagesize, the window baked into the token, @removed for deletes and
// for changes outside the window, 410 once tokens expire, and $select
// refused.
func TestCalendarViewDelta(t *testing.T) {
	g := NewGraph()
	c := newCalClient(t, g)
	day := func(d int) time.Time { return time.Date(2027, 1, d, 9, 0, 0, 0, time.UTC) }
	a := g.AddEvent("", EventSpec{Subject: "A", Start: day(4), End: day(4).Add(time.Hour)})
	g.AddEvent("", EventSpec{Subject: "Out", Start: day(4).AddDate(1, 0, 0), End: day(4).AddDate(1, 0, 0).Add(time.Hour)})
	s := g.AddEvent("", EventSpec{Subject: "S", Start: day(5), End: day(5).Add(time.Hour),
		Recurrence: `{"pattern":{"type":"daily","interval":1},"range":{"type":"numbered","startDate":"2027-01-05","numberOfOccurrences":4}}`})
	q := "/calendarView/delta?startDateTime=" + url.QueryEscape("2027-01-01T00:00:00Z") + "&endDateTime=" + url.QueryEscape("2027-02-01T00:00:00Z")

	if st := c.do(http.MethodGet, q+"&$select=subject", nil, nil, nil); st != http.StatusBadRequest {
		t.Errorf("$select on delta: %d; want 400", st)
	}
	if st := c.do(http.MethodGet, "/calendarView/delta", nil, nil, nil); st != http.StatusBadRequest {
		t.Errorf("delta without a window: %d; want 400", st)
	}
	entries, link, pages := c.round(q, 2)
	if len(entries) != 5 || pages != 3 {
		t.Fatalf("first round: %d entries in %d pages; want A and 4 occurrences in 3 pages", len(entries), pages)
	}
	for _, e := range entries {
		switch e["type"] {
		case "singleInstance":
			if e["id"] != a {
				t.Errorf("single %v", e["id"])
			}
		case "occurrence":
			if e["seriesMasterId"] != s || e["originalStart"] == nil {
				t.Errorf("occurrence %v", e)
			}
		default:
			t.Errorf("entry of type %v in a view", e["type"])
		}
	}

	// The window stays the token's: an event moved out of it is @removed.
	g.UpdateEvent(a, func(sp *EventSpec) { sp.Start, sp.End = sp.Start.AddDate(0, 3, 0), sp.End.AddDate(0, 3, 0) })
	g.CancelOccurrence(s, day(6))
	entries, link, _ = c.round(link, 0)
	removed := map[string]bool{}
	changed := 0
	for _, e := range entries {
		if e["@removed"] != nil {
			removed[e["id"].(string)] = true
		} else {
			changed++
		}
	}
	if !removed[a] || !removed[occurrenceID(s, day(6))] || changed != 3 {
		t.Errorf("second round: removed %v, %d changed; want A and the deleted occurrence removed, the series' 3 others changed", removed, changed)
	}
	// A change outside the window is @removed too (§8.1: filter by your window).
	g.UpdateEvent(a, func(sp *EventSpec) { sp.Subject = "A2" })
	entries, link, _ = c.round(link, 0)
	if len(entries) != 1 || entries[0]["id"] != a || entries[0]["@removed"] == nil {
		t.Errorf("out-of-window change: %v", entries)
	}
	g.ExpireCalendarTokens(false)
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	if st := c.do(http.MethodGet, link, nil, nil, &e); st != http.StatusGone || e.Error.Code != "syncStateNotFound" {
		t.Errorf("expired token: %d %q; want 410 syncStateNotFound", st, e.Error.Code)
	}
	// Tenant maintenance: 410 with a Location that starts the window over.
	_, link, _ = c.round(q, 0)
	g.ExpireCalendarTokens(true)
	req, _ := http.NewRequest(http.MethodGet, link, nil)
	req.Header.Set("Authorization", "Bearer t")
	resp, err := c.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGone || resp.Header.Get("Location") == "" {
		t.Fatalf("maintenance: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if entries, _, _ := c.round(resp.Header.Get("Location"), 0); len(entries) != 3 {
		t.Errorf("round from the Location: %d entries; want the series' 3 left in the window", len(entries))
	}
}

// TestEventWrites: Prefer outlook.timezone, If-Match, transactionId,
// patterns with extra properties refused, occurrences patched into
// exceptions, extended properties filtered and expanded.
func TestEventWrites(t *testing.T) {
	g := NewGraph()
	c := newCalClient(t, g)
	cal := g.DefaultCalendar()
	prop := "String {00000000-0000-0000-0000-000000000001} Name X"
	body := map[string]any{
		"subject": "Review", "transactionId": "tx-1",
		"start": map[string]string{"dateTime": "2027-01-04T10:00:00", "timeZone": "Romance Standard Time"},
		"end":   map[string]string{"dateTime": "2027-01-04T11:00:00", "timeZone": "Romance Standard Time"},
		"recurrence": map[string]any{"pattern": map[string]any{"type": "weekly", "interval": 1, "daysOfWeek": []string{"monday"}},
			"range": map[string]any{"type": "numbered", "startDate": "2027-01-04", "numberOfOccurrences": 3}},
		"singleValueExtendedProperties": []map[string]string{{"id": prop, "value": "crm-1"}},
	}
	var ev map[string]any
	if st := c.do(http.MethodPost, "/calendars/"+cal+"/events", body, nil, &ev); st != http.StatusCreated {
		t.Fatalf("create: %d", st)
	}
	var again map[string]any
	c.do(http.MethodPost, "/calendar/events", body, nil, &again)
	if again["id"] != ev["id"] || len(g.EventIDs("")) != 1 {
		t.Errorf("a create repeated with its transactionId made %d events", len(g.EventIDs("")))
	}
	if start := ev["start"].(map[string]any); start["dateTime"] != "2027-01-04T09:00:00.0000000" || start["timeZone"] != "UTC" {
		t.Errorf("start without a time-zone preference: %v; want UTC", start)
	}
	id := ev["id"].(string)
	var pref map[string]any
	c.do(http.MethodGet, "/events/"+id, nil, map[string]string{"Prefer": `outlook.timezone="Pacific Standard Time"`}, &pref)
	if start := pref["start"].(map[string]any); start["dateTime"] != "2027-01-04T01:00:00.0000000" || pref["originalStartTimeZone"] != "Romance Standard Time" {
		t.Errorf("start in Pacific time: %v, original zone %v", start, pref["originalStartTimeZone"])
	}
	if st := c.do(http.MethodPatch, "/events/"+id, map[string]any{"subject": "x"}, map[string]string{"If-Match": `W/"stale"`}, nil); st != http.StatusPreconditionFailed {
		t.Errorf("stale If-Match: %d; want 412", st)
	}
	if st := c.do(http.MethodPatch, "/events/"+id, map[string]any{"subject": "Review 2"}, map[string]string{"If-Match": ev["@odata.etag"].(string)}, nil); st != http.StatusOK {
		t.Errorf("matching If-Match: %d", st)
	}
	bad := map[string]any{"recurrence": map[string]any{"pattern": map[string]any{"type": "daily", "interval": 1, "dayOfMonth": 3},
		"range": map[string]any{"type": "noEnd", "startDate": "2027-01-04"}}}
	if st := c.do(http.MethodPatch, "/events/"+id, bad, nil, nil); st != http.StatusBadRequest {
		t.Errorf("daily pattern with dayOfMonth: %d; want 400", st)
	}
	var inst deltaPage
	c.do(http.MethodGet, "/events/"+id+"/instances?startDateTime=2027-01-01T00:00:00Z&endDateTime=2027-02-01T00:00:00Z", nil, nil, &inst)
	if len(inst.Value) != 3 {
		t.Fatalf("instances: %d; want 3", len(inst.Value))
	}
	occ := inst.Value[1]["id"].(string)
	var ex map[string]any
	c.do(http.MethodPatch, "/events/"+occ, map[string]any{"subject": "Special"}, nil, &ex)
	if ex["type"] != "exception" || ex["subject"] != "Special" {
		t.Errorf("patched occurrence %v", ex)
	}
	if st := c.do(http.MethodDelete, "/events/"+inst.Value[2]["id"].(string), nil, nil, nil); st != http.StatusNoContent {
		t.Errorf("delete occurrence: %d", st)
	}
	if st, _ := g.Event(id); len(st.Exceptions) != 1 || len(st.Deleted) != 1 || st.Subject != "Review 2" {
		t.Errorf("series %+v", st)
	}
	filter := "singleValueExtendedProperties/Any(ep: ep/id eq '" + prop + "' and ep/value eq 'crm-1')"
	var found deltaPage
	c.do(http.MethodGet, "/calendars/"+cal+"/events?$filter="+url.QueryEscape(filter)+"&$expand="+url.QueryEscape("singleValueExtendedProperties($filter=id eq '"+prop+"')"), nil, nil, &found)
	if len(found.Value) != 1 || found.Value[0]["singleValueExtendedProperties"] == nil {
		t.Errorf("filter on the stamp: %v", found.Value)
	}
	shared := g.AddCalendar("Boss", "boss@contoso.example")
	if st := c.do(http.MethodPost, "/calendars/"+shared+"/events", body, nil, nil); st != http.StatusForbidden {
		t.Errorf("create in a read-only calendar: %d; want 403", st)
	}
}
