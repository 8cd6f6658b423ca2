package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/store"
)

func init() {
	extraTests["OAuthApps"] = testOAuthApps
	extraTests["OAuthStates"] = testOAuthStates
}

func testOAuthApps(t *testing.T, f Factory) {
	b := setup(t, f)
	other := newOrg(t, b.s, "other")
	if a, err := b.s.OAuthApp(b.ctx, b.org.ID, "microsoft"); err != nil || a != nil {
		t.Fatalf("no app yet: got %+v, %v", a, err)
	}
	app := store.OAuthApp{OrgID: b.org.ID, Provider: "microsoft", ClientID: "c1", Tenant: "organizations",
		LoginURL: "https://login.example", GraphURL: "https://graph.example", CredentialID: "cred-1"}
	if err := b.s.PutOAuthApp(b.ctx, app); err != nil {
		t.Fatal(err)
	}
	app.ClientID, app.Tenant = "c2", "common"
	if err := b.s.PutOAuthApp(b.ctx, app); err != nil {
		t.Fatal(err)
	}
	got, err := b.s.OAuthApp(b.ctx, b.org.ID, "microsoft")
	if err != nil || got == nil || got.ClientID != "c2" || got.Tenant != "common" || got.CredentialID != "cred-1" || got.UpdatedAt.IsZero() {
		t.Fatalf("replaced app: %+v, %v", got, err)
	}
	if a, _ := b.s.OAuthApp(b.ctx, other.org.ID, "microsoft"); a != nil {
		t.Fatalf("another organisation sees the app: %+v", a)
	}
	if err := b.s.DeleteOAuthApp(b.ctx, other.org.ID, "microsoft"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another organisation deleting: %v", err)
	}
	if err := b.s.DeleteOAuthApp(b.ctx, b.org.ID, "microsoft"); err != nil {
		t.Fatal(err)
	}
	if err := b.s.DeleteOAuthApp(b.ctx, b.org.ID, "microsoft"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
}

func testOAuthStates(t *testing.T, f Factory) {
	b := setup(t, f)
	now := time.Date(2030, 1, 2, 9, 0, 0, 0, time.UTC)
	st := store.OAuthState{StateHash: "h1", OrgID: b.org.ID, UserID: b.admin.ID, Provider: "microsoft",
		Services: []string{"mail", "contacts"}, Mode: "sync", Verifier: []byte{0, 1, 2}, ExpiresAt: now.Add(10 * time.Minute)}
	if err := b.s.PutOAuthState(b.ctx, st, now); err != nil {
		t.Fatal(err)
	}
	old := st
	old.StateHash, old.ExpiresAt = "old", now.Add(-time.Minute)
	if err := b.s.PutOAuthState(b.ctx, old, now.Add(-2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// The next start sweeps the expired one.
	next := st
	next.StateHash = "h2"
	if err := b.s.PutOAuthState(b.ctx, next, now); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.TakeOAuthState(b.ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired state is kept: %v", err)
	}
	// Taken once, by one of several racing takers.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []store.OAuthState
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := b.s.TakeOAuthState(b.ctx, "h1")
			if err == nil {
				mu.Lock()
				won = append(won, got)
				mu.Unlock()
			} else if !errors.Is(err, store.ErrNotFound) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if len(won) != 1 {
		t.Fatalf("%d takers got the state, want 1", len(won))
	}
	got := won[0]
	if got.OrgID != st.OrgID || got.UserID != st.UserID || got.Provider != "microsoft" || got.Mode != "sync" ||
		!slices.Equal(got.Services, st.Services) || !slices.Equal(got.Verifier, st.Verifier) || !got.ExpiresAt.Equal(st.ExpiresAt) {
		t.Errorf("taken state %+v, want %+v", got, st)
	}
}
