package syncer

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/lease"
	"github.com/crmsync/crmsync/internal/store"
)

// manager runs one kind of account loop (mailboxes, PIM accounts): every
// scan it lists the due accounts and starts, for each one that no process
// holds, a loop under the account's lease, up to max at once. A loop ends
// when its work ends or its lease is lost; the next scan starts it again
// if the account is still due, here or in another process.
type manager struct {
	cfg   Config
	local *localRuns
	kind  string // lease kind, and the loops' name in logs
	scan  time.Duration
	max   int
	due   func(ctx context.Context) ([]int64, error)
	loop  func(id int64, log *slog.Logger) func(ctx context.Context, f store.Fence) error
}

func (m manager) run(ctx context.Context) {
	log := m.cfg.Logger.With(slog.String("loop", m.kind))
	var mu sync.Mutex
	running := map[int64]bool{}
	var wg sync.WaitGroup
	defer wg.Wait()
	t := time.NewTicker(m.scan)
	defer t.Stop()
	for {
		ids, err := m.due(ctx)
		if err != nil && ctx.Err() == nil {
			log.LogAttrs(ctx, slog.LevelWarn, "listing "+m.kind+" accounts failed", slog.Any("err", err))
		}
		for _, id := range ids {
			mu.Lock()
			busy := running[id] || len(running) >= m.max
			if !busy {
				running[id] = true
			}
			mu.Unlock()
			if busy {
				continue
			}
			wg.Go(func() {
				defer func() { mu.Lock(); delete(running, id); mu.Unlock() }()
				llog := log.With(slog.Int64("account", id))
				err := m.local.run(m.kind, id, func() error {
					return lease.Hold(ctx, m.cfg.Store, m.kind, strconv.FormatInt(id, 10), m.cfg.Owner, m.cfg.Lease, m.loop(id, llog))
				})
				if err != nil && !errors.Is(err, store.ErrLeaseHeld) && ctx.Err() == nil {
					llog.LogAttrs(ctx, slog.LevelInfo, m.kind+" loop ended", slog.Any("err", err))
				}
			})
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
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
