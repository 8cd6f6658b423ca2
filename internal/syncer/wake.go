package syncer

import (
	"context"
	"sync"
	"time"
)

// wakeSet lets the API of this process wake the loop of an account that
// waits (on IDLE, or until its next poll), so queued work is done at once
// instead of at the next check. One set per kind of loop: mail and PIM
// account ids are separate sequences.
//
// It also holds the waits that work queued by another process must end
// (waitOn): one goroutine per process (watch) looks for that work for
// every waiting account in turn, instead of a goroutine and a ticker per
// account — with ten thousand idle mailboxes, that is ten thousand
// goroutines fewer and the same queries, spread out rather than in
// bursts.
type wakeSet struct {
	mu    sync.Mutex
	m     map[int64]chan struct{}
	waits map[int64]*waiting
}

// waiting is a loop's wait that wake or its check ends.
type waiting struct {
	stop  func()
	check func(ctx context.Context) bool
}

func newWakeSet() *wakeSet {
	return &wakeSet{m: map[int64]chan struct{}{}, waits: map[int64]*waiting{}}
}

// open registers the waiting loop of account id.
func (w *wakeSet) open(id int64) chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan struct{}, 1)
	w.m[id] = ch
	return ch
}

// close unregisters ch, unless a newer loop replaced it.
func (w *wakeSet) close(id int64, ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m[id] == ch {
		delete(w.m, id)
	}
}

// wake signals account id's loop, if this process runs one, and ends its
// wait if it is in one; it never blocks.
func (w *wakeSet) wake(id int64) {
	w.mu.Lock()
	ch, wt := w.m[id], w.waits[id]
	w.mu.Unlock()
	if ch != nil {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	if wt != nil {
		wt.stop()
	}
}

// waitOn registers a wait of account id until the returned func is
// called: wake(id) calls stop, and so does watch when check reports work.
// check runs on watch's goroutine; it must be safe to call beside the
// wait.
func (w *wakeSet) waitOn(id int64, stop func(), check func(ctx context.Context) bool) (done func()) {
	wt := &waiting{stop: stop, check: check}
	w.mu.Lock()
	w.waits[id] = wt
	w.mu.Unlock()
	return func() {
		w.mu.Lock()
		if w.waits[id] == wt {
			delete(w.waits, id)
		}
		w.mu.Unlock()
	}
}

// watchParallel is how many checks watch runs at once.
const watchParallel = 4

// watch runs the check of every registered wait every interval (a round
// taking longer delays the next), and ends the waits whose check finds
// work, until ctx ends.
func (w *wakeSet) watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		round := make([]*waiting, 0, len(w.waits))
		for _, wt := range w.waits {
			round = append(round, wt)
		}
		w.mu.Unlock()
		sem := make(chan struct{}, watchParallel)
		var wg sync.WaitGroup
		for _, wt := range round {
			if ctx.Err() != nil {
				break
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if wt.check(ctx) {
					wt.stop()
				}
			})
		}
		wg.Wait()
	}
}
