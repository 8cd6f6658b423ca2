package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/crmsync/crmsync/internal/store"
)

// txAttempts bounds how often a transaction that lost a race is run: enough
// for crossed updates between a handful of writers to settle, few enough
// that a pathological loop still ends with an error instead of spinning.
const txAttempts = 8

// retryBase is the first pause between attempts; it doubles each time and
// is jittered so that two transactions which deadlocked do not collide again
// in step.
const retryBase = 5 * time.Millisecond

// retry runs attempt until it succeeds, fails for a reason other than a lost
// race, the context ends, or txAttempts are used up.
func (db *DB) retry(ctx context.Context, attempt func() error) error {
	var err error
	pause := retryBase
	for i := 0; i < txAttempts; i++ {
		err = attempt()
		if err == nil || db.d.IsRetryable == nil || !db.d.IsRetryable(err) {
			return err
		}
		// Full jitter: anywhere in [pause/2, pause*3/2).
		d := pause/2 + rand.N(pause)
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(d):
		}
		pause *= 2
	}
	return err
}

// classify turns the database's own errors that a caller can act on into
// the store's: a full disk becomes store.ErrStorageFull, and a reference to
// a record deleted at the same moment (a foreign-key violation that the
// checks made earlier in the transaction could not see coming) becomes a
// *store.FieldError naming the field. Everything else is returned as is.
func (db *DB) classify(err error) error {
	switch {
	case err == nil:
		return nil
	case db.d.IsStorageFull != nil && db.d.IsStorageFull(err):
		return fmt.Errorf("%w: %w", store.ErrStorageFull, err)
	case db.d.IsForeignKey != nil && db.d.IsForeignKey(err):
		field, inUse := "", false
		if db.d.ForeignKey != nil {
			field, inUse = db.d.ForeignKey(err)
		}
		if inUse {
			return fmt.Errorf("%w: %w", store.ErrInUse, err)
		}
		what := strings.TrimSuffix(field, "_id")
		if what == "" || what == field {
			what = "referenced record"
		}
		what = strings.ReplaceAll(what, "_", " ")
		return &store.FieldError{Field: field, Code: "not_found",
			Message: "the " + what + " no longer exists (it was deleted at the same moment); choose another and try again"}
	}
	return err
}

// exec is a single-statement write outside a transaction (query already
// rebound by db.q), with the same retries and classification as tx.
func (db *DB) exec(ctx context.Context, query string, args ...any) (res sql.Result, err error) {
	err = db.classify(db.retry(ctx, func() (err error) {
		res, err = db.w.ExecContext(ctx, query, args...)
		return err
	}))
	return res, err
}
