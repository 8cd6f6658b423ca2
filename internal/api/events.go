package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// EventCreationRequest is the body of POST /api/v1/events.
type EventCreationRequest struct {
	Summary     string `json:"summary"`
	Description string `json:"description"`
	Location    string `json:"location"`
	Start       string `json:"start"`
	End         string `json:"end"`
	// AllDay follows from start (a date); when given it must agree.
	AllDay       *bool              `json:"all_day"`
	RRule        string             `json:"rrule"`
	ExDates      []string           `json:"exdates"`
	RDates       []string           `json:"rdates"`
	Overrides    EventOverrides     `json:"overrides"`
	Attendees    []string           `json:"attendees"`
	Categories   []string           `json:"categories"`
	ContactID    *int64             `json:"contact_id"`
	OwnerID      *int64             `json:"owner_id"` // default: the caller
	CustomFields map[string]*string `json:"custom_fields"`
}

// EventUpdateRequest is the body of PATCH /api/v1/events/{id}: only the
// fields present change. custom_fields is merged as for contacts.
type EventUpdateRequest struct {
	Summary      Opt[string]             `json:"summary"`
	Description  Opt[string]             `json:"description"`
	Location     Opt[string]             `json:"location"`
	Start        Opt[string]             `json:"start"`
	End          Opt[string]             `json:"end"` // null or "": no end
	AllDay       Opt[bool]               `json:"all_day"`
	RRule        Opt[string]             `json:"rrule"` // null or "": a single event
	ExDates      Opt[[]string]           `json:"exdates"`
	RDates       Opt[[]string]           `json:"rdates"`
	Overrides    Opt[EventOverrides]     `json:"overrides"`
	Attendees    Opt[[]string]           `json:"attendees"`
	Categories   Opt[[]string]           `json:"categories"`
	ContactID    Opt[int64]              `json:"contact_id"` // null: no contact
	OwnerID      Opt[int64]              `json:"owner_id"`
	CustomFields Opt[map[string]*string] `json:"custom_fields"`
}

// EventOverrideRequest is one occurrence of a recurring event changed on
// its own. Empty fields keep the series' values.
type EventOverrideRequest struct {
	RecurrenceID string `json:"recurrence_id"`
	Cancelled    bool   `json:"cancelled"`
	Summary      string `json:"summary"`
	Description  string `json:"description"`
	Location     string `json:"location"`
	Start        string `json:"start"`
	End          string `json:"end"`
}

// EventOverrides are the overrides of a request, each decoded strictly
// and named by its index ("overrides[2].start").
type EventOverrides []EventOverrideRequest

// UnmarshalJSON decodes the overrides strictly, also inside an Opt.
func (o *EventOverrides) UnmarshalJSON(b []byte) error {
	if string(bytes.TrimSpace(b)) == "null" {
		*o = nil
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil {
		return badRequest(codeInvalidType, "overrides", "overrides must be an array of objects, not %s.", jsonValueKind(b))
	}
	out := make(EventOverrides, len(items))
	for i, raw := range items {
		if err := strictJSON(raw, &out[i], fmt.Sprintf("overrides[%d]", i)); err != nil {
			return err
		}
	}
	*o = out
	return nil
}

// jsonValueKind names the kind of a JSON value, for people.
func jsonValueKind(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "true or false"
	case 'n':
		return "null"
	}
	return "a number"
}

// Limits of events.
const (
	maxDates    = crm.MaxDates // exdates, rdates, overrides
	maxLocation = crm.MaxLocation
)

// checkRRule checks a recurrence rule (crm.CheckRRule) and returns it
// upper-cased.
func checkRRule(s string) (string, error) {
	v, err := crm.CheckRRule(s)
	return v, ruleError(err)
}

