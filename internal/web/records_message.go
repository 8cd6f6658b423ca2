package web

import (
	"context"
	"errors"
	"html/template"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail/mimeparse"
	"github.com/crmsync/crmsync/internal/messages"
	"github.com/crmsync/crmsync/internal/store"
)

// linkChoices is how many records of each type the link form offers.
const linkChoices = 100

// messageData is a message's page.
type messageData struct {
	ID          int64
	Subject     string
	Date        string
	From        string
	To, Cc      string
	Folder      string
	Text        string
	HTML        template.HTML // sanitized when stored (mimeparse), remote images off
	Blocked     int           // remote images turned off
	Truncated   bool
	Attachments []crm.AttachmentInfo
	CanDownload bool
	Links       []linkView
	Choices     []choiceGroup
}

// choiceGroup is a group of records the link form offers.
type choiceGroup struct {
	Label   string
	Options []choice
}

type choice struct{ Value, Label string }

func (s *Server) messagePage(p *Page) error {
	mid, err := pathID(p, "id")
	if err != nil {
		return err
	}
	e, err := s.cfg.Store.GetEmail(p.Ctx(), p.Viewer, mid)
	if err != nil {
		return err
	}
	// The same view of the body as the REST API's (cleanEmail): the HTML
	// as sanitized when the message was stored, remote images off.
	html, blocked := mimeparse.BlockRemoteImages(e.HTML)
	d := messageData{ID: e.ID, Subject: subjectWords(p, e.Subject), Date: p.P.DateTime(e.Date), Folder: e.Folder,
		From: addressList(e.Participants.From), To: addressList(e.Participants.To), Cc: addressList(e.Participants.Cc),
		Text: e.Text, HTML: template.HTML(html), Blocked: blocked, Truncated: e.Truncated,
		Attachments: e.Attachments, CanDownload: s.cfg.Messages != nil,
		Links: s.linkNames(p)(e.Links)}
	if d.Choices, err = s.linkChoices(p, e.Links); err != nil {
		return err
	}
	return p.Render("message", d)
}

// linkChoices are the records the user may link a message to, less those
// it is linked to already.
func (s *Server) linkChoices(p *Page, linked []crm.EmailLink) ([]choiceGroup, error) {
	has := map[crm.LinkRef]bool{}
	for _, l := range linked {
		has[crm.LinkRef{Type: l.Type, ID: l.ID}] = true
	}
	lp := store.ListParams{Limit: linkChoices}
	var out []choiceGroup
	add := func(t crm.LinkType, rid int64, label string, g *choiceGroup) {
		if !has[crm.LinkRef{Type: t, ID: rid}] {
			g.Options = append(g.Options, choice{Value: string(t) + ":" + id(rid), Label: label})
		}
	}
	opps, err := s.cfg.Store.ListOpportunities(p.Ctx(), p.Viewer, store.OpportunityFilter{ListParams: lp, Status: crm.StatusOpen})
	if err != nil {
		return nil, err
	}
	g := choiceGroup{Label: p.P.T("nav.opportunities")}
	for _, o := range opps.Items {
		add(crm.LinkOpportunity, o.ID, o.Name, &g)
	}
	out = append(out, g)
	cos, err := s.cfg.Store.ListCompanies(p.Ctx(), p.Viewer, store.CompanyFilter{ListParams: lp})
	if err != nil {
		return nil, err
	}
	g = choiceGroup{Label: p.P.T("nav.companies")}
	for _, c := range cos.Items {
		add(crm.LinkCompany, c.ID, c.Name, &g)
	}
	out = append(out, g)
	cts, err := s.cfg.Store.ListContacts(p.Ctx(), p.Viewer, store.ContactFilter{ListParams: lp})
	if err != nil {
		return nil, err
	}
	g = choiceGroup{Label: p.P.T("nav.contacts")}
	for _, c := range cts.Items {
		add(crm.LinkContact, c.ID, contactName(p, c), &g)
	}
	return append(out, g), nil
}

// linkRef reads a "type:id" record reference of a form.
func linkRef(v string) (crm.LinkRef, bool) {
	t, n, ok := strings.Cut(v, ":")
	rid, err := strconv.ParseInt(n, 10, 64)
	if !ok || err != nil || rid <= 0 || !crm.LinkType(t).Valid() {
		return crm.LinkRef{}, false
	}
	return crm.LinkRef{Type: crm.LinkType(t), ID: rid}, true
}

