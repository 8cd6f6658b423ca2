// Package engine is the PIM sync pass (DESIGN §9): it syncs one collection
// of a PIM account — an address book, a calendar's events, a task list —
// with the owner's CRM records, once, and says what it did.
//
// It decides with package pim's pure functions (the three-way merge, the
// categories, the stamps; the steps are those of pim's doc, "A pass, per
// item"), reaches the provider through a pim.Remote, and the CRM through a
// Port. It knows no protocol and no loop: errors it must tell apart come
// as pim's sentinels (ErrTokenInvalid, ErrPrecondition, ErrExists,
// ErrGone, ErrRefused) or connerr kinds, and everything else it needs —
// the account's choices, a logger, a clock, where to report progress — is
// in its Config. The sync loop (package syncer) schedules passes, holds
// the lease and records the account's state from the Result.
package engine

import (
	"context"
	"log/slog"
	"time"

	"github.com/crmsync/crmsync/internal/pim"
	"github.com/crmsync/crmsync/internal/store"
)

// DefaultCategoryBudget is Config.CategoryBudget when none is given.
const DefaultCategoryBudget = 10 * time.Second

// Config is one pass over one collection.
type Config struct {
	Port   Port
	Remote pim.Remote
	// Collection is the collection as stored (ID, AccountID, Kind, its
	// cursor): the pass reads its mappings and moves its cursor.
	Collection store.PIMCollection
	Policy     pim.Policy
	// ImportCategories selects the remote items (and their categories)
	// that come into the CRM; empty means all.
	ImportCategories []string
	// EventCategories, for a collection of events, limits the records
	// synced both ways to those with one of these categories; empty means
	// all.
	EventCategories []string
	// CategoryBudget bounds the time the pass spends writing fixed
	// categories alone; the rest is left for the next pass (Result.Backlog).
	CategoryBudget time.Duration
	Logger         *slog.Logger
	// Now is the clock of the dates the pass writes (tombstones, replaced
	// values); nil is time.Now.
	Now func() time.Time
	// Progress, when set, is told the items done and found to do as the
	// pass goes (added to what it was told before).
	Progress func(ctx context.Context, done, total int64)
	// Event, when set, records an event in the account's history (a sync
	// token the server forgot).
	Event func(ctx context.Context, kind, msg string)
}

// Result is what a pass did.
type Result struct {
	Stats Stats
	// Backlog counts the records whose fixed categories are left for the
	// next pass (see CategoryBudget): the loop runs one again at once.
	Backlog int
	// ItemErrors are the records that could not be written to the server
	// and stay unmapped, in words for the account's status.
	ItemErrors []string
	// ItemWarnings are the items stored without some of their values (cut
	// or dropped by the CRM's rules), in words; each is also an
	// "item_warning" event of the account's history (the first ones).
	ItemWarnings []string
}

// Run syncs c.Collection once. An error fails the pass (the connection,
// the database, the lease); a fault of one item does not: it is recorded
// on its mapping, counted in Stats.Failed and skipped.
func Run(ctx context.Context, c Config) (Result, error) {
	if c.CategoryBudget <= 0 {
		c.CategoryBudget = DefaultCategoryBudget
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	kind := pim.CollectionKind(c.Collection.Kind)
	p := &collectionPass{cfg: c, coll: c.Collection, remote: c.Remote, port: c.Port, side: newSide(kind, c.Port, c.Now),
		policy: c.Policy, importCats: c.ImportCategories}
	if kind == pim.Events {
		p.only = c.EventCategories
	}
	err := p.run(ctx)
	return Result{Stats: p.stats, Backlog: p.backlog, ItemErrors: p.itemErrors, ItemWarnings: p.warnings}, err
}

func (p *collectionPass) progress(ctx context.Context, done, total int64) {
	if p.cfg.Progress != nil {
		p.cfg.Progress(ctx, done, total)
	}
}

func (p *collectionPass) event(ctx context.Context, kind, msg string) {
	if p.cfg.Event != nil {
		p.cfg.Event(ctx, kind, msg)
	}
}
