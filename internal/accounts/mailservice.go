package accounts

import (
	"context"

	"github.com/crmsync/crmsync/internal/crm"
)

// SetMailService saves the organisation's mail service once its servers
// answer (Probe: reachable, TLS as named, IMAP and SMTP spoken), so that
// an admin learns of a wrong host, port or security now rather than from
// every user who then cannot connect. v must be an admin; the caller has
// checked the settings' fields. A failure is the connector's
// *connerr.Error and nothing is saved.
func (s *Service) SetMailService(ctx context.Context, v crm.Viewer, svc *crm.MailService) error {
	if !v.CanAdminister() {
		return &Error{Kind: ErrForbidden, Message: "Only an admin can set the organisation's mail service."}
	}
	if err := s.MailEnabled(); err != nil {
		return err
	}
	if err := s.mail.Probe(ctx, crm.MailSettings{IMAP: svc.IMAP, SMTP: svc.SMTP, AllowPlaintext: svc.AllowPlaintext}); err != nil {
		return err
	}
	return s.st.PutMailService(ctx, v.OrgID, svc)
}
