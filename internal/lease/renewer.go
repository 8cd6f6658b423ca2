package lease

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/crmsync/crmsync/internal/store"
)

// Renewer renews the leases of many Holds from one goroutine, instead of
// one goroutine (with its stack and its ticker) per lease: a process
// syncing ten thousand mailboxes holds ten thousand leases. Give it to the
// Holds in Config.Renewer and run Run for as long as they may hold.
type Renewer struct {
	st  store.Leases
	cfg Config

	mu   sync.Mutex
	held map[*holding]struct{}
}

// holding is one Hold's lease as the Renewer keeps it.
type holding struct {
	mu     sync.Mutex
	l      store.Lease
	lost   bool
	cancel context.CancelFunc
	// deadline stops the work when the lease is about to end without a
	// renewal, whether or not a round reached it: a round slowed down by
	// a busy database must not leave work running on a lease another
	// process may claim (two IMAP sessions of one mailbox at once).
	deadline *time.Timer
}

// expire marks the lease lost and stops the work.
func (h *holding) expire() {
	h.mu.Lock()
	h.lost = true
	h.mu.Unlock()
	h.cancel()
}

func (h *holding) lease() (store.Lease, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.l, h.lost
}

// NewRenewer returns a Renewer for leases of st with cfg's timing (the
// Holds it serves must use the same TTL).
func NewRenewer(st store.Leases, cfg Config) *Renewer {
	return &Renewer{st: st, cfg: cfg.withDefaults(), held: map[*holding]struct{}{}}
}

// renewParallel is how many renewals a Renewer runs at once. Not a few:
// the renewals queue for the process's database connections behind the
// loops' own queries, and with a handful in flight a round over thousands
// of leases would take longer than a TTL while first syncs keep the pool
// busy.
const renewParallel = 64

// Run renews every registered lease each cfg.Renew until ctx ends. A
// renewal that fails for a reason other than the lease being lost (the
// database briefly unreachable) is tried again at the next round, until
// the lease would end: only then is the work stopped, as in Hold.
func (r *Renewer) Run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Renew)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		round := make([]*holding, 0, len(r.held))
		for h := range r.held {
			round = append(round, h)
		}
		r.mu.Unlock()
		// The closest to expiry first.
		slices.SortFunc(round, func(a, b *holding) int {
			la, _ := a.lease()
			lb, _ := b.lease()
			return la.ExpiresAt.Compare(lb.ExpiresAt)
		})
		sem := make(chan struct{}, renewParallel)
		var wg sync.WaitGroup
		for _, h := range round {
			if ctx.Err() != nil {
				break
			}
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				r.renew(ctx, h)
			})
		}
		wg.Wait()
	}
}

func (r *Renewer) renew(ctx context.Context, h *holding) {
	l, lost := h.lease()
	if lost {
		return
	}
	nl, err := r.st.RenewLease(ctx, l, r.cfg.TTL)
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.lost: // expired meanwhile
	case err == nil:
		h.l = nl
		h.deadline.Reset(r.until(nl))
	case ctx.Err() != nil:
	case errors.Is(err, store.ErrLeaseLost) || time.Now().After(l.ExpiresAt.Add(-r.cfg.Renew/2)):
		h.lost = true
		h.cancel()
	}
}

// until is the time left before the work under l must stop: half a
// renewal period before the lease ends, as Hold does.
func (r *Renewer) until(l store.Lease) time.Duration {
	return time.Until(l.ExpiresAt.Add(-r.cfg.Renew / 2))
}

func (r *Renewer) add(h *holding) {
	h.mu.Lock()
	h.deadline = time.AfterFunc(r.until(h.l), h.expire)
	h.mu.Unlock()
	r.mu.Lock()
	r.held[h] = struct{}{}
	r.mu.Unlock()
}

func (r *Renewer) remove(h *holding) {
	h.mu.Lock()
	h.deadline.Stop()
	h.mu.Unlock()
	r.mu.Lock()
	delete(r.held, h)
	r.mu.Unlock()
}

// holdShared is Hold with the lease renewed by cfg.Renewer.
func holdShared(ctx context.Context, st store.Leases, l store.Lease, fn func(ctx context.Context, f store.Fence) error, r *Renewer) error {
	workCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	h := &holding{l: l, cancel: cancel}
	r.add(h)
	ferr := fn(workCtx, l.Fence())
	r.remove(h)
	cancel()
	l, lost := h.lease()
	if lost {
		if ferr == nil || errors.Is(ferr, context.Canceled) {
			return ErrLost
		}
		return ferr
	}
	return release(st, l, ferr)
}
