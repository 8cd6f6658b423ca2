package syncer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/store"
)

// MailLeaseKind is the lease kind of a mailbox's sync loop; the key is the
// account id.
const MailLeaseKind = "mail"

// MailConfig wires the mailbox sync loops (DESIGN §4-5).
type MailConfig struct {
	// Dial connects to an account's server (decrypting its credential).
	Dial func(ctx context.Context, a crm.MailAccount) (mail.Mailbox, error)
	// Parse parses one raw message; it returns an error only when reading
	// r fails (a malformed message becomes warnings).
	Parse func(r io.Reader) (*mail.Message, error)
	// BatchSize is how many messages a transaction stores (default 200);
	// BatchBytes caps the bodies a batch holds in memory (default 8 MiB).
	BatchSize  int
	BatchBytes int64
	// PollInterval is the time between full passes over every folder
	// (default 2 min); IdleMax how long one IDLE waits before the loop
	// looks at pending flag changes (default 30 s).
	PollInterval time.Duration
	IdleMax      time.Duration
	// Scan is how often the manager looks for accounts to run (default 2 s).
	Scan time.Duration
	// MaxAccounts caps the loops one process runs (default 500).
	MaxAccounts int
	// BackfillBudget bounds the time one pass spends on initial sync before
	// it looks for new mail again (default 10 s).
	BackfillBudget time.Duration
	// AutoSelect are the folder roles synced unless the user chooses.
	AutoSelect []string
	// Send submits an outbox message through the account's SMTP server (nil: the outbox is not worked on).
	Send func(ctx context.Context, a crm.MailAccount, from string, rcpts []string, raw []byte) error
}

func (c MailConfig) withDefaults() MailConfig {
	if c.BatchSize <= 0 {
		c.BatchSize = 200
	}
	if c.BatchBytes <= 0 {
		c.BatchBytes = 8 << 20
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 2 * time.Minute
	}
	if c.IdleMax <= 0 {
		c.IdleMax = 30 * time.Second
	}
	if c.Scan <= 0 {
		c.Scan = 2 * time.Second
	}
	if c.MaxAccounts <= 0 {
		c.MaxAccounts = 500
	}
	if c.BackfillBudget <= 0 {
		c.BackfillBudget = 10 * time.Second
	}
	if c.AutoSelect == nil {
		c.AutoSelect = []string{string(mail.RoleInbox), string(mail.RoleSent)}
	}
	return c
}

// runMail is the manager of the mailbox loops.
func runMail(ctx context.Context, cfg Config) {
	mc := cfg.Mail.withDefaults()
	m := manager{cfg: cfg, kind: MailLeaseKind, scan: mc.Scan, max: mc.MaxAccounts,
		due: func(ctx context.Context) ([]int64, error) {
			accounts, err := cfg.Store.SyncableAccounts(ctx, cfg.Now())
			ids := make([]int64, len(accounts))
			for i, a := range accounts {
				ids[i] = a.ID
			}
			return ids, err
		},
		loop: func(id int64, log *slog.Logger) func(context.Context, store.Fence) error {
			return (&accountLoop{cfg: cfg, mc: mc, id: id, log: log}).run
		}}
	m.run(ctx)
}

// accountLoop syncs one account while its lease is held.
type accountLoop struct {
	cfg   Config
	mc    MailConfig
	id    int64
	log   *slog.Logger
	fence store.Fence
	acct  crm.MailAccount
	mb    mail.Mailbox
	// what the last recorded status was, to log transitions once
	failures int
	// lastProgress is when initial-sync progress was last recorded.
	lastProgress time.Time
}

// errReconnect ends the loop so that it starts again with new settings.
var errReconnect = errors.New("syncer: account settings changed")

