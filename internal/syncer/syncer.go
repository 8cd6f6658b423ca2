// Package syncer is what a worker is: it runs crmsync's background loops,
// the work `crmsync serve` does beside the API and `crmsync worker` does
// alone. Each loop runs under a lease (package lease), so that any number
// of processes sharing a database split the work instead of repeating it
// (DESIGN §10).
//
// Maintenance (package maintenance) is a singleton that only the elected
// leader runs; mail and PIM accounts each get one loop, under the
// account's lease, spread over the processes. A loop only schedules: it
// dials the account's connector, runs its engine (mail/mailsync,
// pim/engine), waits for news or a wake-up, and records the account's
// status and history. syncer knows no protocol.
package syncer

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/lease"
	"github.com/crmsync/crmsync/internal/maintenance"
	"github.com/crmsync/crmsync/internal/store"
)

// Defaults for Config.
const (
	DefaultMaintenanceInterval = 10 * time.Minute
)

// The lease under which maintenance runs.
const (
	MaintenanceLeaseKind = "maintenance"
	MaintenanceLeaseKey  = "leader"
)

// Config is what the loops need. Zero values get the documented defaults.
type Config struct {
	Store  store.Store
	Logger *slog.Logger // default slog.Default()
	// Owner names this process in leases; default lease.NewOwner(). It must
	// be unique per process and per start.
	Owner string
	Lease lease.Config // lease timing; zero fields take lease's defaults
	// MaintenanceInterval is the time between two maintenance passes
	// (default 10 min).
	MaintenanceInterval time.Duration
	Now                 func() time.Time // default time.Now
	// Mail runs the mailbox sync loops when not nil.
	Mail *MailConfig
	// PIM runs the contact, task and event sync loops when not nil.
	PIM *PIMConfig
	// KeepAlive, when not nil, refreshes idle token sets at each
	// maintenance pass (maintenance.KeepTokensAlive).
	KeepAlive *maintenance.KeepAlive
	// Observer, when set, hears what the loops did (the process's
	// metrics). syncer knows nothing of how it is counted.
	Observer Observer
}

// Observer hears the outcome of every pass of the account loops. Its
// methods must be quick and safe for concurrent use.
type Observer interface {
	// MailPass is a mail pass that stored inserted new messages (also a
	// pass that failed after storing some) of a mailbox of provider.
	MailPass(provider string, inserted int64)
	// PIMPass is a PIM pass of an account of provider ("carddav/contacts",
	// "microsoft/calendar"): the records it wrote into the CRM and onto
	// the provider's server.
	PIMPass(provider string, toCRM, toRemote int64)
	// Failed is a loop of kind "mail" or "pim" that failed with the
	// error code the user sees (a connerr kind: auth_failed, throttled…).
	Failed(kind, provider, code string)
}

// nopObserver hears nothing.
type nopObserver struct{}

func (nopObserver) MailPass(string, int64)        {}
func (nopObserver) PIMPass(string, int64, int64)  {}
func (nopObserver) Failed(string, string, string) {}

