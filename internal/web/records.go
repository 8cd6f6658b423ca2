package web

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// The CRM's records: lists of companies, contacts and opportunities with
// a search and the store's cursor pages (as the REST API's lists), each
// record's page with its email timeline (records_detail.go), a message
// with its links (records_message.go), the compose page and the outbox
// (records_compose.go), and the user's tasks and events. Every read goes
// through the store on behalf of the user's crm.Viewer, so a record of
// another organisation, or one the user may not see, is a 404.

// recordRoutes registers the pages of this area (see routes in web.go).
func (s *Server) recordRoutes() {
	s.authed("GET /companies", s.companiesPage)
	s.authed("GET /companies/{id}", s.companyPage)
	s.authed("GET /contacts", s.contactsPage)
	s.authed("GET /contacts/{id}", s.contactPage)
	s.authed("GET /opportunities", s.opportunitiesPage)
	s.authed("GET /opportunities/{id}", s.opportunityPage)
	s.authed("GET /tasks", s.tasksPage)
	s.authed("GET /events", s.eventsPage)

	s.authed("GET /messages/{id}", s.messagePage)
	s.authed("GET /messages/{id}/attachments/{n}", s.attachmentDownload)
	s.authed("POST /messages/{id}/links", s.linkSubmit)
	s.authed("POST /messages/{id}/unlink", s.unlinkSubmit)

	s.authed("GET /compose", s.composePage)
	s.authed("POST /compose", s.composeSubmit)
	s.authed("GET /outbox/{id}", s.outboxPage)
	s.authed("GET /outbox/{id}/state", s.outboxState)
}

// listPageSize is the rows of a list page.
const listPageSize = 25

// maxQuery bounds a search, as the REST API's q.
const maxQuery = 200

// listRow is a line of a list: its name (a link to the record when Href
// is set) and what else the list shows.
type listRow struct {
	Href   string
	Name   string
	Detail []string
}

// listData is a list page: companies, contacts, opportunities, tasks,
// events.
type listData struct {
	Kind    string   // "companies", …: the ids of the page's words
	Columns []string // headings after the name's
	Q       string
	Rows    []listRow
	// Next is the address of the next page ("" on the last); First that
	// of the first page, on a later one.
	Next, First string
}

// listParams reads a list page's q and cursor.
func listParams(p *Page) (store.ListParams, error) {
	q := strings.TrimSpace(p.R.URL.Query().Get("q"))
	if utf8.RuneCountInString(q) > maxQuery {
		return store.ListParams{}, &FormError{Message: p.P.T("records.query_too_long", "Max", maxQuery)}
	}
	return store.ListParams{Q: q, Limit: listPageSize, Cursor: p.R.URL.Query().Get("cursor")}, nil
}

// pageLinks fills the next and first page addresses of a list at path.
func pageLinks(d *listData, path string, lp store.ListParams, next string) {
	v := url.Values{}
	if lp.Q != "" {
		v.Set("q", lp.Q)
	}
	if lp.Cursor != "" {
		d.First = path
		if len(v) > 0 {
			d.First += "?" + v.Encode()
		}
	}
	if next != "" {
		v.Set("cursor", next)
		d.Next = path + "?" + v.Encode()
	}
}

// listError makes a cursor this server did not issue a plain refusal
// rather than a failure.
func listError(p *Page, err error) error {
	if errors.Is(err, store.ErrBadCursor) {
		return &FormError{Message: p.P.T("records.bad_cursor")}
	}
	return err
}

func (s *Server) companiesPage(p *Page) error {
	lp, err := listParams(p)
	if err != nil {
		return err
	}
	page, err := s.cfg.Store.ListCompanies(p.Ctx(), p.Viewer, store.CompanyFilter{ListParams: lp})
	if err != nil {
		return listError(p, err)
	}
	d := listData{Kind: "companies", Q: lp.Q, Columns: []string{p.P.T("records.domains")}}
	for _, c := range page.Items {
		d.Rows = append(d.Rows, listRow{Href: "/companies/" + id(c.ID), Name: c.Name, Detail: []string{strings.Join(c.Domains, ", ")}})
	}
	pageLinks(&d, "/companies", lp, page.NextCursor)
	return p.Render("records", d)
}

