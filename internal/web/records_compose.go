package web

import (
	"errors"
	"net/http"
	"net/mail"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/i18n"
	"github.com/crmsync/crmsync/internal/messages"
	"github.com/crmsync/crmsync/internal/store"
)

// composeData is the compose page: a message written from a record.
type composeData struct {
	// The record it is written from, linked to the message sent.
	Record     string // "company:12"
	RecordName string
	RecordHref string
	// Mailboxes are the user's mailboxes that can send.
	Mailboxes []crm.MailAccount
	AccountID int64
	To        string
	Subject   string
	Body      string
	// Errors by field (account_id, to, subject, body), in the user's
	// language; Error is one about the whole message.
	Errors map[string]string
	Error  string
}

// composeRecord reads the record of ?company_id=, ?contact_id= or
// ?opportunity_id= (or the form's "record"): its reference, name, page
// and the address to write to (its contact's).
func (s *Server) composeRecord(p *Page, d *composeData) error {
	q := p.R.URL.Query()
	var ref crm.LinkRef
	var ok bool
	switch {
	case p.R.Method == http.MethodPost:
		if p.R.PostFormValue("record") == "" {
			return nil
		}
		ref, ok = linkRef(p.R.PostFormValue("record"))
	case q.Get("company_id") != "":
		ref, ok = linkRef("company:" + q.Get("company_id"))
	case q.Get("contact_id") != "":
		ref, ok = linkRef("contact:" + q.Get("contact_id"))
	case q.Get("opportunity_id") != "":
		ref, ok = linkRef("opportunity:" + q.Get("opportunity_id"))
	default:
		return nil // a message linked to no record
	}
	if !ok {
		return ErrNotFound
	}
	ctx, st, v := p.Ctx(), s.cfg.Store, p.Viewer
	var contact *crm.Contact
	firstOf := func(ids []int64) error {
		for _, cid := range ids {
			c, err := st.GetContact(ctx, v, cid)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if len(c.Emails) > 0 {
				contact = &c
				return nil
			}
		}
		return nil
	}
	companyContact := func(co int64) error {
		page, err := st.ListContacts(ctx, v, store.ContactFilter{CompanyID: &co, ListParams: store.ListParams{Limit: 50}})
		if err != nil {
			return err
		}
		for _, c := range page.Items {
			if len(c.Emails) > 0 {
				contact = &c
				return nil
			}
		}
		return nil
	}
	switch ref.Type {
	case crm.LinkCompany:
		c, err := st.GetCompany(ctx, v, ref.ID)
		if err != nil {
			return err
		}
		d.RecordName = c.Name
		if err := companyContact(c.ID); err != nil {
			return err
		}
	case crm.LinkContact:
		c, err := st.GetContact(ctx, v, ref.ID)
		if err != nil {
			return err
		}
		d.RecordName, contact = contactName(p, c), &c
	case crm.LinkOpportunity:
		o, err := st.GetOpportunity(ctx, v, ref.ID)
		if err != nil {
			return err
		}
		d.RecordName = o.Name
		if err := firstOf(o.ContactIDs); err != nil {
			return err
		}
		if contact == nil && o.CompanyID != nil {
			if err := companyContact(*o.CompanyID); err != nil {
				return err
			}
		}
	}
	d.Record = string(ref.Type) + ":" + id(ref.ID)
	d.RecordHref = "/" + recordPath(ref.Type) + "/" + id(ref.ID)
	if contact != nil && len(contact.Emails) > 0 && d.To == "" {
		a := mail.Address{Name: strings.TrimSpace(contact.FirstName + " " + contact.LastName), Address: contact.Emails[0]}
		if a.Name == "" {
			d.To = a.Address
		} else {
			d.To = a.String()
		}
	}
	return nil
}

// sendingMailboxes are the user's own mailboxes that can send
// (messages.CanSend, the check the send itself makes).
func (s *Server) sendingMailboxes(p *Page) ([]crm.MailAccount, error) {
	uid := p.User.ID
	page, err := s.cfg.Store.ListMailAccounts(p.Ctx(), p.Viewer, store.MailAccountFilter{UserID: &uid, ListParams: store.ListParams{Limit: store.MaxLimit}})
	if err != nil {
		return nil, err
	}
	var out []crm.MailAccount
	for _, a := range page.Items {
		if messages.CanSend(a, p.Viewer, p.User) == nil {
			out = append(out, a)
		}
	}
	return out, nil
}