func (l *accountLoop) run(ctx context.Context, f store.Fence) error {
	l.fence = f
	a, err := l.cfg.Store.MailAccountByID(ctx, l.id)
	if err != nil {
		return err
	}
	if a.Mode != crm.ModeSync || a.DisconnectedAt != nil {
		return nil
	}
	l.acct, l.failures = a, a.Failures
	if a.State != crm.StateInitialSync && a.State != crm.StateSynced && a.State != crm.StateSyncing {
		l.status(ctx, store.AccountStatus{State: crm.StateConnecting, Failures: a.Failures}, nil)
	}
	mb, err := l.mc.Dial(ctx, a)
	if err != nil {
		return l.fail(ctx, err)
	}
	l.mb = mb
	defer mb.Close()
	lastFull := time.Time{}
	for {
		full := time.Since(lastFull) >= l.mc.PollInterval
		done, err := l.pass(ctx, full)
		if err != nil {
			if errors.Is(err, errReconnect) {
				return nil
			}
			return l.fail(ctx, err)
		}
		if full {
			lastFull = time.Now()
		}
		if !done {
			continue // initial sync still going: no idling
		}
		if err := l.idle(ctx, l.mc.IdleMax); err != nil {
			return l.fail(ctx, err)
		}
	}
}

// idle waits on INBOX for news, up to max.
func (l *accountLoop) idle(ctx context.Context, max time.Duration) error {
	idler, ok := l.mb.(mail.Idler)
	if !ok {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(max):
			return nil
		}
	}
	if _, err := l.mb.Select(ctx, "INBOX"); err != nil {
		return err
	}
	// Work queued in crmsync (a flag changed, mail to send) ends the wait:
	// a wake-up from this process at once, or the store's pending list,
	// looked at every few seconds, when another process queued it.
	idleCtx, stop := context.WithCancel(ctx)
	defer stop()
	wake := mailWakes.open(l.id)
	defer mailWakes.close(l.id, wake)
	go func() {
		t := time.NewTicker(pendingCheck)
		defer t.Stop()
		for {
			select {
			case <-idleCtx.Done():
				return
			case <-wake:
				stop()
				return
			case <-t.C:
				if p, err := l.cfg.Store.PendingFlags(idleCtx, l.id, 1); err == nil && len(p) > 0 {
					stop()
					return
				}
				if l.mc.Send != nil {
					if d, err := l.cfg.Store.DueOutbox(idleCtx, l.id, l.cfg.Now(), outboxStaleSending, 1); err == nil && len(d) > 0 {
						stop()
						return
					}
				}
			}
		}
	}()
	_, err := idler.Idle(idleCtx, max)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if idleCtx.Err() != nil {
		return nil // woken for local work
	}
	return err
}

// pendingCheck is how often an idling loop looks for work queued by
// another process.
const pendingCheck = 3 * time.Second

// mailWakes lets the API of this process wake an account's idling loop.
var mailWakes = newWakeSet()

// Wake tells the sync loop of an account, if this process runs it, that
// work was queued for it (a flag change, mail to send), so that it stops
// waiting on the server and does it now.
func Wake(accountID int64) { mailWakes.wake(accountID) }

