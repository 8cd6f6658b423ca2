package syncer

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/lease"
	"github.com/crmsync/crmsync/internal/mail"
	"github.com/crmsync/crmsync/internal/mail/mailsync"
	"github.com/crmsync/crmsync/internal/store"
)

// MailLeaseKind is the lease kind of a mailbox's sync loop; the key is the
// account id.
const MailLeaseKind = "mail"

// MailConfig wires the mailbox sync loops (DESIGN §4-5).
type MailConfig struct {
	// Dial connects to an account's provider (decrypting its credential).
	Dial func(ctx context.Context, a crm.MailAccount) (mail.Mailbox, error)
	// Engine tunes the mail engine (Parse is required).
	Engine mailsync.Config
	// PollInterval is the time between full passes over every folder
	// (default 2 min); IdleMax how long one wait for news lasts before the
	// loop looks at pending flag changes (default 30 s). A mailbox that is
	// a mail.Watcher (Graph) says its own wait instead, and every one of
	// its passes is full.
	PollInterval time.Duration
	IdleMax      time.Duration
	// Scan is how often the manager looks for accounts to run (default 2 s).
	Scan time.Duration
	// MaxAccounts caps the loops one process runs (default 10,000); the
	// processes sharing a database split the accounts evenly below it
	// (manager).
	MaxAccounts int
}

func (c MailConfig) withDefaults(now func() time.Time) MailConfig {
	c.PollInterval = cmp.Or(c.PollInterval, 2*time.Minute)
	c.IdleMax = cmp.Or(c.IdleMax, 30*time.Second)
	c.Scan = cmp.Or(c.Scan, 2*time.Second)
	c.MaxAccounts = cmp.Or(c.MaxAccounts, 10_000)
	if c.Engine.Now == nil {
		c.Engine.Now = now
	}
	c.Engine = c.Engine.WithDefaults()
	return c
}

// runMail is the manager of the mailbox loops.
func (s *Syncer) runMail(ctx context.Context) {
	cfg := s.cfg
	mc := cfg.Mail.withDefaults(cfg.Now)
	// One goroutine renews every mailbox's lease (ten thousand idle
	// mailboxes: ten thousand goroutines fewer).
	var wg sync.WaitGroup
	if cfg.Lease.Renewer == nil {
		r := lease.NewRenewer(cfg.Store, cfg.Lease)
		cfg.Lease.Renewer = r
		wg.Go(func() { r.Run(ctx) })
	}
	m := manager{cfg: cfg, local: s.local, kind: MailLeaseKind, scan: mc.Scan, max: mc.MaxAccounts,
		due: func(ctx context.Context) ([]int64, error) {
			accounts, err := cfg.Store.SyncableAccounts(ctx, cfg.Now())
			return idsOf(accounts, func(a crm.MailAccount) int64 { return a.ID }), err
		},
		loop: func(id int64, log *slog.Logger) func(context.Context, store.Fence) error {
			return (&mailLoop{cfg: cfg, mc: mc, wakes: s.mailWakes, id: id, log: log}).run
		}}
	wg.Go(func() { s.mailWakes.watch(ctx, pendingCheck) })
	m.run(ctx)
	wg.Wait()
}

// mailLoop schedules one account's mail engine while its lease is held:
// dial, pass, wait for news, again; and records what the user sees.
type mailLoop struct {
	cfg   Config
	mc    MailConfig
	wakes *wakeSet
	id    int64
	log   *slog.Logger
	fence store.Fence
	acct  crm.MailAccount
	eng   *mailsync.Engine
	wake  chan struct{} // this loop's wake-ups (wakeSet)
	// pushed is whether the mailbox's provider notifies it (a Watcher),
	// as last logged.
	pushed bool
}

// errReconnect ends the loop so that it starts again with new settings.
var errReconnect = errors.New("syncer: account settings changed")

