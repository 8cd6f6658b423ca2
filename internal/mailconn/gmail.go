package mailconn

import (
	"context"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/gmailmail"
)

// googleProvider is the provider of mailboxes signed in with Google.
const googleProvider = "google"

// dialGmail opens a Google mailbox over the Gmail API: the API root is the
// organisation's app's, the tokens the account's token set, the gate the
// one its token set shares with the user's contacts, calendar and tasks,
// every request through the network guard.
func (c *Connector) dialGmail(ctx context.Context, a crm.MailAccount) (*gmailmail.Mailbox, error) {
	cfg, err := c.Cloud.Google(ctx, a.OrgID, a.CredentialID)
	if err != nil {
		return nil, err
	}
	return gmailmail.Open(gmailmail.Config{Config: cfg})
}

// sendGmail sends through messages.send: Gmail files the message in SENT
// itself, where the outbox finds it by its Message-ID.
func (c *Connector) sendGmail(ctx context.Context, a crm.MailAccount, from string, rcpts []string, raw []byte) error {
	mb, err := c.dialGmail(ctx, a)
	if err != nil {
		return err
	}
	defer mb.Close()
	_, err = mb.Send(ctx, from, rcpts, raw)
	return err
}

// gmailMailbox is dialGmail as a mail.Mailbox (a nil *Mailbox must not become
// a non-nil interface).
func (c *Connector) gmailMailbox(ctx context.Context, a crm.MailAccount) (mail.Mailbox, error) {
	mb, err := c.dialGmail(ctx, a)
	if err != nil {
		return nil, err
	}
	return mb, nil
}
