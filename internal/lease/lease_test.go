package lease_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/lease"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

var factories = map[string]storetest.Factory{"sqlite": storetest.SQLite, "postgres": storetest.Postgres}

func each(t *testing.T, fn func(t *testing.T, f storetest.Factory)) {
	for name, f := range factories {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fn(t, f)
		})
	}
}

var fast = lease.Config{TTL: 400 * time.Millisecond, Renew: 100 * time.Millisecond, Retry: 50 * time.Millisecond}

// A holder that keeps renewing keeps its lease well past the TTL, and its
// fenced writes succeed throughout.
func TestHoldRenews(t *testing.T) {
	each(t, func(t *testing.T, f storetest.Factory) {
		s, reopen := f(t)
		other := reopen(t)
		ctx := context.Background()
		err := lease.Hold(ctx, s, "mail", "a", "p1", fast, func(ctx context.Context, fe store.Fence) error {
			deadline := time.Now().Add(3 * fast.TTL)
			for time.Now().Before(deadline) {
				if _, err := other.ClaimLease(ctx, "mail", "a", "p2", fast.TTL); !errors.Is(err, store.ErrLeaseHeld) {
					return errors.New("another owner could claim a renewed lease")
				}
				if err := s.CheckFence(ctx, fe); err != nil {
					return err
				}
				time.Sleep(fast.TTL / 4)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Released on return: the next claim is immediate.
		if _, err := other.ClaimLease(ctx, "mail", "a", "p2", fast.TTL); err != nil {
			t.Fatalf("lease not released: %v", err)
		}
	})
}

// When the lease is taken away (here: a forged takeover after expiry), the
// work's context is cancelled and Hold reports the loss.
func TestHoldLoses(t *testing.T) {
	each(t, func(t *testing.T, f storetest.Factory) {
		s, reopen := f(t)
		other := reopen(t)
		ctx := context.Background()
		cfg := lease.Config{TTL: 300 * time.Millisecond, Renew: time.Hour} // never renews
		err := lease.Hold(ctx, s, "mail", "a", "p1", cfg, func(ctx context.Context, fe store.Fence) error {
			// Wait for expiry, let another process take over, then try to write.
			var l store.Lease
			for {
				var err error
				l, err = other.ClaimLease(ctx, "mail", "a", "p2", time.Minute)
				if err == nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err := s.CheckFence(ctx, fe); !errors.Is(err, store.ErrLeaseLost) {
				return errors.New("stale holder's fence still accepted")
			}
			if err := other.CheckFence(ctx, l.Fence()); err != nil {
				return err
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}

// Several processes run a leader job: exactly one runs it at a time, and
// when the leader stops, another takes over within the TTL.
func TestLeaderFailover(t *testing.T) {
	each(t, func(t *testing.T, f storetest.Factory) {
		s, reopen := f(t)
		handles := []store.Store{s, reopen(t), reopen(t)}
		var running, maxRunning, runs atomic.Int32
		var mu sync.Mutex
		who := map[string]int{}
		ctxs := make([]context.CancelFunc, len(handles))
		var wg sync.WaitGroup
		for i, h := range handles {
			ctx, cancel := context.WithCancel(context.Background())
			ctxs[i] = cancel
			owner := []string{"p0", "p1", "p2"}[i]
			wg.Add(1)
			go func() {
				defer wg.Done()
				lease.Leader(ctx, h, "maintenance", "leader", owner, fast, 20*time.Millisecond, func(ctx context.Context, fe store.Fence) error {
					n := running.Add(1)
					defer running.Add(-1)
					if n > maxRunning.Load() {
						maxRunning.Store(n)
					}
					runs.Add(1)
					mu.Lock()
					who[owner]++
					mu.Unlock()
					if err := h.CheckFence(ctx, fe); err != nil && ctx.Err() == nil {
						t.Errorf("leader %s runs without its lease: %v", owner, err)
					}
					time.Sleep(5 * time.Millisecond)
					return nil
				}, func(err error) { t.Logf("%s: %v", owner, err) })
			}()
		}
		waitFor(t, func() bool { return runs.Load() > 5 })
		mu.Lock()
		var leader string
		for o := range who {
			leader = o
		}
		mu.Unlock()
		idx := map[string]int{"p0": 0, "p1": 1, "p2": 2}[leader]
		// Kill the leader without releasing: simulate a crash by cancelling
		// only its context (Hold releases on the way out, so the takeover
		// here is faster than a crash; TestHoldLoses covers expiry).
		ctxs[idx]()
		mu.Lock()
		before := len(who)
		mu.Unlock()
		start := time.Now()
		waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(who) > before })
		if d := time.Since(start); d > 2*fast.TTL+time.Second {
			t.Fatalf("takeover took %v", d)
		}
		for _, c := range ctxs {
			c()
		}
		wg.Wait()
		if maxRunning.Load() != 1 {
			t.Fatalf("%d leaders ran at once", maxRunning.Load())
		}
	})
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A lease of a process of this host that no longer runs is released at
// once by ReapLocal; a live one, or another host's, is not.
func TestReapLocal(t *testing.T) {
	each(t, func(t *testing.T, f storetest.Factory) {
		s, _ := f(t)
		ctx := context.Background()
		host, _ := os.Hostname()
		dead := exec.Command("true")
		if err := dead.Run(); err != nil {
			t.Skip("cannot run a child process:", err)
		}
		deadOwner := fmt.Sprintf("%s/%d/abcd", host, dead.Process.Pid)
		for _, o := range []struct{ key, owner string }{{"dead", deadOwner}, {"live", lease.NewOwner()}, {"remote", "elsewhere/1/abcd"}} {
			if _, err := s.ClaimLease(ctx, "mail", o.key, o.owner, time.Minute); err != nil {
				t.Fatal(err)
			}
		}
		n, err := lease.ReapLocal(ctx, s)
		if err != nil || n != 1 {
			t.Fatalf("reaped %d (%v), want 1", n, err)
		}
		if _, err := s.ClaimLease(ctx, "mail", "dead", "newcomer", time.Minute); err != nil {
			t.Fatalf("dead process's lease not freed: %v", err)
		}
		for _, k := range []string{"live", "remote"} {
			if _, err := s.ClaimLease(ctx, "mail", k, "newcomer", time.Minute); !errors.Is(err, store.ErrLeaseHeld) {
				t.Fatalf("%s lease taken: %v", k, err)
			}
		}
	})
}