// pass syncs the selected folders once (INBOX only unless full) and pushes
// pending flag changes. done is false while initial sync has work left.
func (l *accountLoop) pass(ctx context.Context, full bool) (done bool, err error) {
	a, err := l.cfg.Store.MailAccountByID(ctx, l.id)
	if err != nil {
		return false, err
	}
	if !a.UpdatedAt.Equal(l.acct.UpdatedAt) && (a.CredentialID != l.acct.CredentialID || !sameSettings(a.Settings, l.acct.Settings) || a.DisconnectedAt != nil) {
		return false, errReconnect
	}
	folders := []store.Folder{}
	if full || l.acct.State == crm.StateConnecting {
		list, err := l.mb.Folders(ctx)
		if err != nil {
			return false, err
		}
		infos := make([]store.FolderInfo, 0, len(list))
		for _, f := range list {
			infos = append(infos, store.FolderInfo{Name: f.Name, Role: string(f.Role), NoSelect: f.NoSelect})
		}
		if folders, err = l.cfg.Store.SyncFolders(ctx, l.fence, l.id, infos, l.mc.AutoSelect); err != nil {
			return false, err
		}
	} else if folders, err = l.cfg.Store.Folders(ctx, l.id); err != nil {
		return false, err
	}
	if err := l.pushFlags(ctx); err != nil {
		return false, err
	}
	if err := l.sendOutbox(ctx); err != nil {
		return false, err
	}
	done = true
	var total int64
	var audits []string
	deadline := time.Now().Add(l.mc.BackfillBudget)
	for _, f := range folders {
		if !f.Selected || (!full && f.Role != string(mail.RoleInbox) && f.Name != "INBOX") {
			total += int64(f.Cursor.ServerCount)
			continue
		}
		r, err := l.folder(ctx, f, full, deadline)
		if err != nil {
			return false, fmt.Errorf("folder %s: %w", f.Name, err)
		}
		total += r.serverCount
		if !r.done {
			done = false
		}
		if r.audit != "" {
			audits = append(audits, r.audit)
		}
	}
	counts, err := l.cfg.Store.FolderCounts(ctx, l.id)
	if err != nil {
		return false, err
	}
	var stored int64
	for _, f := range folders {
		if f.Selected {
			stored += counts[f.Name]
		}
	}
	now := l.cfg.Now()
	st := store.AccountStatus{State: crm.StateSynced, ProgressDone: stored, ProgressTotal: total, LastSyncAt: &now}
	if !done {
		st.State = crm.StateInitialSync
	}
	if len(audits) > 0 {
		st.Audit = fmt.Sprint(audits)
	}
	var ev *store.AccountEvent
	if l.acct.State != st.State {
		ev = &store.AccountEvent{At: now, Kind: "state", Message: stateSentence(st)}
	}
	if err := l.status(ctx, st, ev); err != nil {
		return false, err
	}
	l.acct = a
	l.acct.State = st.State
	return done, nil
}

type folderResult struct {
	done        bool
	serverCount int64
	audit       string
}

