package webhooks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/crmsync/crmsync/internal/netguard"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
)

// The queue's names in River.
const (
	queueName  = "webhooks"
	kindSend   = "webhook_delivery"
	kindSweep  = "webhook_sweep"
	migrateKey = 7261532 // pg_advisory_lock key of River's migrations
)

// QueueConfig is what runs the deliveries.
type QueueConfig struct {
	// Pool is the store's writer pool (sqlstore.DB.Writers): River's
	// tables are in the store's database, and its jobs are inserted in
	// the store's transactions. For SQLite it is the single-connection
	// pool, as River's SQLite driver asks.
	Pool *sql.DB
	// Dialect is "sqlite" or "postgres" (store.Store.Dialect).
	Dialect string
	Store   store.Store
	Keys    *secret.Keyring
	// Guard is the network guard every delivery connects through.
	Guard  *netguard.Guard
	Logger *slog.Logger
	// Schedule of attempts; zero: DefaultSchedule.
	Schedule Schedule
	// AttemptTimeout bounds one attempt; zero: DefaultAttemptTimeout.
	AttemptTimeout time.Duration
	// Workers is how many deliveries run at once in this process;
	// default 8.
	Workers int
	// PollInterval is how often this process looks for due jobs (River
	// polls: the database/sql drivers have no LISTEN); default 1 s.
	PollInterval time.Duration
	// SweepEvery is how often the leader queues deliveries recorded while
	// no queue was attached; default 1 min.
	SweepEvery time.Duration
	// Retention is how long delivered and failed deliveries stay in the
	// log; default 30 days.
	Retention time.Duration
	// HTTPClient overrides the client built from Guard (tests).
	HTTPClient *http.Client
	// Now is the clock of signatures and schedules; default time.Now.
	Now func() time.Time
}

// Queue runs webhook deliveries as River jobs: one job per delivery,
// inserted in the transaction that records the delivery (Enqueue), worked
// by every `crmsync serve` and `crmsync worker` sharing the database.
type Queue struct {
	cfg    QueueConfig
	client *river.Client[*sql.Tx]
	http   *http.Client
}

// sendArgs is a delivery's job.
type sendArgs struct {
	DeliveryID int64 `json:"delivery_id"`
}

func (sendArgs) Kind() string { return kindSend }

// InsertOpts: attempts are counted by the delivery (a failed attempt
// snoozes the job until the next one); River's own retries are for a job
// that could not even record its outcome (the database away).
func (sendArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: queueName, MaxAttempts: 25}
}

// sweepArgs is the leader's periodic job that queues stranded deliveries.
type sweepArgs struct{}

func (sweepArgs) Kind() string { return kindSweep }

func driver(pool *sql.DB, dialect string) (riverdriver.Driver[*sql.Tx], error) {
	switch dialect {
	case "postgres":
		return riverdatabasesql.New(pool), nil
	case "sqlite":
		return riversqlite.New(pool), nil
	}
	return nil, fmt.Errorf("webhooks: no job queue for a %q database", dialect)
}

// Migrate applies River's own migrations (its job tables), each version
// in its own transaction as River requires (on PostgreSQL a version adds
// an enum value that the next one uses, which one transaction refuses).
// On PostgreSQL a session advisory lock is held meanwhile, so that several
// `crmsync migrate` at once take turns. `crmsync init` and `crmsync
// migrate` run it after the store's migrations.
func Migrate(ctx context.Context, pool *sql.DB, dialect string) (applied int, err error) {
	drv, err := driver(pool, dialect)
	if err != nil {
		return 0, err
	}
	m, err := rivermigrate.New(drv, nil)
	if err != nil {
		return 0, err
	}
	if dialect == "postgres" {
		conn, err := pool.Conn(ctx)
		if err != nil {
			return 0, err
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, fmt.Sprintf(`SELECT pg_advisory_lock(%d)`, migrateKey)); err != nil {
			return 0, err
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`SELECT pg_advisory_unlock(%d)`, migrateKey))
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return 0, fmt.Errorf("webhooks: the job queue's migrations: %w", err)
	}
	return len(res.Versions), nil
}

// CheckSchema reports whether River's tables are current, with words for
// the operator when not.
func CheckSchema(ctx context.Context, pool *sql.DB, dialect string) error {
	drv, err := driver(pool, dialect)
	if err != nil {
		return err
	}
	m, err := rivermigrate.New(drv, nil)
	if err != nil {
		return err
	}
	res, err := m.Validate(ctx, nil)
	if err != nil {
		return fmt.Errorf("webhooks: checking the job queue's tables: %w", err)
	}
	if !res.OK {
		return fmt.Errorf("%w: the job queue's tables are not current (%s); run `crmsync migrate` (with the same --db) first",
			store.ErrSchemaBehind, strings.Join(res.Messages, "; "))
	}
	return nil
}