func (l *mailLoop) run(ctx context.Context, f store.Fence) error {
	l.fence = f
	a, err := l.cfg.Store.MailAccountByID(ctx, l.id)
	if err != nil {
		return err
	}
	if a.Mode != crm.ModeSync || a.DisconnectedAt != nil {
		return nil
	}
	l.acct = a
	// Wake-ups are taken for the loop's whole run, not only while it
	// waits: one that comes during a pass (a notification, a flag
	// change) ends the next wait at once instead of being lost.
	l.wake = l.wakes.open(l.id)
	defer l.wakes.close(l.id, l.wake)
	if a.State != crm.StateInitialSync && a.State != crm.StateSynced && a.State != crm.StateSyncing {
		l.status(ctx, store.AccountStatus{State: crm.StateConnecting, Failures: a.Failures}, nil)
	}
	mb, err := l.mc.Dial(ctx, a)
	if err != nil {
		return l.fail(ctx, err)
	}
	defer mb.Close()
	ecfg := l.mc.Engine
	if as, ok := mb.(mail.AutoSelecter); ok {
		ecfg.AutoSelect = as.AutoSelect() // the provider's roles (Graph: inbox, sent, archive, own folders)
	}
	l.eng = &mailsync.Engine{Store: l.cfg.Store, Mailbox: mb, Fence: f, Account: a, Config: ecfg, Log: l.log,
		Progress: l.progress}
	// A Watcher (Graph) is told of news by its provider, or polled at
	// its own interval: each of its passes is a full delta round, cheap
	// when nothing changed, so that news in any folder is seen.
	watcher, _ := mb.(mail.Watcher)
	lastFull := time.Time{}
	for {
		full := time.Since(lastFull) >= l.mc.PollInterval || l.acct.State == crm.StateConnecting || watcher != nil
		wait := l.mc.IdleMax
		if watcher != nil {
			wait = l.watch(ctx, watcher)
		}
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
		if err := l.idle(ctx, wait, watcher); err != nil {
			return l.fail(ctx, err)
		}
	}
}

