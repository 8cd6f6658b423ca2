package mailsync

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/store"
)

// Store is the engine's port to storage: what it reads and writes of one
// account. store.Store implements it.
type Store interface {
	Folders(ctx context.Context, accountID int64) ([]store.Folder, error)
	SyncFolders(ctx context.Context, f store.Fence, accountID int64, list []store.FolderInfo, autoSelect []string) ([]store.Folder, error)
	SaveMessages(ctx context.Context, f store.Fence, folderID int64, cur store.FolderCursor, msgs []crm.Email) (store.SaveResult, error)
	SetFolderCursor(ctx context.Context, f store.Fence, folderID int64, cur store.FolderCursor) error
	RestartFolder(ctx context.Context, f store.Fence, folderID int64) error
	ExpungeStale(ctx context.Context, f store.Fence, folderID int64) (int, error)
	StoredIDs(ctx context.Context, folderID int64) ([]string, error)
	ApplyFlagChanges(ctx context.Context, f store.Fence, folderID int64, changes []store.FlagUpdate, cur store.FolderCursor) error
	RemoveMessages(ctx context.Context, f store.Fence, folderID int64, remoteIDs []string) (int, error)
	PendingFlags(ctx context.Context, accountID int64, limit int) ([]store.PendingFlag, error)
	AckFlags(ctx context.Context, f store.Fence, emailID int64, pushed crm.Flags) error
	FolderCounts(ctx context.Context, accountID int64) (map[string]int64, error)
	AddAccountEvent(ctx context.Context, accountID int64, ev store.AccountEvent) error

	// The outbox.
	DueOutbox(ctx context.Context, accountID int64, now time.Time, staleSending time.Duration, limit int) ([]crm.OutboxItem, error)
	UpdateOutbox(ctx context.Context, f store.Fence, it crm.OutboxItem) error
	GetUser(ctx context.Context, orgID, id int64) (crm.User, error)
	SetLink(ctx context.Context, v crm.Viewer, emailID int64, t crm.LinkType, id int64, manual bool) error
}

