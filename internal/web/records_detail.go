package web

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// timelinePageSize is the messages of a timeline page.
const timelinePageSize = 20

// fact is a line of a record's page: a label and its value, a link when
// Href is set.
type fact struct {
	Label, Value, Href string
}

// recordData is a record's page: what it is, its related records, and
// its email timeline.
type recordData struct {
	Type crm.LinkType
	ID   int64
	// List is the path of the list of this type of record ("companies").
	List    string
	Name    string
	Facts   []fact
	Related []relatedList
	// Compose is the address of the compose page for this record.
	Compose  string
	Timeline timeline
}

// relatedList is a list of records on another's page (a company's
// contacts).
type relatedList struct {
	Title string
	Rows  []fact
}

// timeline is the emails linked to a record, newest first.
type timeline struct {
	Items []timelineItem
	// Next and First page the timeline, as a list's.
	Next, First string
}

// timelineItem is a message of a timeline.
type timelineItem struct {
	ID       int64
	Subject  string
	Date     string
	From, To string
	Links    []linkView
	Attached int
}

// linkView is a record a message is linked to, with its name when the
// user may see it.
type linkView struct {
	Type   crm.LinkType
	ID     int64
	Name   string
	Href   string
	Manual bool
}

func (s *Server) companyPage(p *Page) error {
	cid, err := pathID(p, "id")
	if err != nil {
		return err
	}
	c, err := s.cfg.Store.GetCompany(p.Ctx(), p.Viewer, cid)
	if err != nil {
		return err
	}
	d := recordData{Type: crm.LinkCompany, ID: c.ID, Name: c.Name, Compose: "/compose?company_id=" + id(c.ID)}
	if len(c.Domains) > 0 {
		d.Facts = append(d.Facts, fact{Label: p.P.T("records.domains"), Value: strings.Join(c.Domains, ", ")})
	}
	contacts, err := s.cfg.Store.ListContacts(p.Ctx(), p.Viewer, store.ContactFilter{CompanyID: &c.ID, ListParams: store.ListParams{Limit: 50}})
	if err != nil {
		return err
	}
	rel := relatedList{Title: p.P.T("records.contacts.title")}
	for _, x := range contacts.Items {
		rel.Rows = append(rel.Rows, fact{Label: contactName(p, x), Value: strings.Join(x.Emails, ", "), Href: "/contacts/" + id(x.ID)})
	}
	d.Related = append(d.Related, rel)
	opps, err := s.cfg.Store.ListOpportunities(p.Ctx(), p.Viewer, store.OpportunityFilter{CompanyID: &c.ID, ListParams: store.ListParams{Limit: 50}})
	if err != nil {
		return err
	}
	d.Related = append(d.Related, opportunityRows(p, opps.Items))
	return s.renderRecord(p, d)
}

