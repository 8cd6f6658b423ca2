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

// ID is a message's provider-stable id within a folder, opaque outside the
// connector that issued it: IMAP's is its UIDVALIDITY and UID, Graph's an
// immutable id, Gmail's a message id, EWS's an item id. The engine and the
// store only compare ids and hand them back.
type ID string

// Cursor is where a folder's sync stands, opaque outside its connector
// (IMAP: UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ and how far the initial sync
// went; Graph and Gmail: a delta link or history id). "" starts the folder
// from the beginning.
type Cursor string

// Fetched is one message streamed from the provider. Body must be read (or
// abandoned) before the next message is asked for: it is the provider's
// stream, never buffered whole.
type Fetched struct {
	ID           ID
	Flags        Flags
	InternalDate time.Time
	Size         int64
	Body         io.Reader
	// Truncated is true when the provider's body was cut at the
	// connector's limit for one message: what is stored is its beginning.
	Truncated bool
}

// FlagChange is a message whose flags are as given on the provider.
type FlagChange struct {
	ID    ID
	Flags Flags
}

// Changes is what happened in a folder since a cursor.
type Changes struct {
	// Added are the messages to fetch and store, in the order they should
	// be stored: new mail oldest first, the initial sync newest first.
	Added []ID
	// Checkpoints, when not nil, has one cursor per Added message:
	// Checkpoints[i] may be committed once Added[0..i] are stored, so that
	// a large answer is stored in batches and a crash resumes after the
	// last one. Nil: only Cursor, once every one is stored.
	Checkpoints []Cursor
	// Flags are messages already known whose flags changed.
	Flags []FlagChange
	// Removed are messages gone from the folder (deleted or moved away).
	Removed []ID
	// Present, when not nil, is every message the folder holds now. A
	// connector that cannot list removals (IMAP without QRESYNC) gives it
	// instead: the engine takes every stored message not in it as removed,
	// and, once More is false, fetches again any message in it that is
	// neither stored nor in Added (the audit).
	Present []ID
	// Cursor is the folder's cursor once all of the above is applied.
	Cursor Cursor
	// More is true while the folder has more to give (its initial sync
	// goes on): call Changes again with Cursor.
	More bool
	// Total is how many messages the folder holds, for progress.
	Total int
}

// AutoSelecter is a Mailbox whose provider says which folder roles are
// synced unless the user chooses (mailsync.Config.AutoSelect); a Mailbox
// without it gets the engine's default (inbox and sent).
type AutoSelecter interface {
	AutoSelect() []string
}

// Mailbox is a connection to one account's mailbox: the contract every mail
// connector (IMAP, Graph, Gmail, EWS) implements for the sync engine. It is
// not safe for concurrent use: one loop drives one per account. Optional
// abilities are further interfaces (Idler, Appender, Searcher), discovered
// with a type assertion.
type Mailbox interface {
	// Folders lists the folders (or labels) with their roles.
	Folders(ctx context.Context) ([]FolderInfo, error)
	// Changes returns what changed in folder since cursor, at most limit
	// added messages at a time (More then says there is more). A cursor
	// the provider no longer accepts is an error of kind
	// connerr.CursorInvalid: the engine starts the folder again from ""
	// and re-attaches what it has by id or content.
	Changes(ctx context.Context, folder string, since Cursor, limit int) (Changes, error)
	// Fetch streams the given messages of folder (the whole RFC 5322
	// message, without marking it read), calling fn for each in the
	// provider's order. Messages that no longer exist are skipped.
	Fetch(ctx context.Context, folder string, ids []ID, fn func(*Fetched) error) error
	// SetFlags makes the flags of one message flags. A message the
	// provider no longer has under id is an error of kind connerr.Gone.
	SetFlags(ctx context.Context, folder string, id ID, flags Flags) error
	Close() error
}

