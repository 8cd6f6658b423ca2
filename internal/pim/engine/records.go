package engine

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/linker"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/store"
)

// localRecord is a CRM record in scope of a PIM account, as the engine
// compares it: its normalized fields, and the fixed categories it calls
// for.
type localRecord struct {
	id        int64
	updatedAt time.Time
	fields    pim.Fields
	want      []string // fixed categories (contacts only)
	emails    []string
	rec       any // crm.Contact, crm.Task or crm.Event as read
}

// recordSide reads and writes one kind of CRM record for the engine.
type recordSide interface {
	recordType() pim.RecordType
	// load returns every record in the account's scope, by id.
	load(ctx context.Context) (map[int64]*localRecord, error)
	// get reads one record again (after ErrStale); nil when it is gone.
	get(ctx context.Context, id int64) (*localRecord, error)
	// build returns the store write that creates (rec nil) or updates a
	// record: on an update only the fields in only are set (nil: all), so
	// the others keep the CRM's own spelling, and replaced values are
	// added to the custom fields.
	// The record is made to fit the CRM's rules first (crm.Sanitize…):
	// what was cut or dropped comes back as warnings.
	build(ctx context.Context, rec *localRecord, fields pim.Fields, only map[string]bool, replaced []pim.Replaced) (store.PIMWrite, []crm.Warning, error)
	// stored returns the record a write stored.
	stored(w store.PIMWrite) *localRecord
}

// newSide returns the record side of a collection's kind.
func newSide(kind pim.CollectionKind, port Port, now func() time.Time) recordSide {
	b := sideBase{port: port, v: port.Owner(), now: now}
	switch kind {
	case pim.Tasks:
		return &taskSide{b}
	case pim.Events:
		return &eventSide{b}
	}
	return &contactSide{sideBase: b}
}

// writeRecord builds a record's write and makes it in one transaction with
// what meta holds besides the record: the mapping (may be nil), Pending,
// the account and the conflicts (see store.PIMWrite).
func writeRecord(ctx context.Context, side recordSide, port Port, rec *localRecord, fields pim.Fields, only map[string]bool,
	replaced []pim.Replaced, meta store.PIMWrite) (*localRecord, *store.PIMItem, []crm.Warning, error) {
	w, warns, err := side.build(ctx, rec, fields, only, replaced)
	if err != nil {
		return nil, nil, nil, err
	}
	w.Item, w.Pending, w.AccountID, w.Conflicts = meta.Item, meta.Pending, meta.AccountID, meta.Conflicts
	out, err := port.ApplyPIMWrite(ctx, w)
	if err != nil {
		return nil, nil, nil, err
	}
	return side.stored(out), out.Item, warns, nil
}

// setter assigns a field from fields when only allows it.
type setter struct {
	fields pim.Fields
	only   map[string]bool
}

func (s setter) has(name string) bool { return s.only == nil || s.only[name] }

func (s setter) str(name string, dst *string) {
	if s.has(name) {
		*dst = s.fields[name].Str
	}
}

func (s setter) list(name string, dst *[]string) {
	if s.has(name) {
		*dst = slices.Clone(s.fields[name].List)
	}
}

// sideBase holds what every record side needs.
type sideBase struct {
	port Port
	v    crm.Viewer // the account's owner
	now  func() time.Time
}

// replacedFields returns the record's custom fields with the replaced
// values added (dated in UTC, the day of the sync).
func (b sideBase) replacedFields(existing map[string]string, replaced []pim.Replaced) map[string]string {
	if len(replaced) == 0 {
		return existing
	}
	out := maps.Clone(existing)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, pim.ReplacedCustomFields(existing, replaced, b.now().UTC()))
	return out
}

// ---- contacts ----

type contactSide struct {
	sideBase
	companies map[int64]string // id → name, of companies the owner sees
	outcomes  map[int64][]crm.OpportunityStatus
}

func (s *contactSide) recordType() pim.RecordType { return pim.RecordContact }

