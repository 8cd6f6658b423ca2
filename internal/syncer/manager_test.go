package syncer

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/lease"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

// TestRunLocal: a second run of the same account in this process is
// refused while the first runs (the lease would let it in), other
// accounts and kinds are not, and the account is free again after.
func TestRunLocal(t *testing.T) {
	ran := 0
	local := newLocalRuns()
	err := local.run("pim", 7, func() error {
		ran++
		if err := local.run("pim", 7, func() error { ran++; return nil }); !errors.Is(err, store.ErrLeaseHeld) {
			t.Errorf("a second run of the same account: %v, want ErrLeaseHeld", err)
		}
		if err := local.run("mail", 7, func() error { ran++; return nil }); err != nil {
			t.Errorf("another kind: %v", err)
		}
		return local.run("pim", 8, func() error { ran++; return nil })
	})
	if err != nil || ran != 3 {
		t.Fatalf("err %v, ran %d, want 3", err, ran)
	}
	if err := local.run("pim", 7, func() error { ran++; return nil }); err != nil || ran != 4 {
		t.Fatalf("after the first run ended: err %v, ran %d", err, ran)
	}
}

func TestFairShare(t *testing.T) {
	for _, c := range []struct{ due, members, max, want int }{
		{10000, 3, 10000, 3334}, {10000, 2, 10000, 5000}, {10000, 1, 10000, 10000}, {10000, 1, 500, 500},
		{7, 0, 100, 7}, {7, 2, 100, 4}, {0, 3, 100, 0},
	} {
		if got := fairShare(c.due, c.members, c.max); got != c.want {
			t.Errorf("fairShare(%d, %d, %d) = %d, want %d", c.due, c.members, c.max, got, c.want)
		}
	}
	if shedAbove(3334) != 3400 || shedAbove(10) != 11 || shedAbove(0) != 1 {
		t.Errorf("shedAbove: %d %d %d", shedAbove(3334), shedAbove(10), shedAbove(0))
	}
}

// fairProc is a process of TestManagerShares: its manager's loops only
// hold their lease until told to stop.
type fairProc struct {
	held   atomic.Int64
	starts atomic.Int64
	stop   context.CancelFunc
	done   chan struct{}
}

func startFairProc(st store.Store, owner string, ids []int64, scan time.Duration, ramp int) *fairProc {
	ctx, cancel := context.WithCancel(context.Background())
	p := &fairProc{stop: cancel, done: make(chan struct{})}
	cfg := Config{Store: st, Owner: owner, Lease: lease.Config{TTL: 3 * time.Second},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}.withDefaults()
	m := manager{cfg: cfg, local: newLocalRuns(), kind: MailLeaseKind, scan: scan, max: 1000, ramp: ramp,
		due: func(context.Context) ([]int64, error) { return ids, nil },
		loop: func(int64, *slog.Logger) func(context.Context, store.Fence) error {
			return func(ctx context.Context, _ store.Fence) error {
				p.starts.Add(1)
				p.held.Add(1)
				defer p.held.Add(-1)
				<-ctx.Done()
				return ctx.Err()
			}
		}}
	var wg sync.WaitGroup
	wg.Go(func() { runMember(ctx, cfg) })
	wg.Go(func() { m.run(ctx) })
	go func() { wg.Wait(); close(p.done) }()
	return p
}

func (p *fairProc) end() { p.stop(); <-p.done }

// waitHeld waits until the processes hold want loops each.
func waitHeld(t *testing.T, what string, want []int64, ps ...*fairProc) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := make([]int64, len(ps))
		ok := true
		for i, p := range ps {
			got[i] = p.held.Load()
			ok = ok && got[i] == want[i]
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the processes hold %v loops, want %v", what, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestManagerShares: one process alone takes every account, a ramp at a
// time; a second and a third that join get their share from the others
// within a few scans; when one stops the others take its accounts; and an
// account never runs in two processes at once (the leases), nor a loop
// starts more often than the moves need.
func TestManagerShares(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		st, _ := f(t)
		ids := make([]int64, 60)
		for i := range ids {
			ids[i] = int64(i + 1)
		}

		// The ramp: a first scan (the next one an hour away) starts ramp
		// loops, no more.
		slow := startFairProc(st, "slow", ids, time.Hour, 7)
		waitHeld(t, "one scan", []int64{7}, slow)
		time.Sleep(200 * time.Millisecond)
		if n := slow.held.Load(); n != 7 {
			t.Fatalf("one scan started %d loops, want the ramp of 7", n)
		}
		slow.end()

		a := startFairProc(st, "a", ids, 30*time.Millisecond, 10)
		defer a.end()
		waitHeld(t, "alone", []int64{60}, a)
		b := startFairProc(st, "b", ids, 30*time.Millisecond, 10)
		defer b.end()
		waitHeld(t, "two", []int64{30, 30}, a, b)
		c := startFairProc(st, "c", ids, 30*time.Millisecond, 10)
		waitHeld(t, "three", []int64{20, 20, 20}, a, b, c)
		c.end()
		waitHeld(t, "c stopped", []int64{30, 30}, a, b)
		time.Sleep(200 * time.Millisecond)
		waitHeld(t, "settled", []int64{30, 30}, a, b)
		// Moves: 60 starts alone, 30 handed to b, 20 to c, 20 back.
		if s := a.starts.Load() + b.starts.Load() + c.starts.Load(); s > 60+30+20+20+4 {
			t.Errorf("%d loop starts for %d accounts and three moves: loops moved back and forth", s, len(ids))
		}
		ls, err := st.ListLeases(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		owners := map[string]int{}
		for _, l := range ls {
			if l.Kind == MailLeaseKind {
				owners[l.Owner]++
			}
		}
		if owners["a"] != 30 || owners["b"] != 30 || len(owners) != 2 {
			t.Errorf("mail leases by owner %v, want a and b 30 each", owners)
		}
	})
}