// Idler is implemented by mailboxes that can wait for news in a folder
// (IMAP IDLE, a push subscription).
type Idler interface {
	// Idle waits until folder changes, max passes or ctx is done. It
	// returns whether a change was seen.
	Idle(ctx context.Context, folder string, max time.Duration) (changed bool, err error)
}

// Appender is implemented by mailboxes that can add a message to a folder
// (sent mail). The id is "" when the provider does not tell.
type Appender interface {
	Append(ctx context.Context, folder string, raw io.Reader, size int64, flags Flags, date time.Time) (ID, error)
}

// Searcher is implemented by mailboxes that can find messages by their
// Message-ID on the server (to check whether a send went through).
type Searcher interface {
	SearchMessageID(ctx context.Context, folder, messageID string) ([]ID, error)
}

// GlobalIDs is implemented by mailboxes whose ids name a message in the
// whole mailbox and stay when it moves between folders (Graph's immutable
// ids). A message seen in its new folder then re-attaches to the row stored
// under the same id in the old one, whichever folder is visited first, so
// a move keeps one message and its links. IMAP's ids are per folder (the
// same UID names other messages in other folders): it does not implement
// it, and moves re-attach by content only once the old copy is expunged.
type GlobalIDs interface {
	GlobalIDs() bool
}

// Sender is implemented by mailboxes whose provider takes outgoing mail
// through its own API instead of an SMTP server (Microsoft Graph). The
// wiring (mailconn.Send) chooses it by provider; the outbox sees only the
// outcome.
type Sender interface {
	// Send submits raw (the whole RFC 5322 message, as queued) to the
	// envelope recipients rcpts from the mailbox's owner, from. Failures
	// are *connerr.Error whose chain holds ErrPermanent when sending again
	// cannot help, ErrUncertain when the provider may have taken it.
	Send(ctx context.Context, from string, rcpts []string, raw []byte) error
}

// SentSaver is implemented by mailboxes whose provider files the mail
// sent through it in the Sent folder itself (Graph's sendMail saves to
// Sent Items): the outbox then looks for that copy instead of appending
// another.
type SentSaver interface {
	SavesSentMail() bool
}

// AttachmentFetcher is implemented by mailboxes that can fetch one
// attachment of a message alone, without its whole MIME (Graph lists a
// message's attachments and serves each one's bytes). Attachments are
// named by the stored message's list (parsed from its MIME, see
// Attachment); a provider that numbers them otherwise matches by name,
// content id and order.
type AttachmentFetcher interface {
	// FetchAttachment streams the content of attachments[index] of
	// message id into w, at most max bytes (more is an error of kind
	// connerr.Protocol). found is false, with nothing written, when the
	// provider lists no such attachment (an attachment it does not serve
	// alone, such as an attached message): the caller falls back to the
	// whole MIME. A message gone is an error of kind connerr.Gone.
	FetchAttachment(ctx context.Context, folder string, id ID, attachments []Attachment, index int, max int64, w io.Writer) (found bool, err error)
}

// Watcher is implemented by mailboxes whose provider announces news
// through a subscription crmsync keeps alive (Graph's change
// notifications to crmsync's public address), and that are asked at an
// interval of their own while it cannot. The sync loop calls Watch before
// each pass and, while it waits, News.
type Watcher interface {
	// Watch keeps the subscription alive (creating or renewing it) and
	// takes the news announced since the last call. An error is the
	// subscription's only: the returned Watch still says how long to wait
	// (polling then).
	Watch(ctx context.Context) (Watch, error)
	// News reports whether news was announced since the last Watch. It
	// asks crmsync's own store, not the provider: a waiting loop calls it
	// every few seconds.
	News(ctx context.Context) bool
}

// Watch is what Watcher.Watch found.
type Watch struct {
	// Wait is how long the loop may wait for news before it asks the
	// provider anyway: the poll interval, or, with notifications on, the
	// interval of the round that catches what they missed.
	Wait time.Duration
	// News says a round is owed now: a notification came, or some were
	// missed, or the subscription is new.
	News bool
	// Pushed says notifications are on.
	Pushed bool
}