func (s *Server) contactPage(p *Page) error {
	cid, err := pathID(p, "id")
	if err != nil {
		return err
	}
	c, err := s.cfg.Store.GetContact(p.Ctx(), p.Viewer, cid)
	if err != nil {
		return err
	}
	d := recordData{Type: crm.LinkContact, ID: c.ID, Name: contactName(p, c), Compose: "/compose?contact_id=" + id(c.ID)}
	if c.Title != "" {
		d.Facts = append(d.Facts, fact{Label: p.P.T("records.job_title"), Value: c.Title})
	}
	if len(c.Emails) > 0 {
		d.Facts = append(d.Facts, fact{Label: p.P.T("records.emails"), Value: strings.Join(c.Emails, ", ")})
	}
	if len(c.Phones) > 0 {
		d.Facts = append(d.Facts, fact{Label: p.P.T("records.phones"), Value: strings.Join(c.Phones, ", ")})
	}
	if c.CompanyID != nil {
		if co, err := s.cfg.Store.GetCompany(p.Ctx(), p.Viewer, *c.CompanyID); err == nil {
			d.Facts = append(d.Facts, fact{Label: p.P.T("records.company"), Value: co.Name, Href: "/companies/" + id(co.ID)})
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	opps, err := s.cfg.Store.ListOpportunities(p.Ctx(), p.Viewer, store.OpportunityFilter{ContactID: &c.ID, ListParams: store.ListParams{Limit: 50}})
	if err != nil {
		return err
	}
	d.Related = append(d.Related, opportunityRows(p, opps.Items))
	return s.renderRecord(p, d)
}

func (s *Server) opportunityPage(p *Page) error {
	oid, err := pathID(p, "id")
	if err != nil {
		return err
	}
	o, err := s.cfg.Store.GetOpportunity(p.Ctx(), p.Viewer, oid)
	if err != nil {
		return err
	}
	d := recordData{Type: crm.LinkOpportunity, ID: o.ID, Name: o.Name, Compose: "/compose?opportunity_id=" + id(o.ID)}
	d.Facts = append(d.Facts, fact{Label: p.P.T("records.status"), Value: statusWords(p, o.Status)})
	if a := amountWords(o); a != "" {
		d.Facts = append(d.Facts, fact{Label: p.P.T("records.amount"), Value: a})
	}
	if o.CompanyID != nil {
		if co, err := s.cfg.Store.GetCompany(p.Ctx(), p.Viewer, *o.CompanyID); err == nil {
			d.Facts = append(d.Facts, fact{Label: p.P.T("records.company"), Value: co.Name, Href: "/companies/" + id(co.ID)})
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	rel := relatedList{Title: p.P.T("records.contacts.title")}
	for _, cid := range o.ContactIDs {
		c, err := s.cfg.Store.GetContact(p.Ctx(), p.Viewer, cid)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		rel.Rows = append(rel.Rows, fact{Label: contactName(p, c), Value: strings.Join(c.Emails, ", "), Href: "/contacts/" + id(c.ID)})
	}
	d.Related = append(d.Related, rel)
	return s.renderRecord(p, d)
}

func opportunityRows(p *Page, items []crm.Opportunity) relatedList {
	rel := relatedList{Title: p.P.T("records.opportunities.title")}
	for _, o := range items {
		rel.Rows = append(rel.Rows, fact{Label: o.Name, Value: statusWords(p, o.Status), Href: "/opportunities/" + id(o.ID)})
	}
	return rel
}

// renderRecord adds the record's timeline (the page of ?cursor=) and
// shows the page.
func (s *Server) renderRecord(p *Page, d recordData) error {
	cursor := p.R.URL.Query().Get("cursor")
	page, err := s.cfg.Store.ListEmails(p.Ctx(), p.Viewer, store.EmailFilter{
		ListParams: store.ListParams{Limit: timelinePageSize, Cursor: cursor},
		LinkedTo:   &store.LinkTarget{Type: d.Type, ID: d.ID}})
	if err != nil {
		return listError(p, err)
	}
	d.List = recordPath(d.Type)
	names := s.linkNames(p)
	for _, e := range page.Items {
		// A list carries no links: each message's are read on their own
		// (the records the user may see only).
		links, err := s.cfg.Store.EmailLinks(p.Ctx(), p.Viewer, e.ID)
		if err != nil {
			return err
		}
		d.Timeline.Items = append(d.Timeline.Items, timelineItem{ID: e.ID, Subject: subjectWords(p, e.Subject), Date: p.P.DateTime(e.Date),
			From: addressList(e.Participants.From), To: addressList(append(append([]crm.Address{}, e.Participants.To...), e.Participants.Cc...)),
			Links: names(links), Attached: len(e.Attachments)})
	}
	self := "/" + recordPath(d.Type) + "/" + id(d.ID)
	if cursor != "" {
		d.Timeline.First = self + "#timeline"
	}
	if page.NextCursor != "" {
		d.Timeline.Next = self + "?" + url.Values{"cursor": {page.NextCursor}}.Encode() + "#timeline"
	}
	return p.Render("record", d)
}

// recordPath is the path segment of a record type's pages.
func recordPath(t crm.LinkType) string {
	switch t {
	case crm.LinkCompany:
		return "companies"
	case crm.LinkContact:
		return "contacts"
	}
	return "opportunities"
}

// linkNames returns a function naming the records of links (each looked
// up once per page); a record the user may not open keeps its type only.
func (s *Server) linkNames(p *Page) func([]crm.EmailLink) []linkView {
	known := map[crm.LinkRef]linkView{}
	return func(links []crm.EmailLink) []linkView {
		var out []linkView
		for _, l := range links {
			ref := crm.LinkRef{Type: l.Type, ID: l.ID}
			v, ok := known[ref]
			if !ok {
				v = linkView{Type: l.Type, ID: l.ID}
				if name, err := s.recordName(p.Ctx(), p, l.Type, l.ID); err == nil {
					v.Name, v.Href = name, "/"+recordPath(l.Type)+"/"+id(l.ID)
				}
				known[ref] = v
			}
			v.Manual = l.Source == "manual"
			out = append(out, v)
		}
		return out
	}
}

// recordName is the name of a record the viewer may see.
func (s *Server) recordName(ctx context.Context, p *Page, t crm.LinkType, rid int64) (string, error) {
	switch t {
	case crm.LinkCompany:
		c, err := s.cfg.Store.GetCompany(ctx, p.Viewer, rid)
		return c.Name, err
	case crm.LinkContact:
		c, err := s.cfg.Store.GetContact(ctx, p.Viewer, rid)
		return contactName(p, c), err
	default:
		o, err := s.cfg.Store.GetOpportunity(ctx, p.Viewer, rid)
		return o.Name, err
	}
}

// addressList writes addresses as a header would, names first.
func addressList(as []crm.Address) string {
	parts := make([]string, 0, len(as))
	for _, a := range as {
		if a.Name != "" {
			parts = append(parts, a.Name+" <"+a.Email+">")
		} else {
			parts = append(parts, a.Email)
		}
	}
	return strings.Join(parts, ", ")
}

func subjectWords(p *Page, s string) string {
	if strings.TrimSpace(s) == "" {
		return p.P.T("records.no_subject")
	}
	return s
}
