package mailconn

import (
	"context"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/smtpout"
)

// Send submits raw for the outbox: through the provider's own API for an
// account signed in with one (Microsoft Graph, Gmail: mail.Sender), else
// through the account's SMTP server with its stored password (the SMTP
// server's own when it has one). Failures are *connerr.Error; the chain
// holds mail.ErrPermanent or mail.ErrUncertain as the connector says.
func (c *Connector) Send(ctx context.Context, a crm.MailAccount, from string, rcpts []string, raw []byte) error {
	if crm.PIMKind(a.Provider).SignedIn() {
		mb, err := c.Dial(ctx, a)
		if err != nil {
			return err
		}
		defer mb.Close()
		sender, ok := mb.(mail.Sender)
		if !ok {
			return &connerr.Error{Kind: connerr.Protocol, Err: mail.ErrPermanent, Message: "This mailbox's connector cannot send mail."}
		}
		return sender.Send(ctx, from, rcpts, raw)
	}
	s := a.Settings.SMTP
	if s == nil {
		return &connerr.Error{Kind: connerr.Protocol, Err: mail.ErrPermanent,
			Message: "This mailbox has no SMTP server: add one in its settings to send from crmsync."}
	}
	pw, err := c.password(ctx, a, a.SMTPCredentialID())
	if err != nil {
		return err
	}
	return smtpout.Send(ctx, c.smtpConfig(a.Settings, pw), from, rcpts, raw)
}
