package auth

import (
	"context"
	"runtime"
	"sync"
)

// HashMemory is what one password hash or check takes in memory (the
// argon2id memory parameter): the unit a Gate's budget is counted in.
const HashMemory = argonMemory * 1024

// DefaultHashBudget is the memory a Gate lets password hashing take at
// once when the operator sets none: 256 MiB, a dozen hashes.
const DefaultHashBudget = 256 << 20

// Gate bounds how many passwords are hashed or checked at once. argon2id
// is memory-hard on purpose (19 MiB a hash), so without a bound a flood of
// sign-ins with made-up emails takes the process to gigabytes; with one,
// memory stays at Size hashes whatever arrives, and requests wait their
// turn (first come, first served) for as long as their context allows.
// It is safe for concurrent use.
type Gate struct {
	slots chan struct{}

	mu      sync.Mutex
	waiting int
	peak    int
}

// NewGate returns a Gate for a memory budget in bytes (0: DefaultHashBudget):
// budget/HashMemory hashes at once, but at least 2, so that one slow client
// does not stop everyone, and at most twice the CPUs, beyond which hashes
// only queue for the processor while holding their memory.
func NewGate(budget int64) *Gate {
	if budget <= 0 {
		budget = DefaultHashBudget
	}
	n := int(budget / HashMemory)
	n = min(n, 2*runtime.NumCPU())
	n = max(n, 2)
	return &Gate{slots: make(chan struct{}, n)}
}

// GateStats is a Gate's state, for tests and monitoring.
type GateStats struct {
	Size    int // hashes allowed at once
	Running int // hashes running now
	Waiting int // requests waiting for a turn
	Peak    int // the most hashes that ever ran at once
}

// Stats returns the Gate's state now.
func (g *Gate) Stats() GateStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return GateStats{Size: cap(g.slots), Running: len(g.slots), Waiting: g.waiting, Peak: g.peak}
}

// do runs f once a slot is free, or returns ctx's error if it ends first.
func (g *Gate) do(ctx context.Context, f func()) error {
	g.mu.Lock()
	g.waiting++
	g.mu.Unlock()
	select {
	case g.slots <- struct{}{}:
	case <-ctx.Done():
		g.mu.Lock()
		g.waiting--
		g.mu.Unlock()
		return ctx.Err()
	}
	g.mu.Lock()
	g.waiting--
	g.peak = max(g.peak, len(g.slots))
	g.mu.Unlock()
	defer func() { <-g.slots }()
	f()
	return nil
}

// HashPassword is HashPassword within the gate.
func (g *Gate) HashPassword(ctx context.Context, password string) (hash string, err error) {
	if gerr := g.do(ctx, func() { hash, err = HashPassword(password) }); gerr != nil {
		return "", gerr
	}
	return hash, err
}

// CheckPassword is CheckPassword within the gate. The error is the
// context's, when it ended before a turn came; the answer is then false.
func (g *Gate) CheckPassword(ctx context.Context, hash, password string) (ok bool, err error) {
	if gerr := g.do(ctx, func() { ok = CheckPassword(hash, password) }); gerr != nil {
		return false, gerr
	}
	return ok, nil
}