func (s *Server) composePage(p *Page) error {
	if s.cfg.Messages == nil {
		return ErrNotFound
	}
	var d composeData
	if err := s.composeRecord(p, &d); err != nil {
		return err
	}
	var err error
	if d.Mailboxes, err = s.sendingMailboxes(p); err != nil {
		return err
	}
	if len(d.Mailboxes) > 0 {
		d.AccountID = d.Mailboxes[0].ID
	}
	return p.Render("compose", d)
}

// composeSubmit sends the message through the messages service, as the
// REST API's POST /api/v1/messages/send, and shows its outbox item.
func (s *Server) composeSubmit(p *Page) error {
	if s.cfg.Messages == nil {
		return ErrNotFound
	}
	f := p.R.PostForm
	d := composeData{To: strings.TrimSpace(f.Get("to")), Subject: f.Get("subject"), Body: f.Get("body"), Errors: map[string]string{}}
	if err := s.composeRecord(p, &d); err != nil {
		return err
	}
	var err error
	if d.Mailboxes, err = s.sendingMailboxes(p); err != nil {
		return err
	}
	req := messages.SendRequest{Subject: d.Subject, Text: d.Body}
	if d.AccountID, err = parseID(f.Get("account_id")); err != nil {
		d.Errors["account_id"] = p.P.T("records.compose.choose_mailbox")
	}
	req.AccountID = d.AccountID
	if d.To == "" {
		d.Errors["to"] = p.P.T("records.compose.to_required")
	} else if list, err := mail.ParseAddressList(d.To); err != nil {
		d.Errors["to"] = p.P.T("records.compose.to_invalid")
	} else {
		for _, a := range list {
			req.To = append(req.To, crm.Address{Name: a.Name, Email: a.Address})
		}
	}
	if ref, ok := linkRef(d.Record); ok {
		req.Links = []crm.LinkRef{ref}
	}
	if len(d.Errors) == 0 {
		it, err := s.cfg.Messages.Send(p.Ctx(), p.Viewer, p.User, req)
		if err == nil {
			p.Redirect("/outbox/" + id(it.ID))
			return nil
		}
		var me *messages.Error
		if !errors.As(err, &me) {
			return err
		}
		msg := me.Message
		if i18n.Has("records.send_error." + me.Code) {
			msg = p.P.T("records.send_error." + me.Code)
		}
		field := me.Field
		if i := strings.IndexByte(field, '['); i > 0 {
			field = field[:i]
		}
		switch field {
		case "account_id", "to", "subject":
			d.Errors[field] = msg
		case "text":
			d.Errors["body"] = msg
		default:
			d.Error = msg
		}
	}
	return p.RenderStatus(http.StatusUnprocessableEntity, "compose", d)
}

func parseID(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err == nil && n <= 0 {
		err = errors.New("not an id")
	}
	return n, err
}

// outboxData is a message being sent, as its page shows it.
type outboxData struct {
	ID      int64
	Subject string
	To      string
	From    string
	State   crm.OutboxState
	Error   string
	EmailID int64
	// Live: the state may still change (queued, sending).
	Live bool
}

func (s *Server) outboxItem(p *Page) (outboxData, error) {
	oid, err := pathID(p, "id")
	if err != nil {
		return outboxData{}, err
	}
	it, err := s.cfg.Store.GetOutboxItem(p.Ctx(), p.Viewer, oid)
	if err != nil {
		return outboxData{}, err
	}
	d := outboxData{ID: it.ID, Subject: subjectWords(p, it.Request.Subject), To: addressList(it.Request.To), From: addressList([]crm.Address{it.From}),
		State: it.State, Error: it.LastError, Live: it.State == crm.OutboxQueued || it.State == crm.OutboxSending}
	if it.EmailID != nil {
		d.EmailID = *it.EmailID
	}
	return d, nil
}

func (s *Server) outboxPage(p *Page) error {
	d, err := s.outboxItem(p)
	if err != nil {
		return err
	}
	return p.Render("outbox", d)
}

// outboxState is the live fragment of the outbox page.
func (s *Server) outboxState(p *Page) error {
	d, err := s.outboxItem(p)
	if err != nil {
		return err
	}
	return p.RenderPartial("outbox", "records_outbox_state", d)
}
