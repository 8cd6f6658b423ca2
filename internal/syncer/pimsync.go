package syncer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/lease"
	"github.com/crmsync/crmsync/internal/pim/engine"
	"github.com/crmsync/crmsync/internal/store"
)

// PIMLeaseKind is the lease kind of a PIM account's sync loop; the key is
// the account id.
const PIMLeaseKind = "pim"

// PIMTarget is a collection an account syncs and the connector that
// reaches it.
type PIMTarget = engine.Target

// PIMConfig wires the contact, task and event sync loops (DESIGN §9).
type PIMConfig struct {
	// Open connects to an account's server (decrypting its credential) and
	// returns the collections its options select.
	Open func(ctx context.Context, a crm.PIMAccount) ([]PIMTarget, error)
	// PollInterval is the time between two passes (default 1 min): a pass
	// with nothing new costs one sync-collection request per collection.
	PollInterval time.Duration
	// Scan is how often the manager looks for accounts to run (default 2 s).
	Scan time.Duration
	// MaxAccounts caps the loops one process runs (default 500).
	MaxAccounts int
	// CategoryBudget bounds the time a pass spends writing fixed
	// categories alone (default 10 s); the rest is done in the next pass,
	// which then follows at once.
	CategoryBudget time.Duration
}

func (c PIMConfig) withDefaults() PIMConfig {
	if c.CategoryBudget <= 0 {
		c.CategoryBudget = engine.DefaultCategoryBudget
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Minute
	}
	if c.Scan <= 0 {
		c.Scan = 2 * time.Second
	}
	if c.MaxAccounts <= 0 {
		c.MaxAccounts = 500
	}
	return c
}

// runPIM is the manager of the PIM loops.
func (s *Syncer) runPIM(ctx context.Context) {
	cfg := s.cfg
	pc := cfg.PIM.withDefaults()
	m := manager{cfg: cfg, local: s.local, kind: PIMLeaseKind, scan: pc.Scan, max: pc.MaxAccounts,
		due: func(ctx context.Context) ([]int64, error) {
			accounts, err := cfg.Store.SyncablePIMAccounts(ctx, cfg.Now())
			return idsOf(accounts, func(a crm.PIMAccount) int64 { return a.ID }), err
		},
		loop: func(id int64, log *slog.Logger) func(context.Context, store.Fence) error {
			return (&pimLoop{cfg: cfg, pc: pc, wakes: s.pimWakes, id: id, log: log}).run
		}}
	m.run(ctx)
}

// pimLoop syncs one PIM account while its lease is held.
type pimLoop struct {
	// warned are the warnings this loop recorded, said once per loop, not
	// at every poll.
	warned   map[string]bool
	cfg      Config
	pc       PIMConfig
	wakes    *wakeSet
	id       int64
	log      *slog.Logger
	fence    store.Fence
	acct     crm.PIMAccount
	viewer   crm.Viewer
	failures int

	state             crm.AccountState
	progDone, progTot int64
	lastProgress      time.Time
	itemErrors        []string
	// backlog counts what the last pass left for the next one; catDone
	// the fixed categories written since the backlog began.
	backlog int
	catDone int64
}

func (l *pimLoop) run(ctx context.Context, f store.Fence) error {
	targets, err := l.start(ctx, f)
	if err != nil || targets == nil {
		return err
	}
	for {
		if err := l.pass(ctx, targets); err != nil {
			return l.fail(ctx, err)
		}
		if l.backlog > 0 {
			continue
		}
		changed, err := l.wait(ctx)
		if err != nil || changed {
			return err // settings changed: the manager starts a new loop with them
		}
	}
}

// start reads the account and connects; targets is nil (and err recorded
// in the account's status) when connecting failed.
func (l *pimLoop) start(ctx context.Context, f store.Fence) ([]PIMTarget, error) {
	l.fence = f
	a, err := l.cfg.Store.PIMAccountByID(ctx, l.id)
	if err != nil {
		return nil, err
	}
	u, err := l.cfg.Store.GetUser(ctx, a.OrgID, a.UserID)
	if err != nil {
		return nil, err
	}
	l.acct, l.failures, l.state = a, a.Failures, a.State
	l.viewer = crm.Viewer{OrgID: a.OrgID, UserID: u.ID, Role: u.Role}
	if a.State != crm.StateInitialSync && a.State != crm.StateSynced && a.State != crm.StateSyncing {
		l.state = crm.StateConnecting
		if err := l.status(ctx, store.AccountStatus{State: crm.StateConnecting, Failures: a.Failures}, false, nil); err != nil {
			return nil, err
		}
	}
	targets, err := l.pc.Open(ctx, a)
	if err != nil {
		return nil, l.fail(ctx, err)
	}
	if targets == nil {
		targets = []PIMTarget{}
	}
	return targets, nil
}

