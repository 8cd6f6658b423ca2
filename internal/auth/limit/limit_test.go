package limit

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTest(p Policy) (*Limiter, *clock) {
	c := &clock{t: time.Date(2030, 1, 2, 9, 0, 0, 0, time.UTC)}
	return New(p, c.now), c
}

func begin(t *testing.T, l *Limiter, account, client string) *Attempt {
	t.Helper()
	a, err := l.Begin(account, client)
	if err != nil {
		t.Fatalf("Begin(%s, %s): %v", account, client, err)
	}
	return a
}

func refused(t *testing.T, l *Limiter, account, client string) *Refused {
	t.Helper()
	a, err := l.Begin(account, client)
	var r *Refused
	if !errors.As(err, &r) {
		if a != nil {
			a.Abandon()
		}
		t.Fatalf("Begin(%s, %s) = %v, want refused", account, client, err)
	}
	return r
}

func TestFailuresOfOneClientDoNotLockOthersOut(t *testing.T) {
	l, _ := newTest(Policy{})
	for range 5 {
		if a, err := l.Begin("login:pat", "attacker"); err == nil {
			a.Failed()
		}
	}
	if r := refused(t, l, "login:pat", "attacker"); r.ByClient || r.RetryAfter <= 0 {
		t.Errorf("attacker refused with %+v", r)
	}
	// Pat, from elsewhere, has not failed: the right password goes through.
	begin(t, l, "login:pat", "pat's laptop").Succeeded()
	// So does a mistake and then the right password.
	begin(t, l, "login:pat", "pat's phone").Failed()
	begin(t, l, "login:pat", "pat's phone").Succeeded()
}

func TestBackoffGrows(t *testing.T) {
	l, c := newTest(Policy{})
	p := DefaultPolicy
	for range p.FreeFailures {
		begin(t, l, "login:pat", "a").Failed()
	}
	want := p.BaseDelay
	for i := range 12 {
		r := refused(t, l, "login:pat", "a")
		if r.RetryAfter != want {
			t.Fatalf("wait %d = %s, want %s", i, r.RetryAfter, want)
		}
		c.advance(r.RetryAfter - time.Millisecond)
		refused(t, l, "login:pat", "a")
		c.advance(time.Millisecond)
		begin(t, l, "login:pat", "a").Failed()
		want = min(2*want, p.MaxDelay)
	}
	if want != p.MaxDelay {
		t.Fatalf("never reached the maximum wait: %s", want)
	}
	// A success forgets the failures.
	c.advance(p.MaxDelay)
	begin(t, l, "login:pat", "a").Succeeded()
	for range p.FreeFailures {
		begin(t, l, "login:pat", "a").Failed()
	}
	// And so does time.
	c.advance(p.Forget)
	begin(t, l, "login:pat", "a").Failed()
}

func TestConcurrentAttemptsCountBeforeTheyEnd(t *testing.T) {
	l, _ := newTest(Policy{})
	var inflight []*Attempt
	for range DefaultPolicy.FreeFailures {
		inflight = append(inflight, begin(t, l, "login:pat", "a"))
	}
	if r := refused(t, l, "login:pat", "a"); r.RetryAfter != DefaultPolicy.BaseDelay {
		t.Errorf("refused with %+v", r)
	}
	for _, a := range inflight {
		a.Failed()
	}
	refused(t, l, "login:pat", "a")
	// An abandoned attempt is not a failure.
	l2, _ := newTest(Policy{})
	for range 10 {
		begin(t, l2, "login:pat", "a").Abandon()
	}
	begin(t, l2, "login:pat", "a").Succeeded()
}

func TestClientBucket(t *testing.T) {
	l, c := newTest(Policy{ClientBurst: 5, ClientEvery: 10 * time.Second})
	for i := range 5 {
		begin(t, l, fmt.Sprint("login:user", i), "a").Failed()
	}
	r := refused(t, l, "login:someone-else", "a")
	if !r.ByClient || r.RetryAfter != 10*time.Second {
		t.Fatalf("refused with %+v, want by client after 10s", r)
	}
	// Other clients are not affected.
	begin(t, l, "login:someone-else", "b").Failed()
	c.advance(10 * time.Second)
	begin(t, l, "login:someone-else", "a").Failed()
	refused(t, l, "login:another", "a")

	// Successes give their attempt back: an office behind one address
	// signs in all day.
	l2, _ := newTest(Policy{ClientBurst: 5})
	for i := range 100 {
		begin(t, l2, fmt.Sprint("login:user", i), "office").Succeeded()
	}
}

func TestManyClientsOnOneAccount(t *testing.T) {
	l, c := newTest(Policy{})
	p := DefaultPolicy
	for i := range p.AccountFreeFailures {
		begin(t, l, "login:pat", fmt.Sprint("bot", i)).Failed()
	}
	// Each address that failed now waits, though it failed once only.
	r := refused(t, l, "login:pat", "bot0")
	if r.RetryAfter != p.BaseDelay {
		t.Errorf("refused with %+v", r)
	}
	// A new address gets one try, then waits with the others.
	begin(t, l, "login:pat", "bot-new").Failed()
	refused(t, l, "login:pat", "bot-new")
	c.advance(p.BaseDelay * 2)
	begin(t, l, "login:pat", "bot0").Failed()
	refused(t, l, "login:pat", "bot0")
	// A client that has not failed still gets its try, and Pat signing
	// in clears the account's count.
	begin(t, l, "login:pat", "pat").Succeeded()
	begin(t, l, "login:pat", "bot1").Failed()
}

func TestEntriesBounded(t *testing.T) {
	l, _ := newTest(Policy{MaxEntries: 3000})
	for i := range 20_000 {
		if a, err := l.Begin(fmt.Sprint("login:u", i), fmt.Sprint("c", i)); err == nil {
			a.Failed()
		}
	}
	if n := l.Entries(); n > 3000+3 {
		t.Fatalf("%d entries, want at most about 3000", n)
	}
}
