package mailconn

import (
	"context"

	"github.com/crmsync/crmsync/internal/cloudconn"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/gmailmail"
)

// google is the provider of mailboxes signed in with Google.
const google = cloudconn.Google

// dialGoogle opens a Google mailbox over the Gmail API: the API root is
// the organisation's app's, the tokens the account's token set, the gate
// the one its token set shares with the user's contacts, calendar and
// tasks, every request through the network guard; its new mail is
// pushed or polled as GooglePush says (gmailpush.go).
func (c *Connector) dialGoogle(ctx context.Context, a crm.MailAccount) (mail.Mailbox, error) {
	cfg, err := c.Cloud.Google(ctx, a.OrgID, a.CredentialID)
	if err != nil {
		return nil, err
	}
	mb, err := gmailmail.Open(gmailmail.Config{Config: cfg})
	if err != nil {
		return nil, err
	}
	return &gmailMailbox{Mailbox: mb, push: c.GooglePush.withDefaults(), account: a.ID}, nil
}
