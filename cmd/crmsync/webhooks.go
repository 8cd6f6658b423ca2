package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/crmsync/crmsync/internal/netguard"
	"github.com/crmsync/crmsync/internal/secret"
	"github.com/crmsync/crmsync/internal/store/sqlstore"
	"github.com/crmsync/crmsync/internal/webhooks"
)

// sqlDB is the SQL store behind db: River's job tables live in the same
// database and its jobs are inserted in the store's transactions.
func (db *database) sqlDB() (*sqlstore.DB, error) {
	s, ok := db.Store.(*sqlstore.DB)
	if !ok {
		return nil, fmt.Errorf("the store of %s is not an SQL database", db.display)
	}
	return s, nil
}

// migrateQueue applies River's migrations after the store's (init,
// migrate): they are River's own, versioned in its river_migration table.
func migrateQueue(ctx context.Context, db *database) (int, error) {
	s, err := db.sqlDB()
	if err != nil {
		return 0, err
	}
	return webhooks.Migrate(ctx, s.Writers(), s.Dialect())
}

// startWebhooks checks River's tables, attaches the webhook queue to the
// store (deliveries are queued in the transactions that record them) and
// returns it with the endpoints' service; the caller starts and stops the
// queue with the loops.
func startWebhooks(ctx context.Context, db *database, kr *secret.Keyring, guard *netguard.Guard, log *slog.Logger) (*webhooks.Queue, *webhooks.Service, error) {
	s, err := db.sqlDB()
	if err != nil {
		return nil, nil, err
	}
	if err := webhooks.CheckSchema(ctx, s.Writers(), s.Dialect()); err != nil {
		return nil, nil, err
	}
	q, err := webhooks.NewQueue(webhooks.QueueConfig{Pool: s.Writers(), Dialect: s.Dialect(), Store: s, Keys: kr, Guard: guard, Logger: log})
	if err != nil {
		return nil, nil, err
	}
	s.SetWebhookQueue(q.Enqueue)
	return q, &webhooks.Service{Store: s, Keys: kr, Guard: guard}, nil
}