func (s *contactSide) load(ctx context.Context) (map[int64]*localRecord, error) {
	s.companies = map[int64]string{}
	for cur := ""; ; {
		p, err := s.port.ListCompanies(ctx, store.CompanyFilter{ListParams: store.ListParams{Limit: store.MaxLimit, Cursor: cur}})
		if err != nil {
			return nil, err
		}
		for _, c := range p.Items {
			s.companies[c.ID] = c.Name
		}
		if cur = p.NextCursor; cur == "" {
			break
		}
	}
	var err error
	if s.outcomes, err = s.port.RecordOutcomes(ctx); err != nil {
		return nil, err
	}
	out := map[int64]*localRecord{}
	for cur := ""; ; {
		p, err := s.port.ListContacts(ctx, store.ContactFilter{ListParams: store.ListParams{Limit: store.MaxLimit, Cursor: cur}})
		if err != nil {
			return nil, err
		}
		for _, c := range p.Items {
			out[c.ID] = s.local(c)
		}
		if cur = p.NextCursor; cur == "" {
			break
		}
	}
	return out, nil
}

func (s *contactSide) get(ctx context.Context, id int64) (*localRecord, error) {
	c, err := s.port.GetContact(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	return s.local(c), nil
}

func (s *contactSide) local(c crm.Contact) *localRecord {
	f := pim.Fields{
		pim.FieldFirstName:  pim.Str(c.FirstName),
		pim.FieldLastName:   pim.Str(c.LastName),
		pim.FieldEmails:     pim.ListOf(c.Emails...),
		pim.FieldPhones:     pim.ListOf(c.Phones...),
		pim.FieldTitle:      pim.Str(c.Title),
		pim.FieldAddress:    pim.Str(c.Address.String()),
		pim.FieldNotes:      pim.Str(c.Notes),
		pim.FieldCategories: pim.SetOf(c.Categories...),
	}
	if c.CompanyID != nil {
		f[pim.FieldCompany] = pim.Str(s.companies[*c.CompanyID])
	}
	return &localRecord{id: c.ID, updatedAt: c.UpdatedAt, fields: f.Normalize(), emails: c.Emails,
		want: pim.CategoriesFor(c.Lifecycle, false, s.outcomes[c.ID]...), rec: c}
}

func (s *contactSide) build(ctx context.Context, rec *localRecord, fields pim.Fields, only map[string]bool, replaced []pim.Replaced) (store.PIMWrite, []crm.Warning, error) {
	c := crm.Contact{OrgID: s.v.OrgID, OwnerID: s.v.UserID, Lifecycle: crm.LifecycleLead, CustomFields: map[string]string{}}
	if rec != nil {
		c = rec.rec.(crm.Contact)
	} else {
		only = nil
	}
	set := setter{fields, only}
	set.str(pim.FieldFirstName, &c.FirstName)
	set.str(pim.FieldLastName, &c.LastName)
	set.list(pim.FieldEmails, &c.Emails)
	set.list(pim.FieldPhones, &c.Phones)
	set.str(pim.FieldTitle, &c.Title)
	if set.has(pim.FieldAddress) {
		c.Address = crm.ParsePostalAddress(fields[pim.FieldAddress].Str)
	}
	set.str(pim.FieldNotes, &c.Notes)
	set.list(pim.FieldCategories, &c.Categories)
	c.CustomFields = s.replacedFields(c.CustomFields, replaced)
	warns := crm.SanitizeContact(&c)
	if set.has(pim.FieldCompany) {
		name := fields[pim.FieldCompany].Str
		if c.CompanyID != nil && !strings.EqualFold(s.companies[*c.CompanyID], name) {
			c.CompanyID = nil
		}
		if name != "" && c.CompanyID == nil {
			id, err := s.company(ctx, name, c.Emails)
			if err != nil {
				return store.PIMWrite{}, nil, err
			}
			c.CompanyID = &id
		}
	}
	return store.PIMWrite{Contact: &c}, warns, nil
}

func (s *contactSide) stored(w store.PIMWrite) *localRecord { return s.local(*w.Contact) }

// company finds the company a vCard's organisation names: by name (case
// and spacing ignored), else by the domain of one of the contact's
// addresses (never a free-mail one), else a new company.
func (s *contactSide) company(ctx context.Context, name string, emails []string) (int64, error) {
	norm := pim.Normalize(pim.FieldCompany, pim.Str(name)).Str
	for id, n := range s.companies {
		if strings.EqualFold(pim.Normalize(pim.FieldCompany, pim.Str(n)).Str, norm) {
			return id, nil
		}
	}
	var domains []string
	for _, e := range emails {
		if i := strings.LastIndexByte(e, '@'); i > 0 {
			d := strings.ToLower(e[i+1:])
			if !builtinRules.CompanyDomain(d) {
				continue
			}
			domains = append(domains, d)
			p, err := s.port.ListCompanies(ctx, store.CompanyFilter{Domain: d, ListParams: store.ListParams{Limit: 1}})
			if err != nil {
				return 0, err
			}
			if len(p.Items) > 0 {
				return p.Items[0].ID, nil
			}
		}
	}
	c, err := s.port.CreateCompany(ctx, crm.Company{OrgID: s.v.OrgID, OwnerID: s.v.UserID, Name: norm, Domains: domains[:min(len(domains), 1)]})
	if err != nil {
		return 0, err
	}
	s.companies[c.ID] = c.Name
	return c.ID, nil
}

// builtinRules tells company domains from free-mail ones when a company
// is found or created for an imported contact.
var builtinRules = linker.NewRules(nil, nil)

// ---- tasks ----

type taskSide struct{ sideBase }

func (s *taskSide) recordType() pim.RecordType { return pim.RecordTask }

func (s *taskSide) load(ctx context.Context) (map[int64]*localRecord, error) {
	out := map[int64]*localRecord{}
	owner := s.v.UserID
	for cur := ""; ; {
		p, err := s.port.ListTasks(ctx, store.TaskFilter{OwnerID: &owner, ListParams: store.ListParams{Limit: store.MaxLimit, Cursor: cur}})
		if err != nil {
			return nil, err
		}
		for _, t := range p.Items {
			out[t.ID] = taskLocal(t)
		}
		if cur = p.NextCursor; cur == "" {
			break
		}
	}
	return out, nil
}

func (s *taskSide) get(ctx context.Context, id int64) (*localRecord, error) {
	t, err := s.port.GetTask(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return taskLocal(t), nil
}

func taskLocal(t crm.Task) *localRecord {
	prio := ""
	if t.Priority > 0 {
		prio = strconv.Itoa(t.Priority)
	}
	f := pim.Fields{
		pim.FieldSummary:     pim.Str(t.Summary),
		pim.FieldDescription: pim.Str(t.Description),
		pim.FieldDue:         pim.Str(string(t.Due)),
		pim.FieldStatus:      pim.Str(string(t.Status)),
		pim.FieldPriority:    pim.Str(prio),
		pim.FieldCompleted:   pim.Str(string(t.CompletedAt)),
		pim.FieldCategories:  pim.SetOf(t.Categories...),
	}
	return &localRecord{id: t.ID, updatedAt: t.UpdatedAt, fields: f.Normalize(), rec: t}
}

func (s *taskSide) build(ctx context.Context, rec *localRecord, fields pim.Fields, only map[string]bool, replaced []pim.Replaced) (store.PIMWrite, []crm.Warning, error) {
	t := crm.Task{OrgID: s.v.OrgID, OwnerID: s.v.UserID, CustomFields: map[string]string{}}
	if rec != nil {
		t = rec.rec.(crm.Task)
	} else {
		only = nil
	}
	set := setter{fields, only}
	set.str(pim.FieldSummary, &t.Summary)
	if t.Summary == "" {
		t.Summary = "(no title)"
	}
	set.str(pim.FieldDescription, &t.Description)
	if set.has(pim.FieldDue) {
		t.Due = crm.When(fields[pim.FieldDue].Str)
	}
	if set.has(pim.FieldStatus) {
		t.Status = crm.TaskStatus(fields[pim.FieldStatus].Str)
	}
	if !t.Status.Valid() {
		t.Status = crm.TaskNeedsAction
	}
	if set.has(pim.FieldPriority) {
		t.Priority, _ = strconv.Atoi(fields[pim.FieldPriority].Str)
	}
	if set.has(pim.FieldCompleted) {
		t.CompletedAt = crm.When(fields[pim.FieldCompleted].Str)
	}
	set.list(pim.FieldCategories, &t.Categories)
	t.CustomFields = s.replacedFields(t.CustomFields, replaced)
	warns := crm.SanitizeTask(&t)
	return store.PIMWrite{Task: &t}, warns, nil
}

func (s *taskSide) stored(w store.PIMWrite) *localRecord { return taskLocal(*w.Task) }

// ---- events ----

type eventSide struct{ sideBase }

func (s *eventSide) recordType() pim.RecordType { return pim.RecordEvent }

func (s *eventSide) load(ctx context.Context) (map[int64]*localRecord, error) {
	out := map[int64]*localRecord{}
	owner := s.v.UserID
	for cur := ""; ; {
		p, err := s.port.ListEvents(ctx, store.EventFilter{OwnerID: &owner, ListParams: store.ListParams{Limit: store.MaxLimit, Cursor: cur}})
		if err != nil {
			return nil, err
		}
		for _, e := range p.Items {
			out[e.ID] = eventLocal(e)
		}
		if cur = p.NextCursor; cur == "" {
			break
		}
	}
	return out, nil
}

func (s *eventSide) get(ctx context.Context, id int64) (*localRecord, error) {
	e, err := s.port.GetEvent(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return eventLocal(e), nil
}

func whens(ws []crm.When) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = string(w)
	}
	return out
}

func toWhens(ss []string) []crm.When {
	if len(ss) == 0 {
		return nil
	}
	out := make([]crm.When, len(ss))
	for i, s := range ss {
		out[i] = crm.When(s)
	}
	return out
}

// overridesText is the canonical text of an event's overridden
// occurrences: the JSON of the list sorted by recurrence id, "" for none.
// The CalDAV codec writes the same, so equal overrides compare equal.
func overridesText(os []crm.EventOverride) string {
	if len(os) == 0 {
		return ""
	}
	os = slices.Clone(os)
	slices.SortFunc(os, func(a, b crm.EventOverride) int {
		return strings.Compare(string(a.RecurrenceID), string(b.RecurrenceID))
	})
	b, _ := json.Marshal(os)
	return string(b)
}

func eventLocal(e crm.Event) *localRecord {
	f := pim.Fields{
		pim.FieldSummary:     pim.Str(e.Summary),
		pim.FieldDescription: pim.Str(e.Description),
		pim.FieldLocation:    pim.Str(e.Location),
		pim.FieldStart:       pim.Str(string(e.Start)),
		pim.FieldEnd:         pim.Str(string(e.End)),
		pim.FieldRRule:       pim.Str(e.RRule),
		pim.FieldExDates:     pim.SetOf(whens(e.ExDates)...),
		pim.FieldRDates:      pim.SetOf(whens(e.RDates)...),
		pim.FieldOverrides:   pim.Str(overridesText(e.Overrides)),
		pim.FieldAttendees:   pim.SetOf(e.Attendees...),
		pim.FieldCategories:  pim.SetOf(e.Categories...),
	}
	return &localRecord{id: e.ID, updatedAt: e.UpdatedAt, fields: f.Normalize(), rec: e}
}

func (s *eventSide) build(ctx context.Context, rec *localRecord, fields pim.Fields, only map[string]bool, replaced []pim.Replaced) (store.PIMWrite, []crm.Warning, error) {
	e := crm.Event{OrgID: s.v.OrgID, OwnerID: s.v.UserID, CustomFields: map[string]string{}}
	if rec != nil {
		e = rec.rec.(crm.Event)
	} else {
		only = nil
	}
	set := setter{fields, only}
	set.str(pim.FieldSummary, &e.Summary)
	if e.Summary == "" {
		e.Summary = "(no title)"
	}
	set.str(pim.FieldDescription, &e.Description)
	set.str(pim.FieldLocation, &e.Location)
	if set.has(pim.FieldStart) {
		e.Start = crm.When(fields[pim.FieldStart].Str)
	}
	if set.has(pim.FieldEnd) {
		e.End = crm.When(fields[pim.FieldEnd].Str)
	}
	set.str(pim.FieldRRule, &e.RRule)
	if set.has(pim.FieldExDates) {
		e.ExDates = toWhens(fields[pim.FieldExDates].List)
	}
	if set.has(pim.FieldRDates) {
		e.RDates = toWhens(fields[pim.FieldRDates].List)
	}
	if set.has(pim.FieldOverrides) {
		e.Overrides = nil
		if t := fields[pim.FieldOverrides].Str; t != "" {
			if err := json.Unmarshal([]byte(t), &e.Overrides); err != nil {
				return store.PIMWrite{}, nil, &store.FieldError{Field: "overrides", Code: "invalid", Message: "the overridden occurrences cannot be read: " + err.Error()}
			}
		}
	}
	set.list(pim.FieldAttendees, &e.Attendees)
	set.list(pim.FieldCategories, &e.Categories)
	e.CustomFields = s.replacedFields(e.CustomFields, replaced)
	warns, err := crm.SanitizeEvent(&e)
	var fe *crm.FieldError
	if errors.As(err, &fe) {
		return store.PIMWrite{}, nil, &store.FieldError{Field: fe.Field, Code: "invalid", Message: fe.Message}
	}
	return store.PIMWrite{Event: &e}, warns, nil
}

func (s *eventSide) stored(w store.PIMWrite) *localRecord { return eventLocal(*w.Event) }
