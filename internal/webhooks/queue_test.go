package webhooks_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/netguard"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/sqlstore"
	"github.com/crmsync/crmsync/internal/store/storetest"
	"github.com/crmsync/crmsync/internal/webhooks"
)

// rig is one organisation on a fresh database with River's tables, a
// mailbox whose state changes make events, and the endpoints' service.
type rig struct {
	db      *sqlstore.DB
	reopen  func(testing.TB) *sqlstore.DB
	org     crm.Org
	av      crm.Viewer
	kr      *secret.Keyring
	svc     *webhooks.Service
	account crm.MailAccount
}

var loopback = netguard.MustParse("127.0.0.0/8,::1")

func newRig(t *testing.T, f storetest.Factory) *rig {
	t.Helper()
	ctx := context.Background()
	db, reopen := f(t)
	if _, err := webhooks.Migrate(ctx, db.Writers(), db.Dialect()); err != nil {
		t.Fatal(err)
	}
	if err := webhooks.CheckSchema(ctx, db.Writers(), db.Dialect()); err != nil {
		t.Fatal(err)
	}
	_, prefix, hash := auth.NewToken()
	org, admin, _, err := db.CreateOrg(ctx, store.CreateOrgParams{Name: "acme", AdminEmail: "admin@acme.example", AdminName: "Admin",
		TokenName: "init", TokenHash: hash, TokenPrefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	kr, err := secret.NewKeyring(secret.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	av := crm.Viewer{OrgID: org.ID, UserID: admin.ID, Role: crm.RoleAdmin}
	a, err := db.CreateMailAccount(ctx, av, crm.MailAccount{UserID: admin.ID, Email: "admin@acme.example", Provider: "imap", Mode: crm.ModeSync,
		State: crm.StateConnecting, Settings: crm.MailSettings{IMAP: &crm.ServerSettings{Host: "imap.acme.example", Port: 993, Security: "tls", Username: "admin"}}})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{db: db, reopen: reopen, org: org, av: av, kr: kr, account: a,
		svc: &webhooks.Service{Store: db, Keys: kr, Guard: loopback}}
}

// fast is a schedule for tests: the same shape as the default, in
// milliseconds.
var fast = webhooks.Schedule{Attempts: 6, Base: 40 * time.Millisecond, Max: 200 * time.Millisecond, Jitter: 0.2}

// queue runs a queue on db (attached to it) until the test ends.
func (r *rig) queue(t *testing.T, db *sqlstore.DB, guard *netguard.Guard, start bool) *webhooks.Queue {
	t.Helper()
	q, err := webhooks.NewQueue(webhooks.QueueConfig{Pool: db.Writers(), Dialect: db.Dialect(), Store: db, Keys: r.kr, Guard: guard,
		Schedule: fast, AttemptTimeout: time.Second, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	db.SetWebhookQueue(q.Enqueue)
	if start {
		if err := q.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			q.Stop(ctx)
		})
	}
	return q
}

// change makes an account.state_changed event (each call another state).
func (r *rig) change(t *testing.T, db *sqlstore.DB, state crm.AccountState, code string) {
	t.Helper()
	if _, err := db.UpdateMailAccount(context.Background(), r.av, r.account.ID, func(a *crm.MailAccount) error {
		a.State, a.ErrorCode = state, code
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// hit is a request a receiver got.
type hit struct {
	header http.Header
	body   []byte
	at     time.Time
}

// receiver answers each request with answer(n) (n from 1) and records it.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	hits []hit
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.hits = append(rc.hits, hit{header: r.Header.Clone(), body: b, at: time.Now()})
		n := len(rc.hits)
		rc.mu.Unlock()
		answer(n, w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) got() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.hits...)
}

func (r *rig) endpoint(t *testing.T, url string, events ...string) webhooks.Endpoint {
	t.Helper()
	e, err := r.svc.Create(context.Background(), r.org.ID, webhooks.Input{URL: &url, Events: &events})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// waitDelivery waits until the endpoint's newest delivery satisfies ok.
func (r *rig) waitDelivery(t *testing.T, endpointID int64, what string, ok func(webhooks.Delivery) bool) webhooks.Delivery {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last []webhooks.Delivery
	for time.Now().Before(deadline) {
		var err error
		last, err = r.svc.Deliveries(context.Background(), r.org.ID, endpointID, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(last) > 0 && ok(last[0]) {
			return last[0]
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no delivery %s within 30 s; log: %+v", what, last)
	return webhooks.Delivery{}
}

func TestSignedDelivery(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		r := newRig(t, f)
		rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
		e := r.endpoint(t, rc.URL+"/hooks", store.EventAccountStateChanged)
		if !strings.HasPrefix(e.Secret, "whsec_") {
			t.Fatalf("the generated secret is not shown once: %+v", e)
		}
		if again, _ := r.svc.Get(context.Background(), r.org.ID, e.ID); again.Secret != "" {
			t.Fatal("the secret is shown again")
		}
		r.queue(t, r.db, loopback, true)
		r.change(t, r.db, crm.StateAuthFailed, "auth_failed")
		d := r.waitDelivery(t, e.ID, "delivered", func(d webhooks.Delivery) bool { return d.State == store.DeliveryDelivered })
		hits := rc.got()
		if len(hits) != 1 || d.Attempts != 1 || d.LastStatus != 204 {
			t.Fatalf("hits %d, delivery %+v", len(hits), d)
		}
		h := hits[0]
		if err := webhooks.Verify([]byte(e.Secret), h.header.Get(webhooks.HeaderSignature), h.body, time.Now(), 5*time.Minute); err != nil {
			t.Fatalf("the receiver cannot verify the signature %q: %v", h.header.Get(webhooks.HeaderSignature), err)
		}
		if err := webhooks.Verify([]byte("another secret of some length"), h.header.Get(webhooks.HeaderSignature), h.body, time.Now(), 0); !errors.Is(err, webhooks.ErrBadSignature) {
			t.Fatalf("another secret verifies: %v", err)
		}
		tampered := append([]byte(nil), h.body...)
		tampered[len(tampered)-2] ^= 1
		if err := webhooks.Verify([]byte(e.Secret), h.header.Get(webhooks.HeaderSignature), tampered, time.Now(), 0); err == nil {
			t.Fatal("a changed body verifies")
		}
		var ev struct {
			ID   string         `json:"id"`
			Type string         `json:"type"`
			Data map[string]any `json:"data"`
		}
		if err := json.Unmarshal(h.body, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.ID != h.header.Get(webhooks.HeaderEventID) || ev.ID != d.EventID || ev.Type != store.EventAccountStateChanged ||
			h.header.Get(webhooks.HeaderEventType) != ev.Type || ev.Data["error_code"] != "auth_failed" || h.header.Get("Content-Type") != "application/json" {
			t.Fatalf("headers %v, event %+v, delivery %+v", h.header, ev, d)
		}
	})
}

func TestRetriesUntilDelivered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		r := newRig(t, f)
		// Refuses twice, then does not answer in time, then answers slowly
		// but in time.
		rc := newReceiver(t, func(n int, w http.ResponseWriter, req *http.Request) {
			switch n {
			case 1:
				http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
			case 2:
				http.Error(w, "oops", http.StatusInternalServerError)
			case 3:
				select {
				case <-time.After(5 * time.Second):
				case <-req.Context().Done():
				}
			default:
				time.Sleep(300 * time.Millisecond)
				w.WriteHeader(http.StatusOK)
			}
		})
		e := r.endpoint(t, rc.URL, store.EventAccountStateChanged)
		r.queue(t, r.db, loopback, true)
		r.change(t, r.db, crm.StateAuthFailed, "auth_failed")
		d := r.waitDelivery(t, e.ID, "delivered", func(d webhooks.Delivery) bool { return d.State == store.DeliveryDelivered })
		hits := rc.got()
		// 4 attempts; one more if a slow answer missed the timeout on a
		// loaded machine.
		if len(hits) < 4 || d.Attempts != len(hits) || d.LastStatus != 200 {
			t.Fatalf("%d requests, delivery %+v; want 4 attempts, each counted", len(hits), d)
		}
		for i, h := range hits {
			if id := h.header.Get(webhooks.HeaderEventID); id != d.EventID {
				t.Fatalf("attempt %d carries event id %q, want %q on every attempt", i+1, id, d.EventID)
			}
			if err := webhooks.Verify([]byte(e.Secret), h.header.Get(webhooks.HeaderSignature), h.body, time.Now(), time.Minute); err != nil {
				t.Fatalf("attempt %d: %v", i+1, err)
			}
			if i > 0 && string(h.body) != string(hits[0].body) {
				t.Fatalf("attempt %d sent another body", i+1)
			}
		}
		// Backoff: each pause at least the schedule's, less its jitter.
		for i := 1; i < len(hits); i++ {
			min := time.Duration(float64(fast.Base) * 0.8)
			if gap := hits[i].at.Sub(hits[i-1].at); gap < min {
				t.Fatalf("attempt %d came %v after the previous, before the backoff", i+1, gap)
			}
		}
	})
}

func TestGivesUpThenSendAgain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		r := newRig(t, f)
		var healthy sync.WaitGroup
		healthy.Add(1)
		var mu sync.Mutex
		up := false
		rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			if up {
				w.WriteHeader(http.StatusAccepted)
				return
			}
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, strings.Repeat("é", 2000)) // longer than the excerpt kept
		})
		e := r.endpoint(t, rc.URL, store.EventAccountStateChanged)
		r.queue(t, r.db, loopback, true)
		r.change(t, r.db, crm.StateAuthFailed, "auth_failed")
		d := r.waitDelivery(t, e.ID, "failed", func(d webhooks.Delivery) bool { return d.State == store.DeliveryFailed })
		if d.Attempts != fast.Attempts || len(rc.got()) != fast.Attempts || d.LastStatus != http.StatusBadGateway ||
			len(d.LastResponse) > webhooks.ExcerptBytes || !strings.HasPrefix(d.LastResponse, "éé") || strings.ContainsRune(d.LastResponse, '\uFFFD') ||
			!strings.Contains(d.LastError, "502") || d.NextAttemptAt != nil {
			t.Fatalf("after %d requests: %+v", len(rc.got()), d)
		}
		time.Sleep(300 * time.Millisecond)
		if n := len(rc.got()); n != fast.Attempts {
			t.Fatalf("%d requests after giving up", n)
		}
		mu.Lock()
		up = true
		mu.Unlock()
		again, err := r.svc.Retry(context.Background(), r.org.ID, e.ID, d.ID)
		if err != nil || again.State != store.DeliveryPending || again.Attempts != 0 {
			t.Fatalf("send again = %+v, %v", again, err)
		}
		if _, err := r.svc.Retry(context.Background(), r.org.ID, e.ID, d.ID); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("send again while pending: %v", err)
		}
		done := r.waitDelivery(t, e.ID, "delivered again", func(d webhooks.Delivery) bool { return d.State == store.DeliveryDelivered })
		hits := rc.got()
		if done.ID != d.ID || done.Attempts != 1 || hits[len(hits)-1].header.Get(webhooks.HeaderEventID) != d.EventID {
			t.Fatalf("sent again: %+v (event id %q)", done, hits[len(hits)-1].header.Get(webhooks.HeaderEventID))
		}
	})
}

