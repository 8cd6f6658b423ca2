package web

import (
	"net/http"

	"github.com/crmsync/crmsync/internal/accounts"
)

// The admin's page of the organisation's mail service (ForceManager's
// set-up): the servers every user's mailbox is connected to, so that
// users give only their password. Saved through the accounts service
// once its servers answer, as PUT /api/v1/org/mail-service.

type mailServiceData struct {
	Set   bool
	IMAP  serverForm
	SMTP  serverForm
	Error string
}

func (s *Server) mailServicePage(p *Page) error {
	svc, err := s.cfg.Store.MailService(p.Ctx(), p.Viewer.OrgID)
	if err != nil {
		return err
	}
	d := mailServiceData{IMAP: serverForm{SSL: true, Username: "%EMAILADDRESS%"}, SMTP: serverForm{SSL: true, Username: "%EMAILADDRESS%"}}
	if svc != nil {
		d.Set, d.IMAP = true, formOf(svc.IMAP)
		if svc.SMTP != nil {
			d.SMTP = formOf(svc.SMTP)
		}
	}
	return p.Render("mail_service", d)
}

func (s *Server) mailServiceSubmit(p *Page) error {
	d := mailServiceData{IMAP: serverFromForm(p, "imap"), SMTP: serverFromForm(p, "smtp")}
	_, err := s.cfg.Accounts.SetMailService(p.Ctx(), p.Viewer, accounts.MailServiceRequest{Kind: "imap",
		IMAP: d.IMAP.request(), SMTP: d.SMTP.request()})
	if msg := mailFailure(p, err); msg != nil {
		d.Error = *msg
		return p.RenderStatus(http.StatusUnprocessableEntity, "mail_service", d)
	} else if err != nil {
		return err
	}
	p.Flash("mail.service_saved")
	p.Redirect("/admin/mail-service")
	return nil
}

func (s *Server) mailServiceRemove(p *Page) error {
	if err := s.cfg.Accounts.RemoveMailService(p.Ctx(), p.Viewer); err != nil {
		return err
	}
	p.Flash("mail.service_removed")
	p.Redirect("/admin/mail-service")
	return nil
}
