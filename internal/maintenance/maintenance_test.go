package maintenance_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/crmsync/crmsync/internal/auth"
	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/lease"
	"github.com/crmsync/crmsync/internal/maintenance"
	"github.com/crmsync/crmsync/internal/store"
	"github.com/crmsync/crmsync/internal/store/sqlstore"
	"github.com/crmsync/crmsync/internal/store/storetest"
)

func countTokens(t *testing.T, db *sqlstore.DB) int {
	t.Helper()
	var n int
	if err := db.Readers().QueryRow(`SELECT COUNT(*) FROM api_tokens`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPass(t *testing.T) {
	for name, open := range map[string]storetest.Factory{"sqlite": storetest.SQLite, "postgres": storetest.Postgres} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, _ := open(t)
			_, prefix, hash := auth.NewToken()
			org, admin, _, err := db.CreateOrg(ctx, store.CreateOrgParams{Name: "Acme", AdminEmail: "admin@acme.example",
				AdminName: "Admin", TokenName: "init", TokenHash: hash, TokenPrefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			revoke := func(at time.Time) {
				_, prefix, hash := auth.NewToken()
				tok, err := db.CreateToken(ctx, store.TokenParams{OrgID: org.ID, UserID: admin.ID, Name: "t", Kind: crm.TokenAPI,
					Hash: hash, Prefix: prefix, CreatedAt: at.Add(-time.Hour)})
				if err != nil {
					t.Fatal(err)
				}
				if err := db.RevokeToken(ctx, org.ID, admin.ID, tok.ID, at); err != nil {
					t.Fatal(err)
				}
			}
			revoke(now.Add(-48 * time.Hour)) // past retention: purged
			revoke(now.Add(-time.Hour))      // within retention: kept
			if got := countTokens(t, db); got != 3 {
				t.Fatalf("%d tokens before maintenance, want 3", got)
			}

			err = lease.Hold(ctx, db, "maintenance", "leader", "test", lease.Config{}, func(ctx context.Context, f store.Fence) error {
				return maintenance.Pass(ctx, db, f, now, slog.New(slog.DiscardHandler))
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := countTokens(t, db); got != 2 {
				t.Fatalf("%d tokens after maintenance, want 2 (the active one and the recently revoked one)", got)
			}

			// A stale fence (another generation) writes nothing.
			revoke(now.Add(-48 * time.Hour))
			err = maintenance.Pass(ctx, db, store.Fence{Kind: "maintenance", Key: "leader", Owner: "test", Generation: 1 << 40}, now, slog.New(slog.DiscardHandler))
			if err == nil {
				t.Fatal("a pass with a stale fence succeeded")
			}
			if got := countTokens(t, db); got != 3 {
				t.Fatalf("%d tokens after a fenced-out pass, want 3", got)
			}
		})
	}
}
