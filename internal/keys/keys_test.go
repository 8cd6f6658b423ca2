package keys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
)

// memStore is an in-memory store.Credentials with the semantics the real
// stores promise: ID order, compare-and-swap in ReplaceCiphertext.
type memStore struct {
	mu   sync.Mutex
	rows map[string]store.Credential

	// beforeReplace, if set, runs at the start of ReplaceCiphertext (without
	// the lock), to play a concurrent writer.
	beforeReplace func(id string)
	replaceErr    error
	listErr       error
}

var _ store.Credentials = (*memStore)(nil)

func newMemStore() *memStore { return &memStore{rows: map[string]store.Credential{}} }

func (m *memStore) PutCredential(ctx context.Context, c store.Credential) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c.Ciphertext = bytes.Clone(c.Ciphertext)
	m.rows[c.ID] = c
	return nil
}

func (m *memStore) GetCredential(ctx context.Context, orgID int64, id string) (store.Credential, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.rows[id]
	if !ok || c.OrgID != orgID {
		return store.Credential{}, store.ErrNotFound
	}
	c.Ciphertext = bytes.Clone(c.Ciphertext)
	return c, nil
}

func (m *memStore) DeleteCredential(ctx context.Context, orgID int64, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.rows[id]; !ok || c.OrgID != orgID {
		return store.ErrNotFound
	}
	delete(m.rows, id)
	return nil
}

func (m *memStore) ListCredentials(ctx context.Context, afterID string, limit int) ([]store.Credential, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.listErr != nil {
		return nil, m.listErr
	}
	var ids []string
	for id := range m.rows {
		if id > afterID {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	var page []store.Credential
	for _, id := range ids[:min(limit, len(ids))] {
		c := m.rows[id]
		c.Ciphertext = bytes.Clone(c.Ciphertext)
		page = append(page, c)
	}
	return page, nil
}

func (m *memStore) ReplaceCiphertext(ctx context.Context, id string, old, new []byte) error {
	if m.beforeReplace != nil {
		m.beforeReplace(id)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.replaceErr != nil {
		return m.replaceErr
	}
	c, ok := m.rows[id]
	if !ok {
		return store.ErrNotFound
	}
	if !bytes.Equal(c.Ciphertext, old) {
		return store.ErrStale
	}
	c.Ciphertext = bytes.Clone(new)
	c.UpdatedAt = time.Now()
	m.rows[id] = c
	return nil
}

// dump is every ciphertext, as a database dump would show them.
func (m *memStore) dump() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b []byte
	for _, c := range m.rows {
		b = append(b, c.Ciphertext...)
	}
	return b
}

type testBundle struct {
	st       *memStore
	oldRing  *secret.Keyring // k1 only
	ring     *secret.Keyring // k1, k2; k2 active
	plain    map[string]string
	oldCount int
}

// setup stores n credentials, every third already under the new key k2 and
// the others under the old key k1.
func setup(t *testing.T, n int) *testBundle {
	t.Helper()
	k1, k2 := secret.NewKey(), secret.NewKey()
	k1.ID, k2.ID = "k1", "k2"
	tb := &testBundle{st: newMemStore(), plain: map[string]string{}}
	var err error
	if tb.oldRing, err = secret.NewKeyring(k1); err != nil {
		t.Fatal(err)
	}
	if tb.ring, err = secret.NewKeyring(k1, k2); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		id := fmt.Sprintf("cred-%05d", i)
		tb.plain[id] = fmt.Sprintf("password-%d-%s", i, strings.Repeat("x", i%7))
		kr := tb.oldRing
		if i%3 == 0 {
			kr = tb.ring
		} else {
			tb.oldCount++
		}
		tb.put(t, kr, id, tb.plain[id])
	}
	return tb
}

func (tb *testBundle) put(t *testing.T, kr *secret.Keyring, id, plaintext string) {
	t.Helper()
	ct, err := kr.Seal([]byte(plaintext), secret.CredentialAD(id))
	if err != nil {
		t.Fatal(err)
	}
	tb.st.PutCredential(context.Background(), store.Credential{ID: id, OrgID: 1, Purpose: "imap_password", Ciphertext: ct})
}

// check verifies every credential opens to its expected plaintext under the
// active key.
func (tb *testBundle) check(t *testing.T) {
	t.Helper()
	for id, want := range tb.plain {
		c, err := tb.st.GetCredential(context.Background(), 1, id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if kid, _ := secret.KeyID(c.Ciphertext); kid != tb.ring.ActiveKeyID() {
			t.Errorf("%s is under %q, want %q", id, kid, tb.ring.ActiveKeyID())
		}
		got, err := tb.ring.Open(c.Ciphertext, secret.CredentialAD(id))
		if err != nil || string(got) != want {
			t.Errorf("%s opens to %q, %v; want %q", id, got, err, want)
		}
	}
}

func TestRotate(t *testing.T) {
	t.Parallel()
	tb := setup(t, 2*pageSize+57) // more than two pages
	ctx := context.Background()

	usage, err := Usage(ctx, tb.st, tb.ring)
	if err != nil {
		t.Fatal(err)
	}
	if usage["k1"] != tb.oldCount || usage["k2"] != len(tb.plain)-tb.oldCount {
		t.Fatalf("usage before = %v", usage)
	}

	var logged []string
	res, err := Rotate(ctx, tb.st, tb.ring, func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) })
	if err != nil {
		t.Fatal(err)
	}
	if want := (Result{Scanned: len(tb.plain), Reencrypted: tb.oldCount}); fmt.Sprint(res) != fmt.Sprint(want) {
		t.Fatalf("result %+v, want %+v", res, want)
	}
	if len(logged) != 0 {
		t.Fatalf("logged %q", logged)
	}
	tb.check(t)

	usage, _ = Usage(ctx, tb.st, tb.ring)
	if fmt.Sprint(usage) != fmt.Sprint(map[string]int{"k1": 0, "k2": len(tb.plain)}) {
		t.Fatalf("usage after = %v", usage)
	}

	dump := tb.st.dump()
	for id, pt := range tb.plain {
		if bytes.Contains(dump, []byte(pt)) {
			t.Fatalf("the dump holds %s's password in clear", id)
		}
	}

	// Idempotent: nothing left to do.
	res, err = Rotate(ctx, tb.st, tb.ring, nil)
	if err != nil || res.Reencrypted != 0 || res.Failed != 0 || res.Scanned != len(tb.plain) {
		t.Fatalf("second run: %+v, %v", res, err)
	}
}

