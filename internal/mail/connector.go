package mail

import (
	"context"
	"io"
	"time"
)

// Role is what a folder is for, from SPECIAL-USE (RFC 6154) or the
// provider's well-known names.
type Role string

const (
	RoleInbox   Role = "inbox"
	RoleSent    Role = "sent"
	RoleDrafts  Role = "drafts"
	RoleTrash   Role = "trash"
	RoleJunk    Role = "junk"
	RoleArchive Role = "archive"
	RoleAll     Role = "all" // Gmail's [Gmail]/All Mail: never synced by default (everything twice)
	RoleNone    Role = ""
)

// FolderInfo is a folder as listed by the server.
type FolderInfo struct {
	Name string `json:"name"` // the server's full name, e.g. "INBOX", "Archive/2025"
	Role Role   `json:"role,omitempty"`
	// NoSelect folders hold only other folders.
	NoSelect bool `json:"no_select,omitempty"`
}

// FolderState is a selected folder's synchronisation state (RFC 3501
// UIDVALIDITY and UIDNEXT; RFC 7162 HIGHESTMODSEQ, 0 without CONDSTORE).
type FolderState struct {
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	Messages      uint32
}

// Fetched is one message streamed from the server. Body must be read (or
// abandoned) before the next message is asked for: it is the server's
// literal, never buffered whole.
type Fetched struct {
	UID          uint32
	Flags        Flags
	ModSeq       uint64
	InternalDate time.Time
	Size         int64
	Body         io.Reader
}

// FlagChange is a message whose flags changed since a modseq.
type FlagChange struct {
	UID    uint32
	Flags  Flags
	ModSeq uint64
}

// Mailbox is a connection to one account's mailbox. It is not safe for
// concurrent use: the syncer drives one per account.
type Mailbox interface {
	// Folders lists the selectable and container folders.
	Folders(ctx context.Context) ([]FolderInfo, error)
	// Select opens a folder and returns its state.
	Select(ctx context.Context, folder string) (FolderState, error)
	// UIDs returns every UID of the selected folder, ascending.
	UIDs(ctx context.Context) ([]uint32, error)
	// Fetch streams the given UIDs of the selected folder (full message,
	// without setting \Seen), calling fn for each in the server's order.
	// UIDs that no longer exist are skipped silently.
	Fetch(ctx context.Context, uids []uint32, fn func(*Fetched) error) error
	// Changes returns the messages of the selected folder whose flags
	// changed after modseq (CONDSTORE), or, without CONDSTORE, the flags of
	// every message.
	Changes(ctx context.Context, modseq uint64) ([]FlagChange, error)
	// StoreFlags sets or clears flags of one message of the selected folder.
	StoreFlags(ctx context.Context, uid uint32, set, clear Flags) error
	// Close logs out.
	Close() error
}

// Idler is a Mailbox that can wait for news on the selected folder (IMAP
// IDLE, RFC 2177).
type Idler interface {
	// Idle blocks until the server reports a change on the selected folder
	// (new or expunged messages, flag changes), ctx ends, or max elapses.
	// It returns true if something changed.
	Idle(ctx context.Context, max time.Duration) (changed bool, err error)
}

// Appender is a Mailbox that can add a message to a folder (sent mail).
type Appender interface {
	Append(ctx context.Context, folder string, raw io.Reader, size int64, flags Flags, date time.Time) (uid uint32, err error)
}