// Config tunes the engine.
type Config struct {
	// Parse parses one raw message; it returns an error only when reading
	// r fails (a malformed message becomes warnings).
	Parse func(r io.Reader) (*mail.Message, error)
	// BatchSize is how many messages a transaction stores (default 200);
	// BatchBytes caps the bodies a batch holds in memory (default 8 MiB).
	BatchSize  int
	BatchBytes int64
	// ParseWorkers is how many messages are parsed at once while the next
	// are fetched and the last stored (default GOMAXPROCS, at most 4).
	// Parse must then be safe for concurrent use.
	ParseWorkers int
	// BackfillBudget bounds the time one pass spends on initial sync before
	// it looks for new mail again (default 10 s).
	BackfillBudget time.Duration
	// AutoSelect are the folder roles synced unless the user chooses
	// (default inbox and sent).
	AutoSelect []string
	// MaxFolders is how many folders an account keeps (default
	// DefaultMaxFolders): a server listing hundreds of thousands must not
	// fill the store and every answer about the account.
	MaxFolders int
	// Send submits an outbox message: through the account's SMTP server,
	// or its provider's API (mailconn.Send chooses). Nil: the outbox is
	// not worked on.
	Send func(ctx context.Context, a crm.MailAccount, from string, rcpts []string, raw []byte) error
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// WithDefaults fills in the defaults.
func (c Config) WithDefaults() Config {
	if c.BatchSize <= 0 {
		c.BatchSize = 200
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = 8 << 20
	}
	if c.ParseWorkers <= 0 {
		c.ParseWorkers = min(runtime.GOMAXPROCS(0), 4)
	}
	if c.BackfillBudget <= 0 {
		c.BackfillBudget = 10 * time.Second
	}
	if c.MaxFolders <= 0 {
		c.MaxFolders = DefaultMaxFolders
	}
	if c.AutoSelect == nil {
		c.AutoSelect = []string{string(mail.RoleInbox), string(mail.RoleSent)}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Engine syncs one account over one connection, under one lease. It is not
// safe for concurrent use.
type Engine struct {
	Store   Store
	Mailbox mail.Mailbox
	Fence   store.Fence
	Account crm.MailAccount
	Config  Config
	Log     *slog.Logger
	// Progress, if set, is told how far the initial sync is (messages
	// stored and on the server, in the selected folders), at most once a
	// second while it runs.
	Progress func(ctx context.Context, stored, total int64) error

	lastProgress time.Time
	inserted     atomic.Int64 // messages newly stored since the pass began (the pipeline stores from its own goroutine)
}

// Result is what a pass found.
type Result struct {
	// Done is false while an initial sync (or a restart) has work left.
	Done bool
	// Stored and Total are the messages stored and on the server, in the
	// selected folders.
	Stored, Total int64
	// Audit names what the audit could not store, "" when all is stored.
	Audit string
	// Inserted counts the messages this pass stored anew (not those
	// re-attached or skipped). It is set also when the pass fails: what
	// was committed before the failure stays stored.
	Inserted int64
}

// DefaultMaxFolders is how many folders an account keeps by default.
const DefaultMaxFolders = 1000

// fetchStep is how many messages one Fetch asks for: the cursor advances
// in the order asked, so answers are reordered a chunk at a time.
const fetchStep = 50

// Pass syncs the selected folders once and pushes the user's flag changes
// and the outbox. A full pass lists the folders and visits every selected
// one; the others visit the inbox and the folders whose initial sync goes
// on.
func (e *Engine) Pass(ctx context.Context, full bool) (res Result, err error) {
	e.inserted.Store(0)
	defer func() { res.Inserted = e.inserted.Load() }()
	folders, err := e.folders(ctx, full)
	if err != nil {
		return res, err
	}
	if err := e.pushFlags(ctx); err != nil {
		return res, err
	}
	if worked, err := e.sendOutbox(ctx); err != nil {
		return res, err
	} else if worked {
		// A sent message filed in Sent changed that folder's count: the
		// totals below must see it.
		if folders, err = e.Store.Folders(ctx, e.Account.ID); err != nil {
			return res, err
		}
	}
	res.Done = true
	var audits []string
	deadline := time.Now().Add(e.Config.BackfillBudget)
	for _, f := range folders {
		if !f.Selected {
			continue
		}
		if f.Local { // forwarded mail: nothing to ask the server
			res.Total += int64(f.Cursor.ServerCount)
			continue
		}
		if !full && f.Role != string(mail.RoleInbox) && !f.Cursor.Syncing {
			res.Total += int64(f.Cursor.ServerCount)
			continue
		}
		r, err := e.folder(ctx, f, deadline)
		if err != nil {
			return res, fmt.Errorf("folder %s: %w", f.Name, err)
		}
		res.Total += r.serverCount
		res.Done = res.Done && r.done
		if r.audit != "" {
			audits = append(audits, r.audit)
		}
	}
	if res.Stored, err = e.stored(ctx, folders); err != nil {
		return res, err
	}
	if len(audits) > 0 {
		res.Audit = fmt.Sprint(audits)
	}
	return res, nil
}

// folders returns the stored folders, after recording the server's list on
// a full pass.
func (e *Engine) folders(ctx context.Context, full bool) ([]store.Folder, error) {
	if !full {
		return e.Store.Folders(ctx, e.Account.ID)
	}
	list, err := e.Mailbox.Folders(ctx)
	if err != nil {
		return nil, err
	}
	if len(list) > e.Config.MaxFolders {
		if list, err = e.capFolders(ctx, list); err != nil {
			return nil, err
		}
	}
	infos := make([]store.FolderInfo, 0, len(list))
	for _, f := range list {
		infos = append(infos, store.FolderInfo{Name: f.Name, Role: string(f.Role), NoSelect: f.NoSelect})
	}
	return e.Store.SyncFolders(ctx, e.Fence, e.Account.ID, infos, e.Config.AutoSelect)
}

// capFolders keeps MaxFolders of a server's folders: those with a role
// (inbox, sent…) and those the user chose to sync first, then the others
// in the server's order. The history says so the first time.
func (e *Engine) capFolders(ctx context.Context, list []mail.FolderInfo) ([]mail.FolderInfo, error) {
	stored, err := e.Store.Folders(ctx, e.Account.ID)
	if err != nil {
		return nil, err
	}
	chosen := make(map[string]bool, len(stored))
	for _, f := range stored {
		chosen[f.Name] = f.Selected
	}
	first := func(f mail.FolderInfo) bool { return f.Role != mail.RoleNone || chosen[f.Name] }
	kept := make([]mail.FolderInfo, 0, e.Config.MaxFolders)
	for _, pass := range []bool{true, false} {
		for _, f := range list {
			if len(kept) < e.Config.MaxFolders && first(f) == pass {
				kept = append(kept, f)
			}
		}
	}
	if len(stored) < e.Config.MaxFolders {
		e.event(ctx, "folders", fmt.Sprintf("The server lists %d folders or more; crmsync keeps %d of them (the inbox, sent and other special folders, and those chosen for sync, first). "+
			"Folders left out are not synced.", len(list), len(kept)))
	}
	return kept, nil
}

// stored counts the messages stored in the selected folders.
func (e *Engine) stored(ctx context.Context, folders []store.Folder) (int64, error) {
	counts, err := e.Store.FolderCounts(ctx, e.Account.ID)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, f := range folders {
		if f.Selected {
			n += counts[f.Name]
		}
	}
	return n, nil
}

type folderResult struct {
	done        bool
	serverCount int64
	audit       string
}

// folder brings one folder up to date: what changed since its cursor, page
// after page while the initial sync has time left in this pass, then the
// audit. A cursor the connector no longer accepts restarts the folder: a new
// listing whose messages re-attach to the rows stored before.
func (e *Engine) folder(ctx context.Context, f store.Folder, deadline time.Time) (res folderResult, err error) {
	// The last batch of a page is stored while the next page is asked
	// for; it is waited for before anything else is written, and before
	// this returns.
	var storing <-chan error
	settle := func() error {
		if storing == nil {
			return nil
		}
		err := <-storing
		storing = nil
		return err
	}
	defer func() {
		if serr := settle(); err == nil {
			err = serr
		}
	}()
	cur := f.Cursor
	restarted, first := false, true
	limit := e.Config.BatchSize * 5
	for {
		ch, err := e.Mailbox.Changes(ctx, f.Name, mail.Cursor(cur.Token), limit)
		if serr := settle(); serr != nil {
			return res, serr
		}
		if connerr.KindOf(err) == connerr.CursorInvalid && !restarted {
			e.event(ctx, "folder", connerr.Message(err))
			if err := e.Store.RestartFolder(ctx, e.Fence, f.ID); err != nil {
				return res, err
			}
			cur = store.FolderCursor{Syncing: true, ServerCount: cur.ServerCount}
			restarted, f.Stale = true, true
			continue
		}
		if err != nil {
			return res, err
		}
		res.serverCount = int64(ch.Total)
		cur.ServerCount = uint32(ch.Total)
		// A listing (Present) is compared with what is stored on the first
		// page of a visit and on the last, not on every page of a long
		// initial sync: each comparison reads every stored id.
		if err := e.remove(ctx, f, ch, first || !ch.More); err != nil {
			return res, err
		}
		first = false
		flags := make([]store.FlagUpdate, len(ch.Flags))
		for i, c := range ch.Flags {
			flags[i] = store.FlagUpdate{RemoteID: string(c.ID), Flags: c.Flags}
		}
		final := cur
		final.Token, final.Syncing = string(ch.Cursor), ch.More
		if len(ch.Added) == 0 {
			if err := e.Store.ApplyFlagChanges(ctx, e.Fence, f.ID, flags, final); err != nil {
				return res, err
			}
		} else {
			// The flags go first, under the old cursor: until the new
			// messages are stored the cursor must not pass them.
			if len(flags) > 0 {
				if err := e.Store.ApplyFlagChanges(ctx, e.Fence, f.ID, flags, cur); err != nil {
					return res, err
				}
			}
			if storing, err = e.fetchSave(ctx, f, cur, ch.Added, ch.Checkpoints, final, ch.More); err != nil {
				return res, err
			}
		}
		cur = final
		if !ch.More {
			if f.Stale {
				// The new listing is complete: what it did not re-attach is
				// gone from the server.
				n, err := e.Store.ExpungeStale(ctx, e.Fence, f.ID)
				if err != nil {
					return res, err
				}
				if n > 0 {
					e.Log.LogAttrs(ctx, slog.LevelInfo, "messages gone after a restart", slog.String("folder", f.Name), slog.Int("count", n))
				}
			}
			res.done = true
			if ch.Present != nil {
				return res, e.audit(ctx, f, cur, ch.Present, &res)
			}
			return res, nil
		}
		if !time.Now().Before(deadline) {
			return res, nil
		}
	}
}

// remove marks messages gone from the server: those the connector says,
// and, when it lists what the folder holds and compare is set, every
// stored one not listed.
func (e *Engine) remove(ctx context.Context, f store.Folder, ch mail.Changes, compare bool) error {
	gone := make([]string, 0, len(ch.Removed))
	for _, id := range ch.Removed {
		gone = append(gone, string(id))
	}
	if ch.Present != nil && compare {
		stored, err := e.Store.StoredIDs(ctx, f.ID)
		if err != nil {
			return err
		}
		gone = append(gone, minus(stored, ch.Present)...)
	}
	if len(gone) == 0 {
		return nil
	}
	_, err := e.Store.RemoveMessages(ctx, e.Fence, f.ID, gone)
	return err
}

// audit checks that every message the server listed is stored. A gap is
// fetched again now; what still misses is shown in the status.
func (e *Engine) audit(ctx context.Context, f store.Folder, cur store.FolderCursor, present []mail.ID, res *folderResult) error {
	stored, err := e.Store.StoredIDs(ctx, f.ID)
	if err != nil {
		return err
	}
	if gap := minusIDs(present, stored); len(gap) > 0 {
		e.Log.LogAttrs(ctx, slog.LevelWarn, "audit found unstored messages; fetching them", slog.String("folder", f.Name), slog.Int("count", len(gap)))
		if _, err := e.fetchSave(ctx, f, cur, gap, nil, cur, false); err != nil {
			return err
		}
		if stored, err = e.Store.StoredIDs(ctx, f.ID); err != nil {
			return err
		}
	}
	now := e.Config.Now()
	cur.AuditedAt = &now
	cur.Missing = int64(len(minusIDs(present, stored)))
	if cur.Missing > 0 {
		res.audit = fmt.Sprintf("%d messages of %s could not be stored yet", cur.Missing, f.Name)
	}
	return e.Store.SetFolderCursor(ctx, e.Fence, f.ID, cur)
}

// reportProgress tells Progress how far the initial sync is, at most once
// a second, so that the status is true while a large mailbox comes in.
func (e *Engine) reportProgress(ctx context.Context) error {
	if e.Progress == nil || time.Since(e.lastProgress) < time.Second {
		return nil
	}
	e.lastProgress = time.Now()
	folders, err := e.Store.Folders(ctx, e.Account.ID)
	if err != nil {
		return err
	}
	stored, err := e.stored(ctx, folders)
	if err != nil {
		return err
	}
	var total int64
	for _, f := range folders {
		if f.Selected {
			total += int64(f.Cursor.ServerCount)
		}
	}
	return e.Progress(ctx, stored, max(total, stored))
}

// pushFlags writes the user's flag changes to the server.
func (e *Engine) pushFlags(ctx context.Context) error {
	pend, err := e.Store.PendingFlags(ctx, e.Account.ID, 500)
	if err != nil || len(pend) == 0 {
		return err
	}
	for _, p := range pend {
		err := e.Mailbox.SetFlags(ctx, p.Folder, mail.ID(p.RemoteID), p.Flags)
		if connerr.KindOf(err) == connerr.Gone {
			continue // the folder restarts: the re-attached row keeps the change, pushed then
		}
		if err != nil {
			return err
		}
		if err := e.Store.AckFlags(ctx, e.Fence, p.EmailID, p.Flags); err != nil {
			return err
		}
	}
	return nil
}

// HasWork reports whether work was queued in crmsync for the account (a
// flag change, mail to send) that a waiting loop should do now.
func (e *Engine) HasWork(ctx context.Context) bool {
	if p, err := e.Store.PendingFlags(ctx, e.Account.ID, 1); err == nil && len(p) > 0 {
		return true
	}
	if e.Config.Send != nil {
		if d, err := e.Store.DueOutbox(ctx, e.Account.ID, e.Config.Now(), outboxStaleSending, 1); err == nil && len(d) > 0 {
			return true
		}
	}
	return false
}

// Idle waits for news in the inbox, up to max: with the connector's push
// (IMAP IDLE) if it has one, else by sleeping. Cancel ctx to end it early.
func (e *Engine) Idle(ctx context.Context, max time.Duration) error {
	idler, ok := e.Mailbox.(mail.Idler)
	if !ok {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(max):
			return nil
		}
	}
	inbox := "INBOX"
	if folders, err := e.Store.Folders(ctx, e.Account.ID); err == nil {
		for _, f := range folders {
			if f.Role == string(mail.RoleInbox) {
				inbox = f.Name
			}
		}
	}
	_, err := idler.Idle(ctx, inbox, max)
	return err
}

func (e *Engine) event(ctx context.Context, kind, msg string) {
	if err := e.Store.AddAccountEvent(ctx, e.Account.ID, store.AccountEvent{At: e.Config.Now(), Kind: kind, Message: msg}); err != nil {
		e.Log.LogAttrs(ctx, slog.LevelWarn, "recording event failed", slog.Any("err", err))
	}
}

// minus returns the elements of a not in b.
func minus(a []string, b []mail.ID) []string {
	in := make(map[mail.ID]bool, len(b))
	for _, x := range b {
		in[x] = true
	}
	var out []string
	for _, x := range a {
		if !in[mail.ID(x)] {
			out = append(out, x)
		}
	}
	return out
}

// minusIDs returns the ids of a not in b, in a's order.
func minusIDs(a []mail.ID, b []string) []mail.ID {
	in := make(map[string]bool, len(b))
	for _, x := range b {
		in[x] = true
	}
	return slices.DeleteFunc(slices.Clone(a), func(x mail.ID) bool { return in[string(x)] })
}

// sizeText says a size in words.
func sizeText(n int64) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", max(n>>10, 1))
}
