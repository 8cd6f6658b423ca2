// Package limit slows down password guessing: at crmsync's own sign-in
// and password checks, and through crmsync (connecting a mailbox or an
// address book makes crmsync log in elsewhere, which must not make it a
// password-guessing proxy).
//
// It keeps three kinds of count, in memory, per process:
//
//   - a token bucket per client (an address, or the signed-in caller),
//     spent by every attempt and given back by a success: one client
//     cannot try many passwords, whatever the accounts;
//   - failures per (account, client): after a few, that client waits,
//     longer after each failure (exponential backoff);
//   - failures per account from all clients: past a threshold, every
//     client that has failed on the account waits too, so that many
//     addresses do not make many guesses.
//
// A client that has not failed on an account is never refused because of
// the account's failures: guessing at someone's password cannot lock them
// out (the per-account lockout it replaces could). With several server
// processes an attacker gets that many times the budget, which is still
// far too little to guess a password.
package limit

import (
	"fmt"
	"math"
	"sync"
	"time"
)

// Policy are the limits. Zero fields get the defaults of DefaultPolicy.
type Policy struct {
	// ClientBurst attempts a client may make at once; it gets one back
	// every ClientEvery, and one for each success.
	ClientBurst int
	ClientEvery time.Duration
	// FreeFailures are the failures of one client on one account before
	// it waits; AccountFreeFailures are those of an account from every
	// client before each client that failed on it waits.
	FreeFailures        int
	AccountFreeFailures int
	// The first wait is BaseDelay, doubling with each further failure up
	// to MaxDelay.
	BaseDelay time.Duration
	MaxDelay  time.Duration
	// Forget drops failures this old: a user who mistyped last week
	// starts afresh.
	Forget time.Duration
	// MaxEntries bounds the memory the counts take. Beyond it, counts
	// that refuse nothing now are dropped first, then any: losing a count
	// gives a guesser a few more tries, never refuses anyone.
	MaxEntries int
}

// DefaultPolicy: 20 attempts at once per client and one more every 10 s
// (under 9,000 a day); 3 free failures per account and client, 10 per
// account; waits from 2 s doubling to 15 minutes; failures forgotten
// after a day.
var DefaultPolicy = Policy{
	ClientBurst: 20, ClientEvery: 10 * time.Second,
	FreeFailures: 3, AccountFreeFailures: 10,
	BaseDelay: 2 * time.Second, MaxDelay: 15 * time.Minute,
	Forget: 24 * time.Hour, MaxEntries: 200_000,
}

func (p Policy) withDefaults() Policy {
	d := DefaultPolicy
	set := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&p.ClientBurst, d.ClientBurst)
	set(&p.FreeFailures, d.FreeFailures)
	set(&p.AccountFreeFailures, d.AccountFreeFailures)
	set(&p.MaxEntries, d.MaxEntries)
	setD(&p.ClientEvery, d.ClientEvery)
	setD(&p.BaseDelay, d.BaseDelay)
	setD(&p.MaxDelay, d.MaxDelay)
	setD(&p.Forget, d.Forget)
	return p
}

// Refused is the error of an attempt refused: try again after RetryAfter.
// ByClient tells that the client made too many attempts overall, rather
// than failed too often on this account.
type Refused struct {
	RetryAfter time.Duration
	ByClient   bool
}

func (e *Refused) Error() string {
	if e.ByClient {
		return fmt.Sprintf("limit: too many attempts from this client; retry after %s", e.RetryAfter)
	}
	return fmt.Sprintf("limit: too many failed attempts on this account; retry after %s", e.RetryAfter)
}

// Limiter holds the counts. It is safe for concurrent use.
type Limiter struct {
	p   Policy
	now func() time.Time

	mu        sync.Mutex
	clients   map[string]*bucket
	accounts  map[string]*failures
	pairs     map[pairKey]*failures
	nextSweep int
}

type pairKey struct{ account, client string }

type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

type failures struct {
	n        int
	last     time.Time
	inflight int // attempts begun and not ended (pairs only)
}

// New returns a Limiter with policy p, reading the time from now (nil:
// time.Now).
func New(p Policy, now func() time.Time) *Limiter {
	if now == nil {
		now = time.Now
	}
	return &Limiter{p: p.withDefaults(), now: now, clients: map[string]*bucket{},
		accounts: map[string]*failures{}, pairs: map[pairKey]*failures{}, nextSweep: 1024}
}

// Attempt is one password check under way. End it with one of Failed,
// Succeeded, Inconclusive or Abandon; later calls do nothing.
type Attempt struct {
	l     *Limiter
	key   pairKey
	ended bool
}

// Begin starts an attempt by client (an address, a user) on account (a
// namespaced login: "login:pat@acme.test", "mail:pat@acme.test"), or
// refuses it with a *Refused. It counts the attempt before the password is
// checked, so that concurrent guesses cannot slip past the limit.
func (l *Limiter) Begin(account, client string) (*Attempt, error) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.clients[client]
	if b == nil {
		b = &bucket{tokens: float64(l.p.ClientBurst), at: now}
		l.clients[client] = b
	}
	l.refill(b, now)
	if b.tokens < 1 {
		return nil, &Refused{RetryAfter: time.Duration((1 - b.tokens) * float64(l.p.ClientEvery)), ByClient: true}
	}
	key := pairKey{account, client}
	pr := l.pairs[key]
	if l.stale(pr, now) {
		delete(l.pairs, key)
		pr = nil
	}
	if pr == nil {
		pr = &failures{}
		l.pairs[key] = pr
	}
	if wait := l.wait(pr, l.p.FreeFailures, now); wait > 0 {
		return nil, &Refused{RetryAfter: wait}
	}
	if acc := l.accounts[account]; pr.n > 0 && acc != nil && !l.stale(acc, now) {
		if wait := l.wait(acc, l.p.AccountFreeFailures, now); wait > 0 {
			return nil, &Refused{RetryAfter: wait}
		}
	}
	b.tokens--
	pr.inflight++
	return &Attempt{l: l, key: key}, nil
}

