package accounts

import (
	"context"
	"errors"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
)

// MailServiceRequest sets the organisation's mail service: the servers
// every user's mailbox is connected to (they then give only their
// password). Usernames may use %EMAILADDRESS% or %EMAILLOCALPART%; the
// default is the address.
type MailServiceRequest struct {
	Kind           string // imap (office365, gmail and exchange later)
	IMAP, SMTP     *ServerSettingsRequest
	AllowPlaintext bool
}

// SetMailService saves the organisation's mail service once its servers
// answer (Probe: reachable, TLS as named, IMAP and SMTP spoken), so that
// an admin learns of a wrong host, port or security now rather than from
// every user who then cannot connect. v must be an admin. A value refused
// is a *FieldError; a server's failure is the connector's *connerr.Error,
// and nothing is saved.
func (s *Service) SetMailService(ctx context.Context, v crm.Viewer, req MailServiceRequest) (*crm.MailService, error) {
	if !v.CanAdminister() {
		return nil, forbidden("Only an admin can set the organisation's mail service.")
	}
	switch req.Kind {
	case "imap":
	case "":
		return nil, required("kind", "kind is required: imap (office365, gmail and exchange come later).")
	case "office365", "gmail", "exchange":
		return nil, invalid("kind", "%s is not available yet on this server; use imap with the provider's IMAP settings.", req.Kind)
	default:
		return nil, invalid("kind", "kind must be imap.")
	}
	if req.IMAP == nil {
		return nil, required("imap", "imap is required: the organisation's IMAP server (host, port, security; username may use %%EMAILADDRESS%% or %%EMAILLOCALPART%%).")
	}
	svc := &crm.MailService{Kind: req.Kind, AllowPlaintext: req.AllowPlaintext}
	var err error
	if svc.IMAP, err = IMAPSettings("imap", req.IMAP, "%EMAILADDRESS%"); err != nil {
		return nil, err
	}
	if svc.SMTP, err = SMTPSettings("smtp", req.SMTP, "%EMAILADDRESS%"); err != nil {
		return nil, err
	}
	settings := crm.MailSettings{IMAP: svc.IMAP, SMTP: svc.SMTP, AllowPlaintext: svc.AllowPlaintext}
	if err := CheckPlaintext(settings); err != nil {
		return nil, err
	}
	if err := s.MailEnabled(); err != nil {
		return nil, err
	}
	if err := s.mail.Probe(ctx, settings); err != nil {
		return nil, err
	}
	return svc, s.st.PutMailService(ctx, v.OrgID, svc)
}

// MailSettingsFor is what connecting address email would use when no
// servers are given: the organisation's mail service (Source "org"), else
// what autoconfiguration finds; ErrSettingsNotFound when nothing is
// found. Front ends show it before asking for the password, so that the
// user sees where their password goes.
func (s *Service) MailSettingsFor(ctx context.Context, v crm.Viewer, email string) (Discovery, error) {
	svc, err := s.st.MailService(ctx, v.OrgID)
	if err != nil {
		return Discovery{}, err
	}
	if svc != nil {
		return Discovery{IMAP: WithUser(svc.IMAP, email), SMTP: WithUser(svc.SMTP, email), Source: "org",
			Detail: "Your organisation's mail service, set by an admin."}, nil
	}
	if err := s.MailEnabled(); err != nil {
		return Discovery{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	d, err := s.mail.Discover(ctx, email)
	if errors.Is(err, ErrSettingsNotFound) {
		return d, ErrSettingsNotFound
	}
	return d, err
}

// RemoveMailService forgets the organisation's mail service: users'
// settings come from autoconfiguration or are entered by hand again.
// Mailboxes connected with it keep their servers.
func (s *Service) RemoveMailService(ctx context.Context, v crm.Viewer) error {
	if !v.CanAdminister() {
		return forbidden("Only an admin can change the organisation's mail service.")
	}
	return s.st.PutMailService(ctx, v.OrgID, nil)
}
