package lease_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/lease"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

// Holds sharing a Renewer keep their leases well past the TTL without a
// goroutine each, release them on return, and lose them (work cancelled,
// ErrLost) when another owner took over while renewals stopped.
func TestSharedRenewer(t *testing.T) {
	each(t, func(t *testing.T, f storetest.Factory) {
		s, reopen := f(t)
		other := reopen(t)
		ctx := context.Background()
		r := lease.NewRenewer(s, fast)
		rctx, stopRenewer := context.WithCancel(ctx)
		go r.Run(rctx)
		cfg := fast
		cfg.Renewer = r

		var wg sync.WaitGroup
		errs := make(chan error, 2)
		for _, key := range []string{"a", "b"} {
			wg.Go(func() {
				errs <- lease.Hold(ctx, s, "mail", key, "p1", cfg, func(ctx context.Context, fe store.Fence) error {
					for deadline := time.Now().Add(3 * fast.TTL); time.Now().Before(deadline); time.Sleep(fast.TTL / 4) {
						if _, err := other.ClaimLease(ctx, "mail", key, "p2", fast.TTL); !errors.Is(err, store.ErrLeaseHeld) {
							return errors.New("another owner could claim a lease the renewer renews")
						}
						if err := s.CheckFence(ctx, fe); err != nil {
							return err
						}
					}
					return nil
				})
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, key := range []string{"a", "b"} {
			if _, err := other.ClaimLease(ctx, "mail", key, "p2", fast.TTL); err != nil {
				t.Fatalf("lease %s not released: %v", key, err)
			}
		}

		err := lease.Hold(ctx, s, "mail", "c", "p1", cfg, func(ctx context.Context, fe store.Fence) error {
			stopRenewer()
			// The claim runs on its own context: the work's own may be
			// cancelled first, by the lease's local deadline.
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				if _, err := other.ClaimLease(context.Background(), "mail", "c", "p2", time.Minute); err == nil {
					break
				}
				if time.Now().After(deadline) {
					return errors.New("the lease never expired")
				}
			}
			go r.Run(t.Context()) // renewals again: the next one finds the lease lost
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(5 * time.Second):
				return errors.New("the work went on after its lease was lost")
			}
		})
		if !errors.Is(err, lease.ErrLost) {
			t.Fatalf("Hold after losing its lease: %v, want ErrLost", err)
		}
		if l, err := other.GetLease(ctx, "mail", "c"); err != nil || l.Owner != "p2" {
			t.Fatalf("the new owner's lease: %+v, %v (the loser must not release it)", l, err)
		}
	})
}

// A lease the Renewer does not get to renew in time (its rounds stopped
// here; a busy database in real life) stops its work before it ends, so
// that another process that claims it next never works beside it.
func TestSharedRenewerDeadline(t *testing.T) {
	each(t, func(t *testing.T, f storetest.Factory) {
		s, _ := f(t)
		r := lease.NewRenewer(s, fast) // never Run
		cfg := fast
		cfg.Renewer = r
		start := time.Now()
		var stopped time.Duration
		err := lease.Hold(context.Background(), s, "mail", "d", "p1", cfg, func(ctx context.Context, fe store.Fence) error {
			select {
			case <-ctx.Done():
				stopped = time.Since(start)
				return ctx.Err()
			case <-time.After(5 * time.Second):
				return errors.New("the work went on past its lease")
			}
		})
		if !errors.Is(err, lease.ErrLost) {
			t.Fatalf("Hold: %v, want ErrLost", err)
		}
		if stopped >= fast.TTL {
			t.Errorf("the work stopped %v after the claim, after the lease's TTL %v", stopped, fast.TTL)
		}
	})
}
