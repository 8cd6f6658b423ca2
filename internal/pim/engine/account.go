package engine

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/crmsync/crmsync/internal/crm"
	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/store"
)

// Target is a collection an account syncs and the connector that reaches
// it.
type Target struct {
	Collection store.PIMCollection // Href, Kind, DisplayName
	Remote     pim.Remote
	// Warning, with no Remote, is a chosen collection that cannot be
	// synced any more, in words for the user (Account.Warn says it).
	Warning string
}

// Account is one pass over every collection of an account: what they
// share.
type Account struct {
	Port      Port
	AccountID int64
	Options   crm.PIMOptions
	Targets   []Target
	// CategoryBudget, Logger, Now, Progress and Event: as in Config.
	CategoryBudget time.Duration
	Logger         *slog.Logger
	Now            func() time.Time
	Progress       func(ctx context.Context, done, total int64)
	Event          func(ctx context.Context, kind, msg string)
	// Warn, when set, is told the Warning of each target that cannot be
	// synced (the loop records it once in the account's history).
	Warn func(ctx context.Context, msg string)
	// FirstSync, when set, is called before the pass over a collection
	// that has no cursor yet (its first sync, or one started again).
	FirstSync func()
}

// SyncAccount runs a pass over each of the account's collections, in turn,
// and adds up what they did.
func SyncAccount(ctx context.Context, a Account) (res Result, err error) {
	policy, err := pim.ParsePolicy(a.Options.ConflictPolicy)
	if err != nil {
		policy = pim.NewestWins
	}
	for _, t := range a.Targets {
		if t.Remote == nil {
			if t.Warning != "" && a.Warn != nil {
				a.Warn(ctx, t.Warning)
			}
			continue
		}
		c := t.Collection
		// The stored cursor is newer than the one the targets were opened
		// with: keep it (PutPIMCollection keeps a cursor not given).
		c.AccountID, c.SyncToken, c.CTag = a.AccountID, "", ""
		coll, err := a.Port.PutPIMCollection(ctx, c)
		if err != nil {
			return res, err
		}
		if coll.SyncToken == "" && a.FirstSync != nil {
			a.FirstSync()
		}
		r, err := Run(ctx, Config{Port: a.Port, Remote: t.Remote, Collection: coll, Policy: policy,
			ImportCategories: a.Options.ImportCategories, EventCategories: a.Options.EventCategories,
			CategoryBudget: a.CategoryBudget, Logger: a.Logger, Now: a.Now, Progress: a.Progress, Event: a.Event})
		res.ItemErrors = append(res.ItemErrors, r.ItemErrors...)
		res.ItemWarnings = append(res.ItemWarnings, r.ItemWarnings...)
		if err != nil {
			return res, fmt.Errorf("%s: %w", coll.DisplayName, err)
		}
		res.Stats = res.Stats.Add(r.Stats)
		res.Backlog += r.Backlog
	}
	return res, nil
}
