package store

import (
	"context"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
)

// Mail is what the mailbox sync keeps. Methods taking a Viewer serve the
// API; methods taking a Fence are the sync loop's writes, refused once the
// loop has lost its account's lease.
type Mail interface {
	// MailService returns the organisation's mail service (nil if none).
	MailService(ctx context.Context, orgID int64) (*crm.MailService, error)
	PutMailService(ctx context.Context, orgID int64, s *crm.MailService) error

	// CreateMailAccount stores a new account owned by a.UserID (checked
	// against v like any record owner). One user has at most one account
	// per address: a second gets a FieldError on "email".
	CreateMailAccount(ctx context.Context, v crm.Viewer, a crm.MailAccount) (crm.MailAccount, error)
	GetMailAccount(ctx context.Context, v crm.Viewer, id int64) (crm.MailAccount, error)
	ListMailAccounts(ctx context.Context, v crm.Viewer, f MailAccountFilter) (Page[crm.MailAccount], error)
	// UpdateMailAccount changes settings or credentials (apply may change
	// Email, Settings, CredentialID, State and the error fields).
	UpdateMailAccount(ctx context.Context, v crm.Viewer, id int64, apply func(*crm.MailAccount) error) (crm.MailAccount, error)

	// SyncableAccounts lists the accounts a sync loop should run for:
	// mode sync, not disconnected, due (next attempt passed).
	SyncableAccounts(ctx context.Context, now time.Time) ([]crm.MailAccount, error)
	// MailAccountByID reads an account without a viewer (sync loops).
	MailAccountByID(ctx context.Context, id int64) (crm.MailAccount, error)
	// RecordAccountStatus writes the state users see, and an event to the
	// account's history when ev is not nil. A disconnected account keeps
	// its state (the write is ignored): a loop still running cannot
	// overwrite it.
	RecordAccountStatus(ctx context.Context, f Fence, id int64, st AccountStatus, ev *AccountEvent) error
	AddAccountEvent(ctx context.Context, accountID int64, ev AccountEvent) error
	AccountEvents(ctx context.Context, accountID int64, limit int) ([]AccountEvent, error)

	// Folders lists an account's folders with their cursors and counts.
	Folders(ctx context.Context, accountID int64) ([]Folder, error)
	// SyncFolders records the server's folder list: new folders are added
	// (selected when their role is in autoSelect), gone ones removed.
	SyncFolders(ctx context.Context, f Fence, accountID int64, list []FolderInfo, autoSelect []string) ([]Folder, error)
	// SelectFolders sets which folders are synced (the user's choice).
	SelectFolders(ctx context.Context, v crm.Viewer, accountID int64, names []string) ([]Folder, error)

	// SaveMessages stores (and links) a batch fetched from one folder and
	// the folder's new cursor in one transaction. It is idempotent: a
	// message already stored in the folder under its RemoteID is skipped.
	// A message that the account holds already — the same RemoteID or the
	// same content hash, in a row that was expunged or that belongs to the
	// folder's previous epoch (before RestartFolder) — is re-attached (same
	// id, so its links survive) instead of stored twice.
	SaveMessages(ctx context.Context, f Fence, folderID int64, cur FolderCursor, msgs []crm.Email) (SaveResult, error)
	// SetFolderCursor writes a folder's cursor alone.
	SetFolderCursor(ctx context.Context, f Fence, folderID int64, cur FolderCursor) error
	// RestartFolder starts a folder's sync again (its connector no longer
	// accepts the cursor): the cursor is cleared and the stored messages
	// become the previous epoch, kept and shown until ExpungeStale, and
	// re-attached as the new listing finds them again.
	RestartFolder(ctx context.Context, f Fence, folderID int64) error
	// ExpungeStale marks the previous epoch's messages that were not
	// re-attached as expunged, once the new listing is complete.
	ExpungeStale(ctx context.Context, f Fence, folderID int64) (int, error)
	// StoredIDs returns the remote ids stored (not expunged) in a folder in
	// its current epoch.
	StoredIDs(ctx context.Context, folderID int64) ([]string, error)
	// ApplyFlagChanges records flags read from the server. A message with a
	// pending local change keeps it (it is pushed next).
	ApplyFlagChanges(ctx context.Context, f Fence, folderID int64, changes []FlagUpdate, cur FolderCursor) error
	// RemoveMessages marks messages gone from the server folder as
	// expunged. Rows stay (and keep their links) so that a move to another
	// folder re-attaches.
	RemoveMessages(ctx context.Context, f Fence, folderID int64, remoteIDs []string) (int, error)
	// PendingFlags lists the account's messages with local flag changes.
	PendingFlags(ctx context.Context, accountID int64, limit int) ([]PendingFlag, error)
	// AckFlags records that flags were written to the server, unless the
	// user changed them again meanwhile.
	AckFlags(ctx context.Context, f Fence, emailID int64, pushed crm.Flags) error

	ListEmails(ctx context.Context, v crm.Viewer, f EmailFilter) (Page[crm.Email], error)
	GetEmail(ctx context.Context, v crm.Viewer, id int64) (crm.Email, error)
	// SetEmailFlags changes flags in crmsync and queues them for the server.
	SetEmailFlags(ctx context.Context, v crm.Viewer, id int64, apply func(*crm.Flags)) (crm.Email, error)
	// FolderCounts returns stored (not expunged) messages per folder name.
	FolderCounts(ctx context.Context, accountID int64) (map[string]int64, error)
}