// An event recorded before a crash (its job inserted, never worked) is
// delivered by another process's queue; a change rolled back sends none.
func TestEventSurvivesCrash(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		r := newRig(t, f)
		rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
		e := r.endpoint(t, rc.URL, store.EventAccountStateChanged)
		r.queue(t, r.db, loopback, false) // attached, never started: the process dies
		r.change(t, r.db, crm.StateAuthFailed, "auth_failed")

		// A change that fails after its event was recorded: the mailbox
		// takes another mailbox's address (a unique violation).
		ctx := context.Background()
		other, err := r.db.CreateMailAccount(ctx, r.av, crm.MailAccount{UserID: r.av.UserID, Email: "other@acme.example", Provider: "imap", Mode: crm.ModeSync,
			State: crm.StateConnecting, Settings: crm.MailSettings{IMAP: &crm.ServerSettings{Host: "imap.acme.example", Port: 993, Security: "tls", Username: "o"}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.db.UpdateMailAccount(ctx, r.av, other.ID, func(a *crm.MailAccount) error {
			a.Email, a.State, a.ErrorCode = "admin@acme.example", crm.StateAuthFailed, "auth_failed"
			return nil
		}); err == nil {
			t.Fatal("two mailboxes of one user share an address")
		}
		if l, _ := r.svc.Deliveries(ctx, r.org.ID, e.ID, 0, 10); len(l) != 1 {
			t.Fatalf("deliveries = %+v, want only the committed change's", l)
		}
		time.Sleep(200 * time.Millisecond)
		if n := len(rc.got()); n != 0 {
			t.Fatalf("%d requests without a running queue", n)
		}

		// Another process starts.
		db2 := r.reopen(t)
		r.queue(t, db2, loopback, true)
		d := r.waitDelivery(t, e.ID, "delivered after the restart", func(d webhooks.Delivery) bool { return d.State == store.DeliveryDelivered })
		time.Sleep(300 * time.Millisecond)
		hits := rc.got()
		if len(hits) != 1 || hits[0].header.Get(webhooks.HeaderEventID) != d.EventID {
			t.Fatalf("%d requests (want the one committed event once)", len(hits))
		}
	})
}

func TestPrivateAddressesRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, f storetest.Factory) {
		r := newRig(t, f)
		ctx := context.Background()
		strict := &webhooks.Service{Store: r.db, Keys: r.kr} // no --private-hosts
		events := []string{store.EventMessageStored}
		for _, u := range []string{"http://10.0.0.5/hook", "https://127.0.0.1:8443/", "https://[::1]/", "https://169.254.169.254/latest", "http://localhost/"} {
			_, err := strict.Create(ctx, r.org.ID, webhooks.Input{URL: &u, Events: &events})
			var fe *store.FieldError
			if !errors.As(err, &fe) || fe.Field != "url" || fe.Code != "not_allowed" {
				t.Fatalf("%s: %v, want a not_allowed refusal of url", u, err)
			}
		}
		for _, u := range []string{"ftp://example.com/", "https://user:pw@example.com/", "not a url"} {
			if _, err := strict.Create(ctx, r.org.ID, webhooks.Input{URL: &u, Events: &events}); err == nil {
				t.Fatalf("%s accepted", u)
			}
		}
		// Allowed when registered, refused when sent (the operator took
		// the allowance back): the guard decides at every connection.
		rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
		e := r.endpoint(t, rc.URL, store.EventAccountStateChanged)
		r.queue(t, r.db, nil, true)
		r.change(t, r.db, crm.StateAuthFailed, "auth_failed")
		d := r.waitDelivery(t, e.ID, "refused", func(d webhooks.Delivery) bool { return d.Attempts > 0 })
		if !strings.Contains(d.LastError, "does not connect") || d.LastStatus != 0 || len(rc.got()) != 0 {
			t.Fatalf("delivery %+v, %d requests", d, len(rc.got()))
		}
	})
}