// stale reports whether f's failures are old enough to forget.
func (l *Limiter) stale(f *failures, now time.Time) bool {
	return f != nil && f.inflight == 0 && now.Sub(f.last) >= l.p.Forget
}

// wait is how long f must wait before another attempt: nothing before
// free failures, then BaseDelay after the last, doubling up to MaxDelay.
// Attempts still in flight count as failures without a time of their
// own: past the free ones, a client waits for its attempt under way (one
// at a time), so that concurrent guesses do not slip through.
func (l *Limiter) wait(f *failures, free int, now time.Time) time.Duration {
	if f.n+f.inflight < free {
		return 0
	}
	if f.inflight > 0 {
		return l.p.BaseDelay
	}
	return f.last.Add(l.backoff(f.n - free)).Sub(now)
}

func (l *Limiter) backoff(k int) time.Duration {
	d := float64(l.p.BaseDelay) * math.Pow(2, float64(k))
	if d >= float64(l.p.MaxDelay) {
		return l.p.MaxDelay
	}
	return time.Duration(d)
}

func (l *Limiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.at); el > 0 {
		b.tokens = min(float64(l.p.ClientBurst), b.tokens+float64(el)/float64(l.p.ClientEvery))
		b.at = now
	}
}

// Failed ends the attempt as a wrong password.
func (a *Attempt) Failed() {
	a.end(func(l *Limiter, pr *failures, now time.Time) {
		pr.n++
		pr.last = now
		acc := l.accounts[a.key.account]
		if acc == nil || l.stale(acc, now) {
			acc = &failures{}
			l.accounts[a.key.account] = acc
		}
		acc.n++
		acc.last = now
	})
}

// Succeeded ends the attempt as the right password: the account's
// failures are forgotten (only its owner knows the password, so this
// helps no guesser) and the client's attempt is given back.
func (a *Attempt) Succeeded() {
	a.end(func(l *Limiter, pr *failures, now time.Time) {
		pr.n = 0
		delete(l.accounts, a.key.account)
		l.giveBack(a.key.client, now)
	})
}

// Inconclusive ends an attempt that said nothing about the password but
// did reach out (a server that did not answer, or answered nonsense): it
// is not a failure on the account, but the client's attempt is spent, so
// that trying many servers is limited too.
func (a *Attempt) Inconclusive() {
	a.end(func(*Limiter, *failures, time.Time) {})
}

// Abandon ends an attempt that said nothing about the password (the
// database or the network failed, the client went away): it is not
// counted.
func (a *Attempt) Abandon() {
	a.end(func(l *Limiter, _ *failures, now time.Time) { l.giveBack(a.key.client, now) })
}

func (a *Attempt) end(f func(l *Limiter, pr *failures, now time.Time)) {
	l := a.l
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if a.ended {
		return
	}
	a.ended = true
	pr := l.pairs[a.key]
	if pr == nil { // dropped by a sweep over MaxEntries
		pr = &failures{inflight: 1}
		l.pairs[a.key] = pr
	}
	pr.inflight--
	f(l, pr, now)
	if pr.n == 0 && pr.inflight == 0 {
		delete(l.pairs, a.key)
	}
}

func (l *Limiter) giveBack(client string, now time.Time) {
	if b := l.clients[client]; b != nil {
		l.refill(b, now)
		b.tokens = min(float64(l.p.ClientBurst), b.tokens+1)
	}
}

// Entries is how many counts the Limiter holds, for tests and monitoring.
func (l *Limiter) Entries() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.clients) + len(l.accounts) + len(l.pairs)
}

// sweep drops, once the counts have doubled since the last sweep, those
// that refuse nothing now and remember nothing worth keeping; then, over
// MaxEntries, any that are not in flight.
func (l *Limiter) sweep(now time.Time) {
	size := len(l.clients) + len(l.accounts) + len(l.pairs)
	if size < l.nextSweep && size < l.p.MaxEntries {
		return
	}
	for k, b := range l.clients {
		if l.refill(b, now); b.tokens >= float64(l.p.ClientBurst) {
			delete(l.clients, k)
		}
	}
	for k, f := range l.accounts {
		if l.stale(f, now) {
			delete(l.accounts, k)
		}
	}
	for k, f := range l.pairs {
		if l.stale(f, now) {
			delete(l.pairs, k)
		}
	}
	size = len(l.clients) + len(l.accounts) + len(l.pairs)
	for k, f := range l.pairs {
		if size < l.p.MaxEntries {
			break
		}
		if f.inflight == 0 {
			delete(l.pairs, k)
			size--
		}
	}
	for k := range l.accounts {
		if size < l.p.MaxEntries {
			break
		}
		delete(l.accounts, k)
		size--
	}
	for k := range l.clients {
		if size < l.p.MaxEntries {
			break
		}
		delete(l.clients, k)
		size--
	}
	l.nextSweep = max(1024, 2*size)
}
