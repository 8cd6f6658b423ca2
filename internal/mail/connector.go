package mail

import (
	"context"
	"errors"
	"fmt"
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

// ErrorKind classifies a failure once, in the connector, so that the sync
// loop and the user see the same truth (DESIGN §5).
type ErrorKind string

const (
	KindAuth        ErrorKind = "auth_failed"      // wrong password or revoked token: the user must act
	KindBlocked     ErrorKind = "provider_blocked" // the provider refuses this app: app password, enable IMAP
	KindTLS         ErrorKind = "tls_error"        // certificate or handshake problem
	KindUnreachable ErrorKind = "unreachable"      // DNS, refused, timed out, connection dropped: retry later
	KindThrottled   ErrorKind = "throttled"        // too many connections or requests: retry after a while
	KindProtocol    ErrorKind = "sync_error"       // anything else the server said or did
)

// Error is a connector failure with its kind and a message for the user.
type Error struct {
	Kind       ErrorKind
	Message    string        // for the user: what happened and what to do
	RetryAfter time.Duration // for KindThrottled, when the provider said
	Err        error         // the underlying error, for logs
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("mail: %s: %s (%v)", e.Kind, e.Message, e.Err)
	}
	return fmt.Sprintf("mail: %s: %s", e.Kind, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of err: that of a *Error in its chain, else
// KindProtocol.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindProtocol
}

// Transient reports whether retrying later may succeed without the user
// doing anything.
func (k ErrorKind) Transient() bool {
	return k == KindUnreachable || k == KindThrottled || k == KindProtocol
}