// folder brings one folder up to date (DESIGN §4): new mail, flag changes,
// expunges, a slice of initial sync, and the audit.
func (l *accountLoop) folder(ctx context.Context, f store.Folder, full bool, deadline time.Time) (folderResult, error) {
	var res folderResult
	st, err := l.mb.Select(ctx, f.Name)
	if err != nil {
		return res, err
	}
	cur := f.Cursor
	if cur.UIDValidity != st.UIDValidity {
		if cur.UIDValidity != 0 {
			l.event(ctx, "folder", fmt.Sprintf("The server renumbered folder %s (UIDVALIDITY changed). Its messages are being matched again; nothing is lost or duplicated.", f.Name))
		}
		cur = store.FolderCursor{UIDValidity: st.UIDValidity, UIDNext: st.UIDNext, HighestModSeq: st.HighestModSeq, BackfillBelow: st.UIDNext}
		if cur.BackfillBelow == 0 {
			cur.BackfillBelow = 1
		}
		if err := l.cfg.Store.SetFolderCursor(ctx, l.fence, f.ID, cur); err != nil {
			return res, err
		}
	}
	uids, err := l.mb.UIDs(ctx)
	if err != nil {
		return res, err
	}
	res.serverCount = int64(len(uids))
	cur.ServerCount = uint32(len(uids))

	// New mail: everything at or above UIDNext, oldest first.
	var fresh []uint32
	for _, u := range uids {
		if u >= cur.UIDNext {
			fresh = append(fresh, u)
		}
	}
	if len(fresh) > 0 {
		if cur, err = l.fetchSave(ctx, f.ID, cur, fresh, func(c *store.FolderCursor, batch []uint32) { c.UIDNext = batch[len(batch)-1] + 1 }); err != nil {
			return res, err
		}
	}
	if st.UIDNext > cur.UIDNext {
		cur.UIDNext = st.UIDNext
	}

	// Flags changed on the server (CONDSTORE), or all of them on a full
	// pass without it.
	if st.HighestModSeq > 0 && st.HighestModSeq != cur.HighestModSeq || st.HighestModSeq == 0 && full {
		changes, err := l.mb.Changes(ctx, cur.HighestModSeq)
		if err != nil {
			return res, err
		}
		ups := make([]store.FlagUpdate, len(changes))
		for i, c := range changes {
			ups[i] = store.FlagUpdate{UID: c.UID, Flags: c.Flags, ModSeq: c.ModSeq}
		}
		cur.HighestModSeq = st.HighestModSeq
		if err := l.cfg.Store.ApplyFlagChanges(ctx, l.fence, f.ID, cur.UIDValidity, ups, cur); err != nil {
			return res, err
		}
	}

	// Expunges: stored UIDs the server no longer has.
	stored, err := l.cfg.Store.StoredUIDs(ctx, f.ID, cur.UIDValidity)
	if err != nil {
		return res, err
	}
	if gone := minus(stored, uids); len(gone) > 0 {
		if _, err := l.cfg.Store.ExpungeUIDs(ctx, l.fence, f.ID, cur.UIDValidity, gone); err != nil {
			return res, err
		}
		stored = minus(stored, gone)
	}

	// Initial sync, newest first, until the pass's time budget is spent.
	if cur.BackfillBelow > 0 {
		var older []uint32
		for _, u := range uids {
			if u < cur.BackfillBelow {
				older = append(older, u)
			}
		}
		slices.Reverse(older)
		for len(older) > 0 && time.Now().Before(deadline) {
			n := min(len(older), l.mc.BatchSize*5)
			chunk := older[:n]
			older = older[n:]
			cur, err = l.fetchSave(ctx, f.ID, cur, chunk, func(c *store.FolderCursor, batch []uint32) { c.BackfillBelow = batch[len(batch)-1] })
			if err != nil {
				return res, err
			}
		}
		if len(older) == 0 {
			// Everything below is stored: the previous UIDVALIDITY's rows that
			// were not re-attached are gone from the server.
			cur.BackfillBelow = 0
			if err := l.cfg.Store.SetFolderCursor(ctx, l.fence, f.ID, cur); err != nil {
				return res, err
			}
			if n, err := l.cfg.Store.ExpungeOtherValidities(ctx, l.fence, f.ID, cur.UIDValidity); err != nil {
				return res, err
			} else if n > 0 {
				l.log.LogAttrs(ctx, slog.LevelInfo, "messages gone after renumbering", slog.String("folder", f.Name), slog.Int("count", n))
			}
			if stored, err = l.cfg.Store.StoredUIDs(ctx, f.ID, cur.UIDValidity); err != nil {
				return res, err
			}
		} else {
			res.done = false
			return res, nil
		}
	}
	res.done = true

	// Audit: every server UID below UIDNext must be stored. A gap is fetched
	// again now; what still misses is shown in the status.
	if gap := minus(uidsBelow(uids, cur.UIDNext), stored); len(gap) > 0 {
		l.log.LogAttrs(ctx, slog.LevelWarn, "audit found unstored messages; fetching them", slog.String("folder", f.Name), slog.Int("count", len(gap)))
		if cur, err = l.fetchSave(ctx, f.ID, cur, gap, func(*store.FolderCursor, []uint32) {}); err != nil {
			return res, err
		}
		if stored, err = l.cfg.Store.StoredUIDs(ctx, f.ID, cur.UIDValidity); err != nil {
			return res, err
		}
	}
	now := l.cfg.Now()
	cur.AuditedAt = &now
	cur.Missing = int64(len(minus(uidsBelow(uids, cur.UIDNext), stored)))
	if cur.Missing > 0 {
		res.audit = fmt.Sprintf("%d messages of %s could not be stored yet", cur.Missing, f.Name)
	}
	return res, l.cfg.Store.SetFolderCursor(ctx, l.fence, f.ID, cur)
}

