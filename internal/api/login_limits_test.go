package api_test

import (
	"fmt"
	"log/slog"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/auth/limit"
)

// TestLoginFloodMemory is the probe's flood: sign-ins with made-up emails,
// many at once, each from its own address (so that the per-address limit
// does not stop them and only the hashing gate stands). Without the gate
// each costs 19 MiB at once (32 × 19 MiB = 608 MiB); with it, memory
// stays at a few hashes, and a real user signs in during the flood. Not
// parallel, so that the heap it measures is its own.
func TestLoginFloodMemory(t *testing.T) {
	b := setup(t)
	const pw = "correct horse battery"
	b.must(201, "POST", "/api/v1/users", b.token, map[string]any{"email": "pat@acme.test", "name": "Pat", "password": pw})
	b.srv = api.New(api.Config{Store: b.st, Now: b.clock.Now, PasswordHashMemory: 2 * auth.HashMemory,
		Logger: slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // sample the heap while the flood runs (ReadMemStats stops the world: not in a busy loop)
		defer close(sampled)
		var m runtime.MemStats
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	// Four waves of 32 (two under the race detector, where one argon2id
	// hash takes a second): enough to show the gate holds the heap.
	total, parallel := 128, 32
	if raceEnabled {
		total = 64
	}
	var unknown, other atomic.Int64
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for i := range total {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			req := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(fmt.Sprintf(`{"email":"nobody%d@acme.test","password":"guess number %d"}`, i, i)))
			req.Header.Set("Content-Type", "application/json")
			req.RemoteAddr = fmt.Sprintf("198.51.%d.%d:1234", i/250, i%250+1)
			rec := httptest.NewRecorder()
			b.srv.ServeHTTP(rec, req)
			if rec.Code == 401 {
				unknown.Add(1)
			} else {
				other.Add(1)
			}
		})
		if i == total/2 { // Pat signs in mid-flood, and gets in
			wg.Go(func() {
				if r := b.doFrom("192.0.2.50:999", "POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw}); r.Status != 200 {
					t.Errorf("Pat's sign-in during the flood: %d %s", r.Status, r.Raw)
				}
			})
		}
	}
	wg.Wait()
	close(stop)
	<-sampled
	if unknown.Load() != int64(total) || other.Load() != 0 {
		t.Errorf("flood answers: %d 401, %d other; want every one checked and refused", unknown.Load(), other.Load())
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	growth := int64(peak.Load()) - int64(before.HeapAlloc)
	t.Logf("heap before %d MiB, peak growth during the flood %d MiB, heap reserved %d -> %d MiB (a hash is %d MiB)",
		before.HeapAlloc>>20, growth>>20, before.HeapSys>>20, after.HeapSys>>20, auth.HashMemory>>20)
	// Two hashes at once, and the garbage of those just finished that the
	// collector has not reclaimed yet (it lets the heap double): a dozen
	// at most. Without the gate the live hashes alone are 32.
	if limit := int64(12 * auth.HashMemory); growth > limit {
		t.Errorf("the heap grew by %d MiB during the flood, more than %d MiB", growth>>20, limit>>20)
	}
}

