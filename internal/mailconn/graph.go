package mailconn

import (
	"context"

	"github.com/crmsync/crmsync/internal/cloudconn"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/graphmail"
)

// microsoft is the provider of mailboxes signed in with Microsoft.
const microsoft = cloudconn.Microsoft

// dialGraph opens a Microsoft mailbox over Graph: Graph's address is the
// organisation's app's, the tokens the account's token set (refreshed and
// rotated by package oauth), the gate the one its token set shares with
// the user's contacts, calendar and To Do, every request through the
// network guard; its new mail is announced or polled as GraphPush says
// (graphpush.go).
func (c *Connector) dialGraph(ctx context.Context, a crm.MailAccount) (mail.Mailbox, error) {
	cfg, err := c.Cloud.Graph(ctx, a.OrgID, a.CredentialID)
	if err != nil {
		return nil, err
	}
	mb, err := graphmail.Open(graphmail.Config{Config: cfg})
	if err != nil {
		return nil, err
	}
	return &graphMailbox{Mailbox: mb, push: c.GraphPush.withDefaults(), account: a.ID}, nil
}
