package accounts

import (
	"context"

	"github.com/crmsync/crmsync/internal/crm"
)

// A mailbox has one password, the IMAP server's, which its SMTP server
// shares unless it has one of its own (crm.ServerSettings.OwnPassword,
// given as smtp.password). The SMTP server's own password is sealed in a
// second credential whose id derives from the mailbox's
// (crm.SMTPCredentialOf), so that the two go together everywhere a
// credential is rotated or deleted.

// mailPasswords are the new passwords of a connection or a change; ""
// leaves one as it is.
type mailPasswords struct {
	mailbox string // IMAP's, and SMTP's when it has none of its own
	smtp    string // the SMTP server's own
}

// passwordOnly reports whether r gives an SMTP server's own password and
// nothing else: the stored server stays, with that password.
func passwordOnly(r *ServerSettingsRequest) bool {
	return r != nil && r.Password != "" && *r == ServerSettingsRequest{Password: r.Password}
}

// withOwnPassword is the SMTP server s marked as having its own password.
func withOwnPassword(s *crm.ServerSettings) *crm.ServerSettings {
	if s == nil {
		return nil
	}
	c := *s
	c.OwnPassword = true
	return &c
}

// checkSMTPPassword refuses an SMTP password without an SMTP server to
// log in to.
func checkSMTPPassword(st crm.MailSettings, p mailPasswords) error {
	if p.smtp != "" && st.SMTP == nil {
		return invalid("smtp.password", "smtp.password is the SMTP server's own password, but this mailbox has no SMTP server: give smtp.host (and its port and security) with it.")
	}
	return nil
}

// verifyMail logs in with the new passwords to the servers they open:
// IMAP with the mailbox's, SMTP with its own or, when it shares the
// mailbox's, with that. A server whose password does not change is not
// logged in to.
func (s *Service) verifyMail(ctx context.Context, v crm.Viewer, st crm.MailSettings, p mailPasswords) error {
	smtp := p.smtp
	if st.SMTP != nil && !st.SMTP.OwnPassword {
		smtp = p.mailbox
	}
	return s.limitedLogin(ctx, v, mailLogin(st), func() error { return s.mail.Verify(ctx, st, p.mailbox, smtp) })
}

// sealMail stores the new passwords: the mailbox's under credID, the SMTP
// server's own beside it.
func (s *Service) sealMail(ctx context.Context, orgID int64, credID string, p mailPasswords) error {
	if p.mailbox != "" {
		if err := s.storePassword(ctx, orgID, credID, purposeMail, p.mailbox, s.mail.Seal); err != nil {
			return err
		}
	}
	if p.smtp != "" {
		return s.storePassword(ctx, orgID, crm.SMTPCredentialOf(credID), purposeSMTP, p.smtp, s.mail.Seal)
	}
	return nil
}

// forgetMail deletes the credentials of an account that was not saved.
func (s *Service) forgetMail(ctx context.Context, orgID int64, credID string) {
	_ = s.forgetPassword(ctx, orgID, credID)
	_ = s.forgetPassword(ctx, orgID, crm.SMTPCredentialOf(credID))
}

// dropOwnSMTP deletes the SMTP server's own password once the account,
// changed from before to after, no longer uses it (its SMTP server was
// removed or now shares the mailbox's password).
func (s *Service) dropOwnSMTP(ctx context.Context, orgID int64, before, after crm.MailAccount) {
	if before.SMTPCredentialID() != before.CredentialID && after.SMTPCredentialID() == after.CredentialID {
		_ = s.forgetPassword(ctx, orgID, before.SMTPCredentialID())
	}
}