// SyncPIMOnce runs one pass of a PIM account in this process, under the
// account's lease (store.ErrLeaseHeld when another process runs it), and
// records its state as the loop would. It is what the loop does on each
// poll, for tests and tools that need a pass at a known moment.
//
// backlog is what the pass left for the next one (fixed categories not yet
// written, see CategoryBudget): the loop would run again at once.
func SyncPIMOnce(ctx context.Context, cfg Config, accountID int64) (backlog int, err error) {
	return New(cfg).SyncPIMOnce(ctx, accountID)
}

// SyncPIMOnce is the package function SyncPIMOnce on s: it waits for no
// loop s runs for the account (store.ErrLeaseHeld then).
func (s *Syncer) SyncPIMOnce(ctx context.Context, accountID int64) (backlog int, err error) {
	cfg := s.cfg
	l := &pimLoop{cfg: cfg, pc: cfg.PIM.withDefaults(), wakes: s.pimWakes, id: accountID,
		log: cfg.Logger.With(slog.String("loop", "pim"), slog.Int64("pim_account", accountID))}
	err = s.local.run(PIMLeaseKind, accountID, func() error {
		return lease.Hold(ctx, cfg.Store, PIMLeaseKind, strconv.FormatInt(accountID, 10), cfg.Owner, cfg.Lease,
			func(ctx context.Context, f store.Fence) error {
				targets, err := l.start(ctx, f)
				if err != nil {
					return err
				}
				if err := l.pass(ctx, targets); err != nil {
					return l.fail(ctx, err)
				}
				return nil
			})
	})
	return l.backlog, err
}

// wait sleeps until the next poll, a wake-up, or a sync requested through
// another process. changed reports that the account's settings changed.
func (l *pimLoop) wait(ctx context.Context) (changed bool, err error) {
	wake := l.wakes.open(l.id)
	defer l.wakes.close(l.id, wake)
	deadline := time.NewTimer(l.pc.PollInterval)
	defer deadline.Stop()
	check := time.NewTicker(pendingCheck)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-deadline.C:
			return false, nil
		case <-wake:
			// A user asked for a sync, or changed a record this account
			// syncs: a pass now (after a look at the settings).
			a, err := l.cfg.Store.PIMAccountByID(ctx, l.id)
			if err != nil {
				return false, err
			}
			return l.acct.Reconnects(a), nil
		case <-check.C:
		}
		a, err := l.cfg.Store.PIMAccountByID(ctx, l.id)
		if err != nil {
			return false, err
		}
		if l.acct.Reconnects(a) {
			return true, nil
		}
		if a.SyncRequested {
			return false, nil
		}
	}
}

// pass syncs every collection once and records the account's state.
func (l *pimLoop) pass(ctx context.Context, targets []PIMTarget) error {
	l.progDone, l.progTot = 0, 0
	res, err := engine.SyncAccount(ctx, engine.Account{Port: engine.StorePort{Store: l.cfg.Store, Fence: l.fence, Viewer: l.viewer},
		AccountID: l.id, Options: l.acct.Options, Targets: targets, CategoryBudget: l.pc.CategoryBudget, Logger: l.log, Now: l.cfg.Now,
		Progress: l.progress, Event: l.event, Warn: l.warn, FirstSync: func() {
			if l.state != crm.StateSynced {
				l.state = crm.StateInitialSync
			}
		}})
	l.itemErrors, l.backlog = res.ItemErrors, res.Backlog
	l.cfg.Observer.PIMPass(pimProvider(l.acct), int64(res.Stats.ToCRM+res.Stats.CreatedCRM), int64(res.Stats.ToRemote+res.Stats.CreatedRemote))
	if err != nil {
		return err
	}
	total := res.Stats
	now := l.cfg.Now()
	l.failures = 0
	if l.backlog > 0 {
		// The records are in on both sides; the fixed categories of some
		// are still to be written. Not "synced" until they are: the loop
		// goes on at once.
		if l.state != crm.StateInitialSync {
			l.state = crm.StateSyncing
		}
		l.catDone += int64(total.Categories)
		st := store.AccountStatus{State: l.state, ProgressDone: l.catDone, ProgressTotal: l.catDone + int64(l.backlog), LastSyncAt: &now}
		msg := fmt.Sprintf("Writing the CRM's categories to the server: %d contacts to go.", l.backlog)
		if total.Any() {
			msg = total.String() + ". " + msg
		}
		return l.status(ctx, st, false, &store.AccountEvent{At: now, Kind: "categories", Message: msg})
	}
	l.state, l.catDone = crm.StateSynced, 0
	st := store.AccountStatus{State: crm.StateSynced, ProgressDone: l.progDone, ProgressTotal: l.progDone, LastSyncAt: &now}
	var ev *store.AccountEvent
	switch {
	case l.acct.State != crm.StateSynced:
		ev = &store.AccountEvent{At: now, Kind: "state", Message: "Synced. " + total.String()}
		l.acct.State = crm.StateSynced
	case total.Any():
		ev = &store.AccountEvent{At: now, Kind: "sync", Message: total.String()}
	}
	if len(l.itemErrors) > 0 {
		st.ErrorMessage = fmt.Sprintf("%d records could not be written to the server; the first: %s", len(l.itemErrors), l.itemErrors[0])
	}
	return l.status(ctx, st, true, ev)
}