// pass runs the engine once and records the account's state.
func (l *mailLoop) pass(ctx context.Context, full bool) (done bool, err error) {
	a, err := l.cfg.Store.MailAccountByID(ctx, l.id)
	if err != nil {
		return false, err
	}
	if !a.UpdatedAt.Equal(l.acct.UpdatedAt) && l.acct.Reconnects(a) {
		return false, errReconnect
	}
	res, err := l.eng.Pass(ctx, full)
	l.cfg.Observer.MailPass(l.acct.Provider, res.Inserted)
	if err != nil {
		return false, err
	}
	now := l.cfg.Now()
	st := store.AccountStatus{State: crm.StateSynced, ProgressDone: res.Stored, ProgressTotal: res.Total, LastSyncAt: &now, Audit: res.Audit}
	if !res.Done {
		st.State = crm.StateInitialSync
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
	l.eng.Account = a
	return res.Done, nil
}

// progress records "initial_sync, n of m" while a large mailbox comes in.
func (l *mailLoop) progress(ctx context.Context, stored, total int64) error {
	st := store.AccountStatus{State: crm.StateInitialSync, ProgressDone: stored, ProgressTotal: total, LastSyncAt: l.acct.LastSyncAt}
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

// watch keeps a Watcher's subscription alive before a pass and says how
// long the loop may then wait. A subscription's failure is not the
// account's: it is logged, and the mailbox polled meanwhile.
func (l *mailLoop) watch(ctx context.Context, w mail.Watcher) time.Duration {
	ws, err := w.Watch(ctx)
	if err != nil && ctx.Err() == nil {
		l.log.LogAttrs(ctx, slog.LevelWarn, "mail notifications unavailable", slog.Any("err", err), slog.Duration("poll", ws.Wait))
	}
	if ws.Pushed != l.pushed {
		l.pushed = ws.Pushed
		l.log.LogAttrs(ctx, slog.LevelInfo, "new mail detection", slog.Bool("notifications", ws.Pushed), slog.Duration("round_every", ws.Wait))
	}
	return ws.Wait
}

// idle waits for news in the inbox, up to max. Work queued in crmsync (a
// flag changed, mail to send) ends the wait: a wake-up from this process
// at once, or the store's pending list, looked at every few seconds, when
// another process queued it. A Watcher's news (a provider's notification,
// received by any process) ends it the same way.
func (l *mailLoop) idle(ctx context.Context, max time.Duration, w mail.Watcher) error {
	if w != nil && w.News(ctx) {
		return nil // announced during the pass
	}
	idleCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := l.wakes.waitOn(l.id, stop, func(ctx context.Context) bool {
		return l.eng.HasWork(ctx) || w != nil && w.News(ctx)
	})
	defer done()
	// A wake-up that came before the wait was registered is in l.wake.
	select {
	case <-l.wake:
		return nil
	default:
	}
	err := l.eng.Idle(idleCtx, max)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if idleCtx.Err() != nil {
		select { // the wake-up that ended the wait: its work is the next pass's
		case <-l.wake:
		default:
		}
		return nil // woken for work
	}
	return err
}

// pendingCheck is how often the idling loops are looked at for work
// queued by another process (wakeSet.watch).
const pendingCheck = 3 * time.Second

// fail records a failure as the user should see it and schedules the next
// attempt by the one retry policy (connerr.Retry).
func (l *mailLoop) fail(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	st := failure(err, l.acct.Failures+1, l.cfg.Now(), l.acct.LastSyncAt != nil)
	st.ProgressDone, st.ProgressTotal = l.acct.ProgressDone, l.acct.ProgressTotal
	l.acct.Failures = st.Failures
	l.cfg.Observer.Failed(MailLeaseKind, l.acct.Provider, st.ErrorCode)
	l.log.LogAttrs(ctx, slog.LevelWarn, "mail sync failed", slog.String("state", string(st.State)), slog.Any("err", err), slog.Time("next_attempt", *st.NextAttemptAt))
	werr := l.status(ctx, st, &store.AccountEvent{At: l.cfg.Now(), Kind: "error", Message: fmt.Sprintf("%s — next attempt in %s", st.ErrorMessage, st.NextAttemptAt.Sub(l.cfg.Now()).Round(time.Second))})
	if werr != nil {
		return werr
	}
	return err
}

// failure is the status an account shows after its n-th failure in a row:
// the same state, code, words and next attempt for the same fault, mail or
// PIM. worked: the account has synced before.
func failure(err error, n int, now time.Time, worked bool) store.AccountStatus {
	kind := connerr.KindOf(err)
	next := now.Add(connerr.RetryOf(err, n))
	msg := connerr.Message(err)
	if worked && kind == connerr.Unreachable {
		msg = notAnswering(err, next)
	}
	return store.AccountStatus{State: crm.AccountState(kind.State()), ErrorCode: string(kind), ErrorMessage: msg,
		Failures: n, NextAttemptAt: &next}
}

// notAnswering is what an account that has synced reads when its server
// cannot be reached. The connector's words fit a first connection ("is
// the port right?"); here the settings have worked, so suggesting to
// change them would send the user after the wrong fault. It says instead
// that crmsync keeps trying, and when next.
func notAnswering(err error, next time.Time) string {
	who := "The server"
	if e := connerr.As(err); e != nil && e.Server != "" {
		who = e.Server
	}
	return fmt.Sprintf("%s is not answering. The settings worked before, so there is nothing to change: crmsync tries again by itself, next at %s.",
		who, next.UTC().Format("15:04 MST"))
}

func (l *mailLoop) status(ctx context.Context, st store.AccountStatus, ev *store.AccountEvent) error {
	return l.cfg.Store.RecordAccountStatus(ctx, l.fence, l.id, st, ev)
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
