package syncer

import (
	"context"
	"encoding/json"
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
	// recordType is store.PIMContact, PIMTask or PIMEvent.
	recordType() string
	// load returns every record in the account's scope, by id.
	load(ctx context.Context) (map[int64]*localRecord, error)
	// get reads one record again (after ErrStale); nil when it is gone.
	get(ctx context.Context, id int64) (*localRecord, error)
	// write creates (rec nil) or replaces a record with fields, keeping
	// replaced values in custom fields, together with item (may be nil)
	// in one transaction.
	write(ctx context.Context, rec *localRecord, fields pim.Fields, replaced []pim.Replaced, item *store.PIMItem) (*localRecord, *store.PIMItem, error)
}

// sideBase holds what every record side needs.
type sideBase struct {
	st    store.Store
	fence store.Fence
	v     crm.Viewer // the account's owner
	now   func() time.Time
}

func (b sideBase) replacedFields(existing map[string]string, replaced []pim.Replaced) map[string]string {
	if len(replaced) == 0 {
		return existing
	}
	return pim.ReplacedCustomFields(existing, replaced, b.now())
}

// ---- contacts ----

type contactSide struct {
	sideBase
	companies map[int64]string // id → name, of companies the owner sees
	outcomes  map[int64][]crm.OpportunityStatus
}

func (s *contactSide) recordType() string { return store.PIMContact }