// progress adds to the pass's counts and records them, at most once a
// second, while the account is in its initial sync.
func (l *pimLoop) progress(ctx context.Context, done, total int64) {
	l.progDone += done
	l.progTot += total
	if l.state != crm.StateInitialSync || time.Since(l.lastProgress) < time.Second {
		return
	}
	l.lastProgress = time.Now()
	st := store.AccountStatus{State: crm.StateInitialSync, ProgressDone: l.progDone, ProgressTotal: l.progTot}
	if err := l.status(ctx, st, false, nil); err != nil {
		l.log.LogAttrs(ctx, slog.LevelWarn, "recording progress failed", slog.Any("err", err))
	}
}

// fail records a failure in the words the user should see and schedules
// the next attempt, as for mailboxes (connerr.Retry, the one policy).
func (l *pimLoop) fail(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, store.ErrLeaseLost) {
		return err
	}
	st := failure(err, l.failures+1, l.cfg.Now(), l.acct.LastSyncAt != nil)
	st.ProgressDone, st.ProgressTotal = l.progDone, l.progTot
	delay := st.NextAttemptAt.Sub(l.cfg.Now())
	l.cfg.Observer.Failed(PIMLeaseKind, pimProvider(l.acct), st.ErrorCode)
	l.log.LogAttrs(ctx, slog.LevelWarn, "pim sync failed", slog.String("state", string(st.State)), slog.Any("err", err), slog.Duration("retry_in", delay))
	if werr := l.status(ctx, st, true, &store.AccountEvent{At: l.cfg.Now(), Kind: "error",
		Message: fmt.Sprintf("%s — next attempt in %s", st.ErrorMessage, delay.Round(time.Second))}); werr != nil {
		return werr
	}
	return err
}

func (l *pimLoop) status(ctx context.Context, st store.AccountStatus, clearRequest bool, ev *store.AccountEvent) error {
	return l.cfg.Store.RecordPIMStatus(ctx, l.fence, l.id, st, clearRequest, ev)
}

// warn records a warning in the account's history once per loop.
func (l *pimLoop) warn(ctx context.Context, msg string) {
	if l.warned[msg] {
		return
	}
	if l.warned == nil {
		l.warned = map[string]bool{}
	}
	l.warned[msg] = true
	l.event(ctx, "warning", msg)
}

func (l *pimLoop) event(ctx context.Context, kind, msg string) {
	ev := &store.AccountEvent{At: l.cfg.Now(), Kind: kind, Message: msg}
	st := store.AccountStatus{State: l.state, ProgressDone: l.progDone, ProgressTotal: l.progTot,
		Failures: l.failures, LastSyncAt: l.acct.LastSyncAt}
	if err := l.status(ctx, st, false, ev); err != nil {
		l.log.LogAttrs(ctx, slog.LevelWarn, "recording event failed", slog.Any("err", err))
	}
}

// pimProvider names an account's provider as metrics and the overview do
// (store.AccountCount): its kind and service.
func pimProvider(a crm.PIMAccount) string {
	return string(a.Kind) + "/" + string(a.Service)
}