// linkSubmit links the message to the record chosen, by hand (the REST
// API's POST /api/v1/messages/{id}/links: the same service call).
func (s *Server) linkSubmit(p *Page) error {
	mid, err := pathID(p, "id")
	if err != nil {
		return err
	}
	ref, ok := linkRef(p.R.PostFormValue("record"))
	if !ok {
		return &FormError{Message: p.P.T("records.link_choose")}
	}
	if _, err := s.linker().Link(p.Ctx(), p.Viewer, mid, ref.Type, ref.ID); err != nil {
		var fe *store.FieldError
		if errors.As(err, &fe) && fe.Code == "not_found" {
			return ErrNotFound
		}
		return messagesError(err)
	}
	p.Flash("records.linked")
	p.Redirect("/messages/" + id(mid) + "#links")
	return nil
}

// unlinkSubmit removes a link of the message by hand; automatic linking
// will not link them again.
func (s *Server) unlinkSubmit(p *Page) error {
	mid, err := pathID(p, "id")
	if err != nil {
		return err
	}
	ref, ok := linkRef(p.R.PostFormValue("record"))
	if !ok {
		return ErrNotFound
	}
	if err := s.linker().Unlink(p.Ctx(), p.Viewer, mid, ref.Type, ref.ID); err != nil {
		return messagesError(err)
	}
	p.Flash("records.unlinked")
	p.Redirect("/messages/" + id(mid) + "#links")
	return nil
}

// messagesError is an error of the messages service as a page's: a
// record the user may not see is a page that does not exist.
func messagesError(err error) error {
	var me *messages.Error
	switch {
	case errors.Is(err, messages.ErrNotFound):
		return ErrNotFound
	case errors.Is(err, messages.ErrForbidden):
		return ErrForbidden
	case errors.As(err, &me):
		return &FormError{Message: me.Message}
	}
	return err
}

// linker is the messages service, or one without mail for linking only
// (linking needs no mail connector).
func (s *Server) linker() *messages.Service {
	if s.cfg.Messages != nil {
		return s.cfg.Messages
	}
	return messages.New(messages.Config{Store: s.cfg.Store, Now: s.cfg.Now})
}

// attachmentDownload streams an attachment from the mail server, as the
// REST API's GET /api/v1/messages/{id}/attachments/{n}.
func (s *Server) attachmentDownload(p *Page) error {
	if s.cfg.Messages == nil {
		return ErrNotFound
	}
	mid, err := pathID(p, "id")
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(p.R.PathValue("n"))
	if err != nil || n < 0 {
		return ErrNotFound
	}
	info, fetch, err := s.cfg.Messages.Attachment(p.Ctx(), p.Viewer, mid, n)
	if err != nil {
		return messagesError(err)
	}
	ct := info.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	w := &downloadWriter{w: p.W, start: func(h http.Header) {
		h.Set("Content-Type", ct)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "sandbox")
		h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": info.Filename}))
	}}
	err = fetch(w)
	if err == nil {
		w.begin()
		return nil
	}
	if !w.started {
		s.log.LogAttrs(p.Ctx(), slog.LevelWarn, "attachment download failed", slog.Int64("message_id", mid), slog.Any("err", err))
		return &FormError{Message: p.P.T("records.attachment_failed")}
	}
	if !errors.Is(err, context.Canceled) {
		s.log.LogAttrs(p.Ctx(), slog.LevelError, "attachment download cut short", slog.Int64("message_id", mid), slog.Any("err", err))
	}
	// Part of the file is on its way: cut the download short so the
	// browser sees it failed.
	panic(http.ErrAbortHandler)
}

// downloadWriter sets a download's headers at its first byte, so that a
// failure before it still gets an error page.
type downloadWriter struct {
	w       http.ResponseWriter
	start   func(http.Header)
	started bool
}

func (d *downloadWriter) begin() {
	if !d.started {
		d.started = true
		d.start(d.w.Header())
	}
}

func (d *downloadWriter) Write(b []byte) (int, error) {
	d.begin()
	return d.w.Write(b)
}
