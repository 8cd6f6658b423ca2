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
	cfg  Config
	kind string // lease kind, and the loops' name in logs
	scan time.Duration
	max  int
	due  func(ctx context.Context) ([]int64, error)
	loop func(id int64, log *slog.Logger) func(ctx context.Context, f store.Fence) error
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
				err := lease.Hold(ctx, m.cfg.Store, m.kind, strconv.FormatInt(id, 10), m.cfg.Owner, m.cfg.Lease, m.loop(id, llog))
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
