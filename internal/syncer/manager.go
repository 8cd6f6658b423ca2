package syncer

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/lease"
	"github.com/crmsync/crmsync/internal/store"
)

// ProcessLeaseKind is the lease each running Syncer holds under its own
// owner name (the key): the live processes, which the managers count to
// split the accounts fairly between them.
const ProcessLeaseKind = "process"

// DefaultRamp is how many account loops a manager starts (or hands back)
// per scan at most: with the default 2 s scan, 100 a second per process.
const DefaultRamp = 200

// manager runs one kind of account loop (mailboxes, PIM accounts): every
// scan it lists the due accounts and the leases, and starts, for accounts
// no process holds, a loop under the account's lease. A loop ends when its
// work ends or its lease is lost; the next scan starts it again if the
// account is still due, here or in another process.
//
// Two bounds keep the processes sharing a database fair and the servers
// calm (DESIGN §10):
//   - a fair share: a process runs at most ceil(due/live processes) loops
//     (and never more than max), and hands back loops above its share
//     plus a little slack, so a process that joins gets its share within
//     a few scans instead of idling while the others hold everything;
//   - a ramp: at most ramp loops are started, and at most ramp handed
//     back, per scan, so that ten thousand accounts are not dialled in
//     the same second after a start or a failover.
type manager struct {
	cfg   Config
	local *localRuns
	kind  string // lease kind, and the loops' name in logs
	scan  time.Duration
	max   int
	ramp  int // 0: DefaultRamp
	due   func(ctx context.Context) ([]int64, error)
	loop  func(id int64, log *slog.Logger) func(ctx context.Context, f store.Fence) error
}

// fairShare is the most loops one of members processes should run when
// due accounts are to be synced, capped at max.
func fairShare(due, members, maxLoops int) int {
	members = max(members, 1)
	return min(maxLoops, (due+members-1)/members)
}

// shedAbove is how many loops a process may hold before it hands some
// back: its share plus 2 % (at least one), so that rounding and accounts
// coming and going do not make loops move back and forth.
func shedAbove(share int) int { return share + max(1, share/50) }

// view is what a scan knows of the other processes.
type view struct {
	members   int             // live processes, this one included
	elsewhere map[string]bool // keys of this kind held by another owner
}

// look reads the leases: who else runs, and what they hold.
func (m manager) look(ctx context.Context) (view, error) {
	ls, err := m.cfg.Store.ListLeases(ctx)
	if err != nil {
		return view{}, err
	}
	v := view{elsewhere: map[string]bool{}}
	self := false
	for _, l := range ls {
		switch {
		case l.Kind == ProcessLeaseKind:
			v.members++
			self = self || l.Owner == m.cfg.Owner
		case l.Kind == m.kind && l.Owner != m.cfg.Owner:
			v.elsewhere[l.Key] = true
		}
	}
	if !self {
		v.members++ // not yet claimed, or lost for a moment: we run all the same
	}
	return v, nil
}

func (m manager) run(ctx context.Context) {
	log := m.cfg.Logger.With(slog.String("loop", m.kind))
	ramp := m.ramp
	if ramp <= 0 {
		ramp = DefaultRamp
	}
	var mu sync.Mutex
	running := map[int64]*loopRun{}
	stopping := 0 // loops of running told to stop, not yet ended
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(m.scan)
	defer t.Stop()
	for {
		ids, err := m.due(ctx)
		if err != nil && ctx.Err() == nil {
			log.LogAttrs(ctx, slog.LevelWarn, "listing "+m.kind+" accounts failed", slog.Any("err", err))
		}
		v, verr := m.look(ctx)
		if verr != nil && ctx.Err() == nil && err == nil {
			log.LogAttrs(ctx, slog.LevelWarn, "reading the leases failed", slog.Any("err", verr))
		}
		if err == nil && verr == nil {
			mu.Lock()
			total := len(ids)
			listed := make(map[int64]bool, len(ids))
			for _, id := range ids {
				listed[id] = true
			}
			for id := range running {
				if !listed[id] {
					total++ // running, though no longer listed as due (its next attempt is set)
				}
			}
			share := fairShare(total, v.members, m.max)
			if active := len(running) - stopping; active > shedAbove(share) {
				stopping += m.shed(ctx, log, running, min(active-share, ramp), share)
			}
			var free []int64
			for _, id := range ids {
				if running[id] == nil && !v.elsewhere[strconv.FormatInt(id, 10)] {
					free = append(free, id)
				}
			}
			room := min(ramp, share-(len(running)-stopping))
			mu.Unlock()
			// In random order: processes scanning at the same moment
			// then rarely race for the same accounts.
			rand.Shuffle(len(free), func(i, j int) { free[i], free[j] = free[j], free[i] })
			for _, id := range free[:max(0, min(room, len(free)))] {
				lctx, cancel := context.WithCancel(ctx)
				r := &loopRun{cancel: cancel}
				mu.Lock()
				running[id] = r
				mu.Unlock()
				wg.Go(func() {
					defer func() {
						cancel()
						mu.Lock()
						delete(running, id)
						if r.stopping {
							stopping--
						}
						mu.Unlock()
					}()
					llog := log.With(slog.Int64("account", id))
					err := m.local.run(m.kind, id, func() error {
						return lease.Hold(lctx, m.cfg.Store, m.kind, strconv.FormatInt(id, 10), m.cfg.Owner, m.cfg.Lease, m.loop(id, llog))
					})
					if err != nil && !errors.Is(err, store.ErrLeaseHeld) && lctx.Err() == nil {
						llog.LogAttrs(ctx, slog.LevelInfo, m.kind+" loop ended", slog.Any("err", err))
					}
				})
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// loopRun is a loop the manager started.
type loopRun struct {
	cancel   context.CancelFunc
	stopping bool // handed back: told to stop
}

// shed tells n of the running loops to stop (the manager's mutex held)
// and returns how many it told: each releases its lease as it ends, and
// another process takes the account at its next scan.
func (m manager) shed(ctx context.Context, log *slog.Logger, running map[int64]*loopRun, n, share int) int {
	log.LogAttrs(ctx, slog.LevelInfo, "handing accounts back to share them with the other processes",
		slog.Int("running", len(running)), slog.Int("share", share), slog.Int("handing_back", n))
	told := 0
	for _, r := range running {
		if told == n {
			break
		}
		if !r.stopping {
			r.stopping = true
			r.cancel()
			told++
		}
	}
	return told
}

// localRuns holds the accounts a loop or pass runs for in this process, by
// lease kind. The lease keeps other processes out; within this one it is
// ours already (its owner is the process), so a second claim would
// succeed — and its release would take the lease from the first.
type localRuns struct {
	mu sync.Mutex
	m  map[string]bool
}

func newLocalRuns() *localRuns { return &localRuns{m: map[string]bool{}} }

// run runs fn unless this process runs the account already
// (store.ErrLeaseHeld then).
func (r *localRuns) run(kind string, id int64, fn func() error) error {
	key := kind + "/" + strconv.FormatInt(id, 10)
	r.mu.Lock()
	busy := r.m[key]
	r.m[key] = true
	r.mu.Unlock()
	if busy {
		return store.ErrLeaseHeld
	}
	defer func() { r.mu.Lock(); delete(r.m, key); r.mu.Unlock() }()
	return fn()
}

// idsOf returns the ids of a list of accounts.
func idsOf[T any](list []T, id func(T) int64) []int64 {
	out := make([]int64, len(list))
	for i, a := range list {
		out[i] = id(a)
	}
	return out
}
