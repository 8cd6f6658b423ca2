// Package maintenance is what one process, the leader, does now and then
// for every organisation: it deletes what has outlived its retention —
// tokens revoked or expired a while ago, and disconnected mail accounts
// whose retention ended, with their messages and links (DESIGN §8).
// Package syncer runs Pass under the maintenance lease.
package maintenance

import (
	"context"
	"log/slog"
	"time"

	"github.com/crmsync/crmsync/internal/store"
)

// TokenRetention is how long a revoked or expired token is kept before
// maintenance deletes it, so that a "token revoked" answer and the token
// list stay explainable for a while.
const TokenRetention = 24 * time.Hour

// Pass makes one maintenance pass under the fence f: it deletes the
// tokens revoked or expired more than TokenRetention before now, and the
// mail accounts whose retention after a disconnect has ended. Every
// write carries f, so a process that lost the lease meanwhile changes
// nothing.
func Pass(ctx context.Context, st Store, f store.Fence, now time.Time, log *slog.Logger) error {
	n, err := st.PurgeTokens(ctx, f, now.Add(-TokenRetention))
	if err != nil {
		return err
	}
	// Disconnected mailboxes whose retention ended go for good, with their
	// messages and links (DESIGN §8).
	accounts, err := st.PurgeExpiredAccounts(ctx, f, now)
	if err != nil {
		return err
	}
	level := slog.LevelDebug
	if n > 0 || accounts > 0 {
		level = slog.LevelInfo
	}
	log.LogAttrs(ctx, level, "maintenance pass done", slog.Int64("tokens_purged", n), slog.Int("mail_accounts_purged", accounts),
		slog.Int64("lease_generation", f.Generation))
	return nil
}

// Store is what Pass writes.
type Store interface {
	PurgeTokens(ctx context.Context, f store.Fence, cutoff time.Time) (int64, error)
	PurgeExpiredAccounts(ctx context.Context, f store.Fence, now time.Time) (int, error)
}
