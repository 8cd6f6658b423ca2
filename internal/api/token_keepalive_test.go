package api_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/connerr"
	"github.com/crmsync/crmsync/internal/maintenance"
	"github.com/crmsync/crmsync/internal/testpeer/graphfake"
)

// A token set nothing used for the keep-alive's while is refreshed (the
// provider sees it used, its refresh token rotates and is stored); one
// used recently is left alone; a sign-in the provider revoked is logged
// and left for the account's loop to report.
func TestIdleTokenSetsKeptAlive(t *testing.T) {
	onBothDBs(t, func(t *testing.T, opts bundleOpts) {
		o := setupOAuth(t, opts)
		o.registerApp("")
		o.fake.Identity.AddUser(graphfake.User{Email: "ann@acme.test"})
		r := o.callback(o.signIn("mail"), "application/json")
		if r.Status != 200 {
			t.Fatalf("callback: %d %s", r.Status, r.Raw)
		}
		cred := r.Str("credential_id")
		ctx := context.Background()
		ciphertext := func() []byte {
			c, err := o.st.GetCredential(ctx, o.orgID, cred)
			if err != nil {
				t.Fatal(err)
			}
			return c.Ciphertext
		}
		var logs bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		k := maintenance.KeepAlive{Idle: 7 * 24 * time.Hour, Refresh: o.svc.Refresh}
		refreshes := o.fake.Identity.Grants("refresh_token")
		before := ciphertext()

		// Just signed in: nothing to do.
		if n, err := maintenance.KeepTokensAlive(ctx, o.st, k, time.Now(), log); err != nil || n != 0 {
			t.Fatalf("a fresh token set: %d refreshed, %v", n, err)
		}
		// Eight days later: refreshed, rotated, stored.
		later := time.Now().Add(8 * 24 * time.Hour)
		if n, err := maintenance.KeepTokensAlive(ctx, o.st, k, later, log); err != nil || n != 1 {
			t.Fatalf("an idle token set: %d refreshed, %v", n, err)
		}
		if got := o.fake.Identity.Grants("refresh_token"); got != refreshes+1 {
			t.Fatalf("%d refreshes at the provider, want %d", got, refreshes+1)
		}
		if bytes.Equal(ciphertext(), before) {
			t.Fatal("the refreshed token set was not stored")
		}
		// Refreshed: not idle for another week.
		if n, err := maintenance.KeepTokensAlive(ctx, o.st, k, time.Now().Add(6*24*time.Hour), log); err != nil || n != 0 {
			t.Fatalf("after the refresh: %d refreshed, %v", n, err)
		}

		// Revoked at the provider: logged, no error, nothing stored.
		o.fake.Identity.Revoke("ann@acme.test")
		stored := ciphertext()
		if n, err := maintenance.KeepTokensAlive(ctx, o.st, k, time.Now().Add(8*24*time.Hour), log); err != nil || n != 0 {
			t.Fatalf("a revoked token set: %d refreshed, %v", n, err)
		}
		if !bytes.Contains(logs.Bytes(), []byte("refreshing an idle token set failed")) || !bytes.Equal(ciphertext(), stored) {
			t.Errorf("a refused refresh: logs %s", logs.String())
		}
		// The refusal is the provider's sign-in error, as the loops see it.
		if err := o.svc.Refresh(ctx, o.orgID, "microsoft", cred); connerr.KindOf(err) != connerr.Auth {
			t.Errorf("refresh of a revoked set: %v", err)
		}
	})
}