// MailAccountFilter narrows a mail account list.
type MailAccountFilter struct {
	ListParams
	UserID *int64
}

// AccountStatus is the state of an account as the sync loop sees it.
type AccountStatus struct {
	State         crm.AccountState
	ErrorCode     string
	ErrorMessage  string
	ProgressDone  int64
	ProgressTotal int64
	Failures      int
	LastSyncAt    *time.Time
	NextAttemptAt *time.Time
	Audit         string
}

// AccountEvent is one line of an account's history.
type AccountEvent struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"` // "connected", "state", "error", "audit", ...
	Message string    `json:"message"`
}

// FolderInfo is a folder as the server lists it.
type FolderInfo struct {
	Name     string
	Role     string
	NoSelect bool
}

// Folder is a stored folder with its sync cursor.
type Folder struct {
	ID        int64        `json:"-"`
	AccountID int64        `json:"-"`
	Name      string       `json:"name"`
	Role      string       `json:"role,omitempty"`
	Selected  bool         `json:"selected"`
	Cursor    FolderCursor `json:"-"`
	Missing   int64        `json:"-"`
	// Stale is true while messages of a previous epoch wait for the new
	// listing to re-attach them (see RestartFolder).
	Stale bool `json:"-"`
	// Local is true for a folder that exists only in crmsync (forwarding
	// mode's dropbox): no server lists it, and the sync leaves it alone.
	Local bool `json:"-"`
}

// FolderCursor is where a folder's sync stands (DESIGN §4).
type FolderCursor struct {
	// Token is the connector's cursor, opaque here (mail.Cursor); "" when
	// the folder starts from the beginning.
	Token string
	// Syncing is true while the folder's initial sync (or a restart after
	// RestartFolder) is under way.
	Syncing     bool
	ServerCount uint32
	Missing     int64 // audit: messages on the server that could not be stored
	AuditedAt   *time.Time
}

// SaveResult counts what SaveMessages did.
type SaveResult struct {
	Inserted, Reattached, Skipped int
}

// FlagUpdate is a message's flags on the server.
type FlagUpdate struct {
	RemoteID string
	Flags    crm.Flags
}

// PendingFlag is a local flag change to write to the server.
type PendingFlag struct {
	EmailID  int64
	FolderID int64
	Folder   string
	RemoteID string
	Flags    crm.Flags
}

// EmailFilter narrows an email list (newest first).
type EmailFilter struct {
	ListParams
	AccountID *int64
	Folder    string
	// LinkedTo lists an entity's timeline: the emails linked to it.
	LinkedTo *LinkTarget
}

// LinkTarget names a CRM record.
type LinkTarget struct {
	Type crm.LinkType
	ID   int64
}