func TestLoginLimitPerAddress(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const addr = "203.0.113.5:1000"
	burst := limit.DefaultPolicy.ClientBurst
	for i := range burst {
		b.wantErr(b.doFrom(addr, "POST", "/api/v1/login", "", map[string]any{"email": fmt.Sprintf("user%d@acme.test", i), "password": "a guess"}), 401, "invalid_credentials", "")
	}
	r := b.doFrom(addr, "POST", "/api/v1/login", "", map[string]any{"email": "one-more@acme.test", "password": "a guess"})
	b.wantErr(r, 429, "too_many_attempts", "")
	if got, want := r.Header.Get("Retry-After"), strconv.Itoa(int(limit.DefaultPolicy.ClientEvery.Seconds())); got != want {
		t.Errorf("Retry-After = %q, want %q", got, want)
	}
	// Another address is served; so is this one once a token is back.
	b.wantErr(b.doFrom("203.0.113.6:1000", "POST", "/api/v1/login", "", map[string]any{"email": "one-more@acme.test", "password": "a guess"}), 401, "invalid_credentials", "")
	b.clock.Advance(limit.DefaultPolicy.ClientEvery)
	b.wantErr(b.doFrom(addr, "POST", "/api/v1/login", "", map[string]any{"email": "one-more@acme.test", "password": "a guess"}), 401, "invalid_credentials", "")

	// X-Forwarded-For is ignored unless the operator trusts a proxy: a
	// client cannot pick a fresh address per request.
	r = b.doFrom(addr, "POST", "/api/v1/login", "", map[string]any{"email": "x@acme.test", "password": "a guess"})
	b.wantErr(r, 429, "too_many_attempts", "")
	req := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(`{"email":"x@acme.test","password":"a guess"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", "10.9.9.9")
	req.RemoteAddr = addr
	rec := httptest.NewRecorder()
	b.srv.ServeHTTP(rec, req)
	if rec.Code != 429 {
		t.Errorf("a forged X-Forwarded-For got %d, want 429", rec.Code)
	}
	proxied := api.New(api.Config{Store: b.st, Now: b.clock.Now, TrustForwardedFor: true})
	for _, xff := range []string{"10.9.9.9", "1.1.1.1, 10.9.9.10", "2001:db8::1"} {
		req := httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(`{"email":"x@acme.test","password":"a guess"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Forwarded-For", xff)
		req.RemoteAddr = "127.0.0.1:5000" // the proxy
		for range burst {
			rec = httptest.NewRecorder()
			proxied.ServeHTTP(rec, req.Clone(req.Context()))
		}
	}
	// Behind a proxy, each client has its own budget: a client new to the
	// server is still served after others used theirs.
	req = httptest.NewRequest("POST", "/api/v1/login", strings.NewReader(`{"email":"y@acme.test","password":"a guess"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Forwarded-For", "10.1.2.3")
	req.RemoteAddr = "127.0.0.1:5000"
	rec = httptest.NewRecorder()
	proxied.ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Errorf("a new client behind the proxy got %d, want 401", rec.Code)
	}
}

func TestCurrentPasswordGuessingIsLimited(t *testing.T) {
	t.Parallel()
	b := setup(t)
	const pw = "correct horse battery"
	id := b.must(201, "POST", "/api/v1/users", b.token, map[string]any{"email": "pat@acme.test", "name": "Pat", "password": pw}).ID()
	session := b.must(200, "POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw}).Str("token")
	path := fmt.Sprintf("/api/v1/users/%d", id)
	const thief = "203.0.113.66:1000"
	for i := range limit.DefaultPolicy.FreeFailures {
		b.wantErr(b.doFrom(thief, "PATCH", path, session, map[string]any{"password": "a new long password", "current_password": fmt.Sprint("guess ", i)}), 422, "invalid_value", "current_password")
	}
	r := b.doFrom(thief, "PATCH", path, session, map[string]any{"password": "a new long password", "current_password": "guess again"})
	b.wantErr(r, 429, "too_many_attempts", "")
	if r.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	// The same counts as the sign-in: the thief cannot switch to it.
	b.wantErr(b.doFrom(thief, "POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": "guess again"}), 429, "too_many_attempts", "")
	// Pat, from Pat's own address, still signs in and changes it.
	b.must(200, "POST", "/api/v1/login", "", map[string]any{"email": "pat@acme.test", "password": pw})
	b.must(200, "PATCH", path, session, map[string]any{"password": "a new long password", "current_password": pw})
}

// TestMailboxPasswordGuessing: crmsync is not a password-guessing proxy.
// Twenty wrong passwords for one mailbox reach its server a few times, then
// answer 429; the right one goes through once the wait is over.
func TestMailboxPasswordGuessing(t *testing.T) {
	t.Parallel()
	m := setupMail(t)
	codes := map[int]int{}
	var retry string
	for i := range 20 {
		r := m.call("POST", "/api/v1/mail-accounts", m.annToken, map[string]any{"email": "ann@acme.test", "password": fmt.Sprint("guess ", i)})
		codes[r.Status]++
		if r.Status == 429 {
			m.wantErr(r, 429, "too_many_attempts", "")
			retry = r.Header.Get("Retry-After")
		}
	}
	free := limit.DefaultPolicy.FreeFailures
	if n := m.fake.VerifyCount(); n != free {
		t.Errorf("the mail server saw %d logins, want %d", n, free)
	}
	if codes[422] != free || codes[429] != 20-free {
		t.Errorf("answers %v, want %d auth_failed then 429", codes, free)
	}
	secs, err := strconv.Atoi(retry)
	if err != nil || secs <= 0 {
		t.Fatalf("Retry-After = %q", retry)
	}
	// Bob, connecting his own mailbox, is not held up.
	m.mustCall(201, "POST", "/api/v1/mail-accounts", m.bobToken, map[string]any{"email": "bob@acme.test", "password": goodPassword})
	// Nor is another caller trying Ann's mailbox for the first time.
	m.wantErr(m.call("POST", "/api/v1/mail-accounts", m.token, map[string]any{"email": "ann@acme.test", "password": "admin guess", "user_id": m.ann}), 422, "auth_failed", "")

	m.clock.Advance(limit.DefaultPolicy.MaxDelay)
	id := m.mustCall(201, "POST", "/api/v1/mail-accounts", m.annToken, map[string]any{"email": "ann@acme.test", "password": goodPassword}).ID()

	// Changing the password is limited the same way.
	before := m.fake.VerifyCount()
	path := fmt.Sprintf("/api/v1/mail-accounts/%d", id)
	for i := range 10 {
		m.call("PATCH", path, m.annToken, map[string]any{"password": fmt.Sprint("wrong ", i)})
	}
	if n := m.fake.VerifyCount() - before; n != free {
		t.Errorf("PATCH reached the server %d times, want %d", n, free)
	}
	m.wantErr(m.call("PATCH", path, m.annToken, map[string]any{"password": "wrong again"}), 429, "too_many_attempts", "")
}

func TestPIMPasswordGuessing(t *testing.T) {
	t.Parallel()
	p := setupPIM(t)
	for i := range 10 {
		p.connect(map[string]any{"password": fmt.Sprint("guess ", i)})
	}
	free := limit.DefaultPolicy.FreeFailures
	p.pim.mu.Lock()
	n := len(p.pim.verified)
	p.pim.mu.Unlock()
	if n != free {
		t.Errorf("the DAV server saw %d logins, want %d", n, free)
	}
	// Another path on the same server is the same login.
	p.wantErr(p.connect(map[string]any{"url": "https://dav.acme.test/other/path/", "password": "guess"}), 429, "too_many_attempts", "")
	p.clock.Advance(limit.DefaultPolicy.MaxDelay)
	p.mustCall(201, "POST", "/api/v1/pim-accounts", p.annToken, map[string]any{"kind": "carddav", "url": "https://dav.acme.test/dav/", "username": "ann", "password": goodPassword})
}