func TestRotateEmpty(t *testing.T) {
	t.Parallel()
	tb := setup(t, 0)
	res, err := Rotate(context.Background(), tb.st, tb.ring, nil)
	if err != nil || res.Scanned != 0 {
		t.Fatalf("%+v, %v", res, err)
	}
	usage, err := Usage(context.Background(), tb.st, tb.ring)
	if err != nil || fmt.Sprint(usage) != "map[k1:0 k2:0]" {
		t.Fatalf("usage %v, %v", usage, err)
	}
}

// Rows that cannot be opened are reported by ID and left alone; the rest
// are rotated.
func TestRotateFailures(t *testing.T) {
	t.Parallel()
	tb := setup(t, 10)
	ctx := context.Background()
	stranger, _ := secret.NewKeyring(secret.Key{ID: "lost", Secret: [32]byte{1}})
	tb.put(t, stranger, "bad-1-lost-key", "x")
	tb.st.PutCredential(ctx, store.Credential{ID: "bad-2-garbage", OrgID: 1, Ciphertext: []byte("not a ciphertext at all, clear text")})
	moved, _ := tb.st.GetCredential(ctx, 1, "cred-00001") // under k1
	moved.ID = "bad-3-moved"
	tb.st.PutCredential(ctx, moved)

	var logged []string
	res, err := Rotate(ctx, tb.st, tb.ring, func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) })
	if err != nil {
		t.Fatal(err)
	}
	wantFailed := []string{"bad-1-lost-key", "bad-2-garbage", "bad-3-moved"}
	if res.Failed != 3 || fmt.Sprint(res.FailedIDs) != fmt.Sprint(wantFailed) || res.Scanned != 13 || res.Reencrypted != tb.oldCount {
		t.Fatalf("result %+v", res)
	}
	for i, want := range []string{`bad-1-lost-key (org 1, imap_password): secret: unknown key id "lost"`, "bad-2-garbage", "bad-3-moved (org 1, imap_password): secret: ciphertext does not authenticate"} {
		if i >= len(logged) || !strings.Contains(logged[i], want) {
			t.Errorf("log %d = %q, want %q", i, logged, want)
		}
	}
	tb.check(t)

	usage, _ := Usage(ctx, tb.st, tb.ring)
	// The moved row still carries k1's id: usage shows k1 in use, which is
	// right, since removing k1 would not make that row any less broken but
	// the operator should look at it first.
	if usage["lost"] != 1 || usage[""] != 1 || usage["k1"] != 1 {
		t.Fatalf("usage %v", usage)
	}
}

