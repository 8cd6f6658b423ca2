package graphmail_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/mail/graphmail"
	"github.com/crmsync/crmsync/internal/testpeer/graphfake"
)

// endpoint is a subscriber's public HTTPS endpoint: it answers Graph's
// validation handshake (when echo) and records the notifications.
type endpoint struct {
	*httptest.Server
	mu          sync.Mutex
	echo        bool
	validations int
	got         []map[string]any
}

func newEndpoint(t *testing.T) *endpoint {
	e := &endpoint{echo: true}
	e.Server = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		defer e.mu.Unlock()
		if tok := r.URL.Query().Get("validationToken"); tok != "" {
			e.validations++
			if !e.echo {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			w.Header().Set("Content-Type", "text/plain")
			io.WriteString(w, tok)
			return
		}
		var body struct {
			Value []map[string]any `json:"value"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		e.got = append(e.got, body.Value...)
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *endpoint) notifications() []map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]map[string]any(nil), e.got...)
}

// A subscription is created only once Graph validated both endpoints; it
// announces the inbox's new, changed and deleted messages with its client
// state, is renewed by PATCH within the lifetime Graph grants, sends
// lifecycle events, and once deleted (or lapsed) renewing it is Gone.
func TestSubscriptionLifecycle(t *testing.T) {
	ctx := context.Background()
	g := graphfake.NewGraph()
	now := time.Date(2030, 1, 2, 9, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	g.SetClock(func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	e := newEndpoint(t)
	g.Notifier = e.Client()
	m := open(t, g, nil)
	state := graphmail.NewClientState()
	if len(state) > graphmail.MaxClientState || len(state) < 40 {
		t.Fatalf("client state %q", state)
	}
	req := graphmail.Subscribe{NotificationURL: e.URL + "/notify", LifecycleURL: e.URL + "/lifecycle", ClientState: state,
		Expires: now.Add(graphmail.DefaultLifetime)}

	// An endpoint that does not echo the token: refused, nothing created.
	e.echo = false
	if _, err := m.Subscribe(ctx, req); err == nil || len(g.Subscriptions()) != 0 {
		t.Fatalf("subscribed without a validated endpoint: %v, %+v", err, g.Subscriptions())
	}
	e.echo = true
	// Longer than Graph grants: refused.
	long := req
	long.Expires = now.Add(graphfake.DefaultMaxSubscriptionLifetime + time.Hour)
	if _, err := m.Subscribe(ctx, long); err == nil {
		t.Fatal("a lifetime beyond Graph's maximum was granted")
	}

	e.validations = 0
	sub, err := m.Subscribe(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if e.validations != 2 {
		t.Errorf("%d validations, want 2 (notification and lifecycle URLs)", e.validations)
	}
	subs := g.Subscriptions()
	if len(subs) != 1 || subs[0].ID != sub.ID || subs[0].ClientState != state || subs[0].Resource != graphmail.InboxResource ||
		subs[0].LifecycleURL != req.LifecycleURL || !sub.Expires.Equal(req.Expires) {
		t.Fatalf("subscription %+v, fake holds %+v", sub, subs)
	}

	// Changes in the inbox are announced; elsewhere they are not.
	id := g.AddMessage("inbox", raw(1), false)
	g.AddMessage("archive", raw(2), false)
	g.SetRead(id, true)
	g.DeleteMessage(id)
	for _, d := range g.Deliveries() {
		if d.Status != http.StatusAccepted {
			t.Errorf("delivery %+v", d)
		}
	}
	got := e.notifications()
	var kinds []string
	for _, n := range got {
		if n["clientState"] != state || n["subscriptionId"] != sub.ID || !strings.Contains(n["resource"].(string), id) {
			t.Errorf("notification %v", n)
		}
		kinds = append(kinds, n["changeType"].(string))
	}
	slices.Sort(kinds) // delivered concurrently, as Graph does: in any order
	if strings.Join(kinds, ",") != "created,deleted,updated" {
		t.Errorf("notified %v, want created, updated, deleted of the inbox's message only", kinds)
	}

	// Renewal: later, within the maximum.
	mu.Lock()
	now = now.Add(36 * time.Hour)
	mu.Unlock()
	renewed, err := m.Renew(ctx, sub.ID, now.Add(graphmail.DefaultLifetime))
	if err != nil || !renewed.Expires.Equal(now.Add(graphmail.DefaultLifetime)) || renewed.ID != sub.ID {
		t.Fatalf("renew: %+v, %v", renewed, err)
	}
	if _, err := m.Renew(ctx, sub.ID, now.Add(8*24*time.Hour)); err == nil {
		t.Error("renewed beyond Graph's maximum")
	}

	// Lifecycle events reach the lifecycle URL with the client state;
	// reauthorizationRequired holds until a renewal.
	before := len(e.notifications())
	if status, err := g.Lifecycle(sub.ID, "reauthorizationRequired"); err != nil || status != http.StatusAccepted {
		t.Fatalf("lifecycle: %d, %v", status, err)
	}
	if ev := e.notifications()[before:]; len(ev) != 1 || ev[0]["lifecycleEvent"] != "reauthorizationRequired" || ev[0]["clientState"] != state {
		t.Fatalf("lifecycle notification %v", ev)
	}
	if !g.Subscriptions()[0].NeedsReauthorization {
		t.Fatal("not marked for reauthorization")
	}
	if _, err := m.Renew(ctx, sub.ID, now.Add(time.Hour)); err != nil || g.Subscriptions()[0].NeedsReauthorization {
		t.Fatalf("renewing did not reauthorize: %v", err)
	}

	// Deleted: renewing is Gone, deleting again is no error.
	if err := m.Unsubscribe(ctx, sub.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Renew(ctx, sub.ID, now.Add(time.Hour)); connerr.KindOf(err) != connerr.Gone {
		t.Fatalf("renewing a deleted subscription: %v", err)
	}
	if err := m.Unsubscribe(ctx, sub.ID); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}

	// A subscription lapses at its expiry: no more notifications, Gone.
	sub, err = m.Subscribe(ctx, graphmail.Subscribe{NotificationURL: e.URL, ClientState: state, Expires: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	now = now.Add(2 * time.Hour)
	mu.Unlock()
	before = len(e.notifications())
	g.AddMessage("inbox", raw(3), false)
	g.Deliveries()
	if n := len(e.notifications()) - before; n != 0 {
		t.Errorf("%d notifications from a lapsed subscription", n)
	}
	if _, err := m.Renew(ctx, sub.ID, now.Add(time.Hour)); connerr.KindOf(err) != connerr.Gone {
		t.Fatalf("renewing a lapsed subscription: %v", err)
	}
}

// Client states are compared by hash, in constant time; "" never matches.
func TestClientStateHash(t *testing.T) {
	s := graphmail.NewClientState()
	if s == graphmail.NewClientState() {
		t.Fatal("two client states alike")
	}
	h := graphmail.ClientStateHash(s)
	if strings.Contains(h, s) || !graphmail.ClientStateMatches(s, h) || graphmail.ClientStateMatches(s+"x", h) || graphmail.ClientStateMatches("", graphmail.ClientStateHash("")) {
		t.Fatal("client state hash")
	}
}
