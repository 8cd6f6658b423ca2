package auth

import (
	"context"
	"errors"
	"runtime"
	"sync"
	"testing"
)

func TestGateSize(t *testing.T) {
	for _, c := range []struct {
		budget int64
		want   int
	}{
		{1, 2}, // at least 2
		{3 * HashMemory, min(3, 2*runtime.NumCPU())}, // budget / 19 MiB
		{1 << 40, 2 * runtime.NumCPU()},              // at most 2 per CPU
		{0, min(DefaultHashBudget/HashMemory, 2*runtime.NumCPU())},
	} {
		if got := NewGate(c.budget).Stats().Size; got != max(c.want, 2) {
			t.Errorf("NewGate(%d).Size = %d, want %d", c.budget, got, max(c.want, 2))
		}
	}
}

func TestGateBoundsConcurrentHashes(t *testing.T) {
	g := NewGate(2 * HashMemory)
	hash, err := g.HashPassword(context.Background(), "a long enough password")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pw := "a long enough password"
			if i%2 == 1 {
				pw = "the wrong password"
			}
			ok, err := g.CheckPassword(context.Background(), hash, pw)
			if err != nil || ok != (i%2 == 0) {
				t.Errorf("check %d = %v, %v", i, ok, err)
			}
		}()
	}
	wg.Wait()
	if s := g.Stats(); s.Peak != 2 || s.Running != 0 || s.Waiting != 0 {
		t.Errorf("stats after = %+v, want peak 2 and nothing left", s)
	}
}

func TestGateWaitEndsWithTheContext(t *testing.T) {
	g := NewGate(1)
	hold := make(chan struct{})
	started := make(chan struct{}, 2)
	for range 2 { // fill both slots
		go func() { _ = g.do(context.Background(), func() { started <- struct{}{}; <-hold }) }()
	}
	<-started
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := g.CheckPassword(ctx, "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g", "x")
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting check = %v, want context.Canceled", err)
	}
	close(hold)
}
