package mailconn

import (
	"context"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail/imapsync"
	"github.com/crmsync/crmsync/internal/mail/smtpout"
)

// Probe checks the servers of settings that have no password yet (an
// organisation's mail service): each is reachable through the network
// guard, completes its TLS, and speaks its protocol (IMAP CAPABILITY,
// SMTP EHLO and STARTTLS). Nobody logs in. Failures are *connerr.Error.
func (c *Connector) Probe(ctx context.Context, s crm.MailSettings) error {
	return c.check(ctx, s, true, true, "", "", imapsync.Probe, smtpout.Probe)
}
