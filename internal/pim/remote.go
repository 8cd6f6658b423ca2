package pim

import (
	"context"
	"errors"
	"github.com/crmsync/crmsync/internal/connerr"
	"time"
)

// Remote is one collection on a provider (an address book, a calendar, a
// task list), as the engine needs it. Each provider's connector implements
// it — CardDAV and CalDAV (pimconn), Graph and Google later — and the
// engine drives every one the same way: changes since a cursor, fetch what
// changed, conditional creates and updates, never a delete.
type Remote interface {
	// Changes returns what changed since token (a sync token, a delta
	// link). With token "" it lists the whole collection (Full). A token
	// the provider no longer accepts is ErrTokenInvalid: the engine then
	// lists everything and matches it against its mapping. A collection
	// that no longer exists is a connerr.Gone error.
	Changes(ctx context.Context, token string) (RemoteChanges, error)
	// Fetch returns the items at hrefs. An item that cannot be decoded is
	// in bad, one that no longer exists in missing; neither fails the
	// call.
	Fetch(ctx context.Context, hrefs []string) (items []RemoteItem, bad []ItemError, missing []string, err error)
	// Create writes a new item carrying uid (StampUID of the CRM record),
	// only if none exists there yet; ErrExists when one does (a retried
	// create: the engine fetches it and links it).
	Create(ctx context.Context, uid string, f Fields) (RemoteItem, error)
	// Update writes f over prev as a patch of prev.Raw (what the provider
	// holds that the CRM does not map is kept), only if the item still has
	// prev.ETag; ErrPrecondition when it changed meanwhile, ErrGone when
	// it was deleted.
	Update(ctx context.Context, prev RemoteItem, f Fields) (RemoteItem, error)
}

// ModTimer is implemented by a Remote that can tell when the provider
// last stored an item. The engine asks only to decide a newest-wins
// conflict on an item whose body carries no date of its own (or an older
// one: a client that rewrote it without updating REV).
type ModTimer interface {
	ModTime(ctx context.Context, href string) (time.Time, error)
}

// CategoryKeeper is a Remote whose categories must exist in a list of
// their own before its items can carry them, and that the user may rename
// or delete there: Outlook's master category list, Google's contact
// groups. The engine calls KeepCategories at the start of every pass with
// the fixed categories (FixedCategories): each missing one is created (a
// renamed or deleted one is thus restored), the others are left as they
// are. A failure fails the pass as any provider error does.
type CategoryKeeper interface {
	KeepCategories(ctx context.Context, names []string) error
}

// RemoteRef is an item in a listing: its id and version.
type RemoteRef struct {
	Href string
	ETag string
}

// RemoteChanges is the answer to Remote.Changes.
type RemoteChanges struct {
	// Full is true when Items is the whole collection: every mapped item
	// not in it was deleted.
	Full    bool
	Items   []RemoteRef // new or changed (Full: every item)
	Deleted []string    // hrefs deleted since the token
	Token   string      // the cursor to pass next time
}

// RemoteItem is an item with its content, decoded.
type RemoteItem struct {
	Href string
	ETag string
	UID  string
	// Type is what the item is: a collection of events may hold tasks too
	// (the other Remote's), told apart by it.
	Type RecordType
	// Fields are normalized; "categories" holds every category the item
	// carries, fixed and not imported ones included.
	Fields Fields
	// Modified is when the item last changed on the provider (REV,
	// LAST-MODIFIED, or the server's own date); zero when unknown.
	Modified time.Time
	// Raw is the provider's body, kept so a later update is a patch.
	Raw []byte
}

// ItemError is one item the engine could not read or write. It is shown in
// the account's status and skipped; it never blocks the other items.
type ItemError struct {
	Href string
	Err  error
}

// Errors a Remote returns, compared with errors.Is.
var (
	// ErrTokenInvalid is connerr's CursorInvalid, the same signal for
	// every connector, mail and PIM: errors.Is matches any *connerr.Error
	// of that kind.
	ErrTokenInvalid = connerr.ErrCursorInvalid
	ErrPrecondition = errors.New("pim: the item changed on the provider meanwhile")
	ErrExists       = errors.New("pim: an item with this id already exists on the provider")
	ErrGone         = errors.New("pim: the item no longer exists on the provider")
	// ErrRefused: this item cannot be written (the provider refused its
	// content, or it cannot be encoded); the item is reported and skipped,
	// the others go on.
	ErrRefused = errors.New("pim: the item was refused")
)