// A credential written by someone else between rotation's read and its
// write: the compare-and-swap refuses, rotation re-reads and does the right
// thing with the new value.
func TestRotateConcurrentChange(t *testing.T) {
	t.Parallel()
	const victim = "cred-00002" // under k1
	for name, tc := range map[string]struct {
		change      func(t *testing.T, tb *testBundle) // runs once, before rotation's write
		every       bool                               // run change before every write to victim
		reencrypted int                                // of the victim
		failed      bool
		gone        bool
	}{
		"saved under the active key": {change: func(t *testing.T, tb *testBundle) {
			tb.plain[victim] = "new password (active key)"
			tb.put(t, tb.ring, victim, tb.plain[victim])
		}},
		"saved under the old key": {change: func(t *testing.T, tb *testBundle) {
			tb.plain[victim] = "new password (old key)"
			tb.put(t, tb.oldRing, victim, tb.plain[victim])
		}, reencrypted: 1},
		"deleted": {change: func(t *testing.T, tb *testBundle) {
			tb.st.DeleteCredential(context.Background(), 1, victim)
			delete(tb.plain, victim)
		}, gone: true},
		"changing all the time": {every: true, failed: true, change: func(t *testing.T, tb *testBundle) {
			tb.plain[victim] += "!"
			tb.put(t, tb.oldRing, victim, tb.plain[victim])
		}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t, 6)
			done := false
			tb.st.beforeReplace = func(id string) {
				if id == victim && (!done || tc.every) {
					done = true
					tc.change(t, tb)
				}
			}
			var logged []string
			res, err := Rotate(context.Background(), tb.st, tb.ring, func(f string, a ...any) { logged = append(logged, fmt.Sprintf(f, a...)) })
			if err != nil {
				t.Fatal(err)
			}
			wantRe := tb.oldCount - 1 + tc.reencrypted
			if res.Reencrypted != wantRe || res.Scanned != 6 {
				t.Fatalf("result %+v, want %d re-encrypted", res, wantRe)
			}
			if tc.failed {
				if res.Failed != 1 || res.FailedIDs[0] != victim || !strings.Contains(logged[0], "run the rotation again") {
					t.Fatalf("result %+v, log %q", res, logged)
				}
				// What the other writer saved last is what is stored.
				c, _ := tb.st.GetCredential(context.Background(), 1, victim)
				got, err := tb.oldRing.Open(c.Ciphertext, secret.CredentialAD(victim))
				if err != nil || string(got) != tb.plain[victim] {
					t.Fatalf("victim holds %q, %v; want %q", got, err, tb.plain[victim])
				}
				tb.st.beforeReplace = nil
				if res, err := Rotate(context.Background(), tb.st, tb.ring, nil); err != nil || res.Reencrypted != 1 {
					t.Fatalf("rerun: %+v, %v", res, err)
				}
			} else if res.Failed != 0 {
				t.Fatalf("result %+v, log %q", res, logged)
			}
			if _, err := tb.st.GetCredential(context.Background(), 1, victim); tc.gone != errors.Is(err, store.ErrNotFound) {
				t.Fatalf("victim: %v", err)
			}
			tb.check(t)
		})
	}
}

// Two rotations and a writer at the same time: every row ends under the
// active key with the last value written, nothing fails.
func TestRotateRacing(t *testing.T) {
	t.Parallel()
	tb := setup(t, 600)
	ctx := context.Background()
	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range tb.plain {
			if !yield(id) {
				return
			}
		}
	})
	final := map[string]string{}
	var wg sync.WaitGroup
	wg.Go(func() {
		// A server saving passwords under the active key meanwhile.
		for i, id := range ids {
			if i%5 != 1 {
				continue
			}
			final[id] = "changed " + id
			ct, _ := tb.ring.Seal([]byte(final[id]), secret.CredentialAD(id))
			tb.st.PutCredential(ctx, store.Credential{ID: id, OrgID: 1, Ciphertext: ct})
		}
	})
	results := make([]Result, 2)
	for i := range results {
		wg.Go(func() {
			res, err := Rotate(ctx, tb.st, tb.ring, nil)
			if err != nil {
				t.Error(err)
			}
			results[i] = res
		})
	}
	wg.Wait()
	for id, v := range final {
		tb.plain[id] = v
	}
	for _, res := range results {
		if res.Failed != 0 || res.Scanned != len(ids) {
			t.Fatalf("results %+v", results)
		}
	}
	if n := results[0].Reencrypted + results[1].Reencrypted; n > tb.oldCount {
		t.Fatalf("re-encrypted %d rows, only %d were under the old key", n, tb.oldCount)
	}
	tb.check(t)
}

func TestRotateStoreErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("database is down")
	for name, tc := range map[string]func(*memStore){
		"list":    func(m *memStore) { m.listErr = boom },
		"replace": func(m *memStore) { m.replaceErr = boom },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tb := setup(t, 5)
			tc(tb.st)
			res, err := Rotate(context.Background(), tb.st, tb.ring, nil)
			if !errors.Is(err, boom) || res.Reencrypted != 0 || res.Failed != 0 {
				t.Fatalf("%+v, %v; want the store error", res, err)
			}
			if !strings.HasPrefix(err.Error(), "keys: ") {
				t.Fatalf("error %q without the package prefix", err)
			}
		})
	}
	tb := setup(t, 5)
	tb.st.listErr = boom
	if _, err := Usage(context.Background(), tb.st, tb.ring); !errors.Is(err, boom) {
		t.Fatalf("Usage: %v", err)
	}
}

func TestRotateCanceled(t *testing.T) {
	t.Parallel()
	tb := setup(t, 50)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	tb.st.beforeReplace = func(string) {
		if n++; n == 3 {
			cancel()
		}
	}
	res, err := Rotate(ctx, tb.st, tb.ring, nil)
	if !errors.Is(err, context.Canceled) || res.Reencrypted != 3 {
		t.Fatalf("%+v, %v", res, err)
	}
	// Resumable: a new run finishes the job.
	tb.st.beforeReplace = nil
	if _, err := Rotate(context.Background(), tb.st, tb.ring, nil); err != nil {
		t.Fatal(err)
	}
	tb.check(t)
}