func (s *contactSide) load(ctx context.Context) (map[int64]*localRecord, error) {
	s.companies = map[int64]string{}
	for cur := ""; ; {
		p, err := s.st.ListCompanies(ctx, s.v, store.CompanyFilter{ListParams: store.ListParams{Limit: store.MaxLimit, Cursor: cur}})
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
	if s.outcomes, err = s.st.PIMRecordOutcomes(ctx, s.v.OrgID); err != nil {
		return nil, err
	}
	out := map[int64]*localRecord{}
	for cur := ""; ; {
		p, err := s.st.ListContacts(ctx, s.v, store.ContactFilter{ListParams: store.ListParams{Limit: store.MaxLimit, Cursor: cur}})
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
	c, err := s.st.GetContact(ctx, s.v, id)
	if err != nil {
		if err == store.ErrNotFound {
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

func (s *contactSide) write(ctx context.Context, rec *localRecord, fields pim.Fields, replaced []pim.Replaced, item *store.PIMItem) (*localRecord, *store.PIMItem, error) {
	c := crm.Contact{OrgID: s.v.OrgID, OwnerID: s.v.UserID, Lifecycle: crm.LifecycleLead, CustomFields: map[string]string{}}
	if rec != nil {
		c = rec.rec.(crm.Contact)
	}
	c.FirstName = fields[pim.FieldFirstName].Str
	c.LastName = fields[pim.FieldLastName].Str
	c.Emails = slices.Clone(fields[pim.FieldEmails].List)
	c.Phones = slices.Clone(fields[pim.FieldPhones].List)
	c.Title = fields[pim.FieldTitle].Str
	c.Address = crm.ParsePostalAddress(fields[pim.FieldAddress].Str)
	c.Notes = fields[pim.FieldNotes].Str
	c.Categories = slices.Clone(fields[pim.FieldCategories].List)
	c.CustomFields = s.replacedFields(c.CustomFields, replaced)
	name := fields[pim.FieldCompany].Str
	if cur := ""; c.CompanyID != nil {
		cur = s.companies[*c.CompanyID]
		if !strings.EqualFold(cur, name) {
			c.CompanyID = nil
		}
	}
	if name != "" && c.CompanyID == nil {
		id, err := s.company(ctx, name, c.Emails)
		if err != nil {
			return nil, nil, err
		}
		c.CompanyID = &id
	}
	w, err := s.st.ApplyPIMWrite(ctx, s.fence, s.v, store.PIMWrite{Contact: &c, Item: item})
	if err != nil {
		return nil, nil, err
	}
	return s.local(*w.Contact), w.Item, nil
}

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
			p, err := s.st.ListCompanies(ctx, s.v, store.CompanyFilter{Domain: d, ListParams: store.ListParams{Limit: 1}})
			if err != nil {
				return 0, err
			}
			if len(p.Items) > 0 {
				return p.Items[0].ID, nil
			}
		}
	}
	c, err := s.st.CreateCompany(ctx, s.v, crm.Company{OrgID: s.v.OrgID, OwnerID: s.v.UserID, Name: norm, Domains: domains[:min(len(domains), 1)]})
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

func (s *taskSide) recordType() string { return store.PIMTask }

func (s *taskSide) load(ctx context.Context) (map[int64]*localRecord, error) {
	out := map[int64]*localRecord{}
	owner := s.v.UserID
	for cur := ""; ; {
		p, err := s.st.ListTasks(ctx, s.v, store.TaskFilter{OwnerID: &owner, ListParams: store.ListParams{Limit: store.MaxLimit, Cursor: cur}})
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
	t, err := s.st.GetTask(ctx, s.v, id)
	if err == store.ErrNotFound {
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

func (s *taskSide) write(ctx context.Context, rec *localRecord, fields pim.Fields, replaced []pim.Replaced, item *store.PIMItem) (*localRecord, *store.PIMItem, error) {
	t := crm.Task{OrgID: s.v.OrgID, OwnerID: s.v.UserID, CustomFields: map[string]string{}}
	if rec != nil {
		t = rec.rec.(crm.Task)
	}
	t.Summary = fields[pim.FieldSummary].Str
	if t.Summary == "" {
		t.Summary = "(no title)"
	}
	t.Description = fields[pim.FieldDescription].Str
	t.Due = crm.When(fields[pim.FieldDue].Str)
	t.Status = crm.TaskStatus(fields[pim.FieldStatus].Str)
	if !t.Status.Valid() {
		t.Status = crm.TaskNeedsAction
	}
	t.Priority, _ = strconv.Atoi(fields[pim.FieldPriority].Str)
	t.CompletedAt = crm.When(fields[pim.FieldCompleted].Str)
	t.Categories = slices.Clone(fields[pim.FieldCategories].List)
	t.CustomFields = s.replacedFields(t.CustomFields, replaced)
	w, err := s.st.ApplyPIMWrite(ctx, s.fence, s.v, store.PIMWrite{Task: &t, Item: item})
	if err != nil {
		return nil, nil, err
	}
	return taskLocal(*w.Task), w.Item, nil
}

// ---- events ----

type eventSide struct{ sideBase }

func (s *eventSide) recordType() string { return store.PIMEvent }

func (s *eventSide) load(ctx context.Context) (map[int64]*localRecord, error) {
	out := map[int64]*localRecord{}
	owner := s.v.UserID
	for cur := ""; ; {
		p, err := s.st.ListEvents(ctx, s.v, store.EventFilter{OwnerID: &owner, ListParams: store.ListParams{Limit: store.MaxLimit, Cursor: cur}})
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
	e, err := s.st.GetEvent(ctx, s.v, id)
	if err == store.ErrNotFound {
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

func (s *eventSide) write(ctx context.Context, rec *localRecord, fields pim.Fields, replaced []pim.Replaced, item *store.PIMItem) (*localRecord, *store.PIMItem, error) {
	e := crm.Event{OrgID: s.v.OrgID, OwnerID: s.v.UserID, CustomFields: map[string]string{}}
	if rec != nil {
		e = rec.rec.(crm.Event)
	}
	e.Summary = fields[pim.FieldSummary].Str
	if e.Summary == "" {
		e.Summary = "(no title)"
	}
	e.Description = fields[pim.FieldDescription].Str
	e.Location = fields[pim.FieldLocation].Str
	e.Start = crm.When(fields[pim.FieldStart].Str)
	e.End = crm.When(fields[pim.FieldEnd].Str)
	e.AllDay = e.Start.IsDate()
	e.RRule = fields[pim.FieldRRule].Str
	e.ExDates = toWhens(fields[pim.FieldExDates].List)
	e.RDates = toWhens(fields[pim.FieldRDates].List)
	e.Overrides = nil
	if t := fields[pim.FieldOverrides].Str; t != "" {
		if err := json.Unmarshal([]byte(t), &e.Overrides); err != nil {
			return nil, nil, err
		}
	}
	e.Attendees = slices.Clone(fields[pim.FieldAttendees].List)
	e.Categories = slices.Clone(fields[pim.FieldCategories].List)
	e.CustomFields = s.replacedFields(e.CustomFields, replaced)
	w, err := s.st.ApplyPIMWrite(ctx, s.fence, s.v, store.PIMWrite{Event: &e, Item: item})
	if err != nil {
		return nil, nil, err
	}
	return eventLocal(*w.Event), w.Item, nil
}
