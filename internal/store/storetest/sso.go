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
	extraTests["SSOProviders"] = testSSOProviders
	extraTests["SSOStates"] = testSSOStates
}

func testSSOProviders(t *testing.T, f Factory) {
	b := setup(t, f)
	other := newOrg(t, b.s, "other")
	if p, err := b.s.SSOProvider(b.ctx, b.org.ID); err != nil || p != nil {
		t.Fatalf("no provider yet: got %+v, %v", p, err)
	}
	if orgs, ps, err := b.s.SSOSignInChoices(b.ctx, 5); err != nil || orgs != 2 || len(ps) != 0 {
		t.Fatalf("choices before any provider: %d orgs, %+v, %v", orgs, ps, err)
	}
	p := store.SSOProvider{OrgID: b.org.ID, Name: "Okta", Issuer: "https://idp.example", ClientID: "c1", CredentialID: "sso-1"}
	if err := b.s.PutSSOProvider(b.ctx, p); err != nil {
		t.Fatal(err)
	}
	p.Name, p.ClientID = "Keycloak", "c2"
	if err := b.s.PutSSOProvider(b.ctx, p); err != nil {
		t.Fatal(err)
	}
	got, err := b.s.SSOProvider(b.ctx, b.org.ID)
	if err != nil || got == nil || got.Name != "Keycloak" || got.ClientID != "c2" || got.Issuer != p.Issuer ||
		got.CredentialID != "sso-1" || got.UpdatedAt.IsZero() {
		t.Fatalf("replaced provider: %+v, %v", got, err)
	}
	if q, _ := b.s.SSOProvider(b.ctx, other.org.ID); q != nil {
		t.Fatalf("another organisation sees the provider: %+v", q)
	}
	o := store.SSOProvider{OrgID: other.org.ID, Name: "Other", Issuer: "https://other.example", ClientID: "o", CredentialID: "sso-2"}
	if err := b.s.PutSSOProvider(b.ctx, o); err != nil {
		t.Fatal(err)
	}
	orgs, ps, err := b.s.SSOSignInChoices(b.ctx, 1)
	if err != nil || orgs != 2 || len(ps) != 1 || ps[0].OrgID != min(b.org.ID, other.org.ID) {
		t.Fatalf("choices limited to 1: %d orgs, %+v, %v", orgs, ps, err)
	}
	if err := b.s.DeleteSSOProvider(b.ctx, b.org.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.s.DeleteSSOProvider(b.ctx, b.org.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("deleting twice: %v", err)
	}
	if q, _ := b.s.SSOProvider(b.ctx, other.org.ID); q == nil || q.Name != "Other" {
		t.Fatalf("deleting one organisation's provider touched another's: %+v", q)
	}
}

func testSSOStates(t *testing.T, f Factory) {
	b := setup(t, f)
	now := time.Date(2030, 1, 2, 9, 0, 0, 0, time.UTC)
	st := store.SSOState{StateHash: "s1", OrgID: b.org.ID, Verifier: []byte{9, 8, 7}, NonceHash: "n1", Next: "/records",
		ExpiresAt: now.Add(10 * time.Minute)}
	if err := b.s.PutSSOState(b.ctx, st, now); err != nil {
		t.Fatal(err)
	}
	old := st
	old.StateHash, old.ExpiresAt = "old", now.Add(-time.Minute)
	if err := b.s.PutSSOState(b.ctx, old, now.Add(-2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	next := st
	next.StateHash = "s2"
	if err := b.s.PutSSOState(b.ctx, next, now); err != nil {
		t.Fatal(err)
	}
	if _, err := b.s.TakeSSOState(b.ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an expired state is kept: %v", err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var won []store.SSOState
	for range 4 {
		wg.Go(func() {
			got, err := b.s.TakeSSOState(b.ctx, "s1")
			if err == nil {
				mu.Lock()
				won = append(won, got)
				mu.Unlock()
			} else if !errors.Is(err, store.ErrNotFound) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(won) != 1 {
		t.Fatalf("%d takers got the state, want 1", len(won))
	}
	got := won[0]
	if got.OrgID != st.OrgID || got.NonceHash != "n1" || got.Next != "/records" || !slices.Equal(got.Verifier, st.Verifier) ||
		!got.ExpiresAt.Equal(st.ExpiresAt) {
		t.Errorf("taken state %+v, want %+v", got, st)
	}
}