func (s *Server) contactsPage(p *Page) error {
	lp, err := listParams(p)
	if err != nil {
		return err
	}
	page, err := s.cfg.Store.ListContacts(p.Ctx(), p.Viewer, store.ContactFilter{ListParams: lp})
	if err != nil {
		return listError(p, err)
	}
	d := listData{Kind: "contacts", Q: lp.Q, Columns: []string{p.P.T("records.emails"), p.P.T("records.job_title")}}
	for _, c := range page.Items {
		d.Rows = append(d.Rows, listRow{Href: "/contacts/" + id(c.ID), Name: contactName(p, c), Detail: []string{strings.Join(c.Emails, ", "), c.Title}})
	}
	pageLinks(&d, "/contacts", lp, page.NextCursor)
	return p.Render("records", d)
}

func (s *Server) opportunitiesPage(p *Page) error {
	lp, err := listParams(p)
	if err != nil {
		return err
	}
	page, err := s.cfg.Store.ListOpportunities(p.Ctx(), p.Viewer, store.OpportunityFilter{ListParams: lp})
	if err != nil {
		return listError(p, err)
	}
	d := listData{Kind: "opportunities", Q: lp.Q, Columns: []string{p.P.T("records.status"), p.P.T("records.amount")}}
	for _, o := range page.Items {
		d.Rows = append(d.Rows, listRow{Href: "/opportunities/" + id(o.ID), Name: o.Name, Detail: []string{statusWords(p, o.Status), amountWords(o)}})
	}
	pageLinks(&d, "/opportunities", lp, page.NextCursor)
	return p.Render("records", d)
}

func (s *Server) tasksPage(p *Page) error {
	lp, err := listParams(p)
	if err != nil {
		return err
	}
	page, err := s.cfg.Store.ListTasks(p.Ctx(), p.Viewer, store.TaskFilter{ListParams: lp})
	if err != nil {
		return listError(p, err)
	}
	d := listData{Kind: "tasks", Q: lp.Q, Columns: []string{p.P.T("records.due"), p.P.T("records.status")}}
	for _, t := range page.Items {
		d.Rows = append(d.Rows, listRow{Name: t.Summary, Detail: []string{crmWhenWords(p, t.Due), p.P.T("records.task." + string(t.Status))}})
	}
	pageLinks(&d, "/tasks", lp, page.NextCursor)
	return p.Render("records", d)
}

func (s *Server) eventsPage(p *Page) error {
	lp, err := listParams(p)
	if err != nil {
		return err
	}
	page, err := s.cfg.Store.ListEvents(p.Ctx(), p.Viewer, store.EventFilter{ListParams: lp})
	if err != nil {
		return listError(p, err)
	}
	d := listData{Kind: "events", Q: lp.Q, Columns: []string{p.P.T("records.starts"), p.P.T("records.location")}}
	for _, e := range page.Items {
		d.Rows = append(d.Rows, listRow{Name: e.Summary, Detail: []string{crmWhenWords(p, e.Start), e.Location}})
	}
	pageLinks(&d, "/events", lp, page.NextCursor)
	return p.Render("records", d)
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

// pathID reads the {name} of the path; anything but a positive id is a
// page that does not exist.
func pathID(p *Page, name string) (int64, error) {
	n, err := strconv.ParseInt(p.R.PathValue(name), 10, 64)
	if err != nil || n <= 0 {
		return 0, ErrNotFound
	}
	return n, nil
}

// contactName is a contact's name, or their first address when they have
// none.
func contactName(p *Page, c crm.Contact) string {
	n := strings.TrimSpace(c.FirstName + " " + c.LastName)
	if n == "" && len(c.Emails) > 0 {
		n = c.Emails[0]
	}
	if n == "" {
		n = p.P.T("records.unnamed")
	}
	return n
}

func statusWords(p *Page, s crm.OpportunityStatus) string {
	return p.P.T("records.opportunity." + string(s))
}

func amountWords(o crm.Opportunity) string {
	if o.Amount == nil {
		return ""
	}
	return strings.TrimSpace(string(*o.Amount) + " " + o.Currency)
}

// crmWhenWords writes a task's due date or an event's start in the user's
// language: a day, or a day and time.
func crmWhenWords(p *Page, w crm.When) string {
	if w == "" {
		return ""
	}
	t, err := w.Time(nil)
	if err != nil {
		return string(w)
	}
	if w.IsDate() {
		return p.P.Date(t)
	}
	return p.P.DateTime(t)
}
