package store

import (
	"context"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
)

// Links ties emails to CRM records (DESIGN §6). Automatic links follow the
// email's addresses; they are recomputed when either side changes. Manual
// links and unlinks are a person's decision and always win.
type Links interface {
	// LinkEmails computes the automatic links of these emails (new mail).
	LinkEmails(ctx context.Context, orgID int64, emailIDs []int64) error
	// Relink recomputes the automatic links touching one record after it
	// was created or changed: a new contact email or company domain links
	// past emails; a closed opportunity gets no new ones.
	Relink(ctx context.Context, orgID int64, t crm.LinkType, id int64) error
	// EmailLinks returns an email's links (linked ones only).
	EmailLinks(ctx context.Context, v crm.Viewer, emailID int64) ([]crm.EmailLink, error)
	// SetLink records a manual link (linked true) or unlink (false). The
	// record must be one v may see (FieldError on "id" otherwise).
	SetLink(ctx context.Context, v crm.Viewer, emailID int64, t crm.LinkType, id int64, linked bool) error

	// LinkingRules returns the organisation's own domains and its extra
	// free-mail domains.
	LinkingRules(ctx context.Context, orgID int64) (own, freemail []string, err error)
	PutLinkingRules(ctx context.Context, orgID int64, own, freemail []string) error
}

// Forwarding is what forwarding mode and retention need.
type Forwarding interface {
	// MailAccountByDropbox finds a forwarding account by its dropbox token.
	MailAccountByDropbox(ctx context.Context, token string) (crm.MailAccount, error)
	// StoreForwarded stores a message received in an account's dropbox
	// (folder "Dropbox"). A second delivery of the same bytes (an SMTP
	// retry) returns the stored one.
	StoreForwarded(ctx context.Context, accountID int64, e crm.Email) (crm.Email, bool, error)
	// PurgeExpiredAccounts deletes disconnected accounts whose retention
	// ended, with their messages, links and credentials. Maintenance.
	PurgeExpiredAccounts(ctx context.Context, f Fence, now time.Time) (int, error)
}
