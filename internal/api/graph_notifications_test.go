package api_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/api"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/mail/graphmail"
	"github.com/crmsync/crmsync/internal/store"
)

// wakes records the accounts the API woke.
type wakes struct {
	mu  sync.Mutex
	ids []int64
}

func (w *wakes) wake(id int64) { w.mu.Lock(); w.ids = append(w.ids, id); w.mu.Unlock() }

func (w *wakes) take() []int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	ids := w.ids
	w.ids = nil
	return ids
}

// The public notification endpoints: the validation handshake echoes the
// token as text/plain; a notification is believed only with its
// subscription's client state, and then leaves news for the loop and
// wakes it; lifecycle events make the loop renew, recreate or run a
// round; anything else gets the same 202 and changes nothing.
func TestGraphNotificationEndpoints(t *testing.T) {
	t.Parallel()
	onBothDBs(t, func(t *testing.T, opts bundleOpts) {
		b := setup(t, opts)
		w := &wakes{}
		b.srv = api.New(api.Config{Store: b.st, Now: b.clock.Now, Wake: w.wake,
			Logger: slog.New(slog.NewJSONHandler(b.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		ctx := context.Background()
		uid, _ := b.user("ann@acme.test", "member", 0)
		ann := crm.Viewer{OrgID: b.orgID, UserID: uid, Role: crm.RoleMember}
		a, err := b.st.CreateMailAccount(ctx, ann, crm.MailAccount{UserID: uid, Email: "ann@acme.test", Provider: "microsoft",
			Mode: crm.ModeSync, State: crm.StateSynced, CredentialID: "tok"})
		if err != nil {
			t.Fatal(err)
		}
		state := graphmail.NewClientState()
		expires := b.clock.Now().Add(48 * time.Hour)
		put := func(id string) {
			t.Helper()
			if err := b.st.PutMailSubscription(ctx, store.MailSubscription{AccountID: a.ID, SubscriptionID: id,
				ClientStateHash: graphmail.ClientStateHash(state), ExpiresAt: expires}); err != nil {
				t.Fatal(err)
			}
		}
		put("sub-1")
		sub := func() *store.MailSubscription {
			s, err := b.st.MailSubscription(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		news := func() bool {
			n, err := b.st.TakeMailNews(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		post := func(path, body string) *resp {
			t.Helper()
			r := b.do("POST", path, "", raw(body))
			if r.Status != http.StatusAccepted || len(r.Raw) != 0 {
				t.Fatalf("POST %s: %d %q, want 202 and nothing else", path, r.Status, r.Raw)
			}
			return r
		}
		note := func(id, cs, field, value string) string {
			return fmt.Sprintf(`{"value":[{"subscriptionId":%q,"clientState":%q,%q:%q,"tenantId":"t","resource":"Users/x/Messages/y"}]}`, id, cs, field, value)
		}

		// The handshake, on both endpoints, with a token needing decoding.
		for _, path := range []string{api.GraphNotificationsPath, api.GraphLifecyclePath} {
			r := b.do("POST", path+"?validationToken=Validation%3A+Testing+client+%26+reachability", "", nil)
			if r.Status != 200 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain") || string(r.Raw) != "Validation: Testing client & reachability" {
				t.Fatalf("validation on %s: %d %q %q", path, r.Status, r.Header.Get("Content-Type"), r.Raw)
			}
		}
		if r := b.do("POST", api.GraphNotificationsPath+"?validationToken="+strings.Repeat("x", 5000), "", nil); r.Status != 400 {
			t.Errorf("an oversized validation token: %d", r.Status)
		}

		// Forged, unknown, unreadable, oversized: the same 202, nothing done.
		post(api.GraphNotificationsPath, note("sub-1", "not-the-state", "changeType", "created"))
		post(api.GraphNotificationsPath, note("sub-1", "", "changeType", "created"))
		post(api.GraphNotificationsPath, note("sub-2", state, "changeType", "created"))
		post(api.GraphNotificationsPath, `not json`)
		post(api.GraphNotificationsPath, `{"value":[`+strings.Repeat(`{"subscriptionId":"sub-1"},`, 70000)+`{}]}`)
		post(api.GraphLifecyclePath, note("sub-1", "forged", "lifecycleEvent", "subscriptionRemoved"))
		if ids := w.take(); len(ids) != 0 || news() || sub() == nil {
			t.Fatalf("a forged notification did something: woke %v", ids)
		}

		// A genuine change: news for the loop, which is woken (once for a
		// batch).
		post(api.GraphNotificationsPath, fmt.Sprintf(`{"value":[{"subscriptionId":"sub-1","clientState":%q,"changeType":"created"},
			{"subscriptionId":"sub-1","clientState":%q,"changeType":"updated"}]}`, state, state))
		if ids := w.take(); fmt.Sprint(ids) != fmt.Sprint([]int64{a.ID}) || !news() {
			t.Fatalf("a notification woke %v", ids)
		}
		// A change type on the lifecycle endpoint is not a lifecycle event.
		post(api.GraphLifecyclePath, note("sub-1", state, "changeType", "created"))
		if ids := w.take(); len(ids) != 0 {
			t.Fatalf("woke %v", ids)
		}

		// missed: a round.
		post(api.GraphLifecyclePath, note("sub-1", state, "lifecycleEvent", "missed"))
		if ids := w.take(); len(ids) != 1 || !news() {
			t.Fatal("missed did not ask for a round")
		}
		// reauthorizationRequired: due for renewal now.
		post(api.GraphLifecyclePath, note("sub-1", state, "lifecycleEvent", "reauthorizationRequired"))
		if s := sub(); len(w.take()) != 1 || s == nil || !s.ExpiresAt.Equal(b.clock.Now()) {
			t.Fatalf("after reauthorizationRequired: %+v", s)
		}
		// Renewed by the loop; a renewal of another id changes nothing.
		if kept, err := b.st.RenewMailSubscription(ctx, a.ID, "sub-1", expires); err != nil || !kept || !sub().ExpiresAt.Equal(expires) {
			t.Fatalf("renewal: kept %v, %v, %+v", kept, err, sub())
		}
		if kept, err := b.st.RenewMailSubscription(ctx, a.ID, "sub-0", expires.Add(time.Hour)); err != nil || kept || !sub().ExpiresAt.Equal(expires) {
			t.Fatalf("renewal of another subscription: kept %v, %v", kept, err)
		}
		// subscriptionRemoved: forgotten, so that the loop creates another.
		post(api.GraphLifecyclePath, note("sub-1", state, "lifecycleEvent", "subscriptionRemoved"))
		if s := sub(); len(w.take()) != 1 || s != nil {
			t.Fatalf("after subscriptionRemoved: %+v", s)
		}
		// A renewal that raced the removal does not bring it back.
		if kept, err := b.st.RenewMailSubscription(ctx, a.ID, "sub-1", expires.Add(time.Hour)); err != nil || kept || sub() != nil {
			t.Fatalf("a renewal after the removal: kept %v, %v", kept, err)
		}
		// The old subscription's notifications no longer count.
		post(api.GraphNotificationsPath, note("sub-1", state, "changeType", "created"))
		if ids := w.take(); len(ids) != 0 {
			t.Fatalf("a removed subscription woke %v", ids)
		}
		if strings.Contains(b.logs.String(), state) {
			t.Error("the client state is in the logs")
		}
	})
}
