package mailconn

import (
	"context"
	"errors"

	"github.com/crmsync/crmsync/internal/cloudconn"
	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail"
)

// google is the provider of mailboxes signed in with Google.
const google = cloudconn.Google

// dialGoogle opens a mailbox signed in with Google. Its connector (the
// Gmail API) is not in this version yet: the account says so rather than
// being taken for an IMAP mailbox without a server.
func (c *Connector) dialGoogle(context.Context, crm.MailAccount) (mail.Mailbox, error) {
	return nil, &connerr.Error{Kind: connerr.Protocol, Err: errors.New("mailconn: no Gmail connector"),
		Message: "Mailboxes signed in with Google are not synced by this version of crmsync yet. Your sign-in is kept: the mailbox syncs once the server is updated. Meanwhile, connect it with IMAP and an app password, or in forwarding mode."}
}
