package web

import (
	"net/http"

	"github.com/crmsync/crmsync/internal/accounts"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/store"
)

// One mailbox's page: its live state, its settings (edit them, or give
// the new password after "incorrect password"), its mode, sync now, its
// history, and disconnecting it.

type mailAccountData struct {
	M       mailView
	IMAP    serverForm
	SMTP    serverForm
	History []store.AccountEvent
	// Messages is how many are stored; Retention how long they are kept
	// after a disconnection, in days; Until the day that would be.
	Messages  int
	Retention int
	Until     string
	Error     string
	// CanAct: the user may change it (its owner, or an admin).
	CanAct bool
}

func (s *Server) mailAccount(p *Page) error {
	a, err := s.mailAccountOf(p)
	if err != nil {
		return err
	}
	return s.renderMailAccount(p, http.StatusOK, a, "")
}

func (s *Server) renderMailAccount(p *Page, status int, a crm.MailAccount, errMsg string) error {
	d := mailAccountData{M: s.mailView(p, a), IMAP: formOf(a.Settings.IMAP), SMTP: formOf(a.Settings.SMTP), Error: errMsg,
		CanAct: p.Viewer.ActsFor(a.UserID)}
	if a.Settings.SMTP == nil {
		d.SMTP = serverForm{SSL: true}
	}
	var err error
	if d.History, err = s.cfg.Store.AccountEvents(p.Ctx(), a.ID, 20); err != nil {
		return err
	}
	counts, err := s.cfg.Store.FolderCounts(p.Ctx(), a.ID)
	if err != nil {
		return err
	}
	for _, n := range counts {
		d.Messages += int(n)
	}
	ret := s.cfg.Accounts.Retention()
	d.Retention = int(ret.Hours() / 24)
	d.Until = p.P.Date(s.cfg.Now().Add(ret))
	return p.RenderStatus(status, "mail_account", d)
}

// mailUpdate is the account page's forms (accounts.Service.UpdateMail,
// as PATCH /api/v1/mail-accounts/{id}): "reconnect" gives the new
// password alone; "settings" new servers (with the password, which
// crmsync logs in with before saving); "mode" switches between sync and
// forwarding (to sync with the password).
func (s *Server) mailUpdate(p *Page) error {
	a, err := s.mailAccountOf(p)
	if err != nil {
		return err
	}
	var req accounts.MailAccountModificationRequest
	if pw := p.R.PostFormValue("password"); pw != "" {
		req.Password = &pw
	}
	flash := "mail.saved"
	switch p.R.PostFormValue("form") {
	case "reconnect":
		if req.Password == nil {
			return s.renderMailAccount(p, http.StatusUnprocessableEntity, a, p.P.T("mail.password_required"))
		}
		flash = "mail.reconnecting"
	case "settings":
		imap, smtp := serverFromForm(p, "imap"), serverFromForm(p, "smtp")
		if req.IMAP = imap.request(); req.IMAP == nil {
			return s.renderMailAccount(p, http.StatusUnprocessableEntity, a, p.P.T("mail.imap_required"))
		}
		if req.SMTP = smtp.request(); req.SMTP == nil && a.Settings.SMTP != nil {
			req.RemoveSMTP = true
		}
	case "mode":
		m := crm.MailMode(p.R.PostFormValue("mode"))
		req.Mode = &m
	default:
		return ErrNotFound
	}
	if _, err := s.cfg.Accounts.UpdateMail(p.Ctx(), p.Viewer, a.ID, req); err != nil {
		if msg := mailFailure(p, err); msg != nil {
			return s.renderMailAccount(p, http.StatusUnprocessableEntity, a, *msg)
		}
		return err
	}
	p.Flash(flash)
	p.Redirect(mailPath(a.ID))
	return nil
}

// mailSyncNow asks for a sync now (accounts.Service.SyncMailNow).
func (s *Server) mailSyncNow(p *Page) error {
	a, err := s.mailAccountOf(p)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Accounts.SyncMailNow(p.Ctx(), p.Viewer, a.ID); err != nil {
		if msg := mailFailure(p, err); msg != nil {
			return s.renderMailAccount(p, http.StatusUnprocessableEntity, a, *msg)
		}
		return err
	}
	p.Flash("mail.sync_asked")
	p.Redirect(mailPath(a.ID))
	return nil
}

// mailDisconnect disconnects a mailbox once the user has confirmed the
// loss of its data after the retention (accounts.Service.DisconnectMail,
// as DELETE /api/v1/mail-accounts/{id}?confirm_data_loss=true).
func (s *Server) mailDisconnect(p *Page) error {
	a, err := s.mailAccountOf(p)
	if err != nil {
		return err
	}
	if _, err := s.cfg.Accounts.DisconnectMail(p.Ctx(), p.Viewer, a.ID, accounts.DisconnectRequest{
		ConfirmDataLoss: p.R.PostFormValue("confirm_data_loss") == "on", By: p.User.Email}); err != nil {
		if msg := mailFailure(p, err); msg != nil {
			return s.renderMailAccount(p, http.StatusUnprocessableEntity, a, *msg)
		}
		return err
	}
	p.Flash("mail.disconnected")
	p.Redirect("/settings/email")
	return nil
}
