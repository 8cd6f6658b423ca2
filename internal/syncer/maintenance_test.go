package syncer

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/lease"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

// records is a slog.Handler that keeps what it is given.
type records struct {
	mu    *sync.Mutex
	recs  *[]slog.Record
	attrs []slog.Attr
}

func newRecords() records { return records{mu: new(sync.Mutex), recs: new([]slog.Record)} }

func (h records) Enabled(context.Context, slog.Level) bool { return true }
func (h records) Handle(_ context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(h.attrs...)
	h.mu.Lock()
	*h.recs = append(*h.recs, r)
	h.mu.Unlock()
	return nil
}
func (h records) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return h
}
func (h records) WithGroup(string) slog.Handler { return h }

// passes returns, per value of the attribute "runner", how many maintenance
// passes were logged.
func (h records) passes() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]int{}
	for _, r := range *h.recs {
		if r.Message != "maintenance pass done" {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "runner" {
				out[a.Value.String()]++
			}
			return true
		})
	}
	return out
}

// TestRunOneLeader runs two processes' loops on one database: only one makes
// maintenance passes, and the other takes over when it stops.
func TestRunOneLeader(t *testing.T) {
	t.Parallel()
	db, reopen := storetest.SQLite(t)
	db2 := reopen(t)
	h := newRecords()
	cfg := func(st store.Store, runner string) Config {
		return Config{
			Store:               st,
			Logger:              slog.New(h).With(slog.String("runner", runner)),
			Owner:               runner,
			Lease:               lease.Config{TTL: 600 * time.Millisecond},
			MaintenanceInterval: 20 * time.Millisecond,
		}
	}
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	defer stopB()
	var wg sync.WaitGroup
	wg.Go(func() { Run(ctxA, cfg(db, "a")) })
	wg.Go(func() { Run(ctxB, cfg(db2, "b")) })

	waitFor(t, "a first maintenance pass", func() bool { return len(h.passes()) > 0 })
	time.Sleep(300 * time.Millisecond)
	p := h.passes()
	if len(p) != 1 {
		t.Fatalf("maintenance passes per runner: %v; want one runner only", p)
	}
	var leader, other string
	for r := range p {
		leader = r
	}
	if leader == "a" {
		other = "b"
		stopA()
	} else {
		other = "a"
		stopB()
	}
	waitFor(t, "the other runner to take over", func() bool { return h.passes()[other] > 0 })
	stopA()
	stopB()
	wg.Wait()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