// NewQueue makes the queue; Start runs its workers.
func NewQueue(cfg QueueConfig) (*Queue, error) {
	if cfg.Schedule.Attempts == 0 {
		cfg.Schedule = DefaultSchedule
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = time.Second
	}
	if cfg.SweepEvery <= 0 {
		cfg.SweepEvery = time.Minute
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	q := &Queue{cfg: cfg, http: cfg.HTTPClient}
	if q.http == nil {
		q.http = NewHTTPClient(cfg.Guard, cfg.AttemptTimeout)
	}
	drv, err := driver(cfg.Pool, cfg.Dialect)
	if err != nil {
		return nil, err
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &sendWorker{q: q})
	river.AddWorker(workers, &sweepWorker{q: q})
	q.client, err = river.NewClient(drv, &river.Config{
		Queues:            map[string]river.QueueConfig{queueName: {MaxWorkers: cfg.Workers}},
		Workers:           workers,
		PollOnly:          true,
		FetchPollInterval: cfg.PollInterval,
		FetchCooldown:     min(100*time.Millisecond, cfg.PollInterval),
		// A job outlives its attempt only by the time to record it.
		JobTimeout: cfg.AttemptTimeout + 30*time.Second,
		PeriodicJobs: []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(cfg.SweepEvery),
			func() (river.JobArgs, *river.InsertOpts) { return sweepArgs{}, &river.InsertOpts{Queue: queueName} },
			&river.PeriodicJobOpts{RunOnStart: true})},
		Logger: slog.New(warnOnly{cfg.Logger.Handler()}),
	})
	if err != nil {
		return nil, fmt.Errorf("webhooks: starting the job queue: %w", err)
	}
	return q, nil
}

// Enqueue inserts the jobs of deliveries in tx, the store's transaction
// that recorded them (sqlstore.WebhookQueue).
func (q *Queue) Enqueue(ctx context.Context, tx *sql.Tx, deliveryIDs []int64) error {
	params := make([]river.InsertManyParams, len(deliveryIDs))
	for i, id := range deliveryIDs {
		params[i] = river.InsertManyParams{Args: sendArgs{DeliveryID: id}}
	}
	_, err := q.client.InsertManyTx(ctx, tx, params)
	return err
}

// Start runs this process's workers until Stop.
func (q *Queue) Start(ctx context.Context) error { return q.client.Start(ctx) }

// Stop lets the attempts under way finish (until ctx ends) and stops.
func (q *Queue) Stop(ctx context.Context) error { return q.client.Stop(ctx) }

// sendWorker makes one attempt of a delivery.
type sendWorker struct {
	river.WorkerDefaults[sendArgs]
	q *Queue
}

func (w *sendWorker) Work(ctx context.Context, job *river.Job[sendArgs]) error {
	return w.q.attempt(ctx, job.Args.DeliveryID)
}

// attempt sends a pending delivery once and records the outcome: the
// delivery is delivered, failed (no attempt left), or pending until its
// next attempt, for which the job snoozes.
func (q *Queue) attempt(ctx context.Context, id int64) error {
	st := q.cfg.Store
	d, err := st.WebhookDelivery(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil // its endpoint was removed
	}
	if err != nil {
		return err
	}
	if d.State != store.DeliveryPending {
		return nil
	}
	ep, err := st.GetWebhookEndpoint(ctx, d.OrgID, d.EndpointID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	n := d.Attempts + 1
	now := q.cfg.Now()
	var res Result
	switch secret, err := openSecret(ctx, st, q.cfg.Keys, d.OrgID, ep.CredentialID); {
	case !ep.Active:
		// Not sent and not counted as the receiver's failure: shown as
		// failed, to send again once the endpoint is enabled.
		return st.RecordWebhookAttempt(ctx, id, store.WebhookAttempt{At: now, State: store.DeliveryFailed,
			Error: "not sent: the endpoint is disabled; enable it, then send again"})
	case err != nil:
		q.cfg.Logger.Error("a webhook's secret cannot be opened", "endpoint", ep.ID, "err", err)
		res = Result{Err: "not sent: crmsync cannot open the endpoint's secret (the operator must check the secret keys)"}
	default:
		actx, cancel := context.WithTimeout(ctx, q.cfg.AttemptTimeout)
		res = Send(actx, q.http, Request{URL: ep.URL, Secret: secret, EventID: d.EventID, EventType: d.EventType,
			DeliveryID: d.ID, Attempt: n, Body: d.Payload, Now: now})
		cancel()
	}
	a := store.WebhookAttempt{At: now, Status: res.Status, Error: res.Err, Body: res.Excerpt}
	var snooze time.Duration
	switch {
	case res.OK():
		a.State = store.DeliveryDelivered
	case n >= q.cfg.Schedule.Attempts:
		a.State = store.DeliveryFailed
	default:
		snooze = q.cfg.Schedule.Delay(n)
		next := now.Add(snooze)
		a.State, a.NextAt = store.DeliveryPending, &next
	}
	// The outcome is recorded even if this process is stopping.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := st.RecordWebhookAttempt(rctx, id, a); err != nil {
		return err
	}
	if snooze > 0 {
		return river.JobSnooze(snooze)
	}
	return nil
}

// DefaultRetention is how long finished deliveries are kept in the log.
const DefaultRetention = 30 * 24 * time.Hour

// sweepWorker queues deliveries recorded while no queue was attached, and
// drops finished deliveries past their retention.
type sweepWorker struct {
	river.WorkerDefaults[sweepArgs]
	q *Queue
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[sweepArgs]) error {
	if _, err := w.q.cfg.Store.PurgeWebhookDeliveries(ctx, w.q.cfg.Now().Add(-w.q.cfg.Retention)); err != nil {
		return err
	}
	for {
		n, err := w.q.cfg.Store.QueueStrandedWebhookDeliveries(ctx, 500)
		if err != nil || n < 500 {
			return err
		}
	}
}

// warnOnly passes River's warnings and errors to the process's log and
// drops its chatter.
type warnOnly struct{ slog.Handler }

func (h warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}
func (h warnOnly) WithAttrs(as []slog.Attr) slog.Handler { return warnOnly{h.Handler.WithAttrs(as)} }
func (h warnOnly) WithGroup(g string) slog.Handler       { return warnOnly{h.Handler.WithGroup(g)} }