// fetchSave fetches uids (in that order) and stores them in batches, each
// with the cursor that advance computes, so a crash resumes after the last
// committed batch.
func (l *accountLoop) fetchSave(ctx context.Context, folderID int64, cur store.FolderCursor, uids []uint32,
	advance func(c *store.FolderCursor, batch []uint32)) (store.FolderCursor, error) {
	var batch []crm.Email
	var batchUIDs []uint32
	var bytes int64
	flush := func() error {
		if len(batchUIDs) == 0 {
			return nil
		}
		advance(&cur, batchUIDs)
		if _, err := l.cfg.Store.SaveMessages(ctx, l.fence, folderID, cur, batch); err != nil {
			return err
		}
		batch, batchUIDs, bytes = batch[:0], batchUIDs[:0], 0
		if cur.BackfillBelow > 0 {
			return l.reportProgress(ctx)
		}
		return nil
	}
	// The server returns messages in its own (ascending) order; the cursor
	// must advance in the order asked, so fetch in small chunks, reorder
	// each, and commit every BatchSize messages or BatchBytes of bodies.
	step := min(50, l.mc.BatchSize)
	for lo := 0; lo < len(uids); lo += step {
		chunk := uids[lo:min(lo+step, len(uids))]
		got := map[uint32]crm.Email{}
		err := l.mb.Fetch(ctx, chunk, func(m *mail.Fetched) error {
			p, err := l.mc.Parse(m.Body)
			if err != nil {
				return err
			}
			e := toEmail(p, m, cur.UIDValidity)
			got[m.UID] = e
			bytes += int64(len(e.Text) + len(e.HTML))
			return nil
		})
		if err != nil {
			return cur, err
		}
		for _, u := range chunk {
			if e, ok := got[u]; ok {
				batch = append(batch, e)
			}
			batchUIDs = append(batchUIDs, u) // gone meanwhile: still advance past it
		}
		if len(batchUIDs) >= l.mc.BatchSize || bytes >= l.mc.BatchBytes {
			if err := flush(); err != nil {
				return cur, err
			}
		}
	}
	return cur, flush()
}

// reportProgress records "initial_sync, n of m" at most once a second, so
// that the status is true while a large mailbox comes in.
func (l *accountLoop) reportProgress(ctx context.Context) error {
	if time.Since(l.lastProgress) < time.Second {
		return nil
	}
	l.lastProgress = time.Now()
	folders, err := l.cfg.Store.Folders(ctx, l.id)
	if err != nil {
		return err
	}
	counts, err := l.cfg.Store.FolderCounts(ctx, l.id)
	if err != nil {
		return err
	}
	var done, total int64
	for _, f := range folders {
		if f.Selected {
			done += counts[f.Name]
			total += int64(f.Cursor.ServerCount)
		}
	}
	st := store.AccountStatus{State: crm.StateInitialSync, ProgressDone: done, ProgressTotal: max(total, done), LastSyncAt: l.acct.LastSyncAt}
	var ev *store.AccountEvent
	if l.acct.State != crm.StateInitialSync {
		ev = &store.AccountEvent{At: l.cfg.Now(), Kind: "state", Message: fmt.Sprintf("Initial sync started: %d messages to fetch", total)}
	}
	if err := l.status(ctx, st, ev); err != nil {
		return err
	}
	l.acct.State = crm.StateInitialSync
	return nil
}

// toEmail turns a parsed message into the stored form.
func toEmail(p *mail.Message, m *mail.Fetched, uidvalidity uint32) crm.Email {
	date := p.Date
	if date.IsZero() {
		date = m.InternalDate
	}
	if date.IsZero() {
		date = time.Now()
	}
	return crm.Email{
		UIDValidity: uidvalidity, UID: m.UID, MessageID: p.MessageID, InReplyTo: p.InReplyTo, References: p.References,
		Subject: p.Subject, Date: date.UTC(),
		Participants: crm.Participants{From: p.From, Sender: p.Sender, ReplyTo: p.ReplyTo, To: p.To, Cc: p.Cc, Bcc: p.Bcc},
		Text:         p.Text, HTML: p.HTML, Truncated: p.TextTruncated || p.HTMLTruncated, Attachments: p.Attachments,
		Warnings: p.Warnings, Flags: m.Flags, ModSeq: m.ModSeq, Size: p.Size, Hash: p.Hash,
	}
}

