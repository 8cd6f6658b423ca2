package syncer

import "sync"

// wakeSet lets the API of this process wake the loop of an account that
// waits (on IDLE, or until its next poll), so queued work is done at once
// instead of at the next check. One set per kind of loop: mail and PIM
// account ids are separate sequences.
type wakeSet struct {
	mu sync.Mutex
	m  map[int64]chan struct{}
}

func newWakeSet() *wakeSet { return &wakeSet{m: map[int64]chan struct{}{}} }

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

// wake signals account id's loop, if this process runs one; it never
// blocks.
func (w *wakeSet) wake(id int64) {
	w.mu.Lock()
	ch := w.m[id]
	w.mu.Unlock()
	if ch != nil {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
