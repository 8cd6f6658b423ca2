package maintenance

import (
	"context"
	"log/slog"
	"time"

	"github.com/crmsync/crmsync/internal/store"
)

// DefaultTokenIdle is how long a token set may go unused before
// KeepTokensAlive refreshes it. Microsoft lets refresh tokens lapse after
// a period of inactivity (reference §2.4); a week is well inside it.
const DefaultTokenIdle = 7 * 24 * time.Hour

// keepAliveBatch caps the token sets refreshed in one pass; the rest wait
// for the next.
const keepAliveBatch = 100

// KeepAlive refreshes the token sets of mailboxes signed in with a
// provider that nothing used for Idle: a mailbox whose sync stopped (a
// paused account, a fault that is not the token's) would otherwise come
// back to a refresh token the provider let lapse, and its user would have
// to sign in again.
type KeepAlive struct {
	// Idle is how long a token set may go unwritten (default
	// DefaultTokenIdle): every refresh, by a sync loop or here, writes it.
	Idle time.Duration
	// Refresh redeems a token set's refresh token now (oauth.Service.Refresh).
	Refresh func(ctx context.Context, orgID int64, provider, credentialID string) error
}

// KeepAliveStore lists the idle token sets.
type KeepAliveStore interface {
	IdleTokenSets(ctx context.Context, cutoff time.Time, limit int) ([]store.TokenSetRef, error)
}

// KeepTokensAlive refreshes up to one batch of token sets idle at now and
// returns how many it refreshed. A refusal is logged and the next set
// tried: a revoked sign-in is the account's sync loop's to report.
func KeepTokensAlive(ctx context.Context, st KeepAliveStore, k KeepAlive, now time.Time, log *slog.Logger) (int, error) {
	idle := k.Idle
	if idle <= 0 {
		idle = DefaultTokenIdle
	}
	sets, err := st.IdleTokenSets(ctx, now.Add(-idle), keepAliveBatch)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, t := range sets {
		if err := k.Refresh(ctx, t.OrgID, t.Provider, t.CredentialID); err != nil {
			if ctx.Err() != nil {
				return n, ctx.Err()
			}
			log.LogAttrs(ctx, slog.LevelWarn, "refreshing an idle token set failed", slog.Int64("org", t.OrgID),
				slog.String("provider", t.Provider), slog.String("credential", t.CredentialID), slog.Any("err", err))
			continue
		}
		n++
	}
	if n > 0 {
		log.LogAttrs(ctx, slog.LevelInfo, "refreshed idle token sets", slog.Int("count", n))
	}
	return n, nil
}