// pushFlags writes the user's flag changes to the server.
func (l *accountLoop) pushFlags(ctx context.Context) error {
	pend, err := l.cfg.Store.PendingFlags(ctx, l.id, 500)
	if err != nil || len(pend) == 0 {
		return err
	}
	selected := ""
	var validity uint32
	for _, p := range pend {
		if p.Folder != selected {
			st, err := l.mb.Select(ctx, p.Folder)
			if err != nil {
				return err
			}
			selected, validity = p.Folder, st.UIDValidity
		}
		if p.UIDValidity != validity {
			continue // renumbered: the re-attachment will carry it
		}
		set, clear := p.Flags, crm.Flags{Seen: !p.Flags.Seen, Flagged: !p.Flags.Flagged, Answered: !p.Flags.Answered, Draft: !p.Flags.Draft}
		if err := l.mb.StoreFlags(ctx, p.UID, set, clear); err != nil {
			return err
		}
		if err := l.cfg.Store.AckFlags(ctx, l.fence, p.EmailID, p.Flags); err != nil {
			return err
		}
	}
	return nil
}

// fail records a failure as the user should see it and schedules the next
// attempt by the one policy for every account (connerr.Retry): the same
// fault gets the same state, code and words for a mailbox as for an
// address book.
func (l *accountLoop) fail(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	kind, msg := connerr.KindOf(err), connerr.Message(err)
	failures := l.failures + 1
	state, delay := crm.AccountState(kind.State()), connerr.RetryOf(err, failures)
	next := l.cfg.Now().Add(delay)
	st := store.AccountStatus{State: state, ErrorCode: string(kind), ErrorMessage: msg, Failures: failures, NextAttemptAt: &next,
		ProgressDone: l.acct.ProgressDone, ProgressTotal: l.acct.ProgressTotal}
	l.log.LogAttrs(ctx, slog.LevelWarn, "mail sync failed", slog.String("state", string(state)), slog.Any("err", err), slog.Duration("retry_in", delay))
	werr := l.status(ctx, st, &store.AccountEvent{Kind: "error", Message: fmt.Sprintf("%s — next attempt in %s", msg, delay.Round(time.Second))})
	if werr != nil {
		return werr
	}
	return err
}

func (l *accountLoop) status(ctx context.Context, st store.AccountStatus, ev *store.AccountEvent) error {
	return l.cfg.Store.RecordAccountStatus(ctx, l.fence, l.id, st, ev)
}

func (l *accountLoop) event(ctx context.Context, kind, msg string) {
	if err := l.cfg.Store.AddAccountEvent(ctx, l.id, store.AccountEvent{At: l.cfg.Now(), Kind: kind, Message: msg}); err != nil {
		l.log.LogAttrs(ctx, slog.LevelWarn, "recording event failed", slog.Any("err", err))
	}
}

// backoff returns base·2^(n-1) capped at max, ±20 % jitter.
func backoff(n int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	return d - d/5 + time.Duration(rand.Int64N(int64(d)/5*2+1))
}

func stateSentence(st store.AccountStatus) string {
	switch st.State {
	case crm.StateInitialSync:
		return fmt.Sprintf("Initial sync: %d of %d messages", st.ProgressDone, st.ProgressTotal)
	case crm.StateSynced:
		return fmt.Sprintf("Synced: %d messages", st.ProgressDone)
	}
	return string(st.State)
}

func sameSettings(a, b crm.MailSettings) bool {
	eq := func(x, y *crm.ServerSettings) bool {
		return (x == nil && y == nil) || (x != nil && y != nil && *x == *y)
	}
	return eq(a.IMAP, b.IMAP) && eq(a.SMTP, b.SMTP) && a.AllowPlaintext == b.AllowPlaintext
}

// minus returns the elements of a (sorted) not in b (sorted).
func minus(a, b []uint32) []uint32 {
	var out []uint32
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j < len(b) && b[j] == x {
			continue
		}
		out = append(out, x)
	}
	return out
}

func uidsBelow(uids []uint32, limit uint32) []uint32 {
	i, _ := slices.BinarySearch(uids, limit)
	return uids[:i]
}