// whenList checks a list of calendar times, dropping repeats.
func whenList(field string, items []string) ([]crm.When, error) {
	if len(items) > maxDates {
		return nil, invalid(field, "%s may hold at most %d dates.", field, maxDates)
	}
	out := make([]crm.When, 0, len(items))
	for i, s := range items {
		w, err := when(fmt.Sprintf("%s[%d]", field, i), s, true)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out, nil
}

// eventOverrides checks the fields of each override; how they fit the
// series is checkEvent's.
func eventOverrides(in EventOverrides) ([]crm.EventOverride, error) {
	if len(in) > maxDates {
		return nil, invalid("overrides", "overrides may hold at most %d occurrences.", maxDates)
	}
	out := make([]crm.EventOverride, 0, len(in))
	for i, r := range in {
		f := fmt.Sprintf("overrides[%d]", i)
		o := crm.EventOverride{Cancelled: r.Cancelled}
		var err error
		if o.RecurrenceID, err = when(f+".recurrence_id", r.RecurrenceID, true); err != nil {
			return nil, err
		}
		for j, prev := range out {
			if prev.RecurrenceID == o.RecurrenceID {
				return nil, invalid(f+".recurrence_id", "%s.recurrence_id (%s) is that of overrides[%d] too: give each occurrence once.", f, o.RecurrenceID, j)
			}
		}
		if o.Summary, err = text(f+".summary", r.Summary, false, maxSummary); err != nil {
			return nil, err
		}
		if o.Description, err = text(f+".description", r.Description, false, maxLongText); err != nil {
			return nil, err
		}
		if o.Location, err = text(f+".location", r.Location, false, maxLocation); err != nil {
			return nil, err
		}
		if o.Start, err = when(f+".start", r.Start, false); err != nil {
			return nil, err
		}
		if o.End, err = when(f+".end", r.End, false); err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// before reports whether a is earlier than b, comparing dates and floating
// times as if in UTC.
func before(a, b crm.When) bool {
	ta, err1 := a.Time(time.UTC)
	tb, err2 := b.Time(time.UTC)
	return err1 == nil && err2 == nil && ta.Before(tb)
}

// checkEvent checks how an event's fields fit together, after a creation
// or a change, and sets AllDay from its start. allDay is what the request
// said of it, if anything.
func checkEvent(e *crm.Event, allDay *bool) error {
	if e.Start == "" {
		return required("start", `start is required: a date like "2026-11-21" for an all-day event, or a time like "2026-11-21T09:00:00Z" or "2026-11-21T10:00:00[Europe/Paris]".`)
	}
	date := e.Start.IsDate()
	kind := map[bool]string{true: "a date (an all-day event)", false: "a time"}
	if allDay != nil && *allDay != date {
		return invalid("all_day", "all_day is true exactly when start is a date: start (%s) is %s. Change start rather than all_day.", e.Start, kind[date])
	}
	if e.End != "" {
		if e.End.IsDate() != date {
			return invalid("end", "end (%s) must be %s, like start (%s).", e.End, strings.TrimSuffix(kind[date], " (an all-day event)"), e.Start)
		}
		if before(e.End, e.Start) {
			return invalid("end", "end (%s) is before start (%s).", e.End, e.Start)
		}
	}
	for i, o := range e.Overrides {
		f := fmt.Sprintf("overrides[%d]", i)
		if o.RecurrenceID.IsDate() != date {
			return invalid(f+".recurrence_id", "%s.recurrence_id (%s) must be %s, like the event's start (%s): it is the original start of the occurrence.",
				f, o.RecurrenceID, strings.TrimSuffix(kind[date], " (an all-day event)"), e.Start)
		}
		if o.Start != "" && o.End != "" && before(o.End, o.Start) {
			return invalid(f+".end", "%s.end (%s) is before %s.start (%s).", f, o.End, f, o.Start)
		}
	}
	e.AllDay = date
	return nil
}

func cleanEvent(e crm.Event) crm.Event {
	e.Attendees = nonNil(e.Attendees)
	e.Categories = nonNil(e.Categories)
	if e.CustomFields == nil {
		e.CustomFields = map[string]string{}
	}
	return e
}

func (s *Server) createEvent(w http.ResponseWriter, r *http.Request, c *caller) error {
	var req EventCreationRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	e := crm.Event{OrgID: c.Viewer.OrgID, OwnerID: c.User.ID}
	var err error
	if e.Summary, err = text("summary", req.Summary, true, maxSummary); err != nil {
		return err
	}
	if e.Description, err = text("description", req.Description, false, maxLongText); err != nil {
		return err
	}
	if e.Location, err = text("location", req.Location, false, maxLocation); err != nil {
		return err
	}
	if e.Start, err = when("start", req.Start, true); err != nil {
		return err
	}
	if e.End, err = when("end", req.End, false); err != nil {
		return err
	}
	if e.RRule, err = checkRRule(req.RRule); err != nil {
		return err
	}
	if e.ExDates, err = whenList("exdates", req.ExDates); err != nil {
		return err
	}
	if e.RDates, err = whenList("rdates", req.RDates); err != nil {
		return err
	}
	if e.Overrides, err = eventOverrides(req.Overrides); err != nil {
		return err
	}
	if e.Attendees, err = normEmails("attendees", req.Attendees); err != nil {
		return err
	}
	if e.Categories, err = normCategories("categories", req.Categories, fixedAllowed); err != nil {
		return err
	}
	if err := checkEvent(&e, req.AllDay); err != nil {
		return err
	}
	if err := setCreationRefs(req.ContactID, req.OwnerID, &e.ContactID, &e.OwnerID); err != nil {
		return err
	}
	if e.CustomFields, err = creationCustomFields(req.CustomFields); err != nil {
		return err
	}
	e, err = s.st.CreateEvent(r.Context(), c.Viewer, e)
	if err != nil {
		return storeError(err, "event")
	}
	s.pimChanged(r, c.Viewer.OrgID, e.OwnerID)
	return created(w, fmt.Sprintf("/api/v1/events/%d", e.ID), cleanEvent(e))
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request, c *caller) error {
	return getRecord(w, r, c, "event", s.st.GetEvent, plain(cleanEvent))
}

func (s *Server) updateEvent(w http.ResponseWriter, r *http.Request, c *caller) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var req EventUpdateRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	var rrule string
	var start, end crm.When
	var exdates, rdates []crm.When
	var overrides []crm.EventOverride
	var attendees []string
	var allDay *bool
	summary, err := patchText(req.Summary, "summary", "every event has a summary.", true, maxSummary)
	if err != nil {
		return err
	}
	description, err := patchText(req.Description, "description", `send "" to remove the description.`, false, maxLongText)
	if err != nil {
		return err
	}
	location, err := patchText(req.Location, "location", `send "" to remove the location.`, false, maxLocation)
	if err != nil {
		return err
	}
	if req.Start.Set {
		v, err := req.Start.value("start", "every event has a start.")
		if err != nil {
			return err
		}
		if start, err = when("start", v, true); err != nil {
			return err
		}
	}
	if req.End.Set && !req.End.Null {
		if end, err = when("end", req.End.Value, false); err != nil {
			return err
		}
	}
	if req.AllDay.Set {
		v, err := req.AllDay.value("all_day", "it follows from start.")
		if err != nil {
			return err
		}
		allDay = &v
	}
	if req.RRule.Set && !req.RRule.Null {
		if rrule, err = checkRRule(req.RRule.Value); err != nil {
			return err
		}
	}
	if req.ExDates.Set {
		v, err := req.ExDates.value("exdates", "send [] to remove every excluded date.")
		if err != nil {
			return err
		}
		if exdates, err = whenList("exdates", v); err != nil {
			return err
		}
	}
	if req.RDates.Set {
		v, err := req.RDates.value("rdates", "send [] to remove every added date.")
		if err != nil {
			return err
		}
		if rdates, err = whenList("rdates", v); err != nil {
			return err
		}
	}
	if req.Overrides.Set {
		v, err := req.Overrides.value("overrides", "send [] to remove every override.")
		if err != nil {
			return err
		}
		if overrides, err = eventOverrides(v); err != nil {
			return err
		}
	}
	if req.Attendees.Set {
		v, err := req.Attendees.value("attendees", "send [] to remove every attendee.")
		if err != nil {
			return err
		}
		if attendees, err = normEmails("attendees", v); err != nil {
			return err
		}
	}
	categories, err := patchCategories(req.Categories)
	if err != nil {
		return err
	}
	refs := refsPatch{ContactID: req.ContactID, OwnerID: req.OwnerID, CustomFields: req.CustomFields}
	if err := refs.check("event"); err != nil {
		return err
	}
	e, err := s.st.UpdateEvent(r.Context(), c.Viewer, id, func(e *crm.Event) error {
		if req.Summary.Set {
			e.Summary = summary
		}
		if req.Description.Set {
			e.Description = description
		}
		if req.Location.Set {
			e.Location = location
		}
		if req.Start.Set {
			e.Start = start
		}
		if req.End.Set {
			e.End = end
		}
		if req.RRule.Set {
			e.RRule = rrule
		}
		if req.ExDates.Set {
			e.ExDates = exdates
		}
		if req.RDates.Set {
			e.RDates = rdates
		}
		if req.Overrides.Set {
			e.Overrides = overrides
		}
		if req.Attendees.Set {
			e.Attendees = attendees
		}
		if req.Categories.Set {
			e.Categories = categories
		}
		refs.apply(&e.ContactID, &e.OwnerID, &e.CustomFields)
		return checkEvent(e, allDay)
	})
	if err != nil {
		return storeError(err, "event")
	}
	s.pimChanged(r, c.Viewer.OrgID, e.OwnerID)
	writeJSON(w, http.StatusOK, cleanEvent(e))
	return nil
}

func (s *Server) deleteEvent(w http.ResponseWriter, r *http.Request, c *caller) error {
	return deleteRecord(w, r, c, "event", s.st.DeleteEvent)
}

// timeParam reads an optional RFC 3339 time parameter.
func timeParam(q query, name string) (*time.Time, error) {
	if !q.has(name) {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, q.str(name))
	if err != nil {
		return nil, badRequest(codeInvalidParameter, name, "%s=%q is not a time: use RFC 3339, like 2026-11-21T09:00:00Z or 2026-11-21T10:00:00+01:00.", name, q.str(name))
	}
	return &t, nil
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request, c *caller) error {
	q, lp, err := s.listRequest(r)
	if err != nil {
		return err
	}
	f := store.EventFilter{ListParams: lp}
	if f.OwnerID, f.ContactID, err = ownerContactParams(q); err != nil {
		return err
	}
	if f.From, err = timeParam(q, "from"); err != nil {
		return err
	}
	if f.To, err = timeParam(q, "to"); err != nil {
		return err
	}
	if f.From != nil && f.To != nil && !f.To.After(*f.From) {
		return badRequest(codeInvalidParameter, "to", "to (%s) must be after from (%s).", q.str("to"), q.str("from"))
	}
	page, err := s.st.ListEvents(r.Context(), c.Viewer, f)
	if err != nil {
		return storeError(err, "event")
	}
	return writeList(w, page, cleanEvent)
}
