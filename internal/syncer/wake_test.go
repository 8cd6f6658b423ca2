package syncer

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

// TestWakeSetWaits: a registered wait ends by wake or when the one
// watcher finds work for it; a finished wait is not looked at again.
func TestWakeSetWaits(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newWakeSet()
	go w.watch(ctx, 10*time.Millisecond)

	var work atomic.Bool
	var checks atomic.Int64
	stopped := make(chan int64, 10)
	done1 := w.waitOn(1, func() { stopped <- 1 }, func(context.Context) bool { checks.Add(1); return work.Load() })
	done2 := w.waitOn(2, func() { stopped <- 2 }, func(context.Context) bool { return false })
	defer done2()

	time.Sleep(50 * time.Millisecond)
	select {
	case id := <-stopped:
		t.Fatalf("wait %d ended without work nor wake-up", id)
	default:
	}
	work.Store(true)
	if id := <-stopped; id != 1 {
		t.Fatalf("wait %d ended, want 1 (its check found work)", id)
	}
	done1()
	time.Sleep(30 * time.Millisecond)
	n := checks.Load()
	time.Sleep(50 * time.Millisecond)
	if checks.Load() != n {
		t.Error("a finished wait is still checked")
	}

	ch := w.open(2)
	w.wake(2)
	if id := <-stopped; id != 2 {
		t.Fatalf("wake(2) ended wait %d", id)
	}
	select {
	case <-ch:
	default:
		t.Error("wake(2) left no signal on the loop's channel")
	}
}