func (c Config) withDefaults() Config {
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Owner == "" {
		c.Owner = lease.NewOwner()
	}
	if c.MaintenanceInterval <= 0 {
		c.MaintenanceInterval = DefaultMaintenanceInterval
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Observer == nil {
		c.Observer = nopObserver{}
	}
	return c
}

// Syncer is a process's worker: the maintenance leader loop and the mail
// and PIM account loops, each under its lease, with the wake-ups that let
// this process's API hurry a loop on. It holds no package state: a process
// (or a test) may run several.
type Syncer struct {
	cfg       Config
	mailWakes *wakeSet
	pimWakes  *wakeSet
	local     *localRuns

	stop context.CancelFunc
	done chan struct{}
}

// New returns a Syncer for cfg; Start or Run it.
func New(cfg Config) *Syncer {
	return &Syncer{cfg: cfg.withDefaults(), mailWakes: newWakeSet(), pimWakes: newWakeSet(), local: newLocalRuns()}
}

// Start runs the loops in the background until Stop or ctx ends.
func (s *Syncer) Start(ctx context.Context) {
	ctx, s.stop = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go func() { defer close(s.done); s.Run(ctx) }()
}

// Stop ends the loops started by Start and waits until they released
// their leases, so the caller may close the store afterwards.
func (s *Syncer) Stop() {
	if s.stop != nil {
		s.stop()
		<-s.done
	}
}

// WakeMail tells the sync loop of a mail account, if this process runs
// it, that work was queued for it (a flag change, mail to send), so that
// it stops waiting on the server and does it now. Another process's loop
// finds the work in the store within seconds.
func (s *Syncer) WakeMail(accountID int64) { s.mailWakes.wake(accountID) }

// WakePIM tells the loop of a PIM account, if this process runs it, to
// sync now. Another process's loop sees the request in the store.
func (s *Syncer) WakePIM(accountID int64) { s.pimWakes.wake(accountID) }

// Run runs the loops of New(cfg) until ctx is done (see Syncer.Run).
func Run(ctx context.Context, cfg Config) { New(cfg).Run(ctx) }

// Run runs every background loop until ctx is done, then waits for them to
// stop and release their leases. It returns only then, so the caller may
// close the store afterwards.
func (s *Syncer) Run(ctx context.Context) {
	cfg := s.cfg
	cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "background loops starting", slog.String("owner", cfg.Owner))
	// A crashed predecessor on this host leaves leases that would otherwise
	// hold its mailboxes for a whole TTL.
	if n, err := lease.ReapLocal(ctx, cfg.Store); err != nil {
		cfg.Logger.LogAttrs(ctx, slog.LevelWarn, "releasing the leases of dead processes failed", slog.Any("err", err))
	} else if n > 0 {
		cfg.Logger.LogAttrs(ctx, slog.LevelInfo, "released the leases of processes of this host that no longer run", slog.Int("count", n))
	}
	var wg sync.WaitGroup
	wg.Go(func() { runMember(ctx, cfg) })
	wg.Go(func() { runMaintenance(ctx, cfg) })
	if cfg.PIM != nil {
		wg.Go(func() { s.runPIM(ctx) })
	}
	if cfg.Mail != nil {
		wg.Go(func() { s.runMail(ctx) })
	}
	wg.Wait()
}

// runMember holds this process's ProcessLeaseKind lease for as long as
// ctx lasts (claimed again after a database outage): the other processes
// count it to share the accounts with this one.
func runMember(ctx context.Context, cfg Config) {
	log := cfg.Logger.With(slog.String("loop", "member"))
	lease.Leader(ctx, cfg.Store, ProcessLeaseKind, cfg.Owner, cfg.Owner, cfg.Lease, time.Hour,
		func(context.Context, store.Fence) error { return nil },
		func(err error) {
			log.LogAttrs(ctx, slog.LevelWarn, "announcing this process to the others failed; retrying", slog.Any("err", err))
		})
}

// runMaintenance runs Maintain every MaintenanceInterval in the one process
// that holds the maintenance lease.
func runMaintenance(ctx context.Context, cfg Config) {
	log := cfg.Logger.With(slog.String("loop", "maintenance"))
	lease.Leader(ctx, cfg.Store, MaintenanceLeaseKind, MaintenanceLeaseKey, cfg.Owner, cfg.Lease, cfg.MaintenanceInterval,
		func(ctx context.Context, f store.Fence) error {
			if err := maintenance.Pass(ctx, cfg.Store, f, cfg.Now(), log); err != nil {
				return err
			}
			if cfg.KeepAlive != nil {
				_, err := maintenance.KeepTokensAlive(ctx, cfg.Store, *cfg.KeepAlive, cfg.Now(), log)
				return err
			}
			return nil
		},
		func(err error) {
			log.LogAttrs(ctx, slog.LevelWarn, "maintenance failed; retrying at the next pass", slog.Any("err", err))
		})
}
